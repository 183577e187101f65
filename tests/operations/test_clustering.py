"""Liquid clustering end to end (PROTOCOL.md "Clustered Table"; spec/clustering.md): tables created
clustered by `DeltaTable.create` and `write_delta`, appends, OPTIMIZE clustering incrementally (files'
ranges on the clustering columns overlap less; a second run rewrites only the files appended since),
`dt.alter.cluster_by` to new columns and to None, DELETE/UPDATE/MERGE, checkpoints, time travel,
column mapping, the refusals, the conflict between CLUSTER BY and OPTIMIZE, and delta-rs's `liquid`
test table. Every version is read back by lakehouse and delta-rs with every row checked (`Model`)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import (
    InvalidArgumentError,
    MetadataChangedError,
    SchemaMismatchError,
    UnsupportedFeatureError,
)
from lakehouse.write.transaction import commit_hook
from tests.support.conformance import corpus_dir
from tests.support.log import actions_of, commit_info, file_stats, log_state
from tests.support.rows import Model, assert_rows, dl_table

DOMAIN = "delta.clustering"


def batch(start: int, n: int, seed: int) -> pa.Table:
    """``n`` rows with ids from ``start`` and random x, y (the clustering columns) and padding."""
    rnd = random.Random(seed)
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                     "x": pa.array([rnd.randint(0, 9999) for _ in range(n)], pa.int64()),
                     "y": pa.array([rnd.randint(0, 9999) for _ in range(n)], pa.int64()),
                     "s": pa.array([f"s{rnd.randint(0, 99)}" for _ in range(n)], pa.string())})


def domain_config(path: str, version: int) -> dict | None:
    """The `delta.clustering` configuration a commit writes (None when it writes none)."""
    dms = [d for d in actions_of(path, version, "domainMetadata") if d["domain"] == DOMAIN]
    return json.loads(dms[0]["configuration"]) if dms else None


def overlap(path: str, column: str) -> float:
    """Fraction of ordered pairs of active files whose [min, max] of ``column`` intersect."""
    ranges = [(s["minValues"][column], s["maxValues"][column]) for s in file_stats(path)]
    n = len(ranges)
    hits = sum(1 for i in range(n) for j in range(n) if i != j and ranges[i][0] <= ranges[j][1]
               and ranges[j][0] <= ranges[i][1])
    return hits / (n * (n - 1))


def clustered_table(path: str, model: Model, files: int = 8, rows: int = 1000, cluster_by=("x", "y")) -> list[dict]:
    """A table created by `write_delta` with ``cluster_by``, then appended to: ``files`` files."""
    data: list[dict] = []
    for i in range(files):
        t = batch(i * rows, rows, seed=i)
        res = lakehouse.write_delta(path, t, mode="append", cluster_by=list(cluster_by) if i == 0 else None)
        data += t.to_pylist()
        model.record(res.version, data)
    return data


def test_create_records_the_feature_and_the_domain_by_physical_name(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dt = lakehouse.DeltaTable.create(path, schema=batch(0, 1, 0).schema, cluster_by=["y", "x"])
    proto = actions_of(path, 0, "protocol")[0]
    assert {"clustering", "domainMetadata"} <= set(proto["writerFeatures"]) and proto["minWriterVersion"] == 7
    assert domain_config(path, 0) == {"clusteringColumns": [["y"], ["x"]], "domainName": DOMAIN}
    assert json.loads(commit_info(path, 0)["operationParameters"]["clusterBy"]) == ["y", "x"]
    assert dt.clustering_columns == ["y", "x"] and dt.detail().clustering_columns == ["y", "x"]
    assert dt.metadata.partition_columns == ()
    # an unclustered table says so
    other = lakehouse.DeltaTable.create(str(tmp_path / "u"), schema=batch(0, 1, 0).schema)
    assert other.clustering_columns is None and other.detail().clustering_columns is None
    assert dl_table(path).num_rows == 0  # delta-rs reads the clustered table


def test_append_then_optimize_clusters_and_a_second_run_rewrites_only_new_files(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    clustered_table(path, model)
    before = overlap(path, "x"), overlap(path, "y")
    assert min(before) > 0.95  # random files span everything
    # appends write unclustered files (no provider)
    assert all(a.get("clusteringProvider") is None for v in range(8) for a in actions_of(path, v, "add"))
    total = sum(lakehouse.DeltaTable(path).files()["size"].to_pylist())
    m = lakehouse.DeltaTable(path).optimize.compact(target_size=total // 8)
    assert m.version == 8 and m.num_files_removed == 8 and m.z_order_by == ("x", "y")
    model.same_as(8, 7)
    adds = actions_of(path, 8, "add")
    assert len(adds) >= 4 and all(a["clusteringProvider"] == "liquid" and not a["dataChange"] for a in adds)
    assert all(json.loads(a["tags"]["ZCUBE_ZORDER_BY"]) == ["x", "y"] for a in adds)
    after = overlap(path, "x"), overlap(path, "y")
    assert after[0] < before[0] and after[1] < before[1], (before, after)
    scan = lakehouse.DeltaTable(path).scan(filter="x < 2000 AND y < 2000")
    assert scan.metrics.files_after_stats_skipping < len(adds)

    # nothing new: nothing to do
    assert lakehouse.DeltaTable(path).optimize.compact().version is None
    # two appends: the next run rewrites exactly those two files
    data = model.latest()
    for i, v in ((8, 9), (9, 10)):
        t = batch(i * 1000, 1000, seed=i)
        assert lakehouse.write_delta(path, t, mode="append").version == v
        data += t.to_pylist()
        model.record(v, data)
    new_paths = {a["path"] for v in (9, 10) for a in actions_of(path, v, "add")}
    m = lakehouse.DeltaTable(path).optimize.compact(target_size=total // 8)
    assert m.version == 11 and {r["path"] for r in actions_of(path, 11, "remove")} == new_paths
    assert all(a["clusteringProvider"] == "liquid" for a in actions_of(path, 11, "add"))
    model.same_as(11, 10)
    model.check()


def test_alter_cluster_by_new_columns_then_none(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    clustered_table(path, model, files=4, cluster_by=("x",))
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.compact().version == 4
    model.same_as(4, 3)
    clustered_by_x = {a["path"] for a in actions_of(path, 4, "add")}

    res = dt.alter.cluster_by(["y", "s"])
    assert res.version == 5 and dt.clustering_columns == ["y", "s"]
    assert domain_config(path, 5)["clusteringColumns"] == [["y"], ["s"]]
    assert not actions_of(path, 5, "metaData") and not actions_of(path, 5, "add")  # no data rewritten
    assert commit_info(path, 5)["operation"] == "CLUSTER BY"
    model.same_as(5, 4)
    assert dt.alter.cluster_by(["y", "s"]).version is None  # already so

    # files clustered by x are clustered again by (y, s)
    m = dt.optimize.compact()
    assert m.version == 6 and {r["path"] for r in actions_of(path, 6, "remove")} == clustered_by_x
    assert all(json.loads(a["tags"]["ZCUBE_ZORDER_BY"]) == ["y", "s"] for a in actions_of(path, 6, "add"))
    model.same_as(6, 5)

    assert dt.alter.cluster_by(None).version == 7
    assert domain_config(path, 7)["clusteringColumns"] == [] and dt.clustering_columns == []
    assert "clustering" in dt.protocol.writer_features  # the feature stays (Spark's CLUSTER BY NONE)
    model.same_as(7, 6)
    with pytest.raises(UnsupportedFeatureError, match="Z-order and clustering are exclusive"):
        dt.optimize.z_order(["x"])
    t = batch(4000, 500, seed=4)
    lakehouse.write_delta(path, t, mode="append")
    model.record(8, model.latest() + t.to_pylist())
    # clustered by nothing: compact bin-packs, adding no clustered files
    m = dt.optimize.compact()
    assert m.version == 9 and all(a.get("clusteringProvider") is None for a in actions_of(path, 9, "add"))
    model.same_as(9, 8)
    assert dt.alter.cluster_by(None).version is None
    # time travel sees each version's clustering columns
    assert lakehouse.DeltaTable(path, version=4).clustering_columns == ["x"]
    assert lakehouse.DeltaTable(path, version=5).clustering_columns == ["y", "s"]
    model.check()


def test_alter_cluster_by_on_an_unclustered_table_upgrades_the_protocol(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    t = batch(0, 2000, seed=1)
    lakehouse.write_delta(path, t)
    lakehouse.write_delta(path, batch(2000, 2000, seed=2), mode="append")
    model.record(0, t)
    model.record(1, t.to_pylist() + batch(2000, 2000, seed=2).to_pylist())
    dt = lakehouse.DeltaTable(path)
    assert dt.clustering_columns is None
    assert dt.alter.cluster_by(["x"]).version == 2
    proto = actions_of(path, 2, "protocol")[0]
    assert {"clustering", "domainMetadata"} <= set(proto["writerFeatures"])
    model.same_as(2, 1)
    assert dt.optimize.compact().version == 3
    assert all(a["clusteringProvider"] == "liquid" for a in actions_of(path, 3, "add"))
    model.same_as(3, 2)
    model.check()


def test_dml_writes_unclustered_files_that_the_next_optimize_clusters(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    clustered_table(path, model, files=3)
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.compact().version == 3
    model.same_as(3, 2)
    rows = model.latest()

    dt.delete("x < 3000")
    rows = [r for r in rows if not r["x"] < 3000]
    model.record(4, rows)
    dt.update(updates={"s": "'seven'"}, predicate="id % 7 = 0")
    rows = [dict(r, s="seven") if r["id"] % 7 == 0 else r for r in rows]
    model.record(5, rows)
    src = batch(2500, 1000, seed=42)  # ids 2500..3499: some matched, some new
    (dt.merge(src, "t.id = s.id", source_alias="s", target_alias="t")
       .when_matched_update_all().when_not_matched_insert_all().execute())
    by_id = {r["id"]: r for r in rows}
    by_id.update({r["id"]: r for r in src.to_pylist()})
    model.record(6, list(by_id.values()))
    for v in (4, 5, 6):
        assert all(a.get("clusteringProvider") is None for a in actions_of(path, v, "add"))
    m = dt.optimize.compact()
    assert m.version == 7 and m.num_files_removed >= 1
    assert all(a["clusteringProvider"] == "liquid" for a in actions_of(path, 7, "add"))
    model.same_as(7, 6)
    # checkpoint: the domain and the providers survive it, and both engines read it
    dt.create_checkpoint()
    reopened = lakehouse.DeltaTable(path)
    assert reopened.clustering_columns == ["x", "y"]
    assert set(reopened.files()["path"].to_pylist()) == {a["path"] for a in actions_of(path, 7, "add")} | {
        p for p in lakehouse.DeltaTable(path, version=6).files()["path"].to_pylist()
        if p not in {r["path"] for r in actions_of(path, 7, "remove")}}
    assert reopened.optimize.compact().version is None  # everything is clustered
    model.check()


def test_restore_brings_back_the_clustering_columns_of_the_target(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    t = batch(0, 1000, seed=1)
    model.record(lakehouse.write_delta(path, t).version, t)  # v0: not clustered
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.cluster_by(["x"]).version == 1
    model.same_as(1, 0)
    t2 = batch(1000, 1000, seed=2)
    model.record(lakehouse.write_delta(path, t2, mode="append").version, t.to_pylist() + t2.to_pylist())  # v2
    assert dt.alter.cluster_by(["y"]).version == 3
    model.same_as(3, 2)
    dt.refresh()
    assert dt.restore(1).version == 4 and dt.clustering_columns == ["x"]
    assert domain_config(path, 4)["clusteringColumns"] == [["x"]]
    model.same_as(4, 1)
    # restoring the unclustered version leaves a table clustered by nothing (the feature stays)
    assert dt.restore(0).version == 5 and dt.clustering_columns == []
    assert domain_config(path, 5)["clusteringColumns"] == []
    model.same_as(5, 0)
    # same data and columns as the latest: nothing to restore
    assert dt.restore(5).version is None
    model.check()


def test_clustered_table_with_column_mapping_uses_physical_names(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data: list[dict] = []
    for i in range(3):
        t = batch(i * 500, 500, seed=i)
        res = lakehouse.write_delta(path, t, mode="append", cluster_by=["x"] if i == 0 else None,
                                    configuration={"delta.columnMapping.mode": "name"} if i == 0 else None)
        data += t.to_pylist()
        model.record(res.version, data)
    schema = json.loads(actions_of(path, 0, "metaData")[0]["schemaString"])
    physical = next(f["metadata"]["delta.columnMapping.physicalName"] for f in schema["fields"] if f["name"] == "x")
    assert physical != "x" and domain_config(path, 0)["clusteringColumns"] == [[physical]]
    dt = lakehouse.DeltaTable(path)
    dt.alter.rename_column("x", "xx")  # the physical name, and with it the clustering, stays
    assert dt.clustering_columns == ["xx"]
    model.record(3, [{("xx" if k == "x" else k): v for k, v in r.items()} for r in data])
    assert dt.optimize.compact().version == 4
    model.same_as(4, 3)
    with pytest.raises(SchemaMismatchError, match="clustering column"):
        dt.alter.drop_columns(["xx"])
    model.check()


def test_refusals_leave_the_table_unchanged(tmp_path: Path) -> None:
    schema = batch(0, 1, 0).schema
    with pytest.raises(InvalidArgumentError, match="both partitioned"):
        lakehouse.DeltaTable.create(str(tmp_path / "a"), schema=schema, partition_by=["s"], cluster_by=["x"])
    with pytest.raises(InvalidArgumentError, match="both partitioned"):
        lakehouse.write_delta(str(tmp_path / "a"), batch(0, 5, 0), partition_by=["s"], cluster_by=["x"])
    with pytest.raises(SchemaMismatchError, match="'nope' is not a top-level column"):
        lakehouse.DeltaTable.create(str(tmp_path / "a"), schema=schema, cluster_by=["nope"])
    assert not (tmp_path / "a" / "_delta_log").exists() or not any((tmp_path / "a" / "_delta_log").iterdir())

    path = str(tmp_path / "t")
    lakehouse.write_delta(path, batch(0, 100, 0), cluster_by=["x"])
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.add_columns(pa.field("b", pa.bool_())).version == 1
    before = log_state(path)
    with pytest.raises(InvalidArgumentError, match="differs from the clustering columns"):
        lakehouse.write_delta(path, batch(100, 5, 0), mode="append", cluster_by=["y"])
    with pytest.raises(InvalidArgumentError, match="'x' collects no statistics"):
        dt.alter.set_table_properties({"delta.dataSkippingNumIndexedCols": "0"})
    with pytest.raises(UnsupportedFeatureError, match="cannot also be partitioned"):
        lakehouse.write_delta(path, batch(0, 5, 0), mode="overwrite", schema_mode="overwrite", partition_by=["s"])
    with pytest.raises(InvalidArgumentError, match="partition columns"):
        dt.optimize.compact(partition_filters=[("s", "=", "a")])
    with pytest.raises(InvalidArgumentError, match="whatever its size"):
        dt.optimize.compact(min_file_size=1)
    with pytest.raises(InvalidArgumentError, match="same thread budget"):
        dt.optimize.compact(max_workers=1, max_concurrent_tasks=2)
    with pytest.raises(SchemaMismatchError, match="type boolean"):
        dt.alter.cluster_by(["b"])
    assert log_state(path) == before
    assert dt.clustering_columns == ["x"]
    # the same cluster_by on an append is fine
    assert lakehouse.write_delta(path, batch(100, 5, 0), mode="append", cluster_by=["x"]).version == 2

    parted = str(tmp_path / "p")
    lakehouse.write_delta(parted, batch(0, 10, 0), partition_by=["s"])
    with pytest.raises(InvalidArgumentError, match="both partitioned"):
        lakehouse.DeltaTable(parted).alter.cluster_by(["x"])
    assert lakehouse.DeltaTable(parted).version == 0


def test_cluster_by_committed_first_makes_a_concurrent_optimize_fail(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    clustered_table(path, model, files=3)
    calls: list[str] = []

    def alter_first(phase, txn) -> None:
        # OPTIMIZE has planned and written its files; CLUSTER BY commits before it.
        if phase == "prepared" and not calls:
            calls.append("alter")
            with commit_hook(None):
                assert lakehouse.DeltaTable(path).alter.cluster_by(["y"]).version == 3

    dt = lakehouse.DeltaTable(path)
    with commit_hook(alter_first), pytest.raises(MetadataChangedError, match="delta.clustering"):
        dt.optimize.compact()
    assert calls == ["alter"]
    model.same_as(3, 2)
    assert lakehouse.DeltaTable(path).version == 3  # OPTIMIZE committed nothing
    # retried, it clusters by the new columns
    assert lakehouse.DeltaTable(path).optimize.compact().version == 4
    assert all(json.loads(a["tags"]["ZCUBE_ZORDER_BY"]) == ["y"] for a in actions_of(path, 4, "add"))
    model.same_as(4, 3)
    model.check()


def test_optimize_committed_first_lets_a_concurrent_cluster_by_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    clustered_table(path, model, files=3)
    done: list[int] = []

    def optimize_first(phase, txn) -> None:
        if phase == "prepared" and not done:
            with commit_hook(None):
                done.append(lakehouse.DeltaTable(path).optimize.compact().version)

    dt = lakehouse.DeltaTable(path)
    with commit_hook(optimize_first):
        assert dt.alter.cluster_by(["y"]).version == 4
    assert done == [3]
    model.same_as(3, 2)
    model.same_as(4, 3)
    assert lakehouse.DeltaTable(path).clustering_columns == ["y"]
    model.check()


@pytest.mark.skipif(corpus_dir() is None, reason="conformance corpus not found")
def test_deltars_liquid_preview_table_reads_and_refuses_writes_with_a_reason(tmp_path: Path) -> None:
    """delta-rs's test table uses `liquid`, Databricks' unpublished preview name of clustering (domain
    `delta.liquid`, another JSON shape): readable, not a `clustering` table, and every write refused."""
    src = corpus_dir() / "tables" / "deltars__table_with_liquid_clustering"
    path = str(tmp_path / "t")
    shutil.copytree(src, path)
    dt = lakehouse.DeltaTable(path)
    rows = dt.to_arrow()
    assert rows.num_rows == 10 and dt.clustering_columns is None
    before = log_state(path)
    for attempt in (lambda: lakehouse.write_delta(path, rows.slice(0, 1), mode="append"),
                    lambda: lakehouse.DeltaTable(path).delete("id = 1"),
                    lambda: lakehouse.DeltaTable(path).optimize.compact()):
        with pytest.raises(UnsupportedFeatureError) as e:
            attempt()
        assert e.value.feature in ("liquid", "rowTracking"), e.value.feature
        assert "lakehouse" in str(e.value)
    with pytest.raises(UnsupportedFeatureError, match="'liquid'.*preview"):
        lakehouse.write_delta(path, rows.slice(0, 1), mode="append")
    assert log_state(path) == before
    assert_rows(lakehouse.DeltaTable(path).to_arrow(), rows)


def test_clustering_feature_requested_directly_gives_a_table_clustered_by_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dt = lakehouse.DeltaTable.create(path, schema=batch(0, 1, 0).schema,
                                     configuration={"delta.feature.clustering": "supported"})
    assert {"clustering", "domainMetadata"} <= set(dt.protocol.writer_features or ())
    assert dt.clustering_columns == []
    other = str(tmp_path / "u")
    lakehouse.write_delta(other, batch(0, 10, 0))
    u = lakehouse.DeltaTable(other)
    assert u.alter.add_feature("clustering", allow_protocol_versions_increase=True).version == 1
    assert {"clustering", "domainMetadata"} <= set(u.protocol.writer_features or ()) and u.clustering_columns == []
    assert u.alter.cluster_by(["x"]).version == 2 and u.clustering_columns == ["x"]
    parted = str(tmp_path / "p")
    lakehouse.write_delta(parted, batch(0, 10, 0), partition_by=["s"])
    before = log_state(parted)
    with pytest.raises(UnsupportedFeatureError, match="cannot also be partitioned"):
        lakehouse.DeltaTable(parted).alter.add_feature("clustering", allow_protocol_versions_increase=True)
    assert log_state(parted) == before


def test_deletion_vectors_on_clustered_files_are_applied_by_the_next_optimize(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data: list[dict] = []
    for i in range(3):
        t = batch(i * 1000, 1000, seed=i)
        res = lakehouse.write_delta(path, t, mode="append", cluster_by=["x"] if i == 0 else None,
                                    configuration={"delta.enableDeletionVectors": "true"} if i == 0 else None)
        data += t.to_pylist()
        model.record(res.version, data)
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.compact().version == 3
    model.same_as(3, 2)
    clustered = {a["path"] for a in actions_of(path, 3, "add")}
    dt.delete("id % 10 = 0")
    model.record(4, [r for r in data if r["id"] % 10])
    with_dv = [a for a in actions_of(path, 4, "add") if a.get("deletionVector")]
    assert with_dv and {a["path"] for a in with_dv} <= clustered
    assert all(a["clusteringProvider"] == "liquid" for a in with_dv)  # DELETE keeps the file's provider
    m = dt.optimize.compact()
    assert m.version == 5 and m.num_deletion_vectors_removed == len(with_dv)
    adds = actions_of(path, 5, "add")
    assert all(a["clusteringProvider"] == "liquid" and not a.get("deletionVector") for a in adds)
    model.same_as(5, 4)
    model.check()


def test_a_delete_keeping_clustered_files_does_not_conflict_with_cluster_by(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = batch(0, 2000, seed=5)
    lakehouse.write_delta(path, t, cluster_by=["x"], configuration={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.compact().version == 1
    fired: list[int] = []

    def alter_first(phase, txn) -> None:
        if phase == "prepared" and not fired:
            with commit_hook(None):
                fired.append(lakehouse.DeltaTable(path).alter.cluster_by(["y"]).version)

    with commit_hook(alter_first):
        res = dt.delete("id < 100")  # a DV on a clustered file: the file keeps its provider
    assert fired == [2] and res.version == 3
    assert all(a["clusteringProvider"] == "liquid" for a in actions_of(path, 3, "add"))
    model = Model(path)
    model.record(0, t)
    model.same_as(1, 0)
    model.same_as(2, 1)
    model.record(3, [r for r in t.to_pylist() if r["id"] >= 100])
    model.check()
