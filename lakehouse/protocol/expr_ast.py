"""The predicate and value expression tree shared by every operation: typed, frozen nodes and the
structural helpers (columns referenced, children). Parsing, typing and evaluation live in `expr` and
`expr_types`; this module has no behaviour beyond the tree itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

from lakehouse.protocol.schema import DataType

CmpOp = Literal["=", "!=", "<", "<=", ">", ">=", "<=>"]
ArithOp = Literal["+", "-", "*", "/", "%", "div"]


@dataclass(frozen=True, slots=True)
class Col:
    """A column reference; ``path`` has more than one part for nested struct fields."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The top-level column name."""
        return self.path[0]


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value (Python typed; coerced to the column's type where compared)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Cmp:
    """A comparison ``left op right``."""

    op: CmpOp
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction of two or more predicates."""

    items: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction of two or more predicates."""

    items: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Negation."""

    item: "Expr"


@dataclass(frozen=True, slots=True)
class IsNull:
    """``item IS [NOT] NULL``."""

    item: "Expr"
    negated: bool = False


@dataclass(frozen=True, slots=True)
class In:
    """``item [NOT] IN (values...)``."""

    item: "Expr"
    values: tuple[Lit, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Arith:
    """Arithmetic ``left op right``: ``/`` is division to double, ``div`` integral division, ``%`` the
    remainder with the dividend's sign (Spark)."""

    op: ArithOp
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True, slots=True)
class Func:
    """A scalar function call by its canonical lower-case name (`upper`, `date_add`, `like`...); the
    registry in `functions` says what each name takes, yields and computes."""

    name: str
    args: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Case:
    """``CASE WHEN c1 THEN v1 ... ELSE default END``; the simple form (``CASE x WHEN 1 ...``), ``IF``
    and ``NVL2`` are rewritten to it."""

    whens: tuple[tuple["Expr", "Expr"], ...]
    default: "Expr"


@dataclass(frozen=True, slots=True)
class Cast:
    """``CAST(item AS to)`` (an invalid value is an error, as in Spark's ANSI mode) or, with ``safe``,
    ``TRY_CAST`` (an invalid value is NULL)."""

    item: "Expr"
    to: DataType
    safe: bool = False


Expr = Union[Col, Lit, Cmp, And, Or, Not, IsNull, In, Arith, Func, Case, Cast]
EXPR_TYPES = (Col, Lit, Cmp, And, Or, Not, IsNull, In, Arith, Func, Case, Cast)

TRUE = Lit(True)
FALSE = Lit(False)
NULL = Lit(None)


def is_literal(expr: "Expr", value: bool | None) -> bool:
    """``expr`` is the literal TRUE, FALSE or NULL (``value``). Not ``==``: in Python ``1 == True``, so an
    integer literal would pass for a condition that SQL refuses."""
    return isinstance(expr, Lit) and expr.value is value


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``expr``."""
    if isinstance(expr, (Cmp, Arith)):
        return (expr.left, expr.right)
    if isinstance(expr, (And, Or)):
        return expr.items
    if isinstance(expr, (Not, IsNull)):
        return (expr.item,)
    if isinstance(expr, In):
        return (expr.item, *expr.values)
    if isinstance(expr, Func):
        return expr.args
    if isinstance(expr, Case):
        return (*(x for pair in expr.whens for x in pair), expr.default)
    if isinstance(expr, Cast):
        return (expr.item,)
    return ()


def columns(expr: Expr) -> set[str]:
    """Top-level column names the expression refers to (iterative: predicates may be very wide)."""
    out: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Col):
            out.add(e.name)
        else:
            stack.extend(children(e))
    return out
