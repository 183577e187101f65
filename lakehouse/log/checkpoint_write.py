"""Writing checkpoints and `_last_checkpoint` (PROTOCOL.md "Checkpoints", "Checkpoint Schema", "Last
Checkpoint File", "V2 Spec").

A checkpoint is written from plain data (`CheckpointState`: protocol, metadata, the active-files table,
tombstones, app transactions, domain metadata), not from a snapshot object: the snapshot layer passes its
state in (`lakehouse.snapshot.checkpoint`). It holds one action per row. File actions go from the Arrow
file table straight into the Parquet struct columns, so a checkpoint of any size never becomes Python
objects.

- Classic (V1) checkpoints by default; a UUID-named V2 checkpoint when the table has the `v2Checkpoint`
  feature and `delta.checkpointPolicy=v2`. Sidecar policy: a V2 checkpoint whose file actions (adds and
  kept tombstones) exceed `SIDECAR_ROWS` puts them in sidecar files of at most `SIDECAR_ROWS` rows each
  under `_delta_log/_sidecars/` (written first), and the top-level file holds the other actions and one
  `sidecar` row per sidecar; a smaller one keeps everything in the top-level file.
- `delta.checkpoint.writeStatsAsStruct=true` adds `add.stats_parsed` and `add.partitionValues_parsed`
  (`lakehouse.log.checkpoint_stats`); `delta.checkpoint.writeStatsAsJson=false` leaves out `add.stats`.
"""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass
from typing import Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.log.checkpoint_stats import partition_values_parsed, stats_parsed
from lakehouse.log.listing import read_last_checkpoint
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import DomainMetadata, Metadata, Protocol, Txn
from lakehouse.protocol.features import column_mapping_mode, reader_features_in_use, writer_features_in_use
from lakehouse.protocol.file_table import ADD_SCHEMA, REMOVE_SCHEMA
from lakehouse.protocol.log_path import LAST_CHECKPOINT, LOG_DIR, SIDECAR_DIR, classic_checkpoint_name
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.schema import parse_schema
from lakehouse.storage.base import Storage

_STRMAP = pa.map_(pa.string(), pa.string())
PROTOCOL_TYPE = pa.struct([
    ("minReaderVersion", pa.int32()), ("minWriterVersion", pa.int32()),
    ("readerFeatures", pa.list_(pa.string())), ("writerFeatures", pa.list_(pa.string())),
])
METADATA_TYPE = pa.struct([
    ("id", pa.string()), ("name", pa.string()), ("description", pa.string()),
    ("format", pa.struct([("provider", pa.string()), ("options", _STRMAP)])),
    ("schemaString", pa.string()), ("partitionColumns", pa.list_(pa.string())),
    ("configuration", _STRMAP), ("createdTime", pa.int64()),
])
TXN_TYPE = pa.struct([("appId", pa.string()), ("version", pa.int64()), ("lastUpdated", pa.int64())])
DOMAIN_TYPE = pa.struct([("domain", pa.string()), ("configuration", pa.string()), ("removed", pa.bool_())])
CHECKPOINT_METADATA_TYPE = pa.struct([("version", pa.int64()), ("tags", _STRMAP)])
ADD_TYPE = pa.struct(list(ADD_SCHEMA))
REMOVE_TYPE = pa.struct(list(REMOVE_SCHEMA))
SIDECAR_TYPE = pa.struct([("path", pa.string()), ("sizeInBytes", pa.int64()), ("modificationTime", pa.int64()),
                          ("tags", _STRMAP)])
#: File actions per sidecar, and the count above which a V2 checkpoint uses sidecars at all: big enough
#: that ordinary tables keep one file, small enough that each part is written and read in one go.
SIDECAR_ROWS = 1_000_000


@dataclass(frozen=True)
class CheckpointState:
    """What a checkpoint of ``version`` records: the table's state at that version, as plain data.

    ``adds`` and ``tombstones`` are file tables (`lakehouse.protocol.file_table` columns); ``domains`` are
    the live (not removed) domain metadata.
    """

    version: int
    protocol: Protocol
    metadata: Metadata
    adds: pa.Table
    tombstones: pa.Table
    txns: Sequence[Txn] = ()
    domains: Sequence[DomainMetadata] = ()

    @property
    def properties(self) -> TableProperties:
        """The table properties of ``metadata`` (lenient, as the read path parses them)."""
        return TableProperties.parse(self.metadata.configuration, strict=False)


def _section(schema: pa.Schema, column: str, values: pa.Array) -> pa.Table:
    n = len(values)
    return pa.table({f.name: values if f.name == column else pa.nulls(n, f.type) for f in schema}, schema=schema)


def _add_column(state: CheckpointState, props: TableProperties) -> pa.StructArray:
    """The `add` struct column: the file table's columns, plus the typed stats and partition values
    when `writeStatsAsStruct`, minus the JSON stats when not `writeStatsAsJson`."""
    adds = state.adds.select(ADD_SCHEMA.names).cast(ADD_SCHEMA).combine_chunks()
    names = [n for n in ADD_SCHEMA.names if n != "stats" or props.checkpoint_write_stats_as_json]
    arrays = [adds.column(n).combine_chunks() for n in names]
    if props.checkpoint_write_stats_as_struct:
        schema = parse_schema(state.metadata.schema_string, version=state.version)
        mode = column_mapping_mode(state.protocol, props)
        partition_columns = list(state.metadata.partition_columns)
        parsed_values = partition_values_parsed(adds.column("partitionValues"), schema, partition_columns, mode)
        if parsed_values is not None:
            names.append("partitionValues_parsed")
            arrays.append(parsed_values)
        names.append("stats_parsed")
        arrays.append(stats_parsed(adds.column("stats"), schema, partition_columns, mode, props))
    return pa.StructArray.from_arrays(arrays, names=names)


def checkpoint_table(state: CheckpointState, *, now_ms: int | None = None, v2: bool = False) -> pa.Table:
    """The checkpoint rows for ``state``, as one Arrow table in the Checkpoint Schema; remove tombstones
    older than `delta.deletedFileRetentionDuration` (from ``now_ms``) are left out."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    props = state.properties
    p, m = state.protocol, state.metadata
    add_values = _add_column(state, props) if state.adds.num_rows else None
    add_type = add_values.type if add_values is not None else ADD_TYPE
    fields = [("protocol", PROTOCOL_TYPE), ("metaData", METADATA_TYPE), ("txn", TXN_TYPE), ("add", add_type),
              ("remove", REMOVE_TYPE), ("domainMetadata", DOMAIN_TYPE)]
    if v2:
        fields.append(("checkpointMetadata", CHECKPOINT_METADATA_TYPE))
    schema = pa.schema(fields)
    # PROTOCOL.md: feature lists must be non-null exactly for reader v3 / writer v7 tables.
    proto = {
        "minReaderVersion": p.min_reader_version, "minWriterVersion": p.min_writer_version,
        "readerFeatures": list(p.reader_features or []) if p.min_reader_version >= 3 else None,
        "writerFeatures": list(p.writer_features or []) if p.min_writer_version >= 7 else None,
    }
    meta = {
        "id": m.id, "name": m.name, "description": m.description,
        "format": {"provider": m.format.provider, "options": list(m.format.options.items())},
        "schemaString": m.schema_string, "partitionColumns": list(m.partition_columns),
        "configuration": list(m.configuration.items()), "createdTime": m.created_time,
    }
    sections = [
        _section(schema, "protocol", av.array([proto], PROTOCOL_TYPE)),
        _section(schema, "metaData", av.array([meta], METADATA_TYPE)),
    ]
    if v2:
        sections.append(_section(schema, "checkpointMetadata", av.array([{"version": state.version}], CHECKPOINT_METADATA_TYPE)))
    if state.txns:
        rows = [{"appId": t.app_id, "version": t.version, "lastUpdated": t.last_updated} for t in state.txns]
        sections.append(_section(schema, "txn", av.array(rows, TXN_TYPE)))
    if state.domains:
        rows = [{"domain": d.domain, "configuration": d.configuration, "removed": False} for d in state.domains]
        sections.append(_section(schema, "domainMetadata", av.array(rows, DOMAIN_TYPE)))
    if add_values is not None:
        sections.append(_section(schema, "add", add_values))
    cutoff = now_ms - int(props.deleted_file_retention.total_seconds() * 1000)
    tomb = state.tombstones
    if tomb.num_rows:
        keep = av.fill_null(pc.greater(tomb.column("deletionTimestamp"), av.scalar(cutoff, pa.int64())), True)
        tomb = tomb.filter(keep).select(REMOVE_SCHEMA.names).cast(REMOVE_SCHEMA).combine_chunks()
        if tomb.num_rows:
            sections.append(_section(schema, "remove", tomb.to_struct_array().combine_chunks()))
    return pa.concat_tables(sections)


def uses_v2_checkpoints(protocol: Protocol, properties: TableProperties) -> bool:
    """V2 checkpoints are written when the table supports them and asks for them."""
    supported = "v2Checkpoint" in (reader_features_in_use(protocol) | writer_features_in_use(protocol))
    return supported and properties.checkpoint_policy == "v2"


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _write_sidecars(storage: Storage, table: pa.Table, sidecar_rows: int) -> pa.Table:
    """Move the file actions of a V2 checkpoint table into sidecar files; returns the top-level rows
    (non-file actions plus one `sidecar` row per file written)."""
    is_file = pc.or_(pc.is_valid(table.column("add")), pc.is_valid(table.column("remove")))
    files = table.filter(is_file).select(["add", "remove"])
    top = table.filter(pc.invert(is_file))
    rows = []
    now = int(time.time() * 1000)
    for start in range(0, files.num_rows, sidecar_rows):
        data = _parquet(files.slice(start, sidecar_rows))
        name = f"{uuid.uuid4()}.parquet"
        storage.write_bytes(f"{LOG_DIR}/{SIDECAR_DIR}/{name}", data)
        rows.append({"path": name, "sizeInBytes": len(data), "modificationTime": now, "tags": None})
    schema = top.schema.append(pa.field("sidecar", SIDECAR_TYPE))
    top = top.append_column("sidecar", pa.nulls(top.num_rows, SIDECAR_TYPE))
    sidecars = pa.table({f.name: av.array(rows, SIDECAR_TYPE) if f.name == "sidecar" else pa.nulls(len(rows), f.type)
                         for f in schema}, schema=schema)
    return pa.concat_tables([top, sidecars])


def write_checkpoint(storage: Storage, state: CheckpointState, *, now_ms: int | None = None,
                     sidecar_rows: int = SIDECAR_ROWS) -> str:
    """Write a checkpoint of ``state`` and point `_last_checkpoint` at it (unless it already names a newer
    one); returns the checkpoint's file name. A V2 checkpoint with more than ``sidecar_rows`` file actions
    puts them in sidecars (the module docstring states the policy)."""
    v2 = uses_v2_checkpoints(state.protocol, state.properties)
    table = checkpoint_table(state, now_ms=now_ms, v2=v2)
    num_rows = table.num_rows
    if v2 and state.adds.num_rows + state.tombstones.num_rows > sidecar_rows:
        table = _write_sidecars(storage, table, sidecar_rows)
    data = _parquet(table)
    name = f"{state.version:020d}.checkpoint.{uuid.uuid4()}.parquet" if v2 else classic_checkpoint_name(state.version)
    storage.write_bytes(f"{LOG_DIR}/{name}", data)
    hint = {"version": state.version, "size": num_rows, "sizeInBytes": len(data),
            "numOfAddFiles": state.adds.num_rows}
    current = read_last_checkpoint(storage)
    if current is None or current.version <= state.version:
        storage.write_bytes(f"{LOG_DIR}/{LAST_CHECKPOINT}", orjson.dumps(hint))
    return name
