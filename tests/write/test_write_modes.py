"""write_delta save modes: error, append, overwrite, ignore; argument validation; input types."""

from __future__ import annotations

import os

import deltalake
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, TableExistsError
from tests.support.log import actions_of, commit_actions, log_state
from tests.support.rows import Versions, assert_rows, concat

A = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": ["a", "b", None]})
B = pa.table({"id": pa.array([4, 5], pa.int64()), "s": ["d", "e"]})
C = pa.table({"id": pa.array([10, 11, 12, 13], pa.int64()), "s": ["x", None, "z", "w"]})


def test_first_write_creates_missing_directory(tmp_path):
    """The first write creates the table directory (deltalake and Spark do): an unpartitioned table at a
    path that does not exist yet."""
    path = str(tmp_path / "new" / "table")
    r = lakehouse.write_delta(path, A)
    assert r.version == 0
    v = Versions(path)
    v[0] = A
    v.check()


def test_first_write_creates_missing_directory_partitioned(tmp_path):
    path = str(tmp_path / "new" / "table")
    lakehouse.write_delta(path, A, partition_by=["s"])
    v = Versions(path)
    v[0] = A
    v.check()


def test_error_mode_creates_then_refuses(table_path):
    r = lakehouse.write_delta(table_path, A)
    assert (r.version, r.operation, r.num_added_files, r.num_removed_files) == (0, "WRITE", 1, 0)
    before = log_state(table_path)
    with pytest.raises(TableExistsError) as e:
        lakehouse.write_delta(table_path, B)
    assert "already exists" in str(e.value)
    with pytest.raises(TableExistsError):
        lakehouse.write_delta(table_path, B, mode="error")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = A
    v.check()


def test_append_then_overwrite_records_removes(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, A)
    v[0] = A
    r = lakehouse.write_delta(table_path, B, mode="append")
    assert (r.version, r.num_added_files, r.num_removed_files) == (1, 1, 0)
    v[1] = concat(A, B)
    r = lakehouse.write_delta(table_path, C, mode="append")
    v[2] = concat(A, B, C)
    live = set(lakehouse.DeltaTable(table_path).files().column("path").to_pylist())
    assert len(live) == 3
    r = lakehouse.write_delta(table_path, B, mode="overwrite")
    assert (r.version, r.num_added_files, r.num_removed_files) == (3, 1, 3)
    v[3] = B
    v.check()

    removes = actions_of(table_path, 3, "remove")
    assert {x["path"] for x in removes} == live
    for x in removes:
        assert x["dataChange"] is True
        assert isinstance(x["deletionTimestamp"], int) and x["deletionTimestamp"] > 0
        assert x.get("size", 0) > 0
    adds = actions_of(table_path, 3, "add")
    assert len(adds) == 1 and adds[0]["path"] not in live
    info = commit_actions(table_path, 3)[0]["commitInfo"]
    assert info["operation"] == "WRITE"
    assert info["operationParameters"]["mode"] == "Overwrite"
    assert info["readVersion"] == 2
    assert info["isBlindAppend"] is False
    info1 = commit_actions(table_path, 1)[0]["commitInfo"]
    assert info1["operationParameters"]["mode"] == "Append" and info1["isBlindAppend"] is True

    # deltalake's history agrees on the operations.
    hist = deltalake.DeltaTable(table_path).history()
    assert [h["version"] for h in hist] == [3, 2, 1, 0]
    assert [h["operation"] for h in hist] == ["WRITE"] * 4
    # The removed files are still on disk (only VACUUM deletes data files).
    for p in live:
        assert os.path.exists(os.path.join(table_path, p))


def test_overwrite_with_empty_data_empties_table(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, A)
    v[0] = A
    r = lakehouse.write_delta(table_path, A.slice(0, 0), mode="overwrite")
    assert (r.version, r.num_added_files, r.num_removed_files) == (1, 0, 1)
    v[1] = A.slice(0, 0)
    v.check()
    assert lakehouse.DeltaTable(table_path).schema.names == ["id", "s"]


def test_empty_first_write_creates_schema_only_table(table_path):
    lakehouse.write_delta(table_path, A.slice(0, 0))
    assert lakehouse.DeltaTable(table_path).files().num_rows == 0
    v = Versions(table_path)
    v[0] = A.slice(0, 0)
    lakehouse.write_delta(table_path, A, mode="append")
    v[1] = A
    v.check()
    assert deltalake.DeltaTable(table_path).schema().to_arrow().names == ["id", "s"]


def test_ignore_mode(table_path):
    r = lakehouse.write_delta(table_path, A, mode="ignore")  # creates: nothing to ignore yet
    assert r.version == 0
    before = log_state(table_path)
    r = lakehouse.write_delta(table_path, B, mode="ignore")
    assert r.version == 0 and r.num_added_files == 0
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = A
    v.check()


def test_overwrite_creates_missing_table(table_path):
    r = lakehouse.write_delta(table_path, A, mode="overwrite")
    assert r.version == 0
    r = lakehouse.write_delta(table_path, B, mode="append")
    v = Versions(table_path)
    v[0] = A
    v[1] = concat(A, B)
    v.check()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "upsert"},
        {"mode": "Append"},
        {"mode": "append", "schema_mode": "replace"},
        {"mode": "append", "predicate": "id > 1"},
        {"mode": "error", "predicate": "id > 1"},
        {"mode": "append", "schema_mode": "overwrite"},
        {"mode": "overwrite", "predicate": "id > 1", "schema_mode": "overwrite"},
        {"mode": "append", "target_file_size": 0},
        {"mode": "append", "configuration": {"delta.appendOnly": "true"}},
    ],
)
def test_invalid_arguments_leave_table_unchanged(table_path, kwargs):
    lakehouse.write_delta(table_path, A)
    before = log_state(table_path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.write_delta(table_path, B, **kwargs)
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = A
    v.check()


def test_invalid_mode_on_new_table_creates_nothing(table_path):
    with pytest.raises(InvalidArgumentError):
        lakehouse.write_delta(table_path, A, mode="bogus")
    assert not os.path.exists(os.path.join(table_path, "_delta_log"))


def test_partition_by_mismatch_on_append_is_refused(table_path):
    lakehouse.write_delta(table_path, A, partition_by=["s"])
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError):
        lakehouse.write_delta(table_path, B, mode="append", partition_by=["id"])
    assert log_state(table_path) == before
    # Naming the same partitioning is fine.
    lakehouse.write_delta(table_path, B, mode="append", partition_by="s")
    v = Versions(table_path)
    v[0] = A
    v[1] = concat(A, B)
    v.check()


def test_unsupported_input_type_is_refused(table_path):
    with pytest.raises(InvalidArgumentError):
        lakehouse.write_delta(table_path, [{"id": 1}])
    assert not os.path.exists(os.path.join(table_path, "_delta_log"))


def test_every_input_type(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, A.to_batches()[0])  # RecordBatch
    v[0] = A
    expected = A
    inputs = [
        pa.RecordBatchReader.from_batches(B.schema, B.to_batches()),
        B,
        pl.from_arrow(B),
        pl.from_arrow(B).lazy(),
        B.to_pandas(),
        pd.DataFrame({"id": [7, 8], "s": pd.Categorical(["c", "c"])}),
        list(B.to_batches()),
    ]
    for i, data in enumerate(inputs, start=1):
        r = lakehouse.write_delta(table_path, data, mode="append")
        assert r.version == i
        added = pa.table({"id": pa.array([7, 8], pa.int64()), "s": ["c", "c"]}) if i == 6 else B
        expected = concat(expected, added)
        v[i] = expected
    v.check()
    schema = lakehouse.DeltaTable(table_path).schema
    assert schema.field("id").type == pa.int64() and schema.field("s").type == pa.string()


def test_commit_result_metrics_and_custom_metadata(table_path):
    props = lakehouse.CommitProperties(custom_metadata={"userName": "tester", "job": {"n": 1}})
    r = lakehouse.write_delta(table_path, C, commit_properties=props)
    assert r.metrics["numOutputRows"] == 4 and r.metrics["numFiles"] == 1
    info = commit_actions(table_path, 0)[0]["commitInfo"]
    assert info["userName"] == "tester" and info["job"] == {"n": 1}
    assert info["operationMetrics"]["numOutputRows"] == "4"
    hist = deltalake.DeltaTable(table_path).history()
    assert hist[0].get("userName") == "tester"
    entry = lakehouse.DeltaTable(table_path).history()[0]
    assert entry.operation == "WRITE" and entry.version == 0
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), C)
