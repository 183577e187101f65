"""Math and conditional functions over the fixed table (tests/protocol/expr_support.py), Spark semantics:
HALF_UP rounding (a double rounds through its shortest decimal text: round(2.675, 2) = 2.68), floor/ceil
to bigint, logarithms of non-positive numbers are NULL, NaN handling (isnan, nanvl, GREATEST with NaN
largest), CASE/IF/IFF/COALESCE/NULLIF/NVL/NVL2 with three-valued conditions. Expected values by hand.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from tests.support.expressions import check, per_row

T, F, N = True, False, None


def ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


nan, inf = float("nan"), float("inf")
D = Decimal

MATH = [
    # l: 1, -7, 0, 1000000, 42, NULL   d: 1.5, NaN, -0.0, Infinity, -2.5, NULL
    # dec: 12.35, -0.50, 0.00, 99999999.99, 2.68, NULL
    ("abs(l)", [1, 7, 0, 1000000, 42, N]),
    ("abs(d)", [1.5, nan, 0.0, inf, 2.5, N]),
    ("abs(dec)", [D("12.35"), D("0.50"), D("0.00"), D("99999999.99"), D("2.68"), N]),
    ("abs(-3)", 3),
    ("abs(NULL)", N),
    ("round(2.675, 2)", D("2.68")),  # decimal literal, HALF_UP
    ("round(CAST(2.675 AS DOUBLE), 2)", 2.68),  # a double rounds through its text, not its binary value
    ("round(CAST(1.005 AS DOUBLE), 2)", 1.01),
    ("round(CAST(-2.5 AS DOUBLE))", -3.0),  # HALF_UP rounds half away from zero
    ("round(CAST(2.5 AS DOUBLE))", 3.0),
    ("round(CAST(0.5 AS DOUBLE))", 1.0),
    ("round(-2.5)", D("-3")),
    ("round(d)", [2.0, nan, -0.0, inf, -3.0, N]),
    ("round(d, 1)", [1.5, nan, -0.0, inf, -2.5, N]),
    ("round(dec, 1)", [D("12.4"), D("-0.5"), D("0"), D("100000000.0"), D("2.7"), N]),  # the carry fits
    ("round(dec)", [D("12"), D("-1"), D("0"), D("100000000"), D("3"), N]),
    ("round(dec, -1)", [D("10"), D("0"), D("0"), D("100000000"), D("0"), N]),
    ("round(1234.5678, -2)", D("1200")),
    ("round(CAST(1234.5678 AS DOUBLE), -2)", 1200.0),
    ("round(l, -1)", [0, -10, 0, 1000000, 40, N]),  # 1 -> 0, -7 -> -10 (HALF_UP), 42 -> 40
    ("round(15, -1)", 20),
    ("round(-15, -1)", -20),
    ("round(l)", [1, -7, 0, 1000000, 42, N]),
    ("round(l, NULL)", N),
    ("floor(d)", [1, 0, 0, 9223372036854775807, -3, N]),  # bigint: NaN is 0, Infinity saturates
    ("ceil(d)", [2, 0, 0, 9223372036854775807, -2, N]),
    ("ceiling(-1.5e0)", -1),
    ("floor(-1.5e0)", -2),
    ("floor(-1.5)", D("-2")),
    ("ceil(-1.5)", D("-1")),
    ("floor(dec)", [D("12"), D("-1"), D("0"), D("99999999"), D("2"), N]),
    ("ceil(dec)", [D("13"), D("0"), D("0"), D("100000000"), D("3"), N]),
    ("floor(l)", [1, -7, 0, 1000000, 42, N]),
    ("ceil(CAST('-Infinity' AS DOUBLE))", -9223372036854775808),
    ("sqrt(4)", 2.0),
    ("sqrt(2)", math.sqrt(2)),
    ("sqrt(-1)", nan),
    ("sqrt(d)", [math.sqrt(1.5), nan, -0.0, inf, nan, N]),
    ("sqrt(l)", [1.0, nan, 0.0, 1000.0, math.sqrt(42), N]),
    ("pow(2, 10)", 1024.0),
    ("power(2, -1)", 0.5),
    ("pow(l, 2)", [1.0, 49.0, 0.0, 1e12, 1764.0, N]),
    ("pow(-8, 1.0 / 3)", nan),
    ("pow(0, 0)", 1.0),
    ("exp(0)", 1.0),
    ("exp(1)", math.e),
    ("ln(1)", 0.0),
    ("ln(0)", N),  # Spark: the logarithm of zero or a negative number is NULL
    ("ln(-1)", N),
    ("ln(l)", [0.0, N, N, math.log(1000000), math.log(42), N]),
    ("log(100)", math.log(100)),  # one argument: natural logarithm
    ("log(2, 8)", 3.0),
    ("log(10, 100)", 2.0),
    ("log10(1000)", 3.0),
    ("log10(0.001)", -3.0),
    ("log10(l)", [0.0, N, N, 6.0, math.log10(42), N]),
    ("log2(8)", 3.0),
    ("log(0, 8)", N),
    ("isnan(d)", [F, T, F, F, F, F]),  # isnan(NULL) is false
    ("isnan(CAST('NaN' AS DOUBLE))", T),
    ("isnan(l)", [F, F, F, F, F, F]),
    ("NOT isnan(d)", [T, F, T, T, T, T]),
    ("nanvl(d, 0)", [1.5, 0.0, -0.0, inf, -2.5, N]),
    ("nanvl(d, -1.0e0)", [1.5, -1.0, -0.0, inf, -2.5, N]),
    ("nanvl(CAST('NaN' AS DOUBLE), 1)", 1.0),
    ("nanvl(CAST('NaN' AS DOUBLE), NULL)", N),
    ("abs(d) > 2", [F, T, F, T, T, N]),
    ("round(d * 10) / 10", [1.5, nan, -0.0, inf, -2.5, N]),
]

CONDITIONALS = [
    ("CASE WHEN l > 0 THEN 'pos' WHEN l < 0 THEN 'neg' ELSE 'zero' END", ["pos", "neg", "zero", "pos", "pos", "zero"]),
    ("CASE WHEN l > 0 THEN 'pos' WHEN l < 0 THEN 'neg' END", ["pos", "neg", N, "pos", "pos", N]),  # no ELSE: NULL
    ("CASE WHEN b THEN 'y' ELSE 'n' END", ["y", "n", "n", "y", "n", "n"]),  # a NULL condition is not true
    ("CASE WHEN NOT b THEN 'n' ELSE 'y-or-null' END", ["y-or-null", "n", "y-or-null", "y-or-null", "n", "y-or-null"]),
    ("CASE l WHEN 1 THEN 'one' WHEN 42 THEN 'answer' END", ["one", N, N, N, "answer", N]),
    ("CASE l WHEN 1 THEN 'one' WHEN 42 THEN 'answer' ELSE 'other' END", ["one", "other", "other", "other", "answer", "other"]),
    ("CASE s WHEN '' THEN 'empty' ELSE s END", ["Hello World", "ünïcödé", "empty", "  padded  ", "a_b%c", N]),
    ("CASE NULL WHEN NULL THEN 'same' ELSE 'never equal' END", "never equal"),
    ("CASE WHEN l > 0 THEN l ELSE 0 END", [1, 0, 0, 1000000, 42, 0]),
    ("CASE WHEN b THEN 1 ELSE 2.5 END", [D("1"), D("2.5"), D("2.5"), D("1"), D("2.5"), D("2.5")]),
    ("CASE WHEN b THEN 1 ELSE d END", [1.0, nan, -0.0, 1.0, -2.5, N]),
    ("CASE WHEN l = 1 THEN 'first' WHEN l = 1 THEN 'second' END", ["first", N, N, N, N, N]),  # first match wins
    ("CASE WHEN 1 = 1 THEN 'always' END", "always"),
    ("CASE WHEN d > 1 THEN 'big' ELSE 'small' END", ["big", "big", "small", "big", "small", "small"]),  # NaN is big
    # Only the taken branch counts: a branch that would fail (a zero divisor, an invalid CAST, an
    # overflow) on rows where it is not taken does not fail the expression, as in Spark.
    ("CASE WHEN l <> 0 THEN 10 / l END", [10.0, -10 / 7, N, 1e-05, 10 / 42, N]),
    ("IF(l = 0, NULL, 10 / l)", [10.0, -10 / 7, N, 1e-05, 10 / 42, N]),
    ("CASE WHEN l = 0 THEN 0 WHEN 10 / l > 1 THEN 1 ELSE 2 END", [1, 2, 0, 2, 2, 2]),
    ("CASE WHEN s RLIKE '^[0-9]+$' THEN CAST(s AS INT) ELSE -1 END", [-1, -1, -1, -1, -1, -1]),
    ("CASE WHEN i < 100 THEN i * 1000 END", [10000, -3000, 0, N, 7000, N]),
    ("CASE WHEN isnan(d) OR abs(d) > 1e9 THEN 0 ELSE CAST(d AS INT) END", [1, 0, 0, 0, -2, N]),
    ("IF(l > 0, l, -l)", [1, 7, 0, 1000000, 42, N]),
    ("IF(b, 'y', 'n')", ["y", "n", "n", "y", "n", "n"]),
    ("IFF(b, 'y', 'n')", ["y", "n", "n", "y", "n", "n"]),
    ("IF(l IS NULL, 'missing', 'present')", ["present"] * 5 + ["missing"]),
    ("IF(NULL, 1, 2)", 2),
    ("COALESCE(l, i, 99)", [1, -7, 0, 1000000, 42, 99]),
    ("COALESCE(st.a, l)", [1, -7, 0, 3, -4, N]),
    ("COALESCE(NULL, NULL)", N),
    # a later argument is read only where every earlier one is NULL (1 / (i - i) would divide by zero)
    ("COALESCE(l, 1 / (i - i))", [1.0, -7.0, 0.0, 1e6, 42.0, N]),
    ("COALESCE(CASE WHEN l = 0 THEN 1.0e0 END, 10 / l)", [10.0, -10 / 7, 1.0, 1e-05, 10 / 42, N]),
    ("COALESCE(NULL, 'x')", "x"),
    ("COALESCE(s, '')", ["Hello World", "ünïcödé", "", "  padded  ", "a_b%c", ""]),
    ("COALESCE(d, 0)", [1.5, nan, -0.0, inf, -2.5, 0.0]),  # NaN is a value, not NULL
    ("COALESCE(b, false)", [T, F, F, T, F, F]),
    ("NULLIF(l, 1)", [N, -7, 0, 1000000, 42, N]),
    ("NULLIF(l, 100)", [1, -7, 0, 1000000, 42, N]),
    ("NULLIF(s, '')", ["Hello World", "ünïcödé", N, "  padded  ", "a_b%c", N]),
    ("NULLIF(d, d)", [N, N, N, N, N, N]),  # NaN = NaN, so NaN becomes NULL too
    ("NULLIF(1, 1)", N),
    ("NULLIF(1, 2)", 1),
    ("NVL(s, 'none')", ["Hello World", "ünïcödé", "", "  padded  ", "a_b%c", "none"]),
    ("IFNULL(s, 'none')", ["Hello World", "ünïcödé", "", "  padded  ", "a_b%c", "none"]),
    ("NVL(l, 0) + 1", [2, -6, 1, 1000001, 43, 1]),
    ("NVL2(s, 'has', 'none')", ["has"] * 5 + ["none"]),
    ("NVL2(b, 1, 0)", [1, 1, 0, 1, 1, 0]),
    ("GREATEST(l, i)", [10, -3, 0, 2147483647, 42, N]),
    ("LEAST(l, i)", [1, -7, 0, 1000000, 7, N]),
    ("GREATEST(l, i, 5)", [10, 5, 5, 2147483647, 42, 5]),  # NULLs are skipped
    ("LEAST(l, NULL, 5)", [1, -7, 0, 5, 5, 5]),
    ("GREATEST(NULL, 1)", 1),
    ("GREATEST(NULL, NULL)", N),
    ("GREATEST(d, 1.0)", [1.5, nan, 1.0, inf, 1.0, 1.0]),  # NaN is the greatest
    ("LEAST(d, 1.0)", [1.0, 1.0, -0.0, 1.0, -2.5, 1.0]),
    ("GREATEST(1, 2.5)", D("2.5")),
    ("GREATEST('a', 'b', 'B')", "b"),
    ("LEAST('a', 'b', 'B')", "B"),
    ("GREATEST(dt, DATE'2024-01-01')", [date(2024, 1, 31), date(2024, 2, 29), date(2024, 1, 1), date(2024, 1, 1),
                                        date(2024, 1, 1), date(2024, 1, 1)]),
    ("GREATEST(dt, ts)", [ts(2024, 1, 31, 13, 45, 30, 123456), ts(2024, 2, 29), ts(1970, 1, 1), ts(2023, 12, 31, 23, 59, 59),
                          ts(2020, 6, 15, 8, 5, 9), N]),  # a date meets a timestamp as midnight UTC
    ("LEAST(ts, TIMESTAMP'2000-01-01 00:00:00')", [ts(2000, 1, 1), ts(1969, 12, 31, 23, 59, 59, 500000), ts(1970, 1, 1),
                                                   ts(2000, 1, 1), ts(2000, 1, 1), ts(2000, 1, 1)]),
    ("LEAST(dt, DATE'2000-01-01', NULL)", [date(2000, 1, 1), date(2000, 1, 1), date(1970, 1, 1), date(2000, 1, 1),
                                          date(1969, 12, 31), date(2000, 1, 1)]),
    ("COALESCE(NULL, dt)", [date(2024, 1, 31), date(2024, 2, 29), date(1970, 1, 1), date(2023, 12, 31), date(1969, 12, 31), N]),
    ("GREATEST(dec, 3)", [D("12.35"), D("3"), D("3"), D("99999999.99"), D("3"), D("3")]),
]


@pytest.mark.parametrize("sql,want", MATH, ids=[c[0] for c in MATH])
def test_math(sql: str, want: object) -> None:
    check(sql, want)


@pytest.mark.parametrize("sql,want", CONDITIONALS, ids=[c[0] for c in CONDITIONALS])
def test_conditional(sql: str, want: object) -> None:
    check(sql, want)


def _half_up(x: float, digits: int) -> float:
    """Spark's round of a double: HALF_UP on the double's shortest decimal text."""
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding="ROUND_HALF_UP"))


@pytest.mark.parametrize("value", [0.125, 0.135, 2.675, 1.005, 1.015, -0.125, 123.455, 8.345, 0.285])
def test_round_of_doubles_goes_through_their_decimal_text(value: float) -> None:
    check(f"round(CAST({value!r} AS DOUBLE), 2)", _half_up(value, 2))


def test_math_models() -> None:
    check("abs(l) >= l", per_row(lambda r: True, "l"))
    check("l % 5", per_row(lambda r: int(math.fmod(r["l"], 5)), "l"))
    check("l div 5", per_row(lambda r: int(r["l"] / 5), "l"))
