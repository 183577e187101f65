"""Column mapping on the write side (PROTOCOL.md "Column Mapping", "Writer Requirements for Column
Mapping"): every struct field, nested ones included, gets a unique `delta.columnMapping.id` and a
`delta.columnMapping.physicalName`; `delta.columnMapping.maxColumnId` records the largest id handed out.

Pure functions over `StructType`; callers decide when to apply them (table creation, schema evolution,
enabling the mode on an existing table).
"""

from __future__ import annotations

import uuid
from typing import Callable, Mapping

from lakehouse.protocol.arrow_conform import COLUMN_ID, PHYSICAL_NAME
from lakehouse.protocol.schema import ArrayType, DataType, MapType, StructField, StructType

MAX_COLUMN_ID = "delta.columnMapping.maxColumnId"
MODE = "delta.columnMapping.mode"


def max_column_id(schema: StructType, configuration: Mapping[str, str] | None = None) -> int:
    """The largest column id in use: the recorded property or the largest id in the schema."""
    best = 0
    try:
        best = int((configuration or {}).get(MAX_COLUMN_ID) or 0)
    except ValueError:
        best = 0

    def walk(t: DataType) -> None:
        nonlocal best
        for f in _struct_fields(t):
            if COLUMN_ID in f.metadata:
                best = max(best, int(f.metadata[COLUMN_ID]))
            walk(f.type)

    walk(schema)
    return best


def _struct_fields(t: DataType) -> tuple[StructField, ...]:
    if isinstance(t, StructType):
        return t.fields
    if isinstance(t, ArrayType):
        return _struct_fields(t.element_type)
    if isinstance(t, MapType):
        return _struct_fields(t.key_type) + _struct_fields(t.value_type)
    return ()


def assign_column_mapping(schema: StructType, configuration: Mapping[str, str] | None = None, *,
                          keep_names: bool = False) -> tuple[StructType, int]:
    """Give every field without an id a new id and physical name; returns the schema and the new max id.

    New physical names are ``col-<uuid>`` (as Spark writes them); ``keep_names=True`` uses the logical
    name instead, which is how an existing table turns column mapping on without rewriting its files.
    """
    next_id = max_column_id(schema, configuration)

    def field(f: StructField) -> StructField:
        nonlocal next_id
        meta = dict(f.metadata)
        if COLUMN_ID not in meta:
            next_id += 1
            meta[COLUMN_ID] = next_id
        if PHYSICAL_NAME not in meta:
            meta[PHYSICAL_NAME] = f.name if keep_names else f"col-{uuid.uuid4()}"
        return StructField(f.name, map_fields(f.type, field), f.nullable, meta)

    out = StructType(tuple(field(f) for f in schema.fields))
    return out, next_id


def with_column_mapping(schema: StructType, configuration: Mapping[str, str]) -> tuple[StructType, dict[str, str]]:
    """When the configuration turns column mapping on, the schema with ids and physical names for every
    field and the configuration with the updated `maxColumnId`; otherwise both unchanged."""
    mode = (configuration.get(MODE) or "none").lower()
    if mode == "none":
        return schema, dict(configuration)
    mapped, top = assign_column_mapping(schema, configuration)
    config = dict(configuration)
    config[MAX_COLUMN_ID] = str(top)
    return mapped, config


def map_fields(t: DataType, fn: Callable[[StructField], StructField]) -> DataType:
    """``t`` with ``fn`` applied to each field of the structs directly inside it (through arrays and
    maps); ``fn`` recurses itself when it wants deeper fields."""
    if isinstance(t, StructType):
        return StructType(tuple(fn(f) for f in t.fields))
    if isinstance(t, ArrayType):
        return ArrayType(map_fields(t.element_type, fn), t.contains_null)
    if isinstance(t, MapType):
        return MapType(map_fields(t.key_type, fn), map_fields(t.value_type, fn), t.value_contains_null)
    return t


def strip_column_mapping(field: StructField) -> StructField:
    """A field without column mapping metadata (for a field copied from another table's schema)."""
    meta = {k: v for k, v in field.metadata.items() if k not in (COLUMN_ID, PHYSICAL_NAME)}
    return StructField(field.name, map_fields(field.type, strip_column_mapping), field.nullable, meta)
