"""The predicate and value expression tree shared by every operation: typed, frozen nodes and the
structural helpers (columns referenced, children). Parsing, typing and evaluation live in `expr` and
`expr_types`; this module has no behaviour beyond the tree itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

CmpOp = Literal["=", "!=", "<", "<=", ">", ">="]


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
    """Arithmetic ``left op right`` (values for UPDATE SET and MERGE clauses)."""

    op: Literal["+", "-", "*", "/"]
    left: "Expr"
    right: "Expr"


Expr = Union[Col, Lit, Cmp, And, Or, Not, IsNull, In, Arith]

TRUE = Lit(True)
FALSE = Lit(False)
NULL = Lit(None)


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
