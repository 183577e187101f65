"""Two-way interoperability with delta-rs: tables WRITTEN by `deltalake` must be READ by `lakehouse`
exactly as `deltalake` reads them, at every version of their history.

Each scenario builds a small table in pytest's ``tmp_path`` with the `deltalake` writer API
(`write_deltalake`, `DeltaTable.delete/update/merge`, `optimize.compact`, `create_checkpoint`,
`cleanup_metadata`, schema evolution, predicate overwrites, partitioning) and then, for every version
``v`` in ``0..latest``, compares ``lakehouse.DeltaTable(path, version=v)`` with
``deltalake.DeltaTable(path, version=v)`` (see `assert_same_at_version`):

- rows, as a multiset keyed by column name (`canonical_rows` from tests/conformance_support.py);
- column names, in order;
- Arrow types after normalisation (`normalise_type`): ``large_string``/``string_view`` -> ``string``,
  ``large_binary``/``binary_view`` -> ``binary``, ``large_list``/``list_view``/``large_list_view`` ->
  ``list``, dictionary-encoded -> its value type, list item field named ``element``, map entry fields named
  ``key``/``value``, and a UTC timestamp zone spelled ``UTC`` (``+00:00``/``Etc/UTC`` are the same zone).
  Nullability is kept in the comparison. (With deltalake 1.6.6 the two readers return identical Arrow
  types and none of these normalisations is exercised; they only keep the test about values, not about
  Arrow representation choices a future deltalake may make);
- the number of active data files (``len(file_uris())``), the partition columns, the protocol (reader and
  writer versions and feature lists), the table configuration, and the schema JSON
  (``metaData.schemaString`` against ``deltalake.DeltaTable.schema().to_json()``);
- per active file (keyed by the path as the log spells it): size, modification time and ``numRecords``
  against ``deltalake.DeltaTable.get_add_actions()``;
- the commit history (versions, operations, commitInfo timestamps) against ``deltalake.DeltaTable.history()``
  at the latest version, and against the raw `_delta_log/` commits at every version.

Where deltalake itself is not a usable reference the test says so and compares with the written data or
the raw log instead: deltalake 1.6.6 returns nulls for every non-partition column of column-mapped tables,
its ``history()`` of a time-travelled table is not cut at that version, its ``history()`` is empty when
the table root path contains '#' or '?', and its ``load_as_version`` clamps times outside the history to
the first/last version where lakehouse (like Spark) raises `VersionNotFoundError`. Binary partition
columns are not used: delta-rs writes their values as literal ``\\u0061``-style text.

Data is tiny and every test builds its own table, so the module runs in well under a minute.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

deltalake = pytest.importorskip("deltalake")
pl = pytest.importorskip("polars")

import lakehouse  # noqa: E402
from lakehouse.errors import LakehouseError, VersionNotFoundError  # noqa: E402
from tests.support.conformance import canonical_rows, describe_difference  # noqa: E402

write_deltalake = deltalake.write_deltalake
DLTable = deltalake.DeltaTable

UTC = timezone.utc
_UTC_NAMES = {"UTC", "+00:00", "Etc/UTC", "utc", "Z", "GMT", "Etc/GMT"}


# --------------------------------------------------------------------------------------------------
# comparison helpers
# --------------------------------------------------------------------------------------------------
def normalise_type(t: pa.DataType) -> pa.DataType:
    """An Arrow type with representation-only differences removed (see the module docstring)."""
    if pa.types.is_dictionary(t):
        return normalise_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        vf = t.value_field
        return pa.list_(pa.field("element", normalise_type(vf.type), nullable=vf.nullable))
    if pa.types.is_map(t):
        return pa.map_(
            pa.field("key", normalise_type(t.key_type), nullable=False),
            pa.field("value", normalise_type(t.item_type), nullable=t.item_field.nullable),
        )
    if pa.types.is_struct(t):
        return pa.struct(
            [pa.field(t.field(i).name, normalise_type(t.field(i).type), nullable=t.field(i).nullable) for i in range(t.num_fields)]
        )
    if pa.types.is_timestamp(t) and t.tz is not None and t.tz in _UTC_NAMES:
        return pa.timestamp(t.unit, tz="UTC")
    return t


def normalised_fields(schema: pa.Schema) -> list[tuple[str, pa.DataType, bool]]:
    return [(f.name, normalise_type(f.type), f.nullable) for f in schema]


def _features(v) -> list[str] | None:
    return None if v is None else sorted(v)


def _schema_shape(d: dict) -> object:
    """Field names, types and nullability of a Delta schema JSON, with column metadata dropped."""
    if isinstance(d, dict):
        if d.get("type") == "struct" and "fields" in d:
            return {
                "struct": [
                    (f["name"], _schema_shape(f["type"]), f.get("nullable", True)) for f in d["fields"]
                ]
            }
        if d.get("type") == "array":
            return {"array": _schema_shape(d["elementType"]), "containsNull": d.get("containsNull", True)}
        if d.get("type") == "map":
            return {
                "map": (_schema_shape(d["keyType"]), _schema_shape(d["valueType"])),
                "valueContainsNull": d.get("valueContainsNull", True),
            }
    return d


def _lakehouse_file_facts(lh: "lakehouse.DeltaTable") -> dict[str, tuple[int, int, int | None]]:
    files = lh.files().to_pylist()
    return {
        f["path"]: (f["size"], f["modification_time"], json.loads(f["stats"]).get("numRecords") if f["stats"] else None)
        for f in files
    }


def _deltalake_file_facts(dl: "deltalake.DeltaTable") -> dict[str, tuple[int, int, int | None]]:
    adds = pa.table(dl.get_add_actions(flatten=True))
    if adds.num_rows == 0:
        return {}
    cols = adds.select(["path", "size_bytes", "modification_time", "num_records"]).to_pylist()
    return {r["path"]: (r["size_bytes"], r["modification_time"], r["num_records"]) for r in cols}


def assert_same_at_version(path: Path, v: int, *, compare_rows: bool = True) -> None:
    """lakehouse and deltalake agree on everything about version ``v`` of the table at ``path``.

    ``compare_rows=False`` leaves out only the row values (for tables deltalake itself misreads)."""
    where = f"{path.name}@v{v}"
    dl = DLTable(str(path), version=v)
    lh = lakehouse.DeltaTable(str(path), version=v)
    assert dl.version() == v, where
    assert lh.version == v, where

    # rows, columns, types
    want = dl.to_pyarrow_table()
    got = lh.to_arrow()
    assert got.column_names == want.column_names, f"{where}: column names differ"
    assert normalised_fields(got.schema) == normalised_fields(want.schema), (
        f"{where}: Arrow types differ\nlakehouse:\n{got.schema}\ndeltalake:\n{want.schema}"
    )
    assert got.num_rows == want.num_rows, f"{where}: row count {got.num_rows} != {want.num_rows}"
    if compare_rows:
        g, w = canonical_rows(got), canonical_rows(want)
        assert g == w, f"{where}: rows differ\n{describe_difference(g, w)}"

    # the logical schema lakehouse reports agrees with what it returns
    assert normalised_fields(lh.schema) == normalised_fields(got.schema), where

    # active files: count, and per file (as the log spells its path) size, modification time, row count
    assert lh.files().num_rows == len(dl.file_uris()), f"{where}: active file count differs"
    assert lh.snapshot.num_files == len(dl.file_uris()), where
    assert _lakehouse_file_facts(lh) == _deltalake_file_facts(dl), f"{where}: active files differ"

    # metadata
    md = dl.metadata()
    assert list(lh.partition_columns) == list(md.partition_columns), f"{where}: partition columns differ"
    assert list(lh.metadata.partition_columns) == list(md.partition_columns), where
    assert dict(lh.metadata.configuration) == dict(md.configuration), f"{where}: configuration differs"
    assert lh.metadata.id == md.id, where

    # protocol
    p_dl, p_lh = dl.protocol(), lh.protocol
    assert p_lh.min_reader_version == p_dl.min_reader_version, f"{where}: minReaderVersion differs"
    assert p_lh.min_writer_version == p_dl.min_writer_version, f"{where}: minWriterVersion differs"
    assert _features(p_lh.reader_features) == _features(p_dl.reader_features), f"{where}: readerFeatures"
    assert _features(p_lh.writer_features) == _features(p_dl.writer_features), f"{where}: writerFeatures"

    # schema JSON: exact; field metadata is compared too (both come from the same schemaString)
    lh_schema = json.loads(lh.metadata.schema_string)
    dl_schema = json.loads(dl.schema().to_json())
    assert _schema_shape(lh_schema) == _schema_shape(dl_schema), f"{where}: schema names/types/nullability differ"
    assert lh_schema == dl_schema, f"{where}: schema JSON differs"


def assert_same_history(path: Path, v: int | None = None) -> None:
    """lakehouse and deltalake report the same commits (newest first) up to version ``v``."""
    dl = DLTable(str(path)) if v is None else DLTable(str(path), version=v)
    lh = lakehouse.DeltaTable(str(path)) if v is None else lakehouse.DeltaTable(str(path), version=v)
    want = dl.history()
    got = lh.history()
    assert len(got) == len(want), f"{path.name}: history length {len(got)} != {len(want)}"
    assert [e.version for e in got] == [h["version"] for h in want], f"{path.name}: history versions differ"
    assert [e.operation for e in got] == [h.get("operation") for h in want], f"{path.name}: operations differ"
    assert [e.commit_info.timestamp if e.commit_info else None for e in got] == [
        h.get("timestamp") for h in want
    ], f"{path.name}: commitInfo timestamps differ"
    # limit is honoured the same way
    assert [e.version for e in lh.history(limit=2)] == [h["version"] for h in dl.history(limit=2)]


def assert_history_matches_log(path: Path, up_to: int | None = None) -> None:
    """lakehouse's history (at version ``up_to``, default latest) equals the commitInfo actions of the JSON
    commits in `_delta_log/`."""
    want = []
    for v in sorted(_log_versions(path, ".json"), reverse=True):
        if up_to is not None and v > up_to:
            continue
        infos = [
            json.loads(line)["commitInfo"]
            for line in (path / "_delta_log" / f"{v:020d}.json").read_text().splitlines()
            if line.strip() and "commitInfo" in json.loads(line)
        ]
        info = infos[0] if infos else {}
        want.append((v, info.get("operation"), info.get("timestamp")))
    lh = lakehouse.DeltaTable(path) if up_to is None else lakehouse.DeltaTable(path, version=up_to)
    got = [(e.version, e.operation, e.commit_info.timestamp if e.commit_info else None) for e in lh.history()]
    assert got == want, f"{path.name}: history at version {up_to} differs from the log"


def assert_same_everywhere(path: Path, *, first: int = 0, history_from_log: bool = False) -> int:
    """Compare every version from ``first`` to the latest, and the history; returns the latest version.

    ``history_from_log`` checks the history against the raw log instead of ``deltalake.DeltaTable.history()``
    (which returns nothing for table roots whose path holds '#' or '?').
    """
    latest = DLTable(str(path)).version()
    assert lakehouse.DeltaTable(str(path)).version == latest
    for v in range(first, latest + 1):
        assert_same_at_version(path, v)
        # (deltalake's history() of a time-travelled table is not limited to that version: use the log)
        assert_history_matches_log(path, up_to=v)
    for beyond in (latest + 1, -1):
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(path, version=beyond)
    if history_from_log:
        assert_history_matches_log(path)
    else:
        assert_same_history(path)
        assert_history_matches_log(path)
    return latest


def _log_versions(path: Path, suffix: str) -> list[int]:
    """Versions of the `_delta_log/` files named ``<20 digits><suffix>`` (commits: ``.json``)."""
    return sorted(
        int(n[:20]) for n in os.listdir(path / "_delta_log") if n[:20].isdigit() and n[20:] == suffix
    )


# --------------------------------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------------------------------
def _people(ids, names=None, scores=None) -> pa.Table:
    names = names or [f"n{i}" for i in ids]
    scores = scores or [float(i) / 2 for i in ids]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array(names, pa.string()),
            "score": pa.array(scores, pa.float64()),
        }
    )


def test_appends_over_several_versions(tmp_path: Path) -> None:
    p = tmp_path / "appends"
    write_deltalake(p, _people([1, 2, 3]))
    write_deltalake(p, _people([4, 5]), mode="append")
    write_deltalake(p, _people([], [], []), mode="append")  # an empty append
    write_deltalake(p, _people([6, 6, 7], ["dup", "dup", None]), mode="append")
    write_deltalake(p, _people([8]), mode="append")
    latest = assert_same_everywhere(p)
    assert latest == 4
    assert lakehouse.DeltaTable(p).to_arrow().num_rows == 9


def test_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "overwrite"
    write_deltalake(p, _people([1, 2, 3]))
    write_deltalake(p, _people([4, 5]), mode="append")
    write_deltalake(p, _people([10, 11]), mode="overwrite")
    write_deltalake(p, _people([12]), mode="append")
    write_deltalake(p, _people([], [], []), mode="overwrite")  # overwrite with nothing
    assert assert_same_everywhere(p) == 4
    assert lakehouse.DeltaTable(p, version=2).to_arrow().column("id").to_pylist() in ([10, 11], [11, 10])
    assert lakehouse.DeltaTable(p).to_arrow().num_rows == 0


def test_overwrite_with_predicate_replace_where(tmp_path: Path) -> None:
    p = tmp_path / "replace_where"
    data = pa.table(
        {
            "region": ["eu", "eu", "us", "us", "apac"],
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "amount": pa.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        }
    )
    write_deltalake(p, data, partition_by=["region"])
    # replace one partition
    write_deltalake(
        p,
        pa.table({"region": ["eu"], "id": pa.array([10], pa.int64()), "amount": pa.array([10.0])}),
        mode="overwrite",
        predicate="region = 'eu'",
    )
    # replace rows matching a data-column predicate (delta-rs rewrites the files it touches)
    write_deltalake(
        p,
        pa.table({"region": ["us"], "id": pa.array([30], pa.int64()), "amount": pa.array([30.0])}),
        mode="overwrite",
        predicate="region = 'us' AND id >= 3",
    )
    assert assert_same_everywhere(p) == 2
    ids = sorted(lakehouse.DeltaTable(p).to_arrow().column("id").to_pylist())
    assert ids == [5, 10, 30]


def test_partitioned_by_string_with_nulls_and_special_characters(tmp_path: Path) -> None:
    p = tmp_path / "part_string"
    values = ["plain", "with space", "a=b", "sl/ash", "per%cent", "pc%20", "ünïcødé", "日本", None, "", "q?#&+", "tab\tx", "colon:x"]
    write_deltalake(
        p,
        pa.table({"k": pa.array(values, pa.string()), "v": pa.array(range(len(values)), pa.int32())}),
        partition_by=["k"],
    )
    write_deltalake(
        p,
        pa.table({"k": pa.array(["with space", None, "new one"], pa.string()), "v": pa.array([100, 101, 102], pa.int32())}),
        mode="append",
    )
    assert assert_same_everywhere(p) == 1
    got = lakehouse.DeltaTable(p).to_arrow()
    assert sorted(x for x in got.column("k").to_pylist() if x is not None).count("with space") == 2


def test_partitioned_by_int_with_nulls(tmp_path: Path) -> None:
    p = tmp_path / "part_int"
    write_deltalake(
        p,
        pa.table({"year": pa.array([2020, 2021, None, -1, 0], pa.int32()), "x": ["a", "b", "c", "d", "e"]}),
        partition_by=["year"],
    )
    write_deltalake(p, pa.table({"year": pa.array([2021, None], pa.int32()), "x": ["f", "g"]}), mode="append")
    assert assert_same_everywhere(p) == 1


def test_partitioned_by_date_with_nulls(tmp_path: Path) -> None:
    p = tmp_path / "part_date"
    write_deltalake(
        p,
        pa.table(
            {
                "day": pa.array([date(2024, 1, 1), date(2024, 2, 29), None, date(1969, 12, 31)], pa.date32()),
                "n": pa.array([1, 2, 3, 4], pa.int64()),
            }
        ),
        partition_by=["day"],
    )
    write_deltalake(
        p, pa.table({"day": pa.array([date(2024, 1, 1)], pa.date32()), "n": pa.array([5], pa.int64())}), mode="append"
    )
    assert assert_same_everywhere(p) == 1


def test_partitioned_by_two_columns_with_nulls(tmp_path: Path) -> None:
    p = tmp_path / "part_two"
    write_deltalake(
        p,
        pa.table(
            {
                "country": ["fr", "fr", "de", None, "a b/c=d", "fr"],
                "year": pa.array([2020, None, 2020, 2021, 2022, 2020], pa.int64()),
                "value": pa.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]),
            }
        ),
        partition_by=["country", "year"],
    )
    write_deltalake(
        p,
        pa.table({"country": [None], "year": pa.array([None], pa.int64()), "value": pa.array([9.5])}),
        mode="append",
    )
    latest = assert_same_everywhere(p)
    assert latest == 1
    assert lakehouse.DeltaTable(p).partition_columns == ["country", "year"]


def test_delete_with_predicate(tmp_path: Path) -> None:
    p = tmp_path / "delete"
    write_deltalake(p, _people(list(range(10))))
    write_deltalake(p, _people(list(range(10, 15))), mode="append")
    DLTable(str(p)).delete("id % 2 = 0")
    DLTable(str(p)).delete("id > 100")  # deletes nothing
    DLTable(str(p)).delete("name = 'n13'")
    latest = assert_same_everywhere(p)
    ids = sorted(lakehouse.DeltaTable(p, version=latest).to_arrow().column("id").to_pylist())
    assert ids == [1, 3, 5, 7, 9, 11]


def test_delete_all_rows_in_partitioned_table(tmp_path: Path) -> None:
    p = tmp_path / "delete_part"
    write_deltalake(p, pa.table({"k": ["a", "a", "b"], "v": pa.array([1, 2, 3], pa.int64())}), partition_by=["k"])
    DLTable(str(p)).delete("k = 'a'")
    DLTable(str(p)).delete()
    assert_same_everywhere(p)
    assert lakehouse.DeltaTable(p).to_arrow().num_rows == 0


def test_update(tmp_path: Path) -> None:
    p = tmp_path / "update"
    write_deltalake(p, _people([1, 2, 3, 4]))
    write_deltalake(p, _people([5, 6]), mode="append")
    DLTable(str(p)).update(updates={"score": "score * 10", "name": "'changed'"}, predicate="id >= 3")
    DLTable(str(p)).update(updates={"name": "NULL"}, predicate="id = 1")
    latest = assert_same_everywhere(p)
    rows = {r["id"]: r for r in lakehouse.DeltaTable(p, version=latest).to_arrow().to_pylist()}
    assert rows[1]["name"] is None and rows[3]["name"] == "changed" and rows[6]["score"] == 30.0


def test_merge_upsert(tmp_path: Path) -> None:
    p = tmp_path / "merge"
    write_deltalake(p, _people([1, 2, 3]))
    source = _people([2, 3, 4], ["two", "three", "four"], [20.0, 30.0, 40.0])
    (
        DLTable(str(p))
        .merge(source=source, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    source2 = _people([1, 5], ["gone", "five"], [0.0, 50.0])
    (
        DLTable(str(p))
        .merge(source=source2, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_delete()
        .when_not_matched_insert_all()
        .execute()
    )
    latest = assert_same_everywhere(p)
    rows = sorted((r["id"], r["name"]) for r in lakehouse.DeltaTable(p, version=latest).to_arrow().to_pylist())
    assert rows == [(2, "two"), (3, "three"), (4, "four"), (5, "five")]


def test_optimize_compact(tmp_path: Path) -> None:
    p = tmp_path / "optimize"
    for i in range(5):
        write_deltalake(p, _people([2 * i, 2 * i + 1]), mode="append")
    metrics = DLTable(str(p)).optimize.compact()
    assert metrics["numFilesRemoved"] == 5
    write_deltalake(p, _people([100]), mode="append")
    latest = assert_same_everywhere(p)
    assert lakehouse.DeltaTable(p, version=5).files().num_rows == 1
    assert lakehouse.DeltaTable(p, version=latest).to_arrow().num_rows == 11


def test_optimize_compact_partitioned(tmp_path: Path) -> None:
    p = tmp_path / "optimize_part"
    for i in range(4):
        write_deltalake(
            p,
            pa.table({"k": ["x y", None], "v": pa.array([i, 10 + i], pa.int64())}),
            mode="append",
            partition_by=["k"],
        )
    DLTable(str(p)).optimize.compact()
    assert_same_everywhere(p)


def test_schema_evolution_merge(tmp_path: Path) -> None:
    p = tmp_path / "evolve_merge"
    write_deltalake(p, pa.table({"id": pa.array([1, 2], pa.int64()), "a": ["x", "y"]}))
    write_deltalake(
        p,
        pa.table({"id": pa.array([3], pa.int64()), "a": ["z"], "b": pa.array([3.5]), "c": pa.array([[1, 2]], pa.list_(pa.int32()))}),
        mode="append",
        schema_mode="merge",
    )
    # a write missing an existing column: it reads back as nulls
    write_deltalake(p, pa.table({"id": pa.array([4], pa.int64()), "b": pa.array([4.5])}), mode="append", schema_mode="merge")
    latest = assert_same_everywhere(p)
    got = {r["id"]: r for r in lakehouse.DeltaTable(p, version=latest).to_arrow().to_pylist()}
    assert got[1]["b"] is None and got[1]["c"] is None  # new columns read as nulls in old files
    assert got[4]["a"] is None
    assert lakehouse.DeltaTable(p, version=0).to_arrow().column_names == ["id", "a"]


def test_schema_evolution_merge_partitioned(tmp_path: Path) -> None:
    p = tmp_path / "evolve_merge_part"
    write_deltalake(p, pa.table({"k": ["a", None], "id": pa.array([1, 2], pa.int64())}), partition_by=["k"])
    write_deltalake(
        p,
        pa.table({"k": ["b"], "id": pa.array([3], pa.int64()), "extra": ["e"]}),
        mode="append",
        schema_mode="merge",
    )
    assert_same_everywhere(p)


def test_overwrite_with_schema_mode_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "evolve_overwrite"
    write_deltalake(p, pa.table({"id": pa.array([1, 2], pa.int64()), "a": ["x", "y"]}))
    write_deltalake(p, pa.table({"id": pa.array([3], pa.int64()), "a": ["z"]}), mode="append")
    write_deltalake(
        p,
        pa.table({"other": pa.array([True, False, None]), "id": pa.array([7, 8, 9], pa.int32())}),
        mode="overwrite",
        schema_mode="overwrite",
    )
    write_deltalake(p, pa.table({"other": pa.array([True]), "id": pa.array([10], pa.int32())}), mode="append")
    latest = assert_same_everywhere(p)
    assert lakehouse.DeltaTable(p, version=latest).schema.names == ["other", "id"]
    assert lakehouse.DeltaTable(p, version=1).schema.names == ["id", "a"]


def test_checkpoint_in_middle_of_history(tmp_path: Path) -> None:
    p = tmp_path / "checkpoint_mid"
    write_deltalake(p, _people([1, 2]))
    write_deltalake(p, _people([3]), mode="append")
    DLTable(str(p)).delete("id = 1")
    write_deltalake(p, _people([4, 5]), mode="append")  # version 3
    DLTable(str(p)).create_checkpoint()
    assert _log_versions(p, ".checkpoint.parquet") == [3]
    write_deltalake(p, _people([6]), mode="append")
    DLTable(str(p)).update(updates={"name": "'u'"}, predicate="id = 3")
    write_deltalake(p, _people([7]), mode="overwrite")
    write_deltalake(p, _people([8]), mode="append")
    latest = assert_same_everywhere(p)  # before (0..2), at (3) and after (4..) the checkpoint
    assert latest == 7
    assert lakehouse.DeltaTable(p, version=3).snapshot.segment.checkpoint is not None
    assert lakehouse.DeltaTable(p, version=2).snapshot.segment.checkpoint is None


def test_cleanup_metadata_after_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "cleanup"
    write_deltalake(p, _people([1]), configuration={"delta.logRetentionDuration": "interval 0 seconds"})
    for i in range(2, 6):
        write_deltalake(p, _people([i]), mode="append")
    DLTable(str(p)).delete("id = 2")  # version 5
    DLTable(str(p)).create_checkpoint()
    time.sleep(0.02)  # distinct commit-file modification times for versions 5 and 6
    write_deltalake(p, _people([6]), mode="append")  # version 6
    time.sleep(0.05)
    DLTable(str(p)).cleanup_metadata()
    commits = _log_versions(p, ".json")
    assert commits[0] > 0, f"cleanup_metadata removed nothing: {commits}"
    first = commits[0]
    assert _log_versions(p, ".checkpoint.parquet") == [5]
    assert first == 5

    # Versions before the checkpoint are gone for both readers; lakehouse raises a typed error.
    for v in range(0, first):
        with pytest.raises(Exception):
            DLTable(str(p), version=v)
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(p, version=v)
        with pytest.raises(LakehouseError):
            lakehouse.read_delta(p, version=v)
    for v in range(first, DLTable(str(p)).version() + 1):
        assert_same_at_version(p, v)
    assert_same_history(p)
    # The earliest reachable commit is the checkpoint's; time travel before it is refused.
    hist = lakehouse.DeltaTable(p).history()
    assert [e.version for e in hist] == [6, 5]
    for e in hist:
        dl = DLTable(str(p))
        dl.load_as_version(e.timestamp)
        assert lakehouse.DeltaTable(p, version=e.timestamp).version == dl.version() == e.version
    earliest = min(e.timestamp for e in hist)
    with pytest.raises(VersionNotFoundError):
        lakehouse.DeltaTable(p, version=earliest - timedelta(seconds=1))


def test_all_primitive_types(tmp_path: Path) -> None:
    p = tmp_path / "primitives"
    nan, inf = float("nan"), float("inf")

    def batch(offset: int) -> pa.Table:
        return pa.table(
            {
                "i8": pa.array([1, -128, 127, None], pa.int8()),
                "i16": pa.array([2, -32768, 32767, None], pa.int16()),
                "i32": pa.array([3, -(2**31), 2**31 - 1, None], pa.int32()),
                "i64": pa.array([4 + offset, -(2**63), 2**63 - 1, None], pa.int64()),
                "f32": pa.array([1.5, nan, inf, -inf], pa.float32()),
                "f64": pa.array([-0.0, nan, -inf, None], pa.float64()),
                "flag": pa.array([True, False, None, True]),
                "s": pa.array(["a", "", None, "ünï 日本 \n"]),
                "bin": pa.array([b"\x00\xff", b"", None, bytes(range(16))]),
                "d": pa.array([date(2024, 2, 29), date(1, 1, 1), None, date(1969, 12, 31)], pa.date32()),
                "ts": pa.array(
                    [
                        datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=UTC),
                        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                        None,
                        datetime(1970, 1, 1, tzinfo=UTC),
                    ],
                    pa.timestamp("us", tz="UTC"),
                ),
                "ts_ntz": pa.array(
                    [datetime(2024, 1, 1, 12, 30, 45, 123456), None, datetime(1900, 1, 1), datetime(2262, 4, 11)],
                    pa.timestamp("us"),
                ),
                "dec10": pa.array([Decimal("12345678.90"), Decimal("-0.01"), None, Decimal("0.00")], pa.decimal128(10, 2)),
                "dec38": pa.array(
                    [
                        Decimal("1234567890123456789012345678.0123456789"),
                        Decimal("-9999999999999999999999999999.9999999999"),
                        None,
                        Decimal("0E-10"),
                    ],
                    pa.decimal128(38, 10),
                ),
            }
        )

    write_deltalake(p, batch(0))
    write_deltalake(p, batch(1000), mode="append")
    latest = assert_same_everywhere(p)
    got = lakehouse.DeltaTable(p, version=latest).to_arrow()
    f32 = got.column("f32").to_pylist()
    assert sum(1 for x in f32 if isinstance(x, float) and math.isnan(x)) == 2
    assert math.inf in f32 and -math.inf in f32


def test_nested_struct_list_map(tmp_path: Path) -> None:
    p = tmp_path / "nested"
    inner = pa.struct([("x", pa.int32()), ("tags", pa.list_(pa.string()))])
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("st", pa.struct([("a", pa.int64()), ("b", pa.string()), ("inner", inner)])),
            ("lst", pa.list_(pa.int64())),
            ("lst_st", pa.list_(pa.struct([("q", pa.float64()), ("r", pa.list_(pa.int32()))]))),
            ("mp", pa.map_(pa.string(), pa.int64())),
            ("mp_st", pa.map_(pa.int32(), pa.struct([("v", pa.string())]))),
            ("lst_lst", pa.list_(pa.list_(pa.string()))),
        ]
    )
    rows = [
        {
            "id": 1,
            "st": {"a": 1, "b": "one", "inner": {"x": 10, "tags": ["t1", None]}},
            "lst": [1, 2, None],
            "lst_st": [{"q": 1.5, "r": [1]}, None, {"q": None, "r": []}],
            "mp": [("k1", 1), ("k2", None)],
            "mp_st": [(1, {"v": "a"}), (2, None)],
            "lst_lst": [["a"], [], None, ["b", None]],
        },
        {"id": 2, "st": None, "lst": None, "lst_st": None, "mp": None, "mp_st": None, "lst_lst": None},
        {
            "id": 3,
            "st": {"a": None, "b": None, "inner": None},
            "lst": [],
            "lst_st": [],
            "mp": [],
            "mp_st": [],
            "lst_lst": [],
        },
    ]
    write_deltalake(p, pa.Table.from_pylist(rows, schema=schema))
    write_deltalake(p, pa.Table.from_pylist(rows[:1], schema=schema), mode="append")
    DLTable(str(p)).delete("id = 2")
    assert_same_everywhere(p)


def test_empty_table_created_with_schema_only(tmp_path: Path) -> None:
    p = tmp_path / "empty"
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("day", pa.date32())])
    DLTable.create(str(p), schema, partition_by=["day"])
    assert_same_everywhere(p)
    got = lakehouse.DeltaTable(p).to_arrow()
    assert got.num_rows == 0 and got.column_names == ["id", "name", "day"]
    write_deltalake(
        p, pa.table({"id": pa.array([1], pa.int64()), "name": ["a"], "day": pa.array([date(2024, 1, 1)])}), mode="append"
    )
    assert assert_same_everywhere(p) == 1


def test_empty_table_written_with_zero_rows(tmp_path: Path) -> None:
    p = tmp_path / "empty_write"
    write_deltalake(p, pa.table({"id": pa.array([], pa.int64()), "s": pa.array([], pa.string())}))
    assert_same_everywhere(p)


def test_many_small_commits_with_explicit_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "many_default"
    for i in range(60):
        write_deltalake(p, pa.table({"i": pa.array([i], pa.int64()), "s": [f"row{i}"]}), mode="append")
        if i == 40:
            DLTable(str(p)).create_checkpoint()
        if i == 50:
            DLTable(str(p)).delete("i % 7 = 0")  # version 51
    latest = assert_same_everywhere(p)
    assert latest == 60
    # default checkpointInterval (100) was never reached: only the explicit checkpoint exists
    assert _log_versions(p, ".checkpoint.parquet") == [40]


def test_many_small_commits_checkpoint_interval_10(tmp_path: Path) -> None:
    p = tmp_path / "many_interval10"
    for i in range(60):
        write_deltalake(
            p,
            pa.table({"i": pa.array([i], pa.int64()), "k": [f"k{i % 3}"]}),
            mode="append",
            partition_by=["k"],
            configuration={"delta.checkpointInterval": "10"} if i == 0 else None,
        )
        if i == 25:
            DLTable(str(p)).update(updates={"i": "i + 1000"}, predicate="i < 5")  # version 26
    latest = assert_same_everywhere(p)
    assert latest == 60
    checkpoints = _log_versions(p, ".checkpoint.parquet")
    assert len(checkpoints) >= 5, checkpoints  # delta-rs wrote them automatically
    lh = lakehouse.DeltaTable(p)
    assert lh.snapshot.segment.checkpoint is not None
    assert lh.snapshot.segment.checkpoint.version == checkpoints[-1]
    # timestamp time travel across the checkpoints (commit times set one minute apart)
    base = datetime(2022, 3, 1, tzinfo=UTC).timestamp()
    for v in range(latest + 1):
        os.utime(p / "_delta_log" / f"{v:020d}.json", (base + 60 * v, base + 60 * v))
    for v in range(latest + 1):
        for when in (datetime.fromtimestamp(base + 60 * v, tz=UTC), datetime.fromtimestamp(base + 60 * v + 30, tz=UTC)):
            if v == latest and when.timestamp() > base + 60 * latest:
                continue
            dl = DLTable(str(p))
            dl.load_as_version(when)
            assert lakehouse.DeltaTable(p, version=when).version == dl.version() == v


def test_timestamp_time_travel(tmp_path: Path) -> None:
    p = tmp_path / "time_travel"
    write_deltalake(p, _people([1]))
    for i in range(2, 6):
        time.sleep(0.02)  # distinct commit-file modification times
        write_deltalake(p, _people([i]), mode="append")
    time.sleep(0.02)
    DLTable(str(p)).delete("id = 3")
    latest = DLTable(str(p)).version()

    def check_resolution(expect_version_by_time: bool) -> None:
        hist = sorted(lakehouse.DeltaTable(p).history(), key=lambda e: e.version)
        assert [e.version for e in hist] == list(range(latest + 1))
        for e in hist:
            for when in (
                e.timestamp,
                e.timestamp.replace(tzinfo=None),  # naive = UTC
                e.timestamp.isoformat(),
                e.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                e.timestamp.replace(tzinfo=None).isoformat(),
                e.timestamp.astimezone(timezone(timedelta(hours=-5))),  # same instant, other offset
            ):
                lh = lakehouse.DeltaTable(p, version=when)
                dl = DLTable(str(p))
                # deltalake takes only RFC 3339 strings (with an offset): give it the same instant
                dl.load_as_version(e.timestamp if isinstance(when, str) else when)
                assert lh.version == dl.version(), f"{when!r}: lakehouse v{lh.version}, deltalake v{dl.version()}"
                if expect_version_by_time:
                    assert lh.version == e.version
            got = lakehouse.DeltaTable(p, version=e.timestamp).to_arrow()
            dl = DLTable(str(p))
            dl.load_as_version(e.timestamp)
            assert canonical_rows(got) == canonical_rows(dl.to_pyarrow_table())
        first = hist[0].timestamp
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(p, version=first - timedelta(milliseconds=1))
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(p, version=datetime(2000, 1, 1))
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(p, version="2000-01-01T00:00:00Z")
        with pytest.raises(VersionNotFoundError):
            lakehouse.DeltaTable(p, version=hist[-1].timestamp + timedelta(seconds=1))

    # 1. the natural commit times
    check_resolution(expect_version_by_time=True)

    # 2. commit times one hour apart; midpoints resolve to the earlier commit in both readers
    base = datetime(2021, 6, 1, tzinfo=UTC).timestamp()
    for v in range(latest + 1):
        os.utime(p / "_delta_log" / f"{v:020d}.json", (base + 3600 * v, base + 3600 * v))
    check_resolution(expect_version_by_time=True)
    for v in range(latest):  # (after the last commit lakehouse raises; delta-rs clamps to the latest)
        when = datetime.fromtimestamp(base + 3600 * v + 1800, tz=UTC)
        dl = DLTable(str(p))
        dl.load_as_version(when)
        assert lakehouse.DeltaTable(p, version=when).version == dl.version() == v
        naive = when.replace(tzinfo=None)  # naive = UTC
        assert lakehouse.DeltaTable(p, version=naive).version == v
    with pytest.raises(VersionNotFoundError):
        lakehouse.DeltaTable(p, version=datetime.fromtimestamp(base - 1, tz=UTC))


def test_polars_read_delta_on_partitioned_table(tmp_path: Path) -> None:
    p = tmp_path / "polars"
    write_deltalake(
        p,
        pa.table(
            {
                "k": ["a", "b", None, "c d"],
                "n": pa.array([1, 2, 3, None], pa.int64()),
                "x": pa.array([0.5, None, 2.5, 3.5]),
            }
        ),
        partition_by=["k"],
    )
    write_deltalake(p, pa.table({"k": ["a"], "n": pa.array([5], pa.int64()), "x": pa.array([5.5])}), mode="append")
    got = lakehouse.DeltaTable(p).to_polars()
    want = pl.read_delta(str(p))
    assert got.columns == want.columns
    assert got.schema == want.schema
    assert canonical_rows(got.to_arrow()) == canonical_rows(want.to_arrow())
    key = ["n", "x", "k"]
    assert got.sort(key, nulls_last=True).equals(want.sort(key, nulls_last=True))
    # and time travel through polars agrees too
    got0 = lakehouse.DeltaTable(p, version=0).to_polars()
    want0 = pl.read_delta(str(p), version=0)
    assert canonical_rows(got0.to_arrow()) == canonical_rows(want0.to_arrow())


# --------------------------------------------------------------------------------------------------
# further shapes delta-rs writes
# --------------------------------------------------------------------------------------------------
def test_partitioned_by_other_primitive_types(tmp_path: Path) -> None:
    # (binary partitions are left out: delta-rs writes their values as literal "\\u0061..." text, which no
    # reader turns back into the original bytes; negative decimals fail inside delta-rs's own writer.)
    columns = {
        "ts": pa.array(
            [datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=UTC), None, datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)],
            pa.timestamp("us", tz="UTC"),
        ),
        "ts_ntz": pa.array([datetime(2024, 1, 1, 12, 30, 45, 123456), None, datetime(2000, 1, 1)], pa.timestamp("us")),
        "flag": pa.array([True, None, False]),
        "f64": pa.array([1.5, None, float("nan"), -0.0, float("inf")]),
        "f32": pa.array([1.5, None, -0.25], pa.float32()),
        "i8": pa.array([1, None, -3], pa.int8()),
        "i16": pa.array([300, None, -300], pa.int16()),
        "dec": pa.array([Decimal("1.25"), None, Decimal("350.50")], pa.decimal128(5, 2)),
    }
    for name, arr in columns.items():
        p = tmp_path / f"part_{name}"
        v = pa.array(range(len(arr)), pa.int64())
        write_deltalake(p, pa.table({name: arr, "v": v}), partition_by=[name])
        write_deltalake(p, pa.table({name: arr.slice(0, 1), "v": pa.array([4], pa.int64())}), mode="append")
        assert_same_everywhere(p)


def test_checkpoint_then_changes_in_special_character_partitions(tmp_path: Path) -> None:
    p = tmp_path / "checkpoint_special"
    keys = ["a b", "x=y", "s/l", "pc%20", "ünï", None]
    write_deltalake(
        p, pa.table({"k": pa.array(keys, pa.string()), "v": pa.array(range(6), pa.int64())}), partition_by=["k"]
    )
    write_deltalake(p, pa.table({"k": pa.array(keys, pa.string()), "v": pa.array(range(10, 16), pa.int64())}), mode="append")
    DLTable(str(p)).create_checkpoint()  # version 1: every file in the checkpoint
    # after the checkpoint, remove files the checkpoint holds, in partitions whose paths are %-encoded
    DLTable(str(p)).delete("k = 'x=y'")
    write_deltalake(
        p, pa.table({"k": ["pc%20"], "v": pa.array([99], pa.int64())}), mode="overwrite", predicate="k = 'pc%20'"
    )
    DLTable(str(p)).update(updates={"v": "v + 100"}, predicate="k = 'a b' OR k IS NULL")
    DLTable(str(p)).create_checkpoint()  # version 4
    DLTable(str(p)).delete("v = 115")
    # metadata and protocol change after the checkpoint: the newer actions win
    write_deltalake(
        p,
        pa.table({"k": ["s/l"], "v": pa.array([7], pa.int64()), "when": pa.array([datetime(2024, 5, 1)], pa.timestamp("us"))}),
        mode="append",
        schema_mode="merge",
    )
    latest = assert_same_everywhere(p)
    assert latest == 6
    assert _log_versions(p, ".checkpoint.parquet") == [1, 4]


def test_schema_evolution_nested_field_and_protocol_upgrade(tmp_path: Path) -> None:
    p = tmp_path / "evolve_nested"
    write_deltalake(p, pa.table({"id": pa.array([1], pa.int64()), "st": pa.array([{"a": 1}], pa.struct([("a", pa.int64())]))}))
    write_deltalake(
        p,
        pa.table(
            {
                "id": pa.array([2], pa.int64()),
                "st": pa.array([{"a": 2, "b": "x"}], pa.struct([("a", pa.int64()), ("b", pa.string())])),
            }
        ),
        mode="append",
        schema_mode="merge",
    )
    # a timestamp without time zone upgrades the protocol to table features (timestampNtz)
    write_deltalake(
        p,
        pa.table({"id": pa.array([3], pa.int64()), "ntz": pa.array([datetime(2024, 1, 1, 8)], pa.timestamp("us"))}),
        mode="append",
        schema_mode="merge",
    )
    latest = assert_same_everywhere(p)
    rows = {r["id"]: r for r in lakehouse.DeltaTable(p, version=latest).to_arrow().to_pylist()}
    assert rows[1]["st"] == {"a": 1, "b": None} and rows[1]["ntz"] is None
    assert lakehouse.DeltaTable(p, version=0).protocol.min_reader_version == DLTable(str(p), version=0).protocol().min_reader_version


def test_restore_across_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "restore"
    write_deltalake(p, _people([1, 2]))
    write_deltalake(p, _people([3]), mode="overwrite")  # version 1 removes version 0's file
    DLTable(str(p)).create_checkpoint()  # the checkpoint holds that remove as a tombstone
    write_deltalake(p, _people([4]), mode="append")
    DLTable(str(p)).restore(0)  # version 3 re-adds the file the checkpoint says is removed
    write_deltalake(p, _people([5]), mode="append")
    latest = assert_same_everywhere(p)
    ids = sorted(lakehouse.DeltaTable(p, version=latest).to_arrow().column("id").to_pylist())
    assert ids == [1, 2, 5]


def test_log_compaction_files(tmp_path: Path) -> None:
    p = tmp_path / "compacted"
    write_deltalake(p, pa.table({"k": ["a", "b c"], "v": pa.array([0, 1], pa.int64())}), partition_by=["k"])
    for i in range(1, 5):
        write_deltalake(p, pa.table({"k": ["a"], "v": pa.array([10 + i], pa.int64())}), mode="append")
    DLTable(str(p)).delete("v = 11")
    write_deltalake(p, pa.table({"k": ["b c"], "v": pa.array([99], pa.int64())}), mode="overwrite", predicate="k = 'b c'")
    write_deltalake(p, pa.table({"k": ["z"], "v": pa.array([7], pa.int64())}), mode="append")
    DLTable(str(p)).compact_logs(1, 6)
    assert any(n.endswith(".compacted.json") for n in os.listdir(p / "_delta_log"))
    assert assert_same_everywhere(p) == 7


def test_application_transactions(tmp_path: Path) -> None:
    p = tmp_path / "txn"
    CP, Txn = deltalake.CommitProperties, deltalake.Transaction
    write_deltalake(p, _people([1]), commit_properties=CP(app_transactions=[Txn(app_id="app1", version=1)]))
    write_deltalake(
        p, _people([2]), mode="append",
        commit_properties=CP(app_transactions=[Txn(app_id="app1", version=2), Txn(app_id="app2", version=7)]),
    )
    DLTable(str(p)).create_checkpoint()
    write_deltalake(p, _people([3]), mode="append", commit_properties=CP(app_transactions=[Txn(app_id="app2", version=8)]))
    latest = assert_same_everywhere(p)
    for v in range(latest + 1):
        dl, lh = DLTable(str(p), version=v), lakehouse.DeltaTable(p, version=v)
        for app in ("app1", "app2", "unknown"):
            txn = lh.transactions.get(app)
            assert (txn.version if txn else None) == dl.transaction_version(app), f"v{v} {app}"


def test_vacuum_makes_old_versions_unreadable_with_a_typed_error(tmp_path: Path) -> None:
    p = tmp_path / "vacuum"
    write_deltalake(p, _people([1]))
    write_deltalake(p, _people([2]), mode="overwrite")
    write_deltalake(p, _people([3]), mode="overwrite")
    DLTable(str(p)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    for v in (0, 1):
        with pytest.raises(Exception):
            DLTable(str(p), version=v).to_pyarrow_table()
        with pytest.raises(lakehouse.errors.DataFileNotFoundError):
            lakehouse.DeltaTable(p, version=v).to_arrow()
        # the log itself is intact: metadata and file lists still agree
        lh, dl = lakehouse.DeltaTable(p, version=v), DLTable(str(p), version=v)
        assert _lakehouse_file_facts(lh) == _deltalake_file_facts(dl)
    assert_same_at_version(p, 2)
    assert_same_history(p)


def test_to_pandas_matches_deltalake(tmp_path: Path) -> None:
    p = tmp_path / "pandas"
    write_deltalake(
        p,
        pa.table({"k": ["a", None, "b"], "n": pa.array([1, None, 3], pa.int64()), "s": ["x", "y", None]}),
        partition_by=["k"],
    )
    got = lakehouse.DeltaTable(p).to_pandas()
    want = DLTable(str(p)).to_pandas()
    assert list(got.columns) == list(want.columns)
    key = ["s", "n", "k"]
    g = got.sort_values(key, na_position="last").reset_index(drop=True)
    w = want.sort_values(key, na_position="last").reset_index(drop=True)
    assert g.astype(object).where(g.notna(), None).values.tolist() == w.astype(object).where(w.notna(), None).values.tolist()


# --------------------------------------------------------------------------------------------------
# column projection (`to_arrow(columns=...)` against `to_pyarrow_table(columns=...)`)
# --------------------------------------------------------------------------------------------------
def assert_same_projection(path: Path, v: int, columns: list[str]) -> None:
    where = f"{path.name}@v{v} columns={columns}"
    want = DLTable(str(path), version=v).to_pyarrow_table(columns=columns)
    got = lakehouse.DeltaTable(path, version=v).to_arrow(columns=columns)
    assert got.column_names == want.column_names == columns, where
    assert normalised_fields(got.schema) == normalised_fields(want.schema), where
    assert got.num_rows == want.num_rows, f"{where}: lakehouse returned {got.num_rows} rows, deltalake {want.num_rows}"
    g, w = canonical_rows(got), canonical_rows(want)
    assert g == w, f"{where}: rows differ\n{describe_difference(g, w)}"


def _projection_table(tmp_path: Path) -> Path:
    """Partitioned by two columns (nulls, special characters), evolved, with deletes and a checkpoint."""
    p = tmp_path / "projection"
    write_deltalake(
        p,
        pa.table(
            {
                "k": ["a b", "x=y", None, "a b"],
                "year": pa.array([2020, None, 2021, 2020], pa.int32()),
                "id": pa.array([1, 2, 3, 4], pa.int64()),
                "name": ["one", "two", None, "four"],
            }
        ),
        partition_by=["k", "year"],
    )
    write_deltalake(
        p,
        pa.table({"k": ["ünï"], "year": pa.array([2022], pa.int32()), "id": pa.array([5], pa.int64()), "name": ["five"]}),
        mode="append",
    )
    write_deltalake(
        p,
        pa.table(
            {
                "k": ["a b"],
                "year": pa.array([2020], pa.int32()),
                "id": pa.array([6], pa.int64()),
                "name": ["six"],
                "extra": pa.array([6.5]),
            }
        ),
        mode="append",
        schema_mode="merge",
    )
    DLTable(str(p)).delete("id = 2")
    DLTable(str(p)).create_checkpoint()
    write_deltalake(p, pa.table({"k": [None], "year": pa.array([None], pa.int32()), "id": pa.array([7], pa.int64())}), mode="append", schema_mode="merge")
    return p


def test_column_projection_of_data_columns(tmp_path: Path) -> None:
    p = _projection_table(tmp_path)
    latest = assert_same_everywhere(p)
    for v in range(latest + 1):
        names = lakehouse.DeltaTable(p, version=v).schema.names
        data = [c for c in names if c not in ("k", "year")]
        for c in data:
            assert_same_projection(p, v, [c])  # incl. `extra`, absent from the older files
        assert_same_projection(p, v, list(reversed(names)))
        assert_same_projection(p, v, ["year", data[0]])
        assert_same_projection(p, v, [data[-1], "k"])


def test_column_projection_of_partition_columns_only(tmp_path: Path) -> None:
    p = _projection_table(tmp_path)
    latest = DLTable(str(p)).version()
    for v in range(latest + 1):
        assert_same_projection(p, v, ["k"])
        assert_same_projection(p, v, ["year", "k"])
    # the same through the other entry points
    assert lakehouse.read_delta(p, columns=["k"]).num_rows == DLTable(str(p)).to_pyarrow_table(columns=["k"]).num_rows
    assert lakehouse.DeltaTable(p).to_polars(columns=["year"]).height == pl.read_delta(str(p), columns=["year"]).height


def test_writer_side_arrow_type_variants(tmp_path: Path) -> None:
    """Arrow inputs delta-rs stores with other physical Parquet/Arrow types than the table's logical ones
    (large/view strings, large lists, dictionaries, ns and non-UTC timestamps, unsigned ints, date64)."""
    columns = {
        "large_str": pa.array(["a", None, "ü"], pa.large_string()),
        "view_str": pa.array(["a", None, ""], pa.string_view()),
        "large_bin": pa.array([b"a", None, b""], pa.large_binary()),
        "fixed_bin": pa.array([b"ab", None, b"cd"], pa.binary(2)),
        "large_list": pa.array([[1], None, []], pa.large_list(pa.int64())),
        "dict_str": pa.array(["a", "a", None]).dictionary_encode(),
        "ts_ns": pa.array([datetime(2024, 1, 1, 1, 1, 1, 123456), None, datetime(1970, 1, 1)], pa.timestamp("ns")),
        "ts_paris": pa.array(
            [datetime(2024, 7, 1, 1, 1, 1, tzinfo=UTC), None, datetime(2024, 1, 1, tzinfo=UTC)],
            pa.timestamp("us", "Europe/Paris"),
        ),
        "ts_ms_utc": pa.array([datetime(2024, 1, 1, 1, 1, 1, tzinfo=UTC), None, None], pa.timestamp("ms", "UTC")),
        "u64": pa.array([2**63 - 1, None, 0], pa.uint64()),
        "d64": pa.array([date(2024, 1, 1), None, date(1970, 1, 2)], pa.date64()),
    }
    p = tmp_path / "variants"
    write_deltalake(p, pa.table({**columns, "v": pa.array([1, 2, 3], pa.int64())}))
    write_deltalake(p, pa.table({**{k: a.slice(0, 1) for k, a in columns.items()}, "v": pa.array([4], pa.int64())}), mode="append")
    assert_same_everywhere(p)


@pytest.mark.parametrize("dirname", ["dir with space", "ünïcødé", "a=b", "hash#x", "q?x"])
def test_table_root_with_special_characters(tmp_path: Path, dirname: str) -> None:
    p = tmp_path / dirname / "tbl"
    p.mkdir(parents=True)
    write_deltalake(p, pa.table({"k": ["a b", None], "v": pa.array([1, 2], pa.int64())}), partition_by=["k"])
    write_deltalake(p, pa.table({"k": ["c"], "v": pa.array([3], pa.int64())}), mode="append")
    DLTable(str(p)).create_checkpoint()
    DLTable(str(p)).delete("v = 1")
    # deltalake's history() comes back empty when the root path holds '#' or '?' (a delta-rs quirk)
    assert_same_everywhere(p, history_from_log=any(c in dirname for c in "#?"))
    want = canonical_rows(DLTable(str(p)).to_pyarrow_table())
    assert canonical_rows(lakehouse.DeltaTable(p.as_uri()).to_arrow()) == want  # file:// URI, percent-encoded


def test_multiple_files_and_row_groups_per_commit(tmp_path: Path) -> None:
    p = tmp_path / "multi_file"
    n = 5000
    data = pa.table({"i": pa.array(range(n), pa.int64()), "s": pa.array([f"s{i % 97}" for i in range(n)])})
    props = deltalake.WriterProperties(max_row_group_size=700, compression="ZSTD")
    write_deltalake(p, data, target_file_size=4096, writer_properties=props)
    write_deltalake(p, data.slice(0, 100), mode="append", writer_properties=props)
    DLTable(str(p)).delete("i % 3 = 0")
    assert len(DLTable(str(p), version=0).file_uris()) > 1
    assert_same_everywhere(p)


def test_column_mapping_name_mode_written_by_deltalake(tmp_path: Path) -> None:
    """delta-rs writes column-mapped tables (physical names `col-<uuid>` in files, stats and partition values)
    but its own reader (1.6.6) returns every non-partition column of them as nulls, and polars refuses them.
    Metadata, files and history are compared with deltalake; rows against the data that was written."""
    p = tmp_path / "column_mapping"
    write_deltalake(
        p,
        pa.table({"a b": pa.array([1, 2], pa.int64()), "s": ["x", None], "k": ["p", None]}),
        partition_by=["k"],
        configuration={"delta.columnMapping.mode": "name"},
    )
    write_deltalake(p, pa.table({"a b": pa.array([3], pa.int64()), "s": ["z"], "k": ["p q"]}), mode="append")
    DLTable(str(p)).delete("`a b` = 2")
    expected = {
        0: [(1, "x", "p"), (2, None, None)],
        1: [(1, "x", "p"), (2, None, None), (3, "z", "p q")],
        2: [(1, "x", "p"), (3, "z", "p q")],
    }
    assert DLTable(str(p)).version() == 2
    for v, rows in expected.items():
        assert_same_at_version(p, v, compare_rows=False)
        assert_history_matches_log(p, up_to=v)
        got = lakehouse.DeltaTable(p, version=v).to_arrow()
        assert got.column_names == ["a b", "s", "k"]
        assert sorted(tuple(r.values()) for r in got.to_pylist()) == sorted(rows, key=lambda r: r[0])
    assert_same_history(p)
