"""Names of files in `_delta_log/` (PROTOCOL.md "Delta Log Entries", "Checkpoints", "Log Compaction Files").

Parses a listing entry into a `LogFile` saying what it is. Anything that is not a recognised log file
(`.crc` checksums, `_last_checkpoint`, stray files, temp files, directories) is classified so callers can
ignore it safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LOG_DIR = "_delta_log"
LAST_CHECKPOINT = "_last_checkpoint"
SIDECAR_DIR = "_sidecars"

Kind = Literal["commit", "checkpoint", "compacted", "crc", "other"]

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CLASSIC = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
_MULTIPART = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")
_UUID = re.compile(r"^(\d{20})\.checkpoint\.([0-9a-fA-F-]{36})\.(json|parquet)$")
_COMPACTED = re.compile(r"^(\d{20})\.(\d{20})\.compacted\.json$")
_CRC = re.compile(r"^(\d{20})\.crc$")


@dataclass(frozen=True, slots=True)
class LogFile:
    """One classified file of `_delta_log/`.

    ``version`` is the commit/checkpoint version (the start version for compacted files, whose end is
    ``end_version``). For checkpoints, ``part``/``num_parts`` describe multi-part checkpoints (1/1
    otherwise) and ``checkpoint_id`` groups the files of one checkpoint.
    """

    name: str
    kind: Kind
    version: int = -1
    size: int = 0
    mtime_ms: int = 0
    end_version: int | None = None
    part: int = 1
    num_parts: int = 1
    checkpoint_id: str = ""
    fmt: str = "json"


def commit_name(version: int) -> str:
    """File name of the commit for ``version``."""
    return f"{version:020d}.json"


def classic_checkpoint_name(version: int) -> str:
    """File name of a classic (single-file) checkpoint for ``version``."""
    return f"{version:020d}.checkpoint.parquet"


def classify(name: str, size: int = 0, mtime_ms: int = 0) -> LogFile:
    """Classify a file name found in `_delta_log/`."""
    m = _COMMIT.match(name)
    if m:
        return LogFile(name, "commit", int(m.group(1)), size, mtime_ms)
    m = _CLASSIC.match(name)
    if m:
        return LogFile(name, "checkpoint", int(m.group(1)), size, mtime_ms, checkpoint_id="classic", fmt="parquet")
    m = _MULTIPART.match(name)
    if m:
        part, parts = int(m.group(2)), int(m.group(3))
        if 1 <= part <= parts:
            return LogFile(
                name, "checkpoint", int(m.group(1)), size, mtime_ms,
                part=part, num_parts=parts, checkpoint_id=f"multi-{parts}", fmt="parquet",
            )
    m = _UUID.match(name)
    if m:
        return LogFile(
            name, "checkpoint", int(m.group(1)), size, mtime_ms, checkpoint_id=f"uuid-{m.group(2)}", fmt=m.group(3)
        )
    m = _COMPACTED.match(name)
    if m:
        start, end = int(m.group(1)), int(m.group(2))
        if end > start:
            return LogFile(name, "compacted", start, size, mtime_ms, end_version=end)
    m = _CRC.match(name)
    if m:
        return LogFile(name, "crc", int(m.group(1)), size, mtime_ms)
    return LogFile(name, "other", -1, size, mtime_ms)
