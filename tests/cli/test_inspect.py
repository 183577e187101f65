"""`describe`, `history`, `files`, `schema` and `properties`: their JSON equals the Python API's answer and
their tables are readable (no colour codes or markup when piped)."""

from __future__ import annotations

import dataclasses
import json

import lakehouse
from tests.support.cli import lakehouse_cli, write_table


def test_describe_json_equals_detail(events):
    got = lakehouse_cli("describe", events, "--json").json()
    want = json.loads(json.dumps(dataclasses.asdict(lakehouse.DeltaTable(events).detail())))
    assert got == want
    assert got["num_rows"] == 5 and got["num_deleted_rows"] == 1 and got["version"] == 2  # 6 written, 1 deleted
    assert "deletionVectors" in got["reader_features"]


def test_describe_table_is_plain_text_when_piped(events):
    run = lakehouse_cli("describe", events, "--version", "1")
    assert "\x1b[" not in run.out  # stdout is a pipe: rich must not colour it
    lines = {line.split("  ", 1)[0]: line.split("  ", 1)[-1].strip() for line in run.out.splitlines() if line.strip()}
    assert lines["version"] == "1" and lines["rows"] == "6" and lines["partition columns"] == "p"
    assert "delta.enableDeletionVectors" in run.out


def test_history_json_and_table(events):
    got = lakehouse_cli("history", events, "--json", "--limit", "2").json()
    want = lakehouse.DeltaTable(events).history(2)
    assert [(h["version"], h["timestamp"], h["datetime"], h["operation"]) for h in got] == \
           [(h.version, h.timestamp_ms, h.timestamp.isoformat(timespec="milliseconds"), h.operation) for h in want]
    assert got[0]["operation"] == "DELETE" and got[0]["operation_metrics"]
    table = lakehouse_cli("history", events).out
    assert "DELETE" in table and "WRITE" in table and "mode=Append" in table


def test_files_json_at_latest_and_older_version(events):
    got = lakehouse_cli("files", events, "--json").json()
    api = lakehouse.DeltaTable(events).files().to_pylist()
    assert sorted((f["path"], f["size"]) for f in got) == sorted((f["path"], f["size"]) for f in api)
    assert sum(f["rows"] for f in got) == 5
    assert [f["deleted_rows"] for f in got if f["has_deletion_vector"]] == [1]
    assert {f["partition_values"]["p"] for f in got} == {"a", "b"}
    old = lakehouse_cli("files", events, "--json", "--version", "0").json()
    assert sorted(f["path"] for f in old) == sorted(lakehouse.DeltaTable(events, version=0).files()["path"].to_pylist())


def test_files_table_shows_deletion_vectors(events):
    out = lakehouse_cli("files", events).out
    assert "yes (1 deleted)" in out and "p=a" in out
    assert f"{len(lakehouse.DeltaTable(events).files())} files" in out


def test_schema_with_column_mapping_shows_physical_names(tmp_path):
    uri = write_table(tmp_path / "mapped", batches=1, configuration={"delta.columnMapping.mode": "name"})
    got = lakehouse_cli("schema", uri, "--json").json()
    fields = lakehouse.DeltaTable(uri).delta_schema.fields
    assert [f["name"] for f in got] == [f.name for f in fields]
    assert [f["physical_name"] for f in got] == [f.metadata["delta.columnMapping.physicalName"] for f in fields]
    assert [f["field_id"] for f in got] == [f.metadata["delta.columnMapping.id"] for f in fields]
    assert got[2]["type"] == "decimal(10,2)" and got[7]["type"]["type"] == "map"
    out = lakehouse_cli("schema", uri).out
    assert "physical name" in out and "map<string,long>" in out
    assert fields[0].metadata["delta.columnMapping.physicalName"] in out


def test_schema_without_column_mapping(events):
    out = lakehouse_cli("schema", events).out
    assert "decimal(10,2)" in out and "physical name" not in out


def test_properties_list_set_and_unset(tmp_path):
    uri = write_table(tmp_path / "props", batches=1, configuration={"delta.appendOnly": "false"})
    listed = lakehouse_cli("properties", uri, "--json").json()
    assert listed == {"version": 0, "properties": {"delta.appendOnly": "false"}}
    changed = lakehouse_cli("properties", uri, "--set", "owner=team-a",
                            "--set", "delta.logRetentionDuration=interval 60 days",
                            "--unset", "delta.appendOnly", "--json").json()
    table = lakehouse.DeltaTable(uri)
    assert changed["version"] == table.version == 1
    assert changed["properties"] == dict(table.metadata.configuration) == {
        "owner": "team-a", "delta.logRetentionDuration": "interval 60 days"}
