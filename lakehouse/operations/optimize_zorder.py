"""Z-order execution of one OPTIMIZE bin: a two-pass external sort along a Z-order curve.

A sample of the Z columns sets per-column rank boundaries and the output-file cut points; each input
file is then split by Z key into per-output spill files on local disk, and each spill is sorted and
written alone. Memory holds one input file or one output file, never a partition. Rows of equal Z key
keep their input order (stable sorts).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from lakehouse.operations.optimize_plan import Bin
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add
from lakehouse.protocol.schema import StructField
from lakehouse.operations.row_ids import carried_fields, to_hidden
from lakehouse.scan.read import FileTask, read_file
from lakehouse.snapshot import Snapshot

#: Rows sampled per partition to set rank boundaries and output cut points.
SAMPLE_ROWS = 200_000


def file_task(add: Add) -> FileTask:
    """The read task of one active file (its deletion vector applied on read)."""
    return FileTask(add.path, dict(add.partition_values), add.deletion_vector, add.base_row_id,
                    add.default_row_commit_version)


def zorder_into(snapshot: Snapshot, item: Bin, z_order_by: Sequence[str], target_size: int,
                write: Callable[[pa.Table], None]) -> int:
    """Hand the bin's rows to ``write`` (a data file writer's) in Z-order of ``z_order_by``, about
    ``target_size`` bytes of input at a time; returns the rows written."""
    by_name = {f.name: f for f in snapshot.schema.fields}
    zfields = [by_name[c] for c in z_order_by]
    bounds, cuts = _z_boundaries(snapshot, item, zfields, target_size)
    fields = list(snapshot.schema.fields) + carried_fields(snapshot)  # row ids kept (row tracking)
    spill_dir = tempfile.mkdtemp(prefix="lakehouse-zorder-")
    spills: dict[int, tuple[pa.NativeFile, ipc.RecordBatchFileWriter]] = {}
    rows = 0
    try:
        schema = None
        for add in item.files:
            table = to_hidden(read_file(snapshot, file_task(add), fields), snapshot)
            if table.num_rows == 0:
                continue
            rows += table.num_rows
            keys = z_keys([table.column(f.name) for f in zfields], bounds)
            table = table.append_column("__zkey__", av.array(keys, pa.uint64()))
            schema = table.schema
            bucket = np.searchsorted(cuts, keys, side="right")
            order = np.argsort(bucket, kind="stable")
            sorted_buckets = bucket[order]
            starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
            ends = np.r_[starts[1:], len(order)]
            for s, e in zip(starts, ends):
                b = int(sorted_buckets[s])
                if b not in spills:
                    sink = pa.OSFile(os.path.join(spill_dir, f"{b:06d}.arrow"), "wb")
                    spills[b] = (sink, ipc.new_file(sink, schema))
                spills[b][1].write_table(table.take(av.array(order[s:e])))
            del table
        for b in sorted(spills):
            sink, w = spills.pop(b)
            w.close()
            sink.close()
            with pa.memory_map(os.path.join(spill_dir, f"{b:06d}.arrow")) as source:
                part = ipc.open_file(source).read_all()
            idx = np.argsort(av.to_numpy(part.column("__zkey__")), kind="stable")
            write(part.take(av.array(idx)).drop_columns(["__zkey__"]))
            del part
            os.remove(os.path.join(spill_dir, f"{b:06d}.arrow"))
    finally:
        for sink, w in spills.values():
            try:
                w.close()
            finally:
                sink.close()
        shutil.rmtree(spill_dir, ignore_errors=True)
    return rows


def _z_boundaries(snapshot: Snapshot, item: Bin, zfields: list[StructField],
                  target_size: int) -> tuple[list[pa.Array], np.ndarray]:
    """Per-column rank boundaries and the Z-key cut points between output files, from a sample."""
    per_file = max(1, SAMPLE_ROWS // max(1, len(item.files)))
    samples: list[list[pa.Array]] = [[] for _ in zfields]
    for add in item.files:
        table = read_file(snapshot, file_task(add), zfields)
        n = table.num_rows
        if n == 0:
            continue
        take = av.array(np.linspace(0, n - 1, num=min(n, per_file)).astype(np.int64))
        for i, f in enumerate(zfields):
            samples[i].append(table.column(f.name).combine_chunks().take(take))
    bits = _bits_per_column(len(zfields))
    bounds = [_quantile_bounds(pa.concat_arrays(s) if s else av.array([], type=None), 1 << bits) for s in samples]
    if not samples[0]:
        return bounds, np.zeros(0, dtype=np.uint64)
    sample_keys = np.sort(z_keys([pa.concat_arrays(s) for s in samples], bounds))
    outputs = max(1, math.ceil(item.size / target_size))
    cuts = np.unique(sample_keys[(np.arange(1, outputs) * len(sample_keys)) // outputs]) if outputs > 1 else np.zeros(0)
    return bounds, np.asarray(cuts, dtype=np.uint64)


def _bits_per_column(k: int) -> int:
    return max(1, min(16, 63 // max(1, k)))


def _quantile_bounds(values: pa.Array, buckets: int) -> pa.Array:
    """Up to ``buckets - 1`` distinct, sorted values splitting ``values`` into equal-count ranges."""
    values = values.drop_null() if values.null_count else values
    if len(values) == 0:
        return values
    ordered = values.take(pc.array_sort_indices(values))
    n = len(ordered)
    picks = np.unique((np.arange(1, buckets) * n) // buckets)
    picks = picks[picks < n]
    return pc.unique(ordered.take(av.array(picks)))


def rank_by_bounds(values: pa.Array | pa.ChunkedArray, bounds: pa.Array) -> np.ndarray:
    """For each value, how many boundaries are <= it (nulls: 0), for any Arrow type with an order.

    Bounds and values are sorted together (Arrow's sort is stable, and the bounds come first, so a
    value equal to a boundary lands after it); the running count of boundaries seen gives the rank.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n, nb = len(values), len(bounds)
    if nb == 0 or n == 0:
        return np.zeros(n, dtype=np.uint64)
    combined = pa.concat_arrays([bounds.cast(values.type), values])
    order = av.to_numpy(pc.array_sort_indices(combined, null_placement="at_start"))
    is_bound = order < nb
    seen = np.cumsum(is_bound)
    ranks = np.empty(n, dtype=np.uint64)
    value_pos = ~is_bound
    ranks[order[value_pos] - nb] = seen[value_pos]
    if values.null_count:
        ranks[np.asarray(av.to_numpy(values.is_null()), dtype=bool)] = 0
    return ranks


def z_keys(cols: Sequence[pa.Array | pa.ChunkedArray], bounds: Sequence[pa.Array]) -> np.ndarray:
    """Interleave the bits of each column's rank (most significant first) into one uint64 Z key."""
    bits = _bits_per_column(len(cols))
    ranks = [rank_by_bounds(c, b) for c, b in zip(cols, bounds)]
    n = len(ranks[0]) if ranks else 0
    key = np.zeros(n, dtype=np.uint64)
    one = np.uint64(1)
    for b in range(bits - 1, -1, -1):
        shift = np.uint64(b)
        for r in ranks:
            key = (key << one) | ((r >> shift) & one)
    return key
