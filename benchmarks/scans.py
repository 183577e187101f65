"""Scan benchmarks: a selective range read, a partition-pruned read, and planning over 100,000 files.

Tables: ``cfg.rows`` rows in 50 files sorted by id (written by deltalake, so its stats are the ones
skipped on), and the same rows partitioned by a 20-value column. The planning table is a log with one
commit of 100,000 `add` actions with stats (the files need not exist: only planning is timed).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

import lakehouse
from benchmarks.common import BenchResult, Config, Target, Variant, expect, measure

FILES = 50
PARTITIONS = 20
PLAN_FILES = 100_000


def _marker(path: Path, params: dict) -> bool:
    try:
        return json.loads((path / ".bench-meta.json").read_text()) == params
    except (OSError, ValueError):
        return False


def _sorted_table(cfg: Config) -> Path:
    path = cfg.data_dir / f"range_{cfg.rows}"
    params = {"rows": cfg.rows, "files": FILES, "seed": cfg.seed, "gen": 1}
    if _marker(path, params):
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = np.random.default_rng(cfg.seed)
    bounds = np.linspace(0, cfg.rows, FILES + 1).astype(np.int64)
    for i in range(FILES):
        n = int(bounds[i + 1] - bounds[i])
        t = pa.table({
            "id": pa.array(np.arange(bounds[i], bounds[i + 1], dtype=np.int64)),
            "value": pa.array(rng.standard_normal(n)),
            "part": pa.array([f"p{j:02d}" for j in rng.integers(0, PARTITIONS, n)]),
        })
        write_deltalake(str(path), t, mode="error" if i == 0 else "append")
    (path / ".bench-meta.json").write_text(json.dumps(params))
    return path


def _partitioned_table(cfg: Config, source: Path) -> Path:
    path = cfg.data_dir / f"partitioned_{cfg.rows}"
    params = {"rows": cfg.rows, "partitions": PARTITIONS, "seed": cfg.seed, "gen": 1}
    if _marker(path, params):
        return path
    shutil.rmtree(path, ignore_errors=True)
    write_deltalake(str(path), lakehouse.read_delta(source), partition_by=["part"])
    (path / ".bench-meta.json").write_text(json.dumps(params))
    return path


def _files(path: Path) -> list[str]:
    return [str(path / p) for p in lakehouse.DeltaTable(path).files().column("path").to_pylist()]


def run_range(cfg: Config) -> list[BenchResult]:
    """Read 1,000 consecutive ids out of ``cfg.rows`` (fewer at tiny sizes, so they stay in one file):
    exactly one file must be opened."""
    path = _sorted_table(cfg)
    span = min(1000, max(1, cfg.rows // FILES // 2))
    lo = cfg.rows // 2 + 17
    hi = lo + span - 1
    sql = f"id BETWEEN {lo} AND {hi}"
    files = _files(path)
    scan = lakehouse.DeltaTable(path).scan(sql)
    opened = scan.metrics.files_after_stats_skipping
    expect(opened == 1, f"lakehouse planned {opened} files for a {span}-row range inside one file")

    def check(t: pa.Table) -> None:
        ids = np.sort(t.column("id").to_numpy())
        expect(len(ids) == span and ids[0] == lo and ids[-1] == hi, "wrong rows for the range")

    variants = [
        Variant("lakehouse", f"lakehouse.read_delta(path, filter='{sql}')", lambda: lakehouse.read_delta(path, filter=sql), check),
        Variant("deltalake", "DeltaTable(path).to_pyarrow_table(filters=[id >= lo, id <= hi])",
                lambda: DeltaTable(str(path)).to_pyarrow_table(filters=[("id", ">=", lo), ("id", "<=", hi)]), check),
        Variant("pyarrow", "ds.dataset(all files).to_table(filter=...)",
                lambda: ds.dataset(files, format="parquet").to_table(filter=(pc.field("id") >= lo) & (pc.field("id") <= hi)), check),
    ]
    return [BenchResult(
        name="range_read", description=f"{span:,}-row id range out of {cfg.rows:,} rows in {FILES} files sorted by id",
        params={"rows": cfg.rows, "files": FILES, "filter": sql, "files_opened_by_lakehouse": opened},
        measurements=measure(variants, cfg.repeat), target=Target("absolute_ms", 30.0, "lakehouse <= 30 ms and 1 file opened"),
        checks=[f"lakehouse planning opened {opened} of {len(files)} files", f"every result holds exactly the {span:,} ids"],
    )]


def run_partition(cfg: Config) -> list[BenchResult]:
    """Read one partition of 20."""
    source = _sorted_table(cfg)
    path = _partitioned_table(cfg, source)
    sql = "part = 'p07'"
    expected = lakehouse.read_delta(source, filter=sql, columns=["id"]).num_rows

    def check(t: pa.Table) -> None:
        expect(t.num_rows == expected, f"partition read returned {t.num_rows} rows, expected {expected}")

    variants = [
        Variant("lakehouse", f"lakehouse.read_delta(path, filter=\"{sql}\")", lambda: lakehouse.read_delta(path, filter=sql), check),
        Variant("deltalake", "DeltaTable(path).to_pyarrow_table(partitions=[('part', '=', 'p07')])",
                lambda: DeltaTable(str(path)).to_pyarrow_table(partitions=[("part", "=", "p07")]), check),
        Variant("pyarrow", "ds.dataset(path/part=p07)", lambda: ds.dataset(str(path / "part=p07"), format="parquet").to_table(), check),
    ]
    return [BenchResult(
        name="partition_read", description=f"one partition of {PARTITIONS} ({expected:,} of {cfg.rows:,} rows)",
        params={"rows": cfg.rows, "partitions": PARTITIONS, "filter": sql},
        measurements=measure(variants, cfg.repeat), target=Target("absolute_ms", 50.0, "lakehouse <= 50 ms"),
        checks=["row count equal to the same filter on the unpartitioned table"],
    )]


def planning_log(data_dir: Path, files: int = PLAN_FILES) -> Path:
    """A log of one commit adding ``files`` files of 100 rows (``id`` ``100 i`` .. ``100 i + 99`` in file
    ``i``, partition ``p{i % 20}``) with stats; the data files do not exist (only planning reads it)."""
    path = data_dir / f"plan_{files}"
    params = {"files": files, "gen": 1}
    if _marker(path, params):
        return path
    shutil.rmtree(path, ignore_errors=True)
    (path / "_delta_log").mkdir(parents=True)
    schema = {"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": True, "metadata": {}},
        {"name": "part", "type": "string", "nullable": True, "metadata": {}}]}
    now = int(time.time() * 1000)
    lines = [
        json.dumps({"commitInfo": {"timestamp": now, "operation": "WRITE"}}),
        json.dumps({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}),
        json.dumps({"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                                 "schemaString": json.dumps(schema), "partitionColumns": ["part"],
                                 "configuration": {}, "createdTime": now}}),
    ]
    for i in range(files):
        stats = json.dumps({"numRecords": 100, "minValues": {"id": i * 100}, "maxValues": {"id": i * 100 + 99}, "nullCount": {"id": 0}})
        lines.append(json.dumps({"add": {"path": f"part=p{i % PARTITIONS:02d}/f{i}.parquet", "partitionValues": {"part": f"p{i % PARTITIONS:02d}"},
                                         "size": 1000, "modificationTime": now, "dataChange": True, "stats": stats}}))
    (path / "_delta_log" / "00000000000000000000.json").write_text("\n".join(lines) + "\n")
    (path / ".bench-meta.json").write_text(json.dumps(params))
    return path


def planning_filter(files: int) -> tuple[str, int]:
    """A filter on one partition and the ids of files 5%..15% of the way through, and how many of the
    ``files`` files of `planning_log` it keeps (500 of 100,000)."""
    lo, hi = files * 100 // 20, files * 100 * 3 // 20
    kept = sum(1 for i in range(lo // 100, hi // 100 + 1) if i % PARTITIONS == 3 and i < files)
    return f"part = 'p03' AND id BETWEEN {lo} AND {hi}", kept


def run_planning(cfg: Config) -> list[BenchResult]:
    """Plan a selective filter over 100,000 files (snapshot loaded once, untimed)."""
    path = planning_log(cfg.data_dir)
    table = lakehouse.DeltaTable(path)
    sql = "part = 'p03' AND id BETWEEN 500000 AND 1500000"

    def plan() -> int:
        return table.scan(sql).metrics.files_after_stats_skipping

    def check(n: int) -> None:
        expect(n == 500, f"planning kept {n} files, expected 500")

    return [BenchResult(
        name="planning_100k", description=f"plan '{sql}' over {PLAN_FILES:,} files (partition pruning + stats skipping)",
        params={"files": PLAN_FILES, "filter": sql}, measurements=measure([Variant("lakehouse", "DeltaTable.scan(filter).metrics", plan, check)], cfg.repeat),
        target=Target("absolute_ms", 1000.0, "lakehouse well under 1 s"),
        checks=["exactly the 500 files of partition p03 whose id range overlaps are kept"],
    )]
