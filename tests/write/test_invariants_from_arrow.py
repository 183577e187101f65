"""`delta.invariants` in the Arrow field metadata given to a create is kept in the table's schema (it used to be
dropped silently) and enforced like an invariant Spark wrote: the first write and every later one."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError
from tests.support.log import log_state
from tests.support.rows import dl_read

INVARIANT = json.dumps({"expression": {"expression": "x > 3"}})


def _schema() -> pa.Schema:
    return pa.schema([pa.field("x", pa.int64(), metadata={"delta.invariants": INVARIANT})])


def test_invariant_from_arrow_metadata_is_kept_and_enforced(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"x": pa.array([4, 5], pa.int64())}, schema=_schema()))
    dt = lakehouse.DeltaTable(path)
    assert dt.delta_schema.fields[0].metadata["delta.invariants"] == INVARIANT
    assert dt.protocol.min_writer_version >= 2
    before = log_state(path)
    with pytest.raises(ConstraintViolationError, match="x > 3"):
        lakehouse.write_delta(path, pa.table({"x": pa.array([1], pa.int64())}), mode="append")
    assert log_state(path) == before
    assert sorted(dl_read(path).column("x").to_pylist()) == [4, 5]


def test_first_write_is_checked_against_its_own_invariant(tmp_path):
    path = str(tmp_path / "t")
    with pytest.raises(ConstraintViolationError, match="x > 3"):
        lakehouse.write_delta(path, pa.table({"x": pa.array([4, 1], pa.int64())}, schema=_schema()))
    assert not lakehouse.DeltaTable.is_deltatable(path)
