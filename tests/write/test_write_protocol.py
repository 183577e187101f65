"""The protocol a write creates (smallest that supports the table's features) and append-only tables."""

from __future__ import annotations

from datetime import datetime

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import AppendOnlyError, InvalidArgumentError
from tests.support.log import actions_of, log_state
from tests.support.rows import Versions, concat

T = pa.table({"id": pa.array([1, 2], pa.int64()), "s": ["a", "b"]})


@pytest.mark.parametrize(
    "config, data, want",
    [
        ({}, T, (1, 2, None, None)),
        ({"delta.appendOnly": "true"}, T, (1, 2, None, None)),
        ({"delta.constraints.c": "id > 0"}, T, (1, 3, None, None)),
        ({"delta.enableChangeDataFeed": "true"}, T, (1, 4, None, None)),
        ({"delta.enableInCommitTimestamps": "true"}, T, (1, 7, None, {"inCommitTimestamp"})),
        ({"delta.enableInCommitTimestamps": "true", "delta.constraints.c": "id > 0"}, T,
         (1, 7, None, {"inCommitTimestamp", "checkConstraints"})),
        ({"delta.enableDeletionVectors": "true"}, T, (3, 7, {"deletionVectors"}, {"deletionVectors"})),
        ({}, T.append_column("ntz", pa.array([datetime(2024, 1, 1), None], pa.timestamp("us"))),
         (3, 7, {"timestampNtz"}, {"timestampNtz"})),
        ({"delta.feature.domainMetadata": "supported"}, T, (1, 7, None, {"domainMetadata"})),
    ],
)
def test_minimal_protocol(table_path, config, data, want):
    lakehouse.write_delta(table_path, data, configuration=config)
    (proto,) = actions_of(table_path, 0, "protocol")
    got = (proto["minReaderVersion"], proto["minWriterVersion"],
           set(proto["readerFeatures"]) if "readerFeatures" in proto else None,
           set(proto["writerFeatures"]) if "writerFeatures" in proto else None)
    assert got == want
    (meta,) = actions_of(table_path, 0, "metaData")
    assert not any(k.startswith("delta.feature.") for k in meta["configuration"])
    dp = deltalake.DeltaTable(table_path).protocol()
    assert (dp.min_reader_version, dp.min_writer_version) == want[:2]
    lakehouse.write_delta(table_path, data, mode="append")
    v = Versions(table_path)
    v[0] = data
    v[1] = concat(data, data)
    v.check()


def test_unknown_feature_switch_is_refused(table_path):
    with pytest.raises(InvalidArgumentError):
        lakehouse.write_delta(table_path, T, configuration={"delta.feature.noSuchThing": "supported"})


def test_append_only_table(table_path):
    lakehouse.write_delta(table_path, T, configuration={"delta.appendOnly": "true"})
    lakehouse.write_delta(table_path, T, mode="append")
    before = log_state(table_path)
    with pytest.raises(AppendOnlyError):
        lakehouse.write_delta(table_path, T, mode="overwrite")
    with pytest.raises(AppendOnlyError):
        lakehouse.write_delta(table_path, T.slice(0, 1), mode="overwrite", predicate="id = 1")
    assert log_state(table_path) == before
    # A replaceWhere that removes nothing is still an append.
    lakehouse.write_delta(table_path, pa.table({"id": pa.array([50], pa.int64()), "s": ["z"]}), mode="overwrite",
                          predicate="id >= 50")
    v = Versions(table_path)
    v[0] = T
    v[1] = concat(T, T)
    v[2] = concat(T, T, pa.table({"id": pa.array([50], pa.int64()), "s": ["z"]}))
    v.check()


def test_name_and_description(table_path):
    lakehouse.write_delta(table_path, T, name="my_table", description="a test table")
    md = deltalake.DeltaTable(table_path).metadata()
    assert md.name == "my_table" and md.description == "a test table"
    assert lakehouse.DeltaTable(table_path).metadata.name == "my_table"
