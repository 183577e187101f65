"""Data files for a write: batches in, `Add` actions out (PROTOCOL.md "Data Files", "Add File and Remove
File", "Partition Value Serialization", "Per-file Statistics").

Batches stream through: rows are split by partition value, buffered per partition up to a row-group size,
written to Parquet (zstd) on a bounded pool of worker threads, and rolled to a new file once a file reaches
the target size. Memory is bounded by (open partitions x row-group buffer + max_workers row groups in
flight), never by the size of the input. Files are written under their final, unique names; a failed
write removes its files, and a crash leaves at most unreferenced files, which VACUUM removes.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.errors import InvalidArgumentError, LakehouseError, StorageError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add
from lakehouse.protocol.arrow_conform import physical_arrow_field, physical_name, to_physical
from lakehouse.protocol.partitions import partition_dir, serialize_partition_value
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol.schema import StructType, to_arrow_field
from lakehouse.protocol.stats import StatsCollector, physical_paths
from lakehouse.storage.base import Storage

DEFAULT_TARGET_FILE_SIZE = 128 * 1024 * 1024
ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: Row groups of writes whose rows arrive while other files are still being read (OPTIMIZE, copy-on-write
#: DML): a row group is encoded while the next rows are read, so a smaller one overlaps more of the
#: encoding with the reads (measured on 1M rows: 4 row groups of 256k rows instead of one cost 0.07% in
#: file size and nothing in encoding time).
STREAMING_ROW_GROUP_ROWS = 1 << 18
#: In-memory bytes of the smallest file a single large write is cut into for parallel encoding.
SPLIT_MIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FileWriteOptions:
    """How data files are laid out."""

    target_file_size: int = DEFAULT_TARGET_FILE_SIZE
    row_group_rows: int = ROW_GROUP_ROWS
    row_group_bytes: int = ROW_GROUP_BYTES
    compression: str = "zstd"
    data_change: bool = True
    #: Directory under the table root for the files ("" for data files, "_change_data" for CDC files).
    prefix: str = ""
    file_prefix: str = "part"
    #: Rows still buffered when a file is finished, if at least ``2 x SPLIT_MIN_BYTES``, are cut into up
    #: to ``max_workers`` consecutive files encoded at once. Copy-on-write DML wants this: its kept rows
    #: arrive as many small batches, so most of its encoding happens when the writer closes, on one
    #: thread otherwise. OPTIMIZE does not (its output is as few files as the rows fill).
    split_tail: bool = False
    #: Each ``write`` call's rows (per partition) go whole to one of up to ``max_workers`` files open at
    #: once ("lanes"), so that those files encode in parallel: a lane is opened only once every open one
    #: holds ``SPLIT_MIN_BYTES``, and a write goes to the lane with the fewest bytes (decided by sizes
    #: alone, never by timing). Copy-on-write DML wants this: its kept rows are many whole-file batches.
    lanes: bool = False


def _group_keys(column: pa.ChunkedArray) -> pa.Array:
    """What rows are grouped on for one partition column: its values, except that floats are grouped on
    their bit pattern with every NaN made one, because 0.0 and -0.0 are different partition values
    although they compare equal (Arrow's hashing merges them), while NaN must stay one partition."""
    arr = column.combine_chunks()
    if pa.types.is_floating(arr.type):
        one_nan = pc.if_else(pc.is_nan(arr), av.scalar(float("nan"), arr.type), arr)
        return one_nan.view(pa.int64() if arr.type.bit_width == 64 else pa.int32())
    return arr


def split_by_partition(table: pa.Table, columns: list[str]) -> Iterator[tuple[tuple, pa.Table]]:
    """Group a table's rows by the values of ``columns``; yields (values as Arrow scalars, rows without
    ``columns``) per distinct key, rows in their input order within a group.

    Keys are exact (see `_group_keys`): all rows of a group serialise to one partition string. (Two groups
    can still share one, as '' and null do; the writer keys its files by that string.)"""
    if not columns:
        yield (), table
        return
    if table.num_rows == 0:
        return
    if len(columns) == 1:
        # One column: its dictionary indices are already dense group ids (only present values are in the
        # dictionary), so they are sorted directly.
        enc = pc.dictionary_encode(_group_keys(table.column(columns[0])), null_encoding="encode")
        order = av.to_numpy(pc.array_sort_indices(enc.indices))
        counts = np.bincount(av.to_numpy(enc.indices), minlength=len(enc.dictionary))
        yield from _groups(table, columns, order, counts)
        return
    codes = np.zeros(table.num_rows, dtype=np.int64)
    space = 1
    for c in columns:
        enc = pc.dictionary_encode(_group_keys(table.column(c)), null_encoding="encode")
        idx = av.to_numpy(enc.indices).astype(np.int64)
        codes = codes * (len(enc.dictionary) + 1) + idx
        space *= len(enc.dictionary) + 1
    if space <= 1 << 22:
        # Small key space: bincount + a counting sort of group ids instead of np.unique's comparison sort.
        counts_all = np.bincount(codes, minlength=space)
        present = np.flatnonzero(counts_all)
        remap = np.zeros(space, dtype=np.int64)
        remap[present] = np.arange(len(present))
        group = remap[codes].astype(np.int32)
        # Arrow's stable sort of a small integer range is a counting sort: ~4x numpy's radix argsort.
        order = av.to_numpy(pc.array_sort_indices(av.array(group)))
        counts = counts_all[present]
    else:
        uniq, inverse = np.unique(codes, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(uniq))
    yield from _groups(table, columns, order, counts)


def _groups(table: pa.Table, columns: list[str], order: np.ndarray, counts: np.ndarray
            ) -> Iterator[tuple[tuple, pa.Table]]:
    """`split_by_partition`'s groups from a stable sort ``order`` of the rows by group and the group sizes."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first = order[starts]
    # Only the columns the files store are reordered: the partition columns' values are read from `first`.
    ordered = table.drop_columns(columns)
    if len(counts) > 1:  # (one group: already in order)
        ordered = ordered.take(av.array(order))
    originals = [table.column(c) for c in columns]
    start = 0
    for g in range(len(counts)):
        row = int(first[g])
        values = tuple(col[row] for col in originals)  # Arrow scalars: dates of any year
        yield values, ordered.slice(start, int(counts[g]))
        start += int(counts[g])


#: Arrow's default ``dictionary_pagesize_limit``: a column chunk whose dictionary grows past it falls back
#: to plain encoding for the rest of the chunk.
DICTIONARY_LIMIT = 1024 * 1024
DICTIONARY_SAMPLE_ROWS = 8192
DICTIONARY_SAMPLE_BLOCKS = 8


def _expected_distinct(run: pa.ChunkedArray, n: int) -> float:
    """The distinct values expected among ``n`` rows, from the repeats in one run of them (no repeat: n)."""
    valid = len(run) - run.null_count
    repeats = valid - pc.count_distinct(run).as_py()
    if not repeats:
        return float(n)
    d = valid * valid / (2 * repeats)
    return d * -math.expm1(-n / d)


def dictionary_columns(rows: pa.Table) -> bool | list[str]:
    """Which columns of a new file to dictionary-encode (``use_dictionary`` for its `pq.ParquetWriter`),
    judged from the first rows handed to it.

    Arrow dictionary-encodes every column and falls back to plain encoding when a column chunk's dictionary
    passes `DICTIONARY_LIMIT`: for high-cardinality columns (ids, measurements, timestamps) that costs a
    hash of every value and a re-encoding, about twice plain encoding's time, for a larger file. A column
    is written plain when a sample shows it cannot fit: the number of distinct values D is estimated
    from the repeats in each of `DICTIONARY_SAMPLE_BLOCKS` runs of consecutive rows spread over the rows at
    hand (birthday estimate: k samples show k^2 / 2D repeats; runs keep the repeats of clustered values,
    and a run with no repeats stands for all the values), taking the largest estimate of any run: a
    prefix alone would judge a file by its first batch (a MERGE's updated rows, all with one timestamp,
    ahead of the kept rows). The values expected among the rows at hand must overfill the dictionary by
    10%. Choosing wrongly costs only size or time, never a value.
    Only flat schemas of top-level primitive columns are judged (``use_dictionary`` names leaf paths);
    anything else keeps Arrow's default."""
    if rows.num_rows < 2 * DICTIONARY_SAMPLE_ROWS:
        return True
    keep: list[str] = []
    plain = False
    n = rows.num_rows
    block = DICTIONARY_SAMPLE_ROWS // DICTIONARY_SAMPLE_BLOCKS
    starts = np.linspace(0, n - block, DICTIONARY_SAMPLE_BLOCKS).astype(np.int64).tolist()
    samples = [rows.slice(start, block) for start in starts]
    for i, name in enumerate(rows.column_names):
        t = rows.schema.field(i).type
        if (pa.types.is_nested(t) or pa.types.is_dictionary(t) or isinstance(t, pa.ExtensionType)
                or "." in name):  # a dot would read as a nested path
            return True
        if pa.types.is_boolean(t) or pa.types.is_decimal(t) or pa.types.is_fixed_size_binary(t):
            keep.append(name)  # booleans are never dictionary-encoded; decimals' stored width varies
            continue
        columns = [sample.column(i) for sample in samples]
        valid = sum(len(c) - c.null_count for c in columns)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            width = 4 + sum(pc.sum(pc.binary_length(c)).as_py() or 0 for c in columns) / max(1, valid)  # length prefix
        elif pa.types.is_primitive(t):
            width = t.bit_width / 8
        else:
            keep.append(name)
            continue
        # Distinct values expected among the n rows at hand, from the estimated total D: D (1 - e^(-n/D)).
        expected = max(_expected_distinct(c, n) for c in columns)
        if valid < DICTIONARY_SAMPLE_ROWS // 2 or expected < 1.1 * DICTIONARY_LIMIT / width:
            keep.append(name)
        else:
            plain = True
    return keep if plain else True


@dataclass
class _OpenFile:
    # The file is opened, encoded and finished by jobs on the writer's pool, one job at a time per file
    # (the caller waits for a file's previous job before submitting its next), so rows keep their order.
    # Statistics are folded in on a separate thread while Arrow encodes Parquet (both release the GIL);
    # one stats worker keeps each collector's updates ordered and unshared. Rows are handed to the stats
    # worker when they are handed to an encode job, so a collector sees exactly its file's rows.
    index: tuple[int, ...]  # the order of the `Add` actions returned: the input order of the rows
    rel: str
    key: tuple[str | None, ...]  # the serialised partition values
    stats: StatsCollector
    partition_values: dict[str, str | None]
    sink: pa.NativeFile | None = None
    writer: pq.ParquetWriter | None = None
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    pending_bytes: int = 0
    raw_submitted: int = 0  # in-memory bytes handed to encode jobs
    raw_done: int = 0  # ... of which encoded: with `size`, this file's compression ratio
    size: int = 0  # bytes in the file after the last finished job
    job: Future | None = None
    stats_jobs: list[Future] = field(default_factory=list)
    closed: bool = False


class DataFileWriter:
    """Writes logical rows of one table into Parquet data files and returns their `Add` actions.

    Encoding runs on a pool of ``max_workers`` threads (default: the core count; Arrow's Parquet writer
    releases the GIL): several files are opened, encoded and finished at once, and a single write of at
    least ``2 x SPLIT_MIN_BYTES`` for one partition is cut into up to ``max_workers`` files encoded in
    parallel. At most ``max_workers`` row groups are in flight, so memory stays bounded by the workers,
    not by the input. Rows keep their order within a file; the `Add` actions come back in the order the
    files were started, whatever order they finish in. ``max_workers=1`` encodes one row group at a time.

    ``hidden`` names int64 columns that follow the logical ones in every batch and are stored under those
    names without statistics: row tracking's materialized row ids and commit versions (not in the schema).
    """

    def __init__(self, storage: Storage, schema: StructType, partition_columns: list[str],
                 properties: TableProperties, options: FileWriteOptions = FileWriteOptions(),
                 mode: ColumnMappingMode = "none", *, max_workers: int | None = None,
                 hidden: tuple[str, ...] = ()):
        self.storage = storage
        self.schema = schema
        self.partition_columns = list(partition_columns)
        self.options = options
        self.mode = mode
        self.max_workers = resolve_max_workers(max_workers)
        self.fs, self.root = storage.arrow_filesystem()
        self.data_fields = [f for f in schema.fields if f.name not in set(partition_columns)]
        self.hidden = hidden
        self.file_schema = pa.schema([physical_arrow_field(f, mode) for f in self.data_fields]
                                     + [pa.field(h, pa.int64(), True) for h in hidden])
        self.logical_schema = pa.schema([to_arrow_field(f) for f in schema.fields])
        self._physical = physical_paths(schema, mode)
        self._properties = properties
        # By serialised partition values, with the lane number appended for lanes after the first.
        self._open: dict[tuple, _OpenFile] = {}
        self._lane_bytes: dict[tuple, list[int]] = {}  # per partition: bytes written to each lane
        by_name = {f.name: f.type for f in schema.fields}
        self._partition_types = [by_name[c] for c in self.partition_columns]
        self._stats_pool = ThreadPoolExecutor(max_workers=1)
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="lakehouse-encode")
        self._slots = threading.Semaphore(self.max_workers)  # row groups in flight
        self._closing: list[tuple[_OpenFile, Future]] = []
        self._started: list[str] = []  # every file a job tried to create, for `abort` to remove
        self._results: dict[tuple[int, ...], Add] = {}
        self._counter = 0
        self.adds: list[Add] = []
        self.rows_written = 0

    @classmethod
    def for_snapshot(cls, snapshot: Any, options: FileWriteOptions = FileWriteOptions(), *,
                     max_workers: int | None = None, hidden: tuple[str, ...] = ()) -> "DataFileWriter":
        """A writer for the table at ``snapshot`` (its schema, partitioning, properties, column mapping)."""
        return cls(snapshot.storage, snapshot.schema, snapshot.partition_columns, snapshot.properties, options,
                   mode=snapshot.column_mapping_mode, max_workers=max_workers, hidden=hidden)

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add rows (already in the table's logical schema)."""
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self.rows_written += table.num_rows
        for values, data in split_by_partition(table, self.partition_columns):
            # Open files are keyed by the serialised values: floats as dict keys would merge 0.0 with
            # -0.0 and never find a NaN again (NaN != NaN).
            key = self._serialize(values)
            pieces = min(self.max_workers, data.nbytes // SPLIT_MIN_BYTES)
            if pieces >= 2:
                self._append_split(key, data, pieces)
            elif self.options.lanes and self.max_workers > 1:
                self._append(key, data, slot=self._lane(key, data.nbytes))
            else:
                self._append(key, data)

    def _lane(self, key: tuple, nbytes: int) -> tuple:
        """The open-file slot of the lane the next ``nbytes`` of partition ``key`` go to (`FileWriteOptions.lanes`)."""
        sizes = self._lane_bytes.setdefault(key, [0])
        if len(sizes) < self.max_workers and min(sizes) >= SPLIT_MIN_BYTES:
            sizes.append(0)
        lane = sizes.index(min(sizes))
        sizes[lane] += nbytes
        return key if lane == 0 else (*key, lane)

    def _append_split(self, key: tuple, data: pa.Table, pieces: int) -> None:
        """One large write on several cores: the rows are cut into ``pieces`` consecutive parts, each
        written to files of its own, and the parts' row groups are handed out in turn, so that every
        worker encodes one while the others encode theirs. The last part's file stays open for the rows
        that follow; the `Add` order is the input order of the rows."""
        if key in self._open:  # earlier rows of this partition keep their own file
            self._close(key, self._open[key])
        step = -(-data.num_rows // pieces)
        parts = [data.slice(start, step) for start in range(0, data.num_rows, step)]
        base = self._counter
        lanes = [self._new_file(key, index=(base, i, 0), register=False) for i in range(len(parts))]
        rolls = [0] * len(parts)
        offsets = [0] * len(parts)
        per_row = max(1, data.nbytes // max(1, data.num_rows))
        while any(o < p.num_rows for o, p in zip(offsets, parts)):
            for i, part in enumerate(parts):
                if offsets[i] >= part.num_rows:
                    continue
                if lanes[i].closed:  # this part's file reached the target size: the part goes on in a new one
                    rolls[i] += 1
                    lanes[i] = self._new_file(key, index=(base, i, rolls[i]), register=False)
                f = lanes[i]
                take = max(1, min(part.num_rows - offsets[i], self._flush_bytes(f) // per_row,
                                  self.options.row_group_rows))
                chunk = part.slice(offsets[i], take)
                offsets[i] += take
                f.pending.append(chunk)
                f.pending_rows += chunk.num_rows
                f.pending_bytes += take * per_row
                self._flush(None, f)
        for f in lanes[:-1]:
            if not f.closed:
                self._close(None, f)
        if not lanes[-1].closed:
            self._open[key] = lanes[-1]

    def _append(self, key: tuple, data: pa.Table, *, slot: tuple | None = None) -> None:
        """Buffer ``data`` (rows of partition ``key``) in the open file of ``slot`` (default: ``key``)."""
        slot = key if slot is None else slot
        per_row = max(1, data.nbytes // max(1, data.num_rows))
        offset = 0
        # Large batches are cut so that a row group (and so a file) never overshoots the target.
        while offset < data.num_rows:
            f = self._open.get(slot) or self._new_file(key, slot=slot)
            limit = self._flush_bytes(f)
            take = max(1, min(data.num_rows - offset, (limit - f.pending_bytes) // per_row,
                              self.options.row_group_rows - f.pending_rows))
            chunk = data.slice(offset, take)
            offset += take
            f.pending.append(chunk)
            f.pending_rows += chunk.num_rows
            f.pending_bytes += take * per_row
            if f.pending_rows >= self.options.row_group_rows or f.pending_bytes >= limit:
                self._flush(slot, f)

    def _file_rows(self, pending: list[pa.Table]) -> pa.Table:
        """Buffered logical rows as the file stores them (physical names and field ids under column
        mapping); statistics were taken from the logical rows."""
        rows = pa.concat_tables(pending)
        return to_physical(rows, self.file_schema) if self.mode != "none" else rows

    def _flush_bytes(self, f: _OpenFile) -> int:
        """In-memory bytes to buffer before the next row group: a row group never overshoots the target
        file size by much, estimated with the compression ratio this file has shown so far."""
        ratio = f.size / f.raw_done if f.raw_done else 1.0
        room = self.options.target_file_size - f.size - int((f.raw_submitted - f.raw_done) * ratio)
        return max(1, min(self.options.row_group_bytes, int(room / max(ratio, 0.01))))

    def _serialize(self, values: tuple) -> tuple[str | None, ...]:
        """The `partitionValues` strings of one partition's values, in partition-column order."""
        types = self._partition_types
        return tuple(serialize_partition_value(v, t, column=c) for c, t, v in zip(self.partition_columns, types, values))

    def _new_file(self, serialized: tuple[str | None, ...], *, index: tuple[int, ...] | None = None,
                  register: bool = True, slot: tuple | None = None) -> _OpenFile:
        fields = {f.name: f for f in self.schema.fields}
        directory = partition_dir(self.partition_columns, list(serialized)) if self.partition_columns else ""
        name = f"{self.options.file_prefix}-{self._counter:05d}-{uuid.uuid4()}-c000.{self.options.compression}.parquet"
        directory = "/".join(p for p in (self.options.prefix, directory) if p)
        rel = f"{directory}/{name}" if directory else name
        stats = StatsCollector.for_schema(
            StructType(tuple(self.data_fields)), self._physical,
            num_indexed=self._properties.data_skipping_num_indexed_cols,
            stats_columns=self._properties.data_skipping_stats_columns,
            bounds_from_parquet=True,
        )
        pv = {physical_name(fields[c], self.mode): s for c, s in zip(self.partition_columns, serialized)}
        f = _OpenFile(index or (self._counter, 0, 0), rel, serialized, stats, pv)
        self._counter += 1
        if register:
            self._open[serialized if slot is None else slot] = f
        return f

    def _submit(self, f: _OpenFile, fn: Any, pending: list[pa.Table], raw: int) -> Future:
        """Run ``fn(f, pending, raw)`` on the pool after ``f``'s previous job, holding one in-flight slot;
        ``pending``'s rows go to ``f``'s statistics (on the stats thread, while they are encoded)."""
        for chunk in pending:
            f.stats_jobs.append(self._stats_pool.submit(f.stats.update, chunk))
        if f.job is not None:
            f.job.result()  # one job at a time per file: its row groups are written in order
        self._check_closing()
        self._slots.acquire()
        try:
            f.job = self._pool.submit(self._in_slot, fn, f, pending, raw)
        except BaseException:
            self._slots.release()
            raise
        return f.job

    def _in_slot(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        finally:
            self._slots.release()

    def _check_closing(self) -> None:
        """Raise the first failure of a file already being finished, so a write stops early."""
        for _, job in self._closing:
            if job.done() and job.exception() is not None:
                job.result()

    def _opened(self, f: _OpenFile, rows: pa.Table) -> None:
        """Create ``f``'s file (on a worker: opening is I/O too), its encodings chosen from its first
        ``rows``."""
        if f.writer is not None:
            return
        directory = f.rel.rpartition("/")[0]
        self._started.append(f.rel)
        try:
            self.storage.prepare_dir(directory)
            f.sink = self.fs.open_output_stream(f"{self.root}/{f.rel}")
            f.writer = pq.ParquetWriter(f.sink, self.file_schema, compression=self.options.compression,
                                        use_dictionary=dictionary_columns(rows))
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"cannot create data file {f.rel}: {e}", path=f.rel, operation="write") from None

    def _encode(self, f: _OpenFile, pending: list[pa.Table], raw: int) -> None:
        try:
            rows = self._file_rows(pending)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"writing data file {f.rel} failed: {e}", path=f.rel, operation="write") from None
        self._opened(f, rows)
        assert f.writer is not None and f.sink is not None
        try:
            f.writer.write_table(rows, row_group_size=self.options.row_group_rows)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"writing data file {f.rel} failed: {e}", path=f.rel, operation="write") from None
        f.size = f.sink.tell()
        f.raw_done += raw

    def _flush(self, key: tuple | None, f: _OpenFile) -> None:
        if f.pending:
            pending, raw = f.pending, f.pending_bytes
            f.pending = []
            f.raw_submitted += raw
            f.pending_rows = f.pending_bytes = 0
            job = self._submit(f, self._encode, pending, raw)
            if not f.raw_done and f.raw_submitted >= self.options.target_file_size:
                job.result()  # the file may be full and its compression ratio is not known yet: learn it
        ratio = f.size / f.raw_done if f.raw_done else 1.0
        if f.size + (f.raw_submitted - f.raw_done) * ratio >= self.options.target_file_size:
            self._close(key, f)

    def _close(self, key: tuple | None, f: _OpenFile) -> None:
        """Finish ``f`` on the pool; its `Add` is collected by `close`. With ``split_tail``, a large
        buffered remainder is cut into consecutive parts: the first ends ``f``, each other one is a new
        file listed right after it, all encoded at once."""
        if key is not None and self._open.get(key) is f:
            del self._open[key]
        f.closed = True
        pending, raw = f.pending, f.pending_bytes
        f.pending = []
        f.pending_rows = f.pending_bytes = 0
        # Lanes already spread a key's rows over several files: together they take at most max_workers.
        share = self.max_workers // len(self._lane_bytes.get(f.key, [0])) if self.options.lanes else self.max_workers
        pieces = min(share, raw // SPLIT_MIN_BYTES) if self.options.split_tail else 1
        tails: list[tuple[_OpenFile, list[pa.Table], int]] = []
        if pieces >= 2:
            rows = pa.concat_tables(pending)
            step = -(-rows.num_rows // pieces)
            parts = [rows.slice(start, step) for start in range(0, rows.num_rows, step)]
            share = raw // len(parts)
            pending, raw = parts[:1], share
            # (c, i, r) sorts before (c, i, r, 1), which sorts before the next file (c, i, r + 1).
            tails = [(self._new_file(f.key, index=f.index + (n,), register=False), [part], share)
                     for n, part in enumerate(parts[1:], 1)]
        self._closing.append((f, self._submit(f, self._finish, pending, raw)))
        for tail, rows_part, share in tails:
            tail.closed = True
            self._closing.append((tail, self._submit(tail, self._finish, rows_part, share)))

    def _finish(self, f: _OpenFile, pending: list[pa.Table], raw: int) -> None:
        if pending:
            self._encode(f, pending, raw)
        for job in f.stats_jobs:
            job.result()
        if f.stats.num_records == 0:
            if f.writer is not None:  # nothing to keep (cannot happen with rows; kept for safety)
                f.writer.close()
                f.sink.close()  # type: ignore[union-attr]  # opened with the writer
            return
        assert f.writer is not None and f.sink is not None
        try:
            f.writer.close()
            size = f.sink.tell()
            f.sink.close()
            footer = f.writer.writer.metadata
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"finishing data file {f.rel} failed: {e}", path=f.rel, operation="write") from None
        f.stats.absorb_parquet(footer)
        self._results[f.index] = Add(
            path=quote(f.rel, safe="/=+-_.~!$&'()*,;:@"),
            partition_values=f.partition_values,
            size=size,
            modification_time=int(time.time() * 1000),
            data_change=self.options.data_change,
            stats=f.stats.to_json(),
        )

    def close(self) -> list[Add]:
        """Finish every open file; returns all `Add` actions written, in the order the files were started.

        Files are finished concurrently on the pool: most of a partitioned write's encoding happens here.
        """
        for key, f in list(self._open.items()):
            self._close(key, f)
        for _, job in self._closing:
            job.result()
        self._closing.clear()
        self._pool.shutdown()
        self._stats_pool.shutdown()
        self.adds = [self._results[i] for i in sorted(self._results)]
        return self.adds

    def abort(self) -> None:
        """After a failure: stop the workers, close open files and remove every file this writer created,
        so that a failed write leaves nothing behind (best effort: VACUUM removes what a crash leaves)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stats_pool.shutdown(wait=True, cancel_futures=True)
        files = list(self._open.values()) + [f for f, _ in self._closing]
        for f in files:
            try:
                if f.writer is not None:
                    f.writer.close()
                if f.sink is not None:
                    f.sink.close()
            except (OSError, pa.ArrowException):
                pass
        self._open.clear()
        self._closing.clear()
        for rel in self._started:
            try:
                self.storage.delete(rel)
            except (LakehouseError, OSError):
                pass


def resolve_max_workers(max_workers: int | None) -> int:
    """The number of encode/rewrite workers: ``max_workers``, or the core count when None."""
    if max_workers is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidArgumentError(f"max_workers must be a positive int, got {max_workers!r}")
    return max_workers


def write_batches(storage: Storage, batches: Iterable[pa.RecordBatch | pa.Table], schema: StructType,
                  partition_columns: list[str], properties: TableProperties,
                  options: FileWriteOptions = FileWriteOptions()) -> tuple[list[Add], int]:
    """Write all batches; returns the `Add` actions and the number of rows written."""
    writer = DataFileWriter(storage, schema, partition_columns, properties, options)
    try:
        for b in batches:
            writer.write(b)
        return writer.close(), writer.rows_written
    except BaseException:
        writer.abort()
        raise
