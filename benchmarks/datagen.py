"""Benchmark tables: generated once with fixed seeds, reused while their marker says they are valid.

Every table directory gets a ``.bench-meta.json`` marker, written only after the table has been built and
opened by `deltalake`; a directory whose marker is missing or describes other parameters is rebuilt from
scratch, so an interrupted generation never passes for a valid table.

The 2,000-commit log is not built with 2,000 `deltalake` appends: each append replays the whole log, so
the build is quadratic (measured on the 2-core machine: 13.5 s for 500 appends, 227 s for 2,000). Version 0
is written by `deltalake` (real protocol and metadata); versions 1.. are JSON commits written here in the
shape of a `deltalake` append, each adding one real 10-row Parquet file with stats. `deltalake` then opens
the result as the validity check.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

# Bump when the layout of generated data changes so stale directories are rebuilt.
GENERATOR_VERSION = 2
MARKER = ".bench-meta.json"
FULL_READ_FILES = 10
ROWS_PER_COMMIT = 10
# Commit i of the generated log is stamped BASE_MS + i * STEP_MS (commitInfo.timestamp and file mtime), so
# timestamp time travel has an exact, known answer.
BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP_MS = 1_000
_CATEGORIES = 500


@dataclass(frozen=True)
class TableInfo:
    """A generated table: its directory and the data files a raw Parquet reader should read."""

    path: Path
    data_files: tuple[Path, ...]
    params: dict[str, Any]


def commit_time_ms(version: int) -> int:
    """The commit timestamp (ms since epoch) the generated log gives ``version``."""
    return BASE_MS + version * STEP_MS


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(path: Path, params: dict[str, Any], data_files: list[str]) -> None:
    body = {"params": params, "data_files": data_files}
    (path / MARKER).write_text(json.dumps(body, indent=1))


def _reusable(path: Path, params: dict[str, Any]) -> TableInfo | None:
    marker = _read_marker(path)
    if marker is None or marker.get("params") != params:
        return None
    files = tuple(path / f for f in marker["data_files"])
    if not all(f.exists() for f in files):
        return None
    return TableInfo(path, files, params)


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def _active_files(path: Path, expect_version: int, expect_files: int) -> list[str]:
    """Open the table with deltalake (the validity check) and return its active files, relative."""
    from deltalake import DeltaTable

    dt = DeltaTable(str(path))
    uris = dt.file_uris()
    if dt.version() != expect_version or len(uris) != expect_files:
        raise RuntimeError(
            f"generated table {path} is not what was asked: deltalake sees version {dt.version()} with "
            f"{len(uris)} files, expected {expect_version} with {expect_files}"
        )
    root = str(path.resolve())
    return sorted(os.path.relpath(u.removeprefix("file://"), root) for u in uris)


# -- the 5M-row table for the full read -------------------------------------------------------------------
def _full_read_chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    names = pa.array([f"category_{i:03d}" for i in range(_CATEGORIES)], pa.string())
    ts_us = 1_672_531_200_000_000 + rng.integers(0, 365 * 86_400 * 1_000_000, n, dtype=np.int64)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "value": pa.array(rng.standard_normal(n)),
            "category": names.take(pa.array(rng.integers(0, _CATEGORIES, n))),
            "event_time": pa.array(ts_us, pa.timestamp("us", tz="UTC")),
        }
    )


def full_read_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """The full-read table: ``rows`` rows in `FULL_READ_FILES` appends of one file each."""
    path = data_dir / f"full_read_{rows}"
    params = {"kind": "full_read", "rows": rows, "files": FULL_READ_FILES, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    from deltalake import write_deltalake

    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, FULL_READ_FILES + 1).astype(np.int64)
    for i in range(FULL_READ_FILES):
        chunk = _full_read_chunk(rng, int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        write_deltalake(str(path), chunk, mode="error" if i == 0 else "append")
    files = _active_files(path, FULL_READ_FILES - 1, FULL_READ_FILES)
    _write_marker(path, params, files)
    return TableInfo(path, tuple(path / f for f in files), params)


# -- the long commit log ------------------------------------------------------------------------------
def _tiny_table(version: int) -> pa.Table:
    ids = np.arange(version * ROWS_PER_COMMIT, (version + 1) * ROWS_PER_COMMIT, dtype=np.int64)
    return pa.table({"id": pa.array(ids), "value": pa.array(ids.astype(np.float64) / 2)})


def _stats(t: pa.Table) -> str:
    ids, vals = t.column("id").to_pylist(), t.column("value").to_pylist()
    return orjson.dumps(
        {
            "numRecords": t.num_rows,
            "minValues": {"id": min(ids), "value": min(vals)},
            "maxValues": {"id": max(ids), "value": max(vals)},
            "nullCount": {"id": 0, "value": 0},
        }
    ).decode()


def _commit_path(path: Path, version: int) -> Path:
    return path / "_delta_log" / f"{version:020d}.json"


def _stamp(file: Path, ms: int) -> None:
    os.utime(file, ns=(ms * 1_000_000, ms * 1_000_000))


def _normalise_version_zero(path: Path) -> None:
    """Give deltalake's version 0 the generated log's clock, so every commit time is known in advance."""
    commit = _commit_path(path, 0)
    ms = commit_time_ms(0)
    lines = []
    for line in commit.read_bytes().splitlines():
        action = orjson.loads(line)
        if "commitInfo" in action:
            action["commitInfo"]["timestamp"] = ms
        elif "add" in action:
            action["add"]["modificationTime"] = ms
        elif "metaData" in action:
            action["metaData"]["createdTime"] = ms
        lines.append(orjson.dumps(action))
    commit.write_bytes(b"\n".join(lines) + b"\n")
    _stamp(commit, ms)


def _append_commit(path: Path, version: int, rnd: random.Random) -> None:
    """Write commit ``version``: one new 10-row data file, in the exact shape of a delta-rs append.

    The shape matters to a reader's speed: delta-rs spells out unused add fields as nulls (``tags``,
    ``baseRowId``...) where Spark omits them, and its commitInfo carries operationMetrics.
    """
    table = _tiny_table(version)
    name = f"part-00000-{uuid.UUID(int=rnd.getrandbits(128), version=4)}-c000.snappy.parquet"
    pq.write_table(table, path / name, compression="snappy")
    ms = commit_time_ms(version)
    metrics = {"num_added_files": 1, "num_removed_files": 0, "num_partitions": 0, "num_added_rows": table.num_rows,
               "execution_time_ms": 1, "num_retries": 0}  # fmt: skip
    actions = [
        {
            "commitInfo": {
                "timestamp": ms,
                "operation": "WRITE",
                "operationParameters": {"mode": "Append"},
                "engineInfo": "lakehouse-benchmarks (delta-rs append shape)",
                "operationMetrics": metrics,
                "clientVersion": "lakehouse-benchmarks",
            }
        },
        {
            "add": {
                "path": name,
                "partitionValues": {},
                "size": (path / name).stat().st_size,
                "modificationTime": ms,
                "dataChange": True,
                "stats": _stats(table),
                "tags": None,
                "baseRowId": None,
                "defaultRowCommitVersion": None,
                "clusteringProvider": None,
            }
        },
    ]
    commit = _commit_path(path, version)
    with open(commit, "xb") as fh:  # "x": a log entry is never overwritten, as a real writer guarantees
        fh.write(b"".join(orjson.dumps(a) + b"\n" for a in actions))
    _stamp(commit, ms)


def _log_intact(path: Path, commits: int) -> bool:
    """The last commit is there and commit times survived (a plain copy resets mtimes)."""
    last = _commit_path(path, commits - 1)
    return last.exists() and last.stat().st_mtime_ns == commit_time_ms(commits - 1) * 1_000_000


def commit_log_table(data_dir: Path, commits: int, seed: int) -> TableInfo:
    """A log of ``commits`` commits (versions 0..commits-1), each adding one 10-row file; no checkpoint."""
    path = data_dir / f"log_{commits}"
    params = {"kind": "log", "commits": commits, "rows_per_commit": ROWS_PER_COMMIT, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None and _log_intact(path, commits):
        return info
    from deltalake import write_deltalake

    _fresh_dir(path)
    write_deltalake(str(path), _tiny_table(0), mode="error")
    _normalise_version_zero(path)
    rnd = random.Random(seed)
    for version in range(1, commits):
        _append_commit(path, version, rnd)
    files = _active_files(path, commits - 1, commits)
    _write_marker(path, params, files)
    return TableInfo(path, tuple(path / f for f in files), params)


def checkpointed_log_table(data_dir: Path, commits: int, seed: int) -> TableInfo:
    """The same log as `commit_log_table`, plus a deltalake checkpoint at the last version."""
    source = commit_log_table(data_dir, commits, seed)
    path = data_dir / f"log_{commits}_checkpoint"
    params = {**source.params, "kind": "log+checkpoint"}
    if (
        (info := _reusable(path, params)) is not None
        and _log_intact(path, commits)
        and (path / "_delta_log" / "_last_checkpoint").exists()
    ):
        return info
    from deltalake import DeltaTable

    _fresh_dir(path)
    # Hard links keep the commit files' mtimes (timestamp time travel) and cost no disk space; the
    # checkpoint adds new files and never rewrites existing ones.
    try:
        shutil.copytree(source.path, path, copy_function=os.link, ignore=shutil.ignore_patterns(MARKER))
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(source.path, path, ignore=shutil.ignore_patterns(MARKER))
    DeltaTable(str(path)).create_checkpoint()
    last = json.loads((path / "_delta_log" / "_last_checkpoint").read_text())
    if last.get("version") != commits - 1:
        raise RuntimeError(f"deltalake wrote a checkpoint at version {last.get('version')}, expected {commits - 1}")
    if not _commit_path(path, 0).exists():
        raise RuntimeError("creating the checkpoint removed old commit files; time travel data would be lost")
    files = _active_files(path, commits - 1, commits)
    _write_marker(path, params, files)
    return TableInfo(path, tuple(path / f for f in files), params)
