"""Reading JSON commit and log compaction files, concurrently (PROTOCOL.md "Delta Log Entries")."""

from __future__ import annotations

from typing import Sequence

from lakehouse.protocol.actions import Action
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.log_path import LOG_DIR, LogFile
from lakehouse.storage.base import Storage


def read_log_files(storage: Storage, files: Sequence[LogFile], *, skip_commit_info: bool = False) -> list[list[Action]]:
    """Parse commit/compaction files into actions, in the order given; reads run concurrently.

    ``skip_commit_info`` drops `commitInfo` lines that begin the line (replay does not use them).
    """
    blobs = storage.read_many([f"{LOG_DIR}/{f.name}" for f in files])
    return [
        parse_commit_bytes(blob, path=f"{LOG_DIR}/{f.name}", version=f.end_version or f.version,
                           skip_commit_info=skip_commit_info)
        for f, blob in zip(files, blobs)
    ]
