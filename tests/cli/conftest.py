"""Fixtures for the CLI tests: small real tables, built once per module where tests only read them."""

from __future__ import annotations

import pytest

import lakehouse
from tests.support.cli import write_table


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A read-only table shared by a module: partitioned by ``p``, two appends (versions 0, 1), then a
    DELETE of id 2 marked in a deletion vector (version 2); change data feed on."""
    uri = write_table(tmp_path_factory.mktemp("cli") / "events", batches=2, configuration={
        "delta.enableDeletionVectors": "true", "delta.enableChangeDataFeed": "true"})
    lakehouse.DeltaTable(uri).delete("id = 2")
    return uri
