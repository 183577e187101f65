"""Reading the change data feed (PROTOCOL.md "Add CDC File", "Change Data Files", "Reader Requirements for
AddCDCFile").

For each commit in the range: when it has `cdc` actions, its changes are exactly the rows of those
`_change_data/` files (which carry `_change_type`); otherwise every `add` with `dataChange=true` is an
`insert` of its live rows and every `remove` with `dataChange=true` a `delete` of the rows it had. Each row
gets `_commit_version` and `_commit_timestamp` (in-commit timestamps when on). The feed must be enabled
(`delta.enableChangeDataFeed=true`) at every version of the range that changes data.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, UnsupportedFeatureError, VersionNotFoundError
from lakehouse.protocol import arrow_values as av
from lakehouse.scan.deletion_vectors import load_deleted_rows
from lakehouse.snapshot.history import commit_timestamps, version_for_timestamp
from lakehouse.log.commits import read_log_files
from lakehouse.protocol.actions import Add, AddCDCFile, Metadata, Remove
from lakehouse.protocol.log_path import LogFile, commit_name
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.replay import canonical_path
from lakehouse.protocol.schema import PrimitiveType, StructField, empty_table, parse_schema, to_arrow_field
from lakehouse.protocol.timetravel import datetime_to_ms, ms_to_datetime
from lakehouse.scan.read import FileTask, read_file
from lakehouse.snapshot import Snapshot, load_snapshot

CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"
COMMIT_TIMESTAMP = "_commit_timestamp"


def _resolve(latest: Snapshot, version: int | None, when: datetime | str | None, *, default: int, start: bool) -> int:
    """A range end: the given version, or for a timestamp the first commit at or after it (start) or
    the last commit at or before it (end), as Spark resolves change data ranges."""
    if version is not None and when is not None:
        raise InvalidArgumentError("give a version or a timestamp for each end of the range, not both")
    if when is None:
        return default if version is None else version
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if not start:
        return version_for_timestamp(latest, when)
    versions, times, _ = commit_timestamps(latest)
    target = datetime_to_ms(when)
    i = bisect_left(times, target)
    if i == len(versions):
        raise VersionNotFoundError(f"no commit at or after {when.isoformat()}: the latest is version {versions[-1]}")
    return versions[i]


def load_cdf(snapshot_latest: Snapshot, *, starting_version: int | None = None, ending_version: int | None = None,
             starting_timestamp: datetime | str | None = None, ending_timestamp: datetime | str | None = None,
             columns: Sequence[str] | None = None) -> pa.Table:
    """The changes of versions ``starting..ending`` (inclusive) as one Arrow table."""
    start = _resolve(snapshot_latest, starting_version, starting_timestamp, default=0, start=True)
    end = _resolve(snapshot_latest, ending_version, ending_timestamp, default=snapshot_latest.version, start=False)
    if start < 0 or end > snapshot_latest.version or start > end:
        raise VersionNotFoundError(
            f"change data range {start}..{end} is outside the table's versions 0..{snapshot_latest.version}"
        )
    storage = snapshot_latest.storage
    versions, times, _ = commit_timestamps(snapshot_latest)
    stamp = dict(zip(versions, times))
    state = load_snapshot(storage, start)  # schema/properties in force at the start (and its partitions)
    metadata = state.metadata
    files = [LogFile(commit_name(v), "commit", v) for v in range(start, end + 1)]
    tables = []
    out_fields: list[StructField] | None = None
    for f, actions in zip(files, read_log_files(storage, files)):
        for a in actions:
            if isinstance(a, Metadata):
                metadata = a
        props = TableProperties.parse(metadata.configuration, strict=False)
        schema = parse_schema(metadata.schema_string, version=f.version)
        at = replace(state, metadata=metadata, schema=schema, properties=props, version=f.version)
        changes = [a for a in actions if isinstance(a, (Add, Remove, AddCDCFile)) and (isinstance(a, AddCDCFile) or a.data_change)]
        if not changes:
            continue
        if not props.enable_change_data_feed:
            raise UnsupportedFeatureError(
                f"the change data feed is not enabled at version {f.version}, so its changes cannot be read.\n"
                "Help: read a range where delta.enableChangeDataFeed=true.", feature="changeDataFeed",
            )
        out_fields = [fld for fld in schema.fields if columns is None or fld.name in columns]
        tables.append(_changes_of(at, f.version, stamp.get(f.version), changes, out_fields))
    if out_fields is None:
        out_fields = [fld for fld in state.schema.fields if columns is None or fld.name in columns]
    schema_out = pa.schema([to_arrow_field(x) for x in out_fields] + [
        pa.field(CHANGE_TYPE, pa.string()), pa.field(COMMIT_VERSION, pa.int64()),
        pa.field(COMMIT_TIMESTAMP, pa.timestamp("us", tz="UTC")),
    ])
    if not tables:
        return empty_table(schema_out)
    # Columns added part-way through the range read as nulls in the earlier versions' changes.
    filled = []
    for t in tables:
        for f in schema_out:
            if f.name not in t.column_names:
                t = t.append_column(f, pa.nulls(t.num_rows, f.type))
        filled.append(t.select(schema_out.names).cast(schema_out))
    return pa.concat_tables(filled)


def _dv_delta(snapshot: Snapshot, old: Remove, new: Add, fields: list[StructField]) -> pa.Table:
    """Rows deleted (or restored) between two deletion vectors of one data file."""
    rows = read_file(snapshot, FileTask(new.path, new.partition_values or {}, None), fields, apply_dv=False)
    before = _deleted(snapshot, old.deletion_vector)
    after = _deleted(snapshot, new.deletion_vector)
    deleted = np.setdiff1d(after, before)
    restored = np.setdiff1d(before, after)
    out = [rows.take(av.array(deleted.astype(np.int64))).append_column(CHANGE_TYPE, av.repeat("delete", len(deleted)))]
    if len(restored):
        out.append(rows.take(av.array(restored.astype(np.int64))).append_column(
            CHANGE_TYPE, av.repeat("insert", len(restored))))
    return pa.concat_tables(out)


def _deleted(snapshot: Snapshot, dv: Any) -> np.ndarray:
    if dv is None:
        return np.zeros(0, dtype=np.uint64)
    return load_deleted_rows(snapshot.storage, dv)


def _changes_of(snapshot: Snapshot, version: int, ts_ms: int | None, changes: list, fields: list[StructField]) -> pa.Table:
    cdc = [a for a in changes if isinstance(a, AddCDCFile)]
    parts: list[pa.Table] = []
    if cdc:
        tagged = fields + [StructField(CHANGE_TYPE, PrimitiveType("string"))]
        for c in cdc:
            parts.append(read_file(snapshot, FileTask(c.path, c.partition_values, None), tagged))
    else:
        # A remove and an add of the same file with a larger deletion vector (a DV delete written without
        # change files, as Databricks does) changes only the rows the new vector adds.
        removed = {canonical_path(a.path): a for a in changes if isinstance(a, Remove)}
        paired = {canonical_path(a.path) for a in changes if isinstance(a, Add) and canonical_path(a.path) in removed}
        for a in changes:
            key = canonical_path(a.path)
            if key in paired:
                if isinstance(a, Add):
                    parts.append(_dv_delta(snapshot, removed[key], a, fields))
                continue
            rows = read_file(snapshot, FileTask(a.path, a.partition_values or {}, a.deletion_vector), fields)
            kind = "insert" if isinstance(a, Add) else "delete"
            parts.append(rows.append_column(CHANGE_TYPE, av.repeat(kind, rows.num_rows)))
    table = pa.concat_tables(parts) if parts else empty_table(pa.schema([to_arrow_field(f) for f in fields]))
    when = ms_to_datetime(ts_ms or 0)
    table = table.append_column(COMMIT_VERSION, av.array([version] * table.num_rows, pa.int64()))
    return table.append_column(COMMIT_TIMESTAMP, av.array([when] * table.num_rows, pa.timestamp("us", tz="UTC")))

