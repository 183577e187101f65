"""OPTIMIZE every table of the conformance corpus into as few files as possible: each either keeps
exactly its rows (schema evolution, type widening, deletion vectors, column mapping, partitions with
odd values included) or is refused with a typed `lakehouse` error that changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import lakehouse
from lakehouse.errors import LakehouseError
from tests.support.conformance import canonical_rows, corpus_dir

CORPUS = corpus_dir()
TABLES = sorted(p.name for p in (CORPUS / "tables").iterdir()) if CORPUS is not None else []


@pytest.mark.parametrize("name", TABLES)
def test_optimize_keeps_rows_or_refuses(tmp_path: Path, name: str) -> None:
    path = tmp_path / "t"
    shutil.copytree(CORPUS / "tables" / name, path)
    try:
        table = lakehouse.DeltaTable(path)
        before = canonical_rows(table.to_arrow())
    except LakehouseError:
        # A table lakehouse cannot read (test_conformance checks why) is refused, or has nothing to
        # rewrite; either way it stays as it was.
        try:
            before_version = lakehouse.DeltaTable(path).version
        except LakehouseError:
            return
        try:
            metrics = lakehouse.DeltaTable(path).optimize.compact(min_file_size=1 << 40)
        except LakehouseError:
            metrics = None
        assert metrics is None or metrics.version is None
        assert lakehouse.DeltaTable(path).version == before_version
        return
    version = table.version
    try:
        metrics = table.optimize.compact(min_file_size=1 << 40)
    except LakehouseError:
        assert lakehouse.DeltaTable(path).version == version
        return
    after = lakehouse.DeltaTable(path)
    assert canonical_rows(after.to_arrow()) == before
    if metrics.version is not None:
        assert after.version == version + 1
        assert after.files().column("deletion_vector").null_count == after.files().num_rows
