"""Concurrent writers as REAL OS processes (`tests/write/workers/appender.py`), on local disk and on
the moto S3 server.

- N appenders x M appends each against one table (4 x 15 by default, 4 x 50 with ``LAKEHOUSE_FULL=1``):
  every append must land exactly once, versions 0..K contiguous with K = total commits, each commit file
  holding the transaction of the writer that reported it, and delta-rs reading the same rows.
- Mixed replaceWhere writers: two on their OWN partition (disjoint: every operation commits, whatever
  the others do) and two on the SAME partition (overlapping: each operation commits or fails with
  ConcurrentAppend/ConcurrentDeleteRead). At every version each partition holds exactly one writer's
  batch - the batch of the last commit to that partition - never a mix.

The table checkpoints every 10 commits, so checkpoints are written while other processes commit.
Each test prints its commit throughput (run pytest with ``-s`` to see it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from lakehouse import DeltaTable
from lakehouse.storage import open_storage
from tests.conftest import S3_ENV

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "write" / "workers" / "appender.py"
FULL = os.environ.get("LAKEHOUSE_FULL") == "1"
WRITERS = 4
APPENDS = 50 if FULL else 15
REPLACES = 50 if FULL else 15
BATCH_ROWS = 3  # rows per replaceWhere batch, so a mix of two batches would show
CHECKPOINT_INTERVAL = 10
TIMEOUT = 900 if FULL else 200  # seconds for one group of writer processes

SCHEMA = pa.schema([("writer", pa.int64()), ("seq", pa.int64()), ("k", pa.int64()), ("part", pa.string())])
ALLOWED_REPLACE_CONFLICTS = {"ConcurrentAppendError", "ConcurrentDeleteReadError"}

pytestmark = pytest.mark.slow


@dataclass
class Backend:
    kind: str
    uri: str
    options: dict[str, Any] | None
    dl_options: dict[str, str] | None

    _storage: Any = None

    def storage(self):
        """One Storage per location (a fresh s3fs client per call costs a connection setup on S3)."""
        if self._storage is None:
            self._storage = open_storage(self.uri, self.options)
        return self._storage


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path / "table"), None, None)
    bucket, options, _fs = request.getfixturevalue("s3_bucket")
    dl = {
        "AWS_ENDPOINT_URL": options["client_kwargs"]["endpoint_url"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": options["client_kwargs"]["region_name"],
    }
    return Backend("s3", f"s3://{bucket}/table", options, dl)


# -- running writer processes -----------------------------------------------------------------------------
@dataclass
class Run:
    ops: list[dict]  # every op line of every writer
    elapsed: float  # seconds from the start signal until the last writer exited

    def committed(self) -> list[dict]:
        return [o for o in self.ops if o["status"] == "committed"]


def run_writers(backend: Backend, argvs: list[list[str]], logs: Path) -> Run:
    """Start one process per argv, wait until all have imported lakehouse, start them together, collect."""
    pythonpath = os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x)
    env = {**os.environ, **S3_ENV, "PYTHONPATH": pythonpath}
    if backend.options is not None:
        env["LAKEHOUSE_STORAGE_OPTIONS"] = json.dumps(backend.options)  # endpoint and credentials
    procs: list[subprocess.Popen] = []
    err_paths = []
    timed_out = threading.Event()

    def kill_all() -> None:  # only the processes started here, by their Popen handles
        for p in procs:
            if p.poll() is None:
                p.kill()

    def on_timeout() -> None:
        timed_out.set()
        kill_all()

    timer = threading.Timer(TIMEOUT, on_timeout)
    timer.start()
    try:
        for i, argv in enumerate(argvs):
            err_paths.append(logs / f"writer{i}.stderr")
            with open(err_paths[-1], "w") as err:
                procs.append(subprocess.Popen(
                    [sys.executable, str(WORKER), "--uri", backend.uri, *argv],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env,
                ))
        for p, ep in zip(procs, err_paths):
            line = p.stdout.readline()
            assert line and json.loads(line)["event"] == "ready", f"writer did not start:\n{ep.read_text()}"
        start = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
            p.stdin.close()
        with ThreadPoolExecutor(len(procs)) as ex:
            outputs = list(ex.map(lambda p: p.stdout.read(), procs))
        codes = [p.wait() for p in procs]
        elapsed = time.perf_counter() - start
    finally:
        timer.cancel()
        kill_all()
        for p in procs:
            p.wait()
    assert not timed_out.is_set(), f"writers killed after {TIMEOUT}s"
    ops = []
    for i, (out, code) in enumerate(zip(outputs, codes)):
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        assert code == 0 and lines and lines[-1]["event"] == "done", (
            f"writer {i} exited with {code}:\n{out[-2000:]}\n{err_paths[i].read_text()[-4000:]}"
        )
        ops += [x for x in lines if x["event"] == "op"]
    crashes = [o for o in ops if o["status"] == "crash"]
    assert not crashes, "a writer hit a non-lakehouse exception:\n" + "\n".join(o["traceback"] for o in crashes)
    return Run(ops, elapsed)


def report(name: str, backend: Backend, run: Run) -> None:
    committed = run.committed()
    attempts = sum(o["attempts"] for o in committed)
    lost = sum(o["conflicts"] for o in run.ops)
    print(
        f"\n[{name}/{backend.kind}] {len(committed)} commits by {len({o['writer'] for o in run.ops})} processes in "
        f"{run.elapsed:.2f}s = {len(committed) / run.elapsed:.1f} commits/s; {attempts} attempts, "
        f"{lost} lost races, {len(run.ops) - len(committed)} conflicts raised; "
        f"median op {sorted(o['ms'] for o in run.ops)[len(run.ops) // 2]:.0f} ms"
    )


# -- checks -----------------------------------------------------------------------------------------------
def log_names(backend: Backend) -> list[str]:
    return [f.path.rsplit("/", 1)[-1] for f in backend.storage().list_dir("_delta_log")]


def commit_versions(backend: Backend) -> list[int]:
    return sorted(int(n[:20]) for n in log_names(backend) if len(n) == 25 and n.endswith(".json") and n[:20].isdigit())


def commit_txn_id(backend: Backend, version: int) -> str | None:
    raw = backend.storage().read_bytes(f"_delta_log/{version:020d}.json")
    for line in raw.splitlines():
        action = orjson.loads(line)
        if "commitInfo" in action:
            return action["commitInfo"].get("txnId")
    return None


def check_log(backend: Backend, run: Run, base: int) -> int:
    """Commits reported by writers are exactly versions base+1..K, each holding that writer's transaction,
    no failed transaction left a commit, and the log holds versions 0..K with nothing missing."""
    committed = run.committed()
    k = base + len(committed)
    versions = Counter(o["version"] for o in committed)
    doubles = {v: [(o["writer"], o["seq"], o["attempts"], o["txn_id"], [p for p in o["puts"] if p["name"] == f"{v:020d}.json"])
                   for o in committed if o["version"] == v]
               for v, n in versions.items() if n > 1}
    assert not doubles, (
        "put-if-absent let two writers commit the same version; (writer, seq, attempts, txnId, traced puts of "
        "that version) per version: "
        f"{doubles}; commit files hold: { {v: commit_txn_id(backend, v) for v in doubles} }"
    )
    assert sorted(versions) == list(range(base + 1, k + 1)), "the reported versions have a gap"
    assert commit_versions(backend) == list(range(k + 1)), "the log's commit versions are not 0..K"
    owners = {v: commit_txn_id(backend, v) for v in range(k + 1)}
    for o in committed:
        assert owners[o["version"]] == o["txn_id"], (
            f"writer {o['writer']} op {o['seq']} reported version {o['version']}, but that commit holds another "
            "transaction: put-if-absent let two writers create the same commit file"
        )
    failed = {o["txn_id"] for o in run.ops if o["status"] != "committed"}
    assert not failed & set(owners.values()), "a transaction that raised left a commit behind"
    if backend.kind == "local":
        assert not [n for n in log_names(backend) if n.startswith(".")], "temporary files left in _delta_log"
    names = set(log_names(backend))
    missing = [v for v in range(CHECKPOINT_INTERVAL, k + 1, CHECKPOINT_INTERVAL)
               if f"{v:020d}.checkpoint.parquet" not in names]
    assert not missing, f"post-commit checkpoints missing at versions {missing}"
    return k


def rows(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table.column(c).to_pylist() for c in ("writer", "seq", "k", "part"))))


def deltalake_rows(backend: Backend) -> list[tuple]:
    deltalake = pytest.importorskip("deltalake")
    return rows(deltalake.DeltaTable(backend.uri, storage_options=backend.dl_options).to_pyarrow_table())


def create_table(backend: Backend, partition_by: list[str] | None = None) -> None:
    DeltaTable.create(
        backend.uri, schema=SCHEMA, partition_by=partition_by,
        configuration={"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)}, storage_options=backend.options,
    )


# =========================================================================================================
def test_concurrent_appenders_lose_no_commit(backend, tmp_path):
    create_table(backend)
    argvs = [["--writer", str(w), "--count", str(APPENDS), "--mode", "append"] for w in range(WRITERS)]
    run = run_writers(backend, argvs, tmp_path)
    report("append", backend, run)

    failed = [o for o in run.ops if o["status"] != "committed"]
    assert not failed, f"blind appends must never fail: {failed[:3]}"
    total = WRITERS * APPENDS
    k = check_log(backend, run, base=0)
    assert k == total

    dt = DeltaTable(backend.uri, storage_options=backend.options)
    assert dt.version == k
    got = rows(dt.to_arrow())
    counts = Counter((w, s) for w, s, _k, _p in got)
    want = {(w, s) for w in range(WRITERS) for s in range(APPENDS)}
    assert set(counts) == want, f"lost appends: {sorted(want - set(counts))[:10]}, extra: {sorted(set(counts) - want)[:10]}"
    assert all(c == 1 for c in counts.values()), f"duplicated appends: {[x for x, c in counts.items() if c > 1][:10]}"

    history = dt.history()
    assert [h.version for h in history] == list(range(k, -1, -1))
    appends = [h for h in history if h.operation == "WRITE" and (h.operation_parameters or {}).get("mode") == "Append"]
    assert len(appends) == total
    assert deltalake_rows(backend) == got


def test_mixed_replace_where_writers(backend, tmp_path):
    """Writers 0 and 1 replace their own partitions p0/p1; writers 2 and 3 both replace 'shared'."""
    create_table(backend, ["part"])
    parts = {0: "p0", 1: "p1", 2: "shared", 3: "shared"}
    argvs = [
        ["--writer", str(w), "--count", str(REPLACES), "--mode", "replace", "--partition", p,
         "--rows", str(BATCH_ROWS), "--max-retries", "100"]
        for w, p in parts.items()
    ]
    run = run_writers(backend, argvs, tmp_path)
    report("replaceWhere", backend, run)

    for o in run.ops:
        if o["writer"] in (0, 1):
            assert o["status"] == "committed", f"disjoint replaceWhere must never conflict: {o}"
        else:
            assert o["status"] == "committed" or o["error"] in ALLOWED_REPLACE_CONFLICTS, f"unexpected outcome: {o}"
    shared_commits = [o for o in run.committed() if o["writer"] in (2, 3)]
    assert shared_commits, "at least one overlapping replaceWhere must commit"
    k = check_log(backend, run, base=0)

    # Serial order: at version v, each partition holds exactly the batch of the last commit to it at or
    # before v (or nothing before its first commit) - never rows of two batches.
    by_version = {o["version"]: o for o in run.committed()}
    current: dict[str, tuple[int, int]] = {}
    for v in range(k + 1):
        if v in by_version:
            o = by_version[v]
            current[parts[o["writer"]]] = (o["writer"], o["seq"])
        want = sorted((w, s, i, part) for part, (w, s) in current.items() for i in range(BATCH_ROWS))
        got = rows(DeltaTable(backend.storage(), version=v).to_arrow())
        assert got == want, f"version {v}: partition contents are not the serial result"
    assert len(want) == 3 * BATCH_ROWS
    assert current["p0"] == (0, REPLACES - 1) and current["p1"] == (1, REPLACES - 1)
    assert deltalake_rows(backend) == want
