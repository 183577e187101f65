"""The pure planning of `lakehouse.integrations.dask.partitions`: grouping files and proving divisions (no cluster)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")

import lakehouse  # noqa: E402
from lakehouse.integrations.dask.partitions import group_in_order, index_bounds, plan_partitions, sorted_units  # noqa: E402


def test_grouping_closes_a_partition_at_the_byte_or_row_threshold():
    sizes, rows = [10, 10, 50, 10, 10, 10], [1, 1, 1, 100, 1, None]
    assert group_in_order([[i] for i in range(6)], sizes, rows, min_bytes=30, min_rows=50) == ((0, 1, 2), (3,), (4, 5))
    assert group_in_order([[0, 1], [2]], [20, 20, 20], [0, 0, 0], min_bytes=10, min_rows=10) == ((0, 1), (2,))
    assert group_in_order([], [], [], min_bytes=1, min_rows=1) == ()


def test_sorted_units_order_files_and_keep_shared_boundaries_together():
    assert sorted_units([20, 0, 10], [29, 9, 19]) == [[1], [2], [0]]
    assert sorted_units([0, 9, 20], [9, 15, 25]) == [[0, 1], [2]]  # 9 is in both files
    assert sorted_units(["a", "a", "b"], ["a", "a", "b"]) == [[0, 1], [2]]  # one partition value per file
    assert sorted_units([0, 5], [10, 20]) is None  # real overlap: row order unknown
    assert sorted_units([0, 20, 5], [30, 25, 6]) is None  # contained in an earlier file


def _table(tmp_path, chunks: list[pa.Table], **kw) -> lakehouse.DeltaTable:
    uri = str(tmp_path / "t")
    for i, chunk in enumerate(chunks):
        lakehouse.write_delta(uri, chunk, mode="append" if i else "error", **kw)
    return lakehouse.DeltaTable(uri)


def test_bounds_are_refused_when_stats_cannot_prove_an_order(tmp_path):
    long = "x" * 40
    dt = _table(tmp_path, [
        pa.table({"i": [1, 2], "s": ["a", long], "n": pa.array([1, None], pa.int64()), "f": [0.5, 1.5]}),
        pa.table({"i": [3, 4], "s": ["b", "c"], "n": pa.array([3, 4], pa.int64()), "f": [2.5, 3.5]}),
    ])
    files = dt.scan().files()
    lows, highs = index_bounds(dt.snapshot, files, "i")
    assert sorted(zip(lows, highs)) == [(1, 2), (3, 4)]
    assert index_bounds(dt.snapshot, files, "s") is None  # a 40-character maximum may be truncated
    assert index_bounds(dt.snapshot, files, "n") is None  # a null has no place in the divisions
    assert index_bounds(dt.snapshot, files, "f") is None  # float bounds ignore NaN


def test_timestamp_maxima_are_widened_for_millisecond_truncation(tmp_path):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    dt = _table(tmp_path, [pa.table({"ts": [t0, t0 + timedelta(seconds=1)]}),
                           pa.table({"ts": [t0 + timedelta(seconds=1, microseconds=500)]})])
    lows, highs = index_bounds(dt.snapshot, dt.scan().files(), "ts")
    assert min(highs) == t0 + timedelta(seconds=1, milliseconds=1)
    # within a millisecond of the previous file's maximum: not provably after it
    assert plan_partitions(dt.snapshot, dt.scan().files(), index="ts", min_rows=1).divisions is None


def test_plan_without_index_keeps_scan_order(tmp_path):
    dt = _table(tmp_path, [pa.table({"i": [k]}) for k in (5, 1, 3)])
    plan = plan_partitions(dt.snapshot, dt.scan().files(), index=None, min_rows=2)
    assert plan.groups == ((0, 1), (2,)) and plan.divisions is None
    by_index = plan_partitions(dt.snapshot, dt.scan().files(), index="i", min_rows=1)
    lows, _ = index_bounds(dt.snapshot, dt.scan().files(), "i")
    assert [len(g) for g in by_index.groups] == [1, 1, 1] and by_index.divisions == (1, 3, 5, 5)
    assert [lows[g[0]] for g in by_index.groups] == [1, 3, 5]


def test_bounds_beyond_year_9999_give_unknown_divisions(tmp_path):
    """Stats of timestamps and dates after 9999 (written and read as integers) do not crash planning;
    Python values cannot hold them, so the divisions are unknown."""
    y10k = 253_402_300_800 * 1_000_000
    dt = _table(tmp_path, [pa.table({"ts": pa.array([0], pa.timestamp("us", tz="UTC")), "d": pa.array([0], pa.date32())}),
                           pa.table({"ts": pa.array([y10k + 5], pa.timestamp("us", tz="UTC")),
                                     "d": pa.array([2_932_897], pa.date32())})])
    files = dt.scan().files()
    assert index_bounds(dt.snapshot, files, "ts") is None and index_bounds(dt.snapshot, files, "d") is None
    plan = plan_partitions(dt.snapshot, files, index="ts", min_rows=1)
    assert plan.divisions is None and sorted(i for g in plan.groups for i in g) == [0, 1]


def test_partition_values_beyond_year_9999_give_unknown_divisions(tmp_path):
    """A date partition column holding years after 9999 (read as Arrow integers) as the index: planning
    does not crash, the divisions are unknown."""
    path = str(tmp_path / "p")
    lakehouse.write_delta(path, pa.table({"d": pa.array([0, 2_932_898], pa.date32()), "v": pa.array([1, 2], pa.int64())}),
                          partition_by=["d"])
    dt = lakehouse.DeltaTable(path)
    plan = plan_partitions(dt.snapshot, dt.scan().files(), index="d", min_rows=1)
    assert plan.divisions is None and sorted(i for g in plan.groups for i in g) == [0, 1]
