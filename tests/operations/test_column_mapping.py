"""Column-mapped tables written by lakehouse (`name` and `id` modes): data files use physical names and
Parquet field ids at every nesting level, stats and partition values are keyed by physical names; append,
overwrite, replaceWhere, DELETE (copy-on-write and deletion vectors), UPDATE, MERGE (with schema
evolution), OPTIMIZE and Z-order each read back by lakehouse and by delta-rs at every version. DML by
lakehouse on column-mapped tables that Spark and delta-rs wrote (conformance corpus copies)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from tests.support.conformance import MISSING, canonical_rows, corpus_dir, describe_difference
from tests.support.log import actions_of, field_id, file_stats
from tests.support.rows import Model, dl_table

MODES = ["name", "id"]
STRUCT = pa.struct([("x", pa.int64()), ("y", pa.string())])
SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("s", STRUCT), ("d", pa.date32()),
                    ("tags", pa.list_(pa.string())), ("p", pa.string())])


def rows(start: int, n: int, parts: str = "ab") -> list[dict]:
    """``n`` rows with ids from ``start`` (nested struct and list values, a null now and then)."""
    return [{"id": i, "v": i * 10, "s": None if i % 5 == 4 else {"x": i, "y": f"y{i}"}, "d": date(2024, 1, 1 + i % 28),
             "tags": [f"t{i}"] * (i % 3), "p": parts[i % len(parts)]} for i in range(start, start + n)]


def tbl(r: list[dict], schema: pa.Schema = SCHEMA) -> pa.Table:
    """The rows as a pyarrow Table of ``schema``."""
    return pa.Table.from_pylist(r, schema=schema)


def physical(dt: lakehouse.DeltaTable) -> dict[str, Any]:
    """Logical name -> (physical name, id) of every top-level field, plus the struct's children."""
    out = {}
    for f in dt.delta_schema.fields:
        out[f.name] = (f.metadata["delta.columnMapping.physicalName"], int(f.metadata["delta.columnMapping.id"]))
        if f.name == "s":
            for c in f.type.fields:
                out[f"s.{c.name}"] = (c.metadata["delta.columnMapping.physicalName"], int(c.metadata["delta.columnMapping.id"]))
    return out


def check_files(path: str) -> None:
    """Every active data file stores physical names with field ids; stats and partition values use them."""
    dt = lakehouse.DeltaTable(path)
    names = physical(dt)
    for logical, (phys, _) in names.items():
        if "." not in logical:
            assert phys != logical and phys.startswith("col-"), f"{logical} has physical name {phys}"
    data_cols = [c for c in ("id", "v", "s", "d", "tags") if c in names]
    for row in dt.files().to_pylist():
        schema = pq.read_schema(Path(path) / unquote(row["path"]))
        assert set(schema.names) == {names[c][0] for c in data_cols}, (schema.names, names)
        for c in data_cols:
            f = schema.field(names[c][0])
            assert field_id(f) == names[c][1], f"{c}: field id {field_id(f)} != {names[c][1]}"
        if "s" in data_cols:
            s = schema.field(names["s"][0]).type
            assert {s.field(i).name for i in range(s.num_fields)} == {names["s.x"][0], names["s.y"][0]}
            assert field_id(s.field(names["s.x"][0])) == names["s.x"][1]
        pv = dict(row["partition_values"])
        if dt.partition_columns:
            assert set(pv) == {names["p"][0]}, f"partition values keyed {set(pv)}"
        stats = json.loads(row["stats"])
        for section in ("minValues", "maxValues", "nullCount"):
            keys = set(stats.get(section, {}))
            assert keys <= {names[c][0] for c in data_cols}, f"{section} keyed by {keys}"
        assert names["id"][0] in stats["minValues"] and names["s"][0] in stats["nullCount"]
        if "s" in data_cols and names["s"][0] in stats["minValues"]:
            assert set(stats["minValues"][names["s"][0]]) <= {names["s.x"][0], names["s.y"][0]}


def make(path: str, mode: str, *, dv: bool = False, partitioned: bool = True) -> Model:
    """v0: a column-mapped table of 10 rows in ``mode``."""
    model = Model(path)
    config = {"delta.columnMapping.mode": mode}
    if dv:
        config["delta.enableDeletionVectors"] = "true"
    lakehouse.write_delta(path, tbl(rows(0, 10)), partition_by=["p"] if partitioned else None, configuration=config)
    model.record(0, rows(0, 10))
    return model


@pytest.mark.parametrize("mode", MODES)
def test_files_use_physical_names_and_field_ids(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    model = make(path, mode)
    dt = lakehouse.DeltaTable(path)
    assert dt.metadata.configuration["delta.columnMapping.mode"] == mode
    ids = [i for _, i in physical(dt).values()]
    assert len(set(ids)) == len(ids)
    assert int(dt.metadata.configuration["delta.columnMapping.maxColumnId"]) >= max(ids)
    assert "columnMapping" in (dt.protocol.reader_features or ["columnMapping"]) and dt.protocol.min_reader_version >= 2
    check_files(path)
    # delta-rs's pyarrow reader refuses column mapping; its SQL engine reads it
    assert deltalake.DeltaTable(path).metadata().configuration["delta.columnMapping.mode"] == mode
    model.check()


@pytest.mark.parametrize("dv", [False, True], ids=["cow", "dv"])
@pytest.mark.parametrize("mode", MODES)
def test_every_write_and_dml_on_a_column_mapped_table(tmp_path: Path, mode: str, dv: bool) -> None:
    path = str(tmp_path / "t")
    model = make(path, mode, dv=dv)
    lakehouse.write_delta(path, tbl(rows(10, 6)), mode="append")
    model.record(1, rows(0, 16))
    lakehouse.write_delta(path, tbl(rows(100, 3, "a")), mode="overwrite", predicate="p = 'a'")
    model.record(2, [r for r in rows(0, 16) if r["p"] != "a"] + rows(100, 3, "a"))
    dt = lakehouse.DeltaTable(path)
    d = dt.delete("v > 110 OR s.x = 3")
    model.record(3, [r for r in model.latest() if not (r["v"] > 110 or (r["s"] is not None and r["s"]["x"] == 3))])
    assert d.num_deleted_rows > 0
    if dv:
        assert d.num_deletion_vectors_added > 0
    dt.update(updates={"v": "v + 1", "d": "DATE '2020-02-02'"}, predicate="id = 5 OR p = 'a'")
    model.record(4, [{**r, "v": r["v"] + 1, "d": date(2020, 2, 2)} if (r["id"] == 5 or r["p"] == "a") else r
                     for r in model.latest()])
    src = tbl([{**rows(7, 1)[0], "v": -7}] + rows(200, 2))
    m = (dt.merge(src, predicate="t.id = s.id").when_matched_update_all().when_not_matched_insert_all().execute())
    assert m.num_target_rows_updated == 1 and m.num_target_rows_inserted == 2
    model.record(5, [r for r in model.latest() if r["id"] != 7] + src.to_pylist())
    check_files(path)
    latest = 5
    compacted = dt.optimize.compact()  # copy-on-write may leave one file per partition already
    if compacted.version is not None:
        latest = compacted.version
        model.same_as(latest, 5)
    files = lakehouse.DeltaTable(path).files()
    assert files["deletion_vector"].null_count == files.num_rows
    z = dt.optimize.z_order(["v", "d"])
    assert z.version == latest + 1
    model.same_as(z.version, latest)
    check_files(path)
    res = lakehouse.write_delta(path, tbl(rows(300, 2)), mode="overwrite")
    model.record(res.version, rows(300, 2))
    check_files(path)
    model.check()


@pytest.mark.parametrize("mode", MODES)
def test_merge_schema_adds_a_mapped_column(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    model = make(path, mode)
    before = physical(lakehouse.DeltaTable(path))
    top = int(lakehouse.DeltaTable(path).metadata.configuration["delta.columnMapping.maxColumnId"])
    wide = pa.schema(list(SCHEMA) + [pa.field("extra", pa.string())])
    src = [{**rows(1, 1)[0], "extra": "changed"}, {**rows(50, 1)[0], "extra": "new"}]
    dt = lakehouse.DeltaTable(path)
    dt.merge(tbl(src, wide), predicate="t.id = s.id", merge_schema=True).when_matched_update_all() \
        .when_not_matched_insert_all().execute()
    model.record(1, [{**r, "extra": None} for r in rows(0, 10) if r["id"] != 1] + src)
    after = lakehouse.DeltaTable(path)
    field = after.delta_schema.field("extra")
    assert int(field.metadata["delta.columnMapping.id"]) == top + 1
    assert field.metadata["delta.columnMapping.physicalName"].startswith("col-")
    assert int(after.metadata.configuration["delta.columnMapping.maxColumnId"]) == top + 1
    assert {k: v for k, v in physical(after).items() if k in before} == before
    for a in actions_of(path, 1, "add"):
        names = pq.read_schema(Path(path) / unquote(a["path"])).names
        assert field.metadata["delta.columnMapping.physicalName"] in names and "extra" not in names
    # append with schema evolution too
    more = pa.schema(list(wide) + [pa.field("more", pa.int32())])
    new = [{**rows(60, 1)[0], "extra": "e", "more": 1}]
    lakehouse.write_delta(path, tbl(new, more), mode="append", schema_mode="merge")
    model.record(2, [{**r, "more": None} for r in model.latest()] + new)
    assert int(lakehouse.DeltaTable(path).delta_schema.field("more").metadata["delta.columnMapping.id"]) == top + 2
    model.check()


@pytest.mark.parametrize("mode", MODES)
def test_filters_and_skipping_on_a_column_mapped_table(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode, partitioned=False)
    for i in range(1, 4):
        lakehouse.write_delta(path, tbl(rows(i * 100, 10)), mode="append")
    scan = lakehouse.DeltaTable(path).scan(filter="id >= 300 AND id < 305")
    got = sorted(r["id"] for r in scan.to_arrow().to_pylist())
    assert got == [300, 301, 302, 303, 304]
    assert scan.metrics.files_after_stats_skipping == 1, "stats keyed by physical name must still skip files"
    s = file_stats(path)
    assert all(isinstance(x["numRecords"], int) for x in s)


# -- tables written by Spark and delta-rs --------------------------------------------------------------------
CORPUS = corpus_dir()

Pred = Callable[[dict], bool]
# (table, delete predicate, its truth in Python, update predicate, set, the updated row)
CORPUS_CASES: list[tuple[str, str, Pred, str, dict, Callable[[dict], dict]]] = [
    ("dat__column_mapping", "letter = 'a'", lambda r: r["letter"] == "a",
     "letter = 'b'", {"new_int": 0}, lambda r: {**r, "new_int": 0}),
    ("golden__data-reader-timestamp_ntz-name-mode", "id = 3", lambda r: r["id"] == 3,
     "id = 1", {"id": 100}, lambda r: {**r, "id": 100}),
    ("golden__table-with-columnmapping-mode-name", "IntegerType = 1", lambda r: r["IntegerType"] == 1,
     "LongType = 2", {"StringType": "'changed'"}, lambda r: {**r, "StringType": "changed"}),
    ("golden__table-with-columnmapping-mode-id", "IntegerType = 1", lambda r: r["IntegerType"] == 1,
     "LongType = 2", {"StringType": "'changed'"}, lambda r: {**r, "StringType": "changed"}),
    ("kernelrs__cdf-column-mapping-id-mode", "id = 4", lambda r: r["id"] == 4,
     "id = 2", {"name": "'Zoe'"}, lambda r: {**r, "name": "Zoe"}),
    ("deltars__table_with_column_mapping", "\"Super Name\" = 'Anthony Johnson'",
     lambda r: r["Super Name"] == "Anthony Johnson", "\"Company Very Short\" = 'BMS'", {"Super Name": "'X'"},
     lambda r: {**r, "Super Name": "X"}),
]


def assert_multiset(got: pa.Table, want: list[dict] | pa.Table, label: str) -> None:
    """Same rows as a multiset by column name (the corpus's comparison rules)."""
    want_t = want if isinstance(want, pa.Table) else pa.Table.from_pylist(want, schema=got.schema)
    g, w = canonical_rows(got), canonical_rows(want_t)
    assert g == w, f"{label}: {sum(g.values())} rows vs {sum(w.values())}\n{describe_difference(g, w)}"


@pytest.mark.skipif(CORPUS is None, reason=MISSING)
@pytest.mark.parametrize("name,del_sql,del_py,upd_sql,upd_set,upd_py", CORPUS_CASES, ids=[c[0] for c in CORPUS_CASES])
def test_dml_on_column_mapped_tables_of_other_engines(tmp_path: Path, name: str, del_sql: str, del_py: Pred,
                                                      upd_sql: str, upd_set: dict, upd_py: Callable) -> None:
    path = tmp_path / "t"
    shutil.copytree(CORPUS / "tables" / name, path)
    dt = lakehouse.DeltaTable(path)
    start = dt.version
    schema = dt.schema
    expected: dict[int, list[dict]] = {}
    current = dt.to_arrow().to_pylist()
    assert any(del_py(r) for r in current) and any(not del_py(r) for r in current)
    # append two of the table's own rows
    extra = pa.Table.from_pylist(current[:2], schema=schema)
    lakehouse.write_delta(path, extra, mode="append")
    current = current + current[:2]
    expected[start + 1] = current
    dt.refresh()
    dt.delete(del_sql)
    current = [r for r in current if not del_py(r)]
    expected[start + 2] = current
    upd_match = lambda r: eval_update(upd_sql, r)  # noqa: E731
    dt.update(updates=upd_set, predicate=upd_sql)
    current = [upd_py(r) if upd_match(r) else r for r in current]
    expected[start + 3] = current
    m = dt.optimize.compact()
    if m.version is not None:
        expected[m.version] = current
    for v, want in expected.items():
        assert_multiset(lakehouse.DeltaTable(path, version=v).to_arrow(), want, f"lakehouse v{v}")
        ours = lakehouse.DeltaTable(path, version=v).to_arrow()
        theirs = dl_table(path, v)
        g, w = canonical_rows(theirs.select(ours.column_names)), canonical_rows(ours)
        assert g == w, f"delta-rs v{v}\n{describe_difference(g, w)}"
    # every new data file uses the table's physical names
    phys = {f.metadata["delta.columnMapping.physicalName"] for f in dt.delta_schema.fields}
    parts = set(dt.partition_columns)
    data_phys = {f.metadata["delta.columnMapping.physicalName"] for f in dt.delta_schema.fields if f.name not in parts}
    for v in expected:
        for a in actions_of(path, v, "add"):
            names = set(pq.read_schema(path / unquote(a["path"])).names)
            assert names == data_phys, f"v{v} {a['path']}: {names}"
            assert set(a["partitionValues"]) <= phys
    assert lakehouse.DeltaTable(path).verify().ok


def eval_update(sql: str, row: dict) -> bool:
    """The corpus cases' UPDATE predicates (`col = literal`) evaluated on a Python row."""
    left, right = (s.strip() for s in sql.split("=", 1))
    col = left.strip('"')
    value: Any = right.strip("'") if right.startswith("'") else int(right)
    return row[col] == value


@pytest.mark.parametrize("dv", [False, True], ids=["cow", "dv"])
def test_optimize_after_enabling_mapping_and_renaming(tmp_path: Path, dv: bool) -> None:
    """Files written before column mapping hold logical names that became physical ones: rewriting them
    after a rename and a drop must keep the physical names, not the new logical ones."""
    path = str(tmp_path / "t")
    flat = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("w", pa.string()), ("p", pa.string())])
    model = Model(path)
    data = [{"id": i, "v": i, "w": f"w{i}", "p": "ab"[i % 2]} for i in range(12)]
    conf = {"delta.enableDeletionVectors": "true"} if dv else None
    lakehouse.write_delta(path, pa.Table.from_pylist(data[:6], schema=flat), partition_by=["p"], configuration=conf)
    model.record(0, data[:6])
    lakehouse.write_delta(path, pa.Table.from_pylist(data[6:], schema=flat), mode="append")
    model.record(1, data)
    dt = lakehouse.DeltaTable(path)
    dt.alter.set_table_properties({"delta.columnMapping.mode": "name"})
    model.same_as(2, 1)
    dt.alter.rename_column("v", "value")
    model.record(3, [{"id": r["id"], "value": r["v"], "w": r["w"], "p": r["p"]} for r in data])
    dt.alter.drop_columns(["w"])
    model.record(4, [{"id": r["id"], "value": r["v"], "p": r["p"]} for r in data])
    dt.delete("value IN (2, 3)")
    model.record(5, [r for r in model.latest() if r["value"] not in (2, 3)])
    m = dt.optimize.compact()
    assert m.version == 6
    model.same_as(6, 5)
    for a in actions_of(path, 6, "add"):
        names = set(pq.read_schema(Path(path) / unquote(a["path"])).names)
        assert names == {"id", "v"}, f"rewritten file holds {names}; the physical names are id and v"
        stats = json.loads(a["stats"])
        assert set(stats["minValues"]) == {"id", "v"}
        assert set(a["partitionValues"]) == {"p"}
    lakehouse.write_delta(path, pa.table({"id": pa.array([99], pa.int64()), "value": pa.array([99], pa.int64()),
                                          "p": ["a"]}), mode="append")
    model.record(7, model.latest() + [{"id": 99, "value": 99, "p": "a"}])
    model.check()


@pytest.mark.parametrize("mode", MODES)
def test_nested_schema_evolution_and_change_data_on_a_column_mapped_table(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    narrow = pa.schema([("id", pa.int64()), ("s", pa.struct([("x", pa.int64())])), ("p", pa.string())])
    wide = pa.schema([("id", pa.int64()), ("s", pa.struct([("x", pa.int64()), ("z", pa.string())])), ("p", pa.string())])
    model = Model(path)
    first = [{"id": 1, "s": {"x": 1}, "p": "a"}, {"id": 2, "s": {"x": 2}, "p": "b"}]
    lakehouse.write_delta(path, tbl(first, narrow), partition_by=["p"],
                          configuration={"delta.columnMapping.mode": mode, "delta.enableChangeDataFeed": "true"})
    model.record(0, first)
    top = int(lakehouse.DeltaTable(path).metadata.configuration["delta.columnMapping.maxColumnId"])
    new = [{"id": 3, "s": {"x": 3, "z": "zz"}, "p": "b"}]
    lakehouse.write_delta(path, tbl(new, wide), mode="append", schema_mode="merge")
    model.record(1, [{**r, "s": {**r["s"], "z": None}} for r in first] + new)
    dt = lakehouse.DeltaTable(path)
    z = dt.delta_schema.field("s").type.fields[1]
    assert z.name == "z" and int(z.metadata["delta.columnMapping.id"]) == top + 1
    for a in actions_of(path, 1, "add"):
        s_type = pq.read_schema(Path(path) / unquote(a["path"])).field(physical(dt)["s"][0]).type
        assert {s_type.field(i).name for i in range(s_type.num_fields)} == {
            f.metadata["delta.columnMapping.physicalName"] for f in dt.delta_schema.field("s").type.fields}
    dt.update(updates={"id": 10}, predicate="id = 1")
    model.record(2, [{**r, "id": 10} if r["id"] == 1 else r for r in model.latest()])
    dt.delete("id = 2")
    model.record(3, [r for r in model.latest() if r["id"] != 2])
    for v in (2, 3):
        for c in actions_of(path, v, "cdc"):
            names = set(pq.read_schema(Path(path) / unquote(c["path"])).names)
            assert "id" not in names and physical(dt)["id"][0] in names, f"change data file holds {names}"
    feed = dt.load_cdf(0).select(["id", "_change_type", "_commit_version"]).to_pylist()
    assert sorted((r["_commit_version"], r["_change_type"], r["id"]) for r in feed) == [
        (0, "insert", 1), (0, "insert", 2), (1, "insert", 3), (2, "update_postimage", 10), (2, "update_preimage", 1),
        (3, "delete", 2)]
    model.check()
