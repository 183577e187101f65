"""Partition value decoding (PROTOCOL.md "Partition Value Serialization").

Partition values are strings in `add.partitionValues`; an empty string or a missing value is null for
every type. Timestamps without an offset are read as UTC, as delta-rs and delta-kernel-rs do (Spark reads
them in the writer's session time zone, which the log does not record).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, InvalidLogError
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, to_arrow_type

_INTS = {"long", "integer", "short", "byte"}


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


def parse_partition_value(raw: str | None, dtype: DataType, *, column: str = "") -> Any:
    """Decode one serialised partition value into a Python value of ``dtype`` (None for null)."""
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
        if name == "date":
            y, m, d = raw.strip().split("-")
            return date(int(y), int(m), int(d))
        if name == "timestamp":
            dt = _parse_datetime(raw)
            return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
        if name == "timestamp_ntz":
            dt = _parse_datetime(raw)
            return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(timezone.utc).replace(tzinfo=None)
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
        return pa.scalar(value, type=to_arrow_type(dtype))
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
# Spark's ExternalCatalogUtils.escapePathName: characters that cannot stand in a partition directory name.
_ESCAPE = set('"#%\'*/:=?\\\x7f{[]^') | {chr(c) for c in range(1, 32)}


def serialize_partition_value(value: Any, dtype: DataType) -> str | None:
    """The `partitionValues` string for a Python value (None stays None)."""
    if value is None:
        return None
    if isinstance(dtype, DecimalType):
        return format(Decimal(value), "f")
    name = dtype.name if isinstance(dtype, PrimitiveType) else ""
    if name == "boolean":
        return "true" if value else "false"
    if name in ("float", "double"):
        return repr(float(value))
    if name == "timestamp":
        # PROTOCOL.md recommends UTC in ISO-8601 so no reader needs the writer's time zone.
        v = value.astimezone(timezone.utc) if value.tzinfo else value
        return _datetime_text(v, "T") + "Z"
    if name == "timestamp_ntz":
        return _datetime_text(value, " ")
    if name == "date":
        return value.isoformat()
    if name == "binary":
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                "binary partition values must be valid UTF-8: Delta stores partition values as strings"
            ) from None
    if name == "string" and value == "":
        return None  # an empty string partition value means null in Delta
    return str(value)


def _datetime_text(v: datetime, sep: str) -> str:
    # strftime("%Y") does not zero-pad years before 1000 on every platform; format the fields directly.
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}{sep}{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}")


def escape_path_name(text: str) -> str:
    """Escape a partition column name or value for a directory name, as Spark/Hive do."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPE else c for c in text)


def partition_dir(columns: list[str], values: list[str | None]) -> str:
    """The Hive-style directory ``col=value/...`` for serialised partition values."""
    return "/".join(
        f"{escape_path_name(c)}={HIVE_NULL if v is None else escape_path_name(v)}" for c, v in zip(columns, values)
    )
