"""Running the installed `lakehouse` entry point in a subprocess, and the small tables the CLI tests use.

The tests drive `.venv/bin/lakehouse` (next to the running interpreter), so they check exactly what a
user runs: the console script, click's argument parsing, exit codes and the bytes on stdout and stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

import lakehouse
from lakehouse.cli.common import jsonable

LAKEHOUSE = Path(sys.executable).parent / "lakehouse"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Variables that would change how rich draws (colours, width, terminal detection) on this machine.
RICH_ENV = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERM")


@dataclass(frozen=True)
class Run:
    """One finished `lakehouse` invocation."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        """stdout parsed as JSON Lines."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def lakehouse_cli(*args: Any, expect: int | None = 0, env: dict[str, str] | None = None) -> Run:
    """Run the installed entry point with ``args``; assert its exit code is ``expect`` (None: any)."""
    assert LAKEHOUSE.exists(), f"{LAKEHOUSE} is missing: run `.venv/bin/pip install -e . --no-deps`"
    full_env = {k: v for k, v in os.environ.items() if k not in RICH_ENV}
    full_env.update(env or {})
    proc = subprocess.run([str(LAKEHOUSE), *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=120)
    run = Run(tuple(map(str, args)), proc.returncode, proc.stdout, proc.stderr)
    if expect is not None:
        assert run.code == expect, f"lakehouse {' '.join(run.args)} exited {run.code}, not {expect}\n" \
                                   f"stdout:\n{run.out}\nstderr:\n{run.err}"
    return run


def typed_rows(offset: int = 0) -> pa.Table:
    """Three rows with every value kind the JSON output must encode (decimal, timestamp, date, binary,
    NaN, map, struct) and a string that looks like rich markup."""
    return pa.table({
        "id": pa.array([offset + 1, offset + 2, offset + 3], pa.int64()),
        "p": ["a", "a", "b"],
        "amount": pa.array([Decimal("1.50"), Decimal("-2.25"), None], pa.decimal128(10, 2)),
        "ts": pa.array([datetime(2024, 1, 1, 12, 30, tzinfo=timezone.utc)] * 3, pa.timestamp("us", tz="UTC")),
        "day": pa.array([date(2024, 5, 1)] * 3, pa.date32()),
        "raw": pa.array([b"\x00\x01", b"x", None], pa.binary()),
        "score": pa.array([0.5, float("nan"), None], pa.float64()),
        "tags": pa.array([{"k": 1}, None, {}], pa.map_(pa.string(), pa.int64())),
        "note": ["[bold]not markup[/bold]", "plain", None],
    })


def write_table(path: Path, batches: int = 2, configuration: dict[str, str] | None = None) -> str:
    """A table partitioned by ``p``: ``batches`` appends of `typed_rows` (one commit each, versions 0..),
    created with ``configuration``."""
    uri = str(path)
    for i in range(batches):
        lakehouse.write_delta(uri, typed_rows(10 * i), mode="append", partition_by=["p"],
                              configuration=configuration if i == 0 else None)
    return uri


def encoded_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A table's rows encoded as the CLI's JSON encodes them (so NaN compares equal to NaN)."""
    return [jsonable(r) for r in table.to_pylist(maps_as_pydicts="lossy")]


def sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in a stable order for comparison (by id, then the whole row)."""
    return sorted(rows, key=lambda r: (r.get("id"), json.dumps(r, sort_keys=True, default=str)))


def visible(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return ANSI.sub("", text)
