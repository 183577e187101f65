"""MERGE: designed cases run by lakehouse (copy-on-write and deletion vectors) and by deltalake's own
MERGE on a copy of the same table give the same rows (and the same row counts and change data); failures
are typed and leave the table byte-identical; schema merging; exact metrics; target file pruning."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError, LakehouseError, SchemaMismatchError
from tests.support.dml import config, rows_table, snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read
from tests.support.log import actions_of

TARGET_1 = [
    {"id": 1, "v": 10, "p": "a"}, {"id": 2, "v": 20, "p": "a"}, {"id": 3, "v": None, "p": "b"},
    {"id": 4, "v": 40, "p": "b"},
]
TARGET_2 = [
    {"id": 5, "v": 50, "p": "c"}, {"id": None, "v": 60, "p": "c"}, {"id": 6, "v": 5, "p": None},
    {"id": 9, "v": 90, "p": "a"},
]
SOURCE = [
    {"id": 2, "v": 21, "p": "a"}, {"id": 3, "v": 31, "p": "b"}, {"id": 4, "v": None, "p": "c"},
    {"id": 7, "v": 70, "p": "a"}, {"id": 8, "v": None, "p": "b"}, {"id": None, "v": 99, "p": "a"},
    {"id": 9, "v": 91, "p": "b"},
]
SOURCE_DUP_INSERTS = SOURCE + [{"id": 7, "v": 71, "p": "c"}, {"id": 2, "v": 22, "p": "a"}]

# (name, partitioned, ON, source, clauses as (method, positional args) shared by both engines' builders)
CASES: list[tuple[str, bool, str, list[dict], list[tuple[str, tuple]]]] = [
    ("upsert", True, "t.id = s.id", SOURCE,
     [("when_matched_update_all", ()), ("when_not_matched_insert_all", ())]),
    ("upsert_unpartitioned", False, "t.id = s.id", SOURCE,
     [("when_matched_update_all", ()), ("when_not_matched_insert_all", ())]),
    ("delete_by_source", True, "t.id = s.id", SOURCE, [("when_matched_delete", ())]),
    ("conditional_update", True, "t.id = s.id", SOURCE,
     [("when_matched_update", ({"v": "s.v"}, "s.v > t.v OR t.v IS NULL"))]),
    ("insert_only_duplicate_source_keys", True, "t.id = s.id", SOURCE_DUP_INSERTS,
     [("when_not_matched_insert_all", ())]),
    ("insert_values_with_condition", True, "t.id = s.id", SOURCE,
     [("when_not_matched_insert", ({"id": "s.id", "v": "s.v * 10", "p": "'z'"}, "s.v IS NOT NULL"))]),
    ("not_matched_by_source_delete", True, "t.id = s.id", SOURCE,
     [("when_not_matched_by_source_delete", ("t.v < 55",))]),
    ("not_matched_by_source_update", True, "t.id = s.id", SOURCE,
     [("when_not_matched_by_source_update", ({"v": "t.v - 1"}, "t.p = 'a' OR t.p IS NULL"))]),
    ("update_moves_partition", True, "t.id = s.id", SOURCE,
     [("when_matched_update", ({"p": "s.p", "v": "t.v + 1"},))]),
    ("multiple_matched_clauses", True, "t.id = s.id", SOURCE,
     [("when_matched_delete", ("s.v IS NULL",)), ("when_matched_update", ({"v": "s.v * 2"}, "s.v > 25")),
      ("when_matched_update", ({"v": "t.v + s.v"},))]),
    ("every_kind", True, "t.id = s.id", SOURCE,
     [("when_not_matched_by_source_update", ({"v": "0"}, "t.v > 50")), ("when_matched_update_all", ("s.v IS NOT NULL",)),
      ("when_not_matched_insert_all", ("s.id IS NOT NULL",)), ("when_matched_delete", ()),
      ("when_not_matched_by_source_delete", ())]),
    ("two_key_columns", True, "t.id = s.id AND t.p = s.p", SOURCE,
     [("when_matched_update_all", ()), ("when_not_matched_insert_all", ())]),
    ("residual_on_condition", True, "t.id = s.id AND t.v < 30", SOURCE,
     [("when_matched_update", ({"v": "s.v"},)), ("when_not_matched_insert_all", ()),
      ("when_not_matched_by_source_update", ({"v": "t.v + 1000"}, "t.v >= 30"))]),
]


def make_target(path: str, mode: str, partitioned: bool = True, **kw: Any) -> None:
    lakehouse.write_delta(path, rows_table(TARGET_1), partition_by=["p"] if partitioned else None,
                          configuration=config(mode), **kw)
    lakehouse.write_delta(path, rows_table(TARGET_2), mode="append")


def apply(builder: Any, clauses: list[tuple[str, tuple]]) -> Any:
    for method, args in clauses:
        builder = getattr(builder, method)(*args)
    return builder


def _cdf_rows(table: pa.Table) -> pa.Table:
    return table.select(["id", "v", "p", "_change_type"])


@pytest.mark.parametrize("name,partitioned,on,source,clauses", CASES, ids=[c[0] for c in CASES])
def test_same_rows_as_deltalake(tmp_path: Path, name: str, partitioned: bool, on: str, source: list[dict],
                                clauses: list[tuple[str, tuple]]) -> None:
    base = str(tmp_path / "base")
    make_target(base, "cow", partitioned)
    ours = {m: str(tmp_path / m) for m in ("cow", "dv")}
    shutil.copytree(base, ours["cow"])
    make_target(ours["dv"], "dv", partitioned)
    theirs = str(tmp_path / "deltalake")
    shutil.copytree(base, theirs)

    dl_metrics = apply(deltalake.DeltaTable(theirs).merge(rows_table(source), on, source_alias="s", target_alias="t"),
                       clauses).execute()
    want = dl_read(theirs)
    for mode, path in ours.items():
        metrics = apply(lakehouse.DeltaTable(path).merge(rows_table(source), on), clauses).execute()
        assert_same_rows(lh_read(path), want, f"{name} [{mode}] vs deltalake")
        got = (metrics.num_target_rows_inserted, metrics.num_target_rows_updated, metrics.num_target_rows_deleted)
        exp = (dl_metrics["num_target_rows_inserted"], dl_metrics["num_target_rows_updated"],
               dl_metrics["num_target_rows_deleted"])
        assert got == exp, f"{name} [{mode}] (inserted, updated, deleted) {got} != deltalake {exp}"
        assert metrics.num_source_rows == dl_metrics["num_source_rows"]
        # the change data of the MERGE commit, as deltalake wrote it for its own MERGE
        ours_cdf = lakehouse.DeltaTable(path).load_cdf(2, 2)
        theirs_cdf = pa.table(deltalake.DeltaTable(theirs).load_cdf(starting_version=2, ending_version=2).read_all())
        assert_same_rows(_cdf_rows(ours_cdf), _cdf_rows(theirs_cdf), f"{name} [{mode}] change data vs deltalake")
        assert_versions_agree(path)


# -- failures leave the table unchanged ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_target_row_matched_twice_is_an_error_naming_the_key(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make_target(path, mode)
    before = snapshot_dir(path)
    source = rows_table([{"id": 1, "v": 0, "p": "a"}, {"id": 4, "v": 1, "p": "b"}, {"id": 4, "v": 2, "p": "b"}])
    with pytest.raises(InvalidArgumentError) as info:
        lakehouse.DeltaTable(path).merge(source, "t.id = s.id").when_matched_update({"v": "s.v"}) \
            .when_not_matched_insert_all().execute()
    assert "'id': 4" in str(info.value)
    assert snapshot_dir(path) == before
    assert_versions_agree(path)


BAD_MERGES = [
    ("unknown_source_column_in_on", "t.id = s.nope", [("when_matched_update_all", ())], LakehouseError),
    ("unknown_target_column_in_on", "t.nope = s.id", [("when_matched_update_all", ())], LakehouseError),
    ("unknown_unqualified_column_in_on", "nope = s.id", [("when_matched_update_all", ())], LakehouseError),
    ("unknown_set_target", "t.id = s.id", [("when_matched_update", ({"nope": "s.v"},))], LakehouseError),
    ("unknown_set_source", "t.id = s.id", [("when_matched_update", ({"v": "s.nope"},))], LakehouseError),
    ("unknown_in_condition", "t.id = s.id", [("when_matched_update", ({"v": "s.v"}, "t.nope > 1"))], LakehouseError),
    ("unknown_insert_target", "t.id = s.id", [("when_not_matched_insert", ({"nope": "s.v"},))], LakehouseError),
    ("bad_sql_in_on", "t.id = = s.id", [("when_matched_update_all", ())], LakehouseError),
    ("bad_sql_in_set", "t.id = s.id", [("when_matched_update", ({"v": "s.v +* 2"},))], LakehouseError),
    ("bad_sql_in_condition", "t.id = s.id", [("when_matched_delete", ("s.v >>>< 1",))], LakehouseError),
    ("string_into_int_column", "t.id = s.id", [("when_matched_update", ({"v": "'abc'"},))], SchemaMismatchError),
    ("string_insert_into_int_column", "t.id = s.id", [("when_not_matched_insert", ({"id": "s.id", "v": "s.p"},))],
     SchemaMismatchError),
    ("key_type_mismatch", "t.id = s.p", [("when_matched_update", ({"v": "s.v"},))], LakehouseError),
    ("no_clause", "t.id = s.id", [], LakehouseError),
    ("source_column_in_by_source_clause", "t.id = s.id",
     [("when_not_matched_by_source_update", ({"v": "s.v"},))], LakehouseError),
    ("target_column_in_insert", "t.id = s.id", [("when_not_matched_insert", ({"id": "t.id"},))], LakehouseError),
]


@pytest.mark.parametrize("mode", ["cow", "dv"])
@pytest.mark.parametrize("name,on,clauses,error", BAD_MERGES, ids=[b[0] for b in BAD_MERGES])
def test_bad_merge_is_typed_and_changes_nothing(tmp_path: Path, mode: str, name: str, on: str,
                                                clauses: list, error: type) -> None:
    path = str(tmp_path / "t")
    make_target(path, mode)
    before = snapshot_dir(path)
    with pytest.raises(error):
        apply(lakehouse.DeltaTable(path).merge(rows_table(SOURCE), on), clauses).execute()
    assert snapshot_dir(path) == before, f"{name}: the failed MERGE changed the log"
    assert_same_rows(lh_read(path), TARGET_1 + TARGET_2, name)


def test_source_key_of_narrower_type(tmp_path: Path) -> None:
    """An int32 source key against an int64 target key is an implicit widening in Spark and deltalake."""
    base = str(tmp_path / "base")
    make_target(base, "cow")
    theirs, ours = str(tmp_path / "deltalake"), str(tmp_path / "ours")
    shutil.copytree(base, theirs)
    shutil.copytree(base, ours)
    source = pa.table({"id": pa.array([2, 7], pa.int32()), "v": pa.array([-2, -7], pa.int64()), "p": ["a", "a"]})
    deltalake.DeltaTable(theirs).merge(source, "t.id = s.id", source_alias="s", target_alias="t") \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    lakehouse.DeltaTable(ours).merge(source, "t.id = s.id").when_matched_update_all().when_not_matched_insert_all().execute()
    assert_same_rows(lh_read(ours), dl_read(theirs), "int32 source key")


# -- schema merging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_merge_schema_adds_source_columns(tmp_path: Path, mode: str) -> None:
    base = str(tmp_path / "base")
    make_target(base, mode)
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    shutil.copytree(base, ours)
    shutil.copytree(base, theirs)
    source = pa.table({"id": pa.array([2, 7], pa.int64()), "v": pa.array([200, 700], pa.int64()), "p": ["a", "b"],
                       "w": pa.array(["two", "seven"], pa.string())})
    lakehouse.DeltaTable(ours).merge(source, "t.id = s.id", merge_schema=True) \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    deltalake.DeltaTable(theirs).merge(source, "t.id = s.id", source_alias="s", target_alias="t", merge_schema=True) \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    dt = lakehouse.DeltaTable(ours)
    assert dt.schema.names[:3] == ["id", "v", "p"] and "w" in dt.schema.names
    expected = [dict(r, w=None) for r in TARGET_1 + TARGET_2 if r["id"] != 2] + [
        {"id": 2, "v": 200, "p": "a", "w": "two"}, {"id": 7, "v": 700, "p": "b", "w": "seven"}]
    assert_same_rows(lh_read(ours), expected, "merge_schema")
    assert_same_rows(lh_read(ours), dl_read(theirs), "merge_schema vs deltalake")
    assert_versions_agree(ours)
    # without merge_schema the extra source column is not added
    plain = str(tmp_path / "plain")
    shutil.copytree(base, plain)
    lakehouse.DeltaTable(plain).merge(source, "t.id = s.id").when_matched_update_all().when_not_matched_insert_all().execute()
    assert lakehouse.DeltaTable(plain).schema.names == ["id", "v", "p"]


# -- metrics ---------------------------------------------------------------------------------------------


def _commit_counts(path: str, version: int) -> tuple[int, int, int]:
    adds = actions_of(path, version, "add")
    return (len(actions_of(path, version, "remove")), len([a for a in adds if not a.get("deletionVector")]),
            len([a for a in adds if a.get("deletionVector")]))


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_metrics_are_exact(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table([{"id": i, "v": i, "p": "x"} for i in range(1, 6)]), configuration=config(mode))
    lakehouse.write_delta(path, rows_table([{"id": i, "v": i, "p": "x"} for i in range(6, 11)]), mode="append")
    lakehouse.write_delta(path, rows_table([{"id": i, "v": i, "p": "x"} for i in range(20, 25)]), mode="append")
    source = rows_table([{"id": 2, "v": 200, "p": "x"}, {"id": 7, "v": None, "p": "x"}, {"id": 8, "v": 800, "p": "x"},
                         {"id": 11, "v": 1100, "p": "x"}, {"id": 12, "v": None, "p": "x"}])
    m = lakehouse.DeltaTable(path).merge(source, "t.id = s.id") \
        .when_matched_delete("s.v IS NULL").when_matched_update_all() \
        .when_not_matched_insert_all("s.v IS NOT NULL").execute()
    assert (m.num_source_rows, m.num_target_rows_inserted, m.num_target_rows_updated, m.num_target_rows_deleted) == (5, 1, 2, 1)
    # keys 2..12 overlap the files [1, 5] and [6, 10], not [20, 24]
    assert (m.num_target_files_scanned, m.num_target_files_skipped) == (2, 1)
    removed, added, dvs = _commit_counts(path, m.version)
    assert m.num_target_files_removed == removed == 2
    assert m.num_target_files_added == added >= 1
    assert m.num_deletion_vectors_added == dvs
    if mode == "cow":
        assert m.num_target_rows_copied == 4 + 3 and dvs == 0
    else:
        assert m.num_target_rows_copied == 0 and dvs == 2
    info = actions_of(path, m.version, "commitInfo")[0]
    om = info["operationMetrics"]
    assert (om["numTargetRowsInserted"], om["numTargetRowsUpdated"], om["numTargetRowsDeleted"]) == ("1", "2", "1")
    assert info["operation"] == "MERGE"
    expected = [{"id": i, "v": i, "p": "x"} for i in [1, 3, 4, 5, 6, 9, 10, 20, 21, 22, 23, 24]] + [
        {"id": 2, "v": 200, "p": "x"}, {"id": 8, "v": 800, "p": "x"}, {"id": 11, "v": 1100, "p": "x"}]
    assert_same_rows(lh_read(path), expected, "metrics case")
    assert m.num_added_change_files >= 1 and len(actions_of(path, m.version, "cdc")) == m.num_added_change_files

    # a MERGE that changes nothing commits nothing
    noop = lakehouse.DeltaTable(path).merge(rows_table([{"id": 100, "v": 1, "p": "x"}]), "t.id = s.id") \
        .when_matched_delete().execute()
    assert noop.version is None and noop.num_target_rows_deleted == 0
    assert lakehouse.DeltaTable(path).version == m.version


# -- target file pruning ---------------------------------------------------------------------------------


def _twenty_files(path: str, mode: str, partitioned: bool = False) -> list[dict]:
    rows = []
    for i in range(20):
        chunk = [{"id": i * 10 + j, "v": j, "p": f"p{i // 5}"} for j in range(10)]
        lakehouse.write_delta(path, rows_table(chunk), mode="error" if i == 0 else "append",
                              partition_by=["p"] if partitioned else None, configuration=config(mode) if i == 0 else None)
        rows += chunk
    assert lakehouse.DeltaTable(path).files().num_rows == 20
    return rows


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_merge_scans_only_files_whose_stats_overlap_the_source_keys(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    rows = _twenty_files(path, mode)
    source = rows_table([{"id": k, "v": -1, "p": "p1"} for k in (73, 75, 81, 87)])
    m = lakehouse.DeltaTable(path).merge(source, "t.id = s.id").when_matched_update_all() \
        .when_not_matched_insert_all().execute()
    assert (m.num_target_files_scanned, m.num_target_files_skipped) == (2, 18)
    assert (m.num_target_rows_updated, m.num_target_rows_inserted) == (4, 0)
    keys = {73, 75, 81, 87}
    expected = [r for r in rows if r["id"] not in keys] + [{"id": k, "v": -1, "p": "p1"} for k in keys]
    assert_same_rows(lh_read(path), expected, "pruned merge")
    assert_versions_agree(path)


def test_merge_prunes_by_partition_key_and_not_with_by_source_clauses(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    _twenty_files(path, "cow", partitioned=True)
    source = rows_table([{"id": 3, "v": -1, "p": "p0"}, {"id": 195, "v": -1, "p": "p3"}])
    m = lakehouse.DeltaTable(path).merge(source, "t.p = s.p AND t.id = s.id").when_matched_update_all().execute()
    # partitions p0 and p3 and the id range 3..195: only files of p0 and p3 (5 each) can match
    assert m.num_target_files_scanned <= 10 and m.num_target_rows_updated == 2
    m2 = lakehouse.DeltaTable(path).merge(source, "t.id = s.id").when_matched_update_all() \
        .when_not_matched_by_source_delete("t.id > 1000").execute()
    assert m2.num_target_files_skipped == 0


SOURCE_KINDS = {
    "arrow_table": lambda: pa.table({"id": pa.array([2, 7], pa.int64()), "v": pa.array([-2, -7], pa.int64()), "p": ["a", "b"]}),
    "record_batch_reader": lambda: pa.table({"id": pa.array([2, 7], pa.int64()), "v": pa.array([-2, -7], pa.int64()),
                                             "p": ["a", "b"]}).to_reader(),
    "polars": lambda: __import__("polars").DataFrame({"id": [2, 7], "v": [-2, -7], "p": ["a", "b"]}),
    "pandas": lambda: __import__("pandas").DataFrame({"id": [2, 7], "v": [-2, -7], "p": ["a", "b"]}),
    "dictionary_strings": lambda: pa.table({"id": pa.array([2, 7], pa.int64()), "v": pa.array([-2, -7], pa.int64()),
                                            "p": pa.array(["a", "b"]).dictionary_encode()}),
    "string_view": lambda: pa.table({"id": pa.array([2, 7], pa.int64()), "v": pa.array([-2, -7], pa.int64()),
                                     "p": pa.array(["a", "b"], pa.string_view())}),
}


@pytest.mark.parametrize("mode", ["cow", "dv"])
@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_source_kinds(tmp_path: Path, mode: str, kind: str) -> None:
    path = str(tmp_path / "t")
    make_target(path, mode)
    m = lakehouse.DeltaTable(path).merge(SOURCE_KINDS[kind](), "t.id = s.id").when_matched_update_all() \
        .when_not_matched_insert_all().execute()
    assert (m.num_source_rows, m.num_target_rows_updated, m.num_target_rows_inserted) == (2, 1, 1)
    expected = [r for r in TARGET_1 + TARGET_2 if r["id"] != 2] + [{"id": 2, "v": -2, "p": "a"}, {"id": 7, "v": -7, "p": "b"}]
    assert_same_rows(lh_read(path), expected, kind)
