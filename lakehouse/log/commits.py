"""Reading JSON commit and log compaction files, concurrently (PROTOCOL.md "Delta Log Entries")."""

from __future__ import annotations

from typing import Sequence

from lakehouse.protocol.actions import Action
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.log_path import LOG_DIR, LogFile
from lakehouse.storage.base import Storage


def read_log_files(storage: Storage, files: Sequence[LogFile]) -> list[list[Action]]:
    """Parse commit/compaction files into actions, in the order given; reads run concurrently."""
    blobs = storage.read_many([f"{LOG_DIR}/{f.name}" for f in files])
    return [
        parse_commit_bytes(blob, path=f"{LOG_DIR}/{f.name}", version=f.end_version or f.version)
        for f, blob in zip(files, blobs)
    ]
