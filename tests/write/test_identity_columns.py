"""Identity columns on write (PROTOCOL.md "Identity Columns"): values after the high-water mark, the mark
advanced in the same commit, ALWAYS vs BY DEFAULT, and distinct values across concurrent processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError
from tests.support.log import active_paths, log_state
from tests.support.rows import Versions, assert_versions_agree

REPO = Path(__file__).resolve().parents[2]


def _schema(explicit: bool, start: int = 10, step: int = 5) -> pa.Schema:
    return pa.schema([pa.field("v", pa.string()), pa.field("id", pa.int64(), metadata={
        "delta.identity.start": str(start), "delta.identity.step": str(step),
        "delta.identity.allowExplicitInsert": str(explicit).lower()})])


def _mark(path: str) -> object:
    return lakehouse.DeltaTable(path).delta_schema.field("id").metadata.get("delta.identity.highWaterMark")


def test_identity_values_assigned_and_mark_advanced(tmp_path) -> None:
    path = str(tmp_path / "t")
    dt = lakehouse.DeltaTable.create(path, schema=_schema(False))
    assert "identityColumns" in (dt.protocol.writer_features or ()) or dt.protocol.min_writer_version == 6
    v = Versions(path)
    v[0] = pa.table({"v": pa.array([], pa.string()), "id": pa.array([], pa.int64())})
    lakehouse.write_delta(path, pa.table({"v": ["a", "b"]}), mode="append")
    v[1] = pa.table({"v": ["a", "b"], "id": pa.array([10, 15], pa.int64())})
    assert _mark(path) == 15
    lakehouse.write_delta(path, pa.table({"v": ["c"]}), mode="overwrite")
    v[2] = pa.table({"v": ["c"], "id": pa.array([20], pa.int64())})
    lakehouse.DeltaTable(path).create_checkpoint()
    lakehouse.write_delta(path, pa.table({"v": ["d"]}), mode="append")
    v[3] = pa.table({"v": ["c", "d"], "id": pa.array([20, 25], pa.int64())})
    assert _mark(path) == 25
    v.check()
    assert_versions_agree(path)


def test_generated_always_refuses_explicit_values(tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False))
    before = log_state(path)
    with pytest.raises(ConstraintViolationError, match="GENERATED ALWAYS AS IDENTITY"):
        lakehouse.write_delta(path, pa.table({"v": ["a"], "id": pa.array([1], pa.int64())}), mode="append")
    assert log_state(path) == before


def test_by_default_keeps_explicit_values_and_never_reuses_them(tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(True, start=1, step=1))
    lakehouse.write_delta(path, pa.table({"v": ["x"], "id": pa.array([3], pa.int64())}), mode="append")
    lakehouse.write_delta(path, pa.table({"v": ["a", "b"]}), mode="append")
    got = sorted(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist())
    assert got == [3, 4, 5]
    assert_versions_agree(path)


_WORKER = """
import sys, pyarrow as pa, lakehouse
path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    lakehouse.write_delta(path, pa.table({"v": [f"{who}-{i}-a", f"{who}-{i}-b"]}), mode="append")
"""


def test_concurrent_processes_never_share_identity_values(tmp_path) -> None:
    """N processes x M appends of 2 rows: every value distinct, none lost, the mark at the last one."""
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False, start=1, step=1))
    n, m = 3, 4
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, path, str(w), str(m)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for w in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    table = lakehouse.DeltaTable(path).to_arrow()
    ids = sorted(table.column("id").to_pylist())
    assert ids == list(range(1, 2 * n * m + 1))
    assert table.num_rows == 2 * n * m
    assert _mark(path) == 2 * n * m
    # no abandoned data files: every parquet file on disk is referenced
    files = {p.name for p in Path(path).glob("*.parquet")}
    live = {Path(a).name for a in active_paths(path)}
    assert files == live
    assert_versions_agree(path)
