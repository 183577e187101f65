"""Streaming writes: a RecordBatchReader from a generator is written without materialising it, rolled
into files by target_file_size; polars LazyFrame and pandas inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

import lakehouse
from tests.support.rows import Versions, assert_rows, concat, dl_read

N_ROWS = 3_000_000
BATCH = 100_000
TARGET = 8 * 1024 * 1024
SCHEMA = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("y", pa.int64())])


class _Source:
    """Batches of random (barely compressible) numbers; records peak Arrow allocation as it goes."""

    def __init__(self, n: int = N_ROWS):
        self.n = n
        self.peak = 0
        self.total = 0
        self.rng = np.random.default_rng(42)

    def __iter__(self):
        for start in range(0, self.n, BATCH):
            self.peak = max(self.peak, pa.total_allocated_bytes())
            ids = pa.array(np.arange(start, start + BATCH, dtype=np.int64))
            b = pa.record_batch([ids, pa.array(self.rng.random(BATCH)),
                                 pa.array(self.rng.integers(-2**62, 2**62, BATCH, dtype=np.int64))], schema=SCHEMA)
            self.total += b.nbytes
            yield b
        self.peak = max(self.peak, pa.total_allocated_bytes())


def _write_stream(path: str) -> tuple[lakehouse.CommitResult, _Source]:
    src = _Source()
    baseline = pa.total_allocated_bytes()
    reader = pa.RecordBatchReader.from_batches(SCHEMA, iter(src))
    r = lakehouse.write_delta(path, reader, target_file_size=TARGET)
    src.peak -= baseline
    return r, src


def test_streaming_reader_many_rows(table_path):
    r, src = _write_stream(table_path)
    assert src.total == N_ROWS * 24
    assert r.num_added_files >= 3, r
    assert r.metrics["numOutputRows"] == N_ROWS
    # Memory stays bounded by the writer's buffers, not by the input.
    assert src.peak < src.total / 2, f"peak Arrow allocation {src.peak / 1e6:.1f} MB for {src.total / 1e6:.1f} MB of input"
    dt = lakehouse.DeltaTable(table_path)
    t = dt.to_arrow(columns=["id"])
    assert t.num_rows == N_ROWS
    assert pc.sum(t["id"]).as_py() == N_ROWS * (N_ROWS - 1) // 2
    assert pc.count_distinct(t["id"]).as_py() == N_ROWS
    d = dl_read(table_path, columns=["id"])
    assert d.num_rows == N_ROWS and pc.sum(d["id"]).as_py() == N_ROWS * (N_ROWS - 1) // 2
    # Per-file stats add up and bound each file's ids.
    import json

    files = dt.files().to_pylist()
    assert sum(json.loads(f["stats"])["numRecords"] for f in files) == N_ROWS
    ranges = sorted((json.loads(f["stats"])["minValues"]["id"], json.loads(f["stats"])["maxValues"]["id"]) for f in files)
    assert ranges[0][0] == 0 and ranges[-1][1] == N_ROWS - 1


def test_streaming_respects_target_file_size(table_path):
    """Files roll at about target_file_size: none should be far larger than the target."""
    r, _ = _write_stream(table_path)
    sizes = [f["size"] for f in lakehouse.DeltaTable(table_path).files().to_pylist()]
    too_big = [s for s in sizes if s > 2 * TARGET]
    assert not too_big, f"target_file_size={TARGET} but files of {[round(s / 2**20, 1) for s in sizes]} MiB were written"


def test_small_target_file_size_rolls_files(table_path):
    n = 200_000
    ids = pa.array(np.arange(n, dtype=np.int64))
    t = pa.table({"id": ids, "x": pa.array(np.random.default_rng(1).random(n))})
    r = lakehouse.write_delta(table_path, t, target_file_size=256 * 1024)
    assert r.num_added_files >= 4, f"{r.num_added_files} file(s) for ~3 MB of data with a 256 KiB target"
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_polars_lazyframe_and_pandas_inputs(table_path):
    v = Versions(table_path)
    lf = pl.LazyFrame({"id": range(5_000)}).with_columns(
        (pl.col("id") * 2).alias("double"), pl.col("id").cast(pl.Utf8).alias("s"),
        (pl.col("id") % 3 == 0).alias("flag"))
    lakehouse.write_delta(table_path, lf, partition_by=["flag"])
    expected = lf.collect().to_arrow()
    v[0] = expected
    pdf = pd.DataFrame({"id": [5_000, 5_001], "double": [10_000, 10_002], "s": ["a", None], "flag": [True, False]})
    lakehouse.write_delta(table_path, pdf, mode="append")
    v[1] = concat(expected, pa.Table.from_pandas(pdf, preserve_index=False))
    # A lazy query with a filter (polars streams it in batches).
    lf2 = pl.LazyFrame({"id": range(6_000, 7_000)}).filter(pl.col("id") % 2 == 0).with_columns(
        (pl.col("id") * 2).alias("double"), pl.lit(None, dtype=pl.Utf8).alias("s"), pl.lit(False).alias("flag"))
    lakehouse.write_delta(table_path, lf2, mode="append")
    v[2] = concat(v[1], lf2.collect().to_arrow())
    v.check()
    schema = lakehouse.DeltaTable(table_path).schema
    assert schema.field("s").type == pa.string() and schema.field("double").type == pa.int64()
    assert_rows(pl.read_delta(table_path).to_arrow(), v[2], "polars")


def test_pandas_with_index_types_and_nulls(table_path):
    pdf = pd.DataFrame({
        "i": pd.array([1, None, 3], dtype="Int64"),
        "f": [1.0, float("nan"), None],
        "s": pd.array(["x", None, "z"], dtype="string"),
        "ts": pd.to_datetime(["2024-01-01T00:00:00Z", None, "2024-01-03T12:34:56.789Z"], format="ISO8601"),
        "cat": pd.Categorical(["a", "b", "a"]),
    }, index=[10, 20, 30])
    lakehouse.write_delta(table_path, pdf)
    got = lakehouse.DeltaTable(table_path).to_arrow()
    # The index [10, 20, 30] carries values: it is written, named as pyarrow.Table.from_pandas names it.
    assert got.column_names == ["i", "f", "s", "ts", "cat", "__index_level_0__"]
    expected = pa.Table.from_pandas(pdf)
    expected = expected.set_column(4, "cat", expected["cat"].cast(pa.string()))
    expected = expected.set_column(3, "ts", expected["ts"].cast(pa.timestamp("us", tz="UTC")))
    v = Versions(table_path)
    v[0] = expected
    v.check()
