"""Predicate hints of a sharing query (PROTOCOL.md "SQL Expressions for Filtering", "JSON predicates for
Filtering") as `lakehouse` predicate trees, for partition pruning and file skipping.

Hints are best effort by the protocol: a hint that does not parse, names an unknown column or uses an
unknown op is dropped (the server then returns more files, never fewer). Pure: no I/O.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Sequence

from lakehouse.errors import LakehouseError
from lakehouse.protocol.expr import parse_predicate
from lakehouse.protocol.expr_ast import And, Cmp, CmpOp, Col, Expr, IsNull, Lit, Not, Or, columns

_CMP: dict[str, CmpOp] = {"equal": "=", "lessThan": "<", "lessThanOrEqual": "<=", "greaterThan": ">", "greaterThanOrEqual": ">="}
MAX_DEPTH = 64


class HintError(ValueError):
    """A hint this server cannot use (it is then ignored)."""


def _literal(value: Any, value_type: Any) -> Any:
    if not isinstance(value, str):
        raise HintError(f"literal value must be a string, got {value!r}")
    vt = str(value_type).lower()
    if vt in ("int", "long"):
        return int(value)
    if vt in ("float", "double"):
        return float(value)
    if vt == "bool":
        if value.lower() not in ("true", "false"):
            raise HintError(f"bool literal {value!r}")
        return value.lower() == "true"
    if vt == "string":
        return value
    if vt == "date":
        return date.fromisoformat(value)
    if vt == "timestamp":
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    raise HintError(f"unknown valueType {value_type!r}")


def _convert(node: Any, depth: int) -> Expr:
    if depth > MAX_DEPTH:
        raise HintError("predicate nests too deeply")
    if not isinstance(node, dict):
        raise HintError("each predicate node must be an object")
    op = node.get("op")
    kids = node.get("children") or []
    if not isinstance(kids, list):
        raise HintError("children must be a list")
    if op == "column":
        name = node.get("name")
        if not isinstance(name, str) or not name:
            raise HintError("column op needs a name")
        return Col((name,))
    if op == "literal":
        return Lit(_literal(node.get("value"), node.get("valueType")))
    children = [_convert(k, depth + 1) for k in kids]
    if op in _CMP:
        if len(children) != 2:
            raise HintError(f"{op} needs two children")
        return Cmp(_CMP[op], children[0], children[1])
    if op == "isNull":
        if len(children) != 1:
            raise HintError("isNull needs one child")
        return IsNull(children[0])
    if op == "not":
        if len(children) != 1:
            raise HintError("not needs one child")
        return Not(children[0])
    if op in ("and", "or"):
        if len(children) < 2:
            raise HintError(f"{op} needs two or more children")
        return And(tuple(children)) if op == "and" else Or(tuple(children))
    raise HintError(f"unknown op {op!r}")


def json_hint(text: str | None, known_columns: Sequence[str]) -> Expr | None:
    """The tree of a ``jsonPredicateHints`` string, or None when absent or unusable."""
    if not text:
        return None
    try:
        expr = _convert(json.loads(text), 0)
    except (HintError, ValueError, TypeError, RecursionError):
        return None
    return expr if columns(expr) <= set(known_columns) else None


def sql_hints(hints: Sequence[Any] | None, known_columns: Sequence[str]) -> Expr | None:
    """The conjunction of the ``predicateHints`` that parse and name known columns (others dropped)."""
    usable: list[Expr] = []
    for h in hints or []:
        if not isinstance(h, str) or len(h) > 10_000:
            continue
        try:
            expr = parse_predicate(h)
        except (LakehouseError, ValueError, TypeError, RecursionError):
            continue
        if columns(expr) <= set(known_columns):
            usable.append(expr)
    if not usable:
        return None
    return usable[0] if len(usable) == 1 else And(tuple(usable))


def combine(*exprs: Expr | None) -> Expr | None:
    """AND of the given predicates (None when there is none)."""
    present = [e for e in exprs if e is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else And(tuple(present))
