"""Writes against a real S3 API (moto server on 127.0.0.1): create, append, overwrite, replaceWhere,
partitioned paths with special characters, checkpoints; read back by lakehouse and deltalake."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import lakehouse
from lakehouse.errors import TableExistsError
from tests.support.rows import Versions, assert_rows, concat


def _dl_options(storage_options: dict) -> dict[str, str]:
    ck = storage_options["client_kwargs"]
    return {
        "AWS_ACCESS_KEY_ID": storage_options["key"],
        "AWS_SECRET_ACCESS_KEY": storage_options["secret"],
        "AWS_ENDPOINT_URL": ck["endpoint_url"],
        "AWS_REGION": ck["region_name"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def _t(ids, p) -> pa.Table:
    return pa.table({"id": pa.array(list(ids), pa.int64()), "p": p, "s": [f"v{i}" for i in ids]})


@pytest.fixture
def s3_table(s3_bucket):
    bucket, options, fs = s3_bucket
    uri = f"s3://{bucket}/t"
    return uri, options, _dl_options(options), fs, bucket


def test_s3_append_overwrite_replace_where(s3_table):
    uri, options, dl_options, fs, bucket = s3_table
    v = Versions(uri, lh_options=options, dl_options=dl_options)
    lakehouse.write_delta(uri, _t(range(4), ["a", "b", "a", None]), partition_by=["p"], storage_options=options)
    v[0] = _t(range(4), ["a", "b", "a", None])
    with pytest.raises(TableExistsError):
        lakehouse.write_delta(uri, _t([9], ["a"]), storage_options=options)
    lakehouse.write_delta(uri, _t([4, 5], ["a/b c", "ü=%"]), mode="append", storage_options=options)
    v[1] = concat(v[0], _t([4, 5], ["a/b c", "ü=%"]))
    lakehouse.write_delta(uri, _t([6], ["b"]), mode="overwrite", predicate="p = 'b'", storage_options=options)
    v[2] = concat(v[1].filter(pc.fill_null(pc.not_equal(v[1]["p"], "b"), True)), _t([6], ["b"]))
    lakehouse.write_delta(uri, _t([], pa.array([], pa.string())), mode="overwrite", predicate="id < 2",
                          storage_options=options)
    v[3] = v[2].filter(pc.field("id") >= 2)
    lakehouse.write_delta(uri, _t([7, 8], ["z", "z"]), mode="overwrite", storage_options=options)
    v[4] = _t([7, 8], ["z", "z"])
    v.check()
    keys = fs.find(f"{bucket}/t")
    assert any("p=a%2Fb c/" in k for k in keys), keys
    assert any("p=__HIVE_DEFAULT_PARTITION__/" in k for k in keys)
    assert sum(1 for k in keys if k.endswith(".json")) == 5


def test_s3_checkpoint_and_cleanup(s3_table):
    uri, options, dl_options, fs, bucket = s3_table
    v = Versions(uri, lh_options=options, dl_options=dl_options)
    lakehouse.write_delta(uri, _t([0], ["a"]), configuration={"delta.checkpointInterval": "3"}, storage_options=options)
    v[0] = _t([0], ["a"])
    for i in range(1, 5):
        r = lakehouse.write_delta(uri, _t([i], ["a" if i % 2 else "b"]), mode="append", storage_options=options)
        assert r.checkpoint_written == (i == 3)
        v[i] = concat(v[i - 1], _t([i], ["a" if i % 2 else "b"]))
    log = f"{bucket}/t/_delta_log"
    assert fs.exists(f"{log}/00000000000000000003.checkpoint.parquet")
    assert json.loads(fs.cat_file(f"{log}/_last_checkpoint"))["version"] == 3
    v.check()
    dt = lakehouse.DeltaTable(uri, storage_options=options)
    deleted = dt.cleanup_metadata(retention_hours=0)
    assert sorted(deleted) == [f"{i:020d}.json" for i in range(3)]
    v.check(versions=[3, 4])
    name = lakehouse.DeltaTable(uri, storage_options=options).create_checkpoint()
    assert fs.exists(f"{log}/{name}")
    for n in ("00000000000000000003.json", "00000000000000000004.json"):
        fs.rm(f"{log}/{n}")
    fs.rm(f"{log}/00000000000000000003.checkpoint.parquet")
    v.check(versions=[4])
    lakehouse.write_delta(uri, _t([5], ["c"]), mode="append", storage_options=options)
    v[5] = concat(v[4], _t([5], ["c"]))
    v.check(versions=[4, 5])


def test_s3_streaming_multi_file_write(s3_table):
    """A streamed, partitioned write: several files open at once on S3, every row arrives."""
    uri, options, dl_options, fs, bucket = s3_table
    n = 200_000

    def batches():
        for start in range(0, n, 50_000):
            ids = pa.array(range(start, start + 50_000), pa.int64())
            yield pa.record_batch([ids, pc.cast(pc.bit_wise_and(ids, 3), pa.int32()), pc.cast(ids, pa.string())],
                                  names=["id", "part", "s"])

    schema = pa.schema([("id", pa.int64()), ("part", pa.int32()), ("s", pa.string())])
    r = lakehouse.write_delta(uri, pa.RecordBatchReader.from_batches(schema, batches()), partition_by=["part"],
                              storage_options=options)
    assert r.num_added_files == 4
    t = lakehouse.DeltaTable(uri, storage_options=options).to_arrow()
    assert t.num_rows == n and pc.sum(t["id"]).as_py() == n * (n - 1) // 2
    assert pc.all(pc.equal(pc.bit_wise_and(t["id"], 3), pc.cast(t["part"], pa.int64()))).as_py()
    from tests.support.rows import dl_read

    d = dl_read(uri, storage_options=dl_options)
    assert d.num_rows == n and pc.sum(d["id"]).as_py() == n * (n - 1) // 2
