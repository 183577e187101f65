"""`make demo` runs `python -m lakehouse.demo`: it must open the shipped table and read two versions."""

from __future__ import annotations

import subprocess
import sys

import lakehouse
from lakehouse.demo import DEMO_TABLE


def test_demo_runs_and_prints_history_and_two_versions():
    out = subprocess.run(
        [sys.executable, "-m", "lakehouse.demo"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "History (newest first):" in out
    assert "UPDATE" in out and "DELETE" in out
    assert "Latest version (3):" in out and "Time travel to version 0:" in out


def test_demo_table_contents():
    latest = lakehouse.DeltaTable(DEMO_TABLE)
    assert latest.version == 3
    rows = {r["order_id"]: r for r in latest.to_arrow().to_pylist()}
    assert sorted(rows) == [1, 2, 4, 5, 6, 7, 8]  # order 3 (3.25 < 5) was deleted at v2
    assert abs(rows[1]["amount"] - 12.5 * 1.1) < 1e-9  # ada's amounts were updated at v3
    assert lakehouse.DeltaTable(DEMO_TABLE, version=0).to_arrow().num_rows == 6
