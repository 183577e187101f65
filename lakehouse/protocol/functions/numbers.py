"""Numeric and conditional functions: abs, round (HALF_UP), floor/ceil, logarithms, NaN handling, COALESCE,
NULLIF, GREATEST/LEAST (NaN largest, NULLs skipped)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.functions.registry import (
    BOOLEAN, DOUBLE, LONG, Call, INTS, cast_all, first_type, null_of, common_type, register, udf,
)
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, to_arrow_type

# -- math ------------------------------------------------------------------------------------------------
def _round(call: Call) -> pc.Expression:
    digits = call.literal(1, "scale") if len(call.args) > 1 else 0
    dtype = call.types[0]
    if digits is None:
        return null_of(dtype)
    if isinstance(dtype, DecimalType):
        # HALF_UP in one more digit of precision: rounding may carry into a new integral digit
        # (99.99 -> 100.00), which Arrow would otherwise wrap around silently within the input type.
        value = call.args[0].cast(to_arrow_type(_round_decimal(dtype)))
        return pc.round(value, ndigits=int(digits), round_mode="half_towards_infinity")
    if isinstance(dtype, PrimitiveType) and dtype.name in INTS:
        return pc.round(call.args[0], ndigits=int(digits), round_mode="half_towards_infinity")
    # Spark rounds a double through its decimal text (BigDecimal(d).setScale(s, HALF_UP)): 2.675 -> 2.68.
    exponent = Decimal(1).scaleb(-int(digits))

    def spark_round(values: pa.Array) -> pa.Array:
        out = []
        for v in values.to_pylist():
            if v is None or v != v or v in (float("inf"), float("-inf")):
                out.append(v)
                continue
            try:
                out.append(float(Decimal(repr(v)).quantize(exponent, rounding=ROUND_HALF_UP)))
            except InvalidOperation:
                out.append(v)  # more digits than the context holds: already an integer at that scale
        return av.array(out, pa.float64())
    return udf("round", spark_round, [pa.float64()], pa.float64(), [call.args[0]])


def _floor_ceil(up: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        dtype = call.types[0]
        if isinstance(dtype, PrimitiveType) and dtype.name in INTS:
            return call.args[0].cast(pa.int64())
        if isinstance(dtype, DecimalType):
            # Widen first: ceil(99.99) is 100, which decimal(4,2) cannot hold while Arrow computes in it.
            wide = call.args[0].cast(to_arrow_type(_round_decimal(dtype)))
            return (pc.ceil if up else pc.floor)(wide).cast(to_arrow_type(_floor_decimal(dtype)))

        def to_long(values: pa.Array) -> pa.Array:
            # Spark: Math.floor(x).toLong, so NaN is 0 and values past the long range saturate.
            x = av.to_numpy(values).astype(np.float64)
            rounded = np.nan_to_num((np.ceil if up else np.floor)(x), nan=0.0, posinf=0.0, neginf=0.0)
            inside = np.clip(rounded, -2.0**63, np.nextafter(2.0**63, 0)).astype(np.int64)
            # Java's double-to-long conversion saturates at Long.MIN_VALUE/MAX_VALUE exactly.
            saturated = np.where(x >= 2.0**63, np.iinfo(np.int64).max, np.where(x < -2.0**63, np.iinfo(np.int64).min, inside))
            return av.array(saturated, pa.int64(), mask=av.to_numpy(values.is_null()))
        return udf("ceil" if up else "floor", to_long, [pa.float64()], pa.int64(), [call.args[0]])
    return build


def _round_type(types: list[DataType | None]) -> DataType | None:
    """round() keeps the input's scale and, for decimals, gains one digit of precision for the carry
    (Spark gives decimal(p-s+1+min(s,d), min(s,d)); the values are the same, the scale is the input's)."""
    t = types[0] if types else None
    return _round_decimal(t) if isinstance(t, DecimalType) else t


def _round_decimal(t: DecimalType) -> DecimalType:
    return DecimalType(min(38, t.precision + 1), t.scale)


def _floor_type(types: list[DataType | None]) -> DataType | None:
    t = types[0] if types else None
    if isinstance(t, DecimalType):
        return _floor_decimal(t)
    return LONG if t is not None else None


def _floor_decimal(t: DecimalType) -> DecimalType:
    return DecimalType(min(38, t.precision - t.scale + 1), 0)


def _positive_log(arg: pc.Expression, fn: Callable[[pc.Expression], pc.Expression]) -> pc.Expression:
    # Spark: the logarithm of zero or a negative number is NULL, not -Infinity or NaN.
    value = arg.cast(pa.float64())
    return pc.if_else(value > av.lit(0.0), fn(value), av.lit(None, pa.float64()))


def _log(call: Call) -> pc.Expression:
    if len(call.args) == 1:
        return _positive_log(call.args[0], pc.ln)
    base, value = call.args[0].cast(pa.float64()), call.args[1]
    if call.literals[0] in (2, 10) and not isinstance(call.literals[0], bool):
        # log10(x) and log2(x) arrive as log(10, x) and log(2, x); Spark computes them with Math.log10
        # (log10(1000) = 3.0, not ln(1000)/ln(10) = 2.9999999999999996).
        return _positive_log(value, pc.log10 if call.literals[0] == 10 else pc.log2)
    ratio = pc.divide(pc.ln(value.cast(pa.float64())), pc.ln(base))
    return pc.if_else((base > av.lit(0.0)) & (value.cast(pa.float64()) > av.lit(0.0)), ratio,
                      av.lit(None, pa.float64()))


def _extreme(greatest: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        to = common_type(call.types)
        if to is None:  # every argument a bare NULL
            return null_of(None)
        args = cast_all(call, to)
        arrow = to_arrow_type(to)
        if pa.types.is_temporal(arrow):
            # Arrow's min/max_element_wise have no kernels for dates and timestamps: order their integers.
            storage = pa.int32() if pa.types.is_date32(arrow) else pa.int64()
            ints = [a.cast(storage) for a in args]
            return (pc.max_element_wise if greatest else pc.min_element_wise)(*ints, skip_nulls=True).cast(arrow)
        out = (pc.max_element_wise if greatest else pc.min_element_wise)(*args, skip_nulls=True)
        if greatest and isinstance(to, PrimitiveType) and to.name in ("float", "double"):
            # Spark: NaN is above every number, so GREATEST of anything with a NaN is NaN.
            any_nan = av.lit(False)
            for a in args:
                any_nan = any_nan | pc.coalesce(pc.is_nan(a), av.lit(False))
            out = pc.if_else(any_nan, pc.scalar(float("nan")), out)
        return out
    return build


# -- conditionals ------------------------------------------------------------------------------------------
def _coalesce(call: Call) -> pc.Expression:
    return pc.coalesce(*cast_all(call, common_type(call.types)))


def _nullif(call: Call) -> pc.Expression:
    to = common_type(call.types)
    a, b = cast_all(call, to)
    equal = a == b
    if isinstance(to, PrimitiveType) and to.name in ("float", "double"):
        equal = equal | (pc.is_nan(a) & pc.is_nan(b))  # Spark's `=`: NaN equals NaN, so NULLIF(NaN, NaN) is NULL
    return pc.if_else(pc.coalesce(equal, av.lit(False)), null_of(call.types[0] or to), a)


def _nanvl(call: Call) -> pc.Expression:
    a, b = (x.cast(pa.float64()) for x in call.args)
    return pc.if_else(pc.coalesce(pc.is_nan(a), av.lit(False)), b, a)


register("negative", 1, 1, first_type, lambda c: pc.negate_checked(c.args[0]), family="numeric")
register("positive", 1, 1, first_type, lambda c: c.args[0], family="numeric")
register("abs", 1, 1, first_type, lambda c: pc.abs_checked(c.args[0]), family="numeric")
register("round", 1, 2, _round_type, _round, family="numeric")
register("floor", 1, 1, _floor_type, _floor_ceil(False), family="numeric")
register("ceil", 1, 1, _floor_type, _floor_ceil(True), family="numeric", aliases=("ceiling",))
register("sqrt", 1, 1, DOUBLE, lambda c: pc.sqrt(c.args[0].cast(pa.float64())), family="numeric")
register("pow", 2, 2, DOUBLE, lambda c: pc.power(c.args[0].cast(pa.float64()), c.args[1].cast(pa.float64())),
          family="numeric", aliases=("power",))
register("exp", 1, 1, DOUBLE, lambda c: pc.exp(c.args[0].cast(pa.float64())), family="numeric")
register("ln", 1, 1, DOUBLE, lambda c: _positive_log(c.args[0], pc.ln), family="numeric")
register("log", 1, 2, DOUBLE, _log, family="numeric")
register("log10", 1, 1, DOUBLE, lambda c: _positive_log(c.args[0], pc.log10), family="numeric")
register("log2", 1, 1, DOUBLE, lambda c: _positive_log(c.args[0], pc.log2), family="numeric")
register("isnan", 1, 1, BOOLEAN, lambda c: pc.coalesce(pc.is_nan(c.args[0].cast(pa.float64())), av.lit(False)),
          family="numeric", null_in_null_out=False)
register("nanvl", 2, 2, DOUBLE, _nanvl, family="numeric")
register("greatest", 2, None, common_type, _extreme(True), null_in_null_out=False)
register("least", 2, None, common_type, _extreme(False), null_in_null_out=False)
register("coalesce", 1, None, common_type, _coalesce, aliases=("nvl", "ifnull"), null_in_null_out=False)
register("nullif", 2, 2, first_type, _nullif, null_in_null_out=False)
