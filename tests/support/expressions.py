"""The fixed table and the checker shared by the expression suite (tests/protocol/test_expr_*.py).

Every expected value in the suite is written by hand from Spark's documented semantics (or computed by a
few lines of plain Python in the test); nothing here calls the engine to decide what is right.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import pyarrow as pa

from lakehouse.protocol.expr import evaluate, parse_sql
from lakehouse.protocol.schema import from_arrow_schema

UTC = timezone.utc

ARROW_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("l", pa.int64()),
    ("i", pa.int32()),
    ("d", pa.float64()),
    ("dec", pa.decimal128(10, 2)),
    ("s", pa.string()),
    ("b", pa.bool_()),
    ("dt", pa.date32()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("tsn", pa.timestamp("us")),
    ("bin", pa.binary()),
    ("arr", pa.list_(pa.int64())),
    ("m", pa.map_(pa.string(), pa.int64())),
    ("st", pa.struct([("a", pa.int64()), ("b", pa.string())])),
])

# Row 5 is NULL in every column but id; other NULLs are sprinkled so that each column has values around them.
ROWS: list[dict[str, Any]] = [
    dict(id=0, l=1, i=10, d=1.5, dec=Decimal("12.35"), s="Hello World", b=True, dt=date(2024, 1, 31),
         ts=datetime(2024, 1, 31, 13, 45, 30, 123456, tzinfo=UTC), tsn=datetime(2024, 1, 31, 13, 45, 30),
         bin=b"\x01\x02", arr=[1, 2, 3], m=[("a", 1), ("b", 2)], st={"a": 1, "b": "x"}),
    dict(id=1, l=-7, i=-3, d=float("nan"), dec=Decimal("-0.50"), s="ünïcödé", b=False, dt=date(2024, 2, 29),
         ts=datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), tsn=datetime(2000, 2, 29, 0, 0, 1),
         bin=b"", arr=[], m=[], st={"a": None, "b": "y"}),
    dict(id=2, l=0, i=0, d=-0.0, dec=Decimal("0.00"), s="", b=None, dt=date(1970, 1, 1),
         ts=datetime(1970, 1, 1, 0, 0, 0, tzinfo=UTC), tsn=datetime(1970, 1, 1),
         bin=b"abc", arr=[None, 5], m=[("k", None)], st=None),
    dict(id=3, l=1000000, i=2147483647, d=float("inf"), dec=Decimal("99999999.99"), s="  padded  ",
         b=True, dt=date(2023, 12, 31), ts=datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
         tsn=datetime(2023, 12, 31, 23, 59, 59), bin=None, arr=[7], m=[("a", 10)], st={"a": 3, "b": None}),
    dict(id=4, l=42, i=7, d=-2.5, dec=Decimal("2.68"), s="a_b%c", b=False, dt=date(1969, 12, 31),
         ts=datetime(2020, 6, 15, 8, 5, 9, tzinfo=UTC), tsn=datetime(2020, 6, 15, 8, 5, 9),
         bin=b"\xff", arr=None, m=None, st={"a": -4, "b": "z"}),
    dict(id=5, l=None, i=None, d=None, dec=None, s=None, b=None, dt=None, ts=None, tsn=None, bin=None,
         arr=None, m=None, st=None),
]
N = len(ROWS)


def table() -> pa.Table:
    """The fixed table (a fresh object each time)."""
    return pa.Table.from_pylist(ROWS, schema=ARROW_SCHEMA)


SCHEMA = from_arrow_schema(ARROW_SCHEMA)


def run(sql: str) -> list[Any]:
    """The values of ``sql`` for every row of the fixed table, as Python values."""
    return evaluate(table(), parse_sql(sql), SCHEMA, what="test").to_pylist()


def per_row(fn: Callable[[dict[str, Any]], Any], *needs: str) -> list[Any]:
    """A tiny model: ``fn`` of each row, NULL where any column in ``needs`` is NULL (NULL in, NULL out)."""
    return [None if any(r[c] is None for c in needs) else fn(r) for r in ROWS]


def col(name: str) -> list[Any]:
    """A column's values as written in ROWS."""
    return [r[name] for r in ROWS]


def same(got: Any, want: Any) -> bool:
    """Equal as SQL values: NaN equals NaN, floats within 1e-12 relative, maps compared as pairs."""
    if isinstance(want, float) and isinstance(got, float):
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        return got == want or math.isclose(got, want, rel_tol=1e-12)
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    return type(got) is type(want) and got == want if want is not None else got is None


def check(sql: str, want: Any) -> None:
    """``sql`` over the fixed table equals ``want``: a list (one value per row) or one value for every row."""
    expected = want if isinstance(want, list) and len(want) == N and not sql.startswith("[") else [want] * N
    got = run(sql)
    assert len(got) == N and all(same(g, w) for g, w in zip(got, expected)), \
        f"{sql}\n  got:  {got}\n  want: {expected}"
