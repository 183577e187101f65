"""`lakehouse.integrations.dask.merge` on a two-process cluster gives what `DeltaTable.merge` gives: the same rows,
counts, change data and commit (one version, operation MERGE) for update / delete / insert /
not-matched-by-source clauses, copy-on-write and deletion vectors, partitioned, with the change data
feed on; deltalake reads the results the same. A task that raises or whose worker is killed leaves the
table unchanged; a target row matched twice fails naming its key.

Each case builds one table, copies it, and runs the distributed MERGE on one copy and the single-process
one on the other."""

from __future__ import annotations

import os
import shutil
import signal
import time
from functools import partial
from typing import Any, Callable

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402
from distributed import KilledWorker  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.integrations.dask.jobs import task_hook  # noqa: E402
from lakehouse.errors import InvalidArgumentError  # noqa: E402
from tests.support.dask import assert_no_missing_file, parquet_files, referenced_files  # noqa: E402
from tests.support.dml import SCHEMA, config, rows_table, snapshot_dir  # noqa: E402
from tests.support.rows import assert_same_rows, dl_read  # noqa: E402

#: Every target row with id < 10 is also in a second file (the last append repeats them).
REPEATED = 10


def _make(uri: str, *, mode: str, partitioned: bool) -> None:
    """Five appends of 40 rows (five or more files; CDF on), the last one repeating ids 0-9."""
    for k in range(5):
        ids = range(REPEATED) if k == 4 else range(k * 40, k * 40 + 40)
        rows = rows_table([{"id": i, "v": i * 10, "p": "a" if i % 2 else "b"} for i in ids])
        lakehouse.write_delta(uri, rows, mode="append", partition_by=["p"] if partitioned else None,
                              **({} if k else {"configuration": config(mode)}))


def _pair(tmp_path, *, mode: str, partitioned: bool) -> tuple[str, str]:
    ours, ref = str(tmp_path / "dask"), str(tmp_path / "ref")
    _make(ours, mode=mode, partitioned=partitioned)
    shutil.copytree(ours, ref)
    return ours, ref


# Source: updates of existing ids (5 is in two files), new ids, and rows for the conditions below.
SOURCE = [{"id": 5, "v": -5, "p": "a"}, {"id": 41, "v": -41, "p": "a"}, {"id": 42, "v": 0, "p": "b"},
          {"id": 120, "v": -120, "p": "b"}, {"id": 1000, "v": 1, "p": "b"}, {"id": 1001, "v": -1001, "p": "a"}]

Clauses = Callable[[Any], Any]
CLAUSES: dict[str, Clauses] = {
    "upsert": lambda b: b.when_matched_update_all().when_not_matched_insert_all(),
    "update-delete-insert": lambda b: (b.when_matched_delete("s.v = 0")
                                       .when_matched_update({"v": "t.v + s.v"}, predicate="t.id > 40")
                                       .when_not_matched_insert({"id": "s.id", "v": "s.v * 2", "p": "s.p"},
                                                                predicate="s.v > 0")),
    "by-source": lambda b: (b.when_matched_update_all()
                            .when_not_matched_by_source_delete("t.v >= 1500")
                            .when_not_matched_by_source_update({"v": "t.v + 1"}, predicate="t.id < 20")),
}

CASES = [
    pytest.param("cow", False, "upsert", {}, id="upsert-cow"),
    pytest.param("dv", True, "upsert", {"min_task_bytes": 0}, id="upsert-dv-partitioned-task-per-file"),
    pytest.param("dv", False, "update-delete-insert", {"min_task_bytes": 0}, id="update-delete-insert-dv"),
    pytest.param("cow", True, "update-delete-insert", {"min_task_bytes": 2000}, id="update-delete-insert-cow-partitioned"),
    pytest.param("cow", True, "by-source", {"min_task_bytes": 0}, id="by-source-cow-partitioned"),
    pytest.param("dv", False, "by-source", {"min_task_bytes": 0}, id="by-source-dv"),
]
#: Counts that do not depend on how target files were grouped into tasks (new files and change files do).
SAME = ("version", "num_source_rows", "num_target_rows_inserted", "num_target_rows_updated", "num_target_rows_deleted",
        "num_target_rows_copied", "num_target_files_scanned", "num_target_files_skipped", "num_target_files_removed",
        "num_deletion_vectors_added")


def _cdf(uri: str, version: int) -> pa.Table:
    return lakehouse.DeltaTable(uri).load_cdf(version, version).drop_columns(["_commit_timestamp"])


@pytest.mark.parametrize("mode,partitioned,clauses,kw", CASES)
def test_distributed_merge_equals_merge(client, tmp_path, mode, partitioned, clauses, kw):
    ours, ref = _pair(tmp_path, mode=mode, partitioned=partitioned)
    source = rows_table(SOURCE)
    before = lakehouse.DeltaTable(ours).version
    got = CLAUSES[clauses](ldd.merge(ours, source, "t.id = s.id", **kw)).execute()
    want = CLAUSES[clauses](lakehouse.DeltaTable(ref).merge(source, "t.id = s.id")).execute()
    assert got.version == before + 1
    assert {k: getattr(got, k) for k in SAME} == {k: getattr(want, k) for k in SAME}
    assert got.num_target_rows_updated + got.num_target_rows_deleted > 0
    assert (got.num_deletion_vectors_added > 0) == (mode == "dv")
    expected = lakehouse.DeltaTable(ref).to_arrow()
    assert_same_rows(lakehouse.DeltaTable(ours).to_arrow(), expected, "lakehouse")
    assert_same_rows(dl_read(ours), expected, "deltalake")
    assert_same_rows(_cdf(ours, got.version), _cdf(ref, want.version), "change data")
    mine, theirs = lakehouse.DeltaTable(ours).history(1)[0], lakehouse.DeltaTable(ref).history(1)[0]
    assert mine.operation == theirs.operation == "MERGE"
    assert mine.operation_parameters == theirs.operation_parameters
    assert lakehouse.DeltaTable(ours).version == before + 1
    assert_no_missing_file(ours)


def test_dask_source_and_schema_evolution(client, tmp_path):
    ours, ref = _pair(tmp_path, mode="cow", partitioned=False)
    source = pa.Table.from_pylist([{**r, "w": f"w{r['id']}"} for r in SOURCE],
                                  schema=SCHEMA.append(pa.field("w", pa.string())))
    got = (ldd.merge(ours, dd.from_pandas(source.to_pandas(), npartitions=2), "t.id = s.id", merge_schema=True)
           .when_matched_update_all().when_not_matched_insert_all().execute())
    want = (lakehouse.DeltaTable(ref).merge(source, "t.id = s.id", merge_schema=True)
            .when_matched_update_all().when_not_matched_insert_all().execute())
    assert {k: getattr(got, k) for k in SAME} == {k: getattr(want, k) for k in SAME}
    assert lakehouse.DeltaTable(ours).schema == lakehouse.DeltaTable(ref).schema
    expected = lakehouse.DeltaTable(ref).to_arrow()
    assert_same_rows(lakehouse.DeltaTable(ours).to_arrow(), expected, "lakehouse")
    assert_same_rows(dl_read(ours), expected, "deltalake")


def test_dask_source_index_is_data_only_when_named(client, tmp_path):
    """As the Dask write: a named index (here the join key) is a source column; an unnamed one is each
    partition's row numbering and never becomes a column, even with merge_schema."""
    ours, ref = _pair(tmp_path, mode="cow", partitioned=False)
    pdf = pa.Table.from_pylist(SOURCE, schema=SCHEMA).to_pandas()
    filtered = dd.from_pandas(pdf, npartitions=2)
    filtered = filtered[filtered.id != 42]  # the computed index [0, 1, 3, 4, 5] is not a range
    (ldd.merge(ours, filtered, "t.id = s.id", merge_schema=True)
     .when_matched_update_all().when_not_matched_insert_all().execute())
    keyed = dd.from_pandas(pdf.set_index("id"), npartitions=2)
    ldd.merge(ours, keyed, "t.id = s.id").when_matched_update_all().execute()
    source = pa.Table.from_pylist([r for r in SOURCE if r["id"] != 42], schema=SCHEMA)
    (lakehouse.DeltaTable(ref).merge(source, "t.id = s.id")
     .when_matched_update_all().when_not_matched_insert_all().execute())
    full = pa.Table.from_pylist(SOURCE, schema=SCHEMA)
    lakehouse.DeltaTable(ref).merge(full, "t.id = s.id").when_matched_update_all().execute()
    assert lakehouse.DeltaTable(ours).schema == lakehouse.DeltaTable(ref).schema
    expected = lakehouse.DeltaTable(ref).to_arrow()
    assert_same_rows(lakehouse.DeltaTable(ours).to_arrow(), expected, "lakehouse")
    assert_same_rows(dl_read(ours), expected, "deltalake")


def test_a_target_row_matched_twice_fails_naming_its_key(client, tmp_path):
    uri = str(tmp_path / "t")
    _make(uri, mode="dv", partitioned=False)
    before = snapshot_dir(uri)
    source = rows_table([{"id": 30, "v": 1, "p": "b"}, {"id": 30, "v": 2, "p": "b"}, {"id": 31, "v": 3, "p": "a"}])
    with pytest.raises(InvalidArgumentError, match=r"key \{'id': 30\}"):
        ldd.merge(uri, source, "t.id = s.id", min_task_bytes=0).when_matched_update_all().execute()
    assert snapshot_dir(uri) == before


def test_builder_is_immutable_and_checks_arguments(tmp_path):
    base = ldd.merge(str(tmp_path), rows_table(SOURCE), "t.id = s.id")
    upsert = base.when_matched_update_all()
    assert isinstance(upsert, ldd.DaskMergeBuilder) and upsert is not base
    assert base._clauses == () and len(upsert.when_not_matched_insert_all()._clauses) == 2
    with pytest.raises(InvalidArgumentError, match="min_task_bytes"):
        ldd.merge(str(tmp_path), rows_table(SOURCE), "t.id = s.id", min_task_bytes=-1)


def fail_task(index: int, *, trigger: int, root: str, at_least: int, how: str) -> None:
    """Task hook (runs on a worker): task ``trigger`` waits until other tasks wrote files, then raises or
    SIGKILLs its own worker process (every attempt)."""
    if index != trigger:
        return
    deadline = time.monotonic() + 20
    while len(parquet_files(root)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"injected failure in task {index}")


@pytest.mark.parametrize("how,error", [("raise", RuntimeError), ("kill", KilledWorker)])
def test_a_failed_task_commits_nothing(client, tmp_path, how, error):
    uri = str(tmp_path / "t")
    _make(uri, mode="cow", partitioned=False)
    before, rows = snapshot_dir(uri), lakehouse.DeltaTable(uri).to_arrow()
    # Matches rows in every file: one rewrite task per file, the first one fails.
    source = rows_table([{"id": i, "v": -i, "p": "a" if i % 2 else "b"} for i in range(0, 160, 7)])
    hook = partial(fail_task, trigger=0, root=uri, at_least=len(parquet_files(uri)) + 1, how=how)
    with pytest.raises(error), task_hook(hook):
        (ldd.merge(uri, source, "t.id = s.id", min_task_bytes=0)
         .when_matched_update_all().when_not_matched_insert_all().execute())
    assert snapshot_dir(uri) == before
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), rows)
    assert_no_missing_file(uri)
    assert parquet_files(uri) - referenced_files(uri), "the finished tasks' files should exist, unreferenced"
