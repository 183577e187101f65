"""Planning over many files without per-file Python work gives what the per-file computation gives:
`file_table.partition_values_table` (the bulk lookup of partition values in the file table's map column)
equals `expr.partition_table` over per-file dicts (physical key first, then the logical name, the last of
repeated keys, null maps, sliced and chunked columns, the same error for a bad value); `skip_files`, which
parses the stats of only the files partition pruning kept, equals evaluating stats on every file."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.expr import parse_sql, partition_table
from lakehouse.protocol.file_table import ADD_SCHEMA
from lakehouse.protocol.file_table import partition_values_table as _partition_table
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType
from lakehouse.protocol.skipping import _Evaluator, _safe_nnf, leaves_for, parse_stats, skip_files

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


# -- skip_files parses stats only for the files partition pruning kept --------------------------------
SKIP_SCHEMA = StructType((StructField("p", PrimitiveType("string")), StructField("id", PrimitiveType("long"))))


def every_file_verdict(adds: pa.Table, sql: str) -> np.ndarray:
    """The stats verdict computed on every file (what skip_files did before it narrowed to kept files)."""
    nnf = _safe_nnf(parse_sql(sql), set(), nan_is_max=False)
    parts = _partition_table(adds.column("partitionValues"), [SKIP_SCHEMA.field("p")], "none")
    part_schema = StructType((SKIP_SCHEMA.field("p"),))
    partition_only = _Evaluator(adds.num_rows, None, {}, parts, part_schema, {"p"}).eval(nnf)
    leaves = leaves_for(nnf, SKIP_SCHEMA, "none", {"p"})
    if not leaves:
        return partition_only
    stats = parse_stats(adds.column("stats"), leaves)
    return partition_only & _Evaluator(adds.num_rows, stats, {lf.path: lf for lf in leaves}, parts, part_schema,
                                       {"p"}).eval(nnf)


_file = st.tuples(st.sampled_from(["a", "b", "c", None]), st.none() | st.tuples(st.integers(0, 50), st.integers(0, 9)))
_atom = st.sampled_from(["p = 'a'", "p = 'b'", "p IS NULL", "p IN ('a', 'c')", "id > 20", "id <= 7", "id = 30",
                         "id BETWEEN 10 AND 25", "id IS NULL", "p = 'a' OR id > 40"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_file, max_size=15), st.lists(_atom, min_size=1, max_size=3), st.sampled_from([" AND ", " OR "]),
       st.booleans())
def test_stats_on_kept_files_equal_stats_on_every_file(files, atoms, glue, negate):
    rows = [{"path": f"f{i}", "partitionValues": [] if p is None else [("p", p)], "size": 1,
             "modificationTime": 0, "dataChange": True,
             "stats": None if b is None else f'{{"numRecords":3,"minValues":{{"id":{b[0]}}},'
                                             f'"maxValues":{{"id":{b[0] + b[1]}}},"nullCount":{{"id":0}}}}'}
            for i, (p, b) in enumerate(files)]
    adds = pa.Table.from_pylist(rows, schema=ADD_SCHEMA)
    sql = glue.join(f"({a})" for a in atoms)
    sql = f"NOT ({sql})" if negate else sql
    got = skip_files(adds, parse_sql(sql), SKIP_SCHEMA, ["p"])
    assert got.after_stats.tolist() == every_file_verdict(adds, sql).tolist()
    assert not (got.after_stats & ~got.after_partitions).any()
