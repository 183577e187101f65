"""Writing checkpoints and `_last_checkpoint`, and cleaning up expired log files (PROTOCOL.md
"Checkpoints", "Checkpoint Schema", "Last Checkpoint File", "V2 Spec", "Metadata Cleanup").

A checkpoint holds the snapshot's protocol, metadata, app transactions, live domain metadata, active
files and unexpired remove tombstones, one action per row. File actions go from the snapshot's Arrow
file table straight into the Parquet struct columns, so a checkpoint of any size never becomes Python
objects. Classic (V1) checkpoints by default; a UUID-named V2 checkpoint (no sidecars) when the table has
the `v2Checkpoint` feature and `delta.checkpointPolicy=v2`.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import timedelta

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.log.listing import list_log, read_last_checkpoint
from lakehouse.protocol.file_table import ADD_SCHEMA, REMOVE_SCHEMA
from lakehouse.protocol.features import reader_features_in_use, writer_features_in_use
from lakehouse.protocol.log_path import LAST_CHECKPOINT, LOG_DIR, classic_checkpoint_name
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.segment import complete_checkpoints
from lakehouse.snapshot import Snapshot, load_snapshot
from lakehouse.storage.base import Storage

log = logging.getLogger(__name__)

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


def _schema(v2: bool) -> pa.Schema:
    fields = [("protocol", PROTOCOL_TYPE), ("metaData", METADATA_TYPE), ("txn", TXN_TYPE), ("add", ADD_TYPE),
              ("remove", REMOVE_TYPE), ("domainMetadata", DOMAIN_TYPE)]
    if v2:
        fields.append(("checkpointMetadata", CHECKPOINT_METADATA_TYPE))
    return pa.schema(fields)


def _section(schema: pa.Schema, column: str, values: pa.Array) -> pa.Table:
    n = len(values)
    return pa.table({f.name: values if f.name == column else pa.nulls(n, f.type) for f in schema}, schema=schema)


def checkpoint_table(snapshot: Snapshot, *, now_ms: int | None = None, v2: bool = False) -> pa.Table:
    """The checkpoint rows for a snapshot, as one Arrow table in the Checkpoint Schema."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    schema = _schema(v2)
    p, m = snapshot.protocol, snapshot.metadata
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
        _section(schema, "protocol", pa.array([proto], PROTOCOL_TYPE)),
        _section(schema, "metaData", pa.array([meta], METADATA_TYPE)),
    ]
    if v2:
        sections.append(_section(schema, "checkpointMetadata", pa.array([{"version": snapshot.version}], CHECKPOINT_METADATA_TYPE)))
    if snapshot.txns:
        rows = [{"appId": t.app_id, "version": t.version, "lastUpdated": t.last_updated} for t in snapshot.txns.values()]
        sections.append(_section(schema, "txn", pa.array(rows, TXN_TYPE)))
    if snapshot.domains:
        rows = [{"domain": d.domain, "configuration": d.configuration, "removed": False} for d in snapshot.domains.values()]
        sections.append(_section(schema, "domainMetadata", pa.array(rows, DOMAIN_TYPE)))
    adds = snapshot.adds.select(ADD_SCHEMA.names).cast(ADD_SCHEMA).combine_chunks()
    if adds.num_rows:
        sections.append(_section(schema, "add", adds.to_struct_array().combine_chunks()))
    cutoff = now_ms - int(snapshot.properties.deleted_file_retention.total_seconds() * 1000)
    tomb = snapshot.tombstones
    if tomb.num_rows:
        keep = pc.fill_null(pc.greater(tomb.column("deletionTimestamp"), cutoff), True)
        tomb = tomb.filter(keep).select(REMOVE_SCHEMA.names).cast(REMOVE_SCHEMA).combine_chunks()
        if tomb.num_rows:
            sections.append(_section(schema, "remove", tomb.to_struct_array().combine_chunks()))
    return pa.concat_tables(sections)


def uses_v2_checkpoints(snapshot: Snapshot) -> bool:
    """V2 checkpoints are written when the table supports them and asks for them."""
    supported = "v2Checkpoint" in (reader_features_in_use(snapshot.protocol) | writer_features_in_use(snapshot.protocol))
    return supported and snapshot.properties.checkpoint_policy == "v2"


def write_checkpoint(storage: Storage, snapshot: Snapshot) -> str:
    """Write a checkpoint of ``snapshot`` and point `_last_checkpoint` at it; returns its file name."""
    v2 = uses_v2_checkpoints(snapshot)
    table = checkpoint_table(snapshot, v2=v2)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    name = (
        f"{snapshot.version:020d}.checkpoint.{uuid.uuid4()}.parquet" if v2 else classic_checkpoint_name(snapshot.version)
    )
    storage.write_bytes(f"{LOG_DIR}/{name}", data)
    hint = {"version": snapshot.version, "size": table.num_rows, "sizeInBytes": len(data), "numOfAddFiles": snapshot.num_files}
    current = _last_checkpoint_version(storage)
    if current is None or current <= snapshot.version:
        storage.write_bytes(f"{LOG_DIR}/{LAST_CHECKPOINT}", orjson.dumps(hint))
    return name


def _last_checkpoint_version(storage: Storage) -> int | None:
    hint = read_last_checkpoint(storage)
    return hint.version if hint else None


def cleanup_expired_logs(storage: Storage, snapshot: Snapshot, *, now_ms: int | None = None,
                         retention: timedelta | None = None) -> list[str]:
    """Delete log files older than the retention that no kept version needs (PROTOCOL.md "Metadata
    Cleanup"): everything below the newest checkpoint before which every file has expired. Returns the
    names deleted."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    keep_for = retention if retention is not None else snapshot.properties.log_retention
    cutoff = now_ms - int(keep_for.total_seconds() * 1000)
    files = list_log(storage)
    checkpoints = [c for c in complete_checkpoints(files) if c.version <= snapshot.version]
    boundary = None
    for cp in checkpoints:
        older = [f for f in files if f.kind in ("commit", "checkpoint", "crc", "compacted") and f.version < cp.version]
        if all(f.mtime_ms <= cutoff for f in older):
            boundary = cp.version
    if boundary is None:
        return []
    doomed = [
        f.name for f in files
        if f.kind in ("commit", "checkpoint", "crc") and f.version < boundary
        or f.kind == "compacted" and (f.end_version or 0) < boundary
    ]
    for name in doomed:
        storage.delete(f"{LOG_DIR}/{name}")
    return doomed


def maybe_checkpoint(storage: Storage, version: int, properties: TableProperties) -> bool:
    """After committing ``version``: checkpoint every `delta.checkpointInterval` commits, then clean up
    expired logs. A failure here is logged, never raised: the commit itself already succeeded."""
    if version == 0 or version % properties.checkpoint_interval:
        return False
    try:
        snapshot = load_snapshot(storage, version)
        write_checkpoint(storage, snapshot)
        if (snapshot.metadata.configuration.get("delta.enableExpiredLogCleanup") or "true").lower() == "true":
            cleanup_expired_logs(storage, snapshot)
        return True
    except Exception as e:  # noqa: BLE001 - the commit already succeeded; nothing here may undo that
        log.warning("checkpoint at version %s failed (the commit stands): %s: %s", version, type(e).__name__, e)
        return False
