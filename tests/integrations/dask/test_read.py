"""`lakehouse.integrations.dask.read_delta` on a two-process cluster returns exactly what `DeltaTable.to_arrow` returns:
filters, columns, time travel, deletion vectors, partitions, column-mapped corpus tables, divisions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402
import polars as pl  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.errors import InvalidArgumentError, SchemaMismatchError  # noqa: E402
from tests.support.conformance import MISSING, corpus_dir  # noqa: E402
from tests.support.dask import assert_same_rows, to_arrow  # noqa: E402


def _chunk(start: int, n: int) -> pa.Table:
    ids = np.arange(start, start + n, dtype=np.int64)
    return pa.table({
        "id": ids,
        "p": pa.array([f"p{i % 3}" for i in ids]),
        "v": pa.array(ids * 0.5),
        # nulls in some files only: every partition must still convert to the same dtype
        "n": pa.array([None if start == 0 and i % 2 else int(i) for i in ids], pa.int64()),
        "flag": pa.array([bool(i % 2) if start else None for i in ids], pa.bool_()),
        "ts": pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=int(i)) for i in ids]),
    })


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    """Five appends of 40 rows each, ids sorted across files (versions 0-4)."""
    uri = str(tmp_path_factory.mktemp("read") / "t")
    for k in range(5):
        lakehouse.write_delta(uri, _chunk(k * 40, 40), mode="append")
    return uri


def _read(uri: str, index: str | None = None, **kw) -> pa.Table:
    return to_arrow(ldd.read_delta(uri, index=index, **kw).compute(), index)


@pytest.mark.parametrize("kw", [
    {},
    {"columns": ["v", "id"]},
    {"filter": "id >= 55 AND p IN ('p0', 'p2')"},
    {"filter": "n IS NULL", "columns": ["id"]},
    {"version": 2, "filter": "v < 30"},
    {"filter": pl.col("id").is_between(30, 90) & (pl.col("p") != "p1")},
])
def test_read_matches_single_process(client, table, kw):
    expected = lakehouse.DeltaTable(table, version=kw.get("version")).to_arrow(kw.get("columns"), filter=kw.get("filter"))
    files = len(lakehouse.DeltaTable(table, version=kw.get("version")).scan(filter=kw.get("filter")).tasks())
    # one file per partition, and all files grouped into one partition; both dtype backends
    for backend, min_rows, partitions in (("numpy_nullable", 1, files), ("pyarrow", 1_000_000, 1)):
        ddf = ldd.read_delta(table, dtype_backend=backend, min_partition_rows=min_rows, **kw)
        assert ddf.npartitions == max(partitions, 1)
        assert_same_rows(to_arrow(ddf.compute()), expected)


def test_every_partition_has_the_meta_dtypes(client, table):
    ddf = ldd.read_delta(table, min_partition_rows=1)
    assert ddf.npartitions == 5
    parts = client.compute([ddf.partitions[i] for i in range(ddf.npartitions)], sync=True)
    for part in parts:
        assert dict(part.dtypes) == dict(ddf.dtypes)
    assert str(ddf.dtypes["n"]) == "Int64" and str(ddf.dtypes["flag"]) == "boolean"
    assert str(ddf.dtypes["ts"]) == "datetime64[us, UTC]"


def test_time_travel_by_timestamp(client, table):
    history = lakehouse.DeltaTable(table).history()
    at = history[-2].timestamp  # version 1
    assert_same_rows(_read(table, version=at), lakehouse.DeltaTable(table, version=1).to_arrow())


def test_column_projection_is_pushed_to_the_reader(client, table):
    ddf = ldd.read_delta(table, min_partition_rows=1)
    got = ddf[["id", "v"]][ddf.id > 150].compute()
    expected = lakehouse.DeltaTable(table).to_arrow(["id", "v"], filter="id > 150")
    assert_same_rows(to_arrow(got), expected)
    assert float(ddf["v"].sum().compute()) == pytest.approx(sum(range(200)) * 0.5)


def test_pruned_files_are_not_partitions(client, tmp_path):
    uri = str(tmp_path / "parted")
    lakehouse.write_delta(uri, _chunk(0, 90), partition_by=["p"])
    ddf = ldd.read_delta(uri, filter="p = 'p1' AND id > 10", min_partition_rows=1)
    assert ddf.npartitions == 1
    assert_same_rows(to_arrow(ddf.compute()), lakehouse.DeltaTable(uri).to_arrow(filter="p = 'p1' AND id > 10"))
    assert_same_rows(_read(uri, min_partition_rows=1), lakehouse.DeltaTable(uri).to_arrow())


def test_nothing_matches_gives_an_empty_frame_with_the_meta(client, table):
    ddf = ldd.read_delta(table, filter="id > 100000", columns=["id", "p"])
    out = ddf.compute()
    assert len(out) == 0 and list(out.columns) == ["id", "p"]
    assert dict(out.dtypes) == dict(ddf.dtypes)


def test_deletion_vectors_are_applied_on_the_workers(client, tmp_path):
    uri = str(tmp_path / "dv")
    lakehouse.write_delta(uri, _chunk(0, 60), configuration={"delta.enableDeletionVectors": "true"})
    lakehouse.write_delta(uri, _chunk(60, 60), mode="append")
    dt = lakehouse.DeltaTable(uri)
    dt.delete("v > 10 AND id < 80")
    dt = lakehouse.DeltaTable(uri)
    assert dt.files().column("deletion_vector").null_count < dt.files().num_rows  # DVs, not rewrites
    for kw in ({}, {"filter": "id > 70"}, {"columns": ["id"]}, {"version": 1}):
        expected = lakehouse.DeltaTable(uri, version=kw.get("version")).to_arrow(kw.get("columns"), filter=kw.get("filter"))
        assert_same_rows(_read(uri, min_partition_rows=1, **kw), expected)
    assert len(ldd.read_delta(uri)) == 120 - 59


def _corpus_table(name: str) -> str:
    root = corpus_dir()
    if root is None:
        pytest.skip(MISSING)
    manifest = json.loads((root / "MANIFEST.json").read_text())
    entry = next(t for t in manifest["tables"] if t["name"] == name)
    return str(root / entry["table_path"])


@pytest.mark.parametrize("name", [
    "golden__table-with-columnmapping-mode-name", "golden__table-with-columnmapping-mode-id",
    "dat__column_mapping", "deltars__table_with_column_mapping", "golden__dv-partitioned-with-checkpoint",
    "kernelrs__table-with-dv-small",
])
def test_conformance_tables(client, name):
    uri = _corpus_table(name)
    expected = lakehouse.DeltaTable(uri).to_arrow()
    for backend in ("numpy_nullable", "pyarrow"):
        assert_same_rows(_read(uri, dtype_backend=backend, min_partition_rows=1), expected)


def test_divisions_from_sorted_files(client, table):
    ddf = ldd.read_delta(table, index="id", min_partition_rows=1)
    assert ddf.known_divisions
    assert list(ddf.divisions) == [0, 40, 80, 120, 160, 199]
    assert ddf.index.name == "id" and "id" not in ddf.columns
    out = ddf.compute()
    assert out.index.is_monotonic_increasing
    assert_same_rows(to_arrow(out, "id"), lakehouse.DeltaTable(table).to_arrow())
    assert sorted(ddf.loc[75:85].compute().index) == list(range(75, 86))
    grouped = ldd.read_delta(table, index="id", min_partition_rows=100)  # 3 files, then 2
    assert list(grouped.divisions) == [0, 120, 199]
    by_time = ldd.read_delta(table, index="ts", min_partition_rows=1, columns=["id"])
    assert by_time.known_divisions and by_time.npartitions == 5
    assert len(by_time.loc["2024-01-02T00:00:00+00:00":"2024-01-02T05:00:00+00:00"].compute()) == 6


def test_divisions_unknown_when_stats_cannot_prove_them(client, table, tmp_path):
    overlapping = ldd.read_delta(table, index="v", min_partition_rows=1)  # floats: never trusted
    assert not overlapping.known_divisions and overlapping.npartitions == 5
    by_p = ldd.read_delta(table, index="p", min_partition_rows=1)  # every file holds p0..p2
    assert not by_p.known_divisions
    assert_same_rows(to_arrow(by_p.compute(), "p"), lakehouse.DeltaTable(table).to_arrow())
    with_nulls = ldd.read_delta(table, index="n", min_partition_rows=1)
    assert not with_nulls.known_divisions


def test_divisions_on_a_partition_column(client, tmp_path):
    uri = str(tmp_path / "parted")
    lakehouse.write_delta(uri, _chunk(0, 30), partition_by=["p"])
    lakehouse.write_delta(uri, _chunk(30, 30), mode="append")
    ddf = ldd.read_delta(uri, index="p", min_partition_rows=1)
    assert list(ddf.divisions) == ["p0", "p1", "p2", "p2"]  # two files per value, kept together
    assert_same_rows(to_arrow(ddf.loc["p1"].compute(), "p"), lakehouse.DeltaTable(uri).to_arrow(filter="p = 'p1'"))


def test_bad_arguments_fail_on_the_client(table):
    with pytest.raises(SchemaMismatchError):
        ldd.read_delta(table, columns=["nope"])
    with pytest.raises(SchemaMismatchError):
        ldd.read_delta(table, index="nope")
    with pytest.raises(InvalidArgumentError):
        ldd.read_delta(table, filter="nope > 1")
    with pytest.raises(InvalidArgumentError):
        ldd.read_delta(table, dtype_backend="numpy")
    assert isinstance(ldd.read_delta(table), dd.DataFrame)


def test_s3_read_passes_storage_options_to_workers(client, s3_bucket):
    bucket, options, _ = s3_bucket
    uri = f"s3://{bucket}/t"
    lakehouse.write_delta(uri, _chunk(0, 50), partition_by=["p"], storage_options=options)
    lakehouse.write_delta(uri, _chunk(50, 50), mode="append", storage_options=options)
    ddf = ldd.read_delta(uri, storage_options=options, filter="id > 20", min_partition_rows=1)
    assert ddf.npartitions > 1
    expected = lakehouse.DeltaTable(uri, storage_options=options).to_arrow(filter="id > 20")
    assert_same_rows(to_arrow(ddf.compute()), expected)
