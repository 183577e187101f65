"""`DeltaTable.optimize` and `DeltaTable.alter`: the maintenance and table-management calls grouped as
deltalake groups them (`TableOptimizer`, `TableAlterer`), with deltalake's names for the parameters
both libraries share, so code written for `deltalake` reads the same here.

Each call works on the latest version (refused on a time-travelled table), moves the table object to
the version it committed, and returns a typed result whose ``version`` is that commit (None when nothing
was committed).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from lakehouse.errors import InvalidArgumentError
from lakehouse.operations import alter, cluster
from lakehouse.operations.alter import AlterResult
from lakehouse.operations.optimize import OptimizeMetrics, PartitionFilter, optimize as optimize_table
from lakehouse.progress import Progress, reporter
from lakehouse.write.transaction import CommitProperties

if TYPE_CHECKING:
    from lakehouse.table import DeltaTable

__all__ = ["AlterResult", "TableAlterer", "TableOptimizer"]


def _refuse_unsupported(**options: Any) -> None:
    """deltalake options `lakehouse` cannot honour: a clear error rather than a silently ignored value."""
    for name, value in options.items():
        if value is not None:
            raise InvalidArgumentError(
                f"{name}={value!r} is a deltalake option lakehouse does not support (OPTIMIZE runs in memory "
                "with pyarrow and commits once); leave it None.")


class TableOptimizer:
    """`dt.optimize`: file compaction and Z-ordering (deltalake's `TableOptimizer`).

    Both rewrite files with ``dataChange=false`` and commit once per call; a run with nothing to do
    commits nothing. Shared with deltalake: ``partition_filters``, ``target_size``,
    ``max_concurrent_tasks`` (lakehouse's ``max_workers``: give either), ``commit_properties``. Not supported (an error when not None):
    ``max_spill_size``, ``max_temp_directory_size`` (no spilling: bins are rewritten in memory),
    ``min_commit_interval`` (one commit per call) and ``writer_properties``.
    """

    def __init__(self, table: "DeltaTable"):
        self._table = table

    def _run(self, z_order_by: Sequence[str], partition_filters: PartitionFilter, target_size: int | None,
             max_concurrent_tasks: int | None, min_file_size: int | None, commit_properties: CommitProperties | None,
             progress: Progress | None, max_workers: int | None = None) -> OptimizeMetrics:
        table = self._table
        counter = reporter(progress, "OPTIMIZE", "bins")
        snapshot = table._snapshot_for_write("OPTIMIZE")
        columns = cluster.clustering_of(snapshot)
        if columns is not None and (columns or z_order_by):  # a clustered table clusters (spec/clustering.md)
            metrics = cluster.optimize_clustered(
                snapshot, target_size=target_size, partition_filter=partition_filters, z_order_by=z_order_by,
                min_file_size=min_file_size, max_workers=max_workers, max_concurrent_tasks=max_concurrent_tasks,
                commit_properties=commit_properties, progress=counter)
            table.refresh()
            return metrics
        metrics = optimize_table(
            snapshot, target_size=target_size, partition_filter=partition_filters,
            min_file_size=min_file_size, z_order_by=z_order_by, max_concurrent_tasks=max_concurrent_tasks,
            max_workers=max_workers, commit_properties=commit_properties, progress=counter)
        table.refresh()
        return metrics

    def compact(self, *, partition_filters: PartitionFilter = None, target_size: int | None = None,
                max_concurrent_tasks: int | None = None, max_spill_size: int | None = None,
                max_temp_directory_size: int | None = None, min_commit_interval: int | timedelta | None = None,
                writer_properties: Any = None, commit_properties: CommitProperties | None = None,
                min_file_size: int | None = None, max_workers: int | None = None,
                progress: Progress | None = None) -> OptimizeMetrics:
        """Bin-pack small files (and files with deletion vectors) of each partition into files of about
        ``target_size`` bytes (default `delta.targetFileSize`, else 100 MiB).

        ``partition_filters`` limits the run to matching partitions: deltalake's ``[(column, op, value)]``
        tuples, or a SQL predicate over partition columns. Files of at least ``min_file_size`` bytes
        (default: ``target_size``) without deletion vectors are left alone. ``max_workers`` threads
        (default: the core count; ``max_concurrent_tasks`` is deltalake's name for it) read, encode and
        rewrite bins (spec/maintenance.md); ``progress`` receives a `ProgressEvent` (operation ``OPTIMIZE``,
        unit ``bins``) before the first bin and after each one.
        """
        _refuse_unsupported(max_spill_size=max_spill_size, max_temp_directory_size=max_temp_directory_size,
                            min_commit_interval=min_commit_interval, writer_properties=writer_properties)
        return self._run((), partition_filters, target_size, max_concurrent_tasks, min_file_size,
                         commit_properties, progress, max_workers)

    def z_order(self, columns: Iterable[str], *, partition_filters: PartitionFilter = None,
                target_size: int | None = None, max_concurrent_tasks: int | None = None,
                max_spill_size: int | None = None, max_temp_directory_size: int | None = None,
                min_commit_interval: int | timedelta | None = None, writer_properties: Any = None,
                commit_properties: CommitProperties | None = None, max_workers: int | None = None,
                progress: Progress | None = None) -> OptimizeMetrics:
        """Rewrite each partition's rows clustered along a Z-order curve of ``columns`` (data columns), into
        files of about ``target_size`` bytes; other arguments as for `compact`."""
        _refuse_unsupported(max_spill_size=max_spill_size, max_temp_directory_size=max_temp_directory_size,
                            min_commit_interval=min_commit_interval, writer_properties=writer_properties)
        if isinstance(columns, str):
            columns = [columns]
        cols = list(columns)
        if not cols:
            raise InvalidArgumentError("z_order needs at least one column")
        return self._run(cols, partition_filters, target_size, max_concurrent_tasks, None, commit_properties,
                         progress, max_workers)

    def __repr__(self) -> str:
        return f"TableOptimizer({self._table.uri!r})"


class TableAlterer:
    """`dt.alter`: changes of schema, constraints, properties and protocol that rewrite no data
    (deltalake's `TableAlterer`, plus `rename_column` and `drop_columns` under column mapping).

    Every method returns an `AlterResult`; ``version`` is None when nothing was committed (the change
    was already in place, or ``commit_properties`` replays an applied app transaction).
    """

    def __init__(self, table: "DeltaTable"):
        self._table = table

    def _apply(self, operation: str, fn: Callable[..., int | None], *args: Any, **kwargs: Any) -> AlterResult:
        table = self._table
        version = fn(table._snapshot_for_write(operation), *args, **kwargs)
        table.refresh()
        return AlterResult(version)

    def add_columns(self, fields: Any, *, commit_properties: CommitProperties | None = None) -> AlterResult:
        """Append nullable columns (a pyarrow field or a list of them); existing rows read them as null."""
        if not isinstance(fields, (list, tuple)):
            fields = [fields]
        return self._apply("ADD COLUMNS", alter.add_columns, fields, commit_properties=commit_properties)

    def drop_columns(self, names: Sequence[str] | str, *,
                     commit_properties: CommitProperties | None = None) -> AlterResult:
        """Drop top-level columns (needs column mapping; no data is rewritten)."""
        return self._apply("DROP COLUMNS", alter.drop_columns, names, commit_properties=commit_properties)

    def rename_column(self, old: str, new: str, *, commit_properties: CommitProperties | None = None) -> AlterResult:
        """Rename a top-level column (needs column mapping; no data is rewritten)."""
        return self._apply("RENAME COLUMN", alter.rename_column, old, new, commit_properties=commit_properties)

    def add_constraint(self, constraints: Mapping[str, str], *,
                       commit_properties: CommitProperties | None = None) -> AlterResult:
        """Add CHECK constraints ``{name: SQL expression}`` in one commit; every existing row must satisfy
        each (none is added otherwise) and every later write is checked."""
        return self._apply("ADD CONSTRAINT", alter.add_constraints, constraints, commit_properties=commit_properties)

    def drop_constraint(self, name: str, *, raise_if_not_exists: bool = True,
                        commit_properties: CommitProperties | None = None) -> AlterResult:
        """Drop a CHECK constraint (version None when it did not exist and ``raise_if_not_exists`` is False),
        as deltalake's ``drop_constraint``."""
        return self._apply("DROP CONSTRAINT", alter.drop_constraint, name, raise_if_not_exists=raise_if_not_exists,
                           commit_properties=commit_properties)

    def drop_constraints(self, names: Sequence[str], *, raise_if_not_exists: bool = True,
                         commit_properties: CommitProperties | None = None) -> AlterResult:
        """Drop several CHECK constraints in one commit (a list of names). A missing name raises before
        anything is dropped unless ``raise_if_not_exists`` is False; version None when none existed."""
        return self._apply("DROP CONSTRAINT", alter.drop_constraints, names, raise_if_not_exists=raise_if_not_exists,
                           commit_properties=commit_properties)

    def set_table_name(self, name: str, *, commit_properties: CommitProperties | None = None) -> AlterResult:
        """Set the table's name (`metaData.name`), as deltalake's ``set_table_name``."""
        return self._apply("UPDATE TABLE METADATA", alter.set_table_metadata, name=name,
                           commit_properties=commit_properties)

    def set_table_description(self, description: str, *,
                              commit_properties: CommitProperties | None = None) -> AlterResult:
        """Set the table's description (`metaData.description`), as deltalake's ``set_table_description``."""
        return self._apply("UPDATE TABLE METADATA", alter.set_table_metadata, description=description,
                           commit_properties=commit_properties)

    def set_table_properties(self, properties: Mapping[str, str | None], *, raise_if_not_exists: bool = True,
                             commit_properties: CommitProperties | None = None) -> AlterResult:
        """Set table properties (a None value unsets one; unsetting a property that is not set raises unless
        ``raise_if_not_exists=False``). ``delta.*`` keys are validated and upgrade the protocol as needed;
        ``delta.feature.<name>: "supported"`` adds a feature; ``delta.columnMapping.mode: "name"`` turns
        column mapping on without rewriting data."""
        return self._apply("SET TBLPROPERTIES", alter.set_properties, properties,
                           raise_if_not_exists=raise_if_not_exists, commit_properties=commit_properties)

    def add_feature(self, feature: str | Sequence[str], *, allow_protocol_versions_increase: bool = False,
                    commit_properties: CommitProperties | None = None) -> AlterResult:
        """Add table features (protocol names, e.g. ``"deletionVectors"``) to the protocol. As in deltalake,
        raising the protocol's reader or writer version is refused unless
        ``allow_protocol_versions_increase=True``; version None when every feature is already supported."""
        return self._apply("ADD FEATURE", alter.add_features, feature,
                           allow_protocol_versions_increase=allow_protocol_versions_increase,
                           commit_properties=commit_properties)

    def set_column_metadata(self, column: str, metadata: Mapping[str, str], *,
                            commit_properties: CommitProperties | None = None) -> AlterResult:
        """Merge ``metadata`` (string keys and values, e.g. ``{"comment": "..."}``) into a top-level
        column's metadata. Keys the protocol reserves (``delta.*``, ``CURRENT_DEFAULT``) are refused."""
        return self._apply("UPDATE FIELD METADATA", alter.set_column_metadata, column, metadata,
                           commit_properties=commit_properties)

    def cluster_by(self, columns: Sequence[str] | None, *,
                   commit_properties: CommitProperties | None = None) -> AlterResult:
        """Set the liquid clustering columns (Spark's ``ALTER TABLE ... CLUSTER BY``); ``None`` clusters by
        nothing. No data is rewritten: the next OPTIMIZE clusters by the new columns (spec/clustering.md).
        A table not yet clustered gains the ``clustering`` feature (refused when it is partitioned)."""
        return self._apply("CLUSTER BY", cluster.alter_cluster_by, columns, commit_properties=commit_properties)

    def __repr__(self) -> str:
        return f"TableAlterer({self._table.uri!r})"
