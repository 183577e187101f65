"""Log cleanup: deleting expired commit, checkpoint and checksum files (PROTOCOL.md "Metadata Cleanup").

Only files that no kept version needs go: everything below the newest checkpoint before which every log
file is older than the retention. The checkpoint itself and everything after it stay, so every version
from that checkpoint on can still be loaded.
"""

from __future__ import annotations

import time
from datetime import timedelta

from lakehouse.log.listing import list_log
from lakehouse.protocol.log_path import LOG_DIR
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
    return doomed
