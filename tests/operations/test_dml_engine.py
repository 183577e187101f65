"""The one DML engine (`lakehouse.operations.rewrite.FileRewriter`): a failure before the commit is
decided leaves no file behind (data, change data, deletion vectors), whatever the operation, and a failed
put of the commit (which may have landed) keeps them; DELETE,
UPDATE and MERGE report the shared metrics; `MergeBuilder` and the metrics read well when printed."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import AppendOnlyError, ConcurrentModificationError, ConstraintViolationError
from lakehouse.operations.delete import delete as delete_at
from lakehouse.operations.rewrite import RewriteMetrics
from lakehouse.snapshot import latest_snapshot
from lakehouse.storage import open_storage
from lakehouse.storage.faulty import FaultPlan, FaultyStorage, InjectedFault
from lakehouse.write.transaction import Transaction, commit_hook
from tests.support.dml import config
from tests.support.rows import assert_same_rows, dl_read, lh_read


def _files(path: str) -> set[str]:
    """Every file under the table root except the log."""
    root = Path(path)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "_delta_log" not in p.parts}


def _table(path: str, mode: str, *, cdf: bool = True, extra: dict[str, str] | None = None) -> pa.Table:
    data = pa.table({"id": pa.array(range(40), pa.int64()), "v": pa.array([i % 5 for i in range(40)], pa.int64()),
                     "p": pa.array(["a" if i < 20 else "b" for i in range(40)])})
    lakehouse.write_delta(path, data, partition_by=["p"], target_file_size=1024,
                          configuration=config(mode, cdf=cdf, extra=extra), max_workers=1)
    assert lakehouse.DeltaTable(path).files().num_rows >= 2
    return data


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_a_constraint_failure_in_the_last_file_removes_every_written_file(tmp_path, mode):
    path = str(tmp_path / "t")
    data = _table(path, mode, extra={"delta.constraints.small": "v < 100"})
    before = _files(path)
    # Every file changes; only rows of partition b break the constraint, after files of a were rewritten.
    with pytest.raises(ConstraintViolationError, match="small"):
        lakehouse.DeltaTable(path).update(updates={"v": "CASE WHEN p = 'b' THEN 1000 ELSE v + 1 END"}, max_workers=1)
    assert _files(path) == before
    assert lakehouse.DeltaTable(path).version == 0
    assert_same_rows(lh_read(path), data)


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_an_append_only_refusal_removes_every_written_file(tmp_path, mode):
    path = str(tmp_path / "t")
    data = _table(path, mode, extra={"delta.appendOnly": "true"})
    before = _files(path)
    with pytest.raises(AppendOnlyError, match="append-only"):
        lakehouse.DeltaTable(path).delete("v = 1")
    assert _files(path) == before
    assert_same_rows(lh_read(path), data)


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_a_refused_conflict_removes_every_written_file(tmp_path, mode):
    path = str(tmp_path / "t")
    data = _table(path, mode)
    before = _files(path)
    fired = []

    def concurrent_delete(phase: str, txn: Transaction) -> None:
        if phase == "prepared" and not fired:
            fired.append(phase)
            with commit_hook(None):
                lakehouse.DeltaTable(path).delete("id = 3")  # removes a file the UPDATE read

    with commit_hook(concurrent_delete):
        with pytest.raises(ConcurrentModificationError):
            lakehouse.DeltaTable(path).update(updates={"v": "v + 10"}, predicate="v = 3")
    # Only the concurrent DELETE's files are new; the UPDATE's new data, change data and DV files are gone.
    dt = lakehouse.DeltaTable(path)
    assert dt.version == 1
    live = {a for a in _files(path) if a not in before}
    referenced = {p for p in dt.files().column("path").to_pylist()}
    cdc = {c for c in live if c.startswith("_change_data/")}
    dvs = {c for c in live if c.startswith("deletion_vector_")}
    assert live - cdc - dvs <= referenced
    assert len(cdc) <= 1 and len(dvs) <= 1  # at most the concurrent DELETE's own
    want = data.filter(pa.compute.not_equal(data["id"], 3))
    assert_same_rows(lh_read(path), want)
    assert_same_rows(dl_read(path), want)


def test_merge_failure_on_a_duplicate_match_removes_every_written_file(tmp_path):
    path = str(tmp_path / "t")
    data = _table(path, "cow")
    before = _files(path)
    source = pa.table({"id": pa.array([1, 30, 30], pa.int64()), "v": pa.array([7, 8, 9], pa.int64()),
                       "p": pa.array(["a", "b", "b"])})
    with pytest.raises(lakehouse.errors.InvalidArgumentError, match="several source rows"):
        (lakehouse.DeltaTable(path).merge(source, "t.id = s.id", max_workers=1)
         .when_matched_update_all().when_not_matched_insert_all().execute())
    assert _files(path) == before
    assert_same_rows(lh_read(path), data)


def test_delete_and_update_metrics_share_one_base_and_print_readably(tmp_path):
    path = str(tmp_path / "t")
    _table(path, "cow", cdf=False)
    dt = lakehouse.DeltaTable(path)
    deleted = dt.delete("id < 5")
    updated = dt.update(updates={"v": "99"}, predicate="id = 7")
    nothing = dt.delete("id = 1000")
    assert isinstance(deleted, RewriteMetrics) and isinstance(updated, RewriteMetrics)
    assert isinstance(deleted, lakehouse.DeleteMetrics) and isinstance(updated, lakehouse.UpdateMetrics)
    assert (deleted.version, deleted.num_deleted_rows, deleted.num_removed_files) == (1, 5, 1)
    assert (updated.version, updated.num_updated_rows, updated.num_removed_files) == (2, 1, 1)
    assert updated.num_copied_rows + updated.num_updated_rows == 20 - 5  # the rest of file "a"'s alive rows
    assert nothing.version is None and nothing.num_deleted_rows == 0
    assert repr(deleted).startswith("DeleteMetrics(version=1, ") and "num_deleted_rows=5" in repr(deleted)
    assert "num_updated_rows=1" in repr(updated)
    assert dt.version == 2 and sorted(r["id"] for r in lh_read(path).to_pylist()) == list(range(5, 40))


def test_merge_builder_repr_names_aliases_predicate_and_clauses(tmp_path):
    path = str(tmp_path / "t")
    _table(path, "cow", cdf=False)
    source = pa.table({"id": pa.array([1], pa.int64()), "v": pa.array([7], pa.int64()), "p": pa.array(["a"])})
    builder = (lakehouse.DeltaTable(path).merge(source, "t.id = s.id", source_alias="s", target_alias="t")
               .when_matched_update({"v": "s.v"}, predicate="s.v > 0")
               .when_not_matched_insert_all(except_cols=["p"])
               .when_not_matched_by_source_delete())
    text = repr(builder)
    assert text == ("MergeBuilder(source_alias='s', target_alias='t', predicate='t.id = s.id', clauses=["
                    "when_matched_update({'v': 's.v'}, predicate='s.v > 0'), "
                    "when_not_matched_insert_all(except_cols=['p']), when_not_matched_by_source_delete()])")
    assert "v=" not in repr(lakehouse.DeltaTable(path).merge(source, "t.id = s.id"))  # no clauses yet
    assert "no clauses" in repr(lakehouse.DeltaTable(path).merge(source, "t.id = s.id"))
    metrics = builder.execute()
    assert repr(metrics).startswith("MergeMetrics(version=1, num_source_rows=1, ")


def test_no_change_commits_nothing_and_writes_nothing(tmp_path):
    path = str(tmp_path / "t")
    _table(path, "dv")
    before = _files(path)
    dt = lakehouse.DeltaTable(path)
    assert dt.update(updates={"v": "1"}, predicate="id = 1000").version is None
    assert dt.delete("v = 1000").version is None
    assert _files(path) == before and lakehouse.DeltaTable(path).version == 0
    assert os.path.isdir(os.path.join(path, "_delta_log"))


@pytest.mark.parametrize("mode", ["cow", "dv"])
def test_a_failed_put_of_the_commit_keeps_the_written_files(tmp_path, mode):
    """When the put of the commit file fails, the engine cannot know whether the commit landed: it must
    not remove the files it wrote (a landed commit would then name missing files); VACUUM removes them
    if the commit did not land."""
    path = str(tmp_path / "t")
    data = _table(path, mode)
    before = _files(path)
    faulty = FaultyStorage(open_storage(path), FaultPlan(at=0, when="before", kind="fail",
                                                         operations=frozenset({"put_commit"})))
    with pytest.raises(InjectedFault):
        delete_at(latest_snapshot(faulty), "v = 1")
    assert faulty.plan.fired
    written = _files(path) - before
    assert written  # new data files, change data and (in DV mode) deletion vectors, all kept
    assert lakehouse.DeltaTable(path).version == 0
    assert_same_rows(lh_read(path), data)
    # The same DELETE through working storage commits and reads back right.
    lakehouse.DeltaTable(path).delete("v = 1")
    want = data.filter(pa.compute.not_equal(data["v"], 1))
    assert_same_rows(lh_read(path), want)
    assert_same_rows(dl_read(path), want)
