"""One small predicate language for every operation: a typed AST, SQL parsing (via sqlglot), literal
coercion to column types, conversion to Arrow compute expressions, and partition-only restriction.

SQL strings are parsed by sqlglot (double-quoted or back-quoted identifiers) and converted to this AST;
anything outside the supported subset raises `InvalidArgumentError` naming the construct. Evaluation
follows SQL's three-valued logic: a row is selected only where the predicate is TRUE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Literal, Mapping, Union

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.partitions import parse_partition_value
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructType, to_arrow_type

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
_FLIP: dict[str, CmpOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE: dict[str, CmpOp] = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


# -- parsing -------------------------------------------------------------------------------------------
def parse_sql(text: str) -> Expr:
    """Parse a SQL boolean expression into the AST."""
    import sqlglot
    from sqlglot.errors import ParseError

    if not isinstance(text, str) or not text.strip():
        raise InvalidArgumentError("predicate must be a non-empty SQL string")
    try:
        tree = sqlglot.parse_one(text)
    except ParseError:
        try:
            tree = sqlglot.parse_one(text, read="spark")  # back-quoted identifiers
        except ParseError as e:
            raise InvalidArgumentError(f"cannot parse predicate {text!r}: {e}") from None
    return _from_sqlglot(tree, text)


def _from_sqlglot(node: Any, text: str) -> Expr:
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _from_sqlglot(node.this, text)
    if isinstance(node, exp.And):
        return And((_from_sqlglot(node.this, text), _from_sqlglot(node.expression, text)))
    if isinstance(node, exp.Or):
        return Or((_from_sqlglot(node.this, text), _from_sqlglot(node.expression, text)))
    if isinstance(node, exp.Not):
        return Not(_from_sqlglot(node.this, text))
    ops: dict[type, CmpOp] = {exp.EQ: "=", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
    for cls, op in ops.items():
        if isinstance(node, cls):
            return Cmp(op, _from_sqlglot(node.this, text), _from_sqlglot(node.expression, text))
    if isinstance(node, exp.Between):
        item = _from_sqlglot(node.this, text)
        return And((Cmp(">=", item, _from_sqlglot(node.args["low"], text)), Cmp("<=", item, _from_sqlglot(node.args["high"], text))))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return IsNull(_from_sqlglot(node.this, text))
    if isinstance(node, exp.In):
        values = tuple(_from_sqlglot(v, text) for v in node.expressions)
        if not values or not all(isinstance(v, Lit) for v in values):
            raise InvalidArgumentError(f"IN lists must hold literals only in predicate {text!r}")
        return In(_from_sqlglot(node.this, text), values)  # type: ignore[arg-type]
    if isinstance(node, exp.Column):
        parts = [p.name for p in reversed(node.parts)] if hasattr(node, "parts") else [node.name]
        return Col(tuple(reversed(parts)))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return Lit(node.this)
        return Lit(_number(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return Lit(-_number(node.this.this))
    arith = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
    for cls, sym in arith.items():
        if isinstance(node, cls):
            return Arith(sym, _from_sqlglot(node.this, text), _from_sqlglot(node.expression, text))  # type: ignore[arg-type]
    if isinstance(node, exp.Neg):
        return Arith("-", Lit(0), _from_sqlglot(node.this, text))
    if isinstance(node, exp.Boolean):
        return Lit(bool(node.this))
    if isinstance(node, exp.Null):
        return Lit(None)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        kind = node.to.this.name.upper() if hasattr(node.to.this, "name") else str(node.to.this).upper()
        raw = node.this.this
        try:
            if "DATE" == kind or kind.endswith(".DATE"):
                return Lit(date.fromisoformat(raw))
            if "TIMESTAMP" in kind:
                return Lit(_parse_ts(raw, ntz="NTZ" in kind))
        except ValueError:
            raise InvalidArgumentError(f"literal {raw!r} is not a valid {kind} in predicate {text!r}") from None
    raise InvalidArgumentError(
        f"unsupported construct {type(node).__name__} ({node.sql()!r}) in predicate {text!r}; supported: "
        "comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL, column references and literals"
    )


def _number(text: str) -> int | float | Decimal:
    try:
        return int(text)
    except ValueError:
        return float(text) if ("e" in text.lower()) else Decimal(text)


def _parse_ts(raw: str, *, ntz: bool) -> datetime:
    dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    if ntz:
        return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


# -- structure -----------------------------------------------------------------------------------------
def columns(expr: Expr) -> set[str]:
    """Top-level column names the predicate refers to."""
    if isinstance(expr, Col):
        return {expr.name}
    if isinstance(expr, Lit):
        return set()
    if isinstance(expr, (Cmp, Arith)):
        return columns(expr.left) | columns(expr.right)
    if isinstance(expr, (And, Or)):
        return set().union(*(columns(i) for i in expr.items))
    if isinstance(expr, (Not, IsNull, In)):
        return columns(expr.item)
    raise TypeError(type(expr))


def negation_normal_form(expr: Expr, negate: bool = False) -> Expr:
    """Push NOT down to the atoms (valid under SQL's three-valued logic)."""
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
    if isinstance(expr, Cmp):
        return Cmp(_NEGATE[expr.op], expr.left, expr.right)
    if isinstance(expr, IsNull):
        return IsNull(expr.item, not expr.negated)
    if isinstance(expr, In):
        return In(expr.item, expr.values, not expr.negated)
    if isinstance(expr, Lit) and isinstance(expr.value, bool):
        return Lit(not expr.value)
    return Not(expr)


def restrict(expr: Expr, allowed: set[str]) -> Expr:
    """A predicate over ``allowed`` columns only, implied by ``expr``: atoms on other columns become TRUE.

    A row (file) for which the result is not TRUE cannot satisfy ``expr``, which is what partition pruning
    and conflict detection need.
    """
    return _restrict(negation_normal_form(expr), allowed)


def _restrict(expr: Expr, allowed: set[str]) -> Expr:
    if isinstance(expr, And):
        items = tuple(i for i in (_restrict(x, allowed) for x in expr.items) if i != TRUE)
        return TRUE if not items else items[0] if len(items) == 1 else And(items)
    if isinstance(expr, Or):
        items = tuple(_restrict(x, allowed) for x in expr.items)
        return TRUE if TRUE in items else Or(items)
    return expr if columns(expr) <= allowed else TRUE


# -- typing and evaluation -----------------------------------------------------------------------------
def _field_type(schema: StructType, path: tuple[str, ...]) -> DataType:
    dtype: DataType = schema
    for part in path:
        if not isinstance(dtype, StructType):
            raise InvalidArgumentError(f"column {'.'.join(path)} is not a struct field path")
        try:
            dtype = dtype.field(part).type
        except KeyError:
            names = dtype.names
            raise InvalidArgumentError(f"unknown column '{'.'.join(path)}' in predicate; columns are {names}") from None
    return dtype


def coerce_literal(value: Any, dtype: DataType, *, column: str = "") -> Any:
    """Convert a literal to the Python value of ``dtype`` (e.g. '2024-01-01' for a date column)."""
    if value is None:
        return None
    try:
        if isinstance(dtype, DecimalType):
            return Decimal(str(value))
        if not isinstance(dtype, PrimitiveType):
            raise InvalidArgumentError(f"cannot compare nested column '{column}' with a literal")
        name = dtype.name
        if name in ("long", "integer", "short", "byte"):
            if isinstance(value, bool):
                raise ValueError("boolean for a numeric column")
            if isinstance(value, (float, Decimal)) and value != int(value):
                return float(value)
            return int(value)
        if name in ("float", "double"):
            return float(value)
        if name == "string":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a string")
            return value
        if name == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(f"{value!r} is not a boolean")
        if name == "date":
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if name in ("timestamp", "timestamp_ntz"):
            if isinstance(value, datetime):
                return _parse_ts(value.isoformat(), ntz=name == "timestamp_ntz")
            if isinstance(value, date):
                return _parse_ts(value.isoformat(), ntz=name == "timestamp_ntz")
            return _parse_ts(str(value), ntz=name == "timestamp_ntz")
        if name == "binary":
            return value.encode() if isinstance(value, str) else bytes(value)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise InvalidArgumentError(f"literal {value!r} does not fit column '{column}' of type {dtype}: {e}") from None
    raise InvalidArgumentError(f"column '{column}' of type {dtype} cannot be used in a predicate")


def to_arrow(expr: Expr, schema: StructType, field: Callable[[tuple[str, ...]], pc.Expression] | None = None) -> pc.Expression:
    """An Arrow compute expression for ``expr`` over a table with the logical ``schema``.

    ``field`` maps a column path to the Arrow field reference (default: by logical name).
    """
    ref = field or (lambda path: pc.field(*path))

    def lit_for(other: Expr, lit: Lit) -> pc.Expression:
        if isinstance(other, Col):
            dtype = _field_type(schema, other.path)
            value = coerce_literal(lit.value, dtype, column=".".join(other.path))
            return pc.scalar(_scalar(value, dtype, ".".join(other.path)))
        return pc.scalar(lit.value)

    def compared(col_side: Expr, lit_side: Lit) -> tuple[pc.Expression, pc.Expression]:
        """(column, literal) expressions; an integer column against a fractional literal compares as
        float64, so that `i < 1.5` keeps `i = 1` instead of truncating the literal to 1."""
        column = conv(col_side)
        if isinstance(col_side, Col) and _fractional_for_int(lit_side.value, _field_type(schema, col_side.path)):
            # Unsafe cast: only the order matters, and large int64 values are not exact doubles.
            return column.cast(pa.float64(), safe=False), pc.scalar(float(lit_side.value))
        return column, lit_for(col_side, lit_side)

    def conv(e: Expr) -> pc.Expression:
        if isinstance(e, Col):
            _field_type(schema, e.path)
            return ref(e.path)
        if isinstance(e, Lit):
            # A bare NULL stands in a boolean position here (`NOT NULL`, `x AND NULL`).
            return pc.scalar(pa.scalar(None, pa.bool_())) if e.value is None else pc.scalar(e.value)
        if isinstance(e, Cmp):
            if isinstance(e.right, Lit) and not isinstance(e.left, Lit):
                left, right = compared(e.left, e.right)
            elif isinstance(e.left, Lit) and not isinstance(e.right, Lit):
                right, left = compared(e.right, e.left)
            else:
                left, right = conv(e.left), conv(e.right)
            return {
                "=": lambda: left == right,
                "!=": lambda: left != right,
                "<": lambda: left < right,
                "<=": lambda: left <= right,
                ">": lambda: left > right,
                ">=": lambda: left >= right,
            }[e.op]()
        if isinstance(e, Arith):
            # Literals keep their own type here: Arrow promotes (int * 2.5 is a double, as in SQL).
            left, right = conv(e.left), conv(e.right)
            if e.op == "/":  # SQL division of integers is not integer division
                return pc.divide(left.cast(pa.float64()), right.cast(pa.float64()))
            fn = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}[e.op]
            return fn(left, right)
        if isinstance(e, And):
            out = conv(e.items[0])
            for i in e.items[1:]:
                out = out & conv(i)
            return out
        if isinstance(e, Or):
            out = conv(e.items[0])
            for i in e.items[1:]:
                out = out | conv(i)
            return out
        if isinstance(e, Not):
            return ~conv(e.item)
        if isinstance(e, IsNull):
            inner = conv(e.item)
            return inner.is_valid() if e.negated else inner.is_null()
        if isinstance(e, In):
            has_null = any(v.value is None for v in e.values)
            values = [v for v in e.values if v.value is not None]
            if isinstance(e.item, Col):
                dtype = _field_type(schema, e.item.path)
                if isinstance(dtype, PrimitiveType) and dtype.name in ("float", "double") or any(
                        _fractional_for_int(v.value, dtype) for v in values):
                    # IEEE equality (-0.0 = 0.0, NaN never equal) and exact numeric comparison: IN is an
                    # OR of `=`, which Arrow's is_in is not for floats.
                    equal = Or(tuple(Cmp("=", e.item, v) for v in values)) if values else Lit(False)
                    member = conv(equal if len(values) != 1 else Cmp("=", e.item, values[0]))
                    return _three_valued_in(conv(e.item), member, has_null, e.negated)
                arr = pa.array([coerce_literal(v.value, dtype, column=e.item.name) for v in values],
                               type=to_arrow_type(dtype))
            else:
                arr = pa.array([v.value for v in values])
            item = conv(e.item)
            member = pc.if_else(item.is_null(), pc.scalar(pa.scalar(None, pa.bool_())), item.isin(arr))
            return _three_valued_in(item, member, has_null, e.negated)
        raise TypeError(type(e))

    return conv(expr)


def _scalar(value: Any, dtype: DataType, column: str) -> pa.Scalar:
    try:
        return pa.scalar(value, type=to_arrow_type(dtype))
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as e:
        raise InvalidArgumentError(f"literal {value!r} does not fit column '{column}' of type {dtype}: {e}") from None


def _fractional_for_int(value: Any, dtype: DataType) -> bool:
    """A literal with a fractional part compared with an integer column."""
    return (isinstance(dtype, PrimitiveType) and dtype.name in ("long", "integer", "short", "byte")
            and isinstance(value, (float, Decimal)) and not isinstance(value, bool) and value == value
            and value not in (float("inf"), float("-inf")) and value != int(value))


def _three_valued_in(item: pc.Expression, member: pc.Expression, has_null: bool, negated: bool) -> pc.Expression:
    """SQL IN/NOT IN: with a NULL in the list, a non-member is NULL (so NOT IN is never TRUE)."""
    null = pc.scalar(pa.scalar(None, pa.bool_()))
    if has_null:
        member = pc.if_else(pc.coalesce(member, pc.scalar(False)), pc.scalar(True), null)
    if not negated:
        return member
    return ~member


def parse_predicate(predicate: "str | Expr") -> Expr:
    """Accept a SQL string or an already-built AST."""
    if isinstance(predicate, str):
        return parse_sql(predicate)
    if isinstance(predicate, (Col, Lit, Cmp, And, Or, Not, IsNull, In, Arith)):
        return predicate
    raise InvalidArgumentError(f"predicate must be a SQL string, got {type(predicate).__name__}")


def partition_table(partition_values: list[Mapping[str, str | None]], fields: list, key: Callable[[Any], str]) -> pa.Table:
    """A typed table of partition values (one row per file) for evaluating partition predicates."""
    cols = {}
    for f in fields:
        k = key(f)
        values = [parse_partition_value(pv.get(k, pv.get(f.name)), f.type, column=f.name) for pv in partition_values]
        cols[f.name] = pa.array(values, type=to_arrow_type(f.type))
    return pa.table(cols) if cols else pa.table({"__rows__": pa.nulls(len(partition_values), pa.int8())})
