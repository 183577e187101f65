"""Refusals of the expression language: each one `InvalidArgumentError` (a `LakehouseError`) of one line,
optionally followed by a `Help:` line, that names the construct, function or column at fault, with no
parser class names, Python reprs or terminal escape codes.
"""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidArgumentError, LakehouseError
from tests.support.expressions import run

REFUSED = [
    # subqueries, aggregates, window functions
    ("l IN (SELECT l FROM t)", "subqueries"),
    ("(SELECT 1) = l", "subqueries"),
    ("EXISTS (SELECT 1)", "subqueries"),
    ("sum(l) > 1", "aggregate"),
    ("count(*) = 1", "aggregate"),
    ("max(l)", "aggregate"),
    ("avg(d) > 0", "aggregate"),
    ("row_number() OVER (ORDER BY l) = 1", "window"),
    ("lag(l) OVER (ORDER BY id) = 1", "window"),
    # unknown functions, with "did you mean"
    ("uppper(s) = 'A'", "uppper"),
    ("lenght(s) > 1", "lenght"),
    ("my_udf(l) > 1", "my_udf"),
    # wrong arity
    ("substring(s) = 'a'", "substring"),
    ("datediff(MONTH, dt, dt) = 1", "datediff"),  # no unit other than DAY, never silently ignored
    ("floor(d, 1) = 1", "floor"),
    ("round(l, 1, 3) = 1", "round"),
    ("nullif(l) = 1", "nullif"),
    ("greatest(l) = 1", "greatest"),
    ("datediff(dt) = 1", "datediff() is missing an argument"),  # not "to_date() takes ...": sqlglot's wrapper
    ("year() = 2024", "year() is missing an argument"),
    # type errors: string arithmetic and friends
    ("s - 1 = 0", "s"),
    ("s * 2 = 0", "s"),
    ("'a' + 1 = 2", "'a'"),
    ("l + 'a' = 1", "'a'"),
    ("-s = 'a'", "s"),
    ("abs(s) = 1", "abs"),
    ("year(l) = 1970", "column l (bigint)"),  # Spark refuses year()/to_date() of a number
    ("to_date(l) = dt", "to_date"),
    ("sqrt(s) = 1", "sqrt"),
    ("dt + 1 = dt", "dt"),
    ("s = l", "s"),
    ("b = l", "b"),
    ("dt = l", "dt"),
    ("s = 1", "s"),
    ("l = 'abc'", "l"),
    ("dt = 'not a date'", "dt"),
    ("st = 1", "st"),
    ("arr = 1", "arr"),
    ("m = 1", "m"),
    ("l AND b", "l"),
    # constant expressions that fail while folded name the expression in SQL, not the tree
    ("-(-9223372036854775807 - 1) = l", "overflow"),
    ("abs(-9223372036854775807 - 1) = l", "abs("),
    ("CAST(3000000000 AS INT) = i", "3000000000"),
    # columns
    ("nope = 1", "nope"),
    ("st.zz = 1", "st.zz"),
    ("l.x = 1", "l.x"),
    ('s = "bob"', "bob"),
    # arguments that must be literals or valid
    ("lpad(s, l) = 'a'", "lpad"),
    ("element_at(arr, 0) = 1", "element_at"),
    ("element_at(m, 1) = 1", "element_at"),
    ("element_at(arr, l) = 1", "not 0"),  # l is 0 in one row: an index computed per row follows the same rule
    ("array_contains(arr, 'x')", "array_contains"),
    ("size(st) = 1", "size() takes an array or a map"),
    ("date_trunc('fortnight', ts) = ts", "fortnight"),
    ("date_format(ts, 'QQ') = 'x'", "Q"),
    ("regexp_extract(s, '(', 1) = ''", "regexp_extract"),
    ("regexp_extract(s, '(a)', 2) = ''", "group 2"),
    ("split_part(s, ',', 0) = ''", "split_part"),
    ("s RLIKE '('", "invalid pattern '('"),
    ("s RLIKE '(?=a)'", "RE2"),
    ("l IN (l, 1)", "IN"),
    ("CAST(l AS interval) = 1", "interval"),
    # syntax
    ("l ==", "="),
    ("l = ", "="),
    ("x = 'it's'", "string"),
    ("l = 1 AND", "AND"),
    ("", "empty"),
    ("(((l = 1)", "("),
    ("DATE'2024-02-30' = dt", "2024-02-30"),
    ("INTERVAL 'x' DAY + dt = dt", "INTERVAL"),
]


@pytest.mark.parametrize("sql,names", REFUSED, ids=[c[0] or "<empty>" for c in REFUSED])
def test_refused_with_one_clear_line(sql: str, names: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run(sql)
    assert isinstance(info.value, LakehouseError)
    text = str(info.value)
    lines = text.splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Help:")), text
    assert names.lower() in text.lower(), text
    for leak in ("\x1b", "<class", "sqlglot", "Traceback", "Lit(", "Func(", "Col(", "pyarrow", "ArrowInvalid"):
        assert leak not in text, text


@pytest.mark.parametrize("sql,hint", [
    ("uppper(s) = 'A'", "did you mean upper"),
    ("lenght(s) > 1", "did you mean length"),
    ('s = "bob"', "'bob'"),
])
def test_help_lines(sql: str, hint: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run(sql)
    assert hint in str(info.value).splitlines()[-1], str(info.value)


def test_runtime_errors_name_the_operation_and_the_row() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run("l + 9223372036854775807")
    text = str(info.value)
    assert text.startswith("test:") and "overflow" in text and "l=1" in text, text
    with pytest.raises(InvalidArgumentError) as info:
        run("CAST(s AS INT)")
    assert "'Hello World' (string) to int" in str(info.value)
