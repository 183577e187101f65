"""Parquet encodings of written data files (`lakehouse.write.files.dictionary_columns`): columns whose
dictionary cannot fit Arrow's dictionary page are written plain, the others keep their dictionary, and
either way every row and every statistic is the same as the input's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import lakehouse
from lakehouse.write.files import DICTIONARY_SAMPLE_ROWS, dictionary_columns
from tests.support.log import actions_of
from tests.support.rows import assert_rows, dl_read

ROWS = 300_000


def _data(rows: int = ROWS) -> pa.Table:
    rng = np.random.default_rng(3)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "x": pa.array(rng.normal(size=rows)),
        "few": pa.array(rng.integers(0, 50, rows)),  # int64 with 50 values: a dictionary pays
        "s": pa.array([f"name-{i % 1000:04d}" if i % 11 else None for i in range(rows)], pa.string()),
        "u": pa.array([f"unique-{i:09d}-{i * 7919 % 100003}" for i in range(rows)], pa.string()),
        "p": pa.array([f"p{i % 2}" for i in range(rows)], pa.string()),
    })


def _encodings(path: Path) -> dict[str, set[str]]:
    """Column name -> the encodings of its chunks in every data file under ``path``."""
    found: dict[str, set[str]] = {}
    for f in path.rglob("*.parquet"):
        meta = pq.ParquetFile(f).metadata
        for rg in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(rg).column(c)
                found.setdefault(col.path_in_schema, set()).update(col.encodings)
    return found


def test_high_cardinality_columns_plain_others_dictionary(tmp_path: Path) -> None:
    data = _data()
    path = tmp_path / "t"
    lakehouse.write_delta(str(path), data, partition_by=["p"])
    enc = _encodings(path)
    for plain in ("id", "x", "u"):
        assert "PLAIN_DICTIONARY" not in enc[plain] and "RLE_DICTIONARY" not in enc[plain], (plain, enc[plain])
    for dictionary in ("few", "s"):
        assert "RLE_DICTIONARY" in enc[dictionary] or "PLAIN_DICTIONARY" in enc[dictionary], (dictionary, enc[dictionary])
    got = lakehouse.DeltaTable(str(path)).to_arrow()
    assert_rows(got, data, "lakehouse read")
    assert_rows(dl_read(str(path)), data, "deltalake read")
    # Statistics come from the footers: exact whatever the encoding.
    adds = actions_of(str(path), 0, "add")
    assert len(adds) == 2
    for add in adds:
        part = data.filter(pc.equal(data["p"], add["partitionValues"]["p"]))
        stats = json.loads(add["stats"])
        assert stats["numRecords"] == part.num_rows
        assert stats["minValues"]["id"] == pc.min(part["id"]).as_py()
        assert stats["maxValues"]["x"] == pc.max(part["x"]).as_py()
        assert stats["nullCount"]["s"] == part["s"].null_count


def test_dictionary_choice() -> None:
    data = _data().drop_columns(["p"])
    assert dictionary_columns(data) == ["few", "s"]
    # Too few rows for any dictionary to overflow: Arrow's default.
    assert dictionary_columns(data.slice(0, 2 * DICTIONARY_SAMPLE_ROWS - 1)) is True
    # A column sorted in runs of repeated values keeps its dictionary (the sample shows repeats).
    runs = pa.table({"r": pa.array(np.repeat(np.arange(ROWS // 20, dtype=np.int64), 20))})
    assert dictionary_columns(runs) is True
    # A first batch of repeats (a MERGE's updated rows, one timestamp) ahead of unique values does not
    # pass for the whole: the column is still written plain; a low-cardinality one keeps its dictionary.
    head = 3000
    ts = np.concatenate([np.full(head, 7, dtype=np.int64), np.arange(ROWS - head, dtype=np.int64) * 1000])
    merged = pa.table({"t": pa.array(ts, pa.timestamp("us")), "few": pa.array(np.arange(ROWS) % 50)})
    assert dictionary_columns(merged) == ["few"]
    # Nested columns: the choice is left to Arrow.
    nested = data.append_column("n", pa.array([{"a": i} for i in range(data.num_rows)]))
    assert dictionary_columns(nested) is True
