"""Commit history and commit timestamps, read from the JSON commits (PROTOCOL.md "Commit Provenance
Information", "In-Commit Timestamps").

A commit's timestamp is its `inCommitTimestamp` when in-commit timestamps are enabled for that version,
otherwise the commit file's modification time, made monotonic as Spark does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from lakehouse.errors import InvalidLogError
from lakehouse.log.commits import read_log_files
from lakehouse.log.listing import list_log
from lakehouse.protocol.actions import CommitInfo
from lakehouse.protocol.log_path import LogFile
from lakehouse.protocol.segment import complete_checkpoints
from lakehouse.protocol.timetravel import monotonize, version_at
from lakehouse.snapshot import Snapshot
from lakehouse.storage.base import Storage


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One commit of the table's history: its version, timestamp and `commitInfo` (None when absent)."""

    version: int
    timestamp: int
    operation: str | None
    operation_parameters: Mapping[str, Any] | None
    commit_info: CommitInfo | None = field(default=None, repr=False)

    @property
    def datetime(self) -> datetime:
        """The commit time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp / 1000, tz=timezone.utc)


def _reachable_commits(listing: tuple[LogFile, ...], up_to: int) -> list[LogFile]:
    """Commits from the earliest version that can still be rebuilt (0 or a checkpoint) to ``up_to``."""
    commits = sorted((f for f in listing if f.kind == "commit" and f.version <= up_to), key=lambda f: f.version)
    if not commits or commits[0].version == 0:
        return commits
    cps = {c.version for c in complete_checkpoints(listing)}
    start = min((v for v in cps if v >= commits[0].version), default=None)
    return [f for f in commits if start is not None and f.version >= start]


def _ict_start(snapshot: Snapshot) -> int | None:
    props = snapshot.properties
    if not props.enable_in_commit_timestamps:
        return None
    return props.in_commit_timestamp_enablement_version or 0


def commit_timestamps(snapshot: Snapshot) -> tuple[list[int], list[int]]:
    """(versions, monotonic commit timestamps in ms) of every reachable commit up to the snapshot."""
    # A full listing: the snapshot may have been loaded from a partial one after `_last_checkpoint`.
    commits = _reachable_commits(tuple(list_log(snapshot.storage)), snapshot.version)
    ict_from = _ict_start(snapshot)
    versions = [f.version for f in commits]
    mtimes = [f.mtime_ms for f in commits]
    if ict_from is None:
        return versions, monotonize(mtimes)
    ict_files = [f for f in commits if f.version >= ict_from]
    infos = _commit_infos(snapshot.storage, ict_files)
    times = list(mtimes)
    for f, info in zip(ict_files, infos):
        if info is None or info.in_commit_timestamp is None:
            raise InvalidLogError(
                "in-commit timestamps are enabled but the commit has no commitInfo.inCommitTimestamp",
                path=f.name,
                version=f.version,
            )
        times[versions.index(f.version)] = info.in_commit_timestamp
    return versions, monotonize(times)


def _commit_infos(storage: Storage, files: list[LogFile]) -> list[CommitInfo | None]:
    out: list[CommitInfo | None] = []
    for actions in read_log_files(storage, files):
        out.append(next((a for a in actions if isinstance(a, CommitInfo)), None))
    return out


def version_for_timestamp(snapshot: Snapshot, when: datetime) -> int:
    """The version that was current at ``when`` (naive datetimes are UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    versions, times = commit_timestamps(snapshot)
    return version_at(versions, times, int(when.timestamp() * 1000))


def history(snapshot: Snapshot, limit: int | None = None) -> list[HistoryEntry]:
    """Commits up to the snapshot, newest first (at most ``limit``)."""
    versions, times = commit_timestamps(snapshot)
    ts_by_version = dict(zip(versions, times))
    commits = sorted(
        (f for f in list_log(snapshot.storage) if f.kind == "commit" and f.version <= snapshot.version),
        key=lambda f: -f.version,
    )
    if limit is not None:
        commits = commits[:limit]
    infos = _commit_infos(snapshot.storage, commits)
    out = []
    for f, info in zip(commits, infos):
        ts = ts_by_version.get(f.version, f.mtime_ms)
        out.append(
            HistoryEntry(
                version=f.version,
                timestamp=ts,
                operation=info.operation if info else None,
                operation_parameters=info.operation_parameters if info else None,
                commit_info=info,
            )
        )
    return out
