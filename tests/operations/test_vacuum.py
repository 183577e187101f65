"""VACUUM: dry runs delete nothing; retention below the table's minimum is refused unless asked for;
`full` removes old unreferenced files (orphans of failed writes, files of expired tombstones, stale
deletion-vector and change-data files) and keeps everything a version inside the window needs; hidden paths
and `_delta_log` are never touched, but `_change_data` and `_col=value` partition directories are handled;
`lite` removes only tombstoned files; VACUUM START/END commits; the table reads the same afterwards in
lakehouse and delta-rs, at every version the window protects."""

from __future__ import annotations

import datetime as dt_mod
import json
import os
import shutil
import time
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import DataFileNotFoundError, InvalidArgumentError, LakehouseError
from tests.support.log import (
    DAY_S,
    active_paths,
    actions_of,
    age_all_data_files,
    age_files,
    commit_actions,
    commit_info,
    data_files_on_disk,
    log_state as log_files,
    shift_tombstones,
)
from tests.support.rows import Model, dl_rows, lh_rows

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])
OLD = 10 * DAY_S  # older than the default 7-day retention
RECENT = 3600  # an hour ago: inside it


def rows(start: int, n: int, parts: str = "ab") -> pa.Table:
    """``n`` rows with ids from ``start`` over partitions ``parts``."""
    return pa.Table.from_pylist([{"id": i, "v": i * 10, "p": parts[i % len(parts)]} for i in range(start, start + n)],
                                schema=SCHEMA)


def age_commit(path: str, version: int, seconds: float) -> None:
    """Make commit ``version`` look ``seconds`` old: its commit file's mtime and its removes' timestamps."""
    when = time.time() - seconds
    shift_tombstones(path, version, int(when * 1000))
    f = Path(path) / "_delta_log" / f"{version:020d}.json"
    os.utime(f, (when, when))


def history_table(path: str, *, partition: str = "p", config: dict | None = None) -> Model:
    """v0 write, v1 append, v2 replaceWhere of partition 'a', v3 copy-on-write DELETE of one row.
    Commits 0-2 are made 10 days old, commit 3 an hour old; every data file is 10 days old."""
    schema = pa.schema([("id", pa.int64()), ("v", pa.int64()), (partition, pa.string())])

    def t(start: int, n: int, parts: str = "ab") -> pa.Table:
        """``n`` rows with ids from ``start``, partition column named ``partition``."""
        return pa.Table.from_pylist([{"id": i, "v": i * 10, partition: parts[i % len(parts)]}
                                     for i in range(start, start + n)], schema=schema)

    model = Model(path)
    lakehouse.write_delta(path, t(0, 10), partition_by=[partition], configuration=config)
    model.record(0, t(0, 10))
    lakehouse.write_delta(path, t(10, 10), mode="append")
    model.record(1, t(0, 20))
    lakehouse.write_delta(path, t(100, 4, "a"), mode="overwrite", predicate=f"{partition} = 'a'")
    kept = [r for r in model.latest() if r[partition] != "a"] + t(100, 4, "a").to_pylist()
    model.record(2, kept)
    lakehouse.DeltaTable(path).delete("id = 11")
    model.record(3, [r for r in kept if r["id"] != 11])
    for v in range(3):
        age_commit(path, v, OLD + (3 - v))
    age_commit(path, 3, RECENT)
    age_all_data_files(path, OLD + 10)
    return model


def files_removed_at(path: str, version: int) -> set[str]:
    """Table-relative (unescaped) paths removed by commit ``version``."""
    from urllib.parse import unquote
    return {unquote(r["path"]) for r in actions_of(path, version, "remove")}


def plant(path: str, rel: str, seconds_old: float) -> str:
    """An unreferenced file at ``rel`` (a copy of some data file) made ``seconds_old`` old."""
    src = next(iter(sorted(p for p in data_files_on_disk(path) if p.endswith(".parquet"))))
    dest = Path(path) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(path) / src, dest)
    age_files(path, [rel], seconds_old)
    return rel


def test_dry_run_lists_and_deletes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    stale = files_removed_at(path, 2)
    orphan = plant(path, "p=a/part-orphan-old.parquet", OLD)
    disk, log = data_files_on_disk(path), log_files(path)
    dt = lakehouse.DeltaTable(path)
    m = dt.vacuum()
    assert m.dry_run and m.mode == "full" and m.start_version is None
    assert set(m.files) == stale | {orphan}
    assert m.num_files == len(m.files)
    assert m.num_bytes == sum((Path(path) / f).stat().st_size for f in m.files)
    assert data_files_on_disk(path) == disk and log_files(path) == log
    assert dt.version == 3
    lite = dt.vacuum(mode="lite")
    assert set(lite.files) == stale and data_files_on_disk(path) == disk


@pytest.mark.parametrize("hours", [0, 1, 167.9])
def test_retention_below_the_minimum_is_refused(tmp_path: Path, hours: float) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    disk, log = data_files_on_disk(path), log_files(path)
    for dry_run in (True, False):
        with pytest.raises(InvalidArgumentError, match="enforce_retention_duration"):
            lakehouse.DeltaTable(path).vacuum(retention_hours=hours, dry_run=dry_run)
    assert data_files_on_disk(path) == disk and log_files(path) == log
    # allowed when asked for explicitly
    m = lakehouse.DeltaTable(path).vacuum(retention_hours=hours, enforce_retention_duration=False)
    assert m.dry_run and m.retention_hours == hours


def test_the_table_property_sets_the_minimum(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.deletedFileRetentionDuration": "interval 2 hours"})
    m = dt.vacuum(retention_hours=2)  # not below the table's own minimum
    assert m.retention_hours == 2
    with pytest.raises(InvalidArgumentError):
        dt.vacuum(retention_hours=1)
    # the default is the property: commit 3's tombstones (an hour old) are inside 2 hours
    assert set(dt.vacuum().files) == files_removed_at(path, 2)


@pytest.mark.parametrize("bad", [-1, "24", True, None, float("nan"), float("inf")])
def test_bad_arguments_are_refused(tmp_path: Path, bad) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    if bad is None:
        with pytest.raises(InvalidArgumentError):
            lakehouse.DeltaTable(path).vacuum(mode="everything")  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).vacuum(retention_hours=bad, enforce_retention_duration=False)


def test_full_vacuum_deletes_old_unreferenced_files_and_keeps_the_window(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = history_table(path)
    stale = files_removed_at(path, 2)  # tombstoned 10 days ago
    young = files_removed_at(path, 3)  # tombstoned an hour ago
    assert stale and young
    old_orphans = {plant(path, "p=a/part-orphan-old.parquet", OLD), plant(path, "part-root-orphan.parquet", OLD),
                   plant(path, "p=zz/part-new-partition-dir.parquet", OLD), plant(path, "nested/deep/x.bin", OLD)}
    fresh_orphan = plant(path, "p=b/part-in-flight.parquet", 60)  # a write in flight: inside the window
    hidden = {plant(path, "_tmp/part-x.parquet", OLD), plant(path, ".hidden/part-x.parquet", OLD),
              plant(path, "p=a/.part-x.parquet.crc", OLD), plant(path, "p=b/_SUCCESS", OLD),
              plant(path, "_delta_index/idx.parquet", OLD)}
    log_before = log_files(path)
    dt = lakehouse.DeltaTable(path)
    m = dt.vacuum(dry_run=False)
    assert set(m.files) == stale | old_orphans
    assert m.start_version == 4 and m.end_version == 5 and dt.version == 5
    disk = data_files_on_disk(path)
    assert not (stale | old_orphans) & disk
    assert young <= disk and fresh_orphan in disk and hidden <= disk
    assert set(active_paths_unquoted(path)) <= disk
    # _delta_log: every old file unchanged, only the two VACUUM commits added
    log_after = log_files(path)
    assert {k: v for k, v in log_after.items() if k in log_before} == log_before
    assert sorted(set(log_after) - set(log_before)) == [f"{4:020d}.json", f"{5:020d}.json"]
    # versions whose removals are all inside the window read exactly; older ones name the missing file
    model.same_as(4, 3)
    model.same_as(5, 3)
    model.check([2, 3, 4, 5])
    for v in (0, 1):
        with pytest.raises(DataFileNotFoundError):
            lakehouse.DeltaTable(path, version=v).to_arrow()
    # a second run has nothing left to delete
    again = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert again.num_files == 0 and again.end_version == 7


def active_paths_unquoted(path: str) -> list[str]:
    """Active data files as paths on disk (the log stores them URI-encoded)."""
    from urllib.parse import unquote
    return [unquote(p) for p in active_paths(path)]


def test_vacuum_start_and_end_commits(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    stale = files_removed_at(path, 2)
    m = lakehouse.DeltaTable(path).vacuum(retention_hours=24, enforce_retention_duration=False, dry_run=False)
    start, end = commit_info(path, 4), commit_info(path, 5)
    assert start["operation"] == "VACUUM START" and end["operation"] == "VACUUM END"
    for v in (4, 5):
        assert [list(a) for a in commit_actions(path, v)] == [["commitInfo"]], "VACUUM commits hold commitInfo only"
    sp = start["operationParameters"]
    assert json.loads(str(sp["retentionCheckEnabled"]).lower()) is False
    assert int(sp["specifiedRetentionMillis"]) == 24 * 3600 * 1000
    assert int(sp["defaultRetentionMillis"]) == 7 * 24 * 3600 * 1000
    assert int(start["operationMetrics"]["numFilesToDelete"]) == len(stale) == m.num_files
    assert int(start["operationMetrics"]["sizeOfDataToDelete"]) == m.num_bytes
    assert end["operationParameters"]["status"] == "COMPLETED"
    assert int(end["operationMetrics"]["numDeletedFiles"]) == len(stale)
    ops = [h.operation for h in lakehouse.DeltaTable(path).history()]
    assert ops[:2] == ["VACUUM END", "VACUUM START"]
    dl_ops = [h["operation"] for h in deltalake.DeltaTable(path).history()]
    assert dl_ops[:2] == ["VACUUM END", "VACUUM START"]


def test_dry_run_commits_nothing_even_with_files_to_delete(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    assert lakehouse.DeltaTable(path).vacuum().num_files > 0
    assert lakehouse.DeltaTable(path).version == 3


def test_lite_vacuum_removes_only_tombstoned_files(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = history_table(path)
    stale, young = files_removed_at(path, 2), files_removed_at(path, 3)
    orphan = plant(path, "p=a/part-orphan-old.parquet", OLD)
    m = lakehouse.DeltaTable(path).vacuum(mode="lite", dry_run=False)
    assert set(m.files) == stale and m.mode == "lite"
    disk = data_files_on_disk(path)
    assert orphan in disk and young <= disk and not stale & disk
    model.same_as(4, 3)
    model.same_as(5, 3)
    model.check([2, 3, 4, 5])
    # a full run afterwards takes the orphan
    assert set(lakehouse.DeltaTable(path).vacuum().files) == {orphan}


def test_lite_and_full_agree_with_delta_rs(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    plant(path, "p=a/part-orphan-old.parquet", OLD)
    ours_lite = set(lakehouse.DeltaTable(path).vacuum(mode="lite").files)
    ours_full = set(lakehouse.DeltaTable(path).vacuum().files)
    theirs_lite = {os.path.relpath(p, path) if os.path.isabs(p) else p
                   for p in deltalake.DeltaTable(path).vacuum(retention_hours=168, dry_run=True)}
    theirs_full = {os.path.relpath(p, path) if os.path.isabs(p) else p
                   for p in deltalake.DeltaTable(path).vacuum(retention_hours=168, dry_run=True, full=True)}
    assert ours_lite == theirs_lite
    assert ours_full == theirs_full


def test_files_tombstoned_then_restored_are_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, rows(0, 6), partition_by=["p"])
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, rows(50, 6), mode="overwrite")
    model.record(1, rows(50, 6))
    lakehouse.DeltaTable(path).restore(0)  # re-adds version 0's files, tombstoned at version 1
    model.same_as(2, 0)
    for v in range(3):
        age_commit(path, v, OLD - v)
    age_all_data_files(path, OLD + 10)
    m = lakehouse.DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert set(m.files) == files_removed_at(path, 2)
    assert not set(m.files) & set(active_paths_unquoted(path))
    model.same_as(3, 2)
    model.same_as(4, 2)
    model.check([0, 2, 3, 4])


def test_escaped_partition_paths(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    schema = pa.schema([("id", pa.int64()), ("p", pa.string()), ("ts", pa.timestamp("us", tz="UTC"))])
    when = dt_mod.datetime(2024, 1, 1, 1, 2, 3, tzinfo=dt_mod.timezone.utc)
    data = pa.Table.from_pylist([{"id": i, "p": p, "ts": when} for i, p in
                                 enumerate(["a b", "x%y", "c=d/e", "ü:z", "%20", None])], schema=schema)
    model = Model(path)
    lakehouse.write_delta(path, data, partition_by=["p", "ts"])
    model.record(0, data)
    lakehouse.DeltaTable(path).delete("p = 'x%y' OR p = 'a b'")
    model.record(1, [r for r in data.to_pylist() if r["p"] not in ("x%y", "a b")])
    age_commit(path, 0, OLD)
    age_commit(path, 1, OLD - 1)
    age_all_data_files(path, OLD + 10)
    m = lakehouse.DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert set(m.files) == files_removed_at(path, 1) and len(m.files) == 2
    assert set(active_paths_unquoted(path)) <= data_files_on_disk(path)
    model.same_as(2, 1)
    model.same_as(3, 1)
    model.check([1, 2, 3])


@pytest.mark.parametrize("partition", ["_p", "__q"])
def test_partition_directories_starting_with_underscore(tmp_path: Path, partition: str) -> None:
    path = str(tmp_path / "t")
    model = history_table(path, partition=partition)
    stale = files_removed_at(path, 2)
    assert all(s.startswith(f"{partition}=") for s in stale)
    orphan = plant(path, f"{partition}=b/part-orphan.parquet", OLD)
    hidden = plant(path, f"{partition}=b/_hidden.parquet", OLD)
    m = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert set(m.files) == stale | {orphan}
    disk = data_files_on_disk(path)
    assert hidden in disk and set(active_paths_unquoted(path)) <= disk
    model.same_as(4, 3)
    model.same_as(5, 3)
    model.check([2, 3, 4, 5])


def test_stale_deletion_vector_files_are_removed(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data = rows(0, 300, "a")
    lakehouse.write_delta(path, data, configuration={"delta.enableDeletionVectors": "true"})
    model.record(0, data)
    disk0 = data_files_on_disk(path)
    dt = lakehouse.DeltaTable(path)
    # scattered deletions: bitmaps too large to be stored inline in the log
    first = list(range(1, 300, 3))
    second = list(range(2, 300, 3))
    dt.delete(f"id IN ({', '.join(map(str, first))})")
    model.record(1, [r for r in data.to_pylist() if r["id"] not in first])
    disk1 = data_files_on_disk(path)
    dt.delete(f"id IN ({', '.join(map(str, second))})")
    model.record(2, [r for r in model.latest() if r["id"] not in second])
    disk2 = data_files_on_disk(path)
    dv1, dv2 = disk1 - disk0, disk2 - disk1
    assert len(dv1) == 1 and len(dv2) == 1, "each DELETE should write one deletion vector file"
    assert any(r.get("deletionVector") for r in actions_of(path, 2, "remove")), "the old DV is tombstoned"
    dt.optimize.compact()  # rewrites the file without DVs: the data file and dv2 are tombstoned now
    model.same_as(3, 2)
    for v in range(3):
        age_commit(path, v, OLD - v)
    age_commit(path, 3, RECENT)
    age_all_data_files(path, OLD + 10)
    m = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert set(m.files) == dv1, "only the DV tombstoned 10 days ago may go"
    disk = data_files_on_disk(path)
    assert dv2 <= disk and disk0 <= disk
    model.same_as(4, 3)
    model.same_as(5, 3)
    model.check([2, 3, 4, 5])
    with pytest.raises(LakehouseError):
        lakehouse.DeltaTable(path, version=1).to_arrow()
    # everything old now: only the optimized file remains
    for v in range(3, 6):
        age_commit(path, v, OLD - 10 - v)
    m2 = lakehouse.DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert set(m2.files) == disk0 | dv2
    assert data_files_on_disk(path) == set(active_paths_unquoted(path))
    model.same_as(6, 3)
    model.same_as(7, 3)
    model.check([3, 4, 5, 6, 7])


def test_change_data_files_of_commits_in_the_window_stay(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data = rows(0, 12)
    lakehouse.write_delta(path, data, partition_by=["p"], configuration={"delta.enableChangeDataFeed": "true"})
    model.record(0, data)
    dt = lakehouse.DeltaTable(path)
    dt.delete("id = 1")
    model.record(1, [r for r in data.to_pylist() if r["id"] != 1])
    dt.update(updates={"v": "v + 1"}, predicate="id = 2")
    model.record(2, [{**r, "v": r["v"] + 1} if r["id"] == 2 else r for r in model.latest()])
    dt.delete("id = 4")
    model.record(3, [r for r in model.latest() if r["id"] != 4])
    cdc = {v: {a["path"] for a in actions_of(path, v, "cdc")} for v in (1, 2, 3)}
    assert all(cdc.values()), "DELETE/UPDATE with the change data feed on must write _change_data files"
    assert all(p.startswith("_change_data/") for ps in cdc.values() for p in ps)
    feed_before = dt.load_cdf(2, 3).drop_columns(["_commit_timestamp"]).sort_by(
        [("_commit_version", "ascending"), ("id", "ascending"), ("_change_type", "ascending")]).to_pylist()
    for v in (0, 1):
        age_commit(path, v, OLD - v)
    age_commit(path, 2, RECENT + 1)
    age_commit(path, 3, RECENT)
    age_all_data_files(path, OLD + 10)  # the change data files themselves are old
    m = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert cdc[1] <= set(m.files), "change data of a commit outside the window goes"
    assert not (cdc[2] | cdc[3]) & set(m.files), "change data of commits inside the window stays"
    disk = data_files_on_disk(path)
    assert (cdc[2] | cdc[3]) <= disk and not cdc[1] & disk
    feed_after = lakehouse.DeltaTable(path).load_cdf(2, 3).drop_columns(["_commit_timestamp"]).sort_by(
        [("_commit_version", "ascending"), ("id", "ascending"), ("_change_type", "ascending")]).to_pylist()
    assert feed_after == feed_before
    dl_feed = pa.table(deltalake.DeltaTable(path).load_cdf(starting_version=2, ending_version=3).read_all())
    assert sorted(dl_feed.column("id").to_pylist()) == sorted(r["id"] for r in feed_before)
    model.same_as(4, 3)
    model.same_as(5, 3)
    model.check([1, 2, 3, 4, 5])


def test_vacuum_of_a_table_written_by_delta_rs(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data = pa.Table.from_pylist([{"id": i, "v": i, "p": ["a b", "c%d", "é"][i % 3]} for i in range(9)], schema=SCHEMA)
    deltalake.write_deltalake(path, data, partition_by=["p"])
    model.record(0, data)
    deltalake.write_deltalake(path, data.slice(0, 3), mode="overwrite")
    model.record(1, data.slice(0, 3))
    deltalake.write_deltalake(path, data.slice(3, 3), mode="append")
    model.record(2, data.slice(0, 6))
    age_commit(path, 0, OLD)
    age_commit(path, 1, OLD - 1)
    age_commit(path, 2, RECENT)
    age_all_data_files(path, OLD + 10)
    m = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert set(m.files) == files_removed_at(path, 1)
    assert set(active_paths_unquoted(path)) <= data_files_on_disk(path)
    model.same_as(3, 2)
    model.same_as(4, 2)
    model.check([1, 2, 3, 4])


def test_empty_table_and_nothing_to_delete(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=SCHEMA)
    m = lakehouse.DeltaTable(path).vacuum(dry_run=False)
    assert m.num_files == 0 and m.files == ()
    assert lakehouse.DeltaTable(path).version == m.end_version == 2
    assert lh_rows(path) == [] and dl_rows(path) == []


def test_tombstones_read_from_a_checkpoint_keep_their_times(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, rows(0, 6), partition_by=["p"])
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, rows(50, 4), mode="overwrite")
    model.record(1, rows(50, 4))
    stale = files_removed_at(path, 1)
    age_commit(path, 0, 3 * DAY_S)
    age_commit(path, 1, 2 * DAY_S)
    age_all_data_files(path, 4 * DAY_S)
    lakehouse.DeltaTable(path).create_checkpoint()
    assert any(n.endswith(".checkpoint.parquet") for n in log_files(path))
    # the snapshot now comes from the checkpoint: its tombstones must still say "2 days ago"
    kept = lakehouse.DeltaTable(path).vacuum(retention_hours=72, enforce_retention_duration=False, dry_run=False)
    assert kept.num_files == 0, f"tombstones 2 days old are inside a 3-day window, yet {kept.files} went"
    model.same_as(2, 1)
    model.same_as(3, 1)
    model.check()  # version 0 still reads
    gone = lakehouse.DeltaTable(path).vacuum(retention_hours=24, enforce_retention_duration=False, dry_run=False,
                                             mode="lite")
    assert set(gone.files) == stale
    model.same_as(4, 1)
    model.same_as(5, 1)
    model.check([1, 2, 3, 4, 5])


def test_a_huge_retention_keeps_everything_or_is_refused_cleanly(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    try:
        m = lakehouse.DeltaTable(path).vacuum(retention_hours=1e12)
    except InvalidArgumentError:
        return
    assert m.num_files == 0, "nothing is older than a million centuries"


@pytest.mark.parametrize("hours,text", [(0, "0 seconds"), (1, "1 hour"), (167.9, "6 days 23 hours 54 minutes")])
def test_retention_message_prints_durations_as_people_write_them(tmp_path: Path, hours: float, text: str) -> None:
    path = str(tmp_path / "t")
    history_table(path)
    with pytest.raises(InvalidArgumentError) as e:
        lakehouse.DeltaTable(path).vacuum(retention_hours=hours)
    assert str(e.value).startswith(f"retention of {text} is below the table's delta.deletedFileRetentionDuration "
                                   "(7 days);")
    assert "0:00:00" not in str(e.value)
