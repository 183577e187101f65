"""Reading the rows of a snapshot's data files (PROTOCOL.md "Data Files", "Column Mapping",
"Deletion Vectors", "Partition Value Serialization", "Type Widening").

Per data file: open it through the storage's Arrow filesystem, read only the physical columns the
requested logical columns map to, drop the rows its deletion vector marks, conform the physical columns
to the logical schema, and add the partition columns as constants. Files are read concurrently.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lakehouse.protocol import arrow_values as av
from lakehouse.scan.deletion_vectors import keep_mask, load_deleted_rows
from lakehouse.errors import InvalidArgumentError, DataFileNotFoundError, InvalidLogError, SchemaMismatchError, StorageError
from lakehouse.protocol.arrow_conform import conform_table, match_field, physical_name
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.actions import DeletionVectorDescriptor
from lakehouse.protocol.partitions import partition_array, partition_scalar
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.row_tracking import (
    FILE_PATH, METADATA_COLUMNS, METADATA_PREFIX, ROW_COMMIT_VERSION, ROW_ID, ROW_INDEX, RowTracking, stable_values,
)
from lakehouse.protocol.schema import PrimitiveType, StructField, to_arrow_field
from lakehouse.protocol.expr_types import unknown_column_error
from lakehouse.snapshot import Snapshot

if TYPE_CHECKING:
    import pyarrow.dataset as ds


@dataclass(frozen=True, slots=True)
class FileTask:
    """One data file to read: plain, picklable data (a scan task for local or distributed readers)."""

    path: str
    partition_values: Mapping[str, str | None]
    deletion_vector: DeletionVectorDescriptor | None
    base_row_id: int | None = None
    default_row_commit_version: int | None = None


#: Field metadata marking a `_metadata.*` column of a read (not a table column).
_METADATA_FIELD = "lakehouse.metadataColumn"


def metadata_field(name: str) -> StructField:
    """The field of metadata column ``name`` (`row_id`, `row_commit_version`, `row_index`, `file_path`),
    named ``_metadata.<name>`` in the result."""
    kind = PrimitiveType("string") if name == FILE_PATH else PrimitiveType("long")
    return StructField(METADATA_PREFIX + name, kind, False, {_METADATA_FIELD: name})


def metadata_kind(field: StructField) -> str | None:
    """Which metadata column ``field`` is, or None for a table column."""
    kind = field.metadata.get(_METADATA_FIELD)
    return kind if isinstance(kind, str) else None


def _metadata_columns(snapshot: Snapshot, names: Sequence[str]) -> dict[str, StructField]:
    """The metadata columns among ``names`` (``_metadata.row_id`` and friends, unless the table has a column
    of that name); row ids and commit versions only where row tracking is enabled."""
    out = {}
    for name in names:
        if not isinstance(name, str) or not name.startswith(METADATA_PREFIX) or name in snapshot.schema.names:
            continue
        kind = name[len(METADATA_PREFIX):]
        if kind not in METADATA_COLUMNS:
            raise InvalidArgumentError(f"unknown metadata column '{name}' in columns=; lakehouse has "
                                       f"{[METADATA_PREFIX + c for c in METADATA_COLUMNS]}")
        if kind in (ROW_ID, ROW_COMMIT_VERSION) and not RowTracking.of(
                snapshot.protocol, snapshot.metadata.configuration).enabled:
            raise InvalidArgumentError(
                f"'{name}' needs row tracking, which is not enabled on {snapshot.storage.root_uri} at version "
                f"{snapshot.version}.\nHelp: dt.alter.set_table_properties({{'delta.enableRowTracking': 'true'}}) "
                "assigns row ids to every row")
        out[name] = metadata_field(kind)
    return out


def select_fields(snapshot: Snapshot, columns: Sequence[str] | None) -> list[StructField]:
    """The logical fields to return, in the order asked (all, in schema order, when None)."""
    if columns is None:
        return list(snapshot.schema.fields)
    if isinstance(columns, str):
        columns = [columns]
    by_name = {f.name: f for f in snapshot.schema.fields} | _metadata_columns(snapshot, columns)
    repeated = sorted({c for c in columns if list(columns).count(c) > 1})
    if repeated:
        raise InvalidArgumentError(f"column(s) {repeated} asked for more than once in columns=")
    missing = [c for c in columns if c not in by_name]
    if missing:
        # The same words (and "did you mean") as an unknown column in a filter; the family stays
        # SchemaMismatchError, as for a column missing from written data.
        raise SchemaMismatchError(str(unknown_column_error(missing[0], list(by_name), where=" in columns=")))
    return [by_name[c] for c in columns]


def file_tasks(adds: pa.Table) -> list[FileTask]:
    """Turn rows of the active-files table into read tasks."""
    paths = adds.column("path").to_pylist()
    pvs = adds.column("partitionValues").to_pylist()
    dvs_col = adds.column("deletionVector")
    dvs: list[Any] = dvs_col.to_pylist() if dvs_col.null_count < len(dvs_col) else [None] * len(paths)
    bases = adds.column("baseRowId").to_pylist()
    versions = adds.column("defaultRowCommitVersion").to_pylist()
    tasks = []
    for path, pv, dv, base, version in zip(paths, pvs, dvs, bases, versions):
        descriptor = decode_deletion_vector(dv, path=path) if dv is not None else None
        tasks.append(FileTask(path, dict(pv or []), descriptor, base, version))
    return tasks


def read_file(snapshot: Snapshot, task: FileTask, fields: Sequence[StructField], *, apply_dv: bool = True) -> pa.Table:
    """Read one data file as a table of the logical ``fields``.

    ``apply_dv=False`` keeps the rows the file's deletion vector deletes, so that row i of the result is
    physical row i of the file (what DML needs to write deletion vectors). Metadata fields (`metadata_field`)
    are computed from the file's position, its action and its materialized row-tracking columns.
    """
    storage = snapshot.storage
    mode = snapshot.column_mapping_mode
    partition_cols = set(snapshot.partition_columns)
    meta = {f.name: kind for f in fields if (kind := metadata_kind(f)) is not None}
    data_fields = [f for f in fields if f.name not in partition_cols and f.name not in meta]
    tracking = RowTracking.of(snapshot.protocol, snapshot.metadata.configuration) if meta else RowTracking()
    hidden = {ROW_ID: tracking.row_id_column, ROW_COMMIT_VERSION: tracking.commit_version_column}
    rel = resolve_relative(task.path, storage.root_uri, kind="data file", version=snapshot.version)
    fs, root = storage.arrow_filesystem()
    full = f"{root}/{rel}"
    try:
        pf = pq.ParquetFile(full, filesystem=fs, coerce_int96_timestamp_unit="us", pre_buffer=remote(fs))
        phys = list(pf.schema_arrow)
        wanted = []
        for f in data_fields:
            idx = match_field(phys, f, mode)
            if idx is not None:
                wanted.append(phys[idx].name)
        names = {p.name for p in phys}
        materialized = [c for k in meta.values() if (c := hidden.get(k)) is not None and c in names]
        table = pf.read(columns=wanted + materialized, use_threads=True)
        num_rows = pf.metadata.num_rows
    except FileNotFoundError:
        raise DataFileNotFoundError(
            f"data file {rel} of version {snapshot.version} is missing from {storage.root_uri}.\n"
            "Help: it may have been removed by VACUUM; read an older or newer version, or restore the file.",
            path=rel,
        ) from None
    except (pa.ArrowException, OSError) as e:
        raise StorageError(f"cannot read data file {rel}: {e}", path=rel, operation="read") from None
    # Conform first: the physical types another writer chose (string_view, large_string, dictionary, ...)
    # become the table schema's types here, so the DV mask below and every take/concat/compare done by
    # callers (DML, OPTIMIZE, CDF) only ever sees the logical types, which all Arrow kernels support.
    stored = {c: table.column(c) for c in materialized}
    if stored:
        table = table.drop_columns(materialized)
    try:
        out = conform_table(table, data_fields, mode)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise SchemaMismatchError(
            f"data file {rel} does not match the table schema at version {snapshot.version}: {e}"
        ) from None
    for name, kind in meta.items():
        out = out.append_column(name, _metadata_values(snapshot, task, kind, num_rows, stored.get(hidden.get(kind) or "")))
    if apply_dv and task.deletion_vector is not None:
        deleted = load_deleted_rows(storage, task.deletion_vector, data_path=rel, version=snapshot.version)
        out = out.filter(av.array(keep_mask(deleted, num_rows, data_path=rel)))
    n = out.num_rows
    columns = []
    for f in fields:
        if f.name in partition_cols:
            key = physical_name(f, mode)
            raw = task.partition_values.get(key, task.partition_values.get(f.name))
            try:
                columns.append(partition_array(raw, f.type, n, column=f.name))
            except InvalidLogError as e:
                raise InvalidLogError(f"{e} in add action for {task.path}", version=snapshot.version) from None
        else:
            columns.append(out.column(f.name))
    return pa.Table.from_arrays(columns, schema=pa.schema([to_arrow_field(f) for f in fields]))


def _metadata_values(snapshot: Snapshot, task: FileTask, kind: str, num_rows: int,
                     stored: pa.ChunkedArray | None) -> pa.Array:
    """One metadata column over a file's ``num_rows`` physical rows (before its deletion vector)."""
    if kind == ROW_INDEX:
        return av.array(np.arange(num_rows, dtype=np.int64))
    if kind == FILE_PATH:
        uri = task.path if "://" in task.path else f"{snapshot.storage.root_uri.rstrip('/')}/{task.path}"
        return av.array([uri] * num_rows, pa.string())
    default = task.base_row_id if kind == ROW_ID else task.default_row_commit_version
    if default is None and (stored is None or stored.null_count):
        raise InvalidLogError(f"data file {task.path} has no {'baseRowId' if kind == ROW_ID else 'defaultRowCommitVersion'}"
                              " although row tracking is enabled", version=snapshot.version)
    return stable_values(stored, default, num_rows, fresh=kind == ROW_ID)


def iter_tables(
    snapshot: Snapshot, tasks: Sequence[FileTask], fields: Sequence[StructField], *, max_workers: int = 8
) -> Iterator[pa.Table]:
    """Yield one table per file, in task order, reading up to ``max_workers`` files ahead concurrently
    (never more: a slow consumer must not make the reader hold the whole table)."""
    if len(tasks) <= 1:
        for t in tasks:
            yield read_file(snapshot, t, fields)
        return
    window = min(max_workers, len(tasks))
    with ThreadPoolExecutor(max_workers=window) as pool:
        pending = deque(pool.submit(read_file, snapshot, t, fields) for t in tasks[:window])
        next_task = window
        while pending:
            table = pending.popleft().result()
            if next_task < len(tasks):
                pending.append(pool.submit(read_file, snapshot, tasks[next_task], fields))
                next_task += 1
            yield table
            del table


def remote(fs: pafs.FileSystem) -> bool:
    """Whether Parquet reads from ``fs`` should pre-buffer (coalesce a file's column reads into a few large
    requests): essential on object stores; on local disk an extra copy of every column chunk, 1-3% of a
    large read and twice the cost of reading a file of a thousand rows."""
    return not isinstance(fs, pafs.LocalFileSystem)


@cache
def _format(pre_buffer: bool) -> "ds.ParquetFileFormat":
    # pyarrow.dataset costs ~11 MiB of memory on import: loaded by the first read that uses it.
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us"),
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=pre_buffer),
    )


def plain_dataset(snapshot: Snapshot, tasks: Sequence[FileTask]) -> "ds.Dataset":
    """An Arrow dataset over files that need no per-file work (no deletion vector, no column mapping).

    Partition columns come from per-file partition expressions; columns a file lacks read as null.
    """
    fs, root = snapshot.storage.arrow_filesystem()
    schema = pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])
    by_name = {f.name: f for f in snapshot.schema.fields}
    paths, partitions = [], []
    for t in tasks:
        rel = resolve_relative(t.path, snapshot.storage.root_uri, kind="data file", version=snapshot.version)
        paths.append(f"{root}/{rel}")
        expr = av.lit(True)
        for col in snapshot.partition_columns:
            f = by_name[col]
            try:
                value = partition_scalar(t.partition_values.get(col), f.type, column=col)
            except InvalidLogError as e:
                raise InvalidLogError(f"{e} in add action for {t.path}", version=snapshot.version) from None
            expr = expr & (pc.field(col).is_null() if not value.is_valid else pc.field(col) == value)
        partitions.append(expr)
    import pyarrow.dataset as ds

    fmt = _format(remote(fs))
    return ds.FileSystemDataset.from_paths(paths, schema=schema, format=fmt, filesystem=fs, partitions=partitions)
