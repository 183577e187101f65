"""The Dask cluster the tests run on: two worker processes with one thread each, as on a small real
cluster (tasks cross process boundaries, so everything they get must pickle).

The scheduler allows one retry per task (``allowed-failures: 1``) so the tests of killed workers
finish quickly: a task whose worker dies once is retried, one whose workers die twice fails the job.
"""

from __future__ import annotations

import logging

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """A `distributed.Client` on a module-wide LocalCluster (2 processes x 1 thread)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.CRITICAL)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
