"""Checkpoints and log cleanup from a snapshot: the thin calls that pass a `Snapshot`'s state to the
log layer (`lakehouse.log.checkpoint_write`, `lakehouse.log.cleanup`), and the post-commit checkpoint.

It must not build checkpoint rows itself: that is the log layer's job.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from lakehouse.log import checkpoint_write, cleanup
from lakehouse.log.checkpoint_write import CheckpointState
from lakehouse.protocol.properties import TableProperties
from lakehouse.snapshot.snapshot import Snapshot, latest_snapshot, load_snapshot
from lakehouse.storage.base import Storage

log = logging.getLogger(__name__)


def checkpoint_state(snapshot: Snapshot) -> CheckpointState:
    """The state a checkpoint of ``snapshot`` records."""
    return CheckpointState(
        version=snapshot.version, protocol=snapshot.protocol, metadata=snapshot.metadata, adds=snapshot.adds,
        tombstones=snapshot.tombstones, txns=tuple(snapshot.txns.values()), domains=tuple(snapshot.domains.values()),
    )


def write_checkpoint(storage: Storage, snapshot: Snapshot) -> str:
    """Write a checkpoint of ``snapshot`` and point `_last_checkpoint` at it; returns its file name."""
    return checkpoint_write.write_checkpoint(storage, checkpoint_state(snapshot))


def cleanup_expired_logs(storage: Storage, snapshot: Snapshot, *, now_ms: int | None = None,
                         retention: timedelta | None = None) -> list[str]:
    """Delete log files older than the retention (default `delta.logRetentionDuration`) that no version
    from the newest eligible checkpoint on needs; returns the names deleted."""
    keep_for = retention if retention is not None else snapshot.properties.log_retention
    return cleanup.cleanup_expired_logs(storage, snapshot.version, keep_for, now_ms=now_ms)


def maybe_checkpoint(storage: Storage, version: int, properties: TableProperties) -> bool:
    """After committing ``version``: checkpoint every `delta.checkpointInterval` commits, then clean up
    expired logs. A failure here is logged, never raised: the commit itself already succeeded."""
    if version == 0 or version % properties.checkpoint_interval:
        return False
    try:
        # The writer's own cached snapshot, refreshed by the commits since (usually just this one), costs
        # what those commits cost; a full load only when other writers already moved past ``version``.
        snapshot = latest_snapshot(storage)
        if snapshot.version != version:
            snapshot = load_snapshot(storage, version)
        write_checkpoint(storage, snapshot)
        if (snapshot.metadata.configuration.get("delta.enableExpiredLogCleanup") or "true").lower() == "true":
            cleanup_expired_logs(storage, snapshot)
        return True
    except Exception as e:  # noqa: BLE001 - the commit already succeeded; nothing here may undo that
        log.warning("checkpoint at version %s failed (the commit stands): %s: %s", version, type(e).__name__, e)
        return False
