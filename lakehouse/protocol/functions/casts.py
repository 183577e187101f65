"""CAST, TRY_CAST and the implicit casts to text, with Spark's semantics.

`CAST` is Spark's ANSI mode: a value that does not convert (text that is not a number, a number out of
the target's range, NaN into an integer) is an error naming the value and both types. `TRY_CAST` gives
NULL instead. Both are one conversion that yields NULL where a value is invalid (`_try`), and CAST adds a
check that no non-NULL input became NULL (`_require`).

Text follows Spark's `Cast` rather than Arrow's: doubles print as Java's `Double.toString` (`1.0`,
`1.0E10`, `NaN`, `Infinity`, `-0.0`), timestamps as `yyyy-MM-dd HH:mm:ss[.ffffff]` without trailing
zeros, text is trimmed before it is parsed, `'+5'` is an integer, `'yes'`/`'no'`/`'t'`/`'f'`/`'1'`/`'0'`
are booleans, text and doubles round HALF_UP into decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, TypeGuard

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.functions.registry import NOT_LITERAL, STRING, Call, lookup, udf
from lakehouse.protocol.schema import (
    ArrayType, DataType, DecimalType, MapType, PrimitiveType, StructType, to_arrow_type, type_name,
)

_INTS = ("byte", "short", "integer", "long")
VARIANT = PrimitiveType("variant")
_TRUE = {"t", "true", "y", "yes", "1"}
_FALSE = {"f", "false", "n", "no", "0"}


def _is(dtype: DataType | None, *names: str) -> TypeGuard[PrimitiveType]:
    return isinstance(dtype, PrimitiveType) and dtype.name in names


def cast_expression(value: pc.Expression, source: DataType | None, to: DataType, *, safe: bool) -> pc.Expression:
    """``CAST`` (an invalid value is an error, Spark's ANSI mode) or ``TRY_CAST`` (NULL) of ``value``.

    Fractions are truncated toward zero when cast to integers (Spark, both modes); text is trimmed and
    parsed as Spark parses it (timestamps without an offset are UTC)."""
    if source == to:
        return value
    if source is None:
        return av.lit(None, to_arrow_type(to))
    if source == VARIANT or to == VARIANT:
        from lakehouse.protocol.functions.variants import cast_from_variant, cast_to_variant  # builds on this module

        return cast_from_variant(value, to, safe=safe) if source == VARIANT else cast_to_variant(value, source)
    if to == STRING:
        return to_text(value, source)  # every value has a text
    _check_castable(source, to)
    converted = _try(value, source, to)
    return converted if safe else _require(value, converted, source, to)


def to_text(value: pc.Expression, source: DataType | None) -> pc.Expression:
    """``value`` as Spark prints it when it casts to string (also the implicit cast of string functions)."""
    if source == STRING:
        return value
    if source is None:  # a bare NULL (typed boolean in Arrow) is a NULL string
        return value.cast(pa.string())
    if source == VARIANT:  # Spark never casts a variant implicitly
        raise InvalidArgumentError("a variant is not text: CAST it (`v:a::string`, `CAST(v AS STRING)`) or use "
                                   "to_json(v)")
    if _is(source, "float", "double"):
        single = _is(source, "float")
        return udf("float_text" if single else "double_text", lambda a: _float_text(a, single),
                   [to_arrow_type(source)], pa.string(), [value])
    if _is(source, "timestamp", "timestamp_ntz"):
        return udf("timestamp_text", _timestamp_text, [to_arrow_type(source)], pa.string(), [value])
    if _is(source, "binary"):
        return udf("binary_text", _binary_text, [pa.binary()], pa.string(), [value])
    if isinstance(source, (ArrayType, MapType, StructType)):
        return udf("nested_text", lambda a: av.array([None if v is None else _nested_text(v, source) for v in a.to_pylist()],
                                                     pa.string()), [to_arrow_type(source)], pa.string(), [value])
    return value.cast(pa.string())


def _nested_text(v: Any, dtype: DataType | None) -> str:
    """Spark's text of a value inside an array, map or struct: `[1, null]`, `{a -> 1}`, `{1, x}`."""
    if v is None:
        return "null"
    if isinstance(dtype, ArrayType):
        return "[" + ", ".join(_nested_text(x, dtype.element_type) for x in v) + "]"
    if isinstance(dtype, MapType):
        return "{" + ", ".join(f"{_nested_text(k, dtype.key_type)} -> {_nested_text(x, dtype.value_type)}" for k, x in v) + "}"
    if isinstance(dtype, StructType):
        return "{" + ", ".join(_nested_text(v.get(f.name), f.type) for f in dtype.fields) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double_text(v, _is(dtype, "float"))
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if _is(dtype, "timestamp", "timestamp_ntz"):
        return _timestamp_text(av.array([v], to_arrow_type(dtype)))[0].as_py()
    return str(v)


_NUMBERS = (*_INTS, "float", "double")


def _is_number(dtype: DataType | None) -> bool:
    return _is(dtype, *_NUMBERS) or isinstance(dtype, DecimalType)


def _check_castable(source: DataType, to: DataType) -> None:
    """Spark's cast table: pairs it never converts are refused before any data is read."""
    nested = (ArrayType, MapType, StructType)
    refused = (isinstance(source, nested) or isinstance(to, nested)
               or (_is(source, "date") and (_is_number(to) or _is(to, "boolean")))
               or (_is(to, "date") and (_is_number(source) or _is(source, "boolean")))
               or (_is(source, "binary") != _is(to, "binary") and source != STRING))
    if refused:
        raise InvalidArgumentError(f"cannot CAST {type_name(source)} to {type_name(to)}: Spark has no such conversion")


def _try(value: pc.Expression, source: DataType, to: DataType) -> pc.Expression:
    """The conversion, NULL where a value does not convert."""
    want = to_arrow_type(to)
    if (_is_number(source) and _is(to, "timestamp", "timestamp_ntz")) or \
            (_is(source, "timestamp", "timestamp_ntz") and _is_number(to)):
        # Spark: a number is seconds since the epoch (UTC), a timestamp converts to its seconds.
        return udf("epoch_seconds", _epoch_converter(to), [to_arrow_type(source)], want, [value])
    if isinstance(to, DecimalType):
        return udf("to_decimal", _decimal_converter(source, to), [to_arrow_type(source)], want, [value])
    if source == STRING and not _is(to, "binary"):  # text is trimmed before it is parsed, not when it is bytes
        value = pc.utf8_trim_whitespace(value)
        if _is(to, "timestamp", "timestamp_ntz", "date"):
            parsed = lookup("to_timestamp").build(Call("to_timestamp", [value], [STRING], [NOT_LITERAL]))
            if _is(to, "timestamp_ntz"):
                parsed = parsed.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
            return parsed.cast(want)
        if _is(to, *_INTS):
            # Spark's integer text: an optional sign and digits (no fraction, no 0x); '+5' is 5.
            digits = pc.replace_substring_regex(value, pattern=r"^\+", replacement="")
            ok = pc.match_substring_regex(digits, pattern=r"^-?[0-9]+$")
            value = pc.if_else(ok, digits, av.lit(None, pa.string()))
        elif _is(to, "boolean"):
            return udf("text_boolean", _text_boolean, [pa.string()], pa.bool_(), [value])
    elif _is(to, *_INTS) and _is(source, "float", "double"):
        value = pc.trunc(value.cast(pa.float64()))  # toward zero, as Spark (both modes)
    elif _is(to, *_INTS) and isinstance(source, DecimalType):
        value = pc.trunc(value)
    return udf("try_cast", _arrow_try(want), [to_arrow_type(source) if source != STRING else pa.string()],
               want, [value])


def _arrow_try(want: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    # Into floating point every number converts, rounded to the nearest (Arrow refuses inexact ones).
    lossy = pa.types.is_floating(want)

    def convert(values: pa.Array) -> pa.Array:
        try:
            return values.cast(want, safe=not lossy or pa.types.is_string(values.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out = []
            for v in values:
                try:
                    out.append(av.array([v.as_py()], values.type).cast(want)[0].as_py())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
                    out.append(None)
            return av.array(out, want)
    return convert


def _require(original: pc.Expression, converted: pc.Expression, source: DataType, to: DataType) -> pc.Expression:
    """CAST (ANSI): the converted values, or an error naming the first value that did not convert."""
    src, out = to_arrow_type(source), to_arrow_type(to)

    def check(before: pa.Array, after: pa.Array) -> pa.Array:
        lost = pc.and_(pc.is_valid(before), pc.is_null(after))
        if pc.any(lost).as_py():
            bad = before.filter(lost)[0].as_py()
            shown = java_double_text(bad) if isinstance(bad, float) else repr(bad) if isinstance(bad, str) else str(bad)
            raise InvalidArgumentError(
                f"cannot CAST {shown} ({type_name(source)}) to {type_name(to)}: the value is not valid for "
                f"{type_name(to)} or out of its range\nHelp: TRY_CAST gives NULL for such values")
        return after
    return udf("require_cast", check, [src, out], out, [original, converted])


def _epoch_converter(to: DataType) -> Callable[[pa.Array], pa.Array]:
    want = to_arrow_type(to)
    limits = {"byte": 2**7, "short": 2**15, "integer": 2**31, "long": 2**63}

    def convert(values: pa.Array) -> pa.Array:
        out: list[Any] = []
        if pa.types.is_timestamp(values.type):
            micros = values.cast(pa.int64()).to_pylist()
            for m in micros:
                if m is None:
                    out.append(None)
                elif isinstance(to, DecimalType):
                    out.append(Decimal(m).scaleb(-6))
                elif pa.types.is_floating(want):
                    out.append(m / 1_000_000)
                else:  # floor, as Spark's Math.floorDiv(micros, 1000000); out of the type's range: no value
                    sec = m // 1_000_000
                    out.append(sec if -limits[to.name] <= sec < limits[to.name] else None)  # type: ignore[union-attr]  # an integer type here
            return _array(out, want)
        for v in values.to_pylist():
            if v is None or (isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))):
                out.append(None)
                continue
            micros = int(Decimal(repr(v) if isinstance(v, float) else v).scaleb(6).to_integral_value(rounding="ROUND_FLOOR"))
            out.append(micros if -2**63 <= micros < 2**63 else None)
        return av.array(out, pa.int64()).cast(want)
    return convert


def _array(values: list[Any], want: pa.DataType) -> pa.Array:
    if isinstance(want, pa.Decimal128Type):
        quantum = Decimal(1).scaleb(-want.scale)
        fit = [None if v is None else v.quantize(quantum, rounding=ROUND_HALF_UP) for v in values]
        fit = [v if v is None or v.adjusted() < want.precision - want.scale else None for v in fit]
        return av.array(fit, want)
    try:
        return av.array(values, want)
    except (pa.ArrowInvalid, OverflowError):
        return av.array(values, pa.float64()).cast(want, safe=False)


def _text_boolean(values: pa.Array) -> pa.Array:
    out = []
    for v in values.to_pylist():
        word = v.lower() if v is not None else None
        out.append(True if word in _TRUE else False if word in _FALSE else None)
    return av.array(out, pa.bool_())


def _decimal_converter(source: DataType, to: DecimalType) -> Callable[[pa.Array], pa.Array]:
    exponent = Decimal(1).scaleb(-to.scale)
    whole = to.precision - to.scale

    def convert(values: pa.Array) -> pa.Array:
        out = []
        for v in values.to_pylist():
            out.append(None if v is None else _to_decimal(v, exponent, whole))
        return av.array(out, pa.decimal128(to.precision, to.scale))
    return convert


def _to_decimal(v: Any, exponent: Decimal, whole: int) -> Decimal | None:
    try:
        if isinstance(v, bool):
            d = Decimal(int(v))
        elif isinstance(v, float):
            d = Decimal(repr(v))  # Spark goes through the double's shortest text: 2.675 is 2.675, not 2.67499...
        elif isinstance(v, str):
            d = Decimal(v.strip())
        else:
            d = Decimal(v)
        if not d.is_finite():
            return None
        rounded = d.quantize(exponent, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return rounded if rounded == 0 or rounded.adjusted() < whole else None


def _float_text(values: pa.Array, single: bool) -> pa.Array:
    # Between 1e-3 and 1e7 Java prints the same shortest digits as Arrow, plainly, with at least one
    # fractional digit; only the rest (NaN, infinities, zeros, tiny and huge values) is formatted in Python.
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    plain = av.fill_null(pc.and_(pc.greater_equal(magnitude, av.scalar(1e-3)), pc.less(magnitude, av.scalar(1e7))), True)
    text = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, av.scalar(".0"), av.scalar("")))
    others = pc.invert(plain)
    if not pc.any(others).as_py():
        return text
    rest = [java_double_text(v, single) for v in values.filter(others).to_pylist()]
    return pc.replace_with_mask(text, others, av.array(rest, pa.string()))


def java_double_text(v: float, single: bool = False) -> str:
    """Java's `Double.toString` (shortest digits; plain between 1e-3 and 1e7, else `d.dddE±n`)."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0.0" if str(v).startswith("-") else "0.0"
    text = str(np.float32(v)) if single else repr(v)
    d = Decimal(text)
    sign = "-" if d < 0 else ""
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    point = d.adjusted()  # the exponent of the first digit
    if 1e-3 <= abs(v) < 1e7:
        if point >= 0:
            whole, frac = digits[:point + 1].ljust(point + 1, "0"), digits[point + 1:]
        else:
            whole, frac = "0", "0" * (-point - 1) + digits
        return f"{sign}{whole}.{frac or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point}"


def _timestamp_text(values: pa.Array) -> pa.Array:
    out: list[str | None] = []
    for v in values.to_pylist():
        if v is None:
            out.append(None)
            continue
        text = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        if v.microsecond:
            text += f".{v.microsecond:06d}".rstrip("0")
        out.append(text)
    return av.array(out, pa.string())


def _binary_text(values: pa.Array) -> pa.Array:
    return av.array([None if v is None else v.decode("utf-8", errors="replace") for v in values.to_pylist()],
                    pa.string())
