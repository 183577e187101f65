"""Load on the sharing server over loopback: time to the first bytes of a query on a many-file table, and
concurrent clients (bounded: uvicorn's connection limit and the server's thread pool), all answered.

Reduced size by default (200 files, 1M rows); ``LAKEHOUSE_FULL=1`` runs the issue's size (1,000 files,
5M rows). Figures are printed (run with ``-s``) and written to the test's tmp dir as load.json.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse import DeltaTable
from tests.integrations.sharing.conftest import ServerThread

pytestmark = pytest.mark.slow
FULL = os.environ.get("LAKEHOUSE_FULL") == "1"
FILES, ROWS_PER_FILE = (1000, 5000) if FULL else (200, 5000)
CLIENTS, QUERIES_EACH = (32, 10) if FULL else (16, 5)
TOKEN = "load-token-0001"


def _first_byte(port: int, body: dict) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the end, lines) of one query."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("POST", "/delta-sharing/shares/s/schemas/d/tables/big/query", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    r.read(1)
    first = time.perf_counter() - start
    rest = r.read()
    total = time.perf_counter() - start
    conn.close()
    return first, total, rest.count(b"\n")


def test_many_file_table_first_bytes_and_concurrent_clients(tmp_path):
    from lakehouse.integrations.sharing import app

    root = tmp_path / "big"
    root.mkdir()
    rng = np.random.default_rng(7)
    for i in range(FILES):
        ids = np.arange(i * ROWS_PER_FILE, (i + 1) * ROWS_PER_FILE, dtype=np.int64)
        pq.write_table(pa.table({"id": ids, "v": rng.random(ROWS_PER_FILE)}), root / f"part-{i:05d}.parquet")
    DeltaTable.convert_to_delta(root)
    assert DeltaTable(root).snapshot.num_files == FILES
    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [{"name": "big", "location": str(root)}]}]}],
              "authorization": {"bearerToken": TOKEN}}
    with ServerThread(app(config)) as server:
        cold_first, cold_total, lines = _first_byte(server.port, {})
        assert lines == FILES + 2
        warm = [_first_byte(server.port, {}) for _ in range(5)]
        warm_first = statistics.median(w[0] for w in warm)
        warm_total = statistics.median(w[1] for w in warm)
        hint = {"predicateHints": [f"id < {ROWS_PER_FILE * 10}"]}
        skipped = _first_byte(server.port, hint)
        assert skipped[2] == 10 + 2  # stats skipping: only the first ten files can match

        def client(_: int) -> list[float]:
            return [_first_byte(server.port, {})[1] for _ in range(QUERIES_EACH)]

        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            latencies = [x for xs in pool.map(client, range(CLIENTS)) for x in xs]
        wall = time.perf_counter() - start
    figures = {
        "files": FILES, "rows": FILES * ROWS_PER_FILE,
        "cold_first_byte_s": round(cold_first, 3), "cold_total_s": round(cold_total, 3),
        "warm_first_byte_s": round(warm_first, 3), "warm_total_s": round(warm_total, 3),
        "concurrent_clients": CLIENTS, "queries": len(latencies), "queries_per_s": round(len(latencies) / wall, 1),
        "p50_s": round(statistics.median(latencies), 3), "p95_s": round(sorted(latencies)[int(0.95 * len(latencies)) - 1], 3),
    }
    (tmp_path / "load.json").write_text(json.dumps(figures, indent=2))
    print("\nsharing load:", json.dumps(figures))
    assert warm_first < 1.0 and cold_first < 2.0
    assert len(latencies) == CLIENTS * QUERIES_EACH
