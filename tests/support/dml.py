"""Tables for the DML tests in both modes (copy-on-write and deletion vectors), change data feed on by
default, and the state of a table before an operation that must fail."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

import lakehouse
from tests.support.log import log_state


MODES = ("cow", "dv")

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])


def config(mode: str, *, cdf: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Table properties for a DML mode: copy-on-write or deletion vectors (CDF on by default)."""
    conf = {"delta.enableDeletionVectors": "true" if mode == "dv" else "false"}
    if cdf:
        conf["delta.enableChangeDataFeed"] = "true"
    conf.update(extra or {})
    return conf


def rows_table(rows: list[dict[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def snapshot_dir(path: str) -> tuple[int, dict[str, bytes]]:
    """(latest version, bytes of every `_delta_log` file) to prove a failed operation changed nothing."""
    return lakehouse.DeltaTable(path).version, log_state(path)
