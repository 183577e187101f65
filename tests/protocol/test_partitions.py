"""Unit tests of `lakehouse.protocol.partitions` (PROTOCOL.md "Partition Value Serialization")."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from lakehouse.errors import InvalidLogError, LakehouseError
from lakehouse.protocol.partitions import partition_array, partition_scalar, parse_partition_value
from lakehouse.protocol.schema import ArrayType, DecimalType, PrimitiveType, StructType

P = PrimitiveType
UTC = timezone.utc

ALL_TYPES = [P(n) for n in ("string", "long", "integer", "short", "byte", "float", "double", "boolean", "binary",
                            "date", "timestamp", "timestamp_ntz")] + [DecimalType(10, 2)]


@pytest.mark.parametrize("dtype", ALL_TYPES, ids=str)
def test_empty_and_missing_are_null_for_every_type(dtype):
    assert parse_partition_value("", dtype, column="c") is None
    assert parse_partition_value(None, dtype, column="c") is None
    arr = partition_array("", dtype, 3, column="c")
    assert arr.null_count == 3 and len(arr) == 3


@pytest.mark.parametrize(
    "raw,dtype,expected",
    [
        ("abc", P("string"), "abc"),
        (" padded ", P("string"), " padded "),
        ("null", P("string"), "null"),
        ("9223372036854775807", P("long"), 9223372036854775807),
        ("-9223372036854775808", P("long"), -9223372036854775808),
        ("-2147483648", P("integer"), -2147483648),
        ("32767", P("short"), 32767),
        ("-128", P("byte"), -128),
        ("1.5", P("float"), 1.5),
        ("-0.25", P("double"), -0.25),
        ("1e10", P("double"), 1e10),
        ("Infinity", P("double"), math.inf),
        ("-Infinity", P("float"), -math.inf),
        ("true", P("boolean"), True),
        ("false", P("boolean"), False),
        ("\u0001\u0002\u0003", P("binary"), b"\x01\x02\x03"),
        ("2021-09-08", P("date"), date(2021, 9, 8)),
        ("1970-01-01", P("date"), date(1970, 1, 1)),
        ("123.45", DecimalType(10, 2), Decimal("123.45")),
        ("-0.01", DecimalType(3, 2), Decimal("-0.01")),
        ("12345678901234567890.123456789012345678", DecimalType(38, 18), Decimal("12345678901234567890.123456789012345678")),
        ("0", DecimalType(38, 0), Decimal(0)),
    ],
)
def test_parse_values(raw, dtype, expected):
    got = parse_partition_value(raw, dtype, column="c")
    assert got == expected and type(got) is type(expected)
    # And the Arrow form the reader uses holds the same value.
    assert partition_scalar(raw, dtype, column="c").as_py() == expected


def test_nan_float():
    assert math.isnan(parse_partition_value("NaN", P("double")))
    assert math.isnan(partition_scalar("NaN", P("float")).as_py())


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("2021-09-08 11:11:11", datetime(2021, 9, 8, 11, 11, 11, tzinfo=UTC)),
        ("1970-01-01 00:00:00", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2021-09-08 11:11:11.123456", datetime(2021, 9, 8, 11, 11, 11, 123456, tzinfo=UTC)),
        ("2021-09-08 11:11:11.1", datetime(2021, 9, 8, 11, 11, 11, 100000, tzinfo=UTC)),
        ("2021-09-08 11:11:11.123456789", datetime(2021, 9, 8, 11, 11, 11, 123456, tzinfo=UTC)),
        ("1970-01-01T00:00:00.123456Z", datetime(1970, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2021-09-08T11:11:11Z", datetime(2021, 9, 8, 11, 11, 11, tzinfo=UTC)),
        ("2021-09-08T11:11:11.000Z", datetime(2021, 9, 8, 11, 11, 11, tzinfo=UTC)),
        ("2021-09-08T13:11:11+02:00", datetime(2021, 9, 8, 11, 11, 11, tzinfo=UTC)),
        ("2021-09-08T13:11:11.5+02:00", datetime(2021, 9, 8, 11, 11, 11, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp(raw, expected):
    got = parse_partition_value(raw, P("timestamp"), column="ts")
    assert got == expected and got.tzinfo is not None
    assert got.utcoffset().total_seconds() == 0
    assert partition_scalar(raw, P("timestamp")).as_py() == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("2021-09-08 11:11:11", datetime(2021, 9, 8, 11, 11, 11)),
        ("2021-09-08 11:11:11.000001", datetime(2021, 9, 8, 11, 11, 11, 1)),
        ("2021-09-08T11:11:11.25Z", datetime(2021, 9, 8, 11, 11, 11, 250000)),
        ("0001-01-01 00:00:00", datetime(1, 1, 1)),
        ("9999-12-31 23:59:59.999999", datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_timestamp_ntz(raw, expected):
    got = parse_partition_value(raw, P("timestamp_ntz"), column="ts")
    assert got == expected and got.tzinfo is None
    assert partition_scalar(raw, P("timestamp_ntz")).as_py() == expected


def test_partition_array_repeats_value_with_table_type():
    arr = partition_array("42", P("integer"), 4, column="c")
    assert arr.type == pa.int32() and arr.to_pylist() == [42] * 4
    arr = partition_array("2021-09-08 11:11:11", P("timestamp"), 2)
    assert arr.type == pa.timestamp("us", tz="UTC")
    assert partition_array("x", P("string"), 0).to_pylist() == []


BAD = [
    ("abc", P("long")),
    ("1.5", P("integer")),
    ("1,5", P("double")),
    ("one", P("float")),
    ("yes", P("boolean")),
    ("1", P("boolean")),
    ("2021-13-01", P("date")),
    ("2021-02-30", P("date")),
    ("2021-09", P("date")),
    ("not a date", P("date")),
    ("2021-09-08 25:00:00", P("timestamp")),
    ("yesterday", P("timestamp")),
    ("2021-09-08 11:11:11.abc", P("timestamp_ntz")),
    ("abc", DecimalType(10, 2)),
    ("1.2.3", DecimalType(10, 2)),
    ("[1]", ArrayType(P("long"))),
    ("x", StructType(())),
]


@pytest.mark.parametrize("raw,dtype", BAD, ids=[f"{r!r}-{t}" for r, t in BAD])
def test_bad_values_are_invalid_log_error_naming_column(raw, dtype):
    with pytest.raises(InvalidLogError) as exc_info:
        parse_partition_value(raw, dtype, column="my_col")
    assert "my_col" in str(exc_info.value)
    assert repr(raw) in str(exc_info.value)


# Values that parse as numbers but do not fit the column's type: the reader builds Arrow arrays from them
# (`partition_array`), which must fail with a typed error naming the column, not a raw Arrow error.
OUT_OF_RANGE = [
    ("300", P("byte")),
    ("2147483648", P("integer")),
    ("9223372036854775808", P("long")),
    ("123.456", DecimalType(5, 2)),
    ("NaN", DecimalType(10, 2)),
]


@pytest.mark.parametrize("raw,dtype", OUT_OF_RANGE, ids=[f"{r}-{t}" for r, t in OUT_OF_RANGE])
def test_value_out_of_range_for_type_is_invalid_log_error(raw, dtype):
    with pytest.raises(LakehouseError) as exc_info:
        partition_array(raw, dtype, 2, column="my_col")
    assert isinstance(exc_info.value, InvalidLogError)
    assert "my_col" in str(exc_info.value)
