"""VACUUM must never delete a file the latest version needs, whatever engine wrote the table: every table
of the conformance corpus (Spark, delta-rs, kernel; partitions with escaped values, random-prefix
directories, deletion vectors, column mapping, change data, checkpoints of every kind) is copied, made to
look old, and vacuumed with a zero retention; the latest version must read the same rows afterwards. Tables
with features lakehouse cannot write must be refused with nothing deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import lakehouse
from lakehouse.errors import UnsupportedFeatureError
from tests.support.conformance import MISSING, canonical_rows, corpus_dir
from tests.support.log import DAY_S, age_table, data_files_on_disk, log_state as log_files

CORPUS = corpus_dir()
if CORPUS is None:
    pytest.skip(MISSING, allow_module_level=True)

MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())


def _latest_entry(table: dict) -> dict | None:
    """The manifest entry of the table's latest version, when it is readable."""
    entries = [e for e in table["versions"] if e["version"] in (None, table.get("latest_version"))]
    for e in entries:
        if not e.get("expected_error") and not e.get("expected_error_on_data_read"):
            return e
    return None


TABLES = [pytest.param(t, id=t["name"]) for t in MANIFEST["tables"] if _latest_entry(t) is not None]


@pytest.mark.parametrize("table", TABLES)
def test_vacuum_keeps_every_file_the_latest_version_needs(tmp_path: Path, table: dict) -> None:
    path = tmp_path / "t"
    shutil.copytree(CORPUS / table["table_path"], path)
    # Only tables whose latest version the manifest expects to read are listed: a read error is a failure.
    before = canonical_rows(lakehouse.DeltaTable(path).to_arrow())
    age_table(path, 30 * DAY_S)
    disk, log = data_files_on_disk(path), log_files(path)
    dt = lakehouse.DeltaTable(path)
    try:
        m = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    except UnsupportedFeatureError:
        assert data_files_on_disk(path) == disk and log_files(path) == log, "a refused VACUUM must change nothing"
        return
    assert set(m.files) <= disk
    assert not any(f.startswith("_delta_log/") for f in m.files)
    after = lakehouse.DeltaTable(path)
    assert after.version == m.end_version
    assert canonical_rows(after.to_arrow()) == before, f"VACUUM of {table['name']} lost data (deleted {m.files})"
    assert after.verify().ok, after.verify().problems
