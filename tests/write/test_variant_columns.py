"""Tables with `variant` columns (PROTOCOL.md "Variant Data Type"; issue 18 item 8).

Neither deltalake nor polars can create a variant column from Python, so the table is crafted as another
engine would write it: a Parquet file whose variant columns are structs of `metadata` and `value` binaries
(the values hand-encoded per the Parquet Variant spec) and a hand-written log whose schema says
`"variant"`. `lakehouse` reads it as deltalake does, and every write (append, DELETE, UPDATE, MERGE,
OPTIMIZE) carries the variant bytes over unchanged; deltalake reads every version identically. What cannot
be done, a shredded variant or data that is not a variant, is refused with one clear error and changes
nothing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import deltalake
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol.schema import type_name
from tests.support.dml import snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read
from tests.support.log import commit_actions
from tests.protocol.test_variant import ABC, EMPTY

VARIANT = pa.struct([pa.field("metadata", pa.binary(), nullable=False), pa.field("value", pa.binary(), nullable=False)])
SCHEMA = pa.schema([("id", pa.int64()), ("n", pa.string()), ("v", VARIANT),
                    ("st", pa.struct([("w", VARIANT)])), ("arr", pa.list_(pa.field("element", VARIANT)))])
DELTA_SCHEMA = {"type": "struct", "fields": [
    {"name": "id", "type": "long", "nullable": True, "metadata": {}},
    {"name": "n", "type": "string", "nullable": True, "metadata": {}},
    {"name": "v", "type": "variant", "nullable": True, "metadata": {}},
    {"name": "st", "type": {"type": "struct", "fields": [{"name": "w", "type": "variant", "nullable": True,
                                                          "metadata": {}}]}, "nullable": True, "metadata": {}},
    {"name": "arr", "type": {"type": "array", "elementType": "variant", "containsNull": True},
     "nullable": True, "metadata": {}},
]}

# (metadata, value, the JSON text variant_to_json must give), all encoded by hand (see test_variant.py).
VALUES = [
    (ABC, bytes([0x02, 0x03, 0, 1, 2, 0, 2, 4, 5, 0x0C, 0x01, 0x05, ord("x"), 0x00]), '{"a":1,"b":"x","c":null}'),
    (EMPTY, bytes([0x0C, 0x05]), "5"),
    (EMPTY, bytes([0x00]), "null"),  # a variant holding JSON null, not a SQL NULL
    (ABC, bytes([0x03, 0x02, 0, 2, 8, 0x0C, 0x01, 0x02, 0x01, 1, 0, 1, 0x04]), '[1,{"b":true}]'),
    (EMPTY, bytes([0x09]) + b"hi", '"hi"'),
    (EMPTY, bytes([0x2C, 0x0B, 0x4D, 0x00, 0x00]), '"2024-01-01"'),
]


def _variant(i: int | None) -> dict | None:
    if i is None:
        return None
    md, val, _ = VALUES[i % len(VALUES)]
    return {"metadata": md, "value": val}


def _rows(ids: list[int], tag: str = "r") -> pa.Table:
    """Rows whose variants cycle through VALUES; every seventh row has a SQL NULL variant."""
    return pa.Table.from_pylist([
        {"id": i, "n": f"{tag}{i}", "v": None if i % 7 == 6 else _variant(i),
         "st": {"w": _variant(i + 1)}, "arr": [_variant(i + 2), None]} for i in ids], schema=SCHEMA)


def _expected_json(i: int) -> str | None:
    return None if i % 7 == 6 else VALUES[i % len(VALUES)][2]


def _commit(path: str, version: int, actions: list[dict]) -> None:
    lines = [{"commitInfo": {"timestamp": 1_700_000_000_000 + version, "operation": "WRITE"}}] + actions
    Path(path, "_delta_log").mkdir(parents=True, exist_ok=True)
    Path(path, "_delta_log", f"{version:020d}.json").write_bytes(b"\n".join(orjson.dumps(a) for a in lines) + b"\n")


def _data_file(path: str, table: pa.Table) -> dict:
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(table, os.path.join(path, name))
    stats = {"numRecords": table.num_rows, "minValues": {"id": min(table.column("id").to_pylist())},
             "maxValues": {"id": max(table.column("id").to_pylist())},
             "nullCount": {"id": 0, "v": table.column("v").null_count}}
    return {"add": {"path": name, "partitionValues": {}, "size": os.path.getsize(os.path.join(path, name)),
                    "modificationTime": 1_700_000_000_000, "dataChange": True, "stats": orjson.dumps(stats).decode()}}


def _variant_table(path: str, *, dv: bool = True, partitioned: bool = False) -> None:
    """A table crafted as another engine writes one: two files, variant columns top-level and nested."""
    os.makedirs(path, exist_ok=True)
    features = ["deletionVectors", "variantType"]
    metadata = {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                "schemaString": orjson.dumps(DELTA_SCHEMA).decode(), "partitionColumns": ["n"] if partitioned else [],
                "createdTime": 1_700_000_000_000,
                "configuration": {"delta.enableDeletionVectors": "true" if dv else "false"}}
    first, second = _rows(list(range(0, 7))), _rows(list(range(7, 12)))
    adds = []
    for t in (first, second):
        if partitioned:
            for n in sorted(set(t.column("n").to_pylist())):
                part = t.filter(pa.compute.equal(t.column("n"), n)).drop_columns(["n"])
                add = _data_file(path, part)
                add["add"]["partitionValues"] = {"n": n}
                adds.append(add)
        else:
            adds.append(_data_file(path, t))
    _commit(path, 0, [{"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": features,
                                    "writerFeatures": features}}, {"metaData": metadata}] + adds)


def _by_id(table: pa.Table) -> dict[int, dict]:
    return {r["id"]: r for r in table.to_pylist()}


def _check(path: str, label: str) -> None:
    """lakehouse and deltalake read the same rows, and every variant decodes."""
    got = lh_read(path)
    assert got.schema == SCHEMA, label
    assert_same_rows(got, dl_read(path), label)
    lakehouse.variant_to_json(got.column("v"))


@pytest.fixture
def table(tmp_path) -> str:
    path = str(tmp_path / "t")
    _variant_table(path)
    return path


def test_read_and_decode(table):
    got = lh_read(table)
    assert got.schema == SCHEMA
    assert sorted(got.to_pylist(), key=lambda r: r["id"]) == _rows(list(range(12))).to_pylist()
    _check(table, "read")
    text = dict(zip(got.column("id").to_pylist(), lakehouse.variant_to_json(got.column("v")).to_pylist()))
    assert text == {i: _expected_json(i) for i in range(12)}
    assert [orjson.loads(text[0]), orjson.loads(text[3])] == [{"a": 1, "b": "x", "c": None}, [1, {"b": True}]]
    # A SQL NULL variant is a null struct; IS NULL works on it, comparisons are refused.
    dt = lakehouse.DeltaTable(table)
    assert dt.to_arrow(filter="v IS NULL").column("id").to_pylist() == [6]
    assert sorted(dt.to_arrow(filter="v IS NOT NULL AND id > 9").column("id").to_pylist()) == [10, 11]
    with pytest.raises(InvalidArgumentError, match="cannot compare column v \\(variant\\).*not comparable"):
        dt.to_arrow(filter="v = v")


def _variant_bytes(path: str) -> set[tuple]:
    t = lh_read(path)
    return {(r["id"], r["v"]["metadata"] if r["v"] else None, r["v"]["value"] if r["v"] else None,
             r["st"]["w"]["value"], r["arr"][0]["value"]) for r in t.to_pylist()}


def test_append_round_trips_byte_for_byte(table):
    before = lh_read(table)
    lakehouse.write_delta(table, before, mode="append")
    got = lh_read(table)
    assert got.num_rows == 24
    assert sorted(map(str, got.to_pylist())) == sorted(map(str, before.to_pylist() * 2))
    _check(table, "append")
    # The new file stores the variant exactly as the spec's unshredded struct, and its stats give the
    # variant columns a null count but no bounds (variants are not comparable).
    add = next(a["add"] for a in commit_actions(table, 1) if "add" in a)
    stored = pq.read_table(os.path.join(table, add["path"]))
    assert stored.schema.field("v").type == VARIANT
    stats = orjson.loads(add["stats"])
    assert stats["nullCount"]["v"] == 1
    assert "v" not in stats["minValues"] and "v" not in stats["maxValues"]
    assert "st" not in stats["minValues"] and "arr" not in stats["minValues"]
    # The table still lists the feature, and deltalake can append variants after lakehouse.
    assert "variantType" in lakehouse.DeltaTable(table).snapshot.protocol.reader_features
    deltalake.write_deltalake(table, before.filter(pa.compute.less(pa.compute.field("id"), 2)), mode="append")
    _check(table, "deltalake append after lakehouse")
    assert_versions_agree(table)


def test_append_from_arrow_with_other_binary_layouts(table):
    """Variant data built by a user: children in the other order, large/view binaries; stored as given."""
    md, val, _ = VALUES[3]
    v = pa.StructArray.from_arrays([pa.array([val, None], pa.large_binary()), pa.array([md, None], pa.binary_view())],
                                   names=["value", "metadata"], mask=pa.array([False, True]))
    lakehouse.write_delta(table, pa.table({"id": pa.array([100, 101], pa.int64()), "v": v}), mode="append")
    rows = _by_id(lh_read(table))
    assert rows[100]["v"] == {"metadata": md, "value": val} and rows[101]["v"] is None
    assert rows[100]["st"] is None and rows[100]["n"] is None
    _check(table, "append of a user-built variant")


@pytest.mark.parametrize("bad,error,match", [
    (pa.array([{"metadata": EMPTY, "value": "x"}], pa.struct([("metadata", pa.binary()), ("value", pa.string())])),
     SchemaMismatchError, "'v'"),
    (pa.array([{"metadata": EMPTY, "value": None}], pa.struct([("metadata", pa.binary()), ("value", pa.binary())])),
     SchemaMismatchError, "null 'value' in a non-null row"),
    (pa.array([{"metadata": EMPTY, "value": b"\x00", "typed_value": 1}],
              pa.struct([("metadata", pa.binary()), ("value", pa.binary()), ("typed_value", pa.int64())])),
     (SchemaMismatchError, UnsupportedFeatureError), "'v'"),
    (pa.array([b"\x00"], pa.binary()), SchemaMismatchError, "'v'"),
])
def test_write_refuses_data_that_is_not_an_unshredded_variant(table, bad, error, match):
    before = snapshot_dir(table)
    with pytest.raises(error, match=match):
        lakehouse.write_delta(table, pa.table({"id": pa.array([100], pa.int64()), "v": bad}), mode="append")
    assert snapshot_dir(table) == before


def test_optimize_keeps_variants_byte_for_byte(table):
    before = _variant_bytes(table)
    lakehouse.DeltaTable(table).optimize.compact(min_file_size=1 << 30)
    assert len(lakehouse.DeltaTable(table).snapshot.adds) == 1
    assert _variant_bytes(table) == before
    _check(table, "optimize")
    assert_versions_agree(table)


@pytest.mark.parametrize("dv", [True, False], ids=["dv", "cow"])
@pytest.mark.parametrize("partitioned", [False, True], ids=["flat", "partitioned"])
def test_dml_keeps_variants(tmp_path, dv, partitioned):
    path = str(tmp_path / "t")
    _variant_table(path, dv=dv, partitioned=partitioned)
    original = _by_id(lh_read(path))

    lakehouse.DeltaTable(path).delete("id = 1 OR v IS NULL")
    _check(path, "delete")
    assert sorted(_by_id(lh_read(path))) == [0, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    if not partitioned:  # partitioned, each row has a file of its own: whole files are removed
        assert any("deletionVector" in (a.get("add") or {}) for a in commit_actions(path, 1)) == dv

    if not partitioned:  # n is the partition column of the partitioned table
        lakehouse.DeltaTable(path).update(updates={"n": "'u'"}, predicate="id = 3 OR id = 8")
        _check(path, "update")
        rows = _by_id(lh_read(path))
        assert rows[3] == {**original[3], "n": "u"} and rows[8] == {**original[8], "n": "u"}

    # MERGE: matched rows take the source's variants (the source is user Arrow data), others are inserted.
    source = _rows([4, 5, 20], "m")
    source = source.set_column(2, "v", pa.array([_variant(3), _variant(0), _variant(4)], VARIANT))
    lakehouse.DeltaTable(path).merge(source, "t.id = s.id") \
        .when_matched_update(updates={"v": "s.v", "st": "s.st"}).when_not_matched_insert_all().execute()
    _check(path, "merge")
    rows = _by_id(lh_read(path))
    assert rows[4]["v"] == _variant(3) and rows[5]["v"] == _variant(0) and rows[20]["v"] == _variant(4)
    assert rows[4]["st"] == {"w": _variant(5)} and rows[4]["arr"] == original[4]["arr"]
    for i in (0, 2, 7, 9, 10, 11):
        assert rows[i] == original[i], f"row {i} changed"
    text = dict(zip([r["id"] for r in lh_read(path).to_pylist()], lakehouse.variant_to_json(lh_read(path).column("v")).to_pylist()))
    assert text[4] == '[1,{"b":true}]' and text[20] == '"hi"'
    assert_versions_agree(path)


SHREDDED = pa.struct([pa.field("metadata", pa.binary(), False), pa.field("value", pa.binary()),
                      pa.field("typed_value", pa.int64())])
INT64_7 = bytes([0x18]) + (7).to_bytes(8, "little")


def _shredded_file(path: str) -> None:
    """Commit a file whose `v` is shredded as int64 (VariantShredding.md's `measurement` example): 7 in
    typed_value, "n/a" in value, a row with both null (a variant null) and a SQL NULL row."""
    v = pa.array([{"metadata": EMPTY, "value": None, "typed_value": 7},
                  {"metadata": EMPTY, "value": bytes([0x0D]) + b"n/a", "typed_value": None},
                  {"metadata": EMPTY, "value": None, "typed_value": None}, None], SHREDDED)
    t = pa.table({"id": pa.array([50, 51, 52, 53], pa.int64()), "n": ["s50", "s51", "s52", "s53"], "v": v})
    _commit(path, 1, [_data_file(path, t)])


def test_shredded_file_reads_and_rewrites_unshredded(table):
    """A shredded file in a variant table reads as the unshredded variants it stands for (on the per-file
    path, which a pyarrow dataset would not do: it drops typed_value); DELETE and OPTIMIZE rewrite its rows
    unshredded, and deltalake then reads every row as lakehouse does."""
    _shredded_file(table)
    dt = lakehouse.DeltaTable(table)
    rows = _by_id(dt.to_arrow())
    assert [rows[i]["v"] for i in (50, 51, 52, 53)] == [
        {"metadata": EMPTY, "value": INT64_7}, {"metadata": EMPTY, "value": bytes([0x0D]) + b"n/a"},
        {"metadata": EMPTY, "value": b"\x00"}, None]
    assert all(rows[i] == r for i, r in _by_id(_rows(list(range(12)))).items())
    got = dt.to_arrow(filter="id >= 50", columns=["id", "v"]).sort_by("id")
    assert lakehouse.variant_to_json(got.column("v")).to_pylist() == ["7", '"n/a"', "null", None]
    assert sorted(dt.to_arrow(filter="v IS NULL").column("id").to_pylist()) == [6, 53]
    assert dt.to_pyarrow_dataset().to_table().sort_by("id").column("v").to_pylist()[-4:] == [
        rows[i]["v"] for i in (50, 51, 52, 53)]
    # Copy-on-write DELETE and OPTIMIZE write the variants unshredded, bytes as read.
    dt.alter.set_table_properties({"delta.enableDeletionVectors": "false"})
    lakehouse.DeltaTable(table).delete("id = 51")
    lakehouse.DeltaTable(table).optimize.compact(min_file_size=1 << 30)
    after = _by_id(lh_read(table))
    assert sorted(after) == list(range(12)) + [50, 52, 53]
    assert all(after[i] == rows[i] for i in after)
    for add in lakehouse.DeltaTable(table).snapshot.adds.column("path").to_pylist():
        assert pq.read_schema(os.path.join(table, add)).field("v").type == VARIANT
    _check(table, "after rewriting the shredded file")


def test_writes_that_omit_variant_columns_store_null_variants(table):
    """Appends and MERGE inserts without the variant columns write SQL NULL variants (null structs): the
    nulls are built valid for the struct's NOT NULL binaries, which a plain null array is not."""
    lakehouse.write_delta(table, pa.table({"id": pa.array([30], pa.int64())}), mode="append")
    source = pa.table({"id": pa.array([0, 31], pa.int64()), "n": ["m0", "m31"]})
    lakehouse.DeltaTable(table).merge(source, "t.id = s.id") \
        .when_matched_update(updates={"n": "s.n"}).when_not_matched_insert_all().execute()
    rows = _by_id(lh_read(table))
    assert rows[30] == {"id": 30, "n": None, "v": None, "st": None, "arr": None}
    assert rows[31] == {"id": 31, "n": "m31", "v": None, "st": None, "arr": None}
    assert rows[0]["n"] == "m0" and rows[0]["v"] == _variant(0)
    assert sorted(lakehouse.DeltaTable(table).to_arrow(filter="v IS NULL").column("id").to_pylist()) == [6, 30, 31]
    _check(table, "writes without the variant columns")
    assert_versions_agree(table)


def test_omitted_column_with_not_null_nested_fields(tmp_path):
    """The same root for any NOT NULL nested field: omitting its struct column in an append or a MERGE
    insert raised a raw ArrowInvalid ("has nulls. Can't cast to non-nullable field")."""
    path = str(tmp_path / "t")
    schema = pa.schema([("id", pa.int64()), ("st", pa.struct([pa.field("x", pa.int64(), nullable=False),
                                                              pa.field("y", pa.string())]))])
    lakehouse.write_delta(path, pa.table({"id": [1], "st": [{"x": 1, "y": "a"}]}, schema=schema))
    lakehouse.write_delta(path, pa.table({"id": pa.array([2], pa.int64())}), mode="append")
    lakehouse.DeltaTable(path).merge(pa.table({"id": pa.array([2, 3], pa.int64())}), "t.id = s.id") \
        .when_not_matched_insert_all().execute()
    assert sorted(lh_read(path).to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "st": {"x": 1, "y": "a"}}, {"id": 2, "st": None}, {"id": 3, "st": None}]
    assert_same_rows(lh_read(path), dl_read(path), "omitted nested NOT NULL struct")


def test_schema_merge_keeps_variant_columns(table):
    """schema_mode="merge" adds the new column and leaves the variant columns variants (their data is
    their struct form, which fits them)."""
    data = _rows([50, 51]).append_column("extra", pa.array([1, 2], pa.int64()))
    lakehouse.write_delta(table, data, mode="append", schema_mode="merge")
    schema = lakehouse.DeltaTable(table).snapshot.schema
    assert [type_name(f.type) for f in schema.fields] == [
        "bigint", "string", "variant", "struct<w:variant>", "array<variant>", "bigint"]
    rows = _by_id(lh_read(table))
    assert rows[50]["v"] == _variant(50) and rows[50]["extra"] == 1 and rows[0]["extra"] is None
    assert_same_rows(lh_read(table), dl_read(table), "schema merge")
