"""Conform physical Arrow data to a logical Delta type (PROTOCOL.md "Column Mapping", "Type Widening",
"Consistency Between Table Metadata and Data Files").

Data files store columns under physical names (column mapping `name` mode), field ids (`id` mode) or
logical names (no mapping), possibly at a narrower type than the table's (type widening) or as INT96
timestamps. This module rebuilds arrays recursively so that every struct field carries its logical name and
type; a column missing from a file reads as nulls. Variant columns (PROTOCOL.md "Reader Requirements for
Variant Data Type") keep their two binaries untouched; a shredded variant is refused. Pure Arrow, no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import (
    ArrayType,
    DataType,
    MapType,
    StructField,
    StructType,
    to_arrow_field,
    to_arrow_type,
)
from lakehouse.protocol.properties import ColumnMappingMode as Mode
from lakehouse.protocol.variant import VARIANT, conform_variant

FIELD_ID_KEY = b"PARQUET:field_id"
PHYSICAL_NAME = "delta.columnMapping.physicalName"
COLUMN_ID = "delta.columnMapping.id"


def physical_name(f: StructField, mode: Mode) -> str:
    """The name a field has in data files, partition values and stats under column mapping ``mode``."""
    if mode == "none":
        return f.name
    return str(f.metadata.get(PHYSICAL_NAME, f.name))


def physical_arrow_field(f: StructField, mode: Mode) -> pa.Field:
    """The Arrow field a data file stores for logical field ``f``: physical names at every level and, under
    column mapping, the column id as the Parquet field id (PROTOCOL.md "Writer Requirements for Column
    Mapping")."""
    if mode == "none":
        return to_arrow_field(f)
    meta = {b"PARQUET:field_id": str(f.metadata[COLUMN_ID]).encode()} if COLUMN_ID in f.metadata else None
    return pa.field(physical_name(f, mode), _physical_type(f.type, mode), f.nullable, metadata=meta)


def _physical_type(t: DataType, mode: Mode) -> pa.DataType:
    if isinstance(t, StructType):
        return pa.struct([physical_arrow_field(f, mode) for f in t.fields])
    if isinstance(t, ArrayType):
        return pa.list_(pa.field("element", _physical_type(t.element_type, mode), t.contains_null))
    if isinstance(t, MapType):
        return pa.map_(pa.field("key", _physical_type(t.key_type, mode), False),
                       pa.field("value", _physical_type(t.value_type, mode), t.value_contains_null))
    return to_arrow_type(t)


def to_physical(table: pa.Table, file_schema: pa.Schema) -> pa.Table:
    """Relabel a logical table with the file's physical names and field ids (a zero-copy view)."""
    columns = [pa.chunked_array([c.view(f.type) for c in table.column(i).chunks], type=f.type)
               for i, f in enumerate(file_schema)]
    return pa.Table.from_arrays(columns, schema=file_schema)


def match_field(phys_fields: Sequence[pa.Field], f: StructField, mode: Mode) -> int | None:
    """Index of the physical field that holds logical field ``f``, or None when the file lacks it.

    In `id` mode a file written without field ids falls back to physical names, which is what the writer
    that produced it used.
    """
    if mode == "id" and COLUMN_ID in f.metadata:
        want = str(f.metadata[COLUMN_ID]).encode()
        any_ids = False
        for i, pf in enumerate(phys_fields):
            fid = (pf.metadata or {}).get(FIELD_ID_KEY)
            if fid is not None:
                any_ids = True
                if fid == want:
                    return i
        if any_ids:
            return None
    name = physical_name(f, mode)
    for i, pf in enumerate(phys_fields):
        if pf.name == name:
            return i
    return None


def conform_array(arr: pa.Array, dtype: DataType, mode: Mode, path: str = "") -> pa.Array:
    """Rebuild ``arr`` as the logical type ``dtype``, resolving nested fields under ``mode``; ``path`` (the
    logical column path) names the column in errors."""
    target = to_arrow_type(dtype)
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([conform_array(c, dtype, mode, path) for c in arr.chunks], type=target)
    if arr.type == target and (mode == "none" or not _has_struct(dtype)):
        return arr
    if pa.types.is_null(target):
        return pa.nulls(len(arr), type=target)
    if dtype == VARIANT:
        return conform_variant(arr, path)
    if isinstance(dtype, StructType) and pa.types.is_struct(arr.type):
        phys = [arr.type.field(i) for i in range(arr.type.num_fields)]
        children = []
        for f in dtype.fields:
            idx = match_field(phys, f, mode)
            if idx is None:
                children.append(null_array(len(arr), to_arrow_type(f.type)))
            else:
                children.append(conform_array(arr.field(idx), f.type, mode, f"{path}.{f.name}" if path else f.name))
        mask = arr.is_null() if arr.null_count else None
        if not dtype.fields:
            return pa.nulls(len(arr), type=target) if mask is not None else arr.cast(target)
        return pa.StructArray.from_arrays(children, fields=[to_arrow_field(f) for f in dtype.fields], mask=mask)
    if isinstance(dtype, ArrayType) and (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        offsets, start, length = _rebased_offsets(arr)
        values = conform_array(arr.values.slice(start, length), dtype.element_type, mode, f"{path}.element")
        mask = arr.is_null() if arr.null_count else None
        return pa.ListArray.from_arrays(offsets, values, type=target, mask=mask)
    if isinstance(dtype, MapType) and pa.types.is_map(arr.type):
        offsets, start, length = _rebased_offsets(arr)
        keys = conform_array(arr.keys.slice(start, length), dtype.key_type, mode, f"{path}.key")
        items = conform_array(arr.items.slice(start, length), dtype.value_type, mode, f"{path}.value")
        mask = arr.is_null() if arr.null_count else None
        return pa.MapArray.from_arrays(offsets, keys, items, type=target, mask=mask)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.cast(target)


def null_array(length: int, dtype: pa.DataType) -> pa.Array:
    """``length`` nulls of ``dtype`` that are a valid array of it: under the null rows, struct fields
    declared NOT NULL (the `metadata` and `value` of a variant, NOT NULL nested columns) hold placeholder
    values instead of nulls. `pa.nulls` leaves them null, and Arrow's casts and views check a child's nulls
    whatever its parent says, so such a column could not be cast to the table's exact types on write."""
    if not pa.types.is_struct(dtype) or dtype.num_fields == 0:
        return pa.nulls(length, type=dtype)
    children = [null_array(length, f.type) if f.nullable else _placeholder(length, f.type) for f in dtype]
    return pa.StructArray.from_arrays(children, fields=list(dtype), mask=av.array([True] * length, pa.bool_()))


def _placeholder(length: int, dtype: pa.DataType) -> pa.Array:
    """``length`` non-null values of ``dtype``, never seen (they sit under null parents)."""
    if pa.types.is_struct(dtype):
        if dtype.num_fields == 0:
            return av.array([{}] * length, type=dtype)
        children = [null_array(length, f.type) if f.nullable else _placeholder(length, f.type) for f in dtype]
        return pa.StructArray.from_arrays(children, fields=list(dtype))
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_map(dtype):
        return av.array([[]] * length, type=dtype)
    if pa.types.is_null(dtype):
        return pa.nulls(length)
    if pa.types.is_decimal(dtype):
        return av.array([Decimal(0)] * length, type=dtype)
    if pa.types.is_boolean(dtype):
        return av.array([False] * length, type=dtype)
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return av.array([b""] * length, type=dtype)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return av.array([""] * length, type=dtype)
    # Numbers, dates and timestamps: zero in their storage integer.
    storage = pa.int32() if pa.types.is_date32(dtype) else pa.int64()
    return av.array([0] * length, type=storage).cast(dtype)


def _rebased_offsets(arr: pa.Array) -> tuple[pa.Array, int, int]:
    """Offsets starting at 0 for a (possibly sliced) list/map array, and the child range they cover.

    Arrow cannot rebuild a list with a validity mask from offsets that do not start at 0.
    """
    offsets = arr.offsets
    first = offsets[0].as_py() if len(offsets) else 0
    last = offsets[-1].as_py() if len(offsets) else 0
    if first:
        offsets = pc.subtract(offsets, first)
    return offsets.cast(pa.int32()), first, last - first


def _has_struct(dtype: DataType) -> bool:
    if isinstance(dtype, StructType):
        return True
    if isinstance(dtype, ArrayType):
        return _has_struct(dtype.element_type)
    if isinstance(dtype, MapType):
        return _has_struct(dtype.key_type) or _has_struct(dtype.value_type)
    return False


def conform_table(table: pa.Table, fields: Sequence[StructField], mode: Mode) -> pa.Table:
    """Select and rebuild the top-level logical ``fields`` from a physical table (missing -> nulls)."""
    phys = list(table.schema)
    arrays = []
    for f in fields:
        idx = match_field(phys, f, mode)
        if idx is None:
            arrays.append(null_array(table.num_rows, to_arrow_type(f.type)))
        else:
            arrays.append(conform_array(table.column(idx), f.type, mode, f.name))
    if not fields:
        # No columns asked for (a projection of partition columns only): keep the row count.
        return table.select([])
    return pa.Table.from_arrays(arrays, schema=pa.schema([to_arrow_field(f) for f in fields]))

