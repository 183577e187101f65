"""Distributed OPTIMIZE and MERGE against the S3 test server: the workers open storage themselves with
the ``storage_options`` the client passes, and the client commits once."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402


def test_optimize_then_merge_on_s3(client, s3_bucket):
    bucket, options, _ = s3_bucket
    uri = f"s3://{bucket}/t"
    for k in range(4):
        ids = list(range(k * 10, k * 10 + 10))
        lakehouse.write_delta(uri, pa.table({"id": ids, "v": [0] * 10, "p": ["a" if i % 2 else "b" for i in ids]}),
                              mode="append", partition_by=["p"], storage_options=options)
    metrics = ldd.optimize.compact(uri, storage_options=options)
    table = lakehouse.DeltaTable(uri, storage_options=options)
    assert metrics.version == table.version == 4
    assert metrics.num_files_removed == 8 and table.files().num_rows == 2
    assert sorted(table.to_arrow().column("id").to_pylist()) == list(range(40))

    source = pa.table({"id": [1, 2, 100], "v": [7, 7, 7], "p": ["a", "b", "a"]})
    result = (ldd.merge(uri, source, predicate="t.id = s.id", storage_options=options)
              .when_matched_update_all().when_not_matched_insert_all().execute())
    assert result.num_target_rows_updated == 2 and result.num_target_rows_inserted == 1
    after = {r["id"]: r["v"] for r in lakehouse.DeltaTable(uri, storage_options=options).to_arrow().to_pylist()}
    assert lakehouse.DeltaTable(uri, storage_options=options).version == 5
    assert len(after) == 41 and after[1] == after[2] == after[100] == 7 and after[3] == 0


def test_workers_take_delta_rs_storage_options(client, s3_bucket, s3_server):
    """The delta-rs spelling of the options travels to the workers, which translate it themselves."""
    import dask.dataframe as dd
    import pandas as pd

    from tests.support.rows import assert_same_rows
    from tests.storage.test_s3_options import delta_rs_options

    bucket, _, _ = s3_bucket
    uri, options = f"s3://{bucket}/t", delta_rs_options(s3_server)
    frame = pd.DataFrame({"id": list(range(20)), "p": ["a" if i % 2 else "b" for i in range(20)]})
    ldd.write_delta(uri, dd.from_pandas(frame, npartitions=4), partition_by=["p"], storage_options=options)
    ldd.write_delta(uri, dd.from_pandas(frame.assign(id=frame.id + 20), npartitions=2), mode="append",
                    storage_options=options)
    got = ldd.read_delta(uri, storage_options=options).compute()
    want = pa.table({"id": list(range(40)), "p": ["a" if i % 2 else "b" for i in range(40)]})
    assert_same_rows(pa.Table.from_pandas(got, preserve_index=False).select(["id", "p"]), want, "lakehouse.integrations.dask")
    from deltalake import DeltaTable as DlTable
    assert_same_rows(DlTable(uri, storage_options=options).to_pyarrow_table().select(["id", "p"]), want, "deltalake")
