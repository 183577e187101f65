"""Turning user data into a stream of Arrow record batches, without materialising streaming inputs.

Accepted: pyarrow Table, RecordBatch, RecordBatchReader (streamed), an iterable of RecordBatches (with a
schema taken from the first), polars DataFrame and LazyFrame (collected in streaming batches where polars
supports it), pandas DataFrame.
"""

from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa

from lakehouse.errors import InvalidArgumentError


def _polars_batches(lf: Any) -> Iterator[pa.RecordBatch]:
    collect_batches = getattr(lf, "collect_batches", None)
    if collect_batches is not None:
        for df in collect_batches():
            yield from df.to_arrow().to_batches()
    else:
        yield from lf.collect().to_arrow().to_batches()


def to_batches(data: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and a batch iterator for any supported input."""
    if isinstance(data, pa.Table):
        return data.schema, iter(data.to_batches())
    if isinstance(data, pa.RecordBatch):
        return data.schema, iter([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, iter(data)
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        import polars as pl

        if isinstance(data, pl.DataFrame):
            table = data.to_arrow()
            return table.schema, iter(table.to_batches())
        if isinstance(data, pl.LazyFrame):
            schema = pl.DataFrame(schema=data.collect_schema()).to_arrow().schema
            return schema, _polars_batches(data)
    if module == "pandas":
        table = pa.Table.from_pandas(data, preserve_index=False)
        return table.schema, iter(table.to_batches())
    if isinstance(data, (list, tuple)) and data and all(isinstance(b, pa.RecordBatch) for b in data):
        return data[0].schema, iter(data)
    raise InvalidArgumentError(
        f"cannot write data of type {type(data).__module__}.{type(data).__name__}; pass a pyarrow Table, "
        "RecordBatch or RecordBatchReader, a polars DataFrame or LazyFrame, or a pandas DataFrame"
    )
