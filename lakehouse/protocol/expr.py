"""One expression language for every operation, Spark SQL: the entry points (parse, fold constants,
evaluate) and the tree transformations the planner uses (negation normal form, partition restriction).

The parts: `expr_ast` (the tree), `expr_sql` (Spark SQL text to the tree), `expr_types` (static types
and checks), `functions` (the function registry), `expr_arrow` (the tree as Arrow compute expressions).

SQL strings are parsed by sqlglot (double-quoted or back-quoted identifiers) and converted to the tree;
anything outside the supported subset raises `InvalidArgumentError` naming the construct. Evaluation
follows SQL's three-valued logic (a row is selected only where the predicate is TRUE) and Spark's
floating-point rules: NaN equals NaN and sorts above every other value, and -0.0 equals 0.0.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

import pyarrow as pa

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import expr_sql
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_plans import project
from lakehouse.protocol.expr_arrow import coerce_literal, to_arrow
from lakehouse.protocol.expr_ast import (
    EXPR_TYPES,
    FALSE,
    NULL,
    TRUE,
    And,
    Arith,
    Case,
    Cast,
    Cmp,
    CmpOp,
    Col,
    Expr,
    Func,
    In,
    IsNull,
    Lit,
    Not,
    Or,
    children,
    columns,
    is_literal,
)
from lakehouse.protocol.expr_dnf import from_dnf, is_dnf
from lakehouse.protocol.expr_polars import from_polars, is_polars_expr
from lakehouse.protocol.expr_types import check_expression
from lakehouse.protocol.partitions import parse_partition_value
from lakehouse.protocol.schema import PrimitiveType, StructType, to_arrow_type, type_name

if TYPE_CHECKING:
    import polars

__all__ = [
    "DNFTerm", "FALSE", "FilterLike", "NULL", "TRUE", "And", "Arith", "Case", "Cast", "Cmp", "CmpOp", "Col", "Expr", "Func", "In",
    "IsNull", "Lit", "Not", "Or", "check_expression", "children", "coerce_literal", "columns", "evaluate",
    "negation_normal_form", "parse_predicate", "parse_sql", "partition_table", "restrict", "simplify", "to_arrow",
]

DNFTerm = tuple[str, str, Any]
# Everything a filter or predicate may be: a Spark SQL string, a polars expression, a DNF tuple filter
# (``[(col, op, value), ...]`` AND-ed, or a list of such lists OR-ed, as pyarrow and deltalake take), or
# an already-built tree. `parse_predicate` turns each into the tree.
FilterLike = Union[str, "polars.Expr", Sequence[DNFTerm], Sequence[Sequence[DNFTerm]], Expr]

_NEGATE: dict[str, CmpOp] = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


# -- parsing -------------------------------------------------------------------------------------------
def parse_sql(text: str, *, now: datetime | None = None) -> Expr:
    """Parse a Spark SQL expression (a predicate or a value) into the tree, with constants folded;
    ``now``: the instant of `current_timestamp` / `now()` / `current_date` (default: the clock)."""
    return simplify(expr_sql.parse(text, now=now))


# -- constant folding ----------------------------------------------------------------------------------
def simplify(expr: Expr) -> Expr:
    """Fold constant sub-expressions under three-valued logic: `1 = 0` is FALSE, `NULL = 1` is NULL,
    `x AND FALSE` is FALSE, `x OR TRUE` is TRUE, nested ANDs and ORs are flattened.

    A folded predicate that is FALSE or NULL selects nothing and TRUE selects every row; operations rely
    on this instead of treating a column-free predicate as "partition-only, every file".
    """
    if isinstance(expr, (Col, Lit)):
        return expr
    if isinstance(expr, (And, Or)):
        return _fold_junction(expr)
    if isinstance(expr, Not):
        item = simplify(expr.item)
        if isinstance(item, Lit):
            return NULL if item.value is None else Lit(not item.value) if isinstance(item.value, bool) else Not(item)
        return Not(item)
    if isinstance(expr, IsNull):
        item = simplify(expr.item)
        if isinstance(item, Lit):
            return Lit((item.value is None) != expr.negated)
        return IsNull(item, expr.negated)
    if isinstance(expr, In):
        item = simplify(expr.item)
        folded_in = In(item, expr.values, expr.negated)
        if isinstance(item, Lit):
            return NULL if item.value is None else _constant(folded_in)
        return folded_in
    if isinstance(expr, Func):
        args = tuple(simplify(a) for a in expr.args)
        folded_call = Func(expr.name, args)
        if all(isinstance(a, Lit) for a in args) and expr.name not in _VARIANT_RESULTS:
            return _constant(folded_call)
        return folded_call
    if isinstance(expr, Cast):
        item = simplify(expr.item)
        if isinstance(item, Lit) and expr.to != PrimitiveType("variant"):
            return _constant(Cast(item, expr.to, expr.safe))
        return Cast(item, expr.to, expr.safe)
    if isinstance(expr, Case):
        return _fold_case(expr)
    assert isinstance(expr, (Cmp, Arith))
    left, right = simplify(expr.left), simplify(expr.right)
    folded = Cmp(expr.op, left, right) if isinstance(expr, Cmp) else Arith(expr.op, left, right)
    if expr.op != "<=>" and (left == NULL or right == NULL):
        return NULL  # a comparison or arithmetic with NULL is NULL, whatever the other side holds
    if isinstance(left, Lit) and isinstance(right, Lit):
        # NULL propagates through comparisons and arithmetic whatever the other side's type.
        if expr.op == "<=>":
            return _constant(folded)
        return NULL if left.value is None or right.value is None else _constant(folded)
    return folded


def _fold_case(expr: Case) -> Expr:
    whens: list[tuple[Expr, Expr]] = []
    for cond, value in expr.whens:
        cond, value = simplify(cond), simplify(value)
        if is_literal(cond, True):
            if not whens:
                return value
            return Case(tuple(whens), value)
        if is_literal(cond, False) or is_literal(cond, None):  # the branch never runs
            continue
        whens.append((cond, value))
    default = simplify(expr.default)
    return Case(tuple(whens), default) if whens else default


def _fold_junction(expr: And | Or) -> Expr:
    absorbing, neutral = (False, True) if isinstance(expr, And) else (True, False)
    items: list[Expr] = []
    seen: set[str] = set()  # by repr: dataclass equality would merge `x = 1` with `x = true`
    for item in (simplify(i) for i in expr.items):
        for part in item.items if type(item) is type(expr) else (item,):
            if is_literal(part, absorbing):
                return Lit(absorbing)
            if not is_literal(part, neutral) and repr(part) not in seen:
                seen.add(repr(part))
                items.append(part)
    if not items:
        return Lit(neutral)
    return items[0] if len(items) == 1 else type(expr)(tuple(items))


# Calls whose value is a variant stay unfolded: a literal has no variant type to hold the result in.
_VARIANT_RESULTS = frozenset({"variant_get", "parse_json", "try_parse_json"})

# One row for constant folding (its value is never read). Built without converting a Python object: the
# first such conversion makes pyarrow import pandas (~37 MiB), which `import lakehouse` must not do.
_ONE_ROW = pa.table({"__one__": pa.nulls(1, pa.int8())})


def _constant(expr: Expr) -> Lit:
    """The value of a column-free expression, computed by the same Arrow code that evaluates rows."""
    try:
        value = project(_ONE_ROW, to_arrow(expr, StructType(())))[0]
    except InvalidArgumentError:
        raise
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        raise InvalidArgumentError(f"cannot evaluate constant expression {_show(expr)}: {_arrow_message(e)}") from None
    return Lit(value.as_py())


def _show(expr: Expr) -> str:
    if isinstance(expr, Lit):
        return "NULL" if expr.value is None else repr(expr.value) if isinstance(expr.value, str) else str(expr.value)
    if isinstance(expr, Col):
        return ".".join(expr.path)
    if isinstance(expr, (Cmp, Arith)):
        return f"{_show(expr.left)} {expr.op} {_show(expr.right)}"
    if isinstance(expr, Func):
        name = {"negative": "-"}.get(expr.name)
        args = ", ".join(_show(a) for a in expr.args)
        return f"-({args})" if name else f"{expr.name}({args})"
    if isinstance(expr, Cast):
        return f"{'TRY_CAST' if expr.safe else 'CAST'}({_show(expr.item)} AS {type_name(expr.to)})"
    if isinstance(expr, Not):
        return f"NOT {_show(expr.item)}"
    if isinstance(expr, IsNull):
        return f"{_show(expr.item)} IS {'NOT ' if expr.negated else ''}NULL"
    return "the expression"  # users read SQL: never the tree's repr


def _arrow_message(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# -- structure -----------------------------------------------------------------------------------------
def negation_normal_form(expr: Expr, negate: bool = False) -> Expr:
    """Push NOT down to the atoms. Valid under SQL's three-valued logic, and for floating-point columns
    because comparisons follow Spark's total order (NaN largest, NaN = NaN)."""
    if isinstance(expr, Not):
        return negation_normal_form(expr.item, not negate)
    if isinstance(expr, And):
        items = tuple(negation_normal_form(i, negate) for i in expr.items)
        return Or(items) if negate else And(items)
    if isinstance(expr, Or):
        items = tuple(negation_normal_form(i, negate) for i in expr.items)
        return And(items) if negate else Or(items)
    if not negate:
        return expr
    if isinstance(expr, Cmp) and expr.op == "<=>":
        return Not(expr)  # never NULL, so NOT is its exact complement; there is no operator to flip to
    if isinstance(expr, Cmp):
        return Cmp(_NEGATE[expr.op], expr.left, expr.right)
    if isinstance(expr, IsNull):
        return IsNull(expr.item, not expr.negated)
    if isinstance(expr, In):
        return In(expr.item, expr.values, not expr.negated)
    if isinstance(expr, Lit) and (expr.value is None or isinstance(expr.value, bool)):
        return NULL if expr.value is None else Lit(not expr.value)
    return Not(expr)


def restrict(expr: Expr, allowed: set[str]) -> Expr:
    """A predicate over ``allowed`` columns only, implied by ``expr``: atoms on other columns become TRUE.

    A row (file) for which the result is not TRUE cannot satisfy ``expr``, which is what partition pruning
    and conflict detection need.
    """
    return _restrict(negation_normal_form(expr), allowed)


def _restrict(expr: Expr, allowed: set[str]) -> Expr:
    if isinstance(expr, And):
        items = tuple(i for i in (_restrict(x, allowed) for x in expr.items) if not is_literal(i, True))
        return TRUE if not items else items[0] if len(items) == 1 else And(items)
    if isinstance(expr, Or):
        items = tuple(_restrict(x, allowed) for x in expr.items)
        return TRUE if any(is_literal(i, True) for i in items) else Or(items)
    return expr if columns(expr) <= allowed else TRUE


def parse_predicate(predicate: FilterLike) -> Expr:
    """The tree of any `FilterLike` (SQL string, polars expression, DNF tuple filter or tree), constants
    folded (`simplify`). A polars expression that cannot be converted is an `InvalidArgumentError`
    naming the construct (read filters catch it and let polars filter the rows instead)."""
    if isinstance(predicate, str):
        return parse_sql(predicate)
    if isinstance(predicate, EXPR_TYPES):
        return simplify(predicate)
    if is_polars_expr(predicate):
        return simplify(from_polars(predicate))
    if is_dnf(predicate):
        return simplify(from_dnf(predicate))
    raise InvalidArgumentError(
        f"a filter or predicate must be a SQL string, a polars expression or a DNF list of (column, op, value) "
        f"tuples, got {type(predicate).__name__}")


def evaluate(table: pa.Table, expr: Expr, schema: StructType, *, what: str) -> pa.ChunkedArray:
    """The values of ``expr`` for every row of ``table``; an evaluation error (an arithmetic overflow,
    say) is an `InvalidArgumentError` naming ``what`` and the first row's input values that fail."""
    arrow = to_arrow(expr, schema)

    def run(part: pa.Table) -> pa.ChunkedArray:
        return project(part, arrow)

    try:
        return run(table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        reason = _arrow_message(e)
    # Bisect to the first failing row so the message can show the values that caused it.
    lo, hi = 0, table.num_rows
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            run(table.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            hi = mid
    names = [n for n in sorted(columns(expr)) if n in table.column_names]
    row = table.slice(lo, 1).select(names).to_pylist()[0] if names and table.num_rows else {}
    shown = ", ".join(f"{k}={v!r}" for k, v in row.items())
    raise InvalidArgumentError(f"{what}: {reason}" + (f" (row with {shown})" if shown else "")) from None


def partition_table(partition_values: list[Mapping[str, str | None]], fields: list, key: Callable[[Any], str]) -> pa.Table:
    """A typed table of partition values (one row per file) for evaluating partition predicates."""
    cols = {}
    for f in fields:
        k = key(f)
        values = [parse_partition_value(pv.get(k, pv.get(f.name)), f.type, column=f.name) for pv in partition_values]
        cols[f.name] = av.array(values, type=to_arrow_type(f.type))
    return pa.table(cols) if cols else pa.table({"__rows__": pa.nulls(len(partition_values), pa.int8())})
