"""Helpers shared by the maintenance tests: rows read by lakehouse and by delta-rs sorted by a key column,
a per-version reference model checked at every version, commit-file inspection, file-time shifting.

Rows are compared as Python lists of dicts sorted by the key column (None first), so a difference points
at the exact row. delta-rs reads through `to_pyarrow_table()` where it can and through its DataFusion
engine (`QueryBuilder`) for tables with deletion vectors or column mapping, which its pyarrow reader
refuses; strings come back as `string_view` there, which `to_pylist` turns into `str` like any other.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

import lakehouse
from tests.operations.support import dl_read

DAY_S = 24 * 3600


def sort_rows(rows: Iterable[Mapping[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    """Rows as plain dicts sorted by ``key`` (None first, then by value; ties by the row's repr)."""
    out = [dict(r) for r in rows]
    return sorted(out, key=lambda r: (r[key] is not None, r[key] if r[key] is not None else 0, repr(sorted(r.items(), key=str))))


def lh_rows(path: str | Path, version: Any = None, key: str = "id") -> list[dict[str, Any]]:
    """Every row of the table at ``version`` read by a fresh lakehouse `DeltaTable`, sorted by ``key``."""
    return sort_rows(lakehouse.DeltaTable(str(path), version=version).to_arrow().to_pylist(), key)


def dl_table(path: str | Path, version: int | None = None) -> pa.Table:
    """The table at ``version`` as delta-rs reads it (DataFusion for column mapping and deletion vectors:
    `tests.operations.support.dl_read`)."""
    return dl_read(str(path), version)


def dl_rows(path: str | Path, version: int | None = None, key: str = "id") -> list[dict[str, Any]]:
    """Every row delta-rs reads at ``version``, sorted by ``key``."""
    return sort_rows(dl_table(path, version).to_pylist(), key)


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]], label: str) -> None:
    """Equal row lists, reporting the first differing row (and the lengths) when they are not."""
    if got == want:
        return
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise AssertionError(f"{label}: {len(got)} rows vs {len(want)} expected; first difference at row {i}:\n"
                                 f"  got  {g}\n  want {w}")
    raise AssertionError(f"{label}: {len(got)} rows vs {len(want)} expected; extra/missing tail "
                         f"{(got[len(want):] or want[len(got):])[:3]}")


class Model:
    """Expected rows per version of one table; `check` reopens the table at every version with lakehouse
    and with delta-rs and compares every row with the model."""

    def __init__(self, path: str | Path, key: str = "id", *, deltalake_reads: bool = True):
        self.path = str(path)
        self.key = key
        self.deltalake_reads = deltalake_reads
        self.versions: dict[int, list[dict[str, Any]]] = {}

    def record(self, version: int, rows: Iterable[Mapping[str, Any]] | pa.Table) -> None:
        """Expect ``rows`` at ``version``."""
        if isinstance(rows, pa.Table):
            rows = rows.to_pylist()
        self.versions[version] = sort_rows(rows, self.key)

    def same_as(self, version: int, earlier: int) -> None:
        """Expect at ``version`` exactly the rows of ``earlier`` (maintenance commits change no data)."""
        self.versions[version] = list(self.versions[earlier])

    def latest(self) -> list[dict[str, Any]]:
        """The rows expected at the newest recorded version (a fresh list)."""
        return [dict(r) for r in self.versions[max(self.versions)]]

    def check(self, versions: Sequence[int] | None = None) -> None:
        """Every recorded version (or ``versions``) read by both engines equals the model."""
        latest = lakehouse.DeltaTable(self.path).version
        assert latest == max(self.versions), f"latest version {latest}, model has {max(self.versions)}"
        for v in versions if versions is not None else sorted(self.versions):
            assert_same(lh_rows(self.path, v, self.key), self.versions[v], f"lakehouse v{v}")
            if self.deltalake_reads:
                assert_same(dl_rows(self.path, v, self.key), self.versions[v], f"delta-rs v{v}")


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


def log_files(path: str | Path) -> dict[str, bytes]:
    """Every file of `_delta_log` with its bytes (to prove an operation left the log alone)."""
    root = Path(path) / "_delta_log"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


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
