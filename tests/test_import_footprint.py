"""`import lakehouse` leaves polars, pandas and pyarrow.dataset unloaded (issue 15, peak memory): they are
imported by the first call that needs them, and that call still works. (pyarrow imports pandas on its
first conversion of a Python object, `pa.scalar(None, ...)` included: module-level Arrow constants are
built from `pa.nulls`.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
import lakehouse
heavy = [m for m in ("polars", "pandas", "pyarrow.dataset", "dask", "sqlglot.dialects.duckdb") if m in sys.modules]
assert not heavy, heavy
import pyarrow as pa
lakehouse.write_delta(sys.argv[1], pa.table({"k": [1, 2, 3]}))
assert lakehouse.DeltaTable(sys.argv[1]).to_arrow(filter="k > 1").num_rows == 2   # the dataset path
assert "pyarrow.dataset" in sys.modules
assert lakehouse.DeltaTable(sys.argv[1]).to_polars().height == 3
"""


def test_import_does_not_load_polars_pandas_or_pyarrow_dataset(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "t")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
