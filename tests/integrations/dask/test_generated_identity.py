"""The Dask write and the Dask MERGE on tables with generated, identity and default columns
(spec/generated-identity-defaults.md): generated and default columns completed on the workers, identity
values assigned by the MERGE on the client and by the Dask write's tasks (interleaved, Spark's scheme),
distinct with appends and refused on a lost high-water-mark race; every version read back by lakehouse
and deltalake."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.errors import ConstraintViolationError  # noqa: E402
from tests.support.log import log_state  # noqa: E402
from tests.support.rows import Versions, assert_versions_agree  # noqa: E402

GENERATED = pa.field("n2", pa.int64(), metadata={"delta.generationExpression": "n * 2"})
DEFAULT = pa.field("z", pa.int32(), metadata={"CURRENT_DEFAULT": "40 + 2"})
IDENTITY = pa.field("id", pa.int64(), metadata={"delta.identity.start": "1", "delta.identity.step": "1",
                                                "delta.identity.allowExplicitInsert": "false"})


def _rows(rows: list[tuple[int, int]], with_id: list[int] | None = None) -> pa.Table:
    """(k, n) rows with n2 = n * 2, z = 42 (and id when given)."""
    cols = {"k": pa.array([r[0] for r in rows], pa.int64()), "n": pa.array([r[1] for r in rows], pa.int64()),
            "n2": pa.array([r[1] * 2 for r in rows], pa.int64())}
    if with_id is not None:
        cols["id"] = pa.array(with_id, pa.int64())
    cols["z"] = pa.array([42] * len(rows), pa.int32())
    return pa.table(cols)


def _ddf(k: list[int], n: list[int]) -> dd.DataFrame:
    return dd.from_pandas(pd.DataFrame({"k": pd.array(k, "int64"), "n": pd.array(n, "int64")}), npartitions=2)


@pytest.mark.parametrize("dv", [True, False], ids=["dv", "copy_on_write"])
def test_dask_write_and_merge_complete_generated_and_default_columns(client, tmp_path, dv: bool) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("k", pa.int64()), pa.field("n", pa.int64()),
                                                        GENERATED, DEFAULT]),
                                configuration={"delta.enableDeletionVectors": str(dv).lower()})
    v = Versions(path)
    v[0] = _rows([])
    ldd.write_delta(path, _ddf([1, 2, 3, 4], [10, 20, 30, 40]), mode="append")
    v[1] = _rows([(1, 10), (2, 20), (3, 30), (4, 40)])
    (ldd.merge(path, pa.table({"k": [2, 3, 5], "n": [7, 0, 50]}), "t.k = s.k", min_task_bytes=0)
     .when_matched_update({"n": "s.n"}, predicate="s.n > 0").when_matched_delete()
     .when_not_matched_insert_all().execute())
    v[2] = _rows([(1, 10), (2, 7), (4, 40), (5, 50)])
    v.check()
    assert_versions_agree(path)
    # a wrong explicit generated value is refused on the workers: nothing committed, no file left
    before = log_state(path)
    with pytest.raises(ConstraintViolationError, match="'n2' is generated"):
        ldd.write_delta(path, dd.from_pandas(pd.DataFrame({"k": [9], "n": [1], "n2": [5]}), npartitions=1),
                        mode="append")
    with pytest.raises(ConstraintViolationError, match="'n2' is generated"):
        (ldd.merge(path, pa.table({"k": [1], "n": [3]}), "t.k = s.k", min_task_bytes=0)
         .when_matched_update({"n": "s.n", "n2": "1"}).execute())
    assert log_state(path) == before
    assert lakehouse.DeltaTable(path).version == 2


def test_dask_merge_and_dask_write_assign_identity_values(client, tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("k", pa.int64()), pa.field("n", pa.int64()),
                                                        GENERATED, IDENTITY, DEFAULT]))
    v = Versions(path)
    v[0] = _rows([], [])
    lakehouse.write_delta(path, pa.table({"k": [1, 2], "n": [1, 2]}), mode="append")
    v[1] = _rows([(1, 1), (2, 2)], [1, 2])
    (ldd.merge(path, pa.table({"k": [2, 3, 4], "n": [20, 3, 4]}), "t.k = s.k", min_task_bytes=0)
     .when_matched_update({"n": "s.n"}).when_not_matched_insert({"k": "s.k", "n": "s.n"}).execute())
    v[2] = _rows([(1, 1), (2, 20), (3, 3), (4, 4)], [1, 2, 3, 4])
    lakehouse.write_delta(path, pa.table({"k": [5], "n": [5]}), mode="append")
    v[3] = _rows([(1, 1), (2, 20), (3, 3), (4, 4), (5, 5)], [1, 2, 3, 4, 5])
    # The Dask write: each of the 3 tasks takes every third value after the mark (5): 6, 9.. / 7, 10.. / 8..
    ddf = dd.from_pandas(pd.DataFrame({"k": pd.array(range(6, 14), "int64"), "n": pd.array(range(6, 14), "int64")}),
                         npartitions=3)
    ldd.write_delta(path, ddf, mode="append")
    table = lakehouse.DeltaTable(path).to_arrow()
    new = {k: i for k, i in zip(table.column("k").to_pylist(), table.column("id").to_pylist()) if k >= 6}
    sizes = \
        [len(ddf.get_partition(i).compute()) for i in range(ddf.npartitions)]
    expected: list[int] = []
    for task, size in enumerate(sizes):
        expected += [5 + (task + 1) + 3 * j for j in range(size)]
    assert [new[k] for k in range(6, 14)] == expected
    assert len(set(table.column("id").to_pylist())) == table.num_rows  # no value twice
    mark = lakehouse.DeltaTable(path).delta_schema.field("id").metadata["delta.identity.highWaterMark"]
    assert mark == max(expected)
    v[4] = _rows([(1, 1), (2, 20), (3, 3), (4, 4), (5, 5)] + [(k, k) for k in range(6, 14)],
                 [1, 2, 3, 4, 5] + expected)
    # The next single-process append continues after the Dask write's mark.
    lakehouse.write_delta(path, pa.table({"k": [20], "n": [20]}), mode="append")
    v[5] = _rows([(1, 1), (2, 20), (3, 3), (4, 4), (5, 5)] + [(k, k) for k in range(6, 14)] + [(20, 20)],
                 [1, 2, 3, 4, 5] + expected + [max(expected) + 1])
    v.check()
    assert_versions_agree(path)
    # GENERATED ALWAYS: explicit values are refused on the workers, nothing committed.
    before = log_state(path)
    with pytest.raises(ConstraintViolationError, match="GENERATED ALWAYS AS IDENTITY"):
        ldd.write_delta(path, dd.from_pandas(pd.DataFrame({"k": [30], "n": [30], "id": [99]}), npartitions=1),
                        mode="append")
    assert log_state(path) == before


NEGATIVE = pa.field("id", pa.int64(), metadata={"delta.identity.start": "100", "delta.identity.step": "-10",
                                                "delta.identity.allowExplicitInsert": "true"})


def test_dask_write_negative_step_and_explicit_values(client, tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("k", pa.int64()), NEGATIVE]))
    ldd.write_delta(path, dd.from_pandas(pd.DataFrame({"k": pd.array(range(7), "int64")}), npartitions=2),
                    mode="append")
    ids = sorted(lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist(), reverse=True)
    assert len(set(ids)) == 7 and all(i <= 100 and (100 - i) % 10 == 0 for i in ids) and ids[0] == 100
    mark = lakehouse.DeltaTable(path).delta_schema.field("id").metadata["delta.identity.highWaterMark"]
    assert mark == min(ids)
    # BY DEFAULT: explicit values are kept, and the mark moves past those on the grid beyond it.
    ldd.write_delta(path, dd.from_pandas(pd.DataFrame({"k": pd.array([50, 51], "int64"),
                                                       "id": pd.array([mark - 100, 7], "int64")}), npartitions=2),
                    mode="append")
    table = lakehouse.DeltaTable(path).to_arrow()
    assert {k: i for k, i in zip(table.column("k").to_pylist(), table.column("id").to_pylist()) if k >= 50} == {
        50: mark - 100, 51: 7}
    assert lakehouse.DeltaTable(path).delta_schema.field("id").metadata["delta.identity.highWaterMark"] == mark - 100
    lakehouse.write_delta(path, pa.table({"k": [60]}), mode="append")
    assert lakehouse.DeltaTable(path).to_arrow(filter="k = 60").column("id").to_pylist() == [mark - 110]
    assert_versions_agree(path)


def _append_elsewhere(index: int, *, root: str) -> None:
    """On the worker running task 0: another writer (a single-process append) takes identity values."""
    if index == 0:
        lakehouse.write_delta(root, pa.table({"k": [1000], "n": [1000]}), mode="append")


def test_dask_write_loses_to_a_concurrent_identity_writer(client, tmp_path) -> None:
    from functools import partial

    from lakehouse.errors import MetadataChangedError
    from lakehouse.integrations.dask.jobs import task_hook

    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("k", pa.int64()), pa.field("n", pa.int64()),
                                                        GENERATED, IDENTITY, DEFAULT]))
    lakehouse.write_delta(path, pa.table({"k": [1], "n": [1]}), mode="append")
    with pytest.raises(MetadataChangedError), task_hook(partial(_append_elsewhere, root=path)):
        ldd.write_delta(path, _ddf([6, 7, 8], [6, 7, 8]), mode="append")
    table = lakehouse.DeltaTable(path).to_arrow()
    assert sorted(zip(table.column("k").to_pylist(), table.column("id").to_pylist())) == [(1, 1), (1000, 2)]
    # The Dask write's files were deleted: nothing unreferenced that could repeat identity values.
    import os

    data = {f for f in os.listdir(path) if f.endswith(".parquet")}
    assert data == {a.split("/")[-1] for a in lakehouse.DeltaTable(path).snapshot.adds.column("path").to_pylist()}


def _delete_elsewhere(index: int, *, root: str) -> None:
    """On the worker running task 0: another writer deletes a row (no metadata change, no identity value)."""
    if index == 0:
        lakehouse.DeltaTable(root).delete("k = 1")


def test_dask_write_retries_over_a_commit_that_leaves_the_mark(client, tmp_path) -> None:
    from functools import partial

    from lakehouse.integrations.dask.jobs import task_hook

    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=pa.schema([pa.field("k", pa.int64()), pa.field("n", pa.int64()),
                                                        GENERATED, IDENTITY, DEFAULT]))
    lakehouse.write_delta(path, pa.table({"k": [1, 2], "n": [1, 2]}), mode="append")
    v = Versions(path)
    v[0] = _rows([], [])
    v[1] = _rows([(1, 1), (2, 2)], [1, 2])
    # A blind append does not conflict with a DELETE that leaves the metadata alone: it retries and commits
    # its identity values and mark over it (version 3, the DELETE being version 2).
    with task_hook(partial(_delete_elsewhere, root=path)):
        result = ldd.write_delta(path, _ddf([6, 7, 8, 9], [6, 7, 8, 9]), mode="append")
    assert result.version == 3
    v[2] = _rows([(2, 2)], [2])
    table = lakehouse.DeltaTable(path).to_arrow()
    ids = dict(zip(table.column("k").to_pylist(), table.column("id").to_pylist()))
    # two tasks of two rows after the mark 2: task 0 takes 3, 5; task 1 takes 4, 6
    assert ids == {2: 2, 6: 3, 7: 5, 8: 4, 9: 6}
    assert lakehouse.DeltaTable(path).delta_schema.field("id").metadata["delta.identity.highWaterMark"] == 6
    v[3] = _rows([(2, 2), (6, 6), (7, 7), (8, 8), (9, 9)], [2, 3, 5, 4, 6])
    v.check()
    assert_versions_agree(path)
