"""Input conversion on write (spec/writer.md section 2): every conversion that keeps each value exactly is
accepted, any conversion that would change a value is refused naming the column, the value and both types
(and the table stays as it was); decimal256 input; nested types field by field. Each accepted case writes,
reopens the table with both engines and checks every row."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import SchemaMismatchError
from tests.support.log import log_state
from tests.support.rows import Versions, concat

UTC_US = pa.timestamp("us", tz="UTC")

# (table type, data values as an Arrow array, the values read back)
ACCEPTED = [
    ("int64 narrowed to int", pa.int32(), pa.array([1, -2**31, 2**31 - 1, None], pa.int64()),
     [1, -2**31, 2**31 - 1, None]),
    ("int64 narrowed to smallint", pa.int16(), pa.array([-2**15, 2**15 - 1], pa.int64()), [-2**15, 2**15 - 1]),
    ("int64 narrowed to tinyint", pa.int8(), pa.array([-128, 127], pa.int64()), [-128, 127]),
    ("int64 to double when exact", pa.float64(), pa.array([2**53, -2**53, 3], pa.int64()), [2.0**53, -2.0**53, 3.0]),
    ("int to float when exact", pa.float32(), pa.array([2**24, -7], pa.int32()), [2.0**24, -7.0]),
    ("float to double", pa.float64(), pa.array([1.5, float("inf"), None], pa.float32()), [1.5, float("inf"), None]),
    ("double to float when exact", pa.float32(), pa.array([1.5, 0.25, float("-inf"), None], pa.float64()),
     [1.5, 0.25, float("-inf"), None]),
    ("whole doubles to bigint", pa.int64(), pa.array([1.0, -3.0, 2.0**60], pa.float64()), [1, -3, 2**60]),
    ("uint64 to bigint when it fits", pa.int64(), pa.array([0, 2**63 - 1], pa.uint64()), [0, 2**63 - 1]),
    ("date to timestamp", UTC_US, pa.array([date(2024, 2, 29), None], pa.date32()),
     [datetime(2024, 2, 29, tzinfo=timezone.utc), None]),
    ("date to timestamp_ntz", pa.timestamp("us"), pa.array([date(1900, 1, 1)], pa.date32()), [datetime(1900, 1, 1)]),
    ("ns timestamps without a sub-microsecond part", UTC_US,
     pa.array([1_700_000_000_123_456_000], pa.timestamp("ns", tz="UTC")),
     [datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)]),
    ("another zone, same instant", UTC_US,
     pa.array([datetime(2024, 6, 1, 8, tzinfo=timezone.utc)], UTC_US).cast(pa.timestamp("ms", tz="Asia/Tokyo")),
     [datetime(2024, 6, 1, 8, tzinfo=timezone.utc)]),
    ("large_string", pa.string(), pa.array(["big", None], pa.large_string()), ["big", None]),
    ("string_view", pa.string(), pa.array(["view", ""], pa.string_view()), ["view", ""]),
    ("binary_view", pa.binary(), pa.array([b"\x00v"], pa.binary_view()), [b"\x00v"]),
    ("fixed_size_binary", pa.binary(), pa.array([b"ab"], pa.binary(2)), [b"ab"]),
    ("dictionary strings", pa.string(), pa.array(["x", "y", "x", None]).dictionary_encode(), ["x", "y", "x", None]),
    ("dictionary ints narrowed", pa.int32(), pa.array([7, 7, 8], pa.int64()).dictionary_encode(), [7, 7, 8]),
    ("decimal narrowed when it fits", pa.decimal128(5, 2), pa.array([Decimal("123.45")], pa.decimal128(20, 2)),
     [Decimal("123.45")]),
    ("decimal rescaled without loss", pa.decimal128(10, 4), pa.array([Decimal("1.25")], pa.decimal128(5, 2)),
     [Decimal("1.2500")]),
    ("decimal with trailing zeros to fewer digits", pa.decimal128(5, 1), pa.array([Decimal("1.500")], pa.decimal128(6, 3)),
     [Decimal("1.5")]),
    ("bigint to a small decimal", pa.decimal128(5, 0), pa.array([12345, -1], pa.int64()), [Decimal("12345"), Decimal("-1")]),
    ("whole decimals to int", pa.int32(), pa.array([Decimal("42.00")], pa.decimal128(10, 2)), [42]),
    ("decimal to the nearest double", pa.float64(), pa.array([Decimal("1.251"), Decimal("-0.1")], pa.decimal128(5, 3)),
     [1.251, -0.1]),
    ("double to decimal as its shortest text", pa.decimal128(5, 3), pa.array([1.251, 0.1, -99.999], pa.float64()),
     [Decimal("1.251"), Decimal("0.100"), Decimal("-99.999")]),
    ("decimal256 within 38 digits", pa.decimal128(38, 0), pa.array([Decimal("9" * 38)], pa.decimal256(38, 0)),
     [Decimal("9" * 38)]),
    ("struct field by field", pa.struct([("a", pa.int32()), ("b", pa.string())]),
     pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": None}], pa.struct([("a", pa.int64()), ("b", pa.large_string())])),
     [{"a": 1, "b": "x"}, None, {"a": None, "b": None}]),
    ("struct with a field missing", pa.struct([("a", pa.int32()), ("b", pa.string())]),
     pa.array([{"a": 5}], pa.struct([("a", pa.int64())])), [{"a": 5, "b": None}]),
    ("list elements", pa.list_(pa.int32()), pa.array([[1, 2], None, [], [None]], pa.list_(pa.int64())),
     [[1, 2], None, [], [None]]),
    ("large_list elements", pa.list_(pa.float32()), pa.array([[0.5], [1.0, 2.0]], pa.large_list(pa.float64())),
     [[0.5], [1.0, 2.0]]),
    ("list_view elements", pa.list_(pa.int64()), pa.array([[1], None, [2, 3]], pa.list_view(pa.int32())),
     [[1], None, [2, 3]]),
    ("fixed_size_list elements", pa.list_(pa.int16()), pa.array([[1, 2], [3, 4]], pa.list_(pa.int64(), 2)),
     [[1, 2], [3, 4]]),
    ("map keys and values", pa.map_(pa.string(), pa.int32()),
     pa.array([[("k", 1)], None, []], pa.map_(pa.large_string(), pa.int64())), [[("k", 1)], None, []]),
    ("list of structs", pa.list_(pa.struct([("x", pa.int16())])),
     pa.array([[{"x": 3}], [None]], pa.list_(pa.struct([("x", pa.int64())]))), [[{"x": 3}], [None]]),
]


@pytest.mark.parametrize("label, table_type, data, expected", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_exact_conversions_are_accepted(table_path, label, table_type, data, expected):
    first = pa.table({"id": pa.array([0], pa.int64()), "c": pa.array([None], table_type)})
    lakehouse.write_delta(table_path, first)
    n = len(data)
    lakehouse.write_delta(table_path, pa.table({"id": pa.array(range(1, n + 1), pa.int64()), "c": data}), mode="append")
    assert lakehouse.DeltaTable(table_path).schema.field("c").type == table_type
    got = lakehouse.DeltaTable(table_path).to_arrow().sort_by("id")
    assert got.column("c").to_pylist() == [None] + expected
    v = Versions(table_path)
    v[0] = first
    v[1] = concat(first, pa.table({"id": pa.array(range(1, n + 1), pa.int64()), "c": pa.array(expected, table_type)}))
    v.check()


# (table type, data values, the first value that would change, words the message must hold)
REFUSED = [
    ("fraction into int", pa.int32(), pa.array([1.0, 2.0, 1.5, 2.5], pa.float64()), "1.5", ["double", "int"]),
    ("too big for int", pa.int32(), pa.array([1, 2**40, 2**41], pa.int64()), "1099511627776", ["bigint", "int"]),
    ("too big for smallint", pa.int16(), pa.array([40000], pa.int32()), "40000", ["int", "smallint"]),
    ("not exact as double", pa.float64(), pa.array([1, 2**53 + 1], pa.int64()), "9007199254740993", ["bigint", "double"]),
    ("not exact as float", pa.float32(), pa.array([0.5, 0.1], pa.float64()), "0.1", ["double", "float"]),
    ("too big for float", pa.float32(), pa.array([1e300], pa.float64()), "1e+300", ["double", "float"]),
    ("NaN into bigint", pa.int64(), pa.array([1.0, float("nan")], pa.float64()), "nan", ["double", "bigint"]),
    ("uint64 past bigint", pa.int64(), pa.array([2**63], pa.uint64()), "9223372036854775808", ["bigint"]),
    ("sub-microsecond part", UTC_US, pa.array([1_000, 1_001], pa.timestamp("ns", tz="UTC")),
     "1970-01-01 00:00:00.000001001", ["timestamp"]),
    ("decimal digits dropped", pa.decimal128(5, 2), pa.array([Decimal("1.125")], pa.decimal128(5, 3)), "1.125",
     ["decimal(5,3)", "decimal(5,2)"]),
    ("decimal too wide", pa.decimal128(5, 2), pa.array([Decimal("1.00"), Decimal("123456.78")], pa.decimal128(10, 2)),
     "123456.78", ["decimal(10,2)", "decimal(5,2)"]),
    ("double rounded into decimal", pa.decimal128(5, 2), pa.array([1.25, 1.251], pa.float64()), "1.251",
     ["double", "decimal(5,2)"]),
    ("decimal fraction into int", pa.int64(), pa.array([Decimal("2.5")], pa.decimal128(3, 1)), "2.5",
     ["decimal(3,1)", "bigint"]),
    ("decimal256 value too wide", pa.decimal128(5, 0), pa.array([Decimal("123456")], pa.decimal256(20, 0)), "123456",
     ["decimal(20,0)", "decimal(5,0)"]),
]


@pytest.mark.parametrize("label, table_type, data, bad, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_lossy_values_are_refused_naming_column_value_and_types(table_path, label, table_type, data, bad, words):
    first = pa.table({"id": pa.array([0], pa.int64()), "amount": pa.array([None], table_type)})
    lakehouse.write_delta(table_path, first)
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError) as e:
        lakehouse.write_delta(table_path, pa.table({"id": pa.array(range(len(data)), pa.int64()), "amount": data}),
                              mode="append")
    msg = str(e.value)
    assert "'amount'" in msg and bad in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert "Arrow" not in msg.split("\n")[0] and "pyarrow" not in msg
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = first
    v.check()


@pytest.mark.parametrize("column, data, path, bad", [
    ("s", pa.array([{"a": 1}, {"a": 2**40}], pa.struct([("a", pa.int64())])), "s.a", "1099511627776"),
    ("l", pa.array([[1.0], [2.0, 1.5]], pa.list_(pa.float64())), "l.element", "1.5"),
    ("m", pa.array([[("k", 1)], [("k", 2**40)]], pa.map_(pa.string(), pa.int64())), "m.value", "1099511627776"),
])
def test_lossy_nested_values_are_refused_naming_the_path(table_path, column, data, path, bad):
    types = {"s": pa.struct([("a", pa.int32())]), "l": pa.list_(pa.int32()), "m": pa.map_(pa.string(), pa.int32())}
    first = pa.table({column: pa.array([None], types[column])})
    lakehouse.write_delta(table_path, first)
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError) as e:
        lakehouse.write_delta(table_path, pa.table({column: data}), mode="append")
    assert f"'{path}'" in str(e.value) and bad in str(e.value), str(e.value)
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = first
    v.check()


def test_a_refused_value_in_a_later_batch_commits_nothing(table_path):
    """Batches stream into files: a bad value in the third batch leaves the table as it was."""
    first = pa.table({"x": pa.array([0], pa.int32())})
    lakehouse.write_delta(table_path, first)
    before = log_state(table_path)
    good = pa.record_batch({"x": pa.array(range(1000), pa.int64())})
    bad = pa.record_batch({"x": pa.array([5, 2**31], pa.int64())})
    reader = pa.RecordBatchReader.from_batches(good.schema, [good, good, bad])
    with pytest.raises(SchemaMismatchError, match="2147483648"):
        lakehouse.write_delta(table_path, reader, mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = first
    v.check()


def test_narrower_data_creates_its_own_type_and_merge_keeps_the_table_type(table_path):
    """schema_mode='merge' adds columns but keeps existing types: a bigint column written to an int column
    is converted value by value there too."""
    first = pa.table({"x": pa.array([1], pa.int32())})
    lakehouse.write_delta(table_path, first)
    data = pa.table({"x": pa.array([2], pa.int64()), "y": ["new"]})
    lakehouse.write_delta(table_path, data, mode="append", schema_mode="merge")
    assert lakehouse.DeltaTable(table_path).schema.field("x").type == pa.int32()
    with pytest.raises(SchemaMismatchError, match="'x'"):
        lakehouse.write_delta(table_path, pa.table({"x": pa.array([2**40], pa.int64()), "y": ["z"]}), mode="append",
                              schema_mode="merge")
    v = Versions(table_path)
    v[0] = first
    v[1] = pa.table({"x": pa.array([1, 2], pa.int32()), "y": [None, "new"]})
    v.check()


def test_new_table_types_hold_every_input_value(table_path):
    """A new table takes a type that holds every value of the data's: uint64 becomes decimal(20,0) (as
    Spark reads Parquet UINT_64), uint32 bigint, float16 float, dictionary its values' type."""
    data = pa.table({"u64": pa.array([0, 2**64 - 1, None], pa.uint64()), "u32": pa.array([2**32 - 1, 0, 1], pa.uint32()),
                     "h": pa.array([0.5, None, -2.0], pa.float16()), "dict": pa.array(["a", "b", "a"]).dictionary_encode()})
    lakehouse.write_delta(table_path, data)
    schema = lakehouse.DeltaTable(table_path).schema
    assert [schema.field(n).type for n in schema.names] == [pa.decimal128(20, 0), pa.int64(), pa.float32(), pa.string()]
    v = Versions(table_path)
    v[0] = pa.table({"u64": pa.array([Decimal(0), Decimal(2**64 - 1), None], pa.decimal128(20, 0)),
                     "u32": pa.array([2**32 - 1, 0, 1], pa.int64()), "h": pa.array([0.5, None, -2.0], pa.float32()),
                     "dict": ["a", "b", "a"]})
    v.check()


def test_decimal256_creates_a_decimal_column(table_path):
    value = Decimal("-" + "9" * 36 + ".5")
    data = pa.table({"d": pa.array([value, None], pa.decimal256(38, 1)),
                     "s": pa.array([{"e": Decimal("1.5")}, None], pa.struct([("e", pa.decimal256(4, 1))]))})
    lakehouse.write_delta(table_path, data)
    assert lakehouse.DeltaTable(table_path).schema.field("d").type == pa.decimal128(38, 1)
    v = Versions(table_path)
    v[0] = pa.table({"d": pa.array([value, None], pa.decimal128(38, 1)),
                     "s": pa.array([{"e": Decimal("1.5")}, None], pa.struct([("e", pa.decimal128(4, 1))]))})
    v.check()


def test_decimal256_wider_than_38_digits_is_refused(table_path, tmp_path):
    data = pa.table({"id": [1], "wide": pa.array([Decimal("1.5")], pa.decimal256(50, 2))})
    with pytest.raises(SchemaMismatchError, match="'wide'.*decimal256\\(50, 2\\)"):
        lakehouse.write_delta(table_path, data)
    assert not (tmp_path / "t" / "_delta_log").exists()
    first = pa.table({"id": pa.array([0], pa.int64()), "wide": pa.array([None], pa.decimal128(38, 2))})
    lakehouse.write_delta(table_path, first)
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError, match="'wide'"):
        lakehouse.write_delta(table_path, data, mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = first
    v.check()
