"""One expression language for every operation: SQL parsing (via sqlglot, Spark dialect), constant
folding, literal coercion to column types, conversion to Arrow compute expressions with Spark's semantics,
and partition-only restriction. The tree itself is in `expr_ast`; static type checks in `expr_types`.

SQL strings are parsed by sqlglot (double-quoted or back-quoted identifiers) and converted to the tree;
anything outside the supported subset raises `InvalidArgumentError` naming the construct. Evaluation
follows SQL's three-valued logic (a row is selected only where the predicate is TRUE) and Spark's
floating-point rules: NaN equals NaN and sorts above every other value, and -0.0 equals 0.0.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr_ast import (
    FALSE,
    NULL,
    TRUE,
    And,
    Arith,
    Cmp,
    CmpOp,
    Col,
    Expr,
    In,
    IsNull,
    Lit,
    Not,
    Or,
    children,
    columns,
)
from lakehouse.protocol.expr_types import (
    INTEGER_DECIMALS,
    check_expression,
    field_type,
    is_floating,
    is_integer,
    type_of,
)
from lakehouse.protocol.partitions import parse_partition_value
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructType, to_arrow_type, type_name

__all__ = [
    "FALSE", "NULL", "TRUE", "And", "Arith", "Cmp", "CmpOp", "Col", "Expr", "In", "IsNull", "Lit", "Not", "Or",
    "check_expression", "children", "coerce_literal", "columns", "evaluate", "negation_normal_form",
    "parse_predicate", "parse_sql", "partition_table", "restrict", "simplify", "to_arrow",
]

_FLIP: dict[str, CmpOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE: dict[str, CmpOp] = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}

# Parenthesis nesting a predicate may have. sqlglot's parser recurses about a dozen frames per level;
# machine-built predicates are wide (long OR chains, handled iteratively), not deep.
MAX_NESTING = 100


# -- parsing -------------------------------------------------------------------------------------------
def _nesting(text: str) -> int:
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def parse_sql(text: str) -> Expr:
    """Parse a SQL expression (a predicate or a value) into the tree, with constants folded."""
    import sqlglot
    from sqlglot.errors import ParseError

    if not isinstance(text, str) or not text.strip():
        raise InvalidArgumentError("expression must be a non-empty SQL string")
    if _nesting(text) > MAX_NESTING:
        raise InvalidArgumentError(
            f"expression nests parentheses {_nesting(text)} deep; the limit is {MAX_NESTING}\n"
            "Help: flatten it (long OR chains of `=` are better written as `col IN (...)`)")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 12_000))
    try:
        try:
            # Double-quoted names are identifiers (as in delta-rs and ANSI SQL); back-quoted ones need
            # the Spark dialect.
            try:
                tree = sqlglot.parse_one(text)
            except ParseError:
                tree = sqlglot.parse_one(text, read="spark")
        except ParseError as e:
            first = e.errors[0] if getattr(e, "errors", None) else {}
            where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
            desc = str(first.get("description") or "syntax error").splitlines()[0]
            raise InvalidArgumentError(f"cannot parse expression {text!r}{where}: {desc}") from None
        return simplify(_from_sqlglot(tree, text))
    finally:
        sys.setrecursionlimit(limit)


def _chain(node: Any, cls: type) -> list[Any]:
    """The operands of a left-deep chain of one binary operator (AND or OR), without recursion."""
    from sqlglot import exp

    out, stack = [], [node]
    while stack:
        n = stack.pop()
        while isinstance(n, exp.Paren) and isinstance(n.this, cls):
            n = n.this
        if isinstance(n, cls):
            stack.append(n.expression)
            stack.append(n.this)
        else:
            out.append(n)
    return out


def _from_sqlglot(node: Any, text: str) -> Expr:
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _from_sqlglot(node.this, text)
    if isinstance(node, exp.And):
        return And(tuple(_from_sqlglot(n, text) for n in _chain(node, exp.And)))
    if isinstance(node, exp.Or):
        return Or(tuple(_from_sqlglot(n, text) for n in _chain(node, exp.Or)))
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
            raise InvalidArgumentError(f"IN lists must hold literals only in {text!r}")
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
            raise InvalidArgumentError(f"literal {raw!r} is not a valid {kind} in {text!r}") from None
    raise InvalidArgumentError(
        f"unsupported construct {type(node).__name__} ({node.sql()!r}) in {text!r}; supported: "
        "comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL, + - * /, column references and literals"
    )


def _number(text: str) -> int | float | Decimal:
    # Spark: digits are an integer, digits with a point a decimal, an exponent a double.
    try:
        return int(text)
    except ValueError:
        return float(text) if ("e" in text.lower()) else Decimal(text)


def _parse_ts(raw: str, *, ntz: bool) -> datetime:
    dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    if ntz:
        return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


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
        folded = In(item, expr.values, expr.negated)
        if isinstance(item, Lit):
            return NULL if item.value is None else _constant(folded)
        return folded
    assert isinstance(expr, (Cmp, Arith))
    left, right = simplify(expr.left), simplify(expr.right)
    folded = Cmp(expr.op, left, right) if isinstance(expr, Cmp) else Arith(expr.op, left, right)
    if isinstance(left, Lit) and isinstance(right, Lit):
        # NULL propagates through comparisons and arithmetic whatever the other side's type.
        return NULL if left.value is None or right.value is None else _constant(folded)
    return folded


def _fold_junction(expr: And | Or) -> Expr:
    absorbing, neutral = (FALSE, TRUE) if isinstance(expr, And) else (TRUE, FALSE)
    items: list[Expr] = []
    for item in (simplify(i) for i in expr.items):
        for part in item.items if type(item) is type(expr) else (item,):  # type: ignore[union-attr]
            if part == absorbing:
                return absorbing
            if part != neutral and part not in items:
                items.append(part)
    if not items:
        return neutral
    return items[0] if len(items) == 1 else type(expr)(tuple(items))


_ONE_ROW = pa.table({"__one__": pa.array([0], pa.int8())})


def _constant(expr: Expr) -> Lit:
    """The value of a column-free expression, computed by the same Arrow code that evaluates rows."""
    try:
        value = ds.dataset(_ONE_ROW).to_table(columns={"v": to_arrow(expr, StructType(()))}).column("v")[0]
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
    return repr(expr)


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
        items = tuple(i for i in (_restrict(x, allowed) for x in expr.items) if i != TRUE)
        return TRUE if not items else items[0] if len(items) == 1 else And(items)
    if isinstance(expr, Or):
        items = tuple(_restrict(x, allowed) for x in expr.items)
        return TRUE if TRUE in items else Or(items)
    return expr if columns(expr) <= allowed else TRUE


# -- typing and evaluation -----------------------------------------------------------------------------
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

    ``field`` maps a column path to the Arrow field reference (default: by logical name). Type errors
    (a string compared with a number column, arithmetic on strings) are raised here, before any data is
    read.
    """
    ref = field or (lambda path: pc.field(*path))
    check_expression(expr, schema, boolean=False)

    def lit_for(other: Expr, lit: Lit) -> pc.Expression:
        if isinstance(other, Col):
            dtype = field_type(schema, other.path)
            value = coerce_literal(lit.value, dtype, column=".".join(other.path))
            return pc.scalar(_scalar(value, dtype, ".".join(other.path)))
        return conv(lit)

    def compared(col_side: Expr, lit_side: Lit) -> tuple[pc.Expression, pc.Expression]:
        """(column, literal) expressions; an integer column against a fractional literal compares as
        float64, so that `i < 1.5` keeps `i = 1` instead of truncating the literal to 1."""
        column = conv(col_side)
        if isinstance(col_side, Col) and _fractional_for_int(lit_side.value, field_type(schema, col_side.path)):
            # Unsafe cast: only the order matters, and large int64 values are not exact doubles.
            return column.cast(pa.float64(), safe=False), pc.scalar(float(lit_side.value))
        return column, lit_for(col_side, lit_side)

    def comparison(e: Cmp) -> pc.Expression:
        op, lhs, rhs = e.op, e.left, e.right
        if isinstance(lhs, Lit) and not isinstance(rhs, Lit):
            op, lhs, rhs = _FLIP[op], rhs, lhs  # the literal on the right
        if isinstance(rhs, Lit) and not isinstance(lhs, Lit):
            left, right = compared(lhs, rhs)
        else:
            left, right = conv(lhs), conv(rhs)
        left_float, right_float = is_floating(type_of(lhs, schema)), is_floating(type_of(rhs, schema))
        if not (left_float or right_float):
            return _CMP[op](left, right)
        if isinstance(rhs, Lit) and not isinstance(lhs, Lit):
            value = rhs.value
            if isinstance(lhs, Col):  # 'NaN' meets a double column as the double NaN
                value = coerce_literal(value, field_type(schema, lhs.path), column=".".join(lhs.path))
            return _float_vs_literal(op, left, right, value)
        return _float_compare(op, left, right, left_float, right_float)

    def arithmetic(e: Arith) -> pc.Expression:
        lt, rt = type_of(e.left, schema), type_of(e.right, schema)
        left, right = operand(e.left, lt, rt), operand(e.right, rt, lt)
        if e.op == "/":  # SQL division of integers is not integer division
            return pc.divide(left.cast(pa.float64()), right.cast(pa.float64()))
        fn = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}[e.op]
        return fn(left, right)

    def operand(side: Expr, own: DataType | None, other: DataType | None) -> pc.Expression:
        """One side of arithmetic at the type Spark would promote it to."""
        if is_floating(other) or is_floating(own):
            if isinstance(side, Lit) and isinstance(side.value, Decimal):
                return pc.scalar(float(side.value))  # the correctly rounded double, as Spark's cast
            return conv(side).cast(pa.float64()) if isinstance(own, DecimalType) else conv(side)
        if isinstance(other, DecimalType) and is_integer(own):
            decimal = INTEGER_DECIMALS[own.name]  # type: ignore[union-attr]
            if isinstance(side, Lit):
                digits = max(1, len(str(abs(side.value))))
                return pc.scalar(pa.scalar(Decimal(side.value), pa.decimal128(min(38, digits), 0)))
            return conv(side).cast(pa.decimal128(decimal.precision if decimal.precision <= 38 else 38, 0))
        return conv(side)

    def conv(e: Expr) -> pc.Expression:
        if isinstance(e, Col):
            field_type(schema, e.path)
            return ref(e.path)
        if isinstance(e, Lit):
            # A bare NULL stands in a boolean position here (`NOT NULL`, `x AND NULL`).
            return pc.scalar(pa.scalar(None, pa.bool_())) if e.value is None else pc.scalar(e.value)
        if isinstance(e, Cmp):
            return comparison(e)
        if isinstance(e, Arith):
            return arithmetic(e)
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
                dtype = field_type(schema, e.item.path)
                if isinstance(dtype, PrimitiveType) and dtype.name in ("float", "double") or any(
                        _fractional_for_int(v.value, dtype) for v in values):
                    # Spark equality (-0.0 = 0.0, NaN = NaN) and exact numeric comparison: IN is an OR
                    # of `=`, which Arrow's is_in is not for floats.
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


_CMP: dict[str, Callable[[pc.Expression, pc.Expression], pc.Expression]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
_NULL_BOOL = pc.scalar(pa.scalar(None, pa.bool_()))


def _float_vs_literal(op: str, column: pc.Expression, literal: pc.Expression, value: Any) -> pc.Expression:
    """A floating-point column against a literal under Spark's order, where NaN is above every number.

    IEEE comparison already gives Spark's answer for `=`, `!=`, `<` and `<=` against a number; `>` and
    `>=` must also hold for NaN rows.
    """
    nan = pc.is_nan(column)
    if isinstance(value, float) and value != value:  # against NaN itself
        true, false = pc.scalar(True), pc.scalar(False)
        # if_else on `nan` keeps NULL rows NULL.
        return {"=": nan, "!=": ~nan, "<": ~nan, "<=": pc.if_else(nan, true, true),
                ">": pc.if_else(nan, false, false), ">=": nan}[op]
    if op in (">", ">="):
        return _CMP[op](column, literal) | nan
    return _CMP[op](column, literal)


def _float_compare(op: str, left: pc.Expression, right: pc.Expression, left_float: bool,
                   right_float: bool) -> pc.Expression:
    """Two computed sides, at least one floating-point, under Spark's order (NaN = NaN, NaN largest)."""
    false = pc.scalar(False)
    ln = pc.is_nan(left) if left_float else false
    rn = pc.is_nan(right) if right_float else false
    if op in ("=", "!="):
        eq = pc.if_else(ln | rn, ln & rn, left == right)
        out = eq if op == "=" else ~eq
    elif op in ("<", ">"):
        a_nan, b_nan = (ln, rn) if op == "<" else (rn, ln)
        out = pc.if_else(ln | rn, ~a_nan & b_nan, _CMP[op](left, right))
    else:
        a_nan, b_nan = (ln, rn) if op == "<=" else (rn, ln)
        out = pc.if_else(ln | rn, b_nan, _CMP[op](left, right))
    # NULL on either side is NULL, whatever NaN says.
    return pc.if_else(left.is_valid() & right.is_valid(), out, _NULL_BOOL)


def _scalar(value: Any, dtype: DataType, column: str) -> pa.Scalar:
    try:
        return pa.scalar(value, type=to_arrow_type(dtype))
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"literal {value!r} does not fit column '{column}' of type {type_name(dtype)}: {_arrow_message(e)}") from None


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
    """Accept a SQL string or an already-built tree; constants come back folded (`simplify`)."""
    if isinstance(predicate, str):
        return parse_sql(predicate)
    if isinstance(predicate, (Col, Lit, Cmp, And, Or, Not, IsNull, In, Arith)):
        return simplify(predicate)
    raise InvalidArgumentError(f"predicate must be a SQL string, got {type(predicate).__name__}")


def evaluate(table: pa.Table, expr: Expr, schema: StructType, *, what: str) -> pa.ChunkedArray:
    """The values of ``expr`` for every row of ``table``; an evaluation error (an arithmetic overflow,
    say) is an `InvalidArgumentError` naming ``what`` and the first row's input values that fail."""
    arrow = to_arrow(expr, schema)

    def run(part: pa.Table) -> pa.ChunkedArray:
        return ds.dataset(part).to_table(columns={"v": arrow}).column("v")

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
        cols[f.name] = pa.array(values, type=to_arrow_type(f.type))
    return pa.table(cols) if cols else pa.table({"__rows__": pa.nulls(len(partition_values), pa.int8())})
