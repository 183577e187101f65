"""Tables delta-rs creates with deletion vectors (issue 18 item 8).

delta-rs 1.x lists `variantType` among the reader and writer features of every table it creates with
`delta.enableDeletionVectors=true`, although the schema has no variant column. `lakehouse` supports that
feature, so it reads such tables and runs DELETE (with deletion vectors and, once the property is turned
off, by copy-on-write), UPDATE and MERGE on them; after each operation every row is checked against
deltalake's read of the same version, and the protocol still lists the features delta-rs put there.
"""

from __future__ import annotations

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read
from tests.support.log import commit_actions

SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("d", pa.float64()), ("p", pa.string())])


def _rows(ids: range, tag: str) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "s": f"{tag}{i}", "d": i / 4, "p": "ab"[i % 2]} for i in ids], schema=SCHEMA)


def _deltars_dv_table(path: str, *, partitioned: bool) -> None:
    """A DV table created and appended to by delta-rs (two files or two per partition)."""
    deltalake.write_deltalake(path, _rows(range(0, 6), "x"), partition_by=["p"] if partitioned else None,
                              configuration={"delta.enableDeletionVectors": "true"})
    deltalake.write_deltalake(path, _rows(range(6, 10), "y"), mode="append")
    protocol = next(a["protocol"] for a in commit_actions(path, 0) if "protocol" in a)
    assert "variantType" in protocol["readerFeatures"] and "variantType" in protocol["writerFeatures"], \
        f"delta-rs no longer lists variantType ({protocol}): this test lost its subject"
    assert "deletionVectors" in protocol["readerFeatures"]


def _check(path: str, label: str) -> None:
    assert_same_rows(lh_read(path), dl_read(path), label)
    # lakehouse keeps the protocol delta-rs wrote: it never drops a feature it does not need itself.
    features = lakehouse.DeltaTable(path).snapshot.protocol.reader_features
    assert {"variantType", "deletionVectors"} <= set(features), label


def _wrote_dv(path: str) -> bool:
    version = lakehouse.DeltaTable(path).version
    return any("deletionVector" in (a.get("add") or {}) for a in commit_actions(path, version))


@pytest.fixture(params=[False, True], ids=["flat", "partitioned"])
def table(tmp_path, request) -> str:
    path = str(tmp_path / "t")
    _deltars_dv_table(path, partitioned=request.param)
    return path


def test_read(table):
    got = lh_read(table)
    assert got.schema == SCHEMA
    assert sorted(got.column("id").to_pylist()) == list(range(10))
    _check(table, "read")
    assert sorted(lakehouse.DeltaTable(table).to_arrow(filter="id >= 8").column("id").to_pylist()) == [8, 9]


def test_delete_with_deletion_vectors(table):
    lakehouse.DeltaTable(table).delete("id = 2 OR id = 7")
    assert _wrote_dv(table), "the DELETE should have written a deletion vector"
    _check(table, "DV delete")
    lakehouse.DeltaTable(table).delete("s = 'x4'")
    _check(table, "second DV delete")
    assert sorted(lh_read(table).column("id").to_pylist()) == [0, 1, 3, 5, 6, 8, 9]
    # delta-rs can keep writing the table after lakehouse's commits.
    deltalake.write_deltalake(table, _rows(range(20, 22), "z"), mode="append")
    _check(table, "delta-rs append after lakehouse DVs")
    assert_versions_agree(table)


def test_delete_without_deletion_vectors(table):
    lakehouse.DeltaTable(table).alter.set_table_properties({"delta.enableDeletionVectors": "false"})
    lakehouse.DeltaTable(table).delete("id = 2 OR id = 7")
    assert not _wrote_dv(table), "with the property off the DELETE rewrites files"
    _check(table, "copy-on-write delete")
    assert sorted(lh_read(table).column("id").to_pylist()) == [0, 1, 3, 4, 5, 6, 8, 9]
    assert_versions_agree(table)


def test_update(table):
    lakehouse.DeltaTable(table).update(updates={"s": "'u'", "d": "d * 2"}, predicate="id = 3 OR id = 8")
    _check(table, "update")
    rows = {r["id"]: r for r in lh_read(table).to_pylist()}
    assert (rows[3]["s"], rows[3]["d"]) == ("u", 1.5) and (rows[8]["s"], rows[8]["d"]) == ("u", 4.0)
    assert rows[4] == {"id": 4, "s": "x4", "d": 1.0, "p": "a"}
    lakehouse.DeltaTable(table).delete("s = 'u'")
    _check(table, "delete after update")
    assert_versions_agree(table)


def test_merge(table):
    source = _rows(range(8, 13), "m")
    lakehouse.DeltaTable(table).merge(source, "t.id = s.id") \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    _check(table, "merge upsert")
    rows = {r["id"]: r["s"] for r in lh_read(table).to_pylist()}
    assert rows == {**{i: f"x{i}" for i in range(6)}, 6: "y6", 7: "y7", **{i: f"m{i}" for i in range(8, 13)}}
    lakehouse.DeltaTable(table).merge(_rows(range(0, 3), "q"), "t.id = s.id").when_matched_delete().execute()
    _check(table, "merge delete")
    assert sorted(lh_read(table).column("id").to_pylist()) == list(range(3, 13))
    assert_versions_agree(table)


def test_optimize(table):
    lakehouse.DeltaTable(table).delete("id = 1")
    before = lh_read(table)
    lakehouse.DeltaTable(table).optimize.compact(min_file_size=1 << 30)
    assert_same_rows(lh_read(table), before, "optimize keeps the rows")
    _check(table, "optimize")
