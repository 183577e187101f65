"""The values DML computes over Arrow rows: predicate masks, and the values an UPDATE SET or a MERGE
assignment stores into a column, store-assigned (cast to the column's type, refusing what does not fit).

Pure functions over Arrow tables; no I/O. The DML engine (`operations/rewrite.py`) and the operations
over it (`delete.py`, `update.py`, `merge.py`) use them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.expr import Col, Expr, Lit, coerce_literal, evaluate, to_arrow
from lakehouse.protocol.arrow_plans import project
from lakehouse.protocol.expr_types import unknown_column_error
from lakehouse.protocol.schema import StructField, StructType, from_arrow_type, to_arrow_type, type_name
from lakehouse.protocol.store_assignment import assign_array


def evaluate_mask(table: pa.Table, predicate: Expr | None, schema: StructType) -> np.ndarray:
    """Rows for which the predicate is TRUE (all rows when None)."""
    if predicate is None:
        return np.ones(table.num_rows, dtype=bool)
    values = project(table, to_arrow(predicate, schema))
    return np.asarray(av.to_numpy(av.fill_null(values, False)), dtype=bool)


def assigned_values(table: pa.Table, value: Expr, schema: StructType, target: StructField) -> pa.ChunkedArray | pa.Array:
    """The values an UPDATE SET or MERGE assignment stores into column ``target``, evaluated over
    ``table`` (whose logical schema is ``schema``), then store-assigned: cast to the column's type, an
    arithmetic overflow or a value that does not fit being one error naming the column and the value."""
    if isinstance(value, Lit):
        # A literal takes the column's type directly: a decimal literal for a double column is the
        # correctly rounded double (as Spark casts it), not a decimal-to-float64 approximation.
        try:
            coerced = coerce_literal(value.value, target.type, column=target.name)
            return av.array([coerced] * table.num_rows, type=to_arrow_type(target.type))
        except (InvalidArgumentError, pa.ArrowException, OverflowError) as e:
            raise SchemaMismatchError(str(e).splitlines()[0]) from None
    values = evaluate(table, value, schema, what=f"value for column '{target.name}' ({type_name(target.type)})")
    if isinstance(value, Col):
        # A column stored as it is (MERGE's update_all/insert_all, `s.x`, UPDATE `SET a = b`) is data moved,
        # not computed: it converts as write_delta's input does, every value exactly (store_assignment).
        return assign_array(values, target.type, target.name)
    return store_cast(values, target)


def store_cast(values: pa.ChunkedArray | pa.Array, target: StructField) -> pa.ChunkedArray | pa.Array:
    """``values`` cast to ``target``'s type, refusing (SchemaMismatchError) a value that would not fit."""
    want = to_arrow_type(target.type)
    if values.type == want:
        return values
    try:
        return values.cast(want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        reason = str(e).splitlines()[0]
    flat = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    lo, hi = 0, len(flat)
    while hi - lo > 1:  # the first value that does not cast, for the message
        mid = (lo + hi) // 2
        try:
            flat.slice(lo, mid - lo).cast(want)
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            hi = mid
    shown = flat[lo].as_py() if len(flat) else None
    try:
        given = type_name(from_arrow_type(values.type))
    except (InvalidArgumentError, UnsupportedFeatureError, ValueError, KeyError):
        given = str(values.type)
    raise SchemaMismatchError(
        f"value {shown!r} ({given}) does not fit column '{target.name}' of type "
        f"{type_name(target.type)}: {reason}") from None


def require_existing_columns(schema: StructType, names: set[str], *, where: str = "") -> None:
    """Unknown columns in a DML predicate or SET clause are an error naming the first, with "did you mean"."""
    unknown = sorted(names - set(schema.names))
    if unknown:
        raise unknown_column_error(unknown[0], schema.names, where=where)
