"""Parallel encoding of data files (`DataFileWriter` with ``max_workers``): the same rows whatever the
worker count, rows in input order within each file, `Add` actions in the order the files were started,
exact statistics, and a failure in any worker's file aborting the whole write with nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lakehouse
import lakehouse.write.files as files_mod
from lakehouse.errors import InvalidArgumentError, StorageError
from lakehouse.storage import open_storage
from lakehouse.storage.faulty import FaultPlan, FaultyStorage
from lakehouse.write.files import DataFileWriter, FileWriteOptions
from tests.support.log import actions_of, log_state
from tests.support.rows import assert_rows, assert_version, dl_read

ROWS = 60_000


def _data(rows: int = ROWS, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "x": pa.array(rng.normal(size=rows)),
        "s": pa.array([f"s{i % 97}" if i % 13 else None for i in range(rows)], pa.string()),
        "p": pa.array([f"p{i % 3}" for i in range(rows)], pa.string()),
    })


def _data_files(path: str) -> set[str]:
    root = Path(path)
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}


def _files_in_add_order(path: str, version: int) -> list[pa.Table]:
    return [pq.read_table(os.path.join(path, a["path"])) for a in actions_of(path, version, "add")]


def _check_exact_stats(path: str, version: int) -> None:
    """Every file's numRecords, nullCount, min and max are those of the rows it holds."""
    for add in actions_of(path, version, "add"):
        stats = json.loads(add["stats"])
        rows = pq.read_table(os.path.join(path, add["path"]))
        assert stats["numRecords"] == rows.num_rows, add["path"]
        for col in ("id", "x"):
            assert stats["minValues"][col] == pc.min(rows[col]).as_py(), (add["path"], col)
            assert stats["maxValues"][col] == pc.max(rows[col]).as_py(), (add["path"], col)
        assert stats["nullCount"]["s"] == rows["s"].null_count, add["path"]


@pytest.mark.parametrize("partition_by", [None, ["p"]])
def test_one_and_four_workers_write_the_same_rows(tmp_path, partition_by):
    data = _data()
    paths = {}
    for workers in (1, 4):
        path = str(tmp_path / f"w{workers}")
        # A small target size makes many files, so four workers really encode several at once.
        lakehouse.write_delta(path, data, partition_by=partition_by, target_file_size=64 * 1024, max_workers=workers)
        paths[workers] = path
        assert len(actions_of(path, 0, "add")) > 4
        assert_version(path, 0, data)  # a fresh lakehouse table and deltalake read every row
        _check_exact_stats(path, 0)
    one = lakehouse.DeltaTable(paths[1]).to_arrow().sort_by("id")
    four = lakehouse.DeltaTable(paths[4]).to_arrow().sort_by("id")
    assert one.select(data.column_names).equals(four.select(data.column_names))
    assert_rows(dl_read(paths[4]), dl_read(paths[1]), "deltalake: 4 workers vs 1")


def test_adds_come_in_file_order_and_keep_row_order(tmp_path):
    """Concatenating the files in the order of their `Add` actions gives back the input, row for row:
    rows keep their order within a file and files are listed in the order they were started."""
    data = _data().drop_columns(["p"])
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, data, target_file_size=32 * 1024, max_workers=4)
    adds = actions_of(path, 0, "add")
    assert len(adds) > 8
    names = [a["path"] for a in adds]
    assert names == sorted(names)  # part-00000-..., part-00001-...: creation order
    assert pa.concat_tables(_files_in_add_order(path, 0)).equals(data)


def test_large_single_write_is_split_across_workers(tmp_path, monkeypatch):
    """One write of at least two split units is cut into up to max_workers files (in input order), each
    encoded on its own worker; with one worker it stays one file."""
    monkeypatch.setattr(files_mod, "SPLIT_MIN_BYTES", 256 * 1024)  # the 16 MB unit, scaled to the test
    data = _data().drop_columns(["p"])
    assert data.nbytes >= 4 * files_mod.SPLIT_MIN_BYTES
    split, single = str(tmp_path / "split"), str(tmp_path / "single")
    lakehouse.write_delta(split, data, max_workers=4)
    lakehouse.write_delta(single, data, max_workers=1)
    assert len(actions_of(split, 0, "add")) == 4
    assert len(actions_of(single, 0, "add")) == 1
    assert pa.concat_tables(_files_in_add_order(split, 0)).equals(data)
    _check_exact_stats(split, 0)
    assert_version(split, 0, data)


def test_fault_in_one_workers_file_aborts_the_whole_write(tmp_path):
    """The third data file fails to open (on a worker thread): the write raises, nothing is committed and
    every file the write had already created is removed."""
    path = str(tmp_path / "t")
    first = _data(1000)
    lakehouse.write_delta(path, first)
    before_log, before_files = log_state(path), _data_files(path)
    storage = FaultyStorage(open_storage(path), FaultPlan(at=2, kind="fail", operations=frozenset({"write_data"})))
    with pytest.raises(StorageError, match="injected failure of write_data"):
        lakehouse.write_delta(storage, _data(), mode="append", target_file_size=32 * 1024, max_workers=4)
    assert storage.plan.fired
    written = [p for op, p in storage.trace if op == "write_data"]
    assert len(written) >= 3  # other workers' files were created before the abort
    assert log_state(path) == before_log
    assert _data_files(path) == before_files
    assert_version(path, 0, first)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_max_workers_is_refused_before_writing(tmp_path, bad):
    path = str(tmp_path / "t")
    with pytest.raises(InvalidArgumentError, match="max_workers must be a positive int"):
        lakehouse.write_delta(path, _data(10), max_workers=bad)
    assert not os.path.exists(os.path.join(path, "_delta_log"))


def test_split_parts_roll_at_the_target_size_and_keep_input_order(tmp_path, monkeypatch):
    """Each part of a split write rolls to new files at target_file_size; the `Add` actions still list the
    files in the input order of their rows (part by part), and every file's stats are exact."""
    monkeypatch.setattr(files_mod, "SPLIT_MIN_BYTES", 256 * 1024)
    data = _data().drop_columns(["p"])
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, data, target_file_size=48 * 1024, max_workers=4)
    assert len(actions_of(path, 0, "add")) > 8
    assert pa.concat_tables(_files_in_add_order(path, 0)).equals(data)
    _check_exact_stats(path, 0)
    assert_version(path, 0, data)


@pytest.mark.parametrize("partition_by", [[], ["p"]])
def test_split_tail_encodes_the_last_buffer_on_every_worker(tmp_path, monkeypatch, partition_by):
    """With ``split_tail`` (copy-on-write DML), rows that reach the writer as many small batches and are
    still buffered when it closes are cut into up to max_workers consecutive files: per partition, the
    files in `Add` order give back the input row for row, and each file's stats are exact. With one
    worker, or without the option, the same batches make one file per partition."""
    monkeypatch.setattr(files_mod, "SPLIT_MIN_BYTES", 64 * 1024)
    data = _data()
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, data.slice(0, 0), partition_by=partition_by or None)
    snapshot = lakehouse.DeltaTable(path).snapshot
    counts = {}
    for workers, split in ((4, True), (1, True), (4, False)):
        writer = DataFileWriter.for_snapshot(snapshot, FileWriteOptions(split_tail=split), max_workers=workers)
        for start in range(0, data.num_rows, 1000):
            writer.write(data.slice(start, 1000))
        adds = writer.close()
        counts[(workers, split)] = len(adds)
        root = Path(path)
        for value in (["p0", "p1", "p2"] if partition_by else [None]):
            mine = [a for a in adds if a.partition_values.get("p") == value] if value else adds
            got = pa.concat_tables([pq.read_table(root / a.path) for a in mine])
            want = data.filter(pc.equal(data["p"], value)).drop_columns(["p"]) if value else data
            assert got.equals(want)
        for a in adds:
            stats, rows = json.loads(a.stats or "{}"), pq.read_table(root / a.path)
            assert stats["numRecords"] == rows.num_rows
            assert stats["minValues"]["id"] == pc.min(rows["id"]).as_py()
            assert stats["maxValues"]["id"] == pc.max(rows["id"]).as_py()
            assert stats["nullCount"]["s"] == rows["s"].null_count
    parts = 3 if partition_by else 1
    assert counts[(4, True)] == 4 * parts  # every partition's buffer is over 4 split units
    assert counts[(1, True)] == counts[(4, False)] == parts


@pytest.mark.parametrize("partition_by", [[], ["p"]])
def test_lanes_put_each_write_whole_into_one_of_at_most_max_workers_files(tmp_path, monkeypatch, partition_by):
    """With ``lanes`` (copy-on-write DML's kept rows, one batch per rewritten file), every write lands
    whole and in order in one file; a second file is opened only once the first holds SPLIT_MIN_BYTES, and
    a partition never gets more than max_workers files (lanes and split tails together); the assignment
    depends on sizes alone, so two runs give the same files. Stats are exact; one worker makes one file."""
    monkeypatch.setattr(files_mod, "SPLIT_MIN_BYTES", 64 * 1024)
    data = _data()
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, data.slice(0, 0), partition_by=partition_by or None)
    snapshot = lakehouse.DeltaTable(path).snapshot
    batches = [data.slice(start, size) for start, size in zip(range(0, data.num_rows, 3000), [500, 3000, 1200] * 50)]
    layouts = []
    for workers in (3, 3, 1):
        writer = DataFileWriter.for_snapshot(snapshot, FileWriteOptions(split_tail=True, lanes=True),
                                             max_workers=workers)
        for batch in batches:
            writer.write(batch)
        adds = writer.close()
        root = Path(path)
        files = {a.path: pq.read_table(root / a.path) for a in adds}
        for value in (["p0", "p1", "p2"] if partition_by else [None]):
            mine = [a.path for a in adds if a.partition_values.get("p") == value] if value else list(files)
            assert 1 <= len(mine) <= workers
            if workers == 1:
                assert len(mine) == 1
            got = pa.concat_tables([files[p] for p in mine]).sort_by("id")
            written = pa.concat_tables(batches)
            want = written.filter(pc.equal(written["p"], value)).drop_columns(["p"]) if value else written
            assert got.equals(want.sort_by("id"))
            # Each batch's rows (of this partition) are one contiguous run of one file, in input order.
            where = {}
            for p in mine:
                ids = files[p]["id"].to_pylist()
                where.update({i: (p, k) for k, i in enumerate(ids)})
            for batch in batches:
                part = batch.filter(pc.equal(batch["p"], value)) if value else batch
                ids = part["id"].to_pylist()
                if ids:
                    homes = {where[i][0] for i in ids}
                    assert len(homes) == 1
                    positions = [where[i][1] for i in ids]
                    assert positions == list(range(positions[0], positions[0] + len(ids)))
        if workers == 3:
            assert len(adds) > (3 if partition_by else 1)  # the rows were spread over lanes
        for a in adds:
            stats, rows = json.loads(a.stats or "{}"), files[a.path]
            assert stats["numRecords"] == rows.num_rows
            assert stats["minValues"]["id"] == pc.min(rows["id"]).as_py()
            assert stats["maxValues"]["id"] == pc.max(rows["id"]).as_py()
        layouts.append(sorted(tuple(sorted(set(files[p]["id"].to_pylist()))[:3]) for p in files))
    assert layouts[0] == layouts[1]
