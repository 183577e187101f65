"""UPDATE: set new values on the rows matching a predicate (PROTOCOL.md "Add File and Remove File",
"Deletion Vectors", "Add CDC File").

Each candidate file is read with its rows in physical order. Matching rows get their new values and are
written to new files (a changed partition column moves them to their new partition). The old rows are
dropped by rewriting the file without them (copy-on-write) or, with `delta.enableDeletionVectors=true`,
by a deletion vector on the old file. With the change data feed on, old and new rows go to
`_change_data/` as `update_preimage` and `update_postimage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.operations.rewrite import (
    assigned_values,
    commit_rewrite,
    ChangeData,
    candidates,
    evaluate_mask,
    remove_action,
    require_existing_columns,
    touched_files,
    with_deletion_vector,
)
from lakehouse.protocol.expr import Expr, Lit, check_expression, parse_predicate, parse_sql
from lakehouse.protocol.expr_types import check_columns
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.schema import to_arrow_field
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety, records_app_transactions
from lakehouse.write.constraints import enforce, table_checks
from lakehouse.write.files import DataFileWriter


@dataclass(frozen=True)
class UpdateMetrics:
    """What an UPDATE did."""

    version: int | None
    num_updated_rows: int
    num_copied_rows: int
    num_removed_files: int
    num_added_files: int
    num_deletion_vectors_added: int
    num_added_change_files: int
    scan_time_ms: int
    rewrite_time_ms: int


def _is_polars(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "polars"


def compute_values(table: pa.Table, updates: Mapping[str, Any], snapshot: Snapshot) -> pa.Table:
    """``table`` with the columns of ``updates`` replaced by their new values (SQL, polars or literal)."""
    out = table
    polars_updates = {k: v for k, v in updates.items() if _is_polars(v)}
    if polars_updates:
        import polars as pl

        try:
            frame = pl.from_arrow(table).with_columns(**polars_updates)  # type: ignore[union-attr]  # a Table gives a DataFrame (pyarrow has no stubs)
        except pl.exceptions.PolarsError as e:
            raise InvalidArgumentError(f"polars cannot compute the UPDATE values {polars_updates}: "
                                       f"{str(e).strip().splitlines()[0]}") from None
        arrow = frame.to_arrow()
        for name in polars_updates:
            out = out.set_column(out.schema.get_field_index(name), name, arrow.column(name))
    for name, value in updates.items():
        if _is_polars(value):
            continue
        expr: Expr = parse_sql(value) if isinstance(value, str) else Lit(value)
        column = assigned_values(table, expr, snapshot.schema, snapshot.schema.field(name))
        out = out.set_column(out.schema.get_field_index(name), name, column)
    target = pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])
    try:
        return out.cast(pa.schema([pa.field(f.name, f.type, True) for f in target]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SchemaMismatchError(f"an updated value does not fit its column's type: {e}") from None


def update(snapshot: Snapshot, predicate: Any = None, *, updates: Mapping[str, Any],
           commit_properties: CommitProperties | None = None, max_workers: int | None = None) -> UpdateMetrics:
    """Set ``updates`` ({column: SQL expression, polars expression or literal}) on matching rows; files are
    read and rewritten on ``max_workers`` threads (default: the core count)."""
    if not updates:
        raise InvalidArgumentError("UPDATE needs at least one column in set=")
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return UpdateMetrics(None, 0, 0, 0, 0, 0, 0, 0, 0)  # a replay: skipped, nothing written
    require_existing_columns(snapshot, set(updates), where=" in UPDATE set=")
    pred = parse_predicate(predicate) if predicate is not None else None
    if pred is not None:
        text = predicate if isinstance(predicate, str) else ""
        check_columns(pred, snapshot.schema, text=text, what="UPDATE predicate")
        check_expression(pred, snapshot.schema, boolean=True, text=text)
    for name, value in updates.items():
        if isinstance(value, str):
            parsed = parse_sql(value)
            check_columns(parsed, snapshot.schema, text=value, what=f"the value for {name}")
            check_expression(parsed, snapshot.schema, boolean=False, text=value)
        elif _is_polars(value):
            # polars computes these values itself; its own errors would not be lakehouse errors.
            require_existing_columns(snapshot, set(value.meta.root_names()), where=f" in the value for {name}")
    use_dv = snapshot.properties.enable_deletion_vectors
    checks = table_checks(snapshot.schema, dict(snapshot.metadata.configuration))
    exact = pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])
    start = time.perf_counter()
    files = candidates(snapshot, pred)
    now = int(time.time() * 1000)
    removes, adds = [], []
    updated = copied = dvs = 0
    cdc = ChangeData.open(snapshot, max_workers=max_workers)
    writer = DataFileWriter.for_snapshot(snapshot, max_workers=max_workers)
    try:
        for touched in touched_files(snapshot, files, max_workers=max_workers):
            match = evaluate_mask(touched.table, pred, snapshot.schema) & touched.alive
            hits = int(match.sum())
            if hits == 0:
                continue
            before = touched.table.filter(match)
            after = compute_values(before, updates, snapshot)
            enforce(after, snapshot.schema, checks)
            writer.write(after.cast(exact))
            updated += hits
            cdc.add(before, "update_preimage")
            cdc.add(after, "update_postimage")
            keep = touched.alive & ~match
            if use_dv and keep.any():
                rm, add = with_deletion_vector(snapshot.storage, touched, np.flatnonzero(match))
                removes.append(rm)
                adds.append(add)
                dvs += 1
            else:
                removes.append(remove_action(touched.row, now))
                if keep.any():
                    kept = touched.table.filter(keep)
                    writer.write(kept)
                    copied += kept.num_rows
        scan_done = time.perf_counter()
        adds += writer.close()
        cdc_files = cdc.close()
    except BaseException:
        writer.abort()
        cdc.abort()
        raise
    version = None
    if removes or records_app_transactions(commit_properties):
        params = {"predicate": [predicate if isinstance(predicate, str) else repr(pred)] if pred else []}
        version = commit_rewrite(
            snapshot, operation="UPDATE", parameters=params, read=pred, files=files, removes=removes, adds=adds,
            cdc_files=cdc_files, commit_properties=commit_properties, metrics={
                "numUpdatedRows": updated, "numCopiedRows": copied, "numRemovedFiles": len(removes),
                "numAddedFiles": len(adds), "numDeletionVectorsAdded": dvs, "numAddedChangeFiles": len(cdc_files),
            })
    return UpdateMetrics(
        version=version, num_updated_rows=updated, num_copied_rows=copied, num_removed_files=len(removes),
        num_added_files=len([a for a in adds if a.deletion_vector is None]), num_deletion_vectors_added=dvs,
        num_added_change_files=len(cdc_files), scan_time_ms=int((scan_done - start) * 1000) if removes else 0,
        rewrite_time_ms=int((time.perf_counter() - start) * 1000),
    )
