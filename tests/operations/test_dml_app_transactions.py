"""Idempotent operations: every operation that takes ``CommitProperties(app_transactions=...)`` skips a
replay of an applied ``(appId, version)`` (recorded version >= given), never moves a recorded version
backwards, records its app transactions even when it changes no data, and treats a concurrent writer
that recorded the same app id as a conflict (spec/commit-protocol.md section 4; issue 18 item 5)."""

from __future__ import annotations

from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import AppTransaction, CommitProperties
from lakehouse.errors import CommitError, ConcurrentModificationError, ConcurrentTransactionError, InvalidArgumentError
from lakehouse.operations.delete import delete as delete_op
from lakehouse.snapshot import latest_snapshot
from lakehouse.storage import open_storage
from lakehouse.write.transaction import Transaction, commit_hook
from tests.support.dml import MODES, SCHEMA, config, rows_table, snapshot_dir
from tests.support.rows import assert_same_rows, dl_read, lh_read
from tests.support.log import actions_of

BASE = [{"id": i, "v": i * 10, "p": "a" if i % 2 else "b"} for i in range(6)]


def props(app: str, version: int) -> CommitProperties:
    return CommitProperties(app_transactions=(AppTransaction(app, version),))


def make(tmp_path: Path, mode: str) -> str:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table(BASE), partition_by=["p"], configuration=config(mode))
    return path


def check(path: str, want: list[dict]) -> None:
    """Every row of a fresh lakehouse read and of deltalake's read is ``want``."""
    assert_same_rows(lh_read(path), want, "lakehouse")
    assert_same_rows(dl_read(path), want, "deltalake")


def recorded(path: str, app: str) -> int | None:
    """The app's version as lakehouse's snapshot and deltalake both see it (they must agree)."""
    txns = lakehouse.DeltaTable(path).transactions
    mine = txns[app].version if app in txns else None
    assert deltalake.DeltaTable(path).transaction_version(app) == mine
    return mine


def txn_log(path: str) -> list[tuple[int, str, int]]:
    """Every `txn` action in the log: (commit version, appId, version)."""
    latest = lakehouse.DeltaTable(path).version
    return [(v, t["appId"], t["version"]) for v in range(latest + 1) for t in actions_of(path, v, "txn")]


# -- each operation, replayed ---------------------------------------------------------------------------------
def run_delete(path: str, p: CommitProperties):
    return lakehouse.DeltaTable(path).delete("id < 2", commit_properties=p)


def run_update(path: str, p: CommitProperties):
    return lakehouse.DeltaTable(path).update(updates={"v": "v + 1"}, predicate="id >= 3", commit_properties=p)


def run_merge(path: str, p: CommitProperties):
    src = rows_table([{"id": 4, "v": -4, "p": "b"}, {"id": 100, "v": 100, "p": "a"}])
    return (lakehouse.DeltaTable(path).merge(src, "t.id = s.id", commit_properties=p)
            .when_matched_update(updates={"v": "t.v + s.v"}).when_not_matched_insert_all().execute())


def run_write(path: str, p: CommitProperties):
    return lakehouse.write_delta(path, rows_table([{"id": 50, "v": 50, "p": "a"}]), mode="append", commit_properties=p)


def after_delete(rows):
    return [r for r in rows if r["id"] >= 2]


def after_update(rows):
    return [dict(r, v=r["v"] + 1) if r["id"] >= 3 else r for r in rows]


def after_merge(rows):
    out = [dict(r, v=r["v"] - 4) if r["id"] == 4 else r for r in rows]
    return out + ([] if any(r["id"] == 100 for r in rows) else [{"id": 100, "v": 100, "p": "a"}])


def after_write(rows):
    return rows + [{"id": 50, "v": 50, "p": "a"}]


OPS = {"delete": (run_delete, after_delete), "update": (run_update, after_update),
       "merge": (run_merge, after_merge), "write": (run_write, after_write)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", sorted(OPS))
def test_replay_commits_once(tmp_path, op, mode):
    path = make(tmp_path, mode)
    run, effect = OPS[op]
    first = run(path, props("etl", 7))
    assert first.version == 1
    want = effect(list(BASE))
    check(path, want)
    # Rows the replayed operation would touch again arrive from another writer: a replay must leave them.
    lakehouse.write_delta(path, rows_table([{"id": 0, "v": 0, "p": "b"}, {"id": 3, "v": 30, "p": "a"}]), mode="append")
    want += [{"id": 0, "v": 0, "p": "b"}, {"id": 3, "v": 30, "p": "a"}]
    before = snapshot_dir(path)
    for again in (7, 6, 0):
        result = run(path, props("etl", again))
        if op == "write":
            assert (result.version, result.operation) == (2, "NOOP")
        else:
            assert result.version is None
    assert snapshot_dir(path) == before, "a replay changed the log"
    check(path, want)
    assert recorded(path, "etl") == 7
    assert txn_log(path) == [(1, "etl", 7)]
    # Nothing was left behind either: every data file in the directory is one the log ever referenced.
    referenced = {a["path"] for v in range(3) for a in actions_of(path, v, "add")}
    on_disk = {str(f.relative_to(path)) for f in Path(path).rglob("*.parquet") if "_delta_log" not in f.parts}
    assert on_disk <= referenced | {c["path"] for v in range(3) for c in actions_of(path, v, "cdc")}


@pytest.mark.parametrize("op", ["delete", "update", "merge"])
def test_older_version_does_not_move_the_recorded_version_back(tmp_path, op):
    """The issue's sequence: write v5, a DML carrying v3 (skipped), then the replay of write v5 (skipped)."""
    path = make(tmp_path, "dv")
    run_write(path, props("etl", 5))
    want = after_write(list(BASE))
    before = snapshot_dir(path)
    run, _ = OPS[op]
    assert run(path, props("etl", 3)).version is None
    assert snapshot_dir(path) == before
    assert recorded(path, "etl") == 5
    result = run_write(path, props("etl", 5))
    assert result.operation == "NOOP"
    check(path, want)
    assert txn_log(path) == [(1, "etl", 5)]


def test_mixed_operations_share_an_app_id(tmp_path):
    path = make(tmp_path, "cow")
    want = list(BASE)
    for version, op in enumerate(["write", "delete", "update", "merge"], start=1):
        run, effect = OPS[op]
        assert run(path, props("pipeline", version)).version == version
        want = effect(want)
    check(path, want)
    before = snapshot_dir(path)
    for version, op in enumerate(["write", "delete", "update", "merge"], start=1):
        for replay in (version, 4):  # its own version, and the latest one: both already applied
            result = OPS[op][0](path, props("pipeline", replay))
            assert result.version is None or result.operation == "NOOP"
    assert snapshot_dir(path) == before
    check(path, want)
    assert txn_log(path) == [(v, "pipeline", v) for v in range(1, 5)]
    # The next batch goes through.
    assert run_delete(path, props("pipeline", 5)).version == 5
    assert recorded(path, "pipeline") == 5


@pytest.mark.parametrize("op", ["delete", "update", "merge"])
def test_operation_that_changes_nothing_still_records_its_version(tmp_path, op):
    """A no-op DML must still record its batch, or a replay after later writes would run it for real."""
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table([{"id": 10, "v": 1, "p": "a"}]))
    dt = lakehouse.DeltaTable(path)
    p = props("job", 1)
    if op == "delete":
        result = dt.delete("id < 2", commit_properties=p)
    elif op == "update":
        result = dt.update(updates={"v": "0"}, predicate="id >= 3 AND id < 10", commit_properties=p)
    else:
        result = (dt.merge(rows_table([{"id": 99, "v": 9, "p": "a"}]), "t.id = s.id", commit_properties=p)
                  .when_matched_delete().execute())
    assert result.version == 1
    assert recorded(path, "job") == 1
    assert not actions_of(path, 1, "add") and not actions_of(path, 1, "remove")
    # Rows that the batch would match arrive later; its replay is skipped and leaves them.
    lakehouse.write_delta(path, rows_table([{"id": 0, "v": 5, "p": "a"}, {"id": 4, "v": 5, "p": "a"},
                                            {"id": 99, "v": 5, "p": "a"}]), mode="append")
    want = lh_read(path)
    if op == "delete":
        assert dt.delete("id < 2", commit_properties=p).version is None
    elif op == "update":
        assert dt.update(updates={"v": "0"}, predicate="id >= 3 AND id < 10", commit_properties=p).version is None
    else:
        assert (dt.merge(rows_table([{"id": 99, "v": 9, "p": "a"}]), "t.id = s.id", commit_properties=p)
                .when_matched_delete().execute().version is None)
    check(path, want.to_pylist())


def test_concurrent_writer_applying_the_same_version_is_a_conflict_not_a_duplicate(tmp_path):
    path = make(tmp_path, "dv")
    p = props("etl", 1)
    storage = open_storage(path)
    ours = latest_snapshot(storage)
    state = {"done": False}

    def hook(phase, txn):
        # Paused before its commit, ours lets another process of the same pipeline apply the batch.
        if phase == "prepared" and not state["done"]:
            state["done"] = True
            assert lakehouse.DeltaTable(path).delete("id < 2", commit_properties=p).version == 1

    # Both deleted the same rows, so the first conflict found is on the files; either way no duplicate.
    with pytest.raises(ConcurrentModificationError), commit_hook(hook):
        delete_op(ours, "id < 2", commit_properties=p)
    check(path, after_delete(list(BASE)))
    assert txn_log(path) == [(1, "etl", 1)]
    assert lakehouse.DeltaTable(path).version == 1
    # Retried, the batch is recognised as applied.
    assert run_delete(path, p).version is None


def test_concurrent_append_of_the_same_app_version_makes_a_dml_fail(tmp_path):
    """A blind append passes a DELETE's read set; only the app id tells the two apart."""
    path = make(tmp_path, "cow")
    p = props("etl", 1)
    ours = latest_snapshot(open_storage(path))
    state = {"done": False}

    def hook(phase, txn):
        if phase == "prepared" and not state["done"]:
            state["done"] = True
            assert run_write(path, p).version == 1

    with pytest.raises(ConcurrentTransactionError), commit_hook(hook):
        delete_op(ours, "id < 2", commit_properties=p)
    check(path, after_write(list(BASE)))
    assert txn_log(path) == [(1, "etl", 1)]
    assert run_delete(path, p).version is None


def test_partly_applied_set_commits_without_moving_any_version_back(tmp_path):
    path = make(tmp_path, "cow")
    run_write(path, CommitProperties(app_transactions=(AppTransaction("a", 5), AppTransaction("b", 1))))
    result = run_delete(path, CommitProperties(app_transactions=(AppTransaction("a", 3), AppTransaction("b", 2))))
    assert result.version == 2
    assert (recorded(path, "a"), recorded(path, "b")) == (5, 2)
    assert [(t["appId"], t["version"]) for t in actions_of(path, 2, "txn")] == [("b", 2)]
    check(path, after_delete(after_write(list(BASE))))


def test_commit_refuses_an_applied_batch(tmp_path):
    """The commit path itself refuses a replay an operation failed to skip (the table moved on since)."""
    path = make(tmp_path, "cow")
    run_write(path, props("etl", 2))
    before = snapshot_dir(path)
    snap = latest_snapshot(open_storage(path))
    txn = Transaction(snap.storage, snap, operation="WRITE", properties=props("etl", 2))
    with pytest.raises(CommitError, match="already recorded"):
        txn.commit()
    assert snapshot_dir(path) == before


@pytest.mark.parametrize("txns", [
    (AppTransaction("a", 1), AppTransaction("a", 2)),
    (AppTransaction("", 1),),
    (AppTransaction("a", -1),),
    (AppTransaction("a", "1"),),  # type: ignore[arg-type]
])
def test_bad_app_transactions_are_refused(txns):
    with pytest.raises(InvalidArgumentError):
        CommitProperties(app_transactions=txns)


def test_maintenance_and_table_management_replays_are_skipped(tmp_path):
    path = str(tmp_path / "t")
    for i in range(3):
        lakehouse.write_delta(path, rows_table([{"id": i, "v": i, "p": "a"}]), mode="append")
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.compact(commit_properties=props("m", 1)).version == 3
    assert dt.alter.set_table_properties({"delta.appendOnly": "false"}, commit_properties=props("m", 2)).version == 4
    assert dt.alter.add_constraint({"pos": "id >= 0"}, commit_properties=props("m", 3)).version == 5
    assert dt.restore(0, commit_properties=props("m", 4)).version == 6
    vac = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, commit_properties=props("m", 5))
    assert (vac.start_version, vac.end_version) == (7, 8)
    assert txn_log(path) == [(3, "m", 1), (4, "m", 2), (5, "m", 3), (6, "m", 4), (7, "m", 5)]
    before = snapshot_dir(path)
    lakehouse.write_delta(path, pa.table({"id": [9], "v": [9], "p": ["a"]}, schema=SCHEMA), mode="append")
    after_append = snapshot_dir(path)
    assert after_append != before
    assert dt.optimize.compact(commit_properties=props("m", 1)).version is None
    assert dt.alter.set_table_properties({"delta.appendOnly": "true"}, commit_properties=props("m", 2)).version is None
    assert dt.alter.add_constraint({"pos": "id >= 0"}, commit_properties=props("m", 3)).version is None  # no "already exists"
    assert dt.restore(1, commit_properties=props("m", 4)).version is None
    assert dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False,
                     commit_properties=props("m", 5)).start_version is None
    assert snapshot_dir(path) == after_append
    check(path, [{"id": 0, "v": 0, "p": "a"}, {"id": 9, "v": 9, "p": "a"}])
