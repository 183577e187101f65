"""Polars expressions -> the predicate AST of `lakehouse.protocol.expr`, for partition pruning and data
skipping.

Polars serialises an expression tree to JSON (`Expr.meta.serialize(format="json")`); the comparison,
boolean, null-test, `is_in`, `is_between` and literal nodes are converted here. Anything else raises
`InvalidArgumentError`: callers then plan without skipping and let polars itself filter the rows, so an
unconvertible expression costs speed, never correctness.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr import And, Cmp, Col, Expr, In, IsNull, Lit, Not, Or

_OPS = {"Eq": "=", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">=", "EqValidity": None}
_UNITS = {"Nanoseconds": 1_000_000_000, "Microseconds": 1_000_000, "Milliseconds": 1_000}


def from_polars(expr: Any) -> Expr:
    """Convert a polars boolean expression; `InvalidArgumentError` when it uses unsupported nodes."""
    try:
        tree = orjson.loads(expr.meta.serialize(format="json"))
    except Exception as e:  # noqa: BLE001 - any failure to serialise means: not convertible
        raise InvalidArgumentError(f"cannot read polars expression {expr}: {e}") from None
    return _node(tree)


def _unsupported(node: Any) -> InvalidArgumentError:
    text = orjson.dumps(node).decode()
    return InvalidArgumentError(f"polars expression node {text[:120]} is not supported for skipping")


def _node(node: Any) -> Expr:
    if not isinstance(node, dict) or len(node) != 1:
        raise _unsupported(node)
    kind, body = next(iter(node.items()))
    if kind == "Column":
        return Col((body,))
    if kind == "Literal":
        return Lit(_literal(body))
    if kind == "BinaryExpr":
        op = body["op"]
        left, right = _node(body["left"]), _node(body["right"])
        if op == "And" or op == "LogicalAnd":
            return And((left, right))
        if op == "Or" or op == "LogicalOr":
            return Or((left, right))
        if _OPS.get(op):
            return Cmp(_OPS[op], left, right)  # type: ignore[arg-type]
        raise _unsupported(node)
    if kind == "Function":
        return _function(body)
    raise _unsupported(node)


def _function(body: dict) -> Expr:
    fn = body["function"]
    args = body["input"]
    if isinstance(fn, dict) and "StructExpr" in fn and isinstance(fn["StructExpr"], dict) and "FieldByName" in fn["StructExpr"]:
        inner = _node(args[0])
        if isinstance(inner, Col):
            return Col(inner.path + (fn["StructExpr"]["FieldByName"],))
        raise _unsupported(body)
    boolean = fn.get("Boolean") if isinstance(fn, dict) else None
    if boolean == "Not":
        return Not(_node(args[0]))
    if boolean == "IsNull":
        return IsNull(_node(args[0]))
    if boolean == "IsNotNull":
        return IsNull(_node(args[0]), negated=True)
    if isinstance(boolean, dict) and "IsBetween" in boolean:
        item, lo, hi = (_node(a) for a in args)
        closed = boolean["IsBetween"].get("closed", "Both")
        lower = Cmp(">=" if closed in ("Both", "Left") else ">", item, lo)
        upper = Cmp("<=" if closed in ("Both", "Right") else "<", item, hi)
        return And((lower, upper))
    if isinstance(boolean, dict) and "IsIn" in boolean:
        item = _node(args[0])
        values = _list_literal(args[1])
        return In(item, tuple(Lit(v) for v in values))
    raise _unsupported(body)


def _list_literal(node: Any) -> list[Any]:
    try:
        scalar = node["Literal"]["Scalar"]
        if "List" in scalar:
            raw = bytes(scalar["List"])
            table = pa.ipc.open_stream(raw).read_all()
            col = table.column(0)
            values = col.to_pylist()
            return values[0] if values and isinstance(values[0], list) else values
        if "Series" in scalar:
            raw = bytes(scalar["Series"])
            return pa.ipc.open_stream(raw).read_all().column(0).to_pylist()
    except (KeyError, TypeError, pa.ArrowException):
        pass
    raise _unsupported(node)


def _literal(body: Any) -> Any:
    if "Dyn" in body:
        (kind, value), = body["Dyn"].items()
        if kind == "Float" and value is None:
            raise _unsupported({"Literal": body})  # polars writes NaN and infinities as JSON null
        return value
    if "Scalar" in body:
        (kind, value), = body["Scalar"].items()
        if kind in ("Float32", "Float64") and value is None:
            raise _unsupported({"Literal": body})  # NaN or an infinity, serialised as null
        if kind in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32",
                    "Float64", "Boolean", "String"):
            return value
        if kind == "Null":
            return None
        if kind == "Date":
            return date(1970, 1, 1) + timedelta(days=value)
        if kind == "Datetime":
            ticks, unit, tz = value
            micros = ticks * 1_000_000 // _UNITS[unit]
            dt = datetime(1970, 1, 1) + timedelta(microseconds=micros)
            return dt.replace(tzinfo=timezone.utc) if tz else dt
    raise _unsupported({"Literal": body})
