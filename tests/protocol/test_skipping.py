"""Direct unit tests of data skipping (`lakehouse.protocol.skipping.skip_files`): per comparison operator
and column type, a file whose statistics cannot match is pruned and one that can is kept; null counts with
IS [NOT] NULL; tightBounds with ``!=``; the unknowns that must never prune (missing stats, NaN, cut string
maxima, truncated timestamps, unmodelled atoms); partition values decided exactly. The property at the
end checks the one rule that must never break on random rows cut into files with stats from lakehouse's
own (pure) collector: a file holding a matching row is never pruned.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.protocol.expr import parse_sql
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType, from_arrow_schema
from lakehouse.protocol.skipping import live_rows, skip_files
from lakehouse.protocol.stats import StatsCollector, encode_stats, physical_paths
from tests.support import sqlpred as sp

UTC = timezone.utc
KEEP, PRUNE = True, False

ARROW_SCHEMA = pa.schema([
    ("p", pa.string()),  # the partition column
    ("i", pa.int64()),
    ("n", pa.int32()),
    ("f", pa.float64()),
    ("s", pa.string()),
    ("d", pa.date32()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("tn", pa.timestamp("us")),
    ("dec", pa.decimal128(10, 2)),
    ("b", pa.bool_()),
])
SCHEMA = from_arrow_schema(ARROW_SCHEMA)
ADDS_TYPE = pa.schema([("partitionValues", pa.map_(pa.string(), pa.string())), ("stats", pa.string())])


def stats_text(mins: dict[str, Any], maxs: dict[str, Any], nulls: dict[str, int] | None = None, *,
               records: int = 10, tight: bool | None = True) -> str:
    stats: dict[str, Any] = {"numRecords": records, "minValues": mins, "maxValues": maxs,
                             "nullCount": nulls if nulls is not None else {k: 0 for k in mins}}
    if tight is not None:
        stats["tightBounds"] = tight
    return encode_stats(stats)


def adds(files: Sequence[tuple[dict[str, str | None], str | None]]) -> pa.Table:
    return pa.table({"partitionValues": [list(pv.items()) for pv, _ in files], "stats": [s for _, s in files]},
                    schema=ADDS_TYPE)


def verdicts(predicate: str, files: Sequence[tuple[dict[str, str | None], str | None]], **kw: Any) -> list[bool]:
    result = skip_files(adds(files), parse_sql(predicate), SCHEMA, ["p"], **kw)
    assert result.after_stats.dtype == np.bool_ and not (result.after_stats & ~result.after_partitions).any()
    return result.after_stats.tolist()


def one_file(predicate: str, column: str, lo: Any, hi: Any, **kw: Any) -> bool:
    """The verdict for one file of partition p='a' whose ``column`` lies within [lo, hi] (written as is)."""
    return verdicts(predicate, [({"p": "a"}, stats_text({column: lo}, {column: hi}, **kw))])[0]


# -- comparison operators per type ---------------------------------------------------------------------
# (column, min, max as written in the stats, predicate, verdict). Each line is one file.
CASES = [
    # integers: = needs min <= v <= max; < needs min < v; <= min <= v; > max > v; >= max >= v
    ("i", 10, 20, "i = 9", PRUNE), ("i", 10, 20, "i = 10", KEEP), ("i", 10, 20, "i = 20", KEEP),
    ("i", 10, 20, "i = 21", PRUNE), ("i", 10, 20, "i < 10", PRUNE), ("i", 10, 20, "i < 11", KEEP),
    ("i", 10, 20, "i <= 9", PRUNE), ("i", 10, 20, "i <= 10", KEEP), ("i", 10, 20, "i > 20", PRUNE),
    ("i", 10, 20, "i > 19", KEEP), ("i", 10, 20, "i >= 21", PRUNE), ("i", 10, 20, "i >= 20", KEEP),
    ("i", 10, 20, "15 < i", KEEP), ("i", 10, 20, "25 < i", PRUNE), ("i", 10, 20, "5 >= i", PRUNE),
    ("i", 10, 20, "i BETWEEN 21 AND 30", PRUNE), ("i", 10, 20, "i BETWEEN 0 AND 10", KEEP),
    ("i", -(2**63), 2**63 - 1, "i = 0", KEEP), ("i", 2**63 - 1, 2**63 - 1, "i < 9223372036854775807", PRUNE),
    ("i", 10, 20, "i = 10.5", KEEP),  # a fractional literal has no exact int equivalent: may match
    ("i", 10, 20, "i IN (1, 2, 30)", PRUNE), ("i", 10, 20, "i IN (1, 15)", KEEP),
    ("i", 10, 20, "i NOT IN (10, 20)", KEEP),
    ("i", 10, 20, "i <=> 30", PRUNE), ("i", 10, 20, "i <=> 12", KEEP),
    ("i", 10, 20, "i + 5 > 25", PRUNE), ("i", 10, 20, "i + 5 > 24", KEEP),  # monotonic in i
    ("i", 10, 20, "CAST(i AS double) < 10", PRUNE),
    ("n", -(2**31), -5, "n >= 0", PRUNE), ("n", -(2**31), -5, "n > -6", KEEP),
    # doubles: NaN rows are left out of min/max and sort above every number, so > and >= never prune
    ("f", 1.5, 2.5, "f = 3.0", PRUNE), ("f", 1.5, 2.5, "f = 2.0", KEEP), ("f", 1.5, 2.5, "f < 1.5", PRUNE),
    ("f", 1.5, 2.5, "f <= 1.5", KEEP), ("f", 1.5, 2.5, "f > 100", KEEP), ("f", 1.5, 2.5, "f >= 100", KEEP),
    ("f", 1.5, 2.5, "f = 'NaN'", KEEP), ("f", 1.5, 2.5, "f < 'NaN'", KEEP),
    ("f", 0.0, 0.0, "f = -0.0", KEEP), ("f", -0.0, -0.0, "f = 0.0", KEEP),  # -0.0 = 0.0
    ("f", 1.5, 1.5, "f != 1.5", KEEP),  # a NaN row satisfies !=
    ("f", 1.5, 2.5, "f = 2", KEEP), ("f", 1.5, 2.5, "f = 3", PRUNE),  # an integer literal against a double
    # strings: bytewise (code point) order; maxima of 32+ characters may have been cut, so they bound nothing
    ("s", "b", "d", "s = 'a'", PRUNE), ("s", "b", "d", "s = 'c'", KEEP), ("s", "b", "d", "s = 'da'", PRUNE),
    ("s", "b", "d", "s < 'b'", PRUNE), ("s", "b", "d", "s > 'd'", PRUNE), ("s", "b", "d", "s >= 'd'", KEEP),
    ("s", "B", "Z", "s = 'a'", PRUNE),  # case matters: 'a' > 'Z'
    ("s", "a", "é", "s = 'z'", KEEP), ("s", "a", "é", "s = '😀'", PRUNE),  # é < 😀 in UTF-8 order
    ("s", "a" * 32, "a" * 32 + "\U0010ffff", "s = 'zz'", KEEP),  # a cut maximum (what lakehouse writes)
    ("s", "a" * 32, "a" * 32, "s > 'b'", KEEP),  # a 32-character maximum may be another engine's cut
    ("s", "a" * 31, "a" * 31, "s > 'b'", PRUNE),  # 31 characters: an exact bound
    ("s", "a" * 32, "a" * 32, "s < 'a'", PRUNE),  # minima stay lower bounds when cut
    ("s", "abc", "abc", "s != 'abc'", PRUNE), ("s", "abc", "abd", "s != 'abc'", KEEP),
    ("s", "b", "d", "s IN ('a', 'e')", PRUNE), ("s", "b", "d", "s LIKE 'x%'", KEEP),  # LIKE is not modelled
    # dates
    ("d", "2024-01-01", "2024-01-31", "d = DATE'2024-02-01'", PRUNE),
    ("d", "2024-01-01", "2024-01-31", "d = '2024-01-31'", KEEP),
    ("d", "2024-01-01", "2024-01-31", "d < '2024-01-01'", PRUNE),
    ("d", "2024-01-01", "2024-01-31", "d > '2024-01-31'", PRUNE),
    ("d", "0001-01-01", "+10000-01-01", "d = '2024-05-05'", KEEP),
    ("d", "2024-01-01", "2024-01-31", "year(d) = 2023", PRUNE), ("d", "2024-01-01", "2024-01-31", "year(d) = 2024", KEEP),
    ("d", "2024-01-01", "2024-01-31", "d != '2024-01-01'", KEEP),
    ("d", "2024-01-01", "2024-01-01", "d != '2024-01-01'", PRUNE),
    # timestamps: maxima may be truncated to milliseconds (Spark), so they are widened by 1 ms on read
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts = TIMESTAMP'2024-01-01 00:00:00.000999'", KEEP),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts = TIMESTAMP'2024-01-01 00:00:00.001001'", PRUNE),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts > '2024-01-01T00:00:00.000500Z'", KEEP),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts > '2024-01-01T00:00:00.001Z'", PRUNE),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts < '2024-01-01T00:00:00Z'", PRUNE),
    ("ts", "2024-01-01T01:00:00.000+01:00", "2024-01-01T01:00:00.000+01:00", "ts < '2024-01-01T00:00:00.001Z'", KEEP),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "ts != '2024-01-01T00:00:00Z'", KEEP),
    ("ts", "2024-01-01T00:00:00.000Z", "2024-01-31T00:00:00.000Z", "date_trunc('MONTH', ts) > '2024-01-01'", PRUNE),
    ("ts", "+10000-01-01T00:00:00.000Z", "+10000-01-01T00:00:00.000Z", "ts < '9999-12-31T00:00:00Z'", PRUNE),
    ("tn", "2024-01-01T00:00:00.000", "2024-01-01T00:00:00.000", "tn > TIMESTAMP_NTZ'2024-01-01 00:00:00.002'", PRUNE),
    ("tn", "2024-01-01T00:00:00.000", "2024-01-01T00:00:00.000", "tn > TIMESTAMP_NTZ'2024-01-01 00:00:00.0009'", KEEP),
    # decimals (precision 10: exact bounds)
    ("dec", Decimal("1.25"), Decimal("9.99"), "dec = 1.24", PRUNE), ("dec", Decimal("1.25"), Decimal("9.99"), "dec = 1.25", KEEP),
    ("dec", Decimal("1.25"), Decimal("9.99"), "dec > 9.99", PRUNE), ("dec", Decimal("1.25"), Decimal("9.99"), "dec >= 9.99", KEEP),
    ("dec", Decimal("1.25"), Decimal("9.99"), "dec < 1.25", PRUNE), ("dec", Decimal("1.25"), Decimal("9.99"), "dec = 5", KEEP),
    ("dec", Decimal("1.25"), Decimal("9.99"), "dec = 1.245", KEEP),  # not representable at scale 2: unknown
    # booleans have no min/max here: never pruned by value
    ("b", True, True, "b = false", KEEP), ("b", False, False, "NOT b", KEEP),
]


@pytest.mark.parametrize("column,lo,hi,predicate,keep", CASES, ids=[f"{c[0]}:{c[3]}:{c[1]}..{c[2]}" for c in CASES])
def test_comparison_verdicts(column: str, lo: Any, hi: Any, predicate: str, keep: bool) -> None:
    assert one_file(predicate, column, lo, hi) is keep


def test_comparison_with_null_prunes_every_file() -> None:
    # `i = NULL` is NULL for every row: nothing is selected, whatever the stats (even none).
    files = [({"p": "a"}, stats_text({"i": 1}, {"i": 2})), ({"p": "a"}, None)]
    assert verdicts("i = NULL", files) == [PRUNE, PRUNE]
    assert verdicts("i IN (NULL)", files) == [PRUNE, PRUNE]


# -- null counts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("nulls,records,is_null,is_not_null", [
    (0, 10, PRUNE, KEEP),
    (3, 10, KEEP, KEEP),
    (10, 10, KEEP, PRUNE),
    (0, 0, PRUNE, PRUNE),  # an empty file holds nothing
])
def test_null_counts_decide_is_null_and_is_not_null(nulls: int, records: int, is_null: bool, is_not_null: bool) -> None:
    text = stats_text({}, {}, {"s": nulls}, records=records)
    files = [({"p": "a"}, text)]
    assert verdicts("s IS NULL", files) == [is_null]
    assert verdicts("s IS NOT NULL", files) == [is_not_null]
    assert verdicts("s <=> NULL", files) == [is_null]
    assert verdicts("NOT (s IS NULL)", files) == [is_not_null]


def test_all_null_file_is_pruned_by_any_comparison() -> None:
    # No bounds (every value NULL) and nullCount = numRecords: min/max are null, the comparison unknown,
    # but IS NOT NULL proves emptiness. A plain comparison keeps it (no bound says otherwise).
    text = encode_stats({"numRecords": 4, "minValues": {}, "maxValues": {}, "nullCount": {"i": 4}})
    assert verdicts("i = 1", [({"p": "a"}, text)]) == [KEEP]
    assert verdicts("i = 1 AND i IS NOT NULL", [({"p": "a"}, text)]) == [PRUNE]


# -- tightBounds and != --------------------------------------------------------------------------------
@pytest.mark.parametrize("tight,verdict", [(True, PRUNE), (None, PRUNE), (False, KEEP)])
def test_not_equal_prunes_only_with_tight_bounds(tight: bool | None, verdict: bool) -> None:
    # A file with deletion vectors may keep wide bounds (tightBounds=false): min = max = 5 there does not
    # prove that every live row is 5.
    assert one_file("i != 5", "i", 5, 5, tight=tight) is verdict
    assert one_file("NOT (i = 5)", "i", 5, 5, tight=tight) is verdict


def test_null_counts_stay_valid_with_wide_bounds() -> None:
    text = stats_text({"i": 1}, {"i": 5}, {"i": 0}, tight=False)
    assert verdicts("i IS NULL", [({"p": "a"}, text)]) == [PRUNE]
    assert verdicts("i > 5", [({"p": "a"}, text)]) == [PRUNE]


# -- missing stats never prune -------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    None, "", "{}", '{"numRecords":10}', '{"numRecords":10,"minValues":{"j":1},"maxValues":{"j":1}}',
    '{"numRecords":10,"minValues":{"i":null},"maxValues":{"i":null}}', "garbage",
    '{"numRecords":10,"minValues":{"i":"x"},"maxValues":{"i":"y"}}',
])
def test_missing_or_unusable_stats_never_prune(text: str | None) -> None:
    for predicate in ("i = 100", "i < -100", "i > 100", "i IS NULL", "i IS NOT NULL", "i != 1", "i IN (7, 8)"):
        assert verdicts(predicate, [({"p": "a"}, text)]) == [KEEP], (predicate, text)


def test_one_missing_bound_still_decides_with_the_other() -> None:
    text = '{"numRecords":10,"minValues":{"i":50},"maxValues":{}}'
    assert verdicts("i = 10", [({"p": "a"}, text)]) == [PRUNE]  # below the known minimum
    assert verdicts("i = 60", [({"p": "a"}, text)]) == [KEEP]
    assert verdicts("i > 1000", [({"p": "a"}, text)]) == [KEEP]


def test_nan_bound_bounds_nothing() -> None:
    text = '{"numRecords":10,"minValues":{"f":"NaN"},"maxValues":{"f":"NaN"}}'
    assert verdicts("f < 0", [({"p": "a"}, text)]) == [KEEP]


def test_nan_is_max_mode_never_prunes_on_float_comparisons() -> None:
    text = stats_text({"f": 1.5, "i": 1}, {"f": 2.5, "i": 1})
    assert verdicts("f = 3.0", [({"p": "a"}, text)], nan_is_max=True) == [KEEP]
    assert verdicts("f = 3.0 AND i = 2", [({"p": "a"}, text)], nan_is_max=True) == [PRUNE]


# -- partition values ----------------------------------------------------------------------------------
PARTITIONED = [({"p": "a"}, None), ({"p": "b"}, None), ({"p": None}, None), ({}, None)]


@pytest.mark.parametrize("predicate,want", [
    ("p = 'a'", [KEEP, PRUNE, PRUNE, PRUNE]),
    ("p != 'a'", [PRUNE, KEEP, PRUNE, PRUNE]),  # NULL != 'a' is NULL: not selected
    ("p IS NULL", [PRUNE, PRUNE, KEEP, KEEP]),  # a missing key is a NULL partition value
    ("p IN ('b', 'z')", [PRUNE, KEEP, PRUNE, PRUNE]),
    ("p NOT IN ('b')", [KEEP, PRUNE, PRUNE, PRUNE]),
    ("upper(p) = 'B'", [PRUNE, KEEP, PRUNE, PRUNE]),  # any expression on partition columns is exact
    ("p = 'a' OR i = 1", [KEEP, KEEP, KEEP, KEEP]),  # no stats: the data atom may match anywhere
    ("p = 'a' AND i = 1", [KEEP, PRUNE, PRUNE, PRUNE]),
    ("NOT (p = 'a' OR p IS NULL)", [PRUNE, KEEP, PRUNE, PRUNE]),
    ("p = i", [KEEP, KEEP, KEEP, KEEP]),  # mixed atoms are not modelled
])
def test_partition_values_are_decided_exactly(predicate: str, want: list[bool]) -> None:
    result = skip_files(adds(PARTITIONED), parse_sql(predicate), SCHEMA, ["p"])
    assert result.after_stats.tolist() == want
    assert result.after_partitions.tolist() == want


def test_partition_and_stats_verdicts_are_reported_separately() -> None:
    files = [({"p": "a"}, stats_text({"i": 1}, {"i": 5})), ({"p": "a"}, stats_text({"i": 10}, {"i": 20})),
             ({"p": "b"}, stats_text({"i": 1}, {"i": 5}))]
    result = skip_files(adds(files), parse_sql("p = 'a' AND i < 6"), SCHEMA, ["p"])
    assert result.after_partitions.tolist() == [KEEP, KEEP, PRUNE]
    assert result.after_stats.tolist() == [KEEP, PRUNE, PRUNE]


def test_boolean_connectives_combine_verdicts() -> None:
    files = [({"p": "a"}, stats_text({"i": 1, "s": "a"}, {"i": 5, "s": "c"})),
             ({"p": "a"}, stats_text({"i": 10, "s": "x"}, {"i": 20, "s": "z"}))]
    assert verdicts("i < 6 OR s > 'y'", files) == [KEEP, KEEP]
    assert verdicts("i < 6 AND s > 'y'", files) == [PRUNE, PRUNE]
    assert verdicts("NOT (i >= 6)", files) == [KEEP, PRUNE]
    assert verdicts("NOT (i < 6 OR s < 'b')", files) == [PRUNE, KEEP]
    assert verdicts("TRUE", files) == [KEEP, KEEP]
    assert verdicts("1 = 0", files) == [PRUNE, PRUNE]


def test_nested_struct_leaf_bounds() -> None:
    arrow = pa.schema([("p", pa.string()), ("st", pa.struct([("x", pa.int64())]))])
    schema = from_arrow_schema(arrow)
    text = encode_stats({"numRecords": 3, "minValues": {"st": {"x": 5}}, "maxValues": {"st": {"x": 9}},
                         "nullCount": {"st": {"x": 0}}})
    table = adds([({"p": "a"}, text)])
    assert skip_files(table, parse_sql("st.x > 9"), schema, ["p"]).after_stats.tolist() == [PRUNE]
    assert skip_files(table, parse_sql("st.x = 7"), schema, ["p"]).after_stats.tolist() == [KEEP]
    assert skip_files(table, parse_sql("st IS NULL"), schema, ["p"]).after_stats.tolist() == [KEEP]


def test_column_mapping_reads_physical_names() -> None:
    key = "delta.columnMapping.physicalName"
    schema = StructType((StructField("p", PrimitiveType("string"), metadata={key: "col-p"}),
                         StructField("i", PrimitiveType("long"), metadata={key: "col-i"})))
    table = adds([({"col-p": "a"}, stats_text({"col-i": 1}, {"col-i": 5})),
                  ({"col-p": "b"}, stats_text({"col-i": 1}, {"col-i": 5}))])
    assert skip_files(table, parse_sql("i > 5"), schema, ["p"], "name").after_stats.tolist() == [PRUNE, PRUNE]
    assert skip_files(table, parse_sql("p = 'b' AND i = 3"), schema, ["p"], "name").after_stats.tolist() == [PRUNE, KEEP]


def test_live_rows_subtract_deletion_vector_cardinality() -> None:
    stats = pa.array(['{"numRecords":10}', '{"numRecords":7}', None])
    dv_type = pa.struct([("storageType", pa.string()), ("cardinality", pa.int64())])
    dvs = pa.array([{"storageType": "u", "cardinality": 3}, None, None], dv_type)
    assert live_rows(stats, dvs).to_pylist() == [7, 7, None]
    assert live_rows(stats, pa.nulls(3, dv_type)).to_pylist() == [10, 7, None]


# -- property: skipping never prunes a file that holds a match ---------------------------------------
PROP_COLUMNS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "i": (pa.int64(), [-(2**63), -2, 0, 1, 3, 2**63 - 1]),
    "f": (pa.float64(), [-1.5, -0.0, 0.0, 1.0, 2.5, math.nan, math.inf, -math.inf]),
    "s": (pa.string(), ["", "a", "b", "é", "😀", "a" * 32, "a" * 32 + "b", "a" * 33, "\U0010ffff", "z" * 40]),
    "d": (pa.date32(), [date(1970, 1, 1), date(2024, 2, 29), date(1, 1, 1), date(9999, 12, 31)]),
    "ts": (pa.timestamp("us", tz="UTC"), [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=k)
                                           for k in (0, 1, 999, 1000, 1001, -1, 86_400_000_000)]),
    "dec": (pa.decimal128(10, 2), [Decimal("-1.00"), Decimal("0.00"), Decimal("1.25"), Decimal("99999999.99")]),
    "g": (pa.float32(), [0.1, -0.0, 1.5, math.nan, math.inf, 3.4e38]),  # compared as doubles (0.1f != 0.1)
    "sh": (pa.int16(), [-32768, 0, 1, 32767]),
    "tn": (pa.timestamp("us"), [datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 0, 0, 999), datetime(1, 1, 1)]),
    "big": (pa.decimal128(38, 18), [Decimal("1.000000000000000001"), Decimal("-1"),
                                    Decimal("12345678901234567890.123456789012345678")]),
}
PROP_ARROW = pa.schema([("p", pa.string())] + [(k, t) for k, (t, _) in PROP_COLUMNS.items()])
PROP_SCHEMA = from_arrow_schema(PROP_ARROW)


@st.composite
def cell(draw: Any, column: str) -> Any:
    t, pool = PROP_COLUMNS[column]
    return draw(st.one_of(st.none(), st.sampled_from(pool)))


@st.composite
def rows_strategy(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 12))
    return [{"p": draw(st.sampled_from(["a", "b", None])), **{c: draw(cell(c)) for c in PROP_COLUMNS}}
            for _ in range(n)]


def literal(draw: Any, column: str) -> sp.L:
    t, pool = PROP_COLUMNS[column]
    extra = {"i": [2, -1, 4], "f": [0.5, 3.0], "s": ["aa", "a" * 31, "b" * 33, "éa"],
             "d": [date(2024, 3, 1)], "ts": [datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=UTC)],
             "dec": [Decimal("1.26")], "g": [0.10000000149011612, 0.2, 1e39], "sh": [2, 40000],
             "tn": [datetime(2024, 1, 1, 0, 0, 0, 500)], "big": [Decimal("1.000000000000000002"), Decimal("1")]}[column]
    return sp.L(draw(st.sampled_from(pool + extra)), t, style=draw(st.integers(0, 2)))


@st.composite
def predicate(draw: Any, depth: int = 0) -> sp.P:
    kind = draw(st.sampled_from(["cmp", "cmp", "cmp", "null", "in", "between", "part"] +
                                (["and", "or", "not"] if depth < 3 else [])))
    column = draw(st.sampled_from(sorted(PROP_COLUMNS)))
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        col, lit = sp.C(column), literal(draw, column)
        return sp.Cmp(op, col, lit) if draw(st.booleans()) else sp.Cmp(op, lit, col)
    if kind == "null":
        return sp.IsNull(sp.C(column), draw(st.booleans()))
    if kind == "in":
        values = tuple(literal(draw, column) for _ in range(draw(st.integers(1, 3))))
        return sp.In(sp.C(column), values, draw(st.booleans()))
    if kind == "between":
        return sp.Between(sp.C(column), literal(draw, column), literal(draw, column), draw(st.booleans()))
    if kind == "part":
        return sp.Cmp(draw(st.sampled_from(["=", "!=", "<"])), sp.C("p"), sp.L(draw(st.sampled_from(["a", "b"])), pa.string()))
    if kind == "not":
        return sp.Not(draw(predicate(depth + 1)))
    left, right = draw(predicate(depth + 1)), draw(predicate(depth + 1))
    return sp.And(left, right) if kind == "and" else sp.Or(left, right)


def file_stats(rows: list[dict[str, Any]]) -> str:
    collector = StatsCollector.for_schema(PROP_SCHEMA, physical_paths(PROP_SCHEMA, "none"), skip={"p"})
    collector.update(pa.Table.from_pylist(rows, schema=PROP_ARROW))
    return collector.to_json()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows_strategy(), st.data())
def test_skipping_never_prunes_a_file_holding_a_match(rows: list[dict[str, Any]], data: Any) -> None:
    rows = pa.Table.from_pylist(rows, schema=PROP_ARROW).to_pylist()  # the values as stored
    # Files: rows grouped by partition, then cut into chunks of up to 3 rows, as a writer would.
    files: list[tuple[dict[str, str | None], list[dict[str, Any]]]] = []
    for part in ("a", "b", None):
        group = [r for r in rows if r["p"] == part]
        files += [({"p": part}, group[k:k + 3]) for k in range(0, len(group), 3)]
    table = adds([(pv, file_stats(chunk)) for pv, chunk in files])
    for _ in range(4):
        pred = data.draw(predicate())
        sql = sp.to_sql(pred)
        keep = skip_files(table, parse_sql(sql), PROP_SCHEMA, ["p"]).after_stats
        for (pv, chunk), kept in zip(files, keep):
            hits = [r for r in chunk if sp.matches(pred, r)]
            assert kept or not hits, f"{sql} pruned a file with {pv} holding {hits}; stats {file_stats(chunk)}"
