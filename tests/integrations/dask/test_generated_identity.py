"""The Dask write and the Dask MERGE on tables with generated, identity and default columns
(spec/generated-identity-defaults.md): generated and default columns completed on the workers, identity
values assigned by the MERGE on the client (distinct with appends), the Dask write refusing identity
tables; every version read back by lakehouse and deltalake."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.errors import ConstraintViolationError, UnsupportedFeatureError  # noqa: E402
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


def test_dask_merge_assigns_identity_values_and_dask_write_refuses_identity(client, tmp_path) -> None:
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
    before = log_state(path)
    with pytest.raises(UnsupportedFeatureError, match="identity columns \\['id'\\]"):
        ldd.write_delta(path, _ddf([6], [6]), mode="append")
    assert log_state(path) == before
    v.check()
    assert_versions_agree(path)
    assert lakehouse.DeltaTable(path).delta_schema.field("id").metadata["delta.identity.highWaterMark"] == 5
