"""Partition values are data: values that compare equal but differ (0.0 and -0.0), NaN, infinities, NUL
and other control characters, path-special characters and binary values are written to their own
partitions, read back exactly (bit for bit where floats are concerned) by lakehouse and deltalake, and
read exactly from tables deltalake wrote. DELETE on such values selects exactly the rows Spark's SQL
semantics select."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from pathlib import Path
from urllib.parse import unquote

import deltalake
import numpy as np
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from tests.support.log import actions_of, log_state
from tests.support.rows import assert_rows, dl_read, dl_sql_read

NAN_OTHER_PAYLOAD = np.array([0x7FF8_0000_0000_0001], dtype=np.uint64).view(np.float64)[0]
FLOATS = [0.0, -0.0, float("nan"), float(NAN_OTHER_PAYLOAD), float("inf"), float("-inf"), None, 1e20, 1e-7, 0.1,
          -0.0, 0.0, float("nan")]
# What Spark (Java's Double.toString / Float.toString) writes for each distinct value.
JAVA_TEXT = {"double": {"0.0", "-0.0", "NaN", "Infinity", "-Infinity", None, "1.0E20", "1.0E-7", "0.1"},
             "float": {"0.0", "-0.0", "NaN", "Infinity", "-Infinity", None, "1.0E20", "1.0E-7", "0.1"}}
FLOAT_TYPES = {"double": pa.float64(), "float": pa.float32()}


def _float_key(value: float | None, typ: pa.DataType) -> object:
    """A value as data: its bit pattern (the sign of zero included), every NaN as one, null as None."""
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    return struct.pack("<d", value) if typ == pa.float64() else struct.pack("<f", value)


def _exact_rows(table: pa.Table, column: str) -> list[tuple[int, object]]:
    typ = table.schema.field(column).type
    return sorted((r["v"], _float_key(r[column], typ)) for r in table.to_pylist())


def _float_table(typ: pa.DataType) -> pa.Table:
    return pa.table({"f": pa.array(FLOATS, pa.float64()).cast(typ), "v": pa.array(range(len(FLOATS)), pa.int64())})


def _readers(path: str) -> dict[str, pa.Table]:
    return {"lakehouse": lakehouse.DeltaTable(path).to_arrow(), "deltalake": dl_read(path),
            "deltalake sql": dl_sql_read(path)}


@pytest.mark.parametrize("kind", sorted(FLOAT_TYPES))
def test_float_partition_values_keep_sign_of_zero_and_nan(table_path, kind):
    typ = FLOAT_TYPES[kind]
    t = _float_table(typ)
    # Two batches: a later batch's -0.0 and NaN rows join the files the first batch opened.
    batches = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=7))
    r = lakehouse.write_delta(table_path, batches, partition_by=["f"])
    adds = actions_of(table_path, 0, "add")
    texts = [a["partitionValues"]["f"] for a in adds]
    assert sorted(texts, key=str) == sorted(JAVA_TEXT[kind], key=str), texts
    assert r.num_added_files == len(JAVA_TEXT[kind])  # one file per partition, NaN and -0.0 included
    dirs = {os.path.dirname(unquote(a["path"])) for a in adds}
    assert {"f=0.0", "f=-0.0", "f=NaN", "f=Infinity", "f=-Infinity", "f=__HIVE_DEFAULT_PARTITION__"} <= dirs
    want = _exact_rows(t, "f")
    for name, got in _readers(table_path).items():
        assert got.schema.field("f").type == typ, name
        assert _exact_rows(got, "f") == want, f"{name} read different values"


@pytest.mark.parametrize("kind", sorted(FLOAT_TYPES))
def test_float_partitions_written_by_deltalake_read_exactly(table_path, kind):
    """delta-rs writes Rust's text (`-0`, `inf`, `100000000000000000000`): read as the same values."""
    t = _float_table(FLOAT_TYPES[kind])
    deltalake.write_deltalake(table_path, t, partition_by=["f"])
    assert "-0" in {a["partitionValues"]["f"] for a in actions_of(table_path, 0, "add")}
    assert _exact_rows(lakehouse.DeltaTable(table_path).to_arrow(), "f") == _exact_rows(t, "f")
    # And lakehouse appends to the same partitions' values without merging 0.0 and -0.0.
    lakehouse.write_delta(table_path, t, mode="append")
    assert _exact_rows(lakehouse.DeltaTable(table_path).to_arrow(), "f") == sorted(_exact_rows(t, "f") * 2)
    assert _exact_rows(dl_sql_read(table_path), "f") == sorted(_exact_rows(t, "f") * 2)


def test_multi_column_partitions_with_signed_zero(table_path):
    t = pa.table({"f": [0.0, -0.0, 0.0, -0.0], "s": ["a", "a", "b", "b"], "v": pa.array(range(4), pa.int64())})
    r = lakehouse.write_delta(table_path, t, partition_by=["s", "f"])
    assert r.num_added_files == 4
    for name, got in _readers(table_path).items():
        assert _exact_rows(got, "f") == _exact_rows(t, "f"), name


def test_optimize_keeps_signed_zero_partitions_apart(table_path):
    t = pa.table({"f": [0.0, -0.0, float("nan")], "v": pa.array([0, 1, 2], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["f"])
    lakehouse.write_delta(table_path, t.set_column(1, "v", pa.array([3, 4, 5], pa.int64())), mode="append")
    lakehouse.DeltaTable(table_path).optimize.compact()
    assert len(lakehouse.DeltaTable(table_path).files()) == 3
    want = [(0, _float_key(0.0, pa.float64())), (1, _float_key(-0.0, pa.float64())), (2, "NaN"),
            (3, _float_key(0.0, pa.float64())), (4, _float_key(-0.0, pa.float64())), (5, "NaN")]
    for name, got in _readers(table_path).items():
        assert _exact_rows(got, "f") == want, name


# Strings with NUL, control characters and path-special characters: (value, escaped directory value).
STRINGS = [
    ("a\x00b", "a%00b"), ("\x00", "%00"), ("\x01\x1f\x7f", "%01%1F%7F"), ("\t\n\r", "%09%0A%0D"),
    ("a/b", "a%2Fb"), ("=", "%3D"), ("%", "%25"), ("%00", "%2500"), (":", "%3A"), ("#", "%23"),
    ("{[]^}`~<>|\\\"'*?", "%7B%5B%5D%5E}`~<>|%5C%22%27%2A%3F"), ("ünï€日本", "ünï€日本"), (" ", " "),
    ("..", ".."), ("__HIVE_DEFAULT_PARTITION__", "__HIVE_DEFAULT_PARTITION__"),
]


def test_nul_control_and_special_string_partition_values(table_path):
    values = [s for s, _ in STRINGS] + ["", None]
    t = pa.table({"s": values, "v": pa.array(range(len(values)), pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["s"])
    adds = actions_of(table_path, 0, "add")
    by_value = {a["partitionValues"]["s"]: unquote(a["path"]).split("/")[0] for a in adds}
    for value, escaped in STRINGS:
        assert by_value[value] == f"s={escaped}", f"{value!r}: directory {by_value[value]!r}"
    # '' is null in Delta (as in Spark): it joins the null partition, one file for both.
    assert by_value[None] == "s=__HIVE_DEFAULT_PARTITION__" and len(adds) == len(STRINGS) + 1
    for a in adds:
        assert (Path(table_path) / unquote(a["path"])).is_file(), a["path"]
    expected = t.set_column(0, "s", pa.array([s for s, _ in STRINGS] + [None, None]))
    more = pa.table({"s": ["a\x00b", "\x00"], "v": pa.array([100, 101], pa.int64())})
    lakehouse.write_delta(table_path, more, mode="append")
    expected = pa.concat_tables([expected, more])
    for name, got in _readers(table_path).items():
        assert_rows(got, expected, name)


def test_string_partitions_written_by_deltalake_read_exactly(table_path):
    """delta-rs percent-encodes more (space, non-ASCII, `}`...) in its directory names; the values in
    the log are what matter. (delta-rs writes the string '__HIVE_DEFAULT_PARTITION__' as a null
    partition value, losing it, so that value is left out here.)"""
    values = [s for s, _ in STRINGS if s != "__HIVE_DEFAULT_PARTITION__"] + [None]
    t = pa.table({"s": values, "v": pa.array(range(len(values)), pa.int64())})
    deltalake.write_deltalake(table_path, t, partition_by=["s"])
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), t, "lakehouse")
    lakehouse.write_delta(table_path, t, mode="append")
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), pa.concat_tables([t, t]), "lakehouse")
    assert_rows(dl_sql_read(table_path), pa.concat_tables([t, t]), "deltalake")


def test_binary_partition_values_with_nul(table_path):
    values = [b"\x00", b"a\x00b", b"ok", "ü".encode(), b"\x01/=%", b"", None]
    t = pa.table({"b": pa.array(values, pa.binary()), "v": pa.array(range(len(values)), pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["b"])
    pvs = {a["partitionValues"]["b"] for a in actions_of(table_path, 0, "add")}
    assert pvs == {"\x00", "a\x00b", "ok", "ü", "\x01/=%", None}  # the UTF-8 text, as Spark writes it
    expected = t.set_column(0, "b", pa.array(values[:-2] + [None, None], pa.binary()))  # b'' is null
    for name, got in _readers(table_path).items():
        assert_rows(got, expected, name)


def test_non_utf8_binary_partition_value_is_refused_and_changes_nothing(table_path):
    lakehouse.write_delta(table_path, pa.table({"b": pa.array([b"x"]), "v": pa.array([1], pa.int64())}),
                          partition_by=["b"])
    before = log_state(table_path)
    bad = pa.table({"b": pa.array([b"y", b"\xff\x00"]), "v": pa.array([2, 3], pa.int64())})
    with pytest.raises(InvalidArgumentError, match=r"binary partition value b'\\xff\\x00' of column 'b'"):
        lakehouse.write_delta(table_path, bad, mode="append")
    assert log_state(table_path) == before
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), {"b": [b"x"], "v": pa.array([1], pa.int64())})


def test_binary_partitions_written_by_deltalake(table_path):
    """delta-rs writes a binary partition value as `\\u00XX` escape text per byte and reads that text
    back as the bytes of the text; lakehouse reads it the same way (the string's UTF-8 bytes, as
    Spark and delta-kernel-rs do), so both engines return the same rows."""
    t = pa.table({"b": pa.array([b"\x00", b"ok", None]), "v": pa.array([0, 1, 2], pa.int64())})
    deltalake.write_deltalake(table_path, t, partition_by=["b"])
    assert "\\u0000" in {a["partitionValues"]["b"] for a in actions_of(table_path, 0, "add")}
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), dl_sql_read(table_path), "lakehouse vs deltalake")


def _delete_copies(base: str, tmp: Path, predicate: str) -> list[int]:
    path = str(tmp / f"copy{abs(hash(predicate))}")
    shutil.copytree(base, path)
    lakehouse.DeltaTable(path).delete(predicate)
    left = lakehouse.DeltaTable(path).to_arrow()
    assert_rows(left, dl_sql_read(path), f"deltalake reads lakehouse's DELETE {predicate!r}")
    return sorted(left.column("v").to_pylist())


def test_delete_on_float_partition_values_follows_spark(tmp_path):
    """Spark's SQL: -0.0 = 0.0, NaN = NaN and NaN is above every number. (delta-rs compares partition
    values in IEEE total order instead: its `f = -0.0` keeps the 0.0 rows, its `f <> 0.0` deletes -0.0.)"""
    base = str(tmp_path / "base")
    values = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), None, 1.5]
    t = pa.table({"f": values, "v": pa.array(range(len(values)), pa.int64())})
    lakehouse.write_delta(base, t, partition_by=["f"])
    cases = {
        "f = -0.0": [2, 3, 4, 5, 6], "f = 0.0": [2, 3, 4, 5, 6], "f <> 0.0": [0, 1, 5],
        "f IN (-0.0)": [2, 3, 4, 5, 6], "f < 0": [0, 1, 2, 3, 5, 6], "f > 0": [0, 1, 4, 5],
        "f = 'NaN'": [0, 1, 3, 4, 5, 6], "f = 'Infinity'": [0, 1, 2, 4, 5, 6], "f IS NULL": [0, 1, 2, 3, 4, 6],
    }
    for predicate, survivors in cases.items():
        assert _delete_copies(base, tmp_path, predicate) == survivors, predicate


def test_delete_on_nul_and_special_string_partitions_matches_deltalake(tmp_path):
    base = str(tmp_path / "base")
    values = ["a\x00b", "\x00", "a/b", "%", "%00", "ü", None, "", "x'y"]
    t = pa.table({"s": values, "v": pa.array(range(len(values)), pa.int64())})
    lakehouse.write_delta(base, t, partition_by=["s"])
    for predicate in ["s = 'a\x00b'", "s = '\x00'", "s = 'a/b'", "s = '%00'", "s = 'ü'", "s IS NULL",
                      "s = 'x''y'", "s <> 'a\x00b'", "s IN ('\x00', '%')"]:
        mine = _delete_copies(base, tmp_path, predicate)
        path = str(tmp_path / f"dl{abs(hash(predicate))}")
        shutil.copytree(base, path)
        deltalake.DeltaTable(path).delete(predicate)
        theirs = sorted(lakehouse.DeltaTable(path).to_arrow().column("v").to_pylist())
        assert mine == theirs, predicate
        # A filtered read returns exactly the rows the DELETE removed.
        got = lakehouse.DeltaTable(base).to_arrow(filter=predicate).column("v").to_pylist()
        assert sorted(got) == sorted(set(range(len(values))) - set(mine)), predicate


def test_partition_log_values_are_raw_and_json_escaped(table_path):
    lakehouse.write_delta(table_path, pa.table({"s": ["a\x00b"], "v": pa.array([1], pa.int64())}), partition_by="s")
    raw = next(line for line in (Path(table_path) / "_delta_log" / "00000000000000000000.json").read_text().splitlines()
               if line.startswith('{"add"'))
    assert '"s":"a\\u0000b"' in raw  # JSON's escape of the raw NUL, not the path escape
    assert json.loads(raw)["add"]["partitionValues"] == {"s": "a\x00b"}


# Dates/timestamps outside Python's datetime range (years after 9999 and before 1), as Arrow integers.
DAY = 86_400_000_000
TEMPORAL = {
    "date": (pa.date32(), pa.int32(), [2_932_897 + 1, -719_163, 2_932_896, -719_162, 0, None],
             ["+10000-01-02", "0000-12-31", "9999-12-31", "0001-01-01", "1970-01-01", None]),
    "timestamp": (pa.timestamp("us", tz="UTC"), pa.int64(),
                  [253_402_300_800_000_000 + 1, -719_163 * DAY + 5, 253_402_300_799_999_999, 0, None],
                  ["+10000-01-01T00:00:00.000001Z", "0000-12-31T00:00:00.000005Z", "9999-12-31T23:59:59.999999Z",
                   "1970-01-01T00:00:00.000000Z", None]),
    "timestamp_ntz": (pa.timestamp("us"), pa.int64(), [253_402_300_800_000_000, -719_163 * DAY, 1, None],
                      ["+10000-01-01 00:00:00.000000", "0000-12-31 00:00:00.000000", "1970-01-01 00:00:00.000001",
                       None]),
}


def _temporal_rows(table: pa.Table, storage: pa.DataType) -> list[tuple[int, int | None]]:
    return sorted(zip(table.column("v").to_pylist(), table.column("p").cast(storage).to_pylist()),
                  key=lambda r: r[0])


@pytest.mark.parametrize("kind", sorted(TEMPORAL))
def test_dates_and_timestamps_of_any_year_as_partition_values(tmp_path, kind):
    """Written in ISO 8601 expanded form (as Spark and delta-rs do), read back exactly, by deltalake too;
    a DELETE evaluating every partition value works on them."""
    typ, storage, ints, texts = TEMPORAL[kind]
    t = pa.table({"p": pa.array(ints, storage).cast(typ), "v": pa.array(range(len(ints)), pa.int64())})
    mine = str(tmp_path / "lakehouse")
    lakehouse.write_delta(mine, t, partition_by=["p"])
    assert sorted(a["partitionValues"]["p"] or "" for a in actions_of(mine, 0, "add")) == sorted(x or "" for x in texts)
    want = _temporal_rows(t, storage)
    # (deltalake's pyarrow reader parses partition values with Python's datetime and fails on these;
    # its DataFusion engine reads them.)
    for name, got in {"lakehouse": lakehouse.DeltaTable(mine).to_arrow(), "deltalake sql": dl_sql_read(mine)}.items():
        assert _temporal_rows(got, storage) == want, name
    theirs = str(tmp_path / "deltalake")
    deltalake.write_deltalake(theirs, t, partition_by=["p"])
    assert _temporal_rows(lakehouse.DeltaTable(theirs).to_arrow(), storage) == want
    lakehouse.DeltaTable(mine).delete("p IS NULL")
    assert _temporal_rows(lakehouse.DeltaTable(mine).to_arrow(), storage) == [r for r in want if r[1] is not None]
    assert _temporal_rows(dl_sql_read(mine), storage) == [r for r in want if r[1] is not None]


def test_random_float_partition_values_round_trip_bit_exact(tmp_path):
    """Property: any list of doubles or floats (zeros of both signs, NaN, infinities, subnormals, nulls)
    used as partition values reads back bit for bit (every NaN as NaN) in lakehouse and deltalake."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    counter = iter(range(10**6))

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(sorted(FLOAT_TYPES)), st.data())
    def check(kind, data):
        width = 64 if kind == "double" else 32
        values = data.draw(st.lists(st.one_of(st.none(), st.floats(width=width), st.sampled_from([0.0, -0.0])),
                                    min_size=1, max_size=6))
        path = str(tmp_path / f"t{next(counter)}")
        t = pa.table({"f": pa.array(values, FLOAT_TYPES[kind]), "v": pa.array(range(len(values)), pa.int64())})
        lakehouse.write_delta(path, t, partition_by=["f"])
        assert _exact_rows(lakehouse.DeltaTable(path).to_arrow(), "f") == _exact_rows(t, "f")
        assert _exact_rows(dl_read(path), "f") == _exact_rows(t, "f")

    check()
