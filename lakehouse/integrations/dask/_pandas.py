"""Arrow <-> pandas for Dask partitions: one type mapping for the metadata and for every partition.

Dask checks nothing at run time, so a partition whose dtypes differ from ``meta`` breaks later operations
in confusing ways. pyarrow's default conversion depends on the data (an int64 column becomes float64 when
a partition holds a null, a bool column becomes object), and Dask converts every ``object`` column of the
metadata to strings, which would turn dates, decimals and lists into text. So the mapping here is decided
by the Arrow type alone and never produces ``object``:

- ``numpy_nullable`` (default): integers -> ``Int64`` etc., booleans -> ``boolean``, floats ->
  ``Float64``, strings -> ``string[pyarrow]``, timestamps -> ``datetime64[us(, UTC)]``; every other type
  (date, decimal, binary, struct, list, map) -> ``pd.ArrowDtype``, which keeps the values exact.
- ``pyarrow``: every column -> ``pd.ArrowDtype`` (lossless, round-trips to the same Arrow types).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import pandas as pd
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av

DtypeBackend = Literal["numpy_nullable", "pyarrow"]
BACKENDS = ("numpy_nullable", "pyarrow")

_NULLABLE: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.float32(): pd.Float32Dtype(),
    pa.float64(): pd.Float64Dtype(), pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
}


def check_backend(dtype_backend: str) -> None:
    """Refuse an unknown ``dtype_backend``."""
    if dtype_backend not in BACKENDS:
        raise InvalidArgumentError(f"dtype_backend must be one of {BACKENDS}, got {dtype_backend!r}")


def types_mapper(dtype_backend: DtypeBackend) -> Callable[[pa.DataType], Any]:
    """The ``types_mapper`` for `pyarrow.Table.to_pandas` (None = pyarrow's default, used for timestamps)."""
    if dtype_backend == "pyarrow":
        return pd.ArrowDtype

    def mapper(t: pa.DataType) -> Any:
        if t in _NULLABLE:
            return _NULLABLE[t]
        if pa.types.is_timestamp(t):
            return None  # datetime64 holds nulls as NaT, whatever the data
        return pd.ArrowDtype(t)

    return mapper


def to_pandas(table: pa.Table, dtype_backend: DtypeBackend, index: str | None = None) -> pd.DataFrame:
    """``table`` as a pandas frame with the fixed type mapping, ``index`` as its index (if given)."""
    df = table.to_pandas(types_mapper=types_mapper(dtype_backend))
    if index is not None:
        df = df.set_index(index)
    return df


def empty_frame(schema: pa.Schema, dtype_backend: DtypeBackend, index: str | None = None) -> pd.DataFrame:
    """The Dask ``meta``: an empty frame converted exactly as the partitions are."""
    return to_pandas(schema.empty_table(), dtype_backend, index)


def pandas_values(values: Sequence[Any], arrow_type: pa.DataType, dtype_backend: DtypeBackend) -> list[Any]:
    """Python values of ``arrow_type`` as the scalars a pandas index of the mapped dtype holds (divisions)."""
    series = pa.table({"v": av.array(values, type=arrow_type)}).to_pandas(types_mapper=types_mapper(dtype_backend))["v"]
    return [series.iloc[i] for i in range(len(series))]


def frame_schema(meta: pd.DataFrame) -> pa.Schema:
    """The Arrow schema pandas' own conversion gives ``meta``'s columns (index left out, as
    `lakehouse.write_delta` leaves it out); ``object`` columns come out as the null type."""
    return pa.Schema.from_pandas(meta, preserve_index=False).remove_metadata()
