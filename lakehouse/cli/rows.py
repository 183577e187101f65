"""Commands that print rows: `scan` (a filtered read) and `cdf` (the change data feed).

With ``--json`` rows are JSON Lines: one object per row, keyed by column name, written as they are
read, so a pipe sees the first rows before the last file is read (see `common.jsonable` for how values
are encoded). Without it the rows are a rich table of at most ``--limit`` rows (50 by default): a table is
for looking at, and reading a large table to show it all would never end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator

import click
import pyarrow as pa
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lakehouse.cli.common import ISO_TIME, Cli, dumps, plural, split_columns, table_command, text
from lakehouse.cli.inspection import VERSION_HELP

#: Rows shown in a table when ``--limit`` is not given.
TABLE_ROWS = 50
LIMIT_HELP = f"At most N rows (default: every row with --json, {TABLE_ROWS} in a table)."


def take(batches: Iterable[pa.RecordBatch], limit: int | None) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``batches`` as lists of dicts, one per batch, stopping after ``limit`` rows (so later
    files are never read)."""
    left = limit
    for batch in batches:
        if left is not None:
            if left <= 0:
                return
            batch = batch.slice(0, left)
            left -= batch.num_rows
        # Maps become dicts, so a map column reads as a JSON object rather than a list of pairs.
        yield batch.to_pylist(maps_as_pydicts="lossy")


def print_rows(cli: Cli, schema: pa.Schema, batches: Iterable[pa.RecordBatch], limit: int | None) -> None:
    """Write rows as JSON Lines (``--json``) or as a table of at most ``limit`` rows."""
    if cli.as_json:
        for chunk in take(batches, limit):
            if chunk:  # one write per batch: a write per row costs more than encoding the row
                click.echo("\n".join(dumps(row, indent=None) for row in chunk))
        return
    shown = TABLE_ROWS if limit is None else limit
    rows = [row for chunk in take(batches, shown + 1) for row in chunk]  # one extra row tells if rows were left out
    _render_rows(cli.console, schema, rows[:shown], more=len(rows) > shown)


def _render_rows(console: Console, schema: pa.Schema, rows: list[dict[str, Any]], *, more: bool) -> None:
    table = Table()
    for field in schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
        table.add_column(Text(field.name), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(text(row[name]) for name in schema.names))
    console.print(table)
    note = plural(len(rows), "row")
    if more:
        note += " shown; more rows exist (pass --limit N to see more, or --json for all)"
    console.print(Text(note))


@table_command("scan")
@click.option("--filter", "filter_sql", default=None, metavar="SQL",
              help="SQL predicate, e.g. \"id BETWEEN 10 AND 20 AND day = '2024-05-01'\".")
@click.option("--columns", default=None, metavar="a,b", help="Comma-separated columns to read.")
@click.option("--version", "version", default=None, metavar="V", help=VERSION_HELP)
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N", help=LIMIT_HELP)
def scan(cli: Cli, uri: str, filter_sql: str | None, columns: str | None, version: str | None,
         limit: int | None) -> None:
    """Print the rows (matching --filter) of a table; --json prints JSON Lines, one object per row."""
    table_scan = cli.open(uri, version).scan(filter_sql, split_columns(columns))
    reader = table_scan.to_batches()
    print_rows(cli, reader.schema, reader, limit)


@table_command("cdf")
@click.option("--start", "start", type=click.IntRange(min=0), default=None, metavar="V",
              help="First version of the range (inclusive).")
@click.option("--end", "end", type=click.IntRange(min=0), default=None, metavar="V",
              help="Last version (inclusive; default the latest).")
@click.option("--start-timestamp", type=ISO_TIME, default=None, help="Start at the first commit at or after this time.")
@click.option("--end-timestamp", type=ISO_TIME, default=None, help="End at the last commit at or before this time.")
@click.option("--columns", default=None, metavar="a,b", help="Comma-separated data columns to read.")
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N", help=LIMIT_HELP)
def cdf(cli: Cli, uri: str, start: int | None, end: int | None, start_timestamp: datetime | None,
        end_timestamp: datetime | None, columns: str | None, limit: int | None) -> None:
    """Print the change data feed of a version range: rows with _change_type, _commit_version and
    _commit_timestamp; --json prints JSON Lines, one object per row."""
    if start is None and start_timestamp is None:
        raise click.UsageError("give --start V or --start-timestamp ISO")
    changes = cli.open(uri).load_cdf(start, end, starting_timestamp=start_timestamp,
                                      ending_timestamp=end_timestamp, columns=split_columns(columns))
    print_rows(cli, changes.schema, changes.to_batches(), limit)
