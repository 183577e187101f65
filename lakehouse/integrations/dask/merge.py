"""Distributed MERGE: the source broadcast to every task, one task per candidate target file (small
files grouped), one commit on the client.

1. Client: materialise the source and plan with the single-process `prepare_merge` against the latest
   snapshot (clauses, schemas, pruning of target files by the source's keys), then group the candidate
   files into tasks (`lakehouse.integrations.dask.partitions.group_in_order`: a file is never split; small files are
   grouped up to ``min_task_bytes`` / ``min_task_rows``).
2. Workers: each task loads the snapshot of the planned version (once per process), and runs the
   single-process `merge_target_files` on its files with a `FileRewriter` of its own (``max_workers=1``):
   rewritten rows or a deletion vector, change data, and the source rows each file matched
   (`TargetChanges`, with the rewriter's closed `FileChanges`). A target row
   matched by two source rows fails its task with the error naming the key.
3. Client: gather the changes into its own rewriter (`absorb`: a refused commit removes the tasks'
   files too), then `finish_merge`, the single-process MERGE's end: insert the source rows
   no task matched (the union of the matched rows over all tasks decides) and commit in its transaction: read set, conflict checks, metrics, operation ``MERGE``.

The `PreparedMerge` (with the source rows) is one graph node that every task depends on, so it is sent
once to each worker, and must fit in a worker's memory. A failed task fails the job before the
transaction exists: nothing is committed; files written by finished tasks stay unreferenced (VACUUM).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from typing import Any, Callable, Mapping

import dask.dataframe as dd
import pyarrow as pa
from dask import delayed

from lakehouse.integrations.dask.jobs import TableRef, compute_outputs, task
from lakehouse.integrations.dask.write import index_is_data
from lakehouse.integrations.dask.partitions import MIN_PARTITION_BYTES, MIN_PARTITION_ROWS, file_rows, group_in_order
from lakehouse.errors import InvalidArgumentError, MetadataChangedError
from lakehouse.progress import Progress, reporter
from lakehouse.operations.merge_builder import MergeBuilder
from lakehouse.operations.merge import (
    MergeMetrics,
    PreparedMerge,
    TargetChanges,
    finish_merge,
    merge_target_files,
    prepare_merge,
    skipped_merge,
)
from lakehouse.operations.rewrite import FileRewriter
from lakehouse.operations.write import IDENTITY_RETRIES
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr import FilterLike
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.storage import open_storage
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety


def merge_task(table: TableRef, merge: PreparedMerge, files: pa.Table) -> TargetChanges:
    """One group of candidate target files, on a worker, with writers of its own."""
    snapshot = merge.target_snapshot(table.snapshot())
    # One thread for reading and encoding: Dask already runs a task per core.
    with FileRewriter(snapshot, max_workers=1, now=merge.now) as rewriter:
        changes = merge_target_files(rewriter, merge, files)
        return replace(changes, files=rewriter.close())


def _groups(files: pa.Table, min_bytes: int, min_rows: int) -> list[pa.Table]:
    if files.num_rows == 0:
        return []
    groups = group_in_order([[i] for i in range(files.num_rows)], files.column("size").to_pylist(),
                            file_rows(files.column("stats")), min_bytes=min_bytes, min_rows=min_rows)
    return [files.take(av.array(g, pa.int64())) for g in groups]


def _check_min(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative int, got {value!r}")


class DaskMergeBuilder(MergeBuilder):
    """`DeltaTable.merge`'s builder (the same `when_*` clauses), whose `execute()` rewrites the target
    files as Dask tasks and commits once on the client."""

    def __init__(self, uri: str | os.PathLike[str], source: Any, on: FilterLike, *, source_alias: str = "s",
                 target_alias: str = "t", merge_schema: bool = False,
                 storage_options: Mapping[str, Any] | None = None,
                 commit_properties: CommitProperties | None = None, min_task_bytes: int = MIN_PARTITION_BYTES,
                 min_task_rows: int = MIN_PARTITION_ROWS):
        super().__init__(None, source, on, source_alias=source_alias, target_alias=target_alias,
                         merge_schema=merge_schema, commit_properties=commit_properties)
        self._uri = uri
        self._storage_options = dict(storage_options) if storage_options else None
        self._min_task = (min_task_bytes, min_task_rows)

    def execute(self, *, progress: Progress | None = None) -> MergeMetrics:
        """Run the MERGE on the active Dask scheduler and commit it once; returns its metrics.
        ``progress`` receives a `ProgressEvent` (operation ``MERGE``, unit ``tasks``) when the tasks are
        planned (0 of N) and when they are all done (N of N): the tasks run on the cluster, not here."""
        t0 = time.perf_counter()
        counter = reporter(progress, "MERGE", "tasks")
        storage = open_storage(self._uri, self._storage_options)
        snapshot = latest_snapshot(storage)
        check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
        check_commit_safety(storage)
        if already_applied(snapshot, self._commit_properties):
            return skipped_merge()
        source = self._source
        if isinstance(source, dd.DataFrame):
            # As the Dask write does: a named index is data (a column), an unnamed one is only each
            # partition's row numbering and is not part of the source.
            source = source.compute() if index_is_data(source) else source.compute().reset_index(drop=True)
        target_alias, source_alias = self._aliases
        for attempt in range(IDENTITY_RETRIES + 1):
            merge = prepare_merge(snapshot, source, self._on, self._clauses, target_alias=target_alias,
                                  source_alias=source_alias, merge_schema=self._merge_schema)
            try:
                return self._execute_once(merge, merge.target_snapshot(snapshot), storage.root_uri, t0, counter)
            except MetadataChangedError:
                # As the single-process MERGE (`run_merge`): a MERGE inserting identity values that lost
                # the race for the high-water mark (its files already removed) is redone on the new version.
                if attempt == IDENTITY_RETRIES or "identityColumns" not in active_features(snapshot.protocol,
                                                                                           snapshot.metadata):
                    raise
                source = merge.source.drop_columns(["__s"])
                snapshot = latest_snapshot(storage)
                check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
                if already_applied(snapshot, self._commit_properties):
                    return skipped_merge()
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _execute_once(self, merge: PreparedMerge, snapshot: Snapshot, root_uri: str, t0: float,
                      counter: Callable[[int, int | None], None] | None = None) -> MergeMetrics:
        """One attempt: the tasks over the candidate files of ``snapshot``, then the commit on the client."""
        rewriter = FileRewriter(snapshot, now=merge.now)
        rewriter.started = t0
        files = merge.plan_files(rewriter)
        ref = TableRef(root_uri, self._storage_options, snapshot.version)
        shared = delayed(merge, traverse=False)  # one node: the source travels once to each worker
        tasks = [task(merge_task, i, ref, shared, group)
                 for i, group in enumerate(_groups(files, *self._min_task))]
        if counter:
            counter(0, len(tasks))
        with rewriter:
            changes = TargetChanges.combine(compute_outputs(tasks))
            if counter:
                counter(len(tasks), len(tasks))
            rewriter.absorb(changes.files)  # the tasks' files: committed here, or removed on failure
            return finish_merge(rewriter, merge, changes, scanned=time.perf_counter(),
                                commit_properties=self._commit_properties)

def merge(uri: str | os.PathLike[str], source: Any, predicate: FilterLike, *, source_alias: str = "s", target_alias: str = "t",
          merge_schema: bool = False, storage_options: Mapping[str, Any] | None = None,
          commit_properties: CommitProperties | None = None, min_task_bytes: int = MIN_PARTITION_BYTES,
          min_task_rows: int = MIN_PARTITION_ROWS) -> DaskMergeBuilder:
    """Start a distributed MERGE of ``source`` into the Delta table at ``uri`` on the condition ``predicate`` (SQL,
    or polars naming columns with their alias);
    add `when_*` clauses as with `DeltaTable.merge` and call `execute()`.

    ``source`` is anything `DeltaTable.merge` accepts, or a Dask DataFrame (computed on the client). It is
    broadcast whole to every task, so it must fit in a worker's memory. The target files the source's
    keys may touch are rewritten by Dask tasks, one per file or per group of small files (until a group
    holds ``min_task_bytes`` bytes or ``min_task_rows`` rows); rows, clause semantics, errors and the
    commit are the single-process MERGE's. ``storage_options`` travel to the workers.
    """
    if not isinstance(uri, (str, os.PathLike)):
        raise InvalidArgumentError(f"table URI must be a string or path, got {type(uri).__name__}")
    _check_min("min_task_bytes", min_task_bytes)
    _check_min("min_task_rows", min_task_rows)
    return DaskMergeBuilder(uri, source, predicate, source_alias=source_alias, target_alias=target_alias,
                            merge_schema=merge_schema, storage_options=storage_options,
                            commit_properties=commit_properties, min_task_bytes=min_task_bytes,
                            min_task_rows=min_task_rows)
