"""Variant expressions on a real table (issue 16): a table created with a `variant` column, filled by
MERGE from JSON text with `parse_json`, read with `:` paths and `variant_get`, changed by UPDATE and
DELETE whose predicates and values use them; every version is reopened and checked row by row against a
plain-Python model, and deltalake reads the same rows.
"""

from __future__ import annotations

import json

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType

SCHEMA = StructType([StructField("id", PrimitiveType("long")), StructField("v", PrimitiveType("variant"))])


def _doc(i: int) -> dict:
    doc: dict = {"a": i, "tags": [f"t{i % 3}"], "nested": {"k": str(i * 10)}}
    if i % 4 == 0:
        doc["a"] = str(i)  # a string where most rows hold a number: CAST parses it, as Spark
    if i % 5 == 0:
        doc.pop("nested")
    return doc


def _rows(dt: lakehouse.DeltaTable) -> dict[int, object]:
    table = dt.to_arrow()
    texts = lakehouse.variant_to_json(table.column("v"))
    return {i: (None if t is None else json.loads(t)) for i, t in zip(table.column("id").to_pylist(), texts.to_pylist())}


def _deltalake_rows(path: str) -> dict[int, object]:
    table = deltalake.DeltaTable(path).to_pyarrow_table()
    texts = lakehouse.variant_to_json(table.column("v"))
    return {i: (None if t is None else json.loads(t)) for i, t in zip(table.column("id").to_pylist(), texts.to_pylist())}


@pytest.fixture()
def table(tmp_path):
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=SCHEMA)
    model: dict[int, object] = {}
    for batch in range(3):  # three files
        ids = list(range(batch * 10, batch * 10 + 10))
        source = pa.table({"id": pa.array(ids, pa.int64()), "j": [json.dumps(_doc(i)) for i in ids]})
        (lakehouse.DeltaTable(path).merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t")
         .when_not_matched_insert({"id": "s.id", "v": "parse_json(s.j)"}).execute())
        model.update({i: _doc(i) for i in ids})
    return path, model


def test_merge_insert_with_parse_json_reads_back(table):
    path, model = table
    assert _rows(lakehouse.DeltaTable(path)) == model
    assert _deltalake_rows(path) == model
    assert len(lakehouse.DeltaTable(path).files()) == 3


def test_filters_with_paths(table):
    path, model = table
    dt = lakehouse.DeltaTable(path)

    def ids(f: str) -> list[int]:
        return sorted(dt.to_arrow(filter=f, columns=["id"]).column("id").to_pylist())

    assert ids("v:a::int >= 25") == [i for i in model if int(model[i]["a"]) >= 25]
    assert ids("try_variant_get(v, '$.nested.k', 'int') = 70") == [7]
    assert ids("v:nested IS NULL") == [i for i in model if "nested" not in model[i]]
    assert ids("v:tags[0]::string = 't1'") == [i for i in model if model[i]["tags"][0] == "t1"]
    with pytest.raises(InvalidArgumentError, match="not comparable"):
        dt.to_arrow(filter="v:a = 3")


def test_update_and_delete_with_variant_predicates_and_values(table):
    path, model = table
    dt = lakehouse.DeltaTable(path)
    dt.update(predicate="v:a::int % 3 = 0", updates={"v": "parse_json('{\"a\": -1, \"was\": \"updated\"}')"})
    for i in model:
        if int(model[i]["a"]) % 3 == 0:
            model[i] = {"a": -1, "was": "updated"}
    assert _rows(lakehouse.DeltaTable(path)) == model

    lakehouse.DeltaTable(path).update(predicate="id = 1", updates={"v": "CAST(id * 100 AS VARIANT)"})
    model[1] = 100
    assert _rows(lakehouse.DeltaTable(path)) == model

    result = lakehouse.DeltaTable(path).delete("try_variant_get(v, '$.a', 'int') < 0")
    gone = [i for i in model if isinstance(model[i], dict) and int(model[i]["a"]) < 0]
    assert result.num_deleted_rows == len(gone) > 0
    for i in gone:
        del model[i]
    after = lakehouse.DeltaTable(path)
    assert _rows(after) == model
    assert _deltalake_rows(path) == model
    # The versions before the DML still read as they were.
    assert _rows(lakehouse.DeltaTable(path, version=3)) == {i: _doc(i) for i in range(30)}


def test_a_failing_cast_leaves_the_table_unchanged(table):
    path, model = table
    before = lakehouse.DeltaTable(path).version
    with pytest.raises(InvalidArgumentError, match="cannot CAST variant value"):
        lakehouse.DeltaTable(path).delete("v:tags::int = 1")  # an array is no number
    with pytest.raises(InvalidArgumentError, match="is not valid JSON"):
        lakehouse.DeltaTable(path).update(predicate="id = 2", updates={"v": "parse_json('{broken')"})
    assert lakehouse.DeltaTable(path).version == before
    assert _rows(lakehouse.DeltaTable(path)) == model
