"""CONVERT TO DELTA: a Parquet folder becomes version 0 of a Delta table in place, with footer statistics,
read identically by lakehouse and delta-rs; bad folders are refused and left without a log."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, TableExistsError
from tests.support.rows import assert_rows, dl_read

PARTS = pa.schema([("day", pa.date32()), ("k", pa.string())])


def _rows(n: int = 60) -> pa.Table:
    return pa.table({
        "id": np.arange(n, dtype=np.int64),
        "x": np.linspace(0, 1, n),
        "s": [f"s{i:03d}" for i in range(n)],
        "day": [datetime.date(2024, 1, 1 + i % 3) for i in range(n)],
        "k": ["a b/c" if i % 2 else None for i in range(n)],
    })


def test_partitioned_folder_converts_in_place(tmp_path: Path) -> None:
    data = _rows()
    ds.write_dataset(data, tmp_path, format="parquet", partitioning=ds.partitioning(PARTS, flavor="hive"))
    (tmp_path / "_ignored").mkdir()
    pq.write_table(pa.table({"junk": [1]}), tmp_path / "_ignored" / "x.parquet")
    dt = lakehouse.DeltaTable.convert_to_delta(tmp_path, partition_by=PARTS)
    assert dt.version == 0 and dt.partition_columns == ["day", "k"]
    assert dt.files().num_rows == 6  # 3 days x (value, null); the hidden directory is ignored
    assert_rows(dt.to_arrow(), data)
    assert_rows(dl_read(str(tmp_path)), data)
    # Footer statistics drive skipping: each file's id range is known, floats get no bounds.
    stats = [json.loads(s) for s in dt.files().column("stats").to_pylist()]
    assert sum(s["numRecords"] for s in stats) == data.num_rows
    assert all("id" in s["minValues"] and "x" not in s["minValues"] for s in stats)
    scan = dt.scan("id < 0")
    assert scan.to_arrow().num_rows == 0 and scan.metrics.files_after_stats_skipping == 0
    assert dt.to_arrow(filter="k IS NULL AND day = '2024-01-02'").num_rows == 10
    assert dt.history()[0].operation == "CONVERT"
    # It is an ordinary table now: writes and DML work.
    dt.delete("id < 10")
    assert dt.to_arrow().num_rows == data.num_rows - 10


def test_unpartitioned_folder_with_evolving_schemas(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": pa.array([1, 2], pa.int32())}), tmp_path / "one.parquet")
    pq.write_table(pa.table({"a": pa.array([3], pa.int32()), "b": ["x"]}), tmp_path / "two.parquet")
    dt = lakehouse.DeltaTable.convert_to_delta(tmp_path)
    assert dt.schema.names == ["a", "b"]
    assert sorted(dt.to_arrow().to_pylist(), key=lambda r: r["a"]) == [
        {"a": 1, "b": None}, {"a": 2, "b": None}, {"a": 3, "b": "x"}]


@pytest.mark.parametrize("case", ["existing_table", "no_files", "wrong_partition_dirs", "bad_partition_value",
                                  "incompatible_schemas"])
def test_bad_folders_are_refused_without_a_log(tmp_path: Path, case: str) -> None:
    expected: type[Exception] = InvalidArgumentError
    parts = None
    if case == "existing_table":
        lakehouse.write_delta(tmp_path, pa.table({"a": [1]}))
        expected = TableExistsError
    elif case == "wrong_partition_dirs":
        pq.write_table(pa.table({"a": [1]}), tmp_path / "flat.parquet")
        parts = pa.schema([("p", pa.int32())])
    elif case == "bad_partition_value":
        (tmp_path / "p=notanint").mkdir()
        pq.write_table(pa.table({"a": [1]}), tmp_path / "p=notanint" / "f.parquet")
        parts = pa.schema([("p", pa.int32())])
    elif case == "incompatible_schemas":
        pq.write_table(pa.table({"a": [1]}), tmp_path / "one.parquet")
        pq.write_table(pa.table({"a": ["text"]}), tmp_path / "two.parquet")
        expected = SchemaMismatchError
    with pytest.raises(expected):
        lakehouse.DeltaTable.convert_to_delta(tmp_path, partition_by=parts)
    if case != "existing_table":
        assert not (tmp_path / "_delta_log").exists() or not any((tmp_path / "_delta_log").iterdir())
