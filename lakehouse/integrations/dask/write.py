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
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import dask.dataframe as dd
import pyarrow as pa
from dask import delayed

from lakehouse.integrations.dask._pandas import frame_schema
from lakehouse.integrations.dask.jobs import TableRef, TaskOutput, collect_outputs, compute_outputs
from lakehouse.integrations.dask.write_tasks import WriteSpec, rewrite_file, write_partition
from lakehouse.errors import AppendOnlyError, InvalidArgumentError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.operations.write import Mode, PreparedWrite, SchemaMode, prepare_write, validate_write_args
from lakehouse.protocol.actions import Remove
from lakehouse.protocol.file_table import remove_for
from lakehouse.protocol.expr import Expr, to_arrow
from lakehouse.protocol.generated import column_rules
from lakehouse.protocol.schema import to_arrow_field
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
    identities = sorted(column_rules(plan.schema).identities)
    if identities:
        # Identity values must be distinct across partitions and the high-water mark must cover them;
        # the tasks' row counts are unknown before they run, so the Dask write does not assign them.
        raise UnsupportedFeatureError(
            f"the Dask write_delta does not write tables with identity columns {identities} "
            f"({storage.root_uri}); nothing was written.\nHelp: write with lakehouse.write_delta (e.g. "
            "ddf.compute() or per partition), or insert through the Dask MERGE, which assigns identity values "
            "on the client.", feature="identityColumns")
    if pred is not None:
        to_arrow(pred, plan.schema)  # an unusable predicate fails here, before any task runs
    spec = WriteSpec(
        table=TableRef(storage.root_uri, dict(storage_options) if storage_options else None,
                       snapshot.version if snapshot is not None else None),
        plan=plan, input_schema=prepared.input_schema, index_is_data=index_is_data(ddf), checks=prepared.checks,
        predicate=pred, predicate_text=prepared.predicate_text, target_file_size=target_file_size,
        now=datetime.now(timezone.utc),
    )
    removes, rewrites = _overwrite_work(prepared)
    if (removes or rewrites) and snapshot is not None and snapshot.properties.append_only:
        # Fail before any task runs; `commit_write` would refuse the commit anyway.
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")
    outputs: list[TaskOutput] = compute_outputs(_tasks(ddf, spec, rewrites))
    adds, rewritten, totals = collect_outputs(outputs)
    # Every task completed its rows (generated columns, defaults; identity tables are refused above).
    return prepared.commit(adds, removes + rewritten, rows=totals.get("rows", 0), copied=totals.get("copied", 0),
                           columns_completed=True)
