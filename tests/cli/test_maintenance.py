"""`optimize`, `vacuum`, `restore`, `checkpoint` and `cleanup` change real tables: each test checks the
command's JSON against the table as the Python API sees it afterwards."""

from __future__ import annotations

from pathlib import Path


import lakehouse
from tests.support.cli import encoded_rows, lakehouse_cli, sorted_rows, visible, write_table


def rows(uri: str, version: int | None = None) -> list[dict]:
    return sorted_rows(encoded_rows(lakehouse.DeltaTable(uri, version=version).to_arrow()))


def test_optimize_compacts_with_a_progress_bar_and_keeps_rows(tmp_path):
    uri = write_table(tmp_path / "t", batches=3)  # 3 small files in each of 2 partitions
    before = rows(uri)
    # TTY_COMPATIBLE makes rich treat stderr as a terminal, so the bar is drawn as a user would see it.
    run = lakehouse_cli("optimize", uri, "--target-size", "64MiB", "--max-concurrent-tasks", "2",
                        env={"TTY_COMPATIBLE": "1"})
    assert "OPTIMIZE committed version 3." in visible(run.out)
    assert "optimize: bins rewritten" in visible(run.err) and "2/2" in visible(run.err)
    assert len(lakehouse.DeltaTable(uri).files()) == 2
    metrics = lakehouse_cli("optimize", uri, "--z-order", "id,day", "--min-file-size", "1MiB", "--json").json()
    table = lakehouse.DeltaTable(uri)
    assert metrics["version"] == table.version == 4 and metrics["z_order_by"] == ["id", "day"]
    assert metrics["num_files_removed"] == 2 and metrics["num_files_added"] == len(table.files()) == 2
    assert rows(uri) == before


def test_optimize_partition_filter(tmp_path):
    uri = write_table(tmp_path / "t", batches=2)
    metrics = lakehouse_cli("optimize", uri, "--partition-filter", "p = 'a'", "--json").json()
    assert metrics["partitions_optimized"] == 1 and metrics["num_files_removed"] == 2
    values = sorted(map(str, lakehouse.DeltaTable(uri).files()["partition_values"].to_pylist()))
    assert values == sorted(map(str, [[("p", "a")], [("p", "b")], [("p", "b")]]))


def test_optimize_with_nothing_to_do_commits_nothing(tmp_path):
    uri = write_table(tmp_path / "t", batches=1)
    assert "Nothing to optimize" in lakehouse_cli("optimize", uri).out
    assert lakehouse.DeltaTable(uri).version == 0


def test_vacuum_dry_run_lists_and_yes_deletes(tmp_path):
    uri = write_table(tmp_path / "t", batches=1)
    lakehouse.write_delta(uri, lakehouse.DeltaTable(uri).to_arrow(), mode="overwrite")  # version 0's files go stale
    stale = sorted(lakehouse.DeltaTable(uri, version=0).files()["path"].to_pylist())
    short = ("--retention-hours", "0", "--no-enforce-retention")
    dry = lakehouse_cli("vacuum", uri, *short, "--json").json()
    assert dry["dry_run"] and sorted(dry["files"]) == stale
    api = lakehouse.DeltaTable(uri).vacuum(retention_hours=0, enforce_retention_duration=False)  # also a dry run
    assert sorted(api.files) == stale and dry["num_bytes"] == api.num_bytes
    assert all((Path(uri) / p).exists() for p in stale)
    table_out = lakehouse_cli("vacuum", uri, *short, "--mode", "lite").out
    assert "Dry run: would delete 2 files" in table_out and stale[0] in table_out and "--yes" in table_out
    done = lakehouse_cli("vacuum", uri, *short, "--yes", "--json").json()
    assert not done["dry_run"] and sorted(done["files"]) == stale
    assert not any((Path(uri) / p).exists() for p in stale)
    assert (done["start_version"], done["end_version"]) == (2, 3)
    assert rows(uri) == rows(uri, 1)  # the table still reads


def test_vacuum_below_the_retention_minimum_is_refused_with_the_cli_option(tmp_path):
    uri = write_table(tmp_path / "t", batches=1)
    run = lakehouse_cli("vacuum", uri, "--retention-hours", "1", expect=2)
    assert run.err.startswith("error: retention of 1 hour is below the table's delta.deletedFileRetentionDuration "
                              "(7 days)")
    assert "Help: pass --no-enforce-retention" in run.err and "Traceback" not in run.err


def test_restore_by_version_and_by_timestamp(tmp_path):
    uri = write_table(tmp_path / "t", batches=2)
    lakehouse.DeltaTable(uri).delete("p = 'a'")  # version 2
    metrics = lakehouse_cli("restore", uri, "--version", "0", "--json").json()
    assert metrics["version"] == 3 and metrics["restored_version"] == 0
    assert rows(uri) == rows(uri, 0)
    when = lakehouse.DeltaTable(uri).history()[-2].timestamp.isoformat()  # version 1's commit time
    out = lakehouse_cli("restore", uri, "--timestamp", when).out
    assert "Restored version 1 as version 4." in out
    assert rows(uri) == rows(uri, 1)
    usage = lakehouse_cli("restore", uri, expect=2)
    assert "exactly one of --version V or --timestamp ISO" in usage.err


def test_checkpoint_then_cleanup(tmp_path):
    uri = write_table(tmp_path / "t", batches=3)
    made = lakehouse_cli("checkpoint", uri, "--json").json()
    log = Path(uri) / "_delta_log"
    assert made == {"version": 2, "checkpoint": "00000000000000000002.checkpoint.parquet"}
    assert (log / made["checkpoint"]).exists()
    cleaned = lakehouse_cli("cleanup", uri, "--retention-hours", "0", "--json").json()
    assert cleaned["deleted"] and cleaned["num_deleted"] == len(cleaned["deleted"])
    assert not any((log / name).exists() for name in cleaned["deleted"])
    assert "00000000000000000000.json" in cleaned["deleted"]
    assert len(rows(uri)) == 9 and lakehouse.DeltaTable(uri).version == 2


def test_convert_makes_a_partitioned_parquet_folder_a_table(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.dataset as ds

    data = pa.table({"id": list(range(6)), "day": [datetime.date(2024, 1, 1 + i % 2) for i in range(6)]})
    folder = tmp_path / "raw"
    ds.write_dataset(data, folder, format="parquet",
                     partitioning=ds.partitioning(pa.schema([("day", pa.date32())]), flavor="hive"))
    out = lakehouse_cli("convert", str(folder), "--partition-by", "day:date32", "--json").json()
    table = lakehouse.DeltaTable(folder)
    assert out == {"version": 0, "num_files": 2, "partition_columns": ["day"]}
    assert sorted(table.to_arrow().column("id").to_pylist()) == list(range(6))
    # A second convert finds the log and refuses (exit 2, one error line); a bad type is a usage error.
    again = lakehouse_cli("convert", str(folder), expect=2)
    assert again.err.startswith("error:") and "_delta_log" in again.err
    lakehouse_cli("convert", str(tmp_path / "other"), "--partition-by", "day:nosuchtype", expect=2)


def test_no_progress_bar_without_a_terminal_or_with_no_progress(tmp_path):
    uri = write_table(tmp_path / "t", batches=3)
    # stderr is a pipe here: a bar would be noise in a log, so nothing is drawn.
    plain = lakehouse_cli("optimize", uri, "--target-size", "64MiB")
    assert plain.err == "" and "OPTIMIZE committed version 3." in plain.out
    # On a terminal (TTY_COMPATIBLE makes rich treat stderr as one) --no-progress still draws nothing.
    for args in (("vacuum", uri, "--retention-hours", "0", "--no-enforce-retention", "--yes"), ("verify", uri)):
        quiet = lakehouse_cli(*args, "--no-progress", env={"TTY_COMPATIBLE": "1"})
        assert quiet.err == "" and quiet.out
    drawn = lakehouse_cli("verify", uri, env={"TTY_COMPATIBLE": "1"})
    assert "verify: data files checked" in visible(drawn.err) and "2/2" in visible(drawn.err)
