"""Per-file statistics for `add.stats` (PROTOCOL.md "Per-file Statistics", table properties
`delta.dataSkippingNumIndexedCols` and `delta.dataSkippingStatsColumns`).

Collected incrementally batch by batch so a file of any size is summarised in bounded memory. Written
as Spark does, with two deliberate choices that keep every bound valid for every reader:

- strings are cut to a 32-character prefix; a cut maximum gets U+10FFFF appended so it stays an upper
  bound in UTF-8 byte order;
- timestamps are written at millisecond precision: the minimum rounded down, the maximum rounded *up*
  (Spark rounds both down and compensates on read; readers that do not compensate, delta-rs among
  them, would otherwise skip files wrongly). Timestamps and dates are kept as integers (microseconds,
  days) from the Parquet footer to the JSON text, never as Python ``datetime``: Delta allows years
  0000-9999 and beyond, and out-of-range years are written in ISO 8601 expanded form
  (``+10000-01-01T00:00:00.000Z``, ``-0001-...``) as Spark and delta-rs write them;
- float columns holding NaN get no min/max (NaN sorts above every number in Spark SQL, so no finite
  bound is valid); binary, array and map columns get only `nullCount`.
Keys are physical column names (column mapping).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import AbstractSet, Any, Iterable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.properties import ColumnMappingMode
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

    @property
    def temporal(self) -> str | None:
        """"timestamp", "timestamp_ntz" or "date" when the bounds are kept as integers."""
        t = self.dtype
        return t.name if isinstance(t, PrimitiveType) and t.name in ("timestamp", "timestamp_ntz", "date") else None


def stats_leaves(schema: StructType, physical: dict[tuple[str, ...], tuple[str, ...]],
                 num_indexed: int, stats_columns: Iterable[str] | None, skip: AbstractSet[str]) -> list[tuple[tuple[str, ...], DataType]]:
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
                   stats_columns: Iterable[str] | None = None, skip: AbstractSet[str] = frozenset(),
                   bounds_from_parquet: bool = False) -> "StatsCollector":
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
                if leaf.temporal:
                    bounds = _raw_temporal(st, leaf.temporal)
                    if bounds is None:
                        leaf.unknown = True
                        continue
                    lo, hi = bounds
                else:
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
            if leaf.temporal:
                # Integers (days or microseconds), not datetime: Python's datetime stops at year 9999.
                arr = arr.cast(pa.int32()) if leaf.temporal == "date" else _as_micros(arr)
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


_UNITS = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1, "nanoseconds": None}


def _as_micros(arr: pa.Array) -> pa.Array:
    """A timestamp array as int64 microseconds (nanoseconds floored; both bounds stay valid after the
    millisecond rounding of `_bound`, which is coarser)."""
    unit = arr.type.unit
    ints = arr.cast(pa.int64())
    if unit == "ns":
        q = pc.divide(ints, av.scalar(1000))  # Arrow's integer division truncates toward zero: floor it
        return pc.if_else(pc.greater(pc.multiply(q, av.scalar(1000)), ints), pc.subtract(q, av.scalar(1)), q)
    return pc.multiply_checked(ints, {"s": 1_000_000, "ms": 1000, "us": 1}[unit])


def _raw_temporal(st: Any, kind: str) -> tuple[int, int] | None:
    """The Parquet statistics' physical min/max of a date or timestamp column as integer days or
    microseconds (None for layouts without an integer form, such as INT96)."""
    if kind == "date":
        return (st.min_raw, st.max_raw) if st.physical_type == "INT32" else None
    if st.physical_type != "INT64" or st.logical_type is None:
        return None
    try:
        unit = orjson.loads(st.logical_type.to_json()).get("timeUnit")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if unit not in _UNITS:
        return None
    lo, hi = int(st.min_raw), int(st.max_raw)
    scale = _UNITS[unit]
    if scale is None:  # nanoseconds
        return lo // 1000, -(-hi // 1000)
    return lo * scale, hi * scale


# -- ISO 8601 dates and timestamps as integers (proleptic Gregorian, any year) -----------------------------
# Civil-from-days and days-from-civil after H. Hinnant's public-domain algorithms: pure integer
# arithmetic, valid far beyond Python's datetime range (years 1-9999).

def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of the proleptic Gregorian date y-m-d (year 0 is 1 BC)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    """The proleptic Gregorian (year, month, day) ``z`` days after 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _year(y: int) -> str:
    # ISO 8601 expanded years, as java.time (Spark) and chrono (delta-rs) print them.
    if y > 9999:
        return f"+{y}"
    return f"{y:04d}" if y >= 0 else f"-{-y:04d}"


def format_date(days: int) -> str:
    """A date (days since the epoch) as Delta stats write it: ``2024-01-31``, ``+10000-01-01``."""
    y, m, d = civil_from_days(days)
    return f"{_year(y)}-{m:02d}-{d:02d}"


def format_timestamp_ms(micros: int, *, upper: bool, ntz: bool) -> str:
    """A timestamp (microseconds since the epoch, UTC) at millisecond precision, rounded down for a
    minimum and up for a maximum, as ``2024-01-31T12:00:00.123Z`` (no ``Z`` for timestamp_ntz)."""
    ms = -(-micros // 1000) if upper else micros // 1000
    return format_timestamp_us(ms * 1000, ntz=ntz)[:-3 if ntz else -4] + ("" if ntz else "Z")


def format_timestamp_us(micros: int, *, ntz: bool) -> str:
    """A timestamp (microseconds since the epoch, UTC) exactly, as ``2024-01-31T12:00:00.123456Z``."""
    days, rest = divmod(micros, 86_400_000_000)
    y, m, d = civil_from_days(days)
    hh, rest = divmod(rest, 3_600_000_000)
    mm, rest = divmod(rest, 60_000_000)
    ss, frac = divmod(rest, 1_000_000)
    text = f"{_year(y)}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{frac:06d}"
    return text if ntz else text + "Z"


_ISO = re.compile(r"([+-]?)(\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                  r"(Z|[+-]\d{2}:?\d{2})?")


def parse_iso_micros(text: str) -> int | None:
    """Microseconds since the epoch (UTC) of an ISO 8601 date or timestamp of any year, expanded years
    (``+10000-...``, ``-0001-...``) and nanosecond fractions (floored) included; None if malformed."""
    m = _ISO.fullmatch(text.strip())
    if m is None:
        return None
    sign, y, mo, d, hh, mi, ss, frac, zone = m.groups()
    if (len(y) > 4 and not sign) or not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return None
    days = days_from_civil(-int(y) if sign == "-" else int(y), int(mo), int(d))
    if civil_from_days(days)[1:] != (int(mo), int(d)):
        return None  # a day the month does not have
    secs = days * 86400 + int(hh or 0) * 3600 + int(mi or 0) * 60 + int(ss or 0)
    if zone and zone != "Z":
        off = int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
        secs -= off if zone[0] == "+" else -off
    return secs * 1_000_000 + int((frac or "").ljust(6, "0")[:6])


def _bound(value: Any, dtype: DataType, *, upper: bool) -> Any:
    if isinstance(value, str):
        if len(value) <= STRING_PREFIX:
            return value
        if not upper:
            return value[:STRING_PREFIX]
        # prefix + U+10FFFF is an upper bound unless the value goes on with U+10FFFF itself (then the bound
        # would be a proper prefix of it, so smaller): cut after that run instead, or keep the whole value.
        cut = STRING_PREFIX
        while cut < len(value) and value[cut] == _TIE_BREAKER:
            cut += 1
        return value if cut == len(value) else value[:cut] + _TIE_BREAKER
    kind = dtype.name if isinstance(dtype, PrimitiveType) else None
    if kind == "date":
        return format_date(int(value))
    if kind in ("timestamp", "timestamp_ntz"):
        return format_timestamp_ms(int(value), upper=upper, ntz=kind == "timestamp_ntz")
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


def physical_paths(schema: StructType, mode: ColumnMappingMode) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Map every logical struct path to its physical path under column mapping ``mode``."""
    out: dict[tuple[str, ...], tuple[str, ...]] = {}

    def walk(lp: tuple[str, ...], pp: tuple[str, ...], fields: tuple[StructField, ...]) -> None:
        for f in fields:
            lpath, ppath = lp + (f.name,), pp + (physical_name(f, mode),)
            out[lpath] = ppath
            if isinstance(f.type, StructType):
                walk(lpath, ppath, f.type.fields)

    walk((), (), schema.fields)
    return out


# Decimals: a writer that goes through a double (delta-rs: ``i128 as f64 / 10f64.powi(scale)``, printed
# shortest, or ``as i64`` for scale 0) is off by a few units in the last place of the double, and clamps
# scale-0 values beyond int64 to its limits. A relative margin of 2^-40 (thousands of double ulps) covers
# every such error; exact bounds (Spark, lakehouse) lose only that sliver of precision.
_DOUBLE_EXACT_PRECISION = 15  # DBL_DIG: decimals of up to 15 digits survive a round trip through a double
_MARGIN = Decimal(2) ** -40
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def widen_decimal(arr: pa.Array, dtype: DataType, *, upper: bool) -> pa.Array:
    """Decimal bounds made sound whatever wrote them (non-decimal arrays are returned unchanged).

    A bound may be exact only if it is not a value a double printer could have produced: a column of
    at most 15 digits (its values survive a double exactly), a scale-0 value below 2^53 in magnitude, or more
    than 17 significant digits that are not exactly a double. Every other bound is widened outward by
    the relative margin and rounded outward to the column's scale; a maximum at int64's maximum or a
    minimum at int64's minimum is unknown (delta-rs clamps there), as is one past the column's range.
    Computed once per distinct value.
    """
    if not isinstance(dtype, DecimalType) or dtype.precision <= _DOUBLE_EXACT_PRECISION or arr.null_count == len(arr):
        return arr
    uniq = pc.unique(arr)
    step = Decimal(1).scaleb(-dtype.scale)
    limit = Decimal(10) ** (dtype.precision - dtype.scale)
    out = [None if x is None else _widen_one(x, dtype.scale, step, limit, upper) for x in uniq.to_pylist()]
    return av.array(out, arr.type).take(pc.index_in(arr, uniq))


def _widen_one(x: Decimal, scale: int, step: Decimal, limit: Decimal, upper: bool) -> Decimal | None:
    if (upper and x == _INT64_MAX) or (not upper and x == _INT64_MIN):
        return None
    significant = len(bytes(x.as_tuple().digits).rstrip(b"\0"))  # trailing zeros carry no digits
    exact = (scale == 0 and x.copy_abs() < 2**53) or (significant > 17 and Decimal(float(x)) != x
                                                  and x not in (_INT64_MIN, _INT64_MAX))
    if exact:
        # copy_abs is exact (abs rounds to the context's 28 digits); past the column's range: Arrow's JSON
        # reader lets it in.
        return x if x.copy_abs() < limit else None
    # localcontext(prec=...) needs Python 3.11; 3.10 (supported) takes only a context.
    with localcontext() as ctx:
        ctx.prec = 100
        wide = (x + abs(x) * _MARGIN).quantize(step, ROUND_CEILING) if upper else \
            (x - abs(x) * _MARGIN).quantize(step, ROUND_FLOOR)
    return None if abs(wide) >= limit else wide
