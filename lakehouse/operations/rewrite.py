"""Shared machinery of DELETE and UPDATE: find the files a predicate touches, and change them either by
rewriting them (copy-on-write) or by marking rows deleted with deletion vectors (merge-on-read), writing
change data files when the change data feed is on (PROTOCOL.md "Deletion Vectors", "Add CDC File").

Files are planned with the scan's partition pruning and stats skipping, then read a bounded window ahead
(``max_workers`` files) with their rows in physical order, so memory holds a few files, never the table.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse.scan.deletion_vectors import dv_file_path, load_deleted_rows
from lakehouse.errors import AppendOnlyError, InvalidArgumentError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol.actions import Add, AddCDCFile, DeletionVectorDescriptor, Metadata, Protocol, Remove
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.dv import descriptor_for
from lakehouse.protocol.expr import Col, Expr, Lit, coerce_literal, evaluate, to_arrow
from lakehouse.protocol.expr_types import unknown_column_error
from lakehouse.protocol.pruning import may_match
from lakehouse.protocol.schema import (
    PrimitiveType,
    StructField,
    StructType,
    from_arrow_type,
    to_arrow_field,
    to_arrow_type,
    type_name,
)
from lakehouse.protocol.skipping import skip_files
from lakehouse.protocol.store_assignment import assign_array
from lakehouse.scan.read import FileTask, file_tasks, read_file
from lakehouse.snapshot import Snapshot
from lakehouse.storage.base import Storage
from lakehouse.write.transaction import CommitProperties, Hook, Transaction
from lakehouse.write.files import DataFileWriter, FileWriteOptions, resolve_max_workers

CHANGE_TYPE = "_change_type"


@dataclass
class TouchedFile:
    """One candidate file: its active-file row, all its physical rows, and which rows are alive."""

    row: Mapping[str, Any]
    task: FileTask
    table: pa.Table
    alive: np.ndarray
    deleted: np.ndarray


def candidates(snapshot: Snapshot, predicate: Expr | None) -> pa.Table:
    """Active files that may hold rows matching ``predicate`` (all files when None)."""
    adds = snapshot.adds
    if predicate is None or adds.num_rows == 0:
        return adds
    result = skip_files(adds, predicate, snapshot.schema, snapshot.partition_columns, snapshot.column_mapping_mode)
    return adds.filter(pa.array(result.after_stats))


def touched_files(snapshot: Snapshot, files: pa.Table, columns: set[str] | None = None, *,
                  max_workers: int | None = None) -> Iterator[TouchedFile]:
    """Read candidate files, yielded one by one in ``files`` order, rows in physical order, with every
    column (or only ``columns``, enough when the change is a deletion vector and no change data is written).

    Up to ``max_workers`` (default: the core count) next files are read on background threads while the
    caller rewrites the current one, whose new rows the writer encodes on its own pool (Arrow's reader and
    writer release the GIL), so the rewrites of different files overlap; memory holds at most
    ``max_workers + 1`` files.
    """
    fields = [f for f in snapshot.schema.fields if columns is None or f.name in columns]
    work = list(zip(files.to_pylist(), file_tasks(files)))

    def load(item: tuple[Mapping[str, Any], FileTask]) -> TouchedFile:
        row, task = item
        table = read_file(snapshot, task, fields, apply_dv=False)
        deleted = np.zeros(0, dtype=np.uint64)
        alive = np.ones(table.num_rows, dtype=bool)
        if task.deletion_vector is not None:
            deleted = load_deleted_rows(snapshot.storage, task.deletion_vector, data_path=task.path,
                                        version=snapshot.version)
            alive[deleted.astype(np.int64)] = False
        return TouchedFile(row, task, table, alive, deleted)

    if not work:
        return
    window = min(resolve_max_workers(max_workers), len(work))
    with ThreadPoolExecutor(max_workers=window) as pool:
        ahead = deque(pool.submit(load, item) for item in work[:window])
        following = iter(work[window:])
        try:
            while ahead:
                current = ahead.popleft().result()
                nxt = next(following, None)
                if nxt is not None:
                    ahead.append(pool.submit(load, nxt))
                yield current
                del current
        finally:
            for job in ahead:  # stopped early (an error, or the caller broke off): read nothing more
                job.cancel()


def evaluate_mask(table: pa.Table, predicate: Expr | None, schema: StructType) -> np.ndarray:
    """Rows for which the predicate is TRUE (all rows when None)."""
    if predicate is None:
        return np.ones(table.num_rows, dtype=bool)
    values = ds.dataset(table).to_table(columns={"m": to_arrow(predicate, schema)}).column("m")
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def assigned_values(table: pa.Table, value: Expr, schema: StructType, target: StructField) -> pa.ChunkedArray | pa.Array:
    """The values an UPDATE SET or MERGE assignment stores into column ``target``, evaluated over
    ``table`` (whose logical schema is ``schema``), then store-assigned: cast to the column's type, an
    arithmetic overflow or a value that does not fit being one error naming the column and the value."""
    if isinstance(value, Lit):
        # A literal takes the column's type directly: a decimal literal for a double column is the
        # correctly rounded double (as Spark casts it), not a decimal-to-float64 approximation.
        try:
            coerced = coerce_literal(value.value, target.type, column=target.name)
            return pa.array([coerced] * table.num_rows, type=to_arrow_type(target.type))
        except (InvalidArgumentError, pa.ArrowException, OverflowError) as e:
            raise SchemaMismatchError(str(e).splitlines()[0]) from None
    values = evaluate(table, value, schema, what=f"value for column '{target.name}' ({type_name(target.type)})")
    if isinstance(value, Col):
        # A column stored as it is (MERGE's update_all/insert_all, `s.x`, UPDATE `SET a = b`) is data moved,
        # not computed: it converts as write_delta's input does, every value exactly (store_assignment).
        return assign_array(values, target.type, target.name)
    return store_cast(values, target)


def store_cast(values: pa.ChunkedArray | pa.Array, target: StructField) -> pa.ChunkedArray | pa.Array:
    """``values`` cast to ``target``'s type, refusing (SchemaMismatchError) a value that would not fit."""
    want = to_arrow_type(target.type)
    if values.type == want:
        return values
    try:
        return values.cast(want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        reason = str(e).splitlines()[0]
    flat = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    lo, hi = 0, len(flat)
    while hi - lo > 1:  # the first value that does not cast, for the message
        mid = (lo + hi) // 2
        try:
            flat.slice(lo, mid - lo).cast(want)
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            hi = mid
    shown = flat[lo].as_py() if len(flat) else None
    try:
        given = type_name(from_arrow_type(values.type))
    except (InvalidArgumentError, UnsupportedFeatureError, ValueError, KeyError):
        given = str(values.type)
    raise SchemaMismatchError(
        f"value {shown!r} ({given}) does not fit column '{target.name}' of type "
        f"{type_name(target.type)}: {reason}") from None


def remove_action(row: Mapping[str, Any], now: int) -> Remove:
    """The tombstone for an active-file row (its DV included, so the right logical file is removed)."""
    dv = row.get("deletionVector")
    return Remove(
        path=row["path"], data_change=True, deletion_timestamp=now, extended_file_metadata=True,
        partition_values=dict(row.get("partitionValues") or []), size=row.get("size"), stats=row.get("stats"),
        tags=dict(row["tags"]) if row.get("tags") else None,
        deletion_vector=decode_deletion_vector(dv) if dv else None,
        base_row_id=row.get("baseRowId"), default_row_commit_version=row.get("defaultRowCommitVersion"),
    )


def _loose_stats(stats: str | None) -> str | None:
    """The file's stats with `tightBounds: false`: rows hidden by a DV may have set the bounds."""
    if not stats:
        return stats
    try:
        parsed = orjson.loads(stats)
    except orjson.JSONDecodeError:
        return None
    parsed["tightBounds"] = False
    return orjson.dumps(parsed).decode()


def with_deletion_vector(storage: Storage, touched: TouchedFile, newly_deleted: np.ndarray) -> tuple[Remove, Add]:
    """Remove + add of one file with its deletion vector extended by ``newly_deleted`` row indexes."""
    rows = np.union1d(touched.deleted.astype(np.uint64), newly_deleted.astype(np.uint64))
    descriptor, content = descriptor_for(rows)
    if content is not None:
        storage.write_bytes(_dv_rel(descriptor, storage), content)
    now = int(time.time() * 1000)
    row = touched.row
    add = Add(
        path=row["path"], partition_values=dict(row.get("partitionValues") or []), size=row["size"],
        modification_time=row["modificationTime"], data_change=True, stats=_loose_stats(row.get("stats")),
        tags=dict(row["tags"]) if row.get("tags") else None, deletion_vector=descriptor,
        base_row_id=row.get("baseRowId"), default_row_commit_version=row.get("defaultRowCommitVersion"),
    )
    return remove_action(row, now), add


def _dv_rel(descriptor: DeletionVectorDescriptor, storage: Storage) -> str:
    rel = dv_file_path(descriptor, storage.root_uri)
    assert rel is not None
    return rel


@dataclass
class ChangeData:
    """Collects change data rows (`_change_type` insert / delete / update_preimage / update_postimage)
    into `_change_data/` files, partitioned like the data."""

    writer: DataFileWriter | None
    schema: StructType
    rows: int = 0

    @staticmethod
    def open(snapshot: Snapshot, *, max_workers: int | None = None) -> "ChangeData":
        """A collector, active only when `delta.enableChangeDataFeed` is on (its files encoded on
        ``max_workers`` threads)."""
        if not snapshot.properties.enable_change_data_feed:
            return ChangeData(None, snapshot.schema)
        schema = StructType(tuple(snapshot.schema.fields) + (StructField(CHANGE_TYPE, PrimitiveType("string")),))
        options = FileWriteOptions(data_change=False, prefix="_change_data", file_prefix="cdc")
        writer = DataFileWriter(snapshot.storage, schema, snapshot.partition_columns, snapshot.properties, options,
                                mode=snapshot.column_mapping_mode, max_workers=max_workers)
        return ChangeData(writer, schema)

    def add(self, table: pa.Table, change_type: str) -> None:
        """Record rows (in the table's logical schema) as changes of ``change_type``."""
        if self.writer is None or table.num_rows == 0:
            return
        tagged = table.append_column(CHANGE_TYPE, pa.array([change_type] * table.num_rows, pa.string()))
        self.writer.write(tagged.cast(pa.schema([to_arrow_field(f) for f in self.schema.fields])))
        self.rows += table.num_rows

    def close(self) -> list[AddCDCFile]:
        """The `cdc` actions of the files written."""
        if self.writer is None:
            return []
        return [AddCDCFile(a.path, a.partition_values, a.size, False) for a in self.writer.close()]

    def abort(self) -> None:
        """Close files after a failure (they stay unreferenced)."""
        if self.writer is not None:
            self.writer.abort()


@dataclass
class RewriteMetrics:
    """Counters shared by DELETE and UPDATE."""

    num_removed_files: int = 0
    num_added_files: int = 0
    num_deletion_vectors_added: int = 0
    num_copied_rows: int = 0
    num_changed_rows: int = 0
    num_cdc_rows: int = 0
    scan_seconds: float = 0.0
    rewrite_seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


def partition_may_match(snapshot: Snapshot):
    """The conflict checker's file test for this table: partition values decide (disjoint partitions
    never conflict), data columns count as "may match"."""
    def check(add: Add, predicate: Expr) -> bool:
        return may_match(add, predicate, snapshot.schema, snapshot.partition_columns, snapshot.column_mapping_mode)

    return check


def commit_rewrite(snapshot: Snapshot, *, operation: str, parameters: Mapping[str, Any], read: Expr | None,
                   files: pa.Table, removes: list[Remove], adds: list[Add], cdc_files: list[AddCDCFile],
                   metrics: Mapping[str, int], commit_properties: CommitProperties | None = None,
                   hook: Hook | None = None, metadata: Metadata | None = None,
                   protocol: Protocol | None = None) -> int:
    """Commit a DELETE/UPDATE/MERGE: append-only check, read set (``read`` predicate and the candidate
    ``files`` scanned, or the whole table), partition-aware conflict checks, actions and metrics.

    The append-only check comes here, once the changes are known: an operation that removes nothing is
    allowed on an append-only table.
    """
    if removes and snapshot.properties.append_only:
        raise AppendOnlyError(
            f"{snapshot.storage.root_uri} is append-only (delta.appendOnly=true); this {operation} would remove data"
        )
    txn = Transaction(snapshot.storage, snapshot, operation=operation, parameters=parameters,
                      properties=commit_properties, hook=hook, may_match=partition_may_match(snapshot))
    if read is None:
        txn.read_whole_table()
    else:
        txn.read_predicate(read, read_set_files(files))
    if protocol is not None:
        txn.update_protocol(protocol)
    if metadata is not None:
        txn.update_metadata(metadata)
    txn.remove_files(removes)
    txn.add_files(adds)
    txn.add_cdc_files(cdc_files)
    txn.metrics.update(metrics)
    return txn.commit().version


def read_set_files(files: pa.Table) -> list[Add]:
    """The candidate files a DML operation scanned, as the transaction's read set."""
    out = []
    for row in files.to_pylist():
        dv = row.get("deletionVector")
        out.append(Add(row["path"], dict(row.get("partitionValues") or []), row["size"], 0, True,
                       deletion_vector=decode_deletion_vector(dv) if dv else None))
    return out


def require_existing_columns(snapshot: Snapshot, names: set[str], *, where: str = "") -> None:
    """Unknown columns in a DML predicate or SET clause are an error naming the first, with "did you mean"."""
    unknown = sorted(names - set(snapshot.schema.names))
    if unknown:
        raise unknown_column_error(unknown[0], snapshot.schema.names, where=where)

