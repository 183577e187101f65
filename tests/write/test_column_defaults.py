"""Column defaults on write (PROTOCOL.md "Default Columns"): CURRENT_DEFAULT fills absent columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from tests.support.rows import Versions, assert_versions_agree

SCHEMA = pa.schema([pa.field("k", pa.int64()), pa.field("z", pa.int32(), metadata={"CURRENT_DEFAULT": "40 + 2"}),
                    pa.field("s", pa.string(), metadata={"CURRENT_DEFAULT": "'none'"})])


def test_defaults_fill_absent_columns_only(tmp_path) -> None:
    path = str(tmp_path / "t")
    dt = lakehouse.DeltaTable.create(path, schema=SCHEMA)
    assert "allowColumnDefaults" in (dt.protocol.writer_features or ())
    v = Versions(path)
    v[0] = pa.table({"k": pa.array([], pa.int64()), "z": pa.array([], pa.int32()), "s": pa.array([], pa.string())})
    lakehouse.write_delta(path, pa.table({"k": [1, 2]}), mode="append")
    v[1] = pa.table({"k": [1, 2], "z": pa.array([42, 42], pa.int32()), "s": ["none", "none"]})
    # a present column keeps its values, nulls included
    lakehouse.write_delta(path, pa.table({"k": [3], "z": pa.array([None], pa.int32())}), mode="append")
    v[2] = pa.table({"k": [1, 2, 3], "z": pa.array([42, 42, None], pa.int32()), "s": ["none", "none", "none"]})
    lakehouse.DeltaTable(path).create_checkpoint()
    lakehouse.write_delta(path, pa.table({"k": [9]}), mode="overwrite")
    v[3] = pa.table({"k": [9], "z": pa.array([42], pa.int32()), "s": ["none"]})
    v.check()
    assert_versions_agree(path)


def test_default_referring_to_a_column_is_refused(tmp_path) -> None:
    schema = pa.schema([pa.field("k", pa.int64()), pa.field("z", pa.int64(), metadata={"CURRENT_DEFAULT": "k"})])
    with pytest.raises(InvalidArgumentError, match="constant"):
        lakehouse.DeltaTable.create(str(tmp_path / "t"), schema=schema)
    assert not (tmp_path / "t" / "_delta_log").exists()
