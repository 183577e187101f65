"""Typed view of the `delta.*` table properties (PROTOCOL.md "Table Properties" and per-feature sections).

Parsed once from `metaData.configuration`; invalid values raise `InvalidLogError` naming the property.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Literal, Mapping, TypeVar

T = TypeVar("T")

from lakehouse.errors import InvalidLogError

_UNIT = r"(nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)"
_INTERVAL = re.compile(rf"^\s*(?:interval\s+)?((?:\d+\s*{_UNIT}\s*)+)$", re.IGNORECASE)
_PART = re.compile(rf"(\d+)\s*{_UNIT}", re.IGNORECASE)
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
    seconds = sum(int(n) * _UNIT_SECONDS[u.lower().rstrip("s")] for n, u in _PART.findall(m.group(1)))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidLogError(f"table property {key or 'interval'}={text!r} is too large an interval") from None


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


def _positive(config: Mapping[str, str | None], key: str, default: int) -> int:
    v = _int(config, key, default)
    if v is None or v <= 0:
        raise InvalidLogError(f"table property {key}={config.get(key)!r} must be a positive integer")
    return v


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
    #: `delta.targetFileSize` in bytes (OPTIMIZE's default target), None when unset.
    target_file_size: int | None = None

    @staticmethod
    def parse(config: Mapping[str, str | None], *, strict: bool = True) -> "TableProperties":
        """Parse a `metaData.configuration` map.

        With ``strict=False`` (the read path) a malformed value of a property that does not affect how
        rows are read falls back to the protocol default instead of making the table unreadable;
        `delta.columnMapping.mode` is always checked.
        """
        mode = (config.get("delta.columnMapping.mode") or "none").lower()
        if mode not in ("none", "name", "id"):
            raise InvalidLogError(f"table property delta.columnMapping.mode={mode!r} must be none, name or id")
        defaults = TableProperties()

        def get(fn: Callable[[], T], default: T) -> T:
            try:
                return fn()
            except InvalidLogError:
                if strict:
                    raise
                return default

        def policy() -> str:
            value = (config.get("delta.checkpointPolicy") or "classic").lower()
            if value not in ("classic", "v2"):
                raise InvalidLogError(f"table property delta.checkpointPolicy={value!r} must be classic or v2")
            return value

        def interval(key: str, default: timedelta) -> timedelta:
            raw = config.get(key)
            return parse_interval(raw, key=key) if raw else default

        stats_cols = config.get("delta.dataSkippingStatsColumns")
        return TableProperties(
            column_mapping_mode=mode,  # type: ignore[arg-type]
            enable_deletion_vectors=get(lambda: _bool(config, "delta.enableDeletionVectors", False), False),
            enable_change_data_feed=get(lambda: _bool(config, "delta.enableChangeDataFeed", False), False),
            enable_in_commit_timestamps=get(lambda: _bool(config, "delta.enableInCommitTimestamps", False), False),
            in_commit_timestamp_enablement_version=get(
                lambda: _int(config, "delta.inCommitTimestampEnablementVersion", None), None),
            in_commit_timestamp_enablement_timestamp=get(
                lambda: _int(config, "delta.inCommitTimestampEnablementTimestamp", None), None),
            append_only=get(lambda: _bool(config, "delta.appendOnly", False), False),
            checkpoint_interval=get(lambda: _positive(config, "delta.checkpointInterval", 100), 100),
            log_retention=get(lambda: interval("delta.logRetentionDuration", defaults.log_retention), defaults.log_retention),
            deleted_file_retention=get(
                lambda: interval("delta.deletedFileRetentionDuration", defaults.deleted_file_retention),
                defaults.deleted_file_retention),
            data_skipping_num_indexed_cols=get(
                lambda: _int(config, "delta.dataSkippingNumIndexedCols", 32), 32),  # type: ignore[arg-type]
            data_skipping_stats_columns=(
                tuple(c.strip() for c in stats_cols.split(",") if c.strip()) if stats_cols else None
            ),
            checkpoint_policy=get(policy, "classic"),  # type: ignore[arg-type]
            target_file_size=get(lambda: _int(config, "delta.targetFileSize", None), None),
        )
