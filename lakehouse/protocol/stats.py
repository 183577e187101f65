"""Per-file statistics for `add.stats` (PROTOCOL.md "Per-file Statistics", table properties
`delta.dataSkippingNumIndexedCols` and `delta.dataSkippingStatsColumns`).

Collected incrementally batch by batch so a file of any size is summarised in bounded memory. Written
as Spark does, with two deliberate choices that keep every bound valid for every reader:

- strings are cut to a 32-character prefix; a cut maximum gets U+10FFFF appended so it stays an upper
  bound in UTF-8 byte order;
- timestamps are written at millisecond precision: the minimum rounded down, the maximum rounded *up*
  (Spark rounds both down and compensates on read; readers that do not compensate, delta-rs among
  them, would otherwise skip files wrongly);
- float columns holding NaN get no min/max (NaN sorts above every number in Spark SQL, so no finite
  bound is valid); binary, array and map columns get only `nullCount`.
Keys are physical column names (column mapping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructField, StructType

STRING_PREFIX = 32
# The largest code point: in UTF-8 byte order (how Spark and delta-rs compare strings) U+FFFF would sort
# below every 4-byte character and stop being an upper bound.
_TIE_BREAKER = "\U0010FFFF"
_MINMAX_TYPES = {"long", "integer", "short", "byte", "float", "double", "string", "date", "timestamp", "timestamp_ntz", "boolean"}


@dataclass
class _Leaf:
    path: tuple[str, ...]  # logical path into the batch
    physical: tuple[str, ...]  # path in the stats JSON
    dtype: DataType
    null_count: int = 0
    lo: Any = None
    hi: Any = None
    nan: bool = False
    minmax: bool = True
    unknown: bool = False  # a row group without usable Parquet min/max for this column


def stats_leaves(schema: StructType, physical: dict[tuple[str, ...], tuple[str, ...]],
                 num_indexed: int, stats_columns: Iterable[str] | None, skip: set[str]) -> list[tuple[tuple[str, ...], DataType]]:
    """Logical leaf paths that get statistics, in schema order (partition columns in ``skip`` excluded)."""
    leaves: list[tuple[tuple[str, ...], DataType]] = []

    def walk(prefix: tuple[str, ...], t: DataType) -> None:
        if isinstance(t, StructType):
            for f in t.fields:
                walk(prefix + (f.name,), f.type)
        else:
            leaves.append((prefix, t))

    for f in schema.fields:
        if f.name not in skip:
            walk((f.name,), f.type)
    if stats_columns is not None:
        wanted = [tuple(c.split(".")) for c in stats_columns]
        return [(p, t) for p, t in leaves if any(p[: len(w)] == w for w in wanted)]
    if num_indexed < 0:
        return leaves
    return leaves[:num_indexed]


@dataclass
class StatsCollector:
    """Accumulates numRecords, nullCount, minValues and maxValues over the batches of one file.

    With ``bounds_from_parquet`` the batches only yield null counts and NaN flags (cheap: Arrow keeps
    null counts); min/max come from the Parquet footer of the written file (`absorb_parquet`), which the
    encoder computed anyway, instead of a second pass over the data.
    """

    leaves: list[_Leaf] = field(default_factory=list)
    num_records: int = 0
    bounds_from_parquet: bool = False

    @staticmethod
    def for_schema(schema: StructType, physical: dict[tuple[str, ...], tuple[str, ...]], *, num_indexed: int = 32,
                   stats_columns: Iterable[str] | None = None, skip: set[str] = frozenset(),
                   bounds_from_parquet: bool = False) -> "StatsCollector":  # type: ignore[assignment]
        """A collector for the statistics columns of ``schema`` (``physical`` maps logical to physical paths)."""
        leaves = []
        for path, dtype in stats_leaves(schema, physical, num_indexed, stats_columns, skip):
            minmax = isinstance(dtype, DecimalType) or (isinstance(dtype, PrimitiveType) and dtype.name in _MINMAX_TYPES)
            leaves.append(_Leaf(path, physical.get(path, path), dtype, minmax=minmax))
        return StatsCollector(leaves, bounds_from_parquet=bounds_from_parquet)

    def absorb_parquet(self, metadata: Any) -> None:
        """Take min/max from a written file's Parquet footer (`pyarrow.parquet.FileMetaData`), whose column
        paths are the physical leaf paths (logical ones without column mapping). A row group holding values
        but no min/max makes the bound unknown."""
        by_path = {".".join(leaf.physical): leaf for leaf in self.leaves if leaf.minmax}
        for g in range(metadata.num_row_groups):
            rg = metadata.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                leaf = by_path.get(col.path_in_schema)
                if leaf is None:
                    continue
                st = col.statistics
                if st is None or not st.has_min_max:
                    if st is None or st.null_count is None or st.num_values > 0:
                        leaf.unknown = True
                    continue
                lo, hi = st.min, st.max
                if leaf.lo is None or lo < leaf.lo:
                    leaf.lo = lo
                if leaf.hi is None or hi > leaf.hi:
                    leaf.hi = hi

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Fold one batch (logical column names) into the statistics."""
        self.num_records += batch.num_rows
        if batch.num_rows == 0:
            return
        for leaf in self.leaves:
            arr: Any = batch.column(leaf.path[0])
            for part in leaf.path[1:]:
                arr = pc.struct_field(arr, part)
            leaf.null_count += arr.null_count
            if not leaf.minmax or arr.null_count == len(arr):
                continue
            if isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in ("float", "double"):
                if pc.any(pc.is_nan(arr)).as_py():
                    leaf.nan = True
                    continue
            if self.bounds_from_parquet:
                continue
            mm = pc.min_max(arr).as_py()
            lo, hi = mm["min"], mm["max"]
            if lo is not None and (leaf.lo is None or lo < leaf.lo):
                leaf.lo = lo
            if hi is not None and (leaf.hi is None or hi > leaf.hi):
                leaf.hi = hi

    def to_dict(self) -> dict[str, Any]:
        """The statistics as the nested dict `add.stats` holds."""
        mins: dict[str, Any] = {}
        maxs: dict[str, Any] = {}
        nulls: dict[str, Any] = {}
        for leaf in self.leaves:
            _put(nulls, leaf.physical, leaf.null_count)
            if leaf.minmax and not leaf.nan and not leaf.unknown and leaf.lo is not None:
                _put(mins, leaf.physical, _bound(leaf.lo, leaf.dtype, upper=False))
                _put(maxs, leaf.physical, _bound(leaf.hi, leaf.dtype, upper=True))
        return {"numRecords": self.num_records, "minValues": mins, "maxValues": maxs, "nullCount": nulls, "tightBounds": True}

    def to_json(self) -> str:
        """The statistics as the JSON string stored in `add.stats`."""
        return encode_stats(self.to_dict())


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _bound(value: Any, dtype: DataType, *, upper: bool) -> Any:
    if isinstance(value, str):
        if len(value) <= STRING_PREFIX:
            return value
        return value[:STRING_PREFIX] + _TIE_BREAKER if upper else value[:STRING_PREFIX]
    if isinstance(value, datetime):
        ntz = isinstance(dtype, PrimitiveType) and dtype.name == "timestamp_ntz"
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        floor = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
        if upper and floor != value:
            try:
                floor += timedelta(milliseconds=1)
            except OverflowError:
                pass  # within a millisecond of the largest datetime: nothing larger can be written
        text = floor.isoformat(timespec="milliseconds")
        return text if ntz else text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return value  # encoded specially by encode_stats
    return value


def _encode(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(orjson.dumps(k).decode() + ":" + _encode(x) for k, x in v.items()) + "}"
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return orjson.dumps(v).decode()
    if isinstance(v, Decimal):
        return format(v, "f")  # exact digits: a float would round a 38-digit bound
    if isinstance(v, float):
        if math.isinf(v):
            return '"Infinity"' if v > 0 else '"-Infinity"'
        return repr(v)
    raise TypeError(f"cannot encode {type(v).__name__} in stats")


def encode_stats(stats: dict[str, Any]) -> str:
    """Serialise a stats dict to JSON with exact decimals."""
    return _encode(stats)


def physical_paths(schema: StructType, mode: str) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Map every logical struct path to its physical path under column mapping ``mode``."""
    out: dict[tuple[str, ...], tuple[str, ...]] = {}

    def walk(lp: tuple[str, ...], pp: tuple[str, ...], fields: tuple[StructField, ...]) -> None:
        for f in fields:
            lpath, ppath = lp + (f.name,), pp + (physical_name(f, mode),)  # type: ignore[arg-type]
            out[lpath] = ppath
            if isinstance(f.type, StructType):
                walk(lpath, ppath, f.type.fields)

    walk((), (), schema.fields)
    return out

