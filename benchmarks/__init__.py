"""Benchmark suite: lakehouse vs delta-rs (`deltalake`) vs raw pyarrow Parquet I/O.

Run everything with ``python -m benchmarks`` (see ``python -m benchmarks --help``). Benchmark tables are
generated once with `deltalake` under ``benchmarks/data/`` and reused while valid; results go to
``benchmarks/results/latest.json`` and ``latest.md``.

Groups, one module each: `benchmarks.full_read` (5M-row full scan), `benchmarks.snapshot_load` (open the
latest version of a 2,000-commit log, without and with a checkpoint) and `benchmarks.time_travel` (open
version 10 of that log, by number and by timestamp).
"""
