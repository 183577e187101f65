"""Table management commands: `properties` (list, set, unset) and `verify` (fsck)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lakehouse import errors, verify_table
from lakehouse.cli.common import (
    FAILED, OK, Cli, key_value_table, parse_assignments, plural, table_command, text,
)


@table_command("properties")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Set a property (repeatable).")
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove a property (repeatable).")
def properties(cli: Cli, uri: str, assignments: tuple[str, ...], unset: tuple[str, ...]) -> None:
    """List the table properties, or change them with --set and --unset (one commit)."""
    changes: dict[str, str | None] = dict(parse_assignments(assignments, "--set"))
    both = sorted(set(changes) & set(unset))
    if both:
        raise click.UsageError(f"{', '.join(both)} both set and unset")
    changes.update({key: None for key in unset})
    table = cli.open(uri)
    if changes:
        table.alter.set_table_properties(changes)  # moves the table object to the new version
    record = {"version": table.version, "properties": dict(table.metadata.configuration)}
    cli.emit(record, lambda console: _render_properties(console, record, changed=bool(changes)))


def _render_properties(console: Console, record: dict[str, Any], *, changed: bool) -> None:
    if changed:
        console.print(Text(f"Committed version {record['version']}."))
    if record["properties"]:
        console.print(key_value_table(record["properties"]))
    else:
        console.print(Text(f"No properties are set (version {record['version']})."))


@table_command("verify", progress=True)
def verify(cli: Cli, uri: str) -> int:
    """Check the log, checkpoints, data files and deletion vectors (fsck); changes nothing.
    Exits 1 when a problem is found."""
    with cli.progress("verify: data files checked") as progress:
        report = verify_table(uri, storage_options=cli.storage_options or None, progress=progress)
    if not report.checked.get("commits") and not report.checked.get("checkpoints"):
        # Nothing to check is a wrong URI (exit 2, like every other command), not a damaged table.
        message = report.problems[0].message if report.problems else f"no Delta table at {report.location}"
        raise errors.TableNotFoundError(message)
    record = {
        "location": report.location, "version": report.version, "ok": report.ok,
        "checked": dict(report.checked), "problems": list(report.problems),
    }
    cli.emit(record, lambda console: _render_verify(console, record))
    return OK if report.ok else FAILED


def _render_verify(console: Console, r: dict[str, Any]) -> None:
    checked = ", ".join(f"{what.replace('_', ' ')} {n:,}" for what, n in r["checked"].items())
    if r["ok"]:
        console.print(Text(f"OK: {r['location']} at version {r['version']} (checked {checked})."))
        return
    problems = r["problems"]
    console.print(Text(f"{plural(len(problems), 'problem')} in {r['location']} (checked {checked}):"))
    table = Table()
    for name in ("kind", "path", "version", "message"):
        table.add_column(name, overflow="fold")  # paths and messages are copied, never cut short
    for p in problems:
        table.add_row(text(p.kind), text(p.path), text(p.version), text(p.message))
    console.print(table)
