"""Which files make up each Dask partition, and the divisions an index column's statistics prove.

Decided on the client from the planned files alone (sizes, `numRecords`, min/max in the add actions'
stats, partition values); no data file is opened.

- Grouping: files are taken in order and a partition is closed once it holds ``min_bytes`` or
  ``min_rows``, so thousands of small files do not become thousands of tiny tasks. A file is never
  split.
- Divisions (PROTOCOL.md "Per-file Statistics"): with an index column, files are sorted by their minimum.
  Divisions are known only when, in that order, every file starts above the maximum of all files before
  it, or exactly at it (files sharing a boundary value, or holding one partition value, then stay in
  the same partition). Anything unproven gives unknown divisions: missing stats, a null in the column
  (`nullCount` > 0), bounds that may be truncated (string maxima of 32 or more characters), a type whose
  stats are not exact enough to order (floats: Parquet bounds ignore NaN; decimals; others).
  Timestamp maxima are widened by 1 ms because Spark truncates them to milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import pyarrow as pa

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.expr import Col
from lakehouse.protocol.partitions import partition_scalar
from lakehouse.protocol.schema import PrimitiveType, StructField, to_arrow_type
from lakehouse.protocol.skipping import STRING_PREFIX, leaves_for, parse_stats
from lakehouse.snapshot import Snapshot

MIN_PARTITION_BYTES = 64 * 1024 * 1024
MIN_PARTITION_ROWS = 1_000_000
#: Index types whose per-file bounds order files exactly (floats are left out: their bounds ignore NaN).
ORDERABLE = {"byte", "short", "integer", "long", "date", "timestamp", "timestamp_ntz", "string"}


@dataclass(frozen=True)
class PartitionPlan:
    """File indices (into the scan's file list) per Dask partition, and the divisions when proven.

    ``divisions`` holds Python values of the index column's type, one more than there are partitions.
    """

    groups: tuple[tuple[int, ...], ...]
    divisions: tuple[Any, ...] | None


def file_rows(stats: pa.ChunkedArray | pa.Array) -> list[int | None]:
    """`numRecords` of every file (None where the stats do not say)."""
    return parse_stats(stats, []).num_records.to_pylist()


def group_in_order(units: Sequence[Sequence[int]], sizes: Sequence[int], rows: Sequence[int | None], *,
                   min_bytes: int, min_rows: int) -> tuple[tuple[int, ...], ...]:
    """Concatenate consecutive units (lists of file indices that must stay together) until a group holds
    ``min_bytes`` bytes or ``min_rows`` rows."""
    groups: list[tuple[int, ...]] = []
    current: list[int] = []
    nbytes = nrows = 0
    for unit in units:
        current.extend(unit)
        nbytes += sum(sizes[i] for i in unit)
        nrows += sum(rows[i] or 0 for i in unit)
        if nbytes >= min_bytes or nrows >= min_rows:
            groups.append(tuple(current))
            current, nbytes, nrows = [], 0, 0
    if current:
        groups.append(tuple(current))
    return tuple(groups)


def index_bounds(snapshot: Snapshot, files: pa.Table, index: str) -> tuple[list[Any], list[Any]] | None:
    """Per-file (lower, upper) bounds of ``index`` that are safe to order files by, or None if unproven."""
    field = snapshot.schema.field(index)
    if not (isinstance(field.type, PrimitiveType) and field.type.name in ORDERABLE):
        return None
    if index in snapshot.partition_columns:
        return _partition_bounds(snapshot, files, field)
    leaves = leaves_for(Col((index,)), snapshot.schema, snapshot.column_mapping_mode, set())
    stats = parse_stats(files.column("stats"), leaves)
    lo, hi, nulls = stats.mins[(index,)], stats.maxs[(index,)], stats.nulls[(index,)]
    if lo.null_count or hi.null_count or nulls.null_count or any(n > 0 for n in nulls.to_pylist()):
        return None
    try:
        lows, highs = lo.to_pylist(), hi.to_pylist()
        if field.type.name in ("timestamp", "timestamp_ntz"):
            highs = [h + timedelta(milliseconds=1) for h in highs]
    except OverflowError:
        return None  # a date or timestamp beyond Python's years 1-9999: divisions cannot hold it
    if field.type.name == "string" and any(len(h) >= STRING_PREFIX for h in highs):
        return None  # the maximum may be a truncated prefix: no upper bound
    return lows, highs


def _partition_bounds(snapshot: Snapshot, files: pa.Table, field: StructField) -> tuple[list[Any], list[Any]] | None:
    values = []
    for pv, path in zip(files.column("partition_values").to_pylist(), files.column("path").to_pylist()):
        values_of_file = dict(pv or [])
        raw = values_of_file.get(physical_name(field, snapshot.column_mapping_mode),
                                 values_of_file.get(field.name))
        try:
            scalar = partition_scalar(raw, field.type, column=field.name)
        except InvalidLogError as e:
            raise InvalidLogError(f"{e} in add action for {path}", version=snapshot.version) from None
        try:
            value = scalar.as_py()
        except (OverflowError, ValueError):
            return None  # a date/timestamp beyond Python's years 1-9999: divisions unknown, as for stats
        if value is None:
            return None  # a null index value has no place in the divisions
        values.append(value)
    return values, values


def sorted_units(lows: Sequence[Any], highs: Sequence[Any]) -> list[list[int]] | None:
    """Files ordered by lower bound and clustered where they share a boundary value; None when two files
    overlap by more than one value (the order of their rows is then unknown)."""
    order = sorted(range(len(lows)), key=lambda i: lows[i])
    units: list[list[int]] = []
    top: Any = None
    for i in order:
        if units and lows[i] < top:
            return None
        if units and lows[i] == top:
            units[-1].append(i)
        else:
            units.append([i])
        top = highs[i] if top is None or highs[i] > top else top
    return units


def plan_partitions(snapshot: Snapshot, files: pa.Table, *, index: str | None, min_bytes: int = MIN_PARTITION_BYTES,
                    min_rows: int = MIN_PARTITION_ROWS) -> PartitionPlan:
    """Group the scan's ``files`` (rows of `Scan.files()`) into partitions, with divisions when proven."""
    n = files.num_rows
    sizes = files.column("size").to_pylist()
    rows = file_rows(files.column("stats")) if n else []
    bounds = index_bounds(snapshot, files, index) if index is not None and n else None
    units = sorted_units(*bounds) if bounds is not None else None
    if bounds is None or units is None:
        return PartitionPlan(group_in_order([[i] for i in range(n)], sizes, rows, min_bytes=min_bytes,
                                            min_rows=min_rows), None)
    lows, highs = bounds
    groups = group_in_order(units, sizes, rows, min_bytes=min_bytes, min_rows=min_rows)
    divisions = [lows[g[0]] for g in groups] + [max(highs[i] for i in groups[-1])]
    return PartitionPlan(groups, tuple(divisions))


def division_type(snapshot: Snapshot, index: str) -> pa.DataType:
    """The Arrow type of the index column (to turn division values into pandas scalars)."""
    return to_arrow_type(snapshot.schema.field(index).type)
