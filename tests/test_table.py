"""`DeltaTable` facing bad user input: every refusal is a typed `lakehouse` error, never a raw one."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from lakehouse import DeltaTable, read_delta
from lakehouse.errors import (
    InvalidArgumentError,
    LakehouseError,
    SchemaMismatchError,
    TableNotFoundError,
    VersionNotFoundError,
)
from tests.support.conformance import corpus_dir

CORPUS = corpus_dir()
if CORPUS is None:
    pytest.skip("conformance corpus not found (set LAKEHOUSE_CONFORMANCE_DIR)", allow_module_level=True)
BASIC = CORPUS / "tables" / "dat__basic_append"  # versions 0 and 1


def expect_error(fn: Callable[[], object], *classes: type[LakehouseError]) -> LakehouseError:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        assert isinstance(e, LakehouseError), f"raw {type(e).__module__}.{type(e).__name__} escaped: {e}"
        assert isinstance(e, classes), f"expected one of {[c.__name__ for c in classes]}, got {type(e).__name__}: {e}"
        return e
    raise AssertionError("no error raised")


def test_valid_reads_for_reference():
    assert DeltaTable(BASIC).version == 1
    assert DeltaTable(BASIC, version=0).to_arrow().num_rows == 3
    assert DeltaTable(BASIC, version="0").version == 0
    assert DeltaTable(str(BASIC), version=" 1 ").version == 1
    assert DeltaTable(BASIC).to_arrow(columns=["number"]).column_names == ["number"]
    assert len(DeltaTable(BASIC).history(limit=0)) == 0
    assert len(DeltaTable(BASIC).history(limit=1)) == 1


def test_non_existent_path(tmp_path):
    err = expect_error(lambda: DeltaTable(tmp_path / "does" / "not" / "exist"), TableNotFoundError)
    assert "exist" in str(err)
    expect_error(lambda: read_delta(tmp_path / "nope"), TableNotFoundError)
    expect_error(lambda: DeltaTable(f"file://{tmp_path}/nope"), TableNotFoundError)


def test_directory_without_delta_log(tmp_path):
    (tmp_path / "part-0.parquet").write_bytes(b"PAR1")
    expect_error(lambda: DeltaTable(tmp_path), TableNotFoundError)


@pytest.mark.parametrize("uri", ["", 123, None], ids=["empty", "int", "none"])
def test_bad_uri(uri):
    # The storage layer turns a non-string URI into InvalidArgumentError; the facade must not pre-empt it.
    expect_error(lambda: DeltaTable(uri), InvalidArgumentError)


@pytest.mark.parametrize("version", [-1, -100])
def test_negative_version(version):
    expect_error(lambda: DeltaTable(BASIC, version=version), VersionNotFoundError, InvalidArgumentError)


@pytest.mark.parametrize("version", [2, 99, 2**63, "2"])
def test_version_after_latest(version):
    err = expect_error(lambda: DeltaTable(BASIC, version=version), VersionNotFoundError)
    assert "1" in str(err)


@pytest.mark.parametrize(
    "version",
    ["not a date", "", "   ", "yesterday", "2024-13-45", "1.5", "-1", "0x1", "\u00b2"],
    ids=["words", "empty", "blank", "yesterday", "bad-date", "decimal", "minus-one", "hex", "superscript-two"],
)
def test_unparseable_version_strings(version):
    expect_error(lambda: DeltaTable(BASIC, version=version), InvalidArgumentError, VersionNotFoundError)


@pytest.mark.parametrize("version", [1.5, 1.0, True, False, [1], {"v": 1}, b"1", object()],
                         ids=["float", "float-int", "true", "false", "list", "dict", "bytes", "object"])
def test_version_of_wrong_type(version):
    expect_error(lambda: DeltaTable(BASIC, version=version), InvalidArgumentError)


@pytest.mark.parametrize(
    "when",
    ["1999-01-01", "1999-01-01T00:00:00Z", datetime(1999, 1, 1), datetime(1999, 1, 1, tzinfo=timezone.utc),
     "2999-01-01T00:00:00+02:00", datetime(2999, 1, 1)],
    ids=["old-date", "old-iso", "old-naive", "old-aware", "future-iso", "future-naive"],
)
def test_timestamp_outside_history(when):
    expect_error(lambda: DeltaTable(BASIC, version=when), VersionNotFoundError)


@pytest.mark.parametrize("columns", [["nope"], ["letter", "nope"], "nope", ["LETTER"], [""]])
def test_unknown_columns(columns):
    dt = DeltaTable(BASIC)
    err = expect_error(lambda: dt.to_arrow(columns=columns), SchemaMismatchError)
    assert "letter" in str(err)  # names the columns that do exist
    expect_error(lambda: read_delta(BASIC, columns=columns), SchemaMismatchError)


@pytest.mark.parametrize("columns", [[1], [None]], ids=["int-in-list", "none-in-list"])
def test_columns_of_wrong_type(columns):
    expect_error(lambda: DeltaTable(BASIC).to_arrow(columns=columns), SchemaMismatchError, InvalidArgumentError)


@pytest.mark.parametrize("limit", [-1, -100, 1.5, "3", [1]])
def test_history_bad_limit(limit):
    expect_error(lambda: DeltaTable(BASIC).history(limit=limit), InvalidArgumentError)


def test_history_limit_larger_than_history():
    assert [h.version for h in DeltaTable(BASIC).history(limit=100)] == [1, 0]


# -- writes on a time-travelled table object are refused (issue 12) ----------------------------------------------
import os  # noqa: E402

import deltalake  # noqa: E402
import pyarrow as pa  # noqa: E402

import lakehouse  # noqa: E402


def _history_table(path: str) -> None:
    """Versions 0..3 of one small table, each an append of two rows."""
    for i in range(4):
        lakehouse.write_delta(path, pa.table({"id": [2 * i, 2 * i + 1], "v": [i, i]}), mode="append")


def _state(path: str) -> tuple[int, list[str], list[tuple]]:
    log = sorted(os.listdir(os.path.join(path, "_delta_log")))
    rows = sorted((r["id"], r["v"]) for r in DeltaTable(path).to_arrow().to_pylist())
    theirs = sorted((r["id"], r["v"]) for r in deltalake.DeltaTable(path).to_pyarrow_table().to_pylist())
    assert rows == theirs
    return DeltaTable(path).version, log, rows


WRITES: dict[str, Callable[[DeltaTable], object]] = {
    "delete": lambda dt: dt.delete("id = 1"),
    "update": lambda dt: dt.update(updates={"v": "v + 1"}, predicate="id = 1"),
    "merge": lambda dt: dt.merge(pa.table({"id": [1], "v": [9]}), "t.id = s.id").when_matched_update_all().execute(),
    "optimize": lambda dt: dt.optimize.compact(),
    "z_order": lambda dt: dt.optimize.z_order(["id", "v"]),
    "restore": lambda dt: dt.restore(0),
    "vacuum": lambda dt: dt.vacuum(dry_run=False, retention_hours=0, enforce_retention_duration=False),
    "set_properties": lambda dt: dt.alter.set_table_properties({"owner": "x"}),
    "add_features": lambda dt: dt.alter.add_feature("deletionVectors", allow_protocol_versions_increase=True),
    "add_constraint": lambda dt: dt.alter.add_constraint({"pos": "id >= 0"}),
    "add_columns": lambda dt: dt.alter.add_columns([pa.field("w", pa.int64())]),
    "cleanup_metadata": lambda dt: dt.cleanup_metadata(retention_hours=0),
}


@pytest.mark.parametrize("how", ["version", "timestamp"])
@pytest.mark.parametrize("op", sorted(WRITES))
def test_writes_on_a_time_travelled_table_are_refused(tmp_path, op, how):
    path = str(tmp_path / "t")
    _history_table(path)
    before = _state(path)
    at = 1 if how == "version" else next(h.timestamp for h in DeltaTable(path).history() if h.version == 1)
    dt = DeltaTable(path, version=at)
    assert dt.version == 1
    err = expect_error(lambda: WRITES[op](dt), InvalidArgumentError)
    assert str(err).startswith("table was opened at version 1 (time travel);")
    assert "reopen without version=" in str(err)
    assert _state(path) == before
    assert dt.version == 1 and dt.to_arrow().num_rows == 4  # the object still reads what it was opened at


def test_a_stale_table_object_is_not_time_travelled(tmp_path):
    """Someone else committing makes an object stale, which is ordinary optimistic concurrency: its writes
    start from the latest version."""
    path = str(tmp_path / "t")
    _history_table(path)
    dt = DeltaTable(path)
    lakehouse.write_delta(path, pa.table({"id": [100], "v": [0]}), mode="append")
    assert dt.version == 3
    dt.delete("id = 100")
    assert dt.version == 5 and sorted(r["id"] for r in dt.to_arrow().to_pylist()) == list(range(8))


def test_time_travel_to_the_latest_version_may_write_and_refresh_clears_it(tmp_path):
    path = str(tmp_path / "t")
    _history_table(path)
    DeltaTable(path, version=3).delete("id = 0")  # opened at the latest version: nothing was travelled past
    old = DeltaTable(path, version=1)
    expect_error(lambda: old.delete("id = 1"), InvalidArgumentError)
    old.refresh()
    old.delete("id = 1")
    assert old.version == 5 and sorted(r["id"] for r in DeltaTable(path).to_arrow().to_pylist()) == list(range(2, 8))


# -- a file is not a table; history timestamps travel back (issue 12) ----------------------------------------------
@pytest.mark.parametrize("content", [b"PAR1 not really parquet PAR1", b"hello\n"], ids=["parquet", "text"])
def test_a_file_path_is_not_a_table(tmp_path, content):
    f = tmp_path / "data.parquet"
    f.write_bytes(content)
    for attempt in (lambda: DeltaTable(f), lambda: read_delta(f), lambda: DeltaTable(f"file://{f}"),
                    lambda: lakehouse.write_delta(f, pa.table({"a": [1]})),
                    lambda: DeltaTable.create(f, schema=pa.schema([("a", pa.int64())]))):
        err = expect_error(attempt, TableNotFoundError)
        assert "is a file, not a Delta table" in str(err) and str(err).splitlines()[1].startswith("Help: ")
    assert f.read_bytes() == content and sorted(os.listdir(tmp_path)) == ["data.parquet"]


def test_history_timestamps_are_utc_datetimes_that_time_travel_back(tmp_path):
    path = str(tmp_path / "t")
    _history_table(path)
    entries = DeltaTable(path).history()
    assert [h.version for h in entries] == [3, 2, 1, 0]
    for h in entries:
        assert isinstance(h.timestamp, datetime) and h.timestamp.utcoffset().total_seconds() == 0
        assert h.timestamp_ms == int(h.timestamp.timestamp() * 1000) or abs(
            h.timestamp_ms - h.timestamp.timestamp() * 1000) < 1
        assert DeltaTable(path, version=h.timestamp).version == h.version
        assert DeltaTable(path, version=h.timestamp.isoformat()).version == h.version
    assert repr(entries[0]).startswith("HistoryEntry(version=3, timestamp=datetime.datetime(")


def test_a_checkpoint_of_a_time_travelled_version_is_allowed(tmp_path):
    """A checkpoint records the version the object holds and changes no table state (the data, the latest
    version and `_last_checkpoint` stay), so it is not refused like the writes above."""
    path = str(tmp_path / "t")
    _history_table(path)
    before = _state(path)
    assert DeltaTable(path, version=1).create_checkpoint() == f"{1:020d}.checkpoint.parquet"
    assert _state(path)[0] == before[0] and _state(path)[2] == before[2]


def test_reprs_name_the_table_version_filter_and_columns(tmp_path):
    import polars as pl

    path = tmp_path / "t"
    lakehouse.write_delta(path, pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}))
    lakehouse.write_delta(path, pa.table({"id": [4], "v": ["d"]}), mode="append")
    dt = DeltaTable(path)
    uri = dt.snapshot.storage.root_uri
    assert repr(dt) == f"DeltaTable({str(path)!r}, version=1)"
    assert repr(dt.optimize) == f"TableOptimizer({str(path)!r})" and repr(dt.alter) == f"TableAlterer({str(path)!r})"
    assert repr(dt.scan("id > 1", ["id"])) == f"Scan({uri!r}, version=1, filter='id > 1', columns=['id'])"
    assert repr(DeltaTable(path, version=0).scan()) == f"Scan({uri!r}, version=0, filter=None, columns=None)"
    assert repr(dt.scan([("id", "=", 1)])) == f"Scan({uri!r}, version=1, filter=[('id', '=', 1)], columns=None)"
    polars_scan = repr(dt.scan(pl.col("id") > 2, ["v"]))
    assert polars_scan.startswith(f"Scan({uri!r}, version=1, filter='") and 'col("id")' in polars_scan
    assert polars_scan.endswith("columns=['v'])")
    assert sorted(dt.scan("id > 1", ["id"]).to_arrow().column("id").to_pylist()) == [2, 3, 4]  # a repr changes nothing
