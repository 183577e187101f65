"""A writer process for tests/reliability/test_soak.py: random operations against one shared table.

    python soak_worker.py --uri URI --worker W --ops N --seed S [--storage-options JSON] [--optimize]

Protocol on stdout, one JSON object per line (as tests/write/workers/appender.py):
``{"event": "ready"}`` once lakehouse is imported, then the process waits for one line on stdin (the
start signal, so that all workers start together), then one ``{"event": "op", ...}`` line per operation
and ``{"event": "done"}`` at the end.

Operations, drawn with ``random.Random(seed)``, on a table ``(id, part, v, tag)`` partitioned by ``part``:
append, replaceWhere (``write_delta(mode="overwrite", predicate=...)``), DELETE, UPDATE, MERGE upsert,
``create_checkpoint()`` and, with ``--optimize``, ``optimize()``. Each committing operation carries
``CommitProperties(custom_metadata={"soakOp": {...}})``: its id, kind, predicate (as data: partitions and
a ``v`` range, alongside the SQL text), rows and update delta, so the parent can replay it from the log.
New rows get ids ``(W + 1) * 10**9 + counter``; a row's ``tag`` is the id of the op that last wrote it.

Outcome per op line: ``status`` "committed" (with ``version``), "noop" (a DELETE/UPDATE that matched
nothing, or an OPTIMIZE with nothing to do: no commit), "checkpoint", "conflict" (a `CommitError`: the
expected outcome of a lost race, with the class name) or "error" (anything else, with the traceback; the
parent fails the test).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for `lakehouse`

import pyarrow as pa  # noqa: E402

SCHEMA = pa.schema([("id", pa.int64()), ("part", pa.string()), ("v", pa.int64()), ("tag", pa.string())])
PARTS = ("a", "b", "c", "d")
META_KEY = "soakOp"
ID_BLOCK = 10**9
WEIGHTS = {"append": 3, "replace": 1, "delete": 1.5, "update": 1.5, "merge": 2, "checkpoint": 0.5, "optimize": 0.5}


def predicate_sql(pred: dict) -> str:
    """SQL text of a predicate given as data: ``parts`` (a list or None) and ``lo``/``hi`` bounds of ``v``
    (either may be None)."""
    terms = []
    if pred["parts"] is not None:
        terms.append(f"part = '{pred['parts'][0]}'" if len(pred["parts"]) == 1
                     else "part IN (" + ", ".join(f"'{p}'" for p in pred["parts"]) + ")")
    if pred["lo"] is not None and pred["hi"] is not None:
        terms.append(f"v BETWEEN {pred['lo']} AND {pred['hi']}")
    elif pred["lo"] is not None:
        terms.append(f"v >= {pred['lo']}")
    return " AND ".join(terms)


def matches(pred: dict, part: str, v: int) -> bool:
    """The predicate's meaning, for the parent's model: the same test as `predicate_sql`'s SQL."""
    if pred["parts"] is not None and part not in pred["parts"]:
        return False
    if pred["lo"] is not None and v < pred["lo"]:
        return False
    return pred["hi"] is None or v <= pred["hi"]


def random_predicate(rng: random.Random) -> dict:
    """A DELETE/UPDATE predicate: one or two partitions and/or a ``v`` range (never empty)."""
    parts = sorted(rng.sample(PARTS, rng.randint(1, 2))) if rng.random() < 0.85 else None
    if parts is not None and rng.random() < 0.35:
        return {"parts": parts, "lo": None, "hi": None}  # partition-only: whole files go
    lo = rng.randrange(0, 900)
    return {"parts": parts, "lo": lo, "hi": lo + rng.randrange(30, 300)}


def commit_props(op: dict, max_retries: int) -> Any:
    """The op's commit properties: the op as data in the commit metadata, and a generous retry bound
    (4 processes lose many races; a lost race is retried, only a real conflict should end the op)."""
    from lakehouse import CommitProperties

    return CommitProperties(custom_metadata={META_KEY: op}, max_commit_retries=max_retries)


def rows_table(rows: list[list], tag: str) -> pa.Table:
    """Rows ``[id, part, v]`` tagged with ``tag``."""
    return pa.table({"id": [r[0] for r in rows], "part": [r[1] for r in rows], "v": [r[2] for r in rows],
                     "tag": [tag] * len(rows)}, schema=SCHEMA)


def accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes keyword ``name`` (the DML facade gains ``commit_properties`` over time)."""
    return name in inspect.signature(fn).parameters


def run(kind: str, op: dict, uri: str, options: Any, props: Any) -> tuple[str, int | None]:
    """Run one operation; returns (status, version)."""
    from lakehouse import DeltaTable, write_delta

    if kind == "append":
        return "committed", write_delta(uri, rows_table(op["rows"], op["id"]), mode="append",
                                        storage_options=options, commit_properties=props).version
    if kind == "replace":
        return "committed", write_delta(uri, rows_table(op["rows"], op["id"]), mode="overwrite",
                                        predicate=op["sql"], storage_options=options, commit_properties=props).version
    if kind == "merge":
        m = (DeltaTable(uri, storage_options=options).merge(rows_table(op["rows"], op["id"]), predicate="t.id = s.id",
                                                             commit_properties=props)
             .when_matched_update_all().when_not_matched_insert_all().execute())
        return "committed", m.version
    if kind in ("delete", "update"):
        dt = DeltaTable(uri, storage_options=options)
        method = dt.delete if kind == "delete" else dt.update
        kw: dict[str, Any] = {} if kind == "delete" else {"updates": {"v": f"v + {op['dv']}", "tag": f"'{op['id']}'"}}
        if accepts(method, "commit_properties"):
            metrics = method(predicate=op["sql"], commit_properties=props, **kw)
        else:  # the facade does not pass commit properties yet: the operation it delegates to does
            from lakehouse.operations.delete import delete
            from lakehouse.operations.update import update
            from lakehouse.snapshot import latest_snapshot

            snap = latest_snapshot(dt.snapshot.storage)
            metrics = (delete(snap, op["sql"], commit_properties=props) if kind == "delete"
                       else update(snap, op["sql"], updates=kw["updates"], commit_properties=props))
        return ("committed", metrics.version) if metrics.version is not None else ("noop", None)
    if kind == "checkpoint":
        DeltaTable(uri, storage_options=options).create_checkpoint()
        return "checkpoint", None
    if kind == "optimize":
        dt = DeltaTable(uri, storage_options=options)
        metrics = dt.optimize.compact(commit_properties=props) if accepts(dt.optimize.compact, "commit_properties") else dt.optimize.compact()
        return ("committed", metrics.version) if metrics.version is not None else ("noop", None)
    raise AssertionError(kind)


def plan(kind: str, op_id: str, rng: random.Random, next_id: Any, uri: str, options: Any) -> dict:
    """The op as data (what goes into the commit metadata)."""
    from lakehouse import DeltaTable

    op: dict[str, Any] = {"id": op_id, "kind": kind}
    if kind == "append":
        op["rows"] = [[next_id(), rng.choice(PARTS), rng.randrange(1000)] for _ in range(rng.randint(1, 4))]
    elif kind == "replace":
        part = rng.choice(PARTS)
        lo = rng.randrange(0, 900) if rng.random() < 0.5 else None
        op["pred"] = {"parts": [part], "lo": lo, "hi": None}
        op["rows"] = [[next_id(), part, rng.randrange(lo or 0, 1000)] for _ in range(rng.randint(1, 4))]
    elif kind in ("delete", "update"):
        op["pred"] = random_predicate(rng)
        if kind == "update":
            op["dv"] = rng.randint(1, 50)
    elif kind == "merge":
        # Update up to 3 rows seen now (same id and part, new v) and insert 1-2 new ones. By the time the
        # MERGE reads the table a picked row may be gone; then it is inserted again, as MERGE says.
        current = DeltaTable(uri, storage_options=options).to_arrow(columns=["id", "part"])
        seen = list(zip(current.column("id").to_pylist(), current.column("part").to_pylist()))
        picked = rng.sample(seen, min(len(seen), rng.randint(0, 3)))
        op["rows"] = [[i, p, rng.randrange(1000)] for i, p in picked]
        op["rows"] += [[next_id(), rng.choice(PARTS), rng.randrange(1000)] for _ in range(rng.randint(1, 2))]
    if "pred" in op:
        op["sql"] = predicate_sql(op["pred"])
    return op


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--uri", required=True)
    p.add_argument("--worker", type=int, required=True)
    p.add_argument("--ops", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--optimize", action="store_true", help="include OPTIMIZE among the operations")
    p.add_argument("--max-retries", type=int, default=100)
    p.add_argument("--storage-options", default=os.environ.get("LAKEHOUSE_STORAGE_OPTIONS"))
    args = p.parse_args()
    options = json.loads(args.storage_options) if args.storage_options else None

    from lakehouse.errors import CommitError

    rng = random.Random(args.seed)
    counter = iter(range(1, ID_BLOCK))
    kinds = [k for k in WEIGHTS if k != "optimize" or args.optimize]

    def next_id() -> int:
        return (args.worker + 1) * ID_BLOCK + next(counter)

    def emit(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    emit({"event": "ready", "worker": args.worker, "pid": os.getpid()})
    if not sys.stdin.readline():
        return 2  # the parent went away before the start signal
    for seq in range(args.ops):
        kind = rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        op_id = f"w{args.worker}-{seq}"
        line: dict[str, Any] = {"event": "op", "worker": args.worker, "op": op_id, "kind": kind}
        try:
            op = plan(kind, op_id, rng, next_id, args.uri, options)
            status, version = run(kind, op, args.uri, options, commit_props(op, args.max_retries))
            line.update(status=status, version=version)
        except CommitError as e:
            line.update(status="conflict", error=type(e).__name__, message=str(e).splitlines()[0][:300])
        except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the test
            line.update(status="error", error=type(e).__name__, message=str(e)[:400], traceback=traceback.format_exc())
        emit(line)
    emit({"event": "done", "worker": args.worker})
    return 0


if __name__ == "__main__":
    sys.exit(main())
