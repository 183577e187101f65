"""OPTIMIZE: compact small files (bin-packing) or cluster a partition's rows along a Z-order curve.

Plan, execute, commit are separate steps over plain data so that a distributed engine can run the bins
as tasks and commit once (`lakehouse.integrations.dask`):

- `plan_optimize` groups candidate files per partition into `Bin`s. Bin-packing takes files below
  ``min_file_size`` (first-fit decreasing up to ``target_size``) and every file with a deletion vector
  (rewritten with its deletions applied); a bin of one file without a DV is dropped, so a second run with
  nothing to do commits nothing. Z-order takes whole partitions, except those whose files all carry the
  Z-cube tags of the same columns.
- `execute_bin` rewrites one bin. Bin-packing streams the bin into the writer: one Arrow dataset scan
  (bounded read-ahead) when no file needs per-file work, else files read a few at a time ahead.
  Z-order is a two-pass external sort: a sample of the Z columns sets per-column rank boundaries and the
  output-file cut points; each input file is then split by Z key into per-output spill files on local
  disk, and each spill is sorted and written alone. Memory holds one input file or one output file,
  never a partition.
- `commit_optimize` commits removes and adds with `dataChange=false`. The transaction reads exactly the
  files it removes: a concurrent append commits (and so does OPTIMIZE), a concurrent DELETE/UPDATE of one
  of the same files makes one of the two fail, as in Spark.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from lakehouse.errors import InvalidArgumentError
from lakehouse.operations.rewrite import remove_action
from lakehouse.protocol.actions import Add, Remove
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.expr import EXPR_TYPES, Expr, columns, parse_predicate
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.pruning import partition_mask
from lakehouse.protocol.schema import DecimalType, PrimitiveType, StructField
from lakehouse.scan.read import FileTask, iter_tables, plain_dataset, read_file
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import (
    CommitProperties,
    Hook,
    Transaction,
    already_applied,
    check_commit_safety,
    records_app_transactions,
)
from lakehouse.write.files import DataFileWriter, FileWriteOptions

#: delta-rs's default target (100 MiB) when `delta.targetFileSize` is not set.
DEFAULT_TARGET_SIZE = 100 * 1024 * 1024
#: Spark's Z-cube tags on files written by Z-order (they let a later run skip clustered partitions).
ZCUBE_ID = "ZCUBE_ID"
ZCUBE_ZORDER_BY = "ZCUBE_ZORDER_BY"
ZCUBE_ZORDER_CURVE = "ZCUBE_ZORDER_CURVE"
#: Rows sampled per partition to set rank boundaries and output cut points.
SAMPLE_ROWS = 200_000
ZORDERABLE = {"byte", "short", "integer", "long", "float", "double", "date", "timestamp", "timestamp_ntz",
              "string", "binary", "boolean"}

PartitionFilter = str | Expr | Sequence[tuple[str, str, Any]] | None


@dataclass(frozen=True)
class Bin:
    """Files of one partition rewritten together: their active-file rows (plain dicts, picklable)."""

    partition_values: Mapping[str, str | None]
    files: tuple[Mapping[str, Any], ...]

    @property
    def size(self) -> int:
        """Total bytes of the bin's input files."""
        return sum(int(f["size"]) for f in self.files)


@dataclass(frozen=True)
class OptimizePlan:
    """What one OPTIMIZE will do, planned against ``version``."""

    version: int
    bins: tuple[Bin, ...]
    target_size: int
    z_order_by: tuple[str, ...]
    partition_filter: str | None
    considered_files: int
    skipped_files: int


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


# -- planning ---------------------------------------------------------------------------------------------
def _filter_expr(partition_filter: PartitionFilter) -> tuple[Expr | None, str | None]:
    """The partition filter as an expression plus its text for commitInfo; tuples as delta-rs takes them."""
    if partition_filter is None:
        return None, None
    if isinstance(partition_filter, str) or isinstance(partition_filter, EXPR_TYPES):
        expr = parse_predicate(partition_filter)
        return expr, partition_filter if isinstance(partition_filter, str) else repr(expr)
    parts = []
    for item in partition_filter:
        if not (isinstance(item, (tuple, list)) and len(item) == 3):
            raise InvalidArgumentError(f"partition filter entries must be (column, op, value) tuples, got {item!r}")
        col, op, value = item
        if op not in ("=", "!=", "<", "<=", ">", ">=", "in", "not in"):
            raise InvalidArgumentError(f"unsupported partition filter operator {op!r} in {item!r}")
        if op in ("in", "not in"):
            rendered = "(" + ", ".join(_sql_literal(v) for v in value) + ")"
        else:
            rendered = _sql_literal(value)
        parts.append(f'"{col}" {op.upper()} {rendered}')
    text = " AND ".join(parts)
    return (parse_predicate(text) if text else None), text or None


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _check_z_columns(snapshot: Snapshot, z_order_by: Sequence[str]) -> tuple[str, ...]:
    cols = tuple(z_order_by)
    if len(set(cols)) != len(cols):
        raise InvalidArgumentError(f"z_order_by lists a column twice: {list(cols)}")
    by_name = {f.name: f for f in snapshot.schema.fields}
    for c in cols:
        f = by_name.get(c)
        if f is None:
            raise InvalidArgumentError(f"z_order_by column {c!r} is not in the table; it has {list(by_name)}")
        if c in snapshot.partition_columns:
            raise InvalidArgumentError(f"z_order_by column {c!r} is a partition column; Z-order within partitions "
                                       "uses data columns only")
        if isinstance(f.type, DecimalType):
            continue
        kind = f.type.name if isinstance(f.type, PrimitiveType) else type(f.type).__name__
        if kind not in ZORDERABLE:
            raise InvalidArgumentError(f"z_order_by column {c!r} has type {kind}, which has no order to cluster by")
    return cols


def _dv_count(row: Mapping[str, Any]) -> int:
    return 1 if row.get("deletionVector") else 0


def _zordered_by(rows: Sequence[Mapping[str, Any]], cols: tuple[str, ...]) -> bool:
    """Whether every file already sits in a Z-cube of ``cols`` with no deletions since."""
    want = orjson.dumps(list(cols)).decode()
    for r in rows:
        tags = dict(r.get("tags") or [])
        if tags.get(ZCUBE_ZORDER_BY) != want or r.get("deletionVector"):
            return False
    return True


def _pack(rows: list[Mapping[str, Any]], target: int) -> list[list[Mapping[str, Any]]]:
    """First-fit decreasing: bins hold at most ``target`` bytes (a larger file gets a bin of its own)."""
    bins: list[list[Mapping[str, Any]]] = []
    room: list[int] = []
    for r in sorted(rows, key=lambda r: -int(r["size"])):
        size = int(r["size"])
        for i, free in enumerate(room):
            if size <= free:
                bins[i].append(r)
                room[i] -= size
                break
        else:
            bins.append([r])
            room.append(target - size)
    return bins


def plan_optimize(snapshot: Snapshot, *, target_size: int | None = None, partition_filter: PartitionFilter = None,
                  min_file_size: int | None = None, z_order_by: Sequence[str] = ()) -> OptimizePlan:
    """Plan the bins of an OPTIMIZE of ``snapshot`` (no I/O beyond the snapshot)."""
    if target_size is None:
        target_size = snapshot.properties.target_file_size or DEFAULT_TARGET_SIZE
    if not isinstance(target_size, int) or isinstance(target_size, bool) or target_size <= 0:
        raise InvalidArgumentError(f"target_size must be a positive number of bytes, got {target_size!r}")
    if min_file_size is None:
        min_file_size = target_size
    if not isinstance(min_file_size, int) or isinstance(min_file_size, bool) or min_file_size < 0:
        raise InvalidArgumentError(f"min_file_size must be a non-negative number of bytes, got {min_file_size!r}")
    if isinstance(z_order_by, str):
        z_order_by = [z_order_by]
    cols = _check_z_columns(snapshot, z_order_by)
    expr, text = _filter_expr(partition_filter)
    adds = snapshot.adds
    if expr is not None:
        unknown = columns(expr) - set(snapshot.partition_columns)
        if unknown:
            raise InvalidArgumentError(
                f"partition filters may only use partition columns {snapshot.partition_columns}; got {sorted(unknown)}")
        values = [dict(pv or []) for pv in adds.column("partitionValues").to_pylist()]
        mask = partition_mask(values, expr, snapshot.schema,
                              snapshot.partition_columns, snapshot.column_mapping_mode)
        adds = adds.filter(pa.array(mask))
    by_partition: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in adds.to_pylist():
        key = tuple(sorted(dict(row.get("partitionValues") or []).items(), key=lambda kv: kv[0]))
        by_partition.setdefault(key, []).append(row)
    bins: list[Bin] = []
    considered = 0
    for key, rows in sorted(by_partition.items(), key=lambda kv: str(kv[0])):
        pv = dict(key)
        if cols:
            considered += len(rows)
            if not _zordered_by(rows, cols):
                bins.append(Bin(pv, tuple(rows)))
            continue
        small = [r for r in rows if int(r["size"]) < min_file_size or _dv_count(r)]
        considered += len(small)
        for group in _pack(small, target_size):
            if len(group) > 1 or _dv_count(group[0]):
                bins.append(Bin(pv, tuple(group)))
    in_bins = sum(len(b.files) for b in bins)
    return OptimizePlan(snapshot.version, tuple(bins), target_size, cols, text, considered, considered - in_bins)


# -- execution --------------------------------------------------------------------------------------------
def _task(row: Mapping[str, Any]) -> FileTask:
    dv = row.get("deletionVector")
    return FileTask(row["path"], dict(row.get("partitionValues") or []),
                    decode_deletion_vector(dv, path=row["path"]) if dv else None)


def _writer(snapshot: Snapshot, target_size: int) -> DataFileWriter:
    options = FileWriteOptions(target_file_size=target_size, data_change=False)
    return DataFileWriter.for_snapshot(snapshot, options)


def _removes(rows: Iterable[Mapping[str, Any]]) -> tuple[Remove, ...]:
    now = int(time.time() * 1000)
    return tuple(dataclasses.replace(remove_action(r, now), data_change=False) for r in rows)


def _coalesced(tables: Iterable[pa.Table | pa.RecordBatch], min_rows: int = 65536) -> Iterator[pa.Table]:
    """Group small tables into tables of at least ``min_rows`` rows (the writer's per-call cost is per
    table, and compaction input is many small files)."""
    pending: list[pa.Table] = []
    count = 0
    for t in tables:
        pending.append(t if isinstance(t, pa.Table) else pa.Table.from_batches([t]))
        count += t.num_rows
        if count >= min_rows:
            yield pa.concat_tables(pending)
            pending, count = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _compact_into(snapshot: Snapshot, item: Bin, writer: DataFileWriter, *, use_dataset: bool = True) -> int:
    """Stream a bin's rows into the writer: one Arrow dataset scan when no file needs per-file work
    (deletion vectors, column mapping), otherwise files read a few at a time ahead of the writer."""
    fields = list(snapshot.schema.fields)
    tasks = [_task(r) for r in item.files]
    plain = snapshot.column_mapping_mode == "none" and all(t.deletion_vector is None for t in tasks)
    if use_dataset and plain:
        source: Iterable[Any] = plain_dataset(snapshot, tasks).to_batches(
            columns=[f.name for f in fields], batch_size=65536, fragment_readahead=8)
        logical = pa.schema([writer.logical_schema.field(f.name) for f in fields])
        tables: Iterable[pa.Table] = (t.cast(logical) for t in _coalesced(source))
    else:
        tables = _coalesced(iter_tables(snapshot, tasks, fields, max_workers=4))
    rows = 0
    for table in tables:
        rows += table.num_rows
        writer.write(table)
    return rows


def execute_bin(snapshot: Snapshot, plan: OptimizePlan, item: Bin) -> BinResult:
    """Rewrite one bin; the new files are not referenced until `commit_optimize`."""
    writer = _writer(snapshot, plan.target_size)
    rows = 0
    try:
        if plan.z_order_by:
            rows = _zorder_into(snapshot, item, plan, writer)
        else:
            try:
                rows = _compact_into(snapshot, item, writer)
            except (pa.ArrowException, OSError, ValueError):
                # The dataset scan could not read a file (or its schema): the per-file path reads it,
                # or reports precisely which file is at fault.
                writer.abort()
                writer = _writer(snapshot, plan.target_size)
                rows = _compact_into(snapshot, item, writer, use_dataset=False)
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    if plan.z_order_by:
        tags = {ZCUBE_ID: str(uuid.uuid4()), ZCUBE_ZORDER_BY: orjson.dumps(list(plan.z_order_by)).decode(),
                ZCUBE_ZORDER_CURVE: "zorder"}
        adds = [dataclasses.replace(a, tags=tags) for a in adds]
    return BinResult(_removes(item.files), tuple(adds), rows, sum(_dv_count(r) for r in item.files))


def _zorder_into(snapshot: Snapshot, item: Bin, plan: OptimizePlan, writer: DataFileWriter) -> int:
    by_name = {f.name: f for f in snapshot.schema.fields}
    zfields = [by_name[c] for c in plan.z_order_by]
    bounds, cuts = _z_boundaries(snapshot, item, zfields, plan.target_size)
    fields = list(snapshot.schema.fields)
    spill_dir = tempfile.mkdtemp(prefix="lakehouse-zorder-")
    spills: dict[int, tuple[pa.NativeFile, ipc.RecordBatchFileWriter]] = {}
    rows = 0
    try:
        schema = None
        for row in item.files:
            table = read_file(snapshot, _task(row), fields)
            if table.num_rows == 0:
                continue
            rows += table.num_rows
            keys = z_keys([table.column(f.name) for f in zfields], bounds)
            table = table.append_column("__zkey__", pa.array(keys, pa.uint64()))
            schema = table.schema
            bucket = np.searchsorted(cuts, keys, side="right")
            order = np.argsort(bucket, kind="stable")
            sorted_buckets = bucket[order]
            starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
            ends = np.r_[starts[1:], len(order)]
            for s, e in zip(starts, ends):
                b = int(sorted_buckets[s])
                if b not in spills:
                    sink = pa.OSFile(os.path.join(spill_dir, f"{b:06d}.arrow"), "wb")
                    spills[b] = (sink, ipc.new_file(sink, schema))
                spills[b][1].write_table(table.take(pa.array(order[s:e])))
            del table
        for b in sorted(spills):
            sink, w = spills.pop(b)
            w.close()
            sink.close()
            with pa.memory_map(os.path.join(spill_dir, f"{b:06d}.arrow")) as source:
                part = ipc.open_file(source).read_all()
            idx = np.argsort(part.column("__zkey__").to_numpy(), kind="stable")
            writer.write(part.take(pa.array(idx)).drop_columns(["__zkey__"]))
            del part
            os.remove(os.path.join(spill_dir, f"{b:06d}.arrow"))
    finally:
        for sink, w in spills.values():
            try:
                w.close()
            finally:
                sink.close()
        shutil.rmtree(spill_dir, ignore_errors=True)
    return rows


def _z_boundaries(snapshot: Snapshot, item: Bin, zfields: list[StructField],
                  target_size: int) -> tuple[list[pa.Array], np.ndarray]:
    """Per-column rank boundaries and the Z-key cut points between output files, from a sample."""
    per_file = max(1, SAMPLE_ROWS // max(1, len(item.files)))
    samples: list[list[pa.Array]] = [[] for _ in zfields]
    for row in item.files:
        table = read_file(snapshot, _task(row), zfields)
        n = table.num_rows
        if n == 0:
            continue
        take = pa.array(np.linspace(0, n - 1, num=min(n, per_file)).astype(np.int64))
        for i, f in enumerate(zfields):
            samples[i].append(table.column(f.name).combine_chunks().take(take))
    bits = _bits_per_column(len(zfields))
    bounds = [_quantile_bounds(pa.concat_arrays(s) if s else pa.array([], type=None), 1 << bits) for s in samples]
    if not samples[0]:
        return bounds, np.zeros(0, dtype=np.uint64)
    sample_keys = np.sort(z_keys([pa.concat_arrays(s) for s in samples], bounds))
    outputs = max(1, math.ceil(item.size / target_size))
    cuts = np.unique(sample_keys[(np.arange(1, outputs) * len(sample_keys)) // outputs]) if outputs > 1 else np.zeros(0)
    return bounds, np.asarray(cuts, dtype=np.uint64)


def _bits_per_column(k: int) -> int:
    return max(1, min(16, 63 // max(1, k)))


def _quantile_bounds(values: pa.Array, buckets: int) -> pa.Array:
    """Up to ``buckets - 1`` distinct, sorted values splitting ``values`` into equal-count ranges."""
    values = values.drop_null() if values.null_count else values
    if len(values) == 0:
        return values
    ordered = values.take(pc.array_sort_indices(values))
    n = len(ordered)
    picks = np.unique((np.arange(1, buckets) * n) // buckets)
    picks = picks[picks < n]
    return pc.unique(ordered.take(pa.array(picks)))


def rank_by_bounds(values: pa.Array | pa.ChunkedArray, bounds: pa.Array) -> np.ndarray:
    """For each value, how many boundaries are <= it (nulls: 0), for any Arrow type with an order.

    Bounds and values are sorted together (Arrow's sort is stable, and the bounds come first, so a
    value equal to a boundary lands after it); the running count of boundaries seen gives the rank.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n, nb = len(values), len(bounds)
    if nb == 0 or n == 0:
        return np.zeros(n, dtype=np.uint64)
    combined = pa.concat_arrays([bounds.cast(values.type), values])
    order = pc.array_sort_indices(combined, null_placement="at_start").to_numpy()
    is_bound = order < nb
    seen = np.cumsum(is_bound)
    ranks = np.empty(n, dtype=np.uint64)
    value_pos = ~is_bound
    ranks[order[value_pos] - nb] = seen[value_pos]
    if values.null_count:
        ranks[np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = 0
    return ranks


def z_keys(cols: Sequence[pa.Array | pa.ChunkedArray], bounds: Sequence[pa.Array]) -> np.ndarray:
    """Interleave the bits of each column's rank (most significant first) into one uint64 Z key."""
    bits = _bits_per_column(len(cols))
    ranks = [rank_by_bounds(c, b) for c, b in zip(cols, bounds)]
    n = len(ranks[0]) if ranks else 0
    key = np.zeros(n, dtype=np.uint64)
    one = np.uint64(1)
    for b in range(bits - 1, -1, -1):
        shift = np.uint64(b)
        for r in ranks:
            key = (key << one) | ((r >> shift) & one)
    return key


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


def optimize(snapshot: Snapshot, *, target_size: int | None = None, partition_filter: PartitionFilter = None,
             min_file_size: int | None = None, z_order_by: Sequence[str] = (), max_concurrent_tasks: int | None = None,
             commit_properties: CommitProperties | None = None,
             progress: Callable[[int, int], None] | None = None) -> OptimizeMetrics:
    """Compact (or Z-order) the table at ``snapshot``; see the module docstring for the rules.

    ``progress(done, total)`` is called after each bin. Bins run on ``max_concurrent_tasks`` threads
    (default: the CPU count, at most 4); Arrow's Parquet reader and writer release the GIL.
    """
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if max_concurrent_tasks is not None and (not isinstance(max_concurrent_tasks, int) or max_concurrent_tasks < 1):
        raise InvalidArgumentError(f"max_concurrent_tasks must be a positive int, got {max_concurrent_tasks!r}")
    if already_applied(snapshot, commit_properties):
        return skipped_optimize()
    start = time.perf_counter()
    plan = plan_optimize(snapshot, target_size=target_size, partition_filter=partition_filter,
                         min_file_size=min_file_size, z_order_by=z_order_by)
    workers = max_concurrent_tasks or min(4, os.cpu_count() or 1)
    results: list[BinResult] = []
    total = len(plan.bins)
    if progress:
        progress(0, total)
    # A failing bin fails the whole OPTIMIZE before the commit: files of bins that finished stay
    # unreferenced (VACUUM removes them).
    if workers == 1 or total <= 1:
        for b in plan.bins:
            results.append(execute_bin(snapshot, plan, b))
            if progress:
                progress(len(results), total)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(lambda b: execute_bin(snapshot, plan, b), plan.bins):
                results.append(res)
                if progress:
                    progress(len(results), total)
    return commit_optimize(snapshot, plan, results, commit_properties=commit_properties,
                           duration_ms=int((time.perf_counter() - start) * 1000))
