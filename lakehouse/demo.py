"""`python -m lakehouse.demo`: open the small Delta table shipped with the package, print its history and
read two versions of it. Uses only the public API.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

import lakehouse

DEMO_TABLE = Path(__file__).parent / "demo_table"


def main(path: str | None = None) -> int:
    """Run the demo on ``path`` (default: the shipped demo table); returns a process exit code."""
    uri = path or str(DEMO_TABLE)
    table = lakehouse.DeltaTable(uri)
    print(f"Delta table at {uri}")
    print(f"  version            {table.version}")
    print(f"  protocol           reader v{table.protocol.min_reader_version}, writer v{table.protocol.min_writer_version}")
    print(f"  partition columns  {table.partition_columns}")
    print(f"  active files       {table.files().num_rows}")
    print(f"  schema             {', '.join(f'{f.name}: {f.type}' for f in table.schema)}")
    print("\nHistory (newest first):")
    for entry in table.history():
        params = dict(entry.operation_parameters or {})
        print(f"  v{entry.version}  {entry.datetime:%Y-%m-%d %H:%M:%S}  {entry.operation or '?':<8} {params}")
    with pl.Config(tbl_rows=20, tbl_cols=10):
        print(f"\nLatest version ({table.version}):")
        print(table.to_polars().sort("order_id"))
        first = lakehouse.DeltaTable(uri, version=0)
        print("\nTime travel to version 0:")
        print(first.to_polars().sort("order_id"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
