"""Fixtures for the write-path tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def table_path(tmp_path):
    """An existing, empty directory for a new table (see test_first_write_creates_missing_directory
    for writes to a directory that does not exist yet)."""
    p = tmp_path / "t"
    p.mkdir()
    return str(p)
