"""`write_delta` for Dask DataFrames: plan on the client, write files on the workers, commit once.

1. Client: validate the arguments, load the latest snapshot, plan schema, metadata and protocol exactly
   with the single-process write's own functions (`plan_write`, `overwrite_plan`), and decide what an
   overwrite removes.
2. Workers: every Dask partition becomes one task that writes its rows to new Parquet files and returns
   their `Add` actions (with stats); replaceWhere on data columns adds one task per candidate file that
   rewrites the rows it keeps (`lakehouse.integrations.dask.write_tasks`).
3. Client: gather the outputs and commit them all in one `Transaction` with the single-process write's
   read set, removes, commitInfo (operation ``WRITE``) and conflict checks (`lakehouse.integrations.dask.jobs`).

A failed task fails the whole job before the transaction exists, so nothing is committed; files of
failed or retried attempts stay unreferenced until VACUUM.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

import dask.dataframe as dd
import pyarrow as pa
from dask import delayed

from lakehouse.integrations.dask._pandas import frame_schema
from lakehouse.integrations.dask.jobs import TableRef, TaskOutput, collect_outputs, compute_outputs, task
from lakehouse.integrations.dask.write_tasks import WriteSpec, rewrite_file, write_partition
from lakehouse.errors import AppendOnlyError, InvalidArgumentError, MetadataChangedError, SchemaMismatchError
from lakehouse.operations.write import Mode, PreparedWrite, SchemaMode, prepare_write, validate_write_args
from lakehouse.protocol.actions import Remove
from lakehouse.protocol.file_table import remove_for
from lakehouse.protocol.expr import Expr, to_arrow
from lakehouse.protocol.generated import column_rules, with_high_water_marks
from lakehouse.protocol.schema import StructType, schema_to_json, to_arrow_field
from lakehouse.scan.read import FileTask
from lakehouse.snapshot import Snapshot
from lakehouse.storage import open_storage
from lakehouse.write.transaction import CommitProperties, CommitResult


def input_schema(ddf: dd.DataFrame, schema: pa.Schema | None, snapshot: Snapshot | None) -> pa.Schema:
    """The Arrow schema every partition is converted with: ``schema`` if given, else the one pandas gives
    the Dask metadata, with ``object`` columns (whose type the metadata cannot tell) typed as the table's
    column of the same name."""
    meta = ddf._meta
    if index_is_data(ddf):  # index columns last, where pyarrow.Table.from_pandas puts them
        names = list(meta.index.names)
        meta = meta.reset_index()
        meta = meta[[c for c in meta.columns if c not in names] + names]
    if schema is not None:
        if not isinstance(schema, pa.Schema):
            raise InvalidArgumentError(f"schema must be a pyarrow.Schema, got {type(schema).__name__}")
        missing = [c for c in meta.columns if c not in schema.names]
        if missing:
            raise SchemaMismatchError(f"schema has no field for column(s) {missing} of the Dask DataFrame "
                                      "(a named index is written as a column)")
        return schema
    table_fields = {f.name: to_arrow_field(f) for f in snapshot.schema.fields} if snapshot is not None else {}
    fields = []
    for f in frame_schema(meta):
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


def index_is_data(ddf: dd.DataFrame) -> bool:
    """Whether the Dask index is written as column(s): when it is named (``set_index("id")``,
    ``read_delta(index=...)``), as `lakehouse.write_delta` writes a pandas index. An unnamed Dask index
    is the row numbering of each partition, whatever its type per partition, and is not written."""
    return any(name is not None for name in ddf._meta.index.names)


def _overwrite_work(prepared: PreparedWrite) -> tuple[list[Remove], list[tuple[FileTask, Remove]]]:
    """What an overwrite removes outright, and the files whose kept rows a worker must rewrite first
    (the single-process write's plan, with each rewrite's remove prepared on the client)."""
    removes, rewrites = prepared.overwrite()
    now = int(time.time() * 1000)
    return removes, [(task, remove_for(add, now)) for add, task in rewrites]


def _tasks(ddf: dd.DataFrame, spec: WriteSpec, rewrites: Sequence[tuple[FileTask, Remove]]) -> list[Any]:
    # The spec is one graph node that every task depends on, so it is shipped once per worker, not per task.
    shared = delayed(spec, traverse=False)
    writes = [task(write_partition, i, part, shared, i) for i, part in enumerate(ddf.to_delayed())]
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
) -> CommitResult:
    """Write a Dask DataFrame to the Delta table at ``uri`` (created by the first write) in one commit.

    Arguments mean what they mean for `lakehouse.write_delta` (modes ``error`` (default), ``append``,
    ``overwrite``, ``ignore``; ``predicate`` = replaceWhere; ``schema_mode``; ``configuration`` for a new
    table) and the commit is the same: operation ``WRITE``, the same removes, read set and conflict
    checks. A named index is written as column(s) named after it (as a pandas index given to
    `lakehouse.write_delta`); an unnamed one, the partitions' row numbering, is not. ``schema`` fixes the
    Arrow types the partitions convert to (needed only for ``object`` columns of a new table). ``storage_options`` travel to the workers, which open
    storage themselves. Runs on the active Dask scheduler and blocks until committed.
    """
    validate_write_args(mode, schema_mode, predicate, target_file_size)
    if not isinstance(ddf, dd.DataFrame):
        raise InvalidArgumentError(f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__module__}.{type(ddf).__name__}")
    storage = open_storage(uri, storage_options)
    # The input schema may depend on the table: object columns take the type of the table's column.
    prepared = prepare_write(storage, lambda snapshot: input_schema(ddf, schema, snapshot), mode=mode, partition_by=partition_by, predicate=predicate,
                             schema_mode=schema_mode, configuration=configuration,
                             commit_properties=commit_properties, name=name, description=description)
    if isinstance(prepared, CommitResult):
        return prepared
    snapshot, plan, pred = prepared.snapshot, prepared.plan, prepared.predicate
    if pred is not None:
        to_arrow(pred, plan.schema)  # an unusable predicate fails here, before any task runs
    spec = WriteSpec(
        table=TableRef(storage.root_uri, dict(storage_options) if storage_options else None,
                       snapshot.version if snapshot is not None else None),
        plan=plan, input_schema=prepared.input_schema, index_is_data=index_is_data(ddf), checks=prepared.checks,
        predicate=pred, predicate_text=prepared.predicate_text, target_file_size=target_file_size,
        now=datetime.now(timezone.utc), tasks=ddf.npartitions,
    )
    removes, rewrites = _overwrite_work(prepared)
    if (removes or rewrites) and snapshot is not None and snapshot.properties.append_only:
        # Fail before any task runs; `commit_write` would refuse the commit anyway.
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")
    outputs: list[TaskOutput] = compute_outputs(_tasks(ddf, spec, rewrites))
    adds, rewritten, totals = collect_outputs(outputs)
    marks = _identity_marks(plan.schema, outputs)
    if marks:  # the new high-water marks go into the schema of the same commit
        schema = with_high_water_marks(plan.schema, marks)
        prepared = replace(prepared, plan=replace(plan, schema=schema, metadata_changed=True, metadata=replace(
            plan.metadata, schema_string=schema_to_json(schema))))
    try:
        # Every task completed its rows (generated, default and identity columns).
        return prepared.commit(adds, removes + rewritten, rows=totals.get("rows", 0),
                               copied=totals.get("copied", 0), columns_completed=True)
    except MetadataChangedError:
        if marks:
            # Another writer moved a high-water mark (or the schema) first: these files may repeat its
            # identity values, so they are never published.
            storage.delete_many([unquote(a.path) for a in adds])
        raise


def _identity_marks(schema: StructType, outputs: Sequence[TaskOutput]) -> dict[str, int]:
    """Each identity column's new high-water mark: the furthest value any task wrote (in the step's
    direction), when it moved past the current mark."""
    out: dict[str, int] = {}
    for name, ident in column_rules(schema).identities.items():
        reached = [o.marks[name] for o in outputs if name in o.marks]
        if ident.high_water_mark is not None:
            reached.append(ident.high_water_mark)
        if not reached:
            continue
        mark = max(reached) if ident.step > 0 else min(reached)
        if mark != ident.high_water_mark:
            out[name] = mark
    return out
