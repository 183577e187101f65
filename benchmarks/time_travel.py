"""Group 4: time travel on the long commit log (no checkpoint): open version 10, by number and by timestamp.

The generated log stamps commit ``v`` at a known time (`benchmarks.datagen.commit_time_ms`), in both
``commitInfo.timestamp`` and the commit file's mtime, so "10.5 s after version 0" must resolve to
version 10 whichever of the two an engine uses.

delta-rs has no timestamp argument on its constructor; its fastest route is opening version 0 (one tiny
commit) and then ``load_as_version(datetime)``. Opening the latest version first and travelling from it
costs a full replay (measured ~5x slower on 2,000 commits) and would flatter lakehouse.
"""

from __future__ import annotations

from datetime import datetime, timezone

from deltalake import DeltaTable

import lakehouse
from benchmarks.common import BenchResult, Config, Variant, measure
from benchmarks.datagen import STEP_MS, commit_log_table, commit_time_ms
from benchmarks.snapshot_load import deltalake_check, lakehouse_check, open_variants, snapshot_guard

TARGET_VERSION = 10


def target_time() -> datetime:
    """A time strictly between the commits of versions 10 and 11."""
    return datetime.fromtimestamp((commit_time_ms(TARGET_VERSION) + STEP_MS // 2) / 1000, tz=timezone.utc)


def _deltalake_at_time(path: str, when: datetime) -> DeltaTable:
    dt = DeltaTable(path, version=0)
    dt.load_as_version(when)
    return dt


def run_version(cfg: Config) -> list[BenchResult]:
    """Open version 10 by number."""
    info = commit_log_table(cfg.data_dir, cfg.commits, cfg.seed)
    path = str(info.path)
    checks = snapshot_guard(
        lakehouse.DeltaTable(path, version=TARGET_VERSION), DeltaTable(path, version=TARGET_VERSION), TARGET_VERSION
    )
    return [
        BenchResult(
            name="time_travel_version",
            description=f"open version {TARGET_VERSION} of the {cfg.commits:,}-commit log by number",
            params={"commits": cfg.commits, "version": TARGET_VERSION, "path": path},
            measurements=measure(open_variants(path, TARGET_VERSION, version=TARGET_VERSION), cfg.repeat),
            target=None,
            checks=checks,
        )
    ]


def run_timestamp(cfg: Config) -> list[BenchResult]:
    """Open the version current at a timestamp that falls between versions 10 and 11."""
    info = commit_log_table(cfg.data_dir, cfg.commits, cfg.seed)
    path = str(info.path)
    when = target_time()
    checks = snapshot_guard(lakehouse.DeltaTable(path, version=when), _deltalake_at_time(path, when), TARGET_VERSION)
    files = TARGET_VERSION + 1
    vs = [
        Variant(
            "lakehouse",
            "lakehouse.DeltaTable(path, version=datetime)",
            lambda: lakehouse.DeltaTable(path, version=when),
            lakehouse_check(TARGET_VERSION, files),
        ),
        Variant(
            "deltalake",
            "dt = deltalake.DeltaTable(path, version=0); dt.load_as_version(datetime)",
            lambda: _deltalake_at_time(path, when),
            deltalake_check(TARGET_VERSION, files),
        ),
    ]
    return [
        BenchResult(
            name="time_travel_timestamp",
            description=f"open the version current at {when.isoformat()} (= version {TARGET_VERSION}) by timestamp",
            params={"commits": cfg.commits, "timestamp": when.isoformat(), "expected_version": TARGET_VERSION, "path": path},
            measurements=measure(vs, cfg.repeat),
            target=None,
            checks=checks,
        )
    ]
