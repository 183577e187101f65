"""Error text speaks Delta/SQL types (`bigint`, `double`, `decimal(10,2)`, `struct<...>`), never this package's
reprs such as ``PrimitiveType(name='long')`` (issue 12)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import LakehouseError
from lakehouse.protocol.schema import (
    ArrayType, DecimalType, MapType, PrimitiveType, StructField, StructType, from_arrow_schema,
)

REPR = re.compile(r"(Primitive|Decimal|Array|Map|Struct)Type\(|StructField\(")


@pytest.mark.parametrize("dtype,text", [
    (PrimitiveType("long"), "bigint"),
    (PrimitiveType("integer"), "int"),
    (PrimitiveType("short"), "smallint"),
    (PrimitiveType("byte"), "tinyint"),
    (PrimitiveType("double"), "double"),
    (PrimitiveType("timestamp_ntz"), "timestamp_ntz"),
    (DecimalType(10, 2), "decimal(10,2)"),
    (ArrayType(PrimitiveType("string")), "array<string>"),
    (MapType(PrimitiveType("string"), PrimitiveType("long")), "map<string,bigint>"),
    (StructType((StructField("a", PrimitiveType("integer")), StructField("b", DecimalType(5, 1)))),
     "struct<a:int,b:decimal(5,1)>"),
])
def test_types_print_as_spark_sql(dtype, text):
    assert str(dtype) == f"{dtype}" == dtype.simple_string() == text
    assert REPR.match(repr(dtype))  # repr stays the dataclass repr for debugging


def _message(fn) -> str:
    with pytest.raises(LakehouseError) as e:
        fn()
    return str(e.value)


def test_user_facing_errors_name_sql_types(tmp_path: Path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1], pa.int64()),
                                          "s": pa.array([{"a": 1}], pa.struct([("a", pa.int32())]))}))
    messages = [
        _message(lambda: lakehouse.write_delta(path, pa.table({"id": ["x"], "s": [{"a": 1}]}), mode="append")),
        _message(lambda: lakehouse.write_delta(path, pa.table({"id": [1], "s": [{"a": "x"}]}), mode="append")),
    ]
    # CONVERT TO DELTA of a Hive directory whose partition value does not fit the declared type
    src = tmp_path / "src" / "p=notanint"
    src.mkdir(parents=True)
    pq.write_table(pa.table({"v": [1]}), src / "part-0.parquet")
    messages.append(_message(lambda: lakehouse.DeltaTable.convert_to_delta(
        tmp_path / "src", partition_by=pa.schema([("p", pa.int32())]))))
    for m in messages:
        assert not REPR.search(m), m
    assert "bigint" in messages[0]
    assert "int" in messages[2] and "notanint" in messages[2]


def test_schema_built_from_arrow_prints_sql():
    schema = from_arrow_schema(pa.schema([("a", pa.int64()), ("b", pa.list_(pa.float64()))]))
    assert str(schema) == "struct<a:bigint,b:array<double>>"


def test_arrow_types_in_messages_are_named_as_sql():
    from lakehouse.protocol.schema import arrow_type_name

    assert arrow_type_name(pa.int64()) == "bigint"
    assert arrow_type_name(pa.list_(pa.float64())) == "array<double>"
    assert arrow_type_name(pa.struct([("a", pa.int16())])) == "struct<a:smallint>"
    assert arrow_type_name(pa.duration("s")) == "duration[s]"  # no Delta type: Arrow's own name


def test_merge_on_an_array_key_names_the_sql_type(tmp_path: Path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": [1], "l": pa.array([[1, 2]], pa.list_(pa.int64()))}))
    m = _message(lambda: lakehouse.DeltaTable(path).merge(
        pa.table({"id": [1], "l": pa.array([[1, 2]], pa.list_(pa.int64()))}), "t.l = s.l")
        .when_matched_delete().execute())
    assert "array<bigint>" in m and not REPR.search(m) and "list<" not in m
    assert lakehouse.DeltaTable(path).version == 0


def test_variant_to_json_names_the_sql_type():
    from lakehouse.protocol.variant import variant_to_json

    m = _message(lambda: variant_to_json(pa.array([1, 2], pa.int32())))
    assert m.endswith("got int")
