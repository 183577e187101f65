"""Tables of the DML benchmarks, generated once per (size, seed) and reused, and the fresh copies that every
mutating call works on.

* ``dml_<rows>``: ``rows`` rows in `DML_FILES` appends of one file each, written by `deltalake`: the
  columns of the full-read table plus ``bucket = id % 100``. lakehouse's predicate language has no ``%``,
  so the scattered DELETE filters on ``bucket`` instead of ``id % 100``; every file holds every bucket.
* ``dml_<rows>_dv``: the same data files (hard links) under a log whose version 0 enables deletion vectors
  (protocol 3/7 with the ``deletionVectors`` feature, ``delta.enableDeletionVectors=true``): what Spark
  writes for such a table. `deltalake` 1.6 cannot create it (it adds the ``variantType`` feature too).
* ``dml_partitioned_<rows>``: ``rows`` rows partitioned by ``day`` (`BIG_DAYS` days), written by
  `deltalake` in `BIG_FILES_PER_DAY` appends, so each day has that many files, each holding a
  contiguous id range (ids grow with the day, as in a time-ordered table).

`fresh_copy` hard-links data files and copies the log: Delta never changes a data file once written
(DELETE and MERGE write new files and new log entries), so sharing the data files is safe, costs no disk,
and writes nothing that the next timed call would have to wait for the disk to flush.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from benchmarks.datagen import MARKER, TableInfo, _active_files, _fresh_dir, _full_read_chunk, _reusable, _write_marker

GENERATOR_VERSION = 1
DML_FILES = 10
BUCKETS = 100
BIG_DAYS = 60
BIG_FILES_PER_DAY = 4
FIRST_DAY = date(2024, 1, 1)
LOG = "_delta_log"


def _dml_chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    t = _full_read_chunk(rng, start, n)
    return t.append_column("bucket", pa.array(np.arange(start, start + n, dtype=np.int64) % BUCKETS))


def dml_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """The MERGE/DELETE base table: ``rows`` rows in `DML_FILES` files, no deletion vectors."""
    from deltalake import write_deltalake

    path = data_dir / f"dml_{rows}"
    params = {"kind": "dml", "rows": rows, "files": DML_FILES, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, DML_FILES + 1).astype(np.int64)
    for i in range(DML_FILES):
        chunk = _dml_chunk(rng, int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        write_deltalake(str(path), chunk, mode="error" if i == 0 else "append")
    return _finish(path, params, DML_FILES - 1, DML_FILES)


def dml_dv_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """`dml_table`'s data under a log with deletion vectors enabled from version 0."""
    source = dml_table(data_dir, rows, seed)
    path = data_dir / f"dml_{rows}_dv"
    params = {**source.params, "kind": "dml_dv"}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    fresh_copy(source.path, path)
    _enable_deletion_vectors(path / LOG / f"{0:020d}.json")
    return _finish(path, params, DML_FILES - 1, DML_FILES)


def _enable_deletion_vectors(commit: Path) -> None:
    """Rewrite version 0's protocol and metadata as a table created with deletion vectors enabled."""
    lines = []
    for line in commit.read_bytes().splitlines():
        action = orjson.loads(line)
        if "protocol" in action:
            action["protocol"] = {"minReaderVersion": 3, "minWriterVersion": 7,
                                  "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}
        elif "metaData" in action:
            action["metaData"]["configuration"] = {**action["metaData"].get("configuration", {}),
                                                   "delta.enableDeletionVectors": "true"}
        lines.append(orjson.dumps(action))
    commit.write_bytes(b"\n".join(lines) + b"\n")


def day_name(day: int) -> str:
    """The ``day`` partition value of day number ``day`` (0-based)."""
    return (FIRST_DAY + timedelta(days=day)).isoformat()


def day_bounds(rows: int) -> np.ndarray:
    """Ids of day ``d`` are ``[bounds[d], bounds[d + 1])``."""
    return np.linspace(0, rows, BIG_DAYS + 1).astype(np.int64)


def big_partitioned_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """The upsert table: ``rows`` rows partitioned by ``day``, `BIG_FILES_PER_DAY` files per day."""
    from deltalake import write_deltalake

    path = data_dir / f"dml_partitioned_{rows}"
    params = {"kind": "dml_partitioned", "rows": rows, "days": BIG_DAYS, "files_per_day": BIG_FILES_PER_DAY,
              "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    for part in range(BIG_FILES_PER_DAY):
        # One append holds the part-th slice of every day: each append writes one file per day.
        write_deltalake(str(path), _big_slice(rng, rows, part), partition_by=["day"], mode="error" if part == 0 else "append")
    return _finish(path, params, BIG_FILES_PER_DAY - 1, BIG_DAYS * BIG_FILES_PER_DAY)


def _big_slice(rng: np.random.Generator, rows: int, part: int) -> pa.Table:
    days = day_bounds(rows)
    ranges = []
    for d in range(BIG_DAYS):
        cuts = np.linspace(days[d], days[d + 1], BIG_FILES_PER_DAY + 1).astype(np.int64)
        ranges.append((d, int(cuts[part]), int(cuts[part + 1])))
    ids = np.concatenate([np.arange(lo, hi, dtype=np.int64) for _, lo, hi in ranges])
    day_index = np.concatenate([np.full(hi - lo, d, dtype=np.int32) for d, lo, hi in ranges])
    t = _full_read_chunk(rng, 0, len(ids)).set_column(0, "id", pa.array(ids))
    names = pa.array([day_name(d) for d in range(BIG_DAYS)], pa.string())
    return t.append_column("day", names.take(pa.array(day_index)))


def _finish(path: Path, params: dict, version: int, files: int) -> TableInfo:
    """Validate with deltalake (version and file count), then write the marker that makes it reusable."""
    active = _active_files(path, version, files)
    _write_marker(path, params, active)
    return TableInfo(path, tuple(path / f for f in active), params)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: a real copy is slower but just as correct
        shutil.copy2(src, dst)


def fresh_copy(base: Path, dest: Path) -> Path:
    """A private copy of table ``base`` at ``dest`` for one mutating call: data files hard-linked, the log
    (which writers add to, and whose ``_last_checkpoint`` they replace) copied. Returns ``dest``."""
    shutil.copytree(base, dest, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(MARKER, LOG))
    shutil.copytree(base / LOG, dest / LOG)
    return dest
