"""`write_delta`: append, overwrite, replaceWhere (overwrite with a predicate), create-on-first-write,
schema enforcement and evolution (PROTOCOL.md "Add File and Remove File", "Change Metadata").

Plan first (schema, metadata, protocol, writer gate), then stream the data into files, then stage the
removes an overwrite needs, then commit once. Any failure before the commit leaves the table as it was
(written files stay unreferenced).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence
from urllib.parse import unquote

import pyarrow as pa

from lakehouse.errors import (
    AppendOnlyError,
    ConstraintViolationError,
    InvalidArgumentError,
    MetadataChangedError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedFeatureError,
)
from lakehouse.operations.create import new_table_actions, validate_partition_columns, with_schema
from lakehouse.operations.cluster import check_cluster_by_on_write, new_clustered_table
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_plans import filter_rows
from lakehouse.protocol.file_table import remove_for, table_to_adds
from lakehouse.protocol.actions import Add, DomainMetadata, Metadata, Protocol, Remove
from lakehouse.protocol.arrow_conform import null_array
from lakehouse.protocol.expr import Expr, parse_predicate, to_arrow
from lakehouse.protocol.generated import column_rules, with_high_water_marks
from lakehouse.protocol.features import active_features, check_writable, column_mapping_mode, required_protocol
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol.pruning import is_partition_only, may_match, partition_mask
from lakehouse.protocol.schema import (
    StructType, from_arrow_schema, parse_schema, schema_to_json, to_arrow_field, to_arrow_type,
)
from lakehouse.protocol.schema_evolution import check_fits, check_unique_names, merge_schemas
from lakehouse.progress import Progress, reporter
from lakehouse.protocol.store_assignment import assign_array
from lakehouse.scan.read import FileTask, file_tasks, read_file
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.storage import Storage, open_storage
from lakehouse.write.transaction import (
    CommitProperties,
    CommitResult,
    Hook,
    Transaction,
    already_applied,
    check_commit_safety,
)
from lakehouse.write.columns import complete_rows
from lakehouse.write.constraints import Check, enforce, table_checks
from lakehouse.write.files import DataFileWriter, FileWriteOptions, resolve_max_workers
from lakehouse.write.sources import to_batches

Mode = Literal["error", "append", "overwrite", "ignore"]
SchemaMode = Literal["merge", "overwrite"]
MODES = ("error", "append", "overwrite", "ignore")


@dataclass(frozen=True)
class WritePlan:
    """The table a write produces: protocol, metadata and schema, and whether each changes."""

    protocol: Protocol
    metadata: Metadata
    schema: StructType
    metadata_changed: bool
    protocol_changed: bool
    domains: tuple[DomainMetadata, ...] = ()  # domainMetadata actions of the commit (a new table's clustering)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The table's Arrow schema with its nullability, which written files carry."""
        return pa.schema([to_arrow_field(f) for f in self.schema.fields])

    @property
    def column_mapping(self) -> ColumnMappingMode:
        """The column mapping mode in force after the write."""
        return column_mapping_mode(self.protocol, TableProperties.parse(self.metadata.configuration))

    def writer(self, storage: Storage, target_file_size: int | None = None, *,
               max_workers: int | None = None) -> DataFileWriter:
        """A data file writer for the table this plan produces, encoding on ``max_workers`` threads
        (default: the core count)."""
        options = FileWriteOptions(target_file_size=target_file_size) if target_file_size else FileWriteOptions()
        return DataFileWriter(storage, self.schema, list(self.metadata.partition_columns),
                              TableProperties.parse(self.metadata.configuration), options, mode=self.column_mapping,
                              max_workers=max_workers)


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The input schema with dictionary columns decoded and every field nullable (NOT NULL is enforced
    on the values, by `enforce`)."""
    fields = []
    for f in schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        fields.append(pa.field(f.name, t, f.nullable, metadata=f.metadata))  # keeps column declarations
    return pa.schema(fields)


def plan_write(snapshot: Snapshot | None, data_schema: StructType, *, mode: str, partition_by: Sequence[str] | None,
               schema_mode: str | None, configuration: Mapping[str, str] | None, name: str | None,
               description: str | None, cluster_by: Sequence[str] | None = None) -> WritePlan:
    """Schema, metadata and protocol after writing data of ``data_schema`` (a new table when
    ``snapshot`` is None): schema enforcement, merge or overwrite, partitioning checks; ``cluster_by``
    clusters a new table (on an existing one it must name its clustering columns)."""
    if snapshot is None:
        protocol, metadata = new_table_actions(data_schema, partition_by or [], configuration, name, description)
        domains: tuple[DomainMetadata, ...] = ()
        if cluster_by is not None:
            protocol, domain = new_clustered_table(protocol, metadata, cluster_by)
            domains = (domain,)
        return WritePlan(protocol, metadata, parse_schema(metadata.schema_string), True, True, domains)
    check_cluster_by_on_write(snapshot, cluster_by)
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
        return evolved_plan(snapshot, new, mapped)
    if partition_by is not None and list(partition_by) != list(metadata.partition_columns):
        raise SchemaMismatchError(
            f"partition_by={list(partition_by)} differs from the table's partition columns "
            f"{list(metadata.partition_columns)}.\nHelp: omit partition_by, or overwrite with schema_mode='overwrite'."
        )
    if schema_mode == "merge":
        merged = merge_schemas(table, data_schema)
        if merged != table:
            new, mapped = with_schema(metadata, merged)
            return evolved_plan(snapshot, new, mapped)
        return WritePlan(snapshot.protocol, metadata, table, False, False)
    check_fits(data_schema, table)
    return WritePlan(snapshot.protocol, metadata, table, False, False)


def evolved_plan(snapshot: Snapshot, metadata: Metadata, schema: StructType) -> WritePlan:
    """The plan of a write that changes the table's schema: new metadata, and the protocol the new schema
    needs (`required_protocol`: a timestamp_ntz column brings `timestampNtz`, at any depth)."""
    protocol = required_protocol(snapshot.protocol, schema, metadata.configuration)
    return WritePlan(protocol, metadata, schema, True, protocol != snapshot.protocol)


def _nullable(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _nullable(f.type), True) for f in t])
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _nullable(t.value_type), True))
    if pa.types.is_map(t):
        return pa.map_(t.key_type, pa.field("value", _nullable(t.item_type), True))
    return t


def conform_batches(batches: Iterator[pa.RecordBatch], schema: StructType) -> Iterator[pa.Table]:
    """Batches converted to the table's types with every field nullable: NOT NULL is checked afterwards by
    `enforce`, which names the column, instead of failing inside a cast. A value that would change in the
    conversion (1.5 into an integer column) is a `SchemaMismatchError` naming it; table columns missing
    from the data are nulls."""
    target = pa.schema([pa.field(f.name, _nullable(f.type), True) for f in (to_arrow_field(x) for x in schema.fields)])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        names = batch.schema.names
        cols = []
        for f in target:
            if f.name in names:
                # Every value must survive the conversion (store_assignment); only nullability differs after.
                col = assign_array(batch.column(names.index(f.name)), schema.field(f.name).type, f.name)
                cols.append(col.cast(f.type) if col.type != f.type else col)
            else:
                # Valid for the exact type too (NOT NULL nested fields, a variant's binaries), which the
                # batch is cast back to after `enforce`.
                exact = to_arrow_type(schema.field(f.name).type)
                cols.append(null_array(batch.num_rows, exact).cast(f.type))
        yield pa.Table.from_arrays(cols, schema=target)


def validate_write_args(mode: str, schema_mode: str | None, predicate: Any, target_file_size: Any) -> None:
    """The argument rules of a write, checked before anything is read."""
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


def check_replace_where(table: pa.Table, predicate: Expr | None, schema: StructType, text: str | None) -> None:
    """Every row written by a replaceWhere must match its predicate."""
    if predicate is None:
        return
    matching = filter_rows(table, to_arrow(predicate, schema)).num_rows
    if matching != table.num_rows:
        raise ConstraintViolationError(
            f"{table.num_rows - matching} written row(s) do not match the replaceWhere predicate "
            f"{text!r}; nothing was written."
        )


def predicate_text(predicate: str | Expr | None, parsed: Expr | None) -> str | None:
    """The replaceWhere predicate as commitInfo and messages show it."""
    if parsed is None:
        return None
    return predicate if isinstance(predicate, str) else repr(parsed)


@dataclass(frozen=True)
class PreparedWrite:
    """A write planned against the latest snapshot before any data is written (the plan step that
    `write_delta` and the Dask write share): the table after the write, the replaceWhere predicate, the
    constraints every row must pass. Execute by writing files with `WritePlan.writer` (or on workers),
    then `commit`."""

    storage: Storage
    snapshot: Snapshot | None
    plan: WritePlan
    input_schema: pa.Schema  # the data's Arrow schema
    mode: str
    predicate: Expr | None
    predicate_text: str | None
    checks: tuple[Check, ...]
    properties: CommitProperties

    def overwrite(self) -> tuple[list[Remove], list[tuple[Add, FileTask]]]:
        """What an overwrite removes outright and the files whose kept rows must be rewritten first
        (`overwrite_plan`); nothing for other modes and new tables."""
        if self.snapshot is None or self.mode != "overwrite":
            return [], []
        return overwrite_plan(self.snapshot, self.predicate)

    def commit(self, adds: Sequence[Add], removes: Sequence[Remove], *, rows: int, copied: int,
               columns_completed: bool = False) -> CommitResult:
        """Commit the files written (operation ``WRITE``; see `commit_write`); ``columns_completed``:
        the writer ran `complete_rows` on every row (the Dask write)."""
        return commit_write(self.storage, self.snapshot, self.plan, mode=self.mode, predicate=self.predicate,
                            text=self.predicate_text, adds=adds, removes=removes, rows=rows, copied=copied,
                            properties=self.properties, columns_completed=columns_completed)


def prepare_write(storage: Storage, schema: pa.Schema | Callable[[Snapshot | None], pa.Schema], *, mode: str,
                  partition_by: Sequence[str] | str | None, predicate: str | Expr | None, schema_mode: str | None,
                  configuration: Mapping[str, str] | None, commit_properties: CommitProperties | None,
                  name: str | None, description: str | None,
                  cluster_by: Sequence[str] | None = None) -> PreparedWrite | CommitResult:
    """Plan a write of data with Arrow ``schema`` (arguments already checked by `validate_write_args`):
    existing-table rules of ``mode``, schema enforcement or evolution, the writer gate, the predicate.
    Returns the ``NOOP`` `CommitResult` when nothing is to be written (``mode="ignore"`` on an existing
    table, or a replay of an applied app transaction). ``schema`` may be a function of the existing
    snapshot (None for a new table), for inputs whose types depend on the table."""
    if isinstance(partition_by, str):
        partition_by = [partition_by]
    props = commit_properties or CommitProperties()
    data_schema = None
    if isinstance(schema, pa.Schema):  # checked before the table is read, as it always was
        arrow_schema = schema
        data_schema = from_arrow_schema(normalize_schema(schema))
        check_unique_names(data_schema)
    snapshot = existing_snapshot(storage)
    if snapshot is not None:
        if mode == "error":
            raise TableExistsError(f"a Delta table already exists at {storage.root_uri} (version {snapshot.version}).\n"
                                   "Help: pass mode='append' or mode='overwrite'.")
        if mode == "ignore" or already_applied(snapshot, props):
            return CommitResult(snapshot.version, "NOOP", 0, 0, 0)
    if data_schema is None:
        arrow_schema = schema(snapshot)
        data_schema = from_arrow_schema(normalize_schema(arrow_schema))
        check_unique_names(data_schema)
    plan = plan_write(snapshot, data_schema, mode=mode, partition_by=partition_by, schema_mode=schema_mode,
                      configuration=configuration, name=name, description=description, cluster_by=cluster_by)
    check_writable(plan.protocol, active_features(plan.protocol, plan.metadata))
    check_commit_safety(storage)
    pred = parse_predicate(predicate) if predicate is not None else None
    checks = tuple(table_checks(plan.schema, dict(plan.metadata.configuration)))
    return PreparedWrite(storage, snapshot, plan, arrow_schema, mode, pred, predicate_text(predicate, pred), checks,
                         props)


def write_delta(
    uri: str | os.PathLike[str] | Storage,
    data: Any,
    *,
    mode: Mode = "error",
    partition_by: Sequence[str] | str | None = None,
    predicate: str | Expr | None = None,
    schema_mode: SchemaMode | None = None,
    target_file_size: int | None = None,
    max_workers: int | None = None,
    configuration: Mapping[str, str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    commit_properties: CommitProperties | None = None,
    name: str | None = None,
    description: str | None = None,
    progress: Progress | None = None,
    cluster_by: Sequence[str] | None = None,
) -> CommitResult:
    """Write ``data`` to the Delta table at ``uri`` (created by the first write).

    ``mode``: ``error`` (fail if the table exists), ``append``, ``overwrite`` or ``ignore`` (do nothing if
    it exists). ``predicate`` with ``overwrite`` replaces only the matching rows (replaceWhere) and every
    written row must match it. ``schema_mode="merge"`` adds new columns; ``"overwrite"`` (with
    ``mode="overwrite"``) replaces schema and partitioning. ``max_workers`` (default: the core count) is
    how many threads encode data files at once; a large write is cut into that many files, each of at
    least 16 MB in memory. ``progress`` receives a `ProgressEvent` (operation ``WRITE``, unit ``rows``)
    after each input batch is handed to the writers (``total`` is the input's row count when the input
    knows it: a Table, RecordBatch or DataFrame; None for a stream until the files are finished).
    ``cluster_by`` makes the table a liquid-clustered one when this write creates it (spec/clustering.md;
    on an existing table it must name its clustering columns). Returns the `CommitResult`.
    """
    validate_write_args(mode, schema_mode, predicate, target_file_size)
    counter = reporter(progress, "WRITE", "rows")
    resolve_max_workers(max_workers)
    storage = open_storage(uri, storage_options)
    arrow_schema, batches = to_batches(data)
    total = known_rows(data) if counter else None
    for attempt in range(IDENTITY_RETRIES + 1):
        prepared = prepare_write(storage, arrow_schema, mode=mode, partition_by=partition_by, predicate=predicate,
                                 schema_mode=schema_mode, configuration=configuration,
                                 commit_properties=commit_properties, name=name, description=description,
                                 cluster_by=cluster_by)
        if isinstance(prepared, CommitResult):
            return prepared
        rules = column_rules(prepared.plan.schema)
        if not rules.identities or prepared.snapshot is None:
            return _write_once(prepared, batches, target_file_size, max_workers, counter, total)
        # Identity values depend on the high-water mark read: keep the input so that a write that lost the
        # race to another identity writer (MetadataChanged) can be redone against the new mark.
        batches = iter(kept := list(batches))
        try:
            return _write_once(prepared, batches, target_file_size, max_workers, counter, total, discard_on_conflict=True)
        except MetadataChangedError:
            if attempt == IDENTITY_RETRIES:
                raise
            batches = iter(kept)
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # jitter: concurrent writers spread out
    raise AssertionError("unreachable")


#: How often a write to a table with identity columns is redone after losing the high-water mark race.
IDENTITY_RETRIES = 20


def _write_once(prepared: PreparedWrite, batches: Iterator[pa.RecordBatch], target_file_size: int | None,
                max_workers: int | None, counter: Any, total: int | None, *,
                discard_on_conflict: bool = False) -> CommitResult:
    """One attempt of `write_delta` against ``prepared``'s snapshot: complete the rows (generated,
    default, identity columns), enforce constraints, write files, stage an overwrite's removes, commit.
    With ``discard_on_conflict`` the files written are deleted when the commit loses to a metadata change."""
    storage, snapshot, plan = prepared.storage, prepared.snapshot, prepared.plan
    pred, text = prepared.predicate, prepared.predicate_text
    checks = list(prepared.checks)
    rules = column_rules(plan.schema)
    present = set(prepared.input_schema.names)
    marks: dict[str, int | None] = {n: i.high_water_mark for n, i in rules.identities.items()}
    moved = False
    writer = plan.writer(storage, target_file_size, max_workers=max_workers)
    rows = copied = 0
    removes: list[Remove] = []
    try:
        exact = plan.arrow_schema
        if counter:
            counter(0, total)
        for table in conform_batches(batches, plan.schema):
            if rules:
                done = complete_rows(table, plan.schema, rules, present=present, marks=marks)
                table = done.table
                marks.update(done.high_water_marks)
                moved = moved or bool(done.high_water_marks)
            enforce(table, plan.schema, checks)
            table = table.cast(exact)
            check_replace_where(table, pred, plan.schema, text)
            writer.write(table)
            rows += table.num_rows
            if counter:
                counter(rows, total)
        removes, rewrites = prepared.overwrite()
        if rewrites:
            assert snapshot is not None and pred is not None  # rewrites come only from a replaceWhere
            for add, task in rewrites:
                kept = rewrite_kept_rows(snapshot, task, pred, plan, writer)
                if kept is not None:
                    copied += kept
                    removes.append(remove_for(add, int(time.time() * 1000)))
        adds = writer.close()
    except BaseException:
        writer.abort()
        raise
    if counter:
        counter(rows, rows)  # every file is finished: a stream's total is now known
    if moved:  # the new high-water marks go into the schema of the same commit
        schema = with_high_water_marks(plan.schema, marks)
        plan = replace(plan, schema=schema, metadata=replace(plan.metadata, schema_string=schema_to_json(schema)),
                       metadata_changed=True)
    try:
        return commit_write(storage, snapshot, plan, mode=prepared.mode, predicate=pred, text=text, adds=adds,
                            removes=removes, rows=rows, copied=copied, properties=prepared.properties,
                            columns_completed=True)
    except MetadataChangedError:
        if discard_on_conflict:
            storage.delete_many([unquote(a.path) for a in adds])  # never referenced: the retry writes its own
        raise


def known_rows(data: Any) -> int | None:
    """How many rows ``data`` holds when it knows without being read (a Table, RecordBatch, list of
    batches, polars or pandas DataFrame); None for streams (readers, LazyFrames)."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data.num_rows
    if isinstance(data, (list, tuple)) and all(isinstance(b, pa.RecordBatch) for b in data):
        return sum(b.num_rows for b in data)
    module = type(data).__module__.split(".")[0]
    if module == "polars" and type(data).__name__ == "DataFrame":
        return int(data.height)
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return len(data)
    return None


def existing_snapshot(storage: Storage) -> Snapshot | None:
    """The latest snapshot, or None when there is no table yet."""
    try:
        return latest_snapshot(storage)
    except TableNotFoundError:
        if storage.is_file():
            raise  # a file path cannot become a table: the loader's error says so
        return None


def remove_as_add(r: Remove) -> Add:
    """A removed file as the `Add` the read set records (path, partition values, deletion vector)."""
    return Add(r.path, r.partition_values or {}, r.size or 0, 0, True, deletion_vector=r.deletion_vector)


def overwrite_plan(snapshot: Snapshot, pred: Expr | None) -> tuple[list[Remove], list[tuple[Add, FileTask]]]:
    """What an overwrite removes outright, and the candidate files whose kept rows must be rewritten
    first (a predicate on data columns; see `rewrite_kept_rows`)."""
    now = int(time.time() * 1000)
    if pred is None:
        return [remove_for(a, now) for a in table_to_adds(snapshot.adds)], []
    partition_cols = list(snapshot.metadata.partition_columns)
    values = [dict(pv or []) for pv in snapshot.adds.column("partitionValues").to_pylist()]
    mask = partition_mask(values, pred, snapshot.schema, partition_cols, snapshot.column_mapping_mode)
    candidates = snapshot.adds.filter(av.array(mask, pa.bool_()))
    if is_partition_only(pred, partition_cols):
        return [remove_for(a, now) for a in table_to_adds(candidates)], []
    if snapshot.properties.enable_change_data_feed:
        raise UnsupportedFeatureError(
            "replaceWhere on data columns of a change-data-feed table needs change data files, which lakehouse "
            "does not write yet.\nHelp: use a predicate on partition columns only.", feature="changeDataFeed",
        )
    if not candidates.num_rows:
        return [], []
    return [], list(zip(table_to_adds(candidates), file_tasks(candidates)))


def rewrite_kept_rows(snapshot: Snapshot, task: FileTask, pred: Expr, plan: WritePlan, writer: DataFileWriter) -> int | None:
    """For one candidate file of a replaceWhere on data columns: when the predicate matches rows of it,
    write its other rows through ``writer`` and return how many (the file is then removed); None when
    nothing in it matches (the file stays)."""
    data = read_file(snapshot, task, list(snapshot.schema.fields))
    replaced = to_arrow(pred, snapshot.schema)
    if data.filter(replaced).num_rows == 0:
        return None
    kept = data.filter(~replaced | replaced.is_null())
    for table in conform_batches(iter(kept.to_batches()), plan.schema):
        writer.write(table.cast(plan.arrow_schema))
    return kept.num_rows


_MODE_NAMES = {"error": "ErrorIfExists", "append": "Append", "overwrite": "Overwrite", "ignore": "Ignore"}


def commit_write(storage: Storage, snapshot: Snapshot | None, plan: WritePlan, *, mode: str, predicate: Expr | None,
                 text: str | None, adds: Sequence[Add], removes: Sequence[Remove], rows: int, copied: int,
                 properties: CommitProperties, hook: Hook | None = None,
                 columns_completed: bool = False) -> CommitResult:
    """Commit a write (operation ``WRITE``): append-only check, read set of an overwrite, protocol and
    metadata changes, actions and metrics. Shared by the single-process and the distributed write."""
    if removes and TableProperties.parse(plan.metadata.configuration).append_only:
        raise AppendOnlyError(f"{storage.root_uri} is append-only (delta.appendOnly=true); an overwrite would remove data")
    partition_cols = list(plan.metadata.partition_columns)
    params: dict[str, Any] = {"mode": _MODE_NAMES[mode], "partitionBy": partition_cols}
    if predicate is not None:
        params["predicate"] = text
    mapping = snapshot.column_mapping_mode if snapshot else "none"
    txn = Transaction(storage, snapshot, operation="WRITE", parameters=params, properties=properties, hook=hook,
                      may_match=lambda add, p: may_match(add, p, plan.schema, partition_cols, mapping))
    if snapshot is None or plan.protocol_changed:
        txn.update_protocol(plan.protocol)
    if snapshot is None or plan.metadata_changed:
        txn.update_metadata(plan.metadata)
    for domain in plan.domains:
        txn.set_domain_metadata(domain)
    if snapshot is not None and mode == "overwrite":
        if predicate is None:
            txn.read_whole_table()
        else:
            txn.read_predicate(predicate, [remove_as_add(r) for r in removes])
    txn.columns_completed = columns_completed  # write_delta and the Dask write ran complete_rows
    txn.rows_preserved = copied == 0  # a replaceWhere's kept rows are written again with fresh row ids
    txn.add_files(adds)
    txn.remove_files(removes)
    txn.metrics.update({
        "numFiles": len(adds), "numOutputRows": rows + copied, "numOutputBytes": sum(a.size for a in adds),
        "numRemovedFiles": len(removes), "numCopiedRows": copied,
    })
    return txn.commit()
