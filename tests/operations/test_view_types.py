"""Data files whose Arrow schema uses other physical types than the table schema (issue 18 item 6).

delta-rs's DELETE/UPDATE/MERGE write Parquet files whose stored Arrow schema has `string_view` and
`binary_view`; other writers use `large_string` or dictionary encoding. `lakehouse` reads such a file as the
table schema's types before it applies a deletion vector or hands rows to DML, OPTIMIZE or CDF, so every
operation works on a DV'd view-typed file. Each test checks every row against deltalake's read.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from pathlib import Path

import deltalake
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from tests.support.rows import assert_same_rows, dl_read, lh_read
from tests.operations.test_cdf import dl_cdf
from tests.support.log import commit_actions

SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("b", pa.binary()),
                    ("l", pa.list_(pa.string())), ("st", pa.struct([("x", pa.string())]))])


def _rows(ids: range, tag: str) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "s": f"{tag}{i}", "b": f"{tag}{i}".encode(), "l": [f"{tag}{i}", None],
                                  "st": {"x": f"{tag}{i}"}} for i in ids], schema=SCHEMA)


def _view_table(path: str, *, cdf: bool = False) -> None:
    """A DV table whose only data file was rewritten by delta-rs (view types), then one row deleted by
    lakehouse with a deletion vector."""
    conf = {"delta.enableDeletionVectors": "true"}
    if cdf:
        conf["delta.enableChangeDataFeed"] = "true"
    lakehouse.write_delta(path, _rows(range(6), "v"), configuration=conf)
    deltalake.DeltaTable(path).update(updates={"s": "'z'"}, predicate="id >= 0")
    files = [f for f in os.listdir(path) if f.endswith(".parquet")]
    assert any(pa.types.is_string_view(pq.read_schema(os.path.join(path, f)).field("s").type) for f in files), \
        "delta-rs no longer writes string_view: this test lost its subject"
    lakehouse.DeltaTable(path).delete("id = 2")
    dt = lakehouse.DeltaTable(path)
    assert any("deletionVector" in a.get("add", {}) for a in commit_actions(path, dt.version)), "no DV was written"


def _check(path: str, label: str) -> None:
    assert_same_rows(lh_read(path), dl_read(path), label)


def test_read_after_dv_delete_on_view_typed_file(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path)
    got = lh_read(path)
    assert got.schema == SCHEMA
    assert sorted(got.column("id").to_pylist()) == [0, 1, 3, 4, 5]
    assert set(got.column("s").to_pylist()) == {"z"}
    _check(path, "read")
    # a filtered read and a streamed read take the same per-file path
    assert lakehouse.DeltaTable(path).to_arrow(filter="id > 3").column("id").to_pylist() == [4, 5]
    batches = lakehouse.DeltaTable(path).scan(None, None).to_batches().read_all()
    assert_same_rows(batches, dl_read(path), "to_batches")


def test_delete_again(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path)
    lakehouse.DeltaTable(path).delete("id = 4")
    _check(path, "second DV delete")
    assert sorted(lh_read(path).column("id").to_pylist()) == [0, 1, 3, 5]


def test_update(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path)
    lakehouse.DeltaTable(path).update(updates={"s": "'u'"}, predicate="id = 3")
    _check(path, "update")
    rows = {r["id"]: r for r in lh_read(path).to_pylist()}
    assert rows[3]["s"] == "u" and rows[3]["b"] == b"v3" and rows[1]["s"] == "z" and 2 not in rows


def test_merge(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path)
    source = _rows(range(4, 9), "m")
    lakehouse.DeltaTable(path).merge(source, "t.id = s.id") \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    _check(path, "merge")
    rows = {r["id"]: r["s"] for r in lh_read(path).to_pylist()}
    assert rows == {0: "z", 1: "z", 3: "z", 4: "m4", 5: "m5", 6: "m6", 7: "m7", 8: "m8"}


def test_optimize(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path)
    lakehouse.write_delta(path, _rows(range(10, 12), "a"), mode="append")
    before = lh_read(path)
    lakehouse.DeltaTable(path).optimize.compact(min_file_size=1 << 30)
    assert len(lakehouse.DeltaTable(path).snapshot.adds) == 1
    assert_same_rows(lh_read(path), before, "optimize keeps the rows")
    _check(path, "optimize")


def test_cdf_read(tmp_path):
    path = str(tmp_path / "t")
    _view_table(path, cdf=True)
    lakehouse.DeltaTable(path).update(updates={"s": "'u'"}, predicate="id = 3")
    version = lakehouse.DeltaTable(path).version
    cols = ["id", "s", "_change_type"]
    for start in range(version + 1):
        ours = lakehouse.DeltaTable(path).load_cdf(start, version).select(cols)
        theirs = dl_cdf(path, starting_version=start, ending_version=version).select(cols)
        assert_same_rows(ours, theirs, f"cdf from v{start}")
    deleted = lakehouse.DeltaTable(path).load_cdf(2, 2).to_pylist()
    assert [(r["id"], r["s"], r["_change_type"]) for r in deleted] == [(2, "z", "delete")]


def _net(rows: list[dict]) -> Counter:
    """Changes with identical delete/insert pairs cancelled (a copied row is no change)."""
    out: Counter = Counter()
    for r in rows:
        out[(r["id"], r["s"])] += 1 if r["_change_type"] in ("insert", "update_postimage") else -1
    return Counter({k: v for k, v in out.items() if v})


def test_cdf_of_commits_without_change_files(tmp_path):
    """DV commits written without change files (as Databricks writes them) make the feed read the
    view-typed file itself: with its new vector for the rows a vector adds, with its old one for a remove."""
    path = str(tmp_path / "t")
    _view_table(path, cdf=True)
    lakehouse.DeltaTable(path).update(updates={"s": "'u'"}, predicate="id = 3")
    lakehouse.DeltaTable(path).delete("s = 'z'")  # every live row of the view-typed file: a plain remove
    for version in (2, 3, 4):
        lines = [ln for ln in Path(path, "_delta_log", f"{version:020d}.json").read_bytes().splitlines()
                 if ln.strip() and b'"cdc"' not in ln[:8]]
        Path(path, "_delta_log", f"{version:020d}.json").write_bytes(b"\n".join(lines) + b"\n")
    dt = lakehouse.DeltaTable(path)
    v2 = dt.load_cdf(2, 2).to_pylist()
    assert [(r["id"], r["s"], r["_change_type"]) for r in v2] == [(2, "z", "delete")]
    assert _net(dt.load_cdf(3, 3).to_pylist()) == Counter({(3, "z"): -1, (3, "u"): 1})
    assert _net(dt.load_cdf(0, 3).to_pylist()) == Counter({(i, "z"): 1 for i in (0, 1, 4, 5)} | {(3, "u"): 1})
    assert _net(dt.load_cdf(4, 4).to_pylist()) == Counter({(i, "z"): -1 for i in (0, 1, 4, 5)})
    assert _net(dt.load_cdf(0, 4).to_pylist()) == Counter({(3, "u"): 1})
    assert_same_rows(lh_read(path), dl_read(path), "after the last delete")


def _hand_add(path: str, version: int, file_name: str) -> None:
    """Commit an add action for a data file written outside lakehouse (like another engine would)."""
    size = os.path.getsize(os.path.join(path, file_name))
    num = pq.read_metadata(os.path.join(path, file_name)).num_rows
    add = {"add": {"path": file_name, "partitionValues": {}, "size": size, "dataChange": True,
                   "modificationTime": int(time.time() * 1000), "stats": orjson.dumps({"numRecords": num}).decode()}}
    info = {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "WRITE"}}
    Path(path, "_delta_log", f"{version:020d}.json").write_bytes(orjson.dumps(info) + b"\n" + orjson.dumps(add) + b"\n")


CRAFTED = {
    "string_view": (pa.string_view(), pa.binary_view()),
    "large": (pa.large_string(), pa.large_binary()),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), pa.dictionary(pa.int8(), pa.binary())),
}


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_file_with_other_physical_types(tmp_path, kind):
    path = str(tmp_path / kind)
    lakehouse.write_delta(path, _rows(range(3), "w"), configuration={"delta.enableDeletionVectors": "true"})
    s_type, b_type = CRAFTED[kind]
    list_type = pa.list_(pa.large_string() if kind == "large" else pa.string_view() if kind == "string_view"
                         else pa.dictionary(pa.int32(), pa.string()))
    struct_type = pa.struct([("x", s_type)])
    ids = list(range(100, 106))
    crafted = pa.table({
        "id": pa.array(ids, pa.int64()),
        "s": pa.array([f"c{i}" for i in ids], pa.string()).cast(s_type),
        "b": pa.array([f"c{i}".encode() for i in ids], pa.binary()).cast(b_type),
        "l": pa.array([[f"c{i}", None] for i in ids], pa.list_(pa.string())).cast(list_type),
        "st": pa.array([{"x": f"c{i}"} for i in ids], pa.struct([("x", pa.string())])).cast(struct_type),
    })
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(crafted, os.path.join(path, name))
    stored = pq.read_schema(os.path.join(path, name))
    assert stored.field("s").type == s_type, "pyarrow did not keep the crafted type"
    _hand_add(path, 1, name)
    _check(path, "crafted file read")
    dt = lakehouse.DeltaTable(path)
    dt.delete("id = 101 OR id = 1")
    _check(path, "DV delete on crafted file")
    got = {r["id"]: r for r in lh_read(path).to_pylist()}
    assert sorted(got) == [0, 2, 100, 102, 103, 104, 105]
    assert got[103] == {"id": 103, "s": "c103", "b": b"c103", "l": ["c103", None], "st": {"x": "c103"}}
    lakehouse.DeltaTable(path).update(updates={"s": "'u'"}, predicate="id = 104")
    _check(path, "update on crafted file")
    lakehouse.DeltaTable(path).optimize.compact(min_file_size=1 << 30)
    _check(path, "optimize on crafted file")
    assert len(lh_read(path)) == 7


@pytest.mark.parametrize("kind", sorted(CRAFTED))
@pytest.mark.parametrize("operation", ["filter", "optimize", "z_order", "merge"])
def test_crafted_file_without_deletion_vector(tmp_path, kind, operation):
    """Files without a DV take the Arrow dataset path (scans, OPTIMIZE): the same normalisation holds."""
    path = str(tmp_path / kind)
    lakehouse.write_delta(path, _rows(range(3), "w").select(["id", "s", "b"]))
    s_type, b_type = CRAFTED[kind]
    ids = list(range(100, 106))
    crafted = pa.table({"id": pa.array(ids, pa.int64()), "s": pa.array([f"c{i}" for i in ids]).cast(s_type),
                        "b": pa.array([f"c{i}".encode() for i in ids]).cast(b_type)})
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(crafted, os.path.join(path, name))
    _hand_add(path, 1, name)
    dt = lakehouse.DeltaTable(path)
    if operation == "filter":
        assert sorted(dt.to_arrow(filter="s >= 'c103' AND s < 'd'").column("id").to_pylist()) == [103, 104, 105]
        assert dt.scan("b = 'c101'", None).to_batches().read_all().column("id").to_pylist() == [101]
    elif operation == "optimize":
        dt.optimize.compact(min_file_size=1 << 30)
    elif operation == "z_order":
        dt.optimize.z_order(["s"])
    else:
        source = pa.table({"id": pa.array([100, 7], pa.int64()), "s": pa.array(["m", "n"]).cast(pa.string_view())})
        dt.merge(source, "t.id = s.id").when_matched_update({"s": "s.s"}) \
            .when_not_matched_insert({"id": "s.id", "s": "s.s"}).execute()
    _check(path, operation)
    assert lh_read(path).schema == pa.schema([("id", pa.int64()), ("s", pa.string()), ("b", pa.binary())])
