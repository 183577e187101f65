"""`store_assignment`: the type pairs a write accepts, and the value check, against an independent model
of exactness written with Python's exact arithmetic (int/float comparisons and `Decimal` are exact)."""

from __future__ import annotations

import math
import struct
from decimal import Decimal, localcontext

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import SchemaMismatchError
from lakehouse.protocol.schema import ArrayType, DecimalType, MapType, PrimitiveType, StructField, StructType
from lakehouse.protocol.store_assignment import assign_array, assignable

P = PrimitiveType
INT_RANGES = {"byte": 8, "short": 16, "integer": 32, "long": 64}


def _as_float32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def _survives(value, dtype) -> bool:
    """Whether ``value`` (a Python int or float) is held exactly by ``dtype``: the model."""
    if value is None:
        return True
    if isinstance(dtype, DecimalType):
        if isinstance(value, float) and not math.isfinite(value):
            return False
        d = Decimal(value)  # exact for ints and floats
        if d.adjusted() >= 60:
            return False
        with localcontext() as ctx:
            ctx.prec = 200
            q = d.quantize(Decimal(1).scaleb(-dtype.scale))  # the nearest decimal of the column's scale
        if len(q.as_tuple().digits) > dtype.precision and q != 0:
            return False
        # An int must be held exactly; a float must read back as itself (spec/writer.md section 2).
        return float(q) == value if isinstance(value, float) else q == d
    if dtype.name in INT_RANGES:
        bits = INT_RANGES[dtype.name]
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            return False
        return -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)
    if dtype.name == "double":
        return isinstance(value, float) or float(value) == value
    if dtype.name == "float":
        if isinstance(value, float) and math.isnan(value):
            return True
        try:
            return _as_float32(float(value)) == value
        except OverflowError:
            return False
    raise AssertionError(dtype)


TARGETS = [P("byte"), P("short"), P("integer"), P("long"), P("float"), P("double"), DecimalType(10, 2),
           DecimalType(38, 0), DecimalType(5, 3)]
INTS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-300, 300),
                 st.sampled_from([2**53, 2**53 + 1, 2**24 + 1, 2**31, -(2**31), 99999, 100000]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6).map(float),
                   st.sampled_from([0.1, 0.5, 1.25, 1.251, 2.0**40, 1e300, -0.0, 2.0**63]))


def _check(values: list, arrow_type: pa.DataType, dtype) -> None:
    arr = pa.array(values, arrow_type)
    fits = all(_survives(v, dtype) for v in values)
    try:
        out = assign_array(arr, dtype, "c")
    except SchemaMismatchError as e:
        assert not fits, f"refused {values} as {dtype}: {e}"
        bad = next(v for v in values if not _survives(v, dtype))
        assert "'c'" in str(e)
        assert str(bad) in str(e) or (isinstance(bad, float) and math.isnan(bad) and "nan" in str(e)), (bad, str(e))
        return
    assert fits, f"accepted {values} as {dtype}: {out.to_pylist()}"
    for v, got in zip(values, out.to_pylist()):
        if isinstance(v, float) and math.isnan(v):
            assert got != got
        elif isinstance(v, float) and isinstance(got, Decimal):
            assert float(got) == v  # the decimal reads back as the float
        else:
            assert got == v and (v is None) == (got is None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), INTS), min_size=1, max_size=6), st.sampled_from(TARGETS))
def test_int64_values_convert_exactly_or_are_refused(values, dtype):
    _check(values, pa.int64(), dtype)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), FLOATS), min_size=1, max_size=6), st.sampled_from(TARGETS))
def test_float64_values_convert_exactly_or_are_refused(values, dtype):
    _check(values, pa.float64(), dtype)


def test_the_first_value_that_would_change_is_named():
    arr = pa.array(list(range(10_000)) + [2**40, 2**41], pa.int64())
    with pytest.raises(SchemaMismatchError, match="value 1099511627776 \\(bigint\\).*as int"):
        assign_array(arr, P("integer"), "n")


@pytest.mark.parametrize("src, dst, ok", [
    (P("long"), P("byte"), True), (P("double"), P("long"), True), (DecimalType(38, 10), P("float"), True),
    (P("date"), P("timestamp"), True), (P("date"), P("timestamp_ntz"), True), (P("void"), P("string"), True),
    (P("string"), P("long"), False), (P("long"), P("string"), False), (P("boolean"), P("integer"), False),
    (P("timestamp"), P("timestamp_ntz"), False), (P("timestamp_ntz"), P("timestamp"), False),
    (P("timestamp"), P("date"), False), (P("binary"), P("string"), False),
    (ArrayType(P("long")), ArrayType(P("integer")), True), (ArrayType(P("string")), ArrayType(P("integer")), False),
    (MapType(P("string"), P("long")), MapType(P("string"), P("short")), True),
    (StructType((StructField("a", P("long")),)), StructType((StructField("a", P("integer")), StructField("b", P("string")))), True),
    (StructType((StructField("z", P("long")),)), StructType((StructField("a", P("long")),)), False),
])
def test_assignable_type_pairs(src, dst, ok):
    assert assignable(src, dst) is ok


def test_refused_type_pair_names_both_types():
    with pytest.raises(SchemaMismatchError, match="'c' is int in the table and string in the data"):
        assign_array(pa.array(["1"]), P("integer"), "c")


def test_sliced_and_chunked_nested_arrays_keep_their_rows():
    lists = pa.array([[1], None, [2, 3], [], [4]], pa.large_list(pa.int64())).slice(1)
    out = assign_array(lists, ArrayType(P("short")), "l")
    assert out.to_pylist() == [None, [2, 3], [], [4]] and out.type == pa.list_(pa.field("element", pa.int16()))
    maps = pa.chunked_array([pa.array([[("a", 1)], None], pa.map_(pa.large_string(), pa.int64())).slice(1),
                             pa.array([[("b", 2), ("c", 3)]], pa.map_(pa.large_string(), pa.int64()))])
    out = assign_array(maps, MapType(P("string"), P("integer")), "m")
    assert out.to_pylist() == [None, [("b", 2), ("c", 3)]]


def _decimal_survives(d: Decimal, dtype) -> bool:
    if dtype.name in INT_RANGES:
        return d == d.to_integral_value() and -(2 ** (INT_RANGES[dtype.name] - 1)) <= int(d) < 2 ** (INT_RANGES[dtype.name] - 1)
    return Decimal(_text(float(d), dtype)) == d  # reads back as the decimal it came from


def _text(f: float, dtype) -> str:
    """The shortest text of a double, or of the float32 nearest it for a float column (float32's own
    shortest text: 0.0001f prints as 0.0001)."""
    return repr(f) if dtype.name == "double" else str(np.float32(f))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.decimals(min_value=Decimal("-9999999999999999.9999"), max_value=Decimal("9999999999999999.9999"),
                            places=4, allow_nan=False), min_size=1, max_size=5),
       st.sampled_from([P("double"), P("float"), P("long"), P("short")]))
def test_decimal_values_convert_exactly_or_are_refused(values, dtype):
    arr = pa.array(values, pa.decimal128(20, 4))
    fits = all(_decimal_survives(v, dtype) for v in values)
    try:
        out = assign_array(arr, dtype, "c")
    except SchemaMismatchError as e:
        assert not fits, f"refused {values} as {dtype}: {e}"
        return
    assert fits, f"accepted {values} as {dtype}: {out.to_pylist()}"
    for v, got in zip(values, out.to_pylist()):
        assert Decimal(_text(got, dtype)) == v if isinstance(got, float) else got == v
