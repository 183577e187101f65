"""DELETE: remove the rows matching a predicate (PROTOCOL.md "Add File and Remove File", "Deletion
Vectors", "Add CDC File").

Files wholly selected by a partition predicate are removed. Otherwise each candidate file is read and its
matching rows are either marked in a deletion vector (when `delta.enableDeletionVectors=true`) or the file
is rewritten without them (copy-on-write). With the change data feed on, deleted rows that are not whole
removed files go to `_change_data/` as `delete` changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.operations.rewrite import (
    commit_rewrite,
    ChangeData,
    RewriteMetrics,
    candidates,
    evaluate_mask,
    remove_action,
    touched_files,
    with_deletion_vector,
)
from lakehouse.protocol.expr import check_expression, columns, parse_predicate
from lakehouse.protocol.expr_types import check_columns
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.pruning import exact_partition_matches, is_partition_only
from lakehouse.protocol.skipping import live_rows
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety, records_app_transactions
from lakehouse.write.files import DataFileWriter


@dataclass(frozen=True)
class DeleteMetrics:
    """What a DELETE did."""

    version: int | None
    num_deleted_rows: int
    num_copied_rows: int
    num_removed_files: int
    num_added_files: int
    num_deletion_vectors_added: int
    num_added_change_files: int
    scan_time_ms: int
    rewrite_time_ms: int


def delete(snapshot: Snapshot, predicate: Any = None, *, commit_properties: CommitProperties | None = None,
           max_workers: int | None = None) -> DeleteMetrics:
    """Delete the rows matching ``predicate`` (every row when None) from the table at ``snapshot``;
    files are read and rewritten on ``max_workers`` threads (default: the core count)."""
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return DeleteMetrics(None, 0, 0, 0, 0, 0, 0, 0, 0)  # a replay: skipped, nothing written
    pred = parse_predicate(predicate) if predicate is not None else None
    if pred is not None:
        text = predicate if isinstance(predicate, str) else ""
        check_columns(pred, snapshot.schema, text=text, what="DELETE predicate")
        check_expression(pred, snapshot.schema, boolean=True, text=text)
    use_dv = snapshot.properties.enable_deletion_vectors
    metrics = RewriteMetrics()
    start = time.perf_counter()
    files = candidates(snapshot, pred)
    now = int(time.time() * 1000)
    removes, adds = [], []
    deleted_rows = 0
    cdc = ChangeData.open(snapshot, max_workers=max_workers)
    writer = DataFileWriter.for_snapshot(snapshot, max_workers=max_workers)
    try:
        if pred is None or is_partition_only(pred, snapshot.partition_columns):
            # Whole files go: no data is read (CDF readers derive the deletes from the removes). Planning
            # only said which files *may* match; a partition-only predicate decides each file exactly.
            if pred is not None:
                files = files.filter(pa.array(exact_partition_matches(
                    files, pred, snapshot.schema, snapshot.partition_columns, snapshot.column_mapping_mode)))
            for row in files.to_pylist():
                removes.append(remove_action(row, now))
            # Files without stats count as 0 deleted rows in the metrics (the rows are gone all the same).
            live = live_rows(files.column("stats"), files.column("deletionVector"))
            deleted_rows = int(pc.sum(pc.fill_null(live, 0)).as_py() or 0)
        else:
            # Marking rows in a deletion vector needs only the predicate's columns; rewriting a file or
            # recording change data needs every column.
            needed = columns(pred) if use_dv and cdc.writer is None else None
            for touched in touched_files(snapshot, files, needed, max_workers=max_workers):
                match = evaluate_mask(touched.table, pred, snapshot.schema) & touched.alive
                hits = int(match.sum())
                if hits == 0:
                    continue
                deleted_rows += hits
                cdc.add(touched.table.filter(match), "delete")
                keep = touched.alive & ~match
                if use_dv and keep.any():
                    rm, add = with_deletion_vector(snapshot.storage, touched, np.flatnonzero(match))
                    removes.append(rm)
                    adds.append(add)
                    metrics.num_deletion_vectors_added += 1
                else:
                    removes.append(remove_action(touched.row, now))
                    if keep.any():
                        kept = touched.table.filter(keep)
                        writer.write(kept)
                        metrics.num_copied_rows += kept.num_rows
        metrics.scan_seconds = time.perf_counter() - start
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
            snapshot, operation="DELETE", parameters=params, read=pred, files=files, removes=removes, adds=adds,
            cdc_files=cdc_files, commit_properties=commit_properties, metrics={
                "numDeletedRows": deleted_rows, "numCopiedRows": metrics.num_copied_rows,
                "numRemovedFiles": len(removes), "numAddedFiles": len(adds),
                "numDeletionVectorsAdded": metrics.num_deletion_vectors_added, "numAddedChangeFiles": len(cdc_files),
            })
    return DeleteMetrics(
        version=version, num_deleted_rows=deleted_rows, num_copied_rows=metrics.num_copied_rows,
        num_removed_files=len(removes), num_added_files=len([a for a in adds if a.deletion_vector is None]),
        num_deletion_vectors_added=metrics.num_deletion_vectors_added, num_added_change_files=len(cdc_files),
        scan_time_ms=int(metrics.scan_seconds * 1000), rewrite_time_ms=int((time.perf_counter() - start) * 1000),
    )

