"""Data skipping: which files may hold rows matching a predicate, decided for all files at once from
partition values and per-file statistics (PROTOCOL.md "Per-file Statistics", "Partition Value
Serialization").

Every file gets a verdict "may match" (read it) or "cannot match" (skip it). The rule that must never
break: a file holding a row for which the predicate is TRUE is never skipped. Unknowns are therefore
"may match": missing stats, a column without min/max, a NaN bound, a string maximum that may have been
truncated, a comparison this module does not model. The work is vectorised with Arrow compute over a
table of parsed stats (one row per file), never a Python loop per file.

Rules, on the predicate in negation normal form:
- partition columns: the atom is evaluated exactly on the file's partition values (NULL = no match);
- ``col = v``: ``min <= v <= max``; ``<``/``<=``: ``min < v`` / ``min <= v``; ``>``/``>=`` on ``max``;
  ``!=``: not (``min = max = v``), only for non-float columns with tight bounds;
- ``IS NULL``: ``nullCount > 0``; ``IS NOT NULL``: ``nullCount < numRecords`` (both valid with the wide
  bounds of files with deletion vectors, PROTOCOL.md's two special cases);
- ``IN``: any ``=``; ``NOT IN``: may match;
- bounds that may not be exact are widened before any comparison (`parse_stats`), so every consumer
  (reads, DELETE/UPDATE/MERGE candidates, Dask divisions) gets sound ones: timestamp maxima by 1 ms
  (Spark truncates them to milliseconds; minima truncated down stay lower bounds); string maxima of 32
  or more characters are unbounded (Spark and others truncate them, with a tie-breaker that is not an
  upper bound in UTF-8 order); decimal bounds that may have gone through a double (delta-rs writes
  decimals as JSON doubles, e.g. ``1.0`` for ``1.000000000000000001``, ``1.2345678901234567e+19``, and
  saturates scale-0 decimals at the int64 limits) are widened outward by far more than a double's
  rounding error, see `widen_decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Sequence

import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.expr import (
    And,
    Arith,
    Cast,
    Cmp,
    CmpOp,
    Col,
    Expr,
    Func,
    In,
    IsNull,
    Lit,
    Not,
    Or,
    coerce_literal,
    columns,
    negation_normal_form,
    to_arrow,
)
from lakehouse.protocol.arrow_plans import filter_rows, project
from lakehouse.protocol.expr_types import type_of
from lakehouse.protocol.schema import (
    ArrayType, DataType, DecimalType, MapType, PrimitiveType, StructField, StructType, to_arrow_type,
)
from lakehouse.protocol.file_table import json_read_options, partition_values_table
from lakehouse.protocol.properties import ColumnMappingMode
from lakehouse.protocol.stats import parse_iso_micros, widen_decimal
from lakehouse.protocol import variant_stats

STRING_PREFIX = 32
_MINMAX = {"long", "integer", "short", "byte", "float", "double", "string", "date", "timestamp", "timestamp_ntz"}


@dataclass(frozen=True)
class Leaf:
    """A column the predicate needs stats for: logical path, physical path in the stats, type."""

    path: tuple[str, ...]
    physical: tuple[str, ...]
    dtype: DataType

    @property
    def has_minmax(self) -> bool:
        """Whether min/max bounds of this type are comparable here."""
        return isinstance(self.dtype, DecimalType) or (isinstance(self.dtype, PrimitiveType) and self.dtype.name in _MINMAX)


@dataclass(frozen=True)
class StatsColumns:
    """Parsed stats of the files: numRecords, tightBounds and per-leaf min/max/nullCount arrays."""

    num_records: pa.Array
    tight: pa.Array
    mins: Mapping[tuple[str, ...], pa.Array]
    maxs: Mapping[tuple[str, ...], pa.Array]
    nulls: Mapping[tuple[str, ...], pa.Array]


def leaves_for(expr: Expr, schema: StructType, mode: ColumnMappingMode, skip: set[str]) -> list[Leaf]:
    """The data-column leaves (struct paths included) that ``expr`` compares."""
    out: dict[tuple[str, ...], Leaf] = {}

    def visit(e: Expr) -> None:
        found = variant_stats.extraction(e)  # `v:a::int`: the variant column's path bounds
        if found:
            visit(found[0])
        elif isinstance(e, Col) and e.name not in skip:
            dtype: Any = schema
            phys: list[str] = []
            for part in e.path:
                if not isinstance(dtype, StructType) or part not in dtype.names:
                    return
                f = dtype.field(part)
                phys.append(physical_name(f, mode))
                dtype = f.type
            if isinstance(dtype, (StructType, ArrayType, MapType)):
                return  # stats keep no count or bounds for a whole struct, array or map (`st IS NULL`)
            out[e.path] = Leaf(e.path, tuple(phys), dtype)
        elif isinstance(e, Cmp):
            for side in (e.left, e.right):
                visit(side if isinstance(side, Col) or variant_stats.extraction(side) else monotonic_column(side) or side)
        elif isinstance(e, (And, Or)):
            for i in e.items:
                visit(i)
        elif isinstance(e, (Not, IsNull, In)):
            visit(e.item)

    visit(expr)
    return list(out.values())


def _json_type(leaf: Leaf) -> pa.DataType:
    t = leaf.dtype
    if variant_stats.is_variant(t):
        return pa.string()  # Z85 text of a variant (variant_stats)
    if isinstance(t, PrimitiveType) and t.name == "date":
        return pa.timestamp("s")  # Arrow's JSON reader parses ISO dates only as timestamps
    if isinstance(t, PrimitiveType) and t.name == "timestamp":
        return pa.timestamp("us", tz="UTC")
    return to_arrow_type(t)


def _nest(paths: Sequence[tuple[tuple[str, ...], pa.DataType]]) -> pa.StructType:
    tree: dict[str, Any] = {}
    for path, t in paths:
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = t

    def build(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(k, build(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return build(tree)


def _dig(arr: pa.Array, path: tuple[str, ...]) -> pa.Array:
    for part in path:
        if arr.type.get_field_index(part) < 0:
            return pa.nulls(len(arr))
        arr = pc.struct_field(arr, part)
    return arr


def parse_stats(stats: pa.Array | pa.ChunkedArray, leaves: Sequence[Leaf]) -> StatsColumns:
    """Parse the `add.stats` JSON of every file into typed columns for ``leaves`` (vectorised).

    Files without stats get nulls. Should the vectorised parser reject the batch (values of mixed JSON
    types, such as "NaN" strings where numbers are expected), each file is parsed on its own and a value
    that does not fit its column becomes null (unknown).
    """
    n = len(stats)
    minmax = [(lf.physical, _json_type(lf)) for lf in leaves if lf.has_minmax or variant_stats.is_variant(lf.dtype)]
    counts = [(lf.physical, pa.int64()) for lf in leaves]
    fields = [("numRecords", pa.int64()), ("tightBounds", pa.bool_())]
    if minmax:
        fields += [("minValues", _nest(minmax)), ("maxValues", _nest(minmax))]
    if counts:
        fields.append(("nullCount", _nest(counts)))
    schema = pa.schema(fields)
    texts = av.fill_null(pc.cast(stats, pa.string()), "{}")
    texts = pc.if_else(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), av.scalar(0)), av.scalar("{}"), texts)
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    try:
        # One newline-delimited buffer joined by Arrow (no Python string per file); past 2 GiB of text the
        # 32-bit offsets of `string` would overflow.
        wide = texts.nbytes + n >= 2**31 - 1
        lists = (pa.LargeListArray.from_arrays(av.array([0, n], pa.int64()), texts.cast(pa.large_string())) if wide
                 else pa.ListArray.from_arrays(av.array([0, n], pa.int32()), texts))
        newline = av.scalar("\n", pa.large_string() if wide else pa.string())
        buf = pc.binary_join(lists, newline)[0].as_buffer() if n else b""
        table = pj.read_json(pa.BufferReader(buf), read_options=json_read_options(len(buf)),
                             parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
        if table.num_rows != n:
            raise ValueError("row count mismatch")
    except (pa.ArrowInvalid, ValueError):
        table = _parse_slowly(texts.to_pylist(), schema)
    cols = {name: (table.column(name).combine_chunks() if table.num_columns and name in table.column_names
                   else pa.nulls(n, t)) for name, t in fields}
    mins, maxs, nulls = {}, {}, {}
    for lf in leaves:
        nulls[lf.path] = _dig(cols["nullCount"], lf.physical) if counts else pa.nulls(n, pa.int64())
        if variant_stats.is_variant(lf.dtype) and minmax:
            mins[lf.path] = _clean(_dig(cols["minValues"], lf.physical), pa.string())
            maxs[lf.path] = _clean(_dig(cols["maxValues"], lf.physical), pa.string())
        elif lf.has_minmax:
            target = to_arrow_type(lf.dtype)
            mins[lf.path] = widen_decimal(_clean(_dig(cols["minValues"], lf.physical), target), lf.dtype, upper=False)
            maxs[lf.path] = widen_decimal(_clean(_dig(cols["maxValues"], lf.physical), target), lf.dtype, upper=True)
    return StatsColumns(cols["numRecords"], cols["tightBounds"], mins, maxs, nulls)


def _clean(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), av.scalar(None, arr.type), arr)  # a NaN bound bounds nothing
    return arr.cast(target) if arr.type != target else arr


def _parse_slowly(texts: list[str], schema: pa.Schema) -> pa.Table:
    rows = []
    for text in texts:
        try:
            # Numbers as Decimal: the exact digits decide whether a decimal bound is exact (`widen_decimal`).
            rows.append(_fit(json.loads(text, parse_float=Decimal), pa.struct(list(schema))))
        except (TypeError, ValueError, RecursionError):
            rows.append(None)
    return pa.Table.from_struct_array(av.array([r or {} for r in rows], pa.struct(list(schema))))


def _fit(value: Any, t: pa.DataType) -> Any:
    """Keep only the parts of a decoded JSON value that convert to ``t``; the rest becomes null.

    Timestamps stay integers in the type's unit (ISO 8601 of any year, expanded ``+10000-...`` and
    nanosecond fractions included: Python's datetime would stop at year 9999)."""
    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            return None
        return {t.field(i).name: _fit(value.get(t.field(i).name), t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_timestamp(t):
        micros = parse_iso_micros(value) if isinstance(value, str) else None
        return None if micros is None else micros // {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 1}[t.unit] * (
            1000 if t.unit == "ns" else 1)
    if isinstance(value, Decimal) and not pa.types.is_decimal(t):
        value = float(value)
    try:
        return av.scalar(value, type=t).as_py()
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


# `lit op x` read as `x op' lit`.
_MIRROR: dict[CmpOp, CmpOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=", "<=>": "<=>"}


def _lit_scalar(leaf: Leaf, value: Any) -> pa.Scalar | None:
    """The literal at the column's type, or None when it has no exact equivalent (skipping then says
    "may match")."""
    if leaf.dtype == PrimitiveType("float") and isinstance(value, (float, Decimal)) and not isinstance(value, bool):
        # compared as doubles (Spark's widening, as the row filter does); the bounds are widened to match
        scalar = av.scalar(float(value), pa.float64())
        return None if scalar.as_py() != scalar.as_py() else scalar
    try:
        coerced = coerce_literal(value, leaf.dtype, column=".".join(leaf.path))
        if isinstance(coerced, float) and isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in (
                "long", "integer", "short", "byte"):
            return None
        scalar = av.scalar(coerced, type=to_arrow_type(leaf.dtype))
    except (InvalidArgumentError, pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if scalar.is_valid and pa.types.is_floating(scalar.type) and scalar.as_py() != scalar.as_py():
        return None  # a NaN literal: comparisons with it are decided by no bound
    return scalar


def _upper(leaf: Leaf, arr: pa.Array) -> pa.Array:
    """Maxima made safe to compare: widened for truncated timestamps, unknown for long strings."""
    if isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in ("timestamp", "timestamp_ntz"):
        return pc.add(arr, av.scalar(timedelta(milliseconds=1), pa.duration("us")))
    if isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name == "string":
        return pc.if_else(pc.greater_equal(pc.utf8_length(arr), STRING_PREFIX), av.scalar(None, arr.type), arr)
    return arr


class _Evaluator:
    def __init__(self, n: int, stats: StatsColumns | None, leaves: dict[tuple[str, ...], Leaf],
                 parts: pa.Table | None, part_schema: StructType | None, partition_columns: set[str],
                 memo: dict[int, tuple[Expr, np.ndarray]] | None = None):
        self.n, self.stats, self.leaves = n, stats, leaves
        self.parts, self.part_schema, self.partition_columns = parts, part_schema, partition_columns
        # Partition atoms by identity (the atom is kept, so its id is not reused): the stats pass
        # re-evaluates the tree the partition pass did.
        self.memo: dict[int, tuple[Expr, np.ndarray]] = {} if memo is None else memo

    def maybe(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def eval(self, e: Expr) -> np.ndarray:
        if isinstance(e, And):
            out = self.eval(e.items[0])
            for i in e.items[1:]:
                out = out & self.eval(i)
            return out
        if isinstance(e, Or):
            out = self.eval(e.items[0])
            for i in e.items[1:]:
                out = out | self.eval(i)
            return out
        if isinstance(e, Lit):
            return self.maybe() if e.value is not False and e.value is not None else np.zeros(self.n, dtype=bool)
        try:
            return self._eval_atom(e)
        except (InvalidArgumentError, pa.ArrowException, OverflowError, TypeError, ValueError):
            return self.maybe()  # an atom skipping cannot evaluate decides nothing

    def _eval_atom(self, e: Expr) -> np.ndarray:
        cols = columns(e)
        if cols and cols <= self.partition_columns and self.parts is not None and self.part_schema is not None:
            if id(e) not in self.memo:
                mask = av.fill_null(_evaluate(self.parts, to_arrow(e, self.part_schema)), False)
                self.memo[id(e)] = (e, np.asarray(av.to_numpy(mask), dtype=bool))
            return self.memo[id(e)][1]
        if self.stats is None or (cols & self.partition_columns):
            return self.maybe()
        return self._atom(e)

    def _leaf(self, e: Expr) -> Leaf | None:
        return self.leaves.get(e.path) if isinstance(e, Col) else None

    def _atom(self, e: Expr) -> np.ndarray:
        s = self.stats
        assert s is not None
        if isinstance(e, IsNull):
            leaf = self._leaf(e.item)
            if leaf is None:
                return self.maybe()
            nulls = s.nulls[leaf.path]
            if e.negated:
                return _known(pc.invert(pc.equal(nulls, s.num_records)))
            return _known(pc.greater(nulls, av.scalar(0)))
        if isinstance(e, In):
            if e.negated:
                return self.maybe()
            out = np.zeros(self.n, dtype=bool)
            for value in e.values:
                out |= self._atom(Cmp("=", e.item, value))
            return out
        if isinstance(e, Cmp) and e.op == "<=>":
            # NULL-safe equality: `x <=> NULL` is `x IS NULL`; against a value it is TRUE exactly where `=` is.
            column, other = (e.right, e.left) if isinstance(e.left, Lit) else (e.left, e.right)
            if isinstance(other, Lit) and other.value is None:
                return self._atom(IsNull(column)) if not isinstance(column, Lit) else self.maybe()
            return self._atom(Cmp("=", column, other))
        if isinstance(e, Cmp):
            left, right, op = e.left, e.right, e.op
            if isinstance(left, Lit) and not isinstance(right, Lit):
                left, right = right, left
                op = _MIRROR[op]
            if isinstance(right, Lit) and not isinstance(left, Col) and right.value is not None:
                found = variant_stats.extraction(left)
                return self._variant(*found, op, right) if found else self._monotonic(left, op, right)
            leaf = self._leaf(left)
            if leaf is None or not isinstance(right, Lit) or not leaf.has_minmax:
                return self.maybe()
            if right.value is None:
                return np.zeros(self.n, dtype=bool)  # a comparison with NULL is never TRUE
            v = _lit_scalar(leaf, right.value)
            if v is None:
                return self.maybe()
            lo, hi = s.mins[leaf.path], _upper(leaf, s.maxs[leaf.path])
            if v.type != lo.type:  # a float column against a double literal
                lo, hi = lo.cast(v.type), hi.cast(v.type)
            if op == "=":
                # Kleene AND: a known-false lower bound decides even when the maximum is unknown.
                return _known(pc.and_kleene(pc.less_equal(lo, v), pc.greater_equal(hi, v)))
            if op == "<":
                return _known(pc.less(lo, v))
            if op == "<=":
                return _known(pc.less_equal(lo, v))
            if op in (">", ">=") and _is_float(leaf):
                # NaN sorts above every number (Spark) but is left out of min/max: a NaN row may match.
                return self.maybe()
            if op == ">":
                return _known(pc.greater(hi, v))
            if op == ">=":
                return _known(pc.greater_equal(hi, v))
            if isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in ("float", "double", "timestamp", "timestamp_ntz"):
                # NaN rows satisfy !=, and truncated timestamp bounds hide the exact values.
                return self.maybe()
            tight = av.fill_null(s.tight, True)
            # ``hi``, not the raw maximum: a truncated string maximum equal to ``v`` proves nothing.
            same = pc.and_(pc.and_(pc.equal(lo, v), pc.equal(hi, v)), tight)
            return _known(pc.invert(same))
        return self.maybe()


    def _variant(self, column: Col, path: str, to: DataType, op: str, lit: Lit) -> np.ndarray:
        """``CAST(variant_get(column, path) AS to) op literal`` from the variant column's bounds for that
        path (`variant_stats.bounds`: only where converting them is exact and order-preserving)."""
        s, leaf = self.stats, self.leaves.get(column.path)
        if s is None or leaf is None or leaf.path not in s.mins or op == "!=":
            return self.maybe()
        found = variant_stats.bounds(s.mins[leaf.path], s.maxs[leaf.path], path, to)
        probe = Leaf(column.path, column.path, to)
        v = _lit_scalar(probe, lit.value)
        if found is None or v is None or _is_float(probe):
            return self.maybe()  # floating point: NaN sorts above every bound
        lo, hi = found[0], _upper(probe, found[1])
        if v.type != lo.type:
            lo, hi = lo.cast(v.type), hi.cast(v.type)
        if op == "=":
            return _known(pc.and_kleene(pc.less_equal(lo, v), pc.greater_equal(hi, v)))
        compare = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}[op]
        return _known(compare(lo if op in ("<", "<=") else hi, v))

    def _monotonic(self, value: Expr, op: str, lit: Lit) -> np.ndarray:
        """``f(col) op literal`` for a non-decreasing ``f`` (year, date_trunc, CAST between numbers and
        dates, col + literal...): every row's ``f(col)`` lies within [f(min), f(max)], so the file is
        compared as if those were its bounds."""
        s = self.stats
        column = monotonic_column(value)
        leaf = self.leaves.get(column.path) if column is not None else None
        if s is None or column is None or leaf is None or not leaf.has_minmax or op == "!=":
            return self.maybe()
        if not (isinstance(leaf.dtype, DecimalType)
                or isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in _ORDERED):
            return self.maybe()  # text bounds: '10' < '9', so no function of a string is monotonic here
        schema = StructType((StructField(column.name, leaf.dtype),))
        arrow = to_arrow(value, schema)
        bounds = pa.table({column.name: s.mins[leaf.path]}), pa.table(
            {column.name: _upper(leaf, s.maxs[leaf.path])})
        lo, hi = (project(t, arrow).combine_chunks() for t in bounds)
        result = type_of(value, schema)
        if result is None:
            return self.maybe()
        probe = Leaf(column.path, column.path, result)
        v = _lit_scalar(probe, lit.value)
        if v is None or (op in (">", ">=", "=") and _is_float(probe)):
            return self.maybe()  # NaN results sort above every number and are in no bound
        if op == "=":
            return _known(pc.and_kleene(pc.less_equal(lo, v), pc.greater_equal(hi, v)))
        compare = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}[op]
        return _known(compare(lo if op in ("<", "<=") else hi, v))


# Functions that never decrease as their first column argument grows (the others are literals).
_MONOTONIC = {"year", "date_trunc", "to_date", "floor", "ceil", "date_add", "unix_timestamp", "to_timestamp"}
_ORDERED = {"byte", "short", "integer", "long", "float", "double", "date", "timestamp", "timestamp_ntz"}


def monotonic_column(value: Expr) -> Col | None:
    """The column ``value`` is a non-decreasing function of, or None: the functions above, CAST between
    numbers, dates and timestamps, and ``col + literal`` / ``col - literal``."""
    if isinstance(value, Col):
        return value if len(value.path) == 1 else None
    # A composition of non-decreasing functions is non-decreasing (`year(ts)` is year(to_date(ts))).
    if isinstance(value, Func) and value.name in _MONOTONIC:
        inner = [a for a in value.args if not isinstance(a, Lit)]
        if len(inner) == 1 and (value.name != "date_trunc" or value.args[1] is inner[0]):
            return monotonic_column(inner[0])
        return None
    if isinstance(value, Cast):
        to = value.to
        ordered = isinstance(to, DecimalType) or (isinstance(to, PrimitiveType) and to.name in _ORDERED)
        return monotonic_column(value.item) if ordered else None
    if isinstance(value, Arith) and value.op in ("+", "-") and isinstance(value.right, Lit):
        return monotonic_column(value.left)
    return None


def _is_float(leaf: Leaf) -> bool:
    return isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name in ("float", "double")


def _evaluate(table: pa.Table, expr: Any) -> pa.Array:
    indexed = table.append_column("__row__", av.array(np.arange(table.num_rows)))
    hits = av.to_numpy(filter_rows(indexed, expr).column("__row__"))
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[hits] = True
    return av.array(mask)


def _known(arr: pa.Array) -> np.ndarray:
    """A boolean array where null (unknown) means "may match"."""
    return np.asarray(av.to_numpy(av.fill_null(arr, True)), dtype=bool)


@dataclass(frozen=True)
class SkippingResult:
    """Per-file verdicts: after partition pruning and after stats skipping."""

    after_partitions: np.ndarray
    after_stats: np.ndarray


def _float_columns(schema: StructType) -> set[str]:
    return {f.name for f in schema.fields if isinstance(f.type, PrimitiveType) and f.type.name in ("float", "double")}


def _safe_nnf(expr: Expr, floats: set[str], *, nan_is_max: bool) -> Expr:
    """Negation normal form for skipping. Comparisons follow Spark's total order on floating point (NaN
    largest, NaN = NaN), under which pushing NOT down is exact. With ``nan_is_max`` the rows are filtered
    by polars, whose float semantics skipping does not model: every float comparison is "may match"."""
    nnf = negation_normal_form(expr)
    if not nan_is_max or not floats:
        return nnf

    def loosen(e: Expr) -> Expr:
        if isinstance(e, (And, Or)):
            return type(e)(tuple(loosen(i) for i in e.items))
        return Lit(True) if isinstance(e, (Cmp, In)) and columns(e) & floats else e

    return loosen(nnf)


def skip_files(adds: pa.Table, predicate: Expr, schema: StructType, partition_columns: Sequence[str],
               mode: ColumnMappingMode = "none", *, nan_is_max: bool = False) -> SkippingResult:
    """Decide, for every row of the active-file table, whether the file may hold matching rows.

    ``nan_is_max`` is for predicates whose rows are filtered with polars' ordering (NaN above every
    number) rather than IEEE comparisons.
    """
    n = adds.num_rows
    nnf = _safe_nnf(predicate, _float_columns(schema), nan_is_max=nan_is_max)
    pcols = set(partition_columns)
    parts = part_schema = None
    if pcols & columns(nnf):
        fields = [schema.field(c) for c in partition_columns]
        parts = partition_values_table(adds.column("partitionValues"), fields, mode)
        part_schema = StructType(tuple(fields))
    memo: dict[int, tuple[Expr, np.ndarray]] = {}
    partition_only = _Evaluator(n, None, {}, parts, part_schema, pcols, memo).eval(nnf)
    leaves = leaves_for(nnf, schema, mode, pcols)
    if not leaves:
        return SkippingResult(partition_only, partition_only)
    # Stats decide only among the files partition pruning kept (after_stats = partition_only AND the
    # stats verdict, and every verdict is per file), so only their stats are parsed.
    kept = np.flatnonzero(partition_only)
    by_path = {lf.path: lf for lf in leaves}
    if len(kept) == n:
        full = _Evaluator(n, parse_stats(adds.column("stats"), leaves), by_path, parts, part_schema, pcols,
                          memo).eval(nnf)
        return SkippingResult(partition_only, partition_only & full)
    after_stats = np.zeros(n, dtype=bool)
    if len(kept):
        take = av.array(kept)
        sub_memo = {k: (e, mask[kept]) for k, (e, mask) in memo.items()}
        after_stats[kept] = _Evaluator(len(kept), parse_stats(adds.column("stats").take(take), leaves), by_path,
                                       parts.take(take) if parts is not None else None, part_schema, pcols,
                                       sub_memo).eval(nnf)
    return SkippingResult(partition_only, after_stats)


def live_rows(stats: pa.Array | pa.ChunkedArray, deletion_vectors: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Rows each file holds after its deletion vector (`numRecords` minus the DV's cardinality); null
    where the stats do not say."""
    records = parse_stats(stats, []).num_records
    dv = deletion_vectors.combine_chunks() if isinstance(deletion_vectors, pa.ChunkedArray) else deletion_vectors
    if dv.null_count == len(dv):
        return records
    deleted = av.fill_null(pc.struct_field(dv, "cardinality"), 0)
    return pc.subtract(records, pc.cast(deleted, pa.int64()))
