"""MERGE join keys compare as SQL values, not as bits (issue 18 item 4).

Spark normalises floating-point join keys (NormalizeFloatingNumbers): -0.0 equals 0.0 and NaN equals NaN;
NULL keys never match. Keys of different physical types (`string` vs `string_view`/`large_string`) or
decimal scales compare by value, and struct keys compare field by field. Each case runs an upsert and
checks every row against an expected result computed here, in copy-on-write and deletion-vector mode,
partitioned by the key or not, and against delta-rs where it agrees with Spark.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import SchemaMismatchError
from lakehouse.operations.merge_keys import join_keys
from tests.support.dml import MODES, config, snapshot_dir
from tests.support.rows import assert_same_rows, dl_read, lh_read

NAN = float("nan")
FLOAT_TYPES = [pa.float64(), pa.float32()]


def spark_equal(a: Any, b: Any) -> bool:
    """Spark's join-key equality, independently of lakehouse: NULL matches nothing, NaN = NaN, -0.0 = 0.0,
    structs field by field with NULL fields equal."""
    if a is None or b is None:
        return False
    if isinstance(a, dict):
        return all((a[f] is None and b[f] is None) or (a[f] is not None and b[f] is not None and spark_equal(a[f], b[f]))
                   for f in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def expected_upsert(target: list[dict], source: list[dict]) -> list[dict]:
    """WHEN MATCHED UPDATE SET v = s.v, WHEN NOT MATCHED INSERT *, keyed on k (source keys unique)."""
    out, matched = [], set()
    for row in target:
        hits = [i for i, s in enumerate(source) if spark_equal(row["k"], s["k"])]
        assert len(hits) <= 1
        if hits:
            matched.add(hits[0])
            out.append({"k": row["k"], "v": source[hits[0]]["v"]})
        else:
            out.append(dict(row))
    return out + [dict(s) for i, s in enumerate(source) if i not in matched]


def upsert(path: str, source: pa.Table) -> Any:
    """WHEN MATCHED UPDATE SET v = s.v WHEN NOT MATCHED INSERT * on t.k = s.k."""
    return (lakehouse.DeltaTable(path).merge(source, "t.k = s.k")
            .when_matched_update(updates={"v": "s.v"}).when_not_matched_insert_all().execute())


def make(tmp_path, name: str, rows: list[dict], schema: pa.Schema, mode: str, partition: bool) -> str:
    path = str(tmp_path / name)
    lakehouse.write_delta(path, pa.Table.from_pylist(rows, schema=schema), partition_by=["k"] if partition else None,
                          configuration=config(mode, cdf=False))
    return path


FLOAT_TARGET = [{"k": 0.0, "v": 1}, {"k": NAN, "v": 2}, {"k": None, "v": 3}, {"k": 1.0, "v": 4}, {"k": -2.5, "v": 5}]
FLOAT_SOURCES = {
    "negative_zero": [{"k": -0.0, "v": 10}],
    "nan": [{"k": NAN, "v": 20}],
    "null": [{"k": None, "v": 30}],
    "all": [{"k": -0.0, "v": 10}, {"k": NAN, "v": 20}, {"k": None, "v": 30}, {"k": 1.0, "v": 40}, {"k": 7.0, "v": 50}],
    "nan_and_number": [{"k": NAN, "v": 20}, {"k": -2.5, "v": 50}],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("partition", [False, True], ids=["data_key", "partition_key"])
@pytest.mark.parametrize("ftype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("case", sorted(FLOAT_SOURCES))
def test_float_keys_match_as_spark_compares_them(tmp_path, mode, partition, ftype, case):
    schema = pa.schema([("k", ftype), ("v", pa.int64())])
    path = make(tmp_path, "t", FLOAT_TARGET, schema, mode, partition)
    source = pa.Table.from_pylist(FLOAT_SOURCES[case], schema=schema)
    upsert(path, source)
    want = expected_upsert(FLOAT_TARGET, FLOAT_SOURCES[case])
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE vs Spark's semantics")
    assert_same_rows(dl_read(path), want, "delta-rs reading the MERGE result")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("partition", [False, True], ids=["data_key", "partition_key"])
def test_negative_zero_and_nan_target_keys(tmp_path, mode, partition):
    """The target holds -0.0 and a NaN with another bit pattern; the source 0.0 and the canonical NaN."""
    odd_nan = pa.array([0x7FF8000000000001], pa.uint64()).view(pa.float64())[0].as_py()  # a NaN payload
    assert math.isnan(odd_nan)
    schema = pa.schema([("k", pa.float64()), ("v", pa.int64())])
    target = [{"k": -0.0, "v": 1}, {"k": odd_nan, "v": 2}, {"k": 3.0, "v": 3}]
    path = make(tmp_path, "t", target, schema, mode, partition)
    source = [{"k": 0.0, "v": 10}, {"k": NAN, "v": 20}]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert len(want) == 3
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE")


@pytest.mark.parametrize("mode", MODES)
def test_float_keys_with_existing_deletion_vectors(tmp_path, mode):
    """Target files already carrying a deletion vector (or rewritten) before the MERGE."""
    schema = pa.schema([("k", pa.float64()), ("v", pa.int64())])
    path = make(tmp_path, "t", FLOAT_TARGET, schema, mode, False)
    lakehouse.DeltaTable(path).delete("v = 4")
    target = [r for r in FLOAT_TARGET if r["v"] != 4]
    source = FLOAT_SOURCES["all"]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert_same_rows(lh_read(path), want, "lakehouse after DELETE + MERGE")
    assert_same_rows(dl_read(path), want, "delta-rs after DELETE + MERGE")


def test_float_key_matches_delta_rs_merge(tmp_path):
    """delta-rs (DataFusion) gives Spark's answer for floating-point keys too: the same rows either way."""
    schema = pa.schema([("k", pa.float64()), ("v", pa.int64())])
    source = pa.Table.from_pylist(FLOAT_SOURCES["all"], schema=schema)
    ours = make(tmp_path, "ours", FLOAT_TARGET, schema, "cow", False)
    upsert(ours, source)
    theirs = str(tmp_path / "theirs")
    deltalake.write_deltalake(theirs, pa.Table.from_pylist(FLOAT_TARGET, schema=schema))
    (deltalake.DeltaTable(theirs).merge(source, "t.k = s.k", source_alias="s", target_alias="t")
     .when_matched_update(updates={"v": "s.v"}).when_not_matched_insert_all().execute())
    assert_same_rows(lh_read(ours), dl_read(theirs), "lakehouse vs delta-rs MERGE")


@pytest.mark.parametrize("mode", MODES)
def test_struct_keys_compare_field_by_field(tmp_path, mode):
    st = pa.struct([("a", pa.float64()), ("b", pa.string())])
    schema = pa.schema([("k", st), ("v", pa.int64())])
    target = [{"k": {"a": 0.0, "b": None}, "v": 1}, {"k": {"a": NAN, "b": "x"}, "v": 2}, {"k": None, "v": 3},
              {"k": {"a": 1.0, "b": "y"}, "v": 4}, {"k": {"a": None, "b": None}, "v": 5}]
    source = [{"k": {"a": -0.0, "b": None}, "v": 10}, {"k": {"a": NAN, "b": "x"}, "v": 20}, {"k": None, "v": 30},
              {"k": {"a": 1.0, "b": "z"}, "v": 40}, {"k": {"a": None, "b": None}, "v": 50}]
    path = make(tmp_path, "t", target, schema, mode, False)
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert len(want) == 7  # 0.0/-0.0, NaN/NaN and NULL/NULL fields match; the NULL struct and 'y'/'z' do not
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE on a struct key")


@pytest.mark.parametrize("mode", MODES)
def test_decimal_keys_of_different_scales(tmp_path, mode):
    """DECIMAL(10,3) source keys against a DECIMAL(10,2) target compare by value: 1.200 matches 1.20, and
    2.001 (which no DECIMAL(10,2) value equals) matches nothing, so a MERGE without an insert succeeds."""
    schema = pa.schema([("k", pa.decimal128(10, 2)), ("v", pa.int64())])
    target = [{"k": Decimal("1.20"), "v": 1}, {"k": Decimal("2.00"), "v": 2}]
    path = make(tmp_path, "t", target, schema, mode, False)
    src_schema = pa.schema([("k", pa.decimal128(10, 3)), ("v", pa.int64())])
    source = pa.Table.from_pylist([{"k": Decimal("1.200"), "v": 10}, {"k": Decimal("2.001"), "v": 20}], schema=src_schema)
    lakehouse.DeltaTable(path).merge(source, "t.k = s.k").when_matched_update(updates={"v": "s.v"}).execute()
    assert_same_rows(lh_read(path), [{"k": Decimal("1.20"), "v": 10}, {"k": Decimal("2.00"), "v": 2}], "after MERGE")


def test_decimal_key_insert_that_does_not_fit_is_refused(tmp_path):
    """Inserting 2.001 into DECIMAL(10,2) is refused (Spark and delta-rs round it to 2.00, next to the
    existing 2.00: spec/dml.md section 3), and the table is unchanged."""
    schema = pa.schema([("k", pa.decimal128(10, 2)), ("v", pa.int64())])
    path = make(tmp_path, "t", [{"k": Decimal("2.00"), "v": 2}], schema, "cow", False)
    before = snapshot_dir(path)
    source = pa.Table.from_pylist([{"k": Decimal("2.001"), "v": 20}], schema=pa.schema([("k", pa.decimal128(10, 3)), ("v", pa.int64())]))
    with pytest.raises(SchemaMismatchError, match="'k'"):
        upsert(path, source)
    assert snapshot_dir(path) == before


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stype", [pa.string_view(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())], ids=str)
def test_string_keys_of_other_physical_types(tmp_path, mode, stype):
    schema = pa.schema([("k", pa.string()), ("v", pa.int64())])
    target = [{"k": "a", "v": 1}, {"k": "", "v": 2}, {"k": None, "v": 3}]
    path = make(tmp_path, "t", target, schema, mode, False)
    source = [{"k": "a", "v": 10}, {"k": "", "v": 20}, {"k": "c", "v": 30}]
    upsert(path, pa.table({"k": pa.array([r["k"] for r in source], pa.string()).cast(stype), "v": [r["v"] for r in source]}))
    assert_same_rows(lh_read(path), expected_upsert(target, source), "after MERGE")


@pytest.mark.parametrize("mode", MODES)
def test_string_key_against_view_typed_target_files(tmp_path, mode):
    """Target files written by delta-rs's UPDATE hold `string_view` columns; the join still matches."""
    schema = pa.schema([("k", pa.string()), ("v", pa.int64())])
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, pa.Table.from_pylist([{"k": "a", "v": 1}, {"k": "b", "v": 2}], schema=schema))
    deltalake.DeltaTable(path).update(updates={"v": "v + 100"}, predicate="v >= 0")
    target = [{"k": "a", "v": 101}, {"k": "b", "v": 102}]
    source = [{"k": "a", "v": 10}, {"k": "c", "v": 30}]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE")
    assert_same_rows(dl_read(path), want, "delta-rs after MERGE")


# -- join_keys itself ---------------------------------------------------------------------------------------


def _pairs(t: pa.Array, s: pa.Array) -> set[tuple[int, int]]:
    tc, sc = join_keys(t, s, what="t.k = s.k")
    names = [f"k{i}" for i in range(len(tc))]
    left = pa.Table.from_arrays(tc + [pa.array(range(len(t)))], names=names + ["i"])
    right = pa.Table.from_arrays(sc + [pa.array(range(len(s)))], names=names + ["j"])
    joined = left.join(right, keys=names, join_type="inner", use_threads=False)
    return set(zip(joined.column("i").to_pylist(), joined.column("j").to_pylist()))


@pytest.mark.parametrize("ftype", FLOAT_TYPES, ids=str)
def test_join_keys_equal_exactly_when_spark_says_so(ftype):
    values = [0.0, -0.0, NAN, None, 1.0, -1.0, math.inf, -math.inf]
    arr = pa.array(values, ftype)
    want = {(i, j) for i, a in enumerate(values) for j, b in enumerate(values) if spark_equal(a, b)}
    assert _pairs(arr, arr) == want


def test_join_keys_widen_integers_and_decimals():
    assert _pairs(pa.array([1, 2, None], pa.int32()), pa.array([2, 3], pa.int64())) == {(1, 0)}
    d2 = pa.array([Decimal("1.20"), Decimal("2.00")], pa.decimal128(10, 2))
    d3 = pa.array([Decimal("1.200"), Decimal("2.001")], pa.decimal128(10, 3))
    assert _pairs(d2, d3) == {(0, 0)}
    assert _pairs(pa.array([1, 2], pa.int64()), pa.array([2.0, 2.5])) == {(1, 0)}


def test_join_keys_refuse_incomparable_types():
    with pytest.raises(SchemaMismatchError, match="t.k = s.k"):
        join_keys(pa.array([1]), pa.array(["1"]), what="t.k = s.k")
    with pytest.raises(SchemaMismatchError, match="t.k = s.k"):
        join_keys(pa.array([[1]]), pa.array([[1]]), what="t.k = s.k")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on", ["t.k.a = s.k.a", "t.k.a = s.k.a OR t.v = s.v + 1000"], ids=["nested_field", "or"])
def test_residual_conditions_use_the_same_equality(tmp_path, mode, on):
    """ON conditions that are no plain column pairs are evaluated as predicates, with the same equality:
    a nested field (`t.k.a = s.k.a`) and a disjunction match -0.0 with 0.0 and NaN with NaN too."""
    st = pa.struct([("a", pa.float64())])
    schema = pa.schema([("k", st), ("v", pa.int64())])
    target = [{"k": {"a": 0.0}, "v": 1}, {"k": {"a": NAN}, "v": 2}, {"k": {"a": None}, "v": 3}, {"k": {"a": 1.0}, "v": 4}]
    source = [{"k": {"a": -0.0}, "v": 10}, {"k": {"a": NAN}, "v": 20}, {"k": {"a": None}, "v": 30}]
    path = make(tmp_path, "t", target, schema, mode, False)
    (lakehouse.DeltaTable(path).merge(pa.Table.from_pylist(source, schema=schema), on)
     .when_matched_update(updates={"v": "s.v"}).when_not_matched_insert_all().execute())
    want = [{"k": {"a": 0.0}, "v": 10}, {"k": {"a": NAN}, "v": 20}, {"k": {"a": None}, "v": 3}, {"k": {"a": 1.0}, "v": 4},
            {"k": {"a": None}, "v": 30}]
    assert_same_rows(lh_read(path), want, f"after MERGE ON {on}")


@pytest.mark.parametrize("source_keys", [[NAN], [NAN, 7.0], [0.0], [5.0]], ids=["nan", "nan_and_number", "zero", "number"])
def test_key_pruning_on_stats_written_without_nan(tmp_path, source_keys):
    """delta-rs leaves NaN out of min/max (a file of NaN, -0.0 and 7.0 has the bounds -0.0 and 7.0): a
    MERGE must not prune that file away for a NaN source key, nor for 0.0 against the bound -0.0."""
    schema = pa.schema([("k", pa.float64()), ("v", pa.int64())])
    target = [{"k": NAN, "v": 1}, {"k": -0.0, "v": 2}, {"k": 7.0, "v": 3}]
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, pa.Table.from_pylist(target, schema=schema))
    source = [{"k": k, "v": 10 + i} for i, k in enumerate(source_keys)]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE")
    assert_same_rows(dl_read(path), want, "delta-rs after MERGE")


@pytest.mark.parametrize("writer", ["lakehouse", "deltalake"])
def test_key_pruning_keeps_a_file_holding_a_nan_key(tmp_path, writer):
    """Source keys NaN and 7.0: Arrow's min/max of the source skip NaN (7.0..7.0), and the bounds of the
    target file holding NaN and 1.0 skip it too (1.0..1.0), yet that file holds the NaN key to update."""
    schema = pa.schema([("k", pa.float64()), ("v", pa.int64())])
    path = str(tmp_path / "t")
    for chunk in ([{"k": NAN, "v": 1}, {"k": 1.0, "v": 3}], [{"k": 7.0, "v": 2}]):
        if writer == "lakehouse":
            lakehouse.write_delta(path, pa.Table.from_pylist(chunk, schema=schema), mode="append")
        else:
            deltalake.write_deltalake(path, pa.Table.from_pylist(chunk, schema=schema), mode="append")
    source = [{"k": NAN, "v": 10}, {"k": 7.0, "v": 20}]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = [{"k": NAN, "v": 10}, {"k": 1.0, "v": 3}, {"k": 7.0, "v": 20}]
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE")


def test_struct_keys_of_every_field_type(tmp_path):
    """Struct keys whose fields are dates, timestamps, decimals, binaries, booleans, integers and nested
    structs, each sometimes NULL: a NULL field is filled (beside its validity flag) with a value of its type."""
    st = pa.struct([("d", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")), ("dec", pa.decimal128(10, 2)),
                    ("bin", pa.binary()), ("b", pa.bool_()), ("i", pa.int32()), ("n", pa.struct([("x", pa.int64())]))])
    schema = pa.schema([("k", st), ("v", pa.int64())])
    full = {"d": date(2020, 1, 1), "ts": datetime(2020, 1, 1, tzinfo=timezone.utc), "dec": Decimal("1.50"),
            "bin": b"\x00", "b": True, "i": 3, "n": {"x": 1}}
    keys = [full] + [{**full, f: None} for f in full] + [{**full, "n": {"x": None}}, None]
    target = [{"k": k, "v": i} for i, k in enumerate(keys)]
    path = make(tmp_path, "t", target, schema, "dv", False)
    source = [{"k": k, "v": 100 + i} for i, k in enumerate(keys)]
    upsert(path, pa.Table.from_pylist(source, schema=schema))
    want = expected_upsert(target, source)
    assert len(want) == len(keys) + 1  # every key matches itself except the NULL struct
    assert_same_rows(lh_read(path), want, "lakehouse after MERGE on a struct key")
