"""Operators of the expression language over the fixed table (tests/protocol/expr_support.py): arithmetic
with Spark's types and ANSI errors, comparisons under Spark's floating-point order (NaN = NaN, NaN above
every number, -0.0 = 0.0), three-valued AND/OR/NOT, IN/NOT IN with NULLs, BETWEEN, IS [NOT] NULL,
IS [NOT] DISTINCT FROM and <=>. Every expected value is written by hand from Spark's documented
semantics, one value per row of the table (or one value for every row).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from lakehouse.errors import InvalidArgumentError
from tests.support.expressions import check, run

T, F, N = True, False, None
nan, inf = float("nan"), float("inf")

ARITHMETIC = [
    # l: 1, -7, 0, 1000000, 42, NULL    i: 10, -3, 0, 2147483647, 7, NULL
    ("l + 1", [2, -6, 1, 1000001, 43, N]),
    ("l - 1", [0, -8, -1, 999999, 41, N]),
    ("l * 2", [2, -14, 0, 2000000, 84, N]),
    ("l + i", [11, -10, 0, 2147483647 + 1000000, 49, N]),
    ("l - i", [-9, -4, 0, 1000000 - 2147483647, 35, N]),
    ("-l", [-1, 7, 0, -1000000, -42, N]),
    ("- -l", [1, -7, 0, 1000000, 42, N]),
    ("+l", [1, -7, 0, 1000000, 42, N]),
    ("l / 2", [0.5, -3.5, 0.0, 500000.0, 21.0, N]),  # `/` of integers is a double
    ("i / 4", [2.5, -0.75, 0.0, 536870911.75, 1.75, N]),
    ("7 / 2", 3.5),
    ("l div 2", [0, -3, 0, 500000, 21, N]),  # truncated toward zero
    ("-7 div 2", -3),
    ("7 div -2", -3),
    ("l div -2", [0, 3, 0, -500000, -21, N]),
    ("l % 3", [1, -1, 0, 1, 0, N]),  # the remainder has the dividend's sign
    ("-l % 3", [-1, 1, 0, -1, 0, N]),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("-7 % -3", -1),
    ("l * l", [1, 49, 0, 1000000000000, 1764, N]),
    ("(l + 1) * 2", [4, -12, 2, 2000002, 86, N]),
    ("l + 1 * 2", [3, -5, 2, 1000002, 44, N]),
    ("2 + 3 * 4 - 6 / 3", 12.0),
    ("10 - 2 - 3", 5),
    ("l + NULL", N),
    ("NULL * 3", N),
    ("1 + 2", 3),
    ("2 * 0.5", Decimal("1.0")),
    # doubles: d is 1.5, NaN, -0.0, Infinity, -2.5, NULL
    ("d + 1", [2.5, nan, 1.0, inf, -1.5, N]),
    ("d * 2", [3.0, nan, -0.0, inf, -5.0, N]),
    ("d - d", [0.0, nan, 0.0, nan, 0.0, N]),
    ("-d", [-1.5, nan, 0.0, -inf, 2.5, N]),
    ("d / 2", [0.75, nan, -0.0, inf, -1.25, N]),
    ("d % 2", [1.5, nan, -0.0, nan, -0.5, N]),
    ("l + d", [2.5, nan, 0.0, inf, 39.5, N]),
    ("1.5e0 + 1", 2.5),
    # decimals: dec is decimal(10,2): 12.35, -0.50, 0.00, 99999999.99, 2.68, NULL
    ("dec + 1", [Decimal("13.35"), Decimal("0.50"), Decimal("1.00"), Decimal("100000000.99"), Decimal("3.68"), N]),
    ("dec - 0.05", [Decimal("12.30"), Decimal("-0.55"), Decimal("-0.05"), Decimal("99999999.94"), Decimal("2.63"), N]),
    ("dec * 2", [Decimal("24.70"), Decimal("-1.00"), Decimal("0.00"), Decimal("199999999.98"), Decimal("5.36"), N]),
    ("dec * dec", [Decimal("152.5225"), Decimal("0.2500"), Decimal("0"), Decimal("9999999998000000.0001"),
                   Decimal("7.1824"), N]),
    ("-dec", [Decimal("-12.35"), Decimal("0.50"), Decimal("0.00"), Decimal("-99999999.99"), Decimal("-2.68"), N]),
    ("dec % 1", [Decimal("0.35"), Decimal("-0.50"), Decimal("0.00"), Decimal("0.99"), Decimal("0.68"), N]),
    ("dec % -0.3", [Decimal("0.05"), Decimal("-0.20"), Decimal("0.00"), Decimal("0.09"), Decimal("0.28"), N]),
    ("dec div 1", [12, 0, 0, 99999999, 2, N]),
    ("dec div 0.3", [41, -1, 0, 333333333, 8, N]),
    ("dec / 2", [6.175, -0.25, 0.0, 49999999.995, 1.34, N]),
    ("dec + d", [13.85, nan, 0.0, inf, 0.18, N]),
    ("-7.5 % 2", Decimal("-1.5")),
    ("0.1 + 0.2", Decimal("0.3")),  # decimal literals are exact
    ("dec + l", [Decimal("13.35"), Decimal("-7.50"), Decimal("0.00"), Decimal("100999999.99"), Decimal("44.68"), N]),
    ("st.a + 1", [2, N, N, 4, -3, N]),
]

COMPARISONS = [
    ("l = 1", [T, F, F, F, F, N]),
    ("l != 1", [F, T, T, T, T, N]),
    ("l <> 1", [F, T, T, T, T, N]),
    ("l < 0", [F, T, F, F, F, N]),
    ("l <= 0", [F, T, T, F, F, N]),
    ("l > 0", [T, F, F, T, T, N]),
    ("l >= 42", [F, F, F, T, T, N]),
    ("0 < l", [T, F, F, T, T, N]),  # a literal on the left
    ("42 <= l", [F, F, F, T, T, N]),
    ("l = i", [F, F, T, F, F, N]),
    ("l < i", [T, T, F, T, F, N]),
    ("l = NULL", N),
    ("NULL = NULL", N),
    ("l < 1.5", [T, T, T, F, F, N]),  # a fractional literal against an integer column compares exactly
    ("l > 0.5", [T, F, F, T, T, N]),
    ("l = 1.0", [T, F, F, F, F, N]),
    ("l = '1'", [T, F, F, F, F, N]),  # text meets a number column as a number
    ("i >= 2147483647", [F, F, F, T, F, N]),
    # Spark's floating-point order: NaN = NaN, NaN above every number, -0.0 = 0.0
    ("d > 1", [T, T, F, T, F, N]),
    ("d >= 1.5", [T, T, F, T, F, N]),
    ("d < 1", [F, F, T, F, T, N]),
    ("d <= 1.5", [T, F, T, F, T, N]),
    ("d = 1.5", [T, F, F, F, F, N]),
    ("d != 1.5", [F, T, T, T, T, N]),
    ("d = 0", [F, F, T, F, F, N]),
    ("d = -0.0", [F, F, T, F, F, N]),
    ("d = 0.0", [F, F, T, F, F, N]),
    ("d = 'NaN'", [F, T, F, F, F, N]),
    ("d >= 'NaN'", [F, T, F, F, F, N]),
    ("d < 'NaN'", [T, F, T, T, T, N]),
    ("d > 'Infinity'", [F, T, F, F, F, N]),
    ("d = d", [T, T, T, T, T, N]),
    ("d < d", [F, F, F, F, F, N]),
    ("d > l", [T, T, F, T, F, N]),
    ("d + 0 > 1", [T, T, F, T, F, N]),  # a computed double keeps the order
    ("d * 1 = d", [T, T, T, T, T, N]),
    ("CAST('NaN' AS DOUBLE) > 1e308", T),
    ("CAST('NaN' AS DOUBLE) = CAST('NaN' AS DOUBLE)", T),
    ("-0.0 = 0.0", T),
    ("dec = 12.35", [T, F, F, F, F, N]),
    ("dec < 0", [F, T, F, F, F, N]),
    ("dec > 2.675", [T, F, F, T, T, N]),
    ("dec = l", [F, F, T, F, F, N]),
    ("dec >= d", [T, F, T, F, T, N]),
    ("s = 'Hello World'", [T, F, F, F, F, N]),
    ("s < 'b'", [T, F, T, T, T, N]),  # binary (code point) order: ' ' < 'H' < 'a' < 'b' < 'ü'
    ("s > 'zzz'", [F, T, F, F, F, N]),
    ("s = ''", [F, F, T, F, F, N]),
    ("s = 'it''s'", [F, F, F, F, F, N]),
    ("'it''s' = 'it''s'", T),
    ("b = true", [T, F, N, T, F, N]),
    ("b = 'true'", [T, F, N, T, F, N]),
    ("b != false", [T, F, N, T, F, N]),
    ("dt = '2024-02-29'", [F, T, F, F, F, N]),  # implicit cast of text to a date
    ("dt > '2024-01-01'", [T, T, F, F, F, N]),
    ("dt < DATE'1970-01-01'", [F, F, F, F, T, N]),
    ("ts >= '2024-01-01'", [T, F, F, F, F, N]),
    ("ts < TIMESTAMP'2000-01-01 00:00:00'", [F, T, T, F, F, N]),
    ("ts = TIMESTAMP'1970-01-01 00:00:00'", [F, F, T, F, F, N]),
    ("ts > '2023-12-31T23:59:58Z'", [T, F, F, T, F, N]),
    ("tsn = TIMESTAMP_NTZ'2000-02-29 00:00:01'", [F, T, F, F, F, N]),
    ("tsn < '1999-01-01'", [F, F, T, F, F, N]),
    ("tsn > ts", [F, T, F, F, F, N]),  # timestamp_ntz meets timestamp as UTC wall-clock time
    ("tsn = CAST(ts AS TIMESTAMP_NTZ)", [F, F, T, T, T, N]),
    ("dt < tsn", [T, F, F, T, T, N]),
    ("ts > dt", [T, F, F, T, T, N]),
    ("bin = X'0102'", [T, F, F, N, F, N]),
    ("X'FF' = bin", [F, F, F, N, T, N]),
    ("bin > X'01'", [T, F, T, N, T, N]),
    ("st.b = 'y'", [F, T, N, N, F, N]),
    ("st.a > 0", [T, N, N, T, F, N]),
]

LOGIC = [
    # b: TRUE, FALSE, NULL, TRUE, FALSE, NULL
    ("b AND true", [T, F, N, T, F, N]),
    ("b AND false", F),
    ("b AND NULL", [N, F, N, N, F, N]),
    ("b OR true", T),
    ("b OR false", [T, F, N, T, F, N]),
    ("b OR NULL", [T, N, N, T, N, N]),
    ("NOT b", [F, T, N, F, T, N]),
    ("NOT NOT b", [T, F, N, T, F, N]),
    ("NOT NULL", N),
    ("NULL AND false", F),
    ("NULL OR true", T),
    ("NULL AND true", N),
    ("b AND l > 0", [T, F, F, T, F, N]),  # NULL AND FALSE is FALSE
    ("b OR l > 0", [T, F, N, T, T, N]),
    ("l > 0 AND l < 100", [T, F, F, F, T, N]),
    ("l < 0 OR l > 100", [F, T, F, T, F, N]),
    ("NOT (l > 0)", [F, T, T, F, F, N]),
    ("NOT (l > 0 AND b)", [F, T, T, F, T, N]),
    ("NOT (l > 0 OR b)", [F, T, N, F, F, N]),
    ("(l = 1 OR l = 42) AND NOT b", [F, F, F, F, T, N]),
    ("l = 1 OR l = -7 OR l = 0", [T, T, T, F, F, N]),
    ("1 = 1 AND l = 0", [F, F, T, F, F, N]),
    ("1 = 0 OR l = 0", [F, F, T, F, F, N]),
    ("1 = 1", T),
    ("true", T),
    ("false OR NULL", N),
    # The right side of AND/OR is not evaluated where the left side decides (Spark short-circuits)
    ("l <> 0 AND 10 / l > 1", [T, F, F, F, F, N]),
    ("l = 0 OR 10 / l > 1", [T, F, T, F, F, N]),
    ("s RLIKE '^[a-z]' AND CAST(length(s) AS TINYINT) > 0", [F, F, F, F, T, N]),  # [a-z] has no ü
    ("b IS TRUE", [T, F, F, T, F, F]),
    ("b IS NOT TRUE", [F, T, T, F, T, T]),
    ("b IS FALSE", [F, T, F, F, T, F]),
    ("b IS NOT FALSE", [T, F, T, T, F, T]),
]

NULLS_AND_SETS = [
    ("l IS NULL", [F, F, F, F, F, T]),
    ("l IS NOT NULL", [T, T, T, T, T, F]),
    ("s IS NULL", [F, F, F, F, F, T]),
    ("b IS NULL", [F, F, T, F, F, T]),
    ("st IS NULL", [F, F, T, F, F, T]),
    ("st.a IS NULL", [F, T, T, F, F, T]),
    ("arr IS NOT NULL", [T, T, T, T, F, F]),
    ("d IS NULL", [F, F, F, F, F, T]),  # NaN is not NULL
    ("NULL IS NULL", T),
    ("isnull(bin)", [F, F, F, T, F, T]),
    ("isnotnull(bin)", [T, T, T, F, T, F]),
    ("l + NULL IS NULL", T),
    ("l IN (1, 42)", [T, F, F, F, T, N]),
    ("l NOT IN (1, 42)", [F, T, T, T, F, N]),
    ("l IN (1, NULL)", [T, N, N, N, N, N]),  # not found with a NULL in the list: NULL
    ("l NOT IN (1, NULL)", [F, N, N, N, N, N]),  # so NOT IN with a NULL is never TRUE
    ("l NOT IN (2, NULL)", N),
    ("l IN (NULL)", N),
    ("NULL IN (1, 2)", N),
    ("1 IN (1, NULL)", T),
    ("2 IN (1, NULL)", N),
    ("2 NOT IN (1, 3)", T),
    ("s IN ('', 'a_b%c')", [F, F, T, F, T, N]),
    ("s NOT IN ('Hello World')", [F, T, T, T, T, N]),
    ("d IN (0, 1.5)", [T, F, T, F, F, N]),  # -0.0 is in (0)
    ("d IN ('NaN')", [F, T, F, F, F, N]),
    ("d NOT IN (1.5, 'NaN')", [F, F, T, T, T, N]),
    ("dt IN ('2024-01-31', DATE'1970-01-01')", [T, F, T, F, F, N]),
    ("dec IN (12.35, 0)", [T, F, T, F, F, N]),
    ("l IN (1.5, 42)", [F, F, F, F, T, N]),
    ("b IN (true)", [T, F, N, T, F, N]),
    # a computed value in IN follows the same equality (-0.0 = 0, NaN = NaN) and literal coercion
    ("d * 1 IN (1.5, 0)", [T, F, T, F, F, N]),
    ("d * 1 IN ('NaN')", [F, T, F, F, F, N]),
    ("d * 1 NOT IN (0, NULL)", [N, N, F, N, N, N]),
    ("year(dt) IN ('2024')", [T, T, F, F, F, N]),
    ("upper(s) IN ('A_B%C', 'HELLO WORLD')", [T, F, F, F, T, N]),
    ("l + 0 IN (1.5, 1)", [T, F, F, F, F, N]),
    ("l BETWEEN 0 AND 42", [T, F, T, F, T, N]),
    ("l NOT BETWEEN 0 AND 42", [F, T, F, T, F, N]),
    ("l BETWEEN 42 AND 0", [F, F, F, F, F, N]),  # no reordering of the bounds
    ("d BETWEEN -1 AND 2", [T, F, T, F, F, N]),
    ("d BETWEEN 0 AND 'NaN'", [T, T, T, T, F, N]),
    ("dt BETWEEN '2024-01-01' AND '2024-12-31'", [T, T, F, F, F, N]),
    ("s BETWEEN 'a' AND 'b'", [F, F, F, F, T, N]),
    ("l BETWEEN NULL AND 5", [N, N, N, F, F, N]),
    ("l <=> 1", [T, F, F, F, F, F]),
    ("l <=> NULL", [F, F, F, F, F, T]),
    ("NULL <=> NULL", T),
    ("1 <=> NULL", F),
    ("d <=> 'NaN'", [F, T, F, F, F, F]),
    ("b <=> NULL", [F, F, T, F, F, T]),
    ("st.a <=> NULL", [F, T, T, F, F, T]),
    ("l IS DISTINCT FROM 1", [F, T, T, T, T, T]),
    ("l IS NOT DISTINCT FROM 1", [T, F, F, F, F, F]),
    ("l IS NOT DISTINCT FROM NULL", [F, F, F, F, F, T]),
    ("l IS DISTINCT FROM NULL", [T, T, T, T, T, F]),
    ("s IS DISTINCT FROM ''", [T, T, F, T, T, T]),
    ("l IS DISTINCT FROM i", [T, T, F, T, T, F]),
    ("NOT (l <=> 1)", [F, T, T, T, T, T]),
]


@pytest.mark.parametrize("sql,want", ARITHMETIC, ids=[c[0] for c in ARITHMETIC])
def test_arithmetic(sql: str, want: object) -> None:
    check(sql, want)


@pytest.mark.parametrize("sql,want", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparison(sql: str, want: object) -> None:
    check(sql, want)


@pytest.mark.parametrize("sql,want", LOGIC, ids=[c[0] for c in LOGIC])
def test_logic(sql: str, want: object) -> None:
    check(sql, want)


@pytest.mark.parametrize("sql,want", NULLS_AND_SETS, ids=[c[0] for c in NULLS_AND_SETS])
def test_nulls_sets_ranges(sql: str, want: object) -> None:
    check(sql, want)


# ANSI arithmetic errors: overflow and a zero divisor are errors (Spark 4 / Databricks defaults), never a
# wrapped value, Infinity or NaN.
ERRORS = [
    ("l + 9223372036854775807", "overflow"),
    ("l * 9223372036854775807", "overflow"),
    ("9223372036854775807 + 1", "overflow"),
    ("-9223372036854775807 - 2", "overflow"),
    ("i * 2", "overflow"),
    ("l / 0", "divide by zero"),
    ("d / 0", "divide by zero"),
    ("dec / 0", "divide by zero"),
    ("l / (l - l)", "divide by zero"),
    ("5 / 0", "divide by zero"),
    ("7 div 0", "divide by zero"),
    ("dec div 0", "division by zero"),
    ("l % 0", "divide by zero"),
    ("d % 0", "divide by zero"),
    ("dec % 0", "divide by zero"),
    ("5.0 % 0", "divide by zero"),
]


@pytest.mark.parametrize("sql,message", ERRORS, ids=[c[0] for c in ERRORS])
def test_arithmetic_errors(sql: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run(sql)
    text = str(info.value)
    assert message in text and "\x1b" not in text and "pyarrow" not in text.lower(), text


def test_division_by_zero_skips_null_rows() -> None:
    # A NULL divisor or dividend is NULL, not an error (the zero check looks at values only).
    check("l / NULL", None)
    check("NULL / 0", None)
    check("l / CASE WHEN l IS NULL THEN 0 ELSE 1 END", [1.0, -7.0, 0.0, 1000000.0, 42.0, None])
