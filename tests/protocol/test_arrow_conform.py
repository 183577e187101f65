"""Unit tests of `lakehouse.protocol.arrow_conform` (PROTOCOL.md "Column Mapping", "Type Widening")."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from lakehouse.protocol.arrow_conform import conform_array, conform_table, match_field, physical_name
from lakehouse.protocol.schema import (
    ArrayType,
    DecimalType,
    MapType,
    PrimitiveType,
    StructField,
    StructType,
    to_arrow_type,
)

L, I, S, D = PrimitiveType("long"), PrimitiveType("integer"), PrimitiveType("string"), PrimitiveType("double")
PHYS = "delta.columnMapping.physicalName"
CID = "delta.columnMapping.id"


def mf(name, type_, phys=None, fid=None, nullable=True):
    md = {}
    if phys is not None:
        md[PHYS] = phys
    if fid is not None:
        md[CID] = fid
    return StructField(name, type_, nullable, md)


def with_id(field: pa.Field, fid: int) -> pa.Field:
    return field.with_metadata({b"PARQUET:field_id": str(fid).encode()})


def test_physical_name():
    f = mf("a", L, phys="col-1")
    assert physical_name(f, "none") == "a"
    assert physical_name(f, "name") == "col-1"
    assert physical_name(f, "id") == "col-1"
    assert physical_name(mf("b", L), "name") == "b"


def test_rename_by_physical_name():
    table = pa.table({"col-2": pa.array(["x", "y"]), "col-1": pa.array([1, 2], pa.int64()), "junk": [0, 0]})
    fields = [mf("id", L, phys="col-1"), mf("name", S, phys="col-2")]
    out = conform_table(table, fields, "name")
    assert out.column_names == ["id", "name"]
    assert out.column("id").to_pylist() == [1, 2]
    assert out.column("name").to_pylist() == ["x", "y"]


def test_rename_by_field_id():
    schema = pa.schema([with_id(pa.field("whatever", pa.int64()), 7), with_id(pa.field("col-1", pa.string()), 8)])
    table = pa.table([pa.array([1, 2], pa.int64()), pa.array(["a", "b"])], schema=schema)
    fields = [mf("id", L, phys="col-1", fid=7), mf("name", S, phys="col-zzz", fid=8)]
    out = conform_table(table, fields, "id")
    assert out.column("id").to_pylist() == [1, 2]
    assert out.column("name").to_pylist() == ["a", "b"]


def test_id_mode_file_without_ids_falls_back_to_physical_name():
    table = pa.table({"col-1": pa.array([5], pa.int64())})
    out = conform_table(table, [mf("id", L, phys="col-1", fid=1)], "id")
    assert out.column("id").to_pylist() == [5]


def test_id_mode_with_ids_but_no_match_is_missing():
    schema = pa.schema([with_id(pa.field("col-1", pa.int64()), 99)])
    table = pa.table([pa.array([5], pa.int64())], schema=schema)
    assert match_field(list(schema), mf("id", L, phys="col-1", fid=1), "id") is None
    out = conform_table(table, [mf("id", L, phys="col-1", fid=1)], "id")
    assert out.column("id").to_pylist() == [None]


def test_missing_column_reads_as_nulls_with_logical_type():
    table = pa.table({"a": pa.array([1, 2, 3], pa.int64())})
    fields = [mf("a", L), mf("b", DecimalType(10, 2)), mf("c", StructType((mf("x", S),))), mf("v", PrimitiveType("void"))]
    out = conform_table(table, fields, "none")
    assert out.num_rows == 3
    assert out.column("b").type == pa.decimal128(10, 2) and out.column("b").null_count == 3
    assert out.column("c").null_count == 3
    assert out.column("v").type == pa.null()


def test_nested_struct_in_list_renamed():
    inner = pa.struct([pa.field("col-x", pa.int32()), pa.field("col-y", pa.string())])
    arr = pa.array([[{"col-x": 1, "col-y": "a"}], None, [], [{"col-x": None, "col-y": "b"}, None]], pa.list_(inner))
    dtype = ArrayType(StructType((mf("x", I, phys="col-x"), mf("y", S, phys="col-y"), mf("z", L, phys="col-z"))))
    out = conform_array(arr, dtype, "name")
    assert out.type == to_arrow_type(dtype)
    assert out.to_pylist() == [
        [{"x": 1, "y": "a", "z": None}],
        None,
        [],
        [{"x": None, "y": "b", "z": None}, None],
    ]


def test_nested_struct_in_map_renamed():
    value = pa.struct([pa.field("col-v", pa.int64())])
    arr = pa.array([[("k1", {"col-v": 1}), ("k2", None)], None, []], pa.map_(pa.string(), value))
    dtype = MapType(S, StructType((mf("v", L, phys="col-v"),)))
    out = conform_array(arr, dtype, "name")
    assert out.type == to_arrow_type(dtype)
    assert out.to_pylist() == [[("k1", {"v": 1}), ("k2", None)], None, []]


def test_struct_in_map_key_and_nested_struct_in_struct():
    dtype = StructType((mf("outer", StructType((mf("inner", L, phys="col-i"),)), phys="col-o"),))
    arr = pa.array([{"col-o": {"col-i": 3}}, None, {"col-o": None}],
                   pa.struct([pa.field("col-o", pa.struct([pa.field("col-i", pa.int64())]))]))
    out = conform_array(arr, dtype, "name")
    assert out.to_pylist() == [{"outer": {"inner": 3}}, None, {"outer": None}]


def _list_of_struct():
    inner = pa.struct([pa.field("col-x", pa.int32())])
    arr = pa.array([[{"col-x": 1}], [{"col-x": 2}, {"col-x": 3}], None, [{"col-x": 4}]], pa.list_(inner))
    return arr, ArrayType(StructType((mf("x", I, phys="col-x"),)))


def test_chunked_input():
    arr, dtype = _list_of_struct()
    chunked = pa.chunked_array([arr, pa.array([[{"col-x": 5}]], arr.type)])
    out = conform_array(chunked, dtype, "name")
    assert isinstance(out, pa.ChunkedArray) and out.num_chunks == 2
    assert out.to_pylist() == [[{"x": 1}], [{"x": 2}, {"x": 3}], None, [{"x": 4}], [{"x": 5}]]


def test_sliced_list_with_nulls():
    # A slice is an ordinary Arrow array (Table.slice, record batches, chunk boundaries); its offsets do not
    # start at zero.
    arr, dtype = _list_of_struct()
    assert conform_array(arr.slice(1, 3), dtype, "name").to_pylist() == [[{"x": 2}, {"x": 3}], None, [{"x": 4}]]


def test_sliced_struct_with_renamed_children():
    arr = pa.array([{"col-a": 1}, None, {"col-a": 3}], pa.struct([pa.field("col-a", pa.int64())]))
    dtype = StructType((mf("a", L, phys="col-a"),))
    assert conform_array(arr.slice(1), dtype, "name").to_pylist() == [None, {"a": 3}]


@pytest.mark.parametrize(
    "arr,dtype,expected_type,expected",
    [
        (pa.array([1, None, -3], pa.int32()), L, pa.int64(), [1, None, -3]),
        (pa.array([1, 2], pa.int8()), I, pa.int32(), [1, 2]),
        (pa.array([1, 2], pa.int16()), L, pa.int64(), [1, 2]),
        (pa.array([1.5, None], pa.float32()), D, pa.float64(), [1.5, None]),
        (pa.array([1, 2], pa.int32()), D, pa.float64(), [1.0, 2.0]),
        (pa.array([date(2020, 1, 2), None], pa.date32()), PrimitiveType("timestamp_ntz"), pa.timestamp("us"),
         [datetime(2020, 1, 2), None]),
        (pa.array([123], pa.decimal128(5, 2)), DecimalType(10, 4), pa.decimal128(10, 4), None),
        (pa.array([1, 2], pa.int64()).dictionary_encode(), L, pa.int64(), [1, 2]),
    ],
)
def test_type_widening(arr, dtype, expected_type, expected):
    out = conform_array(arr, dtype, "none")
    assert out.type == expected_type
    if expected is not None:
        assert out.to_pylist() == expected
    else:
        assert out.to_pylist() == arr.cast(expected_type).to_pylist()


def test_widening_inside_nested_types():
    arr = pa.array([{"a": [1, 2]}], pa.struct([pa.field("a", pa.list_(pa.int32()))]))
    dtype = StructType((mf("a", ArrayType(L)),))
    out = conform_array(arr, dtype, "none")
    assert out.type == to_arrow_type(dtype)
    assert out.to_pylist() == [{"a": [1, 2]}]


def test_int96_style_timestamp_to_utc():
    arr = pa.array([datetime(2020, 1, 1)], pa.timestamp("us"))
    out = conform_array(arr, PrimitiveType("timestamp"), "none")
    assert out.type == pa.timestamp("us", tz="UTC")


def test_same_type_is_returned_unchanged():
    arr = pa.array([1, 2], pa.int64())
    assert conform_array(arr, L, "none") is arr


def test_conform_table_preserves_requested_order_and_nullability():
    table = pa.table({"b": ["x"], "a": pa.array([1], pa.int64())})
    out = conform_table(table, [mf("a", L, nullable=False), mf("b", S)], "none")
    assert out.schema.names == ["a", "b"]
    assert out.schema.field("a").nullable is False
