"""`write_delta` for Dask DataFrames: plan on the client, write files on the workers, commit once.

1. Client: validate the arguments, load the latest snapshot, plan schema, metadata and protocol exactly
   as `lakehouse.write_delta` does (`lakehouse.dask._core`), and decide what an overwrite removes.
2. Workers: every Dask partition becomes one task that writes its rows to new Parquet files and returns
   their `Add` actions (with stats); replaceWhere on data columns adds one task per candidate file that
   rewrites the rows it keeps (`lakehouse.dask.write_tasks`).
3. Client: gather the outputs and commit them all in one `Transaction` with the single-process write's
   read set, removes, commitInfo (operation ``WRITE``) and conflict checks (`lakehouse.dask.jobs`).

A failed task fails the whole job before the transaction exists, so nothing is committed; files of
failed or retried attempts stay unreferenced until VACUUM.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, Sequence

import dask.dataframe as dd
import pyarrow as pa
from dask import delayed

from lakehouse.dask._core import (
    MODES,
    Mode,
    SchemaMode,
    already_applied,
    normalize_schema,
    plan_write,
    remove_as_add,
    remove_for,
)
from lakehouse.dask._pandas import frame_schema
from lakehouse.dask.jobs import TableRef, TaskOutput, compute_outputs, stage_outputs
from lakehouse.dask.write_tasks import WriteSpec, rewrite_file, write_partition
from lakehouse.errors import (
    AppendOnlyError,
    InvalidArgumentError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedFeatureError,
)
from lakehouse.protocol.actions import Remove
from lakehouse.protocol.expr import Expr, parse_predicate, to_arrow
from lakehouse.protocol.features import active_features, check_writable, column_mapping_mode
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.pruning import is_partition_only, may_match, partition_mask
from lakehouse.protocol.schema import from_arrow_schema, to_arrow_field
from lakehouse.protocol.schema_evolution import check_unique_names
from lakehouse.read import FileTask, file_tasks
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.storage import open_storage
from lakehouse.transaction import CommitProperties, CommitResult, Hook, Transaction, check_commit_safety
from lakehouse.write.constraints import table_checks

_MODE_NAMES = {"error": "ErrorIfExists", "append": "Append", "overwrite": "Overwrite", "ignore": "Ignore"}


def _validate(mode: str, schema_mode: str | None, predicate: Any, target_file_size: Any) -> None:
    """The single-process write's argument rules, checked before anything is read."""
    if mode not in MODES:
        raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    if schema_mode not in (None, "merge", "overwrite"):
        raise InvalidArgumentError(f"schema_mode must be None, 'merge' or 'overwrite', got {schema_mode!r}")
    if schema_mode == "overwrite" and mode != "overwrite":
        raise InvalidArgumentError("schema_mode='overwrite' needs mode='overwrite'")
    if predicate is not None and mode != "overwrite":
        raise InvalidArgumentError("predicate (replaceWhere) needs mode='overwrite'")
    if predicate is not None and schema_mode == "overwrite":
        raise InvalidArgumentError("predicate cannot be combined with schema_mode='overwrite'")
    if target_file_size is not None and (not isinstance(target_file_size, int) or target_file_size <= 0):
        raise InvalidArgumentError(f"target_file_size must be a positive int, got {target_file_size!r}")


def _latest(storage: Any) -> Snapshot | None:
    try:
        return latest_snapshot(storage)
    except TableNotFoundError:
        return None


def input_schema(ddf: dd.DataFrame, schema: pa.Schema | None, snapshot: Snapshot | None) -> pa.Schema:
    """The Arrow schema every partition is converted with: ``schema`` if given, else the one pandas gives
    the Dask metadata, with ``object`` columns (whose type the metadata cannot tell) typed as the table's
    column of the same name."""
    if schema is not None:
        if not isinstance(schema, pa.Schema):
            raise InvalidArgumentError(f"schema must be a pyarrow.Schema, got {type(schema).__name__}")
        missing = [c for c in ddf.columns if c not in schema.names]
        if missing:
            raise SchemaMismatchError(f"schema has no field for column(s) {missing} of the Dask DataFrame")
        return schema
    table_fields = {f.name: to_arrow_field(f) for f in snapshot.schema.fields} if snapshot is not None else {}
    fields = []
    for f in frame_schema(ddf._meta):
        if pa.types.is_null(f.type):
            if f.name not in table_fields:
                raise SchemaMismatchError(
                    f"column '{f.name}' has dtype object, so its values' type is unknown until the data is read.\n"
                    "Help: give it a concrete dtype (e.g. astype('string') or pd.ArrowDtype(pa.date32())), or "
                    "pass schema= to write_delta."
                )
            f = pa.field(f.name, table_fields[f.name].type, True)
        fields.append(f)
    return pa.schema(fields)


def _overwrite_work(snapshot: Snapshot, pred: Expr | None) -> tuple[list[Remove], list[tuple[FileTask, Remove]]]:
    """What an overwrite removes outright, and the files whose kept rows a worker must rewrite first
    (the single-process write's `_overwrite_removes`, with the rewrites left to the workers)."""
    now = int(time.time() * 1000)
    rows = snapshot.adds.to_pylist()
    if pred is None:
        return [remove_for(r, now) for r in rows], []
    partition_cols = list(snapshot.metadata.partition_columns)
    mask = partition_mask([dict(r["partitionValues"] or []) for r in rows], pred, snapshot.schema,
                          partition_cols, snapshot.column_mapping_mode)
    candidates = [r for r, m in zip(rows, mask) if m]
    if is_partition_only(pred, partition_cols):
        return [remove_for(r, now) for r in candidates], []
    if snapshot.properties.enable_change_data_feed:
        raise UnsupportedFeatureError(
            "replaceWhere on data columns of a change-data-feed table needs change data files, which lakehouse "
            "does not write yet.\nHelp: use a predicate on partition columns only.", feature="changeDataFeed",
        )
    if not candidates:
        return [], []
    tasks = file_tasks(pa.Table.from_pylist(candidates, schema=snapshot.adds.schema))
    return [], [(t, remove_for(r, now)) for t, r in zip(tasks, candidates)]


def _tasks(ddf: dd.DataFrame, spec: WriteSpec, rewrites: Sequence[tuple[FileTask, Remove]]) -> list[Any]:
    # The spec is one graph node that every task depends on, so it is shipped once per worker, not per task.
    shared = delayed(spec, traverse=False)
    writes = [delayed(write_partition, pure=False)(part, shared) for part in ddf.to_delayed()]
    return writes + [delayed(rewrite_file, pure=False)(shared, t, r) for t, r in rewrites]


def write_delta(
    uri: str | os.PathLike[str],
    ddf: dd.DataFrame,
    *,
    mode: Mode = "error",
    partition_by: Sequence[str] | str | None = None,
    predicate: str | Expr | None = None,
    schema_mode: SchemaMode | None = None,
    schema: pa.Schema | None = None,
    target_file_size: int | None = None,
    configuration: Mapping[str, str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    commit_properties: CommitProperties | None = None,
    name: str | None = None,
    description: str | None = None,
    _hook: Hook | None = None,
) -> CommitResult:
    """Write a Dask DataFrame to the Delta table at ``uri`` (created by the first write) in one commit.

    Arguments mean what they mean for `lakehouse.write_delta` (modes ``error`` (default), ``append``,
    ``overwrite``, ``ignore``; ``predicate`` = replaceWhere; ``schema_mode``; ``configuration`` for a new
    table) and the commit is the same: operation ``WRITE``, the same removes, read set and conflict
    checks. The Dask index is not written (as pandas input to `lakehouse.write_delta`); call
    ``reset_index()`` first to keep it. ``schema`` fixes the Arrow types the partitions convert to (needed
    only for ``object`` columns of a new table). ``storage_options`` travel to the workers, which open
    storage themselves. Runs on the active Dask scheduler and blocks until committed.
    """
    _validate(mode, schema_mode, predicate, target_file_size)
    if not isinstance(ddf, dd.DataFrame):
        raise InvalidArgumentError(f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__module__}.{type(ddf).__name__}")
    if isinstance(partition_by, str):
        partition_by = [partition_by]
    props = commit_properties or CommitProperties()
    storage = open_storage(uri, storage_options)
    snapshot = _latest(storage)
    if snapshot is not None:
        if mode == "error":
            raise TableExistsError(f"a Delta table already exists at {storage.root_uri} (version {snapshot.version}).\n"
                                   "Help: pass mode='append' or mode='overwrite'.")
        if mode == "ignore" or already_applied(snapshot, props):
            return CommitResult(snapshot.version, "NOOP", 0, 0, 0)

    arrow_schema = input_schema(ddf, schema, snapshot)
    data_schema = from_arrow_schema(normalize_schema(arrow_schema))
    check_unique_names(data_schema)
    plan = plan_write(snapshot, data_schema, mode=mode, partition_by=partition_by, schema_mode=schema_mode,
                      configuration=configuration, name=name, description=description)
    check_writable(plan.protocol, active_features(plan.protocol, plan.metadata))
    check_commit_safety(storage)
    properties = TableProperties.parse(plan.metadata.configuration)
    pred = parse_predicate(predicate) if predicate is not None else None
    if pred is not None:
        to_arrow(pred, plan.schema)  # an unusable predicate fails here, before any task runs
    partition_cols = list(plan.metadata.partition_columns)
    spec = WriteSpec(
        table=TableRef(storage.root_uri, dict(storage_options) if storage_options else None,
                       snapshot.version if snapshot is not None else None),
        schema=plan.schema, input_schema=arrow_schema, partition_columns=tuple(partition_cols),
        properties=properties, checks=tuple(table_checks(plan.schema, dict(plan.metadata.configuration))),
        predicate=pred, predicate_text=predicate if isinstance(predicate, str) else (repr(pred) if pred else None),
        target_file_size=target_file_size, column_mapping=column_mapping_mode(plan.protocol, properties),
    )
    removes, rewrites = _overwrite_work(snapshot, pred) if snapshot is not None and mode == "overwrite" else ([], [])
    if removes and properties.append_only:
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")

    outputs: list[TaskOutput] = compute_outputs(_tasks(ddf, spec, rewrites))

    txn = Transaction(storage, snapshot, operation="WRITE", parameters=_parameters(mode, partition_cols, predicate, pred),
                      properties=props, hook=_hook,
                      may_match=lambda add, p: may_match(add, p, plan.schema, partition_cols,
                                                         snapshot.column_mapping_mode if snapshot else "none"))
    if snapshot is None or plan.protocol_changed:
        txn.update_protocol(plan.protocol)
    if snapshot is None or plan.metadata_changed:
        txn.update_metadata(plan.metadata)
    totals = stage_outputs(txn, outputs)
    txn.remove_files(removes)
    if txn.removes and properties.append_only:
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")
    if snapshot is not None and mode == "overwrite":
        if pred is None:
            txn.read_whole_table()
        else:
            txn.read_predicate(pred, [remove_as_add(r) for r in txn.removes])
    rows, copied = totals.get("rows", 0), totals.get("copied", 0)
    txn.metrics.update({
        "numFiles": len(txn.adds), "numOutputRows": rows + copied, "numOutputBytes": sum(a.size for a in txn.adds),
        "numRemovedFiles": len(txn.removes), "numCopiedRows": copied,
    })
    return txn.commit()


def _parameters(mode: str, partition_cols: list[str], predicate: Any, pred: Expr | None) -> dict[str, Any]:
    """commitInfo.operationParameters, as the single-process write records them."""
    params: dict[str, Any] = {"mode": _MODE_NAMES[mode], "partitionBy": list(partition_cols)}
    if pred is not None:
        params["predicate"] = predicate if isinstance(predicate, str) else repr(predicate)
    return params
