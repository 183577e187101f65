"""The `_delta_log` and the data files of a local table as tests inspect them: commit actions as dicts,
every log file's bytes (to prove a failed operation changed nothing), active and on-disk data files, file
ages and tombstone times shifted to make a table look old (for VACUUM and log cleanup)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

import lakehouse

DAY_S = 24 * 3600


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
    """The actions of commit ``version`` as dicts (one per JSON line)."""
    text = (Path(path) / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def actions_of(path: str | Path, version: int, kind: str) -> list[dict[str, Any]]:
    """The ``kind`` actions (`add`, `remove`, `commitInfo`, ...) of commit ``version``."""
    return [a[kind] for a in commit_actions(path, version) if kind in a]


def commit_info(path: str | Path, version: int) -> dict[str, Any]:
    """The commitInfo of commit ``version``."""
    infos = actions_of(path, version, "commitInfo")
    assert len(infos) == 1, f"commit {version} has {len(infos)} commitInfo actions"
    return infos[0]


def active_paths(path: str | Path, version: int | None = None) -> list[str]:
    """Sorted relative paths of the active data files."""
    return sorted(lakehouse.DeltaTable(str(path), version=version).files()["path"].to_pylist())


def data_files_on_disk(path: str | Path) -> set[str]:
    """Relative paths of every file under the table root outside `_delta_log`."""
    root = Path(path)
    out = set()
    for p in root.rglob("*"):
        if p.is_file() and "_delta_log" not in p.relative_to(root).parts:
            out.add(p.relative_to(root).as_posix())
    return out


def age_files(path: str | Path, paths: Iterable[str], seconds: float) -> None:
    """Set the mtime (and atime) of table-relative ``paths`` to ``seconds`` ago."""
    when = time.time() - seconds
    for rel in paths:
        os.utime(Path(path) / rel, (when, when))


def age_all_data_files(path: str | Path, seconds: float) -> None:
    """Make every file outside `_delta_log` look ``seconds`` old (so VACUUM's in-flight guard is moot)."""
    age_files(path, data_files_on_disk(path), seconds)


def shift_tombstones(path: str | Path, version: int, deletion_ms: int) -> None:
    """Rewrite commit ``version`` so that its `remove` actions carry ``deletion_ms`` as deletionTimestamp
    (the way a table looks when that commit happened long ago); the commit's mtime is kept."""
    f = Path(path) / "_delta_log" / f"{version:020d}.json"
    st = f.stat()
    lines = []
    for line in f.read_text().splitlines():
        if not line.strip():
            continue
        a = json.loads(line)
        if "remove" in a:
            a["remove"]["deletionTimestamp"] = deletion_ms
        lines.append(json.dumps(a, separators=(",", ":")))
    f.write_text("\n".join(lines) + "\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def age_table(path: str | Path, seconds: float) -> None:
    """Make the whole table look ``seconds`` older: every remove's deletionTimestamp, every commit file's
    mtime (kept in order) and every data file's mtime."""
    root = Path(path) / "_delta_log"
    now = time.time()
    commits = sorted(root.glob("*.json"))
    for i, f in enumerate(commits):
        version = int(f.name[:20])
        when = now - seconds - (len(commits) - i)  # one second apart, strictly increasing
        shift_tombstones(path, version, int(when * 1000))
        os.utime(f, (when, when))
    age_all_data_files(path, seconds + len(commits) + 1)


def parquet_schema(path: str | Path, rel: str) -> pa.Schema:
    """The Arrow schema stored in data file ``rel`` (physical names, field ids in metadata)."""
    return pq.read_schema(Path(path) / rel)


def field_id(field: pa.Field) -> int | None:
    """The Parquet field id pyarrow exposes in a field's metadata, None when absent."""
    meta = field.metadata or {}
    raw = meta.get(b"PARQUET:field_id")
    return int(raw) if raw is not None else None


def file_stats(path: str | Path, version: int | None = None) -> list[dict[str, Any]]:
    """Parsed stats of every active file (None entries for files without stats are dropped)."""
    stats = lakehouse.DeltaTable(str(path), version=version).files()["stats"].to_pylist()
    return [json.loads(s) for s in stats if s]
