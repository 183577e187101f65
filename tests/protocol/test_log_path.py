"""Unit tests of `lakehouse.protocol.log_path.classify` (PROTOCOL.md "Delta Log Entries", "Checkpoints")."""

from __future__ import annotations

import pytest

from lakehouse.protocol.log_path import classic_checkpoint_name, classify, commit_name

UUID = "3a0d65cd-4056-49b8-937b-95f9e3ee90e5"


def test_commit():
    f = classify("00000000000000000012.json", size=5, mtime_ms=9)
    assert (f.kind, f.version, f.size, f.mtime_ms) == ("commit", 12, 5, 9)
    assert commit_name(12) == "00000000000000000012.json"


def test_classic_checkpoint():
    f = classify("00000000000000000010.checkpoint.parquet")
    assert (f.kind, f.version, f.part, f.num_parts, f.fmt) == ("checkpoint", 10, 1, 1, "parquet")
    assert f.checkpoint_id == "classic"
    assert classic_checkpoint_name(10) == "00000000000000000010.checkpoint.parquet"


def test_multi_part_checkpoint():
    a = classify("00000000000000000010.checkpoint.0000000001.0000000003.parquet")
    b = classify("00000000000000000010.checkpoint.0000000003.0000000003.parquet")
    assert (a.kind, a.version, a.part, a.num_parts, a.fmt) == ("checkpoint", 10, 1, 3, "parquet")
    assert (b.part, b.num_parts) == (3, 3)
    assert a.checkpoint_id == b.checkpoint_id != "classic"


@pytest.mark.parametrize(
    "name", ["00000000000000000010.checkpoint.0000000000.0000000003.parquet",
             "00000000000000000010.checkpoint.0000000004.0000000003.parquet"]
)
def test_multi_part_with_impossible_part_number_is_other(name):
    assert classify(name).kind == "other"


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_uuid_checkpoint(fmt):
    f = classify(f"00000000000000000002.checkpoint.{UUID}.{fmt}")
    assert (f.kind, f.version, f.fmt, f.num_parts) == ("checkpoint", 2, fmt, 1)
    assert UUID in f.checkpoint_id
    other = classify(f"00000000000000000002.checkpoint.{UUID.replace('3', '4')}.{fmt}")
    assert other.checkpoint_id != f.checkpoint_id


def test_compacted():
    f = classify("00000000000000000004.00000000000000000006.compacted.json")
    assert (f.kind, f.version, f.end_version) == ("compacted", 4, 6)


@pytest.mark.parametrize(
    "name", ["00000000000000000006.00000000000000000004.compacted.json",
             "00000000000000000004.00000000000000000004.compacted.json"]
)
def test_compacted_with_end_not_after_start_is_other(name):
    assert classify(name).kind == "other"


def test_crc():
    f = classify("00000000000000000003.crc")
    assert (f.kind, f.version) == ("crc", 3)


@pytest.mark.parametrize(
    "name",
    [
        "_last_checkpoint",
        "_last_vacuum_info",
        ".00000000000000000003.json.crc",
        ".00000000000000000003.json.tmp",
        "00000000000000000003.json.tmp",
        ".00000000000000000003.json.3f2a.tmp",
        "_commit_3f2a.json.tmp",
        "_staged_commits",
        "00000000000000000003.json.crc",
        "3.json",
        "0000000000000000003.json",  # 19 digits
        "000000000000000000003.json",  # 21 digits
        "00000000000000000003.JSON",
        "00000000000000000003.checkpoint.parquet.crc",
        "00000000000000000003.checkpoint.parquet.tmp",
        "00000000000000000003.checkpoint.avro",
        "00000000000000000003.checkpoint.not-a-uuid.json",
        "00000000000000000003.checkpoint.0000000001.parquet",
        "abcdefghijklmnopqrst.json",
        "",
        "README",
    ],
)
def test_junk_and_temp_files_are_other(name):
    f = classify(name)
    assert f.kind == "other"
    assert f.version == -1
