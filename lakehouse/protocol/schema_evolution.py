"""Schema enforcement and evolution for writes (PROTOCOL.md "Schema Serialization Format",
"Consistency Between Table Metadata and Data Files").

Pure functions over `StructType`: check that incoming data fits the table schema (the types Spark's store
assignment accepts, see `store_assignment`; the values are checked as they are written), and merge new
columns into it (nested structs too). Errors name the column and both types in Spark SQL names.
"""

from __future__ import annotations

import re

from lakehouse.errors import SchemaMismatchError
from lakehouse.protocol.schema import ArrayType, DataType, MapType, PrimitiveType, StructField, StructType, type_name
from lakehouse.protocol.store_assignment import assignable


def check_unique_names(schema: StructType, *, path: str = "") -> None:
    """Column names must be unique regardless of case (PROTOCOL.md "Schema Serialization Format"),
    nested struct fields included."""
    seen: dict[str, str] = {}
    for f in schema.fields:
        key = f.name.lower()
        if key in seen:
            raise SchemaMismatchError(
                f"columns '{path}{seen[key]}' and '{path}{f.name}' collide: Delta column names must be unique "
                "regardless of case"
            )
        seen[key] = f.name
        for inner in _structs_in(f.type):
            check_unique_names(inner, path=f"{path}{f.name}.")


def _structs_in(t: DataType) -> list[StructType]:
    if isinstance(t, StructType):
        return [t]
    if isinstance(t, ArrayType):
        return _structs_in(t.element_type)
    if isinstance(t, MapType):
        return _structs_in(t.key_type) + _structs_in(t.value_type)
    return []


_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")


def _refuse_unnamed_index(name: str, table: StructType) -> None:
    """A pandas index without a name becomes ``__index_level_<i>__`` (pyarrow's naming): it is data, but a
    table that has no such column was not made for it, so it is refused rather than added or dropped."""
    if _INDEX_COLUMN.match(name):
        raise SchemaMismatchError(
            f"column '{name}' is the unnamed index of the pandas DataFrame, and the table has no such column "
            f"(it has {table.names}).\nHelp: drop the index with df.reset_index(drop=True), or name it "
            "(df.rename_axis('name')) to write it as a column."
        )


def check_fits(data: StructType, table: StructType, *, path: str = "") -> None:
    """Data must only have columns the table has, each of a type that converts to the table's type."""
    by_name = {f.name: f for f in table.fields}
    lower = {f.name.lower(): f.name for f in table.fields}
    for f in data.fields:
        name = f"{path}{f.name}"
        target = by_name.get(f.name)
        if target is None:
            if not path:
                _refuse_unnamed_index(f.name, table)
            hint = f" (did you mean '{lower[f.name.lower()]}'?)" if f.name.lower() in lower else ""
            raise SchemaMismatchError(
                f"column '{name}' is not in the table schema{hint}; the table has {list(by_name)}.\n"
                "Help: pass schema_mode='merge' to add new columns."
            )
        if isinstance(f.type, StructType) and isinstance(target.type, StructType):
            check_fits(f.type, target.type, path=f"{name}.")
        elif not assignable(f.type, target.type):
            raise SchemaMismatchError(
                f"column '{name}' has type {type_name(f.type)} in the data but {type_name(target.type)} in the table.\n"
                "Help: cast the data, or pass schema_mode='overwrite' with mode='overwrite' to replace the schema."
            )


def merge_schemas(table: StructType, data: StructType, *, path: str = "") -> StructType:
    """The table schema with the data's new columns (and new nested struct fields) appended."""
    fields = list(table.fields)
    index = {f.name: i for i, f in enumerate(fields)}
    for f in data.fields:
        i = index.get(f.name)
        if i is None:
            if not path:
                _refuse_unnamed_index(f.name, table)
            fields.append(StructField(f.name, f.type, True, dict(f.metadata)))
            continue
        current = fields[i]
        if isinstance(current.type, StructType) and isinstance(f.type, StructType):
            fields[i] = StructField(current.name, merge_schemas(current.type, f.type, path=f"{path}{f.name}."),
                                    current.nullable, current.metadata)
        elif not assignable(f.type, current.type):
            raise SchemaMismatchError(
                f"column '{path}{f.name}' has type {type_name(f.type)} in the data but {type_name(current.type)} in the "
                "table; schema merge adds columns but does not change types."
            )
    merged = StructType(tuple(fields))
    if not path:
        check_unique_names(merged)
    return merged


def contains_type(t: DataType, name: str) -> bool:
    """Whether a primitive type called ``name`` appears anywhere in ``t``."""
    if isinstance(t, PrimitiveType):
        return t.name == name
    if isinstance(t, ArrayType):
        return contains_type(t.element_type, name)
    if isinstance(t, MapType):
        return contains_type(t.key_type, name) or contains_type(t.value_type, name)
    if isinstance(t, StructType):
        return any(contains_type(f.type, name) for f in t.fields)
    return False
