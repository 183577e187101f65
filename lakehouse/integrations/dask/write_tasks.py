"""The worker side of the Dask write: rows in, data files written, `Add`/`Remove` actions out as data.

Each function runs inside one Dask task, opens storage through its `TableRef` (never an object shipped
from the client) and writes files under fresh unique names with `DataFileWriter`, so a retried task
never reuses a name and a failed attempt leaves only unreferenced files. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa

from lakehouse.integrations.dask.jobs import TableRef, TaskOutput
from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.operations.write import WritePlan, check_replace_where, conform_batches, rewrite_kept_rows
from lakehouse.protocol.actions import Remove
from lakehouse.protocol.expr import Expr
from lakehouse.protocol.generated import Identity, column_rules
from lakehouse.protocol.schema import StructType
from lakehouse.scan.read import FileTask
from lakehouse.write.columns import complete_rows
from lakehouse.write.constraints import Check, enforce
from lakehouse.write.files import DataFileWriter


@dataclass(frozen=True)
class WriteSpec:
    """What every write task needs, planned once on the client (plain, picklable data).

    ``plan`` is the single-process write's plan (the table after this write); ``input_schema`` is the
    Arrow schema the pandas partitions are converted with, so that every partition converts to the same
    types; ``index_is_data`` says that the (named) index is written as column(s); ``now`` is the one
    `now()` of generated columns and defaults for every task (the client's clock).
    """

    table: TableRef
    plan: WritePlan
    input_schema: pa.Schema
    checks: tuple[Check, ...]
    predicate: Expr | None
    predicate_text: str | None
    target_file_size: int | None
    index_is_data: bool = False
    now: datetime | None = None
    tasks: int = 1  # how many write tasks hand out identity values at once (`Identity.task_values`)

    @property
    def schema(self) -> StructType:
        """The table's schema after this write."""
        return self.plan.schema

    def writer(self) -> DataFileWriter:
        """A data file writer for this table in this process: one encode thread, since Dask already runs a
        task per core."""
        return self.plan.writer(self.table.storage(), self.target_file_size, max_workers=1)


def _to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    except (pa.ArrowException, KeyError, TypeError, ValueError) as e:
        raise SchemaMismatchError(
            f"a partition does not convert to the write's schema {schema}: {e}.\n"
            "Help: make the Dask DataFrame's dtypes match its data (or pass schema= to write_delta)."
        ) from None


def write_partition(df: pd.DataFrame, spec: WriteSpec, task: int = 0) -> TaskOutput:
    """Write one Dask partition's rows: complete generated, default and identity columns (task ``task``
    of ``spec.tasks`` takes its own interleaved identity values, `Identity.task_values`), enforce
    constraints and replaceWhere, write files, return adds and the identity marks reached."""
    table = _to_arrow(df.reset_index() if spec.index_is_data else df, spec.input_schema)
    writer = spec.writer()
    rows = 0
    rules = column_rules(spec.schema, now=spec.now)
    done: dict[str, int] = {}
    marks: dict[str, int] = {}

    def generate(ident: Identity, count: int) -> tuple[list[int], int | None]:
        values, mark = ident.task_values(count, task, spec.tasks, done.get(ident.column, 0))
        done[ident.column] = done.get(ident.column, 0) + count
        return values, mark

    try:
        for batch in conform_batches(iter(table.to_batches()), spec.schema):
            if rules:
                completed = complete_rows(batch, spec.schema, rules, present=spec.input_schema.names, generate=generate)
                batch = completed.table
                for name, mark in completed.high_water_marks.items():
                    step = rules.identities[name].step
                    marks[name] = mark if name not in marks else max(marks[name], mark) if step > 0 else min(marks[name], mark)
            enforce(batch, spec.schema, list(spec.checks))
            batch = batch.cast(spec.plan.arrow_schema)
            check_replace_where(batch, spec.predicate, spec.schema, spec.predicate_text)
            writer.write(batch)
            rows += batch.num_rows
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    return TaskOutput(adds=tuple(adds), metrics={"rows": rows}, marks=marks)


def rewrite_file(spec: WriteSpec, task: FileTask, remove: Remove) -> TaskOutput:
    """replaceWhere on data columns, for one candidate file of the table as read: when the predicate
    matches rows of it, write its other rows to new files and remove it; otherwise leave it alone."""
    if spec.predicate is None:
        raise InvalidArgumentError("rewrite_file needs the replaceWhere predicate in its WriteSpec")
    writer = spec.writer()
    try:
        kept = rewrite_kept_rows(spec.table.snapshot(), task, spec.predicate, spec.plan, writer)
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    if kept is None:
        return TaskOutput()
    return TaskOutput(adds=tuple(adds), removes=(remove,), metrics={"copied": kept})
