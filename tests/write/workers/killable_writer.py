"""A writer process for tests/reliability/test_sigkill.py, meant to be SIGKILLed at a random moment.

    python killable_writer.py --uri URI|- --generation G --seed S [--storage-options JSON] [--max-ops N]
                              [--kill-at PHASE:N:SECONDS]

It opens the table (``--uri -``: whose URI it reads from stdin after its imports, so the parent can start
it early), prints ``{"event": "ready"}`` and then loops over operations until it is killed (or
``--max-ops`` is reached, or its parent process goes away): appends of new rows and MERGE upserts
(``merge(src, predicate="t.id = s.id").when_matched_update_all().when_not_matched_insert_all()``). Every
operation's commit carries ``CommitProperties(custom_metadata={"killOp": {...}})`` with the op id, its
kind and its rows, so the parent rebuilds the table contents from the log alone, whatever the kill cut.

Row ids are ``G * 10**6 + counter``: each process (generation) draws from its own range, so an op cut by
a kill whose commit landed anyway can never collide with an id drawn later.

Protocol on stdout, one JSON object per line, flushed at once so a kill loses nothing already printed:
``{"event": "start", "op": ID, "kind": K}`` before an operation, ``{"event": "phase", "phase": P}``
before each storage step the parent wants to classify kills by (``data``: a data file is opened;
``commit``: the commit put-if-absent starts; ``committed``: it returned; ``checkpoint`` /
``last_checkpoint``: the post-commit checkpoint writes; ``delete``: log cleanup), and
``{"event": "done", "op": ID, "version": V}`` once the call returned. An operation printed ``done`` is
durable; the parent counts any of them missing from the log as lost.

Usually the parent SIGKILLs the process after a random delay. A step such as the commit put takes about a
millisecond, less than the parent's reaction time to an announcement, so to land kills inside such
windows ``--kill-at PHASE:N:SECONDS`` arms a timer thread when the N-th step of PHASE is announced, which
SIGKILLs this process SECONDS later while the main thread carries on with the step. It is the same signal
from the same kernel: nothing in the process runs after it.

The functions `new_rows`, `merge_rows`, `run_op` and `commit_properties` are shared with the parent,
which imports this file as a module to run its own retry operation after each kill.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for `lakehouse`

import pyarrow as pa  # noqa: E402

SCHEMA = pa.schema([("id", pa.int64()), ("part", pa.string()), ("v", pa.int64()), ("op", pa.string())])
META_KEY = "killOp"
ID_BLOCK = 10**6  # ids of generation G are G * ID_BLOCK + counter


def part_of(row_id: int) -> str:
    """The partition of a row: fixed by its id, so an upsert never moves a row between partitions."""
    return f"p{row_id % 3}"


def new_rows(rng: random.Random, next_id: Callable[[], int], n: int) -> list[list]:
    """``n`` rows ``[id, part, v]`` with fresh ids."""
    out = []
    for _ in range(n):
        i = next_id()
        out.append([i, part_of(i), rng.randrange(1_000_000)])
    return out


def merge_rows(rng: random.Random, next_id: Callable[[], int], known: list[int]) -> list[list]:
    """A MERGE source: up to 3 known ids with new values (updates) and 1-2 fresh ids (inserts)."""
    picked = rng.sample(known, min(len(known), rng.randint(1, 3)))
    rows = [[i, part_of(i), rng.randrange(1_000_000)] for i in picked]
    return rows + new_rows(rng, next_id, rng.randint(1, 2))


def to_table(rows: list[list], op_id: str) -> pa.Table:
    """The Arrow batch of ``rows``, each tagged with the op that wrote it."""
    return pa.table(
        {"id": [r[0] for r in rows], "part": [r[1] for r in rows], "v": [r[2] for r in rows],
         "op": [op_id] * len(rows)},
        schema=SCHEMA,
    )


def commit_properties(op_id: str, kind: str, rows: list[list]) -> Any:
    """The commit's custom metadata: enough to replay the op (an upsert of ``rows``) from the log."""
    from lakehouse import CommitProperties

    return CommitProperties(custom_metadata={META_KEY: {"id": op_id, "kind": kind, "rows": rows}})


def run_op(uri: str, options: Mapping[str, Any] | None, op_id: str, kind: str, rows: list[list]) -> int:
    """Run one append or MERGE upsert through the public API; returns the committed version."""
    from lakehouse import DeltaTable, write_delta

    props = commit_properties(op_id, kind, rows)
    data = to_table(rows, op_id)
    if kind == "append":
        return write_delta(uri, data, mode="append", storage_options=options, commit_properties=props).version
    metrics = (
        DeltaTable(uri, storage_options=options)
        .merge(data, predicate="t.id = s.id", commit_properties=props)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    assert metrics.version is not None, "a MERGE that inserts rows must commit"
    return metrics.version


def emit(obj: dict) -> None:
    """One protocol line, written and flushed before the step it announces."""
    obj["t"] = round(time.monotonic(), 4)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def trace_phases(kill_at: str | None) -> None:
    """Announce each storage step of interest before it runs, by wrapping the storage and data-file
    writer methods of this process (observation only: every call still goes to the real backend), and
    arm the ``--kill-at`` timer at the chosen announcement."""
    from lakehouse.storage.fsspec_store import FsspecStorage
    from lakehouse.write.files import DataFileWriter

    real_put, real_write, real_delete = FsspecStorage.put_if_absent, FsspecStorage.write_bytes, FsspecStorage.delete
    real_new_file = DataFileWriter._new_file
    target, nth, delay = (kill_at.split(":") if kill_at else ("", "0", "0"))
    seen = [0]

    def announce(phase: str, path: str | None = None) -> None:
        emit({"event": "phase", "phase": phase, "path": path})
        if phase == target:
            seen[0] += 1
            if seen[0] == int(nth):
                timer = threading.Timer(float(delay), os.kill, (os.getpid(), signal.SIGKILL))
                timer.daemon = True
                timer.start()

    def put_if_absent(self, rel, data):
        announce("commit", rel)
        real_put(self, rel, data)
        announce("committed", rel)

    def write_bytes(self, rel, data):
        announce("last_checkpoint" if rel.endswith("_last_checkpoint") else "checkpoint" if ".checkpoint." in rel else "write", rel)
        real_write(self, rel, data)

    def delete(self, rel):
        announce("delete", rel)
        real_delete(self, rel)

    def new_file(self, *args, **kwargs):
        announce("data")
        return real_new_file(self, *args, **kwargs)

    FsspecStorage.put_if_absent = put_if_absent
    FsspecStorage.write_bytes = write_bytes
    FsspecStorage.delete = delete
    DataFileWriter._new_file = new_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--uri", required=True, help="the table; '-': read it from stdin once imports are done")
    p.add_argument("--generation", type=int, required=True, help="this process's id block (>= 1)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--max-ops", type=int, default=1000, help="a safety stop if nobody kills us")
    p.add_argument("--storage-options", default=os.environ.get("LAKEHOUSE_STORAGE_OPTIONS"))
    p.add_argument("--kill-at", help="PHASE:N:SECONDS: SIGKILL this process SECONDS after the N-th PHASE step starts")
    args = p.parse_args()
    options = json.loads(args.storage_options) if args.storage_options else None

    from lakehouse import DeltaTable

    if options:
        import s3fs  # noqa: F401 - the S3 client's imports too belong before the start signal

    trace_phases(args.kill_at)
    # With --uri -, the parent starts this process ahead of time (imports take most of a second) and
    # sends the table URI when the table is free for us; an empty stdin means "not needed after all".
    uri = args.uri if args.uri != "-" else sys.stdin.readline().strip()
    if not uri:
        return 2
    rng = random.Random(args.seed)
    counter = iter(range(ID_BLOCK))

    def next_id() -> int:
        return args.generation * ID_BLOCK + next(counter)

    # The ids a MERGE may update: whatever the table holds now, plus what this process adds.
    known = DeltaTable(uri, storage_options=options).to_arrow(columns=["id"]).column("id").to_pylist()
    known_set = set(known)
    parent = os.getppid()
    emit({"event": "ready", "pid": os.getpid()})
    for seq in range(args.max_ops):
        if os.getppid() != parent:
            return 3  # the test process died; do not write on forever
        op_id = f"g{args.generation}-{seq}"
        kind = "merge" if known and rng.random() < 0.5 else "append"
        rows = merge_rows(rng, next_id, known) if kind == "merge" else new_rows(rng, next_id, rng.randint(1, 3))
        emit({"event": "start", "op": op_id, "kind": kind})
        version = run_op(uri, options, op_id, kind, rows)
        emit({"event": "done", "op": op_id, "version": version})
        fresh = [r[0] for r in rows if r[0] not in known_set]
        known.extend(fresh)
        known_set.update(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
