"""Table management: properties (set, unset, validation, `delta.feature.*`, protocol upgrades that delta-rs
still reads), CHECK constraints (existing rows checked first, then enforced by every write, UPDATE and
MERGE), add/rename/drop columns with column mapping turned on for an existing table (none -> name), with
rows checked at every version by lakehouse and delta-rs."""

from __future__ import annotations

from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

import lakehouse
from lakehouse.operations import alter
from lakehouse.errors import (
    ConstraintViolationError,
    InvalidArgumentError,
    LakehouseError,
    SchemaMismatchError,
)
from tests.support.log import actions_of, commit_info, log_state as log_files, parquet_schema
from tests.support.rows import Model, lh_rows

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])


def rows(start: int, n: int, parts: str = "ab") -> list[dict]:
    """``n`` rows with ids from ``start`` and v = 10 * id."""
    return [{"id": i, "v": i * 10, "p": parts[i % len(parts)]} for i in range(start, start + n)]


def tbl(r: list[dict], schema: pa.Schema = SCHEMA) -> pa.Table:
    """The rows as a pyarrow Table of ``schema``."""
    return pa.Table.from_pylist(r, schema=schema)


def base(path: str, *, partitioned: bool = True, config: dict | None = None) -> Model:
    """v0: six rows; v1: four more."""
    model = Model(path)
    lakehouse.write_delta(path, tbl(rows(0, 6)), partition_by=["p"] if partitioned else None, configuration=config)
    model.record(0, rows(0, 6))
    lakehouse.write_delta(path, tbl(rows(6, 4)), mode="append")
    model.record(1, rows(0, 10))
    return model


# -- properties ---------------------------------------------------------------------------------------------
def test_set_and_unset_properties(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    v = dt.alter.set_table_properties({"custom.owner": "alice", "delta.logRetentionDuration": "interval 60 days",
                           "delta.checkpointInterval": 5})
    assert v.version == 2 and dt.version == 2
    model.same_as(2, 1)
    conf = dt.metadata.configuration
    assert conf["custom.owner"] == "alice" and conf["delta.logRetentionDuration"] == "interval 60 days"
    assert conf["delta.checkpointInterval"] == "5"
    info = commit_info(path, 2)
    assert info["operation"] == "SET TBLPROPERTIES"
    assert deltalake.DeltaTable(path).metadata().configuration["custom.owner"] == "alice"
    assert dt.alter.set_table_properties({"custom.owner": None}).version == 3
    model.same_as(3, 2)
    assert "custom.owner" not in dt.metadata.configuration
    assert "delta.checkpointInterval" in dt.metadata.configuration
    assert commit_info(path, 3)["operation"] == "UNSET TBLPROPERTIES"
    model.check()


def test_unset_of_an_unknown_property(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    base(path)
    before = log_files(path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).alter.set_table_properties({"custom.nope": None})
    assert log_files(path) == before
    lakehouse.DeltaTable(path).alter.set_table_properties({"custom.nope": None}, raise_if_not_exists=False)
    assert "custom.nope" not in lakehouse.DeltaTable(path).metadata.configuration


@pytest.mark.parametrize("props", [
    {"delta.appendOnly": "maybe"},
    {"delta.deletedFileRetentionDuration": "forever"},
    {"delta.checkpointInterval": "-3"},
    {"delta.checkpointInterval": "0"},
    {"delta.constraints.c": "v > 0"},
    {"delta.feature.deletionVectors": "disabled"},
    {},
])
def test_malformed_properties_are_refused(tmp_path: Path, props: dict) -> None:
    path = str(tmp_path / "t")
    base(path)
    before = log_files(path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).alter.set_table_properties(props)
    assert log_files(path) == before


def test_enabling_deletion_vectors_upgrades_the_protocol(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    before = dt.protocol
    assert before.min_reader_version < 3
    dt.alter.set_table_properties({"delta.enableDeletionVectors": "true"})
    model.same_as(2, 1)
    p = dt.protocol
    assert (p.min_reader_version, p.min_writer_version) == (3, 7)
    assert "deletionVectors" in p.reader_features and "deletionVectors" in p.writer_features
    # the legacy writer features the old versions implied are kept
    if before.min_writer_version >= 2:
        assert {"appendOnly", "invariants"} <= set(p.writer_features)
    protocol_actions = actions_of(path, 2, "protocol")
    assert len(protocol_actions) == 1 and protocol_actions[0]["minReaderVersion"] == 3
    dl = deltalake.DeltaTable(path)
    assert dl.protocol().min_reader_version == 3 and "deletionVectors" in (dl.protocol().reader_features or [])
    # DELETE now writes deletion vectors, which delta-rs applies
    d = dt.delete("id IN (1, 7)")
    assert d.num_deletion_vectors_added > 0
    model.record(3, [r for r in rows(0, 10) if r["id"] not in (1, 7)])
    model.check()


def test_feature_property_adds_a_feature_without_a_property(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.feature.deletionVectors": "supported"})
    model.same_as(2, 1)
    assert "deletionVectors" in dt.protocol.writer_features
    assert not any(k.startswith("delta.feature.") for k in dt.metadata.configuration)
    assert "delta.enableDeletionVectors" not in dt.metadata.configuration
    # not enabled: DELETE still copies on write
    assert dt.delete("id = 2").num_deletion_vectors_added == 0
    model.record(3, [r for r in rows(0, 10) if r["id"] != 2])
    model.check()


def test_add_features(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    v = dt.alter.add_feature(["timestampNtz", "deletionVectors"], allow_protocol_versions_increase=True)
    assert v.version == 2
    model.same_as(2, 1)
    assert {"timestampNtz", "deletionVectors"} <= set(dt.protocol.writer_features)
    assert dt.alter.add_feature("deletionVectors", allow_protocol_versions_increase=True).version is None and lakehouse.DeltaTable(path).version == 2
    with pytest.raises(LakehouseError):
        dt.alter.add_feature(["noSuchFeature"], allow_protocol_versions_increase=True)
    assert lakehouse.DeltaTable(path).version == 2
    model.check()


def test_enabling_change_data_feed_on_an_existing_table(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.enableChangeDataFeed": "true"})
    model.same_as(2, 1)
    assert dt.protocol.min_writer_version >= 4
    dt.delete("id = 3")
    model.record(3, [r for r in rows(0, 10) if r["id"] != 3])
    feed = dt.load_cdf(3, 3)
    assert feed.column("id").to_pylist() == [3] and feed.column("_change_type").to_pylist() == ["delete"]
    model.check()


# -- constraints --------------------------------------------------------------------------------------------
def test_add_constraint_checks_existing_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    before = log_files(path)
    with pytest.raises(ConstraintViolationError):
        lakehouse.DeltaTable(path).alter.add_constraint({"small": "v < 50"})
    assert log_files(path) == before
    model.check()


def test_constraint_is_enforced_by_every_write(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    lakehouse.write_delta(path, tbl([{"id": 99, "v": None, "p": "a"}]), mode="append")  # NULL passes
    model.record(2, rows(0, 10) + [{"id": 99, "v": None, "p": "a"}])
    dt = lakehouse.DeltaTable(path)
    v = dt.alter.add_constraint({"Non_Negative": "v >= 0"})
    assert v.version == 3
    model.same_as(3, 2)
    assert dt.metadata.configuration["delta.constraints.non_negative"] == "v >= 0"
    assert commit_info(path, 3)["operation"] == "ADD CONSTRAINT"
    assert dt.protocol.min_writer_version >= 3
    before = log_files(path)
    bad = tbl([{"id": 100, "v": -1, "p": "a"}])
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(path, bad, mode="append")
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(path, bad, mode="overwrite")
    with pytest.raises(ConstraintViolationError):
        dt.update(updates={"v": "v - 1000"}, predicate="id = 1")
    with pytest.raises(ConstraintViolationError):
        dt.merge(tbl([{"id": 2, "v": -5, "p": "a"}]), predicate="t.id = s.id").when_matched_update_all().execute()
    with pytest.raises(ConstraintViolationError):
        dt.merge(bad, predicate="t.id = s.id").when_not_matched_insert_all().execute()
    assert log_files(path) == before
    # delta-rs honours the constraint lakehouse wrote
    with pytest.raises(Exception):
        deltalake.write_deltalake(path, bad, mode="append")
    assert log_files(path) == before
    # a valid write passes
    lakehouse.write_delta(path, tbl([{"id": 101, "v": 5, "p": "b"}]), mode="append")
    model.record(4, model.latest() + [{"id": 101, "v": 5, "p": "b"}])
    with pytest.raises(InvalidArgumentError):
        dt.alter.add_constraint({"non_negative": "v > -10"})  # same name, any case
    with pytest.raises(InvalidArgumentError):
        dt.alter.add_constraint({"other": "nope > 1"})
    model.check()


def test_drop_constraint(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.add_constraint({"pos": "v >= 0"})
    model.same_as(2, 1)
    assert dt.alter.drop_constraint("POS").version == 3
    model.same_as(3, 1)
    assert "delta.constraints.pos" not in dt.metadata.configuration
    assert commit_info(path, 3)["operation"] == "DROP CONSTRAINT"
    lakehouse.write_delta(path, tbl([{"id": 50, "v": -1, "p": "a"}]), mode="append")
    model.record(4, rows(0, 10) + [{"id": 50, "v": -1, "p": "a"}])
    with pytest.raises(InvalidArgumentError):
        dt.alter.drop_constraint("pos")
    assert dt.alter.drop_constraint("pos", raise_if_not_exists=False).version is None
    assert lakehouse.DeltaTable(path).version == 4
    model.check()


# -- columns -------------------------------------------------------------------------------------------------
def test_add_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    dt = lakehouse.DeltaTable(path)
    v = dt.alter.add_columns([pa.field("note", pa.string()), pa.field("score", pa.float64())])
    assert v.version == 2 and commit_info(path, 2)["operation"] == "ADD COLUMNS"
    model.record(2, [{**r, "note": None, "score": None} for r in rows(0, 10)])
    assert dt.schema.names == ["id", "v", "p", "note", "score"]
    wide = pa.schema(list(SCHEMA) + [pa.field("note", pa.string()), pa.field("score", pa.float64())])
    new = [{"id": 30, "v": 1, "p": "a", "note": "hi", "score": 0.5}]
    lakehouse.write_delta(path, tbl(new, wide), mode="append")
    model.record(3, model.latest() + new)
    with pytest.raises(SchemaMismatchError):
        dt.alter.add_columns([pa.field("strict", pa.int64(), nullable=False)])
    with pytest.raises(LakehouseError):
        dt.alter.add_columns([pa.field("v", pa.int64())])
    assert lakehouse.DeltaTable(path).version == 3
    model.check()


def test_rename_and_drop_need_column_mapping(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    base(path)
    before = log_files(path)
    with pytest.raises(InvalidArgumentError, match="column mapping"):
        lakehouse.DeltaTable(path).alter.rename_column("v", "w")
    with pytest.raises(InvalidArgumentError, match="column mapping"):
        lakehouse.DeltaTable(path).alter.drop_columns(["v"])
    assert log_files(path) == before


@pytest.mark.parametrize("change", [("none", "id"), ("name", "none"), ("name", "id")])
def test_column_mapping_mode_changes_other_than_none_to_name_are_refused(tmp_path: Path, change) -> None:
    old, new = change
    path = str(tmp_path / "t")
    base(path, config={"delta.columnMapping.mode": old} if old != "none" else None)
    before = log_files(path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).alter.set_table_properties({"delta.columnMapping.mode": new})
    assert log_files(path) == before


def _renamed(r: dict, mapping: dict[str, str]) -> dict:
    """The row with its keys renamed by ``mapping``."""
    return {mapping.get(k, k): v for k, v in r.items()}


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
def test_turn_on_column_mapping_then_rename_and_drop(tmp_path: Path, partitioned: bool) -> None:
    path = str(tmp_path / "t")
    model = base(path, partitioned=partitioned)
    files_before = sorted(lakehouse.DeltaTable(path).files()["path"].to_pylist())
    dt = lakehouse.DeltaTable(path)
    v = dt.alter.set_table_properties({"delta.columnMapping.mode": "name"})
    assert v.version == 2
    model.same_as(2, 1)
    assert dt.metadata.configuration["delta.columnMapping.mode"] == "name"
    assert int(dt.metadata.configuration["delta.columnMapping.maxColumnId"]) == 3
    for f in dt.delta_schema.fields:  # existing names become the physical names: no file is rewritten
        assert f.metadata["delta.columnMapping.physicalName"] == f.name
    assert sorted(dt.files()["path"].to_pylist()) == files_before
    p = dt.protocol
    assert p.min_reader_version >= 2 and p.min_writer_version >= 5
    # rename a data column
    dt.alter.rename_column("v", "value")
    model.record(3, [_renamed(r, {"v": "value"}) for r in rows(0, 10)])
    assert commit_info(path, 3)["operation"] == "RENAME COLUMN"
    # and the partition column
    dt.alter.rename_column("p", "part")
    model.record(4, [_renamed(r, {"v": "value", "p": "part"}) for r in rows(0, 10)])
    if partitioned:
        assert dt.partition_columns == ["part"]
    # writes with the new names; partition values stay keyed by the physical name
    renamed = pa.schema([("id", pa.int64()), ("value", pa.int64()), ("part", pa.string())])
    new = [{"id": 40, "value": 400, "part": "a"}, {"id": 41, "value": 410, "part": "c"}]
    lakehouse.write_delta(path, tbl(new, renamed), mode="append")
    model.record(5, model.latest() + new)
    if partitioned:
        assert all(set(a["partitionValues"]) == {"p"} for a in actions_of(path, 5, "add"))
    for a in actions_of(path, 5, "add"):
        assert set(parquet_schema(path, a["path"].replace("%3D", "=")).names) <= {"id", "v", "p"}
    # DML with the new names
    dt.delete("value = 30 OR part = 'c'")
    model.record(6, [r for r in model.latest() if not (r["value"] == 30 or r["part"] == "c")])
    dt.update(updates={"value": "value + 1"}, predicate="id = 4")
    model.record(7, [{**r, "value": r["value"] + 1} if r["id"] == 4 else r for r in model.latest()])
    # drop a column: the data stays in the files, unread
    dt.alter.drop_columns("value")
    assert commit_info(path, 8)["operation"] == "DROP COLUMNS"
    model.record(8, [{k: v for k, v in r.items() if k != "value"} for r in model.latest()])
    # a new column with the dropped name is a new column: old rows read null, not the dropped values
    dt.alter.add_columns([pa.field("value", pa.int64())])
    model.record(9, [{**r, "value": None} for r in model.latest()])
    new_field = dt.delta_schema.field("value")
    assert new_field.metadata["delta.columnMapping.physicalName"] != "v"
    assert int(new_field.metadata["delta.columnMapping.id"]) == 4
    model.check()


def test_rename_swaps_names_with_physical_names(tmp_path: Path) -> None:
    """Logical `a` renamed to `c`, then `b` to `a`: logical `a` now lives in physical column `b`."""
    path = str(tmp_path / "t")
    model = Model(path, key="id")
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "a": ["a1", "a2"], "b": ["b1", "b2"]})
    lakehouse.write_delta(path, data)
    model.record(0, data)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.columnMapping.mode": "name"})
    model.same_as(1, 0)
    dt.alter.rename_column("a", "c")
    model.record(2, [{"id": r["id"], "c": r["a"], "b": r["b"]} for r in data.to_pylist()])
    dt.alter.rename_column("b", "a")
    model.record(3, [{"id": r["id"], "c": r["a"], "a": r["b"]} for r in data.to_pylist()])
    new = pa.table({"id": pa.array([3], pa.int64()), "c": ["c3"], "a": ["a3"]})
    lakehouse.write_delta(path, new, mode="append")
    model.record(4, model.latest() + new.to_pylist())
    assert lh_rows(path, 4, "id") == model.versions[4]
    filtered = lakehouse.DeltaTable(path).to_arrow(filter="a = 'b1'").to_pylist()
    assert filtered == [{"id": 1, "c": "a1", "a": "b1"}], "a filter on logical a must read physical b"
    model.check()


def test_constraints_block_rename_and_drop(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    base(path, config={"delta.columnMapping.mode": "name"})
    dt = lakehouse.DeltaTable(path)
    dt.alter.add_constraint({"pos": "v >= 0"})
    before = log_files(path)
    with pytest.raises(InvalidArgumentError, match="pos"):
        dt.alter.rename_column("v", "w")
    with pytest.raises(InvalidArgumentError, match="pos"):
        dt.alter.drop_columns(["v"])
    assert log_files(path) == before
    dt.alter.drop_constraint("pos")
    dt.alter.rename_column("v", "w")
    assert lakehouse.DeltaTable(path).schema.names == ["id", "w", "p"]


@pytest.mark.parametrize("call", [
    lambda dt: dt.alter.drop_columns(["p"]),
    lambda dt: dt.alter.drop_columns(["id", "v"]),  # only the partition column would be left: unwritable
    lambda dt: dt.alter.drop_columns(["nope"]),
    lambda dt: dt.alter.rename_column("v", "id"),
    lambda dt: dt.alter.rename_column("nope", "x"),
    lambda dt: dt.alter.rename_column("v", ""),
], ids=["partition", "all-data", "unknown", "collision", "unknown-rename", "empty-name"])
def test_bad_column_changes_are_refused(tmp_path: Path, call) -> None:
    path = str(tmp_path / "t")
    base(path, config={"delta.columnMapping.mode": "name"})
    before = log_files(path)
    with pytest.raises(LakehouseError):
        call(lakehouse.DeltaTable(path))
    assert log_files(path) == before


def test_rows_appended_after_dropping_every_data_column_are_not_lost(tmp_path: Path) -> None:
    """Either the drop is refused (as creating such a table is), or later appends must read back."""
    path = str(tmp_path / "t")
    base(path, config={"delta.columnMapping.mode": "name"})
    try:
        lakehouse.DeltaTable(path).alter.drop_columns(["id", "v"])
    except InvalidArgumentError:
        return
    lakehouse.write_delta(path, pa.table({"p": ["c"]}), mode="append")
    got = sorted(r["p"] for r in lakehouse.DeltaTable(path).to_arrow().to_pylist())
    assert got == sorted([r["p"] for r in rows(0, 10)] + ["c"]), "the appended row was committed but reads as nothing"


def test_constraint_added_after_violating_rows_were_deleted_by_deletion_vectors(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path, config={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    dt.delete("v < 50")
    model.record(2, [r for r in rows(0, 10) if r["v"] >= 50])
    assert dt.files()["deletion_vector"].null_count < dt.files().num_rows
    assert dt.alter.add_constraint({"big": "v >= 50"}).version == 3, "deleted rows must not count as violations"
    model.same_as(3, 2)
    model.check()


def test_enable_deletion_vectors_on_a_column_mapped_table(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = base(path, config={"delta.columnMapping.mode": "name"})
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.enableDeletionVectors": "true"})
    model.same_as(2, 1)
    p = dt.protocol
    assert (p.min_reader_version, p.min_writer_version) == (3, 7)
    assert {"columnMapping", "deletionVectors"} <= set(p.reader_features) & set(p.writer_features)
    assert dt.delete("id = 3").num_deletion_vectors_added == 1
    model.record(3, [r for r in rows(0, 10) if r["id"] != 3])
    model.check()


def test_add_constraint_loses_to_a_concurrent_append_of_a_violating_row(tmp_path: Path) -> None:
    """ADD CONSTRAINT checked the rows of its snapshot; a row appended before it commits was never
    checked, so the commit must fail (the spec: it reads the whole table) rather than leave a table whose
    constraint its own rows break."""
    path = str(tmp_path / "t")
    model = base(path)
    stale = lakehouse.DeltaTable(path).snapshot
    bad = {"id": 77, "v": -7, "p": "a"}
    lakehouse.write_delta(path, tbl([bad]), mode="append")  # a blind append
    model.record(2, rows(0, 10) + [bad])
    with pytest.raises(LakehouseError):
        alter.add_constraint(stale, "non_negative", "v >= 0")
    dt = lakehouse.DeltaTable(path)
    assert dt.version == 2 and "delta.constraints.non_negative" not in dt.metadata.configuration
    model.check()


# -- guard rails on delta.* properties (issue 12) -----------------------------------------------------------------
from lakehouse.errors import UnsupportedFeatureError  # noqa: E402
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType  # noqa: E402


def _unchanged(path: str, before: dict, model: Model) -> None:
    assert log_files(path) == before
    assert lakehouse.DeltaTable(path).version == 1
    model.check()


@pytest.mark.parametrize("props,error,text", [
    ({"delta.enableDeletionVector": "true"}, InvalidArgumentError, "did you mean 'delta.enableDeletionVectors'"),
    ({"delta.appendOnly": "maybe"}, InvalidArgumentError, "'maybe'"),
    ({"delta.checkpointInterval": -3}, InvalidArgumentError, "positive integer"),
    ({"delta.logRetentionDuration": "forever"}, InvalidArgumentError, "interval"),
    ({"delta.columnMapping.maxColumnId": "9"}, InvalidArgumentError, "cannot be set"),
    ({"delta.rowTracking.materializedRowIdColumnName": "_id"}, InvalidArgumentError, "cannot be set"),
    ({"delta.enableRowTracking": "true", "delta.rowTrackingSuspended": "true"}, InvalidArgumentError, "suspended"),
    ({"delta.enableIcebergCompatV2": True}, UnsupportedFeatureError, "icebergCompatV2"),
    ({"delta.universalFormat.enabledFormats": "iceberg"}, UnsupportedFeatureError, "icebergCompatV2"),
])
def test_set_properties_refuses_bad_delta_properties(tmp_path: Path, props: dict, error: type, text: str) -> None:
    path = str(tmp_path / "t")
    model = base(path)
    before = log_files(path)
    with pytest.raises(error) as e:
        lakehouse.DeltaTable(path).alter.set_table_properties({**props, "custom.ok": "1"})
    assert text in str(e.value)
    _unchanged(path, before, model)


@pytest.mark.parametrize("props,error", [
    ({"delta.enableDeletionVector": "true"}, InvalidArgumentError),
    ({"delta.appendOnly": "maybe"}, InvalidArgumentError),
    ({"delta.deletedFileRetentionDuration": "forever"}, InvalidArgumentError),
    ({"delta.enableIcebergCompatV1": "true"}, UnsupportedFeatureError),
    ({"delta.enableRowTracking": "true", "delta.rowTrackingSuspended": "true"}, InvalidArgumentError),
])
def test_create_and_first_write_refuse_bad_delta_properties(tmp_path: Path, props: dict, error: type) -> None:
    def convert(p: str) -> object:
        Path(p).mkdir()
        pa.parquet.write_table(tbl(rows(0, 3)), f"{p}/part-0.parquet")
        return lakehouse.DeltaTable.convert_to_delta(p, configuration=props)

    for i, make in enumerate((
        lambda p: lakehouse.DeltaTable.create(p, schema=SCHEMA, configuration=props),
        lambda p: lakehouse.write_delta(p, tbl(rows(0, 3)), configuration=props),
        convert,
    )):
        path = tmp_path / f"t{i}"
        with pytest.raises(error):
            make(str(path))
        assert not (path / "_delta_log").exists() or not any((path / "_delta_log").iterdir())


def test_properties_are_stored_in_canonical_spelling_and_free_form_keys_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, tbl(rows(0, 3)), configuration={
        "delta.appendonly": True, "delta.targetFileSize": "128mb", "Team.Owner": "Alice", "delta.enableRowTracking": "false"})
    conf = lakehouse.DeltaTable(path).metadata.configuration
    assert conf == {"delta.appendOnly": "true", "delta.targetFileSize": "128mb", "Team.Owner": "Alice",
                    "delta.enableRowTracking": "false"}
    assert deltalake.DeltaTable(path).metadata().configuration["delta.appendOnly"] == "true"


def test_keys_other_engines_wrote_never_block_appends_or_property_changes(tmp_path: Path) -> None:
    """A Spark/Databricks table may carry delta.* keys lakehouse does not know: reads, appends and setting
    other properties keep working, and the foreign key can be re-set or unset."""
    path = str(tmp_path / "t")
    model = base(path)
    log = Path(path) / "_delta_log"
    meta = next(a for a in actions_of(path, 0, "metaData"))
    import json
    meta["configuration"] = {**meta["configuration"], "delta.databricksOnlyKnob": "x",
                             "delta.autoOptimize.optimizeWrite": "true"}
    (log / f"{2:020d}.json").write_text(json.dumps({"metaData": meta}) + "\n")
    lakehouse.write_delta(path, tbl(rows(10, 2)), mode="append")
    model.record(3, rows(0, 12))
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.set_table_properties({"custom.x": "1"}).version == 4
    assert dt.alter.set_table_properties({"delta.databricksOnlyKnob": "y"}).version == 5
    assert dt.metadata.configuration["delta.databricksOnlyKnob"] == "y"
    assert dt.alter.set_table_properties({"delta.databricksOnlyKnob": None}).version == 6
    assert "delta.databricksOnlyKnob" not in dt.metadata.configuration
    model.same_as(6, 3)
    model.check()


def test_protocol_versions_are_protocol_requests_not_properties(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, tbl(rows(0, 3)), configuration={
        "delta.minReaderVersion": "1", "delta.minWriterVersion": "4"})
    dt = lakehouse.DeltaTable(path)
    assert (dt.protocol.min_reader_version, dt.protocol.min_writer_version) == (1, 4)
    assert "delta.minReaderVersion" not in dt.metadata.configuration
    assert dt.alter.set_table_properties({"delta.minWriterVersion": "7"}).version == 1
    p = dt.protocol
    assert p.min_writer_version == 7 and {"changeDataFeed", "appendOnly", "invariants"} <= set(p.writer_features)
    assert "delta.minWriterVersion" not in dt.metadata.configuration
    assert sorted(r["id"] for r in deltalake.DeltaTable(path).to_pyarrow_table().to_pylist()) == [0, 1, 2]


def test_enable_type_widening_records_its_feature(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    base(path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.enableTypeWidening": "true"})
    assert "typeWidening" in dt.protocol.writer_features and "typeWidening" in dt.protocol.reader_features


@pytest.mark.parametrize("key,feature", [
    ("delta.generationExpression", "generatedColumns"),
    ("delta.identity.start", "identityColumns"),
    ("CURRENT_DEFAULT", "allowColumnDefaults"),
])
def test_field_metadata_of_column_features_needs_the_feature(tmp_path: Path, key: str, feature: str) -> None:
    """Column declarations are recorded with their feature on create; a generated or identity column
    cannot be added to an existing table (its rows were not generated by it), a default can."""
    value = "id + 1" if key == "delta.generationExpression" else "1"
    field = StructField("g", PrimitiveType("long"), True, {key: value})
    schema = StructType((StructField("id", PrimitiveType("long")), field))
    path = tmp_path / "new"
    created = lakehouse.DeltaTable.create(str(path), schema=schema)
    assert created.protocol.min_writer_version >= 4
    assert feature in (created.protocol.writer_features or ()) or created.protocol.min_writer_version in (4, 6)
    existing = str(tmp_path / "t")
    model = base(existing)
    before = log_files(existing)
    if feature == "allowColumnDefaults":
        lakehouse.DeltaTable(existing).alter.add_columns([field])
        assert "allowColumnDefaults" in (lakehouse.DeltaTable(existing).protocol.writer_features or ())
        return
    with pytest.raises(UnsupportedFeatureError) as e:
        lakehouse.DeltaTable(existing).alter.add_columns([field])
    assert e.value.feature == feature and key in str(e.value) and "'g'" in str(e.value)
    _unchanged(existing, before, model)
