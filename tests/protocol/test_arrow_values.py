"""`protocol.arrow_values` builds the same arrays, scalars and NumPy views as pyarrow (differential, with
hypothesis): whatever pyarrow accepts comes out equal and valid, whatever it refuses is refused the same
way (the buffer builders hand every value they do not handle exactly to pyarrow)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.protocol import arrow_values as av

INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
UTC = dt.timezone.utc

# Values of every Python kind the builders meet, for every type: wrong kinds must fall through to pyarrow.
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=6), st.binary(max_size=6), st.dates(),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**8, max_value=10**8),
    st.timedeltas(min_value=dt.timedelta(days=-10**5), max_value=dt.timedelta(days=10**5)),
)

SIMPLE_TYPES = [*INT_TYPES, pa.float32(), pa.float64(), pa.bool_(), pa.string(), pa.large_string(), pa.binary(),
                pa.large_binary(), pa.date32(), pa.timestamp("us"), pa.timestamp("us", tz="UTC"),
                pa.timestamp("ns", tz="Europe/Paris"), pa.timestamp("ms"), pa.decimal128(10, 2),
                pa.decimal128(38, 18), pa.decimal128(4, 0), pa.duration("us"), pa.time64("us"), pa.null()]

STRUCT = pa.struct([("a", pa.int64()), ("b", pa.string()), ("c", pa.list_(pa.int32()))])
MAP = pa.map_(pa.string(), pa.string())
NESTED_TYPES = [pa.list_(pa.int64()), pa.list_(pa.string()), STRUCT, MAP]


def _plain(values: Any) -> Any:
    """Python values with NaN as a string, so two NaNs compare equal."""
    if isinstance(values, pa.Scalar):
        values = pa.array([values.as_py()], values.type) if values.is_valid else None
    return repr(values.to_pylist()) if values is not None else None


def _valid(array: pa.Array) -> bool:
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _same(build: Any, reference: Any) -> None:
    """``build()`` gives what ``reference()`` gives, or raises the same kind of error."""
    try:
        want = reference()
    except Exception as e:  # noqa: BLE001 - the kind of failure is what is compared
        with pytest.raises(type(e)):
            build()
        return
    got = build()
    assert got.type == want.type
    if isinstance(got, pa.Array):
        # pyarrow builds some out-of-range values unchecked (time64 -1): equal is all we ask then.
        if _valid(want):
            got.validate(full=True)
    assert got.equals(want) or _plain(got) == _plain(want), (got, want)  # NaN != NaN in `equals`


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SIMPLE_TYPES), st.lists(ANY_VALUE, max_size=6))
def test_array_of_any_values_matches_pyarrow(type_: pa.DataType, values: list[Any]) -> None:
    _same(lambda: av.array(values, type_), lambda: pa.array(values, type_))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SIMPLE_TYPES), st.data())
def test_array_of_well_typed_values_matches_pyarrow(type_: pa.DataType, data: st.DataObject) -> None:
    # Values of the column's own kind, so the buffer path (not the fallback) is what is compared.
    if pa.types.is_integer(type_):
        info = np.iinfo(type_.to_pandas_dtype())
        value = st.integers(min_value=int(info.min) - 1, max_value=int(info.max) + 1)
    elif pa.types.is_floating(type_):
        value = st.one_of(st.floats(allow_nan=True, width=32 if type_ == pa.float32() else 64),
                          st.integers(min_value=-2**54, max_value=2**54))
    elif pa.types.is_boolean(type_):
        value = st.booleans()
    elif pa.types.is_string(type_) or pa.types.is_large_string(type_):
        value = st.text(max_size=8)
    elif pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        value = st.binary(max_size=8)
    elif pa.types.is_date32(type_):
        value = st.dates()
    elif pa.types.is_timestamp(type_):
        value = st.one_of(st.integers(min_value=-2**62, max_value=2**62),
                          st.datetimes(min_value=dt.datetime(1677, 9, 22), max_value=dt.datetime(2262, 4, 11),
                                       timezones=st.sampled_from([None, UTC, dt.timezone(dt.timedelta(hours=-5))])))
    elif pa.types.is_decimal(type_):
        value = st.one_of(st.integers(min_value=-10**12, max_value=10**12),
                          st.decimals(allow_nan=False, allow_infinity=False, places=20, min_value=-10**21, max_value=10**21))
    elif pa.types.is_duration(type_):
        value = st.one_of(st.timedeltas(), st.integers(min_value=-2**63, max_value=2**63 - 1))
    else:
        value = st.integers(min_value=0, max_value=86_400_000_000 - 1)
    values = data.draw(st.lists(st.one_of(st.none(), value), max_size=8))
    _same(lambda: av.array(values, type_), lambda: pa.array(values, type_))
    if values:
        _same(lambda: av.scalar(values[0], type_), lambda: pa.scalar(values[0], type_))


ROW = st.fixed_dictionaries({"a": st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)),
                             "b": st.one_of(st.none(), st.text(max_size=4)),
                             "c": st.one_of(st.none(), st.lists(st.one_of(st.none(), st.integers(-2**31, 2**31 - 1)),
                                                                max_size=3))})
NESTED_VALUE = {
    pa.list_(pa.int64()): st.lists(st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)), max_size=4),
    pa.list_(pa.string()): st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=4),
    STRUCT: ROW,
    MAP: st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(st.none(), st.text(max_size=3)), max_size=3),
                   st.lists(st.tuples(st.text(max_size=3), st.text(max_size=3)), max_size=3)),
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NESTED_TYPES), st.data())
def test_nested_arrays_match_pyarrow(type_: pa.DataType, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.one_of(st.none(), NESTED_VALUE[type_], ANY_VALUE), max_size=5))
    _same(lambda: av.array(values, type_), lambda: pa.array(values, type_))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.booleans(), st.integers(min_value=-2**64, max_value=2**64), st.floats(), st.text(max_size=3)),
                max_size=5))
def test_inferred_types_match_pyarrow(values: list[Any]) -> None:
    _same(lambda: av.array(values), lambda: pa.array(values))
    if values:
        _same(lambda: av.scalar(values[0]), lambda: pa.scalar(values[0]))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.int8, np.int32, np.int64, np.uint64, np.float32, np.float64, np.bool_]),
       st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=2**32), st.booleans())
def test_numpy_inputs_match_pyarrow(dtype: Any, n: int, seed: int, masked: bool) -> None:
    rng = np.random.default_rng(seed)
    values = (rng.integers(0, 100, n) > 50 if dtype is np.bool_ else rng.integers(-100, 100, n)).astype(dtype)
    mask = rng.integers(0, 2, n).astype(bool) if masked else None
    type_ = pa.from_numpy_dtype(np.dtype(dtype))
    _same(lambda: av.array(values, type_, mask=mask), lambda: pa.array(values, type_, mask=mask))
    _same(lambda: av.array(values[::2], type_), lambda: pa.array(values[::2], type_))  # not contiguous
    _same(lambda: av.array(values), lambda: pa.array(values))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([pa.int16(), pa.int64(), pa.uint32(), pa.float64(), pa.bool_(), pa.string()]),
       st.lists(st.integers(min_value=0, max_value=30000), max_size=30), st.integers(0, 10), st.integers(0, 10),
       st.booleans(), st.booleans())
def test_to_numpy_matches_pyarrow(type_: pa.DataType, ints: list[int], start: int, cut: int, nulls: bool,
                                  chunked: bool) -> None:
    if pa.types.is_boolean(type_):
        values: list[Any] = [i % 3 == 0 for i in ints]
    elif pa.types.is_string(type_):
        values = [str(i) for i in ints]
    else:
        values = list(ints)
    if nulls and values:
        values[0] = None
    arr: Any = pa.array(values, type_).slice(min(start, len(values)), max(0, len(values) - start - cut))
    if chunked:
        arr = pa.chunked_array([arr, arr.slice(1)], type_)
    got, want = av.to_numpy(arr), arr.to_numpy(zero_copy_only=False)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)  # NaN (a null integer) equals NaN here


def test_fill_null_takes_the_column_type() -> None:
    for values, fill in ((pa.array([1, None], pa.int16()), 0), (pa.array([None, "a"]), ""),
                         (pa.array([True, None]), False), (pa.array([None, 1.5], pa.float32()), 2.0)):
        got = av.fill_null(values, fill)
        assert got.type == values.type and got.to_pylist() == [fill if v is None else v for v in values.to_pylist()]


def test_decimals_beyond_28_digits_are_exact() -> None:
    # Decimal arithmetic rounds at 28 digits by default; the builder must not.
    value = Decimal("12345678901234567890.123456789012345678")
    assert av.scalar(value, pa.decimal128(38, 18)).as_py() == value
    assert av.array([value, -value], pa.decimal128(38, 18)).to_pylist() == [value, -value]


def test_lit_is_the_expression_literal_pyarrow_builds() -> None:
    for value, type_ in ((5, None), ("x", None), (None, pa.bool_()), (Decimal("1.25"), pa.decimal128(5, 2))):
        assert av.lit(value, type_).equals(pc.scalar(pa.scalar(value, type_)))
