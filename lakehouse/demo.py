"""`python -m lakehouse.demo`: the main job on a local demo table, through the public API only.

1. Opens the small table shipped with the package (written by delta-rs), prints its history and reads
   two versions of it.
2. Creates its own table in ./demo-table (replaced on every run): a first write, an append, a
   replaceWhere overwrite of one partition, then time travel and history.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

import lakehouse

DEMO_TABLE = Path(__file__).parent / "demo_table"


def _show_history(table: lakehouse.DeltaTable) -> None:
    print("\nHistory (newest first):")
    for entry in table.history():
        params = dict(entry.operation_parameters or {})
        print(f"  v{entry.version}  {entry.timestamp:%Y-%m-%d %H:%M:%S}  {entry.operation or '?':<8} {params}")


def read_shipped(uri: str) -> None:
    """Part 1: read the table shipped with the package."""
    table = lakehouse.DeltaTable(uri)
    print(f"Delta table at {uri}")
    print(f"  version            {table.version}")
    print(f"  protocol           reader v{table.protocol.min_reader_version}, writer v{table.protocol.min_writer_version}")
    print(f"  partition columns  {table.partition_columns}")
    print(f"  active files       {table.files().num_rows}")
    print(f"  schema             {', '.join(f'{f.name}: {f.type}' for f in table.schema)}")
    _show_history(table)
    print(f"\nLatest version ({table.version}):")
    print(table.to_polars().sort("order_id"))
    print("\nTime travel to version 0:")
    print(lakehouse.DeltaTable(uri, version=0).to_polars().sort("order_id"))


def write_own(path: Path) -> None:
    """Part 2: create, append, replaceWhere, time travel."""
    if path.exists():
        shutil.rmtree(path)
    uri = str(path)
    day = pa.array([date(2024, 5, 1)] * 3 + [date(2024, 5, 2)] * 2, pa.date32())
    first = pa.table({"sensor": ["a", "b", "c", "a", "b"], "reading": [1.5, 2.0, 0.5, 1.7, 2.2], "day": day})
    r0 = lakehouse.write_delta(uri, first, partition_by=["day"])
    more = pa.table({"sensor": ["c", "d"], "reading": [0.9, 4.0], "day": pa.array([date(2024, 5, 2)] * 2, pa.date32())})
    r1 = lakehouse.write_delta(uri, more, mode="append")
    fixed = pa.table({"sensor": ["a", "b", "c"], "reading": [1.6, 2.1, 0.6], "day": pa.array([date(2024, 5, 1)] * 3, pa.date32())})
    r2 = lakehouse.write_delta(uri, fixed, mode="overwrite", predicate="day = '2024-05-01'")
    print(f"\n\nWrote {uri}: create -> v{r0.version}, append -> v{r1.version}, "
          f"replaceWhere day = '2024-05-01' -> v{r2.version} ({r2.num_removed_files} file(s) replaced)")
    table = lakehouse.DeltaTable(uri)
    _show_history(table)
    print(f"\nLatest version ({table.version}):")
    print(table.to_polars().sort("day", "sensor"))
    print("\nTime travel to version 1 (before the replaceWhere):")
    print(lakehouse.DeltaTable(uri, version=1).to_polars().sort("day", "sensor"))


def main(path: str | None = None) -> int:
    """Run the demo; returns a process exit code."""
    with pl.Config(tbl_rows=20, tbl_cols=10):
        read_shipped(path or str(DEMO_TABLE))
        write_own(Path("demo-table").resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
