"""Schema enforcement and evolution on write: unknown columns, wrong types, implicit widening,
schema_mode="merge" (top-level and nested), schema_mode="overwrite", missing columns, NOT NULL."""

from __future__ import annotations

import json
from pathlib import Path
from datetime import datetime, timezone

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError, SchemaMismatchError
from tests.support.log import actions_of, log_state
from tests.support.rows import Versions, assert_rows, concat

BASE = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", None]})


def _schema_json(path: str, version: int) -> dict:
    (meta,) = actions_of(path, version, "metaData")
    return json.loads(meta["schemaString"])


def _refused(path: str, data: pa.Table, exc: type, *words: str, **kwargs) -> str:
    before = log_state(path)
    with pytest.raises(exc) as e:
        lakehouse.write_delta(path, data, mode=kwargs.pop("mode", "append"), **kwargs)
    assert log_state(path) == before, "a refused write changed the log"
    msg = str(e.value)
    for w in words:
        assert w in msg, f"{w!r} not in error message {msg!r}"
    return msg


def test_unknown_column_is_refused_naming_it(table_path):
    lakehouse.write_delta(table_path, BASE)
    bad = BASE.append_column("extra_col", pa.array([1.0, 2.0]))
    _refused(table_path, bad, SchemaMismatchError, "extra_col")
    _refused(table_path, bad, SchemaMismatchError, "extra_col", mode="overwrite")
    v = Versions(table_path)
    v[0] = BASE
    v.check()


def test_wrong_type_is_refused_naming_column(table_path):
    lakehouse.write_delta(table_path, BASE)
    _refused(table_path, pa.table({"id": ["x", "y"], "name": ["a", "b"]}), SchemaMismatchError, "id")
    _refused(table_path, pa.table({"id": pa.array([1.5], pa.float64()), "name": ["a"]}), SchemaMismatchError, "id")
    _refused(table_path, pa.table({"id": pa.array([1], pa.int64()), "name": pa.array([1], pa.int64())}),
             SchemaMismatchError, "name")
    v = Versions(table_path)
    v[0] = BASE
    v.check()


def test_nested_wrong_type_is_refused_naming_path(table_path):
    t = pa.table({"id": [1], "s": pa.array([{"a": 1, "b": "x"}])})
    lakehouse.write_delta(table_path, t)
    bad = pa.table({"id": [2], "s": pa.array([{"a": "text", "b": "y"}])})
    _refused(table_path, bad, SchemaMismatchError, "s.a")
    bad2 = pa.table({"id": [2], "s": pa.array([{"a": 1, "zz": "y"}])})
    _refused(table_path, bad2, SchemaMismatchError, "s.zz")


def test_narrower_ints_are_widened(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, BASE)
    v[0] = BASE
    for i, typ in enumerate([pa.int32(), pa.int16(), pa.int8()], start=1):
        lakehouse.write_delta(table_path, pa.table({"id": pa.array([10 * i], typ), "name": ["w"]}), mode="append")
        v[i] = concat(v[i - 1], pa.table({"id": pa.array([10 * i], pa.int64()), "name": ["w"]}))
    v.check()
    assert lakehouse.DeltaTable(table_path).schema.field("id").type == pa.int64()
    assert _schema_json(table_path, 0)["fields"][0]["type"] == "long"
    assert lakehouse.DeltaTable(table_path).version == 3
    for ver in (1, 2, 3):
        assert actions_of(table_path, ver, "metaData") == []


def test_merge_adds_top_level_column(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, BASE)
    v[0] = BASE
    new = pa.table({"id": pa.array([3], pa.int64()), "name": ["c"], "score": pa.array([1.5])})
    r = lakehouse.write_delta(table_path, new, mode="append", schema_mode="merge")
    assert r.version == 1
    v[1] = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", None, "c"], "score": [None, None, 1.5]})
    assert [f["name"] for f in _schema_json(table_path, 1)["fields"]] == ["id", "name", "score"]
    # Data without the new column still fits the merged schema.
    lakehouse.write_delta(table_path, BASE, mode="append")
    v[2] = concat(v[1], BASE.append_column("score", pa.array([None, None], pa.float64())))
    v.check()
    assert deltalake.DeltaTable(table_path).schema().to_arrow().names == ["id", "name", "score"]


def test_merge_adds_nested_struct_field(table_path):
    v = Versions(table_path)
    t = pa.table({"id": pa.array([1], pa.int64()), "s": pa.array([{"a": 1, "b": "x"}])})
    lakehouse.write_delta(table_path, t)
    v[0] = t
    new = pa.table({"id": pa.array([2], pa.int64()), "s": pa.array([{"a": 2, "b": "y", "c": 2.5}])})
    lakehouse.write_delta(table_path, new, mode="append", schema_mode="merge")
    sj = _schema_json(table_path, 1)
    assert [f["name"] for f in sj["fields"][1]["type"]["fields"]] == ["a", "b", "c"]
    v[1] = pa.table({"id": pa.array([1, 2], pa.int64()),
                     "s": pa.array([{"a": 1, "b": "x", "c": None}, {"a": 2, "b": "y", "c": 2.5}])})
    v.check()


def test_merge_type_conflict_is_refused(table_path):
    lakehouse.write_delta(table_path, BASE)
    _refused(table_path, pa.table({"id": ["x"], "name": ["a"]}), SchemaMismatchError, "id", schema_mode="merge")


def test_merge_with_overwrite(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, BASE)
    v[0] = BASE
    new = pa.table({"id": pa.array([9], pa.int64()), "extra": ["e"]})
    lakehouse.write_delta(table_path, new, mode="overwrite", schema_mode="merge")
    v[1] = pa.table({"id": pa.array([9], pa.int64()), "name": pa.array([None], pa.string()), "extra": ["e"]})
    v.check()


def test_schema_overwrite_replaces_schema_and_partitioning(table_path):
    v = Versions(table_path)
    t = pa.table({"p": ["a", "b"], "x": pa.array([1, 2], pa.int64())})
    lakehouse.write_delta(table_path, t, partition_by=["p"])
    v[0] = t
    new = pa.table({"q": pa.array([1, 1, 2], pa.int32()), "w": ["u", "v", "w"]})
    r = lakehouse.write_delta(table_path, new, mode="overwrite", schema_mode="overwrite", partition_by=["q"])
    assert r.num_removed_files == 2
    v[1] = new
    v.check()
    dt = lakehouse.DeltaTable(table_path)
    assert dt.partition_columns == ["q"]
    assert dt.schema.names == ["q", "w"]
    assert deltalake.DeltaTable(table_path).metadata().partition_columns == ["q"]
    assert deltalake.DeltaTable(table_path, version=0).metadata().partition_columns == ["p"]
    assert lakehouse.DeltaTable(table_path, version=0).partition_columns == ["p"]
    # Unpartition it again.
    lakehouse.write_delta(table_path, BASE, mode="overwrite", schema_mode="overwrite", partition_by=[])
    v[2] = BASE
    v.check()
    assert lakehouse.DeltaTable(table_path).partition_columns == []


def test_schema_overwrite_changes_column_type(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, BASE)
    v[0] = BASE
    new = pa.table({"id": ["now", "text"], "name": ["a", "b"]})
    lakehouse.write_delta(table_path, new, mode="overwrite", schema_mode="overwrite")
    v[1] = new
    v.check()
    assert lakehouse.DeltaTable(table_path).schema.field("id").type == pa.string()


def test_missing_nullable_column_is_filled_with_nulls(table_path):
    v = Versions(table_path)
    t = pa.table({"id": pa.array([1], pa.int64()), "name": ["a"], "s": pa.array([{"a": 1}])})
    lakehouse.write_delta(table_path, t)
    v[0] = t
    lakehouse.write_delta(table_path, pa.table({"id": pa.array([2], pa.int64())}), mode="append")
    v[1] = concat(t, pa.table({"id": pa.array([2], pa.int64()), "name": pa.array([None], pa.string()),
                               "s": pa.array([None], t.schema.field("s").type)}))
    lakehouse.write_delta(table_path, pa.table({"name": ["only-name"]}), mode="append")
    v[2] = concat(v[1], pa.table({"id": pa.array([None], pa.int64()), "name": ["only-name"],
                                  "s": pa.array([None], t.schema.field("s").type)}))
    v.check()


def _not_null_table(path: str) -> pa.Schema:
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("s", pa.struct([pa.field("inner", pa.int32(), nullable=False), pa.field("o", pa.string())])),
    ])
    lakehouse.DeltaTable.create(path, schema=schema)
    return schema


def test_not_null_column_rejects_nulls(table_path):
    schema = _not_null_table(table_path)
    sj = _schema_json(table_path, 0)
    assert sj["fields"][0]["nullable"] is False
    dl_schema = pa.schema(deltalake.DeltaTable(table_path).schema().to_arrow())
    assert dl_schema.field("id").nullable is False
    bad = pa.table({"id": pa.array([1, None], pa.int64()), "name": ["a", "b"], "s": pa.array([None, None], schema.field("s").type)})
    _refused(table_path, bad, ConstraintViolationError, "id")
    # Missing NOT NULL column: filled with nulls, so refused.
    _refused(table_path, pa.table({"name": ["x"]}), ConstraintViolationError, "id")
    # A null struct is fine (the NOT NULL applies only inside a present struct).
    ok = pa.table({"id": pa.array([1, 2], pa.int64()), "name": [None, "b"],
                   "s": pa.array([None, {"inner": 5, "o": None}], pa.struct([("inner", pa.int32()), ("o", pa.string())]))})
    lakehouse.write_delta(table_path, ok, mode="append")
    v = Versions(table_path)
    v[0] = pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string()), "s": pa.array([], schema.field("s").type)})
    v[1] = ok
    v.check()


def test_not_null_nested_field_rejects_nulls(table_path):
    """A null in a NOT NULL field of a present struct is a NOT NULL violation, reported as such (the
    column path named), like a null in a top-level NOT NULL column."""
    _not_null_table(table_path)
    bad_nested = pa.table({"id": pa.array([1], pa.int64()), "name": ["a"],
                           "s": pa.array([{"inner": None, "o": "x"}], pa.struct([("inner", pa.int32()), ("o", pa.string())]))})
    _refused(table_path, bad_nested, ConstraintViolationError, "inner")


def test_not_null_from_first_write_schema(table_path):
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string())])
    lakehouse.write_delta(table_path, pa.table({"id": [1], "v": ["a"]}, schema=schema))
    assert _schema_json(table_path, 0)["fields"][0]["nullable"] is False
    _refused(table_path, pa.table({"id": pa.array([None], pa.int64()), "v": ["b"]}), ConstraintViolationError, "id")
    # Data declaring the column nullable but holding no nulls is accepted.
    lakehouse.write_delta(table_path, pa.table({"id": pa.array([2], pa.int64()), "v": ["b"]}), mode="append")
    v = Versions(table_path)
    v[0] = pa.table({"id": [1], "v": ["a"]})
    v[1] = pa.table({"id": [1, 2], "v": ["a", "b"]})
    v.check()


def test_timestamp_types(table_path):
    """tz-aware Arrow timestamps become Delta `timestamp` (UTC); naive ones `timestamp_ntz`."""
    t = pa.table({
        "ts": pa.array([datetime(2024, 1, 1, 12, tzinfo=timezone.utc), None], pa.timestamp("us", tz="UTC")),
        "ntz": pa.array([datetime(2024, 1, 1, 12), datetime(1900, 1, 1)], pa.timestamp("us")),
    })
    lakehouse.write_delta(table_path, t)
    types = {f["name"]: f["type"] for f in _schema_json(table_path, 0)["fields"]}
    assert types == {"ts": "timestamp", "ntz": "timestamp_ntz"}
    proto = lakehouse.DeltaTable(table_path).protocol
    assert "timestampNtz" in (proto.reader_features or ()) and "timestampNtz" in (proto.writer_features or ())
    # Other zones and units convert to the table's type (same instants).
    other = pa.table({
        "ts": pa.array([datetime(2024, 6, 1, 8, tzinfo=timezone.utc)], pa.timestamp("ms", tz="UTC")).cast(
            pa.timestamp("ms", tz="America/New_York")),
        "ntz": pa.array([datetime(2024, 6, 1, 8)], pa.timestamp("ns")),
    })
    lakehouse.write_delta(table_path, other, mode="append")
    v = Versions(table_path)
    v[0] = t
    v[1] = concat(t, pa.table({
        "ts": pa.array([datetime(2024, 6, 1, 8, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC")),
        "ntz": pa.array([datetime(2024, 6, 1, 8)], pa.timestamp("us"))}))
    v.check()


def test_complex_types_round_trip(table_path):
    from decimal import Decimal

    t = pa.table({
        "l": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
        "m": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
        "dec": pa.array([Decimal("1.23"), None, Decimal("-99999.99")], pa.decimal128(7, 2)),
        "bin": pa.array([b"\x00\x01", None, b""], pa.binary()),
        "ls": pa.array([[{"x": 1}], [None], None], pa.list_(pa.struct([("x", pa.int32())]))),
    })
    lakehouse.write_delta(table_path, t)
    lakehouse.write_delta(table_path, t, mode="append")
    v = Versions(table_path)
    v[0] = t
    v[1] = concat(t, t)
    v.check()


def _dup_error_or_readable(path: str, fn) -> None:
    from lakehouse.errors import LakehouseError

    before = log_state(path) if (Path(path) / "_delta_log").exists() else {}
    try:
        fn()
    except (SchemaMismatchError, lakehouse.errors.InvalidArgumentError):
        after = log_state(path) if (Path(path) / "_delta_log").exists() else {}
        assert after == before
        return
    except LakehouseError:
        raise
    # If lakehouse accepted it, the table must be a valid one every engine opens.
    try:
        deltalake.DeltaTable(path).to_pyarrow_table()
    except Exception as e:
        pytest.fail(f"lakehouse wrote a schema deltalake cannot open: {str(e).splitlines()[0]}")


def test_duplicate_column_names_are_refused(table_path):
    """Data with two columns of the same name cannot become a Delta schema: a SchemaMismatchError, not
    a raw KeyError, and nothing committed."""
    data = pa.Table.from_arrays([pa.array([1], pa.int64()), pa.array([2], pa.int64())], names=["x", "x"])
    with pytest.raises(SchemaMismatchError):
        lakehouse.write_delta(table_path, data)
    assert not (Path(table_path) / "_delta_log").exists()


def test_duplicate_column_names_on_append_are_refused(table_path):
    """Appending data with a repeated column must not silently keep one of the two columns."""
    lakehouse.write_delta(table_path, pa.table({"x": pa.array([0], pa.int64())}))
    data = pa.Table.from_arrays([pa.array([1], pa.int64()), pa.array([2], pa.int64())], names=["x", "x"])
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError):
        lakehouse.write_delta(table_path, data, mode="append")
    assert log_state(table_path) == before


@pytest.mark.parametrize("how", ["create", "merge"])
def test_case_variant_column_names(table_path, how):
    """Delta column names are case-insensitive (Spark and delta-rs refuse `x` next to `X`): lakehouse must
    refuse them too rather than create a table other engines cannot open."""
    if how == "create":
        _dup_error_or_readable(table_path, lambda: lakehouse.write_delta(
            table_path, pa.table({"x": pa.array([1], pa.int64()), "X": pa.array([2], pa.int64())})))
    else:
        lakehouse.write_delta(table_path, pa.table({"x": pa.array([1], pa.int64())}))
        _dup_error_or_readable(table_path, lambda: lakehouse.write_delta(
            table_path, pa.table({"x": pa.array([1], pa.int64()), "X": pa.array([2], pa.int64())}),
            mode="append", schema_mode="merge"))


def test_column_names_with_dots_spaces_unicode(table_path):
    t = pa.table({"a.b": pa.array([1, 2], pa.int64()), "my col": ["x", "y"], "ünï": [1.0, 2.0]})
    lakehouse.write_delta(table_path, t)
    lakehouse.write_delta(table_path, t.slice(1), mode="overwrite", predicate="`a.b` = 2")
    v = Versions(table_path)
    v[0] = t
    v[1] = t
    v.check()
    from tests.support.rows import dl_read

    assert dl_read(table_path, filters=[("my col", "=", "y")]).num_rows == 1


@pytest.mark.parametrize(
    "table_type, data_type, value",
    [
        (pa.float64(), pa.float32(), 1.5),
        (pa.float64(), pa.int32(), 7),
        (pa.decimal128(10, 2), pa.decimal128(5, 2), "1.25"),
        (pa.decimal128(12, 2), pa.int32(), 42),
        (pa.int64(), pa.uint32(), 4_000_000_000),
        (pa.string(), pa.large_string(), "big"),
        (pa.string(), pa.string_view(), "view"),
        (pa.binary(), pa.large_binary(), b"\x01"),
        (pa.list_(pa.int64()), pa.large_list(pa.int32()), [1, 2]),
    ],
)
def test_accepted_implicit_conversions(table_path, table_type, data_type, value):
    from decimal import Decimal

    if isinstance(value, str) and pa.types.is_decimal(table_type):
        value = Decimal(value)
    first = pa.table({"c": pa.array([None], table_type)})
    lakehouse.write_delta(table_path, first)
    data = pa.table({"c": pa.array([value], data_type)})
    lakehouse.write_delta(table_path, data, mode="append")
    assert lakehouse.DeltaTable(table_path).schema.field("c").type == table_type
    v = Versions(table_path)
    v[0] = first
    v[1] = concat(first, data.cast(pa.schema([pa.field("c", table_type)])))
    v.check()


@pytest.mark.parametrize(
    "table_type, data_type, value",
    [
        # Types that convert, with a value that would change (every value is checked: see
        # test_write_input_conversion.py for the values that convert exactly).
        (pa.int32(), pa.int64(), 2**40),
        (pa.float32(), pa.float64(), 0.1),
        (pa.decimal128(5, 2), pa.decimal128(10, 2), "123456.78"),
        (pa.decimal128(5, 2), pa.decimal128(5, 3), "1.125"),
        # Types that never convert.
        (pa.timestamp("us", tz="UTC"), pa.timestamp("us"), 0),
        (pa.timestamp("us"), pa.timestamp("us", tz="UTC"), 0),
        (pa.date32(), pa.string(), "2024-01-01"),
        (pa.string(), pa.int64(), 5),
        (pa.bool_(), pa.int8(), 1),
    ],
)
def test_refused_lossy_conversions(table_path, table_type, data_type, value):
    from decimal import Decimal

    if isinstance(value, str) and pa.types.is_decimal(data_type):
        value = Decimal(value)
    lakehouse.write_delta(table_path, pa.table({"c": pa.array([None], table_type)}))
    _refused(table_path, pa.table({"c": pa.array([value], data_type)}), SchemaMismatchError, "c")


def test_polars_nested_types(table_path):
    import polars as pl

    df = pl.DataFrame({
        "id": [1, 2, 3],
        "tags": [["a", "b"], [], None],
        "pt": [{"x": 1, "y": "q"}, None, {"x": 3, "y": None}],
        "ts": [datetime(2024, 1, 1, tzinfo=timezone.utc), None, datetime(2024, 1, 3, 4, 5, 6, 7, tzinfo=timezone.utc)],
    })
    lakehouse.write_delta(table_path, df)
    lakehouse.write_delta(table_path, df.head(1), mode="append")
    expected = df.to_arrow()
    v = Versions(table_path)
    v[0] = expected
    v[1] = concat(expected, expected.slice(0, 1))
    v.check()
    sj = _schema_json(table_path, 0)
    types = {f["name"]: f["type"] for f in sj["fields"]}
    assert types["tags"] == {"type": "array", "elementType": "string", "containsNull": True}
    assert types["ts"] == "timestamp"
