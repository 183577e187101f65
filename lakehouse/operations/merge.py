"""MERGE: upserts with Spark's semantics (PROTOCOL.md "Add File and Remove File", "Deletion Vectors",
"Add CDC File").

The source is materialised (it is the small side of an upsert); the target is never: its files are
pruned with the source's key values (partition values and per-file stats), then read one at a time and
joined with the source in Arrow. For each target file, matched rows take the first WHEN MATCHED clause
whose condition holds, unmatched rows the first WHEN NOT MATCHED BY SOURCE clause; changed rows are
dropped from the file by a deletion vector (`delta.enableDeletionVectors=true`) or by rewriting it, and
their new versions are written to new files. Source rows that matched nothing take the first WHEN NOT
MATCHED clause. A target row matched by two source rows is an error naming the key.

Three steps over plain data, on the DML engine (`operations/rewrite.py`), so that a distributed engine
(`lakehouse.integrations.dask.merge`) runs the middle one as tasks and the single-process `run_merge`
(`merge_builder.py`, with the `MergeBuilder`) runs the very same functions in a loop:

1. `prepare_merge`: the source, the compiled clauses, the schemas and the pruning predicate, planned once
   against a snapshot (`PreparedMerge`; it pickles). `PreparedMerge.plan_files` plans the candidate
   target files on a `FileRewriter`.
2. `merge_target_files`: each candidate file is joined with the whole source by `merge_target_file` on the
   engine's read-ahead workers (a pure `MergeOutcome`: changed rows, their new versions, change data, the
   source rows it matched); the engine applies it (deletion vector or copy-on-write). Duplicate matches
   are found here: a target row lives in exactly one file, so the file that holds it sees every source
   row it matches. One source row matching rows of several files is fine (each of those target rows has
   one match). The result, `TargetChanges`, is plain data a Dask task returns.
3. `finish_merge`: `insert_not_matched` for the source rows no file matched (the union over all files),
   then the engine's commit: one transaction whose read set is the pruning predicate and the candidate
   files.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.operations.merge_keys import common_key_type, join_keys, normalise_floats
from lakehouse.operations.merge_plan import (
    Clause, CompiledClause, MergePlan, compile_merge, joined_schema, target_columns_read,
)
from lakehouse.operations.rewrite import ChangeType, FileChanges, FileOutcome, FileRewriter, TouchedFile
from lakehouse.operations.values import assigned_values, evaluate_mask, store_cast
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Metadata, Protocol
from lakehouse.protocol.arrow_conform import null_array
from lakehouse.protocol.expr import EXPR_TYPES, And, Cmp, Col, Expr, FilterLike, In, Lit, check_expression
from lakehouse.protocol.arrow_plans import inner_join
from lakehouse.protocol.features import required_protocol
from lakehouse.protocol.schema import StructType, from_arrow_schema, to_arrow_field, to_arrow_type
from lakehouse.protocol.schema_evolution import merge_schemas
from lakehouse.operations.create import with_schema
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, records_app_transactions
from lakehouse.write.sources import to_batches

_PARTITION_IN_LIMIT = 1000


@dataclass(frozen=True)
class MergeMetrics:
    """What a MERGE did, with time per phase."""

    version: int | None
    num_source_rows: int
    num_target_rows_inserted: int
    num_target_rows_updated: int
    num_target_rows_deleted: int
    num_target_rows_copied: int
    num_target_files_scanned: int
    num_target_files_skipped: int
    num_target_files_removed: int
    num_target_files_added: int
    num_deletion_vectors_added: int
    num_added_change_files: int
    scan_time_ms: int
    rewrite_time_ms: int
    commit_time_ms: int


def _source_table(source: Any) -> tuple[pa.Table, StructType]:
    schema, batches = to_batches(source)
    table = pa.Table.from_batches(list(batches), schema=schema)
    delta = from_arrow_schema(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema]))
    return table.cast(pa.schema([to_arrow_field(f) for f in delta.fields])), delta


def _check_types(plan: MergePlan, jschema: StructType) -> None:
    """Type errors in the ON condition, clause conditions and values, before any data is read."""
    if plan.residual is not None:
        check_expression(plan.residual, jschema, boolean=True, text="MERGE ON condition")
    for clause in plan.clauses:
        if clause.condition is not None:
            check_expression(clause.condition, jschema, boolean=True, text=f"WHEN {clause.kind} condition")
        for column, value in clause.assignments.items():
            if isinstance(value, EXPR_TYPES):
                check_expression(value, jschema, boolean=False, text=f"value for column {column}")


def _pruning_predicate(plan: MergePlan, source: pa.Table, snapshot: Snapshot) -> Expr | None:
    """Target rows can only match source key values: a predicate from their values or range."""
    if plan.of("not_matched_by_source") or not plan.keys:
        return None
    conds: list[Expr] = []
    for tcol, scol in plan.keys:
        values = pc.drop_null(source.column(scol))
        if len(values) == 0:
            return Lit(False)
        if values.type != to_arrow_type(snapshot.schema.field(tcol).type):
            continue  # compared in a wider type (merge_keys): such values are no literals of the column's type
        if pa.types.is_nested(values.type):
            continue  # struct keys: no order to take a range of
        if pa.types.is_floating(values.type):
            if pc.any(pc.is_nan(values)).as_py():
                continue  # NaN matches NaN: a range or IN of the other values would prune NaN rows away
            values = normalise_floats(values.combine_chunks())  # -0.0 is 0.0: one bound, one IN value
        if tcol in snapshot.partition_columns:
            distinct = pc.unique(values).to_pylist()
            if len(distinct) <= _PARTITION_IN_LIMIT:
                conds.append(In(Col((tcol,)), tuple(Lit(v) for v in distinct)))
                continue
        mm = pc.min_max(values).as_py()
        conds.append(And((Cmp(">=", Col((tcol,)), Lit(mm["min"])), Cmp("<=", Col((tcol,)), Lit(mm["max"])))))
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else And(tuple(conds))


def _struct(table: pa.Table, schema: StructType) -> pa.StructArray:
    arrays = [table.column(f.name).combine_chunks() if f.name in table.column_names else null_array(table.num_rows, to_arrow_type(f.type))
              for f in schema.fields]
    if not schema.fields:
        return av.array([{}] * table.num_rows, pa.struct([]))
    return pa.StructArray.from_arrays(arrays, fields=[to_arrow_field(f) for f in schema.fields])


def _joined(plan: MergePlan, t_rows: pa.Table | None, s_rows: pa.Table | None, target: StructType, source: StructType) -> pa.Table:
    rows = t_rows if t_rows is not None else s_rows
    assert rows is not None  # a joined row has a target side, a source side or both
    n = rows.num_rows
    t_arr = _struct(t_rows, target) if t_rows is not None else null_array(n, pa.struct([to_arrow_field(f) for f in target.fields]))
    s_arr = _struct(s_rows, source) if s_rows is not None else null_array(n, pa.struct([to_arrow_field(f) for f in source.fields]))
    return pa.Table.from_arrays([t_arr, s_arr], names=[plan.target_alias, plan.source_alias])


def _assign(joined: pa.Table, clause: CompiledClause, base: pa.Table | None, target: StructType, jschema: StructType) -> pa.Table:
    """Rows of the target schema after ``clause``'s assignments (unassigned columns keep ``base``)."""
    n = joined.num_rows
    cols = []
    for f in target.fields:
        t = to_arrow_type(f.type)
        if f.name in clause.assignments:
            col = assigned_values(joined, clause.assignments[f.name], jschema, f)
        elif base is not None and f.name in base.column_names:
            col = store_cast(base.column(f.name), f)
        else:
            col = null_array(n, t)  # valid for NOT NULL nested fields (a variant's binaries) too
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=pa.schema([pa.field(f.name, to_arrow_type(f.type), True) for f in target.fields]))


def _route(joined: pa.Table, clauses: list[CompiledClause], jschema: StructType) -> list[np.ndarray]:
    """For each clause, the rows it takes: the first clause whose condition holds wins."""
    remaining = np.ones(joined.num_rows, dtype=bool)
    out = []
    for clause in clauses:
        cond = evaluate_mask(joined, clause.condition, jschema) if clause.condition is not None else np.ones(joined.num_rows, dtype=bool)
        take = remaining & cond
        out.append(take)
        remaining &= ~take
    return out


def _apply_clauses(clauses: list[CompiledClause], joined: pa.Table, t_rows: pa.Table, idx: np.ndarray,
                   outcome: "MergeOutcome", target: StructType, jschema: StructType) -> None:
    """Route target rows (``t_rows``, physical indexes ``idx``) through update/delete clauses: marks them
    in ``outcome.changed``, adds their new versions and change data to ``outcome``."""
    names = [f.name for f in target.fields]
    for clause, take in zip(clauses, _route(joined, clauses, jschema)):
        if not take.any():
            continue
        outcome.changed[idx[take]] = True
        before = t_rows.filter(av.array(take))
        if clause.action == "delete":
            outcome.deleted += int(take.sum())
            outcome.change(before.select(names), "delete")
        else:
            after = _assign(joined.filter(av.array(take)), clause, before, target, jschema)
            outcome.updated.append(after)
            outcome.updated_rows.append(idx[take])  # the target rows: their row ids stay (row tracking)
            outcome.present.append(frozenset(clause.assignments))  # the rest keep their (or computed) values
            outcome.num_updated += int(take.sum())
            outcome.change(before.select(names), "update_preimage")
            outcome.change(after, "update_postimage")


# -- 1. prepare -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedMerge:
    """A MERGE planned against one table version, as plain data (it pickles, so a distributed engine ships
    it to its workers): the ON condition's text, the compiled clauses, the target schema the MERGE writes
    (after ``merge_schema``), the source schema and rows (keys cast to the target's types, rows numbered
    in column ``__s``), the target pruning predicate and the new metadata when
    ``merge_schema`` changed the schema."""

    on: str
    plan: MergePlan
    target: StructType
    source_schema: StructType
    joined_schema: StructType
    source: pa.Table
    prune: Expr | None
    new_metadata: Metadata | None = None
    new_protocol: Protocol | None = None
    #: `now()` / `current_timestamp` of generated columns and defaults: one per MERGE, on every task.
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def exact(self) -> pa.Schema:
        """The Arrow schema written rows are cast to."""
        return pa.schema([to_arrow_field(f) for f in self.target.fields])

    def target_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """``snapshot`` (of the version the MERGE was planned on) with the schema the MERGE writes."""
        if self.new_metadata is None:
            return snapshot
        return replace(snapshot, schema=self.target, metadata=self.new_metadata)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The source travels as an Arrow IPC stream: Arrow's own pickling, after a trip through a Dask
        # worker's network frames, can leave int64 buffers misaligned (Acero's join then warns and copies);
        # an IPC stream keeps every buffer 8-byte aligned.
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.source.schema) as w:
            w.write_table(self.source)
        rest = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        return _unpickle_prepared, (rest, sink.getvalue().to_pybytes())

    def plan_files(self, rewriter: FileRewriter) -> pa.Table:
        """Plan the candidate target files on ``rewriter`` (of ``target_snapshot``): the active files that
        may hold a target row the MERGE changes."""
        return rewriter.plan(self.prune)


def _unpickle_prepared(rest: Mapping[str, Any], source: bytes) -> PreparedMerge:
    return PreparedMerge(source=pa.ipc.open_stream(source).read_all(), **rest)


def prepare_merge(snapshot: Snapshot, source: Any, on: FilterLike, clauses: Sequence[Clause], *, target_alias: str = "t",
                  source_alias: str = "s", merge_schema: bool = False) -> PreparedMerge:
    """Materialise the source and compile the MERGE against ``snapshot`` (no target file is read)."""
    src, src_schema = _source_table(source)
    target = snapshot.schema
    new_metadata: Metadata | None = None
    new_protocol: Protocol | None = None
    if merge_schema:
        merged = merge_schemas(target, src_schema)
        if merged != target:
            new_metadata, merged = with_schema(snapshot.metadata, merged)
            # The evolved schema may need a feature (a timestamp_ntz column needs timestampNtz).
            required = required_protocol(snapshot.protocol, merged, new_metadata.configuration)
            new_protocol = None if required == snapshot.protocol else required
            target = merged
            snapshot = replace(snapshot, schema=merged, metadata=new_metadata)
    plan = compile_merge(on, clauses, target=target, source=src_schema, target_alias=target_alias, source_alias=source_alias)
    for tcol, scol in plan.keys:
        want = to_arrow_type(target.field(tcol).type)
        if pa.types.is_float32(want) and pa.types.is_float64(src.column(scol).type):
            continue  # Spark compares float with double as doubles: 0.1 does not match the stored 0.1f
        if src.column(scol).type != want:
            try:
                src = src.set_column(src.schema.get_field_index(scol), scol, src.column(scol).cast(want))
            except pa.ArrowInvalid:
                # Some value does not fit the target's type (DECIMAL(10,3) 1.234 for a DECIMAL(10,2)
                # key): it matches no target row. The key stays as it is and is compared in the wider
                # type (merge_keys); only storing such a value is an error.
                common_key_type(want, src.column(scol).type, what=f"{target_alias}.{tcol} = {source_alias}.{scol}")
                continue
            except pa.ArrowNotImplementedError:
                raise SchemaMismatchError(f"MERGE key {source_alias}.{scol} cannot be compared with {target_alias}.{tcol}") from None
            # The key now has the target's type in the data; the source schema must say so too.
            src_schema = StructType(tuple(
                replace(f, type=target.field(tcol).type) if f.name == scol else f for f in src_schema.fields))
    jschema = joined_schema(plan, target, src_schema)
    _check_types(plan, jschema)
    src = src.append_column("__s", av.array(np.arange(src.num_rows, dtype=np.int64)))
    prune = _pruning_predicate(plan, src, snapshot)
    # The ON condition as commitInfo records it: the SQL text, or the printed polars expression.
    return PreparedMerge(on if isinstance(on, str) else str(on), plan, target, src_schema, jschema, src, prune, new_metadata, new_protocol)


# -- 2. target files ------------------------------------------------------------------------------------
@dataclass(eq=False)
class MergeOutcome(FileOutcome):
    """What the MERGE does to one target file (computed on a read-ahead worker): the engine's
    `FileOutcome` plus the source rows the file matched and the rows updated and deleted."""

    matched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    num_updated: int = 0
    deleted: int = 0
    cdc: bool = False

    def change(self, rows: pa.Table, change_type: ChangeType) -> None:
        """Record change data rows (only when the table writes change data)."""
        if self.cdc:
            self.changes.append((rows, change_type))


@dataclass(frozen=True, eq=False)
class TargetChanges:
    """What the MERGE did to some target files (plain data: a Dask task returns it to the client): the
    engine's `FileChanges` (with the closed writers' files once closed), the sorted numbers of the source
    rows that matched a target row, and the rows updated and deleted."""

    files: FileChanges = FileChanges()
    matched_sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    updated: int = 0
    deleted: int = 0

    @staticmethod
    def combine(parts: Iterable["TargetChanges"]) -> "TargetChanges":
        """The changes of several files (or tasks) together, actions in order."""
        parts = list(parts)
        matched = [p.matched_sources for p in parts if len(p.matched_sources)]
        return TargetChanges(
            files=FileChanges.combine(p.files for p in parts),
            matched_sources=np.unique(np.concatenate(matched)) if matched else np.zeros(0, dtype=np.int64),
            updated=sum(p.updated for p in parts), deleted=sum(p.deleted for p in parts))


def merge_target_file(merge: PreparedMerge, touched: TouchedFile, *, cdc: bool) -> MergeOutcome:
    """Join one candidate file (read by the engine from ``merge.target_snapshot(...)``) with the source
    and apply the matched and not-matched-by-source clauses: the changed rows, their new versions and
    the change data (when ``cdc``), as an outcome the engine applies (pure: nothing is written here).
    Raises when a target row of this file matches several source rows (naming its key)."""
    plan, target = merge.plan, merge.target
    matched_clauses, nmbs_clauses = plan.of("matched"), plan.of("not_matched_by_source")
    tgt = touched.table
    for f in target.fields:
        if f.name not in tgt.column_names:
            tgt = tgt.append_column(to_arrow_field(f), null_array(tgt.num_rows, to_arrow_type(f.type)))
    touched.table = tgt  # the file's rows in the schema the MERGE writes (copied rows included)
    alive_idx = np.flatnonzero(touched.alive)
    # Without a deletion vector every row is alive: no copy of the file's rows for the join.
    alive_rows = tgt if len(alive_idx) == tgt.num_rows else tgt.take(av.array(alive_idx))
    t_alive = alive_rows.append_column("__t", av.array(alive_idx))
    pairs_t, pairs_s = _match(plan, t_alive, merge.source, target, merge.source_schema, merge.joined_schema)
    if matched_clauses and len(pairs_t) != len(np.unique(pairs_t)):
        dup = pairs_t[np.flatnonzero(np.bincount(pairs_t.astype(np.int64))[pairs_t] > 1)[0]]
        keys = {tc: tgt.column(tc)[int(dup)].as_py() for tc, _ in plan.keys}
        raise InvalidArgumentError(
            f"MERGE matched target row with key {keys} to several source rows; a target row may be "
            "updated or deleted by one source row only.\nHelp: deduplicate the source on the join keys."
        )
    outcome = MergeOutcome(np.zeros(tgt.num_rows, dtype=bool), matched=np.unique(pairs_s), cdc=cdc)
    if len(pairs_t) and matched_clauses:
        t_rows = tgt.take(av.array(pairs_t))
        joined = _joined(plan, t_rows, merge.source.take(av.array(pairs_s)), target, merge.source_schema)
        _apply_clauses(matched_clauses, joined, t_rows, pairs_t, outcome, target, merge.joined_schema)
    if nmbs_clauses:
        unmatched = np.setdiff1d(alive_idx, pairs_t)
        if len(unmatched):
            t_rows = tgt.take(av.array(unmatched))
            joined = _joined(plan, t_rows, None, target, merge.source_schema)
            _apply_clauses(nmbs_clauses, joined, t_rows, unmatched, outcome, target, merge.joined_schema)
    return outcome


def merge_target_files(rewriter: FileRewriter, merge: PreparedMerge, files: pa.Table | None = None) -> TargetChanges:
    """`merge_target_file` for each of ``files`` (default: the files planned on ``rewriter``), joined on
    the rewriter's read-ahead workers and applied in file order (changed rows leave their file by the
    engine's branch; new rows go to its writer). Returns the matched source rows and counts; the actions
    stay in the rewriter until it is closed."""
    cdc = rewriter.cdc.active
    matched: list[np.ndarray] = []
    updated = deleted = 0
    # With deletion vectors and no change data, unchanged rows are never copied: only the columns the
    # clauses read are needed (an upsert reads its keys, not whole files). Unread columns stay null in
    # the rows the clauses see, which never write them.
    columns = None
    if rewriter.use_dv and not cdc:
        columns = target_columns_read(merge.plan, merge.target) or None
    for _, outcome in rewriter.rewrite(lambda touched: merge_target_file(merge, touched, cdc=cdc), files,
                                       columns=columns):
        assert isinstance(outcome, MergeOutcome)
        if len(outcome.matched):
            matched.append(outcome.matched)
        updated += outcome.num_updated
        deleted += outcome.deleted
    return TargetChanges(matched_sources=np.unique(np.concatenate(matched)) if matched else np.zeros(0, dtype=np.int64),
                         updated=updated, deleted=deleted)


# -- 3. finish ------------------------------------------------------------------------------------------------
def insert_not_matched(rewriter: FileRewriter, merge: PreparedMerge, matched_sources: np.ndarray) -> int:
    """Write the source rows that matched no target row (``matched_sources``: the union over every
    target file) through the WHEN NOT MATCHED clauses; returns the number of rows inserted."""
    plan, target = merge.plan, merge.target
    nm_clauses = plan.of("not_matched")
    if not nm_clauses:
        return 0
    pending_mask = np.ones(merge.source.num_rows, dtype=bool)
    pending_mask[np.asarray(matched_sources, dtype=np.int64)] = False
    pending = np.flatnonzero(pending_mask)
    if not len(pending):
        return 0
    inserted = 0
    s_rows = merge.source.take(av.array(pending))
    joined = _joined(plan, None, s_rows, target, merge.source_schema)
    for clause, take in zip(nm_clauses, _route(joined, nm_clauses, merge.joined_schema)):
        if not take.any():
            continue
        rows = _assign(joined.filter(av.array(take)), clause, None, target, merge.joined_schema)
        rewriter.write_inserted(rows, present=frozenset(clause.assignments))  # the rest: defaults, identity
        inserted += rows.num_rows
    return inserted


def finish_merge(rewriter: FileRewriter, merge: PreparedMerge, changes: TargetChanges, *, scanned: float,
                 commit_properties: CommitProperties | None = None) -> MergeMetrics:
    """The end every MERGE shares (in this process, or on the client after Dask tasks whose files
    ``rewriter`` absorbed): insert the unmatched source rows, close the writers and commit (on any
    failure the rewriter removes every file written)."""
    inserted = insert_not_matched(rewriter, merge, changes.matched_sources)
    files = rewriter.close()
    rewritten = time.perf_counter()
    plan = merge.plan
    snapshot = rewriter.snapshot
    version = None
    removes, adds = files.removes, files.adds
    if removes or adds or merge.new_metadata is not None or records_app_transactions(commit_properties):
        params = {"predicate": merge.on, "matchedPredicates": [c.action for c in plan.of("matched")],
                  "notMatchedPredicates": [c.action for c in plan.of("not_matched")],
                  "notMatchedBySourcePredicates": [c.action for c in plan.of("not_matched_by_source")]}
        version = rewriter.commit(
            operation="MERGE", parameters=params, read=merge.prune, commit_properties=commit_properties,
            metadata=merge.new_metadata, protocol=merge.new_protocol, metrics={
                "numSourceRows": merge.source.num_rows, "numTargetRowsInserted": inserted,
                "numTargetRowsUpdated": changes.updated, "numTargetRowsDeleted": changes.deleted,
                "numTargetRowsCopied": files.copied, "numTargetFilesRemoved": len(removes),
                "numTargetFilesAdded": len(adds), "numTargetDeletionVectorsAdded": files.dvs,
            })
    end = time.perf_counter()
    scanned_files = rewriter.files.num_rows
    return MergeMetrics(
        version=version, num_source_rows=merge.source.num_rows, num_target_rows_inserted=inserted,
        num_target_rows_updated=changes.updated, num_target_rows_deleted=changes.deleted,
        num_target_rows_copied=files.copied, num_target_files_scanned=scanned_files,
        num_target_files_skipped=snapshot.adds.num_rows - scanned_files, num_target_files_removed=len(removes),
        num_target_files_added=files.num_added_files, num_deletion_vectors_added=files.dvs,
        num_added_change_files=len(files.cdc_files), scan_time_ms=int((scanned - rewriter.started) * 1000),
        rewrite_time_ms=int((rewritten - scanned) * 1000), commit_time_ms=int((end - rewritten) * 1000),
    )


def skipped_merge() -> MergeMetrics:
    """The metrics of a MERGE skipped as a replay of an applied app transaction (version None)."""
    return MergeMetrics(None, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _match(plan: MergePlan, t_alive: pa.Table, src: pa.Table, target: StructType, source: StructType,
           jschema: StructType) -> tuple[np.ndarray, np.ndarray]:
    """(target row index, source row index) pairs satisfying the ON condition."""
    if t_alive.num_rows == 0 or src.num_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if plan.keys:
        # Join on normalised keys (merge_keys): the join's bit equality must be SQL's value equality.
        t_cols, s_cols = [], []
        for tk, sk in plan.keys:
            tc, sc = join_keys(t_alive.column(tk), src.column(sk), what=f"{plan.target_alias}.{tk} = {plan.source_alias}.{sk}")
            t_cols += tc
            s_cols += sc
        names = [f"__k{i}" for i in range(len(t_cols))]
        left = pa.Table.from_arrays(t_cols + [t_alive.column("__t")], names=names + ["__t"])
        right = pa.Table.from_arrays(s_cols + [src.column("__s")], names=names + ["__s"])
        pairs = inner_join(left, right, names, ["__t"], ["__s"])
    else:
        left = t_alive.select(["__t"]).append_column("__one", av.array(np.zeros(t_alive.num_rows, dtype=np.int8), pa.int8()))
        right = src.select(["__s"]).append_column("__one", av.array(np.zeros(src.num_rows, dtype=np.int8), pa.int8()))
        pairs = inner_join(left, right, ["__one"], ["__t"], ["__s"])
    t_idx = av.to_numpy(pairs.column("__t")).astype(np.int64)
    s_idx = av.to_numpy(pairs.column("__s")).astype(np.int64)
    if plan.residual is not None and len(t_idx):
        position = {int(v): i for i, v in enumerate(av.to_numpy(t_alive.column("__t")))}
        t_rows = t_alive.take(av.array([position[int(v)] for v in t_idx]))
        joined = _joined(plan, t_rows, src.take(av.array(s_idx)), target, source)
        keep = evaluate_mask(joined, plan.residual, jschema)
        t_idx, s_idx = t_idx[keep], s_idx[keep]
    return t_idx, s_idx
