"""OPTIMIZE: compact small files (bin-packing) or cluster a partition's rows along a Z-order curve.

Plan, execute, commit are separate steps over plain data so that a distributed engine can run the bins
as tasks and commit once (`lakehouse.integrations.dask`):

- `plan_optimize` (`lakehouse.operations.optimize_plan`) groups candidate files per partition into
  `Bin`s of typed `Add` actions.
- `execute_bin` rewrites one bin. Bin-packing reads the bin's files in *read groups* (consecutive files,
  up to `READ_GROUP_BYTES` of Parquet or `READ_GROUP_FILES` files, whichever comes first) on up to
  ``max_workers`` threads, at most ``max_workers`` groups ahead of the writer, and writes them in bin
  order: rows keep their order within a bin, whatever the number of workers. Z-order is a two-pass
  external sort (`lakehouse.operations.optimize_zorder`).
- `commit_optimize` commits removes and adds with `dataChange=false`. The transaction reads exactly the
  files it removes: a concurrent append commits (and so does OPTIMIZE), a concurrent DELETE/UPDATE of one
  of the same files makes one of the two fail, as in Spark.

``max_workers`` (default: the core count) is the thread budget of one OPTIMIZE: ``min(max_workers,
bins)`` bins run at once, each with ``max_workers // that`` read and encode workers. Memory is bounded by
the workers, not by the table: per worker at most two read groups (one being read, one waiting to be
written) and two row groups (one buffered, one encoding); see spec/maintenance.md.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import deque
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.errors import InvalidArgumentError
from lakehouse.operations.optimize_plan import (
    DEFAULT_TARGET_SIZE,
    ZCUBE_ID,
    ZCUBE_ZORDER_BY,
    ZCUBE_ZORDER_CURVE,
    Bin,
    OptimizePlan,
    PartitionFilter,
    plan_optimize,
)
from lakehouse.operations.optimize_zorder import file_task, rank_by_bounds, z_keys, zorder_into
from lakehouse.operations.row_ids import carried_fields, hidden_columns, to_hidden
from lakehouse.protocol.actions import Add, Remove
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.file_table import remove_for
from lakehouse.protocol.partitions import partition_array
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.schema import to_arrow_field
from lakehouse.scan.read import read_file, remote
from lakehouse.snapshot import Snapshot
from lakehouse.write.files import (
    SPLIT_MIN_BYTES, STREAMING_ROW_GROUP_ROWS, DataFileWriter, FileWriteOptions, resolve_max_workers,
)
from lakehouse.write.transaction import (
    CommitProperties,
    Hook,
    Transaction,
    already_applied,
    check_commit_safety,
    records_app_transactions,
)

__all__ = [
    "DEFAULT_TARGET_SIZE", "ZCUBE_ID", "ZCUBE_ZORDER_BY", "ZCUBE_ZORDER_CURVE", "Bin", "BinResult", "OptimizeMetrics",
    "OptimizePlan", "PartitionFilter", "commit_optimize", "execute_bin", "optimize", "plan_optimize",
    "rank_by_bounds", "skipped_optimize", "z_keys",
]

#: A read group closes at this many bytes of Parquet (a larger file is a group of its own) ...
READ_GROUP_BYTES = 4 * 1024 * 1024
#: ... or at this many files: a bin of many tiny files still spreads over the workers.
READ_GROUP_FILES = 128
#: Chunks shorter than this (on average) are combined before they reach the writer.
COMBINE_ROWS = 65536


@dataclass(frozen=True)
class BinResult:
    """The outcome of rewriting one bin: actions plus counts (plain data, so it can cross processes)."""

    removes: tuple[Remove, ...]
    adds: tuple[Add, ...]
    rows: int
    deletion_vectors_removed: int


@dataclass(frozen=True)
class OptimizeMetrics:
    """What an OPTIMIZE did (``version`` is None when there was nothing to do)."""

    version: int | None
    num_files_added: int
    num_files_removed: int
    num_bytes_added: int
    num_bytes_removed: int
    num_rows_rewritten: int
    partitions_optimized: int
    num_batches: int
    total_considered_files: int
    total_files_skipped: int
    num_deletion_vectors_removed: int
    z_order_by: tuple[str, ...] = ()
    duration_ms: int = 0
    files_added_sizes: tuple[int, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        # Every count, and the per-file sizes as a summary: a large compaction adds thousands of files.
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
        sizes = self.files_added_sizes
        summary = f"{len(sizes)} files, {min(sizes):,}..{max(sizes):,} bytes" if sizes else "none"
        return f"OptimizeMetrics({shown}, files_added_sizes=<{summary}>)"


# -- execution --------------------------------------------------------------------------------------------
def _read_groups(files: Sequence[Add]) -> list[list[Add]]:
    """Consecutive files of a bin cut into read groups (by the plan's sizes only, so the groups, and with
    them the output files, do not depend on the number of workers)."""
    groups: list[list[Add]] = []
    current: list[Add] = []
    size = 0
    for add in files:
        current.append(add)
        size += add.size
        if size >= READ_GROUP_BYTES or len(current) >= READ_GROUP_FILES:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


class _BinReader:
    """Reads a bin's files as tables of the table's logical schema.

    A file without a deletion vector, in a table without column mapping, whose Parquet schema has every
    column with the table's own type, is read directly (one footer, the needed column chunks); any other
    file, or one the direct read fails on, goes through `read_file`, which conforms types, applies
    deletion vectors and names the file at fault.
    """

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.fields = list(snapshot.schema.fields)
        self.schema = pa.schema([to_arrow_field(f) for f in self.fields])
        partition_cols = set(snapshot.partition_columns)
        self.layout = [(f, f.name in partition_cols) for f in self.fields]
        self.data_names = [f.name for f in self.fields if f.name not in partition_cols]
        self.expected = {n: self.schema.field(n).type for n in self.data_names}
        # Row tracking enabled: ids and commit versions are read beside the rows and kept (`row_ids`).
        self.carried = carried_fields(snapshot)
        self.direct = snapshot.column_mapping_mode == "none" and not self.carried
        self.fs, self.root = snapshot.storage.arrow_filesystem()
        self.remote = remote(self.fs)
        self._known: list[pa.Schema] = []  # file schemas already checked to match

    def read_group(self, files: Sequence[Add]) -> pa.Table:
        """The rows of ``files``, in order, as one table. Many small files' chunks are combined into one per
        column here, on the reading thread (Parquet encodes a few long chunks faster than many short ones);
        large files' chunks are kept as they are (a copy would double the group in memory for nothing)."""
        table = pa.concat_tables([self.read(add) for add in files])
        if table.num_columns and table.column(0).num_chunks > 1 and table.num_rows < COMBINE_ROWS * table.column(0).num_chunks:
            return table.combine_chunks()
        return table

    def read(self, add: Add) -> pa.Table:
        """The rows of one file (its deletion vector applied)."""
        if self.direct and add.deletion_vector is None:
            try:
                table = self._read_direct(add)
                if table is not None:
                    return table
            except Exception:  # noqa: BLE001 - read_file below reads the file again and raises the precise error
                pass
        return to_hidden(read_file(self.snapshot, file_task(add), self.fields + self.carried), self.snapshot)

    def _matches(self, schema: pa.Schema) -> bool:
        if any(schema.equals(s) for s in self._known):
            return True
        for name, want in self.expected.items():
            i = schema.get_field_index(name)
            if i < 0 or not schema.field(i).type.equals(want):
                return False
        self._known.append(schema)
        return True

    def _read_direct(self, add: Add) -> pa.Table | None:
        snap = self.snapshot
        rel = resolve_relative(add.path, snap.storage.root_uri, kind="data file", version=snap.version)
        with self.fs.open_input_file(f"{self.root}/{rel}") as handle:
            pf = pq.ParquetFile(handle, pre_buffer=self.remote, coerce_int96_timestamp_unit="us")
            if not self._matches(pf.schema_arrow):
                return None  # another writer's types (or a missing column): read_file conforms them
            data = pf.read(columns=self.data_names, use_threads=False)
        n = data.num_rows
        columns = [partition_array(add.partition_values.get(f.name), f.type, n, column=f.name)
                   if is_partition else data.column(f.name) for f, is_partition in self.layout]
        return pa.Table.from_arrays(columns, schema=self.schema)


def _read_ahead(reader: _BinReader, groups: list[list[Add]], workers: int) -> Generator[pa.Table, None, None]:
    """The groups' tables in order, read on ``workers`` threads at most ``workers`` groups ahead of the
    consumer (never more: a slow writer must not make the readers hold the bin)."""
    if workers <= 1 or len(groups) <= 1:
        for g in groups:
            yield reader.read_group(g)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakehouse-optimize-read")
    pending: deque[Future] = deque()
    try:
        for g in groups[:workers]:
            pending.append(pool.submit(reader.read_group, g))
        queued = len(pending)
        while pending:
            table = pending.popleft().result()
            if queued < len(groups):
                pending.append(pool.submit(reader.read_group, groups[queued]))
                queued += 1
            yield table
            del table
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _write_whole(writer: DataFileWriter, table: pa.Table) -> None:
    """Hand ``table`` to the writer in slices below the size at which it would cut one write into
    several files: a bin's output is as few files of the target size as its rows fill, whatever the
    number of workers (several smaller files would be compacted again by the next run)."""
    if table.nbytes < SPLIT_MIN_BYTES or table.num_rows <= 1:
        writer.write(table)
        return
    step = max(1, table.num_rows * (SPLIT_MIN_BYTES // 2) // table.nbytes)
    for start in range(0, table.num_rows, step):
        writer.write(table.slice(start, step))


def _compact_into(snapshot: Snapshot, item: Bin, writer: DataFileWriter, workers: int) -> int:
    rows = 0
    # Closed explicitly: when the writer fails, the readers stop now, not when the traceback is freed.
    with closing(_read_ahead(_BinReader(snapshot), _read_groups(item.files), workers)) as tables:
        for table in tables:
            rows += table.num_rows
            _write_whole(writer, table)
    return rows


def execute_bin(snapshot: Snapshot, plan: OptimizePlan, item: Bin, *, max_workers: int | None = None) -> BinResult:
    """Rewrite one bin on ``max_workers`` threads (default: the core count; Dask tasks pass 1); the new
    files are not referenced until `commit_optimize`."""
    workers = resolve_max_workers(max_workers)
    options = FileWriteOptions(target_file_size=plan.target_size, data_change=False,
                               row_group_rows=STREAMING_ROW_GROUP_ROWS)
    writer = DataFileWriter.for_snapshot(snapshot, options, max_workers=workers, hidden=hidden_columns(snapshot))
    try:
        if plan.z_order_by:
            rows = zorder_into(snapshot, item, plan.z_order_by, plan.target_size,
                               lambda table: _write_whole(writer, table))
        else:
            rows = _compact_into(snapshot, item, writer, workers)
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    if plan.z_order_by:
        tags = {ZCUBE_ID: str(uuid.uuid4()), ZCUBE_ZORDER_BY: orjson.dumps(list(plan.z_order_by)).decode(),
                ZCUBE_ZORDER_CURVE: "zorder"}
        adds = [dataclasses.replace(a, tags=tags) for a in adds]
    now = int(time.time() * 1000)
    removes = tuple(remove_for(a, now, data_change=False) for a in item.files)
    return BinResult(removes, tuple(adds), rows, sum(a.deletion_vector is not None for a in item.files))


# -- commit -----------------------------------------------------------------------------------------------
def commit_optimize(snapshot: Snapshot, plan: OptimizePlan, results: Sequence[BinResult], *,
                    commit_properties: CommitProperties | None = None, hook: Hook | None = None,
                    duration_ms: int = 0) -> OptimizeMetrics:
    """Commit the rewritten bins in one transaction (nothing is committed when no bin changed)."""
    removes = [r for res in results for r in res.removes]
    adds = [a for res in results for a in res.adds]
    metrics = OptimizeMetrics(
        version=None, num_files_added=len(adds), num_files_removed=len(removes),
        num_bytes_added=sum(a.size for a in adds), num_bytes_removed=sum(int(r.size or 0) for r in removes),
        num_rows_rewritten=sum(r.rows for r in results),
        partitions_optimized=len({tuple(sorted(b.partition_values.items())) for b in plan.bins}),
        num_batches=len(plan.bins), total_considered_files=plan.considered_files,
        total_files_skipped=plan.skipped_files,
        num_deletion_vectors_removed=sum(r.deletion_vectors_removed for r in results),
        z_order_by=plan.z_order_by, duration_ms=duration_ms, files_added_sizes=tuple(a.size for a in adds),
    )
    if not removes and not records_app_transactions(commit_properties):
        return metrics
    params = {"predicate": [plan.partition_filter] if plan.partition_filter else [],
              "zOrderBy": list(plan.z_order_by), "auto": False}
    txn = Transaction(snapshot.storage, snapshot, operation="OPTIMIZE", parameters=params,
                      properties=commit_properties, hook=hook)
    txn.read_files(removes)
    txn.remove_files(removes)
    txn.add_files(adds)
    txn.metrics.update({
        "numRemovedFiles": len(removes), "numAddedFiles": len(adds),
        "numRemovedBytes": metrics.num_bytes_removed, "numAddedBytes": metrics.num_bytes_added,
        "numDeletionVectorsRemoved": metrics.num_deletion_vectors_removed,
        "numBatches": metrics.num_batches, "totalConsideredFiles": plan.considered_files,
        "totalFilesSkipped": plan.skipped_files, "partitionsOptimized": metrics.partitions_optimized,
    })
    version = txn.commit().version
    return dataclasses.replace(metrics, version=version)


def skipped_optimize() -> OptimizeMetrics:
    """The metrics of an OPTIMIZE skipped as a replay of an applied app transaction (version None)."""
    return OptimizeMetrics(None, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _workers(max_workers: int | None, max_concurrent_tasks: int | None) -> int:
    if max_concurrent_tasks is not None:
        if isinstance(max_concurrent_tasks, bool) or not isinstance(max_concurrent_tasks, int) or max_concurrent_tasks < 1:
            raise InvalidArgumentError(f"max_concurrent_tasks must be a positive int, got {max_concurrent_tasks!r}")
        if max_workers is not None and max_workers != max_concurrent_tasks:
            raise InvalidArgumentError(
                f"max_workers={max_workers!r} and max_concurrent_tasks={max_concurrent_tasks!r} name the same "
                "thread budget (max_concurrent_tasks is deltalake's name); pass one of them")
        return max_concurrent_tasks
    return resolve_max_workers(max_workers)


def optimize(snapshot: Snapshot, *, target_size: int | None = None, partition_filter: PartitionFilter = None,
             min_file_size: int | None = None, z_order_by: Sequence[str] = (), max_workers: int | None = None,
             max_concurrent_tasks: int | None = None, commit_properties: CommitProperties | None = None,
             progress: Callable[[int, int], None] | None = None) -> OptimizeMetrics:
    """Compact (or Z-order) the table at ``snapshot``; see the module docstring for the rules.

    ``max_workers`` threads (default: the core count; ``max_concurrent_tasks`` is deltalake's name for
    it) rewrite ``min(max_workers, bins)`` bins at once; Arrow's Parquet reader and writer release the
    GIL. ``progress(done, total)`` is called on the calling thread before the first bin and after each.
    """
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    workers = _workers(max_workers, max_concurrent_tasks)
    if already_applied(snapshot, commit_properties):
        return skipped_optimize()
    start = time.perf_counter()
    plan = plan_optimize(snapshot, target_size=target_size, partition_filter=partition_filter,
                         min_file_size=min_file_size, z_order_by=z_order_by)
    total = len(plan.bins)
    at_once = max(1, min(workers, total))
    per_bin = max(1, workers // at_once)
    results: list[BinResult] = []
    if progress:
        progress(0, total)
    # A failing bin fails the whole OPTIMIZE before the commit: files of bins that finished stay
    # unreferenced (VACUUM removes them).
    if at_once == 1:
        for b in plan.bins:
            results.append(execute_bin(snapshot, plan, b, max_workers=per_bin))
            if progress:
                progress(len(results), total)
    else:
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="lakehouse-optimize-bin") as pool:
            for res in pool.map(lambda b: execute_bin(snapshot, plan, b, max_workers=per_bin), plan.bins):
                results.append(res)
                if progress:
                    progress(len(results), total)
    return commit_optimize(snapshot, plan, results, commit_properties=commit_properties,
                           duration_ms=int((time.perf_counter() - start) * 1000))
