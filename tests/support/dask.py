"""Helpers of the Dask tests. The partition functions here run on the workers, so they live in an
importable module (a worker process imports `tests.support.dask` to unpickle them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

import lakehouse
from tests.support.conformance import canonical_rows


def to_arrow(df: pd.DataFrame, index: str | None = None) -> pa.Table:
    """A computed Dask result back as Arrow (the index as a column when it is one)."""
    if index is not None:
        df = df.reset_index()
    return pa.Table.from_pandas(df, preserve_index=False)


def assert_same_rows(actual: pa.Table, expected: pa.Table) -> None:
    """Same column names and the same rows as a multiset (values compared canonically)."""
    assert sorted(actual.column_names) == sorted(expected.column_names)
    assert actual.num_rows == expected.num_rows
    assert canonical_rows(actual) == canonical_rows(expected)


def parquet_files(root: str | Path) -> set[str]:
    """Every Parquet file under a local table root, relative to it."""
    root = Path(root)
    return {p.relative_to(root).as_posix() for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}


def referenced_files(uri: str) -> set[str]:
    """The active data files of the latest version, as decoded relative paths."""
    from urllib.parse import unquote

    return {unquote(p) for p in lakehouse.DeltaTable(uri).files().column("path").to_pylist()}


def assert_no_missing_file(uri: str) -> None:
    """Every file the latest version references exists (and the table reads)."""
    missing = [p for p in referenced_files(uri) if not (Path(uri) / p).is_file()]
    assert not missing, missing
    lakehouse.DeltaTable(uri).to_arrow()


def _wait_for_files(root: str, at_least: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(parquet_files(root)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)


def fail_after_others(df: pd.DataFrame, *, trigger: int, root: str, at_least: int, how: str, marker: str | None = None) -> pd.DataFrame:
    """Partition function: partition ``trigger`` waits until the other partitions wrote ``at_least``
    files under ``root``, then fails (``how``: "raise" or "kill" its own worker process with SIGKILL).
    With ``marker``, only the first attempt fails (a file records that it happened)."""
    if len(df) and int(df["part"].iloc[0]) == trigger:
        if marker is not None and os.path.exists(marker):
            return df
        _wait_for_files(root, at_least)
        if marker is not None:
            Path(marker).write_text(str(os.getpid()))
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError(f"injected failure in partition {trigger}")
    return df
