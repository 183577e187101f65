"""Real crashes: writer processes SIGKILLed at random moments, on local disk and on the moto S3 server.

Each trial lets `tests/write/workers/killable_writer.py` loop over appends and MERGE upserts on one
table (checkpoint every 3 commits, so kills also land in checkpoint writes) and SIGKILLs it: half the
trials after a seeded random delay of a few operations, the other half a seeded random fraction of a
millisecond-scale step (data-file write, commit put, checkpoint write) after it starts, which only a timer
inside the worker can hit. Then, from this process:

1. the table opens and its version is >= the version of the previous check;
2. the commit versions on storage are exactly 0..latest (a kill leaves no gap);
3. every new version holds exactly the rows of the reference model, which replays the committed ops in
   version order from their commit metadata (`history()`), and no op committed twice;
4. every operation the worker reported finished is in the log at the version it reported (nothing the
   worker was told is durable is lost), the operation cut by the kill is in the log if its commit
   put-if-absent had returned and absent if that put had not started;
5. every data file the latest snapshot references exists with its recorded size (half-written files may
   be left behind, but are never referenced);
6. a retried operation from this process commits at the next version and checks out like the others.

A table is replaced by a fresh one every few trials so that re-reading every version stays cheap. At the
end of each table delta-rs must read the same rows and `DeltaTable.verify()` (where it exists) must find
no damage. Sizes: 12 local + 6 S3 trials by default, 100 per
backend with ``LAKEHOUSE_FULL=1``. Each backend prints one summary line (run pytest with ``-s``).
spec/commit-protocol.md section 6 lists the failures this covers.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import pyarrow as pa
import pytest

from lakehouse import DeltaTable
from lakehouse.storage import Storage, open_storage
from tests.write.workers import killable_writer as kw
from tests.conftest import S3_ENV

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "write" / "workers" / "killable_writer.py"
FULL = os.environ.get("LAKEHOUSE_FULL") == "1"
TRIALS = {"local": 100 if FULL else 12, "s3": 100 if FULL else 6}
# A fresh table every few trials keeps re-reading every version cheap (each read opens every live file,
# and on moto each file costs several round trips).
TRIALS_PER_TABLE = {"local": 6, "s3": 3}
# Half the kills land uniformly in [0, MAX_DELAY] seconds after the worker is ready: a few operations'
# worth (an op takes ~15-60 ms locally, ~150-500 ms on moto, most of it reading the log). The other half
# land within TARGET_WINDOW seconds of the start of a data-file write, a commit put or a checkpoint write,
# about the length of that step (measured here): windows that uniform delays rarely hit.
MAX_DELAY = {"local": 0.5, "s3": 2.0}
TARGET_PHASES = ("data", "commit", "checkpoint")
TARGET_WINDOW = {"local": {"data": 0.004, "commit": 0.002, "checkpoint": 0.01},
                 "s3": {"data": 0.03, "commit": 0.01, "checkpoint": 0.06}}
SEED = 7_2026
READY_TIMEOUT = 120  # seconds for a worker to import lakehouse and open the table
CHECKPOINT_INTERVAL = 3
COMMIT_RE = re.compile(r"^_delta_log/(\d{20})\.json$")
PARENT_GENERATION = 0  # the retry operations' id block; workers use 1, 2, ...
# Phases of an op (see killable_writer.py): before "commit" the op's commit cannot be in the log; after
# "committed" it must be.
BEFORE_PUT = {"read", "data"}
AFTER_PUT = {"committed", "checkpoint", "last_checkpoint", "delete", "write"}

# 100 trials on moto take ~10 minutes on a loaded 2-core machine, beyond the suite's 600 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600 if FULL else 600)]


# -- where the tables live --------------------------------------------------------------------------------
@dataclass
class Backend:
    """A place for tables: lakehouse URIs and options, deltalake options, and a plain view of the bytes
    (os or s3fs, not lakehouse) to check the files the log references."""

    kind: str
    root: str  # table URIs are root + "/table<k>"
    options: dict[str, Any] | None
    dl_options: dict[str, str] | None
    size_of: Callable[[str], int | None]  # absolute URI of a file -> its size, None when missing
    list_files: Callable[[str], list[str]]  # table URI -> every file under it, relative to the table

    def env(self) -> dict[str, str]:
        """The worker's environment: the repository on the path, and the S3 endpoint and credentials."""
        pythonpath = os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x)
        env = {**os.environ, **S3_ENV, "PYTHONPATH": pythonpath}
        if self.options is not None:
            env["LAKEHOUSE_STORAGE_OPTIONS"] = json.dumps(self.options)
        return env


def _local_size(uri: str) -> int | None:
    try:
        return os.path.getsize(uri)
    except FileNotFoundError:
        return None


def _local_files(uri: str) -> list[str]:
    return [os.path.relpath(os.path.join(d, f), uri) for d, _, fs in os.walk(uri) for f in fs]


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path), None, None, _local_size, _local_files)
    bucket, options, fs = request.getfixturevalue("s3_bucket")

    def size(uri: str) -> int | None:
        try:
            return fs.info(uri.removeprefix("s3://"))["size"]
        except FileNotFoundError:
            return None

    def files(uri: str) -> list[str]:
        base = uri.removeprefix("s3://")
        return [k[len(base) + 1:] for k in fs.find(base)]

    dl = {
        "AWS_ENDPOINT_URL": options["client_kwargs"]["endpoint_url"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": options["client_kwargs"]["region_name"],
    }
    return Backend("s3", f"s3://{bucket}", options, dl, size, files)


# -- one table's reference model ----------------------------------------------------------------------------
@dataclass
class TableState:
    """What the checker knows of one table: the model rows at the last checked version."""

    uri: str
    storage: Storage  # one client for all the checker's reads (a new s3fs client costs ~0.2 s)
    checked: int = 0  # every version up to this one has been compared with the model
    model: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # id -> (part, v, op)
    ops: dict[str, int] = field(default_factory=dict)  # op id -> the version that committed it
    referenced: set[str] = field(default_factory=set)  # every data file any checked version references
    parent_ids: int = 0  # counter of the retry operations' ids

    def rows(self) -> list[tuple]:
        """The model as sorted (id, part, v, op) rows."""
        return sorted((i, *vals) for i, vals in self.model.items())


@dataclass
class Tally:
    """Figures for the summary line."""

    trials: int = 0
    tables: int = 0
    ops_done: int = 0
    kills_mid_op: int = 0
    inflight_committed: int = 0
    phases: Counter = field(default_factory=Counter)  # where the kills landed
    landed_in_put: int = 0  # kills during the commit put after which the commit was there
    versions_checked: int = 0
    lost: int = 0
    orphans: int = 0
    verified: int = 0  # tables checked with DeltaTable.verify()
    mismatches: list[str] = field(default_factory=list)


def table_rows(table: pa.Table) -> list[tuple]:
    """Sorted (id, part, v, op) rows of a read."""
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "part", "v", "op"))))


def check_new_versions(backend: Backend, state: TableState, tally: Tally) -> dict[str, int]:
    """Checks 1, 2, 3 and 5 of the module docstring on every version after ``state.checked``; advances
    the model; returns {op id: version} of the new commits."""
    dt = DeltaTable(state.storage)
    latest = dt.version
    assert latest >= state.checked, f"{state.uri}: version went back from {state.checked} to {latest}"
    commits = sorted(int(m.group(1)) for m in map(COMMIT_RE.match, backend.list_files(state.uri)) if m)
    assert commits == list(range(latest + 1)), f"{state.uri}: commit files are not 0..{latest}: {commits[-5:]}"
    new = sorted(dt.history(limit=latest - state.checked), key=lambda h: h.version)
    assert [h.version for h in new] == list(range(state.checked + 1, latest + 1))
    found: dict[str, int] = {}
    for h in new:
        meta = (h.commit_info.extra if h.commit_info else {}).get(kw.META_KEY)
        assert meta, f"{state.uri} version {h.version} ({h.operation}) carries no op metadata"
        assert meta["id"] not in state.ops, f"op {meta['id']} committed twice: versions {state.ops[meta['id']]} and {h.version}"
        state.ops[meta["id"]] = found[meta["id"]] = h.version
        for i, part, v in meta["rows"]:  # append and MERGE upsert alike: the rows now hold these values
            state.model[i] = (part, v, meta["id"])
        at_v = DeltaTable(state.storage, version=h.version)
        got = table_rows(at_v.to_arrow())
        if got != state.rows():
            want = state.rows()
            tally.mismatches.append(
                f"{state.uri} v{h.version} ({meta['kind']} {meta['id']}): missing {sorted(set(want) - set(got))[:5]}, "
                f"unexpected {sorted(set(got) - set(want))[:5]}")
        state.referenced.update(at_v.files().column("path").to_pylist())
        tally.versions_checked += 1
    files = dt.files()
    for path, size in zip(files.column("path").to_pylist(), files.column("size").to_pylist()):
        actual = backend.size_of(f"{state.uri}/{unquote(path)}")
        assert actual == size, f"{state.uri} v{latest} references {path} of {size} bytes; storage has {actual}"
    state.checked = latest
    return found


# -- one trial ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KillPlan:
    """When to kill: this process sends SIGKILL ``delay`` seconds after the worker is ready or, with
    ``phase``, the worker's own timer does, ``delay`` seconds after it starts the ``occurrence``-th step of
    that phase (see killable_writer.py: this process reacts too slowly for windows of a millisecond)."""

    delay: float
    phase: str | None = None
    occurrence: int = 1


def kill_plan(rng: random.Random, kind: str, t: int) -> KillPlan:
    """Even trials: a uniform delay over a few operations. Odd trials: a delay within the typical length
    of a data-file write, a commit put or a checkpoint write, in turn, from its start."""
    if t % 2 == 0:
        return KillPlan(rng.uniform(0, MAX_DELAY[kind]))
    phase = TARGET_PHASES[(t // 2) % len(TARGET_PHASES)]
    return KillPlan(rng.uniform(0, TARGET_WINDOW[kind][phase]), phase, rng.randint(1, 3))


class Worker:
    """A killable_writer process. It is started one trial ahead (``--uri -``) so that its imports overlap
    the previous trial's checks; it touches no table until `run` sends the URI."""

    def __init__(self, backend: Backend, generation: int, plan: KillPlan, logs: Path):
        self.generation, self.plan = generation, plan
        self.err_path = logs / f"worker-{generation}.stderr"
        argv = [sys.executable, str(WORKER), "--uri", "-", "--generation", str(generation),
                "--seed", str(SEED + generation)]
        if plan.phase is not None:
            argv += ["--kill-at", f"{plan.phase}:{plan.occurrence}:{plan.delay}"]
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                         cwd=ROOT, env=backend.env())
        self.events: list[dict] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Drain stdout continuously, so that the worker never blocks on a full pipe."""
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.events.append(json.loads(line))
            if self.events[-1]["event"] == "ready":
                self.ready.set()
        self.ready.set()  # EOF: the worker is gone

    def _stderr(self) -> str:
        return self.err_path.read_text()[-3000:]

    def run(self, uri: str) -> list[dict]:
        """Let the worker loose on ``uri``, have it SIGKILLed as its plan says, return its events."""
        g, proc = self.generation, self.proc
        try:
            proc.stdin.write(uri + "\n")  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
            assert self.ready.wait(READY_TIMEOUT), f"worker {g} not ready after {READY_TIMEOUT}s"
            assert self.events and self.events[0]["event"] == "ready", f"worker {g} failed to start:\n{self._stderr()}"
            if self.plan.phase is None:
                time.sleep(self.plan.delay)  # the random kill moment: the one sleep of this test, not a synchronisation
                assert proc.poll() is None, f"worker {g} exited by itself ({proc.returncode}):\n{self._stderr()}"
                proc.kill()  # SIGKILL on POSIX: no handler, no flush, no atexit in the worker
            else:
                proc.wait(READY_TIMEOUT)  # its own timer kills it within a few operations
        finally:
            self.stop()
        assert proc.returncode == -9, f"worker {g} ended with {proc.returncode}, not by SIGKILL:\n{self._stderr()}"
        return self.events

    def stop(self) -> None:
        """Kill the worker if it still runs (a failed trial, or a worker started for a trial never run)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(30)


def trial(backend: Backend, state: TableState, tally: Tally, worker: Worker) -> None:
    """Run, kill and check one worker, then retry an operation from this process and check again."""
    generation = worker.generation
    events = worker.run(state.uri)
    found = check_new_versions(backend, state, tally)
    done = [e for e in events if e["event"] == "done"]
    tally.ops_done += len(done)
    for e in done:
        if state.ops.get(e["op"]) != e["version"]:
            tally.lost += 1
            tally.mismatches.append(f"op {e['op']} reported version {e['version']}, the log has {state.ops.get(e['op'])}")
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    if starts and events[starts[-1]]["op"] not in {e["op"] for e in done}:
        # The kill cut this op: classify by the last step it announced.
        tally.kills_mid_op += 1
        cut = events[starts[-1]]
        phases = [e["phase"] for e in events[starts[-1]:] if e["event"] == "phase"]
        phase = phases[-1] if phases else "read"
        tally.phases[phase] += 1
        landed = cut["op"] in found
        tally.inflight_committed += landed
        tally.landed_in_put += landed and phase == "commit"
        if phase in BEFORE_PUT:
            assert not landed, f"op {cut['op']} was killed before its commit started, yet it committed"
        if phase in AFTER_PUT:
            assert landed, f"op {cut['op']} was killed after its commit returned ({phase}), yet it is not in the log"
    else:
        tally.phases["between ops"] += 1

    # A retry from a fresh writer (this process) must succeed on whatever the kill left behind.
    kind = "merge" if generation % 2 and state.model else "append"
    rng = random.Random(generation)

    def next_id() -> int:
        state.parent_ids += 1
        return PARENT_GENERATION * kw.ID_BLOCK + state.parent_ids

    rows = kw.merge_rows(rng, next_id, sorted(state.model)) if kind == "merge" else kw.new_rows(rng, next_id, 2)
    op_id = f"retry-{generation}"
    before = state.checked
    version = kw.run_op(state.uri, backend.options, op_id, kind, rows)
    assert version == before + 1, f"the retry committed version {version}, expected {before + 1}"
    assert check_new_versions(backend, state, tally) == {op_id: version}
    tally.trials += 1


def finish_table(backend: Backend, state: TableState, tally: Tally) -> None:
    """End of a table: delta-rs reads the model's rows, `DeltaTable.verify()` (where it exists) finds no
    damage, and count the unreferenced (orphan) data files that kills left behind."""
    deltalake = pytest.importorskip("deltalake")
    dl = deltalake.DeltaTable(state.uri, storage_options=backend.dl_options).to_pyarrow_table()
    if table_rows(dl) != state.rows():
        tally.mismatches.append(f"{state.uri}: delta-rs reads other rows than the model")
    if hasattr(DeltaTable, "verify"):
        problems = DeltaTable(state.storage).verify().problems
        tally.mismatches += [f"{state.uri}: verify: {p}" for p in problems]
        tally.verified += 1
    data = {f for f in backend.list_files(state.uri) if not f.startswith("_delta_log/")}
    tally.orphans += len(data - {unquote(p) for p in state.referenced})


def new_table(backend: Backend, k: int) -> TableState:
    """A fresh table with a checkpoint every 3 commits."""
    uri = f"{backend.root}/table{k}"
    DeltaTable.create(uri, schema=kw.SCHEMA, partition_by=["part"],
                      configuration={"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)},
                      storage_options=backend.options)
    return TableState(uri, open_storage(uri, backend.options))


# ==========================================================================================================
def test_sigkilled_writers_lose_nothing(backend, tmp_path):
    n = TRIALS[backend.kind]
    rng = random.Random(f"{SEED}-{backend.kind}")
    tally = Tally()
    logs = tmp_path / "logs"
    logs.mkdir()
    start = time.perf_counter()
    state: TableState | None = None
    per_table = TRIALS_PER_TABLE[backend.kind]
    worker = Worker(backend, 1, kill_plan(rng, backend.kind, 0), logs)
    try:
        for t in range(n):
            if t % per_table == 0:
                if state is not None:
                    finish_table(backend, state, tally)
                state = new_table(backend, t // per_table)
                tally.tables += 1
            current = worker
            if t + 1 < n:  # the next trial's worker imports while this one runs and is checked
                worker = Worker(backend, t + 2, kill_plan(rng, backend.kind, t + 1), logs)
            trial(backend, state, tally, current)
    finally:
        worker.stop()
    assert state is not None
    finish_table(backend, state, tally)
    elapsed = time.perf_counter() - start

    phases = ", ".join(f"{p} {c}" + (f" ({tally.landed_in_put} landed)" if p == "commit" else "")
                       for p, c in sorted(tally.phases.items()))
    print(
        f"\n[sigkill/{backend.kind}] {tally.trials} trials on {tally.tables} tables in {elapsed:.0f}s: "
        f"{tally.kills_mid_op} kills mid-op ({tally.inflight_committed} of them after the commit landed); "
        f"kill points: {phases}; {tally.ops_done} ops reported done, {tally.versions_checked} versions checked, "
        f"{tally.orphans} orphan data files left unreferenced; {tally.verified} tables verified; "
        f"lost {tally.lost}, mismatches {len(tally.mismatches)}"
    )
    assert not tally.mismatches, "\n".join(tally.mismatches[:10])
    assert tally.lost == 0
    assert tally.trials == n
    # The test is only worth something if the kills cut operations, not idle workers.
    assert tally.kills_mid_op >= n // 2, f"only {tally.kills_mid_op} of {n} kills landed inside an operation"
