"""Partition filters derived from generation expressions (Spark's "partition filters from generation
expressions", `OptimizablePartitionExpression`): a filter on a source column implies a filter on a
generated partition column when the generation expression is monotone in that column.

Handled expressions of one source column ``c``: ``CAST(c AS DATE)``, ``year(c)``, ``date_trunc(unit, c)``
and ``c`` itself. Each is non-decreasing in ``c``, so for a conjunct ``c op v`` of the filter:
``c < v`` / ``c <= v`` imply ``g <= f(v)``; ``c > v`` / ``c >= v`` imply ``g >= f(v)``; ``c = v`` implies
``g = f(v)``. The derived conjuncts are added to the filter used for *pruning only*: they hold for every
row whose generated value was computed by its expression, which the generatedColumns writer requirements
guarantee, and rows are still filtered by the original predicate.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

import pyarrow as pa

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr import And, Cast, Cmp, CmpOp, Col, Expr, Func, Lit, evaluate, parse_sql
from lakehouse.protocol.expr_arrow import coerce_literal
from lakehouse.protocol.generated import GENERATION_KEY
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType, to_arrow_type

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}
_IMPLIED: dict[str, CmpOp] = {"<": "<=", "<=": "<=", ">": ">=", ">=": ">=", "=": "="}


def _source(expr: Expr) -> str | None:
    """The source column of a monotone generation expression, or None when it is not one we handle
    (the parser writes ``year(ts)`` as ``year(to_date(ts))``; both steps are non-decreasing)."""
    if isinstance(expr, Col) and len(expr.path) == 1:
        return expr.path[0]
    if isinstance(expr, Cast) and expr.to == PrimitiveType("date") and not expr.safe:
        return _source(expr.item)
    if isinstance(expr, Func) and expr.name in ("year", "to_date") and len(expr.args) == 1:
        return _source(expr.args[0])
    if isinstance(expr, Func) and expr.name == "date_trunc" and len(expr.args) == 2 and isinstance(expr.args[0], Lit):
        return _source(expr.args[1])
    return None


def _conjuncts(predicate: Expr) -> list[Expr]:
    if isinstance(predicate, And):
        return [c for item in predicate.items for c in _conjuncts(item)]
    return [predicate]


def _value_of(expr: Expr, source: StructField, value: Any, target: StructField) -> Any:
    """``expr`` evaluated with ``source`` = ``value``, as ``target``'s type (None when it cannot be)."""
    try:
        typed = coerce_literal(value, source.type, column=source.name)
        table = pa.table({source.name: av.array([typed], to_arrow_type(source.type))})
        one = StructType((source,))
        out = evaluate(table, expr, one, what="generation expression").cast(to_arrow_type(target.type))
        return out[0].as_py()
    except Exception:  # any literal we cannot evaluate simply derives nothing (pruning is optional)
        return None


def derived_partition_filter(predicate: Expr, schema: StructType, partition_columns: Sequence[str]) -> Expr:
    """``predicate`` with the partition filters its source-column conjuncts imply added (unchanged when
    there are none)."""
    generated: list[tuple[StructField, Expr, str]] = []
    for name in partition_columns:
        try:
            f = schema.field(name)
        except KeyError:
            continue
        sql = f.metadata.get(GENERATION_KEY)
        if not sql:
            continue
        try:
            expr = parse_sql(str(sql), now=_EPOCH)
        except Exception:  # an expression we cannot parse derives nothing
            continue
        src = _source(expr)
        if src is not None and src in schema.names and src != name:
            generated.append((f, expr, src))
    if not generated:
        return predicate
    extra: list[Expr] = []
    for atom in _conjuncts(predicate):
        if not isinstance(atom, Cmp) or atom.op not in _FLIP:
            continue
        if isinstance(atom.left, Col) and isinstance(atom.right, Lit):
            col, op, lit = atom.left, str(atom.op), atom.right
        elif isinstance(atom.right, Col) and isinstance(atom.left, Lit):
            col, op, lit = atom.right, _FLIP[atom.op], atom.left
        else:
            continue
        if lit.value is None or len(col.path) != 1:
            continue
        for target, expr, src in generated:
            if col.path[0] != src:
                continue
            value = _value_of(expr, schema.field(src), lit.value, target)
            if value is not None:
                extra.append(Cmp(_IMPLIED[op], Col((target.name,)), Lit(value)))
    return And(tuple(_conjuncts(predicate) + extra)) if extra else predicate


# A fixed instant for expressions with per-query constants; those are not monotone in a column anyway.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
