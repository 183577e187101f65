"""Listing `_delta_log/` and reading `_last_checkpoint` (PROTOCOL.md "Last Checkpoint File").

`_last_checkpoint` is only a hint: when it is missing, unreadable, stale or points at a checkpoint that
is not there, the full listing decides (the snapshot loader falls back to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lakehouse.protocol.log_path import LAST_CHECKPOINT, LOG_DIR, LogFile, classify
from lakehouse.storage.base import Storage
from lakehouse.errors import DataFileNotFoundError, StorageError


@dataclass(frozen=True, slots=True)
class LastCheckpointHint:
    """The parsed content of `_delta_log/_last_checkpoint` that the loader uses."""

    version: int
    parts: int | None
    raw: dict[str, Any]


def read_last_checkpoint(storage: Storage) -> LastCheckpointHint | None:
    """The `_last_checkpoint` hint, or None when it is missing or does not parse."""
    try:
        data = storage.read_bytes(f"{LOG_DIR}/{LAST_CHECKPOINT}")
    except (DataFileNotFoundError, StorageError):
        return None  # only a hint: the listing decides
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    version = raw.get("version")
    parts = raw.get("parts")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        return None
    return LastCheckpointHint(version, parts if isinstance(parts, int) else None, raw)


def list_log(storage: Storage, start_version: int | None = None) -> list[LogFile]:
    """Classified files of `_delta_log/` (from ``start_version`` on when given), sorted by name."""
    infos = (
        storage.list_dir(LOG_DIR)
        if start_version is None
        else storage.list_from(LOG_DIR, f"{start_version:020d}")
    )
    return [classify(f.name, f.size, f.mtime_ms) for f in infos]
