"""`DeltaTable`: the public facade over snapshot loading, history and reads. It only delegates."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import orjson
import pyarrow as pa

from lakehouse.log.listing import list_log
from lakehouse.protocol import arrow_values as av
from lakehouse.scan.cdf import load_cdf
from lakehouse.snapshot.checkpoint import cleanup_expired_logs, write_checkpoint
from lakehouse.errors import InvalidArgumentError, MissingDependencyError, TableExistsError, TableNotFoundError
from lakehouse.operations.convert import convert_to_delta
from lakehouse.operations.cluster import clustering_of, new_clustered_table
from lakehouse.operations.create import new_table_actions
from lakehouse.operations.delete import DeleteMetrics, delete as delete_rows
from lakehouse.operations.detail import TableDetail, table_detail
from lakehouse.operations.verify import VerifyReport, verify_table
from lakehouse.operations.merge_builder import MergeBuilder
from lakehouse.operations.restore import RestoreMetrics, restore as restore_table
from lakehouse.namespaces import TableAlterer, TableOptimizer
from lakehouse.operations.vacuum import VacuumMetrics, vacuum as vacuum_table
from lakehouse.operations.update import UpdateMetrics, update as update_rows
from lakehouse.progress import Progress, reporter
from lakehouse.write.transaction import CommitProperties, Transaction
from lakehouse.snapshot.history import HistoryEntry, history, version_for_timestamp
from lakehouse.protocol.actions import DomainMetadata, Metadata, Protocol, Txn
from lakehouse.protocol.expr import FilterLike, Lit
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.schema import StructType, from_arrow_schema, to_arrow_schema
from lakehouse.protocol.variant import has_variant
from lakehouse.scan.read import file_tasks, plain_dataset
from lakehouse.scan import Scan
from lakehouse.snapshot import Snapshot, latest_snapshot, load_snapshot
from lakehouse.storage import Storage, open_storage

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow.dataset

VersionLike = int | datetime | str | None


def _parse_when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(
            f"version {text!r} is neither an integer nor an ISO-8601 timestamp such as '2024-01-31T12:00:00Z'"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class DeltaTable:
    """A Delta table opened at one version (the latest by default).

    ``version`` may be an int, a `datetime` or an ISO-8601 string: timestamp time travel picks the latest
    commit at or before that time (naive times are UTC). ``storage_options`` go to fsspec unchanged.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str],
        *,
        version: VersionLike = None,
        storage_options: Mapping[str, Any] | None = None,
    ):
        if not isinstance(uri, (str, os.PathLike, Storage)):
            raise InvalidArgumentError(f"table URI must be a string or path, got {type(uri).__name__}")
        self._uri = os.fspath(uri) if not isinstance(uri, Storage) else uri.root_uri
        self._storage = open_storage(uri, storage_options)
        self._snapshot = self._load(version)
        # Whether the user asked for a version or timestamp (time travel): writes then need the object to
        # be at the latest version. An object that is merely stale (someone else committed) is not.
        self._time_travel = version is not None

    def _load(self, version: VersionLike) -> Snapshot:
        if version is None:
            return load_snapshot(self._storage)
        if isinstance(version, bool):
            raise InvalidArgumentError("version must be an int, a datetime or an ISO-8601 string, not a bool")
        if isinstance(version, int):
            return load_snapshot(self._storage, version)
        if isinstance(version, str):
            stripped = version.strip()
            if stripped.isascii() and stripped.isdigit():
                return load_snapshot(self._storage, int(stripped))
            version = _parse_when(stripped)
        if isinstance(version, datetime):
            latest = load_snapshot(self._storage)
            target = version_for_timestamp(latest, version)
            return latest if target == latest.version else load_snapshot(self._storage, target)
        raise InvalidArgumentError(
            f"version must be an int, a datetime or an ISO-8601 string, got {type(version).__name__}"
        )

    # -- state ---------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        """The table URI as given."""
        return self._uri

    @property
    def snapshot(self) -> Snapshot:
        """The loaded snapshot (immutable)."""
        return self._snapshot

    @property
    def version(self) -> int:
        """The version this object reads."""
        return self._snapshot.version

    @property
    def schema(self) -> pa.Schema:
        """The logical Arrow schema."""
        return to_arrow_schema(self._snapshot.schema)

    @property
    def delta_schema(self) -> StructType:
        """The Delta schema (with column metadata)."""
        return self._snapshot.schema

    @property
    def metadata(self) -> Metadata:
        """The table's `metaData` action."""
        return self._snapshot.metadata

    @property
    def protocol(self) -> Protocol:
        """The table's `protocol` action."""
        return self._snapshot.protocol

    @property
    def partition_columns(self) -> list[str]:
        """Partition column names."""
        return self._snapshot.partition_columns

    @property
    def transactions(self) -> Mapping[str, Txn]:
        """Application transaction versions (`txn` actions) by appId."""
        return self._snapshot.txns

    @property
    def domain_metadata(self) -> Mapping[str, DomainMetadata]:
        """Live domain metadata by domain."""
        return self._snapshot.domains

    @property
    def clustering_columns(self) -> list[str] | None:
        """The liquid clustering columns (logical names); None when the table is not clustered, ``[]``
        when it is clustered by nothing (spec/clustering.md)."""
        cols = clustering_of(self._snapshot)
        return None if cols is None else list(cols)

    def files(self) -> pa.Table:
        """One row per active data file: path, size, modification_time, partition_values, stats,
        deletion_vector (null when none)."""
        adds = self._snapshot.adds
        return pa.table(
            {
                "path": adds.column("path"),
                "size": adds.column("size"),
                "modification_time": adds.column("modificationTime"),
                "partition_values": adds.column("partitionValues"),
                "stats": adds.column("stats"),
                "deletion_vector": adds.column("deletionVector"),
            }
        )

    def get_add_actions(self, flatten: bool = False) -> pa.Table:
        """deltalake's `get_add_actions`: one row per active file with ``path``, ``size_bytes``,
        ``modification_time`` (timestamp, ms), ``data_change``, ``num_records`` (from the file's stats; null
        without), ``stats`` (the JSON text), ``deletion_vector`` and the partition values: one map column
        ``partition_values``, or with ``flatten=True`` one string column ``partition.<name>`` per partition
        column. Unlike deltalake, min/max/null counts stay in ``stats`` (parse them with ``json.loads``)."""
        adds = self._snapshot.adds
        stats = adds.column("stats").to_pylist()
        columns: dict[str, Any] = {
            "path": adds.column("path"),
            "size_bytes": adds.column("size"),
            "modification_time": adds.column("modificationTime").cast(pa.timestamp("ms")),
            "data_change": adds.column("dataChange"),
            "num_records": av.array([None if not s else orjson.loads(s).get("numRecords") for s in stats],
                                    pa.int64()),
            "stats": adds.column("stats"),
            "deletion_vector": adds.column("deletionVector"),
        }
        if flatten:
            values = [dict(pv or []) for pv in adds.column("partitionValues").to_pylist()]
            for name in self._snapshot.partition_columns:
                columns[f"partition.{name}"] = av.array([v.get(name) for v in values], pa.string())
        else:
            columns["partition_values"] = adds.column("partitionValues")
        return pa.table(columns)

    def partitions(self, partition_filters: FilterLike | None = None) -> list[dict[str, str | None]]:
        """deltalake's `partitions`: the distinct partition values of the active files (as the log's
        strings, None for null), optionally only those matching ``partition_filters`` (any `FilterLike` on
        partition columns). An unpartitioned table has none."""
        if not self._snapshot.partition_columns:
            return []
        files = self.files() if partition_filters is None else self.scan(partition_filters).files()
        seen: dict[tuple, dict[str, str | None]] = {}
        for pv in files.column("partition_values").to_pylist():
            values = dict(pv or [])
            seen.setdefault(tuple(sorted(values.items(), key=lambda kv: kv[0])), values)
        return list(seen.values())

    def load_as_version(self, version: int | str | datetime) -> "DeltaTable":
        """Move this object to ``version`` in place (deltalake's `load_as_version`): a version number, a
        `datetime` or an ISO-8601 timestamp (time travel, as ``DeltaTable(uri, version=...)``). Returns self;
        writes then need `refresh()` first, as for any time-travelled object."""
        if version is None:
            raise InvalidArgumentError("load_as_version needs a version number, a datetime or an ISO-8601 string")
        self._snapshot = self._load(version)
        self._time_travel = True
        return self

    @staticmethod
    def is_deltatable(uri: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> bool:
        """deltalake's `is_deltatable`: whether ``uri`` holds a Delta table (a commit or checkpoint in
        `_delta_log/`), without loading it. Storage errors other than "not found" are raised."""
        try:
            return any(f.kind in ("commit", "checkpoint") for f in list_log(open_storage(uri, storage_options)))
        except TableNotFoundError:
            return False

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """Commits up to this version, newest first."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidArgumentError(f"limit must be a non-negative int, got {limit!r}")
        return history(self._snapshot, limit)

    def refresh(self) -> "DeltaTable":
        """Move to the latest version in place (reading only new commits) and return self."""
        self._snapshot = latest_snapshot(self._storage, self._snapshot)
        self._time_travel = False
        return self

    def _snapshot_for_write(self, operation: str) -> Snapshot:
        """The latest snapshot, which every write starts from; refused when this object was opened at an
        older version or timestamp, as Spark refuses DML on a time-travelled table (the user would change
        a table they are not looking at)."""
        latest = latest_snapshot(self._storage, self._snapshot)
        if self._time_travel and latest.version != self._snapshot.version:
            raise InvalidArgumentError(
                f"table was opened at version {self._snapshot.version} (time travel); {operation} needs the latest "
                f"version ({latest.version}): reopen without version=.\n"
                "Help: DeltaTable(uri) opens the latest version; restore() brings an old version back as a new commit.")
        return latest

    # -- creation and log maintenance ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        uri: str | os.PathLike[str],
        *,
        schema: pa.Schema | StructType,
        partition_by: Sequence[str] | None = None,
        configuration: Mapping[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        mode: Literal["error", "ignore"] = "error",
        storage_options: Mapping[str, Any] | None = None,
        cluster_by: Sequence[str] | None = None,
    ) -> "DeltaTable":
        """Create an empty table (version 0) with ``schema``; ``mode='ignore'`` opens an existing one.
        ``cluster_by`` makes it a liquid-clustered table (spec/clustering.md; not with ``partition_by``)."""
        if mode not in ("error", "ignore"):
            raise InvalidArgumentError(f"mode must be 'error' or 'ignore', got {mode!r}")
        storage = open_storage(uri, storage_options)
        delta_schema = schema if isinstance(schema, StructType) else from_arrow_schema(schema)
        try:
            existing = load_snapshot(storage)
        except TableNotFoundError:
            if storage.is_file():
                raise  # a file is not a place for a table: the loader's error says so
            existing = None
        if existing is not None:
            if mode == "ignore":
                return cls(uri, storage_options=storage_options)
            raise TableExistsError(f"a Delta table already exists at {storage.root_uri} (version {existing.version})")
        protocol, metadata = new_table_actions(delta_schema, partition_by or [], configuration, name, description)
        params: dict[str, Any] = {"partitionBy": list(metadata.partition_columns), "description": description or ""}
        domain = None
        if cluster_by is not None:
            protocol, domain = new_clustered_table(protocol, metadata, cluster_by)
            params["clusterBy"] = list(cluster_by) if not isinstance(cluster_by, str) else [cluster_by]
        txn = Transaction(storage, None, operation="CREATE TABLE", parameters=params)
        if domain is not None:
            txn.set_domain_metadata(domain)
        txn.update_protocol(protocol)
        txn.update_metadata(metadata)
        txn.commit()
        return cls(uri, storage_options=storage_options)

    @classmethod
    def convert_to_delta(
        cls,
        uri: str | os.PathLike[str],
        *,
        partition_by: pa.Schema | None = None,
        configuration: Mapping[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> "DeltaTable":
        """Make the Parquet files under ``uri`` (Hive-partitioned by ``partition_by`` when given) a Delta
        table in place: version 0 adds every file as it is, with statistics from the footers.
        ``progress`` receives a `ProgressEvent` (operation ``CONVERT``, unit ``files``) per footer read."""
        counter = reporter(progress, "CONVERT", "files")
        convert_to_delta(open_storage(uri, storage_options), partition_by=partition_by, configuration=configuration,
                         name=name, description=description, progress=counter)
        return cls(uri, storage_options=storage_options)

    # -- DML -----------------------------------------------------------------------------------------
    def delete(self, predicate: FilterLike | None = None, *,
               commit_properties: CommitProperties | None = None, max_workers: int | None = None,
               progress: Progress | None = None) -> "DeleteMetrics":
        """Delete the rows matching ``predicate`` (a `FilterLike`: Spark SQL string, polars expression or
        DNF tuple filter; all rows when None).

        Uses deletion vectors when `delta.enableDeletionVectors=true`, copy-on-write otherwise. The table
        object moves to the new version. ``progress`` receives a `ProgressEvent` (operation ``DELETE``,
        unit ``files``) per candidate file done.
        """
        metrics = delete_rows(self._snapshot_for_write("DELETE"), predicate,
                              commit_properties=commit_properties, max_workers=max_workers,
                              progress=reporter(progress, "DELETE", "files"))
        self.refresh()
        return metrics

    def update(self, updates: Mapping[str, Any] | None = None, new_values: Mapping[str, Any] | None = None,
               predicate: FilterLike | None = None, *, commit_properties: CommitProperties | None = None,
               max_workers: int | None = None, progress: Progress | None = None) -> "UpdateMetrics":
        """UPDATE the rows matching ``predicate`` (a `FilterLike`; every row when None), deltalake's signature.

        ``updates`` maps columns to SQL expressions (``{"v": "v * 2", "s": "'x'"}``), polars expressions or
        non-string Python literals; ``new_values`` maps columns to Python values taken literally (a string is
        the string itself, not SQL). A column may appear in only one of the two. The table object moves to the
        new version. ``progress`` receives a `ProgressEvent` (operation ``UPDATE``, unit ``files``) per
        candidate file done."""
        assignments = dict(updates or {})
        for name, value in (new_values or {}).items():
            if name in assignments:
                raise InvalidArgumentError(f"UPDATE sets column '{name}' in both updates= and new_values=")
            assignments[name] = Lit(value)
        metrics = update_rows(self._snapshot_for_write("UPDATE"), predicate, updates=assignments,
                              commit_properties=commit_properties, max_workers=max_workers,
                              progress=reporter(progress, "UPDATE", "files"))
        self.refresh()
        return metrics

    def merge(self, source: Any, predicate: FilterLike, *, source_alias: str = "s", target_alias: str = "t",
              merge_schema: bool = False, commit_properties: "CommitProperties | None" = None,
              max_workers: int | None = None) -> MergeBuilder:
        """Start a MERGE of ``source`` (any data `write_delta` accepts) on the condition ``predicate`` (Spark
        SQL, or a polars expression naming columns with their alias: ``pl.col("t.id") == pl.col("s.id")``);
        add `when_*` clauses (conditions and values also SQL or polars) and call `execute()`, which returns
        `MergeMetrics`."""
        self._snapshot_for_write("MERGE")  # refused early too; execute() checks again
        return MergeBuilder(lambda: self._snapshot_for_write("MERGE"), source, predicate, source_alias=source_alias,
                            target_alias=target_alias, merge_schema=merge_schema, commit_properties=commit_properties,
                            max_workers=max_workers, on_commit=self.refresh)

    def load_cdf(self, starting_version: int | None = None, ending_version: int | None = None, *,
                 starting_timestamp: "datetime | str | None" = None, ending_timestamp: "datetime | str | None" = None,
                 columns: Sequence[str] | None = None) -> pa.Table:
        """The change data feed between two versions (or timestamps), inclusive, up to this version:
        the rows with `_change_type`, `_commit_version` and `_commit_timestamp`."""
        end = self.version if ending_version is None and ending_timestamp is None else ending_version
        return load_cdf(self._snapshot, starting_version=starting_version, ending_version=end,
                        starting_timestamp=starting_timestamp, ending_timestamp=ending_timestamp, columns=columns)

    # -- maintenance ---------------------------------------------------------------------------------
    @property
    def optimize(self) -> TableOptimizer:
        """File compaction and Z-ordering, as in deltalake: ``dt.optimize.compact(...)``,
        ``dt.optimize.z_order(columns, ...)`` (see `TableOptimizer`)."""
        return TableOptimizer(self)

    def vacuum(self, *, retention_hours: float | None = None, dry_run: bool = True,
               enforce_retention_duration: bool = True, mode: Literal["lite", "full"] = "full",
               commit_properties: CommitProperties | None = None, max_workers: int | None = None,
               progress: Progress | None = None) -> VacuumMetrics:
        """Delete files that no version inside the retention window needs (``dry_run=True``, the
        default, only lists them). Retention defaults to `delta.deletedFileRetentionDuration` (7 days);
        a shorter one is refused unless ``enforce_retention_duration=False``. ``mode="full"`` also removes
        files no commit ever referenced (failed writes); ``"lite"`` only the files of expired tombstones.
        Deletes go in batches of 1,000, ``max_workers`` at once (default: the core count).
        ``progress`` receives a `ProgressEvent` (operation ``VACUUM``, unit ``files``) per file deleted."""
        counter = reporter(progress, "VACUUM", "files")
        latest = latest_snapshot(self._storage, self._snapshot) if dry_run else self._snapshot_for_write("VACUUM")
        metrics = vacuum_table(latest, retention_hours=retention_hours, dry_run=dry_run,
                               enforce_retention_duration=enforce_retention_duration, mode=mode,
                               commit_properties=commit_properties, max_workers=max_workers, progress=counter)
        if not dry_run:
            self.refresh()
        return metrics

    def restore(self, target: VersionLike, *, ignore_missing_files: bool = False,
                commit_properties: CommitProperties | None = None) -> RestoreMetrics:
        """Commit a new version whose content equals version (or timestamp) ``target``. Fails, leaving
        the table unchanged, when a needed file was vacuumed (unless ``ignore_missing_files``)."""
        if target is None:
            raise InvalidArgumentError("restore needs a version (int) or a timestamp (datetime or ISO-8601 string)")
        older = self._load(target)
        params: dict[str, Any] = ({"version": older.version} if isinstance(target, int) or
                                  (isinstance(target, str) and target.strip().isdigit())
                                  else {"timestamp": str(target)})
        metrics = restore_table(self._snapshot_for_write("RESTORE"), older, ignore_missing_files=ignore_missing_files,
                                commit_properties=commit_properties, parameters=params)
        self.refresh()
        return metrics

    def verify(self, *, progress: Progress | None = None) -> "VerifyReport":
        """Check the log and files of the table (fsck; see `lakehouse.operations.verify`); changes nothing.
        ``progress`` receives a `ProgressEvent` (operation ``VERIFY``, unit ``files``) as data files are checked."""
        return verify_table(self._storage, progress=progress)

    def detail(self) -> TableDetail:
        """Size, file and row counts, protocol, features and properties of this version."""
        return table_detail(self._snapshot)

    # -- table management ----------------------------------------------------------------------------
    @property
    def alter(self) -> TableAlterer:
        """Schema, constraint, property and protocol changes, as in deltalake: ``dt.alter.add_columns(...)``,
        ``set_table_properties``, ``add_constraint``, ``add_feature``, ... (see `TableAlterer`)."""
        return TableAlterer(self)

    def create_checkpoint(self) -> str:
        """Write a checkpoint of the loaded version; returns the checkpoint file name. Allowed on a
        time-travelled table: it records the version this object holds and changes no table state."""
        # A checkpoint is a write: a table with a writer feature lakehouse cannot honour keeps fields (and
        # rules) a lakehouse checkpoint would drop, so it is refused as any other write.
        check_writable(self._snapshot.protocol, active_features(self._snapshot.protocol, self._snapshot.metadata))
        return write_checkpoint(self._storage, self._snapshot)

    def cleanup_metadata(self, *, retention_hours: float | None = None) -> list[str]:
        """Delete log files older than `delta.logRetentionDuration` (or ``retention_hours``) that no
        reachable version needs; returns the deleted file names."""
        retention = timedelta(hours=retention_hours) if retention_hours is not None else None
        latest = self._snapshot_for_write("log cleanup")
        check_writable(latest.protocol, active_features(latest.protocol, latest.metadata))
        return cleanup_expired_logs(self._storage, self._snapshot, retention=retention)

    # -- reads ---------------------------------------------------------------------------------------
    def scan(self, filter: FilterLike | None = None, columns: Sequence[str] | None = None) -> Scan:
        """A scan of this version: ``filter`` is a Spark SQL string, a polars expression or a DNF tuple
        filter (``[("a", "=", 1), ("b", "in", [1, 2])]`` AND-ed; a list of such lists OR-ed)."""
        return Scan(self._snapshot, filter=filter, columns=columns)

    def to_arrow(self, columns: Sequence[str] | None = None, *, filter: FilterLike | None = None) -> pa.Table:
        """The rows (matching ``filter``, the given columns) as a pyarrow Table."""
        return self.scan(filter, columns).to_arrow()

    def to_polars(self, columns: Sequence[str] | None = None, *, filter: FilterLike | None = None) -> "polars.DataFrame":
        """The rows as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_arrow(columns, filter=filter))  # type: ignore[return-value]  # a Table gives a DataFrame (pyarrow has no stubs)

    def to_pandas(self, columns: Sequence[str] | None = None, *, filter: FilterLike | None = None) -> "pandas.DataFrame":
        """The rows as a pandas DataFrame (pandas is the optional extra ``lakehouse-delta[pandas]``)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "to_pandas() needs pandas, which is not installed.\nHelp: pip install 'lakehouse-delta[pandas]', "
                "or use to_arrow() / to_polars()."
            ) from None
        return self.to_arrow(columns, filter=filter).to_pandas()

    def to_pyarrow_dataset(self) -> "pyarrow.dataset.Dataset":
        """An Arrow dataset of this version for engines that consume one (DuckDB, pyarrow).

        Partition columns come from per-file partition expressions, so the engine's own filters prune
        files by partition. Tables with deletion vectors or column mapping need per-file work an Arrow
        dataset cannot express; for them the rows are read (and deletion vectors applied) first.
        """
        import pyarrow.dataset as ds

        snap = self._snapshot
        if snap.column_mapping_mode == "none" and snap.adds.column("deletionVector").null_count == snap.adds.num_rows \
                and not has_variant(snap.schema.fields):  # a shredded variant is rebuilt per file
            return plain_dataset(snap, file_tasks(snap.adds))
        return ds.dataset(self.to_arrow())

    def __repr__(self) -> str:
        return f"DeltaTable({self._uri!r}, version={self.version})"


def read_delta(
    uri: str | os.PathLike[str],
    *,
    version: VersionLike = None,
    columns: Sequence[str] | None = None,
    filter: FilterLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Read a Delta table (at ``version``, rows matching ``filter``) into a pyarrow Table."""
    return DeltaTable(uri, version=version, storage_options=storage_options).to_arrow(columns, filter=filter)
