"""Scans: plan which files to read for a filter and columns, then read them (eagerly or streamed).

Planning is vectorised over all active files: partition pruning, then stats skipping
(`lakehouse.protocol.skipping`). Reading passes the row filter down to Arrow, which also prunes Parquet
row groups by their own statistics. A filter is any `FilterLike`: a Spark SQL string, a polars
expression, a DNF tuple filter (``[("a", "=", 1)]``) or a tree; a polars expression that cannot be
converted for skipping is still applied to every row by polars.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence, cast

import pyarrow as pa

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_plans import filter_rows
from lakehouse.protocol.expr import (
    Expr, FilterLike, check_expression, columns as expr_columns, evaluate, parse_predicate, to_arrow,
)
from lakehouse.protocol.expr_polars import from_polars, is_polars_expr
from lakehouse.protocol.expr_types import check_columns, column_paths, unknown_column_error
from lakehouse.protocol.schema import PrimitiveType, StructField, empty_table, to_arrow_field
from lakehouse.protocol.generated_filters import derived_partition_filter
from lakehouse.protocol.skipping import skip_files
from lakehouse.protocol.variant import has_variant
from lakehouse.scan.read import FileTask, file_tasks, iter_tables, metadata_kind, plain_dataset, read_file, select_fields
from lakehouse.snapshot import Snapshot

if TYPE_CHECKING:
    import polars


@dataclass(frozen=True)
class ScanMetrics:
    """What planning decided: files and bytes at each stage, and how long it took."""

    files_total: int
    files_after_partition_pruning: int
    files_after_stats_skipping: int
    bytes_total: int
    bytes_to_read: int
    planning_seconds: float


def _polars_error(expr: "polars.Expr", error: Exception) -> InvalidArgumentError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InvalidArgumentError(f"polars cannot evaluate filter {expr}: {reason}")


def _polars_frame(table: pa.Table) -> "polars.DataFrame":
    import polars as pl

    # An Arrow table becomes a DataFrame; pyarrow has no type stubs, so polars' overloads cannot tell.
    return cast("polars.DataFrame", pl.from_arrow(table))


def _check_polars_filter(expr: "polars.Expr", snapshot: Snapshot) -> None:
    """Unknown columns and type errors of a polars filter, found before any file is read: polars checks
    the expression against an empty frame of the table's schema."""
    import polars as pl

    names = snapshot.schema.names
    unknown = [n for n in expr.meta.root_names() if n not in names]
    if unknown:
        raise unknown_column_error(unknown[0], column_paths(snapshot.schema), where=" in filter")
    try:
        empty = _polars_frame(empty_table(pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])))
    except Exception:  # noqa: BLE001 - a type polars cannot hold: polars reports it when reading
        return
    try:
        empty.filter(expr)
    except pl.exceptions.PolarsError as e:
        raise _polars_error(expr, e) from None


def _polars_predicate(expr: "polars.Expr", snapshot: Snapshot) -> Expr | None:
    """The tree of a polars read filter, for pruning and skipping; None when lakehouse cannot convert,
    type or evaluate it (polars can: `int_col < float("nan")`, say), and polars then filters every row."""
    try:
        predicate = from_polars(expr)
    except InvalidArgumentError:
        return None
    check_columns(predicate, snapshot.schema, what="filter")  # an unknown column is an error either way
    try:
        check_expression(predicate, snapshot.schema, boolean=True)
        to_arrow(predicate, snapshot.schema)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):  # InvalidArgumentError included
        return None
    return predicate


class Scan:
    """An immutable scan of one snapshot: ``filter`` (any `FilterLike`) and ``columns``."""

    def __init__(self, snapshot: Snapshot, *, filter: FilterLike | None = None,
                 columns: Sequence[str] | None = None):
        self.snapshot = snapshot
        self.fields = select_fields(snapshot, columns)
        self._filter, self._columns = filter, (list(columns) if columns is not None else None)  # for __repr__
        self._polars_filter = filter if is_polars_expr(filter) else None
        self.predicate: Expr | None = None
        if self._polars_filter is not None:
            _check_polars_filter(self._polars_filter, snapshot)
            self.predicate = _polars_predicate(self._polars_filter, snapshot)
        elif filter is not None:
            self.predicate = parse_predicate(filter)
            text = filter if isinstance(filter, str) else ""
            check_columns(self.predicate, snapshot.schema, text=text, what="filter")
            check_expression(self.predicate, snapshot.schema, boolean=True, text=text)
        if self.predicate is not None:
            try:
                self._arrow_filter = to_arrow(self.predicate, snapshot.schema)  # validates literals early
            except (pa.ArrowException, OverflowError, TypeError, ValueError) as e:
                if isinstance(e, InvalidArgumentError):
                    raise
                raise InvalidArgumentError(f"filter {filter!r} cannot be evaluated: {e}") from None
        self._plan: tuple[pa.Table, ScanMetrics] | None = None

    def __repr__(self) -> str:
        """``Scan('file:///data/t', version=3, filter="id > 2", columns=['id'])``: the filter as given
        (SQL text, a polars expression, DNF tuples), None when there is none."""
        plain = self._filter is None or isinstance(self._filter, (str, list, tuple))
        shown = self._filter if plain else str(self._filter)  # a polars expression or a parsed tree
        return (f"Scan({self.snapshot.storage.root_uri!r}, version={self.snapshot.version}, "
                f"filter={shown!r}, columns={self._columns!r})")

    # -- planning ------------------------------------------------------------------------------------
    def _planned(self) -> tuple[pa.Table, ScanMetrics]:
        if self._plan is None:
            start = time.perf_counter()
            adds = self.snapshot.adds
            after_parts = after_stats = adds.num_rows
            selected = adds
            if self.predicate is not None and adds.num_rows:
                # Filters on generated partition columns implied by the filter: pruning only, rows still
                # meet the original predicate (protocol/generated_filters.py).
                pruning = derived_partition_filter(self.predicate, self.snapshot.schema, self.snapshot.partition_columns)
                result = skip_files(adds, pruning, self.snapshot.schema, self.snapshot.partition_columns,
                                    self.snapshot.column_mapping_mode, nan_is_max=self._polars_filter is not None)
                after_parts, after_stats = int(result.after_partitions.sum()), int(result.after_stats.sum())
                selected = adds.filter(av.array(result.after_stats))
            sizes = adds.column("size")
            metrics = ScanMetrics(
                files_total=adds.num_rows,
                files_after_partition_pruning=after_parts,
                files_after_stats_skipping=after_stats,
                bytes_total=int(pa.compute.sum(sizes).as_py() or 0),
                bytes_to_read=int(pa.compute.sum(selected.column("size")).as_py() or 0),
                planning_seconds=time.perf_counter() - start,
            )
            self._plan = (selected, metrics)
        return self._plan

    @property
    def metrics(self) -> ScanMetrics:
        """Planning metrics (plans on first use)."""
        return self._planned()[1]

    def files(self) -> pa.Table:
        """The files this scan reads, in the format of `DeltaTable.files()`."""
        adds = self._planned()[0]
        return pa.table({
            "path": adds.column("path"), "size": adds.column("size"),
            "modification_time": adds.column("modificationTime"),
            "partition_values": adds.column("partitionValues"), "stats": adds.column("stats"),
            "deletion_vector": adds.column("deletionVector"),
        })

    def add_rows(self) -> pa.Table:
        """The selected rows of the snapshot's file table (`protocol.file_table.ADD_SCHEMA`), for the
        operations that act on files (DML plans its candidate files here)."""
        return self._planned()[0]

    def tasks(self) -> list[FileTask]:
        """Plain, picklable read tasks, one per selected file."""
        return file_tasks(self._planned()[0])

    def explain(self) -> str:
        """A human-readable account of the plan."""
        m = self.metrics
        lines = [
            f"Scan of {self.snapshot.storage.root_uri} at version {self.snapshot.version}",
            f"  columns: {[f.name for f in self.fields]}",
            f"  filter: {self._polars_filter if self._polars_filter is not None else self.predicate}",
            f"  files: {m.files_total} total -> {m.files_after_partition_pruning} after partition pruning -> "
            f"{m.files_after_stats_skipping} after stats skipping",
            f"  bytes to read: {m.bytes_to_read:,} of {m.bytes_total:,}",
            f"  planning: {m.planning_seconds * 1000:.2f} ms",
        ]
        if self._polars_filter is not None and self.predicate is None:
            lines.append("  note: the polars filter could not be used for skipping; polars filters the rows")
        return "\n".join(lines)

    # -- reading -------------------------------------------------------------------------------------
    def _read_fields(self) -> list[StructField]:
        """Requested columns plus those the filter needs."""
        names = [f.name for f in self.fields]
        need = set(names)
        if self.predicate is not None:
            need |= expr_columns(self.predicate)
        if self._polars_filter is not None:
            need |= set(self._polars_filter.meta.root_names())
        extra = [f for f in self.snapshot.schema.fields if f.name in need and f.name not in names]
        return list(self.fields) + extra

    def _pushable(self) -> bool:
        if self.predicate is None or self._polars_filter is not None:
            return False
        floats = {f.name for f in self.snapshot.schema.fields
                  if isinstance(f.type, PrimitiveType) and f.type.name in ("float", "double")}
        return not (expr_columns(self.predicate) & floats)

    def _finish(self, table: pa.Table) -> pa.Table:
        if self._polars_filter is not None:
            import polars as pl

            try:
                table = _polars_frame(table).filter(self._polars_filter).to_arrow()
            except pl.exceptions.PolarsError as e:
                raise _polars_error(self._polars_filter, e) from None
        elif self.predicate is not None:
            try:
                table = filter_rows(table, self._arrow_filter)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                # An evaluation error (division by zero, overflow, a bad CAST): evaluate again to name
                # the row that fails, as one InvalidArgumentError.
                evaluate(table, self.predicate, self.snapshot.schema, what="filter")
                raise
        table = table.select([f.name for f in self.fields])
        return table.cast(self.schema) if table.schema != self.schema else table

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the scan's output."""
        return pa.schema([to_arrow_field(f) for f in self.fields])

    def to_arrow(self) -> pa.Table:
        """All matching rows as one Arrow table."""
        read_fields = self._read_fields()
        tasks = self.tasks()
        snapshot = self.snapshot
        # Metadata columns (`_metadata.row_id`, ...) are computed per file.
        # Variant columns too: a shredded file's typed_value is rebuilt per file (protocol.variant.has_variant).
        simple = snapshot.column_mapping_mode == "none" and not any(metadata_kind(f) for f in read_fields) \
            and not has_variant(read_fields)
        plain = [t for t in tasks if t.deletion_vector is None] if simple else []
        rest = [t for t in tasks if t.deletion_vector is not None] if plain else tasks
        tables: list[pa.Table] = []
        if plain:
            try:
                # Not pushed into the Arrow scan: for polars filters (polars' NaN and null rules differ from
                # Arrow's) and for filters on float columns (Parquet row-group min/max ignore NaN, so a
                # pushed `f != 0.5` would prune row groups whose NaN rows match).
                pushed = self._arrow_filter if self._pushable() else None
                tables.append(plain_dataset(snapshot, plain).to_table(columns=[f.name for f in read_fields], filter=pushed))
            except (pa.ArrowException, OSError, ValueError):
                rest, tables = tasks, []  # the per-file path reads (or precisely reports) what the dataset could not
        tables += list(iter_tables(snapshot, rest, read_fields))
        if not tables:
            return empty_table(self.schema)
        return self._finish(pa.concat_tables([t.cast(pa.schema([to_arrow_field(f) for f in read_fields])) for t in tables]))

    def to_batches(self) -> pa.RecordBatchReader:
        """Matching rows streamed file by file (one file in memory at a time)."""
        read_fields = self._read_fields()
        tasks = self.tasks()

        def batches() -> Iterator[pa.RecordBatch]:
            for task in tasks:
                table = self._finish(read_file(self.snapshot, task, read_fields))
                yield from table.to_batches()

        return pa.RecordBatchReader.from_batches(self.schema, batches())

    def to_polars(self) -> "polars.DataFrame":
        """All matching rows as a polars DataFrame."""
        return _polars_frame(self.to_arrow())
