"""Variant expressions: `variant_get` / `try_variant_get`, the `:` path operator, CAST from and to
variant, `is_variant_null`, `to_json`, `parse_json` / `try_parse_json` (spec/expressions.md "Variants").

Expected values are written by hand from Spark 4's `VariantGet` semantics: a missing path is NULL, a
variant null is SQL NULL, a primitive converts as Spark's CAST converts the matching SQL value (text is
parsed, fractions truncate into integers, booleans are 1/0), an object or array converts only to STRING
(its JSON), and what does not convert is an error naming the value (NULL with try_).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr import evaluate, parse_sql
from lakehouse.protocol.functions.variants import parse_json_value, parse_path, path_text
from lakehouse.protocol.schema import VARIANT_ARROW, PrimitiveType, StructField, StructType
from lakehouse.protocol.variant import parse_metadata, variant_json
from lakehouse.protocol.variant_binary import encode_value, find

UTC = timezone.utc
D = Decimal

# One variant per row, built from Python values by the encoder (not by parse_json, which is tested apart).
VALUES: list[Any] = [
    {"a": 1, "b": {"c": "12", "d": [1.5, 2, None]}, "s": "x"},            # 0
    {"a": 300, "b": {"c": "x"}, "s": "y", "t": True},                      # 1
    {"a": "7", "n": None},                                                 # 2
    None,                                                                  # 3: a variant null
    "<SQL NULL>",                                                          # 4: a SQL NULL row
    [1, "two", {"k": 3}],                                                  # 5
    {"a": True, "dec": D("1.50"), "big": 2**40},                           # 6
    {"a": -2.9, "dt": date(2024, 2, 29), "ts": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
     "ntz": datetime(2024, 1, 2, 3, 4, 5), "u": uuid.UUID(int=1), "tm": time(1, 2, 3), "bin": b"\x01\xff"},  # 7
]


def _column(values: list[Any]) -> pa.Array:
    pairs = [None if v == "<SQL NULL>" else encode_value(v) for v in values]
    return pa.StructArray.from_arrays(
        [pa.array([p[0] if p else b"" for p in pairs], pa.binary()), pa.array([p[1] if p else b"" for p in pairs], pa.binary())],
        fields=list(VARIANT_ARROW), mask=pa.array([p is None for p in pairs]))


SCHEMA = StructType([StructField("id", PrimitiveType("long")), StructField("v", PrimitiveType("variant")),
                     StructField("j", PrimitiveType("string")), StructField("n", PrimitiveType("long"))])


def table() -> pa.Table:
    return pa.table({"id": pa.array(range(len(VALUES)), pa.int64()), "v": _column(VALUES),
                     "j": pa.array(['{"a": 1}', '[1, 2.5, 1e2]', "not json", None, '{"a": 1, "a": 2}', "null", "7", '"s"']),
                     "n": pa.array([1, 2, 3, None, 5, 6, 7, 8], pa.int64())})


def run(sql: str) -> list[Any]:
    return evaluate(table(), parse_sql(sql), SCHEMA, what="test").to_pylist()


def json_of(column: list[Any]) -> list[str | None]:
    return [None if c is None else variant_json(c["metadata"], c["value"]) for c in column]


# -- paths ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, steps", [
    ("$", ()), ("$.a", ("a",)), ("$.a.b", ("a", "b")), ("$['a b']", ("a b",)), ('$["x.y"]', ("x.y",)),
    ("$.a[0]", ("a", 0)), ("$[12]", (12,)), ("$['it\\'s']", ("it's",)), ("$.a[0]['k'].z", ("a", 0, "k", "z")),
])
def test_paths_parse_and_normalize(text, steps):
    assert parse_path(text) == steps
    assert parse_path(path_text(steps)) == steps  # the normalized form reads back


def test_normalized_path_text():
    assert path_text(("a", 0, "it's")) == "$['a'][0]['it\\'s']"


@pytest.mark.parametrize("text", ["a", "", "$.", "$..a", "$[-1]", "$[*]", "$.a[", "$['a]", "$a"])
def test_invalid_paths_are_one_error(text):
    with pytest.raises(InvalidArgumentError, match="invalid variant path"):
        parse_path(text)


# -- extraction and casts -------------------------------------------------------------------------------------
def test_variant_get_with_a_type():
    assert run("variant_get(v, '$.a', 'int')") == [1, 300, 7, None, None, None, 1, -2]


def test_colon_path_is_variant_get():
    assert run("v:a::int") == run("variant_get(v, '$.a', 'int')")
    assert run("v:b.c::string") == ["12", "x", None, None, None, None, None, None]
    assert run("v:b.d[0]::double") == [1.5, None, None, None, None, None, None, None]
    assert run("v:['b']['d'][1]::long") == [2, None, None, None, None, None, None, None]


def test_path_without_type_is_a_sub_variant():
    assert json_of(run("v:b")) == ['{"c":"12","d":[1.5,2,null]}', '{"c":"x"}', None, None, None, None, None, None]
    assert json_of(run("variant_get(v, '$[2]')")) == [None] * 5 + ['{"k":3}', None, None]
    assert json_of(run("variant_get(v, '$', 'variant')"))[0] == '{"a":1,"b":{"c":"12","d":[1.5,2,null]},"s":"x"}'


def test_cast_rules_of_variant_get():
    assert run("try_variant_get(v, '$.a', 'tinyint')") == [1, None, 7, None, None, None, 1, -2]  # 300 out of range
    assert run("try_variant_get(v, '$.b.c', 'int')") == [12, None] + [None] * 6  # text is parsed
    assert run("v:a::string") == ["1", "300", "7", None, None, None, "true", "-2.9"]
    assert run("v:a::double") == [1.0, 300.0, 7.0, None, None, None, 1.0, -2.9]
    # numbers: non-zero is true; the text '7' is no boolean
    assert run("try_variant_get(v, '$.a', 'boolean')") == [True, True, None, None, None, None, True, True]
    assert run("v:dec::string")[6] == "1.50"  # a decimal keeps its scale
    assert run("v:dec::decimal(4,1)")[6] == D("1.5")
    assert run("v:big::long")[6] == 2**40


def test_dates_timestamps_and_types_without_sql_counterpart():
    assert run("v:dt::date")[7] == date(2024, 2, 29)
    assert run("v:dt::string")[7] == "2024-02-29"
    assert run("v:ts::timestamp")[7] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert run("v:ts::date")[7] == date(2024, 1, 2)
    assert run("v:ts::string")[7] == "2024-01-02 03:04:05"
    assert run("v:ntz::timestamp_ntz")[7] == datetime(2024, 1, 2, 3, 4, 5)
    assert run("v:u::string")[7] == "00000000-0000-0000-0000-000000000001"
    assert run("v:tm::string")[7] == "01:02:03"
    assert run("v:bin::binary")[7] == b"\x01\xff"
    assert run("try_variant_get(v, '$.u', 'int')")[7] is None
    with pytest.raises(InvalidArgumentError, match="cannot CAST variant value"):
        run("v:tm::int")


def test_objects_and_arrays_convert_to_text_only():
    assert run("variant_get(v, '$', 'string')")[5] == '[1,"two",{"k":3}]'
    assert run("v:b::string")[1] == '{"c":"x"}'
    assert run("try_variant_get(v, '$.b', 'int')") == [None] * 8
    with pytest.raises(InvalidArgumentError, match=r'cannot CAST variant value \{"c":"12".*to int'):
        run("v:b::int")


def test_variant_null_and_missing_paths_are_sql_null():
    assert run("v:n::int") == [None] * 8  # row 2 holds a variant null at $.n
    assert run("v::string")[3] is None  # a top-level variant null
    assert run("is_variant_null(v)") == [False, False, False, True, False, False, False, False]
    assert run("is_variant_null(v:n)") == [False, False, True, False, False, False, False, False]


def test_cast_errors_name_the_value_and_type():
    with pytest.raises(InvalidArgumentError, match='cannot CAST variant value "x" to int.*\n.*try_variant_get'):
        run("v:b.c::int")
    with pytest.raises(InvalidArgumentError, match="cannot CAST variant value 300 to tinyint"):
        run("variant_get(v, '$.a', 'tinyint')")
    assert run("TRY_CAST(v:b.c AS INT)") == [12] + [None] * 7


def test_cast_to_variant_and_back():
    assert run("CAST(n AS VARIANT)::long") == [1, 2, 3, None, 5, 6, 7, 8]
    assert run("CAST(j AS VARIANT)::string")[2] == "not json"  # a string variant, not parsed
    assert run("CAST(n AS VARIANT):a") == [None] * 8  # a number has no fields


# -- functions ---------------------------------------------------------------------------------------------
def test_parse_json_builds_spark_types():
    parsed = run("try_parse_json(j)")
    assert json_of(parsed) == ['{"a":1}', "[1,2.5,100.0]", None, None, None, "null", "7", '"s"']
    # 1 is an integer, 2.5 a decimal (no exponent), 1e2 a double: Spark's parse_json
    value = parse_json_value("[1, 2.5, 1e2, 12345678901234567890, 1.000]")[1]
    keys: list[str] = []
    assert [variant_json(b"\x01\x00\x00", value[lo:hi]) for lo, hi in
            [find(keys, value, (i,)) for i in range(5)]] == ["1", "2.5", "100.0", "12345678901234567890", "1"]
    assert run("try_parse_json(j):a::int") == [1, None, None, None, None, None, None, None]


def test_parse_json_refuses_invalid_text_and_duplicate_keys():
    with pytest.raises(InvalidArgumentError, match="parse_json\\(\\): 'not json' is not valid JSON"):
        run("parse_json(j)")
    with pytest.raises(InvalidArgumentError, match="duplicate object key 'a'"):
        evaluate(table().slice(4, 1), parse_sql("parse_json(j)"), SCHEMA, what="test")
    with pytest.raises(InvalidArgumentError, match="NaN is not JSON"):
        evaluate(table().slice(0, 1), parse_sql("parse_json('NaN')"), SCHEMA, what="test")


def test_constant_variant_expressions_are_evaluated_not_folded():
    assert run("parse_json('{\"x\": [10, 20]}'):x[1]::int") == [20] * 8
    assert run("is_variant_null(parse_json('null'))") == [True] * 8


def test_to_json():
    assert run("to_json(v)")[:4] == ['{"a":1,"b":{"c":"12","d":[1.5,2,null]},"s":"x"}',
                                     '{"a":300,"b":{"c":"x"},"s":"y","t":true}', '{"a":"7","n":null}', "null"]
    assert run("to_json(v)")[4] is None


def test_filters_combine_with_other_predicates():
    assert run("v:a::int > 5 AND id < 2") == [False, True, False, False, False, False, False, False]
    assert run("v:a::int > 5 OR id = 4") == [False, True, True, None, True, None, False, False]
    assert run("coalesce(try_variant_get(v, '$.s', 'string'), 'none')") == ["x", "y"] + ["none"] * 6


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sql, message", [
    ("v:a = 1", r"cannot compare an expression of type variant.*not comparable\nHelp: CAST it first"),
    ("v = v", "variant values are not comparable"),
    ("n:a::int = 1", r"variant_get\(\) takes a variant, got bigint"),
    ("upper(v:s) = 'X'", "a variant is not text: CAST it"),
    ("to_json(n)", r"to_json\(\) takes a variant"),
    ("variant_get(v, 'a', 'int')", "invalid variant path 'a'"),
    ("variant_get(v, '$.a', 'intx')", r"variant_get\(\): 'intx' is not a type"),
    ("variant_get(v, j, 'int')", "the path must be a string literal"),
    ("variant_get(v, '$.a', 'array<int>')", "not a type lakehouse casts to"),
    ("v:a[*]::int", "only keys and array indexes"),
])
def test_errors_are_one_clear_line(sql, message):
    with pytest.raises(InvalidArgumentError, match=message):
        run(sql)


def test_path_lookup_agrees_with_the_metadata_dictionary():
    meta, value = encode_value({"z": {"y": [0, {"x": "deep"}]}})
    keys = parse_metadata(meta)
    lo, hi = find(keys, value, parse_path("$.z.y[1].x"))
    assert variant_json(meta, value[lo:hi]) == '"deep"'
