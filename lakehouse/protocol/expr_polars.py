"""Polars expressions -> the expression tree (`expr_ast`), so that a polars expression is accepted wherever
a Spark SQL string is: read filters (pruning and skipping), DELETE/UPDATE predicates and MERGE conditions
and values.

Polars serialises an expression tree to JSON (`Expr.meta.serialize(format="json")`, polars 1.x/2.x
layout); the nodes below are converted, each to the construct with polars' own meaning:

- columns (``pl.col("a")``, struct fields), literals (numbers, strings, booleans, dates, datetimes,
  decimals, binary, NULL, and NaN/infinities, which the JSON writes as null and are read back from the
  expression itself);
- comparisons (also ``eq_missing``/``ne_missing`` as ``<=>``), ``&``, ``|``, ``~``, arithmetic
  ``+ - * /`` and ``%`` (polars' remainder takes the divisor's sign; it is written so), ``+`` with a
  string literal as concatenation;
- ``is_null``, ``is_not_null``, ``is_in``, ``is_between``, ``fill_null`` (coalesce), ``abs``, negation,
  ``when/then/otherwise`` (CASE), ``cast`` (CAST; ``strict=False`` is TRY_CAST);
- ``str.to_uppercase/to_lowercase/starts_with/ends_with/contains/len_chars/strip_chars/slice/
  replace_all(literal=True)``, ``dt.year/month/day/hour/minute/second``.

Two differences remain, where the converted expression has the SQL meaning: a division by zero is the
SQL one (polars gives an infinity or NaN), and ``+`` of two string columns is arithmetic, refused by the type
checks (with a string literal it is concatenation, as in polars). Anything else raises
`InvalidArgumentError` naming the polars construct. Read filters then fall back to letting polars filter
the rows (no skipping); DML positions refuse, since they need the tree.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeGuard

import orjson
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr_ast import (
    And, Arith, ArithOp, Case, Cast, Cmp, CmpOp, Col, Expr, Func, In, IsNull, Lit, Not, Or,
)
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType

if TYPE_CHECKING:
    import polars

_CMP: dict[str, CmpOp] = {"Eq": "=", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">=",
                          "EqValidity": "<=>"}
_ARITH: dict[str, ArithOp] = {"Plus": "+", "Minus": "-", "Multiply": "*", "TrueDivide": "/"}
_UNITS = {"Nanoseconds": 1_000_000_000, "Microseconds": 1_000_000, "Milliseconds": 1_000}
_TYPES = {"Int8": "byte", "Int16": "short", "Int32": "integer", "Int64": "long", "Float32": "float",
          "Float64": "double", "String": "string", "Boolean": "boolean", "Date": "date", "Binary": "binary"}
_STRINGS = {"Uppercase": "upper", "Lowercase": "lower", "StartsWith": "startswith", "EndsWith": "endswith",
            "LenChars": "length"}
_TEMPORAL = {"Year": "year", "Month": "month", "Day": "day", "Hour": "hour", "Minute": "minute", "Second": "second"}
SUPPORTED = ("comparisons, &, |, ~, + - * / %, is_null/is_not_null, is_in, is_between, fill_null, abs, "
             "when/then/otherwise, cast, str.to_uppercase/to_lowercase/starts_with/ends_with/contains/len_chars/"
             "strip_chars/slice/replace_all(literal=True), dt.year/month/day/hour/minute/second")


def is_polars_expr(value: Any) -> TypeGuard[polars.Expr]:
    """Whether ``value`` is a polars expression (checked without importing polars)."""
    return type(value).__module__.split(".")[0] == "polars" and type(value).__name__ == "Expr"


def from_polars(expr: Any) -> Expr:
    """Convert a polars expression to the tree; `InvalidArgumentError` naming the first unsupported
    construct."""
    try:
        tree = orjson.loads(expr.meta.serialize(format="json"))
    except Exception as e:  # noqa: BLE001 - any failure to serialise means: not convertible
        raise InvalidArgumentError(f"cannot read polars expression {expr}: {str(e).splitlines()[0]}") from None
    return _Converter(expr).node(tree)


class _Unsupported(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class _Converter:
    def __init__(self, expr: Any):
        self.expr = expr
        self._non_finite: list[float] | None = None

    def node(self, tree: Any) -> Expr:
        try:
            try:
                return self._node(tree)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                # A layout this module does not know (another polars version): unsupported, never a crash.
                raise _Unsupported(f"a node of a layout lakehouse does not know ({_short(tree)})") from None
        except _Unsupported as e:
            raise InvalidArgumentError(
                f"cannot convert polars expression {self.expr}: {e.what} is not supported\n"
                f"Help: write it as a Spark SQL string; polars expressions may use {SUPPORTED}") from None

    # -- nodes ---------------------------------------------------------------------------------------
    def _node(self, node: Any) -> Expr:
        if not isinstance(node, dict) or len(node) != 1:
            raise _Unsupported(f"the node {_short(node)}")
        kind, body = next(iter(node.items()))
        if kind == "Column":
            return Col((body,))
        if kind == "Literal":
            return Lit(self._literal(body))
        if kind == "BinaryExpr":
            return self._binary(body)
        if kind == "Function":
            return self._function(body)
        if kind == "Ternary":
            cond, then, other = (self._node(body[k]) for k in ("predicate", "truthy", "falsy"))
            return Case(((cond, then),), other)
        if kind == "Cast":
            to = _data_type(body["dtype"])
            return Cast(self._node(body["expr"]), to, safe=body.get("options") != "Strict")
        if kind == "Agg" and isinstance(body, dict) and body:
            raise _Unsupported(f"the aggregation {_snake(next(iter(body)))}")
        if kind == "AnonymousFunction":
            raise _Unsupported("a Python function (map_elements/map_batches)")
        raise _Unsupported(f"the node {kind}")

    def _binary(self, body: dict) -> Expr:
        op = body["op"]
        left, right = self._node(body["left"]), self._node(body["right"])
        if op in ("And", "LogicalAnd"):
            return And((left, right))
        if op in ("Or", "LogicalOr"):
            return Or((left, right))
        if op in _CMP:
            return Cmp(_CMP[op], left, right)
        if op == "NotEqValidity":
            return Not(Cmp("<=>", left, right))
        if op == "Plus" and any(isinstance(x, Lit) and isinstance(x.value, str) for x in (left, right)):
            return Func("concat", (left, right))  # polars' + of strings concatenates (NULL stays NULL)
        if op in _ARITH:
            return Arith(_ARITH[op], left, right)
        if op == "Modulus":
            # polars' remainder has the divisor's sign (Python's), Spark's `%` the dividend's:
            # ((a % b) + b) % b is polars' value in Spark's arithmetic.
            return Arith("%", Arith("+", Arith("%", left, right), right), right)
        raise _Unsupported(f"the operator {op}" + (" (floor division: `div` or floor(a / b) in SQL)"
                                                    if op == "FloorDivide" else ""))

    def _function(self, body: dict) -> Expr:
        fn, raw_args = body["function"], body["input"]
        if isinstance(fn, str):
            name, param = fn, None
        elif isinstance(fn, dict) and len(fn) == 1:
            name, param = next(iter(fn.items()))
        else:
            raise _Unsupported(f"the function {_short(fn)}")
        if name == "StructExpr" and isinstance(param, dict) and "FieldByName" in param:
            inner = self._node(raw_args[0])
            if isinstance(inner, Col):
                return Col(inner.path + (param["FieldByName"],))
            raise _Unsupported("struct.field on a computed value")
        if name == "Boolean" and (param == "IsIn" or isinstance(param, dict) and "IsIn" in param):
            options = param["IsIn"] if isinstance(param, dict) and isinstance(param["IsIn"], dict) else {}
            return self._is_in(raw_args, bool(options.get("nulls_equal", False)))
        args = [self._node(a) for a in raw_args]
        if name == "Boolean":
            return self._boolean(param, args)
        if name == "Abs":
            return Func("abs", tuple(args))
        if name == "Negate":
            return Func("negative", tuple(args))
        if name == "FillNull":
            return Func("coalesce", tuple(args))
        if name == "StringExpr":
            return self._string(param, args)
        if name == "TemporalExpr" and isinstance(param, str) and param in _TEMPORAL:
            return Func(_TEMPORAL[param], tuple(args))
        detail = f".{_snake(param)}" if isinstance(param, str) else ""
        raise _Unsupported(f"the function {_snake(name)}{detail}")

    def _boolean(self, param: Any, args: list[Expr]) -> Expr:
        if param == "Not":
            return Not(args[0])
        if param == "IsNull":
            return IsNull(args[0])
        if param == "IsNotNull":
            return IsNull(args[0], negated=True)
        if isinstance(param, dict) and "IsBetween" in param:
            item, lo, hi = args
            closed = param["IsBetween"].get("closed", "Both")
            lower = Cmp(">=" if closed in ("Both", "Left") else ">", item, lo)
            upper = Cmp("<=" if closed in ("Both", "Right") else "<", item, hi)
            return And((lower, upper))
        name = next(iter(param)) if isinstance(param, dict) else param
        raise _Unsupported(f"the function {_snake(str(name))}")

    def _is_in(self, raw_args: list, nulls_equal: bool) -> Expr:
        item = self._node(raw_args[0])
        values = self._list_literal(raw_args[1])
        present = tuple(Lit(v) for v in values if v is not None)
        if nulls_equal:
            # A null item matches a null in the list and nothing else: never NULL.
            found = In(item, present) if present else Lit(False)
            not_null = And((IsNull(item, negated=True), found)) if present else Lit(False)
            return Or((IsNull(item), not_null)) if len(present) < len(values) else \
                Case(((IsNull(item), Lit(False)),), found) if present else Lit(False)
        # polars ignores a null in the list (is_in is false, not NULL, for the other values); a null item
        # is NULL, also against an empty list.
        if not present:
            return Case(((IsNull(item), Lit(None)),), Lit(False))
        return In(item, present)

    def _string(self, param: Any, args: list[Expr]) -> Expr:
        if isinstance(param, str) and param in _STRINGS:
            return Func(_STRINGS[param], tuple(args))
        if isinstance(param, dict) and "Contains" in param:
            return Func("contains" if param["Contains"].get("literal") else "rlike", tuple(args))
        if param == "StripChars" and len(args) == 2 and args[1] == Lit(None):
            return Func("trim", (args[0],))
        if param == "Slice" and len(args) == 3 and isinstance(args[1], Lit) and isinstance(args[1].value, int):
            offset = args[1].value
            start = Lit(offset + 1 if offset >= 0 else offset)  # polars counts from 0, SQL from 1
            if args[2] == Lit(None):
                return Func("substring", (args[0], start))
            return Func("substring", (args[0], start, args[2]))
        if isinstance(param, dict) and "Replace" in param and param["Replace"].get("literal") \
                and param["Replace"].get("n") == -1:
            return Func("replace", tuple(args))
        name = next(iter(param)) if isinstance(param, dict) else param
        raise _Unsupported(f"the function str.{_snake(str(name))}" + (" (only literal=True, all occurrences)"
                                                                       if name == "Replace" else ""))

    # -- literals ------------------------------------------------------------------------------------
    def _literal(self, body: Any) -> Any:
        # polars >= 1.2x wraps literals as {"Dyn": {...}} (Python values of no fixed type) or
        # {"Scalar": {...}}; older 1.x releases wrote the typed value directly: all three are read.
        if body == "Null":  # polars 1.x
            return None
        inner = body.get("Dyn") or body.get("Scalar") or body if isinstance(body, dict) else None
        if not isinstance(inner, dict) or len(inner) != 1:
            raise _Unsupported(f"the literal {_short(body)}")
        (kind, value), = inner.items()
        if kind in ("Float", "Float32", "Float64"):
            return self._non_finite_value() if value is None else float(value)
        if kind in ("Int", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "Boolean", "String",
                    "Str", "Utf8"):
            return value
        if kind == "Null":
            return None
        if kind == "Date":
            return date(1970, 1, 1) + timedelta(days=value)
        if kind in ("Datetime", "DateTime") and isinstance(value, list) and len(value) == 3 and value[1] in _UNITS:
            ticks, unit, tz = value
            micros = ticks * 1_000_000 // _UNITS[unit]
            dt = datetime(1970, 1, 1) + timedelta(microseconds=micros)
            # polars keeps an aware datetime as UTC ticks whatever its zone: the instant is exact.
            return dt if tz is None else dt.replace(tzinfo=timezone.utc)
        if kind == "Decimal" and isinstance(value, list) and len(value) in (2, 3):
            unscaled, scale = value[0], value[-1]  # [unscaled, precision, scale]; polars 1.x: [unscaled, scale]
            return Decimal(unscaled).scaleb(-scale)
        if kind == "Binary":
            return bytes(value)
        raise _Unsupported(f"the literal {_short(body)}")

    def _non_finite_value(self) -> float:
        """NaN or an infinity: polars' JSON writes each as null, so the values are read from the expression's
        literal leaves; one kind (all NaN, say) is unambiguous, a mix cannot be placed."""
        if self._non_finite is None:
            self._non_finite = _non_finite_literals(self.expr)
        kinds = {("nan" if math.isnan(v) else v) for v in self._non_finite}
        if len(kinds) != 1:
            raise _Unsupported("NaN and infinite literals together (polars serialises both as null)")
        value = self._non_finite[0]
        return value

    def _list_literal(self, node: Any) -> list[Any]:
        try:
            lit = node["Literal"]
            raw = lit["Series"] if "Series" in lit else lit["Scalar"].get("List") or lit["Scalar"]["Series"]
            if isinstance(raw, dict) and isinstance(raw.get("values"), list):
                return raw["values"]  # polars 1.x writes a Series literal as JSON values
            values = pa.ipc.open_stream(bytes(raw)).read_all().column(0).to_pylist()
            return values[0] if values and isinstance(values[0], list) else values
        except (KeyError, TypeError, AttributeError, pa.ArrowException):
            raise _Unsupported("is_in with a non-literal list") from None


def _non_finite_literals(expr: Any) -> list[float]:
    import polars as pl

    out: list[float] = []
    stack = [expr]
    while stack:
        e = stack.pop()
        inputs = e.meta.pop()
        if inputs:
            stack.extend(inputs)
        elif e.meta.is_literal():
            value = pl.select(e).to_series()
            if value.dtype.is_float() and len(value) == 1 and value[0] is not None and not math.isfinite(value[0]):
                out.append(float(value[0]))
    return out


def _data_type(node: Any) -> DataType:
    # {"Literal": <dtype>} (polars 2.x) or the dtype itself (polars 1.x)
    dtype = node.get("Literal", node) if isinstance(node, dict) else node
    if isinstance(dtype, str) and dtype in _TYPES:
        return PrimitiveType(_TYPES[dtype])
    if isinstance(dtype, dict) and len(dtype) == 1:
        (kind, value), = dtype.items()
        if kind == "Decimal" and value[0] is not None:
            return DecimalType(value[0], value[1])
        if kind == "Datetime":
            tz = value[1]
            if tz is None:
                return PrimitiveType("timestamp_ntz")
            if (tz.get("inner") if isinstance(tz, dict) else tz) in ("UTC", "Etc/UTC"):
                return PrimitiveType("timestamp")
    raise _Unsupported(f"a cast to {_short(dtype if dtype is not None else node)}")


def _short(node: Any) -> str:
    text = orjson.dumps(node).decode() if not isinstance(node, str) else node
    return text if len(text) <= 60 else text[:57] + "..."


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
