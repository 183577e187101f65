"""replaceWhere: write_delta(mode="overwrite", predicate=...) replaces exactly the matching rows.

deltalake's own replaceWhere (write_deltalake(mode="overwrite", predicate=...)) on a copy of the table
is the oracle for the resulting rows."""

from __future__ import annotations

import shutil

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError
from tests.support.log import actions_of, commit_actions, log_state
from tests.support.rows import Versions, assert_rows, concat, dl_read


def _parts() -> pa.Table:
    return pa.table({
        "p": ["a", "a", "b", "b", "c", None],
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "x": pa.array([10, None, 30, 40, None, 60], pa.int64()),
    })


def _oracle(src: str, tmp_path, data: pa.Table, predicate: str) -> pa.Table:
    """deltalake's replaceWhere on a copy of the table at ``src``."""
    copy = str(tmp_path / "oracle")
    shutil.copytree(src, copy)
    deltalake.write_deltalake(copy, data, mode="overwrite", predicate=predicate)
    return dl_read(copy)


def _files_by_partition(path: str) -> dict[str | None, set[str]]:
    files = lakehouse.DeltaTable(path).files().to_pylist()
    out: dict[str | None, set[str]] = {}
    for f in files:
        out.setdefault(dict(f["partition_values"]).get("p"), set()).add(f["path"])
    return out


def test_partition_predicate_replaces_only_matching_partitions(table_path, tmp_path):
    v = Versions(table_path)
    t = _parts()
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    v[0] = t
    before = _files_by_partition(table_path)
    new = pa.table({"p": ["b", "b", "b"], "id": pa.array([30, 31, 32], pa.int64()), "x": pa.array([1, 2, None], pa.int64())})
    r = lakehouse.write_delta(table_path, new, mode="overwrite", predicate="p = 'b'")
    assert (r.version, r.num_removed_files) == (1, len(before["b"]))
    expected = concat(t.filter(pa.compute.fill_null(pa.compute.not_equal(t["p"], "b"), True)), new)
    v[1] = expected
    v.check()
    assert_rows(dl_read(table_path), _oracle_from_v0(table_path, tmp_path, new, "p = 'b'"))
    removes = actions_of(table_path, 1, "remove")
    assert {x["path"] for x in removes} == before["b"]
    assert all(x["partitionValues"] == {"p": "b"} for x in removes)
    after = _files_by_partition(table_path)
    for key in ("a", "c", None):
        assert after[key] == before[key], f"partition {key} was touched"
    info = commit_actions(table_path, 1)[0]["commitInfo"]
    assert info["operationParameters"]["predicate"] == "p = 'b'"
    assert info["operationParameters"]["mode"] == "Overwrite"


def _oracle_from_v0(path: str, tmp_path, data: pa.Table, predicate: str) -> pa.Table:
    copy = str(tmp_path / "oracle")
    shutil.copytree(path, copy)
    dt = deltalake.DeltaTable(copy)
    dt.restore(0) if dt.version() > 0 else None
    deltalake.write_deltalake(copy, data, mode="overwrite", predicate=predicate)
    return dl_read(copy)


def test_partition_predicate_in_list_and_null_partition(table_path, tmp_path):
    v = Versions(table_path)
    t = _parts()
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    v[0] = t
    new = pa.table({"p": ["a", "c"], "id": pa.array([100, 200], pa.int64()), "x": pa.array([1, 2], pa.int64())})
    lakehouse.write_delta(table_path, new, mode="overwrite", predicate="p IN ('a', 'c')")
    v[1] = concat(t.filter(pa.compute.field("p").isin(["b"]) | pa.compute.field("p").is_null()), new)
    new2 = pa.table({"p": pa.array([None], pa.string()), "id": pa.array([7], pa.int64()), "x": pa.array([7], pa.int64())})
    lakehouse.write_delta(table_path, new2, mode="overwrite", predicate="p IS NULL")
    v[2] = concat(v[1].filter(pa.compute.field("p").is_valid()), new2)
    v.check()


def test_data_predicate_rewrites_files_and_keeps_null_rows(table_path, tmp_path):
    """Rows where the predicate is NULL (x IS NULL) are not replaced; files without matches stay."""
    v = Versions(table_path)
    t1 = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "x": pa.array([1, 20, None, 40], pa.int64())})
    t2 = pa.table({"id": pa.array([5, 6], pa.int64()), "x": pa.array([2, 3], pa.int64())})  # no match
    lakehouse.write_delta(table_path, t1)
    lakehouse.write_delta(table_path, t2, mode="append")
    v[0] = t1
    v[1] = concat(t1, t2)
    untouched = {f["path"] for f in lakehouse.DeltaTable(table_path).files().to_pylist()} - {
        f["path"] for f in lakehouse.DeltaTable(table_path, version=0).files().to_pylist()}
    new = pa.table({"id": pa.array([100, 101], pa.int64()), "x": pa.array([11, 99], pa.int64())})
    r = lakehouse.write_delta(table_path, new, mode="overwrite", predicate="x > 10")
    assert r.num_removed_files == 1
    expected = pa.table({"id": pa.array([1, 3, 5, 6, 100, 101], pa.int64()),
                         "x": pa.array([1, None, 2, 3, 11, 99], pa.int64())})
    v[2] = expected
    v.check()
    assert_rows(dl_read(table_path), _oracle_from_v1(table_path, tmp_path, new, "x > 10"))
    live = {f["path"] for f in lakehouse.DeltaTable(table_path).files().to_pylist()}
    assert untouched <= live
    removed = {x["path"] for x in actions_of(table_path, 2, "remove")}
    assert not (removed & untouched)
    assert r.metrics["numCopiedRows"] == 2


def _oracle_from_v1(path: str, tmp_path, data: pa.Table, predicate: str) -> pa.Table:
    copy = str(tmp_path / "oracle")
    shutil.copytree(path, copy)
    deltalake.DeltaTable(copy).restore(1)
    deltalake.write_deltalake(copy, data, mode="overwrite", predicate=predicate)
    return dl_read(copy)


def test_mixed_partition_and_data_predicate(table_path, tmp_path):
    v = Versions(table_path)
    t = _parts()
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    v[0] = t
    before = _files_by_partition(table_path)
    pred = "p = 'a' AND id >= 2"
    new = pa.table({"p": ["a"], "id": pa.array([9], pa.int64()), "x": pa.array([None], pa.int64())})
    lakehouse.write_delta(table_path, new, mode="overwrite", predicate=pred)
    expected = pa.table({"p": ["a", "b", "b", "c", None, "a"], "id": pa.array([1, 3, 4, 5, 6, 9], pa.int64()),
                         "x": pa.array([10, 30, 40, None, 60, None], pa.int64())})
    v[1] = expected
    v.check()
    assert_rows(dl_read(table_path), _oracle_from_v0(table_path, tmp_path, new, pred))
    after = _files_by_partition(table_path)
    for key in ("b", "c", None):
        assert after[key] == before[key]
    assert {x["path"] for x in actions_of(table_path, 1, "remove")} == before["a"]


@pytest.mark.parametrize(
    "rows",
    [
        {"id": [7, 1], "x": [50, 5]},  # one row outside the predicate
        {"id": [7], "x": [None]},  # predicate is NULL for the row: not a match
    ],
)
def test_written_rows_must_match_predicate(table_path, rows):
    t = pa.table({"id": pa.array([1, 2], pa.int64()), "x": pa.array([1, 20], pa.int64())})
    lakehouse.write_delta(table_path, t)
    before = log_state(table_path)
    bad = pa.table({"id": pa.array(rows["id"], pa.int64()), "x": pa.array(rows["x"], pa.int64())})
    with pytest.raises(ConstraintViolationError) as e:
        lakehouse.write_delta(table_path, bad, mode="overwrite", predicate="x > 10")
    assert "x > 10" in str(e.value)
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_written_rows_must_match_partition_predicate(table_path):
    t = _parts()
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    before = log_state(table_path)
    bad = pa.table({"p": ["b", "a"], "id": pa.array([1, 2], pa.int64()), "x": pa.array([1, 2], pa.int64())})
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(table_path, bad, mode="overwrite", predicate="p = 'b'")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_predicate_matching_nothing(table_path, tmp_path):
    v = Versions(table_path)
    t = _parts()
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    v[0] = t
    new = pa.table({"p": ["z"], "id": pa.array([1000], pa.int64()), "x": pa.array([1], pa.int64())})
    r = lakehouse.write_delta(table_path, new, mode="overwrite", predicate="id > 999")
    assert r.num_removed_files == 0 and r.num_added_files == 1
    assert actions_of(table_path, 1, "remove") == []
    v[1] = concat(t, new)
    # Empty data with a predicate that matches nothing: a commit with no file changes.
    r = lakehouse.write_delta(table_path, new.slice(0, 0), mode="overwrite", predicate="p = 'nope'")
    v[r.version] = v[1]
    v.check()


def test_empty_data_with_predicate_deletes_matching_rows(table_path, tmp_path):
    v = Versions(table_path)
    t = _parts()
    lakehouse.write_delta(table_path, t)
    v[0] = t
    lakehouse.write_delta(table_path, t.slice(0, 0), mode="overwrite", predicate="x >= 30")
    v[1] = pa.table({"p": ["a", "a", "c"], "id": pa.array([1, 2, 5], pa.int64()), "x": pa.array([10, None, None], pa.int64())})
    v.check()
    assert_rows(dl_read(table_path), _oracle_from_v0(table_path, tmp_path, t.slice(0, 0), "x >= 30"))


@pytest.mark.parametrize("pred", ["s = 'b'", "s <> 'b'", "s IS NULL", "s IS NOT NULL", "NOT (s = 'b')",
                                  "d >= '2024-01-02'", "id BETWEEN 2 AND 3 OR s = 'c'",
                                  "ts >= '2024-01-03T00:00:00.000001Z'", "ts < '2024-01-02T12:00:00Z'",
                                  "NOT (id IN (1, 2)) AND s IS NOT NULL"])
def test_predicates_against_deltalake_oracle(table_path, tmp_path, pred):
    """Delete-only replaceWhere (empty data) with several predicate shapes, against deltalake."""
    import datetime as dt

    t = pa.table({
        "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "s": ["a", "b", None, "c", "b"],
        "d": pa.array([dt.date(2024, 1, i) for i in (1, 2, 3, 4, 5)], pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, i, 0, 0, 0, i - 1, tzinfo=dt.timezone.utc) for i in (1, 2, 3, 4, 5)],
                       pa.timestamp("us", tz="UTC")),
    })
    lakehouse.write_delta(table_path, t)
    lakehouse.write_delta(table_path, t.slice(0, 0), mode="overwrite", predicate=pred)
    copy = str(tmp_path / "oracle")
    deltalake.write_deltalake(copy, t)
    deltalake.write_deltalake(copy, t.slice(0, 0), mode="overwrite", predicate=pred)
    want = dl_read(copy)
    v = Versions(table_path)
    v[0] = t
    v[1] = want
    v.check()
