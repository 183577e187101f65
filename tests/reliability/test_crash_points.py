"""Crash and fail every storage call of every write operation, then check nothing was lost.

For each operation a clean run on a copy of the base table records its storage calls. Then, for every
call k and both sides of it, the operation runs again on a fresh copy with a `SimulatedCrash` (the
process dies) or an `InjectedFault` (the backend errors) at that point. Afterwards a fresh reader must
find: a readable table at the old or the new version, exactly the old rows or exactly the new rows, and
a retried operation that succeeds (spec/commit-protocol.md, "Ways to lose data" 1-4).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.snapshot import snapshot as snapshot_module
from lakehouse.errors import LakehouseError
from lakehouse.storage import open_storage
from lakehouse.storage.faulty import FaultPlan, FaultyStorage, SimulatedCrash
from tests.support.conformance import canonical_rows

Op = Callable[[object], object]


def _base(path: Path, configuration: dict | None = None) -> None:
    """Four versions: two files in partition a (so OPTIMIZE has work) and a tombstone (for VACUUM and
    RESTORE)."""
    lakehouse.write_delta(path, pa.table({"id": [1, 2, 3], "p": ["a", "b", "a"]}), partition_by=["p"],
                          configuration=configuration)
    lakehouse.write_delta(path, pa.table({"id": [4], "p": ["b"]}), mode="append")
    lakehouse.write_delta(path, pa.table({"id": [5], "p": ["a"]}), mode="append")
    lakehouse.DeltaTable(path).delete("id = 4")


def _merge(s: object) -> object:
    source = pa.table({"id": [1, 60], "p": ["a", "a"]})
    return (lakehouse.DeltaTable(s).merge(source, predicate="t.id = s.id")  # type: ignore[arg-type]
            .when_matched_delete().when_not_matched_insert_all().execute())


DVS = {"delta.enableDeletionVectors": "true"}
CDF = {"delta.enableChangeDataFeed": "true"}


OPERATIONS: dict[str, tuple[Op, dict | None]] = {
    "append": (lambda s: lakehouse.write_delta(s, pa.table({"id": [10], "p": ["c"]}), mode="append"), None),
    "overwrite": (lambda s: lakehouse.write_delta(s, pa.table({"id": [20], "p": ["a"]}), mode="overwrite"), None),
    "replace_where_partition": (
        lambda s: lakehouse.write_delta(s, pa.table({"id": [30], "p": ["a"]}), mode="overwrite", predicate="p = 'a'"),
        None,
    ),
    "replace_where_rows": (
        lambda s: lakehouse.write_delta(s, pa.table({"id": [40], "p": ["a"]}), mode="overwrite",
                                        predicate="p = 'a' AND id > 2"),
        None,
    ),
    "append_with_checkpoint": (
        lambda s: lakehouse.write_delta(s, pa.table({"id": [50], "p": ["a"]}), mode="append"),
        {"delta.checkpointInterval": "2", "delta.logRetentionDuration": "interval 0 seconds",
         "delta.deletedFileRetentionDuration": "interval 0 seconds"},
    ),
    "create_checkpoint": (lambda s: lakehouse.DeltaTable(s).create_checkpoint(), None),
    "delete_rewrite": (lambda s: lakehouse.DeltaTable(s).delete("id = 1"), CDF),
    "delete_deletion_vector": (lambda s: lakehouse.DeltaTable(s).delete("id = 1"), DVS),
    "update": (lambda s: lakehouse.DeltaTable(s).update(updates={"id": "33"}, predicate="id = 3"), CDF),
    "merge": (_merge, DVS),
    "optimize": (lambda s: lakehouse.DeltaTable(s).optimize.compact(), None),
    "optimize_z_order": (lambda s: lakehouse.DeltaTable(s).optimize.z_order(["id"]), None),
    "restore": (lambda s: lakehouse.DeltaTable(s).restore(1), None),
    "vacuum": (lambda s: lakehouse.DeltaTable(s).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                       dry_run=False), None),
}
#: Operations that commit more than once (VACUUM START and END): any version in between is a valid
#: outcome, with the rows unchanged.
MULTI_COMMIT = {"vacuum"}


def _state(path: Path) -> tuple[int, object]:
    snapshot_module._CACHE.clear()  # a fresh process: no remembered snapshots
    dt = lakehouse.DeltaTable(path)
    return dt.version, canonical_rows(dt.to_arrow())


def _clean_run(tmp: Path, name: str) -> tuple[list, tuple[int, object], tuple[int, object]]:
    op, config = OPERATIONS[name]
    path = tmp / "base"
    _base(path, config)
    before = _state(path)
    copy = tmp / "clean"
    shutil.copytree(path, copy)
    storage = FaultyStorage(open_storage(copy))
    op(storage)
    return storage.trace, before, _state(copy)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("kind", ["crash", "fail"])
def test_every_fault_point_leaves_old_or_new_state(tmp_path: Path, name: str, kind: str):
    op, _ = OPERATIONS[name]
    trace, before, after = _clean_run(tmp_path, name)
    assert trace, "the operation made no storage calls"
    faults = 0
    for k in range(len(trace)):
        for when in ("before", "after"):
            path = tmp_path / f"run-{k}-{when}"
            shutil.copytree(tmp_path / "base", path)
            storage = FaultyStorage(open_storage(path), FaultPlan(at=k, when=when, kind=kind))  # type: ignore[arg-type]
            snapshot_module._CACHE.clear()
            raised: BaseException | None = None
            try:
                op(storage)
            except (SimulatedCrash, LakehouseError) as e:
                raised = e
            assert storage.plan.fired, f"fault point {k} {when} was never reached"
            faults += 1
            version, rows = _state(path)
            allowed = range(before[0], after[0] + 1) if name in MULTI_COMMIT else (before[0], after[0])
            assert version in allowed, f"{name}: fault at {trace[k]} {when}: version {version}"
            # A checkpoint-only operation never changes rows or versions.
            expected = before if version == before[0] and before[0] != after[0] else after
            if name in MULTI_COMMIT:
                expected = before
            assert rows == expected[1], f"{name}: fault at {trace[k]} {when}: rows are neither old nor new"
            if name in MULTI_COMMIT:
                assert rows == before[1] == after[1], f"{name}: fault at {trace[k]} {when} changed rows"
            if raised is None:
                # The call returned, so its change must be durable.
                assert version == after[0], f"{name}: fault at {trace[k]} {when} returned but the change is gone"
            # A retry from a fresh process succeeds and the table stays readable.
            snapshot_module._CACHE.clear()
            op(open_storage(path))
            _state(path)
    assert faults == 2 * len(trace)
