"""Variant statistics for data skipping (PROTOCOL.md "Statistics for Variant Columns").

A variant column's `minValues`/`maxValues` (written by engines that shred, e.g. Spark/Databricks with
`delta.enableVariantShredding`) are, in JSON, Z85 strings of a variant: Spark concatenates the metadata
and the value (`DeltaStatsJsonUtils.encodeVariantAsZ85`, padded to 4 bytes), PROTOCOL.md's example the
value and then the metadata; the first byte tells which (a metadata header is version 1, a value here is
an object). The variant is an object keyed by RFC 9535 normalized paths (`$['a']['b']`) whose values are
the path's lower (upper) bound, computed per path, written only where the path has one variant type in
every row of the file.

A predicate ``CAST(variant_get(v, path) AS t) op literal`` (``v:path::t op literal``) can skip a file
when both bounds of that path exist with the same type and converting them to ``t`` is exact and
order-preserving for every value between them: integers into an integer type whose range holds both
bounds, or into a decimal that holds them, or into double; decimals into a decimal that holds them or
into double; strings into string; dates, timestamps, timestamp_ntz and booleans into themselves. Every
other pairing (a string bound under a numeric cast, whose text order is not numeric order; floating
point, whose NaN sorts above every bound; types Spark has no SQL type for) decides nothing, as does a
bound that does not decode. lakehouse writes `nullCount` for variant columns but never min/max (it
never shreds, and PROTOCOL.md allows them only on tables that enable shredding). Pure; no I/O.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow as pa

from lakehouse.errors import LakehouseError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.dv import z85_decode
from lakehouse.protocol.expr_ast import Cast, Col, Expr, Func, Lit
from lakehouse.protocol.functions.variants import path_text, parse_path
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, to_arrow_type
from lakehouse.protocol.variant import VARIANT, parse_metadata
from lakehouse.protocol.variant_binary import (
    DATE, DECIMAL4, DECIMAL8, DECIMAL16, INT8, INT16, INT32, INT64, STRING, TIMESTAMP, TIMESTAMP_NTZ,
    metadata_size, object_fields, scalar, value_size,
)

Bounds = dict[str, tuple[int, Any]]
_INTS = {INT8, INT16, INT32, INT64}
_DECIMALS = {DECIMAL4, DECIMAL8, DECIMAL16}
_INT_RANGES = {"byte": 2**7, "short": 2**15, "integer": 2**31, "long": 2**63}
_SAME = {STRING: "string", DATE: "date", TIMESTAMP: "timestamp", TIMESTAMP_NTZ: "timestamp_ntz", 1: "boolean",
         2: "boolean"}


def extraction(expr: Expr) -> tuple[Col, str, DataType] | None:
    """(column, normalized path, target type) of ``CAST(variant_get(col, path) AS t)``, the tree every
    variant path comparison parses to; None for anything else."""
    if not isinstance(expr, Cast):
        return None
    inner = expr.item
    if not (isinstance(inner, Func) and inner.name == "variant_get" and len(inner.args) == 2):
        return None
    column, path = inner.args
    if not isinstance(column, Col) or not isinstance(path, Lit) or not isinstance(path.value, str):
        return None
    try:
        return column, path_text(parse_path(path.value)), expr.to
    except LakehouseError:
        return None


def split(text: str) -> tuple[bytes, bytes] | None:
    """The variant metadata and value one Z85 statistic holds (either order, padding dropped); None when
    it does not decode."""
    try:
        raw = z85_decode(text[: len(text) // 5 * 5])
        if not raw:
            return None
        if raw[0] & 0x0F == 1:  # metadata, then value (Spark)
            meta = raw[: metadata_size(raw)]
            rest = raw[len(meta):]
            value = rest[: value_size(rest)]
        elif raw[0] & 0x03 == 2:  # value, then metadata (PROTOCOL.md's example)
            value = raw[: value_size(raw)]
            rest = raw[len(value):]
            meta = rest[: metadata_size(rest)]
        else:
            return None
        whole = len(meta) == metadata_size(meta) and len(value) == value_size(value)
        return (meta, value) if meta and value and whole else None
    except (LakehouseError, ValueError, IndexError, KeyError):
        return None


def decode(text: str) -> Bounds | None:
    """The bounds one Z85 statistic holds, by normalized path; None when it does not decode."""
    pair = split(text)
    if pair is None:
        return None
    meta, value = pair
    try:
        keys = parse_metadata(meta)
        fields = object_fields(value)
        if fields is None:
            return None
        out: Bounds = {}
        for fid, child in fields:
            if fid < len(keys) and child and child[0] & 0x03 in (0, 1):  # primitives and short strings only
                out[keys[fid]] = scalar(child, 0, len(child))
        return out
    except (LakehouseError, ValueError, IndexError, KeyError):
        return None


def _convert(type_id: int, value: Any, to: DataType) -> Any:
    """``value`` (a bound of variant type ``type_id``) in target type ``to`` when that conversion is exact
    and order-preserving over the bounds' range; None otherwise."""
    name = to.name if isinstance(to, PrimitiveType) else None
    if type_id in _INTS:
        if name in _INT_RANGES:
            return value if -_INT_RANGES[name] <= value < _INT_RANGES[name] else None
        if name == "double":
            return float(value)
        if isinstance(to, DecimalType):
            return Decimal(value) if abs(value) < 10 ** (to.precision - to.scale) else None
        return None
    if type_id in _DECIMALS:
        unscaled, scale = value
        exact = Decimal(unscaled).scaleb(-scale)
        if name == "double":
            return float(exact)
        if isinstance(to, DecimalType):
            rounded = exact.quantize(Decimal(1).scaleb(-to.scale), rounding=ROUND_HALF_UP)
            return rounded if abs(rounded) < 10 ** (to.precision - to.scale) else None
        return None
    if _SAME.get(type_id) == name:
        return value
    return None


def bounds(mins: pa.Array, maxs: pa.Array, path: str, to: DataType) -> tuple[pa.Array, pa.Array] | None:
    """Per file, the lower and upper bound of ``path`` converted to ``to`` (null where unknown), from the
    variant column's raw `minValues`/`maxValues` strings; None when ``to`` is a type no bound converts to."""
    if not (isinstance(to, DecimalType) or isinstance(to, PrimitiveType) and to.name != "variant"):
        return None
    cache: dict[str, Bounds | None] = {}

    def entry(text: str | None) -> tuple[int, Any] | None:
        if text is None:
            return None
        if text not in cache:
            cache[text] = decode(text)
        found = cache[text]
        return found.get(path) if found else None

    lows: list[Any] = []
    highs: list[Any] = []
    for lo_text, hi_text in zip(mins.to_pylist(), maxs.to_pylist()):
        lo, hi = entry(lo_text), entry(hi_text)
        pair = (None, None)
        if lo is not None and hi is not None and lo[0] == hi[0]:
            a, b = _convert(lo[0], lo[1], to), _convert(hi[0], hi[1], to)
            if a is not None and b is not None:
                pair = (a, b)
        lows.append(pair[0])
        highs.append(pair[1])
    return _array(lows, to), _array(highs, to)


def _array(values: list[Any], to: DataType) -> pa.Array:
    # Dates and timestamps arrive as their integer storage (days, microseconds).
    if to == PrimitiveType("date"):
        return av.array(values, pa.int32()).cast(pa.date32())
    if isinstance(to, PrimitiveType) and to.name in ("timestamp", "timestamp_ntz"):
        return av.array(values, pa.int64()).cast(to_arrow_type(to))
    return av.array(values, to_arrow_type(to))


def is_variant(dtype: DataType) -> bool:
    """Whether a stats leaf is a variant column (its bounds are Z85 strings)."""
    return dtype == VARIANT
