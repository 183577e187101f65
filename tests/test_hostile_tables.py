"""Hostile and damaged input on real tables: copies of conformance-corpus tables, damaged on purpose.

Every failure must surface as a `lakehouse.errors.LakehouseError` subclass (never a raw KeyError, IndexError,
ValueError, AttributeError or ArrowInvalid), naming the file and/or version where that applies; damage a
reader can route around (a stale `_last_checkpoint`, a broken checkpoint with the commits still present,
unknown actions) must not stop the read, and the rows must be the undamaged ones.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Callable

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse import DeltaTable
from lakehouse.errors import (
    DataFileNotFoundError,
    InvalidDeletionVectorError,
    InvalidLogError,
    LakehouseError,
    TableNotFoundError,
    UnsupportedFeatureError,
)
from lakehouse.protocol.dv import encode_bitmap
from tests.support.conformance import canonical_rows, corpus_dir

CORPUS = corpus_dir()
if CORPUS is None:
    pytest.skip("conformance corpus not found (set LAKEHOUSE_CONFORMANCE_DIR)", allow_module_level=True)
TABLES = CORPUS / "tables"

BASIC = "dat__basic_append"  # commits 0, 1; one data file each
CKPT = "dat__with_checkpoint"  # commits 0..3, classic checkpoint at 2, _last_checkpoint -> 2
MULTI = "golden__multi-part-checkpoint"  # commits 0, 1, two-part checkpoint at 1
DVS = "dat__deletion_vectors"  # commits 0..2, an on-disk DV in commit 2
PARTS = "golden__data-reader-partition-values"  # one commit, typed partition columns

DV_FILE = "deletion_vector_8aebe228-b96c-4831-b0b6-22882eb9a3d3.bin"


# --- helpers ------------------------------------------------------------------------------------------


def copy_table(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(TABLES / name, dst)
    return dst


def log(table: Path, name: str) -> Path:
    return table / "_delta_log" / name


def commit(table: Path, version: int) -> Path:
    return log(table, f"{version:020d}.json")


def read_actions(table: Path, version: int) -> list[dict]:
    return [orjson.loads(line) for line in commit(table, version).read_bytes().splitlines() if line.strip()]


def write_lines(table: Path, version: int, lines: list) -> None:
    out = b"".join((orjson.dumps(x) if isinstance(x, dict) else x) + b"\n" for x in lines)
    commit(table, version).write_bytes(out)


def edit_action(table: Path, version: int, key: str, fn: Callable[[dict], dict], index: int = 0) -> None:
    """Apply ``fn`` to the ``index``-th action of type ``key`` in a commit."""
    actions = read_actions(table, version)
    seen = 0
    for i, a in enumerate(actions):
        if key in a:
            if seen == index:
                actions[i] = {key: fn(dict(a[key]))}
                break
            seen += 1
    else:
        raise AssertionError(f"no {key} action #{index} in version {version}")
    write_lines(table, version, actions)


def rows_of(table) -> object:
    return canonical_rows(DeltaTable(table).to_arrow())


def expect_error(fn: Callable[[], object], cls: type[LakehouseError]) -> LakehouseError:
    """Run ``fn``; it must raise ``cls``, a LakehouseError (any raw exception fails the test)."""
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - the point is to see what escapes
        assert isinstance(e, LakehouseError), f"raw {type(e).__module__}.{type(e).__name__} escaped: {e}"
        assert isinstance(e, cls), f"expected {cls.__name__}, got {type(e).__name__}: {e}"
        return e
    raise AssertionError(f"no error raised, expected {cls.__name__}")


def load_and_read(table: Path, **kw) -> pa.Table:
    return DeltaTable(table, **kw).to_arrow()


@pytest.fixture(scope="module")
def expected_rows():
    cache: dict = {}

    def get(name: str, version: int | None = None):
        if (name, version) not in cache:
            cache[(name, version)] = canonical_rows(DeltaTable(TABLES / name, version=version).to_arrow())
        return cache[(name, version)]

    return get


# --- damaged JSON commits -----------------------------------------------------------------------------


def _assert_names_commit(err: LakehouseError, version: int) -> None:
    assert f"{version:020d}.json" in str(err)
    assert f"version {version}" in str(err)
    if isinstance(err, InvalidLogError):
        assert err.version == version and err.path and err.path.endswith(f"{version:020d}.json")


def test_truncated_json_line(tmp_path):
    t = copy_table(BASIC, tmp_path)
    data = commit(t, 1).read_bytes()
    commit(t, 1).write_bytes(data[: len(data) - 40])  # cut inside the last line (the add)
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)
    # The undamaged earlier version still reads.
    assert DeltaTable(t, version=0).to_arrow().num_rows == 3


def test_bad_utf8_bytes(tmp_path):
    t = copy_table(BASIC, tmp_path)
    data = commit(t, 1).read_bytes().replace(b"part-00000-a9daef62", b"part-\xff\xfe000-a9daef62", 1)
    commit(t, 1).write_bytes(data)
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)


def test_binary_garbage_commit(tmp_path):
    t = copy_table(BASIC, tmp_path)
    commit(t, 1).write_bytes(bytes(range(256)) * 4)
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)


def test_unknown_actions_are_ignored(tmp_path, expected_rows):
    t = copy_table(BASIC, tmp_path)
    lines = read_actions(t, 1)
    lines.insert(1, {"someFutureAction": {"path": "not-a-file.parquet", "size": 1}})
    lines.append({"anotherOne": [1, 2, 3]})
    # A known action with an unknown sibling key on the same line is read as the known action.
    lines = [{**a, "futureSibling": {"x": 1}} if "add" in a else a for a in lines]
    write_lines(t, 1, lines)
    assert rows_of(t) == expected_rows(BASIC)


def test_unknown_fields_inside_known_actions_are_ignored(tmp_path, expected_rows):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 1, "add", lambda a: {**a, "futureField": {"nested": True}, "anotherFuture": 7})
    edit_action(t, 0, "metaData", lambda m: {**m, "futureMeta": [1]})
    edit_action(t, 0, "protocol", lambda p: {**p, "futureProto": "x"})
    assert rows_of(t) == expected_rows(BASIC)


@pytest.mark.parametrize("field", ["path", "size", "partitionValues", "modificationTime", "dataChange"])
def test_add_missing_required_field(tmp_path, field):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 1, "add", lambda a: {k: v for k, v in a.items() if k != field})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)
    assert field in str(err)


@pytest.mark.parametrize(
    "key,field",
    [("metaData", "id"), ("metaData", "schemaString"), ("protocol", "minReaderVersion")],
)
def test_metadata_protocol_missing_required_field(tmp_path, key, field):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, key, lambda a: {k: v for k, v in a.items() if k != field})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 0)
    assert field in str(err)


WRONG_TYPES = [
    (1, "add", {"size": "984"}),
    (1, "add", {"size": 9.5}),
    (1, "add", {"dataChange": "true"}),
    (1, "add", {"path": ["a"]}),
    (1, "add", {"partitionValues": ["letter"]}),
    (1, "add", {"partitionValues": {"letter": 5}}),
    (1, "add", {"stats": {"numRecords": 2}}),
    (1, "add", {"deletionVector": "u123"}),
    (1, "add", {"deletionVector": [1, 2]}),
    (0, "metaData", {"partitionColumns": "letter"}),
    (0, "metaData", {"configuration": {"delta.appendOnly": False}}),
    (0, "metaData", {"format": [1]}),
    (0, "protocol", {"minReaderVersion": "1"}),
    (0, "protocol", {"readerFeatures": [1]}),
]


@pytest.mark.parametrize("version,key,patch", WRONG_TYPES, ids=[f"{k}-{next(iter(p))}-{type(next(iter(p.values()))).__name__}" for _, k, p in WRONG_TYPES])
def test_wrong_field_types(tmp_path, version, key, patch):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, version, key, lambda a: {**a, **patch})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, version)


def test_free_form_commit_info_does_not_block_reading(tmp_path, expected_rows):
    # PROTOCOL.md: commitInfo may hold any valid JSON.
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "commitInfo", lambda c: {**c, "timestamp": "now", "operationParameters": [["mode"]]})
    edit_action(t, 1, "commitInfo", lambda c: {**c, "operation": {"odd": True}})
    dt = DeltaTable(t)
    assert canonical_rows(dt.to_arrow()) == expected_rows(BASIC)
    assert [h.version for h in dt.history()] == [1, 0]


@pytest.mark.parametrize(
    "line",
    [b"[1, 2, 3]", b'"add"', b"null", b"{}", b'{"add": 5}', b'{"protocol": null}'],
)
def test_non_object_lines(tmp_path, line):
    t = copy_table(BASIC, tmp_path)
    write_lines(t, 1, read_actions(t, 1) + [line])
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)


def test_two_actions_on_one_line(tmp_path):
    t = copy_table(BASIC, tmp_path)
    actions = read_actions(t, 1)
    add = next(a for a in actions if "add" in a)
    write_lines(t, 1, [{"add": add["add"], "remove": {"path": add["add"]["path"], "dataChange": True}}])
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    _assert_names_commit(err, 1)


def test_gap_in_versions(tmp_path):
    t = copy_table(DVS, tmp_path)
    commit(t, 1).unlink()
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert "1" in str(err) and "contiguous" in str(err)
    # Versions before the gap remain readable.
    assert DeltaTable(t, version=0).version == 0


def test_missing_protocol_or_metadata(tmp_path):
    t = copy_table(BASIC, tmp_path)
    write_lines(t, 0, [a for a in read_actions(t, 0) if "protocol" not in a])
    expect_error(lambda: load_and_read(t), InvalidLogError)
    t2 = copy_table(CKPT, tmp_path / "b")
    write_lines(t2, 0, [a for a in read_actions(t2, 0) if "metaData" not in a])
    # The checkpoint at 2 still carries the metadata, so the latest version reads ...
    assert DeltaTable(t2).version == 3
    # ... but version 1 has none.
    expect_error(lambda: DeltaTable(t2, version=1), InvalidLogError)


def test_empty_commit_file_is_a_no_op(tmp_path, expected_rows):
    t = copy_table(BASIC, tmp_path)
    commit(t, 2).write_bytes(b"")
    dt = DeltaTable(t)
    assert dt.version == 2
    assert canonical_rows(dt.to_arrow()) == expected_rows(BASIC)


# --- protocol and features ---------------------------------------------------------------------------


def test_unknown_reader_feature(tmp_path):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "protocol", lambda p: {"minReaderVersion": 3, "minWriterVersion": 7,
                                             "readerFeatures": ["teleportation"], "writerFeatures": ["teleportation"]})
    err = expect_error(lambda: load_and_read(t), UnsupportedFeatureError)
    assert err.feature == "teleportation"


def test_future_reader_version(tmp_path):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "protocol", lambda p: {"minReaderVersion": 99, "minWriterVersion": 99})
    err = expect_error(lambda: load_and_read(t), UnsupportedFeatureError)
    assert "99" in str(err)


@pytest.mark.parametrize(
    "key,value",
    [
        ("delta.logRetentionDuration", "forever"),
        ("delta.deletedFileRetentionDuration", "interval 99999999999 days"),
        ("delta.checkpointInterval", "often"),
        ("delta.appendOnly", "perhaps"),
    ],
)
def test_malformed_table_property_that_does_not_affect_reads(tmp_path, expected_rows, key, value):
    # The read path parses properties leniently: a bad retention or checkpoint setting must not make the
    # rows unreadable (and must never surface as a raw exception).
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "metaData", lambda m: {**m, "configuration": {**m["configuration"], key: value}})
    try:
        dt = DeltaTable(t)
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"loading failed with {type(e).__module__}.{type(e).__name__}: {e}") from e
    assert canonical_rows(dt.to_arrow()) == expected_rows(BASIC)


def test_bad_column_mapping_mode_is_invalid_log_error(tmp_path):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "metaData", lambda m: {**m, "configuration": {"delta.columnMapping.mode": "sideways"}})
    expect_error(lambda: load_and_read(t), InvalidLogError)


# --- _last_checkpoint ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage \x89PNG\r\n",
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"version": "2", "size": 4}',
        b'{"version": -5}',
        b'{"version": 2.5}',
        b'{"version": true}',
        b'{"version": 2, "parts": "many"}',
        b'{"version": 2, "parts": 7}',
        b'{"size": 4}',
        b'{"version": 3, "size": 4}',  # no checkpoint at 3
        b'{"version": 1, "size": 4}',  # stale: an older version than the newest checkpoint
        b'{"version": 99999, "size": 4}',  # beyond the log
        b'{"version": 18446744073709551615}',
    ],
)
def test_bad_last_checkpoint_is_recovered(tmp_path, expected_rows, content):
    t = copy_table(CKPT, tmp_path)
    log(t, "_last_checkpoint").write_bytes(content)
    dt = DeltaTable(t)
    assert dt.version == 3
    assert canonical_rows(dt.to_arrow()) == expected_rows(CKPT)
    assert DeltaTable(t, version=1).to_arrow().num_rows == 5


def test_last_checkpoint_pointing_to_missing_checkpoint(tmp_path, expected_rows):
    t = copy_table(CKPT, tmp_path)
    log(t, "00000000000000000002.checkpoint.parquet").unlink()
    dt = DeltaTable(t)
    assert dt.version == 3 and dt.snapshot.segment.checkpoint is None
    assert canonical_rows(dt.to_arrow()) == expected_rows(CKPT)


def test_last_checkpoint_pointing_to_incomplete_multi_part_checkpoint(tmp_path, expected_rows):
    t = copy_table(MULTI, tmp_path)
    log(t, "00000000000000000001.checkpoint.0000000002.0000000002.parquet").unlink()
    dt = DeltaTable(t)
    assert dt.version == 1 and dt.snapshot.segment.checkpoint is None
    assert canonical_rows(dt.to_arrow()) == expected_rows(MULTI)


def test_last_checkpoint_missing_entirely(tmp_path, expected_rows):
    t = copy_table(CKPT, tmp_path)
    log(t, "_last_checkpoint").unlink()
    dt = DeltaTable(t)
    assert dt.snapshot.segment.checkpoint.version == 2
    assert canonical_rows(dt.to_arrow()) == expected_rows(CKPT)


# --- damaged checkpoints ------------------------------------------------------------------------------

CKPT_FILE = "00000000000000000002.checkpoint.parquet"


def _garbage(p: Path) -> None:
    p.write_bytes(b"this is not parquet at all" * 20)


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _bad_footer(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-4:] = b"XXXX"
    p.write_bytes(bytes(data))


def _bad_footer_length(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-8:-4] = struct.pack("<I", 0x7FFFFFF0)
    p.write_bytes(bytes(data))


def _columns_wrong_type(column: str, value) -> Callable[[Path], None]:
    def damage(p: Path) -> None:
        tb = pq.read_table(p)
        tb = tb.set_column(tb.schema.get_field_index(column), column, pa.array([value] * tb.num_rows))
        pq.write_table(tb, p)

    damage.__name__ = f"{column}_is_{type(value).__name__}"
    return damage


DAMAGES = [
    _garbage,
    _truncate,
    _empty,
    _bad_footer,
    _bad_footer_length,
    _columns_wrong_type("add", "not a struct"),
    _columns_wrong_type("protocol", "not a struct"),
    _columns_wrong_type("metaData", [1, 2]),
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_corrupt_checkpoint_falls_back_to_commits(tmp_path, expected_rows, damage):
    t = copy_table(CKPT, tmp_path)
    damage(log(t, CKPT_FILE))
    try:
        dt = DeltaTable(t)
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(
            f"the commits 0..3 rebuild the table, but loading failed with {type(e).__module__}.{type(e).__name__}: {e}"
        ) from e
    assert dt.version == 3
    assert canonical_rows(dt.to_arrow()) == expected_rows(CKPT)
    assert DeltaTable(t, version=2).to_arrow().num_rows == 5


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_corrupt_checkpoint_without_earlier_commits_names_the_checkpoint(tmp_path, damage):
    t = copy_table(CKPT, tmp_path)
    for v in (0, 1, 2):
        commit(t, v).unlink()
    assert DeltaTable(t).to_arrow().num_rows == 5  # sanity: the checkpoint alone rebuilds it
    damage(log(t, CKPT_FILE))
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert CKPT_FILE in str(err)
    assert err.path is not None and err.path.endswith(CKPT_FILE)
    assert err.version == 2


def test_corrupt_part_of_multi_part_checkpoint_falls_back(tmp_path, expected_rows):
    t = copy_table(MULTI, tmp_path)
    _garbage(log(t, "00000000000000000001.checkpoint.0000000002.0000000002.parquet"))
    assert canonical_rows(DeltaTable(t).to_arrow()) == expected_rows(MULTI)


def test_corrupt_part_of_multi_part_checkpoint_without_commits(tmp_path):
    t = copy_table(MULTI, tmp_path)
    for v in (0, 1):
        commit(t, v).unlink()
    part = "00000000000000000001.checkpoint.0000000002.0000000002.parquet"
    _truncate(log(t, part))
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert part in str(err)


def test_newer_corrupt_checkpoint_falls_back_to_older_checkpoint(tmp_path, expected_rows):
    t = copy_table(CKPT, tmp_path)
    # Add a (broken) checkpoint at 3 and drop the commits before 2: only the checkpoint at 2 + commit 3 remain.
    _garbage(log(t, "00000000000000000003.checkpoint.parquet"))
    log(t, "_last_checkpoint").write_bytes(b'{"version": 3, "size": 4}')
    for v in (0, 1):
        commit(t, v).unlink()
    dt = DeltaTable(t)
    assert dt.snapshot.segment.checkpoint.version == 2
    assert canonical_rows(dt.to_arrow()) == expected_rows(CKPT)


# --- deletion vectors ---------------------------------------------------------------------------------


def _dv_blob(t: Path) -> bytearray:
    return bytearray((t / DV_FILE).read_bytes())


def _write_dv(t: Path, blob: bytes) -> None:
    (t / DV_FILE).write_bytes(bytes(blob))


def _assert_names_dv(err: LakehouseError) -> None:
    assert DV_FILE in str(err)


def test_dv_table_reads(expected_rows):
    assert DeltaTable(TABLES / DVS).to_arrow().num_rows == 1


def test_dv_corrupted_bitmap_bytes(tmp_path):
    t = copy_table(DVS, tmp_path)
    blob = _dv_blob(t)
    blob[1 + 4 + 12] ^= 0xFF  # inside the bitmap data: the CRC no longer matches
    _write_dv(t, blob)
    err = expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)
    _assert_names_dv(err)


def test_dv_corrupted_checksum(tmp_path):
    t = copy_table(DVS, tmp_path)
    blob = _dv_blob(t)
    blob[1 + 4 + 40] ^= 0x01
    _write_dv(t, blob)
    err = expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)
    _assert_names_dv(err)
    assert "CRC" in str(err) or "checksum" in str(err)


def test_dv_wrong_size_field(tmp_path):
    t = copy_table(DVS, tmp_path)
    blob = _dv_blob(t)
    blob[1:5] = struct.pack(">i", 39)
    _write_dv(t, blob)
    err = expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)
    _assert_names_dv(err)


@pytest.mark.parametrize("keep", [0, 1, 3, 20, 44])
def test_dv_truncated_file(tmp_path, keep):
    t = copy_table(DVS, tmp_path)
    _write_dv(t, _dv_blob(t)[:keep])
    err = expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)
    _assert_names_dv(err)


def test_dv_bad_magic_with_valid_framing(tmp_path):
    t = copy_table(DVS, tmp_path)
    data = bytes(range(40))
    _write_dv(t, b"\x01" + struct.pack(">i", 40) + data + struct.pack(">I", zlib.crc32(data)))
    err = expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)
    _assert_names_dv(err)


def _set_dv(t: Path, rows: list[int], cardinality: int) -> None:
    data = encode_bitmap(rows)
    _write_dv(t, b"\x01" + struct.pack(">i", len(data)) + data + struct.pack(">I", zlib.crc32(data)))
    edit_action(t, 2, "add", lambda a: {**a, "deletionVector": {**a["deletionVector"], "sizeInBytes": len(data),
                                                                 "cardinality": cardinality}})


def test_dv_rewritten_consistently_is_applied(tmp_path):
    t = copy_table(DVS, tmp_path)
    _set_dv(t, [0, 4], 2)
    assert DeltaTable(t).to_arrow().num_rows == 3


def test_dv_cardinality_mismatch(tmp_path):
    t = copy_table(DVS, tmp_path)
    _set_dv(t, [0, 1], 3)
    expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)


def test_dv_row_index_beyond_file(tmp_path):
    t = copy_table(DVS, tmp_path)
    _set_dv(t, [0, 1000], 2)
    expect_error(lambda: load_and_read(t), InvalidDeletionVectorError)


def test_dv_file_missing(tmp_path):
    t = copy_table(DVS, tmp_path)
    (t / DV_FILE).unlink()
    err = expect_error(lambda: load_and_read(t), DataFileNotFoundError)
    _assert_names_dv(err)


@pytest.mark.parametrize(
    "patch",
    [
        {"storageType": "x"},
        {"pathOrInlineDv": "short"},
        {"storageType": "p", "pathOrInlineDv": "/etc/passwd"},
        {"storageType": "p", "pathOrInlineDv": "../outside.bin"},
        {"storageType": "i", "pathOrInlineDv": "not z85 text", "offset": None},
    ],
    ids=["unknown-storage-type", "uuid-too-short", "absolute-outside-root", "relative-escape", "inline-not-z85"],
)
def test_dv_bad_descriptor(tmp_path, patch):
    t = copy_table(DVS, tmp_path)

    def change(a):
        dv = {**a["deletionVector"], **patch}
        return {**a, "deletionVector": {k: v for k, v in dv.items() if v is not None}}

    edit_action(t, 2, "add", change)
    expect_error(lambda: load_and_read(t), InvalidLogError)


# --- schema and partition values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema_string",
    [
        "{not json",
        "",
        '{"type": "struct"}',
        '{"type": "struct", "fields": [{"name": "letter", "type": "varchar"}]}',
        '{"type": "array", "elementType": "long"}',
        '{"type": "struct", "fields": [{"name": "letter"}]}',
    ],
)
def test_schema_string_that_does_not_parse(tmp_path, schema_string):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "metaData", lambda m: {**m, "schemaString": schema_string})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert "version 0" in str(err)


@pytest.mark.parametrize("fields", [
    '{"name":"letter","type":"string"},{"name":"letter","type":"long"}',
    '{"name":"letter","type":"string"},{"name":"s","type":{"type":"struct","fields":['
    '{"name":"x","type":"long"},{"name":"x","type":"long"}]}}',
])
def test_schema_with_a_repeated_column(tmp_path, fields):
    # Issue 18 item 13: a repeated name used to surface as a raw KeyError from deep inside the read.
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 0, "metaData", lambda m: {**m, "schemaString": '{"type":"struct","fields":[' + fields + ']}'})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert "appears twice" in str(err) and "version 0" in str(err)
    assert "_delta_log/00000000000000000000.json" in str(err)


def test_schema_with_out_of_range_decimal(tmp_path):
    # PROTOCOL.md: decimal precision can be up to 38. A log declaring decimal(50,2) is invalid and must fail
    # as a typed error, not as pyarrow's ValueError when the Arrow schema is built.
    t = copy_table(BASIC, tmp_path)
    schema = '{"type":"struct","fields":[{"name":"letter","type":"string","nullable":true,"metadata":{}},' \
             '{"name":"number","type":"decimal(50,2)","nullable":true,"metadata":{}}]}'
    edit_action(t, 0, "metaData", lambda m: {**m, "schemaString": schema})
    expect_error(lambda: DeltaTable(t).schema, InvalidLogError)
    expect_error(lambda: load_and_read(t), InvalidLogError)


@pytest.mark.parametrize(
    "column,value",
    [
        ("as_int", "abc"),
        ("as_long", "1.5"),
        ("as_boolean", "maybe"),
        ("as_date", "2021-13-45"),
        ("as_timestamp", "not a time"),
        ("as_float", "zero"),
        ("as_big_decimal", "x1"),
        # Parses as a number, but does not fit the column type (byte, decimal(1,0)):
        ("as_byte", "300"),
        ("as_big_decimal", "12"),
    ],
)
def test_partition_value_that_does_not_parse(tmp_path, column, value):
    t = copy_table(PARTS, tmp_path)
    edit_action(t, 0, "add", lambda a: {**a, "partitionValues": {**a["partitionValues"], column: value}})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert column in str(err)
    assert "version 0" in str(err)


def test_partition_values_intact_read(expected_rows):
    assert DeltaTable(TABLES / PARTS).to_arrow().num_rows == 3


# --- paths outside the table and missing files --------------------------------------------------------


def _first_add_path(t: Path, version: int) -> str:
    return next(a["add"]["path"] for a in read_actions(t, version) if "add" in a)


def _plant_outside(t: Path, tmp_path: Path) -> tuple[Path, str]:
    """Copy the data file of commit 1 to a directory beside the table; return it and its name."""
    name = _first_add_path(t, 1)
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(t / name, outside / name)
    return outside, name


@pytest.mark.parametrize("kind", ["relative-dotdot", "relative-nested-dotdot", "relative-encoded-dotdot",
                                  "absolute-file-uri", "absolute-posix", "absolute-dotdot"])
def test_add_path_escaping_the_root(tmp_path, kind):
    t = copy_table(BASIC, tmp_path)
    outside, name = _plant_outside(t, tmp_path)
    raw = {
        "relative-dotdot": f"../outside/{name}",
        "relative-nested-dotdot": f"sub/../../outside/{name}",
        "relative-encoded-dotdot": f"%2E%2E/outside/{name}",
        "absolute-file-uri": f"file://{outside}/{name}",
        "absolute-posix": f"{outside}/{name}",
        "absolute-dotdot": f"file://{t}/../outside/{name}",
    }[kind]
    edit_action(t, 1, "add", lambda a: {**a, "path": raw})
    err = expect_error(lambda: load_and_read(t), InvalidLogError)
    assert raw in str(err) or "outside" in str(err) or "escapes" in str(err)


@pytest.mark.parametrize("encoded", ["%2E%2E", ".%2e"])
def test_absolute_add_path_with_encoded_dotdot_is_refused(tmp_path, encoded):
    # `file://<root>/%2E%2E/outside/x.parquet` looks inside the root until it is percent-decoded; a reader
    # that decodes after the containment check reads a file outside the table.
    t = copy_table(BASIC, tmp_path)
    outside, name = _plant_outside(t, tmp_path)
    raw = f"file://{t}/{encoded}/outside/{name}"
    edit_action(t, 1, "add", lambda a: {**a, "path": raw})
    expect_error(lambda: load_and_read(t), InvalidLogError)


def test_absolute_add_path_inside_root_is_read(tmp_path, expected_rows):
    t = copy_table(BASIC, tmp_path)
    edit_action(t, 1, "add", lambda a: {**a, "path": f"file://{t}/{a['path']}"})
    assert rows_of(t) == expected_rows(BASIC)


def test_missing_data_file(tmp_path):
    t = copy_table(BASIC, tmp_path)
    name = _first_add_path(t, 1)
    (t / name).unlink()
    dt = DeltaTable(t)  # the log is fine; the read fails
    err = expect_error(dt.to_arrow, DataFileNotFoundError)
    assert name in str(err)
    assert err.path is not None and err.path.endswith(name)
    assert DeltaTable(t, version=0).to_arrow().num_rows == 3


@pytest.mark.parametrize("damage", [_garbage, _truncate, _empty], ids=lambda d: d.__name__.strip("_"))
def test_corrupt_data_file(tmp_path, damage):
    t = copy_table(BASIC, tmp_path)
    name = _first_add_path(t, 1)
    damage(t / name)
    err = expect_error(lambda: load_and_read(t), LakehouseError)
    assert name in str(err)


# --- locations that hold no table ---------------------------------------------------------------------


def test_empty_delta_log(tmp_path):
    (tmp_path / "t" / "_delta_log").mkdir(parents=True)
    expect_error(lambda: DeltaTable(tmp_path / "t"), TableNotFoundError)


def test_delta_log_with_only_junk(tmp_path):
    d = tmp_path / "t" / "_delta_log"
    d.mkdir(parents=True)
    (d / "_last_checkpoint").write_bytes(b'{"version": 3}')
    (d / "00000000000000000000.json.tmp").write_bytes(b"{}")
    (d / "00000000000000000000.crc").write_bytes(b"{}")
    expect_error(lambda: DeltaTable(tmp_path / "t"), TableNotFoundError)


def test_location_is_a_file(tmp_path):
    f = tmp_path / "file.parquet"
    f.write_bytes(b"PAR1")
    expect_error(lambda: DeltaTable(f), LakehouseError)


def test_all_commits_removed_but_data_left(tmp_path):
    t = copy_table(BASIC, tmp_path)
    for p in (t / "_delta_log").iterdir():
        os.remove(p)
    expect_error(lambda: DeltaTable(t), TableNotFoundError)
