"""Turning user data into a stream of Arrow record batches, without materialising streaming inputs.

Accepted: pyarrow Table, RecordBatch, RecordBatchReader (streamed), an iterable of RecordBatches (with a
schema taken from the first), polars DataFrame and LazyFrame (collected in streaming batches where polars
supports it), pandas DataFrame (with its index when it carries values, see `pandas_to_arrow`).
"""

from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError


def _polars_batches(lf: Any) -> Iterator[pa.RecordBatch]:
    collect_batches = getattr(lf, "collect_batches", None)
    if collect_batches is not None:
        for df in collect_batches():
            yield from df.to_arrow().to_batches()
    else:
        yield from lf.collect().to_arrow().to_batches()


def pandas_to_arrow(df: Any) -> pa.Table:
    """A pandas DataFrame as Arrow, its index included when it carries values.

    `pyarrow.Table.from_pandas`'s rule, with its names: an unnamed `RangeIndex` (the default row numbers,
    also after slicing) is dropped; any other index is data and becomes columns named after the index
    (``__index_level_<i>__`` for an unnamed level). A named `RangeIndex` is kept too: pandas stores
    ``set_index("id")`` of consecutive ids as one. A column whose values have no one Arrow type (an
    ``object`` column of ints and strings) is a `SchemaMismatchError` naming it.
    """
    import pandas as pd

    index = df.index
    keep_index = not (isinstance(index, pd.RangeIndex) and index.name is None)
    try:
        return pa.Table.from_pandas(df, preserve_index=keep_index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise _unconvertible_column(df, keep_index, e) from None


def _unconvertible_column(df: Any, keep_index: bool, error: Exception) -> SchemaMismatchError:
    """The error naming the first column (or index level) pandas data cannot convert (the error path)."""
    columns = [(str(name), df[name]) for name in df.columns if not isinstance(df[name], type(df))]
    if keep_index:
        columns += [(str(df.index.names[i] if df.index.names[i] is not None else f"__index_level_{i}__"),
                     df.index.get_level_values(i)) for i in range(df.index.nlevels)]
    for name, values in columns:
        try:
            pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            reason = str(e.args[0]) if e.args else str(e)
            return SchemaMismatchError(
                f"column '{name}' (pandas dtype {values.dtype}) holds values that do not share one type: "
                f"{reason}.\nHelp: give the column one type first, e.g. df[{name!r}].astype(str)."
            )
    reason = str(error.args[0]) if error.args else str(error)
    return SchemaMismatchError(f"the pandas DataFrame does not convert to Arrow: {reason}")


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
        table = pandas_to_arrow(data)
        return table.schema, iter(table.to_batches())
    if isinstance(data, (list, tuple)) and data and all(isinstance(b, pa.RecordBatch) for b in data):
        return data[0].schema, iter(data)
    raise InvalidArgumentError(
        f"cannot write data of type {type(data).__module__}.{type(data).__name__}; pass a pyarrow Table, "
        "RecordBatch or RecordBatchReader, a polars DataFrame or LazyFrame, or a pandas DataFrame"
    )
