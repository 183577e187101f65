"""Command line: ``python -m benchmarks [--rows N] [--big-rows N] [--commits N] [--compact-files N]
[--vacuum-files N] [--repeat N] [--only NAME] [--out DIR] [--chart] [--scale]``.

``--scale`` runs the scale curves (`benchmarks.scale`) instead of the suite; ``--chart`` draws
``docs/img/benchmarks.svg`` from the results when the run is done (`benchmarks.chart`).

Run from the repository root. Exit status 1 when any benchmark failed its correctness guard or crashed
(it is then listed under ``errors`` in the JSON and the other benchmarks still run); missed performance
targets do not change the exit status. A run with ``--only`` replaces the selected benchmarks' results in
``latest.json``/``latest.md`` and keeps the others' from earlier runs (marked as such).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from benchmarks import dml, full_read, machine, maintenance, report, scans, snapshot_load, time_travel, writes
from benchmarks.common import BenchResult, Config

HERE = Path(__file__).resolve().parent

# Name -> runner, in run order. --only matches a name exactly or as a prefix ("snapshot", "time_travel").
BENCHMARKS: dict[str, Callable[[Config], list[BenchResult]]] = {
    "full_read": full_read.run,
    "snapshot_no_checkpoint": snapshot_load.run_no_checkpoint,
    "snapshot_checkpoint": snapshot_load.run_checkpoint,
    "time_travel_version": time_travel.run_version,
    "time_travel_timestamp": time_travel.run_timestamp,
    "bulk_write": writes.run_bulk,
    "partitioned_write": writes.run_partitioned,
    "small_appends": writes.run_small_appends,
    "append_long_log": writes.run_append_long_log,
    "range_read": scans.run_range,
    "partition_read": scans.run_partition,
    "planning_100k": scans.run_planning,
    "merge_upsert": dml.run_merge,
    "delete_scattered": dml.run_delete,
    "upsert_large_partitioned": dml.run_upsert_large,
    "optimize_compact": maintenance.run_optimize_compact,
    "optimize_compact_large": maintenance.run_optimize_compact_large,
    "optimize_zorder": maintenance.run_optimize_zorder,
    "vacuum_10k_dry_run": maintenance.run_vacuum_dry_run,
    "vacuum_10k": maintenance.run_vacuum,
    "dml_position_check": dml.run_position_check,
}
#: Benchmarks that run only when ``--only`` names them: diagnostics of the harness, not of lakehouse.
OPT_IN = {"dml_position_check"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="Benchmark lakehouse against deltalake (delta-rs) and raw pyarrow Parquet reads.")
    p.add_argument("--rows", type=int, default=5_000_000, help="rows of the full-read and DML tables (default 5,000,000)")
    p.add_argument("--big-rows", type=int, default=50_000_000,
                   help="rows of the partitioned table of upsert_large_partitioned, >= 1000 (default 50,000,000)")
    p.add_argument("--commits", type=int, default=2000, help="commits of the long log, >= 12 (default 2000)")
    p.add_argument("--compact-files", type=int, default=1000,
                   help="small files (1,024 rows each) compacted by optimize_compact, >= 2 (default 1000)")
    p.add_argument("--vacuum-files", type=int, default=10_000,
                   help="data files of the VACUUM table, half tombstoned; even, >= 2 (default 10000)")
    p.add_argument("--repeat", type=int, default=10, help="timed runs per variant after one warm-up (default 10)")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these benchmarks (repeatable, comma-separated, prefixes allowed): {', '.join(BENCHMARKS)}",
    )
    p.add_argument("--out", type=Path, default=HERE / "results", help="results directory (default benchmarks/results)")
    p.add_argument("--data", type=Path, default=HERE / "data", help="generated tables (default benchmarks/data)")
    p.add_argument("--seed", type=int, default=42, help="seed of all generated data (default 42)")
    p.add_argument("--chart", action="store_true", help="draw docs/img/benchmarks.svg from the results (needs matplotlib)")
    p.add_argument("--chart-out", type=Path, default=None, help="where --chart writes (default docs/img/benchmarks.svg)")
    p.add_argument("--scale", action="store_true",
                   help="run the scale curves instead (python -m benchmarks.scale; --repeat, --out, --data, --seed apply)")
    args = p.parse_args(argv)
    if args.rows < 10 or args.commits < 12 or args.repeat < 1 or args.big_rows < 1000:
        p.error("need --rows >= 10, --commits >= 12 (time travel reaches version 11), --repeat >= 1 and "
                "--big-rows >= 1000 (every file of every partition gets rows)")
    if args.compact_files < 2 or args.vacuum_files < 2 or args.vacuum_files % 2:
        p.error("need --compact-files >= 2 and an even --vacuum-files >= 2")
    args.selected = (select([n for item in args.only or [] for n in item.split(",") if n]) if args.only
                     else [b for b in BENCHMARKS if b not in OPT_IN])
    if not args.selected:
        p.error(f"--only matched nothing; names are {', '.join(BENCHMARKS)}")
    return args


def select(names: list[str]) -> list[str]:
    """The benchmark names matched by ``names`` (exact or prefix), in run order."""
    return [b for b in BENCHMARKS if any(b == n or b.startswith(n) for n in names)]


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, write the results, print the summary; returns the exit status."""
    args = parse_args(argv)
    if args.scale:
        from benchmarks import scale

        return scale.main(["--repeat", str(min(args.repeat, scale.DEFAULT_REPEAT)), "--out", str(args.out),
                           "--data", str(args.data), "--seed", str(args.seed)] + (["--chart"] if args.chart else []))
    cfg = Config(rows=args.rows, commits=args.commits, repeat=args.repeat, seed=args.seed, data_dir=args.data.resolve(),
                 big_rows=args.big_rows, compact_files=args.compact_files, vacuum_files=args.vacuum_files)
    started = datetime.now(timezone.utc)
    # Other processes on a small machine move medians a lot; the load average lets a reader judge that.
    load_start = os.getloadavg()
    # Taken before any timing: the source hash must describe the lakehouse code that was imported.
    facts = machine.facts()
    t0 = time.perf_counter()
    results: list[BenchResult] = []
    errors: list[dict[str, str]] = []
    for name in args.selected:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        try:
            results += BENCHMARKS[name](cfg)
        except Exception as e:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            errors.append({"name": name, "error": f"{type(e).__name__}: {e}"})
    warnings = []
    if machine.facts()["lakehouse_source_sha256"] != facts["lakehouse_source_sha256"]:
        warnings.append("lakehouse sources changed on disk during the run; the numbers are for the code imported at the start")
    doc = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t0,
        "config": {"rows": cfg.rows, "big_rows": cfg.big_rows, "commits": cfg.commits, "compact_files": cfg.compact_files,
                   "vacuum_files": cfg.vacuum_files, "repeat": cfg.repeat, "seed": cfg.seed, "data_dir": str(cfg.data_dir)},
        "machine": {**facts, "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "versions": machine.versions(),
        "benchmarks": {r.name: report.result_json(r) for r in results},
        "errors": errors,
        "warnings": warnings,
    }
    if args.only:  # a partial run must not throw away the other benchmarks' latest results
        doc, results = report.carry_over(args.out, doc, results, selected=args.selected, order=list(BENCHMARKS))
    js, md = report.write(args.out, doc, results)
    print(md.read_text())
    print(f"[benchmarks] wrote {js} and {md}", file=sys.stderr)
    if args.chart:
        from benchmarks import chart

        svg = chart.draw(js, args.chart_out or chart.DEFAULT_OUT)
        print(f"[benchmarks] wrote {svg}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
