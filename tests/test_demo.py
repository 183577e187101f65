"""`make demo` runs `python -m lakehouse.demo`: it must open the shipped table and read two versions."""

from __future__ import annotations

import subprocess
import sys

import lakehouse
from lakehouse.demo import DEMO_TABLE


def test_demo_runs_and_prints_history_and_two_versions(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lakehouse.demo"], capture_output=True, text=True, check=True, timeout=120,
        cwd=tmp_path,
    ).stdout
    assert "History (newest first):" in out
    assert "UPDATE" in out and "DELETE" in out
    assert "Latest version (3):" in out and "Time travel to version 0:" in out
    # Part 2: the demo's own table, created in the working directory.
    assert "create -> v0, append -> v1, replaceWhere day = '2024-05-01' -> v2" in out
    own = lakehouse.DeltaTable(tmp_path / "demo-table")
    assert own.version == 2
    rows = sorted((r["day"].isoformat(), r["sensor"], r["reading"]) for r in own.to_arrow().to_pylist())
    assert rows == [
        ("2024-05-01", "a", 1.6), ("2024-05-01", "b", 2.1), ("2024-05-01", "c", 0.6),
        ("2024-05-02", "a", 1.7), ("2024-05-02", "b", 2.2), ("2024-05-02", "c", 0.9), ("2024-05-02", "d", 4.0),
    ]
    assert lakehouse.DeltaTable(tmp_path / "demo-table", version=1).to_arrow().num_rows == 7


def test_demo_table_contents():
    latest = lakehouse.DeltaTable(DEMO_TABLE)
    assert latest.version == 3
    rows = {r["order_id"]: r for r in latest.to_arrow().to_pylist()}
    assert sorted(rows) == [1, 2, 4, 5, 6, 7, 8]  # order 3 (3.25 < 5) was deleted at v2
    assert abs(rows[1]["amount"] - 12.5 * 1.1) < 1e-9  # ada's amounts were updated at v3
    assert lakehouse.DeltaTable(DEMO_TABLE, version=0).to_arrow().num_rows == 6


def test_make_demo_cli_steps_compact_and_dry_run_vacuum(tmp_path):
    """The two CLI commands `make demo` ends with, on the demo's own table: OPTIMIZE commits a compaction
    with the rows unchanged, and VACUUM's dry run lists the replaced files without deleting them."""
    from pathlib import Path

    subprocess.run([sys.executable, "-m", "lakehouse.demo"], capture_output=True, check=True, timeout=120, cwd=tmp_path)
    cli = str(Path(sys.executable).parent / "lakehouse")
    table = tmp_path / "demo-table"
    before = lakehouse.DeltaTable(table)
    rows = sorted(map(str, before.to_arrow().to_pylist()))
    files_before = before.files().num_rows
    out = subprocess.run([cli, "optimize", "demo-table"], capture_output=True, text=True, check=True,
                         timeout=120, cwd=tmp_path).stdout
    assert "OPTIMIZE committed version 3." in out
    after = lakehouse.DeltaTable(table)
    assert after.version == 3 and after.files().num_rows < files_before
    assert sorted(map(str, after.to_arrow().to_pylist())) == rows
    out = subprocess.run([cli, "vacuum", "demo-table", "--retention-hours", "0", "--no-enforce-retention"],
                         capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path).stdout
    assert "Dry run: would delete" in out
    listed = [line.strip() for line in out.splitlines() if line.strip().endswith(".parquet")]
    assert listed and all((table / p).exists() for p in listed), out
    assert lakehouse.DeltaTable(table).version == 3
