"""DML benchmarks (issue #5): MERGE into, scattered DELETE from, and a 1-row upsert into large tables.

Every call mutates a table, so each works on a fresh copy of a cached base table (`dml_data`), made by
the variant's ``setup`` outside the timed region, and runs in a fresh child process (`dml_child`) that
loads only its engine: the child times the operation alone and reports its peak RSS, which is recorded
next to the time. Heavy operations get at most `DML_REPEAT` timed runs (after one warm-up) whatever
``--repeat`` says.

Every result is checked, first with the engine that wrote it, and on a variant's first call also with
the other engine (``deltalake`` through its DataFusion engine, which applies deletion vectors): a wrong
result raises instead of posting a time. The raw pyarrow baseline (``pyarrow_1t``: read every file,
rewrite every file, on one thread, zstd) leaves plain Parquet files under ``_raw``, which pyarrow reads
back for the same checks.

`run_position_check` (``--only dml_position_check``, not in the default run) shows that a variant's place
in the round no longer matters (see `benchmarks.common.measure`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable, QueryBuilder

import lakehouse
from benchmarks import dml_data
from benchmarks.common import BenchResult, ChildRun, Config, Target, Variant, expect, measure

REPO = Path(__file__).resolve().parent.parent
# Five, not three: on the shared 2-core machine a run now and then takes ~300 ms more system time (page
# faults; seen in every engine and worker count), and a median of three is moved by two such runs.
DML_REPEAT = 5
DELETE_BUCKET = 7
MERGE_ON = "t.id = s.id"
UPSERT_ON = "t.day = s.day AND t.id = s.id"  # the partition column in the key lets both engines prune
SENTINEL = 1_000_000.0  # new values start here: standard normal data never reaches it
SAMPLE = 100


# -- reading results back, with either engine ---------------------------------------------------------
@dataclass(frozen=True)
class Reader:
    """How one engine counts a table's rows and reads the rows whose ``column`` is one of ``values``."""

    engine: str
    count: Callable[[str], int]
    rows: Callable[[str, str, list[int], list[str]], pa.Table]


def _in_sql(column: str, values: list[int]) -> str:
    return f"{column} = {values[0]}" if len(values) == 1 else f"{column} IN ({', '.join(map(str, values))})"


def _lakehouse_count(path: str) -> int:
    # Counted from Parquet footers when there are no deletion vectors; lakehouse applies them otherwise.
    return lakehouse.DeltaTable(path).to_pyarrow_dataset().count_rows()


def _lakehouse_rows(path: str, column: str, values: list[int], columns: list[str]) -> pa.Table:
    return lakehouse.DeltaTable(path).to_arrow(columns=columns, filter=_in_sql(column, values))


def _deltalake_sql(path: str, sql: str) -> pa.Table:
    stream = QueryBuilder().register("t", DeltaTable(path)).execute(sql)
    return pa.RecordBatchReader.from_stream(stream).read_all()


def _deltalake_count(path: str) -> int:
    return int(_deltalake_sql(path, "SELECT count(*) AS n FROM t").column("n")[0].as_py())


def _deltalake_rows(path: str, column: str, values: list[int], columns: list[str]) -> pa.Table:
    return _deltalake_sql(path, f"SELECT {', '.join(columns)} FROM t WHERE {_in_sql(column, values)}")


def _raw_dataset(path: str) -> ds.Dataset:
    # The raw baseline's output: plain Parquet files, no log.
    return ds.dataset(str(Path(path) / "_raw"), format="parquet")


def _raw_rows(path: str, column: str, values: list[int], columns: list[str]) -> pa.Table:
    return _raw_dataset(path).to_table(columns=columns, filter=pc.field(column).isin(values))


READERS = {
    "lakehouse": Reader("lakehouse", _lakehouse_count, _lakehouse_rows),
    "deltalake": Reader("deltalake", _deltalake_count, _deltalake_rows),
    "pyarrow": Reader("pyarrow", lambda path: _raw_dataset(path).count_rows(), _raw_rows),
}
RAW_NOTE = "raw pyarrow: read every file, rewrite every file (zstd) on one thread, no log; the floor of copy-on-write"


# -- fresh copies and child processes ------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one call left behind: the mutated copy, the engine's own metrics and, for VACUUM, the paths it
    listed (dry run) or deleted."""

    path: str
    metrics: dict[str, Any]
    files: tuple[str, ...] | None = None


class Scratch:
    """Fresh table copies under one directory beside the base tables (hard links need one filesystem)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="dml-scratch-", dir=data_dir))
        self.count = 0

    def copy_of(self, base: Path) -> Path:
        """A fresh private copy of the table ``base``."""
        self.count += 1
        return dml_data.fresh_copy(base, self.root / f"t{self.count}")

    def write_source(self, name: str, table: pa.Table) -> str:
        """Store a MERGE source as Parquet for the child processes; returns its path."""
        path = self.root / f"{name}.parquet"
        pq.write_table(table, path)
        return str(path)

    def close(self) -> None:
        """Remove every copy."""
        shutil.rmtree(self.root, ignore_errors=True)


def run_child(spec: dict[str, Any]) -> ChildRun:
    """Run one operation in a fresh ``python -m benchmarks.dml_child`` process; raise if it fails."""
    cmd = [sys.executable, "-m", "benchmarks.dml_child", json.dumps(spec)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['engine']} {spec['op']} failed in its child process:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    files = tuple(report["files"]) if "files" in report else None
    return ChildRun(report["elapsed_s"], report["peak_rss_kib"], report["baseline_rss_kib"],
                    Outcome(spec["table"], report["metrics"], files))


def _variant(engine: str, label: str, base: Path, spec: dict[str, Any], scratch: Scratch,
             verify: Callable[[Reader, str], None], metrics: dict[str, Any], **kw: Any) -> Variant:
    """A variant that runs ``spec`` with ``engine`` on a fresh copy of ``base`` and verifies the result
    (the raw ``pyarrow`` engine's output is read back by pyarrow only: it is no table)."""
    other = {"lakehouse": "deltalake", "deltalake": "lakehouse", "pyarrow": "pyarrow"}[engine]
    crossed: list[str] = []

    def fn(path: Path) -> ChildRun:
        return run_child({**spec, "engine": engine, "table": str(path)})

    def check(outcome: Outcome) -> None:
        verify(READERS[engine], outcome.path)
        if not crossed:  # once per variant: the other engine reads the same rows
            verify(READERS[other], outcome.path)
            crossed.append(other)
        metrics[label] = outcome.metrics
        shutil.rmtree(outcome.path, ignore_errors=True)

    return Variant(engine, label, fn, check, setup=lambda: scratch.copy_of(base), **kw)


def _checks(variants: list[Variant], what: str) -> list[str]:
    others = {"lakehouse": "deltalake", "deltalake": "lakehouse"}
    cross = ", ".join(sorted({f"{v.engine}'s result read by {others[v.engine]}" for v in variants if v.engine in others}))
    return [f"every result checked by the engine that wrote it: {what}", f"first result of each variant cross-read ({cross})"]


def _repeat(cfg: Config) -> int:
    return min(cfg.repeat, DML_REPEAT)


# -- MERGE -----------------------------------------------------------------------------------------------
def merge_source(rows: int, seed: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """1% of ``rows`` source rows (at least 2): half update existing ids scattered over every file, half
    insert new ids. Returns the source, the updated ids and the inserted ids."""
    n = max(2, rows // 100)
    updated = np.sort(np.random.default_rng(seed + 1).choice(rows, n // 2, replace=False)).astype(np.int64)
    inserted = np.arange(rows, rows + n - n // 2, dtype=np.int64)
    ids = np.concatenate([updated, inserted])
    source = pa.table({
        "id": pa.array(ids),
        "value": pa.array(SENTINEL + ids.astype(np.float64)),
        "category": pa.array(["merged"] * len(ids), pa.string()),
        "event_time": pa.array(np.full(len(ids), 1_735_689_600_000_000, dtype=np.int64), pa.timestamp("us", tz="UTC")),
        "bucket": pa.array(ids % dml_data.BUCKETS),
    })
    return source, updated, inserted


def _sample(ids: np.ndarray) -> np.ndarray:
    return ids[np.linspace(0, len(ids) - 1, min(SAMPLE, len(ids))).astype(np.int64)]


def _verify_merge(rows: int, updated: np.ndarray, inserted: np.ndarray) -> Callable[[Reader, str], None]:
    sample = np.unique(np.concatenate([_sample(updated), _sample(inserted)]))

    def verify(reader: Reader, path: str) -> None:
        n = reader.count(path)
        expect(n == rows + len(inserted), f"{reader.engine}: {n} rows after MERGE, expected {rows + len(inserted)}")
        got = reader.rows(path, "id", sample.tolist(), ["id", "value"]).sort_by("id")
        ids, values = got.column("id").to_numpy(), got.column("value").to_numpy()
        expect(np.array_equal(ids, sample), f"{reader.engine}: sampled keys not present exactly once after MERGE")
        expect(np.array_equal(values, SENTINEL + sample), f"{reader.engine}: sampled keys lack the source's values")

    return verify


def run_merge(cfg: Config) -> list[BenchResult]:
    """MERGE of 1% source rows (half updates, half inserts) into the ``cfg.rows``-row table."""
    plain = dml_data.dml_table(cfg.data_dir, cfg.rows, cfg.seed).path
    dv = dml_data.dml_dv_table(cfg.data_dir, cfg.rows, cfg.seed).path
    source, updated, inserted = merge_source(cfg.rows, cfg.seed)
    scratch = Scratch(cfg.data_dir)
    metrics: dict[str, Any] = {}
    try:
        spec = {"op": "merge", "on": MERGE_ON, "source": scratch.write_source("merge", source)}
        verify = _verify_merge(cfg.rows, updated, inserted)
        call = f".merge(source, '{MERGE_ON}').when_matched_update_all().when_not_matched_insert_all().execute()"
        variants = [
            _variant("lakehouse", f"lakehouse.DeltaTable(path){call}", plain, spec, scratch, verify, metrics,
                     note="copy-on-write"),
            _variant("lakehouse", f"lakehouse.DeltaTable(path).merge(..., max_workers=1)...", plain,
                     {**spec, "max_workers": 1}, scratch, verify, metrics, compare=False, key="lakehouse_1w",
                     note="copy-on-write on one worker: the per-core baseline of the parallel rewrite; for information"),
            _variant("lakehouse", f"lakehouse.DeltaTable(path){call}, deletion vectors", dv, spec, scratch, verify, metrics,
                     compare=False, key="lakehouse_dv", note="table with delta.enableDeletionVectors=true; for information"),
            _variant("deltalake", f"deltalake.DeltaTable(path){call}", plain, spec, scratch, verify, metrics,
                     note="copy-on-write"),
            _variant("pyarrow", "read every file, replace matched ids, write every file + inserts (zstd, 1 thread)",
                     plain, spec, scratch, verify, metrics, key="pyarrow_1t", note=RAW_NOTE),
        ]
        measurements = measure(variants, _repeat(cfg))
    finally:
        scratch.close()
    return [BenchResult(
        name="merge_upsert",
        description=f"MERGE {source.num_rows:,} source rows ({len(updated):,} updates scattered over all "
                    f"{dml_data.DML_FILES} files, {len(inserted):,} inserts) into {cfg.rows:,} rows",
        params={"rows": cfg.rows, "files": dml_data.DML_FILES, "source_rows": source.num_rows, "on": MERGE_ON,
                "repeat": _repeat(cfg), "engine_metrics": metrics},
        measurements=measurements,
        target=Target("vs_peer", 0.9, "copy-on-write <= 0.9x raw rewrite", peer="pyarrow_1t"),
        rss_target=Target("rss_vs_deltalake", 1.0, "lakehouse peak RSS <= deltalake's"),
        extra_targets=[Target("vs_deltalake", 0.6, "copy-on-write <= 0.6x deltalake"),
                       Target("vs_deltalake", 0.25, "with deletion vectors <= 0.25x deltalake", subject="lakehouse_dv")],
        checks=_checks(variants, f"row count {cfg.rows:,} + inserts, {min(SAMPLE, len(updated))} updated and "
                                 f"{min(SAMPLE, len(inserted))} inserted keys present once with the source's values"),
    )]


# -- DELETE --------------------------------------------------------------------------------------------
def deleted_rows(rows: int) -> int:
    """How many of ids ``0..rows-1`` fall in bucket `DELETE_BUCKET` (``id % 100 = 7``)."""
    return rows // dml_data.BUCKETS + (1 if rows % dml_data.BUCKETS > DELETE_BUCKET else 0)


def _verify_delete(rows: int, predicate: str) -> Callable[[Reader, str], None]:
    expected = rows - deleted_rows(rows)

    def verify(reader: Reader, path: str) -> None:
        n = reader.count(path)
        expect(n == expected, f"{reader.engine}: {n} rows after DELETE, expected {expected}")
        column, value = (x.strip() for x in predicate.split("="))
        left = reader.rows(path, column, [int(value)], ["id"]).num_rows
        expect(left == 0, f"{reader.engine}: {left} rows still match {predicate!r} after DELETE")

    return verify


def run_delete(cfg: Config) -> list[BenchResult]:
    """DELETE of the 1% of rows with ``bucket = 7`` (every 100th id, in every file)."""
    plain = dml_data.dml_table(cfg.data_dir, cfg.rows, cfg.seed).path
    dv = dml_data.dml_dv_table(cfg.data_dir, cfg.rows, cfg.seed).path
    predicate = f"bucket = {DELETE_BUCKET}"
    spec = {"op": "delete", "predicate": predicate}
    verify = _verify_delete(cfg.rows, predicate)
    scratch = Scratch(cfg.data_dir)
    metrics: dict[str, Any] = {}
    call = f".delete('{predicate}')"
    variants = [
        _variant("lakehouse", f"lakehouse.DeltaTable(path){call}, deletion vectors", dv, spec, scratch, verify, metrics,
                 key="lakehouse_dv", note="table with delta.enableDeletionVectors=true"),
        _variant("lakehouse", f"lakehouse.DeltaTable(path){call}, copy-on-write", plain, spec, scratch, verify, metrics,
                 compare=False, key="lakehouse_cow", note="no deletion vectors: files rewritten"),
        _variant("lakehouse", f"lakehouse.DeltaTable(path).delete('{predicate}', max_workers=1), copy-on-write", plain,
                 {**spec, "max_workers": 1}, scratch, verify, metrics, compare=False, key="lakehouse_1w",
                 note="copy-on-write on one worker: the per-core baseline; for information"),
        _variant("deltalake", f"deltalake.DeltaTable(path){call}", plain, spec, scratch, verify, metrics,
                 note="copy-on-write (deltalake 1.6 writes no deletion vectors)"),
        _variant("pyarrow", "read every file, drop matching rows, write every file (zstd, 1 thread)", plain, spec,
                 scratch, verify, metrics, key="pyarrow_1t", note=RAW_NOTE),
    ]
    try:
        measurements = measure(variants, _repeat(cfg))
    finally:
        scratch.close()
    return [BenchResult(
        name="delete_scattered",
        description=f"DELETE {deleted_rows(cfg.rows):,} rows ({predicate}, i.e. id % 100 = 7: every file) "
                    f"of {cfg.rows:,}",
        params={"rows": cfg.rows, "files": dml_data.DML_FILES, "predicate": predicate,
                "deleted_rows": deleted_rows(cfg.rows), "repeat": _repeat(cfg), "engine_metrics": metrics},
        measurements=measurements,
        target=Target("vs_deltalake", 0.1, "with deletion vectors <= 0.1x deltalake", subject="lakehouse_dv"),
        rss_target=Target("rss_vs_deltalake", 1.0, "copy-on-write peak RSS <= deltalake's", subject="lakehouse_cow"),
        extra_targets=[
            Target("vs_peer", 0.9, "copy-on-write <= 0.9x raw rewrite", subject="lakehouse_cow", peer="pyarrow_1t"),
            Target("vs_deltalake", 0.6, "copy-on-write <= 0.6x deltalake", subject="lakehouse_cow"),
        ],
        checks=_checks(variants, "row count = rows - deleted, no row left matching the predicate"),
    )]


# -- 1-row upsert into the large partitioned table -----------------------------------------------------
def upsert_row(rows: int) -> pa.Table:
    """One source row updating an existing id in the middle of the table (its day included)."""
    key = rows // 2 + 123 if rows > 1000 else rows // 2
    day = int(np.searchsorted(dml_data.day_bounds(rows), key, side="right")) - 1
    return pa.table({
        "id": pa.array([key], pa.int64()),
        "value": pa.array([SENTINEL + key]),
        "category": pa.array(["upserted"], pa.string()),
        "event_time": pa.array([1_735_689_600_000_000], pa.timestamp("us", tz="UTC")),
        "day": pa.array([dml_data.day_name(day)], pa.string()),
    })


def _verify_upsert(rows: int, source: pa.Table) -> Callable[[Reader, str], None]:
    key, day = source.column("id")[0].as_py(), source.column("day")[0].as_py()

    def verify(reader: Reader, path: str) -> None:
        n = reader.count(path)
        expect(n == rows, f"{reader.engine}: {n} rows after the upsert of an existing key, expected {rows}")
        got = reader.rows(path, "id", [key], ["id", "day", "value"])
        expect(got.num_rows == 1, f"{reader.engine}: key {key} present {got.num_rows} times after the upsert")
        expect(got.column("day")[0].as_py() == day and got.column("value")[0].as_py() == SENTINEL + key,
               f"{reader.engine}: key {key} does not carry the upserted values")

    return verify


def run_upsert_large(cfg: Config) -> list[BenchResult]:
    """MERGE of one row (an update of an existing key) into the ``cfg.big_rows``-row partitioned table."""
    base = dml_data.big_partitioned_table(cfg.data_dir, cfg.big_rows, cfg.seed).path
    source = upsert_row(cfg.big_rows)
    scratch = Scratch(cfg.data_dir)
    metrics: dict[str, Any] = {}
    try:
        spec = {"op": "merge", "on": UPSERT_ON, "source": scratch.write_source("upsert", source)}
        verify = _verify_upsert(cfg.big_rows, source)
        call = f".merge(one_row, '{UPSERT_ON}').when_matched_update_all().when_not_matched_insert_all().execute()"
        variants = [
            _variant("lakehouse", f"lakehouse.DeltaTable(path){call}", base, spec, scratch, verify, metrics),
            _variant("deltalake", f"deltalake.DeltaTable(path){call}", base, spec, scratch, verify, metrics),
        ]
        measurements = measure(variants, _repeat(cfg))
    finally:
        scratch.close()
    files = dml_data.BIG_DAYS * dml_data.BIG_FILES_PER_DAY
    return [BenchResult(
        name="upsert_large_partitioned",
        description=f"MERGE of 1 row (update of an existing key) into {cfg.big_rows:,} rows partitioned by day "
                    f"({dml_data.BIG_DAYS} days, {files} files)",
        params={"rows": cfg.big_rows, "days": dml_data.BIG_DAYS, "files": files, "on": UPSERT_ON,
                "key": source.column("id")[0].as_py(), "repeat": _repeat(cfg), "engine_metrics": metrics},
        measurements=measurements,
        target=None,
        rss_target=Target("rss_absolute_mb", 1024.0, "lakehouse peak RSS < 1 GiB"),
        checks=_checks(variants, "row count unchanged, the key present once with the new value in its day"),
    )]


# -- position check ----------------------------------------------------------------------------------------
def run_position_check(cfg: Config) -> list[BenchResult]:
    """The same copy-on-write DELETE timed first and last in every round (no rotation), around deltalake's,
    with and without the page-cache `settle` before each call: with it, both positions must give the same
    median; without it, the call after a rewrite pays for that rewrite's write-back."""
    plain = dml_data.dml_table(cfg.data_dir, cfg.rows, cfg.seed).path
    predicate = f"bucket = {DELETE_BUCKET}"
    spec = {"op": "delete", "predicate": predicate}
    verify = _verify_delete(cfg.rows, predicate)
    results = []
    for sync in (True, False):
        scratch = Scratch(cfg.data_dir)
        metrics: dict[str, Any] = {}
        label = f"lakehouse.DeltaTable(path).delete('{predicate}'), copy-on-write"
        variants = [
            _variant("lakehouse", f"{label} [first in the round]", plain, spec, scratch, verify, metrics, key="first"),
            _variant("deltalake", f"deltalake.DeltaTable(path).delete('{predicate}')", plain, spec, scratch, verify, metrics),
            _variant("lakehouse", f"{label} [last in the round]", plain, spec, scratch, verify, metrics, key="last",
                     compare=False),
        ]
        try:
            measurements = measure(variants, max(3, min(cfg.repeat, 5)), rotate=False, sync=sync)
        finally:
            scratch.close()
        first, last = measurements[0], measurements[2]
        results.append(BenchResult(
            name=f"dml_position_check{'' if sync else '_nosync'}",
            description=f"one copy-on-write DELETE of {cfg.rows:,} rows timed first and last in each round, fixed "
                        f"order, {'with' if sync else 'WITHOUT'} the sync before each call",
            params={"rows": cfg.rows, "sync": sync, "first_median_s": first.median, "last_median_s": last.median,
                    "last_over_first": last.median / first.median},
            measurements=measurements,
            target=Target("vs_peer", 1.15, "last <= 1.15x first (position does not matter)", subject="last",
                          peer="first") if sync else None,
            checks=_checks(variants, "row count = rows - deleted, no row left matching the predicate"),
        ))
    return results
