"""MERGE's public side: the fluent, immutable `MergeBuilder` (`dt.merge(...).when_...().execute()`) and
`run_merge`, the single-process MERGE: prepare, merge every candidate target file, `finish_merge`. The
steps themselves are in `operations/merge.py`, shared with the Dask MERGE.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Mapping, Sequence, TypeVar

from lakehouse.operations.merge import (
    MergeMetrics,
    finish_merge,
    merge_target_files,
    prepare_merge,
    skipped_merge,
)
from lakehouse.operations.merge_plan import Clause
from lakehouse.operations.rewrite import ChangeData
from lakehouse.protocol.expr import FilterLike
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.snapshot import Snapshot
from lakehouse.write.files import DataFileWriter
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety

_B = TypeVar("_B", bound="MergeBuilder")


class MergeBuilder:
    """Fluent, immutable MERGE builder: each `when_*` returns a new builder; `execute()` runs it.

    Subclasses (the Dask MERGE) keep the clause methods and override `execute`.
    """

    def __init__(self, table: Any, source: Any, on: FilterLike, *, source_alias: str = "s", target_alias: str = "t",
                 merge_schema: bool = False, clauses: tuple[Clause, ...] = (),
                 commit_properties: CommitProperties | None = None, max_workers: int | None = None):
        self._table, self._source, self._on = table, source, on
        self._max_workers = max_workers
        self._aliases = (target_alias, source_alias)
        self._merge_schema = merge_schema
        self._clauses = clauses
        self._commit_properties = commit_properties

    def _with(self: _B, clause: Clause) -> _B:
        new = copy.copy(self)
        new._clauses = self._clauses + (clause,)
        return new

    def when_matched_update(self: _B, updates: Mapping[str, Any], predicate: FilterLike | None = None) -> _B:
        """WHEN MATCHED [AND predicate] THEN UPDATE SET column = expression, ... (deltalake's signature)."""
        return self._with(Clause("matched", "update", predicate, dict(updates)))

    def when_matched_update_all(self: _B, predicate: FilterLike | None = None,
                                except_cols: Sequence[str] | None = None) -> _B:
        """WHEN MATCHED [AND predicate] THEN UPDATE SET * : every target column from the source column of the
        same name, except ``except_cols``."""
        return self._with(Clause("matched", "update", predicate, all_columns=True,
                                 except_columns=tuple(except_cols or ())))

    def when_matched_delete(self: _B, predicate: FilterLike | None = None) -> _B:
        """WHEN MATCHED [AND predicate] THEN DELETE."""
        return self._with(Clause("matched", "delete", predicate))

    def when_not_matched_insert(self: _B, updates: Mapping[str, Any], predicate: FilterLike | None = None) -> _B:
        """WHEN NOT MATCHED [AND predicate] THEN INSERT (column = expression, ...); unnamed columns get null."""
        return self._with(Clause("not_matched", "insert", predicate, dict(updates)))

    def when_not_matched_insert_all(self: _B, predicate: FilterLike | None = None,
                                    except_cols: Sequence[str] | None = None) -> _B:
        """WHEN NOT MATCHED [AND predicate] THEN INSERT * : every target column from the source, except
        ``except_cols`` (which get null)."""
        return self._with(Clause("not_matched", "insert", predicate, all_columns=True,
                                 except_columns=tuple(except_cols or ())))

    def when_not_matched_by_source_update(self: _B, updates: Mapping[str, Any],
                                          predicate: FilterLike | None = None) -> _B:
        """WHEN NOT MATCHED BY SOURCE [AND predicate] THEN UPDATE SET column = expression, ..."""
        return self._with(Clause("not_matched_by_source", "update", predicate, dict(updates)))

    def when_not_matched_by_source_delete(self: _B, predicate: FilterLike | None = None) -> _B:
        """WHEN NOT MATCHED BY SOURCE [AND predicate] THEN DELETE."""
        return self._with(Clause("not_matched_by_source", "delete", predicate))

    def execute(self) -> MergeMetrics:
        """Run the MERGE and commit it; returns its metrics. The table object moves to the new version."""
        snapshot = self._table._snapshot_for_write("MERGE")
        metrics = run_merge(snapshot, self._source, self._on, self._clauses, target_alias=self._aliases[0],
                            source_alias=self._aliases[1], merge_schema=self._merge_schema,
                            commit_properties=self._commit_properties, max_workers=self._max_workers)
        self._table.refresh()
        return metrics


def run_merge(snapshot: Snapshot, source: Any, on: FilterLike, clauses: Sequence[Clause], *, target_alias: str = "t",
              source_alias: str = "s", merge_schema: bool = False,
              commit_properties: CommitProperties | None = None, max_workers: int | None = None) -> MergeMetrics:
    """Execute a MERGE against ``snapshot`` in this process; see the module docstring. Target files are
    read and rewritten on ``max_workers`` threads (default: the core count)."""
    t0 = time.perf_counter()
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return skipped_merge()
    merge = prepare_merge(snapshot, source, on, clauses, target_alias=target_alias, source_alias=source_alias,
                          merge_schema=merge_schema)
    snapshot = merge.target_snapshot(snapshot)
    files = merge.candidate_files(snapshot)
    # One writer for every file's new rows and the inserts, so small changes share files.
    cdc = ChangeData.open(snapshot, max_workers=max_workers)
    writer = DataFileWriter.for_snapshot(snapshot, max_workers=max_workers)
    try:
        changes = merge_target_files(snapshot, merge, files, writer, cdc, max_workers=max_workers)
    except BaseException:
        writer.abort()
        cdc.abort()
        raise
    return finish_merge(snapshot, merge, files, changes, writer, cdc, started=t0, scanned=time.perf_counter(),
                        commit_properties=commit_properties)
