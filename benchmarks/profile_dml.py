"""cProfile of lakehouse's DML operations on the DML benchmark tables: ``python -m benchmarks.profile_dml``.

Each case (the MERGE, the DELETE with and without deletion vectors, the 1-row upsert into the partitioned
table) runs once on a fresh copy of its base table, in its own process so that memory figures are its
own, and writes the top functions by cumulative time to ``<out>/profile_dml.txt``, each preceded by the
process's resident size before the operation, its peak (``VmHWM``) and the peak of Arrow's memory pool
(how much of the peak is Arrow buffers). As with `benchmarks.profile_lakehouse`, profiling inflates
Python-heavy code far more than Arrow's C++ work: rank hot spots with it, do not time them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
CASES = ("merge_upsert", "delete_scattered_dv", "delete_scattered_cow", "upsert_large_partitioned")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _operation(case: str, args: argparse.Namespace, scratch: Path) -> Callable[[], Any]:
    """The lakehouse call of ``case`` on a fresh copy (made here, before profiling starts)."""
    import lakehouse
    from benchmarks import dml, dml_data

    if case == "upsert_large_partitioned":
        base = dml_data.big_partitioned_table(args.data, args.big_rows, args.seed).path
    elif case == "delete_scattered_dv":
        base = dml_data.dml_dv_table(args.data, args.rows, args.seed).path
    else:
        base = dml_data.dml_table(args.data, args.rows, args.seed).path
    table = lakehouse.DeltaTable(dml_data.fresh_copy(base, scratch / case))
    if case.startswith("delete"):
        return lambda: table.delete(f"bucket = {dml.DELETE_BUCKET}")
    if case == "merge_upsert":
        source, on = dml.merge_source(args.rows, args.seed)[0], dml.MERGE_ON
    else:
        source, on = dml.upsert_row(args.big_rows), dml.UPSERT_ON
    return lambda: table.merge(source, predicate=on).when_matched_update_all().when_not_matched_insert_all().execute()


def profile_case(case: str, args: argparse.Namespace) -> str:
    """Profile one call of ``case``; the report text (memory line, then the top functions)."""
    import shutil
    import tempfile

    import pyarrow as pa

    args.data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="dml-profile-", dir=args.data))
    try:
        fn = _operation(case, args, scratch)
        before = _status_kib("VmRSS")
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        result = fn()
        prof.disable()
        elapsed = time.perf_counter() - start
        prof.dump_stats(args.out / f"profile_dml_{case}.prof")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(args.top)
    memory = (f"RSS before {before / 1024:.0f} MiB, peak (VmHWM) {_status_kib('VmHWM') / 1024:.0f} MiB, "
              f"Arrow pool peak {pa.default_memory_pool().max_memory() / 2**20:.0f} MiB; {elapsed:.2f} s under the profiler")
    return f"=== {case} ===\n{memory}\n{result}\n{buf.getvalue()}"


def main(argv: list[str] | None = None) -> None:
    """Profile every case (each in a fresh process) and write ``profile_dml.txt``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_dml")
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--big-rows", type=int, default=50_000_000)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data", type=Path, default=HERE / "data")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--case", choices=CASES, help="profile only this case, in this process (used by the parent run)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.case:
        print(profile_case(args.case, args))
        return
    passed = list(argv if argv is not None else sys.argv[1:])
    sections = []
    for case in CASES:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.profile_dml", *passed, "--case", case],
                              cwd=HERE.parent, capture_output=True, text=True, check=True)
        sections.append(proc.stdout)
    (args.out / "profile_dml.txt").write_text("\n".join(sections))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
