"""`write_delta`: append, overwrite, replaceWhere (overwrite with a predicate), create-on-first-write,
schema enforcement and evolution (PROTOCOL.md "Add File and Remove File", "Change Metadata").

Plan first (schema, metadata, protocol, writer gate), then stream the data into files, then stage the
removes an overwrite needs, then commit once. Any failure before the commit leaves the table as it was
(written files stay unreferenced).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any, Iterator, Literal, Mapping, Sequence

import pyarrow as pa

from lakehouse.errors import (
    AppendOnlyError,
    ConstraintViolationError,
    InvalidArgumentError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedFeatureError,
)
from lakehouse.operations.create import new_table_actions, validate_partition_columns, with_schema
from lakehouse.protocol.actions import Add, Metadata, Protocol, Remove
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.expr import Expr, parse_predicate, to_arrow
from lakehouse.protocol.features import active_features, check_writable, column_mapping_mode
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.pruning import is_partition_only, may_match, partition_mask
from lakehouse.protocol.schema import StructType, from_arrow_schema, parse_schema, to_arrow_field
from lakehouse.protocol.schema_evolution import check_fits, check_unique_names, merge_schemas
from lakehouse.read import file_tasks, read_file
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.storage import Storage, open_storage
from lakehouse.transaction import CommitProperties, CommitResult, Hook, Transaction, check_commit_safety
from lakehouse.write.constraints import enforce, table_checks
from lakehouse.write.files import DataFileWriter, FileWriteOptions
from lakehouse.write.sources import to_batches

Mode = Literal["error", "append", "overwrite", "ignore"]
SchemaMode = Literal["merge", "overwrite"]
_MODES = ("error", "append", "overwrite", "ignore")


@dataclass(frozen=True)
class _Plan:
    protocol: Protocol
    metadata: Metadata
    schema: StructType
    metadata_changed: bool
    protocol_changed: bool


def _normalize_schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for f in schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


def _plan(snapshot: Snapshot | None, data_schema: StructType, *, mode: str, partition_by: Sequence[str] | None,
          schema_mode: str | None, configuration: Mapping[str, str] | None, name: str | None,
          description: str | None) -> _Plan:
    if snapshot is None:
        protocol, metadata = new_table_actions(data_schema, partition_by or [], configuration, name, description)
        return _Plan(protocol, metadata, parse_schema(metadata.schema_string), True, True)
    table = snapshot.schema
    metadata = snapshot.metadata
    if configuration:
        raise InvalidArgumentError(
            "configuration applies only when a write creates the table; this table already exists at "
            f"version {snapshot.version}"
        )
    if schema_mode == "overwrite":
        parts = validate_partition_columns(data_schema, partition_by if partition_by is not None else metadata.partition_columns)
        new, mapped = with_schema(replace(metadata, partition_columns=tuple(parts)), data_schema)
        return _Plan(snapshot.protocol, new, mapped, True, False)
    if partition_by is not None and list(partition_by) != list(metadata.partition_columns):
        raise SchemaMismatchError(
            f"partition_by={list(partition_by)} differs from the table's partition columns "
            f"{list(metadata.partition_columns)}.\nHelp: omit partition_by, or overwrite with schema_mode='overwrite'."
        )
    if schema_mode == "merge":
        merged = merge_schemas(table, data_schema)
        if merged != table:
            new, mapped = with_schema(metadata, merged)
            return _Plan(snapshot.protocol, new, mapped, True, False)
        return _Plan(snapshot.protocol, metadata, table, False, False)
    check_fits(data_schema, table)
    return _Plan(snapshot.protocol, metadata, table, False, False)


def _fields(m: Metadata) -> dict[str, Any]:
    return {f: getattr(m, f) for f in m.__dataclass_fields__}


def _nullable(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _nullable(f.type), True) for f in t])
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _nullable(t.value_type), True))
    if pa.types.is_map(t):
        return pa.map_(t.key_type, pa.field("value", _nullable(t.item_type), True))
    return t


def _conform_batches(batches: Iterator[pa.RecordBatch], schema: StructType) -> Iterator[pa.Table]:
    """Batches cast to the table's types with every field nullable: NOT NULL is checked afterwards by
    `enforce`, which names the column, instead of failing inside a cast."""
    target = pa.schema([pa.field(f.name, _nullable(f.type), True) for f in (to_arrow_field(x) for x in schema.fields)])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        names = batch.schema.names
        cols = []
        for f in target:
            if f.name in names:
                col = batch.column(names.index(f.name))
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                try:
                    cols.append(col.cast(f.type) if col.type != f.type else col)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise SchemaMismatchError(f"column '{f.name}' cannot be converted to {f.type}: {e}") from None
            else:
                cols.append(pa.nulls(batch.num_rows, f.type))
        yield pa.Table.from_arrays(cols, schema=target)


def _remove_for(row: Mapping[str, Any], now: int) -> Remove:
    dv = row.get("deletionVector")
    return Remove(
        path=row["path"],
        data_change=True,
        deletion_timestamp=now,
        extended_file_metadata=True,
        partition_values=dict(row.get("partitionValues") or []),
        size=row.get("size"),
        stats=row.get("stats"),
        tags=dict(row["tags"]) if row.get("tags") else None,
        deletion_vector=decode_deletion_vector(dv) if dv else None,
        base_row_id=row.get("baseRowId"),
        default_row_commit_version=row.get("defaultRowCommitVersion"),
    )


def write_delta(
    uri: str | os.PathLike[str] | Storage,
    data: Any,
    *,
    mode: Mode = "error",
    partition_by: Sequence[str] | str | None = None,
    predicate: str | Expr | None = None,
    schema_mode: SchemaMode | None = None,
    target_file_size: int | None = None,
    configuration: Mapping[str, str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    commit_properties: CommitProperties | None = None,
    name: str | None = None,
    description: str | None = None,
    _hook: Hook | None = None,
) -> CommitResult:
    """Write ``data`` to the Delta table at ``uri`` (created by the first write).

    ``mode``: ``error`` (fail if the table exists), ``append``, ``overwrite`` or ``ignore`` (do nothing if
    it exists). ``predicate`` with ``overwrite`` replaces only the matching rows (replaceWhere) and every
    written row must match it. ``schema_mode="merge"`` adds new columns; ``"overwrite"`` (with
    ``mode="overwrite"``) replaces schema and partitioning. Returns the `CommitResult`.
    """
    if mode not in _MODES:
        raise InvalidArgumentError(f"mode must be one of {_MODES}, got {mode!r}")
    if schema_mode not in (None, "merge", "overwrite"):
        raise InvalidArgumentError(f"schema_mode must be None, 'merge' or 'overwrite', got {schema_mode!r}")
    if schema_mode == "overwrite" and mode != "overwrite":
        raise InvalidArgumentError("schema_mode='overwrite' needs mode='overwrite'")
    if predicate is not None and mode != "overwrite":
        raise InvalidArgumentError("predicate (replaceWhere) needs mode='overwrite'")
    if predicate is not None and schema_mode == "overwrite":
        raise InvalidArgumentError("predicate cannot be combined with schema_mode='overwrite'")
    if isinstance(partition_by, str):
        partition_by = [partition_by]
    if target_file_size is not None and (not isinstance(target_file_size, int) or target_file_size <= 0):
        raise InvalidArgumentError(f"target_file_size must be a positive int, got {target_file_size!r}")
    props = commit_properties or CommitProperties()

    storage = open_storage(uri, storage_options)
    arrow_schema, batches = to_batches(data)
    data_schema = from_arrow_schema(_normalize_schema(arrow_schema))
    check_unique_names(data_schema)
    try:
        snapshot: Snapshot | None = latest_snapshot(storage)
    except TableNotFoundError:
        snapshot = None

    if snapshot is not None:
        if mode == "error":
            raise TableExistsError(f"a Delta table already exists at {storage.root_uri} (version {snapshot.version}).\n"
                                   "Help: pass mode='append' or mode='overwrite'.")
        if mode == "ignore" or _already_applied(snapshot, props):
            return CommitResult(snapshot.version, "NOOP", 0, 0, 0)

    plan = _plan(snapshot, data_schema, mode=mode, partition_by=partition_by, schema_mode=schema_mode,
                 configuration=configuration, name=name, description=description)
    check_writable(plan.protocol, active_features(plan.protocol, plan.metadata))
    check_commit_safety(storage)
    properties = TableProperties.parse(plan.metadata.configuration)
    pred = parse_predicate(predicate) if predicate is not None else None
    partition_cols = list(plan.metadata.partition_columns)
    checks = table_checks(plan.schema, dict(plan.metadata.configuration))
    pred_expr = to_arrow(pred, plan.schema) if pred is not None else None

    options = FileWriteOptions(target_file_size=target_file_size) if target_file_size else FileWriteOptions()
    writer = DataFileWriter(storage, plan.schema, partition_cols, properties, options,
                            mode=column_mapping_mode(plan.protocol, properties))
    rows = 0
    try:
        exact = pa.schema([to_arrow_field(f) for f in plan.schema.fields])
        for table in _conform_batches(batches, plan.schema):
            enforce(table, plan.schema, checks)
            table = table.cast(exact)
            if pred_expr is not None:
                matching = table.filter(pred_expr).num_rows
                if matching != table.num_rows:
                    raise ConstraintViolationError(
                        f"{table.num_rows - matching} written row(s) do not match the replaceWhere predicate "
                        f"{predicate!r}; nothing was written."
                    )
            writer.write(table)
            rows += table.num_rows
        removes: list[Remove] = []
        copied = 0
        if snapshot is not None and mode == "overwrite":
            removes, copied = _overwrite_removes(snapshot, pred, plan, writer)
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise

    if removes and properties.append_only:
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")
    operation = "WRITE"
    params: dict[str, Any] = {"mode": {"error": "ErrorIfExists", "append": "Append", "overwrite": "Overwrite", "ignore": "Ignore"}[mode],
                              "partitionBy": list(partition_cols)}
    if pred is not None:
        params["predicate"] = predicate if isinstance(predicate, str) else repr(predicate)
    txn = Transaction(storage, snapshot, operation=operation, parameters=params, properties=props, hook=_hook,
                      may_match=lambda add, p: may_match(add, p, plan.schema, partition_cols,
                                                         snapshot.column_mapping_mode if snapshot else "none"))
    if snapshot is None or plan.protocol_changed:
        txn.update_protocol(plan.protocol)
    if snapshot is None or plan.metadata_changed:
        txn.update_metadata(plan.metadata)
    if snapshot is not None and mode == "overwrite":
        if pred is None:
            txn.read_whole_table()
        else:
            txn.read_predicate(pred, [_remove_as_add(r) for r in removes])
    txn.add_files(adds)
    txn.remove_files(removes)
    txn.metrics.update({
        "numFiles": len(adds), "numOutputRows": rows + copied, "numOutputBytes": sum(a.size for a in adds),
        "numRemovedFiles": len(removes), "numCopiedRows": copied,
    })
    return txn.commit()


def _remove_as_add(r: Remove) -> Add:
    return Add(r.path, r.partition_values or {}, r.size or 0, 0, True, deletion_vector=r.deletion_vector)


def _already_applied(snapshot: Snapshot, props: CommitProperties) -> bool:
    """Idempotent writes: every app transaction named is already at or past its version in the table."""
    if not props.app_transactions:
        return False
    return all(
        t.app_id in snapshot.txns and snapshot.txns[t.app_id].version >= t.version for t in props.app_transactions
    )


def _overwrite_removes(snapshot: Snapshot, pred: Expr | None, plan: _Plan, writer: DataFileWriter) -> tuple[list[Remove], int]:
    """Files an overwrite removes; with a data-column predicate, kept rows are rewritten through ``writer``."""
    now = int(time.time() * 1000)
    rows = snapshot.adds.to_pylist()
    if pred is None:
        return [_remove_for(r, now) for r in rows], 0
    partition_cols = list(snapshot.metadata.partition_columns)
    mask = partition_mask([dict(r["partitionValues"] or []) for r in rows], pred, snapshot.schema,
                          partition_cols, snapshot.column_mapping_mode)
    candidates = [r for r, m in zip(rows, mask) if m]
    if is_partition_only(pred, partition_cols):
        return [_remove_for(r, now) for r in candidates], 0
    if snapshot.properties.enable_change_data_feed:
        raise UnsupportedFeatureError(
            "replaceWhere on data columns of a change-data-feed table needs change data files, which lakehouse "
            "does not write yet.\nHelp: use a predicate on partition columns only.", feature="changeDataFeed",
        )
    fields = list(snapshot.schema.fields)
    keep_expr = to_arrow(pred, snapshot.schema)
    removes, copied = [], 0
    for row, task in zip(candidates, file_tasks(pa.Table.from_pylist(candidates, schema=snapshot.adds.schema))):
        data = read_file(snapshot, task, fields)
        matched = data.filter(keep_expr).num_rows
        if matched == 0:
            continue
        kept = data.filter(~keep_expr | keep_expr.is_null())
        exact = pa.schema([to_arrow_field(f) for f in plan.schema.fields])
        for table in _conform_batches(iter(kept.to_batches()), plan.schema):
            writer.write(table.cast(exact))
        copied += kept.num_rows
        removes.append(_remove_for(row, now))
    return removes, copied
