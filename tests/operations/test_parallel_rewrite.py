"""Copy-on-write DELETE, UPDATE and MERGE with ``max_workers``: target files read ahead and new files
encoded on several threads give exactly the rows (and change data) of the one-worker run, in both
lakehouse and deltalake."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from tests.support.dml import config, snapshot_dir
from tests.support.rows import assert_same_rows, assert_versions_agree, dl_read, lh_read

ROWS = 20_000


def _base(path: str, *, cdf: bool) -> pa.Table:
    rng = np.random.default_rng(3)
    data = pa.table({
        "id": pa.array(np.arange(ROWS, dtype=np.int64)),
        "v": pa.array(rng.integers(0, 1000, ROWS)),
        "p": pa.array([f"p{i % 2}" for i in range(ROWS)], pa.string()),
    })
    # Many small files, so that several are read ahead and rewritten at once.
    lakehouse.write_delta(path, data, partition_by=["p"], target_file_size=8 * 1024,
                          configuration=config("cow", cdf=cdf), max_workers=1)
    assert lakehouse.DeltaTable(path).files().num_rows > 8
    return data


def _source() -> pa.Table:
    ids = np.arange(ROWS - 3000, ROWS + 2000, 2, dtype=np.int64)  # half matches, half inserts
    return pa.table({"id": pa.array(ids), "v": pa.array(-ids), "p": pa.array([f"p{i % 2}" for i in ids], pa.string())})


OPERATIONS = {
    "delete": lambda dt, w: dt.delete("v % 7 = 0", max_workers=w),
    "update": lambda dt, w: dt.update(updates={"v": "v + 1000"}, predicate="v < 300", max_workers=w),
    "merge": lambda dt, w: dt.merge(_source(), "t.id = s.id", max_workers=w)
    .when_matched_update_all().when_not_matched_insert_all().execute(),
}


@pytest.mark.parametrize("cdf", [False, True])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_one_and_four_workers_rewrite_the_same_rows(tmp_path, operation, cdf):
    base = str(tmp_path / "base")
    _base(base, cdf=cdf)
    results = {}
    for workers in (1, 4):
        path = str(tmp_path / f"w{workers}")
        shutil.copytree(base, path)
        OPERATIONS[operation](lakehouse.DeltaTable(path), workers)
        assert lakehouse.DeltaTable(path).version == 1
        assert_versions_agree(path)
        results[workers] = path
    assert_same_rows(lh_read(results[4]), lh_read(results[1]), f"{operation}: 4 workers vs 1")
    assert_same_rows(dl_read(results[4]), dl_read(results[1]), f"{operation} (deltalake): 4 workers vs 1")
    if cdf:
        changes = {w: lakehouse.DeltaTable(p).load_cdf(1, 1).drop_columns(["_commit_timestamp"]) for w, p in results.items()}
        assert changes[1].num_rows > 0
        assert_same_rows(changes[4], changes[1], f"{operation}: change data, 4 workers vs 1")


def test_bad_max_workers_leaves_the_table_unchanged(tmp_path):
    path = str(tmp_path / "t")
    _base(path, cdf=False)
    before = snapshot_dir(path)
    with pytest.raises(InvalidArgumentError, match="max_workers must be a positive int, got 0"):
        lakehouse.DeltaTable(path).delete("v > 10", max_workers=0)
    assert snapshot_dir(path) == before


@pytest.mark.parametrize("workers", [1, 4])
def test_copy_on_write_kept_rows_are_encoded_on_every_worker(tmp_path, monkeypatch, workers):
    """The kept rows of every rewritten file (one batch per file) end in up to max_workers new files (the
    writer's lanes, each one's last buffer cut further), and no more, which hold exactly the surviving
    rows; lakehouse and deltalake read the same rows."""
    import lakehouse.write.files as files_mod
    from tests.support.log import actions_of

    monkeypatch.setattr(files_mod, "SPLIT_MIN_BYTES", 32 * 1024)
    path = str(tmp_path / "t")
    data = pa.table({"id": pa.array(np.arange(ROWS, dtype=np.int64)), "v": pa.array(np.arange(ROWS) % 10)})
    for start in range(0, ROWS, ROWS // 5):  # five files: five small batches of kept rows
        lakehouse.write_delta(path, data.slice(start, ROWS // 5), mode="append",
                              configuration=None if start else config("cow", cdf=False))
    lakehouse.DeltaTable(path).delete("v = 3", max_workers=workers)
    adds = actions_of(path, 5, "add")
    assert len(adds) == 1 if workers == 1 else 1 < len(adds) <= workers
    got = pa.concat_tables([pq.read_table(f"{path}/{a['path']}") for a in adds])
    assert got.sort_by("id").equals(data.filter(pc.not_equal(data["v"], 3)))
    assert_same_rows(dl_read(path), got, "deltalake after the split rewrite")
