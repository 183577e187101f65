"""Mixed-workload soak: N processes (`tests/write/workers/soak_worker.py`) run random appends,
replaceWhere overwrites, DELETEs, UPDATEs, MERGE upserts, checkpoints and OPTIMIZEs against one table.

Conflicts (`CommitError` subclasses) are expected outcomes, counted by type; any other exception fails.
Afterwards the log is replayed into a reference model and every version is compared with it:

* Versions are 0..K; each commit is the op a worker reported committed at that version (its id is in the
  commit metadata), and no op that raised left a commit.
* Each op is applied as the commit metadata describes it. The isolation level is WriteSerializable
  (Delta's default): a DELETE/UPDATE/MERGE/replaceWhere may commit after a concurrent *blind append*
  whose rows it never read. So the model applies a DML op to the rows that existed at its `readVersion`
  (from `commitInfo`), keyed by row id, not to every row present just before its commit. It also
  checks serializability itself: rows the op read must be unchanged when it commits, and rows written
  since its `readVersion` by anything but a blind append must not match its predicate (either would be a
  lost update that the conflict checker should have refused).
* ``DeltaTable(uri, version=v)`` holds exactly the model's rows at every version v; delta-rs reads the
  same final rows as lakehouse; `DeltaTable.verify()` (when it exists) finds nothing wrong.

Sizes: 4 x 20 ops by default, 4 x 150 with ``LAKEHOUSE_FULL=1``, on local disk, once copy-on-write and
once with deletion vectors; one reduced run (4 x 8, deletion vectors) on the moto S3 server. Each run
prints one summary line (run pytest with ``-s``). spec/commit-protocol.md section 6 lists the failures
this covers.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from lakehouse import CommitProperties, DeltaTable, write_delta
from lakehouse.storage import Storage, open_storage
from tests.write.workers import soak_worker as sw
from tests.conftest import S3_ENV

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "write" / "workers" / "soak_worker.py"
FULL = os.environ.get("LAKEHOUSE_FULL") == "1"
PROCS = 4
OPS = {"local": 150 if FULL else 20, "local-dv": 150 if FULL else 20, "s3": 8}
SEED_ROWS = 40
CHECKPOINT_INTERVAL = 5  # automatic checkpoints while other processes commit, besides explicit ones
TIMEOUT = 1800 if FULL else 300  # seconds for the worker processes together
SEED = 4_2026
COMMIT_RE = re.compile(r"^(\d{20})\.json$")

pytestmark = pytest.mark.slow

Row = tuple[str, int, str, int]  # part, v, tag, origin version (the commit that wrote these values)


@dataclass
class Backend:
    """The table's location, its options for lakehouse and deltalake, and its properties."""

    kind: str
    uri: str
    options: dict[str, Any] | None
    dl_options: dict[str, str] | None
    configuration: dict[str, str]


@pytest.fixture(params=["local", "local-dv", "s3"])
def backend(request, tmp_path) -> Backend:
    config = {"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)}
    dv = {**config, "delta.enableDeletionVectors": "true"}
    if request.param == "local":
        return Backend("local", str(tmp_path / "table"), None, None, config)
    if request.param == "local-dv":
        return Backend("local-dv", str(tmp_path / "table"), None, None, dv)
    bucket, options, _fs = request.getfixturevalue("s3_bucket")
    dl = {
        "AWS_ENDPOINT_URL": options["client_kwargs"]["endpoint_url"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": options["client_kwargs"]["region_name"],
    }
    return Backend("s3", f"s3://{bucket}/table", options, dl, dv)


# -- running the workers -------------------------------------------------------------------------------------
def run_workers(backend: Backend, ops: int, logs: Path) -> list[dict]:
    """Start PROCS workers, wait until all have imported lakehouse, start them together, return their op
    lines. A worker that crashes or hangs fails the test."""
    pythonpath = os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x)
    env = {**os.environ, **S3_ENV, "PYTHONPATH": pythonpath}
    if backend.options is not None:
        env["LAKEHOUSE_STORAGE_OPTIONS"] = json.dumps(backend.options)
    optimize = ["--optimize"] if hasattr(DeltaTable, "optimize") else []
    procs: list[subprocess.Popen] = []
    errs: list[Path] = []
    timed_out = threading.Event()

    def kill_all() -> None:  # only the processes started here, by their Popen handles
        for p in procs:
            if p.poll() is None:
                p.kill()

    timer = threading.Timer(TIMEOUT, lambda: (timed_out.set(), kill_all()))
    timer.start()
    try:
        for w in range(PROCS):
            errs.append(logs / f"worker{w}.stderr")
            with open(errs[-1], "w") as err:
                procs.append(subprocess.Popen(
                    [sys.executable, str(WORKER), "--uri", backend.uri, "--worker", str(w), "--ops", str(ops),
                     "--seed", str(SEED + w), *optimize],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env))
        for p, e in zip(procs, errs):
            line = p.stdout.readline()  # type: ignore[union-attr]
            assert line and json.loads(line)["event"] == "ready", f"worker did not start:\n{e.read_text()[-3000:]}"
        for p in procs:  # the start signal: all workers begin together
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.close()  # type: ignore[union-attr]
        with ThreadPoolExecutor(len(procs)) as ex:
            outputs = list(ex.map(lambda p: p.stdout.read(), procs))  # type: ignore[union-attr]
        codes = [p.wait() for p in procs]
    finally:
        timer.cancel()
        kill_all()
        for p in procs:
            p.wait()
    assert not timed_out.is_set(), f"workers killed after {TIMEOUT}s"
    lines: list[dict] = []
    for w, (out, code) in enumerate(zip(outputs, codes)):
        parsed = [json.loads(x) for x in out.splitlines() if x.strip()]
        assert code == 0 and parsed and parsed[-1]["event"] == "done", (
            f"worker {w} exited with {code}:\n{out[-2000:]}\n{errs[w].read_text()[-4000:]}")
        lines += [x for x in parsed if x["event"] == "op"]
    errors = [o for o in lines if o["status"] == "error"]
    assert not errors, "unexpected exceptions (not conflicts):\n" + "\n".join(o["traceback"] for o in errors[:3])
    return lines


# -- the reference model ---------------------------------------------------------------------------------------
@dataclass
class Model:
    """The table's rows at every version, replayed from the commits (see the module docstring)."""

    states: list[dict[int, Row]] = field(default_factory=list)  # version -> id -> row
    blind: list[bool] = field(default_factory=list)  # version -> was that commit a blind append
    violations: list[str] = field(default_factory=list)  # serializability failures found while replaying

    def apply(self, version: int, info: dict) -> None:
        """Append the state after commit ``version`` with `commitInfo` ``info``."""
        assert version == len(self.states), "commits must be replayed in order"
        prev = dict(self.states[-1]) if self.states else {}
        op = info.get(sw.META_KEY)
        self.blind.append(bool(info.get("isBlindAppend")))
        if op is None:
            # Only OPTIMIZE may commit without our metadata (when it takes no commit properties): it
            # rewrites files and changes no row.
            assert info.get("operation") == "OPTIMIZE", f"version {version}: unexpected {info.get('operation')} commit"
            self.states.append(prev)
            return
        kind, tag = op["kind"], op["id"]
        read = self.states[info["readVersion"]] if version > 0 else {}
        pred = op.get("pred")
        where = f"version {version} ({kind} {tag}, read version {info.get('readVersion')})"
        if kind == "optimize":
            self.states.append(prev)
            return
        if kind == "merge":  # matched source rows update, the others insert
            touched = {r[0] for r in op["rows"] if r[0] in read}
        else:
            touched = {i for i, row in read.items() if pred is not None and sw.matches(pred, row[0], row[1])}
        for i in touched:  # rows the op read and changes must be as it read them
            if prev.get(i) != read[i]:
                self.violations.append(f"{where}: row {i} was {read[i]} when read, {prev.get(i)} at commit: lost update")
        if pred is not None:  # rows it could not see must not be ones it should have seen
            for i, row in prev.items():
                if row[3] > info["readVersion"] and not self.blind[row[3]] and sw.matches(pred, row[0], row[1]):
                    self.violations.append(f"{where}: row {i} {row} written after the read matches the predicate")
        if kind in ("delete", "replace"):
            for i in touched:
                prev.pop(i, None)
        elif kind == "update":
            for i in touched:
                part, v, _tag, _origin = read[i]
                prev[i] = (part, v + op["dv"], tag, version)
        if kind in ("append", "replace", "merge"):
            for i, part, v in op["rows"]:
                if i in prev and i not in touched:
                    self.violations.append(f"{where}: inserts row {i}, which exists: {prev[i]}")
                prev[i] = (part, v, tag, version)
        self.states.append(prev)

    def rows(self, version: int) -> list[tuple]:
        """Sorted (id, part, v, tag) rows at ``version``."""
        return sorted((i, part, v, tag) for i, (part, v, tag, _o) in self.states[version].items())


def table_rows(table: pa.Table) -> list[tuple]:
    """Sorted (id, part, v, tag) rows of a read."""
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "part", "v", "tag"))))


def commit_infos(storage: Storage) -> list[dict]:
    """The `commitInfo` of every commit, version 0..K, read from the raw JSON; the versions on storage
    must be exactly 0..K."""
    names = [f.name for f in storage.list_dir("_delta_log")]
    versions = sorted(int(m.group(1)) for m in map(COMMIT_RE.match, names) if m)
    assert versions == list(range(len(versions))), f"the log's commit versions have a gap: {versions}"
    infos = []
    for v in versions:
        lines = storage.read_bytes(f"_delta_log/{v:020d}.json").splitlines()
        info = next((a["commitInfo"] for a in map(orjson.loads, lines) if "commitInfo" in a), None)
        assert info is not None, f"version {v} has no commitInfo"
        infos.append(info)
    return infos


# ==========================================================================================================
def test_mixed_workload_soak(backend, tmp_path):
    rng = random.Random(SEED)
    seed_rows = [[i, rng.choice(sw.PARTS), rng.randrange(1000)] for i in range(1, SEED_ROWS + 1)]
    seed_op = {"id": "seed", "kind": "append", "rows": seed_rows}
    write_delta(backend.uri, sw.rows_table(seed_rows, "seed"), partition_by=["part"], configuration=backend.configuration,
                storage_options=backend.options, commit_properties=CommitProperties(custom_metadata={sw.META_KEY: seed_op}))
    start = time.perf_counter()
    ops = run_workers(backend, OPS[backend.kind], tmp_path)
    elapsed_ops = time.perf_counter() - start

    storage = open_storage(backend.uri, backend.options)
    infos = commit_infos(storage)
    k = len(infos) - 1

    # Every commit is the op a worker reported at that version; no op that raised left a commit.
    committed = {o["version"]: o for o in ops if o["status"] == "committed"}
    assert len(committed) == len([o for o in ops if o["status"] == "committed"]), "two ops reported one version"
    assert sorted(committed) == list(range(1, k + 1)), "the committed ops are not exactly versions 1..K"
    for v, o in committed.items():
        meta = infos[v].get(sw.META_KEY)
        if meta is None:  # an OPTIMIZE that takes no commit properties
            assert o["kind"] == "optimize" and infos[v].get("operation") == "OPTIMIZE", f"version {v}: {infos[v]}"
        else:
            assert meta["id"] == o["op"], f"version {v} holds op {meta['id']}, but worker op {o['op']} reported it"
    logged = {(i.get(sw.META_KEY) or {}).get("id") for i in infos}
    raised = [o["op"] for o in ops if o["status"] in ("conflict", "noop")]
    assert not logged & set(raised), f"ops that did not commit are in the log: {sorted(logged & set(raised))}"

    model = Model()
    for v, info in enumerate(infos):
        model.apply(v, info)
    mismatches = []
    for v in range(k + 1):
        got = table_rows(DeltaTable(storage, version=v).to_arrow())
        want = model.rows(v)
        if got != want:
            mismatches.append(f"version {v} ({infos[v].get('operation')} {(infos[v].get(sw.META_KEY) or {}).get('id')}): "
                              f"missing {sorted(set(want) - set(got))[:4]}, unexpected {sorted(set(got) - set(want))[:4]}")
    final = table_rows(DeltaTable(storage).to_arrow())
    deltalake = pytest.importorskip("deltalake")
    dl_table = deltalake.DeltaTable(backend.uri, storage_options=backend.dl_options)
    if "delta.enableDeletionVectors" in backend.configuration:
        # to_pyarrow_table refuses tables with deletion vectors; QueryBuilder (DataFusion) applies them.
        dl_final = table_rows(pa.table(deltalake.QueryBuilder().register("t", dl_table).execute("select * from t").read_all()))
    else:
        dl_final = table_rows(dl_table.to_pyarrow_table())
    verify = getattr(DeltaTable, "verify", None)
    problems = list(DeltaTable(storage).verify().problems) if verify is not None else []
    elapsed = time.perf_counter() - start

    def counts(c: Counter) -> str:
        return ", ".join(f"{name} {n}" for name, n in sorted(c.items())) or "none"

    outcomes = Counter(o["status"] for o in ops)
    print(
        f"\n[soak/{backend.kind}] {PROCS} procs x {OPS[backend.kind]} ops = {len(ops)} attempted "
        f"({counts(Counter(o['kind'] for o in ops))}); {outcomes['committed']} committed "
        f"({counts(Counter(o['kind'] for o in committed.values()))}), {outcomes['noop']} no-ops, "
        f"{outcomes['checkpoint']} checkpoints, {outcomes['conflict']} conflicts "
        f"({counts(Counter(o['error'] for o in ops if o['status'] == 'conflict'))}); {k + 1} versions checked; "
        f"serializability violations {len(model.violations)}, mismatches {len(mismatches)}"
        f"{'' if verify is None else f', verify problems {len(problems)}'}; ops {elapsed_ops:.0f}s, total {elapsed:.0f}s"
    )
    assert not model.violations, "\n".join(model.violations[:10])
    assert not mismatches, "\n".join(mismatches[:10])
    assert final == model.rows(k)
    assert dl_final == final, "delta-rs reads other rows than lakehouse"
    assert not problems, f"verify found damage: {problems[:5]}"
    # The run must have exercised what it claims to: most ops commit, DML among them.
    assert outcomes["committed"] >= len(ops) // 3
    assert {o["kind"] for o in committed.values()} & {"replace", "delete", "update", "merge"}, "no DML committed"
