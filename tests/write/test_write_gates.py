"""The writer gate on real Spark/Databricks tables: refuse (naming the feature, changing nothing) the
tables whose active features lakehouse cannot write; write the others correctly, preserving their
feature-specific state (deletion vectors in removes, CDF, type widening, vacuumProtocolCheck)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import UnsupportedFeatureError
from tests.support.conformance import corpus_dir
from tests.support.log import actions_of, log_state
from tests.support.rows import Versions, assert_rows, concat, dl_read

if corpus_dir() is None:  # pragma: no cover - the corpus ships beside the repo
    pytest.skip("conformance corpus not found", allow_module_level=True)
TABLES = corpus_dir() / "tables"


def _copy(tmp_path: Path, name: str) -> str:
    dst = tmp_path / name
    shutil.copytree(TABLES / name, dst)
    return str(dst)


def _protocol_and_config(path: str) -> tuple[dict, dict, dict]:
    """The newest protocol, metaData configuration and schema in the JSON commits."""
    proto, meta = None, None
    for f in sorted((Path(path) / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            a = json.loads(line)
            proto = a.get("protocol", proto)
            meta = a.get("metaData", meta)
    return proto, meta["configuration"], json.loads(meta["schemaString"])


REFUSED = [
    # (table, the feature expected to be named, how the feature is active)
    # dat__generated_columns is writable now: tests/write/test_generated_columns.py
    ("dat__iceberg_compat_v1", None,
     lambda proto, conf, schema: conf["delta.enableIcebergCompatV1"] == "true"),
    ("deltars__table_with_liquid_clustering", None,
     lambda proto, conf, schema: {"liquid", "rowTracking"} <= set(proto["writerFeatures"])),
]


@pytest.mark.parametrize("name, feature, active", REFUSED, ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_unwritable_feature_is_refused(tmp_path, name, feature, active, mode):
    path = _copy(tmp_path, name)
    proto, conf, schema = _protocol_and_config(path)
    assert active(proto, conf, schema), "the corpus table no longer uses the feature this test expects"
    table = lakehouse.DeltaTable(path)
    rows = table.to_arrow()
    data = rows.slice(0, 1)
    before = log_state(path)
    with pytest.raises(UnsupportedFeatureError) as e:
        lakehouse.write_delta(path, data, mode=mode)
    named = e.value.feature
    if feature is not None:
        assert named == feature
    else:
        # Any of the active, unwritable features the protocol lists may be the one named.
        listed = set(proto.get("writerFeatures") or []) | set(proto.get("readerFeatures") or [])
        assert named in listed, (named, listed)
    assert named in str(e.value)
    assert log_state(path) == before, "the refused write touched the log"
    assert_rows(lakehouse.DeltaTable(path).to_arrow(), rows)


@pytest.mark.parametrize("name", ["dat__column_mapping", "deltars__table_with_column_mapping"])
@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_column_mapped_tables_are_written_with_their_physical_names(tmp_path, name, mode):
    """Column mapping is writable: new files use the table's physical names and field ids, and both
    lakehouse and delta-rs (DataFusion) read the old and new rows."""
    import pyarrow.parquet as pq

    path = _copy(tmp_path, name)
    table = lakehouse.DeltaTable(path)
    n = table.version
    base = table.to_arrow()
    data = base.slice(0, 1)
    lakehouse.write_delta(path, data, mode=mode)
    expected = concat(base, data) if mode == "append" else data
    v = Versions(path)
    v[n] = base
    v[n + 1] = expected
    v.check()
    (add,) = [a for a in actions_of(path, n + 1, "add")]
    physical = {f.metadata["delta.columnMapping.physicalName"] for f in table.delta_schema.fields}
    parts = set(table.partition_columns)
    file_names = set(pq.read_schema(Path(path) / unquote(add["path"])).names)
    data_physical = {f.metadata["delta.columnMapping.physicalName"] for f in table.delta_schema.fields if f.name not in parts}
    assert file_names == data_physical
    assert set(add["partitionValues"]) <= physical
    assert set(json.loads(add["stats"])["nullCount"]) <= physical
    theirs = dl_read(path, sql=True)
    assert sorted(map(str, theirs.to_pylist())) == sorted(map(str, expected.to_pylist()))


def test_generated_columns_supported_but_inactive_is_writable(table_path):
    """A legacy writer-4 table (generatedColumns implied) with no generated column is writable."""
    t = pa.table({"id": pa.array([1], pa.int64())})
    lakehouse.write_delta(table_path, t, configuration={"delta.enableChangeDataFeed": "true"})
    (proto,) = actions_of(table_path, 0, "protocol")
    assert proto["minWriterVersion"] == 4
    lakehouse.write_delta(table_path, t, mode="append")
    v = Versions(table_path)
    v[0] = t
    v[1] = concat(t, t)
    v.check()


def _dv_files(path: str, version: int | None = None) -> dict[str, dict]:
    files = lakehouse.DeltaTable(path, version=version).files().to_pylist()
    return {f["path"]: f for f in files}


def test_deletion_vectors_append_then_overwrite(tmp_path):
    path = _copy(tmp_path, "dat__deletion_vectors")
    base_dt = lakehouse.DeltaTable(path)
    n = base_dt.version
    base = base_dt.to_arrow()
    v = Versions(path)
    v[n] = base
    with_dv = {p: f for p, f in _dv_files(path).items() if f["deletion_vector"] is not None}
    assert with_dv, "the corpus table should have a file with a deletion vector"

    extra = pa.table({"letter": ["q", None], "int": pa.array([1, 2], pa.int64()),
                      "date": pa.array([None, None], pa.date32())}).cast(base.schema)
    r = lakehouse.write_delta(path, extra, mode="append")
    assert r.version == n + 1
    v[n + 1] = concat(base, extra)
    # The DV of the old file is still in force after our append.
    assert {p for p, f in _dv_files(path).items() if f["deletion_vector"] is not None} == set(with_dv)

    r = lakehouse.write_delta(path, extra.slice(0, 1), mode="overwrite")
    v[n + 2] = extra.slice(0, 1)
    v.check()
    removes = {x["path"]: x for x in actions_of(path, n + 2, "remove")}
    assert set(with_dv) <= set(removes)
    for p, f in with_dv.items():
        dv = removes[p].get("deletionVector")
        assert dv is not None, "the remove of a file with a DV must carry its deletionVector"
        want = f["deletion_vector"]
        assert dv["storageType"] == want["storageType"]
        assert dv["pathOrInlineDv"] == want["pathOrInlineDv"]
        assert dv.get("offset") == want.get("offset")
        assert dv["sizeInBytes"] == want["sizeInBytes"] and dv["cardinality"] == want["cardinality"]


def test_deletion_vectors_replace_where_rewrites_without_resurrecting_rows(tmp_path):
    """A data-predicate replaceWhere rewrites a file that has a DV: deleted rows must stay deleted."""
    path = _copy(tmp_path, "dat__deletion_vectors")
    base_dt = lakehouse.DeltaTable(path)
    n = base_dt.version
    base = base_dt.to_arrow()
    # Spark physically holds 5 rows; the DV deletes the 4 with letter = 'a'.
    assert base.num_rows == 1
    new = pa.table({"letter": ["n"], "int": pa.array([1000], pa.int64()), "date": pa.array([None], pa.date32())}).cast(base.schema)
    lakehouse.write_delta(path, new, mode="overwrite", predicate="int > 500")
    v = Versions(path)
    v[n] = base
    v[n + 1] = concat(base.filter(pa.compute.field("int") <= 500), new)
    v.check()


def test_partitioned_dv_table_with_checkpoint_partition_overwrite(tmp_path):
    path = _copy(tmp_path, "golden__dv-partitioned-with-checkpoint")
    dt = lakehouse.DeltaTable(path)
    n = dt.version
    base = dt.to_arrow()
    part = dt.partition_columns[0]
    files = dt.files().to_pylist()
    values = sorted({dict(f["partition_values"])[part] for f in files if f["deletion_vector"] is not None})
    assert values
    target = values[0]
    typ = dt.schema.field(part).type
    target_value = pa.scalar(target).cast(typ).as_py() if not pa.types.is_string(typ) else target
    keep = base.filter(pa.compute.field(part) != pa.scalar(target_value, typ))
    new = base.filter(pa.compute.field(part) == pa.scalar(target_value, typ)).slice(0, 1)
    assert new.num_rows == 1
    pred = f"{part} = '{target}'" if pa.types.is_string(typ) else f"{part} = {target}"
    lakehouse.write_delta(path, new, mode="overwrite", predicate=pred)
    v = Versions(path)
    v[n] = base
    v[n + 1] = concat(keep, new)
    v.check()
    dv_paths = {f["path"] for f in files if f["deletion_vector"] is not None and dict(f["partition_values"])[part] == target}
    removes = {x["path"]: x for x in actions_of(path, n + 1, "remove")}
    for p in dv_paths:
        assert removes[p].get("deletionVector") is not None


def test_cdf_table_append_and_whole_file_overwrite(tmp_path):
    import deltalake

    path = _copy(tmp_path, "dat__cdf")
    dt = lakehouse.DeltaTable(path)
    n = dt.version
    base = dt.to_arrow()
    extra = base.slice(0, 2)
    lakehouse.write_delta(path, extra, mode="append")
    lakehouse.write_delta(path, extra.slice(0, 1), mode="overwrite")
    v = Versions(path)
    v[n] = base
    v[n + 1] = concat(base, extra)
    v[n + 2] = extra.slice(0, 1)
    v.check()
    # deltalake's change data feed over our commits: inserts, then deletes of every old row.
    cdf = pa.table(deltalake.DeltaTable(path).load_cdf(starting_version=n + 1).read_all())
    kinds = cdf.column("_change_type").to_pylist()
    assert kinds.count("insert") == extra.num_rows + 1
    assert kinds.count("delete") == base.num_rows + extra.num_rows


def test_cdf_table_refuses_data_predicate_replace_where(tmp_path):
    path = _copy(tmp_path, "dat__cdf")
    dt = lakehouse.DeltaTable(path)
    base = dt.to_arrow()
    col = base.schema.names[0]
    before = log_state(path)
    with pytest.raises(UnsupportedFeatureError) as e:
        lakehouse.write_delta(path, base.slice(0, 0), mode="overwrite", predicate=f"{col} IS NOT NULL")
    assert e.value.feature == "changeDataFeed"
    assert log_state(path) == before


@pytest.mark.parametrize("name", ["kernelrs__type-widening", "golden__basic-with-vacuum-protocol-check-feature",
                                  "dat__timestamp_ntz", "kernelrs__app-txn-checkpoint", "dat__with_checkpoint"])
def test_writable_feature_tables_append(tmp_path, name):
    import pyarrow.parquet as pq
    from urllib.parse import unquote

    path = _copy(tmp_path, name)
    # deltalake 1.6 reads neither typeWidening-preview nor vacuumProtocolCheck tables.
    oracle = name not in ("kernelrs__type-widening", "golden__basic-with-vacuum-protocol-check-feature")
    dt = lakehouse.DeltaTable(path)
    n = dt.version
    base = dt.to_arrow()
    extra = base.slice(0, 2)
    r = lakehouse.write_delta(path, extra, mode="append")
    assert r.version == n + 1
    v = Versions(path, use_deltalake=oracle)
    v[n] = base
    v[n + 1] = concat(base, extra)
    v.check()
    # The protocol and schema are unchanged by a plain append.
    assert actions_of(path, n + 1, "protocol") == [] and actions_of(path, n + 1, "metaData") == []
    # The new file, read with plain pyarrow, holds exactly the appended rows in the table's types.
    (add,) = actions_of(path, n + 1, "add")
    written = pq.read_table(f"{path}/{unquote(add['path'])}")
    assert written.schema.names == [c for c in base.schema.names if c not in dt.partition_columns]
    for f in written.schema:
        assert f.type == base.schema.field(f.name).type, f
    assert_rows(written, extra.drop_columns(dt.partition_columns))
