"""The expression tree to Arrow compute expressions, with Spark's semantics: three-valued logic,
Spark's floating-point order (NaN = NaN and largest), checked integer arithmetic, numeric promotion,
literal coercion to the column a literal meets, CAST/TRY_CAST, CASE and the function registry.

Pure: builds expressions over a logical schema; evaluation is the caller's (datasets, `expr.evaluate`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr_ast import (
    And, Arith, Case, Cast, Cmp, CmpOp, Col, Expr, Func, In, IsNull, Lit, Not, Or, children,
)
from lakehouse.protocol.expr_sql import parse_timestamp
from lakehouse.protocol.expr_types import (
    INTEGER_DECIMALS,
    check_expression,
    field_type,
    is_floating,
    is_integer,
    type_of,
)
from lakehouse.protocol.functions import NOT_LITERAL, STRING, Call, lookup, udf
from lakehouse.protocol.functions.casts import cast_expression, to_text
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructType, to_arrow_type, type_name

_FLIP: dict[str, CmpOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=", "<=>": "<=>"}


def _arrow_message(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


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
                return parse_timestamp(value.isoformat(), ntz=name == "timestamp_ntz")
            if isinstance(value, date):
                return parse_timestamp(value.isoformat(), ntz=name == "timestamp_ntz")
            return parse_timestamp(str(value), ntz=name == "timestamp_ntz")
        if name == "binary":
            return value.encode() if isinstance(value, str) else bytes(value)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise InvalidArgumentError(
            f"literal {value!r} does not fit column '{column}' of type {type_name(dtype)}: {e}") from None
    raise InvalidArgumentError(f"a literal cannot stand for column '{column}' of type {type_name(dtype)}")


def to_arrow(expr: Expr, schema: StructType, field: Callable[[tuple[str, ...]], pc.Expression] | None = None) -> pc.Expression:
    """An Arrow compute expression for ``expr`` over a table with the logical ``schema``.

    ``field`` maps a column path to the Arrow field reference (default: by logical name). Type errors
    (a string compared with a number column, arithmetic on strings) are raised here, before any data is
    read.
    """
    ref = field or (lambda path: pc.field(*path))
    check_expression(expr, schema, boolean=False)
    # Rows where the sub-expression being converted is not used (a CASE branch not taken, the right side
    # of an AND whose left side is FALSE...). Arrow evaluates every branch for every row, Spark only the
    # taken one: a column read under a guard is NULL in the other rows, so `CASE WHEN x <> 0 THEN 1 / x
    # END` or `s RLIKE '^[0-9]+$' AND CAST(s AS INT) > 1` cannot fail on rows whose result ignores it.
    guards: list[pc.Expression] = []

    def guarded(condition: pc.Expression, build: Callable[[], pc.Expression]) -> pc.Expression:
        guards.append(condition if not guards else guards[-1] & condition)
        try:
            return build()
        finally:
            guards.pop()

    def lit_for(other: Expr, lit: Lit) -> pc.Expression:
        if isinstance(other, Col):
            dtype = field_type(schema, other.path)
            value = coerce_literal(lit.value, dtype, column=".".join(other.path))
            return pc.scalar(_scalar(value, dtype, ".".join(other.path)))
        computed = type_of(other, schema)
        if isinstance(lit.value, str) and isinstance(computed, (PrimitiveType, DecimalType)) and computed != STRING:
            # Text meets a computed value on its terms too (`dt + INTERVAL 1 DAY > '2024-02-29'`), as Spark.
            value = coerce_literal(lit.value, computed, column="expression")
            return pc.scalar(_scalar(value, computed, "expression"))
        if isinstance(computed, DecimalType) and isinstance(lit.value, (int, Decimal)) and \
                not isinstance(lit.value, bool):
            # An exact literal meets a decimal expression as the narrowest decimal that holds it: as an
            # int64 scalar Arrow would widen it to decimal(19 + scale), past 38 digits for most results.
            exact = _as_decimal(lit.value)
            scale = max(0, -int(exact.as_tuple().exponent))
            precision = max(max(exact.adjusted() + 1, 1) + scale, 1)
            if precision <= 38:
                return av.lit(exact, pa.decimal128(precision, scale))
        return conv(lit)

    def compared(col_side: Expr, lit_side: Lit) -> tuple[pc.Expression, pc.Expression]:
        """(column, literal) expressions; an integer column against a fractional literal compares as
        float64, so that `i < 1.5` keeps `i = 1` instead of truncating the literal to 1."""
        column = conv(col_side)
        if isinstance(col_side, Col) and _int_cannot_hold(lit_side.value, field_type(schema, col_side.path)):
            # Unsafe cast: only the order matters, and large int64 values are not exact doubles.
            return column.cast(pa.float64(), safe=False), pc.scalar(float(lit_side.value))
        if isinstance(col_side, Col) and field_type(schema, col_side.path) == PrimitiveType("float") and \
                isinstance(lit_side.value, (float, Decimal)):
            # Spark widens a float column meeting a decimal or double literal to double: the stored
            # 0.1f is 0.10000000149..., so `f = 0.1` is FALSE and `f > 0.1` TRUE.
            return column.cast(pa.float64()), pc.scalar(float(lit_side.value))
        if isinstance(col_side, Col):
            wide = _decimal_widening(field_type(schema, col_side.path), lit_side.value)
            if wide is not None:
                # Spark compares decimal(10,2) with 2.675 in decimal(11,3), where both are exact.
                arrow = pa.decimal128(wide.precision, wide.scale)
                return column.cast(arrow), av.lit(_as_decimal(lit_side.value), arrow)
        return column, lit_for(col_side, lit_side)

    def comparison(e: Cmp) -> pc.Expression:
        op, lhs, rhs = e.op, e.left, e.right
        if Lit(None) in (lhs, rhs):
            return av.lit(None, pa.bool_())  # NULL compared with anything, NaN included
        if isinstance(lhs, Lit) and not isinstance(rhs, Lit):
            op, lhs, rhs = _FLIP[op], rhs, lhs  # the literal on the right
        if isinstance(rhs, Lit) and not isinstance(lhs, Lit):
            left, right = compared(lhs, rhs)
        else:
            left, right = conv(lhs), conv(rhs)
            lt, rt = type_of(lhs, schema), type_of(rhs, schema)
            if lt != rt and PrimitiveType("timestamp_ntz") in (lt, rt) and {lt, rt} <= _DATETIMES:
                # Spark compares timestamp_ntz with timestamp (or date) as timestamps in the session zone
                # (UTC); Arrow refuses to compare zoned with zone-less values.
                left, right = (_as_utc_timestamp(x, t) for x, t in ((left, lt), (right, rt)))
        lt, rt = type_of(lhs, schema), type_of(rhs, schema)
        left_float, right_float = is_floating(lt), is_floating(rt)
        if not (left_float or right_float):
            return _CMP[op](left, right)
        if left_float != right_float and not (isinstance(lhs, Lit) or isinstance(rhs, Lit)):
            # A double meets an exact number as doubles (Spark's implicit cast); unsafe, because Arrow's
            # own widening refuses a bigint beyond 2^53 instead of rounding it.
            if is_integer(rt) or isinstance(rt, DecimalType):
                right = right.cast(pa.float64(), safe=False)
            if is_integer(lt) or isinstance(lt, DecimalType):
                left = left.cast(pa.float64(), safe=False)
        if isinstance(rhs, Lit) and not isinstance(lhs, Lit):
            value = rhs.value
            if isinstance(lhs, Col) and left_float:  # 'NaN' meets a double column as the double NaN
                value = coerce_literal(value, field_type(schema, lhs.path), column=".".join(lhs.path))
            elif isinstance(value, (Decimal, int)) and not isinstance(value, bool):
                value = float(value)  # an integer column met a double literal: both compare as doubles
            elif isinstance(value, str):  # ... and a computed double too
                value = coerce_literal(value, PrimitiveType("double"), column="expression")
            return _float_vs_literal(op, left, right, value)
        return _float_compare(op, left, right, left_float, right_float)

    def arithmetic(e: Arith) -> pc.Expression:
        lt, rt = type_of(e.left, schema), type_of(e.right, schema)
        if isinstance(e.right, Lit) and isinstance(e.right.value, timedelta):
            return shifted(e, e.right.value)
        left, right = operand(e.left, lt, rt), operand(e.right, rt, lt)
        if e.op in ("+", "-", "*") and _needs_wide_decimal(e.op, lt, rt):
            # Arrow refuses a decimal128 result over 38 digits; compute in decimal256, and the store
            # (or a comparison) brings it back, failing only if the value itself does not fit.
            left, right = left.cast(_wide(lt)), right.cast(_wide(rt))
        if e.op == "/":  # SQL division of integers is not integer division
            # Spark (ANSI) refuses a zero divisor of any type, doubles included, instead of Infinity/NaN;
            # divide_checked raises exactly there (and not on NULL rows).
            return pc.divide_checked(left.cast(pa.float64()), right.cast(pa.float64()))
        if e.op == "div":  # integral division, truncated toward zero, as a bigint
            if isinstance(lt, DecimalType) or isinstance(rt, DecimalType) or is_floating(lt) or is_floating(rt):
                return integral_division(left, right, lt, rt)
            return pc.divide_checked(left.cast(pa.int64()), right.cast(pa.int64()))
        if e.op == "%":
            return remainder(left, right, type_of(e, schema))
        fn = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}[e.op]
        return fn(left, right)

    def shifted(e: Arith, delta: timedelta) -> pc.Expression:
        """A date or timestamp moved by an INTERVAL of days or smaller units (``delta``, the right side)."""
        base, dtype = conv(e.left), type_of(e.left, schema)
        if e.op == "-":
            delta = -delta
        if dtype == PrimitiveType("date") and delta % timedelta(days=1) == timedelta(0):
            days = pc.add_checked(base.cast(pa.int32()), av.lit(delta.days, pa.int32()))
            return days.cast(pa.date32())
        if dtype == PrimitiveType("date") or dtype == PrimitiveType("string"):
            base = base.cast(pa.timestamp("us", tz="UTC"))
        return pc.add_checked(base, av.lit(delta, pa.duration("us")))

    def function(e: Func) -> pc.Expression:
        fn = lookup(e.name)
        if fn.null_in_null_out and any(a == Lit(None) for a in e.args):
            # A NULL argument makes the call NULL (Spark), typed as the call's result: a bare NULL has
            # no type of its own that an Arrow kernel would accept (length(NULL), NULL LIKE 'a').
            result = type_of(e, schema)
            return av.lit(None, to_arrow_type(result) if result is not None else pa.bool_())
        types = [type_of(a, schema) for a in e.args]
        if fn.name == "coalesce" and any(_can_fail(a) for a in e.args[1:]):
            # COALESCE reads an argument only where every earlier one is NULL (Spark): guard the rest.
            args: list[pc.Expression] = []
            all_null: pc.Expression | None = None
            for a in e.args:
                args.append(guarded(all_null, lambda: conv(a)) if all_null is not None and _can_fail(a) else conv(a))
                missing = args[-1].is_null()
                all_null = missing if all_null is None else all_null & missing
        else:
            args = [conv(a) for a in e.args]
        if fn.arg_family == "string":  # Spark casts numbers and dates to strings for string functions
            args = [to_text(a, t) for a, t in zip(args, types)]
            types = [STRING if t is not None and i == 0 else t for i, t in enumerate(types)]
        literals = [a.value if isinstance(a, Lit) else NOT_LITERAL for a in e.args]
        return fn.build(Call(e.name, args, types, literals))

    def case(e: Case) -> pc.Expression:
        to = type_of(e, schema)
        want = to_arrow_type(to) if to is not None else pa.bool_()
        conds: list[pc.Expression] = []
        values: list[pc.Expression] = []
        none_before: pc.Expression = av.lit(True)  # no earlier condition was TRUE
        for c, v in e.whens:
            cond = pc.coalesce(guarded(none_before, lambda: conv(c)) if _can_fail(c) else conv(c), av.lit(False))
            taken = none_before & cond
            values.append(guarded(taken, lambda: value_as(v, to, want)) if _can_fail(v) else value_as(v, to, want))
            conds.append(cond)
            none_before = none_before & ~cond
        default = e.default
        values.append(guarded(none_before, lambda: value_as(default, to, want)) if _can_fail(default)
                      else value_as(default, to, want))
        names = [f"c{i}" for i in range(len(conds))]
        return pc.case_when(pc.make_struct(*conds, field_names=names), *values)

    def value_as(v: Expr, to: DataType | None, want: pa.DataType) -> pc.Expression:
        if isinstance(v, Lit):
            if v.value is None:
                return av.lit(None, want)
            return pc.scalar(_scalar(coerce_literal(v.value, to, column="CASE") if to is not None else v.value,
                                     to, "CASE") if to is not None else v.value)
        return conv(v) if type_of(v, schema) == to else conv(v).cast(want)

    def cast(e: Cast) -> pc.Expression:
        return cast_expression(conv(e.item), type_of(e.item, schema), e.to, safe=e.safe)

    def null_safe_equal(e: Cmp) -> pc.Expression:
        equal = conv(Cmp("=", e.left, e.right))
        left_null, right_null = conv(IsNull(e.left)), conv(IsNull(e.right))
        return pc.if_else(left_null | right_null, left_null & right_null, pc.coalesce(equal, av.lit(False)))

    def operand(side: Expr, own: DataType | None, other: DataType | None) -> pc.Expression:
        """One side of arithmetic at the type Spark would promote it to."""
        if is_floating(other) or is_floating(own):
            if isinstance(side, Lit) and isinstance(side.value, Decimal):
                return pc.scalar(float(side.value))  # the correctly rounded double, as Spark's cast
            if isinstance(own, DecimalType) or (is_integer(own) and not isinstance(side, Lit)):
                # Unsafe: a bigint beyond 2^53 becomes the nearest double, as Spark's implicit cast.
                return conv(side).cast(pa.float64(), safe=False)
            return conv(side)
        if isinstance(other, DecimalType) and is_integer(own):
            decimal = INTEGER_DECIMALS[own.name]
            if isinstance(side, Lit):
                digits = max(1, len(str(abs(side.value))))
                return av.lit(Decimal(side.value), pa.decimal128(min(38, digits), 0))
            return conv(side).cast(pa.decimal128(decimal.precision if decimal.precision <= 38 else 38, 0))
        return conv(side)

    def conv(e: Expr) -> pc.Expression:
        if isinstance(e, Col):
            dtype = field_type(schema, e.path)
            if guards:
                return pc.if_else(guards[-1], ref(e.path), av.lit(None, to_arrow_type(dtype)))
            return ref(e.path)
        if isinstance(e, Lit):
            # A bare NULL stands in a boolean position here (`NOT NULL`, `x AND NULL`).
            return av.lit(None, pa.bool_()) if e.value is None else av.lit(e.value)
        if isinstance(e, Func):
            return function(e)
        if isinstance(e, Case):
            return case(e)
        if isinstance(e, Cast):
            return cast(e)
        if isinstance(e, Cmp) and e.op == "<=>":
            return null_safe_equal(e)
        if isinstance(e, Cmp):
            return comparison(e)
        if isinstance(e, Arith):
            return arithmetic(e)
        if isinstance(e, And):
            out = conv(e.items[0])
            for i in e.items[1:]:
                # Where the left side is FALSE the right side cannot change the result: guard it.
                out = out & (guarded(pc.coalesce(out, av.lit(True)), lambda: conv(i)) if _can_fail(i) else conv(i))
            return out
        if isinstance(e, Or):
            out = conv(e.items[0])
            for i in e.items[1:]:
                out = out | (guarded(pc.coalesce(~out, av.lit(True)), lambda: conv(i)) if _can_fail(i) else conv(i))
            return out
        if isinstance(e, Not):
            return ~conv(e.item)
        if isinstance(e, IsNull):
            inner = conv(e.item)
            return inner.is_valid() if e.negated else inner.is_null()
        if isinstance(e, In):
            has_null = any(v.value is None for v in e.values)
            values = [v for v in e.values if v.value is not None]
            item_type = field_type(schema, e.item.path) if isinstance(e.item, Col) else type_of(e.item, schema)
            if isinstance(item_type, PrimitiveType) and item_type.name in ("float", "double") or any(
                    _int_cannot_hold(v.value, item_type) or _decimal_widening(item_type, v.value) for v in values):
                # Spark equality (-0.0 = 0.0, NaN = NaN) and exact numeric comparison: IN is an OR of `=`,
                # which Arrow's is_in is not for floats; for a column and a computed value alike.
                equal = Or(tuple(Cmp("=", e.item, v) for v in values)) if values else Lit(False)
                member = conv(equal if len(values) != 1 else Cmp("=", e.item, values[0]))
                return _three_valued_in(conv(e.item), member, has_null, e.negated)
            if isinstance(item_type, (PrimitiveType, DecimalType)):
                name = e.item.name if isinstance(e.item, Col) else "expression"
                arr = av.array([coerce_literal(v.value, item_type, column=name) for v in values], type=to_arrow_type(item_type))
            else:
                arr = av.array([v.value for v in values])
            item = conv(e.item)
            member = pc.if_else(item.is_null(), av.lit(None, pa.bool_()), item.isin(arr))
            return _three_valued_in(item, member, has_null, e.negated)
        raise TypeError(type(e))

    return conv(expr)


_DATETIMES = {PrimitiveType("date"), PrimitiveType("timestamp"), PrimitiveType("timestamp_ntz")}


def _can_fail(expr: Expr) -> bool:
    """Whether evaluating ``expr`` may raise for some row (arithmetic, CAST, functions): only such
    sub-expressions are guarded, so plain comparisons keep their simple form (and Parquet pushdown)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, (Arith, Func)) or isinstance(e, Cast) and not e.safe:
            return True
        stack.extend(children(e))
    return False


def _as_utc_timestamp(value: pc.Expression, dtype: DataType | None) -> pc.Expression:
    if dtype == PrimitiveType("timestamp_ntz"):
        value = value.cast(pa.timestamp("us"))  # wall-clock values, read as UTC by the next cast
    return value.cast(pa.timestamp("us", tz="UTC"))


_CMP: dict[str, Callable[[pc.Expression, pc.Expression], pc.Expression]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
_NULL_BOOL = pc.scalar(pa.nulls(1, pa.bool_())[0])  # not av.scalar(None): that imports pandas (see expr._ONE_ROW)


def _float_vs_literal(op: str, column: pc.Expression, literal: pc.Expression, value: Any) -> pc.Expression:
    """A floating-point column against a literal under Spark's order, where NaN is above every number.

    IEEE comparison already gives Spark's answer for `=`, `!=`, `<` and `<=` against a number; `>` and
    `>=` must also hold for NaN rows.
    """
    nan = pc.is_nan(column)
    if isinstance(value, float) and value != value:  # against NaN itself
        true, false = av.lit(True), av.lit(False)
        # if_else on `nan` keeps NULL rows NULL.
        return {"=": nan, "!=": ~nan, "<": ~nan, "<=": pc.if_else(nan, true, true),
                ">": pc.if_else(nan, false, false), ">=": nan}[op]
    if op in (">", ">="):
        return _CMP[op](column, literal) | nan
    return _CMP[op](column, literal)


def _float_compare(op: str, left: pc.Expression, right: pc.Expression, left_float: bool,
                   right_float: bool) -> pc.Expression:
    """Two computed sides, at least one floating-point, under Spark's order (NaN = NaN, NaN largest)."""
    false = av.lit(False)
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


def _decimal_of(dtype: DataType | None) -> DecimalType | None:
    if isinstance(dtype, DecimalType):
        return dtype
    return INTEGER_DECIMALS.get(dtype.name) if is_integer(dtype) else None


def _needs_wide_decimal(op: str, left: DataType | None, right: DataType | None) -> bool:
    a, b = _decimal_of(left), _decimal_of(right)
    if a is None or b is None or not (isinstance(left, DecimalType) or isinstance(right, DecimalType)):
        return False
    if op == "*":
        return a.precision + b.precision + 1 > 38
    return max(a.precision - a.scale, b.precision - b.scale) + max(a.scale, b.scale) + 1 > 38


def _wide(dtype: DataType | None) -> pa.DataType:
    d = _decimal_of(dtype)
    assert d is not None
    return pa.decimal256(d.precision, d.scale)


def remainder(left: pc.Expression, right: pc.Expression, dtype: DataType | None) -> pc.Expression:
    """Spark's `%`: the remainder takes the dividend's sign; by zero it is an error (ANSI)."""
    arrow = to_arrow_type(dtype) if dtype is not None else pa.float64()

    def fmod(a: pa.Array, b: pa.Array) -> pa.Array:
        x = av.to_numpy(a)
        y = av.to_numpy(b)
        valid = ~(av.to_numpy(pc.is_null(a)) | av.to_numpy(pc.is_null(b)))
        if np.any((y == 0) & valid):  # ANSI: a zero divisor is an error for every type, doubles too
            raise pa.ArrowInvalid("divide by zero")  # the caller names the row (expr.evaluate)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.fmod(np.where(valid, x, 0).astype(arrow.to_pandas_dtype()),
                          np.where(valid & (y != 0), y, 1).astype(arrow.to_pandas_dtype()))
        return av.array(out, arrow, mask=~valid)

    def decimal_mod(a: pa.Array, b: pa.Array) -> pa.Array:
        out: list[Decimal | None] = []
        for x, y in zip(a.to_pylist(), b.to_pylist()):
            if x is None or y is None:
                out.append(None)
            elif y == 0:
                raise pa.ArrowInvalid("divide by zero")  # the caller names the row (expr.evaluate)
            else:
                out.append(_decimal_context().remainder(x, y))
        return av.array(out, arrow)

    if pa.types.is_decimal(arrow):
        # Exact in decimals (Decimal.remainder keeps the dividend's sign, as Java's BigDecimal.remainder).
        return udf("decimal_remainder", decimal_mod, [arrow, arrow], arrow, [left, right])
    return udf("remainder", fmod, [arrow, arrow], arrow, [left, right])


def _decimal_context() -> Any:
    import decimal

    return decimal.Context(prec=80)


def integral_division(left: pc.Expression, right: pc.Expression, lt: DataType | None,
                      rt: DataType | None) -> pc.Expression:
    """Spark's `div` of decimals or doubles: the quotient truncated toward zero, as a bigint; a zero
    divisor is an error (ANSI), a quotient past the bigint range an overflow error."""
    in_types = [pa.float64() if is_floating(t) else to_arrow_type(t) if t is not None else pa.int64() for t in (lt, rt)]
    if any(is_floating(t) for t in (lt, rt)):
        in_types = [pa.float64(), pa.float64()]

    def divide(a: pa.Array, b: pa.Array) -> pa.Array:
        context = _decimal_context()
        out: list[int | None] = []
        for x, y in zip(a.to_pylist(), b.to_pylist()):
            if x is None or y is None:
                out.append(None)
                continue
            if y == 0:
                raise InvalidArgumentError("division by zero in `div`")
            x, y = Decimal(x), Decimal(y)
            if not (x.is_finite() and y.is_finite()):
                raise InvalidArgumentError(f"`{x} div {y}` is not a number")
            q = int(context.divide_int(x, y))
            if not -2**63 <= q < 2**63:
                raise InvalidArgumentError(f"overflow: `{x} div {y}` is outside the bigint range")
            out.append(q)
        return av.array(out, pa.int64())
    return udf("integral_division", divide, in_types, pa.int64(), [left, right])


def _scalar(value: Any, dtype: DataType, column: str) -> pa.Scalar:
    try:
        return av.scalar(value, type=to_arrow_type(dtype))
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"literal {value!r} does not fit column '{column}' of type {type_name(dtype)}: {_arrow_message(e)}") from None


def _as_decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _decimal_widening(dtype: DataType | None, value: Any) -> DecimalType | None:
    """The decimal type a decimal column and a numeric literal compare in, when the literal has more
    fractional or integral digits than the column holds (None when the column's own type holds it)."""
    if not isinstance(dtype, DecimalType) or isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    d = _as_decimal(value)
    if not d.is_finite():
        return None
    scale = max(0, -int(d.as_tuple().exponent))
    whole = max(d.adjusted() + 1, 1)
    if scale <= dtype.scale and whole <= dtype.precision - dtype.scale:
        return None
    new_scale = max(scale, dtype.scale)
    if max(whole, dtype.precision - dtype.scale) + new_scale > 38:
        return None  # past decimal128: the literal is refused as not fitting the column
    return DecimalType(max(whole, dtype.precision - dtype.scale) + new_scale, new_scale)


def _int_cannot_hold(value: Any, dtype: DataType | None) -> bool:
    """A literal an integer column cannot hold (a fraction, NaN, an infinity or a number beyond the
    column's range): Spark compares the two as doubles, so `v < CAST('NaN' AS DOUBLE)` holds for every number."""
    if not (isinstance(dtype, PrimitiveType) and dtype.name in ("long", "integer", "short", "byte")
            and isinstance(value, (float, Decimal)) and not isinstance(value, bool)):
        return False
    if value != value or value in (float("inf"), float("-inf")):
        return True
    if value != int(value):
        return True
    bits = {"long": 64, "integer": 32, "short": 16, "byte": 8}[dtype.name]
    return not -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)  # 1e19 against a bigint: as doubles


def _three_valued_in(item: pc.Expression, member: pc.Expression, has_null: bool, negated: bool) -> pc.Expression:
    """SQL IN/NOT IN: with a NULL in the list, a non-member is NULL (so NOT IN is never TRUE)."""
    null = av.lit(None, pa.bool_())
    if has_null:
        member = pc.if_else(pc.coalesce(member, av.lit(False)), av.lit(True), null)
    if not negated:
        return member
    return ~member
