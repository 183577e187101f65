"""Timestamp time travel (pure logic), following Spark's DeltaHistoryManager and PROTOCOL.md
"In-Commit Timestamps".

Commit timestamps come from file modification times, which can go backwards (clock skew, copies); Spark
makes them strictly increasing by bumping each one to 1 ms past its predecessor, and so do we. With
in-commit timestamps the `commitInfo.inCommitTimestamp` values are used instead, and they are monotonic
by construction.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from typing import Sequence

from lakehouse.errors import VersionNotFoundError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime, exactly (no float on the way)."""
    return EPOCH + ms * _MS


def datetime_to_ms(when: datetime) -> int:
    """An aware (or naive = UTC) datetime as epoch milliseconds, rounded down, exactly: a commit time read
    back from `ms_to_datetime` maps to the same millisecond."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - EPOCH) // _MS


def monotonize(timestamps: Sequence[int]) -> list[int]:
    """Make commit timestamps strictly increasing, as Spark does for file modification times."""
    out: list[int] = []
    for ts in timestamps:
        out.append(ts if not out or ts > out[-1] else out[-1] + 1)
    return out


def _fmt(ms: int) -> str:
    return ms_to_datetime(ms).isoformat(timespec="milliseconds")


def version_at(versions: Sequence[int], timestamps: Sequence[int], target_ms: int) -> int:
    """The latest version committed at or before ``target_ms``.

    ``versions`` ascend and ``timestamps`` are their (already monotonic) commit times. Like Spark, a time
    before the first reachable commit or after the latest one is an error that names the valid range.
    """
    if not versions:
        raise VersionNotFoundError("the table has no commits to time travel to")
    if target_ms < timestamps[0]:
        raise VersionNotFoundError(
            f"timestamp {_fmt(target_ms)} is before the earliest available commit (version {versions[0]} at "
            f"{_fmt(timestamps[0])}).\nHelp: use a timestamp between {_fmt(timestamps[0])} and {_fmt(timestamps[-1])}."
        )
    if target_ms > timestamps[-1]:
        raise VersionNotFoundError(
            f"timestamp {_fmt(target_ms)} is after the latest commit (version {versions[-1]} at "
            f"{_fmt(timestamps[-1])}).\nHelp: use a timestamp at or before {_fmt(timestamps[-1])}, or omit it to "
            "read the latest version."
        )
    return versions[bisect_right(timestamps, target_ms) - 1]
