"""The one DML engine: `FileRewriter` changes the rows of a snapshot's data files for DELETE, UPDATE and
MERGE (PROTOCOL.md "Add File and Remove File", "Deletion Vectors", "Add CDC File").

One rewriter is one change of one snapshot, in three steps (iceberg-python's `_SnapshotProducer` is the
model; each operation says only which rows go and which rows come):

1. plan: the candidate files, through `Scan` (partition pruning and stats skipping);
2. execute: `rewrite` reads the candidate files (rows in physical order, deletion vectors not applied)
   a bounded window ahead on ``max_workers // 2`` threads (at least one; each file is decoded on Arrow's
   own threads) and runs the operation's per-file function there (mask, join, new values: Arrow
   releases the GIL, so files are worked on while others are encoded); the caller
   applies each file's `FileOutcome` in file order: its new rows go to the writer, its change data to
   `_change_data/`, and its changed rows leave the file -- the deletion-vector-or-copy-on-write branch,
   written once, in `FileRewriter.drop_rows`;
3. commit: `close` the writers, then `commit` one transaction (read set, removes, adds, cdc, metrics).

A failure before the commit is decided (an error, a conflict the checks refuse, an append-only refusal)
deletes every file the rewriter wrote (data, change data, deletion vectors): nothing is left behind.

The writer puts each file's kept rows whole into one of up to ``max_workers`` output files ("lanes",
chosen by bytes written, `FileWriteOptions.lanes`) in row groups of 256k rows, so the output files encode
in parallel while the next target files are read. Measured on 2 cores (DELETE of 1% of 5M rows in 10
files): one reading thread and two lanes took as long as two readers and one output file, in 390 instead
of 460-480 MiB; two readers on two cores only competed with the encoders.

Memory: at most ``max(1, max_workers // 2)`` candidate files are read ahead, each with its outcome, plus
the writer's ``max_workers`` row groups in flight: the bound is (read-ahead window x workers) files,
never the table.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Collection, Iterable, Iterator, Literal, Mapping, Sequence, TypeVar

import numpy as np
import orjson
import pyarrow as pa

from lakehouse.errors import AppendOnlyError, ConcurrentModificationError, LakehouseError, MaxCommitRetriesError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add, AddCDCFile, Metadata, Protocol, Remove
from lakehouse.protocol.dv import descriptor_for
from lakehouse.protocol.expr import Expr, Lit
from lakehouse.protocol.file_table import remove_for, table_to_adds
from lakehouse.protocol.generated import column_rules, with_high_water_marks
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.pruning import may_match
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType, schema_to_json, to_arrow_field
from lakehouse.scan.deletion_vectors import dv_file_path, load_deleted_rows
from lakehouse.operations.row_ids import carried_fields, hidden_columns
from lakehouse.scan.read import FileTask, read_file
from lakehouse.scan.scan import Scan
from lakehouse.snapshot import Snapshot
from lakehouse.write.columns import complete_rows
from lakehouse.write.constraints import enforce, table_checks
from lakehouse.write.files import STREAMING_ROW_GROUP_ROWS, DataFileWriter, FileWriteOptions, resolve_max_workers
from lakehouse.write.transaction import CommitProperties, Transaction, records_app_transactions

CHANGE_TYPE = "_change_type"
ChangeType = Literal["insert", "delete", "update_preimage", "update_postimage"]
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class RewriteMetrics:
    """What a DELETE or UPDATE did (`DeleteMetrics` and `UpdateMetrics` add their row count):
    ``version`` is the commit made, None when nothing was committed."""

    version: int | None = None
    num_copied_rows: int = 0
    num_removed_files: int = 0
    num_added_files: int = 0
    num_deletion_vectors_added: int = 0
    num_added_change_files: int = 0
    scan_time_ms: int = 0
    rewrite_time_ms: int = 0


@dataclass(eq=False)
class TouchedFile:
    """One candidate file: its `Add`, all its physical rows, which are alive (not deleted by its DV) and
    the row indexes its DV deleted."""

    add: Add
    table: pa.Table
    alive: np.ndarray
    deleted: np.ndarray
    #: Stable row ids and row commit versions of the physical rows (row tracking enabled), else None.
    row_ids: pa.Array | None = None
    row_versions: pa.Array | None = None


@dataclass(eq=False)
class FileOutcome:
    """What an operation does to one file, computed on a read-ahead worker: ``changed`` (a mask over the
    file's physical rows) leave it; ``updated`` are their new versions (the table's logical schema,
    checked and cast by the engine); ``changes`` the change data rows. ``kept`` is filled by the engine
    on the worker: the rows a copy-on-write rewrite keeps. ``present`` names, for each table of
    ``updated`` (same order), the columns its UPDATE SET / MERGE clause assigned: generated columns not
    among them are recomputed (spec/generated-identity-defaults.md). ``updated_rows`` gives, for each table
    of ``updated``, the physical rows of the file its rows are new versions of (in its order): their row
    ids are kept when row tracking is enabled (spec/row-tracking.md)."""

    changed: np.ndarray
    updated: list[pa.Table] = field(default_factory=list)
    updated_rows: list[np.ndarray] = field(default_factory=list)
    present: list[Collection[str]] = field(default_factory=list)
    changes: list[tuple[pa.Table, ChangeType]] = field(default_factory=list)
    kept: pa.Table | None = None


@dataclass(frozen=True, eq=False)
class FileChanges:
    """The actions of a rewrite (plain data: a Dask task returns it to the client): removes, adds
    (deletion-vector re-adds and new data files), change data files, and the rows copied and deletion
    vectors written."""

    removes: tuple[Remove, ...] = ()
    adds: tuple[Add, ...] = ()
    cdc_files: tuple[AddCDCFile, ...] = ()
    dv_files: tuple[str, ...] = ()
    copied: int = 0
    dvs: int = 0

    @staticmethod
    def combine(parts: Iterable["FileChanges"]) -> "FileChanges":
        """Several rewrites' changes together, actions in order."""
        parts = list(parts)
        return FileChanges(
            removes=tuple(r for p in parts for r in p.removes), adds=tuple(a for p in parts for a in p.adds),
            cdc_files=tuple(c for p in parts for c in p.cdc_files), dv_files=tuple(d for p in parts for d in p.dv_files),
            copied=sum(p.copied for p in parts), dvs=sum(p.dvs for p in parts))

    @property
    def num_added_files(self) -> int:
        """New data files (the deletion-vector re-adds of existing files not counted)."""
        return sum(1 for a in self.adds if a.deletion_vector is None)


class ChangeData:
    """Collects change data rows (`_change_type` insert / delete / update_preimage / update_postimage)
    into `_change_data/` files, partitioned like the data; inactive unless `delta.enableChangeDataFeed`."""

    def __init__(self, snapshot: Snapshot, *, max_workers: int | None = None):
        self.writer: DataFileWriter | None = None
        self.schema = StructType(tuple(snapshot.schema.fields) + (StructField(CHANGE_TYPE, PrimitiveType("string")),))
        if snapshot.properties.enable_change_data_feed:
            options = FileWriteOptions(data_change=False, prefix="_change_data", file_prefix="cdc")
            self.writer = DataFileWriter(snapshot.storage, self.schema, snapshot.partition_columns,
                                         snapshot.properties, options, mode=snapshot.column_mapping_mode,
                                         max_workers=max_workers)
        self._arrow = pa.schema([to_arrow_field(f) for f in self.schema.fields])

    @property
    def active(self) -> bool:
        """Whether change data is written at all."""
        return self.writer is not None

    def add(self, table: pa.Table, change_type: ChangeType) -> None:
        """Record rows (in the table's logical schema) as changes of ``change_type``."""
        if self.writer is None or table.num_rows == 0:
            return
        tagged = table.append_column(CHANGE_TYPE, av.repeat(change_type, table.num_rows))
        self.writer.write(tagged.cast(self._arrow))

    def close(self) -> list[AddCDCFile]:
        """The `cdc` actions of the files written."""
        if self.writer is None:
            return []
        return [AddCDCFile(a.path, a.partition_values, a.size, False) for a in self.writer.close()]

    def abort(self) -> None:
        """Remove the files written so far (after a failure)."""
        if self.writer is not None:
            self.writer.abort()


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


def partition_may_match(snapshot: Snapshot) -> Callable[[Add, Expr], bool]:
    """The conflict checker's file test for this table: partition values decide (disjoint partitions
    never conflict), data columns count as "may match"."""
    def check(add: Add, predicate: Expr) -> bool:
        return may_match(add, predicate, snapshot.schema, snapshot.partition_columns, snapshot.column_mapping_mode)

    return check


class FileRewriter:
    """One DML change of ``snapshot``: plan candidate files, rewrite them, commit (see the module
    docstring). Use it as a context manager: an exception inside aborts it (every written file removed).

    ``max_workers`` (default: the core count; 1 inside a Dask task) bounds the read-ahead threads and the
    writers' encoding threads. ``now`` fixes `now()` / `current_timestamp` in generation expressions
    and defaults (default: when the rewriter is made).
    """

    def __init__(self, snapshot: Snapshot, *, max_workers: int | None = None, now: datetime | None = None):
        self.snapshot = snapshot
        self.max_workers = resolve_max_workers(max_workers)
        self.use_dv = snapshot.properties.enable_deletion_vectors
        # Row tracking enabled: every row written carries its stable row id and commit version in the
        # hidden columns (null for new rows, and for the commit version of updated rows).
        self.hidden = hidden_columns(snapshot)
        self.rows_preserved = True
        # The kept rows of many files reach the writer file by file: lanes spread them over several
        # output files encoded at once, split_tail cuts each one's last buffer over every worker.
        options = FileWriteOptions(split_tail=True, lanes=True, row_group_rows=STREAMING_ROW_GROUP_ROWS)
        self.writer = DataFileWriter.for_snapshot(snapshot, options,
                                                  max_workers=max_workers, hidden=self.hidden)
        self.cdc = ChangeData(snapshot, max_workers=max_workers)
        self.files: pa.Table = snapshot.adds.slice(0, 0)
        self.started = time.perf_counter()
        self.scanned: float | None = None
        self._checks = table_checks(snapshot.schema, dict(snapshot.metadata.configuration))
        self._exact = pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])
        self._now = int(time.time() * 1000)
        # Generated / identity / default columns: one rule set (one `now()`) per change; the identity
        # high-water marks move with each insert batch (written in order, on the caller's thread).
        self.rules = column_rules(snapshot.schema, now=now)  # ``now``: one per change, across Dask tasks too
        self.marks: dict[str, int | None] = {n: i.high_water_mark for n, i in self.rules.identities.items()}
        self.marks_moved = False
        self._removes: list[Remove] = []
        self._adds: list[Add] = []
        self._dv_files: list[str] = []
        self._parts: list[FileChanges] = []
        self._pools: list[ThreadPoolExecutor] = []  # read-ahead pools running now
        self._copied = 0
        self._dvs = 0
        self._closed: FileChanges | None = None
        self._commit_attempted = False
        #: ``(done, total)`` counter called once per file read and handed on (`lakehouse.progress.reporter`).
        self.progress: Callable[[int, int | None], None] | None = None

    def __enter__(self) -> "FileRewriter":
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        # Once the commit was attempted, an error may mean it landed: the files are never removed then
        # (`commit` removes them itself on the refusals that prove nothing was committed).
        if error is not None and not self._commit_attempted:
            self.abort()

    # -- 1. plan ---------------------------------------------------------------------------------------
    def plan(self, predicate: Expr | None) -> pa.Table:
        """The candidate files (rows of ``snapshot.adds``) that may hold a row matching ``predicate`` (all
        files when None), planned by `Scan`; they are the read set the commit records. The literal FALSE
        (a MERGE whose source has no key) selects none."""
        if isinstance(predicate, Lit) and predicate.value is False:
            self.files = self.snapshot.adds.slice(0, 0)
        else:
            self.files = Scan(self.snapshot, filter=predicate).add_rows()
        return self.files

    # -- 2. execute ------------------------------------------------------------------------------------
    def rewrite(self, work: Callable[[TouchedFile], FileOutcome | None], files: pa.Table | None = None, *,
                columns: set[str] | None = None) -> Iterator[tuple[TouchedFile, FileOutcome | None]]:
        """Read ``files`` (default: the planned ones) and run ``work`` on each, on the read-ahead threads;
        yields each file with its outcome in file order, after applying it (`apply`). ``columns`` reads
        only those columns (enough for a deletion vector when no change data is written)."""
        for touched, outcome in self.map_files(work, files, columns=columns):
            if outcome is not None:
                self.apply(touched, outcome)
            yield touched, outcome

    def map_files(self, work: Callable[[TouchedFile], _T], files: pa.Table | None = None, *,
                  columns: set[str] | None = None) -> Iterator[tuple[TouchedFile, _T]]:
        """``work`` over each file read, on up to ``max(1, max_workers // 2)`` threads; results in file order.

        At most that many files (and their results) are held ahead of the consumer, who works on
        the current one (the writer encodes its rows on its own pool), so memory holds a bounded window
        of files, never the table.
        """
        files = self.files if files is None else files
        fields = [f for f in self.snapshot.schema.fields if columns is None or f.name in columns]
        adds = table_to_adds(files)
        snapshot = self.snapshot

        tracked = carried_fields(snapshot)

        def job(add: Add) -> tuple[TouchedFile, _T]:
            task = FileTask(add.path, add.partition_values, add.deletion_vector, add.base_row_id,
                            add.default_row_commit_version)
            table = read_file(snapshot, task, fields + tracked, apply_dv=False)
            ids = versions = None
            if tracked:
                ids, versions = (table.column(f.name).combine_chunks() for f in tracked)
                table = table.drop_columns([f.name for f in tracked])
            deleted = np.zeros(0, dtype=np.uint64)
            alive = np.ones(table.num_rows, dtype=bool)
            if add.deletion_vector is not None:
                deleted = load_deleted_rows(snapshot.storage, add.deletion_vector, data_path=add.path,
                                            version=snapshot.version)
                alive[deleted.astype(np.int64)] = False
            touched = TouchedFile(add, table, alive, deleted, ids, versions)
            result = work(touched)
            if isinstance(result, FileOutcome):
                self._prepare_outcome(touched, result)
            return touched, result

        if self.progress is not None:
            self.progress(0, len(adds))
        if not adds:
            return
        window = min(max(1, self.max_workers // 2), len(adds))
        with ThreadPoolExecutor(max_workers=window, thread_name_prefix="lakehouse-rewrite") as pool:
            self._pools.append(pool)
            ahead = deque(pool.submit(job, a) for a in adds[:window])
            following = iter(adds[window:])
            try:
                done = 0
                while ahead:
                    current = ahead.popleft().result()
                    nxt = next(following, None)
                    if nxt is not None:
                        ahead.append(pool.submit(job, nxt))
                    yield current
                    del current
                    done += 1
                    if self.progress is not None:
                        self.progress(done, len(adds))
            finally:
                for pending in ahead:  # stopped early (an error, or the caller broke off): read nothing more
                    pending.cancel()
                self._pools.remove(pool)

    def _prepare_outcome(self, touched: TouchedFile, outcome: FileOutcome) -> None:
        """The Arrow work of applying an outcome, done on the worker: new rows checked and cast, and the
        rows a copy-on-write rewrite keeps."""
        present = outcome.present if len(outcome.present) == len(outcome.updated) else [None] * len(outcome.updated)
        origins: list[np.ndarray | None] = (list(outcome.updated_rows) if len(outcome.updated_rows) == len(outcome.updated)
                                            else [None] * len(outcome.updated))
        done = {id(rows): (self.rows_to_write(rows, "update", present=p), origin)
                for rows, p, origin in zip(outcome.updated, present, origins) if rows.num_rows}
        # An updated row keeps its stable row id; its commit version becomes this commit's (null).
        outcome.updated = [self._tracked(rows, touched, origin, keep_version=False) for rows, origin in done.values()]
        if self.rules.generated:  # the postimage change rows are the completed rows
            outcome.changes = [(done[id(rows)][0] if id(rows) in done else rows, kind) for rows, kind in outcome.changes]
        if outcome.changed.any() and not self._dv_for(touched, outcome.changed):
            outcome.kept = self._kept_rows(touched, outcome.changed)

    def _kept_rows(self, touched: TouchedFile, changed: np.ndarray) -> pa.Table | None:
        """The alive rows of a file that a copy-on-write rewrite keeps, in the exact schema (None: none).

        They go to the one shared writer, which packs the remainders of many files into few files:
        measured on 2 cores, encoding 10 files of 99k rows separately (even on 2 threads) costs 1.7x the
        CPU of encoding them as one file (Parquet's per-file dictionary attempts), and lost on time."""
        keep = touched.alive & ~changed
        if not keep.any():
            return None
        kept = touched.table.filter(av.array(keep, pa.bool_()))
        kept = kept.select(self._exact.names).cast(self._exact) if kept.schema != self._exact else kept
        return self._tracked(kept, touched, keep, keep_version=True)

    def _tracked(self, rows: pa.Table, touched: TouchedFile | None, origin: np.ndarray | None, *,
                 keep_version: bool) -> pa.Table:
        """``rows`` with the hidden row-tracking columns when row tracking is enabled: the stable row ids
        (and, for copied rows, commit versions) of the file's rows ``origin`` (a mask or indexes of its
        physical rows), nulls for new rows (``touched`` None)."""
        if not self.hidden:
            return rows
        n = rows.num_rows
        ids = versions = pa.nulls(n, pa.int64())
        if touched is not None:
            if origin is None or touched.row_ids is None or touched.row_versions is None:
                self.rows_preserved = False  # the operation did not say which rows these are: fresh ids
            else:
                pick = av.array(np.flatnonzero(origin) if origin.dtype == bool else origin)
                ids = touched.row_ids.take(pick)
                if keep_version:
                    versions = touched.row_versions.take(pick)
        return rows.append_column(pa.field(self.hidden[0], pa.int64(), True), ids).append_column(
            pa.field(self.hidden[1], pa.int64(), True), versions)

    def rows_to_write(self, rows: pa.Table, kind: Literal["insert", "update"], *,
                      present: Collection[str] | None = None) -> pa.Table:
        """The one place new rows pass before they are written: inserted rows (``kind="insert"``) and the
        new versions of updated rows (``"update"``), in the table's logical schema. Generated, default
        and identity columns are completed (`complete_rows`; ``present``: the columns the insert or SET
        assigned, required when the table declares such columns), then the rows are checked against the
        table's constraints (NOT NULL, CHECK) and cast to its exact schema. Inserts run on the caller's
        thread only (the identity marks they move are this rewriter's)."""
        if self.rules:
            if present is None:
                raise AssertionError("rows_to_write needs present= on a table with generated/identity/default columns")
            done = complete_rows(rows, self.snapshot.schema, self.rules, present=present, kind=kind,
                                 marks=self.marks if kind == "insert" else None)
            rows = done.table
            if done.high_water_marks:
                self.marks.update(done.high_water_marks)
                self.marks_moved = True
        enforce(rows, self.snapshot.schema, self._checks)
        return rows.cast(self._exact) if rows.schema != self._exact else rows

    def _dv_for(self, touched: TouchedFile, changed: np.ndarray) -> bool:
        """The branch: a deletion vector when the table enables them and some row of the file stays;
        otherwise the file is removed and its kept rows copied (copy-on-write)."""
        return self.use_dv and bool((touched.alive & ~changed).any())

    def apply(self, touched: TouchedFile, outcome: FileOutcome) -> None:
        """Apply one file's outcome: change data, new rows written, changed rows dropped from the file."""
        if not outcome.changed.any():
            return
        for rows, change_type in outcome.changes:
            self.cdc.add(rows, change_type)
        for rows in outcome.updated:
            self.writer.write(rows)
        self.drop_rows(touched, outcome.changed, kept=outcome.kept)

    def drop_rows(self, touched: TouchedFile, changed: np.ndarray, *, kept: pa.Table | None = None) -> None:
        """Remove the ``changed`` rows (a mask over the file's physical rows) from the file: by extending
        its deletion vector, or by removing the file and copying its other alive rows (``kept``, when the
        caller computed them already) to new files."""
        if self._dv_for(touched, changed):
            rows = np.union1d(touched.deleted.astype(np.uint64), np.flatnonzero(changed).astype(np.uint64))
            descriptor, content = descriptor_for(rows)
            if content is not None:
                rel = dv_file_path(descriptor, self.snapshot.storage.root_uri)
                assert rel is not None  # a DV that is not inline lives in a file
                self._dv_files.append(rel)
                self.snapshot.storage.write_bytes(rel, content)
            add = touched.add
            self._removes.append(remove_for(add, self._now))
            self._adds.append(Add(
                path=add.path, partition_values=dict(add.partition_values), size=add.size,
                modification_time=add.modification_time, data_change=True, stats=_loose_stats(add.stats),
                tags=dict(add.tags) if add.tags else None, deletion_vector=descriptor, base_row_id=add.base_row_id,
                default_row_commit_version=add.default_row_commit_version,
                clustering_provider=add.clustering_provider))  # same file, same layout (spec/clustering.md)
            self._dvs += 1
            return
        self._removes.append(remove_for(touched.add, self._now))
        if kept is None:
            kept = self._kept_rows(touched, changed)
        if kept is not None and kept.num_rows:
            self.writer.write(kept)
            self._copied += kept.num_rows

    def remove_files(self, adds: Sequence[Add]) -> None:
        """Remove whole files without reading them (a partition predicate selected every row)."""
        self._removes += [remove_for(a, self._now) for a in adds]

    def write_inserted(self, rows: pa.Table, *, present: Collection[str] | None = None) -> None:
        """Write new rows (MERGE's inserts; ``present``: the columns the insert assigned) with their
        `insert` change data."""
        if rows.num_rows == 0:
            return
        rows = self.rows_to_write(rows, "insert", present=present)
        self.writer.write(self._tracked(rows, None, None, keep_version=False))
        self.cdc.add(rows, "insert")

    def absorb(self, changes: FileChanges) -> None:
        """Take in the changes a rewriter made elsewhere (a Dask task), so that this one commits them and
        removes their files if the commit fails."""
        self._parts.append(changes)

    # -- 3. commit -------------------------------------------------------------------------------------
    def close(self) -> FileChanges:
        """Close the writers (aborting on failure) and return every change; idempotent."""
        if self._closed is None:
            if self.scanned is None:
                self.scanned = time.perf_counter()
            try:
                adds = self.writer.close()
                cdc_files = self.cdc.close()
            except BaseException:
                self.abort()
                raise
            own = FileChanges(tuple(self._removes), tuple(self._adds) + tuple(adds), tuple(cdc_files),
                              tuple(self._dv_files), self._copied, self._dvs)
            self._closed = FileChanges.combine(self._parts + [own])
        return self._closed

    def abort(self) -> None:
        """Remove every file this rewriter wrote or took in (data, change data, deletion vectors); best
        effort (VACUUM removes what a crash leaves)."""
        for pool in list(self._pools):  # a worker still running might write a file after we looked
            pool.shutdown(wait=True, cancel_futures=True)
        self.writer.abort()
        self.cdc.abort()
        storage = self.snapshot.storage
        taken = FileChanges.combine(self._parts + ([self._closed] if self._closed is not None else []))
        written = [a.path for a in taken.adds if a.deletion_vector is None] + [c.path for c in taken.cdc_files]
        rels = {resolve_relative(p, storage.root_uri) for p in written} | set(taken.dv_files) | set(self._dv_files)
        for rel in sorted(rels):
            try:
                storage.delete(rel)
            except (LakehouseError, OSError):
                pass

    def commit_row_change(self, *, operation: str, predicate: Any, read: Expr | None, rows_metric: str,
                          rows: int, commit_properties: CommitProperties | None = None) -> int | None:
        """DELETE's and UPDATE's commit: nothing when no file changed (and no application transaction must
        be recorded), else `commit` with the operation's parameters (the predicate as given) and Spark's
        metrics (``rows_metric`` = ``rows``, copied rows, files, deletion vectors, change files)."""
        changes = self.close()
        if not changes.removes and not records_app_transactions(commit_properties):
            return None
        params = {"predicate": [predicate if isinstance(predicate, str) else repr(read)] if read else []}
        return self.commit(operation=operation, parameters=params, read=read, commit_properties=commit_properties,
                           metrics={
                               rows_metric: rows, "numCopiedRows": changes.copied,
                               "numRemovedFiles": len(changes.removes), "numAddedFiles": len(changes.adds),
                               "numDeletionVectorsAdded": changes.dvs, "numAddedChangeFiles": len(changes.cdc_files),
                           })

    def commit(self, *, operation: str, parameters: Mapping[str, Any], read: Expr | None,
               metrics: Mapping[str, int], commit_properties: CommitProperties | None = None,
               metadata: Metadata | None = None, protocol: Protocol | None = None) -> int:
        """Commit the changes in one transaction: append-only check, read set (``read`` and the planned
        files, or the whole table when ``read`` is None), partition-aware conflict checks, actions,
        metrics. A refusal (append-only, conflict, retries exhausted) removes the written files.

        The append-only check comes here, once the changes are known: an operation that removes nothing
        is allowed on an append-only table.
        """
        changes = self.close()
        snapshot = self.snapshot
        try:
            if changes.removes and snapshot.properties.append_only:
                raise AppendOnlyError(f"{snapshot.storage.root_uri} is append-only (delta.appendOnly=true); "
                                      f"this {operation} would remove data")
            txn = Transaction(snapshot.storage, snapshot, operation=operation, parameters=parameters,
                              properties=commit_properties, may_match=partition_may_match(snapshot))
            if read is None:
                txn.read_whole_table()
            else:
                txn.read_predicate(read, table_to_adds(self.files))
            if protocol is not None:
                txn.update_protocol(protocol)
            if self.marks_moved:  # the new identity high-water marks go into the schema of this commit
                base = metadata if metadata is not None else snapshot.metadata
                metadata = replace(base, schema_string=schema_to_json(
                    with_high_water_marks(self.snapshot.schema, self.marks)))
            if metadata is not None:
                txn.update_metadata(metadata)
            # Every new row passed `rows_to_write` (absorbed tasks' rows in their own rewriters): the
            # computed-column guard (`check_rows_completed`) may let this commit through.
            txn.columns_completed = True
            txn.rows_preserved = self.rows_preserved
            txn.remove_files(list(changes.removes))
            txn.add_files(list(changes.adds))
            txn.add_cdc_files(list(changes.cdc_files))
            txn.metrics.update(metrics)
            self._commit_attempted = True
            return txn.commit().version
        except (AppendOnlyError, ConcurrentModificationError, MaxCommitRetriesError):
            self.abort()  # definitely not committed: the files are nobody's
            raise

    def metrics(self, version: int | None) -> RewriteMetrics:
        """The shared DELETE/UPDATE metrics of this rewrite (after `close`)."""
        changes = self.close()
        scanned = self.scanned if self.scanned is not None else self.started
        return RewriteMetrics(
            version=version, num_copied_rows=changes.copied, num_removed_files=len(changes.removes),
            num_added_files=changes.num_added_files, num_deletion_vectors_added=changes.dvs,
            num_added_change_files=len(changes.cdc_files), scan_time_ms=int((scanned - self.started) * 1000),
            rewrite_time_ms=int((time.perf_counter() - self.started) * 1000))
