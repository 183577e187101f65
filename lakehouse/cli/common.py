"""What every `lakehouse` command shares: the common options, error reporting with exit codes, JSON and
rich output, and progress bars.

Only the public API is used here (`DeltaTable`, `lakehouse.errors`); this module must not reach into
the engine's internals.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import os
import re
import sys
import traceback
import warnings
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator, Mapping

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from lakehouse import DeltaTable, Progress, ProgressEvent, errors

#: Exit codes (also documented in the package docstring and the README).
OK, FAILED, BAD_INPUT = 0, 1, 2

#: Exit code per error class, looked up along the exception's MRO so the most specific entry wins.
#: Bad input (fix the command line) is 2; a request that was fine but failed on this table, its storage
#: or a concurrent writer is 1.
EXIT_CODES: dict[type[BaseException], int] = {
    # A constraint violation is about the rows, not the command line (it subclasses SchemaMismatchError).
    errors.ConstraintViolationError: FAILED,
    errors.InvalidArgumentError: BAD_INPUT,
    errors.TableNotFoundError: BAD_INPUT,
    errors.BucketNotFoundError: BAD_INPUT,  # a wrong bucket name, like a wrong path, is bad input
    errors.VersionNotFoundError: BAD_INPUT,
    errors.SchemaMismatchError: BAD_INPUT,
    errors.TableExistsError: BAD_INPUT,
    errors.LakehouseError: FAILED,
}

#: Python API spellings in ``Help:`` lines and the command-line options that do the same.
CLI_SPELLINGS = {
    "enforce_retention_duration=False": "--no-enforce-retention",
    "ignore_missing_files=True": "--ignore-missing-files",
    "alter.set_table_properties({'delta.columnMapping.mode': 'name'})": "properties --set delta.columnMapping.mode=name",
}


def exit_code_for(error: BaseException) -> int:
    """The exit code for ``error`` (1 for anything not listed in `EXIT_CODES`)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return FAILED


def error_message(error: BaseException) -> str:
    """``error: <first line>``, plus the message's ``Help:`` line when it has one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    if not isinstance(error, errors.LakehouseError):
        # Not an error we raise on purpose: name its type, since the message alone may mean nothing.
        first = f"unexpected {type(error).__name__}: {first} (run with --debug for the traceback)"
    out = f"error: {first}"
    help_line = next((line for line in lines[1:] if line.startswith("Help:")), None)
    if help_line:
        # The engine's advice names Python arguments; a command-line user needs the option instead.
        for api, option in CLI_SPELLINGS.items():
            help_line = help_line.replace(api, option)
    return f"{out}\n{help_line}" if help_line else out


# -- value conversion --------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: datetimes and dates as ISO-8601, decimals as strings (exact), bytes
    as base64, NaN and infinities as the strings "NaN", "Infinity", "-Infinity", dataclasses as objects."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON text (see `jsonable`)."""
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False)


def text(value: Any) -> Text:
    """A table cell for ``value``: never parsed as rich markup (paths and values may hold brackets)."""
    if value is None:
        return Text("null", style="dim")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Text("0x" + bytes(value).hex())
    if isinstance(value, (dict, list, tuple)):
        return Text(json.dumps(jsonable(value), ensure_ascii=False))
    if isinstance(value, (datetime, date, time)):
        return Text(value.isoformat())
    return Text(str(value))


def ms_to_iso(ms: int | None) -> str | None:
    """Epoch milliseconds as an ISO-8601 UTC time."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def plural(n: int, word: str) -> str:
    """``plural(1, "row")`` -> ``1 row``; ``plural(1200, "row")`` -> ``1,200 rows``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def human_bytes(n: int | None) -> str:
    """``1536`` -> ``1,536 bytes (1.5 KiB)``."""
    if n is None:
        return "unknown"
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    return f"{n:,} bytes" if unit == "B" else f"{n:,} bytes ({size:.1f} {unit})"


def key_value_table(rows: Mapping[str, Any], title: str | None = None) -> Table:
    """A two-column table of labels and values."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(Text(key), value if isinstance(value, Text) else text(value))
    return table


# -- parameters --------------------------------------------------------------------------------------------
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


class ByteSize(click.ParamType):
    """A byte count: ``134217728``, ``128MiB``, ``128MB`` (powers of 1000) or ``1GiB``."""

    name = "BYTES"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        m = _SIZE.match(str(value))
        if not m:
            self.fail(f"{value!r} is not a size such as 134217728, 128MiB or 1GB", param, ctx)
        unit = (m.group(2) or "").lower().removesuffix("b")
        return int(m.group(1)) * _UNITS[unit]


class IsoTime(click.ParamType):
    """An ISO-8601 time such as ``2024-05-01T12:00:00Z``; naive times are UTC, as everywhere in lakehouse."""

    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time such as 2024-05-01T12:00:00Z", param, ctx)
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


ISO_TIME = IsoTime()


def parse_assignments(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as pairs; a usage error (exit 2) names the first malformed one."""
    pairs = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=f"'{option}'")
        pairs.append((key.strip(), value))
    return pairs


def storage_value(raw: str) -> Any:
    """A storage option's value: JSON objects, arrays, ``true``, ``false`` and ``null`` are parsed (for
    options such as ``client_kwargs='{"endpoint_url": "..."}'`` or ``anon=true``); anything else, numbers
    included, stays a string (a secret of digits must not become an int)."""
    stripped = raw.strip()
    if stripped in ("true", "false", "null") or stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as e:
            raise click.BadParameter(f"{raw!r} is not valid JSON: {e}", param_hint="'--storage-option'") from None
    return raw


def split_columns(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    cols = [c.strip() for c in value.split(",") if c.strip()]
    if not cols:
        raise click.BadParameter("expected a comma-separated list of column names")
    return cols


# -- the per-invocation context ------------------------------------------------------------------------------
def _stdout_console() -> Console:
    console = Console(highlight=False)
    # Piped output is read with grep or less: long lines beat tables folded at rich's default 80 columns,
    # and a line of text (a file path) must never be folded, whatever COLUMNS says.
    if not console.is_terminal:
        if "COLUMNS" not in os.environ:
            console.width = 200
        console.soft_wrap = True
    return console


@dataclasses.dataclass
class Cli:
    """The common options of one command invocation, and its output channels."""

    as_json: bool
    storage_options: dict[str, Any]
    debug: bool
    console: Console = dataclasses.field(default_factory=_stdout_console)
    show_progress: bool = True  # False under --no-progress
    err_console: Console = dataclasses.field(default_factory=lambda: Console(stderr=True))

    def open(self, uri: str, version: int | str | None = None) -> DeltaTable:
        """The table at ``uri`` (at ``version``: an int, digits or an ISO-8601 time)."""
        return DeltaTable(uri, version=version, storage_options=self.storage_options or None)

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Print ``data`` as JSON with ``--json`` (plain stdout, never through rich), else ``render`` it."""
        if self.as_json:
            click.echo(dumps(data))
        else:
            render(self.console)

    @contextmanager
    def progress(self, description: str) -> Iterator[Progress | None]:
        """A `lakehouse.Progress` callback drawing a bar on stderr, or None under ``--no-progress``, with
        ``--json``, or when stderr is not a terminal (a bar in a log file or a script's stderr is noise)."""
        err = self.err_console
        if not self.show_progress or self.as_json or not err.is_terminal:
            yield None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with RichProgress(*columns, console=err) as bar:
            task = bar.add_task(description, total=None)

            def update(event: ProgressEvent) -> None:
                bar.update(task, completed=event.done, total=event.total)

            yield update


def fail(error: BaseException, debug: bool) -> int:
    """Report ``error`` on stderr (with the traceback under ``--debug``) and return its exit code."""
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    click.echo(error_message(error), err=True)
    return exit_code_for(error)


def _storage_options(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    return {k: storage_value(v) for k, v in parse_assignments(values, "--storage-option")}


_SHOW_WARNING = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Our own warnings as one ``warning: ...`` line on stderr, like errors; others as Python prints them."""
    if issubclass(category, errors.StorageOptionWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _SHOW_WARNING(message, category, *args, **kwargs)


def table_command(name: str, *, progress: bool = False) -> Callable[[Callable[..., int | None]], click.Command]:
    """Make ``fn(cli, uri, **options)`` a click command with the URI argument, ``--json``,
    ``--storage-option`` and ``--debug`` (and ``--no-progress`` when ``progress``: the command draws a
    bar through `Cli.progress`); its return value (None = 0) is the exit code, and errors become one
    ``error:`` line and an exit code (`EXIT_CODES`). ``fn``'s docstring is the command's help."""

    def decorate(fn: Callable[..., int | None]) -> click.Command:
        @functools.wraps(fn)
        def run(uri: str, as_json: bool, storage_options: dict[str, Any], debug: bool, **kwargs: Any) -> None:
            cli = Cli(as_json, storage_options, debug, show_progress=not kwargs.pop("no_progress", False))
            try:
                with warnings.catch_warnings():
                    warnings.showwarning = _show_warning
                    code = fn(cli, uri, **kwargs) or OK
            except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
                raise  # click reports these itself: usage errors exit 2, a closed pipe ends quietly
            except Exception as e:  # noqa: BLE001 - every failure must end as one line and an exit code
                code = fail(e, debug)
            raise click.exceptions.Exit(code)

        run = click.option("--debug", is_flag=True, help="Show the traceback of an error.")(run)
        if progress:
            run = click.option("--no-progress", "no_progress", is_flag=True,
                               help="Draw no progress bar (one is drawn on stderr only when it is a terminal).")(run)
        run = click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
                           callback=_storage_options,
                           help="A storage option (repeatable): fsspec/s3fs keys or delta-rs keys such as "
                                "AWS_ENDPOINT_URL=...; JSON objects, arrays, true, false and null values are parsed.")(run)
        run = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")(run)
        run = click.argument("uri")(run)
        return click.command(name, help=fn.__doc__)(run)

    return decorate
