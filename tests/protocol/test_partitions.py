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


# -- writing: the strings Spark writes (Java's Double.toString / Float.toString, delta-kernel-rs alike) --
from lakehouse.errors import InvalidArgumentError  # noqa: E402
from lakehouse.protocol.partitions import escape_path_name, partition_dir, serialize_partition_value  # noqa: E402

JAVA_DOUBLES = [
    (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (-1.5, "-1.5"), (100.0, "100.0"), (0.1, "0.1"),
    (0.001, "0.001"), (1e-4, "1.0E-4"), (1234567.0, "1234567.0"), (1e7, "1.0E7"), (1e20, "1.0E20"),
    (1.25e-7, "1.25E-7"), (123.456, "123.456"), (1.7976931348623157e308, "1.7976931348623157E308"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
]
JAVA_FLOATS = [
    (0.0, "0.0"), (-0.0, "-0.0"), (0.1, "0.1"), (1e20, "1.0E20"), (3.4028234663852886e38, "3.4028235E38"),
    (16777216.0, "1.6777216E7"), (1.401298464324817e-45, "1.4E-45"), (float("nan"), "NaN"),
    (float("-inf"), "-Infinity"),
]


@pytest.mark.parametrize("value,text", JAVA_DOUBLES, ids=[t for _, t in JAVA_DOUBLES])
def test_double_partition_value_text_is_javas(value, text):
    assert serialize_partition_value(value, P("double")) == text
    back = parse_partition_value(text, P("double"))
    assert math.isnan(back) if math.isnan(value) else (back == value and math.copysign(1, back) == math.copysign(1, value))


@pytest.mark.parametrize("value,text", JAVA_FLOATS, ids=[t for _, t in JAVA_FLOATS])
def test_float_partition_value_text_is_javas_shortest_float32(value, text):
    """A float column's value is written with float32's shortest digits (0.1, not the double expansion
    0.10000000149011612 of the same float32)."""
    import numpy as np

    value = float(np.float32(value))
    assert serialize_partition_value(value, P("float")) == text
    back = partition_scalar(text, P("float")).as_py()
    assert math.isnan(back) if math.isnan(value) else np.float32(back).tobytes() == np.float32(value).tobytes()


def test_every_double_round_trips_bit_exact():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.floats(allow_nan=False), st.floats(width=32, allow_nan=False))
    def check(d, f):
        import struct

        assert struct.pack("<d", float(serialize_partition_value(d, P("double")))) == struct.pack("<d", d)
        assert struct.pack("<f", float(serialize_partition_value(f, P("float")))) == struct.pack("<f", f)

    check()


@pytest.mark.parametrize("value,dtype,text", [
    (Decimal("1.1"), DecimalType(5, 2), "1.10"),
    (Decimal("1.10"), DecimalType(5, 2), "1.10"),
    (Decimal("0"), DecimalType(5, 2), "0.00"),
    (Decimal("-0.05"), DecimalType(5, 2), "-0.05"),
    (Decimal("7"), DecimalType(3, 0), "7"),
    (Decimal("12345678901234567890.123456789012345678"), DecimalType(38, 18), "12345678901234567890.123456789012345678"),
    (Decimal("1E+2"), DecimalType(10, 1), "100.0"),
])
def test_decimal_partition_value_keeps_the_column_scale(value, dtype, text):
    assert serialize_partition_value(value, dtype) == text


def test_timestamp_partition_value_texts():
    ts = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone(__import__("datetime").timedelta(hours=2)))
    assert serialize_partition_value(ts, P("timestamp")) == "2024-01-02T01:04:05.000006Z"
    assert serialize_partition_value(datetime(999, 1, 2), P("timestamp_ntz")) == "0999-01-02 00:00:00.000000"
    assert serialize_partition_value(date(1, 1, 1), P("date")) == "0001-01-01"


def test_binary_partition_values_are_utf8_text_and_empty_is_null():
    assert serialize_partition_value(b"\x00", P("binary")) == "\x00"
    assert serialize_partition_value("ü".encode(), P("binary")) == "ü"
    assert serialize_partition_value(b"", P("binary")) is None
    assert serialize_partition_value("", P("string")) is None
    with pytest.raises(InvalidArgumentError, match=r"binary partition value b'\\xff' of column 'b'"):
        serialize_partition_value(b"\xff", P("binary"), column="b")


@pytest.mark.parametrize("text,escaped", [
    ("a\x00b", "a%00b"), ("\x01\x1f", "%01%1F"), ("\t\n\r", "%09%0A%0D"), ("\x7f", "%7F"),
    ("a/b=c", "a%2Fb%3Dc"), ("%00", "%2500"), ("x:y#z", "x%3Ay%23z"), ("\"'*?\\", "%22%27%2A%3F%5C"),
    ("{[]^", "%7B%5B%5D%5E"),
    # Spark leaves these alone (on Linux): space, `}`, backquote, `~`, `<`, `>`, `|`, `!`, non-ASCII.
    (" }`~<>|!", " }`~<>|!"), ("ünï€日本", "ünï€日本"),
])
def test_escape_path_name_is_sparks_set_plus_nul(text, escaped):
    assert escape_path_name(text) == escaped


def test_partition_dir_escapes_names_and_values_and_writes_null_default():
    assert partition_dir(["a=b", "c"], ["x\x00/", None]) == "a%3Db=x%00%2F/c=__HIVE_DEFAULT_PARTITION__"


@pytest.mark.parametrize("raw,dtype,storage", [
    ("+10000-01-02", P("date"), 2_932_898),
    ("0000-12-31", P("date"), -719_163),
    ("-0001-01-01", P("date"), -719_893),
    ("+10000-01-01T00:00:00.000001Z", P("timestamp"), 253_402_300_800_000_001),
    ("+10000-01-01 00:00:00.000000", P("timestamp"), 253_402_300_800_000_000),  # delta-rs: no offset
    ("0000-12-31 00:00:00.000000", P("timestamp_ntz"), -719_163 * 86_400_000_000),
])
def test_dates_and_timestamps_outside_python_range_parse_to_arrow_storage(raw, dtype, storage):
    assert parse_partition_value(raw, dtype, column="c") == storage
    scalar = partition_scalar(raw, dtype, column="c")
    assert scalar.type == (pa.date32() if dtype.name == "date" else scalar.type)
    assert scalar.cast(pa.int32() if dtype.name == "date" else pa.int64()).as_py() == storage
    # And it is written back as the same text (Spark's and delta-rs's expanded ISO 8601 years).
    text = serialize_partition_value(scalar, dtype)
    assert partition_scalar(text, dtype).equals(scalar)


@pytest.mark.parametrize("raw,dtype", [("+10000-13-01", P("date")), ("+10000-01-01 25:00:00", P("timestamp")),
                                       ("10000-01-01", P("date")), ("+10000-02-30", P("date"))])
def test_bad_expanded_year_values_are_invalid_log_error(raw, dtype):
    with pytest.raises(InvalidLogError, match="my_col"):
        parse_partition_value(raw, dtype, column="my_col")


def test_arrow_scalars_serialise_like_python_values():
    values = pa.table({"d": pa.array([date(2024, 1, 31)]), "ts": pa.array([datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)]),
                       "f": pa.array([-0.0], pa.float32()), "s": pa.array([""])})
    assert serialize_partition_value(values["d"][0], P("date")) == "2024-01-31"
    assert serialize_partition_value(values["ts"][0], P("timestamp")) == "2024-01-02T03:04:05.000006Z"
    assert serialize_partition_value(values["f"][0], P("float")) == "-0.0"
    assert serialize_partition_value(values["s"][0], P("string")) is None
    assert serialize_partition_value(pa.scalar(None, pa.date32()), P("date")) is None
