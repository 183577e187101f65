"""MERGE clauses and their compilation against the target and source schemas (pure logic, no I/O).

A clause is a typed record; conditions and values are Spark SQL strings, polars expressions (columns named
with their alias: ``pl.col("t.amount")``, ``pl.col("s.amount")``) or trees.
`compile_merge` qualifies every column reference with its side (target or source
alias), splits the ON condition into equi-join keys plus a residual condition, and derives the
target-side pruning predicate from the source's key values. Spark's semantics: within each kind of
clause, the first whose condition holds wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr import (
    EXPR_TYPES, And, Arith, Case, Cast, Cmp, Col, Expr, FilterLike, Func, In, IsNull, Lit, Not, Or, children,
    parse_predicate, parse_sql,
)
from lakehouse.protocol.expr_polars import is_polars_expr
from lakehouse.protocol.expr_types import unknown_column_error
from lakehouse.protocol.schema import StructField, StructType

ClauseKind = Literal["matched", "not_matched", "not_matched_by_source"]
ActionKind = Literal["update", "delete", "insert"]


@dataclass(frozen=True)
class Clause:
    """One WHEN clause: its kind, action, optional condition and assignments ({} with ``all_columns``)."""

    kind: ClauseKind
    action: ActionKind
    condition: FilterLike | None = None
    assignments: Mapping[str, Any] = field(default_factory=dict)
    all_columns: bool = False
    except_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledClause:
    """A clause with parsed, side-qualified expressions."""

    kind: ClauseKind
    action: ActionKind
    condition: Expr | None
    assignments: Mapping[str, Expr | Any]


@dataclass(frozen=True)
class MergePlan:
    """Everything execution needs: join keys, residual condition, compiled clauses."""

    target_alias: str
    source_alias: str
    keys: tuple[tuple[str, str], ...]  # (target column, source column) equi-join pairs
    residual: Expr | None
    clauses: tuple[CompiledClause, ...]

    def of(self, kind: ClauseKind) -> list[CompiledClause]:
        """The clauses of one kind, in order."""
        return [c for c in self.clauses if c.kind == kind]


def _qualify(expr: Expr, t: str, s: str, target: StructType, source: StructType, *, default: str | None = None) -> Expr:
    """Prefix every column with its side's alias; unqualified names must be unambiguous."""

    def q(e: Expr) -> Expr:
        if isinstance(e, Col):
            if e.path[0] in (t, s) and len(e.path) > 1:
                return e
            in_t, in_s = e.path[0] in target.names, e.path[0] in source.names
            if in_t and in_s:
                if default is None:
                    raise InvalidArgumentError(
                        f"column '{'.'.join(e.path)}' is ambiguous: qualify it as {t}.{e.path[0]} or {s}.{e.path[0]}"
                    )
                return Col((default,) + e.path)
            if in_t or in_s:
                return Col(((t if in_t else s),) + e.path)
            raise unknown_column_error(".".join(e.path), _merge_names(t, s, target, source), where=" in MERGE")
        return _rebuild(e, q)

    return q(expr)


def _rebuild(e: Expr, f: Any) -> Expr:
    """``e`` with ``f`` applied to each direct sub-expression (every node kind, functions included)."""
    if isinstance(e, Cmp):
        return Cmp(e.op, f(e.left), f(e.right))
    if isinstance(e, Arith):
        return Arith(e.op, f(e.left), f(e.right))
    if isinstance(e, And):
        return And(tuple(f(i) for i in e.items))
    if isinstance(e, Or):
        return Or(tuple(f(i) for i in e.items))
    if isinstance(e, Not):
        return Not(f(e.item))
    if isinstance(e, IsNull):
        return IsNull(f(e.item), e.negated)
    if isinstance(e, In):
        return In(f(e.item), e.values, e.negated)
    if isinstance(e, Func):
        return Func(e.name, tuple(f(a) for a in e.args))
    if isinstance(e, Case):
        return Case(tuple((f(c), f(v)) for c, v in e.whens), f(e.default))
    if isinstance(e, Cast):
        return Cast(f(e.item), e.to, e.safe)
    return e


def _merge_names(t: str, s: str, target: StructType, source: StructType) -> list[str]:
    return [f"{t}.{n}" for n in target.names] + [f"{s}.{n}" for n in source.names]


def _split_aliases(e: Expr, t: str, s: str) -> Expr:
    """A polars column named "t.amount" is the alias and the column, as SQL's t.amount parses."""
    if isinstance(e, Col):
        head, dot, rest = e.path[0].partition(".")
        if dot and head in (t, s) and rest:
            return Col((head, *rest.split("."), *e.path[1:]))
        return e
    return _rebuild(e, lambda c: _split_aliases(c, t, s))


def _parse(value: Any, t: str, s: str, *, what: str) -> Expr:
    """A condition or value as the tree: SQL text, a polars expression (columns named with their alias) or
    a tree."""
    if isinstance(value, str):
        return parse_sql(value)
    if is_polars_expr(value) or isinstance(value, EXPR_TYPES):
        return _split_aliases(parse_predicate(value), t, s)
    raise InvalidArgumentError(f"MERGE {what} must be a SQL string or a polars expression, got {type(value).__name__}")


def _check_known(expr: Expr, t: str, s: str, target: StructType, source: StructType) -> None:
    def walk(e: Expr) -> None:
        if isinstance(e, Col):
            side = target if e.path[0] == t else source
            if e.path[1] not in side.names:
                raise unknown_column_error(".".join(e.path), _merge_names(t, s, target, source), where=" in MERGE")
        for child in children(e):
            walk(child)

    walk(expr)


def _conjuncts(e: Expr) -> list[Expr]:
    if isinstance(e, And):
        return [c for i in e.items for c in _conjuncts(i)]
    return [e]


def _value(v: Any, t: str, s: str, target: StructType, source: StructType) -> Expr | Any:
    if isinstance(v, str) or is_polars_expr(v):
        expr = _qualify(_parse(v, t, s, what="value"), t, s, target, source, default=s)
        _check_known(expr, t, s, target, source)
        return expr
    return Lit(v)


def compile_merge(on: FilterLike, clauses: Sequence[Clause], *, target: StructType, source: StructType,
                  target_alias: str, source_alias: str) -> MergePlan:
    """Parse and check the ON condition and the clauses."""
    t, s = target_alias, source_alias
    if t == s:
        raise InvalidArgumentError("source_alias and target_alias must differ")
    if not clauses:
        raise InvalidArgumentError("MERGE needs at least one WHEN clause")
    cond = _qualify(_parse(on, t, s, what="ON condition"), t, s, target, source)
    _check_known(cond, t, s, target, source)
    keys, rest = [], []
    for c in _conjuncts(cond):
        if isinstance(c, Cmp) and c.op == "=" and isinstance(c.left, Col) and isinstance(c.right, Col) \
                and {c.left.path[0], c.right.path[0]} == {t, s} and len(c.left.path) == len(c.right.path) == 2:
            tc, sc = (c.left, c.right) if c.left.path[0] == t else (c.right, c.left)
            keys.append((tc.path[1], sc.path[1]))
        else:
            rest.append(c)
    residual = None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest))
    compiled = []
    for clause in clauses:
        condition = None
        if clause.condition is not None:
            condition = _qualify(_parse(clause.condition, t, s, what="clause condition"), t, s, target, source,
                                 default=t if clause.kind == "not_matched_by_source" else s)
            _check_known(condition, t, s, target, source)
        if clause.action == "delete":
            assignments: Mapping[str, Any] = {}
        elif clause.all_columns:
            unknown = [c for c in clause.except_columns if c not in target.names]
            if unknown:
                raise InvalidArgumentError(f"MERGE except_cols names unknown target column(s) {unknown}")
            assignments = {f.name: Col((s, f.name)) for f in target.fields
                           if f.name in source.names and f.name not in clause.except_columns}
        else:
            unknown = [k for k in clause.assignments if k not in target.names]
            if unknown:
                raise InvalidArgumentError(f"MERGE assigns unknown target column(s) {unknown}")
            assignments = {k: _value(v, t, s, target, source) for k, v in clause.assignments.items()}
        if clause.kind == "not_matched_by_source":
            for v in assignments.values():
                if isinstance(v, EXPR_TYPES) and any(p[0] == s for p in _paths(v)):
                    raise InvalidArgumentError("WHEN NOT MATCHED BY SOURCE clauses cannot refer to source columns")
        if clause.kind == "not_matched":
            for v in assignments.values():
                if isinstance(v, EXPR_TYPES) and any(p[0] == t for p in _paths(v)):
                    raise InvalidArgumentError("WHEN NOT MATCHED clauses cannot refer to target columns")
        compiled.append(CompiledClause(clause.kind, clause.action, condition, assignments))
    return MergePlan(t, s, tuple(keys), residual, tuple(compiled))


def _paths(e: Expr) -> list[tuple[str, ...]]:
    if isinstance(e, Col):
        return [e.path]
    return [p for c in children(e) for p in _paths(c)]


def joined_schema(plan: MergePlan, target: StructType, source: StructType) -> StructType:
    """The schema expressions are evaluated against: struct columns named by the two aliases."""
    return StructType((StructField(plan.target_alias, target), StructField(plan.source_alias, source)))


def target_columns_read(plan: MergePlan, target: StructType) -> set[str]:
    """The target columns a MERGE needs from a target file to decide and compute its changes: the join
    keys, the columns the ON residual and the clauses' conditions and values name with the target alias,
    and for each update clause the columns it leaves unassigned (they keep their value). Copied rows and
    change data need every column; the caller decides when this subset is enough."""
    t = plan.target_alias
    names = {tc for tc, _ in plan.keys}
    exprs = [plan.residual] + [c.condition for c in plan.clauses] + [v for c in plan.clauses for v in c.assignments.values()]
    for e in exprs:
        if isinstance(e, EXPR_TYPES):
            names |= {p[1] for p in _paths(e) if p[0] == t and len(p) > 1}
    for c in plan.clauses:
        if c.kind != "not_matched" and c.action == "update":
            names |= {f.name for f in target.fields if f.name not in c.assignments}
    return names
