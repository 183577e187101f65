"""Snapshots of logs whose commits add hundreds of files, decoded column-wise
(`lakehouse.protocol.commit_columns`), equal the snapshots of the per-line path: after newer removes and
re-adds, over a checkpoint, on incremental refresh; deltalake lists the same files; a malformed large
commit raises the same error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable as DeltaRsTable

import lakehouse
from lakehouse.errors import InvalidLogError
from lakehouse.protocol import commit_columns
from lakehouse.snapshot import snapshot as snapshot_module

SCHEMA = {"type": "struct", "fields": [{"name": "id", "type": "long", "nullable": True, "metadata": {}},
                                       {"name": "part", "type": "string", "nullable": True, "metadata": {}}]}


def add(i: int, size: int = 100) -> dict:
    return {"add": {"path": f"part=p{i % 4}/f{i}.parquet", "partitionValues": {"part": f"p{i % 4}"}, "size": size,
                    "modificationTime": 1700000000000, "dataChange": True,
                    "stats": json.dumps({"numRecords": 10, "minValues": {"id": i}, "maxValues": {"id": i + 9},
                                         "nullCount": {"id": 0}})}}


def remove(i: int) -> dict:
    return {"remove": {"path": f"part=p{i % 4}/f{i}.parquet", "deletionTimestamp": 1700000000001,
                       "dataChange": True}}


def write(path: Path, version: int, actions: list[dict]) -> None:
    log = path / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    info = {"commitInfo": {"timestamp": 1700000000000 + version, "operation": "WRITE"}}
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in [info, *actions]) + "\n")


def header() -> list[dict]:
    return [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
            {"metaData": {"id": "t", "format": {"provider": "parquet", "options": {}},
                          "schemaString": json.dumps(SCHEMA), "partitionColumns": ["part"], "configuration": {},
                          "createdTime": 1700000000000}}]


def load(path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> lakehouse.DeltaTable:
    monkeypatch.setattr(commit_columns, "BULK_MIN_ADDS", 256 if bulk else 10**9)
    snapshot_module._CACHE.clear()
    return lakehouse.DeltaTable(str(path))


def assert_same_state(path: Path, monkeypatch: pytest.MonkeyPatch) -> lakehouse.DeltaTable:
    typed, bulk = load(path, False, monkeypatch), load(path, True, monkeypatch)
    assert bulk.snapshot.adds.equals(typed.snapshot.adds)
    assert bulk.snapshot.tombstones.equals(typed.snapshot.tombstones)
    assert bulk.snapshot.version == typed.snapshot.version
    rs = {uri.split(str(path), 1)[1].lstrip("/") for uri in DeltaRsTable(str(path)).file_uris()}
    assert set(bulk.snapshot.adds.column("path").to_pylist()) == rs
    return bulk


def test_large_commits_replay_as_the_per_line_path(tmp_path, monkeypatch):
    write(tmp_path, 0, header() + [add(i) for i in range(400)])
    # Newer commits remove and re-add files of the bulk commit (one small commit, one bulk); inside v1 the
    # remove of f10..f19 comes first, so it wins over their add on the next lines.
    write(tmp_path, 1, [remove(i) for i in range(0, 40)] + [add(i, size=7) for i in range(10, 20)])
    write(tmp_path, 2, [remove(i) for i in range(300, 320)] + [add(i, size=9) for i in range(30, 35)]
          + [add(i, size=9) for i in range(395, 700)])
    bulk = assert_same_state(tmp_path, monkeypatch)
    logs = sorted((tmp_path / "_delta_log").glob("*.json"))
    assert [commit_columns.decode_commit(f.read_bytes()).adds is not None for f in logs] == [True, False, True]
    active = (set(range(40, 400)) - set(range(300, 320))) | set(range(30, 35)) | set(range(395, 700))
    assert sorted(bulk.snapshot.adds.column("path").to_pylist()) == sorted(
        f"part=p{i % 4}/f{i}.parquet" for i in active)
    sizes = dict(zip(bulk.snapshot.adds.column("path").to_pylist(), bulk.snapshot.adds.column("size").to_pylist()))
    assert sizes["part=p2/f30.parquet"] == 9 and sizes["part=p3/f399.parquet"] == 9 and sizes["part=p0/f40.parquet"] == 100
    hits = bulk.scan("part = 'p1' AND id BETWEEN 100 AND 200").metrics.files_after_stats_skipping
    assert hits == len([i for i in active if i % 4 == 1 and i + 9 >= 100 and i <= 200])


def test_bulk_commit_over_a_checkpoint_and_refresh(tmp_path, monkeypatch):
    write(tmp_path, 0, header() + [add(i) for i in range(300)])
    load(tmp_path, False, monkeypatch).create_checkpoint()
    write(tmp_path, 1, [remove(i) for i in range(0, 50)] + [add(i, size=3) for i in range(250, 600)])
    assert_same_state(tmp_path, monkeypatch)
    # Incremental refresh from the loaded snapshot reads the new bulk commit on top of the old state.
    for bulk in (False, True):
        table = load(tmp_path, bulk, monkeypatch)
        write(tmp_path, 2 + bulk, [remove(i) for i in range(500, 520)] + [add(i) for i in range(600 + 1000 * bulk,
                                                                                                  900 + 1000 * bulk)])
        refreshed = snapshot_module.refresh_snapshot(table.snapshot)
        assert refreshed.version == 2 + bulk
        fresh = load(tmp_path, bulk, monkeypatch).snapshot
        assert refreshed.adds.equals(fresh.adds)
        assert refreshed.tombstones.equals(fresh.tombstones)


def test_malformed_large_commit_raises_the_same_error(tmp_path, monkeypatch):
    rows = header() + [add(i) for i in range(400)]
    rows[300]["add"]["size"] = "big"
    write(tmp_path, 0, rows)
    errors = []
    for bulk in (False, True):
        with pytest.raises(InvalidLogError) as e:
            load(tmp_path, bulk, monkeypatch)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert "00000000000000000000.json" in errors[1] and "size" in errors[1]
