"""Property: after any sequence of appends, overwrites, replaceWheres, DELETEs, UPDATEs and OPTIMIZEs (with
or without deletion vectors and the change data feed), with commit ``v`` made to look ``(n - v + 1) * STEP``
hours old, VACUUM with retention R deletes no file that a version inside the window needs: every version
``v`` whose successor was committed less than R hours ago still reads exactly its rows, the latest version
reads the same in delta-rs, and the change data feed of the window's commits is unchanged."""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from tests.support.log import age_all_data_files, data_files_on_disk, shift_tombstones
from tests.support.rows import Model, dl_rows, lh_rows

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])
PARTS = ["a", "b", "c"]
STEP_HOURS = 10

OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 12)),
    st.tuples(st.just("overwrite"), st.integers(0, 8)),
    st.tuples(st.just("replace_where"), st.sampled_from(PARTS)),
    st.tuples(st.just("delete"), st.integers(0, 100)),
    st.tuples(st.just("update"), st.integers(0, 100)),
    st.tuples(st.just("optimize"), st.just(0)),
)


class Writer:
    """Applies one operation to the table and to the Python model of its rows."""

    def __init__(self, path: str, seed: int):
        self.path = path
        self.rnd = random.Random(seed)
        self.next_id = 0
        self.rows: list[dict] = []

    def fresh(self, n: int, part: str | None = None) -> list[dict]:
        """``n`` new rows (new ids, random values 0..99, in ``part`` or random partitions)."""
        out = []
        for _ in range(n):
            out.append({"id": self.next_id, "v": self.rnd.randint(0, 99), "p": part or self.rnd.choice(PARTS)})
            self.next_id += 1
        return out

    def apply(self, op: str, arg) -> bool:
        """Run ``op``; True when it committed a version."""
        dt = lakehouse.DeltaTable(self.path)
        if op == "append":
            new = self.fresh(arg)
            lakehouse.write_delta(self.path, pa.Table.from_pylist(new, schema=SCHEMA), mode="append")
            self.rows += new
        elif op == "overwrite":
            new = self.fresh(arg)
            lakehouse.write_delta(self.path, pa.Table.from_pylist(new, schema=SCHEMA), mode="overwrite")
            self.rows = new
        elif op == "replace_where":
            new = self.fresh(3, arg)
            lakehouse.write_delta(self.path, pa.Table.from_pylist(new, schema=SCHEMA), mode="overwrite",
                                  predicate=f"p = '{arg}'")
            self.rows = [r for r in self.rows if r["p"] != arg] + new
        elif op == "delete":
            before = dt.version
            dt.delete(f"v < {arg}")
            self.rows = [r for r in self.rows if not r["v"] < arg]
            return dt.version != before
        elif op == "update":
            before = dt.version
            dt.update(updates={"v": "v + 100"}, predicate=f"v < {arg}")
            self.rows = [{**r, "v": r["v"] + 100} if r["v"] < arg else r for r in self.rows]
            return dt.version != before
        elif op == "optimize":
            return dt.optimize.compact().version is not None
        return True


def _feed(path: str, start: int, end: int) -> list[tuple]:
    """The change data feed between two versions, without commit timestamps, sorted."""
    t = lakehouse.DeltaTable(path).load_cdf(start, end, columns=["id", "v", "p"])
    return sorted((r["id"], r["v"], r["p"], r["_change_type"], r["_commit_version"]) for r in t.to_pylist())


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=2, max_size=6), dv=st.booleans(), cdf=st.booleans(),
       retention_steps=st.integers(0, 7), mode=st.sampled_from(["full", "lite"]), seed=st.integers(0, 10**6))
def test_vacuum_never_deletes_a_file_the_window_needs(ops, dv, cdf, retention_steps, mode, seed) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t")
        w = Writer(path, seed)
        first = w.fresh(8)
        lakehouse.write_delta(path, pa.Table.from_pylist(first, schema=SCHEMA), partition_by=["p"], configuration={
            "delta.enableDeletionVectors": str(dv).lower(), "delta.enableChangeDataFeed": str(cdf).lower()})
        w.rows = first
        model = Model(path)
        model.record(0, w.rows)
        for op, arg in ops:
            if w.apply(op, arg):
                model.record(lakehouse.DeltaTable(path).version, w.rows)
        n = max(model.versions)
        now = time.time()
        age = {v: (n - v + 1) * STEP_HOURS * 3600 for v in range(n + 1)}  # seconds
        for v in range(n + 1):
            when = now - age[v]
            shift_tombstones(path, v, int(when * 1000))
            os.utime(Path(path) / "_delta_log" / f"{v:020d}.json", (when, when))
        age_all_data_files(path, (n + 2) * STEP_HOURS * 3600)
        retention = (retention_steps + 0.5) * STEP_HOURS  # never on a commit's exact age
        window = [v for v in range(n + 1) if age[v] < retention * 3600]
        protected = sorted({v - 1 for v in window if v > 0} | {n})
        feed_before = _feed(path, window[0], n) if cdf and window else None

        m = lakehouse.DeltaTable(path).vacuum(retention_hours=retention, enforce_retention_duration=False,
                                              dry_run=False, mode=mode)
        assert not set(m.files) & data_files_on_disk(path)
        model.same_as(m.start_version, n)
        model.same_as(m.end_version, n)
        for v in protected:
            assert lh_rows(path, v) == model.versions[v], f"version {v} (protected) lost rows after {ops}"
        assert dl_rows(path) == model.versions[n]
        if feed_before is not None:
            assert _feed(path, window[0], n) == feed_before
