"""Shared helpers for the write-path tests: read a table with both engines at a version and compare
every row with the expected data; snapshot the `_delta_log` to prove a failed write changed nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import deltalake
import pyarrow as pa

import lakehouse
from tests.conformance_support import canonical_rows, describe_difference


def lh_read(path: str, version: Any = None, storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    return lakehouse.DeltaTable(path, version=version, storage_options=storage_options).to_arrow()


def dl_read(path: str, version: int | None = None, storage_options: Mapping[str, str] | None = None,
            sql: bool = False, **kwargs: Any) -> pa.Table:
    """deltalake's read; ``sql=True`` uses its DataFusion engine (needed for column mapping, which the
    pyarrow path of deltalake 1.6 reads as all-null columns)."""
    dt = deltalake.DeltaTable(path, version=version, storage_options=dict(storage_options) if storage_options else None)
    config = dt.metadata().configuration
    if (config.get("delta.columnMapping.mode") or "none") != "none" and not kwargs:
        sql = True
    if sql:
        return pa.table(deltalake.QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())
    try:
        return dt.to_pyarrow_table(**kwargs)
    except deltalake.exceptions.DeltaProtocolError:
        # deltalake's pyarrow reader refuses deletion vectors; its DataFusion engine applies them.
        if kwargs:
            raise
        return pa.table(deltalake.QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())


def as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(type(data))


def assert_rows(got: pa.Table, want: Any, label: str = "") -> None:
    want = as_table(want)
    assert sorted(got.column_names) == sorted(want.column_names), f"{label}: columns {got.column_names} != {want.column_names}"
    g, w = canonical_rows(got), canonical_rows(want)
    assert g == w, f"{label}: rows differ ({sum(g.values())} rows vs {sum(w.values())} expected)\n{describe_difference(g, w)}"


def assert_version(path: str, version: int, expected: Any, *, lh_options: Mapping[str, Any] | None = None,
                   dl_options: Mapping[str, str] | None = None, use_deltalake: bool = True) -> None:
    """A *new* lakehouse DeltaTable and deltalake both read exactly ``expected`` at ``version``."""
    lt = lakehouse.DeltaTable(path, version=version, storage_options=lh_options)
    assert lt.version == version
    assert_rows(lt.to_arrow(), expected, f"lakehouse v{version}")
    if use_deltalake:
        assert_rows(dl_read(path, version, dl_options), expected, f"deltalake v{version}")


class Versions:
    """Expected contents per version of one table, checked at every version with both readers."""

    def __init__(self, path: str, *, lh_options: Mapping[str, Any] | None = None,
                 dl_options: Mapping[str, str] | None = None, use_deltalake: bool = True):
        """``use_deltalake=False`` only for tables with features deltalake cannot read."""
        self.use_deltalake = use_deltalake
        self.path = path
        self.lh_options = lh_options
        self.dl_options = dl_options
        self.expected: dict[int, pa.Table] = {}

    def __setitem__(self, version: int, data: Any) -> None:
        self.expected[version] = as_table(data)

    def __getitem__(self, version: int) -> pa.Table:
        return self.expected[version]

    @property
    def latest(self) -> int:
        return max(self.expected)

    def check(self, versions: Any = None) -> None:
        latest = lakehouse.DeltaTable(self.path, storage_options=self.lh_options)
        assert latest.version == self.latest
        if self.use_deltalake:
            dl = deltalake.DeltaTable(self.path, storage_options=dict(self.dl_options) if self.dl_options else None)
            assert dl.version() == self.latest
        for v in (versions if versions is not None else sorted(self.expected)):
            assert_version(self.path, v, self.expected[v], lh_options=self.lh_options, dl_options=self.dl_options,
                           use_deltalake=self.use_deltalake)


def log_state(path: str | Path) -> dict[str, bytes]:
    """Every file of the local `_delta_log` with its bytes."""
    root = Path(path) / "_delta_log"
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def commit_actions(path: str | Path, version: int) -> list[dict[str, Any]]:
    text = (Path(path) / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def actions_of(path: str | Path, version: int, kind: str) -> list[dict[str, Any]]:
    return [a[kind] for a in commit_actions(path, version) if kind in a]


def concat(*tables: Any) -> pa.Table:
    ts = [as_table(t) for t in tables]
    return pa.concat_tables(ts, promote_options="permissive") if len(ts) > 1 else ts[0]
