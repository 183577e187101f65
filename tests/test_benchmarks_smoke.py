"""Smoke test of the benchmark suite: `python -m benchmarks --chart` at a tiny size writes complete results
and the chart, a partial (`--only`) run keeps the other benchmarks' results, and the scale curves run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS, OPT_IN

REPO = Path(__file__).resolve().parent.parent
# At least these run by default (the maintenance benchmarks may add more); the opt-in diagnostics do not.
DEFAULT = set(BENCHMARKS) - OPT_IN
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
# Encode-bound (issue #15): every engine and the per-core baselines, each with its peak memory.
ENCODE_BOUND = {
    "full_read": {"lakehouse", "deltalake", "pyarrow_1t", "pyarrow_mt"},
    "bulk_write": {"lakehouse", "lakehouse_1w", "deltalake", "pyarrow_1t", "pyarrow_mt"},
    "partitioned_write": {"lakehouse", "lakehouse_1w", "deltalake", "pyarrow_1t", "pyarrow_mt"},
    "merge_upsert": {"lakehouse", "lakehouse_1w", "lakehouse_dv", "deltalake", "pyarrow_1t"},
    "delete_scattered": {"lakehouse_dv", "lakehouse_cow", "lakehouse_1w", "deltalake", "pyarrow_1t"},
}


@pytest.mark.timeout(900)
def test_suite_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(tmp_path, out)

    doc = json.loads((out / "latest.json").read_text())
    assert doc["errors"] == []
    assert set(doc["benchmarks"]) == DEFAULT and EXPECTED <= DEFAULT and "dml_position_check" in OPT_IN
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
    for name, keys in ENCODE_BOUND.items():
        bench = doc["benchmarks"][name]
        for key in keys:  # every peer measured, its memory too (by one of its variants: delta-rs has three reads)
            assert any(m.get("peak_rss_mib", 0) > 0 for m in bench["measurements"] if m["key"] == key), (name, key)
        # lakehouse's ratio against every other variant, and every target judged on a figure.
        assert len(bench["peer_ratios"]) == len(bench["measurements"]) - 1 and all(
            r > 0 for r in bench["peer_ratios"].values()), name
        for t in [bench["target"], bench["rss_target"], *bench["extra_targets"]]:
            assert t is not None and t["ratio"] > 0 and isinstance(t["met"], bool), (name, t)
        # Rounds rotate: with one timed round, variant i ran at position i.
        assert sorted(p for m in bench["measurements"] for p in m["positions"]) == list(range(len(bench["measurements"])))
    md = (out / "latest.md").read_text()
    assert "## Targets" in md and "| bulk_write | <= 0.8x raw pyarrow on one thread |" in md
    assert "load average (1/5/15 min) at start" in md and "deltalake 1." in md and "pyarrow " in md
    # The chart: a well-formed SVG that names every drawn workload and carries the machine and load.
    svg = (out / "chart.svg").read_text()
    ET.fromstring(svg)
    for name in ("bulk_write", "merge_upsert", "full_read", "delete_scattered", "optimize_compact"):
        assert name in svg, name
    assert "load average" in svg and f"{doc['machine']['nproc']} cores" in svg
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
    assert set(again["benchmarks"]) == DEFAULT and again["errors"] == []
    assert again["benchmarks"]["time_travel_version"] != doc["benchmarks"]["time_travel_version"]
    assert again["benchmarks"]["merge_upsert"] == doc["benchmarks"]["merge_upsert"]
    assert {n for run in again["carried_over"] for n in run["benchmarks"]} == DEFAULT - {"time_travel_version"}
    md = (out / "latest.md").read_text()
    assert "| full_read † |" in md and "| time_travel_version |" in md and "## Peak memory" in md


@pytest.mark.timeout(300)
def test_scale_curves_and_position_check_run_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "benchmarks.scale", "--rows", "2000,5000", "--files", "40,200", "--repeat", "1",
           "--out", str(out), "--data", str(tmp_path / "data"), "--chart", "--chart-out", str(out / "scale.svg")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads((out / "scale.json").read_text())
    assert set(doc["curves"]) == {"bulk_write", "merge_upsert", "planning"}
    for name, curve in doc["curves"].items():
        sizes = [2000, 5000] if name != "planning" else [40, 200]
        for engine in ("lakehouse", "deltalake"):
            assert [p["size"] for p in curve["engines"][engine]] == sizes and all(
                p["median_s"] > 0 for p in curve["engines"][engine]), (name, engine)
        assert {r["vs"] for r in curve["ratios"]} >= {"deltalake"}
    ET.fromstring((out / "scale.svg").read_text())
    assert "## planning" in (out / "scale.md").read_text()

    # The position check: the same variant first and last in a fixed order; both medians recorded.
    _run(tmp_path, out, "--only", "dml_position_check", chart=False)
    checks = json.loads((out / "latest.json").read_text())["benchmarks"]
    assert set(checks) == {"dml_position_check", "dml_position_check_nosync"}
    for bench in checks.values():
        assert {m["key"] for m in bench["measurements"]} == {"first", "deltalake", "last"}
        assert bench["params"]["last_over_first"] > 0
        first = next(m for m in bench["measurements"] if m["key"] == "first")
        assert set(first["positions"]) == {0}  # no rotation: always first


def test_chart_without_matplotlib_fails_with_one_clear_line(tmp_path: Path) -> None:
    """A Python that cannot import matplotlib gets the install instruction, not a traceback."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['matplotlib'] = None\n")  # None in sys.modules: ImportError
    results = tmp_path / "latest.json"
    results.write_text(json.dumps({"benchmarks": {}}))
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.chart", str(results), "--out", str(tmp_path / "c.svg")],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: benchmarks.chart needs matplotlib, a bench-only dependency: .venv/bin/python -m pip install -e "
        "'.[bench]' (it is also in the dev extra)"]
    assert not (tmp_path / "c.svg").exists()


def _run(tmp_path: Path, out: Path, *extra: str, chart: bool = True) -> None:
    """Run the suite at the tiny size (tables cached under ``tmp_path``) into ``out``; it must succeed."""
    cmd = [
        sys.executable, "-m", "benchmarks",
        "--rows", "20000", "--big-rows", "20000", "--commits", "30", "--compact-files", "20", "--vacuum-files", "100",
        "--repeat", "1",
        "--out", str(out), "--data", str(tmp_path / "data"), *extra,
    ]  # fmt: skip
    if chart:
        cmd += ["--chart", "--chart-out", str(out / "chart.svg")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=560)
    assert proc.returncode == 0, proc.stderr[-4000:]
