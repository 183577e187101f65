"""Typed view of the `delta.*` table properties (PROTOCOL.md "Table Properties" and per-feature sections).

Parsed once from `metaData.configuration`; invalid values raise `InvalidLogError` naming the property.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Mapping

from lakehouse.errors import InvalidLogError

_INTERVAL = re.compile(
    r"^\s*(?:interval\s+)?(\d+)\s*(nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "nanosecond": 1e-9,
    "microsecond": 1e-6,
    "millisecond": 1e-3,
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
}


def parse_interval(text: str, *, key: str = "") -> timedelta:
    """Parse Spark's interval strings as used by Delta ("interval 7 days", "30 days", "168 hours")."""
    m = _INTERVAL.match(text)
    if not m:
        raise InvalidLogError(f"table property {key or 'interval'}={text!r} is not an interval such as 'interval 7 days'")
    unit = m.group(2).lower().rstrip("s")
    return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[unit])


def _bool(config: Mapping[str, str | None], key: str, default: bool) -> bool:
    v = config.get(key)
    if v is None:
        return default
    if v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise InvalidLogError(f"table property {key}={v!r} must be 'true' or 'false'")


def _int(config: Mapping[str, str | None], key: str, default: int | None) -> int | None:
    v = config.get(key)
    if v is None:
        return default
    try:
        return int(v)
    except ValueError:
        raise InvalidLogError(f"table property {key}={v!r} must be an integer") from None


@dataclass(frozen=True, slots=True)
class TableProperties:
    """The `delta.*` properties `lakehouse` acts on, with the protocol's defaults."""

    column_mapping_mode: Literal["none", "name", "id"] = "none"
    enable_deletion_vectors: bool = False
    enable_change_data_feed: bool = False
    enable_in_commit_timestamps: bool = False
    in_commit_timestamp_enablement_version: int | None = None
    in_commit_timestamp_enablement_timestamp: int | None = None
    append_only: bool = False
    checkpoint_interval: int = 100
    log_retention: timedelta = timedelta(days=30)
    deleted_file_retention: timedelta = timedelta(days=7)
    data_skipping_num_indexed_cols: int = 32
    data_skipping_stats_columns: tuple[str, ...] | None = None
    checkpoint_policy: Literal["classic", "v2"] = "classic"

    @staticmethod
    def parse(config: Mapping[str, str | None]) -> "TableProperties":
        """Parse a `metaData.configuration` map."""
        mode = (config.get("delta.columnMapping.mode") or "none").lower()
        if mode not in ("none", "name", "id"):
            raise InvalidLogError(f"table property delta.columnMapping.mode={mode!r} must be none, name or id")
        policy = (config.get("delta.checkpointPolicy") or "classic").lower()
        if policy not in ("classic", "v2"):
            raise InvalidLogError(f"table property delta.checkpointPolicy={policy!r} must be classic or v2")
        stats_cols = config.get("delta.dataSkippingStatsColumns")
        log_ret = config.get("delta.logRetentionDuration")
        del_ret = config.get("delta.deletedFileRetentionDuration")
        return TableProperties(
            column_mapping_mode=mode,  # type: ignore[arg-type]
            enable_deletion_vectors=_bool(config, "delta.enableDeletionVectors", False),
            enable_change_data_feed=_bool(config, "delta.enableChangeDataFeed", False),
            enable_in_commit_timestamps=_bool(config, "delta.enableInCommitTimestamps", False),
            in_commit_timestamp_enablement_version=_int(config, "delta.inCommitTimestampEnablementVersion", None),
            in_commit_timestamp_enablement_timestamp=_int(config, "delta.inCommitTimestampEnablementTimestamp", None),
            append_only=_bool(config, "delta.appendOnly", False),
            checkpoint_interval=_int(config, "delta.checkpointInterval", 100) or 100,
            log_retention=parse_interval(log_ret, key="delta.logRetentionDuration") if log_ret else timedelta(days=30),
            deleted_file_retention=(
                parse_interval(del_ret, key="delta.deletedFileRetentionDuration") if del_ret else timedelta(days=7)
            ),
            data_skipping_num_indexed_cols=_int(config, "delta.dataSkippingNumIndexedCols", 32),  # type: ignore[arg-type]
            data_skipping_stats_columns=(
                tuple(c.strip() for c in stats_cols.split(",") if c.strip()) if stats_cols else None
            ),
            checkpoint_policy=policy,  # type: ignore[arg-type]
        )
