"""Reading JSON commit and log compaction files, concurrently (PROTOCOL.md "Delta Log Entries"), and
one commit's actions or timestamp (what the commit path reads of the winners and of the previous commit).

Writing a commit is `lakehouse.log.committer`."""

from __future__ import annotations

from typing import Sequence

from lakehouse.errors import DataFileNotFoundError
from lakehouse.protocol.actions import Action, CommitInfo
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.commit_columns import DecodedCommit, decode_commit
from lakehouse.protocol.log_path import LOG_DIR, LogFile, commit_name
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


def read_log_files_for_replay(storage: Storage, files: Sequence[LogFile]) -> list[DecodedCommit]:
    """Commit/compaction files decoded for log replay, in the order given (reads run concurrently):
    `commitInfo` lines left out, the adds of large commits as file-table columns
    (`lakehouse.protocol.commit_columns`)."""
    blobs = storage.read_many([f"{LOG_DIR}/{f.name}" for f in files])
    return [
        decode_commit(blob, path=f"{LOG_DIR}/{f.name}", version=f.end_version or f.version, skip_commit_info=True)
        for f, blob in zip(files, blobs)
    ]


def read_commit(storage: Storage, version: int, *, skip_commit_info: bool = False) -> list[Action] | None:
    """The actions of the commit file of ``version``, or None when there is none (not written yet)."""
    try:
        return read_log_files(storage, [LogFile(commit_name(version), "commit", version)],
                              skip_commit_info=skip_commit_info)[0]
    except DataFileNotFoundError:
        return None


def commit_timestamp(storage: Storage, version: int) -> int | None:
    """The commit time of ``version`` in epoch ms: its `inCommitTimestamp` when it has one, else the commit
    file's modification time (PROTOCOL.md "In-Commit Timestamps"); None when the commit is not there."""
    actions = read_commit(storage, version)
    if actions is None:
        return None
    info = next((a for a in actions if isinstance(a, CommitInfo)), None)
    if info is not None and info.in_commit_timestamp is not None:
        return info.in_commit_timestamp
    name = commit_name(version)
    listed = [f for f in storage.list_from(LOG_DIR, name) if f.name == name]
    return listed[0].mtime_ms if listed else None
