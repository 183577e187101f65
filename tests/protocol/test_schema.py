"""Unit tests of `lakehouse.protocol.schema` (PROTOCOL.md "Schema Serialization Format")."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.schema import (
    ArrayType,
    DecimalType,
    MapType,
    PrimitiveType,
    StructField,
    StructType,
    parse_schema,
    schema_to_json,
    to_arrow_schema,
    to_arrow_type,
)


def _schema(*fields: dict) -> str:
    return orjson.dumps({"type": "struct", "fields": list(fields)}).decode()


def _field(name, type_, nullable=True, metadata=None) -> dict:
    return {"name": name, "type": type_, "nullable": nullable, "metadata": metadata or {}}


PRIMITIVE_ARROW = {
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


@pytest.mark.parametrize("name", sorted(PRIMITIVE_ARROW))
def test_every_primitive_parses_and_maps_to_arrow(name):
    schema = parse_schema(_schema(_field("c", name)))
    assert schema.fields == (StructField("c", PrimitiveType(name), True, {}),)
    assert to_arrow_type(schema.fields[0].type) == PRIMITIVE_ARROW[name]


@pytest.mark.parametrize(
    "text,precision,scale",
    [("decimal(10,2)", 10, 2), ("decimal(38,18)", 38, 18), ("decimal(1,0)", 1, 0), ("decimal( 5 , 3 )", 5, 3),
     ("decimal", 10, 0)],
)
def test_decimal(text, precision, scale):
    schema = parse_schema(_schema(_field("d", text)))
    assert schema.fields[0].type == DecimalType(precision, scale)
    assert to_arrow_type(schema.fields[0].type) == pa.decimal128(precision, scale)


VARIANT = pa.struct([pa.field("metadata", pa.binary(), nullable=False), pa.field("value", pa.binary(), nullable=False)])


def test_variant_maps_to_the_unshredded_struct_delta_rs_reads():
    # PROTOCOL.md "Variant Type": the bare string and the {"type": "variant"} object (its schema example
    # nests one in an array) both name a variant.
    schema = parse_schema(_schema(
        _field("v", "variant"),
        _field("a", {"type": "array", "elementType": {"type": "variant"}, "containsNull": False}),
    ))
    assert schema.fields[0].type == PrimitiveType("variant")
    assert schema.fields[1].type == ArrayType(PrimitiveType("variant"), False)
    assert to_arrow_type(schema.fields[0].type) == VARIANT
    assert to_arrow_schema(schema) == pa.schema([
        pa.field("v", VARIANT), pa.field("a", pa.list_(pa.field("element", VARIANT, nullable=False))),
    ])
    # Written back as the bare string, as Spark and delta-rs write it.
    assert orjson.loads(schema_to_json(schema))["fields"][1]["type"]["elementType"] == "variant"


@pytest.mark.parametrize("fields", [
    [_field("a", "long"), _field("a", "string")],
    [_field("a", "long"), _field("s", {"type": "struct", "fields": [_field("x", "long"), _field("x", "long")]})],
    [_field("m", {"type": "map", "keyType": "string",
                  "valueType": {"type": "struct", "fields": [_field("k", "long"), _field("k", "long")]}})],
])
def test_repeated_field_name_is_an_invalid_log(fields):
    # A repeated name cannot be read (Arrow and Parquet address columns by name): InvalidLogError, naming
    # the log file and version, instead of a KeyError from deep inside a read.
    with pytest.raises(InvalidLogError, match=r"appears twice.*\(file _delta_log/00000000000000000003.json, version 3\)"):
        parse_schema(_schema(*fields), version=3, path="_delta_log/00000000000000000003.json")


def test_names_differing_in_case_are_distinct_fields():
    schema = parse_schema(_schema(_field("a", "long"), _field("A", "long")))
    assert schema.names == ["a", "A"]


NESTED = _schema(
    _field("id", "long", False, {"delta.columnMapping.id": 1, "delta.columnMapping.physicalName": "col-1"}),
    _field(
        "s",
        {
            "type": "struct",
            "fields": [
                _field("a", "integer", True, {"comment": "x"}),
                _field("b", {"type": "array", "elementType": "string", "containsNull": False}),
            ],
        },
    ),
    _field("arr", {"type": "array", "elementType": {"type": "struct", "fields": [_field("x", "double")]}, "containsNull": True}),
    _field(
        "m",
        {
            "type": "map",
            "keyType": "string",
            "valueType": {"type": "map", "keyType": "integer", "valueType": "decimal(5,1)", "valueContainsNull": True},
            "valueContainsNull": False,
        },
        False,
    ),
)


def test_nested_types_parse():
    schema = parse_schema(NESTED)
    assert schema.names == ["id", "s", "arr", "m"]
    idf = schema.field("id")
    assert idf.nullable is False
    assert idf.metadata == {"delta.columnMapping.id": 1, "delta.columnMapping.physicalName": "col-1"}
    s = schema.field("s").type
    assert isinstance(s, StructType)
    assert s.field("a").metadata == {"comment": "x"}
    assert s.field("b").type == ArrayType(PrimitiveType("string"), contains_null=False)
    arr = schema.field("arr").type
    assert arr == ArrayType(StructType((StructField("x", PrimitiveType("double")),)), contains_null=True)
    m = schema.field("m").type
    assert m == MapType(
        PrimitiveType("string"),
        MapType(PrimitiveType("integer"), DecimalType(5, 1), value_contains_null=True),
        value_contains_null=False,
    )
    with pytest.raises(KeyError):
        schema.field("nope")


def test_nested_to_arrow():
    arrow = to_arrow_schema(parse_schema(NESTED))
    assert arrow.field("id").nullable is False
    assert arrow.field("id").type == pa.int64()
    assert arrow.field("s").type == pa.struct(
        [pa.field("a", pa.int32()), pa.field("b", pa.list_(pa.field("element", pa.string(), nullable=False)))]
    )
    assert arrow.field("arr").type == pa.list_(pa.field("element", pa.struct([pa.field("x", pa.float64())])))
    mt = arrow.field("m").type
    assert pa.types.is_map(mt)
    assert mt.key_field.nullable is False and mt.key_type == pa.string()
    assert mt.item_field.nullable is False
    inner = mt.item_type
    assert inner.key_type == pa.int32() and inner.item_type == pa.decimal128(5, 1) and inner.item_field.nullable


def test_defaults_for_missing_nullability_flags():
    schema = parse_schema(
        _schema(
            {"name": "a", "type": {"type": "array", "elementType": "long"}},
            {"name": "m", "type": {"type": "map", "keyType": "string", "valueType": "long"}},
        )
    )
    assert schema.field("a").nullable is True and schema.field("a").metadata == {}
    assert schema.field("a").type.contains_null is True
    assert schema.field("m").type.value_contains_null is True


@pytest.mark.parametrize("text", [NESTED, _schema(), _schema(_field("c", "timestamp_ntz")),
                                  _schema(_field("d", "decimal(38,0)"), _field("v", "void"))])
def test_schema_to_json_round_trip(text):
    schema = parse_schema(text)
    again = parse_schema(schema_to_json(schema))
    assert again == schema
    assert schema_to_json(again) == schema_to_json(schema)


def test_schema_to_json_matches_protocol_layout():
    schema = StructType((StructField("a", ArrayType(PrimitiveType("long"), False), False, {"k": "v"}),))
    assert orjson.loads(schema_to_json(schema)) == {
        "type": "struct",
        "fields": [
            {
                "name": "a",
                "type": {"type": "array", "elementType": "long", "containsNull": False},
                "nullable": False,
                "metadata": {"k": "v"},
            }
        ],
    }


BAD_SCHEMAS = {
    "not-json": "{not json",
    "empty": "",
    "top-level-array": "[]",
    "top-level-primitive": '"long"',
    "top-level-not-struct": '{"type": "array", "elementType": "long"}',
    "no-fields": '{"type": "struct"}',
    "fields-null": '{"type": "struct", "fields": null}',
    "field-not-object": '{"type": "struct", "fields": [1]}',
    "field-without-name": '{"type": "struct", "fields": [{"type": "long"}]}',
    "field-name-not-string": '{"type": "struct", "fields": [{"name": 1, "type": "long"}]}',
    "field-without-type": '{"type": "struct", "fields": [{"name": "a"}]}',
    "unknown-primitive": _schema(_field("a", "int")),
    "unknown-complex": _schema(_field("a", {"type": "set", "elementType": "long"})),
    "type-is-number": _schema(_field("a", 5)),
    "array-without-element": _schema(_field("a", {"type": "array"})),
    "map-without-value": _schema(_field("a", {"type": "map", "keyType": "string"})),
    "metadata-not-object": _schema(_field("a", "long", metadata=None) | {"metadata": [1]}),
    "bad-decimal": _schema(_field("a", "decimal(x,2)")),
    # PROTOCOL.md: "The precision and scale can be up to 38."
    "decimal-precision-39": _schema(_field("a", "decimal(39,0)")),
    "decimal-precision-0": _schema(_field("a", "decimal(0,0)")),
}


@pytest.mark.parametrize("name", sorted(BAD_SCHEMAS))
def test_bad_schema_json_is_invalid_log_error(name):
    with pytest.raises(InvalidLogError) as exc_info:
        parse_schema(BAD_SCHEMAS[name], version=4)
    assert exc_info.value.version == 4
    assert "version 4" in str(exc_info.value)


def test_deeply_nested_schema_is_invalid_log_error_not_recursion_error():
    # Valid JSON (within orjson's nesting limit) that nests ~1000 arrays: a hostile log must give a typed
    # error (or parse), never a raw RecursionError.
    depth = 1000
    t = '"long"'
    for _ in range(depth):
        t = '{"type":"array","elementType":' + t + ',"containsNull":true}'
    text = '{"type":"struct","fields":[{"name":"a","type":' + t + ',"nullable":true,"metadata":{}}]}'
    try:
        schema = parse_schema(text)
    except InvalidLogError:
        return
    to_arrow_schema(schema)
