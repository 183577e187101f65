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

from lakehouse.errors import InvalidLogError
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
    return pa.scalar(parse_partition_value(raw, dtype, column=column), type=to_arrow_type(dtype))


def partition_array(raw: str | None, dtype: DataType, length: int, *, column: str = "") -> pa.Array:
    """A constant Arrow array of ``length`` copies of a partition value."""
    scalar = partition_scalar(raw, dtype, column=column)
    if not scalar.is_valid:
        return pa.nulls(length, type=scalar.type)
    return pa.repeat(scalar, length)
