"""Commands that change a table's files or log: `optimize`, `vacuum`, `restore`, `checkpoint`, `cleanup`,
`convert`.

Each calls one `DeltaTable` method and prints what it returns (metrics dataclasses as JSON objects with
the dataclass's field names as keys). Long ones (optimize, vacuum, convert) draw a progress bar on
stderr from the method's ``progress=`` events when stderr is a terminal; ``--no-progress`` turns it off.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

import click
import pyarrow as pa
from rich.console import Console
from rich.text import Text

from lakehouse import DeltaTable
from lakehouse.cli.common import (
    ISO_TIME, ByteSize, Cli, human_bytes, key_value_table, plural, split_columns, table_command,
)

RETENTION_HELP = "Retention in hours (default: the table's {}; fractions allowed)."


def metrics_table(metrics: dict[str, Any], *, skip: tuple[str, ...] = ()) -> Any:
    """A metrics record as a label/value table: ``num_files_added`` -> ``files added``."""
    rows: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in skip:
            continue
        label = key.removeprefix("num_of_").removeprefix("num_").replace("_", " ")
        if isinstance(value, bool) or value is None:
            rows[label] = value
        elif isinstance(value, int):
            rows[label] = human_bytes(value) if "bytes" in key or "size" in key else f"{value:,}"
        elif isinstance(value, (list, tuple)):
            rows[label] = ", ".join(map(str, value)) or "(none)"
        else:
            rows[label] = value
    return key_value_table(rows)


# -- optimize ----------------------------------------------------------------------------------------------
@table_command("optimize", progress=True)
@click.option("--target-size", type=ByteSize(), default=None,
              help="Target file size (default: delta.targetFileSize, else 100MiB); e.g. 134217728 or 128MiB.")
@click.option("--min-file-size", type=ByteSize(), default=None,
              help="Files below this size are compacted (default: the target size).")
@click.option("--partition-filter", default=None, metavar="SQL", help="Only partitions matching this predicate.")
@click.option("--z-order", default=None, metavar="col1,col2", help="Cluster each partition along these columns.")
@click.option("--max-concurrent-tasks", type=click.IntRange(min=1), default=None, metavar="N",
              help="Bins rewritten in parallel.")
def optimize(cli: Cli, uri: str, target_size: int | None, min_file_size: int | None,
             partition_filter: str | None, z_order: str | None, max_concurrent_tasks: int | None) -> None:
    """Compact small files (and files with deletion vectors), or Z-order them; prints the metrics."""
    table = cli.open(uri)
    with cli.progress("optimize: bins rewritten") as progress:
        columns = split_columns(z_order)
        if columns:
            metrics = table.optimize.z_order(columns, partition_filters=partition_filter, target_size=target_size,
                                             max_concurrent_tasks=max_concurrent_tasks, progress=progress)
        else:
            metrics = table.optimize.compact(partition_filters=partition_filter, target_size=target_size,
                                             min_file_size=min_file_size, max_concurrent_tasks=max_concurrent_tasks,
                                             progress=progress)
    record = dataclasses.asdict(metrics)
    cli.emit(record, lambda console: _render_optimize(console, record))


def _render_optimize(console: Console, m: dict[str, Any]) -> None:
    if m["version"] is None:
        console.print(Text("Nothing to optimize: no commit was made."))
    else:
        console.print(Text(f"OPTIMIZE committed version {m['version']}."))
    console.print(metrics_table(m, skip=("version", "files_added_sizes")))


# -- vacuum ------------------------------------------------------------------------------------------------
@table_command("vacuum", progress=True)
@click.option("--retention-hours", type=click.FloatRange(min=0), default=None, metavar="H",
              help=RETENTION_HELP.format("delta.deletedFileRetentionDuration, 7 days"))
@click.option("--mode", type=click.Choice(["full", "lite"]), default="full", show_default=True,
              help="full: also delete files no commit references; lite: only files of expired removes.")
@click.option("--no-enforce-retention", is_flag=True,
              help="Allow a retention shorter than delta.deletedFileRetentionDuration.")
@click.option("--yes", is_flag=True, help="Really delete; without it this is a dry run that only lists.")
def vacuum(cli: Cli, uri: str, retention_hours: float | None, mode: Literal["lite", "full"], no_enforce_retention: bool,
           yes: bool) -> None:
    """List (dry run, the default) or with --yes delete files no version inside the retention needs."""
    table = cli.open(uri)
    with cli.progress("vacuum: files deleted") as progress:
        metrics = table.vacuum(retention_hours=retention_hours, dry_run=not yes, mode=mode,
                               enforce_retention_duration=not no_enforce_retention, progress=progress)
    record = dataclasses.asdict(metrics)
    cli.emit(record, lambda console: _render_vacuum(console, record))


def _hours(hours: float) -> str:
    """``168.0`` -> ``168 hours``; ``1`` -> ``1 hour``; ``0.5`` -> ``0.5 hours``."""
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def _render_vacuum(console: Console, m: dict[str, Any]) -> None:
    summary = (f"{plural(m['num_files'], 'file')}, {human_bytes(m['num_bytes'])} "
               f"(mode {m['mode']}, retention {_hours(m['retention_hours'])})")
    if m["dry_run"]:
        console.print(Text(f"Dry run: would delete {summary}."))
    else:
        console.print(Text(f"Deleted {summary}; commits VACUUM START {m['start_version']}, "
                           f"VACUUM END {m['end_version']}."))
    for path in m["files"]:
        console.print(Text(f"  {path}"))
    if m["dry_run"] and m["files"]:
        console.print(Text("Run again with --yes to delete them."))


# -- restore -----------------------------------------------------------------------------------------------
@table_command("restore")
@click.option("--version", "version", type=click.IntRange(min=0), default=None, metavar="V",
              help="Restore this version.")
@click.option("--timestamp", type=ISO_TIME, default=None, help="Restore the version current at this time.")
@click.option("--ignore-missing-files", is_flag=True, help="Restore even if VACUUM removed some files.")
def restore(cli: Cli, uri: str, version: int | None, timestamp: datetime | None, ignore_missing_files: bool) -> None:
    """Commit a new version whose content equals an older version (or the version at a time)."""
    target: int | datetime
    if version is not None and timestamp is None:
        target = version
    elif timestamp is not None and version is None:
        target = timestamp
    else:
        raise click.UsageError("give exactly one of --version V or --timestamp ISO")
    metrics = cli.open(uri).restore(target, ignore_missing_files=ignore_missing_files)
    record = dataclasses.asdict(metrics)
    cli.emit(record, lambda console: _render_restore(console, record))


def _render_restore(console: Console, m: dict[str, Any]) -> None:
    if m["version"] is None:
        console.print(Text(f"The table already matches version {m['restored_version']}: no commit was made."))
    else:
        console.print(Text(f"Restored version {m['restored_version']} as version {m['version']}."))
    console.print(metrics_table(m, skip=("version",)))


# -- checkpoint and log cleanup ------------------------------------------------------------------------------
@table_command("checkpoint")
def checkpoint(cli: Cli, uri: str) -> None:
    """Write a checkpoint of the latest version."""
    table = cli.open(uri)
    record = {"version": table.version, "checkpoint": table.create_checkpoint()}
    cli.emit(record, lambda console: console.print(
        Text(f"Wrote checkpoint {record['checkpoint']} of version {record['version']}.")))


@table_command("cleanup")
@click.option("--retention-hours", type=click.FloatRange(min=0), default=None, metavar="H",
              help=RETENTION_HELP.format("delta.logRetentionDuration, 30 days"))
def cleanup(cli: Cli, uri: str, retention_hours: float | None) -> None:
    """Delete expired log files (commits and checkpoints) that no reachable version needs."""
    deleted = cli.open(uri).cleanup_metadata(retention_hours=retention_hours)
    record = {"num_deleted": len(deleted), "deleted": list(deleted)}
    cli.emit(record, lambda console: _render_cleanup(console, record))


def _render_cleanup(console: Console, record: dict[str, Any]) -> None:
    console.print(Text(f"Deleted {plural(record['num_deleted'], 'log file')}."))
    for name in record["deleted"]:
        console.print(Text(f"  {name}"))


# -- convert -----------------------------------------------------------------------------------------------
def _partition_schema(value: str | None) -> Any:
    """``day:date,region:string`` as a pyarrow schema (types by pyarrow's names, e.g. int64, date32)."""
    if not value:
        return None
    fields = []
    for item in value.split(","):
        name, sep, type_name = item.strip().partition(":")
        if not sep or not name or not type_name:
            raise click.BadParameter(f"{item!r}: use column:type, e.g. day:date32", param_hint="--partition-by")
        try:
            fields.append(pa.field(name, pa.type_for_alias(type_name.strip())))
        except ValueError:
            raise click.BadParameter(f"unknown type {type_name!r} (pyarrow names: int64, string, date32, ...)",
                                     param_hint="--partition-by") from None
    return pa.schema(fields)


@table_command("convert", progress=True)
@click.option("--partition-by", default=None, metavar="col:type,...",
              help="Partition schema of a Hive-partitioned folder, e.g. day:date32,region:string.")
def convert(cli: Cli, uri: str, partition_by: str | None) -> None:
    """CONVERT TO DELTA: make the Parquet files under URI a Delta table in place (version 0)."""
    schema = _partition_schema(partition_by)
    with cli.progress("convert: footers read") as progress:
        table = DeltaTable.convert_to_delta(uri, partition_by=schema, storage_options=cli.storage_options or None,
                                            progress=progress)
    record = {"version": table.version, "num_files": table.files().num_rows,
              "partition_columns": table.partition_columns}
    cli.emit(record, lambda console: console.print(Text(
        f"Converted {plural(record['num_files'], 'Parquet file')} into a Delta table (version {record['version']}"
        f", partitioned by {record['partition_columns'] or 'nothing'}).")))
