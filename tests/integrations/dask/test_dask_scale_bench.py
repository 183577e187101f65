"""The standalone Dask scaling benchmark's pure parts (no cluster: the benchmark itself takes minutes)."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.dataframe")

from benchmarks import dask_scale  # noqa: E402


def test_chunks_are_deterministic_and_ids_sorted_across_chunks():
    a, b = dask_scale.make_chunk(1, 2_500_000, 7), dask_scale.make_chunk(1, 2_500_000, 7)
    assert a.equals(b) and a["id"].iloc[0] == dask_scale.ROWS_PER_CHUNK and a["id"].is_monotonic_increasing
    assert len(dask_scale.make_chunk(2, 2_500_000, 7)) == 500_000 and dask_scale.chunks(2_500_000) == 3


def test_report_derives_speed_ups_and_ratios():
    results = [
        {"op": "read", "engine": "lakehouse.integrations.dask", "workers": 1, "runs_s": [4.0], "median_s": 4.0, "min_s": 4.0},
        {"op": "read", "engine": "lakehouse.integrations.dask", "workers": 2, "runs_s": [2.0], "median_s": 2.0, "min_s": 2.0},
        {"op": "read", "engine": "dask.read_parquet", "workers": 2, "runs_s": [2.5], "median_s": 2.5, "min_s": 2.5},
    ]
    derived = {d["what"]: d["value"] for d in dask_scale.derived(results, [1, 2])}
    assert derived["read, lakehouse.integrations.dask: speed-up 1 -> 2 workers"] == 2.0
    assert derived["read, 2 worker(s): lakehouse.integrations.dask / dask.read_parquet"] == 0.8
    doc = {"config": {"rows": 10, "repeat": 1}, "started_at": "t", "machine": {}, "loadavg_start": [1, 1, 1],
           "loadavg_end": [2, 2, 2], "results": results, "derived": dask_scale.derived(results, [1, 2]),
           "versions": {"dask": "x"}}
    assert "| read | lakehouse.integrations.dask | 2 | 2.00 s | 2.00 s |" in dask_scale.markdown(doc)
    assert dask_scale.parse_args(["--workers", "2,1", "--rows", "5"]).worker_counts == [1, 2]
