"""The snapshot's active files as one Arrow table (PROTOCOL.md "Add File and Remove File", "Checkpoint
Schema").

Active `add` actions are held column-wise, not as Python objects, so that a checkpoint of 100,000 files
loads, filters and plans at Arrow speed. Columns use the protocol's names. Rows from a checkpoint are
conformed to `ADD_TYPE` (missing fields read as null); rows from JSON commits are built from typed `Add`
actions. Checkpoints that carry only `stats_parsed` get their `stats` column filled as JSON text.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakehouse.errors import LakehouseError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add, Remove
from lakehouse.protocol.arrow_conform import conform_array, physical_name
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.dv import z85_encode
from lakehouse.protocol.partitions import parse_partition_value
from lakehouse.protocol.properties import ColumnMappingMode
from lakehouse.protocol.replay import Replay, canonical_path, file_keys, key_string
from lakehouse.protocol.schema import MapType, PrimitiveType, StructField, StructType, empty_table, to_arrow_type
from lakehouse.protocol.stats import encode_stats, format_date, format_timestamp_us
from lakehouse.protocol.variant_shredding import unshred

_S = PrimitiveType("string")
_L = PrimitiveType("long")
_I = PrimitiveType("integer")
_STRMAP = MapType(_S, _S, True)

DV_TYPE = StructType(
    (
        StructField("storageType", _S),
        StructField("pathOrInlineDv", _S),
        StructField("offset", _I),
        StructField("sizeInBytes", _I),
        StructField("cardinality", _L),
        StructField("maxRowIndex", _L),
    )
)

ADD_TYPE = StructType(
    (
        StructField("path", _S),
        StructField("partitionValues", _STRMAP),
        StructField("size", _L),
        StructField("modificationTime", _L),
        StructField("dataChange", PrimitiveType("boolean")),
        StructField("stats", _S),
        StructField("tags", _STRMAP),
        StructField("deletionVector", DV_TYPE),
        StructField("baseRowId", _L),
        StructField("defaultRowCommitVersion", _L),
        StructField("clusteringProvider", _S),
    )
)

ADD_SCHEMA = pa.schema([pa.field(f.name, to_arrow_type(f.type)) for f in ADD_TYPE.fields])

REMOVE_TYPE = StructType(
    (
        StructField("path", _S),
        StructField("deletionTimestamp", _L),
        StructField("dataChange", PrimitiveType("boolean")),
        StructField("size", _L),
        StructField("partitionValues", _STRMAP),
        StructField("deletionVector", DV_TYPE),
    )
)

REMOVE_SCHEMA = pa.schema([pa.field(f.name, to_arrow_type(f.type)) for f in REMOVE_TYPE.fields])


def _dv_row(dv: Any) -> dict[str, Any] | None:
    if dv is None:
        return None
    return {"storageType": dv.storage_type, "pathOrInlineDv": dv.path_or_inline_dv, "offset": dv.offset,
            "sizeInBytes": dv.size_in_bytes, "cardinality": dv.cardinality, "maxRowIndex": dv.max_row_index}


def _string_map(mappings: list[Mapping[str, str | None]], maps: pa.DataType) -> pa.Array:
    """A map<string, string> array from non-null mappings, built from flat keys and values: converting a
    list of item lists costs seven times more, and a 100,000-file commit pays it on every load."""
    offsets = [0]
    keys: list[str] = []
    values: list[str | None] = []
    for m in mappings:
        keys.extend(m)
        values.extend(m.values())
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(av.array(offsets, pa.int32()), av.array(keys, pa.string()),
                                   av.array(values, pa.string()), type=maps)


def adds_to_table(adds: Iterable[Add]) -> pa.Table:
    """Build the file table from typed `Add` actions, column by column (no per-row dicts)."""
    adds = list(adds)
    maps = ADD_SCHEMA.field("partitionValues").type
    columns = [
        av.array([a.path for a in adds], pa.string()),
        _string_map([a.partition_values for a in adds], maps),
        av.array([a.size for a in adds], pa.int64()),
        av.array([a.modification_time for a in adds], pa.int64()),
        av.array([a.data_change for a in adds], pa.bool_()),
        av.array([a.stats for a in adds], pa.string()),
        pa.nulls(len(adds), maps) if all(a.tags is None for a in adds) else
        av.array([list(a.tags.items()) if a.tags is not None else None for a in adds], maps),
        pa.nulls(len(adds), ADD_SCHEMA.field("deletionVector").type) if all(a.deletion_vector is None for a in adds)
        else av.array([_dv_row(a.deletion_vector) for a in adds], ADD_SCHEMA.field("deletionVector").type),
        av.array([a.base_row_id for a in adds], pa.int64()),
        av.array([a.default_row_commit_version for a in adds], pa.int64()),
        av.array([a.clustering_provider for a in adds], pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=ADD_SCHEMA)


def table_to_adds(table: pa.Table) -> list[Add]:
    """The typed view of file-table rows: one `Add` per row, built here and nowhere else.

    Operations plan on the Arrow table (filters, sorts, joins at Arrow speed) and turn only the rows they act
    on into actions, so no operation handles camelCase dict rows.
    """
    out = []
    for row in table.select([f.name for f in ADD_TYPE.fields]).to_pylist():
        dv = row["deletionVector"]
        tags = row["tags"]
        out.append(Add(
            path=row["path"], partition_values=dict(row["partitionValues"] or []), size=row["size"],
            modification_time=row["modificationTime"] or 0, data_change=bool(row["dataChange"]),
            stats=row["stats"], tags=dict(tags) if tags else None,
            deletion_vector=decode_deletion_vector(dv) if dv else None, base_row_id=row["baseRowId"],
            default_row_commit_version=row["defaultRowCommitVersion"],
            clustering_provider=row["clusteringProvider"],
        ))
    return out


def remove_for(add: Add, deletion_timestamp: int, *, data_change: bool = True) -> Remove:
    """The tombstone that removes the logical file ``add`` (its DV included, so the right file goes)."""
    return Remove(
        path=add.path, data_change=data_change, deletion_timestamp=deletion_timestamp,
        extended_file_metadata=True, partition_values=dict(add.partition_values), size=add.size,
        stats=add.stats, tags=dict(add.tags) if add.tags else None, deletion_vector=add.deletion_vector,
        base_row_id=add.base_row_id, default_row_commit_version=add.default_row_commit_version,
    )


def removes_to_table(removes: Iterable[Any]) -> pa.Table:
    """Build the tombstone table from typed `Remove` actions, column by column (encoding each action back
    to JSON and converting the dicts cost about 8 µs a tombstone: 40 ms to open a log after an overwrite
    of 5,000 files)."""
    rs = list(removes)
    n = len(rs)
    maps = REMOVE_SCHEMA.field("partitionValues").type
    pv = [r.partition_values for r in rs]
    missing = [m is None for m in pv]
    partition_values = _string_map([m or {} for m in pv], maps)
    if any(missing):
        partition_values = pa.MapArray.from_arrays(partition_values.offsets, partition_values.keys,
                                                   partition_values.items, type=maps, mask=av.array(missing, pa.bool_()))
    dv_type = REMOVE_SCHEMA.field("deletionVector").type
    dvs = [r.deletion_vector for r in rs]
    deletion_vectors = av.array([_dv_row(d) for d in dvs], dv_type) if any(d is not None for d in dvs) \
        else pa.nulls(n, dv_type)
    return pa.Table.from_arrays([
        av.array([r.path for r in rs], pa.string()),
        av.array([r.deletion_timestamp for r in rs], pa.int64()),
        av.array([r.data_change for r in rs], pa.bool_()),
        av.array([r.size for r in rs], pa.int64()),
        partition_values,
        deletion_vectors,
    ], schema=REMOVE_SCHEMA)


def json_read_options(size: int) -> pj.ReadOptions:
    """Arrow JSON read options for ``size`` bytes of the file table's JSON (add lines, stats texts): blocks
    small enough that every core gets about two (Arrow parses one block per thread; its 1 MiB default
    leaves a core idle below a few MiB)."""
    return pj.ReadOptions(block_size=min(1 << 20, max(64 << 10, size // (2 * pa.cpu_count()))))


def _plain(arr: pa.Array) -> pa.Array:
    """``stats_parsed`` with dates and timestamps as their JSON text, formatted from integers: Python's
    datetime cannot hold years after 9999 (or before 1), which Delta allows."""
    t = arr.type
    if _is_variant_stat(t):
        return _variant_z85(arr)
    if pa.types.is_struct(t):
        children = [_plain(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(children, names=[t.field(i).name for i in range(t.num_fields)],
                                          mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_timestamp(t):
        micros = arr.cast(pa.timestamp("us", tz=t.tz), safe=False).cast(pa.int64())
        return av.array([None if v is None else format_timestamp_us(v, ntz=t.tz is None) for v in micros.to_pylist()],
                        pa.string())
    if pa.types.is_date(t):
        days = arr.cast(pa.date32()).cast(pa.int32())
        return av.array([None if v is None else format_date(v) for v in days.to_pylist()], pa.string())
    return arr


def _is_variant_stat(t: pa.DataType) -> bool:
    """Whether a `stats_parsed` field is a variant column's bound (PROTOCOL.md "Statistics for Variant
    Columns": a Parquet variant, `metadata` plus `value` and/or a shredded `typed_value`)."""
    if not pa.types.is_struct(t):
        return False
    names = {t.field(i).name for i in range(t.num_fields)}
    return ("metadata" in names and bool(names & {"value", "typed_value"})
            and names <= {"metadata", "value", "typed_value"}
            and (pa.types.is_binary(t.field("metadata").type) or pa.types.is_large_binary(t.field("metadata").type)))


def _variant_z85(arr: pa.Array) -> pa.Array:
    """Variant bounds as the Z85 text of metadata + value the JSON `stats` hold (`variant_stats.decode`);
    bounds that do not unshred become null (unknown: they prune nothing)."""
    try:
        plain = unshred(arr, "stats_parsed") if arr.type.get_field_index("typed_value") >= 0 else arr
        metas, values = plain.field("metadata").to_pylist(), plain.field("value").to_pylist()
    except (LakehouseError, KeyError, pa.ArrowInvalid):
        return pa.nulls(len(arr), pa.string())
    valid = arr.is_valid().to_pylist()
    out = []
    for ok, meta, value in zip(valid, metas, values):
        raw = (meta or b"") + (value or b"")
        out.append(z85_encode(raw + b"\0" * (-len(raw) % 4)) if ok and meta and value else None)
    return av.array(out, pa.string())


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(timezone.utc).replace(tzinfo=None)
        return v.isoformat(timespec="milliseconds") + "Z"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    raise TypeError(type(v).__name__)


def struct_rows_to_table(struct: pa.Array | pa.ChunkedArray, target: StructType) -> pa.Table:
    """Conform the non-null rows of a checkpoint action column (a struct) to ``target`` as a table."""
    if isinstance(struct, pa.ChunkedArray):
        struct = struct.combine_chunks() if struct.num_chunks != 1 else struct.chunk(0)
    if struct.null_count:
        struct = struct.filter(struct.is_valid())
    conformed = conform_array(struct, target, "none")
    table = pa.Table.from_struct_array(conformed) if len(conformed) else empty_table(pa.schema(
        [pa.field(f.name, to_arrow_type(f.type)) for f in target.fields]))
    if target is ADD_TYPE and pa.types.is_struct(struct.type) and struct.type.get_field_index("stats_parsed") >= 0:
        table = _fill_stats_from_parsed(table, struct.field("stats_parsed"))
    return table


def _fill_stats_from_parsed(table: pa.Table, parsed: pa.Array) -> pa.Table:
    stats = table.column("stats")
    need = pc.and_(stats.is_null(), parsed.is_valid())
    if not pc.any(need).as_py():
        return table
    values = stats.to_pylist()
    idx = np.flatnonzero(av.to_numpy(need))
    sub = _plain(parsed.take(av.array(idx, pa.int64()))).to_pylist()
    for i, row in zip(idx, sub):
        try:
            values[int(i)] = encode_stats(row)  # decimals with their exact digits
        except TypeError:
            values[int(i)] = orjson.dumps(row, default=_json_default).decode()
    return table.set_column(table.schema.get_field_index("stats"), "stats", av.array(values, pa.string()))


def drop_seen(table: pa.Table, seen: set[tuple[str, str | None]], *, seen_strings: pa.Array | None = None) -> pa.Table:
    """Rows of ``table`` whose logical file was not already decided by a newer action: one of ``seen`` or,
    when given, of ``seen_strings`` (`key_string`s: `Replay.seen_key_strings`, which covers ``seen``)."""
    if seen_strings is not None:
        if table.num_rows == 0 or len(seen_strings) == 0:
            return table
        mask = pc.invert(pc.is_in(file_keys(table), value_set=seen_strings))
        return table if pc.all(mask).as_py() else table.filter(mask)
    if not seen or table.num_rows == 0:
        return table
    paths = table.column("path")
    # Cheap pre-filter on the raw path: most newer actions (appends) name files the base never had.
    if not pc.any(pc.match_substring(paths, "%")).as_py():
        candidates = pc.is_in(paths, value_set=av.array(list({k[0] for k in seen}), pa.string()))
        if not pc.any(candidates).as_py():
            return table
    keys = file_keys(table)
    mask = pc.invert(pc.is_in(keys, value_set=av.array([key_string(k) for k in seen], pa.string())))
    return table.filter(mask)


def replayed_adds(replay: Replay) -> pa.Table:
    """The surviving adds of ``replay`` as one file table, in replay order: typed adds and the add tables
    of column-wise decoded commits interleaved where they were fed."""
    if not replay.add_tables:
        return adds_to_table(replay.adds)
    pieces, start = [], 0
    for position, table in replay.add_tables:
        if position > start:
            pieces.append(adds_to_table(replay.adds[start:position]))
        pieces.append(table)
        start = position
    if start < len(replay.adds) or not pieces:
        pieces.append(adds_to_table(replay.adds[start:]))
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def _map_lookup(maps: pa.MapArray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``maps``: whether ``key`` is present and the index of its last entry (``dict(items)``
    keeps the last of repeated keys) in the flattened items."""
    offsets = av.to_numpy(maps.offsets)
    hits = np.flatnonzero(np.asarray(av.to_numpy(pc.equal(maps.keys, av.scalar(key, maps.keys.type))), dtype=bool))
    hits = hits[(hits >= offsets[0]) & (hits < offsets[-1])]  # a sliced array's keys hold other rows too
    rows = np.searchsorted(offsets, hits, side="right") - 1
    present = np.zeros(len(maps), dtype=bool)
    index = np.full(len(maps), -1, dtype=np.int64)
    if len(hits):
        last = np.append(rows[1:] != rows[:-1], True)
        present[rows[last]] = True
        index[rows[last]] = hits[last]
    if maps.null_count:
        present &= np.asarray(av.to_numpy(maps.is_valid()), dtype=bool)
    return present, index


def partition_values_table(column: pa.ChunkedArray | pa.Array, fields: list[StructField],
                           mode: ColumnMappingMode) -> pa.Table:
    """`expr.partition_table` of the file table's partitionValues column (one typed column per field, for
    evaluating partition predicates), without a Python object per file:
    each column's raw value found in bulk (the physical key first, then the logical name), and only the
    distinct strings parsed, in order of first appearance (so a bad value raises the same error)."""
    maps = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(maps)
    items = maps.items
    cols = {}
    for f in fields:
        key = physical_name(f, mode)
        present, index = _map_lookup(maps, key)
        if key != f.name:
            by_name, name_index = _map_lookup(maps, f.name)
            index = np.where(present, index, np.where(by_name, name_index, -1))
            present = present | by_name
        raw = items.take(av.array(index, pa.int64(), mask=~present)) if n else av.array([], pa.string())
        encoded = pc.dictionary_encode(raw, null_encoding="encode")
        values = [parse_partition_value(v, f.type, column=f.name) for v in encoded.dictionary.to_pylist()]
        cols[f.name] = av.array(values, type=to_arrow_type(f.type)).take(encoded.indices)
    return pa.table(cols) if cols else pa.table({"__rows__": pa.nulls(n, pa.int8())})
