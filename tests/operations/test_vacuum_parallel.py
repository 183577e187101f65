"""VACUUM's fast paths (issue 15): log paths are made root-relative on Arrow columns with exactly
`resolve_relative`'s result (or its refusal); deletes go in batches on several threads with progress
counted on the calling thread; a failed batch stops VACUUM before VACUUM END; lite mode's existence checks
run in parallel; the metrics' repr summarises the paths."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.errors import InvalidLogError
from lakehouse.operations import vacuum as vacuum_module
from lakehouse.operations.vacuum import VacuumMetrics, vacuum
from lakehouse.protocol.paths import resolve_relative
from lakehouse.snapshot import load_snapshot
from lakehouse.storage import open_storage
from lakehouse.storage.faulty import FaultPlan, FaultyStorage, InjectedFault
from tests.support.log import DAY_S, age_all_data_files, commit_info, data_files_on_disk, shift_tombstones
from tests.support.rows import Model

ROOT = "file:///tmp/some/table"
SEGMENTS = st.sampled_from(["a", "p=1", "b.parquet", ".", "..", "", "%2E%2E", "%20x", "_c", ".h", "x..y", "file:",
                            "c%3Dd"])


@settings(max_examples=400, deadline=None)
@given(st.lists(SEGMENTS, min_size=1, max_size=5), st.sampled_from(["", "/", "/tmp/some/table/", "file:///tmp/some/table/",
                                                                    "s3://b/"]))
def test_relative_paths_on_columns_equal_resolve_relative(segments: list[str], prefix: str) -> None:
    raw = prefix + "/".join(segments)

    class _Storage:
        root_uri = ROOT

    try:
        want: str | None = resolve_relative(raw, ROOT)
    except InvalidLogError:
        want = None
    try:
        got: str | None = vacuum_module._rel_paths(_Storage(), pa.chunked_array([["x.parquet", raw]]), 0)[1]  # type: ignore[arg-type]
    except InvalidLogError:
        got = None
    assert got == want, raw


def tombstoned_table(path: str, files: int = 12) -> tuple[Model, set[str]]:
    """``files`` one-file appends, then an overwrite that tombstones them all (made 10 days old)."""
    model = Model(path)
    for k in range(files):
        res = lakehouse.write_delta(path, pa.table({"id": [k]}), mode="append" if k else "error")
    before = data_files_on_disk(path)
    res = lakehouse.write_delta(path, pa.table({"id": [100, 101]}), mode="overwrite")
    model.record(res.version, [{"id": 100}, {"id": 101}])
    shift_tombstones(path, res.version, int((time.time() - 10 * DAY_S) * 1000))
    age_all_data_files(path, 10 * DAY_S)
    return model, before


@pytest.mark.parametrize("mode", ["full", "lite"])
def test_parallel_batches_delete_exactly_the_plan_with_ordered_progress(tmp_path: Path, mode: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vacuum_module, "DELETE_BATCH", 2)  # 12 files: six batches, several at once
    path = str(tmp_path / "t")
    model, doomed = tombstoned_table(path)
    events: list[tuple[int, int, str]] = []

    def progress(done: int, total: int) -> None:
        events.append((done, total, threading.current_thread().name))

    snap = load_snapshot(open_storage(path))
    m = vacuum(snap, dry_run=False, mode=mode, max_workers=4, progress=progress)
    assert set(m.files) == doomed and m.num_files == 12
    assert not doomed & data_files_on_disk(path)
    assert [e[0] for e in events] == sorted(e[0] for e in events) and events[0][0] == 0 and events[-1][0] == 12
    assert {e[2] for e in events} == {threading.current_thread().name}, "progress must run on the calling thread"
    assert int(commit_info(path, m.end_version)["operationMetrics"]["numDeletedFiles"]) == 12
    last = model_version(model)
    model.same_as(m.start_version, last)
    model.same_as(m.end_version, last)
    model.check([last, m.end_version])


def model_version(model: Model) -> int:
    """The newest version the model records."""
    return max(model.versions)


def test_a_failed_batch_stops_before_vacuum_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vacuum_module, "DELETE_BATCH", 2)
    path = str(tmp_path / "t")
    model, doomed = tombstoned_table(path)
    storage = FaultyStorage(open_storage(path), FaultPlan(at=5, kind="fail", operations=frozenset({"delete"})))
    with pytest.raises(InjectedFault):
        vacuum(load_snapshot(storage), dry_run=False, max_workers=3)  # type: ignore[arg-type]
    dt = lakehouse.DeltaTable(path)
    assert commit_info(path, dt.version)["operation"] == "VACUUM START", "VACUUM END must not follow a failure"
    left = doomed & data_files_on_disk(path)
    assert left, "the failed file (at least) is still there"
    # A second VACUUM finishes the job; the table reads the same throughout.
    m = lakehouse.DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert set(m.files) == left and not doomed & data_files_on_disk(path)
    last = model_version(model)
    for v in range(last + 1, m.end_version + 1):
        model.same_as(v, last)
    model.check([last, m.end_version])


def test_lite_checks_existence_in_parallel_and_skips_missing_files(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vacuum_module, "DELETE_BATCH", 2)
    path = str(tmp_path / "t")
    _, doomed = tombstoned_table(path)
    gone = sorted(doomed)[:3]
    for rel in gone:
        os.remove(os.path.join(path, rel))
    m = lakehouse.DeltaTable(path).vacuum(mode="lite", max_workers=3)
    assert set(m.files) == doomed - set(gone) and m.dry_run


def test_vacuum_metrics_repr_summarises_the_paths() -> None:
    files = tuple(f"part-{i:05d}.parquet" for i in range(5000))
    text = repr(VacuumMetrics(False, "full", 0.0, files, 5000, 123, 7, 8))
    assert "files=<5000 paths: 'part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet', ...>" in text
    assert "part-00003" not in text and "num_files=5000" in text and "end_version=8" in text
    assert "files=<0 paths: >" in repr(VacuumMetrics(True, "lite", 1.0, (), 0, 0))
