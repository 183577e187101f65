"""Variant statistics in the pure skipping layer (PROTOCOL.md "Statistics for Variant Columns"; issue 16).

The statistics here are built byte by byte (metadata dictionary, object of primitive bounds, Z85), so
types the JSON encoder never makes (dates, timestamps, int8 next to int64) are covered, and the file
table is handed straight to `skipping.skip_files`: which files a predicate keeps, and that statistics
that are wrong in shape never drop a file nor raise.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest

from lakehouse.protocol import variant_stats
from lakehouse.protocol.dv import z85_encode
from lakehouse.protocol.expr import parse_sql
from lakehouse.protocol.expr_ast import Col
from lakehouse.protocol.schema import DecimalType, PrimitiveType, StructField, StructType
from lakehouse.protocol.skipping import skip_files
from lakehouse.protocol.variant_binary import (
    DATE, FALSE, INT8, INT64, TIMESTAMP, TIMESTAMP_NTZ, TRUE, decimal, double, encode_metadata, encode_object,
    fixed, integer, string,
)

SCHEMA = StructType([StructField("id", PrimitiveType("long")), StructField("v", PrimitiveType("variant"))])


def stat(bounds: dict[str, bytes], *, pad: bool = True) -> str:
    """Z85 of metadata + value for an object of already-encoded primitive ``bounds`` keyed by path."""
    keys = sorted(bounds)
    raw = encode_metadata(keys) + encode_object([(i, bounds[k]) for i, k in enumerate(keys)])
    if pad:
        raw += b"\0" * (-len(raw) % 4)
    return z85_encode(raw)


def adds(*files: dict) -> pa.Table:
    """A file table whose `stats` are the given JSON documents (None: a file without stats)."""
    return pa.table({"stats": pa.array([None if f is None else json.dumps(f) for f in files], pa.string())})


def file(lo: object, hi: object, nulls: int = 0) -> dict:
    out: dict = {"numRecords": 10, "nullCount": {"id": 0, "v": nulls}}
    if lo is not None:
        out["minValues"] = {"v": lo}
    if hi is not None:
        out["maxValues"] = {"v": hi}
    return out


def kept(table: pa.Table, predicate: str) -> list[bool]:
    return skip_files(table, parse_sql(predicate), SCHEMA, []).after_stats.tolist()


A = "$['a']"


def test_every_spelling_is_one_extraction():
    for text in ["v:a.b::int > 5", "variant_get(v, '$.a.b', 'int') > 5", "try_variant_get(v, '$[\"a\"].b', 'int') > 5"]:
        cmp = parse_sql(text)
        assert variant_stats.extraction(cmp.left) == (Col(("v",)), "$['a']['b']", PrimitiveType("integer")), text
    assert variant_stats.extraction(parse_sql("v:a[0]::string = 'x'").left)[1] == "$['a'][0]"


def test_decode_types_and_nested_values():
    nested = encode_object([(0, integer(1, 1))])  # an object is no bound: left out
    text = stat({A: integer(7, 1), "$['b']": fixed(DATE, 19000), "$['c']": nested, "$['d'][0]": string("x" * 70)})
    # the nested object's field id 0 names "$['a']" in this dictionary: only primitives become bounds
    assert variant_stats.decode(text) == {A: (INT8, 7), "$['b']": (DATE, 19000), "$['d'][0]": (16, "x" * 70)}
    assert variant_stats.decode(stat({A: integer(1, 8)}, pad=False)) == {A: (INT64, 1)}


def test_integer_bounds_prune_only_inside_the_target_range():
    t = adds(file(stat({A: integer(1, 1)}), stat({A: integer(5, 1)})),
             file(stat({A: integer(100, 8)}), stat({A: integer(300, 8)})),
             file(stat({A: integer(-2**40, 8)}), stat({A: integer(2**40, 8)})))
    assert kept(t, "v:a::int > 10") == [False, True, True]
    assert kept(t, "v:a::bigint > 2000000000000") == [False, False, False]
    # 300 does not fit a tinyint, so CAST might fail on that file: it is read
    assert kept(t, "v:a::tinyint > 10") == [False, True, True]
    assert kept(t, "v:a::int < 0") == [False, False, True]  # 2**40 is out of int range: the third file kept
    assert kept(t, "v:a::decimal(4,1) = 200") == [False, True, True]
    assert kept(t, "v:a::int IN (2, 3)") == [True, False, True]
    assert kept(t, "NOT (v:a::int >= 3)") == [True, False, True]
    assert kept(t, "v:a::int > 10 AND id = 1") == [False, True, True]
    assert kept(t, "v:a::int > 10 OR id = 1") == [True, True, True]
    assert kept(t, "v:a::int = 4 OR v:a::int = 200") == [True, True, True]
    assert kept(t, "v:a::int = 6 OR v:a::int = 301") == [False, False, True]


def test_other_type_families():
    day, micros = 19000, 1_700_000_000_000_000
    t = adds(file(stat({"$['d']": fixed(DATE, day), "$['t']": fixed(TIMESTAMP, micros),
                        "$['n']": fixed(TIMESTAMP_NTZ, micros), "$['s']": string("apple"),
                        "$['m']": decimal(150, 2, 4), "$['b']": FALSE}),
                   stat({"$['d']": fixed(DATE, day + 10), "$['t']": fixed(TIMESTAMP, micros + 10**6),
                         "$['n']": fixed(TIMESTAMP_NTZ, micros + 10**6), "$['s']": string("banana"),
                         "$['m']": decimal(999, 2, 4), "$['b']": FALSE})))
    assert kept(t, "v:d::date > DATE '2030-01-01'") == [False]
    assert kept(t, "v:d::date = DATE '2022-01-08'") == [True]  # day 19000 + 5
    assert kept(t, "v:t::timestamp > TIMESTAMP '2030-01-01 00:00:00'") == [False]
    assert kept(t, "v:n::timestamp_ntz < TIMESTAMP_NTZ '2000-01-01 00:00:00'") == [False]
    assert kept(t, "v:s::string > 'c'") == [False]
    assert kept(t, "v:s::string = 'b'") == [True]
    assert kept(t, "v:m::decimal(10,2) > 10") == [False]
    assert kept(t, "v:m::decimal(10,2) = 5") == [True]
    assert kept(t, "v:b::boolean = true") == [False]
    # type families that do not convert exactly and in order: every file read
    for predicate in ["v:s::int = 1", "v:d::string = 'x'", "v:m::int = 100", "v:t::date = DATE '1999-01-01'",
                      "v:a::double > 1e9", "v:b::int = 7", "v:s::string != 'apple'", "v:a IS NULL",
                      "v:d::timestamp < TIMESTAMP '1999-01-01 00:00:00'"]:
        assert kept(t, predicate) == [True], predicate


@pytest.mark.parametrize("lo, hi", [
    (stat({A: integer(1, 1)}), stat({A: string("z")})),  # one path, two types
    (stat({A: integer(1, 1)}), stat({A: integer(5, 8)})),  # int8 and int64: types differ, not trusted
    (stat({A: integer(1, 1)}), None),  # a lower bound only
    (None, stat({A: integer(5, 1)})),
    (stat({A: double(1.0)}), stat({A: double(5.0)})),  # floating point never prunes
    (stat({A: TRUE}), stat({A: integer(5, 1)})),
    (stat({"$['b']": integer(1, 1)}), stat({"$['b']": integer(5, 1)})),  # another path
    ("not z85 at all", "####"),
    ("", ""),
    (stat({A: integer(1, 1)})[:-5], stat({A: integer(5, 1)})[:7]),  # truncated
    (z85_encode(b"\x01\x05\x00\x00"), z85_encode(b"\xff\xff\xff\xff")),  # headers that lie
    (17, 42),  # numbers where Z85 text belongs
    ({"$['a']": 1}, {"$['a']": 5}),  # the human-readable form is not the stored one
    ([1], [5]),
])
def test_bad_or_mismatched_bounds_keep_the_file(lo, hi):
    t = adds(file(lo, hi), file(stat({A: integer(1, 1)}), stat({A: integer(5, 1)})), None)
    for predicate in ["v:a::int > 10", "v:a::int < 0", "v:a::int = 100", "v:a::int IN (50, 60)"]:
        assert kept(t, predicate) == [True, False, True], (predicate, lo, hi)


def test_null_count_of_the_variant_column():
    t = adds(file(None, None, nulls=0), file(None, None, nulls=10), file(None, None, nulls=3), None)
    assert kept(t, "v IS NULL") == [False, True, True, True]
    assert kept(t, "v IS NOT NULL") == [True, False, True, True]
    # a path's NULL is not the column's: a missing path is NULL in every row
    assert kept(t, "v:a::int IS NULL") == [True, True, True, True]


def test_conversions_are_refused_where_not_exact():
    to_int, to_dec = PrimitiveType("integer"), DecimalType(3, 1)
    assert variant_stats._convert(INT64, 2**31, to_int) is None
    assert variant_stats._convert(INT64, -2**31, to_int) == -2**31
    assert variant_stats._convert(INT64, 100, to_dec) is None  # 100 needs 3 integer digits
    assert variant_stats._convert(INT64, 99, to_dec) == Decimal(99)
    assert variant_stats._convert(16, "12", to_int) is None


def test_parquet_variant_bounds_become_the_json_form():
    """`stats_parsed` bounds (Parquet variants, shredded or not) read back as the Z85 text of JSON stats."""
    from lakehouse.protocol.file_table import _plain
    from lakehouse.protocol.variant_binary import encode_value

    meta, value = encode_value({A: 5, "$['b']": "x"})
    plain = pa.StructArray.from_arrays([pa.array([meta, None]), pa.array([value, None])], names=["metadata", "value"],
                                       mask=pa.array([False, True]))
    leaf = lambda arrays, names: pa.StructArray.from_arrays(arrays, names=names)  # noqa: E731
    typed = leaf([leaf([pa.array([None], pa.binary()), pa.array([5], pa.int64())], ["value", "typed_value"]),
                  leaf([pa.array([None], pa.binary()), pa.array(["x"])], ["value", "typed_value"])], [A, "$['b']"])
    shredded = leaf([pa.array([meta]), pa.array([None], pa.binary()), typed], ["metadata", "value", "typed_value"])
    broken = leaf([pa.array([None], pa.binary()), pa.array([None], pa.binary()), pa.array([7])],
                  ["metadata", "value", "typed_value"])  # a present variant without metadata
    stats = leaf([leaf([plain], ["v"]), leaf([pa.concat_arrays([shredded, shredded])], ["v"])],
                 ["minValues", "maxValues"])
    out = _plain(stats).to_pylist()
    assert variant_stats.decode(out[0]["minValues"]["v"]) == {A: (INT8, 5), "$['b']": (16, "x")}
    assert variant_stats.decode(out[0]["maxValues"]["v"]) == {A: (INT64, 5), "$['b']": (16, "x")}
    assert out[1]["minValues"]["v"] is None
    assert _plain(leaf([broken], ["v"])).to_pylist() == [{"v": None}]  # does not unshred: unknown
