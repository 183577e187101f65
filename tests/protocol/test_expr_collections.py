"""Struct fields, arrays and maps over the fixed table (tests/protocol/expr_support.py): `a.b`,
element_at (1-based, negative from the end, out of range NULL), arr[i] (0-based), size (NULL for NULL,
ANSI), array_contains (a NULL element makes "not found" NULL), m['k']. Expected values by hand.
"""

from __future__ import annotations

import pytest

from tests.support.expressions import ROWS, check

T, F, N = True, False, None

# arr: [1,2,3], [], [NULL,5], [7], NULL, NULL     m: {a:1,b:2}, {}, {k:NULL}, {a:10}, NULL, NULL
# st: {a:1,b:'x'}, {a:NULL,b:'y'}, NULL, {a:3,b:NULL}, {a:-4,b:'z'}, NULL
CASES = [
    ("st.a", [1, N, N, 3, -4, N]),
    ("st.b", ["x", "y", N, N, "z", N]),
    ("`st`.`a`", [1, N, N, 3, -4, N]),
    ('"st"."b"', ["x", "y", N, N, "z", N]),  # double quotes name columns
    ("st.a * 10", [10, N, N, 30, -40, N]),
    ("upper(st.b)", ["X", "Y", N, N, "Z", N]),
    ("st.a = 3 OR st.b = 'x'", [T, N, N, T, F, N]),
    ("element_at(arr, 1)", [1, N, N, 7, N, N]),
    ("element_at(arr, 2)", [2, N, 5, N, N, N]),
    ("element_at(arr, 3)", [3, N, N, N, N, N]),
    ("element_at(arr, -1)", [3, N, 5, 7, N, N]),  # from the end
    ("element_at(arr, -2)", [2, N, N, N, N, N]),
    ("element_at(arr, 5)", N),  # out of range: NULL
    ("element_at(arr, -5)", N),
    ("element_at(arr, NULL)", N),
    ("arr[0]", [1, N, N, 7, N, N]),  # brackets count from 0
    ("arr[1]", [2, N, 5, N, N, N]),
    ("arr[2]", [3, N, N, N, N, N]),
    ("arr[10]", N),
    ("arr[-1]", N),
    ("arr[0] + arr[1]", [3, N, N, N, N, N]),
    ("element_at(m, 'a')", [1, N, N, 10, N, N]),
    ("element_at(m, 'b')", [2, N, N, N, N, N]),
    ("element_at(m, 'zz')", N),
    ("m['a']", [1, N, N, 10, N, N]),
    ("m['k']", N),  # present with a NULL value
    ("m['a'] > 5", [F, N, N, T, N, N]),
    ("coalesce(m['a'], 0)", [1, 0, 0, 10, 0, 0]),
    # indexes and keys computed per row
    ("arr[id]", [1, N, N, N, N, N]),
    ("arr[id - 1]", [N, N, 5, N, N, N]),
    ("element_at(arr, id + 1)", [1, N, N, N, N, N]),
    ("element_at(arr, -1 - id)", [3, N, N, N, N, N]),
    ("m[CASE WHEN id = 0 THEN 'b' ELSE 'a' END]", [2, N, N, 10, N, N]),
    ("size(arr)", [3, 0, 2, 1, N, N]),  # size(NULL) is NULL (ANSI), not -1
    ("size(m)", [2, 0, 1, 1, N, N]),
    ("cardinality(arr)", [3, 0, 2, 1, N, N]),
    ("array_size(arr)", [3, 0, 2, 1, N, N]),
    ("size(NULL)", N),
    ("size(arr) > 1", [T, F, T, F, N, N]),
    ("array_contains(arr, 5)", [F, F, T, F, N, N]),
    ("array_contains(arr, 1)", [T, F, N, F, N, N]),  # not found, but a NULL element: NULL
    ("array_contains(arr, 7)", [F, F, N, T, N, N]),
    ("array_contains(arr, l)", [T, F, N, F, N, N]),
    ("array_contains(arr, NULL)", N),
    ("NOT array_contains(arr, 2)", [F, T, N, T, N, N]),
    ("st IS NULL OR st.a IS NULL", [F, T, T, F, F, T]),
]


@pytest.mark.parametrize("sql,want", CASES, ids=[c[0] for c in CASES])
def test_nested_access(sql: str, want: object) -> None:
    check(sql, want)


def test_collection_models() -> None:
    arrays = [[1, 2, 3], [], [None, 5], [7], None, None]
    check("size(arr)", [None if a is None else len(a) for a in arrays])
    check("element_at(arr, -1)", [None if not a else a[-1] for a in arrays])
    check("st.a IS NULL", [r["st"] is None or r["st"]["a"] is None for r in ROWS])
