"""`scan_delta`: a lazy polars scan of a Delta table through polars' IO-plugin mechanism.

Polars hands the plugin the projected columns and the predicate; the plugin plans with them (partition
pruning and stats skipping), applies deletion vectors and column mapping, streams one file at a time and
filters every batch with the predicate itself, as the plugin contract requires. A ``filter=`` given to
`scan_delta` (any `FilterLike`: SQL, polars, DNF tuples) plans and filters the scan the same way; polars'
own predicate is then applied to each batch on top of it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from lakehouse.table import DeltaTable, FilterLike, VersionLike

if TYPE_CHECKING:
    import polars


def scan_delta(
    uri: str | os.PathLike[str],
    *,
    version: VersionLike = None,
    filter: FilterLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> "polars.LazyFrame":
    """A polars LazyFrame over the table at ``version`` (rows matching ``filter``, any `FilterLike`) with
    predicate and projection pushdown."""
    import polars as pl
    from polars.io.plugins import register_io_source

    table = DeltaTable(uri, version=version, storage_options=storage_options)
    schema = pl.DataFrame(table.schema.empty_table()).schema
    if filter is not None:
        table.scan(filter=filter)  # a bad filter is an error here, not when the frame is collected

    def source(with_columns: list[str] | None, predicate: "pl.Expr | None", n_rows: int | None,
               batch_size: int | None) -> Iterator["pl.DataFrame"]:
        if filter is None:
            scan = table.scan(filter=predicate, columns=with_columns)
        else:
            # The user's filter plans the scan; polars' predicate (its own pushed-down filters) runs on each
            # batch, after the columns it needs are read.
            needed = None if with_columns is None or predicate is None else \
                list(dict.fromkeys([*with_columns, *predicate.meta.root_names()]))
            scan = table.scan(filter=filter, columns=needed)
        remaining = n_rows
        for batch in scan.to_batches():
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            if filter is not None:
                df = df.filter(predicate) if predicate is not None else df
                df = df.select(with_columns) if with_columns is not None else df
            if remaining is not None:
                df = df.head(remaining)
                remaining -= df.height
            if df.height:
                yield df
            if remaining is not None and remaining <= 0:
                return

    return register_io_source(io_source=source, schema=schema, explain_name="lakehouse.scan_delta",
                              explain_detail=f"{table.uri} @ v{table.version}")
