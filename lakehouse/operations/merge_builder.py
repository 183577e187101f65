"""MERGE's public side: the fluent, immutable `MergeBuilder` (`dt.merge(...).when_...().execute()`) and
`run_merge`, the single-process MERGE: prepare, merge every candidate target file, `finish_merge`. The
steps themselves are in `operations/merge.py`, shared with the Dask MERGE.
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

from lakehouse.errors import MetadataChangedError
from lakehouse.operations.merge import (
    MergeMetrics, PreparedMerge, finish_merge, merge_target_files, prepare_merge, skipped_merge,
)
from lakehouse.operations.merge_plan import Clause
from lakehouse.operations.rewrite import FileRewriter
from lakehouse.progress import Progress, reporter
from lakehouse.protocol.expr import FilterLike
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.operations.write import IDENTITY_RETRIES
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.write.transaction import CommitProperties, already_applied, check_commit_safety

_B = TypeVar("_B", bound="MergeBuilder")


class MergeBuilder:
    """Fluent, immutable MERGE builder: each `when_*` returns a new builder; `execute()` runs it.

    ``snapshot_for_write`` gives the snapshot `execute()` starts from (the facade's latest, refused on a
    time-travelled table) and ``on_commit`` runs after it (the facade moves to the new version).
    Subclasses (the Dask MERGE) keep the clause methods and override `execute`.
    """

    def __init__(self, snapshot_for_write: Callable[[], Snapshot] | None, source: Any, on: FilterLike, *,
                 source_alias: str = "s", target_alias: str = "t", merge_schema: bool = False,
                 clauses: tuple[Clause, ...] = (), commit_properties: CommitProperties | None = None,
                 max_workers: int | None = None, on_commit: Callable[[], object] | None = None):
        self._snapshot_for_write, self._on_commit = snapshot_for_write, on_commit
        self._source, self._on = source, on
        self._max_workers = max_workers
        self._aliases = (target_alias, source_alias)
        self._merge_schema = merge_schema
        self._clauses = clauses
        self._commit_properties = commit_properties

    def __repr__(self) -> str:
        target_alias, source_alias = self._aliases
        clauses = ", ".join(_clause_text(c) for c in self._clauses) or "no clauses"
        on = self._on if isinstance(self._on, str) else str(self._on)
        return (f"MergeBuilder(source_alias={source_alias!r}, target_alias={target_alias!r}, predicate={on!r}, "
                f"clauses=[{clauses}])")

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

    def execute(self, *, progress: Progress | None = None) -> MergeMetrics:
        """Run the MERGE and commit it; returns its metrics. The table object moves to the new version.
        ``progress`` receives a `ProgressEvent` (operation ``MERGE``, unit ``files``) per target file merged."""
        if self._snapshot_for_write is None:
            raise TypeError(f"{type(self).__name__} has no table to start from; override execute()")
        snapshot = self._snapshot_for_write()
        metrics = run_merge(snapshot, self._source, self._on, self._clauses, target_alias=self._aliases[0],
                            source_alias=self._aliases[1], merge_schema=self._merge_schema,
                            commit_properties=self._commit_properties, max_workers=self._max_workers,
                            progress=reporter(progress, "MERGE", "files"))
        if self._on_commit is not None:
            self._on_commit()
        return metrics


def _clause_text(clause: Clause) -> str:
    """One clause as `when_matched_update(...)` reads, for the builder's repr."""
    parts = []
    if clause.all_columns:
        name = f"when_{clause.kind}_{clause.action}_all"
        if clause.except_columns:
            parts.append(f"except_cols={list(clause.except_columns)!r}")
    else:
        name = f"when_{clause.kind}_{clause.action}"
        if clause.action != "delete":
            parts.append(repr({k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                               for k, v in clause.assignments.items()}))
    if clause.condition is not None:
        cond = clause.condition if isinstance(clause.condition, str) else str(clause.condition)
        parts.append(f"predicate={cond!r}")
    return f"{name}({', '.join(parts)})"


def run_merge(snapshot: Snapshot, source: Any, on: FilterLike, clauses: Sequence[Clause], *, target_alias: str = "t",
              source_alias: str = "s", merge_schema: bool = False,
              commit_properties: CommitProperties | None = None, max_workers: int | None = None,
              progress: Callable[[int, int | None], None] | None = None) -> MergeMetrics:
    """Execute a MERGE against ``snapshot`` in this process; see the module docstring. Target files are
    read and rewritten on ``max_workers`` threads (default: the core count); ``progress`` counts the
    target files merged."""
    t0 = time.perf_counter()
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    for attempt in range(IDENTITY_RETRIES + 1):
        if already_applied(snapshot, commit_properties):
            return skipped_merge()
        merge = prepare_merge(snapshot, source, on, clauses, target_alias=target_alias, source_alias=source_alias,
                              merge_schema=merge_schema)
        try:
            return _merge_once(merge, merge.target_snapshot(snapshot), t0, commit_properties, max_workers, progress)
        except MetadataChangedError:
            # Identity values depend on the high-water mark read: a MERGE that lost the race to another
            # identity writer (its files already removed by the rewriter) is redone against the new
            # version, as write_delta does. Other tables surface the conflict.
            if attempt == IDENTITY_RETRIES or "identityColumns" not in active_features(snapshot.protocol, snapshot.metadata):
                raise
            source = merge.source.drop_columns(["__s"])  # the materialised source (an iterator is spent)
            snapshot = latest_snapshot(snapshot.storage)
            check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # jitter: concurrent writers spread out
    raise AssertionError("unreachable")


def _merge_once(merge: PreparedMerge, snapshot: Snapshot, t0: float, commit_properties: CommitProperties | None,
                max_workers: int | None, progress: Callable[[int, int | None], None] | None = None) -> MergeMetrics:
    """One attempt of `run_merge` against ``snapshot`` (the target snapshot ``merge`` was prepared on)."""
    # One rewriter (one writer) for every file's new rows and the inserts, so small changes share files.
    with FileRewriter(snapshot, max_workers=max_workers, now=merge.now) as rewriter:
        rewriter.started = t0  # the scan time counts the source's preparation, as it always has
        rewriter.progress = progress
        merge.plan_files(rewriter)
        changes = merge_target_files(rewriter, merge)
        return finish_merge(rewriter, merge, changes, scanned=time.perf_counter(),
                            commit_properties=commit_properties)
