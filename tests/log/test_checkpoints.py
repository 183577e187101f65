"""Checkpoints written by lakehouse: automatic every `delta.checkpointInterval`, `_last_checkpoint`,
explicit `create_checkpoint`, V2 checkpoints, metadata cleanup, and the Checkpoint Schema itself. Every
version is read back by lakehouse and deltalake."""

from __future__ import annotations

import json
import os
from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import VersionNotFoundError
from tests.support.rows import Versions, assert_rows, concat, dl_read


def _batch(i: int) -> pa.Table:
    return pa.table({"id": pa.array([i * 10 + k for k in range(3)], pa.int64()),
                     "p": [f"g{i % 3}", f"g{(i + 1) % 3}", None], "s": [f"row-{i}", None, "x" * 40]})


def _log(path: str) -> list[str]:
    return sorted(os.listdir(Path(path) / "_delta_log"))


def _build(path: str, n: int, config: dict[str, str], partition_by=None) -> Versions:
    v = Versions(path)
    r = lakehouse.write_delta(path, _batch(0), configuration=config, partition_by=partition_by)
    assert not r.checkpoint_written
    v[0] = _batch(0)
    for i in range(1, n + 1):
        r = lakehouse.write_delta(path, _batch(i), mode="append")
        assert r.version == i
        assert r.checkpoint_written == (i % int(config.get("delta.checkpointInterval", "100")) == 0)
        v[i] = concat(v[i - 1], _batch(i))
    return v


def test_interval_checkpoints_and_last_checkpoint(table_path):
    v = _build(table_path, 12, {"delta.checkpointInterval": "5"}, partition_by=["p"])
    names = _log(table_path)
    cps = [n for n in names if ".checkpoint" in n]
    assert cps == ["00000000000000000005.checkpoint.parquet", "00000000000000000010.checkpoint.parquet"]
    hint = json.loads((Path(table_path) / "_delta_log" / "_last_checkpoint").read_bytes())
    assert hint["version"] == 10
    cp = pq.read_table(Path(table_path) / "_delta_log" / cps[1])
    assert hint["size"] == cp.num_rows
    assert hint["numOfAddFiles"] == lakehouse.DeltaTable(table_path, version=10).files().num_rows
    v.check()
    # Every file of the checkpoint at 10 equals the active files at 10, as deltalake sees them.
    adds = cp.column("add").to_pylist()
    paths = {a["path"] for a in adds if a is not None}
    dl_files = {os.path.relpath(u, table_path) if not u.startswith("file") else u
                for u in deltalake.DeltaTable(table_path, version=10).file_uris()}
    assert len(paths) == len(dl_files)


def test_reads_after_commits_below_checkpoint_are_deleted(table_path):
    v = _build(table_path, 12, {"delta.checkpointInterval": "5"})
    for n in _log(table_path):
        if n.endswith(".json") and int(n[:20]) < 10:
            os.remove(Path(table_path) / "_delta_log" / n)
    v.check(versions=[10, 11, 12])
    # Version 5 still has its checkpoint; both readers rebuild it from the checkpoint alone.
    v.check(versions=[5])
    # Cleanup deletes the older checkpoint too: versions below 10 are then gone.
    os.remove(Path(table_path) / "_delta_log" / "00000000000000000005.checkpoint.parquet")
    for gone in (5, 7):
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(table_path, version=gone)
    # The table keeps growing on top of the checkpoint.
    lakehouse.write_delta(table_path, _batch(13), mode="append")
    v[13] = concat(v[12], _batch(13))
    v.check(versions=[10, 12, 13])


def test_reads_from_checkpoint_without_last_checkpoint_hint(table_path):
    v = _build(table_path, 7, {"delta.checkpointInterval": "5"})
    os.remove(Path(table_path) / "_delta_log" / "_last_checkpoint")
    for n in _log(table_path):
        if n.endswith(".json") and int(n[:20]) < 5:
            os.remove(Path(table_path) / "_delta_log" / n)
    v.check(versions=[5, 6, 7])


def test_create_checkpoint_explicitly(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _batch(0))
    v[0] = _batch(0)
    lakehouse.write_delta(table_path, _batch(1), mode="append")
    v[1] = concat(v[0], _batch(1))
    lakehouse.write_delta(table_path, _batch(2), mode="overwrite")  # tombstones into the checkpoint
    v[2] = _batch(2)
    name = lakehouse.DeltaTable(table_path).create_checkpoint()
    assert name == "00000000000000000002.checkpoint.parquet"
    assert json.loads((Path(table_path) / "_delta_log" / "_last_checkpoint").read_bytes())["version"] == 2
    cp = pq.read_table(Path(table_path) / "_delta_log" / name)
    removes = [r for r in cp.column("remove").to_pylist() if r is not None]
    assert len(removes) == 2 and all(r["deletionTimestamp"] for r in removes)
    lakehouse.write_delta(table_path, _batch(3), mode="append")
    v[3] = concat(v[2], _batch(3))
    for n in ("00000000000000000000.json", "00000000000000000001.json"):
        os.remove(Path(table_path) / "_delta_log" / n)
    v.check(versions=[2, 3])
    # A checkpoint of an older version does not move _last_checkpoint back.
    lakehouse.DeltaTable(table_path, version=2).create_checkpoint()
    assert json.loads((Path(table_path) / "_delta_log" / "_last_checkpoint").read_bytes())["version"] == 2


def test_checkpoint_schema_and_contents(table_path):
    props = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("app-1", 7),))
    lakehouse.write_delta(table_path, _batch(0), partition_by=["p"],
                          configuration={"delta.checkpointInterval": "2", "delta.constraints.c": "id >= 0"})
    lakehouse.write_delta(table_path, _batch(1), mode="append", commit_properties=props)
    g0 = _batch(2).filter(pa.compute.field("p") == "g0")
    r = lakehouse.write_delta(table_path, g0, mode="overwrite", predicate="p = 'g0'")
    assert r.version == 2 and r.checkpoint_written
    cp_path = Path(table_path) / "_delta_log" / "00000000000000000002.checkpoint.parquet"
    cp = pq.read_table(cp_path)
    names = set(cp.schema.names)
    assert {"protocol", "metaData", "add", "remove", "txn"} <= names
    assert "commitInfo" not in names
    rows = cp.to_pylist()
    kinds = [[k for k, x in r.items() if x is not None] for r in rows]
    assert all(len(k) == 1 for k in kinds), "every checkpoint row holds exactly one action"
    flat = [k[0] for k in kinds]
    assert flat.count("protocol") == 1 and flat.count("metaData") == 1 and flat.count("txn") == 1
    (txn,) = [r["txn"] for r in rows if r["txn"] is not None]
    assert (txn["appId"], txn["version"]) == ("app-1", 7)
    (meta,) = [r["metaData"] for r in rows if r["metaData"] is not None]
    assert dict(meta["configuration"])["delta.constraints.c"] == "id >= 0"
    assert meta["partitionColumns"] == ["p"]
    add_type = cp.schema.field("add").type
    for f in ("path", "partitionValues", "size", "modificationTime", "dataChange", "stats"):
        assert add_type.get_field_index(f) >= 0, f
    adds = [r["add"] for r in rows if r["add"] is not None]
    assert len(adds) == lakehouse.DeltaTable(table_path).files().num_rows
    for a in adds:
        stats = json.loads(a["stats"])
        assert stats["numRecords"] >= 1 and "id" in stats["minValues"]
    removes = [r["remove"] for r in rows if r["remove"] is not None]
    assert removes and all(dict(x["partitionValues"]).get("p") == "g0" for x in removes)
    # deltalake reads the checkpoint alone (JSON commits below it gone) and sees the txn.
    both = concat(_batch(0), _batch(1))
    expected = concat(both.filter(pa.compute.fill_null(pa.compute.not_equal(both["p"], "g0"), True)), g0)
    v = Versions(table_path)
    v[0] = _batch(0)
    v[1] = both
    v[2] = expected
    v.check()
    for n in ("00000000000000000000.json", "00000000000000000001.json"):
        os.remove(Path(table_path) / "_delta_log" / n)
    assert_rows(dl_read(table_path), v[2])
    assert deltalake.DeltaTable(table_path).transaction_version("app-1") == 7
    assert lakehouse.DeltaTable(table_path).transactions["app-1"].version == 7
    got = pa.table(deltalake.DeltaTable(table_path).get_add_actions(flatten=True))
    assert "min.id" in got.column_names and got.column("min.id").null_count == 0


def test_checkpoint_of_replace_where_result_matches_expected(table_path):
    lakehouse.write_delta(table_path, _batch(0), partition_by=["p"], configuration={"delta.checkpointInterval": "2"})
    lakehouse.write_delta(table_path, _batch(1), mode="append")
    new = pa.table({"id": pa.array([999], pa.int64()), "p": ["g0"], "s": ["new"]})
    lakehouse.write_delta(table_path, new, mode="overwrite", predicate="p = 'g0'")
    both = concat(_batch(0), _batch(1))
    keep = both.filter(pa.compute.fill_null(pa.compute.not_equal(both["p"], "g0"), True))
    v = Versions(table_path)
    v[0] = _batch(0)
    v[1] = both
    v[2] = concat(keep, new)
    v.check()


def test_v2_checkpoints(table_path):
    config = {"delta.checkpointPolicy": "v2", "delta.checkpointInterval": "3"}
    v = _build(table_path, 7, config)
    proto = lakehouse.DeltaTable(table_path).protocol
    assert "v2Checkpoint" in (proto.reader_features or ()) and "v2Checkpoint" in (proto.writer_features or ())
    assert proto.min_reader_version == 3 and proto.min_writer_version == 7
    cps = [n for n in _log(table_path) if ".checkpoint." in n]
    assert len(cps) == 2 and all(n.endswith(".parquet") for n in cps)
    for n in cps:
        parts = n.split(".")
        assert len(parts) == 4, f"{n} is not a UUID-named V2 checkpoint"
        t = pq.read_table(Path(table_path) / "_delta_log" / n)
        assert "checkpointMetadata" in t.schema.names
        cm = [r for r in t.column("checkpointMetadata").to_pylist() if r is not None]
        assert len(cm) == 1 and cm[0]["version"] == int(parts[0])
    hint = json.loads((Path(table_path) / "_delta_log" / "_last_checkpoint").read_bytes())
    assert hint["version"] == 6
    v.check()
    for n in _log(table_path):
        if n.endswith(".json") and int(n[:20]) < 6:
            os.remove(Path(table_path) / "_delta_log" / n)
    v.check(versions=[6, 7])
    lakehouse.write_delta(table_path, _batch(8), mode="append")
    v[8] = concat(v[7], _batch(8))
    v.check(versions=[6, 7, 8])


def test_cleanup_metadata_after_checkpoint(table_path):
    v = _build(table_path, 6, {"delta.checkpointInterval": "4"})
    deleted = lakehouse.DeltaTable(table_path).cleanup_metadata(retention_hours=0)
    assert sorted(deleted) == [f"{i:020d}.json" for i in range(4)]
    assert not any(n.endswith(".json") and int(n[:20]) < 4 for n in _log(table_path))
    v.check(versions=[4, 5, 6])
    with pytest.raises(VersionNotFoundError):
        lakehouse.DeltaTable(table_path, version=3)
    hist = lakehouse.DeltaTable(table_path).history()
    assert [h.version for h in hist] == [6, 5, 4]
    # Default retention (30 days) deletes nothing more.
    assert lakehouse.DeltaTable(table_path).cleanup_metadata() == []
    lakehouse.write_delta(table_path, _batch(7), mode="append")
    v[7] = concat(v[6], _batch(7))
    v.check(versions=[4, 7])


def test_cleanup_metadata_without_checkpoint_deletes_nothing(table_path):
    v = _build(table_path, 3, {})
    assert lakehouse.DeltaTable(table_path).cleanup_metadata(retention_hours=0) == []
    v.check()


def test_checkpoint_with_special_partition_values_and_stats(table_path):
    t = pa.table({"p": ["a/b", "x y", None, "ü"], "ts": pa.array([1_700_000_000_123_456, None, 5, 6], pa.timestamp("us", tz="UTC")),
                  "v": pa.array([1, 2, 3, 4], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    lakehouse.DeltaTable(table_path).create_checkpoint()
    os.remove(Path(table_path) / "_delta_log" / "00000000000000000000.json")
    lakehouse.write_delta(table_path, t, mode="append")
    v = Versions(table_path)
    v[0] = t
    v[1] = concat(t, t)
    v.check()
    got = dl_read(table_path, filters=[("p", "=", "a/b")])
    assert_rows(got, concat(t, t).filter(pa.compute.field("p") == "a/b"))


# Corpus tables of many shapes: lakehouse checkpoints them, the log below the checkpoint is deleted, and
# both engines must still read exactly what lakehouse read before. (reader: "pa" = deltalake's pyarrow
# path, "sql" = its DataFusion engine, None = deltalake cannot read the table at all.)
CORPUS = [
    ("dat__basic_partitioned", "pa"),
    ("dat__deletion_vectors", "sql"),
    ("golden__dv-partitioned-with-checkpoint", "sql"),
    ("dat__column_mapping", "sql"),
    ("golden__table-with-columnmapping-mode-id", "sql"),
    ("deltars__delta-0.8.0-special-partition", "pa"),
    ("golden__data-reader-partition-values", "pa"),
    ("golden__v2-checkpoint-parquet", "pa"),
    ("kernelrs__v2-checkpoints-json-with-sidecars", "pa"),
    ("golden__multi-part-checkpoint", "pa"),
    ("kernelrs__app-txn-checkpoint", "pa"),
    ("dat__nested_types", "pa"),
    ("kernelrs__type-widening", None),
]


@pytest.mark.parametrize("name, reader", CORPUS, ids=[c[0] for c in CORPUS])
def test_checkpoint_of_corpus_table(tmp_path, name, reader):
    import shutil

    from tests.support.conformance import corpus_dir

    path = str(tmp_path / "t")
    shutil.copytree(corpus_dir() / "tables" / name, path)
    dt = lakehouse.DeltaTable(path)
    before = dt.to_arrow()
    domains = dict(dt.domain_metadata)
    txns = {k: t.version for k, t in dt.transactions.items()}
    cp = dt.create_checkpoint()
    for n in _log(path):
        if n == cp or not n[:20].isdigit() or int(n[:20]) > dt.version:
            continue
        if n.endswith(".json") or n.endswith(".crc") or ".checkpoint." in n:
            os.remove(Path(path) / "_delta_log" / n)
    after = lakehouse.DeltaTable(path)
    assert after.version == dt.version
    assert_rows(after.to_arrow(), before, "lakehouse from its own checkpoint")
    assert dict(after.domain_metadata).keys() == domains.keys()
    assert {k: t.version for k, t in after.transactions.items()} == txns
    if reader is not None:
        assert_rows(dl_read(path, sql=reader == "sql"), before, "deltalake from lakehouse's checkpoint")


def test_checkpoint_and_log_cleanup_are_refused_on_a_table_with_an_unwritable_feature(tmp_path):
    """A checkpoint is a write: delta-rs's `liquid` preview table (and its row tracking) carries writer rules
    lakehouse does not implement, so neither a checkpoint nor log cleanup touches its log."""
    import shutil

    from lakehouse.errors import UnsupportedFeatureError
    from tests.support.conformance import corpus_dir
    from tests.support.log import log_state

    path = str(tmp_path / "t")
    shutil.copytree(corpus_dir() / "tables" / "deltars__table_with_liquid_clustering", path)
    before = log_state(path)
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(UnsupportedFeatureError):
        dt.create_checkpoint()
    with pytest.raises(UnsupportedFeatureError):
        dt.cleanup_metadata(retention_hours=0)
    assert log_state(path) == before
