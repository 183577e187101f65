"""Log cleanup: deleting expired commit, checkpoint and checksum files (PROTOCOL.md "Metadata Cleanup").

Only files that no kept version needs go: everything below the newest checkpoint before which every log
file is older than the retention. The checkpoint itself and everything after it stay, so every version
from that checkpoint on can still be loaded. Then sidecar files (`_delta_log/_sidecars/`) that no remaining
checkpoint references and that are older than the retention go too (the age check spares the sidecars of
a V2 checkpoint still being written: they are written before the file that references them).
"""

from __future__ import annotations

import time
from datetime import timedelta

import posixpath
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.errors import LakehouseError
from lakehouse.log.listing import list_log
from lakehouse.protocol.actions import Sidecar
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.log_path import LOG_DIR, SIDECAR_DIR, LogFile
from lakehouse.protocol.segment import complete_checkpoints
from lakehouse.storage.base import Storage


def cleanup_expired_logs(storage: Storage, version: int, retention: timedelta, *,
                         now_ms: int | None = None) -> list[str]:
    """Delete the log files older than ``retention`` (from ``now_ms``) below the newest checkpoint at or
    before ``version`` that they all precede; returns the names deleted."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = now_ms - int(retention.total_seconds() * 1000)
    files = list_log(storage)
    checkpoints = [c for c in complete_checkpoints(files) if c.version <= version]
    boundary = None
    for cp in checkpoints:
        older = [f for f in files if f.kind in ("commit", "checkpoint", "crc", "compacted") and f.version < cp.version]
        if all(f.mtime_ms <= cutoff for f in older):
            boundary = cp.version
    if boundary is None:
        return []
    doomed = [
        f.name for f in files
        if f.kind in ("commit", "checkpoint", "crc") and f.version < boundary
        or f.kind == "compacted" and (f.end_version or 0) < boundary
    ]
    for name in doomed:
        storage.delete(f"{LOG_DIR}/{name}")
    gone = set(doomed)
    kept = [f for f in files if f.kind == "checkpoint" and f.name not in gone]
    return doomed + _cleanup_sidecars(storage, kept, cutoff)


def _referenced_sidecars(storage: Storage, checkpoint_files: list[LogFile]) -> set[str]:
    """File names of the sidecars the given checkpoint files reference (raises when one is unreadable)."""
    names: set[str] = set()
    for f in checkpoint_files:
        rel = f"{LOG_DIR}/{f.name}"
        if f.fmt == "json":
            paths = [a.path for a in parse_commit_bytes(storage.read_bytes(rel), path=rel, version=f.version)
                     if isinstance(a, Sidecar)]
        else:
            fs, root = storage.arrow_filesystem()
            pf = pq.ParquetFile(f"{root}/{rel}", filesystem=fs)
            if "sidecar" not in pf.schema_arrow.names:
                continue
            paths = [row["path"] for row in pf.read(columns=["sidecar.path"]).column("sidecar").to_pylist() if row]
        names |= {posixpath.basename(unquote(p)) for p in paths}
    return names


def _cleanup_sidecars(storage: Storage, kept_checkpoints: list[LogFile], cutoff: int) -> list[str]:
    sidecars = storage.list_dir(f"{LOG_DIR}/{SIDECAR_DIR}")
    if not sidecars:
        return []
    try:
        referenced = _referenced_sidecars(storage, kept_checkpoints)
    except (LakehouseError, pa.ArrowException, OSError):
        return []  # cannot tell what is still needed: delete nothing
    doomed = [s.name for s in sidecars if s.name not in referenced and s.mtime_ms <= cutoff]
    for name in doomed:
        storage.delete(f"{LOG_DIR}/{SIDECAR_DIR}/{name}")
    return [f"{SIDECAR_DIR}/{name}" for name in doomed]
