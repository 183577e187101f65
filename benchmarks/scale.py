"""Scale curves (issue #15): how lakehouse and delta-rs grow with the data.

``python -m benchmarks.scale`` (or ``python -m benchmarks --scale``; never part of the default run):

* ``bulk_write``: write N rows (the full-read schema) into a new table, N in ``--rows`` (1M, 5M, 20M);
  lakehouse, delta-rs and raw pyarrow on one thread (zstd) for the floor;
* ``merge_upsert``: MERGE of N/100 source rows (half updates scattered over all 10 files, half inserts)
  into the N-row DML table, copy-on-write, each call in a fresh child process on a fresh copy (the
  `benchmarks.dml` machinery, checks included);
* ``planning``: open a table whose log adds F files (``--files``: 1k, 10k, 100k; the files need not exist)
  and plan a filter on one partition and an id range, nothing cached: lakehouse
  ``DeltaTable(path).scan(filter)`` against delta-rs ``DeltaTable(path).file_uris(file_pruning_predicate=
  filter)``, both pruning on partition values and min/max stats. Planning cost follows the file count, not
  the row count, so this curve is drawn against files only.

Every call is checked as in the suite (row counts re-read, the planned file count exact). Results:
``results/scale.json`` and ``scale.md``; ``--chart`` draws ``docs/img/benchmarks-scale.svg``. Tables are
generated once under ``--data`` and reused; the 20M-row DML table takes about a minute and 1 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

import lakehouse
from lakehouse.snapshot import snapshot as lakehouse_snapshot
from benchmarks import dml, dml_data, machine
from benchmarks.common import Config, Measurement, Variant, expect, measure
from benchmarks.scans import planning_filter, planning_log
from benchmarks.writes import _count_rows, _Dirs, _raw_one_thread, _table

HERE = Path(__file__).resolve().parent
DEFAULT_ROWS = (1_000_000, 5_000_000, 20_000_000)
DEFAULT_FILES = (1_000, 10_000, 100_000)
DEFAULT_REPEAT = 3


def _points(ms: list[Measurement], size: int, curve: dict[str, Any]) -> None:
    """Add each engine's point at ``size`` (its first variant) to ``curve``."""
    for m in ms:
        point = {"size": size, "median_s": m.median, "min_s": m.min, "runs_s": m.runs, "call": m.label}
        if m.peak_rss_mib is not None:
            point["peak_rss_mib"] = m.peak_rss_mib
        curve["engines"].setdefault(m.engine, []).append(point)


def curve_write(cfg: Config, sizes: list[int]) -> dict[str, Any]:
    """Bulk write of each size, in this process."""
    curve: dict[str, Any] = {"title": "bulk write (new table, one commit)", "size_label": "rows", "engines": {}}
    for rows in sizes:
        print(f"[scale] bulk_write {rows:,} rows", file=sys.stderr, flush=True)
        table = _table(rows, cfg.seed).drop_columns(["part"])
        dirs = _Dirs()

        def runner(fn: Any) -> Any:
            def call() -> str:
                path = dirs.take()
                fn(path)
                return path
            return call

        def check(delta: bool) -> Any:
            def run(path: str) -> None:
                expect(_count_rows(path, delta=delta) == rows, f"{path}: wrong row count after write")
                dirs.clean(path)
            return run

        try:
            ms = measure([
                Variant("lakehouse", "lakehouse.write_delta(path, table)", runner(lambda p: lakehouse.write_delta(p, table)), check(True)),
                Variant("deltalake", "deltalake.write_deltalake(path, table)", runner(lambda p: write_deltalake(p, table)), check(True)),
                Variant("pyarrow", "pq.write_table (zstd, one thread)", runner(lambda p: _raw_one_thread(table, p, None)),
                        check(False), key="pyarrow_1t"),
            ], cfg.repeat)
        finally:
            dirs.close()
        _points(ms, rows, curve)
        del table
    return curve


def curve_merge(cfg: Config, sizes: list[int]) -> dict[str, Any]:
    """Copy-on-write MERGE of 1% source rows into each size, each call in a fresh child process."""
    curve: dict[str, Any] = {"title": "MERGE 1% upsert, copy-on-write", "size_label": "target rows", "engines": {}}
    for rows in sizes:
        print(f"[scale] merge_upsert {rows:,} rows", file=sys.stderr, flush=True)
        base = dml_data.dml_table(cfg.data_dir, rows, cfg.seed).path
        source, updated, inserted = dml.merge_source(rows, cfg.seed)
        scratch = dml.Scratch(cfg.data_dir)
        seen: dict[str, Any] = {}
        try:
            spec = {"op": "merge", "on": dml.MERGE_ON, "source": scratch.write_source("merge", source)}
            verify = dml._verify_merge(rows, updated, inserted)
            call = f".merge(source, '{dml.MERGE_ON}').when_matched_update_all().when_not_matched_insert_all().execute()"
            ms = measure([
                dml._variant("lakehouse", f"lakehouse.DeltaTable(path){call}", base, spec, scratch, verify, seen),
                dml._variant("deltalake", f"deltalake.DeltaTable(path){call}", base, spec, scratch, verify, seen),
            ], cfg.repeat)
        finally:
            scratch.close()
        _points(ms, rows, curve)
    return curve


def curve_planning(cfg: Config, sizes: list[int]) -> dict[str, Any]:
    """Open + plan over each file count, nothing cached."""
    curve: dict[str, Any] = {"title": "open + plan a partition and id-range filter", "size_label": "files in the table",
                             "engines": {}}
    for files in sizes:
        print(f"[scale] planning {files:,} files", file=sys.stderr, flush=True)
        path = planning_log(cfg.data_dir, files)
        sql, kept = planning_filter(files)

        def lh() -> int:
            lakehouse_snapshot._CACHE.clear()  # a fresh open every call, as delta-rs's
            return lakehouse.DeltaTable(path).scan(sql).metrics.files_after_stats_skipping

        def dl() -> int:
            return len(DeltaTable(str(path)).file_uris(file_pruning_predicate=sql))

        def check(n: int) -> None:
            expect(n == kept, f"planning over {files:,} files kept {n}, expected {kept}")

        ms = measure([
            Variant("lakehouse", f"lakehouse.DeltaTable(path).scan(\"{sql}\")", lh, check),
            Variant("deltalake", f"deltalake.DeltaTable(path).file_uris(file_pruning_predicate=\"{sql}\")", dl, check),
        ], cfg.repeat)
        _points(ms, files, curve)
    return curve


def _ratios(curve: dict[str, Any]) -> list[dict[str, Any]]:
    lh = {p["size"]: p["median_s"] for p in curve["engines"].get("lakehouse", [])}
    out = []
    for engine, points in curve["engines"].items():
        if engine != "lakehouse":
            out += [{"size": p["size"], "vs": engine, "ratio": lh[p["size"]] / p["median_s"]} for p in points if p["size"] in lh]
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The human summary of a scale run."""
    mach, ver = doc["machine"], doc["versions"]
    load = lambda a: "/".join(f"{x:.2f}" for x in a)  # noqa: E731
    out = ["# Scale curves", "", f"{doc['started_at']} · repeat={doc['config']['repeat']} · {doc['duration_s']:.0f} s total",
           "", "Medians of the timed runs after one warm-up; ratio = lakehouse / the other engine (below 1: lakehouse faster).", ""]
    for name, curve in doc["curves"].items():
        out += [f"## {name}: {curve['title']}", "", f"| {curve['size_label']} | engine | median | min | lakehouse / this |",
                "|---|---|---|---|---|"]
        ratios = {(r["size"], r["vs"]): r["ratio"] for r in curve["ratios"]}
        for engine, points in curve["engines"].items():
            for p in points:
                ratio = ratios.get((p["size"], engine))
                out.append(f"| {p['size']:,} | {engine} | {p['median_s'] * 1000:.1f} ms | {p['min_s'] * 1000:.1f} ms | "
                           f"{'—' if ratio is None else f'{ratio:.2f}x'} |")
        out.append("")
    out += ["## Machine", "", f"- CPU: {mach['cpu_model']}, nproc {mach['nproc']}, RAM {mach['ram_gib']} GiB",
            f"- load average (1/5/15 min) at start {load(mach['loadavg_start'])}, at end {load(mach['loadavg_end'])}",
            "- " + ", ".join(f"{k} {v}" for k, v in ver.items()),
            f"- lakehouse commit {mach['lakehouse_git_commit']}, source sha256 {mach['lakehouse_source_sha256'][:16]}…", ""]
    return "\n".join(out)


def _sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    """Run the curves, write ``scale.json``/``scale.md`` (and the chart with ``--chart``)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=_sizes, default=list(DEFAULT_ROWS), help="row counts, comma-separated (default 1e6,5e6,2e7)")
    p.add_argument("--files", type=_sizes, default=list(DEFAULT_FILES), help="file counts for planning (default 1000,10000,100000)")
    p.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help=f"timed runs per point after a warm-up (default {DEFAULT_REPEAT})")
    p.add_argument("--only", default="write,merge,planning", help="curves to run, comma-separated: write, merge, planning")
    p.add_argument("--out", type=Path, default=HERE / "results", help="results directory (default benchmarks/results)")
    p.add_argument("--data", type=Path, default=HERE / "data", help="generated tables (default benchmarks/data)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--chart", action="store_true", help="draw docs/img/benchmarks-scale.svg (needs matplotlib)")
    p.add_argument("--chart-out", type=Path, default=None, help="where --chart writes")
    args = p.parse_args(argv)
    if args.repeat < 1 or min(args.rows) < 100 or min(args.files) < 20:
        p.error("need --repeat >= 1, every --rows >= 100 and every --files >= 20")
    cfg = Config(rows=max(args.rows), commits=12, repeat=args.repeat, seed=args.seed, data_dir=args.data.resolve())
    wanted = set(args.only.split(","))
    started, load_start, facts, t0 = datetime.now(timezone.utc), os.getloadavg(), machine.facts(), time.perf_counter()
    curves = {}
    if "write" in wanted:
        curves["bulk_write"] = curve_write(cfg, args.rows)
    if "merge" in wanted:
        curves["merge_upsert"] = curve_merge(cfg, args.rows)
    if "planning" in wanted:
        curves["planning"] = curve_planning(cfg, args.files)
    for curve in curves.values():
        curve["ratios"] = _ratios(curve)
    doc = {"started_at": started.isoformat(timespec="seconds"), "duration_s": time.perf_counter() - t0,
           "config": {"rows": args.rows, "files": args.files, "repeat": args.repeat, "seed": args.seed},
           "machine": {**facts, "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
           "versions": machine.versions(), "curves": curves}
    args.out.mkdir(parents=True, exist_ok=True)
    js, md = args.out / "scale.json", args.out / "scale.md"
    js.write_text(json.dumps(doc, indent=2) + "\n")
    md.write_text(markdown(doc))
    print(md.read_text())
    print(f"[scale] wrote {js} and {md}", file=sys.stderr)
    if args.chart:
        from benchmarks import chart

        print(f"[scale] wrote {chart.draw_scale(js, args.chart_out or chart.DEFAULT_SCALE_OUT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
