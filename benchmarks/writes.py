"""Write benchmarks: bulk write, partitioned write, 100 small appends, one append on a long log.

Every call writes into a fresh directory (created and removed outside the timed region by the check), so
no run sees another's files. Checks re-read what was written: a writer that loses rows posts no time.

The bulk and partitioned writes are encode-bound, so each has lakehouse with its default ``max_workers``
(the core count) and with ``max_workers=1``, delta-rs, raw pyarrow on one thread with the same codec
(``pyarrow_1t``: ``pq.write_table``, one file per partition) and pyarrow's multi-threaded
``write_dataset`` (``pyarrow_mt``). Times are taken in this process; each variant's peak memory comes from
one more run of the same write in a fresh child process (`benchmarks.dml_child`, op ``write``).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

import lakehouse
from lakehouse.snapshot import snapshot as lakehouse_snapshot
from benchmarks.common import BenchResult, ChildRun, Config, Target, Variant, expect, measure
from benchmarks.dml import run_child
from benchmarks.datagen import _full_read_chunk, commit_log_table

APPENDS = 100
PARTITIONS = 10
#: Timed runs (after one warm-up) of the bulk and partitioned writes, whatever ``--repeat`` says: five
#: variants of a multi-second write would otherwise take a third of ``make bench``'s time.
WRITE_REPEAT = 5


def _table(rows: int, seed: int) -> pa.Table:
    t = _full_read_chunk(np.random.default_rng(seed), 0, rows)
    part = pa.array((np.arange(rows) % PARTITIONS).astype(np.int64)).cast(pa.string())
    return t.append_column("part", pa.compute.binary_join_element_wise("p", part, ""))


class _Dirs:
    """Fresh directories under one scratch root; `take()` hands out the next, `clean()` removes them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
        self.counter = itertools.count()

    def take(self) -> str:
        return str(self.root / f"d{next(self.counter)}")

    def clean(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _count_rows(path: str, *, delta: bool) -> int:
    if delta:
        return lakehouse.DeltaTable(path).to_arrow(columns=["id"]).num_rows
    return ds.dataset(path, format="parquet").count_rows()


def _raw_one_thread(table: pa.Table, path: str, part: list[str] | None) -> None:
    """Raw pyarrow on one thread, zstd: one ``pq.write_table`` per file (per partition value if partitioned)."""
    if not part:
        Path(path).mkdir(parents=True)
        pq.write_table(table, f"{path}/part-0.parquet", compression="zstd")
        return
    keys = table.column(part[0])
    for value in pa.compute.unique(keys).to_pylist():
        d = Path(path) / f"{part[0]}={value}"
        d.mkdir(parents=True)
        pq.write_table(table.filter(pa.compute.equal(keys, value)).drop_columns(part), d / "part-0.parquet",
                       compression="zstd")


def _raw_dataset(table: pa.Table, path: str, part: list[str] | None) -> None:
    ds.write_dataset(table, path, format="parquet", partitioning=part, partitioning_flavor="hive" if part else None,
                     file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"), use_threads=True)


def _write_variants(table: pa.Table, dirs: _Dirs, *, partitioned: bool) -> list[Variant]:
    rows = table.num_rows
    part = ["part"] if partitioned else None
    source = str(dirs.root / "source.parquet")
    pq.write_table(table, source)  # the input of the memory runs, loaded by each child before it is measured

    def runner(fn):
        def call() -> str:
            path = dirs.take()
            fn(path)
            return path
        return call

    def check_delta(path: str) -> None:
        expect(_count_rows(path, delta=True) == rows, f"{path}: wrong row count after write")
        dirs.clean(path)

    def check_raw(path: str) -> None:
        expect(_count_rows(path, delta=False) == rows, f"{path}: wrong row count after raw write")
        dirs.clean(path)

    def memory(engine: str, check: Callable[[str], None], **spec: Any) -> Callable[[], ChildRun]:
        def run() -> ChildRun:
            path = dirs.take()
            child = run_child({"op": "write", "engine": engine, "table": path, "source": source,
                               "partition_by": part, **spec})
            check(path)
            return child
        return run

    return [
        Variant("lakehouse", "lakehouse.write_delta(path, table)", runner(lambda p: lakehouse.write_delta(p, table, partition_by=part)),
                check_delta, memory=memory("lakehouse", check_delta)),
        Variant("lakehouse", "lakehouse.write_delta(path, table, max_workers=1)",
                runner(lambda p: lakehouse.write_delta(p, table, partition_by=part, max_workers=1)), check_delta,
                note="one encode worker: the per-core baseline; for information", compare=False, key="lakehouse_1w",
                memory=memory("lakehouse", check_delta, max_workers=1)),
        Variant("deltalake", "deltalake.write_deltalake(path, table)", runner(lambda p: write_deltalake(p, table, partition_by=part)),
                check_delta, memory=memory("deltalake", check_delta)),
        Variant("pyarrow", "pq.write_table (zstd, one thread" + (", one file per partition)" if partitioned else ")"),
                runner(lambda p: _raw_one_thread(table, p, part)), check_raw, key="pyarrow_1t",
                memory=memory("pyarrow", check_raw, threads=1)),
        Variant("pyarrow", "ds.write_dataset (zstd, all cores)", runner(lambda p: _raw_dataset(table, p, part)), check_raw,
                key="pyarrow_mt", memory=memory("pyarrow", check_raw, threads=0)),
    ]


def run_bulk(cfg: Config) -> list[BenchResult]:
    """Bulk write of ``cfg.rows`` rows, unpartitioned."""
    table = _table(cfg.rows, cfg.seed).drop_columns(["part"])
    dirs = _Dirs()
    try:
        return [BenchResult(
            name="bulk_write", description=f"write {cfg.rows:,} rows into a new table (one commit)",
            params={"rows": cfg.rows, "columns": table.column_names}, measurements=measure(_write_variants(table, dirs, partitioned=False), min(cfg.repeat, WRITE_REPEAT)),
            target=Target("vs_peer", 0.8, "<= 0.8x raw pyarrow on one thread", peer="pyarrow_1t"),
            rss_target=Target("rss_vs_deltalake", 1.0, "peak RSS <= deltalake's"),
            checks=["every write re-read: row count equal to the input"],
        )]
    finally:
        dirs.close()


def run_partitioned(cfg: Config) -> list[BenchResult]:
    """Partitioned write of ``cfg.rows`` rows into `PARTITIONS` partitions."""
    table = _table(cfg.rows, cfg.seed)
    dirs = _Dirs()
    try:
        return [BenchResult(
            name="partitioned_write", description=f"write {cfg.rows:,} rows partitioned by a {PARTITIONS}-value column",
            params={"rows": cfg.rows, "partitions": PARTITIONS}, measurements=measure(_write_variants(table, dirs, partitioned=True), min(cfg.repeat, WRITE_REPEAT)),
            target=Target("vs_peer", 0.9, "<= 0.9x pyarrow's write_dataset", peer="pyarrow_mt"),
            rss_target=Target("rss_vs_deltalake", 1.0, "peak RSS <= deltalake's"),
            checks=["every write re-read: row count equal to the input"],
        )]
    finally:
        dirs.close()


def run_small_appends(cfg: Config) -> list[BenchResult]:
    """`APPENDS` appends of 10 rows each to a fresh table (time for all of them)."""
    small = pa.table({"id": pa.array(np.arange(10, dtype=np.int64)), "value": pa.array(np.arange(10) / 2)})
    dirs = _Dirs()

    def series(write):
        def call() -> str:
            path = dirs.take()
            write(path, small, "error")
            for _ in range(APPENDS):
                write(path, small, "append")
            return path
        return call

    def check(path: str) -> None:
        expect(lakehouse.DeltaTable(path).version == APPENDS, f"{path}: expected version {APPENDS}")
        expect(_count_rows(path, delta=True) == 10 * (APPENDS + 1), f"{path}: rows lost")
        dirs.clean(path)

    variants = [
        Variant("lakehouse", f"create + {APPENDS} x lakehouse.write_delta(mode='append')",
                series(lambda p, t, m: lakehouse.write_delta(p, t, mode=m)), check),
        Variant("deltalake", f"create + {APPENDS} x deltalake.write_deltalake(mode='append')",
                series(lambda p, t, m: write_deltalake(p, t, mode=m)), check),
    ]
    try:
        return [BenchResult(
            name="small_appends", description=f"create a table, then {APPENDS} appends of 10 rows (total time)",
            params={"appends": APPENDS}, measurements=measure(variants, max(1, cfg.repeat // 3)),
            target=Target("absolute_ms", 10.0 * (APPENDS + 1), f"lakehouse <= 10 ms per commit ({10 * (APPENDS + 1)} ms in all)"),
            checks=["version and row count checked after each series"],
        )]
    finally:
        dirs.close()


def run_append_long_log(cfg: Config) -> list[BenchResult]:
    """One append (open + write + commit, nothing cached) on a ``cfg.commits``-commit log, no checkpoint."""
    source = commit_log_table(cfg.data_dir, cfg.commits, cfg.seed)
    dirs = _Dirs()
    copies = {}
    for engine in ("lakehouse", "deltalake"):
        dest = Path(dirs.take())
        shutil.copytree(source.path, dest)
        copies[engine] = str(dest)
    one = pa.table({"id": pa.array([10**9], pa.int64()), "value": pa.array([0.5])})

    def lh() -> int:
        lakehouse_snapshot._CACHE.clear()  # a fresh process: nothing remembered from the last call
        return lakehouse.write_delta(copies["lakehouse"], one, mode="append").version

    def dl() -> int:
        write_deltalake(copies["deltalake"], one, mode="append")
        return DeltaTable(copies["deltalake"]).version()

    def check(v: int) -> None:
        expect(v >= cfg.commits, f"append landed at version {v}, expected >= {cfg.commits}")

    try:
        result = BenchResult(
            name="append_long_log", description=f"one append to a {cfg.commits:,}-commit log without a checkpoint (open + write + commit)",
            params={"commits": cfg.commits}, measurements=measure([
                Variant("lakehouse", "lakehouse.write_delta(path, one_row, mode='append') (no cached snapshot)", lh, check),
                Variant("deltalake", "deltalake.write_deltalake(path, one_row, mode='append')", dl, check),
            ], cfg.repeat),
            target=Target("absolute_ms", 50.0, "lakehouse <= 50 ms"),
            checks=["each append lands at a new version past the log's end"],
        )
        return [result]
    finally:
        dirs.close()
