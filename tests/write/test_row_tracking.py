"""Row tracking (PROTOCOL.md "Row Tracking"; spec/row-tracking.md): fresh ids and commit versions on every
added file, the high-water mark, stable ids and versions through DELETE/UPDATE/MERGE/OPTIMIZE/Z-order,
enabling on an existing table (backfill), concurrent writers, and `_metadata.*` reads.

Every test reopens the table and checks every row, and deltalake reads the same rows."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConcurrentAppendError, InvalidArgumentError
from lakehouse.write.transaction import commit_hook
from tests.support.log import actions_of, commit_actions, commit_info
from tests.support.rows import assert_rows, dl_read

RT = {"delta.enableRowTracking": "true"}
META = ["_metadata.row_id", "_metadata.row_commit_version"]


def data(keys: range | list[int], tag: str = "v") -> pa.Table:
    keys = list(keys)
    return pa.table({"k": pa.array(keys, pa.int64()), "v": pa.array([f"{tag}{k}" for k in keys])})


def tracked(path: str, version: int | None = None) -> dict[int, tuple[str, int, int]]:
    """k -> (v, stable row id, stable row commit version), read back by a fresh DeltaTable."""
    t = lakehouse.DeltaTable(path, version=version).to_arrow(columns=["k", "v", *META]).to_pydict()
    out = {k: (v, i, c) for k, v, i, c in zip(t["k"], t["v"], t["_metadata.row_id"], t["_metadata.row_commit_version"])}
    assert len(out) == len(t["k"]), "a key appears twice"
    ids = [i for _, i, _ in out.values()]
    assert len(set(ids)) == len(ids), f"duplicate stable row ids: {sorted(ids)}"
    return out


def high_water_mark(path: str) -> int:
    dm = lakehouse.DeltaTable(path).domain_metadata["delta.rowTracking"]
    return json.loads(dm.configuration)["rowIdHighWaterMark"]


def check_invariants(path: str) -> None:
    """Every active file has ids within the mark; the fresh id ranges of the files never overlap; deltalake
    reads the same rows (without the hidden columns)."""
    dt = lakehouse.DeltaTable(path)
    mark = high_water_mark(path)
    ranges = []
    for add in dt._snapshot.adds.to_pylist():
        base, n = add["baseRowId"], json.loads(add["stats"])["numRecords"]
        assert base is not None and add["defaultRowCommitVersion"] is not None, add["path"]
        assert base + n - 1 <= mark, (add["path"], base, n, mark)
        ranges.append((base, base + n))
    ranges.sort()
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:])), f"overlapping fresh id ranges {ranges}"
    mine = dt.to_arrow()
    theirs = dl_read(path)
    assert theirs.column_names == mine.column_names == ["k", "v"]
    assert_rows(theirs, mine, "deltalake")


def test_create_assigns_ids_versions_and_the_mark(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(5)), configuration=RT)
    lakehouse.write_delta(table_path, data(range(5, 8)), mode="append")
    proto = actions_of(table_path, 0, "protocol")[0]
    assert {"rowTracking", "domainMetadata"} <= set(proto["writerFeatures"]) and proto["minWriterVersion"] == 7
    conf = lakehouse.DeltaTable(table_path).metadata.configuration
    names = conf["delta.rowTracking.materializedRowIdColumnName"], conf["delta.rowTracking.materializedRowCommitVersionColumnName"]
    assert names[0].startswith("_row-id-col-") and names[1].startswith("_row-commit-version-col-")
    adds = [a for v in (0, 1) for a in actions_of(table_path, v, "add")]
    assert [(a["baseRowId"], a["defaultRowCommitVersion"]) for a in adds] == [(0, 0), (5, 1)]
    assert high_water_mark(table_path) == 7
    rows = tracked(table_path)
    assert {k: (i, c) for k, (_, i, c) in rows.items()} == {k: (k, 0 if k < 5 else 1) for k in range(8)}
    assert commit_info(table_path, 1)["tags"]["delta.rowTracking.preserved"] == "true"
    check_invariants(table_path)


@pytest.mark.parametrize("dvs", [False, True], ids=["copy-on-write", "deletion-vectors"])
def test_dml_and_optimize_keep_stable_ids(table_path: str, dvs: bool) -> None:
    conf = {**RT, "delta.enableDeletionVectors": str(dvs).lower()}
    lakehouse.write_delta(table_path, data(range(10)), configuration=conf)
    lakehouse.write_delta(table_path, data(range(10, 20)), mode="append")
    before = tracked(table_path)
    dt = lakehouse.DeltaTable(table_path)

    dt.delete("k IN (3, 14)")
    after = tracked(table_path)
    assert after == {k: r for k, r in before.items() if k not in (3, 14)}  # copied rows keep id and version

    version = dt.update(updates={"v": "'updated'"}, predicate="k = 5").version
    after = tracked(table_path)
    assert after[5] == ("updated", before[5][1], version)  # an updated row keeps its id, takes the new version
    assert {k: r for k, r in after.items() if k != 5} == {k: r for k, r in before.items() if k not in (3, 5, 14)}

    source = data([6, 100, 101], "m")
    merged = (dt.merge(source, "t.k = s.k", source_alias="s", target_alias="t")
              .when_matched_update_all().when_not_matched_insert_all().execute())
    after = tracked(table_path)
    assert after[6] == ("m6", before[6][1], merged.version)
    fresh = {after[100][1], after[101][1]}
    assert not fresh & {r[1] for r in before.values()} and min(fresh) > 19  # inserted rows: ids never used
    assert after[100][2] == after[101][2] == merged.version
    kept = {k: r for k, r in after.items() if k not in (5, 6, 100, 101)}
    assert kept == {k: r for k, r in before.items() if k not in (3, 5, 6, 14)}

    lakehouse.write_delta(table_path, data(range(200, 203)), mode="append")  # a second file to compact with
    snapshot_before_optimize = tracked(table_path)
    assert dt.optimize.compact().version is not None
    assert tracked(table_path) == snapshot_before_optimize
    assert dt.optimize.z_order(["v"]).version is not None
    assert tracked(table_path) == snapshot_before_optimize
    check_invariants(table_path)
    # time travel reads the ids each version had
    assert tracked(table_path, version=1) == before


def test_partitioned_and_column_mapped_tables_keep_ids(table_path: str) -> None:
    table = data(range(12)).append_column("p", pa.array([k % 3 for k in range(12)], pa.int64()))
    lakehouse.write_delta(table_path, table, partition_by=["p"],
                          configuration={**RT, "delta.columnMapping.mode": "name"})
    before = tracked(table_path)
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k = 4")
    dt.update(updates={"v": "'x'"}, predicate="k = 7")
    dt.optimize.compact()
    after = tracked(table_path)
    assert after[7][:2] == ("x", before[7][1])
    assert {k: r for k, r in after.items() if k != 7} == {k: r for k, r in before.items() if k not in (4, 7)}
    mine = lakehouse.DeltaTable(table_path).to_arrow()
    assert_rows(dl_read(table_path).select(mine.column_names), mine, "deltalake")


def test_enabling_on_an_existing_table_backfills_in_one_commit(table_path: str) -> None:
    for i in range(3):
        lakehouse.write_delta(table_path, data(range(i * 4, i * 4 + 4)), mode="append")
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k = 1")
    with pytest.raises(InvalidArgumentError, match="row tracking, which is not enabled"):
        dt.to_arrow(columns=["k", "_metadata.row_id"])
    rows_before = dt.to_arrow()
    version = dt.alter.set_table_properties(RT).version
    actions = commit_actions(table_path, version)
    adds = [a["add"] for a in actions if "add" in a]
    assert len(adds) == 3 and all(a["dataChange"] is False and a["defaultRowCommitVersion"] == version for a in adds)
    assert not [a for a in actions if "remove" in a]
    rows = tracked(table_path)
    assert sorted(i for _, i, _ in rows.values()) == list(range(11)) and high_water_mark(table_path) == 10
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), rows_before)
    # history before the enabling commit is unchanged, and the ids hold from now on
    lakehouse.DeltaTable(table_path).delete("k = 2")
    assert {k: r for k, r in tracked(table_path).items()} == {k: r for k, r in rows.items() if k != 2}
    check_invariants(table_path)


def test_supported_but_not_enabled_assigns_fresh_ids_only(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(6)), configuration={"delta.feature.rowTracking": "supported"})
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k = 0")
    adds = actions_of(table_path, 1, "add")
    assert adds and all(a["baseRowId"] is not None and a["defaultRowCommitVersion"] == 1 for a in adds)
    assert adds[0]["baseRowId"] == 6  # above the mark: copied rows got new ids, as the protocol allows
    assert commit_info(table_path, 1)["tags"]["delta.rowTracking.preserved"] == "false"
    conf = lakehouse.DeltaTable(table_path).metadata.configuration
    assert "delta.rowTracking.materializedRowIdColumnName" not in conf
    with pytest.raises(InvalidArgumentError, match="not enabled"):
        dt.to_arrow(columns=["_metadata.row_id"])
    # enabling later backfills nothing: every file has ids already
    version = lakehouse.DeltaTable(table_path).alter.set_table_properties(RT).version
    assert not actions_of(table_path, version, "add")
    assert sorted(i for _, i, _ in tracked(table_path).values()) == [6, 7, 8, 9, 10]


def test_suspended_assigns_nothing(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(3)), configuration={
        "delta.feature.rowTracking": "supported", "delta.rowTrackingSuspended": "true"})
    add = actions_of(table_path, 0, "add")[0]
    assert add.get("baseRowId") is None and add.get("defaultRowCommitVersion") is None
    assert "delta.rowTracking" not in lakehouse.DeltaTable(table_path).domain_metadata
    with pytest.raises(InvalidArgumentError, match="suspended"):
        lakehouse.DeltaTable(table_path).alter.set_table_properties(RT)


def test_checkpoint_and_restore_keep_ids(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(5)), configuration=RT)
    lakehouse.write_delta(table_path, data(range(5, 9)), mode="append")
    at_1 = tracked(table_path)
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k < 3")
    dt.create_checkpoint()
    assert tracked(table_path) == {k: r for k, r in at_1.items() if k >= 3}
    restored = lakehouse.DeltaTable(table_path).restore(1).version
    assert tracked(table_path) == at_1  # restored rows get their ids and versions back
    # the mark never moves back: the DELETE's rewritten file took fresh ids 9..10
    assert high_water_mark(table_path) == 10
    lakehouse.write_delta(table_path, data([50]), mode="append")
    assert tracked(table_path)[50][1] == 11 and restored is not None
    check_invariants(table_path)


def test_metadata_columns_row_index_and_file_path(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(4)), configuration={**RT, "delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k = 1")  # a deletion vector: row_index stays the physical position
    got = dt.to_arrow(columns=["k", "_metadata.row_index", "_metadata.file_path", "_metadata.row_id"]).to_pydict()
    assert got["k"] == [0, 2, 3] and got["_metadata.row_index"] == [0, 2, 3] and got["_metadata.row_id"] == [0, 2, 3]
    fresh = lakehouse.DeltaTable(table_path)
    assert set(got["_metadata.file_path"]) == {f"{Path(table_path).as_uri()}/{fresh.files().column('path')[0].as_py()}"}
    with pytest.raises(InvalidArgumentError, match="unknown metadata column"):
        dt.to_arrow(columns=["_metadata.row_number"])
    # filters still work beside metadata columns
    got = dt.to_arrow(columns=["_metadata.row_id"], filter="k >= 2").to_pydict()
    assert got == {"_metadata.row_id": [2, 3]}


def test_a_losing_writer_assigns_ids_above_the_winner(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(3)), configuration=RT)
    started = threading.Event()
    release = threading.Event()

    def hook(phase: str, txn: Any) -> None:
        if phase == "prepared":
            started.set()
            assert release.wait(30)

    result: dict[str, Any] = {}

    def slow() -> None:
        with commit_hook(hook):
            result["slow"] = lakehouse.write_delta(table_path, data(range(10, 14)), mode="append")

    thread = threading.Thread(target=slow)
    thread.start()
    assert started.wait(30)
    lakehouse.write_delta(table_path, data(range(20, 25)), mode="append")  # wins version 1 with ids 3..7
    release.set()
    thread.join(30)
    assert result["slow"].version == 2 and result["slow"].attempts == 2
    rows = tracked(table_path)
    assert sorted(rows[k][1] for k in range(20, 25)) == [3, 4, 5, 6, 7]
    assert sorted(rows[k][1] for k in range(10, 14)) == [8, 9, 10, 11]
    assert all(rows[k][2] == 2 for k in range(10, 14))
    assert high_water_mark(table_path) == 11
    check_invariants(table_path)


def test_enabling_loses_to_an_append_without_ids(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(3)))
    released = threading.Event()

    def hook(phase: str, txn: Any) -> None:
        if phase == "prepared" and not released.is_set():
            released.set()
            lakehouse.write_delta(table_path, data([9]), mode="append")  # a writer that knows no row ids

    with commit_hook(hook), pytest.raises(ConcurrentAppendError, match="without row ids"):
        lakehouse.DeltaTable(table_path).alter.set_table_properties(RT)
    dt = lakehouse.DeltaTable(table_path)
    assert dt.version == 1 and "delta.enableRowTracking" not in dt.metadata.configuration
    assert sorted(dt.to_arrow().column("k").to_pylist()) == [0, 1, 2, 9]
    dt.alter.set_table_properties(RT)  # a retry succeeds and backfills both files
    assert sorted(i for _, i, _ in tracked(table_path).values()) == [0, 1, 2, 3]


def _append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        lakehouse.write_delta(path, data(range(worker * 1000 + i * 10, worker * 1000 + i * 10 + 3)), mode="append")


def test_concurrent_processes_never_share_a_row_id(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(2)), configuration=RT)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(table_path, w + 1, 4)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = tracked(table_path)
    assert len(rows) == 2 + 3 * 4 * 3
    assert sorted(i for _, i, _ in rows.values()) == list(range(len(rows)))  # dense: no id lost or shared
    assert high_water_mark(table_path) == len(rows) - 1
    check_invariants(table_path)


def test_deltalake_reads_every_version(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(6)), configuration=RT)
    dt = lakehouse.DeltaTable(table_path)
    dt.update(updates={"v": "'u'"}, predicate="k < 2")
    dt.optimize.compact()
    for version in range(lakehouse.DeltaTable(table_path).version + 1):
        mine = lakehouse.DeltaTable(table_path, version=version).to_arrow()
        theirs = pa.table(deltalake.DeltaTable(table_path, version=version).to_pyarrow_table())
        assert_rows(theirs, mine, f"version {version}")


def test_materialized_columns_are_in_the_files_not_the_schema(table_path: str) -> None:
    lakehouse.write_delta(table_path, data(range(4)), configuration=RT)
    dt = lakehouse.DeltaTable(table_path)
    dt.delete("k = 0")
    conf = dt.metadata.configuration
    hidden = {conf["delta.rowTracking.materializedRowIdColumnName"],
              conf["delta.rowTracking.materializedRowCommitVersionColumnName"]}
    import pyarrow.parquet as pq

    rewritten = [Path(table_path) / a["path"] for a in actions_of(table_path, 1, "add")]
    assert rewritten and all(hidden <= set(pq.read_schema(p).names) for p in rewritten)
    assert "_row-id" not in dt.metadata.schema_string and lakehouse.DeltaTable(table_path).schema.names == ["k", "v"]


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_keep_the_row_tracking_model(table_path: str, seed: int) -> None:
    """A model of every key's stable id and commit version through random appends, DELETEs, UPDATEs,
    MERGEs, OPTIMIZEs and Z-orders: copied rows keep both, updated rows keep their id and take the
    commit's version, new rows get ids never seen before."""
    import random

    rnd = random.Random(seed)
    conf = {**RT, "delta.enableDeletionVectors": str(seed % 2 == 0).lower()}
    lakehouse.write_delta(table_path, data(range(20)), configuration=conf)
    model = tracked(table_path)
    seen_ids = {i for _, i, _ in model.values()}
    next_key = 1000
    for _ in range(8):
        dt = lakehouse.DeltaTable(table_path)
        op = rnd.choice(["append", "delete", "update", "merge", "optimize", "zorder"])
        keys = sorted(model)
        if op == "append":
            new = list(range(next_key, next_key + rnd.randint(1, 5)))
            next_key += 10
            version = lakehouse.write_delta(table_path, data(new), mode="append").version
            after = tracked(table_path)
            assert {k: after[k] for k in model} == model
            for k in new:
                assert after[k][1] not in seen_ids and after[k][2] == version
            model = after
        elif op == "delete" and keys:
            gone = set(rnd.sample(keys, min(len(keys), rnd.randint(1, 3))))
            dt.delete(f"k IN ({', '.join(map(str, sorted(gone)))})")
            model = {k: r for k, r in model.items() if k not in gone}
            assert tracked(table_path) == model
        elif op == "update" and keys:
            hit = set(rnd.sample(keys, min(len(keys), rnd.randint(1, 3))))
            version = dt.update(updates={"v": "'u'"}, predicate=f"k IN ({', '.join(map(str, sorted(hit)))})").version
            model = {k: (("u", i, version) if k in hit else (v, i, c)) for k, (v, i, c) in model.items()}
            assert tracked(table_path) == model
        elif op == "merge" and keys:
            hit = rnd.sample(keys, min(len(keys), 2))
            new = [next_key, next_key + 1]
            next_key += 10
            version = (dt.merge(data(hit + new, "m"), "t.k = s.k", source_alias="s", target_alias="t")
                       .when_matched_update_all().when_not_matched_insert_all().execute().version)
            after = tracked(table_path)
            for k in hit:
                assert after[k] == (f"m{k}", model[k][1], version)
            for k in new:
                assert after[k][1] not in seen_ids and after[k][2] == version
            assert {k: after[k] for k in model if k not in hit} == {k: r for k, r in model.items() if k not in hit}
            model = after
        elif op in ("optimize", "zorder"):
            (dt.optimize.compact() if op == "optimize" else dt.optimize.z_order(["v"]))
            assert tracked(table_path) == model
        seen_ids |= {i for _, i, _ in model.values()}
    check_invariants(table_path)


def test_databricks_row_tracking_table_accepts_writes_dml_and_optimize(tmp_path: Path) -> None:
    """kernelrs__crc-full: a Databricks table with row tracking enabled (its own materialized column
    names), clustering and deletion vectors: appends, DELETE, UPDATE, MERGE and OPTIMIZE keep the ids."""
    import shutil

    from tests.support.conformance import corpus_dir

    corpus = corpus_dir()
    assert corpus is not None
    path = str(tmp_path / "crc")
    shutil.copytree(corpus / "tables" / "kernelrs__crc-full", path)
    conf = lakehouse.DeltaTable(path).metadata.configuration
    ids_column = conf["delta.rowTracking.materializedRowIdColumnName"]
    lakehouse.write_delta(path, pa.table({"id": pa.array(range(6), pa.int64())}), mode="append")
    lakehouse.write_delta(path, pa.table({"id": pa.array(range(6, 9), pa.int64())}), mode="append")
    dt = lakehouse.DeltaTable(path)

    def ids() -> dict[int, tuple[int, int]]:
        t = lakehouse.DeltaTable(path).to_arrow(columns=["id", *META]).to_pydict()
        return {k: (i, c) for k, i, c in zip(t["id"], t["_metadata.row_id"], t["_metadata.row_commit_version"])}

    before = ids()
    assert sorted(i for i, _ in before.values()) == list(range(9))
    dt.delete("id = 2")
    version = dt.update(updates={"id": "id + 100"}, predicate="id = 7").version
    import pyarrow.parquet as pq

    new_files = [a["path"] for a in actions_of(path, version, "add") if not a.get("deletionVector")]
    assert new_files and all(ids_column in pq.read_schema(Path(path) / p).names for p in new_files)  # Databricks' names
    merged = (dt.merge(pa.table({"id": pa.array([4, 50], pa.int64())}), "t.id = s.id", source_alias="s", target_alias="t")
              .when_matched_delete().when_not_matched_insert_all().execute())
    dt.optimize.compact()
    after = ids()
    assert after[107] == (before[7][0], version)
    assert after[50][0] > 8 and after[50][1] == merged.version
    assert {k: r for k, r in after.items() if k not in (107, 50)} == {
        k: r for k, r in before.items() if k not in (2, 4, 7)}
    mine = lakehouse.DeltaTable(path).to_arrow()
    assert_rows(dl_read(path), mine, "deltalake")
