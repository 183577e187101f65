"""Checkpoints written by the log layer from plain state: typed stats (`delta.checkpoint.writeStatsAsStruct`
writes `add.stats_parsed` and `add.partitionValues_parsed`; `delta.checkpoint.writeStatsAsJson=false`
leaves out `add.stats`), read back by lakehouse and deltalake, used for skipping; a checkpoint equals the
replay of the commits it replaces."""

from __future__ import annotations

import datetime as dt
import glob
import os
from decimal import Decimal

import deltalake
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.log.checkpoint_write import CheckpointState, checkpoint_table, write_checkpoint
from lakehouse.log.cleanup import cleanup_expired_logs
from lakehouse.snapshot.checkpoint import checkpoint_state
from lakehouse.protocol.skipping import Leaf, parse_stats
from lakehouse.protocol.schema import PrimitiveType
from lakehouse.snapshot.snapshot import load_snapshot
from lakehouse.storage import open_storage
from tests.support.rows import assert_rows, concat, dl_read

UTC = dt.timezone.utc


def _batch(i: int) -> pa.Table:
    ids = [i * 10 + k for k in range(3)]
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "s": [f"s{i:03d}", None, f"t{i:03d}"],
        "ts": pa.array([dt.datetime(2020, 1, 1 + i, k, tzinfo=UTC) for k in range(3)], pa.timestamp("us", tz="UTC")),
        "d": pa.array([Decimal(f"{i}.25"), None, Decimal(f"{i}.75")], pa.decimal128(10, 2)),
        "st": pa.array([{"x": i}, None, {"x": i + 1}], pa.struct([("x", pa.int32())])),
        "p": [f"g{i % 2}"] * 3,
        "day": pa.array([dt.date(2021, 1, 1 + i % 3)] * 3, pa.date32()),
    })


def _build(path: str, n: int, config: dict[str, str]) -> pa.Table:
    lakehouse.write_delta(path, _batch(0), partition_by=["p", "day"], configuration=config)
    want = _batch(0)
    for i in range(1, n):
        lakehouse.write_delta(path, _batch(i), mode="append")
        want = concat(want, _batch(i))
    lakehouse.DeltaTable(path).create_checkpoint()
    return want


def _checkpoint(path: str) -> pa.Table:
    files = sorted(glob.glob(os.path.join(path, "_delta_log", "*.checkpoint*.parquet")))
    return pq.read_table(files[-1])


def _json_stats(path: str) -> dict[str, dict]:
    """Every active file's JSON stats as the commits wrote them (the log replayed without checkpoints)."""
    storage = open_storage(path)
    snap = load_snapshot(storage)
    replayed = load_snapshot(storage, exclude_checkpoints=frozenset(c.key for c in [snap.segment.checkpoint] if c))
    return {p: orjson.loads(s) for p, s in zip(replayed.adds.column("path").to_pylist(),
                                                 replayed.adds.column("stats").to_pylist())}


@pytest.mark.parametrize("mapping", ["none", "name"])
def test_stats_as_struct_only_is_read_by_lakehouse_and_deltalake(table_path, mapping):
    config = {"delta.checkpoint.writeStatsAsStruct": "true", "delta.checkpoint.writeStatsAsJson": "false"}
    if mapping != "none":
        config["delta.columnMapping.mode"] = mapping
    want = _build(table_path, 4, config)
    cp = _checkpoint(table_path)
    add_type = cp.schema.field("add").type
    names = [add_type.field(i).name for i in range(add_type.num_fields)]
    assert "stats" not in names and "stats_parsed" in names and "partitionValues_parsed" in names
    adds = [a for a in cp.column("add").to_pylist() if a is not None]
    assert len(adds) == 4
    snap = load_snapshot(open_storage(table_path))
    phys = {f.name: physical_name(f, snap.column_mapping_mode) for f in snap.schema.fields}
    assert (phys["id"] != "id") == (mapping != "none")
    json_stats = _json_stats(table_path)
    for a in adds:
        parsed, stats = a["stats_parsed"], json_stats[a["path"]]
        id_key = phys.get("id", "id")
        assert parsed["numRecords"] == stats["numRecords"] == 3
        assert parsed["minValues"][id_key] == stats["minValues"][id_key]
        assert parsed["maxValues"][id_key] == stats["maxValues"][id_key]
        assert parsed["nullCount"][phys.get("s", "s")] == 1
        assert parsed["minValues"][phys.get("d", "d")] == Decimal(stats["minValues"][phys.get("d", "d")]).quantize(Decimal("0.01"))
        pv = a["partitionValues_parsed"]
        assert pv[phys.get("p", "p")] == dict(a["partitionValues"])[phys.get("p", "p")]
        assert pv[phys.get("day", "day")] == dt.date.fromisoformat(dict(a["partitionValues"])[phys.get("day", "day")])
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), want, "lakehouse")
    assert_rows(dl_read(table_path), want, "deltalake")
    # Skipping from stats_parsed alone: only the file holding id 21 is read, by both engines.
    scan = lakehouse.DeltaTable(table_path).scan(filter="id = 21")
    assert scan.files().num_rows == 1
    assert scan.to_arrow().column("id").to_pylist() == [21]
    if mapping == "none":
        got = deltalake.DeltaTable(table_path).get_add_actions(flatten=True)
        got = pa.table(got)
        assert sorted(got.column("min.id").to_pylist()) == [0, 10, 20, 30]
        assert sorted(got.column("null_count.s").to_pylist()) == [1, 1, 1, 1]


def test_default_checkpoint_has_json_stats_and_no_struct(table_path):
    want = _build(table_path, 3, {})
    add_type = _checkpoint(table_path).schema.field("add").type
    names = {add_type.field(i).name for i in range(add_type.num_fields)}
    assert "stats" in names and "stats_parsed" not in names and "partitionValues_parsed" not in names
    assert_rows(dl_read(table_path), want, "deltalake")


def test_both_forms_agree_and_unpartitioned_table_has_no_partition_struct(table_path):
    t = _batch(1).drop_columns(["p", "day"])
    lakehouse.write_delta(table_path, t, configuration={"delta.checkpoint.writeStatsAsStruct": "true"})
    lakehouse.write_delta(table_path, _batch(2).drop_columns(["p", "day"]), mode="append")
    lakehouse.DeltaTable(table_path).create_checkpoint()
    cp = _checkpoint(table_path)
    add_type = cp.schema.field("add").type
    names = {add_type.field(i).name for i in range(add_type.num_fields)}
    assert {"stats", "stats_parsed"} <= names and "partitionValues_parsed" not in names
    for a in (a for a in cp.column("add").to_pylist() if a is not None):
        stats = orjson.loads(a["stats"])
        assert a["stats_parsed"]["minValues"]["s"] == stats["minValues"]["s"]
        assert a["stats_parsed"]["maxValues"]["st"]["x"] == stats["maxValues"]["st"]["x"]
        assert a["stats_parsed"]["minValues"]["ts"] == dt.datetime.fromisoformat(stats["minValues"]["ts"].replace("Z", "+00:00"))
    assert_rows(dl_read(table_path), concat(t, _batch(2).drop_columns(["p", "day"])), "deltalake")


def test_property_is_accepted_and_parsed(table_path):
    lakehouse.write_delta(table_path, _batch(0), configuration={"delta.checkpoint.writeStatsAsStruct": "true",
                                                                "delta.checkpoint.writeStatsAsJson": "false"})
    props = load_snapshot(open_storage(table_path)).properties
    assert props.checkpoint_write_stats_as_struct and not props.checkpoint_write_stats_as_json


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.one_of(st.none(), st.integers(-2**40, 2**40)), min_size=1, max_size=5),
                        min_size=1, max_size=4),
       struct=st.booleans(), as_json=st.booleans(), partitioned=st.booleans())
def test_checkpoint_equals_replay(tmp_path_factory, batches, struct, as_json, partitioned):
    """Loading through the checkpoint gives the same files, stats and rows as replaying the commits."""
    path = str(tmp_path_factory.mktemp("cp"))
    config = {"delta.checkpoint.writeStatsAsStruct": str(struct).lower(),
              "delta.checkpoint.writeStatsAsJson": str(as_json or not struct).lower()}
    tables = [pa.table({"v": pa.array(b, pa.int64()), "k": [f"k{len(b) % 2}"] * len(b)}) for b in batches]
    lakehouse.write_delta(path, tables[0], configuration=config, partition_by=["k"] if partitioned else None)
    for t in tables[1:]:
        lakehouse.write_delta(path, t, mode="append")
    lakehouse.DeltaTable(path).create_checkpoint()
    storage = open_storage(path)
    via_checkpoint = load_snapshot(storage)
    assert via_checkpoint.segment.checkpoint is not None
    replayed = load_snapshot(storage, exclude_checkpoints=frozenset({via_checkpoint.segment.checkpoint.key}))
    assert replayed.segment.checkpoint is None
    key = lambda a: sorted(zip(a.column("path").to_pylist(), a.column("partitionValues").to_pylist()))  # noqa: E731
    assert key(via_checkpoint.adds) == key(replayed.adds)
    leaves = [Leaf(("v",), ("v",), PrimitiveType("long"))]
    for snap_a, snap_b in [(via_checkpoint, replayed)]:
        order_a = pa.compute.sort_indices(snap_a.adds, [("path", "ascending")])
        order_b = pa.compute.sort_indices(snap_b.adds, [("path", "ascending")])
        a = parse_stats(snap_a.adds.column("stats").take(order_a), leaves)
        b = parse_stats(snap_b.adds.column("stats").take(order_b), leaves)
        assert a.num_records.to_pylist() == b.num_records.to_pylist()
        assert a.mins[("v",)].to_pylist() == b.mins[("v",)].to_pylist()
        assert a.maxs[("v",)].to_pylist() == b.maxs[("v",)].to_pylist()
        assert a.nulls[("v",)].to_pylist() == b.nulls[("v",)].to_pylist()
    assert_rows(lakehouse.DeltaTable(path).to_arrow(), concat(*tables), "lakehouse")


def test_checkpoint_table_from_plain_state_without_a_snapshot(table_path):
    lakehouse.write_delta(table_path, _batch(0), partition_by=["p"],
                          configuration={"delta.checkpoint.writeStatsAsStruct": "true"})
    snap = load_snapshot(open_storage(table_path))
    state = CheckpointState(version=snap.version, protocol=snap.protocol, metadata=snap.metadata,
                            adds=snap.adds, tombstones=snap.tombstones)
    table = checkpoint_table(state)
    rows = table.to_pylist()
    assert [r["protocol"] is not None for r in rows].count(True) == 1
    assert [r["metaData"] is not None for r in rows].count(True) == 1
    adds = [r["add"] for r in rows if r["add"] is not None]
    assert len(adds) == 1 and adds[0]["stats_parsed"]["numRecords"] == 3
    assert adds[0]["partitionValues_parsed"] == {"p": "g0"}


def test_v2_checkpoint_above_the_sidecar_threshold_writes_sidecars(table_path):
    config = {"delta.checkpointPolicy": "v2", "delta.checkpoint.writeStatsAsStruct": "true"}
    want = _build(table_path, 5, config)  # 5 files, then lakehouse's own checkpoint (no sidecars: few files)
    lakehouse.write_delta(table_path, _batch(5), mode="append")
    want = concat(want, _batch(5))
    storage = open_storage(table_path)
    snap = load_snapshot(storage)
    name = write_checkpoint(storage, checkpoint_state(snap), sidecar_rows=2)
    top = pq.read_table(os.path.join(table_path, "_delta_log", name))
    assert top.column("add").null_count == top.num_rows  # every file action moved out
    sidecars = [s for s in top.column("sidecar").to_pylist() if s is not None]
    assert len(sidecars) == 3 and all("/" not in s["path"] for s in sidecars)  # 6 adds, 2 per sidecar
    on_disk = sorted(os.listdir(os.path.join(table_path, "_delta_log", "_sidecars")))
    assert sorted(s["path"] for s in sidecars) == on_disk
    assert sum(pq.read_table(os.path.join(table_path, "_delta_log", "_sidecars", f)).num_rows for f in on_disk) == 6
    assert [r for r in top.column("checkpointMetadata").to_pylist() if r] == [{"version": 5, "tags": None}]
    reread = load_snapshot(storage)
    assert reread.segment.checkpoint is not None and reread.segment.checkpoint.version == 5
    assert _paths_and_stats(reread) == _paths_and_stats(snap)
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), want, "lakehouse")
    assert_rows(dl_read(table_path), want, "deltalake")
    # Skipping still works through the sidecars' stats_parsed.
    assert lakehouse.DeltaTable(table_path).scan(filter="id = 41").files().num_rows == 1


def _paths_and_stats(snapshot) -> list[tuple]:
    a = snapshot.adds
    return sorted(zip(a.column("path").to_pylist(), a.column("stats").to_pylist()))


def test_log_cleanup_deletes_sidecars_no_kept_checkpoint_references(table_path):
    want = _build(table_path, 3, {"delta.checkpointPolicy": "v2"})
    storage = open_storage(table_path)
    sidecar_dir = os.path.join(table_path, "_delta_log", "_sidecars")
    write_checkpoint(storage, checkpoint_state(load_snapshot(storage)), sidecar_rows=1)
    old = set(os.listdir(sidecar_dir))
    assert len(old) == 3
    lakehouse.write_delta(table_path, _batch(3), mode="append")
    want = concat(want, _batch(3))
    write_checkpoint(storage, checkpoint_state(load_snapshot(storage)), sidecar_rows=3)
    new = set(os.listdir(sidecar_dir)) - old
    assert len(new) == 2
    orphan = os.path.join(sidecar_dir, "orphan.parquet")  # left by a checkpoint write that died
    with open(orphan, "wb") as f:
        f.write(b"x")
    future = int((dt.datetime.now(UTC) + dt.timedelta(days=1)).timestamp() * 1000)
    deleted = cleanup_expired_logs(storage, 3, dt.timedelta(0), now_ms=future)
    assert {d.split("/", 1)[1] for d in deleted if d.startswith("_sidecars/")} == old | {"orphan.parquet"}
    assert set(os.listdir(sidecar_dir)) == new
    assert all(not d.endswith(".json") or int(d[:20]) < 3 for d in deleted)
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), want, "lakehouse")
    assert_rows(dl_read(table_path), want, "deltalake")


def test_fresh_sidecars_survive_cleanup(table_path):
    _build(table_path, 2, {"delta.checkpointPolicy": "v2"})
    storage = open_storage(table_path)
    sidecar_dir = os.path.join(table_path, "_delta_log", "_sidecars")
    os.makedirs(sidecar_dir, exist_ok=True)
    with open(os.path.join(sidecar_dir, "in-flight.parquet"), "wb") as f:
        f.write(b"x")  # a checkpoint being written right now: younger than the retention
    lakehouse.write_delta(table_path, _batch(2), mode="append")
    lakehouse.DeltaTable(table_path).create_checkpoint()
    log_dir = os.path.join(table_path, "_delta_log")
    two_days_ago = (dt.datetime.now(UTC) - dt.timedelta(days=2)).timestamp()
    for name in os.listdir(log_dir):
        if name != "_sidecars":
            os.utime(os.path.join(log_dir, name), (two_days_ago, two_days_ago))
    deleted = cleanup_expired_logs(storage, 2, dt.timedelta(days=1))
    assert deleted and "_sidecars/in-flight.parquet" not in deleted  # the old log went, the fresh sidecar stays
    assert os.listdir(sidecar_dir) == ["in-flight.parquet"]
