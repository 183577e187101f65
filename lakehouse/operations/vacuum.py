"""VACUUM: delete files that no version inside the retention window needs (PROTOCOL.md "Add File and
Remove File" on tombstones, "Deletion Vector Files", "Change Data Files", "VACUUM Protocol Check").

A file is kept when any of these holds:

- the snapshot references it (an active `add`, or the deletion-vector file of one);
- a tombstone (`remove`) of it is younger than the retention (``deletionTimestamp > now - retention``),
  so versions inside the window that still list it stay readable; a tombstone without a timestamp
  keeps its file forever;
- it is a `_change_data` file named by a commit made inside the window;
- it was modified inside the window (a writer in flight, whose commit has not landed yet, is safe).

``mode="full"`` (Spark's behaviour and the default) lists the table directory and removes every other
file older than the retention, including files of failed or crashed writes that never committed.
Hidden paths (a name starting with ``_`` or ``.``) are ignored, except `_change_data` and partition
directories of columns whose names start with ``_``. ``mode="lite"`` (delta-rs's) lists nothing and
removes only the files of expired tombstones.

A real run (``dry_run=False``) commits `VACUUM START` and `VACUUM END` as Spark does (commitInfo only,
so readers and concurrent writers are unaffected) around the deletes.

VACUUM never deletes outside the table root, whatever the log says: every path it derives from the log
(tombstones, their deletion vectors of every storage type, change data files) is contained by
`resolve_relative` (a hostile one is refused with `InvalidLogError` and nothing is deleted), and every
path is checked again with `is_inside_root` right before the delete call.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.scan.deletion_vectors import dv_file_path
from lakehouse.errors import InvalidArgumentError, InvalidLogError
from lakehouse.log.commits import read_log_files
from lakehouse.protocol.actions import AddCDCFile
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.properties import format_duration
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.log_path import LOG_DIR, LogFile
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.paths import is_inside_root, resolve_relative
from lakehouse.snapshot import Snapshot, latest_snapshot
from lakehouse.storage.base import FileInfo, Storage
from lakehouse.write.files import resolve_max_workers
from lakehouse.write.transaction import CommitProperties, Transaction, already_applied, check_commit_safety

Mode = Literal["lite", "full"]
#: 1,000 years: anything longer is a mistake, and far longer overflows `timedelta`.
MAX_RETENTION_HOURS = 24 * 365 * 1000
CHANGE_DATA_DIR = "_change_data"
#: Paths per delete call: S3's bulk delete takes up to 1,000 keys per request.
DELETE_BATCH = 1000
#: A log path that may need decoding, a scheme or a root, or normalising (`resolve_relative` decides
#: those); any other path is already the root-relative path it names.
_NOT_PLAIN = r"%|:|^/|//|/$|^$|(^|/)\.\.?(/|$)"


@dataclass(frozen=True)
class VacuumMetrics:
    """What VACUUM deleted (or, in a dry run, would delete)."""

    dry_run: bool
    mode: str
    retention_hours: float
    files: tuple[str, ...]
    num_files: int
    num_bytes: int
    start_version: int | None = None
    end_version: int | None = None

    @property
    def version(self) -> int | None:
        """The last commit VACUUM made (VACUUM END), as every mutating call reports it; None in a dry run."""
        return self.end_version

    def __repr__(self) -> str:
        # The paths are summarised: a VACUUM can list hundreds of thousands of them (``files`` has them all).
        head = ", ".join(repr(p) for p in self.files[:3]) + (", ..." if len(self.files) > 3 else "")
        return (f"VacuumMetrics(dry_run={self.dry_run!r}, mode={self.mode!r}, retention_hours={self.retention_hours!r}, "
                f"num_files={self.num_files!r}, num_bytes={self.num_bytes!r}, files=<{len(self.files)} paths: {head}>, "
                f"start_version={self.start_version!r}, end_version={self.end_version!r})")


def _rel(storage: Storage, raw: str, version: int, kind: str = "data file") -> str:
    # Every path VACUUM derives from the log is contained in the table root (InvalidLogError otherwise):
    # a hostile tombstone must not make VACUUM delete another table's files.
    return resolve_relative(raw, storage.root_uri, kind=kind, version=version)


def _dv_rel(storage: Storage, dv: Mapping[str, Any] | None, path: str, version: int) -> str | None:
    if not dv:
        return None
    return dv_file_path(decode_deletion_vector(dv, path=path), storage.root_uri, version=version)


def _rel_paths(storage: Storage, paths: pa.ChunkedArray, version: int) -> list[str]:
    """The root-relative paths of log paths, in order. Plain paths (the common case) are their own
    relative path; every other one goes through `resolve_relative`, which refuses one outside the root."""
    plain = pc.invert(pc.match_substring_regex(paths, _NOT_PLAIN))
    out = paths.to_pylist()
    if not pc.all(plain).as_py():
        for i in np.flatnonzero(~np.asarray(av.to_numpy(plain), dtype=bool)).tolist():
            out[i] = _rel(storage, out[i], version)
    return out


def _dv_paths(storage: Storage, files: pa.Table, rows: np.ndarray, version: int) -> list[str]:
    """The deletion-vector files (root-relative) of the given rows of an add or remove table."""
    out: list[str] = []
    dvs = files.column("deletionVector")
    if dvs.null_count == len(dvs):
        return out
    with_dv = rows[np.asarray(av.to_numpy(dvs.is_valid()), dtype=bool)[rows]]
    paths = files.column("path")
    for i in with_dv.tolist():
        dv_path = _dv_rel(storage, dvs[i].as_py(), paths[i].as_py(), version)
        if dv_path:
            out.append(dv_path)
    return out


def _referenced(snapshot: Snapshot, cutoff_ms: int) -> tuple[set[str], dict[str, int]]:
    """Files the window needs (active files, young tombstones, their DVs), and the expired tombstones
    (root-relative path -> recorded size, -1 when unknown) with their DV files.

    Computed on the file tables' columns: only paths that need decoding or normalising, and rows with a
    deletion vector, are looked at one by one.
    """
    storage, version = snapshot.storage, snapshot.version
    adds, tomb = snapshot.adds, snapshot.tombstones
    keep = set(_rel_paths(storage, adds.column("path"), version))
    keep.update(_dv_paths(storage, adds, np.arange(adds.num_rows), version))
    rels = _rel_paths(storage, tomb.column("path"), version)
    ts = tomb.column("deletionTimestamp")
    # A tombstone without a timestamp keeps its file forever.
    expired_mask = av.to_numpy(av.fill_null(pc.less_equal(ts, av.scalar(cutoff_ms, ts.type)), False))
    young, old = np.flatnonzero(~expired_mask), np.flatnonzero(expired_mask)
    keep.update(rels[i] for i in young.tolist())
    keep.update(_dv_paths(storage, tomb, young, version))
    sizes = tomb.column("size").to_pylist()
    expired: dict[str, int] = {}
    for i in old.tolist():
        expired[rels[i]] = sizes[i] if sizes[i] is not None else -1
    for dv_path in _dv_paths(storage, tomb, old, version):
        expired.setdefault(dv_path, -1)
    return keep, expired


def _hidden(partition_dirs: set[str]) -> Callable[[str], bool]:
    """Directory filter: hidden names are skipped, except `_change_data` and `_col=value` partitions."""
    def skip(rel_dir: str) -> bool:
        name = rel_dir.rsplit("/", 1)[-1]
        if not name.startswith(("_", ".")):
            return False
        if rel_dir == CHANGE_DATA_DIR:
            return False
        return not (name.split("=", 1)[0] in partition_dirs and "=" in name)
    return skip


def _cdc_in_window(snapshot: Snapshot, cutoff_ms: int) -> set[str]:
    """`_change_data` files named by commits inside the window (commits at or after the cutoff, and
    commits whose timestamp cannot be told, which count as inside)."""
    storage = snapshot.storage
    listing = [f for f in storage.list_dir(LOG_DIR) if f.name.endswith(".json") and f.name[:20].isdigit()]
    recent = [f for f in listing if f.mtime_ms >= cutoff_ms and int(f.name[:20]) <= snapshot.version]
    if not recent:
        return set()
    files = [LogFile(f.name, "commit", int(f.name[:20])) for f in recent]
    out: set[str] = set()
    for log_file, actions in zip(files, read_log_files(storage, files)):
        for a in actions:
            if isinstance(a, AddCDCFile):
                out.add(_rel(storage, a.path, log_file.version, "change data file"))
    return out


def _existing(storage: Storage, rels: list[str], workers: int) -> list[bool]:
    """Which of ``rels`` exist, asked ``workers`` at a time (object stores answer each in a round trip)."""
    if workers <= 1 or len(rels) < 2 * DELETE_BATCH:
        return [storage.exists(r) for r in rels]
    step = -(-len(rels) // workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakehouse-vacuum") as pool:
        parts = pool.map(lambda chunk: [storage.exists(r) for r in chunk],
                         [rels[i:i + step] for i in range(0, len(rels), step)])
        return [found for part in parts for found in part]


def plan_vacuum(snapshot: Snapshot, *, retention: timedelta, mode: Mode, now_ms: int | None = None,
                max_workers: int | None = None) -> list[FileInfo]:
    """The files a VACUUM of ``snapshot`` with ``retention`` would delete (no side effects)."""
    storage = snapshot.storage
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    cutoff_ms = now_ms - int(retention.total_seconds() * 1000)
    keep, expired = _referenced(snapshot, cutoff_ms)
    if mode == "lite":
        gone = sorted((rel, size) for rel, size in expired.items() if rel not in keep)
        found = _existing(storage, [rel for rel, _ in gone], resolve_max_workers(max_workers))
        return [FileInfo(rel, max(size, 0), 0) for (rel, size), there in zip(gone, found) if there]
    # Partition directories carry the logical name (lakehouse, delta-rs) or the physical one.
    part_dirs = {physical_name(snapshot.schema.field(c), snapshot.column_mapping_mode)
                 for c in snapshot.partition_columns} | set(snapshot.partition_columns)
    listed = storage.list_tree("", skip_dir=_hidden(part_dirs))
    cdc_prefix = CHANGE_DATA_DIR + "/"
    candidates = [f for f in listed if f.mtime_ms < cutoff_ms and f.path not in keep
                  and (not f.name.startswith(("_", ".")) or f.path.startswith(cdc_prefix))]
    if any(f.path.startswith(CHANGE_DATA_DIR + "/") for f in candidates):
        window_cdc = _cdc_in_window(snapshot, cutoff_ms)
        candidates = [f for f in candidates if f.path not in window_cdc]
    return candidates


def vacuum(snapshot: Snapshot, *, retention_hours: float | None = None, dry_run: bool = True,
           enforce_retention_duration: bool = True, mode: Mode = "full",
           commit_properties: CommitProperties | None = None, max_workers: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> VacuumMetrics:
    """Delete (or with ``dry_run`` list) files no version inside the retention window needs.

    Deletes go in batches of `DELETE_BATCH` paths (one bulk request each on object stores), ``max_workers``
    batches at once (default: the core count); ``progress(done, total)`` is called on the calling thread.
    """
    workers = resolve_max_workers(max_workers)
    if mode not in ("lite", "full"):
        raise InvalidArgumentError(f"mode must be 'lite' or 'full', got {mode!r}")
    if not isinstance(dry_run, bool):
        raise InvalidArgumentError(f"dry_run must be a bool, got {dry_run!r}")
    features = active_features(snapshot.protocol, snapshot.metadata)
    # vacuumProtocolCheck (and our own rule for every table): only a client that supports every reader
    # and writer feature in use may decide which files are garbage (check_writable checks both).
    check_writable(snapshot.protocol, features)
    default = snapshot.properties.deleted_file_retention
    if retention_hours is None:
        retention = default
    else:
        if (isinstance(retention_hours, bool) or not isinstance(retention_hours, (int, float))
                or not math.isfinite(retention_hours) or not 0 <= retention_hours <= MAX_RETENTION_HOURS):
            raise InvalidArgumentError(
                f"retention_hours must be a number from 0 to {MAX_RETENTION_HOURS}, got {retention_hours!r}")
        retention = timedelta(hours=retention_hours)
    if enforce_retention_duration and retention < default:
        raise InvalidArgumentError(
            f"retention of {format_duration(retention)} is below the table's delta.deletedFileRetentionDuration "
            f"({format_duration(default)}); a reader or writer still using an older version could lose files.\n"
            "Help: pass enforce_retention_duration=False if no operation on this table runs longer than the "
            "retention you ask for."
        )
    hours = retention.total_seconds() / 3600
    if not dry_run and already_applied(snapshot, commit_properties):
        return VacuumMetrics(False, mode, hours, (), 0, 0)  # a replay: skipped, nothing deleted
    files = plan_vacuum(snapshot, retention=retention, mode=mode, max_workers=workers)
    _refuse_outside([f.path for f in files], snapshot.version)  # before VACUUM START is committed
    total_bytes = sum(f.size for f in files)
    if dry_run:
        return VacuumMetrics(True, mode, hours, tuple(f.path for f in files), len(files), total_bytes)
    storage = snapshot.storage
    check_commit_safety(storage)
    start = _log_commit(snapshot, "VACUUM START", {
        "retentionCheckEnabled": enforce_retention_duration,
        "defaultRetentionMillis": int(default.total_seconds() * 1000),
        "specifiedRetentionMillis": int(retention.total_seconds() * 1000),
    }, {"numFilesToDelete": len(files), "sizeOfDataToDelete": total_bytes}, commit_properties)
    deleted = _delete_all(storage, [f.path for f in files], progress, snapshot.version, max_workers=workers)
    # The app transactions went into VACUUM START; END carries the same commitInfo fields only.
    end_properties = replace(commit_properties, app_transactions=()) if commit_properties else None
    end = _log_commit(snapshot, "VACUUM END", {"status": "COMPLETED"},
                      {"numDeletedFiles": deleted, "numVacuumedDirectories": 0}, end_properties)
    return VacuumMetrics(False, mode, hours, tuple(f.path for f in files), len(files), total_bytes, start, end)


def _refuse_outside(paths: list[str], version: int) -> None:
    """Defence in depth: whatever the log or a listing says, VACUUM never deletes outside the table root."""
    outside = [p for p in paths if not is_inside_root(p)]
    if outside:
        raise InvalidLogError(
            f"VACUUM refuses to delete {outside[0]!r} ({len(outside)} path(s) in all): it is not a file inside "
            "the table root; nothing was deleted", version=version)


def _delete_all(storage: Storage, paths: list[str], progress: Callable[[int, int], None] | None,
                version: int, batch: int = DELETE_BATCH, *, max_workers: int = 1) -> int:
    """Delete ``paths`` in batches, ``max_workers`` batches at once; returns how many were deleted."""
    _refuse_outside(paths, version)  # checked again right at the delete call, before the first delete
    total = len(paths)
    done = 0
    if progress:
        progress(0, total)
    chunks: Sequence[list[str]] = [paths[i:i + batch] for i in range(0, total, batch)]
    if max_workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            storage.delete_many(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
        return done
    def delete(chunk: list[str]) -> int:
        storage.delete_many(chunk)
        return len(chunk)

    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lakehouse-vacuum")
    try:
        # Counted in submission order on this thread; the first failed batch raises here and the batches
        # not yet started are dropped (the files stay garbage for the next VACUUM).
        for n in pool.map(delete, chunks):
            done += n
            if progress:
                progress(done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return done


def _log_commit(snapshot: Snapshot, operation: str, params: dict, metrics: dict,
                properties: CommitProperties | None) -> int:
    """A commit with only commitInfo (Spark's VACUUM START/END), based on the latest version."""
    latest = latest_snapshot(snapshot.storage)
    txn = Transaction(snapshot.storage, latest, operation=operation, parameters=params, properties=properties)
    txn.metrics.update(metrics)
    return txn.commit().version

