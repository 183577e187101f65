"""UPDATE: set new values on the rows matching a predicate (PROTOCOL.md "Add File and Remove File",
"Deletion Vectors", "Add CDC File").

A small plan over the DML engine (`operations/rewrite.py`): each candidate file is read with its rows in
physical order; matching rows get their new values (computed on the engine's read-ahead workers) and are
written to new files (a changed partition column moves them to their new partition). The old rows leave
the file by the engine's branch: a deletion vector (`delta.enableDeletionVectors=true`) or a copy-on-write
rewrite. With the change data feed on, old and new rows go to
`_change_data/` as `update_preimage` and `update_postimage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.operations.rewrite import ChangeType, FileOutcome, FileRewriter, RewriteMetrics, TouchedFile
from lakehouse.operations.values import assigned_values, evaluate_mask, require_existing_columns
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr import EXPR_TYPES, Expr, Lit, check_expression, parse_predicate, parse_sql
from lakehouse.protocol.expr_types import check_columns
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.schema import to_arrow_field
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety


@dataclass(frozen=True, kw_only=True)
class UpdateMetrics(RewriteMetrics):
    """What an UPDATE did: the rows updated, with the fields every rewrite reports."""

    num_updated_rows: int = 0


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
        expr: Expr = value if isinstance(value, EXPR_TYPES) else parse_sql(value) if isinstance(value, str) else Lit(value)
        column = assigned_values(table, expr, snapshot.schema, snapshot.schema.field(name))
        out = out.set_column(out.schema.get_field_index(name), name, column)
    target = pa.schema([to_arrow_field(f) for f in snapshot.schema.fields])
    try:
        return out.cast(pa.schema([pa.field(f.name, f.type, True) for f in target]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SchemaMismatchError(f"an updated value does not fit its column's type: {e}") from None


def update(snapshot: Snapshot, predicate: Any = None, *, updates: Mapping[str, Any],
           commit_properties: CommitProperties | None = None, max_workers: int | None = None,
           progress: Callable[[int, int | None], None] | None = None) -> UpdateMetrics:
    """Set ``updates`` ({column: SQL expression, polars expression or literal}) on matching rows; files are
    read and rewritten on ``max_workers`` threads (default: the core count); ``progress`` counts the
    candidate files done."""
    if not updates:
        raise InvalidArgumentError("UPDATE needs at least one column in updates= or new_values=")
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return UpdateMetrics()  # a replay: skipped, nothing written
    require_existing_columns(snapshot.schema, set(updates), where=" in UPDATE updates=")
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
            require_existing_columns(snapshot.schema, set(value.meta.root_names()), where=f" in the value for {name}")
    cdc = snapshot.properties.enable_change_data_feed

    def updating(touched: TouchedFile) -> FileOutcome | None:
        match = evaluate_mask(touched.table, pred, snapshot.schema) & touched.alive
        if not match.any():
            return None
        before = touched.table.filter(av.array(match, pa.bool_()))
        after = compute_values(before, updates, snapshot)
        changes: list[tuple[pa.Table, ChangeType]] = (
            [(before, "update_preimage"), (after, "update_postimage")] if cdc else [])
        return FileOutcome(match, updated=[after], updated_rows=[np.flatnonzero(match)], present=[frozenset(updates)],
                           changes=changes)

    with FileRewriter(snapshot, max_workers=max_workers) as rewriter:
        rewriter.progress = progress
        rewriter.plan(pred)
        updated = sum(int(outcome.changed.sum()) for _, outcome in rewriter.rewrite(updating)
                      if outcome is not None)
        version = rewriter.commit_row_change(operation="UPDATE", predicate=predicate, read=pred,
                                             rows_metric="numUpdatedRows", rows=updated,
                                             commit_properties=commit_properties)
        return UpdateMetrics(**vars(rewriter.metrics(version)), num_updated_rows=updated)
