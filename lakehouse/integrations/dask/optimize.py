"""Distributed OPTIMIZE, as ``lakehouse.integrations.dask.optimize.compact(uri, ...)`` and
``.z_order(uri, columns, ...)`` (the calls and arguments of `dt.optimize`): plan on the client, rewrite
each bin as a Dask task, commit once on the client.

1. Client: load the latest snapshot and plan with the single-process `plan_optimize` (the same bins:
   bin-packing per partition, files with deletion vectors, or whole partitions for Z-order).
2. Workers: each `Bin` is one task running the single-process `execute_bin` against the worker's own
   snapshot of the planned version (`TableRef.snapshot`, loaded once per process), writing new files
   with ``dataChange=false`` under fresh unique names. Z-order spills go to the worker's local temp dir.
3. Client: gather the `BinResult`s and commit them with `commit_optimize` in one transaction (its read
   set is exactly the files it removes, so concurrent appends still commit).

A failed task fails the job before the transaction exists: nothing is committed, and the files that
finished bins wrote stay unreferenced until VACUUM.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Iterable, Mapping, Sequence

from dask import delayed

from lakehouse.integrations.dask.jobs import TableRef, compute_outputs, task
from lakehouse.errors import InvalidArgumentError
from lakehouse.operations.optimize import (
    Bin,
    BinResult,
    OptimizeMetrics,
    OptimizePlan,
    PartitionFilter,
    commit_optimize,
    execute_bin,
    plan_optimize,
    skipped_optimize,
)
from lakehouse.operations.cluster import clustering_plan, mark_clustered
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.snapshot import latest_snapshot
from lakehouse.storage import open_storage
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety


def run_bin(table: TableRef, plan: OptimizePlan, item: Bin) -> BinResult:
    """One bin, on a worker: rewrite it against this process's snapshot of the planned version, on one
    thread (Dask already runs a task per core)."""
    return execute_bin(table.snapshot(), plan, item, max_workers=1)


def _optimize(uri: str | os.PathLike[str], *, z_order_by: Sequence[str], partition_filters: PartitionFilter,
              target_size: int | None, min_file_size: int | None, storage_options: Mapping[str, Any] | None,
              commit_properties: CommitProperties | None) -> OptimizeMetrics:
    if not isinstance(uri, (str, os.PathLike)):
        raise InvalidArgumentError(f"table URI must be a string or path, got {type(uri).__name__}")
    start = time.perf_counter()
    storage = open_storage(uri, storage_options)
    snapshot = latest_snapshot(storage)
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(storage)
    if already_applied(snapshot, commit_properties):
        return skipped_optimize()
    # A clustered table is clustered, as by dt.optimize (spec/clustering.md); otherwise the usual plan.
    clustered = clustering_plan(snapshot, target_size=target_size, partition_filter=partition_filters,
                                z_order_by=z_order_by, min_file_size=min_file_size)
    plan = clustered or plan_optimize(snapshot, target_size=target_size, partition_filter=partition_filters,
                                      min_file_size=min_file_size, z_order_by=z_order_by)
    ref = TableRef(storage.root_uri, dict(storage_options) if storage_options else None, snapshot.version)
    # Every task needs the plan's settings, not its other bins: one shared graph node without them.
    shared = delayed(dataclasses.replace(plan, bins=()), traverse=False)
    tasks = [task(run_bin, i, ref, shared, b) for i, b in enumerate(plan.bins)]
    results: list[BinResult] = compute_outputs(tasks)
    if clustered is not None:
        results = [mark_clustered(r) for r in results]
    return commit_optimize(snapshot, plan, results, commit_properties=commit_properties,
                           duration_ms=int((time.perf_counter() - start) * 1000))


class DaskOptimizer:
    """``lakehouse.integrations.dask.optimize``: `dt.optimize`'s two calls on a Dask cluster, one task per
    bin and one commit on the client.

    The plan, the files written (``dataChange`` false, Z-cube tags for Z-order), the commit (operation
    ``OPTIMIZE``, one version, nothing when there is nothing to do) and the metrics are the
    single-process OPTIMIZE's. ``storage_options`` travel to the workers, which open storage themselves.
    Each call runs on the active Dask scheduler and blocks until committed.
    """

    def compact(self, uri: str | os.PathLike[str], *, partition_filters: PartitionFilter = None,
                target_size: int | None = None, min_file_size: int | None = None,
                storage_options: Mapping[str, Any] | None = None,
                commit_properties: CommitProperties | None = None) -> OptimizeMetrics:
        """Bin-pack the small files (and files with deletion vectors) of the table at ``uri``; arguments
        as for `dt.optimize.compact` (``partition_filters``: deltalake's ``[(column, op, value)]`` tuples or
        a SQL predicate over partition columns)."""
        return _optimize(uri, z_order_by=(), partition_filters=partition_filters, target_size=target_size,
                         min_file_size=min_file_size, storage_options=storage_options,
                         commit_properties=commit_properties)

    def z_order(self, uri: str | os.PathLike[str], columns: Iterable[str], *,
                partition_filters: PartitionFilter = None, target_size: int | None = None,
                storage_options: Mapping[str, Any] | None = None,
                commit_properties: CommitProperties | None = None) -> OptimizeMetrics:
        """Rewrite each partition of the table at ``uri`` clustered along a Z-order curve of ``columns``;
        arguments as for `dt.optimize.z_order`."""
        cols = [columns] if isinstance(columns, str) else list(columns)
        if not cols:
            raise InvalidArgumentError("z_order needs at least one column")
        return _optimize(uri, z_order_by=cols, partition_filters=partition_filters, target_size=target_size,
                         min_file_size=None, storage_options=storage_options, commit_properties=commit_properties)

    def __repr__(self) -> str:
        return "lakehouse.integrations.dask.optimize"


#: The namespace: ``optimize.compact(uri, ...)`` and ``optimize.z_order(uri, columns, ...)``.
optimize = DaskOptimizer()
