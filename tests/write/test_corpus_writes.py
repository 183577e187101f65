"""Every corpus table takes a write (issue 16): an append of one of its own rows and a DELETE, each read back
row by row (and by deltalake where it reads the table), time travel to the original version unchanged; a
table whose active features lakehouse cannot write refuses both, naming the feature, with its log unchanged."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import lakehouse
from lakehouse.errors import LakehouseError, UnsupportedFeatureError
from lakehouse.protocol.features import active_features, check_writable
from lakehouse.protocol.schema import StructField
from tests.support.conformance import corpus_dir
from tests.support.log import log_state
from tests.support.rows import dl_read

CORPUS = corpus_dir()
TABLES = sorted(p.name for p in (CORPUS / "tables").iterdir() if (p / "_delta_log").is_dir()) if CORPUS else []
SIMPLE = {"int8", "int16", "int32", "int64", "string", "large_string", "bool", "date32[day]"}


def _key(row: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in row.items()))


def _multiset(table: pa.Table, columns: list[str]) -> Counter:
    return Counter(_key(r) for r in table.select(columns).to_pylist())


def _computed(field: StructField) -> bool:
    meta = {k: str(v) for k, v in field.metadata.items()}
    always_identity = "delta.identity.start" in meta and meta.get("delta.identity.allowExplicitInsert", "false") != "true"
    return "delta.generationExpression" in meta or always_identity


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"DATE '{value.isoformat()}'"


@pytest.mark.skipif(CORPUS is None, reason="conformance corpus not found")
@pytest.mark.parametrize("name", TABLES)
def test_corpus_table_takes_an_append_of_its_own_row_and_a_delete(tmp_path: Path, name: str) -> None:
    assert CORPUS is not None
    path = str(tmp_path / "t")
    shutil.copytree(CORPUS / "tables" / name, path)
    try:
        dt = lakehouse.DeltaTable(path)
        original = dt.to_arrow()
    except LakehouseError:
        # A table the conformance suite expects an error from (a missing file, reader version 99, no
        # metaData, a gap in the log): a write must not paper over it.
        before = log_state(path)
        with pytest.raises(LakehouseError):
            lakehouse.write_delta(path, pa.table({"x": pa.array([1], pa.int64())}), mode="append")
        assert log_state(path) == before
        return
    version = dt.version
    snap = dt._snapshot
    before = log_state(path)
    try:
        check_writable(snap.protocol, active_features(snap.protocol, snap.metadata))
    except UnsupportedFeatureError as refused:
        row = original.slice(0, 1) if original.num_rows else original
        with pytest.raises(UnsupportedFeatureError) as e:
            lakehouse.write_delta(path, row, mode="append")
        assert refused.feature and refused.feature in str(e.value)
        with pytest.raises(UnsupportedFeatureError):
            dt.delete()
        assert log_state(path) == before
        return
    if original.num_rows == 0:
        assert dt.to_arrow().num_rows == 0
        return
    schema = dt.schema
    keep = [f.name for f in snap.schema.fields if not _computed(f)]
    row = original.slice(0, 1).select(keep)
    lakehouse.write_delta(path, row, mode="append")
    appended = lakehouse.DeltaTable(path).to_arrow()
    assert _multiset(appended, keep) == _multiset(original, keep) + _multiset(row, keep)

    partitions = set(dt.partition_columns)
    first = row.to_pylist()[0]
    candidates = [f for f in schema if f.name in keep and str(f.type) in SIMPLE and first[f.name] is not None]
    column = next((f.name for f in candidates if f.name not in partitions), None) or next(
        (f.name for f in candidates), None)
    if column is not None:
        value = first[column]
        lakehouse.DeltaTable(path).delete(f"`{column}` = {_literal(value)}")
        matches = pc.fill_null(pc.equal(appended.column(column), pa.scalar(value, appended.schema.field(column).type)), False)
        expected = appended.filter(pc.invert(matches))
    else:
        lakehouse.DeltaTable(path).delete()
        expected = appended.slice(0, 0)
    after = lakehouse.DeltaTable(path).to_arrow()
    assert _multiset(after, after.column_names) == _multiset(expected, after.column_names)
    assert _multiset(lakehouse.DeltaTable(path, version=version).to_arrow(), original.column_names) == _multiset(
        original, original.column_names)
    try:
        theirs_before = dl_read(str(CORPUS / "tables" / name))
    except Exception:  # noqa: BLE001 - deltalake cannot read the original either: no cross-check possible
        return
    theirs = dl_read(path)
    assert theirs.num_rows == after.num_rows and theirs_before.num_rows == original.num_rows
