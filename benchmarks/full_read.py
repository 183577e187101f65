"""Group 1: full read of a multi-million-row table (int64 id, float64, low-cardinality string, timestamp;
10 data files) into one Arrow table, open included.

Engines: ``lakehouse.read_delta``; three delta-rs paths (``to_pyarrow_table``, the DataFusion ``scan()``
stream and ``QueryBuilder``), of which the fastest counts; raw pyarrow over the same data files
(``pq.read_table`` and ``pyarrow.dataset`` on all cores, ``pyarrow_mt``), of which the fastest counts, and
``pq.read_table(use_threads=False)`` (``pyarrow_1t``, one thread: the per-core floor). The pyarrow paths
get the file list for free, so they are the floor a Delta reader can approach.

Times are taken in this process; each engine's peak memory comes from one more read in a fresh child
process (`benchmarks.dml_child`, op ``read``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable, QueryBuilder

import lakehouse
from benchmarks.common import BenchResult, ChildRun, Config, Target, Variant, expect, measure
from benchmarks.datagen import full_read_table
from benchmarks.dml import run_child

COLUMNS = ["id", "value", "category", "event_time"]
_VIEW_NOTE = "returns `category` as string_view, not string"


def _stream_to_table(stream: object) -> pa.Table:
    # delta-rs hands out arro3 readers; the Arrow C stream interface turns them into pyarrow without copying.
    return pa.RecordBatchReader.from_stream(stream).read_all()


def _sorted_ids(table: pa.Table) -> np.ndarray:
    return np.sort(table.column("id").to_numpy())


def variants(path: str, files: list[str], rows: int) -> list[Variant]:
    """The timed variants of every engine for the table at ``path`` (``files``: its data files)."""

    def check(t: pa.Table) -> None:
        expect(t.num_rows == rows, f"expected {rows} rows, got {t.num_rows}")
        expect(t.column_names == COLUMNS, f"expected columns {COLUMNS}, got {t.column_names}")

    def memory(engine: str, threads: int = 0) -> Callable[[], ChildRun]:
        def run() -> ChildRun:
            child = run_child({"op": "read", "engine": engine, "table": path, "files": files, "threads": threads})
            expect(child.value.metrics.get("rows") == rows, f"{engine} read {child.value.metrics} in its memory run")
            return child
        return run

    return [
        Variant("lakehouse", "lakehouse.read_delta(path)", lambda: lakehouse.read_delta(path), check,
                memory=memory("lakehouse")),
        Variant("deltalake", "DeltaTable(path).to_pyarrow_table()", lambda: DeltaTable(path).to_pyarrow_table(), check,
                memory=memory("deltalake")),
        Variant(
            "deltalake",
            "DeltaTable(path).scan() -> pyarrow",
            lambda: _stream_to_table(DeltaTable(path).scan()),
            check,
            _VIEW_NOTE,
        ),
        Variant(
            "deltalake",
            "QueryBuilder().register(t).execute('SELECT * FROM t') -> pyarrow",
            lambda: _stream_to_table(QueryBuilder().register("t", DeltaTable(path)).execute("SELECT * FROM t")),
            check,
            _VIEW_NOTE,
        ),
        Variant("pyarrow", "pq.read_table(files)", lambda: pq.read_table(files), check, key="pyarrow_mt",
                memory=memory("pyarrow", 0)),
        Variant("pyarrow", "ds.dataset(files).to_table()", lambda: ds.dataset(files, format="parquet").to_table(), check,
                key="pyarrow_mt"),
        Variant("pyarrow", "pq.read_table(files, use_threads=False)", lambda: pq.read_table(files, use_threads=False),
                check, key="pyarrow_1t", compare=False, note="one thread: the per-core floor; for information",
                memory=memory("pyarrow", 1)),
    ]


def guard(all_variants: list[Variant], rows: int) -> list[str]:
    """Cross-engine correctness: every engine returns the same ids, and lakehouse the same rows as pyarrow."""
    lh = next(v for v in all_variants if v.engine == "lakehouse").fn()
    lh_ids = _sorted_ids(lh)
    expect(np.array_equal(lh_ids, np.arange(rows)), "lakehouse ids are not exactly 0..rows-1")
    for v in all_variants:
        if v.engine == "deltalake":
            expect(np.array_equal(_sorted_ids(v.fn()), lh_ids), f"{v.label}: sorted ids differ from lakehouse's")
    raw = next(v for v in all_variants if v.engine == "pyarrow").fn()
    expect(
        lh.sort_by("id").equals(raw.sort_by("id")),
        "lakehouse and raw pyarrow differ in content or types (compared sorted by id)",
    )
    return [
        f"every variant returned {rows} rows with columns {COLUMNS} on every call",
        "sorted id column equal between lakehouse and every deltalake variant (and equal to 0..rows-1)",
        "lakehouse table equal to raw pyarrow's (values and types), sorted by id",
    ]


def run(cfg: Config) -> list[BenchResult]:
    """Build (or reuse) the table, check every engine, time them."""
    info = full_read_table(cfg.data_dir, cfg.rows, cfg.seed)
    vs = variants(str(info.path), [str(f) for f in info.data_files], cfg.rows)
    checks = guard(vs, cfg.rows)
    return [
        BenchResult(
            name="full_read",
            description=f"open + read all {cfg.rows:,} rows ({len(info.data_files)} files) into a pyarrow Table",
            params={"rows": cfg.rows, "files": len(info.data_files), "columns": COLUMNS, "path": str(info.path)},
            measurements=measure(vs, cfg.repeat),
            target=Target("vs_pyarrow", 1.0, "<= 1.0x raw pyarrow (its fastest path)"),
            rss_target=Target("rss_vs_deltalake", 1.0, "peak RSS <= deltalake's"),
            checks=checks,
        )
    ]
