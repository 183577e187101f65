"""The Dask OPTIMIZE on a liquid-clustered table clusters as `dt.optimize.compact` does (spec/clustering.md):
the same files rewritten, the new files tagged `clusteringProvider: "liquid"` with the clustering columns'
Z-cube tag, rows unchanged for lakehouse and delta-rs, nothing left to do afterwards; Z-order refused."""

from __future__ import annotations

import json
import random
import shutil

import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.errors import UnsupportedFeatureError  # noqa: E402
from tests.support.log import actions_of, log_state  # noqa: E402
from tests.support.rows import assert_same_rows, dl_read  # noqa: E402


def _clustered(path: str) -> None:
    rnd = random.Random(3)
    for i in range(4):
        t = pa.table({"id": pa.array(range(i * 500, (i + 1) * 500), pa.int64()),
                      "x": pa.array([rnd.randint(0, 999) for _ in range(500)], pa.int64())})
        lakehouse.write_delta(path, t, mode="append", cluster_by=["x"] if i == 0 else None)


def test_dask_optimize_clusters_a_clustered_table_like_dt_optimize(client, tmp_path):
    ours, ref = str(tmp_path / "ours"), str(tmp_path / "ref")
    _clustered(ours)
    shutil.copytree(ours, ref)
    before = lakehouse.DeltaTable(ours).to_arrow()
    with pytest.raises(UnsupportedFeatureError, match="Z-order and clustering are exclusive"):
        ldd.optimize.z_order(ours, ["x"])
    got = ldd.optimize.compact(ours)
    want = lakehouse.DeltaTable(ref).optimize.compact()
    assert got.version == want.version == 4 and got.num_files_removed == want.num_files_removed == 4
    adds = actions_of(ours, 4, "add")
    assert adds and all(a["clusteringProvider"] == "liquid" for a in adds)
    assert all(json.loads(a["tags"]["ZCUBE_ZORDER_BY"]) == ["x"] for a in adds)
    assert [a["stats"] for a in adds] == [a["stats"] for a in actions_of(ref, 4, "add")]
    assert_same_rows(lakehouse.DeltaTable(ours).to_arrow(), before)
    assert_same_rows(dl_read(ours), before)
    state = log_state(ours)
    assert ldd.optimize.compact(ours).version is None and log_state(ours) == state
