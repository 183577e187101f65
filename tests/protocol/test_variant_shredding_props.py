"""Property tests of shredded-variant reconstruction (`lakehouse.protocol.variant_shredding.unshred`, reached
through `conform_variant`; Parquet VariantShredding.md, PROTOCOL.md "Variant Shredding"; issue 16).

A small shredder written here from the Parquet spec splits random values over a random shredding schema:
a value of exactly the typed column's variant type goes to `typed_value`, anything else to `value`; an
object's shredded fields go to their groups (a missing field is value = typed_value = null) and the
others stay in `value` as a partial object; array elements go to element groups; residual bytes are
sliced from the whole value's encoding, so every field id refers to the row's one metadata dictionary.
The property: reading the shredded column gives, row for row, a variant with the same typed tree (type
ids included, not just JSON text) as the value the shredder started from.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.protocol import variant_binary as vb
from lakehouse.protocol.variant import conform_variant, parse_metadata, variant_json
from lakehouse.protocol.variant_shredding import ShreddingError

UTC = timezone.utc
# Primitive shredding types: (Arrow type of typed_value, variant type id a value must have to go there).
PRIMITIVES = {
    "int8": (pa.int8(), vb.INT8), "int16": (pa.int16(), vb.INT16), "int32": (pa.int32(), vb.INT32),
    "int64": (pa.int64(), vb.INT64), "double": (pa.float64(), vb.DOUBLE), "bool": (pa.bool_(), None),
    "string": (pa.string(), vb.STRING), "binary": (pa.binary(), vb.BINARY), "date": (pa.date32(), vb.DATE),
    "ts": (pa.timestamp("us", tz="UTC"), vb.TIMESTAMP), "ntz": (pa.timestamp("us"), vb.TIMESTAMP_NTZ),
    "dec": (pa.decimal128(9, 2), vb.DECIMAL4),
}
SCALARS = {
    "int8": st.integers(-128, 127), "int16": st.integers(-32768, -129), "int32": st.integers(40000, 2**31 - 1),
    "int64": st.integers(2**31, 2**62), "double": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "bool": st.booleans(), "string": st.text(max_size=8), "binary": st.binary(max_size=6),
    "date": st.dates(date(1900, 1, 1), date(2200, 1, 1)),
    "ts": st.datetimes(datetime(1950, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    "ntz": st.datetimes(datetime(1950, 1, 1), datetime(2100, 1, 1)),
    "dec": st.decimals(min_value=-9999, max_value=9999, places=2).filter(lambda d: d.as_tuple().exponent == -2),
}
KEYS = st.sampled_from(["a", "b", "c", "é", "zz"])


# -- schemas and values -------------------------------------------------------------------------------------
def schemas(depth: int = 3) -> st.SearchStrategy[Any]:
    """A shredding schema: ("prim", name) | ("obj", {key: schema}) | ("arr", schema)."""
    prim = st.sampled_from(sorted(PRIMITIVES)).map(lambda n: ("prim", n))
    if depth == 0:
        return prim
    inner = schemas(depth - 1)
    return st.one_of(prim, st.dictionaries(KEYS, inner, max_size=4).map(lambda d: ("obj", d)),
                     inner.map(lambda s: ("arr", s)))


def any_value(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.none(), *SCALARS.values())
    if depth == 0:
        return leaf
    inner = any_value(depth - 1)
    return st.one_of(leaf, st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3))


@st.composite
def value_for(draw, schema: Any, depth: int = 0) -> Any:
    """A value that follows ``schema`` most of the time, and sometimes does not (another type, a variant
    null, extra or missing fields)."""
    if draw(st.integers(0, 6)) == 0 or depth > 4:
        return draw(any_value(1))
    kind, spec = schema
    if kind == "prim":
        return draw(SCALARS[spec])
    if kind == "arr":
        return [draw(value_for(spec, depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    out = {k: draw(value_for(s, depth + 1)) for k, s in spec.items() if draw(st.integers(0, 4))}
    out.update(draw(st.dictionaries(KEYS.filter(lambda k: k not in spec), any_value(1), max_size=2)))
    return out


# -- the shredder -------------------------------------------------------------------------------------------
def arrow_type(schema: Any) -> pa.DataType:
    kind, spec = schema
    if kind == "prim":
        return PRIMITIVES[spec][0]
    if kind == "arr":
        return pa.list_(pa.struct([("value", pa.binary()), ("typed_value", arrow_type(spec))]))
    return pa.struct([(k, pa.struct([("value", pa.binary()), ("typed_value", arrow_type(s))])) for k, s in spec.items()])


def _fits(schema: Any, buf: bytes, lo: int, hi: int) -> bool:
    name = schema[1]
    if buf[lo] & 0x03 == 1:  # a short string
        return name == "string"
    if buf[lo] & 0x03 != 0:
        return False
    type_id = buf[lo] >> 2
    if name == "bool":
        return type_id in (1, 2)
    return type_id == PRIMITIVES[name][1]


def _typed(schema: Any, buf: bytes, lo: int, hi: int) -> Any:
    _, value = vb.scalar(buf, lo, hi)
    name = schema[1]
    if name == "date":
        return date(1970, 1, 1) + timedelta(days=value)
    if name in ("ts", "ntz"):
        return datetime(1970, 1, 1, tzinfo=UTC if name == "ts" else None) + timedelta(microseconds=value)
    if name == "dec":
        unscaled, scale = value
        return Decimal(unscaled).scaleb(-scale)
    return value


def shred(schema: Any, buf: bytes, lo: int, hi: int, keys: list[str]) -> dict[str, Any]:
    """One group {value, typed_value} for the value at buf[lo:hi]."""
    kind, spec = schema
    if buf[lo] == 0x00:  # a variant null is never shredded
        return {"value": vb.NULL, "typed_value": None}
    parsed = vb.container(buf, lo, hi)
    if kind == "prim":
        if parsed is None and _fits(schema, buf, lo, hi):
            return {"value": None, "typed_value": _typed(schema, buf, lo, hi)}
        return {"value": buf[lo:hi], "typed_value": None}
    if kind == "arr":
        if parsed is None or parsed[0]:
            return {"value": buf[lo:hi], "typed_value": None}
        return {"value": None, "typed_value": [shred(spec, buf, a, b, keys) for a, b in parsed[2]]}
    if parsed is None or not parsed[0]:
        return {"value": buf[lo:hi], "typed_value": None}
    fields = {keys[fid]: (fid, a, b) for fid, (a, b) in zip(parsed[1], parsed[2])}
    typed = {k: (shred(s, buf, fields[k][1], fields[k][2], keys) if k in fields else {"value": None, "typed_value": None})
             for k, s in spec.items()}
    rest = sorted((fid, buf[a:b]) for k, (fid, a, b) in fields.items() if k not in spec)
    return {"value": vb.encode_object(rest) if rest else None, "typed_value": typed}


def shredded_column(schema: Any, values: list[Any]) -> tuple[pa.Array, list[tuple[bytes, bytes] | None]]:
    encoded = [None if v == "<SQL NULL>" else vb.encode_value(v) for v in values]
    rows = []
    for pair in encoded:
        if pair is None:
            rows.append(None)
            continue
        meta, value = pair
        rows.append({"metadata": meta, **shred(schema, value, 0, len(value), parse_metadata(meta))})
    group = pa.struct([("metadata", pa.binary()), ("value", pa.binary()), ("typed_value", arrow_type(schema))])
    return pa.array(rows, group), encoded


def typed_tree(meta: bytes, buf: bytes, lo: int = 0, hi: int | None = None) -> Any:
    """The value at buf[lo:hi] as nested (type id, value) pairs: equal trees mean equal variants."""
    hi = len(buf) if hi is None else hi
    parsed = vb.container(buf, lo, hi)
    if parsed is None:
        return vb.scalar(buf, lo, hi)
    keys = parse_metadata(meta)
    children = [typed_tree(meta, buf, a, b) for a, b in parsed[2]]
    if parsed[0]:
        return ("object", sorted(zip((keys[i] for i in parsed[1]), children)))
    return ("array", children)


# -- properties ---------------------------------------------------------------------------------------------
@st.composite
def cases(draw):
    schema = draw(schemas())
    n = draw(st.integers(1, 6))
    values = [draw(st.one_of(value_for(schema), st.just("<SQL NULL>"))) for _ in range(n)]
    return schema, values


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_unshredding_restores_every_value(case):
    schema, values = case
    column, encoded = shredded_column(schema, values)
    rebuilt = conform_variant(column, "v")
    for row, (pair, got) in enumerate(zip(encoded, rebuilt.to_pylist())):
        if pair is None:
            assert got is None, row
            continue
        meta, value = pair
        assert got is not None, row
        assert typed_tree(got["metadata"], got["value"]) == typed_tree(meta, value), (row, values[row])
        assert variant_json(got["metadata"], got["value"]) == variant_json(meta, value)


def _one(schema: Any, row: dict) -> pa.Array:
    group = pa.struct([("metadata", pa.binary()), ("value", pa.binary()), ("typed_value", arrow_type(schema))])
    return pa.array([row], group)


def test_a_field_both_shredded_and_in_the_residual_object_is_refused():
    meta, value = vb.encode_value({"a": 1, "b": 2})
    keys = parse_metadata(meta)
    residual = vb.encode_object([(keys.index("a"), vb.encode_scalar(1))])
    column = _one(("obj", {"a": ("prim", "int8")}), {"metadata": meta, "value": residual,
                                                    "typed_value": {"a": {"value": None, "typed_value": 1}}})
    with pytest.raises(ShreddingError, match="'v'"):
        conform_variant(column, "v")


def test_a_non_object_residual_beside_shredded_fields_is_refused():
    meta, _ = vb.encode_value({"a": 1})
    column = _one(("obj", {"a": ("prim", "int8")}), {"metadata": meta, "value": vb.encode_scalar(5),
                                                    "typed_value": {"a": {"value": None, "typed_value": 1}}})
    with pytest.raises(ShreddingError, match="'v'"):
        conform_variant(column, "v")
