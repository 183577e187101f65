"""Groups 2 and 3: open the latest version of a long commit log (no data read), without and with a
checkpoint at the last version.

Without a checkpoint every JSON commit must be read and replayed; with one, the reader should touch
little more than the checkpoint Parquet file. The timed call is the constructor of each engine's table
object, which in both engines materialises the active-file list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable

import lakehouse
from benchmarks.common import BenchResult, Config, Target, Variant, expect, measure
from benchmarks.datagen import ROWS_PER_COMMIT, checkpointed_log_table, commit_log_table


def lakehouse_check(version: int, files: int):
    """A per-call check that a lakehouse table sits at ``version`` with ``files`` active files."""

    def check(t: lakehouse.DeltaTable) -> None:
        expect(t.version == version, f"lakehouse opened version {t.version}, expected {version}")
        expect(t.snapshot.num_files == files, f"lakehouse sees {t.snapshot.num_files} files, expected {files}")

    return check


def deltalake_check(version: int, files: int):
    """A per-call check that a deltalake table sits at ``version`` with ``files`` active files."""

    def check(t: DeltaTable) -> None:
        expect(t.version() == version, f"deltalake opened version {t.version()}, expected {version}")
        n = len(t.file_uris())
        expect(n == files, f"deltalake sees {n} files, expected {files}")

    return check


def snapshot_guard(lh: lakehouse.DeltaTable, dl: DeltaTable, version: int) -> list[str]:
    """Both engines agree on the version, the active file set and the rows those files hold.

    The rows are read here, once and untimed, because the timed calls read no data.
    """
    files = version + 1  # every generated commit adds exactly one file
    lakehouse_check(version, files)(lh)
    deltalake_check(version, files)(dl)
    lh_paths = sorted(lh.files().column("path").to_pylist())
    dl_paths = sorted(os.path.basename(u) for u in dl.file_uris())
    expect(lh_paths == dl_paths, "lakehouse and deltalake disagree on the active files")
    lh_ids = np.sort(lh.to_arrow(columns=["id"]).column("id").to_numpy())
    dl_ids = np.sort(pa.RecordBatchReader.from_stream(dl.scan(columns=["id"])).read_all().column("id").to_numpy())
    rows = files * ROWS_PER_COMMIT
    expect(len(lh_ids) == len(dl_ids) == rows, f"row counts differ: lakehouse {len(lh_ids)}, deltalake {len(dl_ids)}, expected {rows}")
    expect(np.array_equal(lh_ids, dl_ids), "lakehouse and deltalake read different ids")
    return [
        f"both engines at version {version} with the same {files} active files on every call",
        f"both read the same {rows} rows (sorted ids equal), untimed",
    ]


def open_variants(path: str, expect_version: int, **open_kwargs: Any) -> list[Variant]:
    """Both engines' constructors with the same keyword arguments, checked to land on ``expect_version``."""
    files = expect_version + 1  # every generated commit adds exactly one file
    kw = ", ".join(f"{k}={v!r}" for k, v in open_kwargs.items())
    suffix = f", {kw}" if kw else ""
    return [
        Variant(
            "lakehouse",
            f"lakehouse.DeltaTable(path{suffix})",
            lambda: lakehouse.DeltaTable(path, **open_kwargs),
            lakehouse_check(expect_version, files),
        ),
        Variant(
            "deltalake",
            f"deltalake.DeltaTable(path{suffix})",
            lambda: DeltaTable(path, **open_kwargs),
            deltalake_check(expect_version, files),
        ),
    ]


def _bench(name: str, description: str, path: Path, cfg: Config, target: Target) -> BenchResult:
    latest = cfg.commits - 1
    checks = snapshot_guard(lakehouse.DeltaTable(path), DeltaTable(str(path)), latest)
    return BenchResult(
        name=name,
        description=description,
        params={"commits": cfg.commits, "path": str(path)},
        measurements=measure(open_variants(str(path), latest), cfg.repeat),
        target=target,
        checks=checks,
    )


def run_no_checkpoint(cfg: Config) -> list[BenchResult]:
    """Open the latest version of the log with no checkpoint (replays every JSON commit)."""
    info = commit_log_table(cfg.data_dir, cfg.commits, cfg.seed)
    return [
        _bench(
            "snapshot_no_checkpoint",
            f"open latest version of a {cfg.commits:,}-commit log, no checkpoint (no data read)",
            info.path,
            cfg,
            Target("vs_deltalake", 0.4, "lakehouse <= 0.4x deltalake"),
        )
    ]


def run_checkpoint(cfg: Config) -> list[BenchResult]:
    """Open the latest version of the same log with a checkpoint at that version."""
    info = checkpointed_log_table(cfg.data_dir, cfg.commits, cfg.seed)
    return [
        _bench(
            "snapshot_checkpoint",
            f"open latest version of a {cfg.commits:,}-commit log with a checkpoint at it (no data read)",
            info.path,
            cfg,
            Target("absolute_ms", 20.0, "lakehouse <= 20 ms"),
        )
    ]
