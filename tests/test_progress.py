"""``progress=`` on long operations: one `ProgressEvent` per unit of work, ``done`` never decreasing from
0 to ``total``, the operation and unit named; the work itself is unchanged (every row is checked)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse import ProgressEvent
from lakehouse.errors import InvalidArgumentError
from lakehouse.progress import reporter


def _check(events: list[ProgressEvent], operation: str, unit: str, total: int) -> None:
    """The contract of every ``progress=``: first 0, never decreasing, last done == total, one
    operation and unit."""
    assert events, "no progress events"
    assert {(e.operation, e.unit) for e in events} == {(operation, unit)}
    dones = [e.done for e in events]
    assert dones[0] == 0 and dones == sorted(dones)
    # Each step is reported once; a done count repeats only when the last event brings a stream's total.
    assert len({(e.done, e.total) for e in events}) == len(events)
    assert events[-1].done == events[-1].total == total
    assert {e.total for e in events if e.total is not None} == {total}


def _rows(n: int, offset: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(offset, offset + n), pa.int64()), "p": [f"p{i % 2}" for i in range(n)]})


def test_reporter_sends_each_step_once_and_refuses_non_callables():
    events: list[ProgressEvent] = []
    count = reporter(events.append, "OPTIMIZE", "bins")
    assert count is not None and reporter(None, "OPTIMIZE", "bins") is None
    for done in (0, 1, 1, 2):
        count(done, 2)
    assert events == [ProgressEvent("OPTIMIZE", d, 2, "bins") for d in (0, 1, 2)]
    assert [e.fraction for e in events] == [0.0, 0.5, 1.0] and ProgressEvent("WRITE", 3, None, "rows").fraction is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].done = 5  # type: ignore[misc]
    with pytest.raises(InvalidArgumentError, match="progress must be a callable"):
        lakehouse.write_delta("memory://never", _rows(1), progress=42)  # type: ignore[arg-type]


def test_write_reports_rows_of_a_table_and_of_a_stream(tmp_path: Path):
    data = pa.concat_tables([_rows(100, 100 * i) for i in range(5)])  # five batches
    events: list[ProgressEvent] = []
    lakehouse.write_delta(tmp_path / "t", data, progress=events.append)
    _check(events, "WRITE", "rows", 500)
    assert all(e.total == 500 for e in events) and len(events) == 6  # the total is known from the start
    stream = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
    streamed: list[ProgressEvent] = []
    lakehouse.write_delta(tmp_path / "t", stream, mode="append", progress=streamed.append)
    _check(streamed, "WRITE", "rows", 500)
    assert all(e.total is None for e in streamed[:-1])  # a stream's total is learnt when its files are done
    got = lakehouse.DeltaTable(tmp_path / "t").to_arrow().sort_by("id")
    assert got.column("id").to_pylist() == sorted(list(range(500)) * 2)


def test_convert_reports_each_footer(tmp_path: Path):
    for i in range(4):
        pq.write_table(_rows(10, 10 * i), tmp_path / f"part-{i}.parquet")
    events: list[ProgressEvent] = []
    dt = lakehouse.DeltaTable.convert_to_delta(tmp_path, progress=events.append)
    _check(events, "CONVERT", "files", 4)
    assert sorted(dt.to_arrow().column("id").to_pylist()) == list(range(40))


def test_optimize_vacuum_and_verify_report_their_units(tmp_path: Path):
    uri = tmp_path / "t"
    for i in range(3):
        lakehouse.write_delta(uri, _rows(20, 20 * i), mode="append", partition_by=["p"])
    dt = lakehouse.DeltaTable(uri)
    bins: list[ProgressEvent] = []
    metrics = dt.optimize.compact(progress=bins.append, max_concurrent_tasks=2)
    _check(bins, "OPTIMIZE", "bins", metrics.num_batches)
    assert metrics.num_batches == 2 and metrics.num_files_removed == 6
    deleted: list[ProgressEvent] = []
    vacuumed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, progress=deleted.append)
    _check(deleted, "VACUUM", "files", vacuumed.num_files)
    assert vacuumed.num_files == 6
    checked: list[ProgressEvent] = []
    assert dt.verify(progress=checked.append).ok
    _check(checked, "VERIFY", "files", 2)
    assert sorted(lakehouse.DeltaTable(uri).to_arrow().column("id").to_pylist()) == list(range(60))


@pytest.mark.parametrize("dv", [False, True])
def test_merge_reports_each_target_file_and_keeps_every_row(tmp_path: Path, dv: bool):
    path = str(tmp_path / "t")
    config = {"delta.enableDeletionVectors": str(dv).lower()}
    for i in range(3):  # three target files
        lakehouse.write_delta(path, _rows(10, 10 * i), mode="append", configuration=config if i == 0 else None)
    events: list[ProgressEvent] = []
    source = pa.table({"id": pa.array([5, 15, 25, 99], pa.int64())})
    m = (lakehouse.DeltaTable(path).merge(source, "t.id = s.id")
         .when_matched_delete().when_not_matched_insert_all().execute(progress=events.append))
    _check(events, "MERGE", "files", 3)
    assert m.version == 3
    ids = sorted(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist())
    assert ids == sorted([i for i in range(30) if i not in (5, 15, 25)] + [99])


@pytest.mark.parametrize("dv", [False, True])
def test_delete_and_update_report_each_candidate_file(tmp_path: Path, dv: bool):
    path = str(tmp_path / "t")
    config = {"delta.enableDeletionVectors": str(dv).lower()}
    for i in range(3):  # three files, partitions p0 and p1 in each
        lakehouse.write_delta(path, _rows(10, 10 * i), mode="append", partition_by=["p"],
                              configuration=config if i == 0 else None)
    dt = lakehouse.DeltaTable(path)
    events: list[ProgressEvent] = []
    dt.update(updates={"id": "id + 100"}, predicate="id % 10 = 3", progress=events.append)
    _check(events, "UPDATE", "files", 6)  # every file may hold a match: all six are read
    events = []
    candidates = dt.scan("id >= 120").files().num_rows  # stats skipping leaves the file(s) that may match
    assert 1 <= candidates < 6
    dt.delete("id >= 120", progress=events.append)
    _check(events, "DELETE", "files", candidates)
    events = []
    dt.delete("p = 'p0'", progress=events.append)  # whole files, removed unread
    _check(events, "DELETE", "files", 3)
    got = sorted(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist())
    want = sorted(i + 100 if i % 10 == 3 else i for i in range(30) if i % 2 == 1)
    assert got == [i for i in want if i < 120]
