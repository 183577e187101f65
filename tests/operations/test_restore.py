"""RESTORE to a version and to a timestamp: rows, schema, partitioning and properties equal the target's,
the protocol is never downgraded, deletion vectors are restored exactly, a file VACUUM removed fails the
restore (naming the file, table unchanged) unless ``ignore_missing_files``; every version read by
lakehouse and delta-rs afterwards."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import (
    AppendOnlyError,
    CommitError,
    DataFileNotFoundError,
    LakehouseError,
    VersionNotFoundError,
)
from lakehouse.operations.restore import restore as restore_at
from tests.support.log import (
    DAY_S,
    actions_of,
    age_table,
    commit_actions,
    commit_info,
    data_files_on_disk,
    log_state as log_files,
)
from tests.support.rows import Model

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])


def rows(start: int, n: int, parts: str = "ab") -> list[dict]:
    """``n`` rows with ids from ``start``."""
    return [{"id": i, "v": i * 10, "p": parts[i % len(parts)]} for i in range(start, start + n)]


def tbl(r: list[dict], schema: pa.Schema = SCHEMA) -> pa.Table:
    """The rows as a pyarrow Table of ``schema``."""
    return pa.Table.from_pylist(r, schema=schema)


def evolving_table(path: str) -> Model:
    """v0 write (with a property), v1 append, v2 DELETE, v3 append adding column `w`, v4 property change."""
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 6)), partition_by=["p"], configuration={"delta.appendOnly": "false",
                                                                                     "custom.owner": "alice"})
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, tbl(rows(6, 4)), mode="append")
    model.record(1, rows(0, 10))
    lakehouse.DeltaTable(path).delete("id = 3")
    model.record(2, [r for r in rows(0, 10) if r["id"] != 3])
    wide = pa.schema(list(SCHEMA) + [pa.field("w", pa.string())])
    new = [{**r, "w": f"w{r['id']}"} for r in rows(20, 2)]
    lakehouse.write_delta(path, tbl(new, wide), mode="append", schema_mode="merge")
    model.record(3, [{**r, "w": None} for r in model.versions[2]] + new)
    lakehouse.DeltaTable(path).alter.set_table_properties({"custom.owner": "bob", "delta.enableChangeDataFeed": "true"})
    model.same_as(4, 3)
    return model


@pytest.mark.parametrize("target", [0, 1, 2])
def test_restore_to_a_version(tmp_path: Path, target: int) -> None:
    path = str(tmp_path / "t")
    model = evolving_table(path)
    dt = lakehouse.DeltaTable(path)
    m = dt.restore(target)
    assert m.version == 5 and dt.version == 5 and m.restored_version == target
    model.same_as(5, target)
    old = lakehouse.DeltaTable(path, version=target)
    assert dt.schema == old.schema, "the target's schema comes back (column w disappears)"
    assert dt.partition_columns == old.partition_columns
    assert dt.metadata.configuration == old.metadata.configuration
    assert dt.metadata.id == old.metadata.id
    info = commit_info(path, 5)
    assert info["operation"] == "RESTORE"
    assert int(info["operationParameters"]["version"]) == target
    adds, removes = actions_of(path, 5, "add"), actions_of(path, 5, "remove")
    assert all(a["dataChange"] is True for a in adds) and all(r["dataChange"] is True for r in removes)
    assert m.num_restored_files == len(adds) and m.num_removed_files == len(removes)
    assert m.num_of_files_after_restore == len(old.files())
    assert sorted(lakehouse.DeltaTable(path).files()["path"].to_pylist()) == sorted(old.files()["path"].to_pylist())
    assert int(info["operationMetrics"]["numRestoredFiles"]) == len(adds)
    model.check()


def test_restore_to_a_timestamp(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    for i in range(3):
        lakehouse.write_delta(path, tbl(rows(i * 5, 5)), mode="append" if i else "error")
        model.record(i, rows(0, (i + 1) * 5))
        time.sleep(0.05)
    times = {h.version: h.timestamp for h in lakehouse.DeltaTable(path).history()}
    when = times[1] + timedelta(milliseconds=1)
    dt = lakehouse.DeltaTable(path)
    m = dt.restore(when)
    assert m.version == 3 and m.restored_version == 1
    model.same_as(3, 1)
    assert "timestamp" in commit_info(path, 3)["operationParameters"]
    # ISO-8601 text, pointing at version 0
    iso = times[0].isoformat()
    m2 = dt.restore(iso)
    assert m2.version == 4 and m2.restored_version == 0
    model.same_as(4, 0)
    model.check()
    with pytest.raises(VersionNotFoundError):
        dt.restore(datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert lakehouse.DeltaTable(path).version == 4


def test_restore_to_the_current_state_commits_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, tbl(rows(0, 4)))
    lakehouse.write_delta(path, tbl(rows(4, 4)), mode="append")
    lakehouse.DeltaTable(path).alter.set_table_properties({"custom.x": "1"})
    dt = lakehouse.DeltaTable(path)
    v = dt.version
    m = dt.restore(v)
    assert m.version is None and lakehouse.DeltaTable(path).version == v
    # same files as version 1 but other metadata: only the metaData action is committed
    m1 = dt.restore(1)
    assert m1.version == v + 1 and m1.num_restored_files == 0 and m1.num_removed_files == 0
    assert "custom.x" not in lakehouse.DeltaTable(path).metadata.configuration


@pytest.mark.parametrize("bad", [99, -1, None])
def test_restore_to_a_missing_version_is_refused(tmp_path: Path, bad) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, tbl(rows(0, 4)))
    lakehouse.write_delta(path, tbl(rows(4, 4)), mode="append")
    before = log_files(path)
    with pytest.raises(LakehouseError):
        lakehouse.DeltaTable(path).restore(bad)
    assert log_files(path) == before


def test_protocol_is_never_downgraded(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 20)))
    model.record(0, rows(0, 20))
    dt = lakehouse.DeltaTable(path)
    p0 = dt.protocol
    dt.alter.set_table_properties({"delta.enableDeletionVectors": "true"})
    model.same_as(1, 0)
    dt.delete("id IN (1, 2, 3)")
    model.record(2, [r for r in rows(0, 20) if r["id"] not in (1, 2, 3)])
    upgraded = lakehouse.DeltaTable(path).protocol
    assert (upgraded.min_reader_version, upgraded.min_writer_version) == (3, 7)
    assert (p0.min_reader_version, p0.min_writer_version) < (3, 7)
    m = dt.restore(0)
    assert m.version == 3
    model.same_as(3, 0)
    after = lakehouse.DeltaTable(path)
    assert after.protocol == upgraded, "RESTORE must not downgrade the protocol"
    protocols = [a["protocol"] for a in commit_actions(path, 3) if "protocol" in a]
    assert all((p["minReaderVersion"], p["minWriterVersion"]) == (3, 7) for p in protocols)
    assert "delta.enableDeletionVectors" not in after.metadata.configuration
    assert after.files()["deletion_vector"].null_count == after.files().num_rows
    model.check()


def test_restore_needs_a_feature_the_current_protocol_lacks(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 20)), configuration={"delta.enableDeletionVectors": "true"})
    model.record(0, rows(0, 20))
    lakehouse.DeltaTable(path).delete("id = 5")  # a DV
    model.record(1, [r for r in rows(0, 20) if r["id"] != 5])
    # replace the table wholesale with one that never needed deletion vectors... the protocol stays
    lakehouse.write_delta(path, tbl(rows(100, 3)), mode="overwrite")
    model.record(2, rows(100, 3))
    m = lakehouse.DeltaTable(path).restore(1)
    assert m.version == 3
    model.same_as(3, 1)
    assert "deletionVectors" in (lakehouse.DeltaTable(path).protocol.reader_features or ())
    model.check()


def _dv_files(path: str) -> set[str]:
    """Deletion vector files on disk."""
    return {p for p in data_files_on_disk(path) if Path(p).name.startswith("deletion_vector")}


def test_restore_a_table_with_deletion_vectors(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data = rows(0, 200, "a")
    lakehouse.write_delta(path, tbl(data), configuration={"delta.enableDeletionVectors": "true"})
    model.record(0, data)
    dt = lakehouse.DeltaTable(path)
    first = set(range(0, 200, 3))
    dt.delete(f"id IN ({', '.join(map(str, sorted(first)))})")
    model.record(1, [r for r in data if r["id"] not in first])
    second = set(range(1, 200, 3))
    dt.delete(f"id IN ({', '.join(map(str, sorted(second)))})")
    model.record(2, [r for r in data if r["id"] not in first | second])
    dt.optimize.compact()
    model.same_as(3, 2)
    m = dt.restore(1)  # the same data file, with the first DV
    assert m.version == 4
    model.same_as(4, 1)
    restored = lakehouse.DeltaTable(path).files()
    assert restored.num_rows == 1 and restored["deletion_vector"][0].as_py() is not None
    m = dt.restore(2)  # same file, other DV: swapped by (path, DV) key
    assert m.version == 5 and m.num_removed_files == 1 and m.num_restored_files == 1
    model.same_as(5, 2)
    m = dt.restore(0)  # the file without a DV
    assert m.version == 6
    model.same_as(6, 0)
    model.check()
    assert lakehouse.DeltaTable(path).verify().ok


def _vacuumed(path: str) -> Model:
    """v0 write (2 partitions), v1 overwrite; everything aged and VACUUMed with zero retention (v2, v3):
    version 0's files are gone."""
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 6)), partition_by=["p"])
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, tbl(rows(0, 6, "a")), mode="overwrite", predicate="p = 'a'")
    model.record(1, [r for r in rows(0, 6) if r["p"] == "b"] + rows(0, 6, "a"))
    age_table(path, 30 * DAY_S)
    lakehouse.DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    model.same_as(2, 1)
    model.same_as(3, 1)
    return model


def test_restore_after_vacuum_names_the_missing_file_and_changes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = _vacuumed(path)
    gone = {unquote(r["path"]) for r in actions_of(path, 1, "remove")}
    assert gone
    assert not gone & data_files_on_disk(path)
    before = log_files(path)
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(DataFileNotFoundError) as err:
        dt.restore(0)
    assert err.value.path in gone
    assert err.value.path in str(err.value)
    assert log_files(path) == before and lakehouse.DeltaTable(path).version == 3 and dt.version == 3
    model.check([1, 2, 3])


def test_restore_ignoring_missing_files(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 6)), partition_by=["p"])
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, tbl(rows(10, 6)), mode="append")
    model.record(1, rows(0, 6) + rows(10, 6))
    lakehouse.write_delta(path, tbl(rows(50, 2)), mode="overwrite")
    model.record(2, rows(50, 2))
    # only version 0's b-partition file is lost
    lost = [unquote(p) for p in lakehouse.DeltaTable(path, version=0).files()["path"].to_pylist() if "p=b" in p]
    assert len(lost) == 1
    (Path(path) / lost[0]).unlink()
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(DataFileNotFoundError):
        dt.restore(1)
    m = dt.restore(1, ignore_missing_files=True)
    assert m.version == 3 and m.num_missing_files_skipped == 1
    model.record(3, [r for r in model.versions[1] if not (r["p"] == "b" and r["id"] < 6)])
    model.check([2, 3])
    assert lakehouse.DeltaTable(path).verify().ok
    after = lakehouse.DeltaTable(path).files()
    assert m.num_of_files_after_restore == after.num_rows
    assert m.table_size_after_restore == sum(after["size"].to_pylist()), "the skipped file is not in the table"
    assert int(commit_info(path, 3)["operationMetrics"]["tableSizeAfterRestore"]) == m.table_size_after_restore


def test_restore_partitioning_and_schema_after_a_schema_overwrite(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 6)), partition_by=["p"])
    model.record(0, rows(0, 6))
    other = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["x", "y"]})
    lakehouse.write_delta(path, other, mode="overwrite", schema_mode="overwrite", partition_by=[])
    model.record(1, other)
    assert lakehouse.DeltaTable(path).partition_columns == []
    dt = lakehouse.DeltaTable(path)
    dt.restore(0)
    model.same_as(2, 0)
    assert dt.partition_columns == ["p"] and dt.schema.names == ["id", "v", "p"]
    model.check()
    # and the restored table takes writes of the old shape
    lakehouse.write_delta(path, tbl(rows(100, 2)), mode="append")
    model.record(3, rows(0, 6) + rows(100, 2))
    model.check()


def test_restore_loses_to_a_concurrent_write(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 4)))
    model.record(0, rows(0, 4))
    lakehouse.write_delta(path, tbl(rows(4, 4)), mode="append")
    model.record(1, rows(0, 8))
    stale = lakehouse.DeltaTable(path).snapshot
    target = lakehouse.DeltaTable(path, version=0).snapshot
    lakehouse.DeltaTable(path).delete("id = 1")
    model.record(2, [r for r in rows(0, 8) if r["id"] != 1])
    with pytest.raises(CommitError):
        restore_at(stale, target)
    model.check()


def test_restore_that_removes_files_of_an_append_only_table_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, tbl(rows(0, 4)), configuration={"delta.appendOnly": "true"})
    lakehouse.write_delta(path, tbl(rows(4, 4)), mode="append")
    before = log_files(path)
    with pytest.raises(AppendOnlyError):
        lakehouse.DeltaTable(path).restore(0)
    assert log_files(path) == before


def test_restore_of_a_table_written_by_delta_rs(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    deltalake.write_deltalake(path, tbl(rows(0, 6)), partition_by=["p"])
    model.record(0, rows(0, 6))
    deltalake.DeltaTable(path).delete("id < 3")
    model.record(1, rows(3, 3))
    deltalake.write_deltalake(path, tbl(rows(10, 3)), mode="append")
    model.record(2, rows(3, 3) + rows(10, 3))
    m = lakehouse.DeltaTable(path).restore(0)
    assert m.version == 3
    model.same_as(3, 0)
    model.check()
    # delta-rs's own RESTORE back to version 2 reads the same in both engines
    deltalake.DeltaTable(path).restore(2)
    model.same_as(4, 2)
    model.check()


def test_restore_undoes_a_rename_on_a_column_mapped_table(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 5)), configuration={"delta.columnMapping.mode": "name"})
    model.record(0, rows(0, 5))
    dt = lakehouse.DeltaTable(path)
    dt.alter.rename_column("v", "value")
    model.record(1, [{"id": r["id"], "value": r["v"], "p": r["p"]} for r in rows(0, 5)])
    dt.restore(0)
    model.same_as(2, 0)
    assert lakehouse.DeltaTable(path).schema.names == ["id", "v", "p"]
    model.check()


def test_restore_when_only_the_deletion_vector_file_is_gone(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    data = rows(0, 300, "a")
    lakehouse.write_delta(path, tbl(data), configuration={"delta.enableDeletionVectors": "true"})
    model.record(0, data)
    dt = lakehouse.DeltaTable(path)
    before_dv = _dv_files(path)
    first = set(range(0, 300, 3))
    dt.delete(f"id IN ({', '.join(map(str, sorted(first)))})")
    model.record(1, [r for r in data if r["id"] not in first])
    [dv] = _dv_files(path) - before_dv
    dt.delete("id < 100")
    model.record(2, [r for r in data if r["id"] not in first and r["id"] >= 100])
    (Path(path) / dv).unlink()
    log_before = log_files(path)
    with pytest.raises(DataFileNotFoundError) as err:
        dt.restore(1)
    assert err.value.path == dv and dv in str(err.value)
    assert log_files(path) == log_before
    model.check([0, 2])


def test_restore_loses_to_a_concurrent_blind_append(tmp_path: Path) -> None:
    """spec/maintenance.md: RESTORE reads the whole table and conflicts with any data change; committing
    anyway leaves a table equal to no version (the target plus the appended rows)."""
    path = str(tmp_path / "t")
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 4)))
    model.record(0, rows(0, 4))
    lakehouse.write_delta(path, tbl(rows(4, 4)), mode="append")
    model.record(1, rows(0, 8))
    stale = lakehouse.DeltaTable(path).snapshot
    target = lakehouse.DeltaTable(path, version=0).snapshot
    lakehouse.write_delta(path, tbl(rows(8, 2)), mode="append")
    model.record(2, rows(0, 10))
    log_before = log_files(path)
    with pytest.raises(CommitError):
        restore_at(stale, target)
    assert log_files(path) == log_before
    model.check()
