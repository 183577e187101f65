"""The worker side of the Dask write: rows in, data files written, `Add`/`Remove` actions out as data.

Each function runs inside one Dask task, opens storage through its `TableRef` (never an object shipped
from the client) and writes files under fresh unique names with `DataFileWriter`, so a retried task
never reuses a name and a failed attempt leaves only unreferenced files. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from lakehouse.dask._core import conform_batches
from lakehouse.dask.jobs import TableRef, TaskOutput
from lakehouse.errors import ConstraintViolationError, InvalidArgumentError, SchemaMismatchError
from lakehouse.protocol.actions import Remove
from lakehouse.protocol.expr import Expr, to_arrow
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.schema import StructType, to_arrow_field
from lakehouse.read import FileTask, read_file
from lakehouse.write.constraints import Check, enforce
from lakehouse.write.files import DataFileWriter, FileWriteOptions


@dataclass(frozen=True)
class WriteSpec:
    """What every write task needs, planned once on the client (plain, picklable data).

    ``schema`` is the table's schema after this write; ``input_schema`` is the Arrow schema the pandas
    partitions are converted with, so that every partition converts to the same types.
    """

    table: TableRef
    schema: StructType
    input_schema: pa.Schema
    partition_columns: tuple[str, ...]
    properties: TableProperties
    checks: tuple[Check, ...]
    predicate: Expr | None
    predicate_text: str | None
    target_file_size: int | None
    #: Column mapping mode in force after this write (files carry physical names under ``name``/``id``).
    column_mapping: str = "none"

    def writer(self) -> DataFileWriter:
        """A data file writer for this table in this process."""
        options = FileWriteOptions(target_file_size=self.target_file_size) if self.target_file_size else FileWriteOptions()
        return DataFileWriter(self.table.storage(), self.schema, list(self.partition_columns), self.properties, options,
                              mode=self.column_mapping)

    @property
    def exact_schema(self) -> pa.Schema:
        """The table's Arrow schema with its nullability, which the written files carry."""
        return pa.schema([to_arrow_field(f) for f in self.schema.fields])


def _to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    except (pa.ArrowException, KeyError, TypeError, ValueError) as e:
        raise SchemaMismatchError(
            f"a partition does not convert to the write's schema {schema}: {e}.\n"
            "Help: make the Dask DataFrame's dtypes match its data (or pass schema= to write_delta)."
        ) from None


def _check_predicate(table: pa.Table, spec: WriteSpec) -> None:
    if spec.predicate is None:
        return
    matching = table.filter(to_arrow(spec.predicate, spec.schema)).num_rows
    if matching != table.num_rows:
        raise ConstraintViolationError(
            f"{table.num_rows - matching} written row(s) do not match the replaceWhere predicate "
            f"{spec.predicate_text!r}; nothing was written."
        )


def write_partition(df: pd.DataFrame, spec: WriteSpec) -> TaskOutput:
    """Write one Dask partition's rows: enforce constraints and replaceWhere, write files, return adds."""
    table = _to_arrow(df, spec.input_schema)
    writer = spec.writer()
    rows = 0
    try:
        for batch in conform_batches(iter(table.to_batches()), spec.schema):
            enforce(batch, spec.schema, list(spec.checks))
            batch = batch.cast(spec.exact_schema)
            _check_predicate(batch, spec)
            writer.write(batch)
            rows += batch.num_rows
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    return TaskOutput(adds=tuple(adds), metrics={"rows": rows})


def rewrite_file(spec: WriteSpec, task: FileTask, remove: Remove) -> TaskOutput:
    """replaceWhere on data columns, for one candidate file of the table as read: when the predicate
    matches rows of it, write its other rows to new files and remove it; otherwise leave it alone."""
    if spec.predicate is None:
        raise InvalidArgumentError("rewrite_file needs the replaceWhere predicate in its WriteSpec")
    snapshot = spec.table.snapshot()
    data = read_file(snapshot, task, list(snapshot.schema.fields))
    replaced = to_arrow(spec.predicate, snapshot.schema)
    if data.filter(replaced).num_rows == 0:
        return TaskOutput()
    kept = data.filter(~replaced | replaced.is_null())
    writer = spec.writer()
    try:
        for batch in conform_batches(iter(kept.to_batches()), spec.schema):
            writer.write(batch.cast(spec.exact_schema))
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    return TaskOutput(adds=tuple(adds), removes=(remove,), metrics={"copied": kept.num_rows})
