"""Typed file statistics and partition values for checkpoints (PROTOCOL.md "Checkpoint Schema":
`add.stats_parsed`, `add.partitionValues_parsed`; table properties `delta.checkpoint.writeStatsAsStruct`
and `delta.checkpoint.writeStatsAsJson`).

`stats_parsed` mirrors the JSON `stats` of each add as a struct typed by the table schema: `numRecords`,
`minValues`, `maxValues`, `nullCount` (and `tightBounds` when some file records it), nested as the schema
nests and keyed by physical names under column mapping. It covers the columns that carry statistics
(`delta.dataSkippingNumIndexedCols` / `delta.dataSkippingStatsColumns`, partition columns excluded).
A variant column's bounds (Z85 text in JSON) are written as PROTOCOL.md types them in Parquet, unshredded
variants (struct<metadata, value>); its nullCount is a count like any other.
`partitionValues_parsed` holds each partition value typed, keyed by physical name.

Pure Arrow work on the file table; nothing here touches storage.
"""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.partitions import parse_partition_value
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol import variant_stats
from lakehouse.protocol.schema import DecimalType, PrimitiveType, StructType, to_arrow_type
from lakehouse.protocol.skipping import Leaf, parse_stats
from lakehouse.protocol.stats import physical_paths, stats_leaves


def _stats_leaves(schema: StructType, partition_columns: Sequence[str], mode: ColumnMappingMode,
                  properties: TableProperties) -> list[Leaf]:
    physical = physical_paths(schema, mode)
    leaves = stats_leaves(schema, physical, properties.data_skipping_num_indexed_cols,
                          properties.data_skipping_stats_columns, set(partition_columns))
    # Structs, arrays and maps keep no bounds or counts in the stats: only primitive leaves and variants
    # (whose bounds, Z85 text in JSON, are Parquet variants here: `_variant_bounds`).
    return [Leaf(path, physical[path], dtype) for path, dtype in leaves
            if isinstance(dtype, (DecimalType, PrimitiveType))]


def _is_variant(leaf: Leaf) -> bool:
    return isinstance(leaf.dtype, PrimitiveType) and leaf.dtype.name == "variant"


def _variant_bounds(texts: pa.Array) -> pa.StructArray:
    """A variant column's Z85 bounds (JSON stats) as PROTOCOL.md types them in Parquet: an unshredded
    variant, struct<metadata, value>; a bound that does not decode to an object is left null."""
    pairs = [variant_stats.split(t) if t is not None and variant_stats.decode(t) is not None else None
             for t in texts.to_pylist()]
    metas = av.array([p[0] if p else b"" for p in pairs], pa.binary())
    values = av.array([p[1] if p else b"" for p in pairs], pa.binary())
    # Nullable members: the struct sits under `stats_parsed`, `minValues`..., each of which may be null.
    return pa.StructArray.from_arrays([metas, values], names=["metadata", "value"],
                                      mask=av.array([p is None for p in pairs], pa.bool_()))


def _nest(columns: Sequence[tuple[tuple[str, ...], pa.Array]], length: int,
          mask: pa.Array | None = None) -> pa.StructArray:
    """One struct array from leaf arrays keyed by path, nested as the paths nest, in first-seen order."""
    groups: dict[str, list[tuple[tuple[str, ...], pa.Array]]] = {}
    for path, arr in columns:
        groups.setdefault(path[0], []).append((path[1:], arr))
    names, arrays = [], []
    for name, members in groups.items():
        names.append(name)
        if len(members) == 1 and not members[0][0]:
            arrays.append(members[0][1])
        else:
            arrays.append(_nest([(p, a) for p, a in members if p], length))
    return pa.StructArray.from_arrays(arrays, names=names, mask=mask)


def stats_parsed(stats: pa.Array | pa.ChunkedArray, schema: StructType, partition_columns: Sequence[str],
                 mode: ColumnMappingMode, properties: TableProperties) -> pa.StructArray:
    """The `stats_parsed` column for the adds whose JSON `stats` are ``stats`` (null where a file has none)."""
    stats = stats.combine_chunks() if isinstance(stats, pa.ChunkedArray) else stats
    n = len(stats)
    leaves = _stats_leaves(schema, partition_columns, mode, properties)
    cols = parse_stats(stats, leaves)
    fields: list[tuple[tuple[str, ...], pa.Array]] = [(("numRecords",), cols.num_records.cast(pa.int64()))]
    if cols.tight.null_count < n:
        fields.append((("tightBounds",), cols.tight))
    for section, values in (("minValues", cols.mins), ("maxValues", cols.maxs)):
        fields += [((section, *lf.physical), _variant_bounds(values[lf.path]) if _is_variant(lf) else values[lf.path])
                   for lf in leaves if lf.path in values]
    fields += [(("nullCount", *lf.physical), cols.nulls[lf.path].cast(pa.int64())) for lf in leaves]
    return _nest(fields, n, mask=pc.is_null(stats))


def partition_values_parsed(partition_values: pa.Array | pa.ChunkedArray, schema: StructType,
                            partition_columns: Sequence[str], mode: ColumnMappingMode) -> pa.StructArray | None:
    """The `partitionValues_parsed` column (None for an unpartitioned table: an empty struct has no
    Parquet form)."""
    if not partition_columns:
        return None
    values = partition_values.combine_chunks() if isinstance(partition_values, pa.ChunkedArray) else partition_values
    names, arrays = [], []
    for column in partition_columns:
        field = schema.field(column)
        key = physical_name(field, mode)
        raw = pc.map_lookup(values, av.scalar(key, pa.string()), "first") if len(values) else av.array([], pa.string())
        # Few distinct values per column: decode each once, then take.
        encoded = raw.dictionary_encode()
        decoded = av.array([parse_partition_value(v, field.type, column=column) for v in encoded.dictionary.to_pylist()],
                           to_arrow_type(field.type))
        names.append(key)
        arrays.append(decoded.take(encoded.indices) if len(decoded) else pa.nulls(len(values), to_arrow_type(field.type)))
    return pa.StructArray.from_arrays(arrays, names=names)
