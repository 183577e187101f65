"""Helpers shared by the DML tests: table creation in both DML modes, reads through lakehouse and
deltalake (its DataFusion engine, which applies deletion vectors), row comparison as multisets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import deltalake
import pyarrow as pa

import lakehouse
from tests.conformance_support import canonical_rows, describe_difference
from tests.operations.support import log_state

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


def lh_read(path: str, version: int | None = None) -> pa.Table:
    return lakehouse.DeltaTable(path, version=version).to_arrow()


def dl_read(path: str, version: int | None = None) -> pa.Table:
    dt = deltalake.DeltaTable(path, version=version)
    return pa.table(deltalake.QueryBuilder().register("t", dt).execute("select * from t").read_all())


def rows_of(table: pa.Table | list[dict[str, Any]], columns: list[str] | None = None) -> Counter:
    if isinstance(table, list):
        table = pa.Table.from_pylist(table) if table else pa.table({c: pa.array([], pa.null()) for c in (columns or [])})
    if columns is not None:
        table = table.select(columns)
    return canonical_rows(table)


def assert_same_rows(got: Any, want: Any, label: str = "", columns: list[str] | None = None) -> None:
    g, w = rows_of(got, columns), rows_of(want, columns)
    assert g == w, f"{label}: rows differ ({sum(g.values())} vs {sum(w.values())} expected)\n{describe_difference(g, w)}"


def assert_versions_agree(path: str, columns: list[str] | None = None) -> None:
    """Every version of the table is read identically by lakehouse and deltalake."""
    latest = lakehouse.DeltaTable(path).version
    assert deltalake.DeltaTable(path).version() == latest
    for v in range(latest + 1):
        assert_same_rows(dl_read(path, v), lh_read(path, v), f"deltalake vs lakehouse at v{v}", columns)


def snapshot_dir(path: str) -> tuple[int, dict[str, bytes]]:
    """(latest version, bytes of every `_delta_log` file) to prove a failed operation changed nothing."""
    return lakehouse.DeltaTable(path).version, log_state(path)
