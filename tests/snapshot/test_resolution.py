"""The snapshot layer directly: loading a version (with and without checkpoints), timestamp resolution
(time travel, file times and in-commit timestamps), history, and the incremental refresh that appends use."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import VersionNotFoundError
from lakehouse.protocol.log_path import commit_name
from lakehouse.snapshot.history import history, version_for_timestamp
from lakehouse.snapshot.snapshot import latest_snapshot, load_snapshot, refresh_snapshot
from lakehouse.storage import open_storage
from tests.support.rows import assert_rows, concat

BASE = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def _rows(i: int) -> pa.Table:
    return pa.table({"id": pa.array([i * 10, i * 10 + 1], pa.int64()), "v": [f"r{i}", None]})


def _paths(snapshot) -> set[str]:
    return set(snapshot.adds.column("path").to_pylist())


def _build(path: str, n: int, config: dict[str, str] | None = None) -> list[set[str]]:
    """n commits (versions 0..n-1); returns the active paths at each version."""
    lakehouse.write_delta(path, _rows(0), configuration=config or {})
    storage = open_storage(path)
    states = [_paths(load_snapshot(storage))]
    for i in range(1, n):
        lakehouse.write_delta(path, _rows(i), mode="append")
        states.append(_paths(load_snapshot(storage)))
    return states


def _set_commit_times(path: str, times: list[datetime]) -> None:
    for v, t in enumerate(times):
        f = Path(path) / "_delta_log" / commit_name(v)
        os.utime(f, (t.timestamp(), t.timestamp()))


def test_every_version_loads_with_and_without_a_checkpoint(table_path):
    states = _build(table_path, 6, {"delta.checkpointInterval": "3"})
    storage = open_storage(table_path)
    assert [len(s) for s in states] == [1, 2, 3, 4, 5, 6]
    for v, want in enumerate(states):
        snap = load_snapshot(storage, v)
        assert snap.version == v and _paths(snap) == want
        assert (snap.segment.checkpoint is not None) == (v >= 3)
    via_checkpoint = load_snapshot(storage, 5)
    replayed = load_snapshot(storage, 5, exclude_checkpoints=frozenset({via_checkpoint.segment.checkpoint.key}))
    assert replayed.segment.checkpoint is None and _paths(replayed) == states[5]
    with pytest.raises(VersionNotFoundError, match="6"):
        load_snapshot(storage, 6)


def test_timestamps_resolve_to_the_version_current_then(table_path):
    _build(table_path, 4)
    times = [BASE + timedelta(minutes=10 * v) for v in range(4)]
    _set_commit_times(table_path, times)
    snap = load_snapshot(open_storage(table_path))
    assert version_for_timestamp(snap, times[0]) == 0
    assert version_for_timestamp(snap, times[1] - timedelta(seconds=1)) == 0
    assert version_for_timestamp(snap, times[2]) == 2
    assert version_for_timestamp(snap, times[3]) == 3
    assert version_for_timestamp(snap, times[2].replace(tzinfo=None) + timedelta(minutes=5)) == 2  # naive = UTC
    with pytest.raises(VersionNotFoundError, match="before the earliest"):
        version_for_timestamp(snap, times[0] - timedelta(seconds=1))
    with pytest.raises(VersionNotFoundError, match="after the latest"):
        version_for_timestamp(snap, times[3] + timedelta(seconds=1))
    # The facade's time travel goes through the same resolution.
    assert_rows(lakehouse.DeltaTable(table_path, version=times[1] + timedelta(minutes=1)).to_arrow(),
                concat(_rows(0), _rows(1)))
    entries = history(snap)
    assert [e.version for e in entries] == [3, 2, 1, 0]
    assert [e.timestamp for e in entries] == list(reversed(times))
    assert [e.operation for e in entries] == ["WRITE"] * 4
    assert entries[0].commit_info is not None and entries[0].commit_info.extra["readVersion"] == 2


def test_equal_file_times_are_made_increasing(table_path):
    _build(table_path, 3)
    _set_commit_times(table_path, [BASE, BASE, BASE])  # a coarse clock: the same second for three commits
    snap = load_snapshot(open_storage(table_path))
    stamps = [e.timestamp_ms for e in reversed(history(snap))]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3
    assert version_for_timestamp(snap, BASE) == 0  # the first commit at that time, later ones just after


def test_in_commit_timestamps_win_over_file_times(table_path):
    _build(table_path, 3, {"delta.enableInCommitTimestamps": "true"})
    # File times say the opposite order; the in-commit timestamps decide.
    _set_commit_times(table_path, [BASE + timedelta(days=2), BASE + timedelta(days=1), BASE])
    snap = load_snapshot(open_storage(table_path))
    entries = list(reversed(history(snap)))
    icts = [e.commit_info.in_commit_timestamp for e in entries]
    assert icts == sorted(icts) and len(set(icts)) == 3
    assert [e.timestamp_ms for e in entries] == icts
    for v, ict in enumerate(icts):
        at = datetime.fromtimestamp(ict / 1000, tz=timezone.utc)
        assert version_for_timestamp(snap, at) == v


def test_incremental_refresh_reads_only_new_commits_and_equals_a_full_load(table_path):
    _build(table_path, 2)
    storage = open_storage(table_path)
    old = load_snapshot(storage)
    assert refresh_snapshot(old) is old  # nothing new: the same snapshot
    for i in range(2, 5):
        lakehouse.write_delta(table_path, _rows(i), mode="append")
    fresh = refresh_snapshot(old)
    full = load_snapshot(storage)
    assert fresh.version == full.version == 4
    assert _paths(fresh) == _paths(full)
    assert fresh.segment.deltas and [f.version for f in fresh.segment.deltas] == [2, 3, 4]  # only the new commits
    assert fresh.metadata == full.metadata and fresh.protocol == full.protocol


def test_refresh_after_the_table_was_replaced_is_a_full_load(tmp_path):
    path = str(tmp_path / "t")
    _build(path, 3)
    old = load_snapshot(open_storage(path))
    # Replace the table at the same location: version 2 is now a different commit (other file identity).
    shutil.rmtree(path)
    lakehouse.write_delta(path, _rows(7))
    lakehouse.write_delta(path, _rows(8), mode="append")
    lakehouse.write_delta(path, pa.table({"id": pa.array([99], pa.int64()), "v": ["x" * 50]}), mode="append")
    fresh = refresh_snapshot(old)
    assert fresh.version == 2
    assert_rows(lakehouse.DeltaTable(path).to_arrow(),
                concat(_rows(7), _rows(8), pa.table({"id": pa.array([99], pa.int64()), "v": ["x" * 50]})))
    assert _paths(fresh) == _paths(load_snapshot(open_storage(path)))
    assert not (_paths(fresh) & _paths(old))


def test_latest_snapshot_follows_the_cache_and_a_newer_hint(table_path):
    _build(table_path, 2)
    storage = open_storage(table_path)
    first = latest_snapshot(storage)
    assert first.version == 1
    lakehouse.write_delta(table_path, _rows(2), mode="append")
    second = latest_snapshot(open_storage(table_path), hint=first)
    assert second.version == 2 and _paths(second) == _paths(load_snapshot(storage))
