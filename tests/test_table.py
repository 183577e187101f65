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
from tests.conformance_support import corpus_dir

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
