"""An independent model of the scan filters the tests use: a tiny predicate tree, its SQL text, and a
plain-Python evaluator with SQL three-valued logic.

Nothing here imports lakehouse: the tests compare lakehouse's results with this model.

Semantics (the ones lakehouse documents and Arrow implements):
- a row is selected only where the predicate is TRUE; comparisons with NULL are NULL; AND/OR/NOT are
  Kleene's three-valued connectives;
- floats follow Spark: NaN = NaN is TRUE and NaN is greater than every other value (so ``x > 1`` holds for
  NaN), and -0.0 = 0.0;
- ``x IN (a, b)`` is ``x = a OR x = b`` and ``x NOT IN (...)`` is ``NOT (x IN (...))`` (so a NULL in the
  list makes NOT IN never TRUE); ``x BETWEEN a AND b`` is ``x >= a AND x <= b``;
- strings compare by code point (= UTF-8 byte order), timestamps as instants, decimals by value.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Union

import pyarrow as pa

# -- the tree -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class C:
    """A column reference."""

    name: str


@dataclass(frozen=True)
class L:
    """A literal: ``value`` (None = NULL) rendered for a column of Arrow type ``type``."""

    value: Any
    type: pa.DataType
    style: int = 0  # alternative spellings (e.g. DATE '...' vs '...')


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Union[C, L]
    right: Union[C, L]


@dataclass(frozen=True)
class And:
    left: "P"
    right: "P"


@dataclass(frozen=True)
class Or:
    left: "P"
    right: "P"


@dataclass(frozen=True)
class Not:
    item: "P"


@dataclass(frozen=True)
class IsNull:
    col: C
    negated: bool = False


@dataclass(frozen=True)
class In:
    col: C
    values: tuple[L, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    col: C
    low: L
    high: L
    negated: bool = False


@dataclass(frozen=True)
class Bare:
    """A boolean column used as a predicate."""

    col: C


@dataclass(frozen=True)
class Const:
    value: bool


P = Union[Cmp, And, Or, Not, IsNull, In, Between, Bare, Const]


# -- SQL text -----------------------------------------------------------------------------------------


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def literal_sql(lit: L) -> str:
    v, t = lit.value, lit.type
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if math.isnan(v):
            return "'NaN'"
        if math.isinf(v):
            return "'Infinity'" if v > 0 else "'-Infinity'"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, str):
        return _sql_string(v)
    if isinstance(v, datetime):
        aware = v.tzinfo is not None
        text = (v.astimezone(timezone.utc) if aware else v).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        if lit.style % 3 == 0:
            return f"TIMESTAMP '{text}'"  # a UTC instant; lakehouse reads it as wall time for timestamp_ntz
        if lit.style % 3 == 1:
            return _sql_string(text.replace(" ", "T") + ("Z" if aware else ""))
        return _sql_string(text)
    if isinstance(v, date):
        return f"DATE '{v.isoformat()}'" if lit.style % 2 == 0 else _sql_string(v.isoformat())
    if isinstance(v, bytes):
        raise ValueError("binary literals are not modelled")
    raise TypeError(type(v))


def _operand_sql(x: Union[C, L]) -> str:
    return ident(x.name) if isinstance(x, C) else literal_sql(x)


def to_sql(p: P) -> str:
    if isinstance(p, Cmp):
        return f"{_operand_sql(p.left)} {p.op} {_operand_sql(p.right)}"
    if isinstance(p, And):
        return f"({to_sql(p.left)}) AND ({to_sql(p.right)})"
    if isinstance(p, Or):
        return f"({to_sql(p.left)}) OR ({to_sql(p.right)})"
    if isinstance(p, Not):
        return f"NOT ({to_sql(p.item)})"
    if isinstance(p, IsNull):
        return f"{ident(p.col.name)} IS {'NOT ' if p.negated else ''}NULL"
    if isinstance(p, In):
        vals = ", ".join(literal_sql(v) for v in p.values)
        return f"{ident(p.col.name)} {'NOT ' if p.negated else ''}IN ({vals})"
    if isinstance(p, Between):
        return (f"{ident(p.col.name)} {'NOT ' if p.negated else ''}BETWEEN {literal_sql(p.low)} "
                f"AND {literal_sql(p.high)}")
    if isinstance(p, Bare):
        return ident(p.col.name)
    if isinstance(p, Const):
        return "TRUE" if p.value else "FALSE"
    raise TypeError(type(p))


# -- evaluation ---------------------------------------------------------------------------------------

_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}


def _norm(v: Any) -> Any:
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.astimezone(timezone.utc)
    return v


def compare(op: str, a: Any, b: Any) -> bool | None:
    """``a op b`` with SQL NULLs and Spark's NaN: equal to itself, above every other value."""
    if a is None or b is None:
        return None
    a_nan = isinstance(a, float) and math.isnan(a)
    b_nan = isinstance(b, float) and math.isnan(b)
    if a_nan or b_nan:
        rank_a, rank_b = int(a_nan), int(b_nan)  # NaN ranks above any number
        return bool(_OPS[op](rank_a, rank_b))
    if isinstance(a, float) and isinstance(b, Decimal):
        b = float(b)
    if isinstance(b, float) and isinstance(a, Decimal):
        a = float(a)
    return bool(_OPS[op](_norm(a), _norm(b)))


def k_not(x: bool | None) -> bool | None:
    return None if x is None else not x


def k_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def k_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _value(x: Union[C, L], row: dict) -> Any:
    return row[x.name] if isinstance(x, C) else x.value


def evaluate(p: P, row: dict) -> bool | None:
    """The predicate's three-valued result on one row (a dict from ``to_pylist``)."""
    if isinstance(p, Cmp):
        return compare(p.op, _value(p.left, row), _value(p.right, row))
    if isinstance(p, And):
        return k_and(evaluate(p.left, row), evaluate(p.right, row))
    if isinstance(p, Or):
        return k_or(evaluate(p.left, row), evaluate(p.right, row))
    if isinstance(p, Not):
        return k_not(evaluate(p.item, row))
    if isinstance(p, IsNull):
        isnull = row[p.col.name] is None
        return not isnull if p.negated else isnull
    if isinstance(p, In):
        x = row[p.col.name]
        out: bool | None = False
        for v in p.values:
            out = k_or(out, compare("=", x, v.value))
        return k_not(out) if p.negated else out
    if isinstance(p, Between):
        x = row[p.col.name]
        out = k_and(compare(">=", x, p.low.value), compare("<=", x, p.high.value))
        return k_not(out) if p.negated else out
    if isinstance(p, Bare):
        return row[p.col.name]
    if isinstance(p, Const):
        return p.value
    raise TypeError(type(p))


def matches(p: P, row: dict) -> bool:
    """Whether the row is selected (the predicate is TRUE)."""
    return evaluate(p, row) is True


def filter_rows(p: P, rows: list[dict]) -> list[dict]:
    return [r for r in rows if matches(p, r)]


def columns_of(p: P) -> set[str]:
    if isinstance(p, Cmp):
        return {x.name for x in (p.left, p.right) if isinstance(x, C)}
    if isinstance(p, (And, Or)):
        return columns_of(p.left) | columns_of(p.right)
    if isinstance(p, Not):
        return columns_of(p.item)
    if isinstance(p, (IsNull, In, Between, Bare)):
        return {p.col.name}
    return set()


def literal_supported(t: pa.DataType) -> bool:
    """Arrow types the model writes literals for."""
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_boolean(t) or pa.types.is_date32(t)
            or pa.types.is_timestamp(t) or pa.types.is_decimal(t))
