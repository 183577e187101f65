"""MERGE stores source columns as write_delta stores its input (spec/writer.md section 2): a value of
another type is written when it survives exactly and refused, naming the column and the value, when it
would change; the table is then unchanged. Checked with lakehouse and deltalake."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import SchemaMismatchError
from tests.support.dml import MODES, config, snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read

SCHEMA = pa.schema([("id", pa.int64()), ("i", pa.int32()), ("f", pa.float32()), ("d", pa.decimal128(5, 2))])
FIRST = pa.table({"id": [1, 2], "i": pa.array([10, 20], pa.int32()), "f": pa.array([0.5, 1.5], pa.float32()),
                  "d": pa.array([Decimal("1.00"), Decimal("2.00")], pa.decimal128(5, 2))}, schema=SCHEMA)


def _upsert(path: str, source: pa.Table) -> None:
    (lakehouse.DeltaTable(path).merge(source, "t.id = s.id")
     .when_matched_update_all().when_not_matched_insert_all().execute())


@pytest.mark.parametrize("mode", MODES)
def test_source_values_that_survive_are_stored(tmp_path, mode):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, FIRST, configuration=config(mode, cdf=False))
    # pandas-like types: int64 for an int column, float64 for a float column, int64 and double for a decimal.
    source = pa.table({"id": [2, 3], "i": [2**31 - 1, -7], "f": [0.25, -2.0], "d": [7, 1.25]},
                      schema=pa.schema([("id", pa.int64()), ("i", pa.int64()), ("f", pa.float64()), ("d", pa.float64())]))
    _upsert(path, source)
    want = pa.table({"id": [1, 2, 3], "i": pa.array([10, 2**31 - 1, -7], pa.int32()),
                     "f": pa.array([0.5, 0.25, -2.0], pa.float32()),
                     "d": pa.array([Decimal("1.00"), Decimal("7.00"), Decimal("1.25")], pa.decimal128(5, 2))}, schema=SCHEMA)
    assert_same_rows(lh_read(path), want)
    assert_same_rows(dl_read(path), want)
    assert_versions_agree(path)


@pytest.mark.parametrize("column, values, arrow_type, shown", [
    ("f", [0.5, 0.1], pa.float64(), "0.1"),
    ("d", [1.25, 1.251], pa.float64(), "1.251"),
    ("i", [1, 2**40], pa.int64(), "1099511627776"),
    ("d", [Decimal("1.5"), Decimal("1.125")], pa.decimal128(6, 3), "1.125"),
])
def test_source_values_that_would_change_are_refused(tmp_path, column, values, arrow_type, shown):
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, FIRST)
    before = snapshot_dir(path)
    source = pa.table({"id": pa.array([2, 3], pa.int64()), column: pa.array(values, arrow_type)})
    with pytest.raises(SchemaMismatchError) as e:
        _upsert(path, source)
    assert f"'{column}'" in str(e.value) and shown in str(e.value), str(e.value)
    assert snapshot_dir(path) == before
    assert_same_rows(lh_read(path), FIRST)
    assert_same_rows(dl_read(path), FIRST)
