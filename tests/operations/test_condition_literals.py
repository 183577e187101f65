"""An integer literal is not a condition: `id = 5 OR 1` once deleted every row because the constant folder
compared literals with Python's `==` (where `1 == True`). DELETE and UPDATE refuse it as Spark does and
leave the table as it was."""

from __future__ import annotations

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from tests.support.dml import snapshot_dir


@pytest.mark.parametrize("predicate", ["id = 5 OR 1", "id = 5 AND 1", "1", "CASE WHEN 1 THEN true END"])
def test_integer_literal_conditions_are_refused_and_nothing_changes(tmp_path, predicate):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 5, 9], pa.int64())}))
    before = snapshot_dir(path)
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(InvalidArgumentError, match="boolean"):
        dt.delete(predicate)
    with pytest.raises(InvalidArgumentError, match="boolean"):
        dt.update(predicate=predicate, updates={"id": "0"})
    assert snapshot_dir(path) == before
    assert sorted(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist()) == [1, 5, 9]
