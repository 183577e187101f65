"""Deterministic interleavings of DML with concurrent commits (Delta's conflict rules at
WriteSerializable): the DML operation's transaction hook runs the concurrent commit at phase `prepared`
(data files written, commit not yet attempted), so the DML's first put-if-absent loses the race and the
conflict checks decide. MERGE has no hook: it is run on the snapshot read before the concurrent commit,
which is the same interleaving."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

import lakehouse
from lakehouse.errors import (
    ConcurrentAppendError,
    ConcurrentDeleteDeleteError,
    ConcurrentDeleteReadError,
    ConcurrentModificationError,
)
from lakehouse.operations.delete import delete
from lakehouse.operations.merge_builder import run_merge
from lakehouse.operations.merge_plan import Clause
from lakehouse.operations.update import update
from lakehouse.protocol.actions import Remove
from lakehouse.write.transaction import Transaction, commit_hook
from tests.support.dml import MODES, config, rows_table, snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, lh_read
from tests.support.log import actions_of

A = [{"id": 1, "v": 10, "p": "a"}, {"id": 2, "v": 20, "p": "a"}, {"id": 3, "v": 30, "p": "a"}]
B = [{"id": 4, "v": 40, "p": "b"}, {"id": 5, "v": 50, "p": "b"}]


def make(path: str, mode: str) -> None:
    lakehouse.write_delta(path, rows_table(A + B), partition_by=["p"], configuration=config(mode))


def at_prepared(concurrent: Callable[[], Any]) -> Callable[[str, Transaction], None]:
    """A hook that runs ``concurrent`` once, when the transaction is about to commit for the first time."""
    phases: list[str] = []

    def hook(phase: str, txn: Transaction) -> None:
        phases.append(phase)
        if phase == "prepared":
            concurrent()

    hook.phases = phases  # type: ignore[attr-defined]
    return hook


def snap(path: str):
    return lakehouse.DeltaTable(path).snapshot


def _append_b(path: str) -> Callable[[], Any]:
    return lambda: lakehouse.write_delta(path, rows_table([{"id": 6, "v": 60, "p": "b"}]), mode="append")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("predicate", ["p = 'a'", "p = 'a' AND v > 15"], ids=["partition", "partition_and_data"])
def test_delete_in_partition_a_and_append_to_partition_b_both_commit(tmp_path: Path, mode: str, predicate: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    hook = at_prepared(_append_b(path))
    with commit_hook(hook):
        m = delete(snap(path), predicate)
    assert hook.phases == ["prepared", "conflict", "committed"]
    assert m.version == 2  # rebased over the append at version 1
    assert actions_of(path, 1, "commitInfo")[0]["operation"] == "WRITE"
    deleted = {1, 2, 3} if predicate == "p = 'a'" else {2, 3}
    expected = [r for r in A if r["id"] not in deleted] + B + [{"id": 6, "v": 60, "p": "b"}]
    assert_same_rows(lh_read(path), expected, "delete + concurrent append")
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["delete_partition", "delete_partition_and_data", "update_partition_and_data"])
def test_dml_in_partition_a_and_replace_where_on_partition_b_both_commit(tmp_path: Path, mode: str, op: str) -> None:
    """A concurrent non-blind write confined to partition b adds no file the DML on partition a could have
    read (spec/commit-protocol.md section 3: a file's partition values decide "may match"; "disjoint
    partitions never conflict"; Spark matches the winner's added files against the read predicates)."""
    path = str(tmp_path / "t")
    make(path, mode)
    new_b = [{"id": 7, "v": 70, "p": "b"}]
    hook = at_prepared(lambda: lakehouse.write_delta(path, rows_table(new_b), mode="overwrite", predicate="p = 'b'"))
    if op == "delete_partition":
        with commit_hook(hook):
            delete(snap(path), "p = 'a'")
        expected_a: list[dict] = []
    elif op == "delete_partition_and_data":
        with commit_hook(hook):
            delete(snap(path), "p = 'a' AND v > 15")
        expected_a = [A[0]]
    else:
        with commit_hook(hook):
            update(snap(path), "p = 'a' AND v > 15", updates={"v": 0})
        expected_a = [A[0]] + [{**r, "v": 0} for r in A[1:]]
    assert hook.phases == ["prepared", "conflict", "committed"]
    assert_same_rows(lh_read(path), expected_a + new_b, f"{op} a + replaceWhere b")
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
def test_two_deletes_of_the_same_file_conflict(tmp_path: Path, mode: str) -> None:
    """The winner removed the file the loser read *and* removes. Spark's ConflictChecker (and
    lakehouse's CHECKS, in the same order) test the read set before the delete set, so the answer is
    ConcurrentDeleteReadError (ConcurrentDeleteDelete is for removers that did not read the file, below)."""
    path = str(tmp_path / "t")
    make(path, mode)
    hook = at_prepared(lambda: lakehouse.DeltaTable(path).delete("p = 'a'"))
    with pytest.raises(ConcurrentDeleteReadError):
        with commit_hook(hook):
            delete(snap(path), "id = 1")
    assert lakehouse.DeltaTable(path).version == 1
    assert_same_rows(lh_read(path), B, "winner only")
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
def test_removing_a_file_a_concurrent_delete_removed_is_delete_delete(tmp_path: Path, mode: str) -> None:
    """A transaction that removes a file without having read it through a predicate (a compaction-like
    rewrite) loses to a DELETE that removed the same file: ConcurrentDeleteDeleteError."""
    path = str(tmp_path / "t")
    make(path, mode)
    snapshot = snap(path)
    (file_a,) = [f for f in snapshot.adds.to_pylist() if dict(f["partitionValues"])["p"] == "a"]
    txn = Transaction(snapshot.storage, snapshot, operation="OPTIMIZE",
                      hook=at_prepared(lambda: lakehouse.DeltaTable(path).delete("id = 2")))
    txn.remove_files([Remove(path=file_a["path"], data_change=False, deletion_timestamp=0,
                             partition_values={"p": "a"}, size=file_a["size"])])
    with pytest.raises(ConcurrentDeleteDeleteError):
        txn.commit()
    assert lakehouse.DeltaTable(path).version == 1
    assert_same_rows(lh_read(path), [r for r in A + B if r["id"] != 2], "winner only")


@pytest.mark.parametrize("mode", MODES)
def test_update_loses_to_a_concurrent_delete_of_the_file_it_read(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    hook = at_prepared(lambda: lakehouse.DeltaTable(path).delete("p = 'a'"))
    with pytest.raises(ConcurrentDeleteReadError):
        with commit_hook(hook):
            update(snap(path), "id = 1", updates={"v": 99})
    assert hook.phases == ["prepared", "conflict"]
    assert lakehouse.DeltaTable(path).version == 1
    assert_same_rows(lh_read(path), B, "the UPDATE did not land")
    assert_versions_agree(path)


@pytest.mark.parametrize("mode", MODES)
def test_update_and_delete_of_different_partitions_both_commit(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    hook = at_prepared(lambda: lakehouse.DeltaTable(path).delete("p = 'b'"))
    with commit_hook(hook):
        update(snap(path), "p = 'a' AND id = 1", updates={"v": 99})
    assert_same_rows(lh_read(path), [{"id": 1, "v": 99, "p": "a"}] + A[1:], "update a + delete b")
    assert_versions_agree(path)


def _upsert_clauses() -> list[Clause]:
    return [Clause("matched", "update", None, all_columns=True), Clause("not_matched", "insert", None, all_columns=True)]


@pytest.mark.parametrize("mode", MODES)
def test_merge_loses_to_a_concurrent_non_blind_insert_of_a_matching_key(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    read = snap(path)
    # the concurrent writer inserts key 8 with a MERGE of its own (it read the table: not a blind append)
    lakehouse.DeltaTable(path).merge(rows_table([{"id": 8, "v": 80, "p": "a"}]), "t.id = s.id") \
        .when_not_matched_insert_all().execute()
    assert actions_of(path, 1, "commitInfo")[0]["isBlindAppend"] is False
    before = snapshot_dir(path)
    with pytest.raises(ConcurrentAppendError):
        run_merge(read, rows_table([{"id": 8, "v": -8, "p": "a"}, {"id": 1, "v": -1, "p": "a"}]), "t.id = s.id",
                  _upsert_clauses())
    assert snapshot_dir(path) == before
    assert_same_rows(lh_read(path), A + B + [{"id": 8, "v": 80, "p": "a"}], "only the winner")


@pytest.mark.parametrize("mode", MODES)
def test_merge_loses_to_a_concurrent_update_of_a_file_it_read(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    read = snap(path)
    lakehouse.DeltaTable(path).update(updates={"v": 21}, predicate="id = 2")
    with pytest.raises(ConcurrentModificationError):
        run_merge(read, rows_table([{"id": 1, "v": -1, "p": "a"}]), "t.id = s.id", _upsert_clauses())
    assert_same_rows(lh_read(path), [{**r, "v": 21} if r["id"] == 2 else r for r in A + B], "only the winner")


@pytest.mark.parametrize("mode", MODES)
def test_merge_after_a_blind_append_commits_at_write_serializable(tmp_path: Path, mode: str) -> None:
    """Spark's WriteSerializable: a blind append never conflicts, even with a MERGE on the same key."""
    path = str(tmp_path / "t")
    make(path, mode)
    read = snap(path)
    lakehouse.write_delta(path, rows_table([{"id": 9, "v": 90, "p": "b"}]), mode="append")
    assert actions_of(path, 1, "commitInfo")[0]["isBlindAppend"] is True
    m = run_merge(read, rows_table([{"id": 1, "v": -1, "p": "a"}]), "t.id = s.id", _upsert_clauses())
    assert m.version == 2
    assert_same_rows(lh_read(path), [{"id": 1, "v": -1, "p": "a"}] + A[1:] + B + [{"id": 9, "v": 90, "p": "b"}], "both")
    assert_versions_agree(path)
