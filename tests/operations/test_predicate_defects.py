"""Predicates the planner used to fold, prune or type wrongly (issue 18, items 1, 2, 10, 13 and 15).

Each case runs on a real table, reopens it and checks every row; where delta-rs runs the same SQL, its
result on a copy of the table is the cross-check.
"""

from __future__ import annotations

import math
import shutil
import struct
from decimal import Decimal
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError, LakehouseError, SchemaMismatchError
from tests.support.dml import MODES, config
from tests.support.rows import assert_same_rows, dl_read, lh_read

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "p": ["x", "x", "y"], "v": pa.array([10, 20, 30], pa.int64())})

CONSTANT_FALSE = ["1 = 0", "'a' = 'b'", "1 > 2", "NOT (1 = 1)", "NULL = 1", "NULL", "NOT NULL", "1 = NULL",
                  "NULL AND TRUE", "FALSE OR NULL", "1 IN (2, 3)", "NULL IN (1)", "1 NOT IN (1, 2)",
                  "1 NOT IN (2, NULL)", "NULL IS NOT NULL", "p = 'x' AND 1 = 0", "v > 1 AND NULL = 1",
                  "id = 1 AND FALSE", "(p = 'x' OR p = 'y') AND 2 < 1"]
CONSTANT_TRUE = ["1 = 1", "TRUE", "NOT (1 = 0)", "NULL IS NULL", "1 IN (1, NULL)", "id = 7 OR 1 = 1",
                 "p = 'zz' OR 'a' < 'b'"]


def _table(path: Path, mode: str, *, partitioned: bool) -> str:
    lakehouse.write_delta(path, ROWS, partition_by=["p"] if partitioned else None,
                          configuration=config(mode, cdf=False))
    return str(path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("partitioned", [False, True])
@pytest.mark.parametrize("pred", CONSTANT_FALSE)
def test_constant_false_or_null_delete_removes_nothing(tmp_path, mode, partitioned, pred):
    path = _table(tmp_path / "t", mode, partitioned=partitioned)
    result = lakehouse.DeltaTable(path).delete(pred)
    assert result.version is None and result.num_deleted_rows == 0
    assert lakehouse.DeltaTable(path).version == 0
    assert_same_rows(lh_read(path), ROWS, pred)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("partitioned", [False, True])
@pytest.mark.parametrize("pred", CONSTANT_TRUE)
def test_constant_true_delete_removes_everything(tmp_path, mode, partitioned, pred):
    path = _table(tmp_path / "t", mode, partitioned=partitioned)
    lakehouse.DeltaTable(path).delete(pred)
    assert lh_read(path).num_rows == 0
    assert dl_read(path).num_rows == 0


@pytest.mark.parametrize("pred", ["1 = 0", "p = 'x' AND 1 = 0", "NOT (1 = 1)", "1 > 2"])
def test_constant_predicates_agree_with_deltalake(tmp_path, pred):
    ours = _table(tmp_path / "ours", "cow", partitioned=True)
    theirs = str(tmp_path / "theirs")
    shutil.copytree(ours, theirs)
    lakehouse.DeltaTable(ours).delete(pred)
    deltalake.DeltaTable(theirs).delete(pred)
    assert_same_rows(lh_read(ours), dl_read(theirs), pred)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pred", ["NULL = 1", "1 = 0", "NOT TRUE"])
def test_constant_false_update_changes_nothing(tmp_path, mode, pred):
    path = _table(tmp_path / "t", mode, partitioned=True)
    result = lakehouse.DeltaTable(path).update(updates={"v": "0"}, predicate=pred)
    assert result.version is None and result.num_updated_rows == 0
    assert_same_rows(lh_read(path), ROWS, pred)


def test_constant_true_update_changes_every_row(tmp_path):
    path = _table(tmp_path / "t", "dv", partitioned=True)
    lakehouse.DeltaTable(path).update(updates={"v": "v + 1"}, predicate="1 = 1")
    assert sorted(lh_read(path).column("v").to_pylist()) == [11, 21, 31]


@pytest.mark.parametrize("pred", ["1 = 0", "NULL = 1"])
def test_constant_false_filters_and_replace_where(tmp_path, pred):
    path = _table(tmp_path / "t", "cow", partitioned=True)
    assert lakehouse.DeltaTable(path).to_arrow(filter=pred).num_rows == 0
    assert lakehouse.DeltaTable(path).to_arrow(filter=f"NOT ({pred}) OR 1 = 1").num_rows == 3
    # replaceWhere with a constant-false predicate replaces no row: the new rows must match it, so none may come
    with pytest.raises(LakehouseError):
        lakehouse.write_delta(path, ROWS.slice(0, 1), mode="overwrite", predicate=pred)
    assert_same_rows(lh_read(path), ROWS, pred)
    lakehouse.write_delta(path, ROWS.slice(0, 0), mode="overwrite", predicate=pred)
    assert_same_rows(lh_read(path), ROWS, pred)


@pytest.mark.parametrize("on_extra", ["1 = 0", "NULL = 1"])
def test_merge_constant_false_on_inserts_every_source_row(tmp_path, on_extra):
    path = _table(tmp_path / "t", "cow", partitioned=False)
    source = pa.table({"id": pa.array([1, 9], pa.int64()), "p": ["x", "z"], "v": pa.array([0, 0], pa.int64())})
    (lakehouse.DeltaTable(path).merge(source, f"t.id = s.id AND {on_extra}", source_alias="s", target_alias="t")
     .when_matched_update_all().when_not_matched_insert_all().execute())
    assert sorted(lh_read(path).column("id").to_pylist()) == [1, 1, 2, 3, 9]


def test_merge_constant_clause_conditions(tmp_path):
    path = _table(tmp_path / "t", "dv", partitioned=True)
    source = pa.table({"id": pa.array([1, 2], pa.int64()), "p": ["x", "x"], "v": pa.array([0, 0], pa.int64())})
    (lakehouse.DeltaTable(path).merge(source, "t.id = s.id", source_alias="s", target_alias="t")
     .when_matched_delete("NULL = 1").when_matched_update({"v": "s.v"}, "1 = 1").execute())
    assert sorted(lh_read(path).column("v").to_pylist()) == [0, 0, 30]


# -- item 2: negation on partition columns of every type ----------------------------------------------------
PARTITION_VALUES = {
    "double": pa.array([1.0, 2.0, 3.0], pa.float64()),
    "float": pa.array([1.0, 2.0, 3.0], pa.float32()),
    "decimal": pa.array([Decimal("1.00"), Decimal("2.00"), Decimal("3.00")], pa.decimal128(5, 2)),
    "date": pa.array([0, 1, 2], pa.int32()).cast(pa.date32()),
    "timestamp": pa.array([0, 10**6, 2 * 10**6], pa.timestamp("us", tz="UTC")),
    "timestamp_ntz": pa.array([0, 10**6, 2 * 10**6], pa.timestamp("us")),
    "boolean": pa.array([True, False, None]),
    "string": pa.array(["a", "b", None]),
    "long": pa.array([1, 2, 3], pa.int64()),
}
FIRST_LITERAL = {"double": "1.0", "float": "1.0", "decimal": "1.00", "date": "DATE'1970-01-01'",
                 "timestamp": "TIMESTAMP'1970-01-01 00:00:00'", "timestamp_ntz": "TIMESTAMP_NTZ'1970-01-01 00:00:00'",
                 "boolean": "true", "string": "'a'", "long": "1"}


def _partitioned(path: Path, kind: str, mode: str) -> tuple[str, pa.Table]:
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "k": PARTITION_VALUES[kind]})
    lakehouse.write_delta(path, rows, partition_by=["k"], configuration=config(mode, cdf=False))
    return str(path), rows


def _kept(rows: pa.Table, keep_ids: set[int]) -> list[dict]:
    return [r for r in rows.to_pylist() if r["id"] in keep_ids]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(PARTITION_VALUES))
def test_negated_partition_predicates_delete_exactly(tmp_path, mode, kind):
    first = FIRST_LITERAL[kind]
    # id 1 holds the first value; for boolean and string the third value is NULL
    nullable = kind in ("boolean", "string")
    cases = {
        f"NOT (k = {first})": {1} | ({3} if nullable else set()),
        f"k <> {first}": {1} | ({3} if nullable else set()),
        f"k NOT IN ({first})": {1} | ({3} if nullable else set()),
        f"NOT (k IS NULL)": {3} if nullable else set(),
        f"k = {first} OR k IS NULL": {2} if nullable else {2, 3},
        f"NOT (k = {first} OR k IS NULL)": {1, 3} if nullable else {1},
    }
    for i, (pred, survivors) in enumerate(cases.items()):
        path, rows = _partitioned(tmp_path / f"t{i}", kind, mode)
        lakehouse.DeltaTable(path).delete(pred)
        assert_same_rows(lh_read(path), _kept(rows, survivors), f"{kind}: {pred}")


def test_not_on_double_partition_matches_deltalake(tmp_path):
    for pred in ["NOT (k = 1.0)", "k NOT IN (1.0)", "k != 2.0"]:
        ours, _ = _partitioned(tmp_path / f"ours{pred}", "double", "cow")
        theirs = str(tmp_path / f"theirs{pred}")
        shutil.copytree(ours, theirs)
        lakehouse.DeltaTable(ours).delete(pred)
        deltalake.DeltaTable(theirs).delete(pred)
        assert_same_rows(lh_read(ours), dl_read(theirs), pred)


@pytest.mark.parametrize("mode", MODES)
def test_nan_partitions_follow_spark_ordering(tmp_path, mode):
    rows = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "k": pa.array([float("nan"), 1.0, -5.0, None])})
    cases = {"k > 0": {3, 4}, "NOT (k > 0)": {1, 2, 4}, "k = 'NaN'": {2, 3, 4}, "k < 'NaN'": {1, 4},
             "k <= 1.0": {1, 4}, "NOT (k <= 1.0)": {2, 3, 4}}
    for i, (pred, survivors) in enumerate(cases.items()):
        path = str(tmp_path / f"t{i}")
        lakehouse.write_delta(path, rows, partition_by=["k"], configuration=config(mode, cdf=False))
        lakehouse.DeltaTable(path).delete(pred)
        assert_same_rows(lh_read(path), _kept(rows, survivors), pred)


def test_nan_rows_follow_spark_ordering_on_data_columns(tmp_path):
    path = str(tmp_path / "t")
    rows = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "f": [float("nan"), 1.0, 5.0, None]})
    lakehouse.write_delta(path, rows)
    dt = lakehouse.DeltaTable(path)
    got = {sql: sorted(dt.to_arrow(filter=sql).column("id").to_pylist())
           for sql in ["f > 2", "f >= 5", "f < 2", "f = 'NaN'", "f != 1.0", "NOT (f <= 2)", "f > 'NaN'"]}
    assert got == {"f > 2": [1, 3], "f >= 5": [1, 3], "f < 2": [2], "f = 'NaN'": [1], "f != 1.0": [1, 3],
                   "NOT (f <= 2)": [1, 3], "f > 'NaN'": []}


# -- item 10: decimal literals assigned to doubles ------------------------------------------------------------
@pytest.mark.parametrize("literal", ["-5.233832272303085", "0.3", "2.675", "1e-7", "123456789.123456789"])
def test_decimal_literal_into_double_is_the_correctly_rounded_double(tmp_path, literal):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([0, 1], pa.int64()), "f": [0.0, 0.0]}))
    lakehouse.DeltaTable(path).update(updates={"f": literal}, predicate="id = 0")
    stored = lh_read(path).sort_by("id").column("f")[0].as_py()
    assert struct.pack("<d", stored) == struct.pack("<d", float(literal))
    assert lakehouse.DeltaTable(path).to_arrow(filter=f"f = {literal}").column("id").to_pylist() == [0]
    assert dl_read(path).sort_by("id").column("f")[0].as_py() == float(literal)


def test_decimal_literal_in_double_arithmetic_and_merge(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([0], pa.int64()), "f": [1.0]}))
    lakehouse.DeltaTable(path).update(updates={"f": "f + 0.1"})
    assert lh_read(path).column("f")[0].as_py() == 1.0 + 0.1
    source = pa.table({"id": pa.array([0, 1], pa.int64())})
    (lakehouse.DeltaTable(path).merge(source, "t.id = s.id", source_alias="s", target_alias="t")
     .when_matched_update({"f": "0.3"}).when_not_matched_insert({"id": "s.id", "f": "2.675"}).execute())
    assert dict(zip(*[lh_read(path).sort_by("id").column(c).to_pylist() for c in ("id", "f")])) == {0: 0.3, 1: 2.675}


# -- item 13: raw errors on bad input ------------------------------------------------------------------------
@pytest.fixture()
def typed_table(tmp_path) -> str:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": ["a", "b", "c"]}))
    return path


@pytest.mark.parametrize("call", [
    lambda dt: dt.to_arrow(filter="id = s"),
    lambda dt: dt.to_arrow(filter="1"),
    lambda dt: dt.to_arrow(filter="id"),
    lambda dt: dt.to_arrow(filter="s AND id = 1"),
    lambda dt: dt.delete("id"),
    lambda dt: dt.delete("'text'"),
    lambda dt: dt.update(updates={"id": "0"}, predicate="id + 1"),
    lambda dt: dt.to_arrow(columns=["id", "id"]),
    lambda dt: dt.to_arrow(filter="(" * 2000 + "id = 1" + ")" * 2000),
])
def test_bad_predicates_are_one_line_invalid_argument_errors(typed_table, call):
    with pytest.raises(InvalidArgumentError) as info:
        call(lakehouse.DeltaTable(typed_table))
    first = str(info.value).splitlines()[0]
    assert len(first) < 300 and "Arrow" not in str(info.value) and "pyarrow" not in str(info.value)
    assert lakehouse.DeltaTable(typed_table).version == 0


def test_wide_predicates_work_without_recursion(typed_table):
    dt = lakehouse.DeltaTable(typed_table)
    wide = " OR ".join(f"id = {i}" for i in range(3000))
    assert sorted(dt.to_arrow(filter=wide).column("id").to_pylist()) == [1, 2, 3]
    conj = " AND ".join(f"id != {i}" for i in range(4, 3000))
    assert dt.to_arrow(filter=conj).num_rows == 3
    dt.delete(" OR ".join(f"id = {i}" for i in range(2, 3000)))
    assert lh_read(typed_table).column("id").to_pylist() == [1]


def test_moderately_nested_predicates_work(typed_table):
    nested = "(" * 90 + "id = 1" + ")" * 90
    assert lakehouse.DeltaTable(typed_table).to_arrow(filter=nested).num_rows == 1


# -- item 15: SQL arithmetic in UPDATE and MERGE -------------------------------------------------------------
def _decimal_table(path: Path) -> str:
    lakehouse.write_delta(path, pa.table({
        "id": pa.array([0, 1, 2], pa.int64()),
        "dec": pa.array([Decimal("1.00"), Decimal("998.99"), None], pa.decimal128(5, 2)),
        "v": pa.array([1, 2**63 - 1, 3], pa.int64()),
        "s": ["1", "2", "3"],
    }))
    return str(path)


def test_decimal_arithmetic_widens_then_stores(tmp_path):
    path = _decimal_table(tmp_path / "t")
    lakehouse.DeltaTable(path).update(updates={"dec": "dec + 1"})
    assert lh_read(path).sort_by("id").column("dec").to_pylist() == [Decimal("2.00"), Decimal("999.99"), None]
    lakehouse.DeltaTable(path).update(updates={"dec": "dec * 2.5 - 0.25"}, predicate="id = 0")
    assert lh_read(path).sort_by("id").column("dec")[0].as_py() == Decimal("4.75")
    assert_same_rows(dl_read(path), lh_read(path), "deltalake reads the decimals")


def test_decimal_overflow_on_store_names_column_and_value(tmp_path):
    path = _decimal_table(tmp_path / "t")
    with pytest.raises(SchemaMismatchError, match=r"1000\.99.*'dec'.*decimal\(5,2\)"):
        lakehouse.DeltaTable(path).update(updates={"dec": "dec + 2"})
    assert lakehouse.DeltaTable(path).version == 0


@pytest.mark.parametrize("mode", MODES)
def test_bigint_overflow_names_column_and_row(tmp_path, mode):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([0, 1], pa.int64()), "v": pa.array([1, 2**63 - 1], pa.int64())}),
                          configuration=config(mode, cdf=False))
    with pytest.raises(InvalidArgumentError, match=r"'v'.*overflow.*9223372036854775807"):
        lakehouse.DeltaTable(path).update(updates={"v": "v + 1"})
    with pytest.raises(InvalidArgumentError, match="overflow"):
        (lakehouse.DeltaTable(path).merge(pa.table({"id": pa.array([1], pa.int64())}), "t.id = s.id",
                                          source_alias="s", target_alias="t")
         .when_matched_update({"v": "t.v * 2"}).execute())
    assert lakehouse.DeltaTable(path).version == 0
    assert sorted(lh_read(path).column("v").to_pylist()) == [1, 2**63 - 1]


@pytest.mark.parametrize("value", ["s + 1", "-s", "-'1'", "s * s"])
def test_arithmetic_on_strings_is_a_type_error(tmp_path, value):
    path = _decimal_table(tmp_path / "t")
    with pytest.raises(InvalidArgumentError, match="numbers"):
        lakehouse.DeltaTable(path).update(updates={"v": value})
    assert lakehouse.DeltaTable(path).version == 0


def test_fitting_integer_arithmetic_is_stored(tmp_path):
    path = _decimal_table(tmp_path / "t")
    lakehouse.DeltaTable(path).update(updates={"v": "v * 3 - 1", "dec": "dec / 4"}, predicate="id <> 1")
    got = lh_read(path).sort_by("id").to_pylist()
    assert [r["v"] for r in got] == [2, 2**63 - 1, 8]
    assert got[0]["dec"] == Decimal("0.25") and math.isclose(float(got[0]["dec"]), 0.25)


# -- float (32-bit) columns meet decimal and double literals as doubles (Spark's widening) ------------------
def test_float_column_compares_with_decimal_literal_as_double(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 2], pa.int64()), "f": pa.array([0.1, 0.5], pa.float32())}))
    dt = lakehouse.DeltaTable(path)
    # the stored 0.1f is 0.10000000149..., above the double 0.1; 0.5 is exact in both widths
    got = {sql: sorted(dt.to_arrow(filter=sql).column("id").to_pylist())
           for sql in ["f = 0.1", "f > 0.1", "f IN (0.1)", "f = 0.5", "f < 0.5", "f >= 0.5", "f <= 0.1"]}
    assert got == {"f = 0.1": [], "f > 0.1": [1, 2], "f IN (0.1)": [], "f = 0.5": [2], "f < 0.5": [1],
                   "f >= 0.5": [2], "f <= 0.1": []}
    dt.delete("f > 0.1 AND f < 0.2")
    assert lh_read(path).column("id").to_pylist() == [2]


def test_merge_double_source_key_against_float_target_compares_as_double(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 2], pa.int64()), "f": pa.array([0.1, 0.5], pa.float32())}))
    (lakehouse.DeltaTable(path).merge(pa.table({"f": [0.1, 0.5]}), "t.f = s.f", source_alias="s", target_alias="t")
     .when_matched_delete().execute())
    assert lh_read(path).column("id").to_pylist() == [1]


def test_nan_and_infinity_against_integer_columns_compare_as_doubles(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"v": pa.array([1, None, 3], pa.int64())}))
    dt = lakehouse.DeltaTable(path)
    got = {sql: dt.to_arrow(filter=sql).column("v").to_pylist() for sql in [
        "v < CAST('NaN' AS DOUBLE)", "v > CAST('NaN' AS DOUBLE)", "v = CAST('NaN' AS DOUBLE)",
        "v < CAST('Infinity' AS DOUBLE)", "v > CAST('-Infinity' AS DOUBLE)"]}
    assert got == {"v < CAST('NaN' AS DOUBLE)": [1, 3], "v > CAST('NaN' AS DOUBLE)": [],
                   "v = CAST('NaN' AS DOUBLE)": [], "v < CAST('Infinity' AS DOUBLE)": [1, 3],
                   "v > CAST('-Infinity' AS DOUBLE)": [1, 3]}


@pytest.mark.parametrize("sql", ["10 / id > 1", "10 div id = 1", "10 % id = 1"])
def test_division_by_zero_in_a_filter_is_one_error_naming_the_row(tmp_path, sql):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 0, 3], pa.int64())}))
    for read in (lambda: lakehouse.DeltaTable(path).to_arrow(filter=sql),
                 lambda: list(lakehouse.DeltaTable(path).scan(sql).to_batches())):
        with pytest.raises(InvalidArgumentError, match=r"zero.*id=0"):
            read()


@pytest.mark.parametrize("on,clause", [
    ("t.id = s.id AND t.s > 1", ("delete", None)),
    ("t.id = s.id", ("delete", "s.s")),
    ("t.id = s.id", ("update", "s.s + 1")),
])
def test_merge_type_errors_are_refused_before_any_data_is_read(tmp_path, on, clause):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 2], pa.int64()), "s": ["a", "b"]}))
    builder = lakehouse.DeltaTable(path).merge(pa.table({"id": pa.array([1], pa.int64()), "s": ["z"]}), on,
                                               source_alias="s", target_alias="t")
    kind, arg = clause
    builder = builder.when_matched_delete(arg) if kind == "delete" else builder.when_matched_update({"s": arg})
    with pytest.raises(InvalidArgumentError):
        builder.execute()
    assert lakehouse.DeltaTable(path).version == 0
