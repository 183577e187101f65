"""Schema enforcement and evolution for writes (PROTOCOL.md "Schema Serialization Format",
"Consistency Between Table Metadata and Data Files").

Pure functions over `StructType`: check that incoming data fits the table schema (with safe implicit
widening such as int -> long), merge new columns into it (nested structs too), and compute the Arrow
schema each batch is cast to. Errors name the column and both types.
"""

from __future__ import annotations

from lakehouse.errors import SchemaMismatchError
from lakehouse.protocol.schema import ArrayType, DataType, DecimalType, MapType, PrimitiveType, StructField, StructType

_INT_RANK = {"byte": 1, "short": 2, "integer": 3, "long": 4}


def _widens(src: DataType, dst: DataType) -> bool:
    """Whether values of ``src`` convert to ``dst`` without loss (Spark's implicit insert casts)."""
    if src == dst:
        return True
    if isinstance(src, PrimitiveType) and isinstance(dst, PrimitiveType):
        if src.name in _INT_RANK and dst.name in _INT_RANK:
            return _INT_RANK[src.name] <= _INT_RANK[dst.name]
        if src.name == "float" and dst.name == "double":
            return True
        if src.name in ("byte", "short", "integer") and dst.name == "double":
            return True
        if src.name == "void":
            return True
        return False
    if isinstance(src, DecimalType) and isinstance(dst, DecimalType):
        return dst.scale >= src.scale and dst.precision - dst.scale >= src.precision - src.scale
    if isinstance(src, PrimitiveType) and isinstance(dst, DecimalType) and src.name in _INT_RANK:
        return dst.precision - dst.scale >= {"byte": 3, "short": 5, "integer": 10, "long": 20}[src.name]
    if isinstance(src, ArrayType) and isinstance(dst, ArrayType):
        return _widens(src.element_type, dst.element_type)
    if isinstance(src, MapType) and isinstance(dst, MapType):
        return _widens(src.key_type, dst.key_type) and _widens(src.value_type, dst.value_type)
    if isinstance(src, StructType) and isinstance(dst, StructType):
        names = {f.name for f in dst.fields}
        return all(f.name in names and _widens(f.type, dst.field(f.name).type) for f in src.fields)
    return False


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


def check_fits(data: StructType, table: StructType, *, path: str = "") -> None:
    """Data must only have columns the table has, each of a type that converts to the table's type."""
    by_name = {f.name: f for f in table.fields}
    lower = {f.name.lower(): f.name for f in table.fields}
    for f in data.fields:
        name = f"{path}{f.name}"
        target = by_name.get(f.name)
        if target is None:
            hint = f" (did you mean '{lower[f.name.lower()]}'?)" if f.name.lower() in lower else ""
            raise SchemaMismatchError(
                f"column '{name}' is not in the table schema{hint}; the table has {list(by_name)}.\n"
                "Help: pass schema_mode='merge' to add new columns."
            )
        if isinstance(f.type, StructType) and isinstance(target.type, StructType):
            check_fits(f.type, target.type, path=f"{name}.")
        elif not _widens(f.type, target.type):
            raise SchemaMismatchError(
                f"column '{name}' has type {_show(f.type)} in the data but {_show(target.type)} in the table.\n"
                "Help: cast the data, or pass schema_mode='overwrite' with mode='overwrite' to replace the schema."
            )


def merge_schemas(table: StructType, data: StructType, *, path: str = "") -> StructType:
    """The table schema with the data's new columns (and new nested struct fields) appended."""
    fields = list(table.fields)
    index = {f.name: i for i, f in enumerate(fields)}
    for f in data.fields:
        i = index.get(f.name)
        if i is None:
            fields.append(StructField(f.name, f.type, True, dict(f.metadata)))
            continue
        current = fields[i]
        if isinstance(current.type, StructType) and isinstance(f.type, StructType):
            fields[i] = StructField(current.name, merge_schemas(current.type, f.type, path=f"{path}{f.name}."),
                                    current.nullable, current.metadata)
        elif not _widens(f.type, current.type):
            raise SchemaMismatchError(
                f"column '{path}{f.name}' has type {_show(f.type)} in the data but {_show(current.type)} in the "
                "table; schema merge adds columns but does not change types."
            )
    merged = StructType(tuple(fields))
    if not path:
        check_unique_names(merged)
    return merged


def _show(t: DataType) -> str:
    if isinstance(t, PrimitiveType):
        return t.name
    if isinstance(t, DecimalType):
        return f"decimal({t.precision},{t.scale})"
    if isinstance(t, ArrayType):
        return f"array<{_show(t.element_type)}>"
    if isinstance(t, MapType):
        return f"map<{_show(t.key_type)},{_show(t.value_type)}>"
    return "struct<" + ",".join(f"{f.name}:{_show(f.type)}" for f in t.fields) + ">"


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
