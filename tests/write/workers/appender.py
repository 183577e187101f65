"""A writer process for tests/test_concurrency_stress.py (run as a script, one OS process per writer).

    python appender.py --uri URI --writer W --count M [--mode append|replace] [--partition P]
                       [--rows R] [--max-retries N] [--storage-options JSON] [--shared-storage]

Protocol on stdout, one JSON object per line: ``{"event": "ready"}`` once lakehouse is imported, then the
process waits for one line on stdin (the start signal, so that all writers start together), then one
``{"event": "op", ...}`` line per operation and ``{"event": "done"}`` at the end.

- ``append``: operation ``seq`` appends ``R`` rows ``(writer, seq, k, part)`` with ``mode="append"``.
- ``replace``: operation ``seq`` replaces partition ``P`` (``mode="overwrite"``, ``predicate="part = 'P'"``)
  with ``R`` rows ``(writer, seq, k, P)``; a conflict is reported, not retried.

Every op line carries the outcome: ``status`` "committed" (with ``version``, ``attempts``) or "error" (a
`LakehouseError`, with its class name) or "crash" (any other exception, with the traceback), plus the
transaction's ``txn_id`` (taken from the commit hook) so the parent can match commits to writers, and
``puts``: every commit put-if-absent the operation made (file name, outcome, wall-clock interval) and, on
S3, every read-back after a refused put. Each operation calls ``write_delta(uri, storage_options=...)``
(``--shared-storage``: one `Storage` object for all of them). Storage options come from ``--storage-options`` (JSON) or the environment variable
``LAKEHOUSE_STORAGE_OPTIONS``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for `lakehouse`


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--uri", required=True)
    p.add_argument("--writer", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--mode", choices=("append", "replace"), default="append")
    p.add_argument("--partition", default="p")
    p.add_argument("--rows", type=int, default=1)
    p.add_argument("--max-retries", type=int, default=100)
    p.add_argument("--storage-options", default=os.environ.get("LAKEHOUSE_STORAGE_OPTIONS"))
    p.add_argument("--shared-storage", action="store_true", help="one Storage object for every operation")
    args = p.parse_args()
    options = json.loads(args.storage_options) if args.storage_options else None

    import pyarrow as pa

    from lakehouse import CommitProperties, write_delta
    from lakehouse.errors import LakehouseError, ObjectExistsError
    from lakehouse.storage import open_storage
    from lakehouse.storage.fsspec_store import FsspecStorage
    from lakehouse.write.transaction import commit_hook

    # Traced storage (patched on the class, in this process only): every commit put-if-absent is recorded
    # with its outcome and wall-clock interval, and so is the read-back S3 does after a refused put
    # (`_holds`), so that a double commit can be attributed to the storage or to lakehouse.
    trace: list[dict] = []
    real_put = FsspecStorage.put_if_absent
    real_holds = FsspecStorage._holds

    def traced_put(self, rel, data):
        rec = {"name": rel.rsplit("/", 1)[-1], "t0": time.time()}
        try:
            real_put(self, rel, data)
            rec["outcome"] = "ok"
        except ObjectExistsError:
            rec["outcome"] = "exists"
            raise
        except BaseException as e:
            rec["outcome"] = type(e).__name__
            raise
        finally:
            rec["t1"] = time.time()
            trace.append(rec)

    def traced_holds(self, rel, data):
        held = real_holds(self, rel, data)
        trace.append({"name": rel.rsplit("/", 1)[-1], "read_back_holds_ours": held, "t": time.time()})
        return held

    FsspecStorage.put_if_absent = traced_put
    FsspecStorage._holds = traced_holds
    # --shared-storage: one Storage for the life of the process (as a long-running writer would keep);
    # default: write_delta(uri, storage_options=...) per operation, the plain API.
    target = open_storage(args.uri, options) if args.shared_storage else args.uri

    schema = pa.schema([("writer", pa.int64()), ("seq", pa.int64()), ("k", pa.int64()), ("part", pa.string())])
    props = CommitProperties(max_commit_retries=args.max_retries)
    emit({"event": "ready", "writer": args.writer, "pid": os.getpid()})
    if not sys.stdin.readline():
        return 2  # the parent went away before the start signal
    for seq in range(args.count):
        data = pa.table(
            {
                "writer": [args.writer] * args.rows,
                "seq": [seq] * args.rows,
                "k": list(range(args.rows)),
                "part": [args.partition] * args.rows,
            },
            schema=schema,
        )
        seen: dict = {"conflicts": 0}
        trace.clear()

        def hook(phase, txn, seen=seen):
            seen["txn_id"] = txn.txn_id
            seen["read_version"] = txn.read_version
            if phase == "conflict":
                seen["conflicts"] += 1

        if args.mode == "append":
            kw = {"mode": "append"}
        else:
            kw = {"mode": "overwrite", "predicate": f"part = '{args.partition}'"}
        line = {"event": "op", "writer": args.writer, "seq": seq, "mode": args.mode}
        t0 = time.perf_counter()
        try:
            with commit_hook(hook):
                r = write_delta(target, data, storage_options=None if args.shared_storage else options,
                                commit_properties=props, **kw)
            line.update(status="committed", version=r.version, attempts=r.attempts)
        except LakehouseError as e:
            line.update(status="error", error=type(e).__name__, message=str(e)[:400],
                        conflict_version=getattr(e, "version", None))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the test
            line.update(status="crash", error=type(e).__name__, message=str(e)[:400], traceback=traceback.format_exc())
        line.update(ms=round((time.perf_counter() - t0) * 1000, 1), txn_id=seen.get("txn_id"),
                    read_version=seen.get("read_version"), conflicts=seen["conflicts"], puts=list(trace))
        emit(line)
    emit({"event": "done", "writer": args.writer})
    return 0


if __name__ == "__main__":
    sys.exit(main())
