"""Unit tests of `lakehouse.protocol.file_table` (the active-files Arrow table and `drop_seen`)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.protocol.actions import Add, DeletionVectorDescriptor, file_key
from lakehouse.protocol.file_table import (
    ADD_SCHEMA,
    ADD_TYPE,
    adds_to_table,
    drop_seen,
    file_keys,
    key_string,
    struct_rows_to_table,
)
from lakehouse.protocol.replay import canonical_path


def add(path, dv=None, **kw):
    return Add(path=path, partition_values=kw.pop("pv", {}), size=1, modification_time=0, data_change=True,
               deletion_vector=dv, **kw)


DV1 = DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", 40, 6, offset=1)
DV1_OTHER_OFFSET = DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", 40, 6, offset=50)
DV_INLINE = DeletionVectorDescriptor("i", "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", 38, 3)


def paths(t: pa.Table) -> list[str]:
    return t.column("path").to_pylist()


def test_adds_to_table_schema_and_values():
    t = adds_to_table([add("a", pv={"p": "1", "q": None}, stats='{"numRecords":1}'), add("b", DV1)])
    assert t.schema == ADD_SCHEMA
    assert paths(t) == ["a", "b"]
    assert t.column("partitionValues").to_pylist()[0] == [("p", "1"), ("q", None)]
    assert t.column("deletionVector").to_pylist()[1]["offset"] == 1
    assert adds_to_table([]).num_rows == 0


def test_file_keys_match_replay_keys():
    adds = [add("a"), add("a%20b"), add("c", DV1), add("c", DV1_OTHER_OFFSET), add("d", DV_INLINE)]
    t = adds_to_table(adds)
    expected = [key_string(file_key(canonical_path(a.path), a.deletion_vector)) for a in adds]
    assert file_keys(t).to_pylist() == expected


def test_drop_seen_without_dvs():
    t = adds_to_table([add("a"), add("b"), add("c")])
    assert drop_seen(t, set()) is t
    assert paths(drop_seen(t, {("b", None)})) == ["a", "c"]
    assert paths(drop_seen(t, {("zzz", None)})) == ["a", "b", "c"]
    assert drop_seen(t, {("a", None), ("b", None), ("c", None)}).num_rows == 0


def test_drop_seen_distinguishes_dvs():
    t = adds_to_table([add("p"), add("p", DV1), add("p", DV1_OTHER_OFFSET), add("q", DV_INLINE)])
    out = drop_seen(t, {("p", DV1.unique_id)})
    assert [(r["path"], (r["deletionVector"] or {}).get("offset")) for r in out.to_pylist()] == [
        ("p", None), ("p", 50), ("q", None)
    ]
    out = drop_seen(t, {("p", None), ("q", DV_INLINE.unique_id)})
    assert [r["deletionVector"]["offset"] for r in out.to_pylist()] == [1, 50]


def test_drop_seen_canonicalises_percent_encoded_paths():
    t = adds_to_table([add("x=a%20b/f.parquet"), add("y.parquet")])
    assert paths(drop_seen(t, {("x=a b/f.parquet", None)})) == ["y.parquet"]


def test_drop_seen_on_empty_table():
    t = adds_to_table([])
    assert drop_seen(t, {("a", None)}).num_rows == 0


def test_struct_rows_to_table_from_checkpoint_like_column():
    # A checkpoint `add` column: nulls for rows holding other actions, a subset of fields, an extra field.
    struct_type = pa.struct(
        [
            pa.field("path", pa.string()),
            pa.field("partitionValues", pa.map_(pa.string(), pa.string())),
            pa.field("size", pa.int64()),
            pa.field("modificationTime", pa.int64()),
            pa.field("dataChange", pa.bool_()),
            pa.field("futureField", pa.int32()),
        ]
    )
    col = pa.array(
        [None, {"path": "a", "partitionValues": [("p", "1")], "size": 3, "modificationTime": 4, "dataChange": True,
                "futureField": 9}, None],
        struct_type,
    )
    t = struct_rows_to_table(pa.chunked_array([col]), ADD_TYPE)
    assert t.schema == ADD_SCHEMA
    assert paths(t) == ["a"]
    assert t.column("stats").to_pylist() == [None]
    assert t.column("deletionVector").to_pylist() == [None]
    assert paths(drop_seen(t, {("a", None)})) == []


def test_table_to_adds_is_the_inverse_of_adds_to_table_and_remove_for_keeps_the_logical_file():
    from lakehouse.protocol.actions import Add, DeletionVectorDescriptor
    from lakehouse.protocol.file_table import adds_to_table, remove_for, table_to_adds

    adds = [
        Add("p=1/a%20b.parquet", {"p": "1", "q": None}, 10, 5, True, '{"numRecords":3}', {"k": "v"},
            DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", 40, 2, 1, 7), 11, 4, "liquid"),
        Add("c.parquet", {}, 1, 0, False),
    ]
    back = table_to_adds(adds_to_table(adds))
    assert back == adds
    tomb = remove_for(back[0], 99)
    assert (tomb.path, tomb.deletion_timestamp, tomb.deletion_vector, tomb.size) == (
        adds[0].path, 99, adds[0].deletion_vector, 10)
    assert (tomb.base_row_id, tomb.default_row_commit_version, tomb.data_change) == (11, 4, True)
    assert remove_for(back[1], 1, data_change=False).data_change is False


def test_removes_to_table_equals_the_encoded_actions():
    """The column-by-column tombstone table holds exactly what converting each encoded `remove` gives:
    null and empty partition maps, null timestamps and sizes, deletion vectors or none."""
    from lakehouse.protocol.actions import DeletionVectorDescriptor, Remove
    from lakehouse.protocol.codec import encode_action
    from lakehouse.protocol.file_table import REMOVE_SCHEMA, removes_to_table

    removes = [
        Remove(path=f"p{i}.parquet", data_change=i % 2 == 0, deletion_timestamp=None if i % 5 == 0 else i,
               size=None if i % 3 == 0 else i * 10,
               partition_values=None if i % 4 == 0 else ({"a": str(i), "b": None} if i % 2 else {}),
               stats='{"numRecords": 1}',
               deletion_vector=DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", 1, 36, 2, None) if i % 7 == 0 else None)
        for i in range(60)
    ]
    expected = pa.Table.from_pylist([encode_action(r)["remove"] for r in removes], schema=REMOVE_SCHEMA)
    assert removes_to_table(removes).equals(expected)
    assert removes_to_table([]).equals(REMOVE_SCHEMA.empty_table())
