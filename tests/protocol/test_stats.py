"""Direct unit tests of per-file statistics (`lakehouse.protocol.stats`) and of their parsing back
(`lakehouse.protocol.skipping.parse_stats`): the JSON text of extreme values (int64 limits, decimals with
exact digits, infinities, timestamps beyond Python's datetime range, unicode strings cut at 32 characters
with the right prefix rule), which columns get which statistics, and the invariant every reader relies on:
the bounds parsed back contain every value of the file.
"""

from __future__ import annotations

import io
import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructField, StructType, from_arrow_schema
from lakehouse.protocol.skipping import Leaf, parse_stats
from lakehouse.protocol.stats import (
    STRING_PREFIX,
    StatsCollector,
    civil_from_days,
    days_from_civil,
    encode_stats,
    format_date,
    format_timestamp_ms,
    format_timestamp_us,
    parse_iso_micros,
    physical_paths,
    stats_leaves,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_CHAR = "\U0010ffff"
DAY_US = 86_400_000_000


def collect(table: pa.Table, **options: Any) -> dict[str, Any]:
    """The stats dict the collector writes for ``table`` (one batch per 2 rows, to exercise merging)."""
    schema = from_arrow_schema(table.schema)
    collector = StatsCollector.for_schema(schema, physical_paths(schema, "none"), **options)
    for batch in table.to_batches(max_chunksize=2) or [table]:
        collector.update(batch)
    return collector.to_dict()


def parsed(stats_json: str | None, name: str, dtype: DataType) -> tuple[Any, Any, Any, Any]:
    """(min, max, nullCount, numRecords) of column ``name`` as skipping parses them from the JSON text.
    Temporal bounds come back as integers (days or microseconds) so any year compares."""
    leaf = Leaf((name,), (name,), dtype)
    s = parse_stats(pa.array([stats_json], pa.string()), [leaf])
    lo, hi = s.mins.get(leaf.path), s.maxs.get(leaf.path)
    if lo is not None and (pa.types.is_timestamp(lo.type) or pa.types.is_date(lo.type)):
        as_int = pa.int64() if pa.types.is_timestamp(lo.type) else pa.int32()
        lo, hi = lo.cast(as_int), hi.cast(as_int)
    return (None if lo is None else lo[0].as_py(), None if hi is None else hi[0].as_py(),
            s.nulls[leaf.path][0].as_py(), s.num_records[0].as_py())


# -- encode_stats ----------------------------------------------------------------------------------------
def test_encode_keeps_int64_limits_and_decimal_digits_exact() -> None:
    text = encode_stats({"numRecords": 2, "minValues": {"i": INT64_MIN, "d": Decimal("-0.000000000000000001")},
                         "maxValues": {"i": INT64_MAX, "d": Decimal("12345678901234567890.123456789012345678")}})
    assert text == ('{"numRecords":2,"minValues":{"i":-9223372036854775808,"d":-0.000000000000000001},'
                    '"maxValues":{"i":9223372036854775807,"d":12345678901234567890.123456789012345678}}')
    # Exact digits are plain JSON numbers (never exponent form, never a double's rounding).
    assert json.loads(text, parse_float=Decimal)["maxValues"]["d"] == Decimal("12345678901234567890.123456789012345678")


def test_encode_writes_infinities_as_strings_and_floats_shortest() -> None:
    text = encode_stats({"minValues": {"f": -math.inf, "g": 0.1, "h": -0.0}, "maxValues": {"f": math.inf, "g": 1e300}})
    assert text == '{"minValues":{"f":"-Infinity","g":0.1,"h":-0.0},"maxValues":{"f":"Infinity","g":1e+300}}'


def test_encode_keeps_unicode_and_escapes_json() -> None:
    text = encode_stats({"minValues": {"s": 'é"\\\n😀'}, "nullCount": {"a.b": {"c": 0}}, "tightBounds": False})
    assert json.loads(text) == {"minValues": {"s": 'é"\\\n😀'}, "nullCount": {"a.b": {"c": 0}}, "tightBounds": False}


def test_encode_refuses_values_it_cannot_write_exactly() -> None:
    with pytest.raises(TypeError, match="bytes"):
        encode_stats({"minValues": {"b": b"x"}})


# -- string prefixes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,lo,hi", [
    ("a" * 32, "a" * 32, "a" * 32),  # exactly the prefix length: kept whole
    ("a" * 33, "a" * 32, "a" * 32 + MAX_CHAR),
    ("é" * 40, "é" * 32, "é" * 32 + MAX_CHAR),  # characters, not UTF-8 bytes, are counted
    ("😀" * 33, "😀" * 32, "😀" * 32 + MAX_CHAR),  # a 4-byte character is one character, never split
    (MAX_CHAR * 33, MAX_CHAR * 32, MAX_CHAR * 33),
])
def test_long_string_bounds_are_prefixes_with_tie_breaker_on_the_maximum(value: str, lo: str, hi: str) -> None:
    stats = collect(pa.table({"s": [value]}))
    assert (stats["minValues"]["s"], stats["maxValues"]["s"]) == (lo, hi)
    assert stats["minValues"]["s"] <= value <= stats["maxValues"]["s"]


def test_string_bounds_compare_in_utf8_byte_order() -> None:
    # U+FFFF < U+10000 as code points and as UTF-8 bytes (EF BF BF < F0 90 80 80); UTF-16 order differs.
    values = ["\uffff", "\U00010000", "z"]
    stats = collect(pa.table({"s": values}))
    assert stats["minValues"]["s"] == "z" and stats["maxValues"]["s"] == "\U00010000"


_TEXT = st.text(st.sampled_from(["a", "b", "é", "\uffff", "😀", MAX_CHAR, " "]), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=6))
def test_string_bounds_contain_every_value_in_utf8_order(values: list[str]) -> None:
    stats = collect(pa.table({"s": pa.array(values, pa.string())}))
    lo, hi = stats["minValues"]["s"], stats["maxValues"]["s"]
    for v in values:
        assert lo.encode() <= v.encode() <= hi.encode(), (lo, v, hi)
    top = max(values, key=lambda v: v.encode())
    assert len(lo) <= STRING_PREFIX
    if len(top) <= STRING_PREFIX:
        assert hi == top
    else:  # cut after the prefix and after any run of U+10FFFF that follows it, then U+10FFFF appended
        cut = STRING_PREFIX + len(top[STRING_PREFIX:]) - len(top[STRING_PREFIX:].lstrip(MAX_CHAR))
        assert hi == (top if cut == len(top) else top[:cut] + MAX_CHAR)


def test_string_maximum_going_on_with_the_largest_character_keeps_an_upper_bound() -> None:
    value = "a" * STRING_PREFIX + MAX_CHAR + "a"
    hi = collect(pa.table({"s": [value]}))["maxValues"]["s"]
    assert value.encode() <= hi.encode() and hi == "a" * STRING_PREFIX + MAX_CHAR + MAX_CHAR
    only_max = "a" * STRING_PREFIX + MAX_CHAR * 2
    assert collect(pa.table({"s": [only_max]}))["maxValues"]["s"] == only_max


# -- which columns get which statistics ----------------------------------------------------------------
def test_nan_column_gets_null_count_but_no_bounds() -> None:
    stats = collect(pa.table({"f": [1.0, math.nan, None], "g": [1.0, 2.0, None]}))
    assert "f" not in stats["minValues"] and "f" not in stats["maxValues"]
    assert stats["minValues"]["g"] == 1.0 and stats["maxValues"]["g"] == 2.0
    assert stats["nullCount"] == {"f": 1, "g": 1}


def test_binary_and_nested_list_columns_get_only_null_counts() -> None:
    stats = collect(pa.table({"bin": pa.array([b"a", None]), "arr": pa.array([[1], None]),
                              "st": pa.array([{"x": 1}, {"x": None}])}))
    assert stats["minValues"] == {"st": {"x": 1}} and stats["maxValues"] == {"st": {"x": 1}}
    assert stats["nullCount"] == {"bin": 1, "arr": 1, "st": {"x": 1}}


def test_all_null_and_empty_columns_get_no_bounds() -> None:
    stats = collect(pa.table({"a": pa.array([None, None], pa.int64())}))
    assert stats == {"numRecords": 2, "minValues": {}, "maxValues": {}, "nullCount": {"a": 2}, "tightBounds": True}
    empty = collect(pa.table({"a": pa.array([], pa.int64())}))
    assert empty["numRecords"] == 0 and empty["minValues"] == {} and empty["nullCount"] == {"a": 0}


def test_stats_leaves_honour_num_indexed_columns_stats_columns_and_partitions() -> None:
    schema = StructType((StructField("p", PrimitiveType("string")),
                         StructField("s", StructType((StructField("x", PrimitiveType("long")),
                                                      StructField("y", PrimitiveType("long"))))),
                         StructField("z", PrimitiveType("long"))))
    paths = physical_paths(schema, "none")
    names = lambda leaves: [p for p, _ in leaves]  # noqa: E731
    assert names(stats_leaves(schema, paths, 32, None, {"p"})) == [("s", "x"), ("s", "y"), ("z",)]
    assert names(stats_leaves(schema, paths, 1, None, {"p"})) == [("s", "x")]  # leaves, not top-level columns
    assert names(stats_leaves(schema, paths, -1, None, set())) == [("p",), ("s", "x"), ("s", "y"), ("z",)]
    assert names(stats_leaves(schema, paths, 1, ["z", "s.y"], {"p"})) == [("s", "y"), ("z",)]  # overrides the count
    assert names(stats_leaves(schema, paths, 32, ["s"], {"p"})) == [("s", "x"), ("s", "y")]


def test_column_mapping_writes_physical_names() -> None:
    field = StructField("logical", PrimitiveType("long"), metadata={"delta.columnMapping.physicalName": "col-1"})
    schema = StructType((field,))
    collector = StatsCollector.for_schema(schema, physical_paths(schema, "name"))
    collector.update(pa.table({"logical": [3, 1]}))
    assert collector.to_dict()["minValues"] == {"col-1": 1} and collector.to_dict()["nullCount"] == {"col-1": 0}


# -- timestamps and dates ------------------------------------------------------------------------------
@pytest.mark.parametrize("micros,lo,hi", [
    (1, "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.001Z"),
    (-1, "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z"),  # floor and ceiling, not truncation
    (1000, "1970-01-01T00:00:00.001Z", "1970-01-01T00:00:00.001Z"),
    (-1001, "1969-12-31T23:59:59.998Z", "1969-12-31T23:59:59.999Z"),
    (253402300799999999, "9999-12-31T23:59:59.999Z", "+10000-01-01T00:00:00.000Z"),
    (-62135596800000001, "0000-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"),
])
def test_timestamp_bounds_round_outward_to_milliseconds(micros: int, lo: str, hi: str) -> None:
    assert format_timestamp_ms(micros, upper=False, ntz=False) == lo
    assert format_timestamp_ms(micros, upper=True, ntz=False) == hi
    assert format_timestamp_ms(micros, upper=True, ntz=True) == hi[:-1]
    assert parse_iso_micros(lo) <= micros <= parse_iso_micros(hi)


def test_nanosecond_timestamps_are_bounded_at_microsecond_precision() -> None:
    # Delta timestamps are microseconds: nanoseconds are floored first, then the bounds rounded outward.
    ns = [-1, 1_000_001, 999, 1_999_999]
    stats = collect(pa.table({"ts": pa.array(ns, pa.timestamp("ns", tz="UTC"))}))
    assert stats["minValues"]["ts"] == "1969-12-31T23:59:59.999Z"
    assert stats["maxValues"]["ts"] == "1970-01-01T00:00:00.002Z"
    lo, hi = (parse_iso_micros(stats[k]["ts"]) for k in ("minValues", "maxValues"))
    assert all(lo <= v // 1000 <= hi for v in ns)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**19), 10**19))
def test_iso_text_round_trips_any_instant(micros: int) -> None:
    assert parse_iso_micros(format_timestamp_us(micros, ntz=False)) == micros
    assert parse_iso_micros(format_timestamp_us(micros, ntz=True)) == micros
    lo = parse_iso_micros(format_timestamp_ms(micros, upper=False, ntz=False))
    hi = parse_iso_micros(format_timestamp_ms(micros, upper=True, ntz=False))
    assert lo <= micros <= hi and hi - lo <= 1000 and lo % 1000 == 0 and hi % 1000 == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**8), 10**8))
def test_days_round_trip_through_civil_dates_and_text(days: int) -> None:
    assert days_from_civil(*civil_from_days(days)) == days
    assert parse_iso_micros(format_date(days)) == days * DAY_US
    if -719162 <= days <= 2932896:  # inside Python's date range: agrees with the standard library
        assert format_date(days) == (date(1970, 1, 1) + (date.fromordinal(719163 + days) - date(1970, 1, 1))).isoformat()


@pytest.mark.parametrize("text,micros", [
    ("2024-01-31T12:00:00.123456789Z", 1706702400123456),  # nanoseconds floored
    ("2024-01-31T13:00:00+01:00", 1706702400000000),
    ("2024-01-31 12:00:00-0130", 1706707800000000),
    ("2024-01-31", 1706659200000000),
    ("+10000-01-01T00:00:00.000Z", 253402300800000000),
    ("-0001-12-31T00:00:00Z", -62167305600000000),  # year -1 is 2 BC: the day before 0000-01-01
    ("0000-01-01T00:00:00Z", -62167219200000000),
])
def test_parse_iso_micros(text: str, micros: int) -> None:
    assert parse_iso_micros(text) == micros


@pytest.mark.parametrize("text", ["2023-02-29", "2024-13-01", "2024-00-10", "10000-01-01", "2024-01-01T", "x", ""])
def test_parse_iso_micros_refuses_malformed_text(text: str) -> None:
    assert parse_iso_micros(text) is None


# -- the round trip: collector -> JSON -> parse_stats --------------------------------------------------
ROUND_TRIP = [
    ("i", pa.array([INT64_MIN, INT64_MAX, None], pa.int64()), INT64_MIN, INT64_MAX),
    ("n", pa.array([-(2**31), 2**31 - 1], pa.int32()), -(2**31), 2**31 - 1),
    ("g", pa.array([-1e308, 5e-324]), -1e308, 5e-324),
    # A cut maximum parses as written; skipping treats maxima of 32+ characters as no bound (`_upper`).
    ("s", pa.array(["é" * 40, "a", None]), "a", "é" * 32 + MAX_CHAR),
    ("t", pa.array(["b", "😀"]), "b", "😀"),
    ("d", pa.array([Decimal("-1.000000000000000001"), Decimal("12345678901234567890.123456789012345678")],
                   pa.decimal128(38, 18)), Decimal("-1.000000000000000001"), Decimal("12345678901234567890.123456789012345678")),
    ("e", pa.array([Decimal("-99999999.99"), Decimal("0.01")], pa.decimal128(10, 2)), Decimal("-99999999.99"), Decimal("0.01")),
    ("dt", pa.array([-719_529, 2_932_897], pa.date32()), -719_529, 2_932_897),  # 0000-12-31 .. +10000-01-01
    ("ts", pa.array([-1, 253402300800000001], pa.timestamp("us", tz="UTC")), -1000, 253402300800001000),
    ("tn", pa.array([datetime(2024, 1, 1, 0, 0, 0, 1)], pa.timestamp("us")), 1704067200000000, 1704067200001000),
]


@pytest.mark.parametrize("name,values,lo,hi", ROUND_TRIP, ids=[c[0] for c in ROUND_TRIP])
def test_bounds_survive_the_json_round_trip(name: str, values: pa.Array, lo: Any, hi: Any) -> None:
    table = pa.table({name: values})
    text = encode_stats(collect(table))
    got = parsed(text, name, from_arrow_schema(table.schema).field(name).type)
    assert got == (lo, hi, values.null_count, len(values)), text


def test_infinite_float_bounds_are_written_but_parse_as_unknown() -> None:
    # "Infinity" strings are what Spark writes; skipping reads them as no bound (sound, never wrong).
    text = encode_stats(collect(pa.table({"f": [-math.inf, 1.0, math.inf]})))
    assert '"f":"-Infinity"' in text and '"f":"Infinity"' in text
    assert parsed(text, "f", PrimitiveType("double")) == (None, None, 0, 3)


@pytest.mark.parametrize("text", [None, "", "   ", "{}", "not json", '{"numRecords":"x"}', "[1]"])
def test_missing_or_malformed_stats_parse_as_unknown(text: str | None) -> None:
    assert parsed(text, "i", PrimitiveType("long")) == (None, None, None, None)


def test_one_malformed_file_does_not_lose_the_others_stats() -> None:
    leaf = Leaf(("i",), ("i",), PrimitiveType("long"))
    good = '{"numRecords":2,"minValues":{"i":1},"maxValues":{"i":5},"nullCount":{"i":0},"tightBounds":false}'
    s = parse_stats(pa.array([good, '{"minValues":{"i":"NaN"}}', None]), [leaf])
    assert s.mins[leaf.path].to_pylist() == [1, None, None] and s.maxs[leaf.path].to_pylist() == [5, None, None]
    assert s.num_records.to_pylist() == [2, None, None] and s.tight.to_pylist() == [False, None, None]
    assert s.nulls[leaf.path].to_pylist() == [0, None, None]


def test_tight_bounds_flag_is_written_true_and_parsed_as_written() -> None:
    assert collect(pa.table({"i": [1]}))["tightBounds"] is True
    leaf = Leaf(("i",), ("i",), PrimitiveType("long"))
    texts = ['{"tightBounds":true}', '{"tightBounds":false}', '{"numRecords":1}']
    assert parse_stats(pa.array(texts), [leaf]).tight.to_pylist() == [True, False, None]


def test_nested_and_physical_paths_parse_back() -> None:
    leaf = Leaf(("s", "x"), ("col-1", "col-2"), PrimitiveType("integer"))
    text = '{"numRecords":3,"minValues":{"col-1":{"col-2":-4}},"maxValues":{"col-1":{"col-2":9}},"nullCount":{"col-1":{"col-2":1}}}'
    s = parse_stats(pa.array([text]), [leaf])
    assert (s.mins[leaf.path][0].as_py(), s.maxs[leaf.path][0].as_py(), s.nulls[leaf.path][0].as_py()) == (-4, 9, 1)


def test_exact_decimal_bound_with_more_than_28_digits_is_kept() -> None:
    dtype = DecimalType(38, 18)
    value = Decimal("-99999999999999999999.999999999999999999")
    text = encode_stats(collect(pa.table({"d": pa.array([value], pa.decimal128(38, 18))})))
    assert parsed(text, "d", dtype)[:2] == (value, value)


# -- property: parsed bounds contain every value; footer and batch paths agree ------------------------
KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy]] = {
    "long": (pa.int64(), st.integers(INT64_MIN, INT64_MAX)),
    "double": (pa.float64(), st.floats(allow_nan=False, allow_infinity=False)),
    "string": (pa.string(), _TEXT),
    "date": (pa.date32(), st.integers(-800_000, 3_000_000)),
    "timestamp": (pa.timestamp("us", tz="UTC"), st.integers(-(10**17), 10**17)),
    "timestamp_ntz": (pa.timestamp("us"), st.integers(-(10**17), 10**17)),
    "decimal": (pa.decimal128(15, 6), st.decimals(min_value=-(10**8), max_value=10**8, places=6,
                                                   allow_nan=False, allow_infinity=False)),
    # Above 15 digits a bound may have gone through a double (delta-rs): skipping widens it outward.
    "decimal38": (pa.decimal128(38, 6), st.decimals(min_value=-(10**20), max_value=10**20, places=6,
                                                     allow_nan=False, allow_infinity=False)),
}


def _as_comparable(arr: pa.Array) -> list[Any]:
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_pylist()
    if pa.types.is_date(arr.type):
        return arr.cast(pa.int32()).to_pylist()
    return arr.to_pylist()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KINDS)).flatmap(
    lambda k: st.tuples(st.just(k), st.lists(st.one_of(st.none(), KINDS[k][1]), min_size=1, max_size=8))))
def test_parsed_bounds_contain_every_value(case: tuple[str, list[Any]]) -> None:
    kind, values = case
    arr = pa.array(values, KINDS[kind][0])
    table = pa.table({"c": arr})
    stats = collect(table)
    lo, hi, nulls, count = parsed(encode_stats(stats), "c", from_arrow_schema(table.schema).field("c").type)
    assert (nulls, count) == (arr.null_count, len(arr))
    present = [v for v in _as_comparable(arr) if v is not None]
    for v in present:
        assert lo is None or lo <= v, (lo, v)
        assert hi is None or v <= hi, (v, hi)
    if present and kind in ("long", "double", "date", "decimal"):
        assert (lo, hi) == (min(present), max(present))  # exact types keep exact bounds


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), KINDS["long"][1]), st.one_of(st.none(), _TEXT),
                          st.one_of(st.none(), KINDS["timestamp"][1]), st.one_of(st.none(), KINDS["date"][1])),
                min_size=1, max_size=10))
def test_bounds_from_parquet_footer_equal_bounds_from_batches(rows: list[tuple[Any, ...]]) -> None:
    table = pa.table({"i": pa.array([r[0] for r in rows], pa.int64()), "s": pa.array([r[1] for r in rows], pa.string()),
                      "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
                      "dt": pa.array([r[3] for r in rows], pa.date32())})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=3)
    schema = from_arrow_schema(table.schema)
    footer = StatsCollector.for_schema(schema, physical_paths(schema, "none"), bounds_from_parquet=True)
    for batch in table.to_batches(max_chunksize=4):
        footer.update(batch)
    footer.absorb_parquet(pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata)
    assert footer.to_dict() == collect(table)


def test_utc_offset_timestamps_are_written_as_utc() -> None:
    from zoneinfo import ZoneInfo
    ts = datetime(2024, 6, 1, 2, 0, tzinfo=ZoneInfo("Europe/Paris"))
    stats = collect(pa.table({"ts": pa.array([ts], pa.timestamp("us", tz="Europe/Paris"))}))
    assert stats["minValues"]["ts"] == "2024-06-01T00:00:00.000Z"
    assert parse_iso_micros(stats["minValues"]["ts"]) == int(ts.astimezone(timezone.utc).timestamp()) * 1_000_000
