"""Exit codes (0 success, 1 the operation found or caused a failure, 2 bad usage or input), one-line
errors without tracebacks unless --debug, `verify` on whole and damaged tables, and --storage-option."""

from __future__ import annotations

from pathlib import Path

import lakehouse
from tests.support.cli import lakehouse_cli, visible, write_table


def test_version_option():
    assert lakehouse_cli("--version").out.strip() == f"lakehouse, version {lakehouse.__version__}"


def test_bad_uri_is_bad_input(tmp_path):
    run = lakehouse_cli("describe", tmp_path / "missing", expect=2)
    first, help_line = run.err.splitlines()
    assert first.startswith("error: no Delta table at ") and help_line.startswith("Help: ")
    assert run.out == "" and "Traceback" not in run.err
    assert lakehouse_cli("verify", tmp_path / "missing", "--json", expect=2).err.startswith("error: no Delta table")


def test_unknown_column_in_filter_is_bad_input(events):
    run = lakehouse_cli("scan", events, "--filter", "nope > 1", expect=2)
    assert run.err.strip() == (
        "error: unknown column 'nope' in filter 'nope > 1'; the columns are "
        "id, p, amount, ts, day, raw, score, tags, note\nHelp: did you mean 'note'?")


def test_bad_filters_are_bad_input(events):
    for sql in ["id = p", "id", "1", "(" * 500 + "id = 1" + ")" * 500, "id +* 1"]:
        run = lakehouse_cli("scan", events, "--filter", sql, expect=2)
        # an unexpected (raw) exception would be reported as "unexpected <Class>: ... (run with --debug ...)"
        assert run.err.startswith("error: ") and "--debug" not in run.err and "Traceback" not in run.err


def test_version_outside_history_is_bad_input(events):
    assert "version 9 does not exist" in lakehouse_cli("files", events, "--version", "9", expect=2).err


def test_storage_options(events):
    bad = lakehouse_cli("describe", events, "--storage-option", "no-equals-sign", expect=2)
    assert "'no-equals-sign' is not KEY=VALUE" in bad.err and "Usage:" in bad.err
    # A real fsspec option and one of lakehouse's own reach the storage layer without harm.
    ok = lakehouse_cli("describe", events, "--storage-option", "auto_mkdir=false",
                       "--storage-option", "lakehouse.allow_unsafe_commits=true", "--json").json()
    assert ok["version"] == 2


def test_debug_shows_the_traceback(tmp_path):
    run = lakehouse_cli("history", tmp_path / "missing", "--debug", expect=2)
    assert "Traceback (most recent call last)" in run.err and "TableNotFoundError" in run.err
    assert run.err.rstrip().splitlines()[-2].startswith("error: no Delta table")


def test_verify_whole_then_damaged_table(tmp_path):
    uri = write_table(tmp_path / "t", batches=2)
    # Even when rich believes it writes to a terminal, --json output stays plain JSON.
    report = lakehouse_cli("verify", uri, "--json", env={"TTY_COMPATIBLE": "1"}).json()
    assert report["ok"] and report["problems"] == [] and report["checked"]["data_files"] == 4
    victim = lakehouse.DeltaTable(uri).files()["path"][0].as_py()
    (Path(uri) / victim).unlink()
    run = lakehouse_cli("verify", uri, expect=1, env={"TTY_COMPATIBLE": "1", "COLUMNS": "250"})
    out = visible(run.out)
    assert victim in out and "missing_file" in out and "1 problem in" in out
    assert "verify: data files checked" in visible(run.err) and "4/4" in visible(run.err)
    damaged = lakehouse_cli("verify", uri, "--json", expect=1).json()
    assert not damaged["ok"]
    assert [(p["kind"], p["path"], p["version"]) for p in damaged["problems"]] == [("missing_file", victim, 1)]
    # Reading the damaged table fails at run time (exit 1), naming the file on one line plus its Help.
    read = lakehouse_cli("scan", uri, "--json", expect=1)
    assert victim in visible(read.err).splitlines()[0] and "Traceback" not in read.err


def test_bad_table_properties_are_bad_input_and_change_nothing(tmp_path):
    uri = write_table(tmp_path / "t", batches=1)
    for setting, text in [("delta.enableDeletionVector=true", "Help: did you mean 'delta.enableDeletionVectors'?"),
                          ("delta.appendOnly=maybe", "'true' or 'false'"),
                          ("delta.logRetentionDuration=forever", "interval")]:
        run = lakehouse_cli("properties", uri, "--set", setting, expect=2)
        assert text in run.err and "Traceback" not in run.err and run.out == ""
    # a feature lakehouse cannot write: the request was fine, the table cannot take it (exit 1)
    run = lakehouse_cli("properties", uri, "--set", "delta.enableIcebergCompatV2=true", expect=1)
    assert "icebergCompatV2" in run.err
    assert lakehouse.DeltaTable(uri).version == 0 and lakehouse.DeltaTable(uri).metadata.configuration == {}


def test_history_timestamps_are_iso_and_milliseconds(tmp_path):
    uri = write_table(tmp_path / "t", batches=2)
    got = lakehouse_cli("history", uri, "--json").json()
    for record, entry in zip(got, lakehouse.DeltaTable(uri).history()):
        assert record["timestamp"] == entry.timestamp_ms
        assert record["datetime"] == entry.timestamp.isoformat(timespec="milliseconds")


def test_a_file_path_is_not_a_table(tmp_path):
    f = tmp_path / "data.parquet"
    f.write_bytes(b"PAR1")
    run = lakehouse_cli("describe", f, expect=2)
    assert "is a file, not a Delta table" in run.err and "Traceback" not in run.err
