"""MERGE join keys: the arrays a hash join compares, under the same equality as predicates.

Arrow's hash join compares key bits. Spark's MERGE (and `lakehouse`'s own `=`) compares values: -0.0
equals 0.0 and NaN equals NaN (Spark's NormalizeFloatingNumbers rewrites both before a join), a `string`
equals the same `string_view` or `large_string`, DECIMAL(10,2) 1.20 equals DECIMAL(10,3) 1.200, and two
structs are equal when all their fields are (a NULL field equals a NULL field; only a NULL key never
matches). `join_keys` turns one (target, source) key pair into columns whose bit equality is that value
equality: both sides cast to one common type, floating-point values normalised, structs flattened into
per-field columns with validity flags (Arrow's join takes no struct keys).

Pure functions over Arrow arrays; no I/O.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import SchemaMismatchError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import arrow_type_name


def _plain(t: pa.DataType) -> pa.DataType:
    """One physical type per logical type (hash join keys must have identical types, and take no views)."""
    if pa.types.is_dictionary(t):
        return _plain(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain(f.type), True) for f in t])
    return t


def common_key_type(target: pa.DataType, source: pa.DataType, *, what: str) -> pa.DataType:
    """The type both sides of a key pair are compared in (Spark's widening: DECIMAL(10,2) and
    DECIMAL(10,3) compare as DECIMAL(11,3), INT and BIGINT as BIGINT, BIGINT and DOUBLE as DOUBLE)."""
    t, s = _plain(target), _plain(source)
    if t == s:
        return t
    try:
        return pa.unify_schemas([pa.schema([("k", t)]), pa.schema([("k", s)])], promote_options="permissive").field("k").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise SchemaMismatchError(f"MERGE key {what} compares {target} with {source}, which cannot be compared") from None


def normalise_floats(arr: pa.Array) -> pa.Array:
    """-0.0 becomes 0.0 and every NaN the one canonical NaN, so bit equality is Spark's equality."""
    if not pa.types.is_floating(arr.type):
        return arr
    # x + 0.0 is x for every x except -0.0, which becomes +0.0 (IEEE round-to-nearest).
    zero_fixed = pc.add(arr, av.scalar(0.0, arr.type))
    return pc.if_else(pc.is_nan(arr), av.scalar(float("nan"), arr.type), zero_fixed)


def _zero(t: pa.DataType) -> pa.Scalar:
    """A fixed value to fill NULL struct fields with (the validity flag beside it tells them apart)."""
    if pa.types.is_large_string(t):
        return av.scalar("", t)
    if pa.types.is_large_binary(t):
        return av.scalar(b"", t)
    if pa.types.is_fixed_size_binary(t):
        return av.scalar(b"\x00" * t.byte_width, t)
    if pa.types.is_boolean(t):
        return av.scalar(False, t)
    if pa.types.is_decimal(t):
        return av.scalar(Decimal(0), t)
    if pa.types.is_floating(t):
        return av.scalar(0.0, t)
    if pa.types.is_integer(t):
        return av.scalar(0, t)
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return av.scalar(0, pa.int32()).cast(t)  # 32-bit temporal types cast from int32 only
    return av.scalar(0, pa.int64()).cast(t)  # timestamps, date64, time64, durations


def _columns(arr: pa.Array, *, top: bool, what: str) -> list[pa.Array]:
    """Columns equal row by row exactly when ``arr``'s values are equal (NULL at the top matches nothing)."""
    if pa.types.is_struct(arr.type):
        valid = arr.is_valid()
        # A NULL struct key matches nothing; a NULL nested struct equals a NULL nested struct.
        flag = pc.if_else(valid, av.scalar(True), av.scalar(None, pa.bool_())) if top else valid
        children = arr.flatten()  # children are NULL where the struct is, so such rows all look alike
        return [flag] + [c for child in children for c in _columns(child, top=False, what=what)]
    if pa.types.is_nested(arr.type):
        raise SchemaMismatchError(f"MERGE key {what} has type {arrow_type_name(arr.type)}, which cannot be a join key")
    values = normalise_floats(arr)
    if top:
        return [values]
    return [arr.is_valid(), pc.fill_null(values, _zero(values.type))]


def join_keys(target: pa.ChunkedArray | pa.Array, source: pa.ChunkedArray | pa.Array, *,
              what: str) -> tuple[list[pa.Array], list[pa.Array]]:
    """The join columns for one key pair (``what`` names it in errors): the target's and the source's,
    as many on each side, whose bit equality is SQL equality of the key values."""
    common = common_key_type(target.type, source.type, what=what)

    def side(a: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks() if a.num_chunks else av.array([], a.type)
        if pa.types.is_dictionary(a.type):
            a = a.dictionary_decode()
        try:
            # Spark compares BIGINT with DOUBLE as doubles, rounding large integers: so do we.
            a = a.cast(common, safe=not pa.types.is_floating(common)) if a.type != common else a
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise SchemaMismatchError(f"MERGE key {what} cannot be compared as {common}: {e}") from None
        return _columns(a, top=True, what=what)

    return side(target), side(source)
