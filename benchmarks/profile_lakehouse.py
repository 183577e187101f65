"""cProfile of lakehouse's hot paths on the benchmark tables: ``python -m benchmarks.profile_lakehouse``.

Profiles snapshot load (with and without checkpoint), timestamp time travel and the full read, each
called ``--calls`` times after one warm-up, and writes the top functions by cumulative time to
``<out>/profile.txt`` (raw ``.prof`` files beside it, for snakeviz or pstats). Profiling inflates the
time of Python-heavy code far more than of Arrow's C++ work; use it to rank hot spots, not to time them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from pathlib import Path
from typing import Callable

import lakehouse
from benchmarks import datagen
from benchmarks.time_travel import target_time

HERE = Path(__file__).resolve().parent


def profile(fn: Callable[[], object], calls: int, dump: Path, top: int) -> str:
    """Profile ``calls`` calls of ``fn`` (after one warm-up); return the top-``top`` cumulative listing."""
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    prof.dump_stats(dump)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    """Build or reuse the tables, profile each lakehouse path, write ``profile.txt``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_lakehouse")
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--commits", type=int, default=2000)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data", type=Path, default=HERE / "data")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    log = str(datagen.commit_log_table(args.data, args.commits, args.seed).path)
    cp = str(datagen.checkpointed_log_table(args.data, args.commits, args.seed).path)
    full = str(datagen.full_read_table(args.data, args.rows, args.seed).path)
    when = target_time()
    cases = {
        "snapshot_no_checkpoint": lambda: lakehouse.DeltaTable(log),
        "snapshot_checkpoint": lambda: lakehouse.DeltaTable(cp),
        "time_travel_timestamp": lambda: lakehouse.DeltaTable(log, version=when),
        "full_read": lambda: lakehouse.read_delta(full),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    sections = []
    for name, fn in cases.items():
        text = profile(fn, args.calls, args.out / f"profile_{name}.prof", args.top)
        sections.append(f"=== {name} ({args.calls} calls) ===\n{text}")
    (args.out / "profile.txt").write_text("\n".join(sections))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
