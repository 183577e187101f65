"""Commit history and commit timestamps, read from the JSON commits (PROTOCOL.md "Commit Provenance
Information", "In-Commit Timestamps").

A commit's timestamp is its `inCommitTimestamp` when in-commit timestamps are enabled for that version,
otherwise the commit file's modification time, made monotonic as Spark does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from lakehouse.errors import InvalidLogError
from lakehouse.log.commits import read_log_files
from lakehouse.log.listing import list_log
from lakehouse.protocol.actions import CommitInfo
from lakehouse.protocol.log_path import LogFile
from lakehouse.protocol.segment import complete_checkpoints
from lakehouse.protocol.timetravel import datetime_to_ms, monotonize, ms_to_datetime, version_at
from lakehouse.snapshot import Snapshot
from lakehouse.storage.base import Storage


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One commit of the table's history: its version, commit time and `commitInfo` (None when absent).

    ``timestamp`` is the commit time as an aware UTC datetime, the one timestamp time travel resolves:
    ``DeltaTable(uri, version=entry.timestamp)`` opens this version. ``timestamp_ms`` is the same instant
    in epoch milliseconds, as the log stores it.
    """

    version: int
    timestamp: datetime
    operation: str | None
    operation_parameters: Mapping[str, Any] | None
    commit_info: CommitInfo | None = field(default=None, repr=False)

    @property
    def timestamp_ms(self) -> int:
        """The commit time in epoch milliseconds."""
        return datetime_to_ms(self.timestamp)


def _reachable_commits(listing: tuple[LogFile, ...], up_to: int) -> list[LogFile]:
    """Commits from the earliest version that can still be rebuilt (0 or a checkpoint) to ``up_to``."""
    commits = sorted((f for f in listing if f.kind == "commit" and f.version <= up_to), key=lambda f: f.version)
    if not commits or commits[0].version == 0:
        return commits
    # A checkpoint at c makes c and the commits after it reachable, even when commit c itself is gone.
    cps = {c.version for c in complete_checkpoints(listing)}
    start = min((v for v in cps if v >= commits[0].version - 1), default=None)
    return [f for f in commits if start is not None and f.version >= start]


def _ict_start(snapshot: Snapshot) -> int | None:
    props = snapshot.properties
    if not props.enable_in_commit_timestamps:
        return None
    return props.in_commit_timestamp_enablement_version or 0


def commit_timestamps(snapshot: Snapshot) -> tuple[list[int], list[int], int | None]:
    """(versions, commit timestamps in ms, first in-commit-timestamp version) of every reachable commit.

    Versions before the in-commit-timestamp enablement version use file modification times made
    strictly increasing; versions from it on use `inCommitTimestamp`, monotonic by construction.
    """
    # A full listing: the snapshot may have been loaded from a partial one after `_last_checkpoint`.
    commits = _reachable_commits(tuple(list_log(snapshot.storage)), snapshot.version)
    ict_from = _ict_start(snapshot)
    before = [f for f in commits if ict_from is None or f.version < ict_from]
    after = [f for f in commits if ict_from is not None and f.version >= ict_from]
    versions = [f.version for f in before]
    times = monotonize([f.mtime_ms for f in before])
    for f, info in zip(after, _commit_infos(snapshot.storage, after)):
        if info is None or info.in_commit_timestamp is None:
            raise InvalidLogError(
                "in-commit timestamps are enabled but the commit has no commitInfo.inCommitTimestamp",
                path=f.name,
                version=f.version,
            )
        versions.append(f.version)
        times.append(info.in_commit_timestamp)
    return versions, times, (ict_from if after else None)


def _commit_infos(storage: Storage, files: list[LogFile]) -> list[CommitInfo | None]:
    out: list[CommitInfo | None] = []
    for actions in read_log_files(storage, files):
        out.append(next((a for a in actions if isinstance(a, CommitInfo)), None))
    return out


def version_for_timestamp(snapshot: Snapshot, when: datetime) -> int:
    """The version that was current at ``when`` (naive datetimes are UTC).

    With in-commit timestamps enabled part-way through the history, PROTOCOL.md "Recommendations for
    Readers of Tables with In-Commit Timestamps" applies: a time at or after the enablement timestamp
    searches only the in-commit-timestamp versions, an earlier time only the versions before them.
    """
    target = datetime_to_ms(when)
    versions, times, ict_from = commit_timestamps(snapshot)
    if ict_from is not None and ict_from > 0:
        split = versions.index(ict_from) if ict_from in versions else len(versions)
        enabled_at = snapshot.properties.in_commit_timestamp_enablement_timestamp
        boundary = enabled_at if enabled_at is not None else (times[split] if split < len(times) else None)
        if boundary is not None and target >= boundary and split < len(versions):
            return version_at(versions[split:], times[split:], target)
        if split > 0 and (boundary is None or target < boundary):
            return version_at(versions[:split], times[:split], target)
    return version_at(versions, times, target)


def history(snapshot: Snapshot, limit: int | None = None) -> list[HistoryEntry]:
    """Commits up to the snapshot, newest first (at most ``limit``)."""
    versions, times, _ = commit_timestamps(snapshot)
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
                timestamp=ms_to_datetime(ts),
                operation=info.operation if info else None,
                operation_parameters=info.operation_parameters if info else None,
                commit_info=info,
            )
        )
    return out
