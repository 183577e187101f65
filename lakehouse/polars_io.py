"""`scan_delta`: a lazy polars scan of a Delta table through polars' IO-plugin mechanism.

Polars hands the plugin the projected columns and the predicate; the plugin plans with them (partition
pruning and stats skipping), applies deletion vectors and column mapping, streams one file at a time and
filters every batch with the predicate itself, as the plugin contract requires.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from lakehouse.table import DeltaTable, VersionLike

if TYPE_CHECKING:
    import polars


def scan_delta(
    uri: str | os.PathLike[str],
    *,
    version: VersionLike = None,
    storage_options: Mapping[str, Any] | None = None,
) -> "polars.LazyFrame":
    """A polars LazyFrame over the table at ``version`` with predicate and projection pushdown."""
    import polars as pl
    from polars.io.plugins import register_io_source

    table = DeltaTable(uri, version=version, storage_options=storage_options)
    schema = pl.DataFrame(table.schema.empty_table()).schema

    def source(with_columns: list[str] | None, predicate: "pl.Expr | None", n_rows: int | None,
               batch_size: int | None) -> Iterator["pl.DataFrame"]:
        scan = table.scan(filter=predicate, columns=with_columns)
        remaining = n_rows
        for batch in scan.to_batches():
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            if remaining is not None:
                df = df.head(remaining)
                remaining -= df.height
            if df.height:
                yield df
            if remaining is not None and remaining <= 0:
                return

    return register_io_source(io_source=source, schema=schema, explain_name="lakehouse.scan_delta",
                              explain_detail=f"{table.uri} @ v{table.version}")
