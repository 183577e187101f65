"""Partitioned writes: partition value serialization, Hive directory names (with escaping), null and
special values, read back identically by lakehouse, deltalake and polars (delta-rs based)."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import unquote

import deltalake
import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from tests.support.log import actions_of
from tests.support.rows import Versions, assert_rows, concat, dl_read

UTC = timezone.utc


def _data_files(path: str) -> set[str]:
    out = set()
    for dirpath, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for n in names:
            if n.endswith(".parquet"):
                out.add(str((Path(dirpath) / n).relative_to(path)))
    return out


def _check_log_paths_match_disk(path: str, version: int) -> list[str]:
    adds = actions_of(path, version, "add")
    disk = _data_files(path)
    for a in adds:
        assert unquote(a["path"]) in disk, f"add.path {a['path']!r} does not decode to a file on disk"
    return [os.path.dirname(unquote(a["path"])) for a in adds]


def _polars_rows(path: str, version: int | None = None) -> pa.Table:
    return pl.read_delta(path, version=version).to_arrow()


CASES = {
    "string": (pa.string(), ["a", "b", "a", None]),
    "int": (pa.int32(), [1, -2, 1, None]),
    "long": (pa.int64(), [2**40, 0, 2**40, None]),
    "date": (pa.date32(), [date(2024, 1, 31), date(1969, 12, 31), date(2024, 1, 31), None]),
    "timestamp": (pa.timestamp("us", tz="UTC"), [
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), None]),
    "bool": (pa.bool_(), [True, False, True, None]),
    "double": (pa.float64(), [1.5, -0.25, 1.5, None]),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_partition_types_round_trip(table_path, kind):
    typ, values = CASES[kind]
    t = pa.table({"p": pa.array(values, typ), "v": pa.array([1, 2, 3, 4], pa.int64())})
    v = Versions(table_path)
    r = lakehouse.write_delta(table_path, t, partition_by=["p"])
    assert r.num_added_files == 3  # two distinct values and null
    v[0] = t
    more = pa.table({"p": pa.array(values[1:2] + [None], typ), "v": pa.array([5, 6], pa.int64())})
    lakehouse.write_delta(table_path, more, mode="append")
    v[1] = concat(t, more)
    v.check()
    dirs = _check_log_paths_match_disk(table_path, 0)
    assert "p=__HIVE_DEFAULT_PARTITION__" in dirs
    nulls = [a for a in actions_of(table_path, 0, "add") if a["partitionValues"]["p"] is None]
    assert len(nulls) == 1
    assert_rows(_polars_rows(table_path), v[1], "polars")
    assert lakehouse.DeltaTable(table_path).schema.field("p").type == typ
    assert deltalake.DeltaTable(table_path).metadata().partition_columns == ["p"]
    # deltalake's partition listing sees the same values.
    parts = deltalake.DeltaTable(table_path).partitions()
    assert len(parts) == 3


def test_partition_value_serialization_in_log(table_path):
    t = pa.table({
        "d": pa.array([date(2024, 1, 31)], pa.date32()),
        "ts": pa.array([datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "b": [True], "i": pa.array([-7], pa.int32()), "v": [1],
    })
    lakehouse.write_delta(table_path, t, partition_by=["d", "ts", "b", "i"])
    (add,) = actions_of(table_path, 0, "add")
    pv = add["partitionValues"]
    assert pv["d"] == "2024-01-31"
    assert pv["b"] == "true"
    assert pv["i"] == "-7"
    parsed = datetime.fromisoformat(pv["ts"].replace("Z", "+00:00"))
    assert parsed == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert unquote(add["path"]).startswith("d=2024-01-31/ts=2024-01-02T03%3A04%3A05.123456Z/b=true/i=-7/")
    v = Versions(table_path)
    v[0] = t
    v.check()
    assert_rows(_polars_rows(table_path), t, "polars")


SPECIAL = [
    ("a b", "p=a b"),
    ("a/b", "p=a%2Fb"),
    ("a=b", "p=a%3Db"),
    ("50%", "p=50%25"),
    ("x:y", "p=x%3Ay"),
    ("ünï€日本", "p=ünï€日本"),
    ("q?#*", "p=q%3F%23%2A"),
    ("%2F", "p=%252F"),
    ("__HIVE_DEFAULT_PARTITION__x", "p=__HIVE_DEFAULT_PARTITION__x"),
    (" lead", "p= lead"),
]


def test_special_characters_in_partition_values(table_path):
    values = [s for s, _ in SPECIAL] + [None]
    t = pa.table({"p": values, "v": pa.array(range(len(values)), pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by="p")
    dirs = set(_check_log_paths_match_disk(table_path, 0))
    for value, d in SPECIAL:
        assert d in dirs, f"value {value!r}: expected directory {d!r}, have {sorted(dirs)}"
    assert "p=__HIVE_DEFAULT_PARTITION__" in dirs
    by_value = {a["partitionValues"]["p"]: a for a in actions_of(table_path, 0, "add")}
    assert set(by_value) == set(values)
    v = Versions(table_path)
    v[0] = t
    more = pa.table({"p": ["a/b", "a b", "new/dir=x"], "v": pa.array([100, 101, 102], pa.int64())})
    lakehouse.write_delta(table_path, more, mode="append")
    v[1] = concat(t, more)
    v.check()
    assert_rows(_polars_rows(table_path), v[1], "polars")
    # Filtered reads by partition value in deltalake (partition pruning on the escaped values).
    for value, _ in SPECIAL:
        got = dl_read(table_path, filters=[("p", "=", value)])
        assert_rows(got, v[1].filter(pa.compute.field("p") == value), f"deltalake filter p={value!r}")


def test_special_characters_in_partition_column_name(table_path):
    t = pa.table({"my col=x/y": ["a", None, "b"], "v": pa.array([1, 2, 3], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["my col=x/y"])
    dirs = set(_check_log_paths_match_disk(table_path, 0))
    assert "my col%3Dx%2Fy=a" in dirs
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_empty_string_partition_value_is_null(table_path):
    """Delta stores an empty string partition value as null (Spark does the same)."""
    t = pa.table({"p": ["", "x"], "v": pa.array([1, 2], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    pvs = sorted((a["partitionValues"]["p"] or "") for a in actions_of(table_path, 0, "add"))
    assert pvs == ["", "x"]
    expected = pa.table({"p": [None, "x"], "v": pa.array([1, 2], pa.int64())})
    v = Versions(table_path)
    v[0] = expected
    v.check()


def test_multi_column_partitions_with_nulls(table_path):
    t = pa.table({
        "year": pa.array([2023, 2023, 2024, None, None], pa.int32()),
        "region": ["eu", None, "us", "eu", None],
        "amount": pa.array([1.0, 2.0, 3.0, 4.0, 5.0]),
    })
    r = lakehouse.write_delta(table_path, t, partition_by=["year", "region"])
    assert r.num_added_files == 5
    dirs = set(_check_log_paths_match_disk(table_path, 0))
    assert "year=2023/region=eu" in dirs
    assert "year=2023/region=__HIVE_DEFAULT_PARTITION__" in dirs
    assert "year=__HIVE_DEFAULT_PARTITION__/region=__HIVE_DEFAULT_PARTITION__" in dirs
    v = Versions(table_path)
    v[0] = t
    v.check()
    assert_rows(_polars_rows(table_path), t, "polars")
    got = dl_read(table_path, filters=[("year", "=", 2023)])
    assert_rows(got, t.filter(pa.compute.field("year") == 2023), "deltalake year=2023")


def test_timestamp_ntz_partition(table_path):
    t = pa.table({"p": pa.array([datetime(2024, 5, 6, 7, 8, 9, 10), None], pa.timestamp("us")),
                  "v": pa.array([1, 2], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    proto = lakehouse.DeltaTable(table_path).protocol
    assert "timestampNtz" in (proto.writer_features or ())
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_many_partitions_one_batch(table_path):
    n = 300
    t = pa.table({"p": pa.array([i % 50 for i in range(n)], pa.int64()), "v": pa.array(range(n), pa.int64())})
    r = lakehouse.write_delta(table_path, t, partition_by=["p"])
    assert r.num_added_files == 50
    v = Versions(table_path)
    v[0] = t
    v.check()
    for a in actions_of(table_path, 0, "add"):
        import json
        stats = json.loads(a["stats"])
        assert stats["numRecords"] == 6
        assert "p" not in stats["minValues"]


@pytest.mark.parametrize("typ, tz", [("timestamp", "UTC"), ("timestamp_ntz", None)])
def test_timestamp_partition_before_year_1000(table_path, typ, tz):
    """Partition values are ISO-8601 with a 4-digit year (Spark: `0999-01-02 03:04:05`); a table with
    such values must stay readable by lakehouse itself."""
    vals = [datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC if tz else None), datetime(1, 1, 1, tzinfo=UTC if tz else None),
            datetime(2024, 1, 1, tzinfo=UTC if tz else None)]
    t = pa.table({"p": pa.array(vals, pa.timestamp("us", tz=tz)), "v": pa.array([1, 2, 3], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    for a in actions_of(table_path, 0, "add"):
        raw = a["partitionValues"]["p"]
        assert raw[:4].isdigit() and raw[4] == "-", f"partition value {raw!r} has no 4-digit year"
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_float_special_partition_values(table_path):
    t = pa.table({"f": pa.array([float("nan"), float("inf"), float("-inf"), 1e20, -0.0, 1e-7, None]),
                  "v": pa.array(range(7), pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["f"])
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_decimal_and_small_int_partitions(table_path):
    from decimal import Decimal

    t = pa.table({"d": pa.array([Decimal("1.50"), Decimal("0.01"), None], pa.decimal128(5, 2)),
                  "i8": pa.array([1, -1, None], pa.int8()), "i16": pa.array([300, -300, None], pa.int16()),
                  "v": pa.array([1, 2, 3], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["d", "i8", "i16"])
    pvs = sorted(str(a["partitionValues"]) for a in actions_of(table_path, 0, "add"))
    assert "{'d': '1.50', 'i8': '1', 'i16': '300'}" in pvs
    v = Versions(table_path)
    v[0] = t
    v.check()


def test_negative_decimal_partition_lakehouse_only(table_path):
    """(deltalake 1.6 cannot parse negative decimal partition values, not even its own: lakehouse only.)"""
    from decimal import Decimal

    t = pa.table({"d": pa.array([Decimal("-0.01"), Decimal("-10.25")], pa.decimal128(5, 2)), "v": pa.array([1, 2], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["d"])
    assert sorted(a["partitionValues"]["d"] for a in actions_of(table_path, 0, "add")) == ["-0.01", "-10.25"]
    v = Versions(table_path, use_deltalake=False)
    v[0] = t
    v.check()


def test_binary_partition_values(table_path):
    """Binary partition values that are not UTF-8 either round-trip or are refused with a lakehouse
    error, never a raw UnicodeDecodeError."""
    from lakehouse.errors import LakehouseError

    t = pa.table({"b": pa.array([b"ok", b"\xff\x00"], pa.binary()), "v": pa.array([1, 2], pa.int64())})
    try:
        lakehouse.write_delta(table_path, t, partition_by=["b"])
    except LakehouseError:
        return
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), t)


def test_random_string_partition_values_round_trip(tmp_path):
    """Property: any (non-empty) string partition value, NUL and control characters included, survives
    the write, the escaped directory name and the URI-encoded add.path, for lakehouse and deltalake."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    alphabet = st.characters(blacklist_categories=("Cs",))  # NUL and control characters included
    counter = iter(range(10**6))

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.text(alphabet, min_size=1, max_size=12), min_size=1, max_size=4))
    def check(values):
        path = str(tmp_path / f"t{next(counter)}")
        os.mkdir(path)
        t = pa.table({"p": values, "v": pa.array(range(len(values)), pa.int64())})
        lakehouse.write_delta(path, t, partition_by=["p"])
        _check_log_paths_match_disk(path, 0)
        assert_rows(lakehouse.DeltaTable(path).to_arrow(), t, "lakehouse")
        assert_rows(dl_read(path), t, "deltalake")

    check()
