"""OPTIMIZE (bin-packing): many small files per partition become few, rows unchanged at every version
(lakehouse and delta-rs), `dataChange=false` on every add and remove, operation OPTIMIZE with its metrics;
target size; partition filters as SQL and as tuples; a second run commits nothing; files with deletion
vectors rewritten with the deletions applied; concurrency with appends and with a DELETE of the same files."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import CommitError, ConcurrentDeleteReadError, ConcurrentDeleteDeleteError, InvalidArgumentError
from lakehouse.operations.delete import delete as delete_at
from lakehouse.operations.optimize import commit_optimize, execute_bin, plan_optimize
from tests.support.log import actions_of, active_paths, commit_info, data_files_on_disk, log_state as log_files
from tests.support.rows import Model, lh_rows

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string()), ("p", pa.string())])
PARTS = ["a", "b", "c"]


def batch(start: int, n: int, parts: list[str] = PARTS) -> pa.Table:
    """``n`` rows with ids from ``start``, spread over ``parts`` round-robin, a few null values."""
    rows = [{"id": i, "v": None if i % 7 == 0 else f"v{i}", "p": parts[i % len(parts)]} for i in range(start, start + n)]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def small_files_table(path: str, *, appends: int = 5, partitioned: bool = True, config: dict | None = None,
                      rows_per_append: int = 12) -> Model:
    """A table of ``appends`` + 1 small writes (one file per partition per write); returns its model."""
    model = Model(path)
    rows: list[dict] = []
    for i in range(appends + 1):
        t = batch(i * rows_per_append, rows_per_append)
        res = lakehouse.write_delta(path, t, mode="append" if i else "error",
                                    partition_by=["p"] if partitioned else None, configuration=None if i else config)
        rows += t.to_pylist()
        model.record(res.version, rows)
    return model


def files_per_partition(path: str) -> dict[str | None, int]:
    """How many active files each partition value of ``p`` has."""
    counts: dict[str | None, int] = {}
    for pv in lakehouse.DeltaTable(path).files()["partition_values"].to_pylist():
        key = dict(pv).get("p")
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
def test_compacts_small_files_and_commits_without_data_change(tmp_path: Path, partitioned: bool) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, partitioned=partitioned)
    before_files = active_paths(path)
    assert len(before_files) == (18 if partitioned else 6)
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.compact()
    assert m.version == 6 and dt.version == 6
    model.same_as(6, 5)
    after_files = active_paths(path)
    assert len(after_files) == (3 if partitioned else 1)
    if partitioned:
        assert files_per_partition(path) == {"a": 1, "b": 1, "c": 1}
    assert m.num_files_removed == len(before_files) and m.num_files_added == len(after_files)
    assert m.num_rows_rewritten == 72
    assert m.partitions_optimized == (3 if partitioned else 1)
    adds, removes = actions_of(path, 6, "add"), actions_of(path, 6, "remove")
    assert sorted(r["path"] for r in removes) == before_files
    assert sorted(a["path"] for a in adds) == after_files
    assert all(a["dataChange"] is False for a in adds)
    assert all(r["dataChange"] is False for r in removes)
    assert all(r.get("deletionTimestamp") for r in removes)
    stats = [a["stats"] for a in adds]
    assert all(s is not None for s in stats)
    info = commit_info(path, 6)
    assert info["operation"] == "OPTIMIZE"
    assert info["operationParameters"]["zOrderBy"] in ([], "[]")
    metrics = info["operationMetrics"]
    assert int(metrics["numRemovedFiles"]) == len(before_files) and int(metrics["numAddedFiles"]) == len(after_files)
    assert dt.history(1)[0].operation == "OPTIMIZE"
    # partition values are kept by the new files
    if partitioned:
        for a in adds:
            assert a["path"].startswith(f"p={a['partitionValues']['p']}/")
    model.check()


def test_second_run_commits_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=3)
    assert lakehouse.DeltaTable(path).optimize.compact().version == 4
    model.same_as(4, 3)
    log_before = log_files(path)
    disk_before = data_files_on_disk(path)
    dt = lakehouse.DeltaTable(path)
    again = dt.optimize.compact()
    assert again.version is None and dt.version == 4
    assert again.num_files_added == 0 and again.num_files_removed == 0
    assert log_files(path) == log_before
    assert data_files_on_disk(path) == disk_before, "a run with nothing to do must not write files"
    model.check()


def test_single_small_file_per_partition_is_left_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, batch(0, 30), partition_by=["p"])
    m = lakehouse.DeltaTable(path).optimize.compact()
    assert m.version is None and lakehouse.DeltaTable(path).version == 0


def _noisy_batch(start: int, n: int, seed: int) -> pa.Table:
    """Rows with incompressible strings, so file sizes track row counts."""
    rnd = random.Random(seed)
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                     "v": pa.array(["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40))
                                    for _ in range(n)]),
                     "p": pa.array(["a"] * n)})


def test_target_size_is_respected_roughly(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    rows: list[dict] = []
    for i in range(24):
        t = _noisy_batch(i * 100, 100, i)
        res = lakehouse.write_delta(path, t, mode="append" if i else "error", partition_by=["p"])
        rows += t.to_pylist()
        model.record(res.version, rows)
    sizes = lakehouse.DeltaTable(path).files()["size"].to_pylist()
    total = sum(sizes)
    target = max(sizes) * 5  # about 5 input files per output file
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.compact(target_size=target)
    model.same_as(m.version, m.version - 1)
    out = lakehouse.DeltaTable(path).files()["size"].to_pylist()
    assert m.num_files_removed == 24
    assert len(out) == m.num_files_added
    # about total/target files, each at most about the target
    assert total // target <= len(out) <= 2 * (total // target) + 2, (len(out), total, target)
    assert max(out) <= target * 1.3, (max(out), target)
    model.check()


def test_target_size_from_table_property(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for i in range(12):
        lakehouse.write_delta(path, _noisy_batch(i * 100, 100, i), mode="append" if i else "error")
    size = max(lakehouse.DeltaTable(path).files()["size"].to_pylist())
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.targetFileSize": str(size * 3)})
    m = dt.optimize.compact()
    assert m.version is not None
    assert m.num_files_added >= 3, f"a 3-file target over 12 files gave {m.num_files_added} file(s)"
    assert lh_rows(path) == lh_rows(path, m.version - 1)


@pytest.mark.parametrize("target_size", [0, -5, 1.5, "10MB", True])
def test_bad_target_size_refused(tmp_path: Path, target_size) -> None:
    path = str(tmp_path / "t")
    small_files_table(path, appends=1)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.compact(target_size=target_size)
    assert lakehouse.DeltaTable(path).version == 1


PARTITION_FILTERS = [
    ("p = 'a'", {"a"}),
    ([("p", "=", "a")], {"a"}),
    ([("p", "in", ["a", "c"])], {"a", "c"}),
    ("p IN ('b', 'c')", {"b", "c"}),
    ([("p", "!=", "b")], {"a", "c"}),
    ([("p", "not in", ["a"])], {"b", "c"}),
    ("p > 'a'", {"b", "c"}),
    ([("p", "=", "zzz")], set()),
]


@pytest.mark.parametrize("partition_filter,touched", PARTITION_FILTERS, ids=[str(f[0]) for f in PARTITION_FILTERS])
def test_partition_filter_touches_only_matching_partitions(tmp_path: Path, partition_filter, touched: set) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2)
    before = lakehouse.DeltaTable(path).files().to_pylist()
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.compact(partition_filters=partition_filter)
    if not touched:
        assert m.version is None and dt.version == 2
        return
    assert m.version == 3
    model.same_as(3, 2)
    counts = files_per_partition(path)
    for p in PARTS:
        assert counts[p] == (1 if p in touched else 3), counts
    removed = {r["path"] for r in actions_of(path, 3, "remove")}
    assert removed == {f["path"] for f in before if dict(f["partition_values"])["p"] in touched}
    assert m.partitions_optimized == len(touched)
    params = commit_info(path, 3)["operationParameters"]
    assert params["predicate"] not in ([], "[]", None), "the partition filter belongs in the commit's predicate"
    model.check()


@pytest.mark.parametrize("partition_filter", [
    "id > 3", [("v", "=", "x")], "p = 'a' AND id = 1", [("p", "~", "a")], [("p", "=")], ["p = 'a'"],
])
def test_partition_filter_on_data_columns_or_malformed_is_refused(tmp_path: Path, partition_filter) -> None:
    path = str(tmp_path / "t")
    small_files_table(path, appends=1)
    log_before = log_files(path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.compact(partition_filters=partition_filter)
    assert log_files(path) == log_before


def test_partition_filter_with_null_partition(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    rows: list[dict] = []
    for i in range(3):
        t = batch(i * 10, 10, parts=["a", None])  # type: ignore[list-item]
        res = lakehouse.write_delta(path, t, mode="append" if i else "error", partition_by=["p"])
        rows += t.to_pylist()
        model.record(res.version, rows)
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.compact(partition_filters="p IS NULL")
    assert m.version == 3
    model.same_as(3, 2)
    assert files_per_partition(path) == {None: 1, "a": 3}
    model.check()


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
def test_files_with_deletion_vectors_are_rewritten_with_deletions_applied(tmp_path: Path, partitioned: bool) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, partitioned=partitioned,
                              config={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    doomed = [i for i in range(36) if i % 5 == 1]
    d = dt.delete(f"id IN ({', '.join(map(str, doomed))})")
    assert d.num_deletion_vectors_added > 0, "the table should have deletion vectors before OPTIMIZE"
    model.record(3, [r for r in model.latest() if r["id"] not in doomed])
    assert lakehouse.DeltaTable(path).files()["deletion_vector"].null_count < len(active_paths(path))
    dvs_before = len(active_paths(path)) - lakehouse.DeltaTable(path).files()["deletion_vector"].null_count
    m = dt.optimize.compact()
    assert m.version == 4
    model.same_as(4, 3)
    files = lakehouse.DeltaTable(path).files()
    assert files["deletion_vector"].null_count == files.num_rows, "no deletion vector may survive OPTIMIZE"
    assert m.num_deletion_vectors_removed == dvs_before
    removes = actions_of(path, 4, "remove")
    assert sum(1 for r in removes if r.get("deletionVector")) == dvs_before, "removes must name the DV they drop"
    assert all(r["dataChange"] is False for r in removes)
    assert int(commit_info(path, 4)["operationMetrics"]["numDeletionVectorsRemoved"]) == dvs_before
    stats_rows = sum(int(json.loads(s)["numRecords"]) for s in files["stats"].to_pylist())
    assert stats_rows == len(model.latest())
    model.check()


def test_one_large_file_with_a_deletion_vector_is_rewritten_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    t = batch(0, 200, parts=["a"])
    lakehouse.write_delta(path, t, configuration={"delta.enableDeletionVectors": "true"})
    model.record(0, t)
    dt = lakehouse.DeltaTable(path)
    dt.delete("id < 10")
    model.record(1, [r for r in t.to_pylist() if r["id"] >= 10])
    assert len(active_paths(path)) == 1
    m = dt.optimize.compact(target_size=1, min_file_size=1)  # the file is "large": only its DV makes it a candidate
    assert m.version == 2 and m.num_files_removed == 1 and m.num_deletion_vectors_removed == 1
    model.same_as(2, 1)
    model.check()


def test_optimize_writes_no_change_data(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, config={"delta.enableChangeDataFeed": "true"})
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.compact()
    model.same_as(m.version, 2)
    assert not actions_of(path, m.version, "cdc")
    assert not any(p.startswith("_change_data") for p in data_files_on_disk(path))
    cdf = dt.load_cdf(m.version, m.version)
    assert cdf.num_rows == 0, f"OPTIMIZE changed no data but the feed shows {cdf.num_rows} rows"
    model.check()


def test_optimize_is_allowed_on_append_only_tables(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, config={"delta.appendOnly": "true"})
    m = lakehouse.DeltaTable(path).optimize.compact()
    assert m.version == 3
    model.same_as(3, 2)
    model.check()


def test_metrics_match_the_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    small_files_table(path, appends=3)
    before = lakehouse.DeltaTable(path).files()
    m = lakehouse.DeltaTable(path).optimize.compact(max_concurrent_tasks=1)
    after = lakehouse.DeltaTable(path).files()
    assert m.num_bytes_removed == sum(before["size"].to_pylist())
    assert m.num_bytes_added == sum(after["size"].to_pylist())
    assert m.total_considered_files == before.num_rows and m.total_files_skipped == 0
    metrics = commit_info(path, m.version)["operationMetrics"]
    assert int(metrics["numRemovedBytes"]) == m.num_bytes_removed
    assert int(metrics["numAddedBytes"]) == m.num_bytes_added


# -- concurrency ---------------------------------------------------------------------------------------------
def _planned(path: str):
    """Plan and execute (but do not commit) an OPTIMIZE of the latest version."""
    snap = lakehouse.DeltaTable(path).snapshot
    plan = plan_optimize(snap)
    assert plan.bins, "the test table must have something to optimize"
    return snap, plan, [execute_bin(snap, plan, b) for b in plan.bins]


def test_concurrent_append_and_optimize_both_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2)
    snap, plan, results = _planned(path)
    extra = batch(1000, 9)
    res = lakehouse.write_delta(path, extra, mode="append")
    assert res.version == 3
    model.record(3, model.latest() + extra.to_pylist())
    m = commit_optimize(snap, plan, results)
    assert m.version == 4
    model.same_as(4, 3)
    # the appended files are still active next to the compacted ones
    appended = {a["path"] for a in actions_of(path, 3, "add")}
    assert appended <= set(active_paths(path))
    assert len(active_paths(path)) == 3 + len(appended)
    model.check()


@pytest.mark.parametrize("op", ["delete", "update"])
@pytest.mark.parametrize("dv", [False, True], ids=["cow", "dv"])
def test_optimize_loses_to_a_concurrent_change_of_a_compacted_file(tmp_path: Path, op: str, dv: bool) -> None:
    """With deletion vectors the winner keeps the same path (new DV): OPTIMIZE must still see the conflict,
    or the compacted file would bring the deleted row back next to the file with its DV."""
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, config={"delta.enableDeletionVectors": str(dv).lower()})
    snap, plan, results = _planned(path)
    dt = lakehouse.DeltaTable(path)
    if op == "delete":
        dt.delete("id = 13")
        model.record(3, [r for r in model.latest() if r["id"] != 13])
    else:
        dt.update(updates={"v": "'changed'"}, predicate="id = 13")
        model.record(3, [{**r, "v": "changed"} if r["id"] == 13 else r for r in model.latest()])
    log_before = log_files(path)
    with pytest.raises(CommitError) as err:
        commit_optimize(snap, plan, results)
    assert isinstance(err.value, (ConcurrentDeleteReadError, ConcurrentDeleteDeleteError)), type(err.value)
    assert log_files(path) == log_before, "the losing OPTIMIZE must not commit"
    model.check()


def test_delete_loses_to_a_concurrent_optimize_of_its_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2)
    stale = lakehouse.DeltaTable(path).snapshot
    m = lakehouse.DeltaTable(path).optimize.compact()
    assert m.version == 3
    model.same_as(3, 2)
    with pytest.raises(CommitError):
        delete_at(stale, "id = 13")  # planned against version 2: its file was compacted away
    assert lakehouse.DeltaTable(path).version == 3
    model.check()
    # retried on the new version, the DELETE works
    lakehouse.DeltaTable(path).delete("id = 13")
    model.record(4, [r for r in model.latest() if r["id"] != 13])
    model.check()


def test_optimize_of_other_partitions_does_not_conflict_with_delete(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2)
    snap = lakehouse.DeltaTable(path).snapshot
    full = plan_optimize(snap)
    # only partition a's bins (not partition_filter: this test is about conflicts, not filtering)
    plan = dataclasses.replace(full, bins=tuple(b for b in full.bins if b.partition_values.get("p") == "a"))
    assert len(plan.bins) == 1
    results = [execute_bin(snap, plan, b) for b in plan.bins]
    lakehouse.DeltaTable(path).delete("p = 'b' AND id = 13")  # 13 % 3 == 1 -> partition b
    model.record(3, [r for r in model.latest() if r["id"] != 13])
    m = commit_optimize(snap, plan, results)
    assert m.version == 4
    model.same_as(4, 3)
    model.check()


def test_two_concurrent_optimizes_of_the_same_files(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2)
    snap, plan, results = _planned(path)
    assert lakehouse.DeltaTable(path).optimize.compact().version == 3
    model.same_as(3, 2)
    log_before = log_files(path)
    with pytest.raises(CommitError):
        commit_optimize(snap, plan, results)
    assert log_files(path) == log_before
    model.check()


@pytest.mark.parametrize("config,columns", [
    ({"delta.dataSkippingNumIndexedCols": "1"}, {"id"}),
    ({"delta.dataSkippingStatsColumns": "v"}, {"v"}),
])
def test_rewritten_files_keep_the_table_stats_columns(tmp_path: Path, config: dict, columns: set) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, config=config)
    m = lakehouse.DeltaTable(path).optimize.compact()
    model.same_as(m.version, 2)
    for a in actions_of(path, m.version, "add"):
        stats = json.loads(a["stats"])
        assert set(stats["minValues"]) == columns and set(stats["nullCount"]) == columns
        assert stats["numRecords"] > 0
    model.check()


def test_partition_filter_on_a_renamed_partition_column(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = small_files_table(path, appends=2, config={"delta.columnMapping.mode": "name"})
    dt = lakehouse.DeltaTable(path)
    dt.alter.rename_column("p", "part")
    model.record(3, [{"id": r["id"], "v": r["v"], "part": r["p"]} for r in model.latest()])
    m = dt.optimize.compact(partition_filters=[("part", "=", "a")])
    assert m.version == 4 and m.num_files_removed == 3
    model.same_as(4, 3)
    phys = lakehouse.DeltaTable(path).delta_schema.field("part").metadata["delta.columnMapping.physicalName"]
    removed = [r["partitionValues"] for r in actions_of(path, 4, "remove")]
    assert all(pv == {phys: "a"} for pv in removed), "partition values stay keyed by the physical name"
    assert all(a["partitionValues"] == {phys: "a"} for a in actions_of(path, 4, "add"))
    model.check()
