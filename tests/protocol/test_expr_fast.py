"""The parser's fast path (`lakehouse.protocol.expr_fast`, issue 15): for the predicates it reads it must
build exactly the tree sqlglot's path builds, and it must leave everything else to sqlglot.

A hypothesis grammar generates predicates inside and around the subset (names that are keywords,
functions, arithmetic, LIKE, typed literals, odd numbers and quoting); for each, either the fast path
declines or its tree equals `parse_with_sqlglot`'s, and `parse` (fast or not) always equals it.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.protocol import expr_fast
from lakehouse.protocol.expr_ast import And, Cmp, Col, In, IsNull, Lit, Not
from lakehouse.protocol.expr_sql import _dialect, parse, parse_with_sqlglot

NAMES = st.sampled_from(["id", "bucket", "t.id", "s.id", "`my col`", '"quoted ""x"""', "a_1", "st.a.b",
                         "date", "value", "x", "current_date", "year", "Status", "`a``b`", "IN", "null"])
NUMBERS = st.sampled_from(["0", "7", "-3", "1.50", "-0.0", "1e3", "2E-2", "12345678901234567890", "1.", ".5",
                           "1L", "0x10", "- 4", "007", "3.14159265358979323846"])
STRINGS = st.sampled_from(["'a'", "''", "'it''s'", "'2024-01-01'", "'back\\slash'", "'ünï'", "'%'"])
LITERALS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["NULL", "TRUE", "false", "DATE'2024-01-01'", "X'01'"]))
OPERANDS = st.one_of(NAMES, LITERALS)
OPS = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">=", "<=>"])


def _atoms() -> st.SearchStrategy[str]:
    compare = st.builds(lambda a, o, b: f"{a} {o} {b}", OPERANDS, OPS, OPERANDS)
    is_null = st.builds(lambda a, n, w: f"{a} IS {n}{w}", OPERANDS, st.sampled_from(["", "NOT "]),
                        st.sampled_from(["NULL", "TRUE", "FALSE"]))
    in_list = st.builds(lambda a, n, vs: f"{a} {n}IN ({', '.join(vs)})", NAMES, st.sampled_from(["", "NOT "]),
                        st.lists(LITERALS, min_size=1, max_size=4))
    between = st.builds(lambda a, n, lo, hi: f"{a} {n}BETWEEN {lo} AND {hi}", NAMES, st.sampled_from(["", "NOT "]),
                        OPERANDS, OPERANDS)
    outside = st.sampled_from(["upper(s) = 'A'", "id + 1 = 2", "s LIKE 'a%'", "CAST(id AS INT) = 1", "flag",
                               "v:a::int = 1", "id = 1 -- comment", "arr[0] = 1", "(id) = 1", "id = (1)",
                               "id IN (1, bucket)", "NOT flag", "id = ", "id == == 1", "'a' = s"])
    return st.one_of(compare, is_null, in_list, between, outside)


PREDICATES = st.recursive(
    _atoms(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} AND {b}", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT {a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=6,
)


def _sqlglot_or_error(text: str):
    try:
        return parse_with_sqlglot(text)
    except Exception as e:  # noqa: BLE001 - the error's type and text are compared
        return (type(e), str(e))


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(PREDICATES)
def test_fast_path_builds_sqlglots_tree_or_declines(text):
    fast = expr_fast.parse(text)
    slow = _sqlglot_or_error(text)
    if fast is not None:
        assert fast == slow, text
    try:
        assert parse(text) == slow, text
    except Exception as e:  # noqa: BLE001
        assert (type(e), str(e)) == slow, text


def test_the_common_predicates_take_the_fast_path():
    assert expr_fast.parse("bucket = 7") == Cmp("=", Col(("bucket",)), Lit(7))
    assert expr_fast.parse("t.id = s.id AND t.v <> 'x'") == And((Cmp("=", Col(("t", "id")), Col(("s", "id"))),
                                                                 Cmp("!=", Col(("t", "v")), Lit("x"))))
    assert expr_fast.parse("k NOT IN (1, -2.50)") == Not(In(Col(("k",)), (Lit(1), Lit(Decimal("-2.50")))))
    assert expr_fast.parse("a IS NOT NULL OR (b BETWEEN 1 AND 2)") is not None
    assert expr_fast.parse("x IS NULL") == IsNull(Col(("x",)))
    for text in ["bucket = 7", "id IN (1, 2, 3)", "day >= '2024-01-01' AND part = 'p07'", "a IS NOT NULL",
                 "`my col` = 'it''s'", "NOT (a = 1 OR b < 2.5)"]:
        assert expr_fast.parse(text) == parse_with_sqlglot(text), text


def test_reserved_words_still_cover_sqlglots_keywords():
    dialect = _dialect()
    keywords = {k for k in dialect.tokenizer_class.KEYWORDS if k.replace("_", "").isalpha()}
    no_paren = {t.name for t in getattr(dialect.parser_class, "NO_PAREN_FUNCTIONS", {})}
    missing = (keywords | no_paren) - expr_fast.RESERVED - {"AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "IN",
                                                            "BETWEEN"}
    assert not missing, f"add to expr_fast.RESERVED: {sorted(missing)}"


def test_a_simple_delete_predicate_does_not_import_sqlglot():
    code = ("import sys, lakehouse\n"
            "from lakehouse.protocol.expr import parse_sql\n"
            "parse_sql(\"bucket = 7 AND day >= '2024-01-01'\")\n"
            "assert 'sqlglot' not in sys.modules\n"
            "parse_sql(\"upper(s) = 'A'\")\n"
            "assert 'sqlglot' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
