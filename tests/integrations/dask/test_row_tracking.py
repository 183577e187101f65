"""Row tracking through the distributed paths: a Dask MERGE keeps the stable ids of the rows it updates
and copies, a Dask write and OPTIMIZE take fresh / keep ids (spec/row-tracking.md)."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from tests.write.test_row_tracking import RT, check_invariants, data, tracked  # noqa: E402


def test_dask_merge_write_and_optimize_keep_row_ids(client, tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, data(range(10)), configuration=RT)
    lakehouse.write_delta(path, data(range(10, 20)), mode="append")
    before = tracked(path)
    source = dd.from_pandas(data([3, 15, 500], "m").to_pandas(), npartitions=2)
    merged = (ldd.merge(path, source, "t.k = s.k").when_matched_update_all().when_not_matched_insert_all().execute())
    after = tracked(path)
    for k in (3, 15):
        assert after[k] == (f"m{k}", before[k][1], merged.version)
    assert after[500][1] > 19 and after[500][2] == merged.version
    assert {k: r for k, r in after.items() if k not in (3, 15, 500)} == {
        k: r for k, r in before.items() if k not in (3, 15)}
    written = ldd.write_delta(path, dd.from_pandas(data(range(700, 706)).to_pandas(), npartitions=3), mode="append")
    grown = tracked(path)
    assert {k: grown[k] for k in after} == after
    assert all(grown[k][2] == written.version for k in range(700, 706))
    ldd.optimize.compact(path)
    assert tracked(path) == grown
    check_invariants(path)
