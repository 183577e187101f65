"""`lakehouse.integrations.dask`: read and write Delta tables with Dask, planned and committed on the client.

- `read_delta(uri, ...)`: a lazy `dask.dataframe.DataFrame`, one partition per data file (small files
  grouped), read on the workers with deletion vectors and column mapping applied.
- `write_delta(uri, ddf, ...)`: every partition writes its Parquet files on a worker; the client commits
  all of them in one transaction, with the same semantics as `lakehouse.write_delta`.
- `optimize.compact(uri, ...)` / `optimize.z_order(uri, columns, ...)`: `dt.optimize`'s calls and
  arguments, planned on the client, one task per bin, one commit.
- `merge(uri, source, predicate, ...)`: `DeltaTable.merge`'s builder; the source is broadcast, each candidate
  target file (small ones grouped) is rewritten by a task, the client inserts and commits once.

(`lakehouse.integrations.dask.optimize` and `lakehouse.integrations.dask.merge` are this namespace and this
function; their modules stay in ``sys.modules`` under the same names.)

This subpackage is the only part of `lakehouse` that imports Dask (the optional extra
``lakehouse-delta[dask]``); nothing outside it may import it.
"""

from __future__ import annotations

try:
    import dask.dataframe  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"lakehouse.integrations.dask needs Dask ({e}).\nHelp: pip install 'lakehouse-delta[dask]'"
    ) from e

from lakehouse.integrations.dask.jobs import TableRef, TaskOutput
from lakehouse.integrations.dask.merge import DaskMergeBuilder, merge
from lakehouse.integrations.dask.optimize import DaskOptimizer, optimize
from lakehouse.integrations.dask.read import read_delta
from lakehouse.integrations.dask.write import write_delta

__all__ = ["DaskMergeBuilder", "DaskOptimizer", "TableRef", "TaskOutput", "merge", "optimize", "read_delta", "write_delta"]
