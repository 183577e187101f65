"""OPTIMIZE on several threads (issue 15): the bin's files are read in groups on ``max_workers`` threads and
written in plan order, so the output files are the same row for row whatever the number of workers; rows
keep the bin's file order; statistics are exact; deletion vectors are applied; the read-ahead stays within
its window; a failed read aborts with no file left and nothing committed; files whose Parquet types differ
from the table's are conformed. The plan (on Arrow columns, typed `Add`s) equals a plain model of the rules;
the metrics' repr summarises the per-file sizes."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import DataFileNotFoundError, InvalidArgumentError
from lakehouse.operations import optimize as optimize_module
from lakehouse.operations.optimize import OptimizeMetrics, plan_optimize
from lakehouse.protocol.actions import Add
from tests.support.log import actions_of, active_paths, data_files_on_disk, log_state
from tests.support.rows import Model

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string()), ("x", pa.float64()), ("p", pa.string())])


def _rows(start: int, n: int, part: str = "a") -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": [None if i % 7 == 0 else f"v{i % 13}" for i in ids],
                     "x": [float(i % 11) / 3 for i in ids], "p": [part] * n}, schema=SCHEMA)


def many_files(path: str, files: int = 24, *, partitioned: bool = False, config: dict | None = None) -> Model:
    """``files`` appends of 10 to 10 + files rows each (sizes differ, so the plan orders them), one file each."""
    model = Model(path)
    rows: list[dict] = []
    start = 0
    for k in range(files):
        t = _rows(start, 10 + k, "a" if not partitioned or k % 3 else "b")
        start += t.num_rows
        res = lakehouse.write_delta(path, t, mode="append" if k else "error",
                                    partition_by=["p"] if partitioned else None, configuration=None if k else config)
        rows += t.to_pylist()
        model.record(res.version, rows)
    return model


def _added(path: str, version: int) -> list[tuple[tuple, list[dict]]]:
    """The files commit ``version`` added: (partition values, rows in file order), in commit order."""
    out = []
    for a in actions_of(path, version, "add"):
        rows = pq.read_table(os.path.join(path, unquote(a["path"]))).to_pylist()
        out.append((tuple(sorted(a["partitionValues"].items())), rows))
    return out


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read groups of three files, so a bin of a few dozen files spreads over several groups and workers."""
    monkeypatch.setattr(optimize_module, "READ_GROUP_FILES", 3)


@pytest.mark.parametrize("partitioned", [False, True], ids=["unpartitioned", "partitioned"])
def test_output_files_do_not_depend_on_the_number_of_workers(tmp_path: Path, small_groups: None,
                                                              partitioned: bool) -> None:
    base = str(tmp_path / "base")
    model = many_files(base, partitioned=partitioned)
    outputs = {}
    for workers in (1, 2, 4):
        path = str(tmp_path / f"w{workers}")
        shutil.copytree(base, path)
        m = lakehouse.DeltaTable(path).optimize.compact(max_workers=workers)
        assert m.version == model_version(model) + 1 and m.num_files_removed == len(active_paths(base))
        outputs[workers] = _added(path, m.version)
        copy = Model(path)
        copy.versions = dict(model.versions)
        copy.same_as(m.version, m.version - 1)
        copy.check([m.version])
    assert outputs[1] == outputs[2] == outputs[4]


def model_version(model: Model) -> int:
    """The newest version the model records."""
    return max(model.versions)


def test_rows_keep_the_bin_order_and_stats_are_exact(tmp_path: Path, small_groups: None) -> None:
    path = str(tmp_path / "t")
    many_files(path)
    snap = lakehouse.DeltaTable(path)._snapshot
    plan = plan_optimize(snap)
    assert len(plan.bins) == 1 and len(plan.bins[0].files) == 24
    sizes = [a.size for a in plan.bins[0].files]
    assert sizes == sorted(sizes, reverse=True), "the plan feeds files largest first (first-fit decreasing)"
    want = pa.concat_tables([pq.read_table(os.path.join(path, unquote(a.path))) for a in plan.bins[0].files])
    m = lakehouse.DeltaTable(path).optimize.compact(max_workers=4)
    (add,) = actions_of(path, m.version, "add")
    got = pq.read_table(os.path.join(path, unquote(add["path"])))
    assert got.to_pylist() == want.to_pylist(), "rows must come out in the bin's file order"
    stats = json.loads(add["stats"])
    assert stats["numRecords"] == want.num_rows
    for col in ("id", "x", "v"):
        values = want.column(col)
        assert stats["nullCount"][col] == values.null_count
        mm = pc.min_max(values)
        assert stats["minValues"][col] == mm["min"].as_py() and stats["maxValues"][col] == mm["max"].as_py()


def test_deletion_vectors_are_applied_by_parallel_readers(tmp_path: Path, small_groups: None) -> None:
    path = str(tmp_path / "t")
    model = many_files(path, partitioned=True, config={"delta.enableDeletionVectors": "true"})
    doomed = [i for i in range(0, 600, 7)]
    d = lakehouse.DeltaTable(path).delete(f"id IN ({', '.join(map(str, doomed))})")
    assert d.num_deletion_vectors_added > 3
    model.record(d.version, [r for r in model.latest() if r["id"] not in doomed])
    m = lakehouse.DeltaTable(path).optimize.compact(max_concurrent_tasks=4)
    assert m.num_deletion_vectors_removed == d.num_deletion_vectors_added
    assert not any(a.get("deletionVector") for a in actions_of(path, m.version, "add"))
    model.same_as(m.version, d.version)
    model.check([d.version, m.version])


def test_read_ahead_stays_within_its_window(tmp_path: Path, small_groups: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "t")
    model = many_files(path, files=30)
    lock = threading.Lock()
    counts = {"started": 0, "written": 0, "ahead": 0, "reading": 0, "concurrent": 0}
    read_group = optimize_module._BinReader.read_group
    write_whole = optimize_module._write_whole

    def counting_read(self, files):  # type: ignore[no-untyped-def]
        with lock:
            counts["started"] += 1
            counts["reading"] += 1
            counts["concurrent"] = max(counts["concurrent"], counts["reading"])
            counts["ahead"] = max(counts["ahead"], counts["started"] - counts["written"])
        try:
            return read_group(self, files)
        finally:
            with lock:
                counts["reading"] -= 1

    def counting_write(writer, table):  # type: ignore[no-untyped-def]
        with lock:
            counts["written"] += 1
        write_whole(writer, table)

    monkeypatch.setattr(optimize_module._BinReader, "read_group", counting_read)
    monkeypatch.setattr(optimize_module, "_write_whole", counting_write)
    m = lakehouse.DeltaTable(path).optimize.compact(max_concurrent_tasks=3)
    assert counts["started"] == counts["written"] == 10  # 30 files in groups of 3
    # at most max_workers groups read ahead of the one being written, never more than max_workers at once
    assert counts["ahead"] <= 3 + 1 and counts["concurrent"] <= 3
    model.same_as(m.version, m.version - 1)
    model.check([m.version])


def test_a_failed_read_aborts_leaving_no_file_and_no_commit(tmp_path: Path, small_groups: None) -> None:
    path = str(tmp_path / "t")
    many_files(path)
    victim = sorted(active_paths(path))[5]
    os.remove(os.path.join(path, unquote(victim)))
    before_log, before_files = log_state(path), data_files_on_disk(path)
    with pytest.raises(DataFileNotFoundError) as info:
        lakehouse.DeltaTable(path).optimize.compact(max_concurrent_tasks=4)
    assert unquote(victim) in str(info.value)
    assert log_state(path) == before_log, "a failed OPTIMIZE committed something"
    assert data_files_on_disk(path) == before_files, "a failed OPTIMIZE left new files behind"


def test_files_with_other_parquet_types_are_conformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file written with large_string and int32 where the table has string and long goes through the
    conforming reader; the other files are read directly; all rows come out with the table's types."""
    src = tmp_path / "parquet"
    src.mkdir()
    plain = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": pa.array(["a", None, "c"], pa.string())})
    other = pa.table({"id": pa.array([4, 5], pa.int32()), "s": pa.array(["d", "e"], pa.large_string())})
    pq.write_table(plain, src / "a.parquet")
    pq.write_table(plain.slice(0, 2), src / "b.parquet")
    dt = lakehouse.DeltaTable.convert_to_delta(str(src))
    pq.write_table(other, src / "c.parquet")  # added by a later append of raw files: an older writer's types
    add = {"add": {"path": "c.parquet", "partitionValues": {}, "size": os.path.getsize(src / "c.parquet"),
                   "modificationTime": 1, "dataChange": True}}
    log = src / "_delta_log" / f"{dt.version + 1:020d}.json"
    log.write_text(json.dumps({"commitInfo": {"operation": "WRITE"}}) + "\n" + json.dumps(add) + "\n")
    conformed: list[str] = []
    read_file = optimize_module.read_file
    monkeypatch.setattr(optimize_module, "read_file", lambda snap, task, fields: (conformed.append(task.path),
                                                                                read_file(snap, task, fields))[1])
    m = lakehouse.DeltaTable(str(src)).optimize.compact(max_concurrent_tasks=2)
    assert conformed == ["c.parquet"], "only the file with other types needs the conforming reader"
    assert m.num_files_removed == 3 and m.num_files_added == 1
    got = lakehouse.DeltaTable(str(src)).to_arrow().sort_by("id")
    assert got.column("id").to_pylist() == [1, 1, 2, 2, 3, 4, 5]
    assert got.column("s").to_pylist() == ["a", "a", None, None, "c", "d", "e"]
    assert got.schema.field("s").type == pa.string() and got.schema.field("id").type == pa.int64()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_max_workers_is_refused(tmp_path: Path, bad) -> None:
    path = str(tmp_path / "t")
    many_files(path, files=3)
    with pytest.raises(InvalidArgumentError):
        optimize_module.optimize(lakehouse.DeltaTable(path)._snapshot, max_workers=bad)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.compact(max_concurrent_tasks=bad)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.z_order(["id"], max_workers=bad)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).vacuum(max_workers=bad)
    assert lakehouse.DeltaTable(path).version == 2


def test_max_workers_and_max_concurrent_tasks_must_agree(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    many_files(path, files=3)
    snap = lakehouse.DeltaTable(path)._snapshot
    with pytest.raises(InvalidArgumentError, match="same thread budget"):
        optimize_module.optimize(snap, max_workers=2, max_concurrent_tasks=3)
    with pytest.raises(InvalidArgumentError, match="same thread budget"):
        lakehouse.DeltaTable(path).optimize.compact(max_workers=1, max_concurrent_tasks=2)
    m = lakehouse.DeltaTable(path).optimize.compact(max_workers=2, max_concurrent_tasks=2)
    assert m.version == 3


# -- the plan, on Arrow columns, against a plain model of the rules -----------------------------------------
def _model_plan(rows: list[dict], target: int, min_size: int, z: bool) -> list[tuple[dict, list[str]]]:
    """The rules of spec/maintenance.md on plain dict rows: per partition (ordered by the text of the
    sorted partition values), Z-order takes the partition unless every file is Z-cubed on the same
    columns without a DV; bin-packing packs files below ``min_size`` or with a DV, largest first, first
    fit, and drops a bin of one file without a DV."""
    parts: dict[tuple, list[dict]] = {}
    for r in rows:
        parts.setdefault(tuple(sorted(dict(r["partitionValues"] or []).items())), []).append(r)
    out = []
    for key, files in sorted(parts.items(), key=lambda kv: str(kv[0])):
        if z:
            if not all(dict(f["tags"] or []).get("ZCUBE_ZORDER_BY") == '["id"]' and not f["deletionVector"]
                       for f in files):
                out.append((dict(key), [f["path"] for f in files]))
            continue
        small = [f for f in files if f["size"] < min_size or f["deletionVector"]]
        bins: list[list[dict]] = []
        room: list[int] = []
        for f in sorted(small, key=lambda f: -f["size"]):
            for i, free in enumerate(room):
                if f["size"] <= free:
                    bins[i].append(f)
                    room[i] -= f["size"]
                    break
            else:
                bins.append([f])
                room.append(target - f["size"])
        out += [(dict(key), [f["path"] for f in b]) for b in bins if len(b) > 1 or b[0]["deletionVector"]]
    return out


def test_plan_equals_the_model_of_the_rules(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    many_files(path, files=30, partitioned=True, config={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    dt.delete("id % 17 = 3")
    dt.optimize.z_order(["id"], partition_filters=[("p", "=", "b")])  # some files now carry Z-cube tags
    lakehouse.write_delta(path, _rows(5000, 5, "b"), mode="append")
    snap = lakehouse.DeltaTable(path)._snapshot
    rows = snap.adds.to_pylist()
    sizes = sorted(r["size"] for r in rows)
    for target in (1, sizes[0], sizes[len(sizes) // 2], 3 * sizes[-1], 10 * sum(sizes)):
        for min_size in (None, 0, sizes[len(sizes) // 3]):
            plan = plan_optimize(snap, target_size=target, min_file_size=min_size)
            got = [(dict(b.partition_values), [a.path for a in b.files]) for b in plan.bins]
            assert got == _model_plan(rows, target, target if min_size is None else min_size, z=False), (target, min_size)
            assert all(isinstance(a, Add) for b in plan.bins for a in b.files)
            assert plan.skipped_files == plan.considered_files - sum(len(b.files) for b in plan.bins)
    zplan = plan_optimize(snap, z_order_by=["id"])
    assert [(dict(b.partition_values), [a.path for a in b.files]) for b in zplan.bins] == _model_plan(rows, 1, 1, z=True)
    assert [dict(b.partition_values) for b in zplan.bins] == [{"p": "a"}, {"p": "b"}], "b has a new untagged file"


def test_metrics_repr_summarises_the_file_sizes() -> None:
    m = OptimizeMetrics(7, 3000, 9000, 10, 20, 30, 1, 3, 9000, 0, 2, duration_ms=5,
                        files_added_sizes=tuple(range(100, 3100)))
    text = repr(m)
    assert text.startswith("OptimizeMetrics(version=7, num_files_added=3000, num_files_removed=9000")
    assert "files_added_sizes=<3000 files, 100..3,099 bytes>" in text and "2999" not in text
    assert "files_added_sizes=<none>" in repr(optimize_module.skipped_optimize())
