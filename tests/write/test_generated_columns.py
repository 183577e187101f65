"""Generated columns on write (PROTOCOL.md "Generated Columns"): computed when absent, checked when
present, every version read back by lakehouse and deltalake; the corpus table dat__generated_columns."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError, InvalidArgumentError
from tests.support.conformance import corpus_dir
from tests.support.log import log_state
from tests.support.rows import Versions, assert_versions_agree

T1 = datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)
T2 = datetime(2025, 6, 7, 23, 59, tzinfo=timezone.utc)
SCHEMA = pa.schema([
    pa.field("ts", pa.timestamp("us", tz="UTC")),
    pa.field("n", pa.int64()),
    pa.field("d", pa.date32(), metadata={"delta.generationExpression": "CAST(ts AS DATE)"}),
    pa.field("y", pa.int32(), metadata={"delta.generationExpression": "year(ts)"}),
    pa.field("n2", pa.int64(), metadata={"delta.generationExpression": "n * 2"}),
])


def _rows(ts: list, ns: list) -> pa.Table:
    return pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "n": pa.array(ns, pa.int64()),
                     "d": pa.array([t.date() if t else None for t in ts], pa.date32()),
                     "y": pa.array([t.year if t else None for t in ts], pa.int32()),
                     "n2": pa.array([n * 2 if n is not None else None for n in ns], pa.int64())})


def test_generated_columns_computed_checked_and_read_back(tmp_path) -> None:
    path = str(tmp_path / "t")
    dt = lakehouse.DeltaTable.create(path, schema=SCHEMA)
    assert "generatedColumns" in (dt.protocol.writer_features or ()) or dt.protocol.min_writer_version == 4
    v = Versions(path)
    v[0] = _rows([], [])
    lakehouse.write_delta(path, pa.table({"ts": pa.array([T1, None], pa.timestamp("us", tz="UTC")), "n": [1, None]}),
                          mode="append")
    v[1] = _rows([T1, None], [1, None])
    # present and matching (nulls included) is accepted as given
    lakehouse.write_delta(path, _rows([T2], [5]), mode="append")
    v[2] = _rows([T1, None, T2], [1, None, 5])
    lakehouse.write_delta(path, pa.table({"ts": pa.array([T2], pa.timestamp("us", tz="UTC")), "n": [7]}),
                          mode="overwrite")
    v[3] = _rows([T2], [7])
    v.check()
    lakehouse.DeltaTable(path).create_checkpoint()
    v.check()
    assert_versions_agree(path)


def test_mismatch_is_refused_and_table_unchanged(tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=SCHEMA)
    lakehouse.write_delta(path, pa.table({"ts": pa.array([T1], pa.timestamp("us", tz="UTC")), "n": [1]}), mode="append")
    before = log_state(path)
    bad = _rows([T1, T2], [1, 2]).set_column(2, "d", pa.array([T1.date(), date(2000, 1, 1)], pa.date32()))
    with pytest.raises(ConstraintViolationError, match=r"column 'd' is generated as CAST\(ts AS DATE\)") as e:
        lakehouse.write_delta(path, bad, mode="append")
    assert "2000" in str(e.value)
    # a value where the expression gives NULL is a mismatch too (null-safe comparison)
    with pytest.raises(ConstraintViolationError, match="'n2'"):
        lakehouse.write_delta(path, _rows([T1], [None]).set_column(4, "n2", pa.array([3], pa.int64())), mode="append")
    assert log_state(path) == before


@pytest.mark.parametrize("expr, words", [("nope + 1", "unknown"), ("rand()", "deterministic")])
def test_invalid_expression_refused_at_create(tmp_path, expr, words) -> None:
    schema = pa.schema([pa.field("n", pa.int64()), pa.field("g", pa.int64(), metadata={"delta.generationExpression": expr})])
    with pytest.raises(InvalidArgumentError, match=words):
        lakehouse.DeltaTable.create(str(tmp_path / "t"), schema=schema)
    assert not (tmp_path / "t" / "_delta_log").exists()


def test_corpus_table_accepts_append_and_delete(tmp_path) -> None:
    corpus = corpus_dir()
    assert corpus is not None
    path = str(tmp_path / "g")
    shutil.copytree(corpus / "tables" / "dat__generated_columns", path)
    base = lakehouse.DeltaTable(path).to_arrow()
    row = base.slice(0, 1)
    before = log_state(path)
    # its own row still carries the creation date of 2024: CAST(now() AS DATE) gives today (as Spark refuses)
    with pytest.raises(ConstraintViolationError, match="creation"):
        lakehouse.write_delta(path, row, mode="append")
    assert log_state(path) == before
    lakehouse.write_delta(path, row.drop_columns(["creation"]), mode="append")
    got = lakehouse.DeltaTable(path).to_arrow()
    assert got.num_rows == base.num_rows + 1
    today = datetime.now(timezone.utc).date()
    assert sorted(got.column("creation").to_pylist())[-1] in (today, date.fromordinal(today.toordinal() - 1))
    lakehouse.DeltaTable(path).delete(f"letter = '{row.column('letter')[0].as_py()}'")
    assert lakehouse.DeltaTable(path).to_arrow().filter(
        pa.compute.equal(lakehouse.DeltaTable(path).to_arrow().column("letter"), row.column("letter")[0])).num_rows == 0
    assert_versions_agree(path)


def test_deltalake_and_lakehouse_append_to_each_others_tables(tmp_path) -> None:
    """A table with a generated column created by deltalake accepts lakehouse appends and vice versa;
    each engine computes the column for the other's table."""
    import deltalake

    theirs = str(tmp_path / "theirs")
    schema = deltalake.Schema([deltalake.Field("n", "long", nullable=True),
                               deltalake.Field("g", "long", nullable=True, metadata={"delta.generationExpression": "n * 2"})])
    deltalake.DeltaTable.create(theirs, schema=schema)
    deltalake.write_deltalake(theirs, pa.table({"n": pa.array([1], pa.int64())}), mode="append")
    lakehouse.write_delta(theirs, pa.table({"n": pa.array([5], pa.int64())}), mode="append")
    ours = str(tmp_path / "ours")
    lakehouse.DeltaTable.create(ours, schema=pa.schema([
        pa.field("n", pa.int64()), pa.field("g", pa.int64(), metadata={"delta.generationExpression": "n * 2"})]))
    lakehouse.write_delta(ours, pa.table({"n": pa.array([1], pa.int64())}), mode="append")
    deltalake.write_deltalake(ours, pa.table({"n": pa.array([5], pa.int64())}), mode="append")
    for path in (theirs, ours):
        got = sorted(lakehouse.DeltaTable(path).to_arrow().to_pylist(), key=lambda r: r["n"])
        assert got == [{"n": 1, "g": 2}, {"n": 5, "g": 10}]
        assert_versions_agree(path)


@pytest.mark.parametrize("expr, gtype", [
    ("CAST(ts AS DATE)", pa.date32()),
    ("year(ts)", pa.int32()),
    ("date_trunc('MONTH', ts)", pa.timestamp("us", tz="UTC")),
])
def test_partition_filters_derived_from_generation_expressions(tmp_path, expr, gtype) -> None:
    """A filter on the source column prunes files of a generated partition column; the rows equal an
    unpruned read (the same filter applied to every row)."""
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("ts", pa.timestamp("us", tz="UTC")),
                                                        pa.field("g", gtype, metadata={"delta.generationExpression": expr})]),
                                partition_by=["g"])
    stamps = [datetime(y, m, 15, 12, tzinfo=timezone.utc) for y in (2022, 2023, 2024) for m in (1, 6)]
    for t in stamps:  # one file per partition
        lakehouse.write_delta(path, pa.table({"ts": pa.array([t], pa.timestamp("us", tz="UTC"))}), mode="append")
    dt = lakehouse.DeltaTable(path)
    for flt, want in [("ts >= '2024-01-01'", [t for t in stamps if t.year >= 2024]),
                      ("ts < '2023-01-01'", [t for t in stamps if t.year < 2023]),
                      ("ts = '2023-06-15 12:00:00'", [datetime(2023, 6, 15, 12, tzinfo=timezone.utc)])]:
        scan = dt.scan(filter=flt)
        got = sorted(scan.to_arrow().column("ts").to_pylist())
        assert got == want
        everything = dt.to_arrow()
        assert got == sorted(t for t in everything.column("ts").to_pylist() if t in want)
        assert scan.metrics.files_after_partition_pruning < len(stamps), (flt, scan.metrics)
        # exactly the files whose partition value the derived filter admits
        admitted = {"CAST(ts AS DATE)": {"ts >= '2024-01-01'": 2, "ts < '2023-01-01'": 2, "ts = '2023-06-15 12:00:00'": 1},
                    "year(ts)": {"ts >= '2024-01-01'": 2, "ts < '2023-01-01'": 4, "ts = '2023-06-15 12:00:00'": 2},
                    "date_trunc('MONTH', ts)": {"ts >= '2024-01-01'": 2, "ts < '2023-01-01'": 3,
                                                "ts = '2023-06-15 12:00:00'": 1}}[expr][flt]
        assert scan.metrics.files_after_partition_pruning == admitted, (flt, scan.metrics)


def test_update_and_merge_recompute_generated_columns(tmp_path) -> None:
    """UPDATE and MERGE recompute generated columns from the new values (tests/operations/
    test_dml_generated_identity.py covers identity and defaults); a commit of new rows that did not go
    through `complete_rows` is still refused by the guard."""
    from lakehouse.errors import UnsupportedFeatureError
    from lakehouse.protocol.features import check_rows_completed

    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=SCHEMA)
    lakehouse.write_delta(path, pa.table({"ts": pa.array([T1], pa.timestamp("us", tz="UTC")), "n": [1]}), mode="append")
    v = Versions(path)
    v[1] = _rows([T1], [1])
    lakehouse.DeltaTable(path).update(updates={"n": "n + 1", "ts": f"TIMESTAMP '{T2.isoformat()}'"})
    v[2] = _rows([T2], [2])
    (lakehouse.DeltaTable(path).merge(pa.table({"n": pa.array([9], pa.int64()),
                                                "ts": pa.array([T1], pa.timestamp("us", tz="UTC"))}),
                                      "target.n = source.n", source_alias="source", target_alias="target")
     .when_not_matched_insert_all().execute())
    v[3] = _rows([T2, T1], [2, 9])
    v.check()
    assert_versions_agree(path)
    with pytest.raises(UnsupportedFeatureError, match="generatedColumns"):
        check_rows_completed("UPDATE", frozenset({"generatedColumns"}), False)
    lakehouse.DeltaTable(path).delete("n = 2")  # DELETE carries rows unchanged: allowed
    assert lakehouse.DeltaTable(path).to_arrow().num_rows == 1


def test_now_inside_a_string_literal_is_text(tmp_path) -> None:
    """`now()` / `current_date` are replaced on the parsed expression, never inside a string literal;
    outside one they are the write's single instant."""
    path = str(tmp_path / "t")
    schema = pa.schema([
        pa.field("s", pa.string()),
        pa.field("g", pa.string(), metadata={"delta.generationExpression": "concat(s, ' at now() or current_date')"}),
        pa.field("z", pa.string(), metadata={"CURRENT_DEFAULT": "'current_timestamp()'"}),
        pa.field("d", pa.date32(), metadata={"delta.generationExpression": "CAST(now() AS DATE)"}),
    ])
    lakehouse.DeltaTable.create(path, schema=schema)
    before = datetime.now(timezone.utc).date()
    lakehouse.write_delta(path, pa.table({"s": ["a", "b"]}), mode="append")
    after = datetime.now(timezone.utc).date()
    rows = sorted(lakehouse.DeltaTable(path).to_arrow().to_pylist(), key=lambda r: r["s"])
    assert [(r["s"], r["g"], r["z"]) for r in rows] == [("a", "a at now() or current_date", "current_timestamp()"),
                                                         ("b", "b at now() or current_date", "current_timestamp()")]
    assert rows[0]["d"] == rows[1]["d"] and before <= rows[0]["d"] <= after
    assert_versions_agree(path)
