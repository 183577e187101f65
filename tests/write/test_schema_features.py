"""Every path that sets or changes a schema records the table features the new schema needs (issue 18
item 9): a timestamp_ntz column, top-level or nested in a struct, list or map, brings `timestampNtz`
(reader and writer feature, reader 3 / writer 7), through create, write_delta schema_mode merge and
overwrite, MERGE schema evolution, add_columns and convert; delta-rs then writes to the table."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from tests.support.rows import assert_same_rows, dl_read, lh_read
from tests.support.log import actions_of

TS = datetime.datetime(2021, 3, 4, 5, 6, 7, 891011)
NTZ = pa.timestamp("us")
NESTED = {
    "top": NTZ,
    "in_struct": pa.struct([("x", NTZ), ("n", pa.int32())]),
    "in_list": pa.list_(NTZ),
    "in_map": pa.map_(pa.string(), NTZ),
    "deep": pa.struct([("l", pa.list_(pa.struct([("t", NTZ)])))]),
}
VALUES = {
    "top": lambda i: TS + datetime.timedelta(days=i),
    "in_struct": lambda i: {"x": TS, "n": i},
    "in_list": lambda i: [TS, None],
    "in_map": lambda i: [("k", TS)],
    "deep": lambda i: {"l": [{"t": TS}]},
}
BASE = pa.table({"id": pa.array([0, 1], pa.int64()), "s": ["a", "b"]})


def with_column(name: str, ids: list[int]) -> pa.Table:
    """Rows ``ids`` with the base columns and a column ``name`` that holds a timestamp_ntz somewhere."""
    return pa.table({
        "id": pa.array(ids, pa.int64()), "s": [f"s{i}" for i in ids],
        name: pa.array([VALUES[name](i) for i in ids], NESTED[name]),
    })


def latest_protocol(path: str) -> dict:
    latest = lakehouse.DeltaTable(path).version
    return next(p for v in range(latest, -1, -1) for p in actions_of(path, v, "protocol"))


def assert_ntz_table(path: str, name: str, want: pa.Table) -> None:
    """The log's protocol lists timestampNtz; delta-rs appends rows and both engines read every row."""
    proto = latest_protocol(path)
    assert (proto["minReaderVersion"], proto["minWriterVersion"]) == (3, 7), proto
    assert "timestampNtz" in proto["readerFeatures"] and "timestampNtz" in proto["writerFeatures"], proto
    dp = deltalake.DeltaTable(path).protocol()
    assert "timestampNtz" in (dp.reader_features or []) and "timestampNtz" in (dp.writer_features or [])
    more = with_column(name, [90, 91])
    deltalake.write_deltalake(path, more.select(want.column_names), mode="append")
    everything = pa.concat_tables([want, more.select(want.column_names)])
    assert_same_rows(lh_read(path), everything, "lakehouse")
    assert_same_rows(dl_read(path), everything, "deltalake")


def _null_column(table: pa.Table, name: str, n: int) -> pa.Table:
    return table.append_column(name, pa.nulls(n, NESTED[name]))


def via_write_merge(path: str, name: str) -> pa.Table:
    lakehouse.write_delta(path, BASE)
    new = with_column(name, [2, 3])
    lakehouse.write_delta(path, new, mode="append", schema_mode="merge")
    return pa.concat_tables([_null_column(BASE, name, 2), new])


def via_write_overwrite(path: str, name: str) -> pa.Table:
    lakehouse.write_delta(path, BASE)
    new = with_column(name, [2, 3])
    lakehouse.write_delta(path, new, mode="overwrite", schema_mode="overwrite")
    return new


def via_merge(path: str, name: str) -> pa.Table:
    lakehouse.write_delta(path, BASE)
    src = with_column(name, [1, 2])
    (lakehouse.DeltaTable(path).merge(src, "t.id = s.id", merge_schema=True)
     .when_matched_update_all().when_not_matched_insert_all().execute())
    return pa.concat_tables([_null_column(BASE.slice(0, 1), name, 1), src])


def via_create(path: str, name: str) -> pa.Table:
    new = with_column(name, [0, 1])
    lakehouse.write_delta(path, new)
    return new


def via_add_columns(path: str, name: str) -> pa.Table:
    lakehouse.write_delta(path, BASE)
    lakehouse.DeltaTable(path).alter.add_columns([pa.field(name, NESTED[name])])
    return _null_column(BASE, name, 2)


def via_convert(path: str, name: str) -> pa.Table:
    new = with_column(name, [0, 1])
    pq.write_table(new, Path(path) / "part-0.parquet")
    lakehouse.DeltaTable.convert_to_delta(path)
    return new


PATHS: dict[str, Callable[[str, str], pa.Table]] = {
    "write_merge": via_write_merge, "write_overwrite": via_write_overwrite, "merge": via_merge,
    "create": via_create, "add_columns": via_add_columns, "convert": via_convert,
}


@pytest.mark.parametrize("name", sorted(NESTED))
@pytest.mark.parametrize("how", sorted(PATHS))
def test_timestamp_ntz_column_brings_the_feature(table_path, how, name):
    want = PATHS[how](table_path, name)
    assert_ntz_table(table_path, name, want)


def test_evolution_keeps_every_feature_the_table_had(table_path):
    """The upgrade adds to the protocol; features implied by the legacy versions stay listed."""
    lakehouse.write_delta(table_path, BASE, configuration={"delta.enableChangeDataFeed": "true"})
    assert actions_of(table_path, 0, "protocol")[0]["minWriterVersion"] == 4
    lakehouse.write_delta(table_path, with_column("top", [5]), mode="append", schema_mode="merge")
    proto = latest_protocol(table_path)
    assert set(proto["writerFeatures"]) >= {"appendOnly", "invariants", "checkConstraints", "changeDataFeed",
                                            "generatedColumns", "timestampNtz"}
    assert proto["readerFeatures"] == ["timestampNtz"]
    # A second evolution that needs nothing new writes no protocol action.
    lakehouse.write_delta(table_path, pa.table({"id": pa.array([6], pa.int64()), "z": [1.5]}), mode="append",
                          schema_mode="merge")
    assert not actions_of(table_path, 2, "protocol")


def test_set_properties_and_add_features_use_the_same_rule(table_path):
    lakehouse.write_delta(table_path, BASE)
    dt = lakehouse.DeltaTable(table_path)
    dt.alter.set_table_properties({"delta.enableDeletionVectors": "true"})
    proto = latest_protocol(table_path)
    assert (proto["minReaderVersion"], proto["minWriterVersion"]) == (3, 7)
    assert "deletionVectors" in proto["readerFeatures"] and "deletionVectors" in proto["writerFeatures"]
    dt.alter.add_feature(["timestampNtz"], allow_protocol_versions_increase=True)
    assert "timestampNtz" in latest_protocol(table_path)["readerFeatures"]
    lakehouse.write_delta(table_path, with_column("in_map", [7]), mode="append", schema_mode="merge")
    assert_ntz_table(table_path, "in_map", pa.concat_tables([_null_column(BASE, "in_map", 2), with_column("in_map", [7])]))
