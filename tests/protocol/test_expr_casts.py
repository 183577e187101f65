"""CAST (Spark's ANSI mode: an invalid value is an error), TRY_CAST (NULL) and `::` over the fixed table
(tests/protocol/expr_support.py), and typed literals. Expected values are written by hand from Spark's
`Cast` semantics: text is trimmed, doubles truncate toward zero into integers, text and doubles round
HALF_UP into decimals, doubles print as Java's Double.toString, timestamps as `yyyy-MM-dd HH:mm:ss[.f]`.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lakehouse.errors import InvalidArgumentError
from tests.support.expressions import check, run

T, F, N = True, False, None
nan, inf = float("nan"), float("inf")
D = Decimal
UTC = timezone.utc

CASTS = [
    ("CAST('12' AS INT)", 12),
    ("CAST(' 12 ' AS INT)", 12),  # trimmed
    ("CAST('+5' AS INT)", 5),
    ("CAST('-0' AS BIGINT)", 0),
    ("CAST('9223372036854775807' AS BIGINT)", 9223372036854775807),
    ("TRY_CAST('1.5' AS INT)", N),  # ANSI: a fraction is not an integer text
    ("TRY_CAST('abc' AS INT)", N),
    ("TRY_CAST('0x10' AS INT)", N),
    ("TRY_CAST('' AS INT)", N),
    ("TRY_CAST('3000000000' AS INT)", N),
    ("'12'::int", 12),
    ("'1.5'::double", 1.5),
    ("CAST('1.5' AS DOUBLE)", 1.5),
    ("CAST('1e3' AS DOUBLE)", 1000.0),
    ("CAST(' -2.5 ' AS DOUBLE)", -2.5),
    ("CAST('NaN' AS DOUBLE)", nan),
    ("CAST('Infinity' AS DOUBLE)", inf),
    ("CAST('-Infinity' AS DOUBLE)", -inf),
    ("TRY_CAST('one' AS DOUBLE)", N),
    ("CAST('12.345' AS DECIMAL(5,2))", D("12.35")),  # HALF_UP
    ("CAST('12.344' AS DECIMAL(5,2))", D("12.34")),
    ("CAST('-12.345' AS DECIMAL(5,2))", D("-12.35")),
    ("CAST('1e2' AS DECIMAL(5,2))", D("100.00")),
    ("TRY_CAST('1234.5' AS DECIMAL(5,2))", N),  # does not fit: NULL
    ("TRY_CAST('abc' AS DECIMAL(5,2))", N),
    ("CAST(2.675 AS DECIMAL(10,2))", D("2.68")),
    ("CAST(CAST(2.675 AS DOUBLE) AS DECIMAL(10,2))", D("2.68")),  # through the double's text
    ("TRY_CAST(d AS DECIMAL(10,2))", [D("1.50"), N, D("0.00"), N, D("-2.50"), N]),
    ("TRY_CAST(i AS DECIMAL(3,1))", [D("10.0"), D("-3.0"), D("0.0"), N, D("7.0"), N]),
    ("CAST(l AS DECIMAL(20,0))", [D(1), D(-7), D(0), D(1000000), D(42), N]),
    ("TRY_CAST(dec AS DECIMAL(4,1))", [D("12.4"), D("-0.5"), D("0.0"), N, D("2.7"), N]),
    ("CAST(dec AS DECIMAL(12,4))", [D("12.3500"), D("-0.5000"), D("0.0000"), D("99999999.9900"), D("2.6800"), N]),
    ("CAST(2.9 AS INT)", 2),  # truncation toward zero
    ("CAST(-2.9 AS INT)", -2),
    ("CAST(2.9e0 AS INT)", 2),
    ("CAST(-2.9e0 AS BIGINT)", -2),
    ("TRY_CAST(d AS INT)", [1, N, 0, N, -2, N]),  # NaN and Infinity do not fit
    ("CAST(dec AS INT)", [12, 0, 0, 99999999, 2, N]),
    ("CAST(dec AS DOUBLE)", [12.35, -0.5, 0.0, 99999999.99, 2.68, N]),
    ("CAST(l AS INT)", [1, -7, 0, 1000000, 42, N]),
    ("TRY_CAST(i AS SMALLINT)", [10, -3, 0, N, 7, N]),
    ("TRY_CAST(i AS TINYINT)", [10, -3, 0, N, 7, N]),
    ("TRY_CAST(3000000000 AS INT)", N),
    ("CAST(l AS DOUBLE)", [1.0, -7.0, 0.0, 1e6, 42.0, N]),
    ("CAST(i AS FLOAT)", [10.0, -3.0, 0.0, 2147483648.0, 7.0, N]),
    ("CAST(l AS BOOLEAN)", [T, T, F, T, T, N]),  # non-zero is true
    ("CAST(b AS INT)", [1, 0, N, 1, 0, N]),
    ("CAST('true' AS BOOLEAN)", T),
    ("CAST('yes' AS BOOLEAN)", T),
    ("CAST(' F ' AS BOOLEAN)", F),
    ("CAST('0' AS BOOLEAN)", F),
    ("TRY_CAST('maybe' AS BOOLEAN)", N),
    ("CAST(l AS STRING)", ["1", "-7", "0", "1000000", "42", N]),
    ("CAST(d AS STRING)", ["1.5", "NaN", "-0.0", "Infinity", "-2.5", N]),  # Java's Double.toString
    ("CAST(1.0e0 AS STRING)", "1.0"),
    ("CAST(1e10 AS STRING)", "1.0E10"),
    ("CAST(1.5e-5 AS STRING)", "1.5E-5"),
    ("CAST(0.001e0 AS STRING)", "0.001"),
    ("CAST(1234567.0e0 AS STRING)", "1234567.0"),
    ("CAST(12345678.0e0 AS STRING)", "1.2345678E7"),
    ("CAST(CAST(i AS FLOAT) AS STRING)", ["10.0", "-3.0", "0.0", "2.1474836E9", "7.0", N]),  # Float.toString
    ("CAST(dec AS STRING)", ["12.35", "-0.50", "0.00", "99999999.99", "2.68", N]),
    ("CAST(b AS STRING)", ["true", "false", N, "true", "false", N]),
    ("CAST(dt AS STRING)", ["2024-01-31", "2024-02-29", "1970-01-01", "2023-12-31", "1969-12-31", N]),
    ("CAST(ts AS STRING)", ["2024-01-31 13:45:30.123456", "1969-12-31 23:59:59.5", "1970-01-01 00:00:00",
                            "2023-12-31 23:59:59", "2020-06-15 08:05:09", N]),
    ("CAST(tsn AS STRING)", ["2024-01-31 13:45:30", "2000-02-29 00:00:01", "1970-01-01 00:00:00",
                             "2023-12-31 23:59:59", "2020-06-15 08:05:09", N]),
    ("CAST(bin AS STRING)", ["\x01\x02", "", "abc", N, "\ufffd", N]),
    ("CAST(s AS BINARY)", [b"Hello World", "ünïcödé".encode(), b"", b"  padded  ", b"a_b%c", N]),
    ("CAST('2024-02-29' AS DATE)", date(2024, 2, 29)),
    ("CAST(' 2024-02-29 ' AS DATE)", date(2024, 2, 29)),
    ("TRY_CAST('2024-02-30' AS DATE)", N),
    ("TRY_CAST(s AS DATE)", N),
    ("CAST('2024-01-02 03:04:05' AS TIMESTAMP)", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),  # UTC session zone
    ("CAST('2024-01-02T03:04:05Z' AS TIMESTAMP)", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("CAST('2024-01-02T03:04:05+02:00' AS TIMESTAMP)", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ("CAST('2024-01-02' AS TIMESTAMP)", datetime(2024, 1, 2, tzinfo=UTC)),
    ("CAST(ts AS DATE)", [date(2024, 1, 31), date(1969, 12, 31), date(1970, 1, 1), date(2023, 12, 31), date(2020, 6, 15), N]),
    ("CAST(dt AS TIMESTAMP)", [datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC),
                               datetime(1970, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC),
                               datetime(1969, 12, 31, tzinfo=UTC), N]),
    ("CAST(NULL AS INT)", N),
    ("TRY_CAST(NULL AS DATE)", N),
    ("CAST(l AS STRING) || '!'", ["1!", "-7!", "0!", "1000000!", "42!", N]),
    ("TRY_CAST(s AS INT)", N),
    ("CAST(CAST(l AS STRING) AS BIGINT) = l", [T, T, T, T, T, N]),
    ("l::string", ["1", "-7", "0", "1000000", "42", N]),
    ("CAST(i AS BIGINT) + 1", [11, -2, 1, 2147483648, 8, N]),
    # numbers and timestamps: seconds since the epoch (UTC)
    ("CAST(l AS TIMESTAMP)", [datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 53, tzinfo=UTC),
                              datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 12, 13, 46, 40, tzinfo=UTC),
                              datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC), N]),
    ("CAST(1.5e0 AS TIMESTAMP)", datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
    ("CAST(ts AS BIGINT)", [1706708730, -1, 0, 1704067199, 1592208309, N]),  # floored: -0.5 s is -1
    ("CAST(ts AS DOUBLE)", [1706708730.123456, -0.5, 0.0, 1704067199.0, 1592208309.0, N]),
    ("CAST(ts AS DECIMAL(20,6))", [D("1706708730.123456"), D("-0.5"), D("0"), D("1704067199"), D("1592208309"), N]),
    ("TRY_CAST(ts AS TINYINT)", [N, -1, 0, N, N, N]),
    # nested values as text
    ("CAST(arr AS STRING)", ["[1, 2, 3]", "[]", "[null, 5]", "[7]", N, N]),
    ("CAST(m AS STRING)", ["{a -> 1, b -> 2}", "{}", "{k -> null}", "{a -> 10}", N, N]),
    ("CAST(st AS STRING)", ["{1, x}", "{null, y}", N, "{3, null}", "{-4, z}", N]),
]

TYPED_LITERALS = [
    ("DATE'2024-01-01'", date(2024, 1, 1)),
    ("DATE '2024-02-29'", date(2024, 2, 29)),
    ("TIMESTAMP'2024-01-01 10:00:00'", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ("TIMESTAMP '2024-01-01 10:00:00.5'", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
    ("TIMESTAMP_NTZ'2024-01-01 10:00:00'", datetime(2024, 1, 1, 10)),
    ("X'0102'", b"\x01\x02"),
    ("X''", b""),
    ("x'ff'", b"\xff"),
    ("INTERVAL 1 DAY", timedelta(days=1)),
    ("INTERVAL '3' HOUR", timedelta(hours=3)),
    ("INTERVAL 90 MINUTES", timedelta(minutes=90)),
    ("INTERVAL 2 WEEKS", timedelta(weeks=2)),
    ("TRUE", T),
    ("NULL", N),
    ("'x'", "x"),
    ("1.50", D("1.50")),  # digits with a point are a decimal
    ("1.5e0", 1.5),  # an exponent makes a double
    ("-3", -3),
    ("12345678901234567890.5", D("12345678901234567890.5")),
]


@pytest.mark.parametrize("sql,want", CASTS, ids=[c[0] for c in CASTS])
def test_cast(sql: str, want: object) -> None:
    check(sql, want)


@pytest.mark.parametrize("sql,want", TYPED_LITERALS, ids=[c[0] for c in TYPED_LITERALS])
def test_typed_literal(sql: str, want: object) -> None:
    check(sql, want)


# CAST (ANSI) refuses what TRY_CAST turns into NULL, naming the value and both types.
CAST_ERRORS = [
    ("CAST('1.5' AS INT)", "'1.5' (string) to int"),
    ("CAST('abc' AS INT)", "'abc' (string) to int"),
    ("CAST(s AS INT)", "'Hello World' (string) to int"),
    ("CAST(3000000000 AS INT)", "3000000000 (bigint) to int"),
    ("CAST(i AS SMALLINT)", "2147483647 (int) to smallint"),
    ("CAST(d AS INT)", "NaN (double) to int"),
    ("CAST(d AS DECIMAL(10,2))", "NaN (double) to decimal(10,2)"),
    ("CAST('1234.5' AS DECIMAL(5,2))", "'1234.5' (string) to decimal(5,2)"),
    ("CAST(i AS DECIMAL(3,1))", "2147483647 (int) to decimal(3,1)"),
    ("CAST(dec AS DECIMAL(4,1))", "99999999.99"),
    ("CAST('maybe' AS BOOLEAN)", "'maybe' (string) to boolean"),
    ("CAST(s AS DATE)", "'Hello World' (string) to date"),
    ("CAST('2024-02-30' AS DATE)", "2024-02-30"),
    ("'abc'::int", "'abc' (string) to int"),
    # pairs Spark never converts are refused before any data is read
    ("CAST(dt AS INT)", "cannot CAST date to int"),
    ("CAST(l AS DATE)", "cannot CAST bigint to date"),
    ("CAST(b AS DATE)", "cannot CAST boolean to date"),
    ("CAST(bin AS INT)", "cannot CAST binary to int"),
    ("CAST(l AS BINARY)", "cannot CAST bigint to binary"),
    ("CAST(arr AS INT)", "cannot CAST array<bigint> to int"),
]


@pytest.mark.parametrize("sql,message", CAST_ERRORS, ids=[c[0] for c in CAST_ERRORS])
def test_cast_errors(sql: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run(sql)
    text = str(info.value)
    assert message in text and "\x1b" not in text and "int32" not in text, text


def _java_double_text(v: float) -> str:
    """A model of Java's Double.toString (JDK 19+: shortest digits), written independently of the engine."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0.0" if math.copysign(1, v) < 0 else "0.0"
    if 1e-3 <= abs(v) < 1e7:
        return repr(v)  # Python prints this range plainly, with the same shortest digits and a '.0'
    sign, digits, exponent = Decimal(repr(v)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def test_double_text_matches_java_for_random_doubles() -> None:
    import random

    import pyarrow as pa

    from lakehouse.protocol.expr import evaluate, parse_sql
    from lakehouse.protocol.schema import from_arrow_schema

    rng = random.Random(12)
    values = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 25) for _ in range(3000)]
    values += [0.001, 0.00099, 1e7, 9999999.0, 1.0, -0.0, 0.0, float("nan"), float("inf"), -float("inf"), 5e-324,
               1.7976931348623157e308, 100.0, 123456.789, 1e-3 * 3]
    t = pa.table({"x": pa.array(values, pa.float64())})
    got = evaluate(t, parse_sql("CAST(x AS STRING)"), from_arrow_schema(t.schema), what="test").to_pylist()
    assert got == [_java_double_text(v) for v in values]
