"""Store assignment: converting written values to a column's Delta type without changing any of them
(Spark's "store assignment" of INSERT, made lossless; PROTOCOL.md "Schema Serialization Format").

Two levels, used by every path that stores user data (`write_delta`, the Dask write, and MERGE/UPDATE
storing a column as it is, such as `insert_all`):

- `assignable(src, dst)`: whether data of Delta type ``src`` may be written to a ``dst`` column at all
  (schema enforcement, before any data is read): the same type, `void`, any numeric to any numeric, `date`
  to `timestamp`/`timestamp_ntz`, arrays, maps and structs element by element and field by field, and
  a struct of binary `metadata` and `value` to `variant` (its unshredded form, written byte for byte).
- `assign_array(arr, dtype, path)`: the values of ``arr`` as ``dtype``'s Arrow type, checked value by
  value: the conversion is accepted only when every value survives it exactly (an integer that fits, an
  integer a double holds exactly, a float64 that float32 holds, a timestamp without a sub-microsecond part,
  a decimal that needs no rounding...). Floats and decimals meet through text, as Spark's `Decimal(double)`
  does: a float is the decimal of its shortest text, a decimal becomes its correctly rounded float. The first
  value that would change is named in a `SchemaMismatchError` together with the column and both types in
  Spark SQL names.

Arrow-only differences (`large_string`, `string_view`, `large_binary`, dictionary encoding, list layouts,
timestamp units and zones) are not Delta types and convert freely when no value changes. Pure Arrow, no I/O.
"""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import SchemaMismatchError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_conform import null_array
from lakehouse.protocol.variant import VARIANT, conform_variant, is_variant_struct
from lakehouse.protocol.schema import (
    ArrayType,
    DataType,
    DecimalType,
    MapType,
    PrimitiveType,
    StructType,
    from_arrow_type,
    to_arrow_field,
    to_arrow_type,
    type_name,
)

_NUMERIC = frozenset({"byte", "short", "integer", "long", "float", "double"})
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


def _numeric(t: DataType) -> bool:
    return isinstance(t, DecimalType) or (isinstance(t, PrimitiveType) and t.name in _NUMERIC)


def assignable(src: DataType, dst: DataType) -> bool:
    """Whether data of type ``src`` may be written to a column of type ``dst``; the values are then
    checked by `assign_array`. Struct fields are matched by name and every data field must exist in
    ``dst`` (missing ones are written as nulls)."""
    if src == dst:
        return True
    if isinstance(src, PrimitiveType) and src.name == "void":
        return True
    if dst == VARIANT:
        # Arrow has no variant type: a variant arrives as its unshredded struct of two binaries.
        return is_variant_struct(src)
    if _numeric(src) and _numeric(dst):
        return True
    if src == PrimitiveType("date") and dst in (PrimitiveType("timestamp"), PrimitiveType("timestamp_ntz")):
        return True
    if isinstance(src, ArrayType) and isinstance(dst, ArrayType):
        return assignable(src.element_type, dst.element_type)
    if isinstance(src, MapType) and isinstance(dst, MapType):
        return assignable(src.key_type, dst.key_type) and assignable(src.value_type, dst.value_type)
    if isinstance(src, StructType) and isinstance(dst, StructType):
        names = {f.name for f in dst.fields}
        return all(f.name in names and assignable(f.type, dst.field(f.name).type) for f in src.fields)
    return False


def arrow_type_name(t: pa.DataType) -> str:
    """An Arrow type as Spark SQL names it (`bigint`, `double`), for messages."""
    if pa.types.is_dictionary(t):
        return arrow_type_name(t.value_type)
    if pa.types.is_unsigned_integer(t):
        return f"unsigned {t.bit_width}-bit integer"
    try:
        name = type_name(from_arrow_type(t))
    except Exception:  # a type with no Delta equivalent: Arrow's own name is the best there is
        return str(t)
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return f"{name} in nanoseconds"  # Delta timestamps hold microseconds
    return name


def assign_array(arr: pa.Array | pa.ChunkedArray, dtype: DataType, path: str) -> pa.Array | pa.ChunkedArray:
    """``arr`` converted to the Arrow type of ``dtype`` (`to_arrow_type`), every value unchanged.

    Raises `SchemaMismatchError` naming ``path`` (the column, dotted for nested fields), the first value
    that would change and both types, or the two types when they cannot be assigned at all."""
    target = to_arrow_type(dtype)
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([assign_array(c, dtype, path) for c in arr.chunks], type=target)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), type=target)
    if dtype == VARIANT:
        # The same two binaries, bytes untouched; a shredded or malformed struct is refused, not cast
        # (a cast would silently drop `typed_value`).
        return conform_variant(arr, path, where="the data")
    mask = arr.is_null() if arr.null_count else None
    if isinstance(dtype, StructType) and pa.types.is_struct(arr.type):
        names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
        children = [assign_array(arr.field(names.index(f.name)), f.type, f"{path}.{f.name}") if f.name in names
                    else null_array(len(arr), to_arrow_type(f.type)) for f in dtype.fields]
        if not dtype.fields:
            return pa.nulls(len(arr), type=target) if mask is not None else arr.cast(target)
        return pa.StructArray.from_arrays(children, fields=[to_arrow_field(f) for f in dtype.fields], mask=mask)
    if isinstance(dtype, ArrayType) and _is_list_like(arr.type):
        # Flatten and rebuild rather than cast: it covers every list layout (list_view, fixed-size...) and
        # checks the elements with the rules of their own type.
        values = assign_array(pc.list_flatten(arr), dtype.element_type, f"{path}.element")
        return pa.ListArray.from_arrays(_offsets(arr), values, type=target, mask=mask)
    if isinstance(dtype, MapType) and pa.types.is_map(arr.type):
        # A map is a list of key/value structs: viewed as one, it flattens like any list.
        as_list = arr.view(pa.list_(pa.field("entries", pa.struct([arr.type.key_field, arr.type.item_field]), False)))
        entries = pc.list_flatten(as_list)
        keys = assign_array(entries.field(0), dtype.key_type, f"{path}.key")
        items = assign_array(entries.field(1), dtype.value_type, f"{path}.value")
        return pa.MapArray.from_arrays(_offsets(as_list), keys, items, type=target, mask=mask)
    return _assign_leaf(arr, dtype, target, path)


def _is_list_like(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def _offsets(arr: pa.Array) -> pa.Array:
    """int32 offsets, starting at 0, of the flattened values of a list-like or map array."""
    lengths = av.fill_null(pc.list_value_length(arr), 0).cast(pa.int64())
    ends = pc.cumulative_sum(lengths)
    return pa.concat_arrays([av.array([0], pa.int64()), ends]).cast(pa.int32())


def _refuse_types(arr: pa.Array, dtype: DataType, path: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"column '{path}' is {type_name(dtype)} in the table and {arrow_type_name(arr.type)} in the data, which "
        f"cannot be stored in it.\nHelp: cast the data to {type_name(dtype)} first."
    )


def _assign_leaf(arr: pa.Array, dtype: DataType, target: pa.DataType, path: str) -> pa.Array:
    try:
        src = from_arrow_type(arr.type)
    except Exception:
        raise _refuse_types(arr, dtype, path) from None
    if not assignable(src, dtype):
        raise _refuse_types(arr, dtype, path)
    ok = _checker(arr.type, target)
    converted = ok(arr)
    if converted is not None:
        return converted
    bad = _first_bad(arr, ok)
    value = arr[bad].as_py()
    given, want = arrow_type_name(arr.type), type_name(dtype)
    store_elsewhere = f", or store it in a {given} column" if src != dtype else ""
    raise SchemaMismatchError(
        f"column '{path}': the value {_show(value)} ({given}) would change if stored as {want}, the column's "
        f"type in the table; nothing was written.\nHelp: convert the column to {want} yourself (rounding or "
        f"truncating as you intend){store_elsewhere}."
    )


def _convert(arr: pa.Array, target: pa.DataType, *, back: bool = False) -> pa.Array:
    """``arr`` as ``target``: Arrow's cast, safe (overflow, truncation and lost digits raise) except where
    a read-back judges the values instead (``back``, and integer -> float: Arrow's safe cast refuses
    exact values past 2**24 / 2**53 such as 2**24 + 2)."""
    src = arr.type
    if pa.types.is_float16(src):
        arr, src = arr.cast(pa.float32()), pa.float32()  # exact; Arrow has few half-float kernels
    if pa.types.is_decimal(src) and pa.types.is_floating(target):
        # Arrow's decimal -> float is not correctly rounded (1.251 -> 1.2510000000000001); parsing the
        # decimal's text is.
        return arr.cast(pa.string()).cast(target)
    if pa.types.is_floating(src) and pa.types.is_decimal(target):
        # A float stands for its shortest text (as Spark's Decimal(double) reads it); parsing that text
        # refuses digits below the scale and past the precision, where Arrow's cast truncates 1.251 to 1.25.
        return arr.cast(pa.string()).cast(target)
    if pa.types.is_decimal(target) and pa.types.is_integer(src):
        # Arrow refuses int64 -> decimal(5,0) outright; going through decimal(38,0) checks each value instead.
        arr = arr.cast(pa.decimal128(38, 0))
    unchecked = back or (pa.types.is_integer(src) and pa.types.is_floating(target))
    return arr.cast(target, safe=not unchecked)


def _involves_float(a: pa.DataType, b: pa.DataType) -> bool:
    return pa.types.is_floating(a) or pa.types.is_floating(b)


def _checker(src: pa.DataType, target: pa.DataType) -> Callable[[pa.Array], pa.Array | None]:
    """A conversion of a slice of values to ``target`` that returns None unless every value is unchanged.

    Arrow's safe cast refuses overflow, truncated fractions, lost sub-unit time and decimal rescaling that
    drops digits. A conversion involving a float must also read back as the original value: Arrow does not
    check float64 -> float32, and an integer -> float cast is judged only by reading back."""
    floats = _involves_float(src, target)

    def ok(values: pa.Array) -> pa.Array | None:
        try:
            out = _convert(values, target)
        except _CAST_ERRORS:
            return None
        if not floats:
            return out
        try:
            back = _convert(out, src, back=True)
        except _CAST_ERRORS:
            return None
        return None if _changed(values, back) else out

    return ok


def _changed(values: pa.Array, back: pa.Array) -> bool:
    # Nulls stay nulls in a cast, so only non-null values compare; NaN reads back as NaN, unequal to itself.
    if pa.types.is_float16(values.type):  # Arrow compares no half floats; float32 holds each one exactly
        values, back = values.cast(pa.float32()), back.cast(pa.float32())
    same = av.fill_null(pc.equal(values, back), True)
    if pa.types.is_floating(values.type):
        both_nan = av.fill_null(pc.and_(pc.is_nan(values), pc.is_nan(back)), False)
        same = pc.or_(same, both_nan)
    return not pc.all(same, min_count=0).as_py()


def _first_bad(arr: pa.Array, ok: Callable[[pa.Array], pa.Array | None]) -> int:
    """The index of the first value that ``ok`` refuses (``ok(arr)`` is None): a bisection on prefixes,
    run only on the error path."""
    lo, hi = 0, len(arr)  # arr[:lo] is fine, arr[:hi] is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(arr.slice(0, mid)) is not None:
            lo = mid
        else:
            hi = mid
    return lo


def _show(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        return repr(value)
    return str(value)
