"""Failures during a Dask write: a task that raises or a worker killed mid-job leaves the table exactly
as it was; a worker killed once is retried and the job commits every row exactly once.

In each job partition 2 waits until the other partitions have written files, then fails, so that
files of the failed job really exist on disk when the job ends: they must stay unreferenced.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402
from distributed import KilledWorker  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from tests.support.dask import (  # noqa: E402
    assert_no_missing_file,
    assert_same_rows,
    fail_after_others,
    parquet_files,
    referenced_files,
)

PARTS = 4


def _frame(start: int, n: int) -> pd.DataFrame:
    ids = np.arange(start, start + n, dtype=np.int64)
    return pd.DataFrame({"id": ids, "part": (ids - start) * PARTS // n, "v": ids * 2.0})


@pytest.fixture
def table(tmp_path) -> str:
    uri = str(tmp_path / "t")
    lakehouse.write_delta(uri, _frame(0, 40))
    return uri


def _failing_job(uri: str, how: str, marker: str | None = None) -> dd.DataFrame:
    ddf = dd.from_pandas(_frame(1000, 400), npartitions=PARTS, sort=False)
    existing = len(parquet_files(uri))
    fail = partial(fail_after_others, trigger=2, root=uri, at_least=existing + 2, how=how, marker=marker)
    return ddf.map_partitions(fail, meta=ddf._meta)


def _assert_unchanged(uri: str, before: lakehouse.DeltaTable) -> None:
    after = lakehouse.DeltaTable(uri)
    assert after.version == before.version
    assert_same_rows(after.to_arrow(), before.to_arrow())
    assert_no_missing_file(uri)
    orphans = parquet_files(uri) - referenced_files(uri)
    assert orphans, "the failed job's files should exist, unreferenced"


def test_a_task_that_raises_commits_nothing(client, table):
    before = lakehouse.DeltaTable(table)
    with pytest.raises(RuntimeError, match="injected failure"):
        ldd.write_delta(table, _failing_job(table, "raise"), mode="append")
    _assert_unchanged(table, before)


def test_a_worker_killed_on_every_attempt_commits_nothing(client, table):
    before = lakehouse.DeltaTable(table)
    with pytest.raises(KilledWorker):
        ldd.write_delta(table, _failing_job(table, "kill"), mode="overwrite")
    _assert_unchanged(table, before)
    client.wait_for_workers(2, timeout=60)


def test_a_worker_killed_once_is_retried_and_commits_once(client, table, tmp_path):
    before = lakehouse.DeltaTable(table)
    marker = tmp_path / "killed-once"
    result = ldd.write_delta(table, _failing_job(table, "kill", marker=str(marker)), mode="append")
    assert marker.exists()  # a worker really died mid-job
    after = lakehouse.DeltaTable(table)
    assert result.version == after.version == before.version + 1
    expected = pd.concat([_frame(0, 40), _frame(1000, 400)])
    assert_same_rows(after.to_arrow(), pa.Table.from_pandas(expected, preserve_index=False))  # each row once
    assert_no_missing_file(table)
    assert referenced_files(table) <= parquet_files(table)
    client.wait_for_workers(2, timeout=60)
