"""The expression suite's semantics hold in every entry point, not only in `expr.evaluate`: each boolean
case of tests/protocol/test_expr_*.py is run as a read filter (`DeltaTable.to_arrow(filter=)`, through
file skipping) and as a DELETE predicate, and value cases as UPDATE SET expressions, on a real Delta
table holding the suite's fixed table. The expected values are the suite's hand-written ones.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import lakehouse
from tests.protocol import test_expr_collections, test_expr_datetimes, test_expr_operators, test_expr_strings
from tests.support.expressions import ARROW_SCHEMA, N, ROWS, same, table

BOOLEAN_SOURCES = (test_expr_operators.COMPARISONS + test_expr_operators.LOGIC + test_expr_operators.NULLS_AND_SETS
                   + [c for c in test_expr_strings.CASES + test_expr_datetimes.CASES + test_expr_collections.CASES])


def _is_predicate(want: Any) -> bool:
    values = want if isinstance(want, list) and len(want) == N else [want]
    return all(v is None or isinstance(v, bool) for v in values) and any(isinstance(v, bool) for v in values)


PREDICATES = [(sql, want) for sql, want in BOOLEAN_SOURCES if _is_predicate(want)]
_ALL = list(range(N))


def _selected(want: Any) -> list[int]:
    values = want if isinstance(want, list) and len(want) == N else [want] * N
    return [i for i, v in zip(_ALL, values) if v is True]


@pytest.fixture(scope="module")
def delta_table(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("expr") / "t")
    lakehouse.write_delta(path, table())
    return path


def test_the_table_round_trips(delta_table: str) -> None:
    got = lakehouse.DeltaTable(delta_table).to_arrow().sort_by("id")
    assert got.schema.names == ARROW_SCHEMA.names
    assert got.column("s").to_pylist() == [r["s"] for r in ROWS]


@pytest.mark.parametrize("sql,want", PREDICATES, ids=[c[0] for c in PREDICATES])
def test_read_filter(delta_table: str, sql: str, want: Any) -> None:
    got = lakehouse.DeltaTable(delta_table).to_arrow(filter=sql)
    assert sorted(got.column("id").to_pylist()) == _selected(want), sql


DELETES = [c for c in PREDICATES if "current_" not in c[0]][::3]


@pytest.mark.parametrize("sql,want", DELETES, ids=[c[0] for c in DELETES])
def test_delete_predicate(delta_table: str, tmp_path: Path, sql: str, want: Any) -> None:
    path = str(tmp_path / "copy")
    shutil.copytree(delta_table, path)
    lakehouse.DeltaTable(path).delete(sql)
    kept = lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist()
    assert sorted(kept) == [i for i in _ALL if i not in _selected(want)], sql


D = Decimal
# (column, SQL value, expected value per row), the expected values from the suite's hand-written tables.
UPDATES = [
    ("s", "upper(s)", ["HELLO WORLD", "ÜNÏCÖDÉ", "", "  PADDED  ", "A_B%C", None]),
    ("s", "s || '!'", ["Hello World!", "ünïcödé!", "!", "  padded  !", "a_b%c!", None]),
    ("s", "substring(s, -3, 2)", ["rl", "öd", "", "d ", "b%", None]),
    ("s", "lpad(s, 14, 'ab')", ["abaHello World", "abababaünïcödé", "ababababababab", "abab  padded  ", "ababababaa_b%c", None]),
    ("s", "initcap(s)", ["Hello World", "Ünïcödé", "", "  Padded  ", "A_b%c", None]),
    ("s", "concat_ws('-', s, 'z')", ["Hello World-z", "ünïcödé-z", "-z", "  padded  -z", "a_b%c-z", "z"]),
    ("s", "CAST(d AS STRING)", ["1.5", "NaN", "-0.0", "Infinity", "-2.5", None]),
    ("s", "CAST(ts AS STRING)", ["2024-01-31 13:45:30.123456", "1969-12-31 23:59:59.5", "1970-01-01 00:00:00",
                                 "2023-12-31 23:59:59", "2020-06-15 08:05:09", None]),
    ("s", "CASE WHEN l > 0 THEN 'pos' WHEN l < 0 THEN 'neg' ELSE 'zero' END", ["pos", "neg", "zero", "pos", "pos", "zero"]),
    ("s", "date_format(dt, 'dd.MM.yy')", ["31.01.24", "29.02.24", "01.01.70", "31.12.23", "31.12.69", None]),
    ("s", "regexp_extract(s, '(\\w+) (\\w+)', 1)", ["Hello", "", "", "", "", None]),
    ("l", "l % 3", [1, -1, 0, 1, 0, None]),
    ("l", "l div 2", [0, -3, 0, 500000, 21, None]),
    ("l", "COALESCE(l, i, 99)", [1, -7, 0, 1000000, 42, 99]),
    ("l", "floor(d)", [1, 0, 0, 9223372036854775807, -3, None]),
    ("l", "size(arr)", [3, 0, 2, 1, None, None]),
    ("l", "element_at(arr, -1)", [3, None, 5, 7, None, None]),
    ("l", "m['a']", [1, None, None, 10, None, None]),
    ("l", "unix_timestamp(ts)", [1706708730, -1, 0, 1704067199, 1592208309, None]),
    ("i", "year(dt)", [2024, 2024, 1970, 2023, 1969, None]),
    ("i", "dayofweek(dt)", [4, 5, 5, 1, 4, None]),
    ("i", "datediff(dt, DATE'2024-01-01')", [30, 59, -19723, -1, -19724, None]),
    ("d", "round(CAST(2.675 AS DOUBLE), 2) + 0 * l", [2.68, 2.68, 2.68, 2.68, 2.68, None]),
    ("d", "nanvl(d, 0)", [1.5, 0.0, -0.0, float("inf"), -2.5, None]),
    ("d", "GREATEST(d, 1.0)", [1.5, float("nan"), 1.0, float("inf"), 1.0, 1.0]),
    ("dec", "ceil(dec) - 1", [D("12.00"), D("-1.00"), D("-1.00"), D("99999999.00"), D("2.00"), None]),
    ("dec", "CAST('12.345' AS DECIMAL(5,2)) + 0 * dec", [D("12.35"), D("12.35"), D("12.35"), D("12.35"), D("12.35"), None]),
    ("dt", "add_months(dt, 1)", [date(2024, 2, 29), date(2024, 3, 29), date(1970, 2, 1), date(2024, 1, 31),
                                 date(1970, 1, 31), None]),
    ("b", "NULLIF(d, d) IS NULL", [True, True, True, True, True, True]),
    ("b", "array_contains(arr, 1)", [True, False, None, False, None, None]),
]


@pytest.mark.parametrize("column,sql,want", UPDATES, ids=[c[1] for c in UPDATES])
def test_update_set(delta_table: str, tmp_path: Path, column: str, sql: str, want: list[Any]) -> None:
    path = str(tmp_path / "copy")
    shutil.copytree(delta_table, path)
    lakehouse.DeltaTable(path).update(updates={column: sql})
    got = lakehouse.DeltaTable(path).to_arrow().sort_by("id").column(column).to_pylist()
    assert len(got) == N and all(same(g, w) for g, w in zip(got, want)), f"{sql}\n got:  {got}\n want: {want}"


def test_update_with_predicate_and_set_share_the_semantics(delta_table: str, tmp_path: Path) -> None:
    # NaN > 1 is true in Spark: the NaN row is updated along with 1.5 and Infinity; NULL rows are not.
    path = str(tmp_path / "copy")
    shutil.copytree(delta_table, path)
    lakehouse.DeltaTable(path).update(updates={"s": "concat('big:', d)"}, predicate="d > 1")
    got = lakehouse.DeltaTable(path).to_arrow().sort_by("id").column("s").to_pylist()
    assert got == ["big:1.5", "big:NaN", "", "big:Infinity", "a_b%c", None]
    assert pa.types.is_string(lakehouse.DeltaTable(path).to_arrow().schema.field("s").type)


PARTITION_FILTERS = [
    ("upper(p) = 'A'", [1]), ("p LIKE 'a%'", [1, 4]), ("year(pd) = 2024", [1, 4]), ("pd >= '2024-01-01'", [1, 4]),
    ("coalesce(p, 'z') = 'z'", [3]), ("p IS NULL", [3]), ("p <=> NULL", [3]), ("NOT (p <=> 'a')", [2, 3, 4]),
    ("length(p) = 2", [4]), ("x > 1", [1, 2]), ("concat(p, '-', id) = 'a-1'", [1]),
    ("date_trunc('month', pd) = TIMESTAMP'2024-12-01 00:00:00'", [4]), ("pd + INTERVAL 1 DAY = DATE'2025-01-01'", [4]),
    ("CASE WHEN p = 'a' THEN true END", [1]), ("p IN ('a', NULL)", [1]), ("p NOT IN ('a')", [2, 4]),
    ("add_months(pd, 1) = '2024-02-01'", [1]), ("dayofweek(pd) = 1", []), ("p || p = 'abab'", [4]),
]


@pytest.mark.parametrize("sql,want", PARTITION_FILTERS, ids=[c[0] for c in PARTITION_FILTERS])
def test_partition_column_filters(tmp_path: Path, sql: str, want: list[int]) -> None:
    # Partition pruning evaluates the same expressions on the typed partition values of each file.
    path = str(tmp_path / "t")
    rows = pa.table({"id": pa.array([1, 2, 3, 4]), "p": pa.array(["a", "B", None, "ab"]),
                     "pd": pa.array([date(2024, 1, 1), date(2023, 5, 5), None, date(2024, 12, 31)]),
                     "x": pa.array([1.5, float("nan"), None, -1.0])})
    lakehouse.write_delta(path, rows, partition_by=["p", "pd"])
    got = lakehouse.DeltaTable(path).to_arrow(filter=sql).column("id").to_pylist()
    assert sorted(got) == want, sql
