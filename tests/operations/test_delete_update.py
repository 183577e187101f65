"""DELETE and UPDATE in copy-on-write and deletion-vector mode: predicates on partition and data columns
with SQL's NULL semantics (a row whose predicate is NULL is neither deleted nor updated), SQL arithmetic,
polars expressions and literals in SET, partition moves; every version read back by lakehouse and by
deltalake. Deletion vectors: inline and on-disk, merged by a second DELETE, loose stats. appendOnly tables
and constraints refuse the change and keep the table unchanged."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import (
    AppendOnlyError,
    ConstraintViolationError,
    InvalidArgumentError,
    LakehouseError,
    SchemaMismatchError,
)
from tests.support.conformance import corpus_dir
from tests.support.dml import MODES, config, rows_table, snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read
from tests.support.log import actions_of

ROWS_1 = [
    {"id": 1, "v": 10, "p": "a"}, {"id": 2, "v": 20, "p": "a"}, {"id": 3, "v": None, "p": "a"},
    {"id": 4, "v": 40, "p": "b"}, {"id": 5, "v": 50, "p": "b"},
]
ROWS_2 = [
    {"id": 6, "v": None, "p": "b"}, {"id": 7, "v": 70, "p": None}, {"id": 8, "v": 80, "p": "c"},
    {"id": None, "v": 90, "p": "c"}, {"id": 10, "v": 5, "p": "a"},
]
ALL = ROWS_1 + ROWS_2


def make(path: str, mode: str, partitioned: bool = True, extra: dict[str, str] | None = None) -> None:
    lakehouse.write_delta(path, rows_table(ROWS_1), partition_by=["p"] if partitioned else None,
                          configuration=config(mode, extra=extra))
    lakehouse.write_delta(path, rows_table(ROWS_2), mode="append")


def gt(c: str, k: Any) -> Callable[[dict], Any]:
    return lambda r: None if r[c] is None else r[c] > k


# (SQL predicate, its three-valued truth per row)
DELETES: list[tuple[str | None, Callable[[dict], Any]]] = [
    ("p = 'a'", lambda r: None if r["p"] is None else r["p"] == "a"),
    ("p IS NULL", lambda r: r["p"] is None),
    ("p IN ('b', 'c')", lambda r: None if r["p"] is None else r["p"] in ("b", "c")),
    ("v > 25", gt("v", 25)),
    ("v != 20", lambda r: None if r["v"] is None else r["v"] != 20),
    ("NOT (v > 45)", lambda r: None if r["v"] is None else not r["v"] > 45),
    ("v IS NULL", lambda r: r["v"] is None),
    ("id IN (1, 5, 8)", lambda r: None if r["id"] is None else r["id"] in (1, 5, 8)),
    ("p = 'b' AND v < 45", lambda r: None if r["p"] is None or r["v"] is None else (r["p"] == "b" and r["v"] < 45)),
    ("p = 'c' OR v < 15", lambda r: True if (r["p"] == "c" or (r["v"] is not None and r["v"] < 15)) else
     (None if r["p"] is None or r["v"] is None else False)),
    ("v * 2 > 100", lambda r: None if r["v"] is None else r["v"] * 2 > 100),
    ("id > 100", lambda r: None if r["id"] is None else r["id"] > 100),
    (None, lambda r: True),
]


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("predicate,truth", DELETES, ids=[str(d[0]) for d in DELETES])
def test_delete(tmp_path: Path, mode: str, partitioned: bool, predicate: str | None, truth: Callable) -> None:
    path = str(tmp_path / "t")
    make(path, mode, partitioned)
    deleted = [r for r in ALL if truth(r) is True]
    kept = [r for r in ALL if truth(r) is not True]
    dt = lakehouse.DeltaTable(path)
    m = dt.delete(predicate)
    assert m.num_deleted_rows == len(deleted)
    assert_same_rows(lh_read(path), kept, f"after DELETE {predicate}")
    if not deleted:
        assert m.version is None and dt.version == 1
    else:
        assert m.version == dt.version == 2
        cdf = dt.load_cdf(2, 2)
        assert_same_rows(cdf.select(["id", "v", "p", "_change_type"]),
                         [{**r, "_change_type": "delete"} for r in deleted], "change data of the DELETE")
        if mode == "cow":
            assert m.num_deletion_vectors_added == 0
            assert all(not a.get("deletionVector") for a in actions_of(path, 2, "add"))
    assert_versions_agree(path)


def _double_plus_one(r: dict) -> dict:
    return {**r, "v": None if r["v"] is None else r["v"] * 2 + 1}


# (predicate, truth, set, new row for an updated row)
UPDATES: list[tuple[str | None, Callable[[dict], Any], dict[str, Any], Callable[[dict], dict]]] = [
    ("p = 'a'", lambda r: None if r["p"] is None else r["p"] == "a", {"v": "v * 2 + 1"}, _double_plus_one),
    ("v > 20", gt("v", 20), {"v": pl.col("v") * 10}, lambda r: {**r, "v": r["v"] * 10}),
    ("v < 30", lambda r: None if r["v"] is None else r["v"] < 30, {"v": 0}, lambda r: {**r, "v": 0}),
    ("v IS NULL", lambda r: r["v"] is None, {"v": -1}, lambda r: {**r, "v": -1}),
    ("id = 2", lambda r: None if r["id"] is None else r["id"] == 2, {"v": None}, lambda r: {**r, "v": None}),
    ("id <= 2 OR p IS NULL", lambda r: True if (r["p"] is None or (r["id"] is not None and r["id"] <= 2)) else
     (None if r["id"] is None else False), {"p": "'z'"}, lambda r: {**r, "p": "z"}),
    ("v >= 50", gt("v", 49), {"p": pl.lit("b"), "id": "id + v"},
     lambda r: {**r, "p": "b", "id": None if r["id"] is None else r["id"] + r["v"]}),
    ("p = 'b'", lambda r: None if r["p"] is None else r["p"] == "b", {"p": None}, lambda r: {**r, "p": None}),
    (None, lambda r: True, {"v": "v - id"},
     lambda r: {**r, "v": None if r["v"] is None or r["id"] is None else r["v"] - r["id"]}),
    ("id > 100", gt("id", 100), {"v": 1}, lambda r: r),
]


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("predicate,truth,set_,new", UPDATES, ids=[f"{u[0]}->{list(u[2])}" for u in UPDATES])
def test_update(tmp_path: Path, mode: str, partitioned: bool, predicate: str | None, truth: Callable,
                set_: dict, new: Callable) -> None:
    path = str(tmp_path / "t")
    make(path, mode, partitioned)
    hit = [r for r in ALL if truth(r) is True]
    expected = [new(r) if truth(r) is True else r for r in ALL]
    dt = lakehouse.DeltaTable(path)
    m = dt.update(updates=set_, predicate=predicate)
    assert m.num_updated_rows == len(hit)
    assert_same_rows(lh_read(path), expected, f"after UPDATE {predicate} SET {set_}")
    if not hit:
        assert m.version is None and dt.version == 1
    else:
        assert m.version == dt.version == 2
        cdf = dt.load_cdf(2, 2).select(["id", "v", "p", "_change_type"])
        want = [{**r, "_change_type": "update_preimage"} for r in hit] + \
               [{**new(r), "_change_type": "update_postimage"} for r in hit]
        assert_same_rows(cdf, want, "change data of the UPDATE")
    if partitioned:
        # every file's partition value agrees with the rows in it (a changed partition column moves rows)
        for f in dt.files().to_pylist():
            pv = dict(f["partition_values"])["p"]
            table = lakehouse.DeltaTable(path).to_arrow(filter=f"p = '{pv}'" if pv is not None else "p IS NULL")
            assert set(table.column("p").to_pylist()) <= {pv}
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
def test_sequence_of_dml_every_version_read_by_both_engines(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    versions = {0: list(ROWS_1), 1: list(ALL)}
    rows = list(ALL)
    dt = lakehouse.DeltaTable(path)

    def step(rows: list[dict]) -> None:
        versions[dt.version] = rows

    dt.delete("v = 20")
    rows = [r for r in rows if r["v"] != 20]
    step(rows)
    dt.update(updates={"v": "v + 1"}, predicate="p = 'a'")
    rows = [({**r, "v": None if r["v"] is None else r["v"] + 1} if r["p"] == "a" else r) for r in rows]
    step(rows)
    dt.delete("id = 1")  # the file that already carries a deletion vector
    rows = [r for r in rows if r["id"] != 1]
    step(rows)
    dt.update(updates={"p": "'a'"}, predicate="v > 40")
    rows = [({**r, "p": "a"} if r["v"] is not None and r["v"] > 40 else r) for r in rows]
    step(rows)
    dt.update(updates={"v": pl.col("v").fill_null(0)}, predicate=None)
    rows = [{**r, "v": 0 if r["v"] is None else r["v"]} for r in rows]
    step(rows)
    dt.delete("p = 'a'")
    rows = [r for r in rows if r["p"] != "a"]
    step(rows)
    dt.delete()
    step([])
    assert dt.version == 8
    for v, want in versions.items():
        assert_same_rows(lh_read(path, v), want, f"lakehouse v{v}")
        assert_same_rows(dl_read(path, v), want, f"deltalake v{v}")


# -- deletion vectors ------------------------------------------------------------------------------------


def _dvs(path: str) -> list[dict]:
    return [f for f in lakehouse.DeltaTable(path).files().to_pylist() if f["deletion_vector"] is not None]


def test_dv_mode_writes_inline_deletion_vectors_with_loose_stats(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    make(path, "dv")
    m = lakehouse.DeltaTable(path).delete("id = 2")
    assert m.num_deletion_vectors_added == 1 and m.num_removed_files == 1 and m.num_added_files == 0
    (f,) = _dvs(path)
    dv = f["deletion_vector"]
    assert dv["storageType"] == "i" and dv["cardinality"] == 1
    stats = json.loads(f["stats"])
    assert stats["tightBounds"] is False
    assert stats["numRecords"] == 3  # physical rows of the file, not live rows
    (add,) = actions_of(path, 2, "add")
    (rm,) = actions_of(path, 2, "remove")
    assert add["path"] == rm["path"] and add["deletionVector"] and not rm.get("deletionVector")
    assert_versions_agree(path)
    # files without a DV keep tight stats
    for other in lakehouse.DeltaTable(path).files().to_pylist():
        if other["deletion_vector"] is None:
            assert json.loads(other["stats"]).get("tightBounds", True) is True


def test_on_disk_deletion_vector_and_second_delete_merges_it(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    n = 20_000
    ids = np.arange(n, dtype=np.int64)
    table = pa.table({"id": ids, "v": ids % 97, "p": pa.array(["x"] * n)})
    lakehouse.write_delta(path, table, configuration=config("dv"))
    # scattered deletions: the roaring bitmap grows beyond what is stored inline
    m = lakehouse.DeltaTable(path).delete("v = 3 OR v = 50 OR v = 91")
    expected_ids = {int(i) for i in ids if i % 97 not in (3, 50, 91)}
    assert m.num_deleted_rows == n - len(expected_ids)
    (f,) = _dvs(path)
    dv = f["deletion_vector"]
    assert dv["storageType"] == "u" and dv["cardinality"] == n - len(expected_ids)
    bins = list(Path(path).rglob("deletion_vector_*.bin"))
    assert len(bins) == 1
    assert set(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist()) == expected_ids
    assert json.loads(f["stats"])["tightBounds"] is False

    # a second DELETE on the same file: one DV holding the union
    m2 = lakehouse.DeltaTable(path).delete("id < 1000")
    expected_ids = {i for i in expected_ids if i >= 1000}
    assert m2.num_deleted_rows == sum(1 for i in range(1000) if i % 97 not in (3, 50, 91))
    (f2,) = _dvs(path)
    assert f2["deletion_vector"]["cardinality"] == n - len(expected_ids)
    assert f2["path"] == f["path"]
    (rm,) = actions_of(path, 2, "remove")
    assert rm["deletionVector"]["pathOrInlineDv"] == dv["pathOrInlineDv"]  # the old DV is what is removed
    assert set(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist()) == expected_ids
    assert set(dl_read(path).column("id").to_pylist()) == expected_ids
    # an UPDATE on the same file extends the same DV again
    lakehouse.DeltaTable(path).update(updates={"v": -1}, predicate="id = 5000")
    (f3,) = _dvs(path)
    assert f3["deletion_vector"]["cardinality"] == n - len(expected_ids) + 1
    assert_versions_agree(path)


def test_delete_every_live_row_of_a_dv_file_removes_it(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    make(path, "dv", partitioned=False)
    lakehouse.DeltaTable(path).delete("id = 1")
    assert len(_dvs(path)) == 1
    m = lakehouse.DeltaTable(path).delete("id <= 5")
    assert m.num_deleted_rows == 4
    assert _dvs(path) == []  # the file of ROWS_1 is gone, not a DV covering every row
    assert_same_rows(lh_read(path), ROWS_2, "after deleting a whole DV file")
    assert_versions_agree(path)


# -- tables written by Spark with deletion vectors --------------------------------------------------------

CORPUS = corpus_dir()

SPARK_DV_TABLES = [  # (table, DELETE predicate, UPDATE predicate, SET)
    ("golden__dv-partitioned-with-checkpoint", "col1 > 40 AND part != 3", "part = 2 OR col1 < 10", {"col2": "'changed'"}),
    ("golden__log-replay-dv-key-cases", "id IN (3, 6, 9, 12, 30, 31, 47)", "id > 40", {"id": "id + 1000"}),
    ("kernelrs__table-with-dv-small", "value < 3", "value >= 7", {"value": "value * 10"}),
    ("kernelrs__with-short-dv", "id = 5", "rand > 0.5", {"value": "'x'"}),
    ("deltars__table_with_deletion_logs", "nbr > 1180", "age < 100", {"age": "age + 1"}),
]


def _dl_sql(path: str, where: str) -> pa.Table:
    import deltalake

    dt = deltalake.DeltaTable(path)
    return pa.table(deltalake.QueryBuilder().register("t", dt).execute(f"select * from t where {where}").read_all())


@pytest.mark.skipif(CORPUS is None, reason="conformance corpus not found")
@pytest.mark.parametrize("name,delete_pred,update_pred,set_", SPARK_DV_TABLES, ids=[t[0] for t in SPARK_DV_TABLES])
def test_dml_on_copies_of_spark_tables_with_deletion_vectors(tmp_path: Path, name: str, delete_pred: str,
                                                             update_pred: str, set_: dict) -> None:
    """DELETE and UPDATE extend the deletion vectors Spark wrote (on disk, at offsets in shared files);
    deltalake's SQL over the same table is the oracle."""
    import shutil

    path = str(tmp_path / "t")
    shutil.copytree(CORPUS / "tables" / name, path)
    before = lh_read(path)
    assert_same_rows(dl_read(path), before, f"{name} as copied")
    kept = _dl_sql(path, f"({delete_pred}) IS NOT TRUE")
    assert 0 < kept.num_rows < before.num_rows
    dt = lakehouse.DeltaTable(path)
    d = dt.delete(delete_pred)
    assert d.num_deleted_rows == before.num_rows - kept.num_rows
    assert_same_rows(lh_read(path), kept, f"{name} after DELETE")
    untouched = _dl_sql(path, f"({update_pred}) IS NOT TRUE")
    hits = kept.num_rows - untouched.num_rows
    assert 0 < hits < kept.num_rows
    u = dt.update(updates=set_, predicate=update_pred)
    assert u.num_updated_rows == hits
    after = lh_read(path)
    assert after.num_rows == kept.num_rows
    assert_same_rows(dl_read(path), after, f"{name} after UPDATE (deltalake)")
    # the rows the UPDATE did not select are unchanged, the others carry the new value
    ((column, _),) = set_.items()
    if column not in update_pred:  # the selection is stable: the unselected rows must be exactly as they were
        assert_same_rows(_dl_sql(path, f"({update_pred}) IS NOT TRUE"), untouched, f"{name} untouched rows")
    assert_versions_agree(path)


@pytest.mark.skipif(CORPUS is None, reason="conformance corpus not found")
def test_dml_on_a_column_mapping_id_mode_cdf_table(tmp_path: Path) -> None:
    """DELETE, UPDATE and MERGE on a column-mapped (id mode) CDF table written by delta-kernel-rs: the
    rows are right for lakehouse and delta-rs, new files use the table's physical names and field ids,
    and the change data feed records each change."""
    import json
    import shutil

    import pyarrow.parquet as pq

    path = str(tmp_path / "t")
    shutil.copytree(CORPUS / "tables" / "kernelrs__cdf-column-mapping-id-mode", path)
    dt = lakehouse.DeltaTable(path)
    assert dt.snapshot.column_mapping_mode == "id"
    start = dt.version
    rows = {r["id"]: r for r in dt.to_arrow().to_pylist()}
    assert 1 in rows and 2 in rows
    dt.delete("id = 1")
    del rows[1]
    dt.update(updates={"value": "value + 1"}, predicate="id = 2")
    rows[2] = {**rows[2], "value": rows[2]["value"] + 1}
    new_row = {**rows[2], "id": 1000}
    dt.merge(pa.Table.from_pylist([new_row], schema=dt.schema), "t.id = s.id").when_not_matched_insert_all().execute()
    rows[1000] = new_row
    ours = {r["id"]: r for r in lakehouse.DeltaTable(path).to_arrow().to_pylist()}
    assert ours == rows
    theirs = {r["id"]: r for r in dl_read(path).to_pylist()}
    assert set(theirs) == set(rows)
    physical = {f.metadata["delta.columnMapping.physicalName"] for f in dt.delta_schema.fields
                if f.name not in dt.partition_columns}
    commits = sorted((Path(path) / "_delta_log").glob("*.json"))
    for line in commits[-1].read_text().splitlines():
        add = json.loads(line).get("add")
        if add:
            assert set(pq.read_schema(Path(path) / add["path"]).names) <= physical
    kinds = lakehouse.DeltaTable(path).load_cdf(start + 1).column("_change_type").to_pylist()
    assert kinds.count("delete") == 1 and kinds.count("insert") == 1
    assert kinds.count("update_preimage") == kinds.count("update_postimage") == 1


# -- refusals ------------------------------------------------------------------------------------------


REMOVING_OPS: dict[str, Callable[[lakehouse.DeltaTable], Any]] = {
    "delete_data_predicate": lambda dt: dt.delete("v > 10"),
    "delete_partition": lambda dt: dt.delete("p = 'a'"),
    "delete_all": lambda dt: dt.delete(),
    "update": lambda dt: dt.update(updates={"v": 0}, predicate="v > 10"),
    "update_all_rows": lambda dt: dt.update(updates={"v": "v + 1"}),
    "merge_update": lambda dt: dt.merge(rows_table([{"id": 1, "v": 0, "p": "a"}]), "t.id = s.id")
    .when_matched_update_all().execute(),
    "merge_delete": lambda dt: dt.merge(rows_table([{"id": 1, "v": 0, "p": "a"}]), "t.id = s.id")
    .when_matched_delete().execute(),
    "merge_by_source_delete": lambda dt: dt.merge(rows_table([{"id": 1, "v": 0, "p": "a"}]), "t.id = s.id")
    .when_not_matched_by_source_delete().execute(),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", sorted(REMOVING_OPS))
def test_append_only_table_refuses_delete_update_merge(tmp_path: Path, mode: str, op: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode, extra={"delta.appendOnly": "true"})
    before = snapshot_dir(path)
    with pytest.raises(AppendOnlyError):
        REMOVING_OPS[op](lakehouse.DeltaTable(path))
    assert snapshot_dir(path) == before, f"{op} changed an append-only table"
    assert_same_rows(lh_read(path), ALL, "append-only table")


@pytest.mark.parametrize("mode", MODES)
def test_append_only_table_accepts_appends_and_insert_only_merge(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode, extra={"delta.appendOnly": "true"})
    lakehouse.DeltaTable(path).merge(rows_table([{"id": 11, "v": 1, "p": "a"}, {"id": 1, "v": 0, "p": "a"}]),
                                     "t.id = s.id").when_not_matched_insert_all().execute()
    assert_same_rows(lh_read(path), ALL + [{"id": 11, "v": 1, "p": "a"}], "insert-only MERGE")
    # a DELETE that matches nothing removes nothing
    assert lakehouse.DeltaTable(path).delete("v > 1000").version is None
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
def test_update_breaking_a_constraint_is_refused(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("v", pa.int64()), ("p", pa.string())])
    rows = [r for r in ALL if r["id"] is not None]
    lakehouse.write_delta(path, pa.Table.from_pylist(rows, schema=schema), partition_by=["p"],
                          configuration=config(mode, extra={"delta.constraints.vpos": "v > 0"}))
    before = snapshot_dir(path)
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(ConstraintViolationError) as info:
        dt.update(updates={"v": -5}, predicate="id = 1")
    assert "vpos" in str(info.value)
    with pytest.raises(ConstraintViolationError):
        dt.update(updates={"v": "v - 15"}, predicate="p = 'a'")
    with pytest.raises(ConstraintViolationError):
        dt.update(updates={"id": None}, predicate="id = 2")
    with pytest.raises(ConstraintViolationError):
        dt.merge(rows_table([{"id": 1, "v": -1, "p": "a"}]), "t.id = s.id").when_matched_update_all().execute()
    with pytest.raises(ConstraintViolationError):
        dt.merge(rows_table([{"id": 99, "v": -1, "p": "a"}]), "t.id = s.id").when_not_matched_insert_all().execute()
    assert snapshot_dir(path) == before
    # NULL passes a CHECK constraint, as in SQL
    dt.update(updates={"v": None}, predicate="id = 1")
    assert_same_rows(lh_read(path), [{**r, "v": None} if r["id"] == 1 else r for r in rows], "NULL passes")
    assert_versions_agree(path)


BAD = [
    ("delete", ("nope > 1",), {}, InvalidArgumentError),
    ("delete", ("v >>< 1",), {}, InvalidArgumentError),
    ("update", (), {"updates": {"nope": 1}, "predicate": "v > 1"}, InvalidArgumentError),
    ("update", (), {"updates": {"v": 1}, "predicate": "nope > 1"}, InvalidArgumentError),
    ("update", (), {"updates": {"v": "nope + 1"}, "predicate": "v > 1"}, InvalidArgumentError),
    ("update", (), {"updates": {"v": "v +* 1"}, "predicate": "v > 1"}, InvalidArgumentError),
    ("update", (), {"updates": {}, "predicate": "v > 1"}, InvalidArgumentError),
    ("update", (), {"updates": {"v": "'abc'"}, "predicate": "v > 1"}, SchemaMismatchError),
    ("update", (), {"updates": {"v": "p"}, "predicate": "v > 1"}, SchemaMismatchError),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op,args,kwargs,error", BAD, ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BAD])
def test_bad_delete_update_is_typed_and_changes_nothing(tmp_path: Path, mode: str, op: str, args: tuple,
                                                        kwargs: dict, error: type) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    before = snapshot_dir(path)
    with pytest.raises(error) as info:
        getattr(lakehouse.DeltaTable(path), op)(*args, **kwargs)
    assert isinstance(info.value, LakehouseError)
    assert snapshot_dir(path) == before


# -- generated sequences of DELETE and UPDATE against a model --------------------------------------------

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.operations.test_merge_model import conditions, ev, sql  # noqa: E402

_row = st.fixed_dictionaries({"id": st.one_of(st.none(), st.integers(-3, 12)), "v": st.one_of(st.none(), st.integers(-5, 5)),
                              "p": st.sampled_from(["a", "b", None])})
_predicates = st.one_of(st.none(), conditions((None,)))  # unqualified columns
_set_values = {
    "v": st.sampled_from([("arith", "+", ("col", None, "v"), ("lit", 1)), ("arith", "*", ("col", None, "id"), ("lit", 2)),
                          ("lit", 0), ("lit", None), ("arith", "-", ("col", None, "v"), ("col", None, "id"))]),
    "p": st.sampled_from([("lit", "a"), ("lit", "c"), ("lit", None), ("col", None, "p")]),
    "id": st.sampled_from([("arith", "+", ("col", None, "id"), ("lit", 100)), ("col", None, "v")]),
}
_op = st.one_of(
    st.tuples(st.just("delete"), _predicates, st.just(())),
    st.tuples(st.just("update"), _predicates,
              st.lists(st.sampled_from(sorted(_set_values)), min_size=1, max_size=3, unique=True)
              .flatmap(lambda names: st.tuples(*[st.tuples(st.just(n), _set_values[n]) for n in names]))),
)


@settings(max_examples=25, deadline=None, database=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.lists(_row, min_size=1, max_size=8), min_size=1, max_size=3),
       ops=st.lists(_op, min_size=1, max_size=3), partitioned=st.booleans())
def test_generated_dml_sequences_match_model(tmp_path_factory: pytest.TempPathFactory, chunks: list, ops: list,
                                             partitioned: bool) -> None:
    for mode in MODES:
        path = str(tmp_path_factory.mktemp(f"dml-{mode}") / "t")
        rows: list[dict] = []
        for i, chunk in enumerate(chunks):
            lakehouse.write_delta(path, rows_table(chunk), mode="error" if i == 0 else "append",
                                  partition_by=["p"] if partitioned and i == 0 else None,
                                  configuration=config(mode) if i == 0 else None)
            rows += chunk
        for kind, pred, assignments in ops:
            label = f"[{mode}] {kind} WHERE {sql(pred) if pred else '<all>'} {[(c, sql(e)) for c, e in assignments]}"
            hit = [pred is None or ev(pred, {None: r}) is True for r in rows]
            previous = rows
            dt = lakehouse.DeltaTable(path)
            if kind == "delete":
                m = dt.delete(sql(pred) if pred is not None else None)
                assert m.num_deleted_rows == sum(hit), label
                rows = [r for r, h in zip(rows, hit) if not h]
            else:
                m = dt.update(updates={c: sql(e) for c, e in assignments}, predicate=sql(pred) if pred is not None else None)
                assert m.num_updated_rows == sum(hit), label
                rows = [({**r, **{c: ev(e, {None: r}) for c, e in assignments}} if h else r) for r, h in zip(rows, hit)]
            assert (m.version is None) == (not any(hit)), label
            if m.version is not None:
                before = [r for r, h in zip(previous, hit) if h]
                if kind == "delete":
                    want = [{**r, "_change_type": "delete"} for r in before]
                else:
                    after = [r for r, h in zip(rows, hit) if h]
                    want = [{**r, "_change_type": "update_preimage"} for r in before] + \
                           [{**r, "_change_type": "update_postimage"} for r in after]
                got = lakehouse.DeltaTable(path).load_cdf(m.version, m.version).select(["id", "v", "p", "_change_type"])
                assert_same_rows(got, want, f"{label}: change data")
            assert_same_rows(lh_read(path), rows, label)
        assert_versions_agree(path)


# -- candidate-file pruning must not drop rows the predicate selects ---------------------------------------


def _deltalake_written(path: str, table: pa.Table) -> None:
    import deltalake

    deltalake.write_deltalake(path, table)


STATS_EDGE_CASES = [
    # delta-rs stats ignore NaN (min = max = 0.5 for [0.5, NaN]); NOT (NaN <= 0.5) is TRUE (IEEE, as the
    # lakehouse evaluates rows), but negation normal form makes it f > 0.5 and the bounds skip the file
    ("nan_negated", pa.table({"id": pa.array([1, 2], pa.int64()), "f": pa.array([0.5, float("nan")])}),
     "NOT (f <= 0.5)", {2}),
    # delta-rs truncates timestamp stats to milliseconds: min = max = 12:00:00.000 for 12:00:00.000500
    ("timestamp_truncated_stats",
     pa.table({"id": pa.array([1], pa.int64()), "ts": pa.array([datetime(2024, 1, 1, 12, 0, 0, 500)], pa.timestamp("us"))}),
     "ts != TIMESTAMP_NTZ '2024-01-01 12:00:00'", {1}),
]


@pytest.mark.parametrize("op", ["delete", "update"])
@pytest.mark.parametrize("name,table,predicate,ids", STATS_EDGE_CASES, ids=[c[0] for c in STATS_EDGE_CASES])
def test_dml_on_files_with_inexact_stats_from_another_writer(tmp_path: Path, op: str, name: str, table: pa.Table,
                                                             predicate: str, ids: set) -> None:
    """The rows a DELETE/UPDATE selects are those its predicate is TRUE for when evaluated on the rows
    (the lakehouse-written copy shows it); files written by delta-rs carry looser stats that must not make
    the operation skip the file."""
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    lakehouse.write_delta(ours, table)
    _deltalake_written(theirs, table)
    results = {}
    for label, path in (("lakehouse-written", ours), ("deltalake-written", theirs)):
        dt = lakehouse.DeltaTable(path)
        if op == "delete":
            n = dt.delete(predicate).num_deleted_rows
        else:
            n = dt.update(updates={"id": "id + 100"}, predicate=predicate).num_updated_rows
        results[label] = (n, sorted(lh_read(path).column("id").to_pylist()))
    survivors = sorted(i for i in table.column("id").to_pylist() if i not in ids) if op == "delete" else \
        sorted((i + 100 if i in ids else i) for i in table.column("id").to_pylist())
    assert results["lakehouse-written"] == (len(ids), survivors)
    assert results["deltalake-written"] == (len(ids), survivors), f"{name}: {results}"
