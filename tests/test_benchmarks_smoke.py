"""Smoke test of the benchmark suite: `python -m benchmarks` at a tiny size writes complete results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("deltalake")

REPO = Path(__file__).resolve().parent.parent
EXPECTED = {
    "full_read",
    "snapshot_no_checkpoint",
    "snapshot_checkpoint",
    "time_travel_version",
    "time_travel_timestamp",
    "bulk_write",
    "partitioned_write",
    "small_appends",
    "append_long_log",
    "range_read",
    "partition_read",
    "planning_100k",
}
LAKEHOUSE_ONLY = {"planning_100k"}  # delta-rs has no stats-based planning call to compare with


@pytest.mark.timeout(300)
def test_suite_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "benchmarks",
        "--rows", "20000", "--commits", "30", "--repeat", "1",
        "--out", str(out), "--data", str(tmp_path / "data"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]

    doc = json.loads((out / "latest.json").read_text())
    assert doc["errors"] == []
    assert set(doc["benchmarks"]) == EXPECTED
    for name, bench in doc["benchmarks"].items():
        engines = {m["engine"] for m in bench["measurements"]}
        assert ({"lakehouse"} if name in LAKEHOUSE_ONLY else {"lakehouse", "deltalake"}) <= engines, name
        for m in bench["measurements"]:
            assert len(m["runs_s"]) == 1 and m["median_s"] > 0 and m["min_s"] > 0, (name, m["call"])
    assert "pyarrow" in {m["engine"] for m in doc["benchmarks"]["full_read"]["measurements"]}
    assert doc["machine"]["nproc"] >= 1 and doc["versions"]["deltalake"]
    assert "| full_read |" in (out / "latest.md").read_text()
