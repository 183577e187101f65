"""The Dask write, MERGE and OPTIMIZE follow the single-process rules of issue 18: a replayed
``(appId, version)`` is skipped before any task runs and the recorded version never moves backwards
(item 5); schema evolution records the features the new schema needs (item 9)."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse import AppTransaction, CommitProperties  # noqa: E402
from tests.support.dml import SCHEMA, rows_table, snapshot_dir  # noqa: E402
from tests.support.rows import assert_same_rows, dl_read  # noqa: E402
from tests.support.log import actions_of  # noqa: E402


def props(version: int) -> CommitProperties:
    return CommitProperties(app_transactions=(AppTransaction("dask-job", version),))


def frame(rows: list[dict]) -> dd.DataFrame:
    return dd.from_pandas(rows_table(rows).to_pandas(), npartitions=2)


def test_replays_are_skipped(client, tmp_path):
    uri = str(tmp_path / "t")
    base = [{"id": i, "v": i, "p": "a"} for i in range(4)]
    for r in base:
        lakehouse.write_delta(uri, rows_table([r]), mode="append")
    assert ldd.write_delta(uri, frame([{"id": 10, "v": 10, "p": "b"}]), mode="append",
                           commit_properties=props(1)).version == 4
    src = frame([{"id": 10, "v": -1, "p": "b"}, {"id": 11, "v": 11, "p": "b"}])
    assert (ldd.merge(uri, src, "t.id = s.id", commit_properties=props(2))
            .when_matched_update_all().when_not_matched_insert_all().execute().version) == 5
    assert ldd.optimize.compact(uri, commit_properties=props(3)).version == 6
    want = lakehouse.DeltaTable(uri).to_arrow()
    before = snapshot_dir(uri)
    for v in (3, 2, 1):
        assert ldd.write_delta(uri, frame([{"id": 10, "v": 10, "p": "b"}]), mode="append",
                               commit_properties=props(v)).operation == "NOOP"
        assert (ldd.merge(uri, src, "t.id = s.id", commit_properties=props(v))
                .when_matched_update_all().when_not_matched_insert_all().execute().version) is None
        assert ldd.optimize.compact(uri, commit_properties=props(v)).version is None
    assert snapshot_dir(uri) == before
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), want, "lakehouse")
    assert_same_rows(dl_read(uri), want, "deltalake")
    assert lakehouse.DeltaTable(uri).transactions["dask-job"].version == 3


def test_schema_evolution_adds_timestamp_ntz_feature(client, tmp_path):
    uri = str(tmp_path / "t")
    lakehouse.write_delta(uri, rows_table([{"id": 0, "v": 0, "p": "a"}]))
    ts = datetime.datetime(2022, 2, 2, 2, 2, 2)
    new = pa.table({"id": pa.array([1], pa.int64()), "v": pa.array([1], pa.int64()), "p": ["a"],
                    "t": pa.array([ts], pa.timestamp("us"))})
    ldd.write_delta(uri, dd.from_pandas(new.to_pandas(), npartitions=1), mode="append", schema_mode="merge",
                    schema=SCHEMA.append(pa.field("t", pa.timestamp("us"))))
    (proto,) = actions_of(uri, 1, "protocol")
    assert (proto["minReaderVersion"], proto["minWriterVersion"]) == (3, 7)
    assert "timestampNtz" in proto["readerFeatures"] and "timestampNtz" in proto["writerFeatures"]
    import deltalake
    deltalake.write_deltalake(uri, new, mode="append")
    want = [{"id": 0, "v": 0, "p": "a", "t": None}, {"id": 1, "v": 1, "p": "a", "t": ts},
            {"id": 1, "v": 1, "p": "a", "t": ts}]
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), want, "lakehouse")
    assert_same_rows(dl_read(uri), want, "deltalake")
