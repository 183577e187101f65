"""Dask scaling: `lakehouse.integrations.dask` read and write of a large table on 1 and 2 worker processes, against
Dask's own Parquet reader and writer on the same files.

Standalone (not in ``python -m benchmarks``'s list yet)::

    .venv/bin/python -m benchmarks.dask_scale                 # 20,000,000 rows, 1 and 2 workers, 3 timed runs
    .venv/bin/python -m benchmarks.dask_scale --rows 2000000 --repeat 1 --out /tmp/b --data /tmp/b/data

What is timed, per cluster size (a `distributed.LocalCluster` of N processes x 1 thread, started once per
size; the client process plans and commits):

- ``read``: `lakehouse.integrations.dask.read_delta(uri)` materialising every partition as pandas on the workers
  (``map_partitions(len).sum()``: all columns, nothing but counts sent back), planning included; the peer
  is `dask.dataframe.read_parquet` of the table's active data files, with its defaults.
- ``write``: `lakehouse.integrations.dask.write_delta` of a generated Dask DataFrame (the rows are made on the workers,
  one 1M-row partition per task) into a new table, commit included; the peer is the same frame's
  ``to_parquet`` (zstd, as lakehouse writes). ``generate`` times the generation alone, so the write cost
  is the difference.

Each variant runs once as warm-up, then ``--repeat`` times, variants interleaved round by round; the
median and min are reported. Every result is checked (row counts; the written table read back) outside
the timed region. Results go to ``benchmarks/results/dask_scale.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

HERE = Path(__file__).resolve().parent
ROWS_PER_CHUNK = 1_000_000
CATEGORIES = 100


def make_chunk(index: int, rows: int, seed: int) -> pd.DataFrame:
    """Chunk ``index`` of the table: ids ``index * ROWS_PER_CHUNK ...`` (sorted across chunks), a float,
    a low-cardinality string and a timestamp, all from a fixed seed."""
    rng = np.random.default_rng([seed, index])
    start = index * ROWS_PER_CHUNK
    n = min(ROWS_PER_CHUNK, rows - start)
    names = np.array([f"category_{i:03d}" for i in range(CATEGORIES)], dtype=object)
    return pd.DataFrame({
        "id": np.arange(start, start + n, dtype=np.int64),
        "value": rng.standard_normal(n),
        "category": pd.array(names[rng.integers(0, CATEGORIES, n)], dtype="string[pyarrow]"),
        "event_time": pd.to_datetime(1_672_531_200_000_000 + rng.integers(0, 365 * 86_400 * 10**6, n), unit="us", utc=True),
    })


def chunks(rows: int) -> int:
    """Number of 1M-row chunks (the last may be shorter)."""
    return -(-rows // ROWS_PER_CHUNK)


def table(data_dir: Path, rows: int, seed: int) -> str:
    """The read table: one append of one file per chunk, written once by single-process lakehouse and
    reused while its marker matches."""
    import lakehouse

    path = data_dir / f"dask_scale_{rows}"
    marker = path / "_bench_params.json"
    params = {"rows": rows, "seed": seed, "rows_per_chunk": ROWS_PER_CHUNK, "gen": 1}
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return str(path)
    shutil.rmtree(path, ignore_errors=True)
    for i in range(chunks(rows)):
        lakehouse.write_delta(str(path), pa.Table.from_pandas(make_chunk(i, rows, seed), preserve_index=False),
                              mode="append")
    marker.write_text(json.dumps(params))
    return str(path)


def data_files(uri: str) -> list[str]:
    """Absolute paths of the table's active data files (what the Parquet peer reads)."""
    import lakehouse
    from urllib.parse import unquote

    return [str(Path(uri) / unquote(p)) for p in lakehouse.DeltaTable(uri).files().column("path").to_pylist()]


@dataclass
class Variant:
    """One timed thing: ``fn`` returns a value ``check`` verifies outside the timing; ``cleanup`` runs
    after each call, untimed."""

    op: str
    engine: str
    fn: Callable[[], Any]
    check: Callable[[Any], None]
    cleanup: Callable[[], None] = lambda: None
    runs: list[float] = field(default_factory=list)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def variants(uri: str, rows: int, seed: int, scratch: Path) -> list[Variant]:
    """The read, generate and write variants (lakehouse and Dask's Parquet I/O)."""
    import dask.dataframe as dd

    import lakehouse
    import lakehouse.integrations.dask as ldd

    files = data_files(uri)
    meta = make_chunk(0, 1, seed).iloc[:0]
    out_lh, out_pq = scratch / "lakehouse_write", scratch / "parquet_write"

    def generated() -> dd.DataFrame:
        return dd.from_map(make_chunk, range(chunks(rows)), args=(rows, seed), meta=meta, enforce_metadata=False)

    def count(n: Any) -> None:
        _expect(int(n) == rows, f"expected {rows} rows, got {n}")

    def written(_: Any) -> None:
        _expect(lakehouse.DeltaTable(str(out_lh)).to_arrow(["id"]).num_rows == rows, "lakehouse write lost rows")

    def parquet_written(_: Any) -> None:
        _expect(pads.dataset(str(out_pq)).count_rows() == rows, "parquet write lost rows")

    return [
        Variant("read", "lakehouse.integrations.dask", lambda: ldd.read_delta(uri).map_partitions(len).sum().compute(), count),
        Variant("read", "dask.read_parquet", lambda: dd.read_parquet(files).map_partitions(len).sum().compute(), count),
        Variant("generate", "dask (no I/O)", lambda: generated().map_partitions(len).sum().compute(), count),
        Variant("write", "lakehouse.integrations.dask", lambda: ldd.write_delta(str(out_lh), generated()), written,
                cleanup=lambda: shutil.rmtree(out_lh, ignore_errors=True)),
        Variant("write", "dask.to_parquet", lambda: generated().to_parquet(str(out_pq), compression="zstd",
                                                                          write_index=False), parquet_written,
                cleanup=lambda: shutil.rmtree(out_pq, ignore_errors=True)),
    ]


def measure(vs: list[Variant], repeat: int) -> None:
    """One warm-up call per variant, then ``repeat`` rounds with the variants interleaved."""
    for rnd in range(repeat + 1):
        for v in vs:
            start = time.perf_counter()
            result = v.fn()
            elapsed = time.perf_counter() - start
            v.check(result)
            v.cleanup()
            if rnd:
                v.runs.append(elapsed)
            print(f"[dask_scale]   {v.op:8s} {v.engine:18s} {'warm-up' if not rnd else f'run {rnd}'}: {elapsed:.2f} s",
                  file=sys.stderr, flush=True)


def run_cluster(workers: int, uri: str, rows: int, seed: int, repeat: int, scratch: Path) -> list[dict[str, Any]]:
    """All variants on a fresh LocalCluster of ``workers`` processes x 1 thread."""
    from distributed import Client, LocalCluster

    print(f"[dask_scale] {workers} worker(s)", file=sys.stderr, flush=True)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster):
        vs = variants(uri, rows, seed, scratch)
        measure(vs, repeat)
    return [{"op": v.op, "engine": v.engine, "workers": workers, "runs_s": v.runs,
             "median_s": statistics.median(v.runs), "min_s": min(v.runs)} for v in vs]


def _find(results: list[dict[str, Any]], op: str, engine: str, workers: int) -> dict[str, Any] | None:
    return next((r for r in results if (r["op"], r["engine"], r["workers"]) == (op, engine, workers)), None)


def derived(results: list[dict[str, Any]], worker_counts: list[int]) -> list[dict[str, Any]]:
    """Speed-up of each variant from the fewest to the most workers, and lakehouse over Dask's Parquet I/O."""
    out = []
    lo, hi = min(worker_counts), max(worker_counts)
    if lo != hi:
        for op, engine in dict.fromkeys((r["op"], r["engine"]) for r in results):
            a, b = _find(results, op, engine, lo), _find(results, op, engine, hi)
            if a and b:
                out.append({"what": f"{op}, {engine}: speed-up {lo} -> {hi} workers", "value": a["median_s"] / b["median_s"]})
    for op, peer in (("read", "dask.read_parquet"), ("write", "dask.to_parquet")):
        for w in worker_counts:
            ours, theirs = _find(results, op, "lakehouse.integrations.dask", w), _find(results, op, peer, w)
            if ours and theirs:
                out.append({"what": f"{op}, {w} worker(s): lakehouse.integrations.dask / {peer}", "value": ours["median_s"] / theirs["median_s"]})
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The results as a Markdown report."""
    m = doc["machine"]
    lines = [
        f"# Dask scaling, {doc['config']['rows']:,} rows",
        "",
        f"{doc['started_at']}; {m.get('cpu_model')}, {m.get('nproc')} cores, {m.get('ram_gib')} GiB; "
        f"load average {doc['loadavg_start'][0]:.1f} at start, {doc['loadavg_end'][0]:.1f} at end; "
        f"median of {doc['config']['repeat']} interleaved runs after a warm-up. The client, the scheduler and "
        "the workers share the machine's cores.",
        "",
        "| operation | engine | workers | median | min |",
        "|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        lines.append(f"| {r['op']} | {r['engine']} | {r['workers']} | {r['median_s']:.2f} s | {r['min_s']:.2f} s |")
    lines += ["", "| derived | value |", "|---|---|"]
    lines += [f"| {d['what']} | {d['value']:.2f}x |" for d in doc["derived"]]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.dask_scale", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000_000, help="rows of the table (default 20,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per variant after a warm-up (default 3)")
    p.add_argument("--workers", default="1,2", help="comma-separated cluster sizes (default 1,2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=HERE / "results", help="results directory (default benchmarks/results)")
    p.add_argument("--data", type=Path, default=HERE / "data", help="generated tables (default benchmarks/data)")
    args = p.parse_args(argv)
    args.worker_counts = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    if args.rows < 1 or args.repeat < 1 or not args.worker_counts or min(args.worker_counts) < 1:
        p.error("need --rows >= 1, --repeat >= 1 and worker counts >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``dask_scale.json`` and ``dask_scale.md``."""
    from benchmarks import machine

    args = parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    facts = machine.facts()
    print(f"[dask_scale] preparing a {args.rows:,}-row table", file=sys.stderr, flush=True)
    uri = table(args.data, args.rows, args.seed)
    scratch = args.data / "dask_scale_scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    results: list[dict[str, Any]] = []
    try:
        for workers in args.worker_counts:
            results += run_cluster(workers, uri, args.rows, args.seed, args.repeat, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    versions = machine.versions()
    for name in ("dask", "distributed", "pandas"):
        try:
            from importlib import metadata

            versions[name] = metadata.version(name)
        except Exception:  # a missing package only leaves its version out of the report
            versions[name] = None
    doc = {
        "started_at": started.isoformat(timespec="seconds"),
        "config": {"rows": args.rows, "repeat": args.repeat, "workers": args.worker_counts, "seed": args.seed,
                   "rows_per_partition": ROWS_PER_CHUNK, "table_files": len(data_files(uri))},
        "machine": facts, "versions": versions, "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
        "results": results, "derived": derived(results, args.worker_counts),
    }
    (args.out / "dask_scale.json").write_text(json.dumps(doc, indent=2, default=str))
    md = markdown(doc)
    (args.out / "dask_scale.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
