"""Delta schema JSON <-> typed schema <-> Arrow (PROTOCOL.md "Schema Serialization Format").

The typed model mirrors the protocol: primitive types by name, `DecimalType`, `ArrayType`, `MapType`,
`StructType` of `StructField`s with their metadata (column mapping ids and physical names, type changes,
invariants...). Conversion to Arrow gives the *logical* schema a reader returns. A `variant` (PROTOCOL.md
"Variant Data Type", "Variant Type") is the primitive `PrimitiveType("variant")`; its Arrow form is the
unshredded struct of `metadata` and `value` binaries, as delta-rs returns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Union

import orjson
import pyarrow as pa

from lakehouse.errors import InvalidLogError, SchemaMismatchError, UnsupportedFeatureError

PRIMITIVES = frozenset(
    {
        "string",
        "long",
        "integer",
        "short",
        "byte",
        "float",
        "double",
        "boolean",
        "binary",
        "date",
        "timestamp",
        "timestamp_ntz",
        "void",
        "variant",
    }
)

_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$")


class _SqlTyped:
    """Types print as Spark SQL prints them (``bigint``, ``decimal(10,2)``, ``struct<a:int>``), so every
    message that interpolates a type speaks SQL, never this module's reprs."""

    __slots__ = ()

    def __str__(self) -> str:
        return type_name(self)  # type: ignore[arg-type]  # a mixin of the DataType classes only

    def simple_string(self) -> str:
        """The type as Spark SQL prints it (Spark's ``DataType.simpleString``)."""
        return type_name(self)  # type: ignore[arg-type]  # a mixin of the DataType classes only


@dataclass(frozen=True, slots=True)
class PrimitiveType(_SqlTyped):
    """A primitive Delta type, named as in the protocol (``long``, ``timestamp_ntz``...)."""

    name: str


@dataclass(frozen=True, slots=True)
class DecimalType(_SqlTyped):
    """``decimal(precision, scale)``."""

    precision: int
    scale: int


@dataclass(frozen=True, slots=True)
class ArrayType(_SqlTyped):
    """``array`` with its element type."""

    element_type: "DataType"
    contains_null: bool = True


@dataclass(frozen=True, slots=True)
class MapType(_SqlTyped):
    """``map`` with key and value types."""

    key_type: "DataType"
    value_type: "DataType"
    value_contains_null: bool = True


@dataclass(frozen=True, slots=True)
class StructField:
    """A (possibly nested) column: name, type, nullability and column metadata."""

    name: str
    type: "DataType"
    nullable: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StructType(_SqlTyped):
    """A struct: the table schema itself, or a struct column."""

    fields: tuple[StructField, ...]

    def field(self, name: str) -> StructField:
        """The field called ``name``; KeyError when absent."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """Top-level field names in order."""
        return [f.name for f in self.fields]


DataType = Union[PrimitiveType, DecimalType, ArrayType, MapType, StructType]

def walk_types(dtype: "DataType") -> Iterator[tuple["StructField | None", "DataType"]]:
    """Every type nested in ``dtype`` (itself included), each with the struct field that holds it (None
    for the root, array elements and map keys/values); iterative, so deep schemas cannot overflow."""
    stack: list[tuple[StructField | None, DataType]] = [(None, dtype)]
    while stack:
        holder, t = stack.pop()
        yield holder, t
        if isinstance(t, StructType):
            stack.extend((f, f.type) for f in reversed(t.fields))
        elif isinstance(t, ArrayType):
            stack.append((None, t.element_type))
        elif isinstance(t, MapType):
            stack.extend(((None, t.value_type), (None, t.key_type)))


_SQL_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


def type_name(dtype: "DataType | None") -> str:
    """The type as Spark SQL prints it (`bigint`, `decimal(10,2)`, `array<string>`, `struct<a:int>`), for
    error messages: users read SQL types, never this module's reprs."""
    if dtype is None:
        return "void"
    if isinstance(dtype, PrimitiveType):
        return _SQL_NAMES.get(dtype.name, dtype.name)
    if isinstance(dtype, DecimalType):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, ArrayType):
        return f"array<{type_name(dtype.element_type)}>"
    if isinstance(dtype, MapType):
        return f"map<{type_name(dtype.key_type)},{type_name(dtype.value_type)}>"
    return "struct<" + ",".join(f"{f.name}:{type_name(f.type)}" for f in dtype.fields) + ">"


def _parse_type(t: Any) -> DataType:
    if isinstance(t, str):
        if t in PRIMITIVES:
            return PrimitiveType(t)
        m = _DECIMAL.match(t)
        if m:
            precision, scale = int(m.group(1)), int(m.group(2))
            if not (1 <= precision <= 38 and 0 <= scale <= precision):
                raise ValueError(f"decimal({precision},{scale}) is outside precision 1..38, scale 0..precision")
            return DecimalType(precision, scale)
        if t == "decimal":
            return DecimalType(10, 0)
        raise ValueError(f"unknown type {t!r}")
    if not isinstance(t, dict):
        raise ValueError(f"type must be a string or an object, got {type(t).__name__}")
    kind = t.get("type")
    if kind == "variant":
        # PROTOCOL.md "Variant Type" serialises a variant as the object {"type": "variant"} (its schema
        # example nests one as an array element); Spark and delta-rs also write the bare string.
        return PrimitiveType("variant")
    if kind == "struct":
        return _parse_struct(t)
    if kind == "array":
        return ArrayType(_parse_type(t["elementType"]), bool(t.get("containsNull", True)))
    if kind == "map":
        return MapType(
            _parse_type(t["keyType"]), _parse_type(t["valueType"]), bool(t.get("valueContainsNull", True))
        )
    raise ValueError(f"unknown complex type {kind!r}")


def _parse_struct(d: dict) -> StructType:
    fields = []
    names: set[str] = set()
    for f in d["fields"]:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise ValueError("struct field must be an object with a string 'name'")
        if f["name"] in names:
            # Arrow tables and Parquet files address columns by name: a repeated name cannot be read.
            raise ValueError(f"field {f['name']!r} appears twice in one struct")
        names.add(f["name"])
        md = f.get("metadata") or {}
        if not isinstance(md, dict):
            raise ValueError(f"metadata of field {f['name']!r} must be an object")
        fields.append(StructField(f["name"], _parse_type(f["type"]), bool(f.get("nullable", True)), md))
    return StructType(tuple(fields))


def parse_schema(schema_string: str, *, version: int | None = None, path: str | None = None) -> StructType:
    """Parse ``metaData.schemaString`` into a `StructType`; InvalidLogError (naming the log file ``path``
    and ``version`` that hold it, when given) when it does not parse or repeats a field name in a struct."""
    try:
        d = orjson.loads(schema_string)
        if not isinstance(d, dict) or d.get("type") != "struct":
            raise ValueError("the top level must be a struct")
        return _parse_struct(d)
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as e:
        raise InvalidLogError(f"schemaString does not parse: {e}", path=path, version=version) from None
    except RecursionError:
        raise InvalidLogError("schemaString nests types too deeply to parse", path=path, version=version) from None


def type_to_json(t: DataType) -> Any:
    """Serialise a type as it appears in a Delta schema string."""
    if isinstance(t, PrimitiveType):
        return t.name
    if isinstance(t, DecimalType):
        return f"decimal({t.precision},{t.scale})"
    if isinstance(t, ArrayType):
        return {"type": "array", "elementType": type_to_json(t.element_type), "containsNull": t.contains_null}
    if isinstance(t, MapType):
        return {
            "type": "map",
            "keyType": type_to_json(t.key_type),
            "valueType": type_to_json(t.value_type),
            "valueContainsNull": t.value_contains_null,
        }
    return {
        "type": "struct",
        "fields": [
            {"name": f.name, "type": type_to_json(f.type), "nullable": f.nullable, "metadata": dict(f.metadata)}
            for f in t.fields
        ],
    }


def schema_to_json(schema: StructType) -> str:
    """Serialise a schema to a Delta schema string."""
    return orjson.dumps(type_to_json(schema)).decode()


_PRIMITIVE_ARROW = {
    "string": pa.string(),
    "long": pa.int64(),
    "integer": pa.int32(),
    "short": pa.int16(),
    "byte": pa.int8(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "binary": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "timestamp_ntz": pa.timestamp("us"),
    "void": pa.null(),
}

# PROTOCOL.md "Variant data in Parquet": an unshredded variant is a struct of two binaries. The field
# order and non-null children are those delta-rs reads and writes, so tables round-trip between the two.
VARIANT_ARROW = pa.struct([pa.field("metadata", pa.binary(), nullable=False),
                           pa.field("value", pa.binary(), nullable=False)])


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table of no rows: unlike ``schema.empty_table()`` (or any conversion of a Python list), it does not
    make pyarrow import pandas (~37 MiB and tens of milliseconds in a process that never needs it)."""
    return pa.Table.from_batches([], schema=schema)


def to_arrow_type(t: DataType) -> pa.DataType:
    """The Arrow type a reader returns for Delta type ``t``."""
    if isinstance(t, PrimitiveType):
        if t.name == "variant":
            return VARIANT_ARROW
        return _PRIMITIVE_ARROW[t.name]
    if isinstance(t, DecimalType):
        return pa.decimal128(t.precision, t.scale)
    if isinstance(t, ArrayType):
        return pa.list_(pa.field("element", to_arrow_type(t.element_type), nullable=t.contains_null))
    if isinstance(t, MapType):
        return pa.map_(
            pa.field("key", to_arrow_type(t.key_type), nullable=False),
            pa.field("value", to_arrow_type(t.value_type), nullable=t.value_contains_null),
        )
    return pa.struct([to_arrow_field(f) for f in t.fields])


def to_arrow_field(f: StructField) -> pa.Field:
    """An Arrow field for a Delta field (logical name, nullability)."""
    return pa.field(f.name, to_arrow_type(f.type), nullable=f.nullable)


def to_arrow_schema(schema: StructType) -> pa.Schema:
    """The logical Arrow schema of a Delta table schema."""
    return pa.schema([to_arrow_field(f) for f in schema.fields])


def from_arrow_type(t: pa.DataType) -> DataType:
    """The Delta type for an Arrow type (used when creating tables from Arrow data).

    Arrow-only encodings map to the Delta type of their values (dictionary, views, large and fixed-size
    layouts); unsigned integers to the next wider signed type (`uint64` to `decimal(20,0)`, as Spark reads
    Parquet's UINT_64); a decimal wider than 38 digits has no Delta type (`SchemaMismatchError`)."""
    if pa.types.is_dictionary(t):
        return from_arrow_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return PrimitiveType("string")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_binary_view(t):
        return PrimitiveType("binary")
    simple = {
        pa.int64(): "long",
        pa.int32(): "integer",
        pa.int16(): "short",
        pa.int8(): "byte",
        pa.uint8(): "short",
        pa.uint16(): "integer",
        pa.uint32(): "long",
        pa.float16(): "float",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.date32(): "date",
        pa.null(): "void",
    }
    if t in simple:
        return PrimitiveType(simple[t])
    if pa.types.is_timestamp(t):
        return PrimitiveType("timestamp" if t.tz is not None else "timestamp_ntz")
    if pa.types.is_uint64(t):
        return DecimalType(20, 0)  # no signed type holds every uint64; Spark reads Parquet UINT_64 the same way
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise SchemaMismatchError(
                f"{t} has more digits than decimal(38,{min(t.scale, 38)}), the widest Delta decimal.\n"
                "Help: cast the data to a decimal of precision 38 or less."
            )
        return DecimalType(t.precision, t.scale)
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t) or pa.types.is_fixed_size_list(t)):
        return ArrayType(from_arrow_type(t.value_type), t.value_field.nullable)
    if pa.types.is_map(t):
        return MapType(from_arrow_type(t.key_type), from_arrow_type(t.item_type), t.item_field.nullable)
    if pa.types.is_struct(t):
        return StructType(tuple(from_arrow_field(t.field(i)) for i in range(t.num_fields)))
    raise UnsupportedFeatureError(f"Arrow type {t} has no Delta equivalent")


def arrow_type_name(t: pa.DataType) -> str:
    """An Arrow type as the Delta/SQL type it maps to (``int64`` -> ``bigint``, ``list<item: double>`` ->
    ``array<double>``), for messages; Arrow's own name when it maps to none."""
    try:
        return type_name(from_arrow_type(t))
    except (SchemaMismatchError, UnsupportedFeatureError):
        return str(t)


def from_arrow_field(f: pa.Field) -> StructField:
    """A Delta field for an Arrow field; a type with no Delta equivalent names the field."""
    try:
        return StructField(f.name, from_arrow_type(f.type), f.nullable, column_declarations(f.metadata))
    except (SchemaMismatchError, UnsupportedFeatureError) as e:
        text, prefix = str(e), "column '"
        if text.startswith(prefix):
            # Raised for a nested field: prefix the parent to keep one dotted path.
            raise type(e)(f"{prefix}{f.name}.{text[len(prefix):]}") from None
        raise type(e)(f"{prefix}{f.name}': {text}") from None


_DECLARATION_INTS = ("delta.identity.start", "delta.identity.step", "delta.identity.highWaterMark")


def column_declarations(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any]:
    """The Delta column declarations in Arrow field metadata (generation expression, identity, default,
    the legacy `delta.invariants`),
    typed as Spark writes them in the schema (identity numbers as numbers, allowExplicitInsert as a
    boolean); other Arrow metadata is not Delta's and is dropped."""
    out: dict[str, Any] = {}
    for raw_key, raw in (metadata or {}).items():
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        if key in _DECLARATION_INTS:
            out[key] = int(value) if value.lstrip("-").isdigit() else value
        elif key == "delta.identity.allowExplicitInsert":
            out[key] = value.lower() == "true" if value.lower() in ("true", "false") else value
        elif key in ("delta.generationExpression", "CURRENT_DEFAULT", "delta.invariants"):
            out[key] = value
    return out


def from_arrow_schema(schema: pa.Schema) -> StructType:
    """A Delta schema for an Arrow schema."""
    return StructType(tuple(from_arrow_field(f) for f in schema))
