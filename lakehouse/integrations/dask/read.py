"""`read_delta`: a Delta table as a Dask DataFrame, planned once on the client and read on the workers.

The client loads the snapshot, plans a `Scan` (partition pruning and stats skipping), groups the
selected files into partitions (`lakehouse.integrations.dask.partitions`) and builds one `ReadPart` per partition:
plain data (a `TableRef`, the partition's `FileTask`s, the filter, the columns). A worker loads the
snapshot at the pinned version once per process and reads its files with a `Scan` over just those
files, so deletion vectors, column mapping, type widening and the filter's exact semantics are the
single-process reader's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError, InvalidLogError, SchemaMismatchError
from lakehouse.integrations.dask._pandas import DtypeBackend, check_backend, empty_frame, pandas_values, to_pandas
from lakehouse.integrations.dask.jobs import TableRef
from lakehouse.integrations.dask.partitions import MIN_PARTITION_BYTES, MIN_PARTITION_ROWS, division_type, plan_partitions
from lakehouse.protocol import arrow_values as av
from lakehouse.scan.read import FileTask
from lakehouse.scan import Scan
from lakehouse.snapshot import Snapshot
from lakehouse.table import DeltaTable, FilterLike, VersionLike


@dataclass(frozen=True)
class ReadPart:
    """One Dask partition's work: which files of which table version, and what to return."""

    table: TableRef
    tasks: tuple[FileTask, ...]
    columns: tuple[str, ...]
    filter: Any
    index: str | None
    sort_index: bool
    dtype_backend: DtypeBackend


def _only_files(snapshot: Snapshot, tasks: Sequence[FileTask]) -> Snapshot:
    """The snapshot with its active files narrowed to ``tasks`` (so a `Scan` of it reads just those)."""
    paths = av.array([t.path for t in tasks], pa.string())
    adds = snapshot.adds.filter(pc.is_in(snapshot.adds.column("path"), value_set=paths))
    if adds.num_rows != len(tasks):  # the client planned on this very version, so this is a broken promise
        missing = set(paths.to_pylist()) - set(adds.column("path").to_pylist())
        raise InvalidLogError(f"planned data file(s) {sorted(missing)} are not active in {snapshot.storage.root_uri}",
                              version=snapshot.version)
    return replace(snapshot, adds=adds)


def read_part(part: ReadPart, columns: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Read one partition on a worker. ``columns`` is Dask's column projection (None = all)."""
    wanted = list(part.columns) if columns is None else ([columns] if isinstance(columns, str) else list(columns))
    read = wanted + [part.index] if part.index is not None and part.index not in wanted else wanted
    snapshot = _only_files(part.table.snapshot(), part.tasks)
    table = Scan(snapshot, filter=part.filter, columns=read).to_arrow()
    df = to_pandas(table, part.dtype_backend, part.index)
    if part.sort_index:
        df = df.sort_index(kind="stable")  # known divisions promise a sorted index inside each partition
    return df


def _columns(snapshot: Snapshot, columns: Sequence[str] | None, index: str | None) -> list[str]:
    names = snapshot.schema.names
    if isinstance(columns, str):
        columns = [columns]
    chosen = list(names) if columns is None else list(columns)
    unknown = [c for c in chosen + ([index] if index else []) if c not in names]
    if unknown:
        raise SchemaMismatchError(f"unknown column(s) {unknown}; the table has {list(names)}")
    return [c for c in chosen if c != index]


def read_delta(
    uri: str | os.PathLike[str],
    *,
    version: VersionLike = None,
    filter: FilterLike | None = None,
    columns: Sequence[str] | None = None,
    index: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    dtype_backend: DtypeBackend = "numpy_nullable",
    min_partition_bytes: int = MIN_PARTITION_BYTES,
    min_partition_rows: int = MIN_PARTITION_ROWS,
) -> dd.DataFrame:
    """The Delta table at ``uri`` as a lazy Dask DataFrame.

    ``version`` (int, datetime or ISO-8601 string), ``filter`` (a `FilterLike`: SQL string, polars
    expression or DNF tuple filter) and ``columns`` mean what they mean for `lakehouse.read_delta`; the rows are the same.
    Files the filter cannot match are pruned on the client; the filter itself runs on the workers.
    ``index`` names a column to use as the index: divisions are known when the files' statistics prove
    them sorted and non-overlapping on it (see `lakehouse.integrations.dask.partitions`), unknown otherwise.
    ``dtype_backend``: ``numpy_nullable`` (default) or ``pyarrow`` (see `lakehouse.integrations.dask._pandas`).
    Files are grouped so a partition holds at least ``min_partition_bytes`` or ``min_partition_rows``
    (by the add actions' stats); a file is never split. ``storage_options`` also travel to the workers,
    which open storage themselves.
    """
    if not isinstance(uri, (str, os.PathLike)):
        raise InvalidArgumentError(f"table URI must be a string or path, got {type(uri).__name__}")
    check_backend(dtype_backend)
    if index is not None and not isinstance(index, str):
        raise InvalidArgumentError(f"index must be a column name, got {type(index).__name__}")
    table = DeltaTable(uri, version=version, storage_options=storage_options)
    snapshot = table.snapshot
    out_columns = _columns(snapshot, columns, index)
    scan = Scan(snapshot, filter=filter, columns=out_columns + ([index] if index else []))
    plan = plan_partitions(snapshot, scan.files(), index=index, min_bytes=min_partition_bytes,
                           min_rows=min_partition_rows)
    meta = empty_frame(scan.schema, dtype_backend, index)  # the scan's columns: out_columns, then the index
    if not plan.groups:
        return dd.from_pandas(meta, npartitions=1)
    ref = TableRef(snapshot.storage.root_uri, dict(storage_options) if storage_options else None, snapshot.version)
    tasks = scan.tasks()
    parts = [ReadPart(ref, tuple(tasks[i] for i in g), tuple(out_columns), filter, index,
                      plan.divisions is not None, dtype_backend) for g in plan.groups]
    divisions = None
    if plan.divisions is not None and index is not None:
        divisions = tuple(pandas_values(list(plan.divisions), division_type(snapshot, index), dtype_backend))
    return dd.from_map(read_part, parts, meta=meta, divisions=divisions, label="read-delta", enforce_metadata=False)
