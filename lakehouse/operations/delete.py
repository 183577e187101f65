"""DELETE: remove the rows matching a predicate (PROTOCOL.md "Add File and Remove File", "Deletion
Vectors", "Add CDC File").

A small plan over the DML engine (`operations/rewrite.py`): files wholly selected by a partition
predicate are removed unread; otherwise each candidate file's matching rows leave it (a deletion vector
or a copy-on-write rewrite, the engine's branch). With the change data feed on, deleted rows that are
not whole removed files go to `_change_data/` as `delete` changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.operations.rewrite import ChangeType, FileOutcome, FileRewriter, RewriteMetrics, TouchedFile
from lakehouse.operations.values import evaluate_mask
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr import Expr, check_expression, columns, parse_predicate
from lakehouse.protocol.expr_types import check_columns
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.file_table import table_to_adds
from lakehouse.protocol.pruning import exact_partition_matches, is_partition_only
from lakehouse.protocol.skipping import live_rows
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety


@dataclass(frozen=True, kw_only=True)
class DeleteMetrics(RewriteMetrics):
    """What a DELETE did: the rows deleted, with the fields every rewrite reports."""

    num_deleted_rows: int = 0


def delete(snapshot: Snapshot, predicate: Any = None, *, commit_properties: CommitProperties | None = None,
           max_workers: int | None = None, progress: Callable[[int, int | None], None] | None = None) -> DeleteMetrics:
    """Delete the rows matching ``predicate`` (every row when None) from the table at ``snapshot``;
    files are read and rewritten on ``max_workers`` threads (default: the core count). ``progress``
    counts the candidate files done (whole files removed unread count at once)."""
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return DeleteMetrics()  # a replay: skipped, nothing written
    pred = parse_predicate(predicate) if predicate is not None else None
    if pred is not None:
        text = predicate if isinstance(predicate, str) else ""
        check_columns(pred, snapshot.schema, text=text, what="DELETE predicate")
        check_expression(pred, snapshot.schema, boolean=True, text=text)
    with FileRewriter(snapshot, max_workers=max_workers) as rewriter:
        rewriter.progress = progress
        files = rewriter.plan(pred)
        if pred is None or is_partition_only(pred, snapshot.partition_columns):
            if progress is not None:
                progress(0, files.num_rows)
            deleted = _delete_whole_files(rewriter, files, pred)
            if progress is not None:
                progress(files.num_rows, files.num_rows)
        else:
            deleted = _delete_rows(rewriter, pred)
        version = rewriter.commit_row_change(operation="DELETE", predicate=predicate, read=pred,
                                             rows_metric="numDeletedRows", rows=deleted,
                                             commit_properties=commit_properties)
        return DeleteMetrics(**vars(rewriter.metrics(version)), num_deleted_rows=deleted)


def _delete_whole_files(rewriter: FileRewriter, files: pa.Table, pred: Expr | None) -> int:
    """Remove the files a partition-only predicate (or none) selects, unread (CDF readers derive the
    deletes from the removes); returns the rows they held (0 for files without stats)."""
    snapshot = rewriter.snapshot
    if pred is not None:
        # Planning only said which files *may* match; a partition-only predicate decides each file exactly.
        files = files.filter(av.array(exact_partition_matches(
            files, pred, snapshot.schema, snapshot.partition_columns, snapshot.column_mapping_mode)))
        rewriter.files = files
    rewriter.remove_files(table_to_adds(files))
    live = live_rows(files.column("stats"), files.column("deletionVector"))
    return int(pc.sum(av.fill_null(live, 0)).as_py() or 0)


def _delete_rows(rewriter: FileRewriter, pred: Expr) -> int:
    """Drop the matching rows of each candidate file; returns how many."""
    schema = rewriter.snapshot.schema
    cdc = rewriter.cdc.active

    def matching(touched: TouchedFile) -> FileOutcome | None:
        match = evaluate_mask(touched.table, pred, schema) & touched.alive
        if not match.any():
            return None
        changes: list[tuple[pa.Table, ChangeType]] = [(touched.table.filter(av.array(match, pa.bool_())), "delete")] if cdc else []
        return FileOutcome(match, changes=changes)

    # Marking rows in a deletion vector needs only the predicate's columns; rewriting a file or
    # recording change data needs every column.
    needed = columns(pred) if rewriter.use_dv and not cdc else None
    return sum(int(outcome.changed.sum()) for _, outcome in rewriter.rewrite(matching, columns=needed)
               if outcome is not None)
