"""`lakehouse.integrations.dask.optimize` on a two-process cluster commits what `DeltaTable.optimize` commits: the same
bins, the same output files (row for row, in order), `dataChange=false`, one commit; bin-packing and
Z-order, partitioned, with deletion vectors. A task that fails leaves the table unchanged.

Each case builds one table, copies it, and runs the distributed OPTIMIZE on one copy and the
single-process one on the other."""

from __future__ import annotations

import inspect
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from urllib.parse import unquote

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.dataframe")

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.integrations.dask.jobs import task_hook  # noqa: E402
from lakehouse.operations.optimize import ZCUBE_ZORDER_BY, OptimizeMetrics  # noqa: E402
from tests.support.dask import assert_no_missing_file, assert_same_rows, parquet_files, referenced_files  # noqa: E402
from tests.support.rows import dl_read  # noqa: E402
from tests.support.log import actions_of  # noqa: E402


def _make(uri: str, *, partitioned: bool, dv: bool) -> None:
    """Six small appends (two partitions when partitioned); with ``dv``, a DELETE leaves deletion vectors."""
    config = {"delta.enableDeletionVectors": "true" if dv else "false"}
    for k in range(6):
        ids = list(range(k * 100, k * 100 + 100))
        rows = pa.table({"id": pa.array(ids, pa.int64()), "x": pa.array([(i * 37) % 101 for i in ids], pa.int64()),
                         "y": pa.array([float((i * 53) % 97) for i in ids]), "p": ["a" if i % 3 else "b" for i in ids]})
        lakehouse.write_delta(uri, rows, mode="append", partition_by=["p"] if partitioned else None,
                              **({} if k else {"configuration": config}))
    if dv:
        lakehouse.DeltaTable(uri).delete("id IN (3, 150, 151, 299, 400, 598)")


def _file_contents(uri: str, version: int) -> list[tuple]:
    """The files a commit added, each as (partition values, rows in order): the layout, name-free."""
    out = []
    for add in actions_of(uri, version, "add"):
        rows = pq.read_table(str(Path(uri) / unquote(add["path"]))).to_pylist()
        out.append((sorted(add["partitionValues"].items()), [tuple(sorted(r.items())) for r in rows]))
    return sorted(out)


def _pair(tmp_path, *, partitioned: bool, dv: bool) -> tuple[str, str]:
    ours, ref = str(tmp_path / "dask"), str(tmp_path / "ref")
    _make(ours, partitioned=partitioned, dv=dv)
    shutil.copytree(ours, ref)
    return ours, ref


def _same_metrics(a: OptimizeMetrics, b: OptimizeMetrics) -> None:
    ignore = {"duration_ms"}
    assert {k: v for k, v in vars(a).items() if k not in ignore} == {k: v for k, v in vars(b).items() if k not in ignore}


CASES = [
    pytest.param(dict(partitioned=False, dv=False), {}, id="binpack"),
    pytest.param(dict(partitioned=True, dv=True), {}, id="binpack-partitioned-dv"),
    pytest.param(dict(partitioned=True, dv=False), {"partition_filters": [("p", "=", "a")]}, id="binpack-filter"),
    pytest.param(dict(partitioned=True, dv=True), {"columns": ["x", "y"], "target_size": 3000}, id="zorder-partitioned-dv"),
    pytest.param(dict(partitioned=False, dv=False), {"columns": ["x"]}, id="zorder"),
]


def _optimize(optimizer, *first, columns=None, **kw):
    """One case on ``optimizer`` (`ldd.optimize` with the URI as ``first``, or `dt.optimize`): the same
    call and keywords on both, as a user moving a job to Dask writes it."""
    if columns:
        return optimizer.z_order(*first, columns, **kw)
    return optimizer.compact(*first, **kw)


@pytest.mark.parametrize("table,kw", CASES)
def test_distributed_optimize_commits_what_optimize_commits(client, tmp_path, table, kw):
    ours, ref = _pair(tmp_path, **table)
    before = lakehouse.DeltaTable(ours)
    got = _optimize(ldd.optimize, ours, **kw)
    want = _optimize(lakehouse.DeltaTable(ref).optimize, **kw)
    assert got.version == before.version + 1 and got.num_files_removed > 0
    _same_metrics(got, want)
    after = lakehouse.DeltaTable(ours)
    assert after.version == got.version
    assert_same_rows(after.to_arrow(), before.to_arrow())
    assert_same_rows(dl_read(ours), before.to_arrow())
    # The same output files, row for row: bins and their contents do not depend on where they ran.
    assert _file_contents(ours, got.version) == _file_contents(ref, want.version)
    adds, removes = actions_of(ours, got.version, "add"), actions_of(ours, got.version, "remove")
    assert all(a["dataChange"] is False for a in adds) and all(r["dataChange"] is False for r in removes)
    assert not any(a.get("deletionVector") for a in adds)
    if kw.get("columns"):
        assert all(orjson.loads(a["tags"][ZCUBE_ZORDER_BY]) == kw["columns"] for a in adds)
    mine, theirs = after.history(1)[0], lakehouse.DeltaTable(ref).history(1)[0]
    assert mine.operation == theirs.operation == "OPTIMIZE"
    assert mine.operation_parameters == theirs.operation_parameters
    assert_no_missing_file(ours)
    # Nothing left to do: a second run commits nothing, as the single-process one.
    again = _optimize(ldd.optimize, ours, **kw)
    assert again.version is None and lakehouse.DeltaTable(ours).version == got.version


def test_distributed_optimize_with_nothing_to_do_runs_no_task(client, tmp_path):
    uri = str(tmp_path / "t")
    lakehouse.write_delta(uri, pa.table({"id": [1, 2]}))
    m = ldd.optimize.compact(uri)
    assert (m.version, m.num_batches) == (None, 0)
    assert lakehouse.DeltaTable(uri).version == 0


def fail_bin(index: int, *, trigger: int, root: str, at_least: int) -> None:
    """Task hook (runs on a worker): bin ``trigger`` waits until other bins wrote files, then raises."""
    if index != trigger:
        return
    deadline = time.monotonic() + 20
    while len(parquet_files(root)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    raise RuntimeError(f"injected failure in bin {index}")


def test_a_failed_bin_commits_nothing(client, tmp_path):
    uri = str(tmp_path / "t")
    _make(uri, partitioned=True, dv=False)  # two partitions: two bins
    before = lakehouse.DeltaTable(uri)
    hook = partial(fail_bin, trigger=0, root=uri, at_least=len(parquet_files(uri)) + 1)
    with pytest.raises(RuntimeError, match="injected failure in bin 0"):
        with task_hook(hook):
            ldd.optimize.compact(uri)
    after = lakehouse.DeltaTable(uri)
    assert after.version == before.version
    assert_same_rows(after.to_arrow(), before.to_arrow())
    assert_no_missing_file(uri)
    assert parquet_files(uri) - referenced_files(uri), "the finished bin's files should exist, unreferenced"
    # The table still optimizes afterwards.
    assert ldd.optimize.compact(uri).version == before.version + 1
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), before.to_arrow())


def test_dask_optimize_speaks_dt_optimize_and_has_no_test_parameters():
    """`ldd.optimize.compact` / `z_order` take `dt.optimize`'s keywords (after the URI; plus
    ``storage_options``), the old `partition_filter=` / `z_order_by=` are gone, and no task function
    carries the test hook."""
    from lakehouse.integrations.dask.optimize import run_bin

    def keywords(fn):
        return [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]

    facade = lakehouse.TableOptimizer
    assert set(keywords(ldd.optimize.compact)) - {"storage_options"} <= set(keywords(facade.compact))
    assert set(keywords(ldd.optimize.z_order)) - {"storage_options"} <= set(keywords(facade.z_order))
    assert list(inspect.signature(ldd.optimize.z_order).parameters)[:2] == ["uri", "columns"]
    assert "partition_filters" in keywords(ldd.optimize.compact)
    with pytest.raises(TypeError):
        ldd.optimize.compact("memory://x", partition_filter=None)  # type: ignore[call-arg]
    for fn in (run_bin, sys.modules["lakehouse.integrations.dask.merge"].merge_task):
        assert not any("hook" in p for p in inspect.signature(fn).parameters), fn
