"""`lakehouse.dask`: read and write Delta tables with Dask, planned and committed on the client.

- `read_delta(uri, ...)`: a lazy `dask.dataframe.DataFrame`, one partition per data file (small files
  grouped), read on the workers with deletion vectors and column mapping applied.
- `write_delta(uri, ddf, ...)`: every partition writes its Parquet files on a worker; the client commits
  all of them in one transaction, with the same semantics as `lakehouse.write_delta`.

This subpackage is the only part of `lakehouse` that imports Dask (the optional extra
``lakehouse[dask]``); nothing outside it may import it.
"""

from __future__ import annotations

try:
    import dask.dataframe  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"lakehouse.dask needs Dask ({e}).\nHelp: pip install 'lakehouse[dask]'"
    ) from e

from lakehouse.dask.jobs import TableRef, TaskOutput
from lakehouse.dask.read import read_delta
from lakehouse.dask.write import write_delta

__all__ = ["TableRef", "TaskOutput", "read_delta", "write_delta"]
