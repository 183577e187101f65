"""Arrow arrays and scalars from Python values, and NumPy views of Arrow arrays, without pandas.

pyarrow asks "is this a pandas object?" on every ``pa.array``, ``pa.scalar`` and ``to_numpy`` call, and
the question imports pandas when it is installed: 0.1-0.2 s and ~30 MiB once per process, more than a
whole DELETE with deletion vectors or a VACUUM dry run takes (docs/performance.md). The constructors
here build the same arrays from their buffers for the types the protocol layer makes all the time
(strings, binaries, integers, floats, booleans, dates, timestamps, durations, decimals, and lists, maps and
structs of those) and hand anything else to pyarrow unchanged, so the result is always what
``pa.array(values, type)`` gives or that call itself (`tests/protocol/test_arrow_values.py` compares them).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INTS = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
         pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64}
_FLOATS = {pa.float32(): np.float32, pa.float64(): np.float64}
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICRO = dt.timedelta(microseconds=1)
# The types pyarrow infers for plain Python values.
_INFERRED: dict[type, pa.DataType] = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string(),
                                      bytes: pa.binary()}


def _only(values: Sequence[Any], *kinds: type) -> bool:
    """Whether every value is None or exactly of one of ``kinds`` (no subclasses: bool is not an int)."""
    return set(map(type, values)) <= {type(None), *kinds}


def _validity(values: Sequence[Any]) -> tuple[pa.Buffer | None, int]:
    """The validity bitmap of ``values`` (``None`` when nothing is null) and the null count."""
    nulls = values.count(None) if isinstance(values, list) else sum(v is None for v in values)
    if nulls == 0:
        return None, 0
    valid = np.fromiter((v is not None for v in values), np.bool_, len(values))
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _offsets(lengths: Any, n: int, dtype: type = np.int32) -> np.ndarray:
    """The ``n + 1`` offsets of ``n`` variable-length values of the given ``lengths`` (an iterable)."""
    offsets: np.ndarray = np.zeros(n + 1, dtype)
    np.cumsum(np.fromiter(lengths, np.int64, n), out=offsets[1:])
    return offsets


def _null_mask(values: Sequence[Any]) -> pa.Array | None:
    """The ``mask=`` (True = null) of values with a None among them, else None."""
    return _bools([v is None for v in values]) if any(v is None for v in values) else None


def _filled(values: Sequence[Any], nulls: int, blank: Any) -> Sequence[Any]:
    """``values`` with every None replaced by ``blank`` (the slot a validity bitmap hides)."""
    return [blank if v is None else v for v in values] if nulls else values


def _fixed(values: Sequence[Any], dtype: type, type_: pa.DataType, ok: tuple[type, ...]) -> pa.Array | None:
    """A fixed-width array, or ``None`` when a value is not of an exact ``ok`` type (pyarrow decides then)."""
    if not _only(values, *ok):
        return None
    bitmap, nulls = _validity(values)
    try:
        data: np.ndarray = np.fromiter(_filled(values, nulls, 0), dtype, len(values))
    except (OverflowError, ValueError):
        return None  # out of range: pyarrow raises its own error for it
    return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(data)], null_count=nulls)


def _binary(values: Sequence[Any], type_: pa.DataType, large: bool) -> pa.Array | None:
    """A string or binary array from ``str`` (strings) or ``bytes`` (binary) values."""
    text = pa.types.is_string(type_) or pa.types.is_large_string(type_)
    if not _only(values, str if text else bytes):
        return None
    bitmap, nulls = _validity(values)
    items = _filled(values, nulls, "" if text else b"")
    data: bytes
    if text:
        joined = "".join(items)
        # ASCII text has as many bytes as characters: one encode of the whole instead of one per value.
        if joined.isascii():
            data, encoded = joined.encode(), items
        else:
            encoded = [v.encode() for v in items]
            data = b"".join(encoded)
    else:
        encoded, data = items, b"".join(items)
    if not large and len(data) >= 2**31:
        return None  # 32-bit offsets cannot hold it: pyarrow decides (a chunked array or an error)
    offsets = _offsets(map(len, encoded), len(values), np.int64 if large else np.int32)
    return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=nulls)


def _bools(values: Sequence[Any]) -> pa.Array | None:
    """A boolean array from ``bool`` values."""
    if not _only(values, bool):
        return None
    bitmap, nulls = _validity(values)
    bits = np.packbits(np.fromiter(_filled(values, nulls, False), np.bool_, len(values)), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [bitmap, pa.py_buffer(bits)], null_count=nulls)


def _dates(values: Sequence[Any]) -> pa.Array | None:
    """A date32 array from ``datetime.date`` values (never ``datetime``, which pyarrow truncates its own way)."""
    if not _only(values, dt.date):
        return None
    days = [None if v is None else (v - _EPOCH).days for v in values]
    return _fixed(days, np.int32, pa.date32(), (int,))


def _struct(values: Sequence[Any], type_: pa.StructType) -> pa.Array | None:
    """A struct array from ``dict`` values (a missing key is a null field, as pyarrow reads it)."""
    if not _only(values, dict) or type_.num_fields == 0:
        return None  # (a struct without fields has no child to carry its length)
    children = []
    for field in type_:
        child = _build([None if v is None else v.get(field.name) for v in values], field.type)
        if child is None:
            return None
        children.append(child)
    return pa.StructArray.from_arrays(children, fields=list(type_), mask=_null_mask(values))


def _lists(values: Sequence[Any], type_: pa.ListType) -> pa.Array | None:
    """A list array from Python ``list``/``tuple`` values."""
    if not _only(values, list, tuple):
        return None
    items = [x for v in values if v is not None for x in v]
    child = _build(items, type_.value_type)
    if child is None:
        return None
    offsets = _offsets((0 if v is None else len(v) for v in values), len(values))
    bitmap, nulls = _validity(values)
    return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(offsets)], null_count=nulls,
                                 children=[child])


def _maps(values: Sequence[Any], type_: pa.MapType) -> pa.Array | None:
    """A map array from ``dict`` values or lists of (key, value) pairs, entries in the given order."""
    pairs: list[Sequence[tuple[Any, Any]] | None] = []
    for v in values:
        if v is None or type(v) in (list, tuple):
            pairs.append(v)
        elif type(v) is dict:
            pairs.append(list(v.items()))
        else:
            return None
    entries = [p for v in pairs if v is not None for p in v]
    if not all(type(p) is tuple and len(p) == 2 for p in entries):
        return None
    keys = _build([k for k, _ in entries], type_.key_type)
    items = _build([x for _, x in entries], type_.item_type)
    if keys is None or items is None or keys.null_count:
        return None
    offsets = _offsets((0 if v is None else len(v) for v in pairs), len(values))
    return pa.MapArray.from_arrays(pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)]),
                                   keys, items, type=type_, mask=_null_mask(values))


def _decimals(values: Sequence[Any], type_: pa.Decimal128Type) -> pa.Array | None:
    """A decimal128 array from ``Decimal``/``int`` values that fit the precision without rounding."""
    limit = 10 ** type_.precision
    unscaled: list[bytes] = []
    for v in values:
        if v is None:
            unscaled.append(bytes(16))
            continue
        if type(v) is int:
            n = v * 10 ** type_.scale
        elif type(v) is Decimal and v.is_finite():
            # Exact integer arithmetic on the digits: Decimal operations would round at 28 digits.
            sign, digits, exponent = v.as_tuple()
            n = int("".join(map(str, digits)) or "0")
            shift = int(exponent) + type_.scale
            if shift < 0:
                n, rest = divmod(n, 10 ** -shift)
                if rest:
                    return None  # pyarrow refuses to round; let it say so
            else:
                n *= 10 ** shift
            n = -n if sign else n
        else:
            return None
        if not -limit < n < limit:
            return None
        unscaled.append(n.to_bytes(16, "little", signed=True))
    bitmap, nulls = _validity(values)
    return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(b"".join(unscaled))], null_count=nulls)


def _timestamps(values: Sequence[Any], type_: pa.TimestampType) -> pa.Array | None:
    """A microsecond or nanosecond timestamp array from integers (the stored count) or ``datetime``s:
    naive ones as UTC wall time, aware ones as their instant, which is how pyarrow reads both."""
    if type_.unit not in ("us", "ns") or not _only(values, int, dt.datetime):
        return None
    scale = 1000 if type_.unit == "ns" else 1
    counts: list[int | None] = []
    for v in values:
        if type(v) is dt.datetime:
            base = _EPOCH_UTC if v.tzinfo is not None else _EPOCH_NAIVE
            counts.append((v - base) // _MICRO * scale)
        else:
            counts.append(v)
    return _fixed(counts, np.int64, type_, (int,))


def _build(values: Sequence[Any], type_: pa.DataType) -> pa.Array | None:
    """The buffer-built array for ``type_``, or ``None`` where pyarrow must convert the values."""
    if type_ in _INTS:
        return _fixed(values, _INTS[type_], type_, (int,))
    if type_ in _FLOATS:
        # pyarrow refuses an integer a double cannot hold exactly; leave those to it.
        exact = 2**24 if type_ == pa.float32() else 2**53
        if not all(type(v) is not int or -exact <= v <= exact for v in values):
            return None
        return _fixed(values, _FLOATS[type_], type_, (float, int))
    if pa.types.is_string(type_) or pa.types.is_binary(type_):
        return _binary(values, type_, large=False)
    if pa.types.is_large_string(type_) or pa.types.is_large_binary(type_):
        return _binary(values, type_, large=True)
    if pa.types.is_boolean(type_):
        return _bools(values)
    if pa.types.is_date32(type_):
        return _dates(values)
    if pa.types.is_decimal128(type_):
        return _decimals(values, type_)
    if pa.types.is_timestamp(type_):
        return _timestamps(values, type_)
    if pa.types.is_duration(type_) and type_.unit == "us" and all(type(v) is dt.timedelta for v in values):
        return _fixed([v // _MICRO for v in values], np.int64, type_, (int,))
    if pa.types.is_duration(type_):
        # Integers are already the stored count of units; datetimes need pyarrow's conversion rules.
        return _fixed(values, np.int64, type_, (int,))
    if pa.types.is_list(type_):
        return _lists(values, type_)
    if pa.types.is_map(type_):
        return _maps(values, type_)
    if pa.types.is_struct(type_):
        return _struct(values, type_)
    if pa.types.is_null(type_):
        return pa.nulls(len(values)) if all(v is None for v in values) else None
    return None


def array(values: Any, type: pa.DataType | None = None, *,  # noqa: A002 - pyarrow's own name
          mask: Any = None) -> pa.Array:
    """``pa.array(values, type)`` for a list of Python values, built from buffers where the type allows.

    The result equals pyarrow's for every input it accepts: a value of another Python type than the
    one the column stores (a float for an integer column, a ``datetime`` for a timestamp) goes to
    ``pa.array``, which converts or rejects it as it always has; so do calls without a type (pyarrow
    infers it) or with a ``mask``.
    """
    if type is None and mask is None:
        type = _inferred(values)
    if type is None or (mask is not None and not isinstance(mask, np.ndarray)):
        return pa.array(values, type, mask=mask)
    if isinstance(values, np.ndarray):
        built = _from_numpy(values, type, mask)
    elif mask is not None:
        built = None
    else:
        built = _build(values, type) if isinstance(values, (list, tuple)) else None
    return built if built is not None else pa.array(values, type)


def _inferred(values: Any) -> pa.DataType | None:
    """The type pyarrow infers for a NumPy array of numbers or booleans, or a list of Python values
    all of one plain kind (``bool``, ``int`` in the int64 range, ``float``, ``str``); ``None`` otherwise."""
    if isinstance(values, np.ndarray):
        for type_, dtype in (*_INTS.items(), *_FLOATS.items(), (pa.bool_(), np.bool_)):
            if values.dtype == np.dtype(dtype):
                return type_
        return None
    if not isinstance(values, (list, tuple)) or not values:
        return None
    kind = values[0].__class__
    if kind not in _INFERRED or kind is bytes or not all(v.__class__ is kind for v in values):
        return None
    if kind is int and not all(-2**63 <= v < 2**63 for v in values):
        return None
    return _INFERRED[kind]


def _from_numpy(values: np.ndarray, type_: pa.DataType, mask: np.ndarray | None) -> pa.Array | None:
    """A one-dimensional NumPy array whose dtype is exactly the column's (no cast to check); ``mask``
    (booleans, True = null) as pyarrow's ``mask=``."""
    if values.ndim != 1 or (mask is not None and (mask.dtype != np.bool_ or mask.shape != values.shape)):
        return None
    bitmap, nulls = None, 0
    if mask is not None and mask.any():
        bitmap, nulls = pa.py_buffer(np.packbits(~mask, bitorder="little")), int(np.count_nonzero(mask))
    dtype = _INTS.get(type_) or _FLOATS.get(type_)
    if dtype is not None and values.dtype == np.dtype(dtype):
        return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(np.ascontiguousarray(values))],
                                     null_count=nulls)
    if pa.types.is_boolean(type_) and values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(type_, len(values), [bitmap, pa.py_buffer(bits)], null_count=nulls)
    return None


def scalar(value: Any, type: pa.DataType | None = None) -> pa.Scalar:  # noqa: A002 - pyarrow's own name
    """``pa.scalar(value, type)``, built like :func:`array` where the type allows; without a type, a
    ``bool``, ``int`` (in the int64 range), ``float``, ``str`` or ``bytes`` gets the type pyarrow infers."""
    if isinstance(value, pa.Scalar):
        return value if type is None or value.type == type else value.cast(type)
    if type is None:
        type = _INFERRED.get(value.__class__)
        if type is None or (type == pa.int64() and not -2**63 <= value < 2**63):
            return pa.scalar(value)
    built = _build([value], type)
    return built[0] if built is not None else pa.scalar(value, type)


def lit(value: Any, type: pa.DataType | None = None) -> pc.Expression:  # noqa: A002 - pyarrow's own name
    """An Arrow expression literal (``pc.scalar``) of a Python value, built like :func:`scalar`."""
    return pc.scalar(scalar(value, type))


def repeat(value: str, n: int) -> pa.Array:
    """``n`` copies of one string (a change type, a constant column) without a Python list of ``n``."""
    return pa.repeat(scalar(value, pa.string()), n)


def fill_null(values: pa.Array | pa.ChunkedArray, value: Any) -> Any:
    """``pc.fill_null(values, value)`` for a Python ``value``, converted to the column's type here."""
    return pc.fill_null(values, scalar(value, values.type))



def to_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of an Arrow array as NumPy, like ``to_numpy(zero_copy_only=False)``.

    Integers, floats and booleans without nulls are read from the buffers directly (a view for
    numbers); other arrays go through pyarrow.
    """
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return to_numpy(values.chunk(0))
        if values.num_chunks == 0:
            return np.empty(0, values.type.to_pandas_dtype() if _plain(values.type) else object)
        return np.concatenate([to_numpy(c) for c in values.chunks])
    type_ = values.type
    if values.null_count == 0 and (type_ in _INTS or type_ in _FLOATS):
        dtype = np.dtype(_INTS.get(type_) or _FLOATS[type_])
        return np.frombuffer(values.buffers()[1], dtype, len(values), values.offset * dtype.itemsize)
    if values.null_count == 0 and pa.types.is_boolean(type_):
        bits = np.frombuffer(values.buffers()[1], np.uint8)
        return np.unpackbits(bits, bitorder="little", count=values.offset + len(values))[values.offset:].astype(bool)
    return values.to_numpy(zero_copy_only=False)


def _plain(type_: pa.DataType) -> bool:
    """Whether ``type_`` maps to a NumPy dtype of its own (numbers and booleans)."""
    return type_ in _INTS or type_ in _FLOATS or pa.types.is_boolean(type_)
