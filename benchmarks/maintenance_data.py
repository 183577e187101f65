"""Tables of the maintenance benchmarks (issue #6), generated once per (size, seed) by `deltalake` and reused.

* ``compact_<files>``: ``files`` data files of `COMPACT_FILE_ROWS` rows each (``id`` int64, ``value``
  float64, ``name`` string, ``day`` date32), unpartitioned, written by one `deltalake` append with
  ``target_file_size=1``: delta-rs cuts a file after every 1,024-row batch, so the append leaves exactly one
  file per 1,024 rows (the file count is checked). Each file holds a contiguous id range.
* ``compact_large_<rows>``: ``rows`` rows of the compaction columns in `LARGE_FILES` appends of one file
  each (ids in order), so that a default-target OPTIMIZE rewrites them all into one file.
* ``zorder_<rows>``: ``rows`` rows in `ZORDER_FILES` appends of one file each: ``id`` (0..rows-1, in order),
  the Z-order columns ``a`` (int64, uniform in [0, 10^9)) and ``b`` (float64, uniform in [0, 1)), both
  random so that every input file spans their whole range, and a string payload ``s``.
* ``vacuum_<files>``: ``files`` data files of which half are tombstoned: version 0 creates the table with
  ``files / 2`` files, version 1 is an overwrite that removes them all and adds ``files / 2`` new ones (both
  appends with ``target_file_size=1``, so 1,024 rows per file; ``id`` int64 and ``value`` float64). A
  VACUUM with retention 0 therefore deletes exactly the files of version 0.

The copies each mutating call works on are `dml_data.fresh_copy`'s (data files hard-linked, log copied).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.datagen import TableInfo, _fresh_dir, _reusable
from benchmarks.dml_data import _finish

GENERATOR_VERSION = 1
#: delta-rs writes with ``target_file_size=1`` one file per 1,024-row batch it cuts its input into.
COMPACT_FILE_ROWS = 1024
ZORDER_FILES = 10
LARGE_FILES = 50
A_RANGE = 1_000_000_000
_NAMES = 500


def _names(rng: np.random.Generator, n: int) -> pa.Array:
    names = pa.array([f"name_{i:03d}" for i in range(_NAMES)], pa.string())
    return names.take(pa.array(rng.integers(0, _NAMES, n)))


def compact_rows(files: int) -> int:
    """Rows of the compaction table of ``files`` files."""
    return files * COMPACT_FILE_ROWS


def compact_table(data_dir: Path, files: int, seed: int) -> TableInfo:
    """``files`` small files of `COMPACT_FILE_ROWS` rows, one `deltalake` append (see the module docstring)."""
    from deltalake import write_deltalake

    path = data_dir / f"compact_{files}"
    params = {"kind": "compact", "files": files, "rows_per_file": COMPACT_FILE_ROWS, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    n = compact_rows(files)
    first = np.datetime64(date(2024, 1, 1), "D")
    table = pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "value": pa.array(rng.standard_normal(n)),
        "name": _names(rng, n),
        "day": pa.array(first + rng.integers(0, 365, n).astype("timedelta64[D]"), pa.date32()),
    })
    write_deltalake(str(path), table, target_file_size=1)
    return _finish(path, params, 0, files)


def _compact_rows(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    first = np.datetime64(date(2024, 1, 1), "D")
    return pa.table({
        "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "value": pa.array(rng.standard_normal(n)),
        "name": _names(rng, n),
        "day": pa.array(first + rng.integers(0, 365, n).astype("timedelta64[D]"), pa.date32()),
    })


def compact_large_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """``rows`` rows in `LARGE_FILES` files of the compaction columns (see the module docstring)."""
    from deltalake import write_deltalake

    path = data_dir / f"compact_large_{rows}"
    params = {"kind": "compact_large", "rows": rows, "files": LARGE_FILES, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, LARGE_FILES + 1).astype(np.int64)
    for i in range(LARGE_FILES):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        write_deltalake(str(path), _compact_rows(rng, lo, hi - lo), mode="error" if i == 0 else "append")
    return _finish(path, params, LARGE_FILES - 1, LARGE_FILES)


def zorder_table(data_dir: Path, rows: int, seed: int) -> TableInfo:
    """``rows`` rows with random ``a`` and ``b`` in `ZORDER_FILES` files (see the module docstring)."""
    from deltalake import write_deltalake

    path = data_dir / f"zorder_{rows}"
    params = {"kind": "zorder", "rows": rows, "files": ZORDER_FILES, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, ZORDER_FILES + 1).astype(np.int64)
    for i in range(ZORDER_FILES):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        chunk = pa.table({
            "id": pa.array(np.arange(lo, hi, dtype=np.int64)),
            "a": pa.array(rng.integers(0, A_RANGE, hi - lo, dtype=np.int64)),
            "b": pa.array(rng.random(hi - lo)),
            "s": _names(rng, hi - lo),
        })
        write_deltalake(str(path), chunk, mode="error" if i == 0 else "append")
    return _finish(path, params, ZORDER_FILES - 1, ZORDER_FILES)


def _vacuum_chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    return pa.table({"id": pa.array(np.arange(start, start + n, dtype=np.int64)), "value": pa.array(rng.standard_normal(n))})


def vacuum_live_rows(files: int) -> tuple[int, int]:
    """The id range ``[lo, hi)`` the vacuum table holds after its overwrite."""
    half = files // 2 * COMPACT_FILE_ROWS
    return half, 2 * half


def vacuum_table(data_dir: Path, files: int, seed: int) -> TableInfo:
    """``files`` data files, half of them tombstoned by an overwrite (see the module docstring)."""
    from deltalake import write_deltalake

    if files < 2 or files % 2:
        raise ValueError(f"the vacuum table needs an even number of files >= 2, got {files}")
    path = data_dir / f"vacuum_{files}"
    params = {"kind": "vacuum", "files": files, "rows_per_file": COMPACT_FILE_ROWS, "seed": seed, "gen": GENERATOR_VERSION}
    if (info := _reusable(path, params)) is not None:
        return info
    _fresh_dir(path)
    rng = np.random.default_rng(seed)
    lo, hi = vacuum_live_rows(files)
    write_deltalake(str(path), _vacuum_chunk(rng, 0, lo), target_file_size=1)
    write_deltalake(str(path), _vacuum_chunk(rng, lo, hi - lo), mode="overwrite", target_file_size=1)
    return _finish(path, params, 1, files // 2)
