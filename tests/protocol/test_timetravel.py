"""Unit tests of `lakehouse.protocol.timetravel` (timestamp time travel, as Spark's DeltaHistoryManager)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.errors import VersionNotFoundError
from lakehouse.protocol.timetravel import monotonize, version_at


@pytest.mark.parametrize(
    "given_ts,expected",
    [
        ([], []),
        ([5], [5]),
        ([1, 2, 3], [1, 2, 3]),
        ([10, 5, 20], [10, 11, 20]),
        ([10, 10, 10], [10, 11, 12]),
        ([10, 9, 8, 30], [10, 11, 12, 30]),
        ([100, 1, 102], [100, 101, 102]),
        ([100, 1, 101], [100, 101, 102]),
    ],
)
def test_monotonize(given_ts, expected):
    assert monotonize(given_ts) == expected


@given(st.lists(st.integers(-(2**40), 2**40), max_size=30))
def test_monotonize_properties(ts):
    out = monotonize(ts)
    assert len(out) == len(ts)
    assert all(b > a for a, b in zip(out, out[1:]))
    assert all(o >= t for o, t in zip(out, ts))


VERSIONS = [3, 4, 5, 7]
TIMES = [1000, 2000, 3000, 5000]


@pytest.mark.parametrize(
    "target,expected",
    [(1000, 3), (2000, 4), (3000, 5), (5000, 7), (1001, 3), (1999, 3), (2500, 4), (4999, 5)],
)
def test_version_at(target, expected):
    assert version_at(VERSIONS, TIMES, target) == expected


def test_before_first_commit():
    with pytest.raises(VersionNotFoundError, match="earliest"):
        version_at(VERSIONS, TIMES, 999)


def test_after_last_commit():
    with pytest.raises(VersionNotFoundError, match="latest"):
        version_at(VERSIONS, TIMES, 5001)


def test_no_commits():
    with pytest.raises(VersionNotFoundError):
        version_at([], [], 0)


def test_single_commit():
    assert version_at([0], [10], 10) == 0
    with pytest.raises(VersionNotFoundError):
        version_at([0], [10], 11)


def test_skewed_mtimes_after_monotonize():
    # v1's file time went backwards; after monotonize a time between v0 and v2 still resolves sensibly.
    times = monotonize([1000, 900, 3000])
    assert version_at([0, 1, 2], times, 1000) == 0
    assert version_at([0, 1, 2], times, 1001) == 1
    assert version_at([0, 1, 2], times, 2999) == 1
