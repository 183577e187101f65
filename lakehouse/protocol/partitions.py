"""Partition values as strings (PROTOCOL.md "Partition Value Serialization"): decoding the strings in
`add.partitionValues`, encoding values as Spark writes them, and the escaped Hive directory names.

Partition values are strings in `add.partitionValues`; an empty string or a missing value is null for
every type. Timestamps without an offset are read as UTC, as delta-rs and delta-kernel-rs do (Spark reads
them in the writer's session time zone, which the log does not record).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Any

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, InvalidLogError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, to_arrow_type
from lakehouse.protocol.stats import format_date, format_timestamp_us, parse_iso_micros

_INTS = {"long", "integer", "short", "byte"}
_DAY_MICROS = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Python's datetime range (years 1-9999) in microseconds since the epoch; only values outside it take the
# integer path when parsed.
_PY_MIN_MICROS = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY_MICROS
_PY_END_MICROS = (date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * _DAY_MICROS
_CLOCK = re.compile(r"[T ](\d{2}):(\d{2})(?::(\d{2}))?")


def _parse_datetime(s: str) -> datetime:
    text = s.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python < 3.11 fromisoformat is strict about fractional digits; normalise to 6 digits.
    head, sep, frac = text.replace("T", " ", 1).partition(".")
    if sep:
        digits = ""
        rest = ""
        for i, ch in enumerate(frac):
            if not ch.isdigit():
                rest = frac[i:]
                break
            digits += ch
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    else:
        text = head
    return datetime.fromisoformat(text)


def _valid_clock(raw: str) -> bool:
    clock = _CLOCK.search(raw)
    return clock is None or (int(clock[1]) < 24 and int(clock[2]) < 60 and int(clock[3] or 0) < 60)


def _parse_temporal(raw: str, name: str) -> date | datetime:
    if name == "date":
        y, m, d = raw.strip().split("-")
        return date(int(y), int(m), int(d))
    dt = _parse_datetime(raw)
    if name == "timestamp":
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(timezone.utc).replace(tzinfo=None)


def parse_partition_value(raw: str | None, dtype: DataType, *, column: str = "") -> Any:
    """Decode one serialised partition value into a Python value of ``dtype`` (None for null).

    A date or timestamp outside Python's range (years before 1 or after 9999) decodes to its Arrow
    storage integer instead (days, or microseconds, since the epoch), which `pa.scalar` and `pa.array`
    take for those types."""
    if raw is None or raw == "":
        return None
    try:
        if isinstance(dtype, DecimalType):
            return Decimal(raw)
        if not isinstance(dtype, PrimitiveType):
            raise ValueError("partition columns must have a primitive type")
        name = dtype.name
        if name == "string":
            return raw
        if name in _INTS:
            return int(raw)
        if name in ("float", "double"):
            return float(raw)
        if name == "boolean":
            low = raw.strip().lower()
            if low not in ("true", "false"):
                raise ValueError("not true/false")
            return low == "true"
        if name in ("date", "timestamp", "timestamp_ntz"):
            try:
                return _parse_temporal(raw, name)
            except (ValueError, OverflowError):
                # Years before 1 or after 9999 (delta-rs and Spark write `+10000-01-01`, `0000-12-31`):
                # Python's datetime cannot hold them, Arrow can; the value is Arrow's storage integer.
                micros = parse_iso_micros(raw)
                if micros is None or _PY_MIN_MICROS <= micros < _PY_END_MICROS or not _valid_clock(raw):
                    raise
                return micros // _DAY_MICROS if name == "date" else micros
        if name == "binary":
            return raw.encode("utf-8")
        raise ValueError(f"type {name} cannot be a partition column")
    except (ValueError, InvalidOperation, OverflowError) as e:
        raise InvalidLogError(
            f"partition value {raw!r} of column '{column}' does not parse as {dtype}: {e}"
        ) from None


def partition_scalar(raw: str | None, dtype: DataType, *, column: str = "") -> pa.Scalar:
    """The Arrow scalar for one serialised partition value."""
    value = parse_partition_value(raw, dtype, column=column)
    try:
        return av.scalar(value, type=to_arrow_type(dtype))
    except (pa.ArrowException, OverflowError, ValueError) as e:
        raise InvalidLogError(f"partition value {raw!r} of column '{column}' does not fit {dtype}: {e}") from None


def partition_array(raw: str | None, dtype: DataType, length: int, *, column: str = "") -> pa.Array:
    """A constant Arrow array of ``length`` copies of a partition value."""
    scalar = partition_scalar(raw, dtype, column=column)
    if not scalar.is_valid:
        return pa.nulls(length, type=scalar.type)
    return pa.repeat(scalar, length)


# -- writing -------------------------------------------------------------------------------------------
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Spark's ExternalCatalogUtils.escapePathName set (0x01-0x1F, DEL and `"#%'*/:=?\\{[]^`), plus NUL: Spark
# leaves NUL alone, but no file system or object store takes it in a name, so it is escaped as delta-rs
# and delta-kernel-rs do (`%00`). Space and non-ASCII stay as they are, as in Spark.
_ESCAPE = frozenset('"#%\'*/:=?\\\x7f{[]^') | {chr(c) for c in range(0, 32)}


def _java_float_text(value: float, *, single: bool) -> str:
    """Java's Float.toString / Double.toString of ``value`` (what Spark and delta-kernel-rs write):
    the shortest digits that read back as the same float or double, in plain notation for magnitudes in
    [1e-3, 1e7) and as ``d.dddE<n>`` otherwise; ``NaN``, ``Infinity``, ``-Infinity``; the sign of zero kept."""
    if single:
        with np.errstate(over="ignore"):
            value = float(np.float32(value))  # a float column's values are float32: no-op for them
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0.0:
        return sign + "0.0"
    # Shortest round-trip digits: repr() for doubles; numpy's shortest float32 digits for floats, since
    # the double repr of a float32 (0.10000000149011612) is not what a float32 reader expects.
    text = np.format_float_scientific(np.float32(abs(value)), unique=True) if single else repr(abs(value))
    _, digit_tuple, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)  # a finite value's exponent: NaN and the infinities returned above
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    point = exponent + len(digit_tuple) - 1  # value = d.ddd x 10**point
    if len(digits) == 1:
        # Java prints at least two digits and, when one would do, takes the two-digit decimal nearest
        # the exact value if it reads back the same (Float.MIN_VALUE is "1.4E-45", not "1.0E-45").
        with localcontext(Context(prec=2)):
            nearest = +Decimal(abs(value))  # the exact binary value, rounded half-even to two digits
        exact_back = float(np.float32(nearest)) if single else float(nearest)
        if exact_back == abs(value):
            _, pair, exp2 = nearest.as_tuple()
            if len(pair) == 2 and isinstance(exp2, int) and exp2 + 1 == point:
                digits = "".join(map(str, pair)).rstrip("0") or "0"
    if -3 <= point < 7:
        if point >= 0:
            whole, frac = digits[: point + 1].ljust(point + 1, "0"), digits[point + 1 :]
        else:
            whole, frac = "0", "0" * (-point - 1) + digits
        return f"{sign}{whole}.{frac or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point}"


def serialize_partition_value(value: Any, dtype: DataType, *, column: str = "") -> str | None:
    """The `partitionValues` string for a Python value or an Arrow scalar (an Arrow scalar also holds
    dates and timestamps outside Python's range; null stays None), as Spark and delta-kernel-rs
    write it (PROTOCOL.md "Partition Value Serialization"). The string is the value: two values that
    differ (0.0 and -0.0) never share one, and parsing it gives the value back. Empty strings and empty
    binaries are null, as in Spark; binary values are their UTF-8 text (others are refused)."""
    if value is None:
        return None
    name = dtype.name if isinstance(dtype, PrimitiveType) else ""
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            return None
        if name not in ("date", "timestamp", "timestamp_ntz"):
            value = value.as_py()
    if isinstance(dtype, DecimalType):
        # The column's scale, always: Spark writes DECIMAL(5,2) 1.1 as "1.10". The context must hold 38
        # digits (the default holds 28).
        with localcontext(Context(prec=80)):
            return format(Decimal(value).quantize(Decimal(1).scaleb(-dtype.scale)), "f")
    if name == "boolean":
        return "true" if value else "false"
    if name in ("float", "double"):
        return _java_float_text(float(value), single=name == "float")
    if name in ("date", "timestamp", "timestamp_ntz"):
        # From integers, so years beyond Python's datetime (after 9999, before 1) are written too, in ISO
        # 8601 expanded form (`+10000-01-01`) as Spark and delta-rs write them. Timestamps in UTC with `Z`
        # (PROTOCOL.md's recommendation: no reader needs the writer's time zone); timestamp_ntz with a space.
        count = _epoch_count(value, name)
        if name == "date":
            return format_date(count)
        text = format_timestamp_us(count, ntz=name == "timestamp_ntz")
        return text.replace("T", " ", 1) if name == "timestamp_ntz" else text
    if name == "binary":
        # Spark writes CAST(binary AS STRING) and delta-kernel-rs reads the string's UTF-8 bytes back, so
        # only UTF-8 round-trips. (delta-rs writes `\u00XX` escape text, which it reads back as that text.)
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                f"binary partition value {bytes(value)!r} of column '{column}' is not valid UTF-8: Delta "
                f"stores partition values as strings, and only UTF-8 reads back as the same bytes"
            ) from None
        return text or None  # an empty value is null in Delta (Spark writes it to the null partition)
    if name == "string" and value == "":
        return None  # an empty string partition value means null in Delta
    return str(value)


def _epoch_count(value: Any, name: str) -> int:
    """Days (dates) or microseconds (timestamps) since the epoch, UTC, of an Arrow scalar (any year) or a
    Python date/datetime (an aware datetime is converted to UTC; a naive one is taken as it reads)."""
    if isinstance(value, pa.Scalar):
        if name == "date":
            return int(value.cast(pa.date32()).cast(pa.int32()).as_py())
        tz = getattr(value.type, "tz", None)
        return int(value.cast(pa.timestamp("us", tz=tz)).cast(pa.int64()).as_py())
    if name == "date":
        return value.toordinal() - _EPOCH_ORDINAL
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    seconds = (value.toordinal() - _EPOCH_ORDINAL) * 86_400 + value.hour * 3600 + value.minute * 60 + value.second
    return seconds * 1_000_000 + value.microsecond


def escape_path_name(text: str) -> str:
    """Escape a partition column name or value for a directory name, as Spark/Hive do."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPE else c for c in text)


def partition_dir(columns: list[str], values: list[str | None]) -> str:
    """The Hive-style directory ``col=value/...`` for serialised partition values."""
    return "/".join(
        f"{escape_path_name(c)}={HIVE_NULL if v is None else escape_path_name(v)}" for c, v in zip(columns, values)
    )
