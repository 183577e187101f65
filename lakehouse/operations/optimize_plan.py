"""OPTIMIZE planning: which files of which partition are rewritten together (`Bin`s), on the file table's
Arrow columns.

- Bin-packing takes files below ``min_file_size`` (first-fit decreasing up to ``target_size``) and every
  file with a deletion vector (rewritten with its deletions applied); a bin of one file without a DV is
  dropped, so a second run with nothing to do commits nothing.
- Z-order takes whole partitions, except those whose files all carry the Z-cube tags of the same
  columns and no deletion vector.

Planning reads sizes, deletion-vector presence, tags and partition values as columns and turns only the
files that land in a bin into typed `Add` actions (`table_to_adds`): no dict rows, no I/O beyond the
snapshot. Execution and commit are `lakehouse.operations.optimize`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add
from lakehouse.protocol.expr import EXPR_TYPES, Expr, columns, parse_predicate
from lakehouse.protocol.file_table import table_to_adds
from lakehouse.protocol.pruning import partition_mask
from lakehouse.protocol.schema import DecimalType, PrimitiveType
from lakehouse.snapshot import Snapshot

#: delta-rs's default target (100 MiB) when `delta.targetFileSize` is not set.
DEFAULT_TARGET_SIZE = 100 * 1024 * 1024
#: Spark's Z-cube tags on files written by Z-order (they let a later run skip clustered partitions).
ZCUBE_ID = "ZCUBE_ID"
ZCUBE_ZORDER_BY = "ZCUBE_ZORDER_BY"
ZCUBE_ZORDER_CURVE = "ZCUBE_ZORDER_CURVE"
ZORDERABLE = {"byte", "short", "integer", "long", "float", "double", "date", "timestamp", "timestamp_ntz",
              "string", "binary", "boolean"}

PartitionFilter = str | Expr | Sequence[tuple[str, str, Any]] | None


@dataclass(frozen=True)
class Bin:
    """Files of one partition rewritten together, in the order their rows are written (typed `Add`s:
    plain frozen data, so a bin can cross processes)."""

    partition_values: Mapping[str, str | None]
    files: tuple[Add, ...]

    @property
    def size(self) -> int:
        """Total bytes of the bin's input files."""
        return sum(a.size for a in self.files)


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


def filter_expr(partition_filter: PartitionFilter) -> tuple[Expr | None, str | None]:
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


def _pack(indices: np.ndarray, sizes: np.ndarray, target: int) -> list[list[int]]:
    """First-fit decreasing: bins hold at most ``target`` bytes (a larger file gets a bin of its own).
    Files of equal size keep their table order (a stable sort)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in indices[np.argsort(-sizes[indices], kind="stable")].tolist():
        size = int(sizes[i])
        for b, free in enumerate(room):
            if size <= free:
                bins[b].append(i)
                room[b] -= size
                break
        else:
            bins.append([i])
            room.append(target - size)
    return bins


def _partition_groups(adds: pa.Table, rows: np.ndarray,
                      values: list[dict[str, str | None]] | None) -> list[tuple[tuple, np.ndarray]]:
    """The rows of each partition (by its sorted partition values), partitions in the order of the text of
    their key. ``values`` are the rows' partition values when already decoded."""
    pv = adds.column("partitionValues")
    entries = sum(c.offsets[-1].as_py() - c.offsets[0].as_py() for c in pv.chunks if len(c))
    if not entries:
        return [((), rows)] if len(rows) else []  # unpartitioned: one group, no per-row work
    if values is None:
        values = [dict(v or []) for v in pv.to_pylist()]
    groups: dict[tuple, list[int]] = {}
    for i in rows.tolist():
        key = tuple(sorted(values[i].items(), key=lambda kv: kv[0]))
        groups.setdefault(key, []).append(i)
    return [(key, np.asarray(idx, dtype=np.int64)) for key, idx in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _zordered(adds: pa.Table, cols: tuple[str, ...], has_dv: np.ndarray) -> np.ndarray:
    """Per file: it already sits in a Z-cube of ``cols`` with no deletions since."""
    want = orjson.dumps(list(cols)).decode()
    tags = adds.column("tags")
    if adds.num_rows == 0 or tags.null_count == adds.num_rows:
        return np.zeros(adds.num_rows, dtype=bool)
    key = av.scalar(ZCUBE_ZORDER_BY, pa.string())
    tagged = av.fill_null(pc.equal(pc.map_lookup(tags, key, "first"), av.scalar(want, pa.string())), False)
    return np.asarray(av.to_numpy(tagged), dtype=bool) & ~has_dv


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
    expr, text = filter_expr(partition_filter)
    adds = snapshot.adds
    rows = np.arange(adds.num_rows, dtype=np.int64)
    values: list[dict[str, str | None]] | None = None
    if expr is not None:
        unknown = columns(expr) - set(snapshot.partition_columns)
        if unknown:
            raise InvalidArgumentError(
                f"partition filters may only use partition columns {snapshot.partition_columns}; got {sorted(unknown)}")
        values = [dict(pv or []) for pv in adds.column("partitionValues").to_pylist()]
        rows = rows[partition_mask(values, expr, snapshot.schema, snapshot.partition_columns,
                                   snapshot.column_mapping_mode)]
    sizes = np.asarray(av.to_numpy(av.fill_null(adds.column("size"), 0)), dtype=np.int64)
    has_dv = np.asarray(av.to_numpy(adds.column("deletionVector").is_valid()), dtype=bool)
    clustered = _zordered(adds, cols, has_dv) if cols else None
    planned: list[tuple[dict[str, str | None], list[int]]] = []
    considered = 0
    for key, idx in _partition_groups(adds, rows, values):
        if clustered is not None:
            considered += len(idx)
            if not clustered[idx].all():
                planned.append((dict(key), idx.tolist()))
            continue
        small = idx[(sizes[idx] < min_file_size) | has_dv[idx]]
        considered += len(small)
        for group in _pack(small, sizes, target_size):
            if len(group) > 1 or has_dv[group[0]]:
                planned.append((dict(key), group))
    # Typed actions only for the files acted on, built in one pass.
    flat = [i for _, group in planned for i in group]
    typed = table_to_adds(adds.take(av.array(flat, pa.int64()))) if flat else []
    bins, start = [], 0
    for pv, group in planned:
        bins.append(Bin(pv, tuple(typed[start:start + len(group)])))
        start += len(group)
    return OptimizePlan(snapshot.version, tuple(bins), target_size, cols, text, considered, considered - len(flat))
