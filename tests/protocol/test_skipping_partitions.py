"""`skipping._partition_table` (the bulk lookup of partition values in the file table's map column) gives
exactly what `expr.partition_table` gives from per-file dicts: physical key first, then the logical name,
the last of repeated keys, null maps, sliced and chunked columns, and the same error for a bad value."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.expr import partition_table
from lakehouse.protocol.file_table import ADD_SCHEMA
from lakehouse.protocol.schema import PrimitiveType, StructField
from lakehouse.protocol.file_table import partition_values_table as _partition_table

MAPS = ADD_SCHEMA.field("partitionValues").type
MAPPED = {"delta.columnMapping.physicalName": "col-p"}


def fields(mode: str) -> list[StructField]:
    return [StructField("p", PrimitiveType("integer"), metadata=MAPPED if mode != "none" else {}),
            StructField("s", PrimitiveType("string"))]


def expected(rows: list, fs: list[StructField], mode: str) -> pa.Table:
    from lakehouse.protocol.arrow_conform import physical_name
    return partition_table([dict(r or []) for r in rows], fs, key=lambda f: physical_name(f, mode))


_value = st.none() | st.sampled_from(["", "1", "2", "-7", "x", "a b"])
_entry = st.tuples(st.sampled_from(["p", "s", "col-p", "other"]), _value)
_rows = st.lists(st.none() | st.lists(_entry, max_size=4), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_rows, st.sampled_from(["none", "name"]), st.integers(0, 3), st.booleans())
def test_bulk_lookup_equals_per_file_dicts(rows, mode, cut, chunked):
    fs = fields(mode)
    column = pa.array(rows, MAPS)
    if chunked:
        column = pa.chunked_array([column.slice(0, cut), column.slice(cut)], MAPS)
    else:
        column = pa.array([None] * cut + rows, MAPS).slice(cut)  # a sliced array: keys hold other rows
    try:
        want = expected(rows, fs, mode)
    except InvalidLogError as e:
        with pytest.raises(InvalidLogError) as got:
            _partition_table(column, fs, mode)
        assert str(got.value) == str(e)
        return
    assert _partition_table(column, fs, mode).equals(want)


def test_first_bad_value_in_row_order_is_reported():
    rows = [[("p", "1")], [("p", "bad1")], [("p", "bad2")], [("p", "bad1")]]
    with pytest.raises(InvalidLogError, match="bad1"):
        _partition_table(pa.array(rows, MAPS), fields("none"), "none")


def test_values_are_typed_and_repeated_keys_keep_the_last():
    rows = [[("p", "1"), ("p", "2")], [("col-p", "5"), ("p", "9")], [("p", "")], None, []]
    got = _partition_table(pa.array(rows, MAPS), fields("name"), "name")
    assert got.column("p").to_pylist() == [2, 5, None, None, None]
    assert got.schema.field("p").type == pa.int32()
