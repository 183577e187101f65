"""Smoke test of the benchmark suite: `python -m benchmarks` at a tiny size writes complete results, and a
partial (`--only`) run keeps the other benchmarks' results."""

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
    "merge_upsert",
    "delete_scattered",
    "upsert_large_partitioned",
    "optimize_compact",
    "optimize_zorder",
    "vacuum_10k_dry_run",
    "vacuum_10k",
}
LAKEHOUSE_ONLY = {"planning_100k"}  # delta-rs has no stats-based planning call to compare with
# Run in child processes, memory measured.
DML = {"merge_upsert", "delete_scattered", "upsert_large_partitioned", "optimize_compact", "optimize_zorder",
       "vacuum_10k_dry_run", "vacuum_10k"}


@pytest.mark.timeout(300)
def test_suite_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(tmp_path, out)

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
    for name in DML:
        for m in doc["benchmarks"][name]["measurements"]:
            assert m["peak_rss_mib"] > 0 and len(m["peak_rss_kib"]) == 1, (name, m["call"])
    assert "## Peak memory" in (out / "latest.md").read_text()
    # The maintenance benchmarks ran at the tiny sizes asked for, and their guards recorded what they saw.
    assert doc["config"]["compact_files"] == 20 and doc["config"]["vacuum_files"] == 100
    assert doc["benchmarks"]["optimize_compact"]["params"]["files"] == 20
    assert doc["benchmarks"]["vacuum_10k"]["params"]["tombstoned"] == 50
    zorder = doc["benchmarks"]["optimize_zorder"]["params"]
    clustered = [m["overlap_a"]["fraction"] for k, m in zorder["engine_metrics"].items() if k.startswith("lakehouse")]
    assert clustered and max(clustered) < zorder["overlap_a_before"]["fraction"]

    # A partial run replaces its own results and keeps the others' (memory figures included), marked.
    _run(tmp_path, out, "--only", "time_travel_version")
    again = json.loads((out / "latest.json").read_text())
    assert set(again["benchmarks"]) == EXPECTED and again["errors"] == []
    assert again["benchmarks"]["time_travel_version"] != doc["benchmarks"]["time_travel_version"]
    assert again["benchmarks"]["merge_upsert"] == doc["benchmarks"]["merge_upsert"]
    assert {n for run in again["carried_over"] for n in run["benchmarks"]} == EXPECTED - {"time_travel_version"}
    md = (out / "latest.md").read_text()
    assert "| full_read † |" in md and "| time_travel_version |" in md and "## Peak memory" in md


def _run(tmp_path: Path, out: Path, *extra: str) -> None:
    """Run the suite at the tiny size (tables cached under ``tmp_path``) into ``out``; it must succeed."""
    cmd = [
        sys.executable, "-m", "benchmarks",
        "--rows", "20000", "--big-rows", "20000", "--commits", "30", "--compact-files", "20", "--vacuum-files", "100",
        "--repeat", "1",
        "--out", str(out), "--data", str(tmp_path / "data"), *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
