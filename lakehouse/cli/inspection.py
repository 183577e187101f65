"""Read-only commands that describe a table: `describe`, `history`, `files`, `schema`.

Each builds one plain record (the ``--json`` document, with stable keys) and renders the same record
as rich tables for people. Column types are printed from the Delta schema's own JSON form
(`type_to_json`), so they read exactly as the table's `schemaString` spells them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lakehouse import type_to_json
from lakehouse.cli.common import Cli, human_bytes, key_value_table, ms_to_iso, plural, table_command, text

VERSION_HELP = "Read this version: a number or an ISO-8601 time such as 2024-05-01T12:00:00Z."
PHYSICAL_NAME = "delta.columnMapping.physicalName"
FIELD_ID = "delta.columnMapping.id"


# -- describe ----------------------------------------------------------------------------------------------
@table_command("describe")
@click.option("--version", "version", default=None, metavar="V", help=VERSION_HELP)
def describe(cli: Cli, uri: str, version: str | None) -> None:
    """Table detail: version, location, size, files, rows, protocol, features, properties."""
    detail = dataclasses.asdict(cli.open(uri, version).detail())
    cli.emit(detail, lambda console: _render_detail(console, detail))


def _render_detail(console: Console, d: dict[str, Any]) -> None:
    rows = {
        "location": d["location"], "id": d["id"], "name": d["name"], "description": d["description"],
        "version": d["version"], "created": ms_to_iso(d["created_time"]),
        "last modified": ms_to_iso(d["last_modified"]), "last operation": d["last_operation"],
        "partition columns": ", ".join(d["partition_columns"]) or "(none)",
        "files": f"{d['num_files']:,}", "size": human_bytes(d["size_in_bytes"]),
        "rows": "unknown (files without statistics)" if d["num_rows"] is None else f"{d['num_rows']:,}",
        "deletion vectors": f"{d['num_deletion_vectors']:,} ({plural(d['num_deleted_rows'], 'row')} deleted)",
        "protocol": f"reader {d['min_reader_version']}, writer {d['min_writer_version']}",
        "reader features": ", ".join(d["reader_features"]) or "(none)",
        "writer features": ", ".join(d["writer_features"]) or "(none)",
        "active features": ", ".join(d["active_features"]) or "(none)",
        "column mapping": d["column_mapping_mode"],
    }
    console.print(key_value_table(rows))
    if d["properties"]:
        console.print()
        console.print(key_value_table(d["properties"], title="properties"))


# -- history -----------------------------------------------------------------------------------------------
@table_command("history")
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N", help="Newest N commits only.")
def history(cli: Cli, uri: str, limit: int | None) -> None:
    """Commits, newest first: version, time, operation, parameters and metrics."""
    entries = [_history_record(e) for e in cli.open(uri).history(limit)]
    cli.emit(entries, lambda console: console.print(_history_table(entries)))


def _history_record(entry: Any) -> dict[str, Any]:
    extra = dict(entry.commit_info.extra) if entry.commit_info is not None else {}
    return {
        "version": entry.version,
        "timestamp": entry.timestamp_ms,
        "datetime": entry.timestamp.isoformat(timespec="milliseconds"),
        "operation": entry.operation,
        "operation_parameters": dict(entry.operation_parameters or {}),
        "operation_metrics": extra.get("operationMetrics") or {},
        "read_version": extra.get("readVersion"),
        "engine_info": extra.get("engineInfo"),
    }


def _history_table(entries: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("version", "time (UTC)", "operation", "parameters", "metrics"):
        table.add_column(name, justify="right" if name == "version" else "left", overflow="fold")
    for e in entries:
        # Seconds are enough to read; --json has the exact milliseconds.
        when = e["datetime"][:19].replace("T", " ")
        table.add_row(text(e["version"]), Text(when, no_wrap=True), text(e["operation"]),
                      _pairs(e["operation_parameters"]), _pairs(e["operation_metrics"]))
    return table


def _pairs(mapping: dict[str, Any]) -> Text:
    return Text(", ".join(f"{k}={v}" for k, v in mapping.items()))


# -- files -------------------------------------------------------------------------------------------------
@table_command("files")
@click.option("--version", "version", default=None, metavar="V", help=VERSION_HELP)
def files(cli: Cli, uri: str, version: str | None) -> None:
    """Active data files: path, size, partition values, rows, deletion vector."""
    records = [_file_record(row) for row in cli.open(uri, version).files().to_pylist()]
    cli.emit(records, lambda console: _render_files(console, records))


def _num_records(stats: str | None) -> int | None:
    """``numRecords`` of a file's statistics (JSON text), None when it has none."""
    if not stats:
        return None
    try:
        value = json.loads(stats).get("numRecords")
    except (ValueError, AttributeError):
        return None  # unreadable statistics say nothing about the rows; the table still reads
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _file_record(row: dict[str, Any]) -> dict[str, Any]:
    """One file as the JSON record: ``rows`` counts live rows (numRecords minus deleted rows), null when
    the file has no statistics."""
    dv = row["deletion_vector"]
    deleted = int(dv["cardinality"]) if dv else 0
    records = _num_records(row["stats"])
    live = None if records is None else records - deleted
    return {
        "path": row["path"],
        "size": row["size"],
        "modification_time": row["modification_time"],
        "partition_values": dict(row["partition_values"] or []),
        "rows": live,
        "has_deletion_vector": dv is not None,
        "deleted_rows": deleted,
    }


def _render_files(console: Console, records: list[dict[str, Any]]) -> None:
    table = Table()
    for name in ("path", "size", "partition values", "rows", "deletion vector"):
        # Paths fold rather than end in an ellipsis: a user copies them into other commands.
        table.add_column(name, justify="right" if name in ("size", "rows") else "left",
                         overflow="fold" if name == "path" else "ellipsis")
    for r in records:
        parts = ", ".join(f"{k}={v}" for k, v in r["partition_values"].items())
        dv = f"yes ({r['deleted_rows']:,} deleted)" if r["has_deletion_vector"] else "no"
        table.add_row(text(r["path"]), Text(f"{r['size']:,}"), Text(parts),
                      text(None if r["rows"] is None else f"{r['rows']:,}"), Text(dv))
    console.print(table)
    total = sum(r["size"] for r in records)
    console.print(Text(f"{plural(len(records), 'file')}, {human_bytes(total)}"))


# -- schema ------------------------------------------------------------------------------------------------
@table_command("schema")
@click.option("--version", "version", default=None, metavar="V", help=VERSION_HELP)
def schema(cli: Cli, uri: str, version: str | None) -> None:
    """Columns: name, type, nullable, and physical name and field id when column mapping is on."""
    fields = [_field_record(f) for f in cli.open(uri, version).delta_schema.fields]
    cli.emit(fields, lambda console: console.print(_schema_table(fields)))


def _field_record(field: Any) -> dict[str, Any]:
    """One top-level column; ``type`` is the Delta JSON type (a string, or an object for nested types)."""
    metadata = dict(field.metadata)
    return {
        "name": field.name,
        "type": type_to_json(field.type),
        "nullable": field.nullable,
        "physical_name": metadata.get(PHYSICAL_NAME),
        "field_id": metadata.get(FIELD_ID),
        "metadata": metadata,
    }


def type_text(t: Any) -> str:
    """A Delta JSON type as Spark's short form: ``long``, ``array<string>``, ``struct<a:long,b:string>``."""
    if isinstance(t, str):
        return t
    kind = t["type"]
    if kind == "array":
        return f"array<{type_text(t['elementType'])}>"
    if kind == "map":
        return f"map<{type_text(t['keyType'])},{type_text(t['valueType'])}>"
    return "struct<" + ",".join(f"{f['name']}:{type_text(f['type'])}" for f in t["fields"]) + ">"


def _schema_table(fields: list[dict[str, Any]]) -> Table:
    mapped = any(f["physical_name"] is not None or f["field_id"] is not None for f in fields)
    table = Table()
    for name in ("name", "type", "nullable") + (("physical name", "field id") if mapped else ()):
        table.add_column(name)
    for f in fields:
        cells = [text(f["name"]), Text(type_text(f["type"])), Text("yes" if f["nullable"] else "no")]
        if mapped:
            cells += [text(f["physical_name"]), text(f["field_id"])]
        table.add_row(*cells)
    return table
