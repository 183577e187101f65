"""Property tests of shredded-variant reconstruction (`lakehouse.protocol.variant_shredding.unshred`, reached
through `conform_variant`; Parquet VariantShredding.md, PROTOCOL.md "Variant Shredding"; issue 16).

The shredder of `tests.support.variant_shred`, written from the Parquet spec, splits random values over
a random shredding schema (primitive typed columns of every mapped type, arrays, objects of 0 to 4
fields, nested 3 deep, field and element groups without a typed column). Values follow the schema most
of the time and sometimes do not: other types, variant nulls, missing and extra fields, SQL NULL rows.
The properties: every row reads back as exactly the unshredded encoding of its value (the same bytes,
the same typed tree, the same `variant_to_json` text), whatever the chunking; the spec's own examples
shred as the spec's tables show; each INVALID layout of the spec is refused with a `ShreddingError`
naming the column; a shredded file in a Delta table reads through `read_delta` as the same rows.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.protocol import variant_binary as vb
from lakehouse.protocol.schema import VARIANT_ARROW
from lakehouse.protocol.variant import conform_variant, parse_metadata
from lakehouse.protocol.variant_shredding import ShreddingError
from tests.support.variant_shred import (
    F32, PRIMITIVES, SQL_NULL, UTC, column_type, encode, shred, shred_rows, shredded_column, typed_tree,
    write_shredded_table,
)

# Derandomized (the same examples every run) and small: the file runs in a few seconds on two cores.
FAST: dict[str, Any] = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow]}


def _wider(narrow: int, wide: int) -> st.SearchStrategy[int]:
    """Integers that need exactly ``wide`` bits (so `encode_value` gives them that width)."""
    lo, hi = 1 << (narrow - 1), 1 << (wide - 1)
    return st.one_of(st.integers(-hi, -lo - 1), st.integers(lo, hi - 1))


def _decimal(lo_digits: int, hi_digits: int, scale: int) -> st.SearchStrategy[Decimal]:
    """Decimals of ``scale`` whose unscaled value has lo..hi digits (so they encode as decimal4/8/16); built
    from text, which is exact, where `scaleb` would round to the context's 28 digits."""
    low = 0 if lo_digits == 1 else 10 ** (lo_digits - 1)
    magnitude = st.integers(low, 10 ** hi_digits - 1)
    return st.tuples(magnitude, st.booleans()).map(lambda t: Decimal(f"{-t[0] if t[1] else t[0]}E-{scale}"))


# One strategy per primitive of PRIMITIVES, giving Python values whose variant type is exactly that one.
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "int8": st.integers(-128, 127), "int16": _wider(8, 16), "int32": _wider(16, 32), "int64": _wider(32, 64),
    "float": st.floats(width=32, allow_nan=False).map(F32), "double": st.floats(allow_nan=False),
    "dec4": _decimal(1, 9, 2), "dec8": _decimal(10, 18, 4), "dec16": _decimal(19, 38, 6),
    "bool": st.booleans(), "string": st.one_of(st.text(max_size=8), st.text(min_size=64, max_size=70)),
    "binary": st.binary(max_size=6), "date": st.dates(), "ts": st.datetimes(timezones=st.just(UTC)),
    "ntz": st.datetimes(), "time": st.times(), "uuid": st.uuids(),
}
assert set(SCALARS) == set(PRIMITIVES)
KEYS = st.sampled_from(["a", "b", "c", "zz", "é", "event_ts"])
COLUMNS = st.sampled_from(["v", "event", "payload.inner"])


def any_value(depth: int = 2, kinds: tuple[str, ...] = tuple(SCALARS)) -> st.SearchStrategy[Any]:
    """Any value: a variant null, a scalar of ``kinds``, or lists and objects of those, ``depth`` deep."""
    leaf = st.one_of(st.none(), *(SCALARS[k] for k in kinds))
    if depth == 0:
        return leaf
    inner = any_value(depth - 1, kinds)
    return st.one_of(leaf, st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3))


def schemas(depth: int = 3, *, top: bool = True) -> st.SearchStrategy[Any]:
    """A shredding schema (`tests.support.variant_shred` module docstring), ``depth`` containers deep;
    "none" (no typed_value) only below the top."""
    prims = st.sampled_from(sorted(PRIMITIVES)).map(lambda n: ("prim", n))
    leaf = prims if top else st.one_of(prims, st.just(("none", None)))
    if depth == 0:
        return leaf
    inner = schemas(depth - 1, top=False)
    return st.one_of(leaf, st.dictionaries(KEYS, inner, max_size=4).map(lambda d: ("obj", d)),
                     inner.map(lambda s: ("arr", s)))


@st.composite
def value_for(draw: Any, schema: Any, depth: int = 0) -> Any:
    """A value that follows ``schema`` most of the time; sometimes anything (another type, a variant null,
    an object where a primitive is shredded...); objects miss some shredded fields and add others."""
    kind, spec = schema
    if kind == "none" or draw(st.integers(0, 6)) == 0:
        return draw(any_value(1))
    if kind == "prim":
        return draw(SCALARS[spec])
    if kind == "arr":
        return [draw(value_for(spec, depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    out = {k: draw(value_for(s, depth + 1)) for k, s in spec.items() if draw(st.integers(0, 4))}
    out.update(draw(st.dictionaries(KEYS.filter(lambda k: k not in spec), any_value(1), max_size=2)))
    return out


def _no_empty_group(schema: Any) -> bool:
    """Whether ``schema`` has no object of 0 fields, which Parquet cannot store (a group needs a child)."""
    kind, spec = schema
    if kind == "obj":
        return bool(spec) and all(_no_empty_group(s) for s in spec.values())
    return kind != "arr" or _no_empty_group(spec)


@st.composite
def cases(draw: Any, *, parquet: bool = False, rows: int = 8, schema: Any = None) -> tuple[Any, list[Any], bool, int]:
    """(schema, up to ``rows`` values with some SQL NULL rows, empty_residual, where to cut the column in
    two); ``parquet``: only schemas a Parquet file can hold; ``schema``: a strategy to draw it from."""
    if schema is None:
        schema = schemas().filter(_no_empty_group) if parquet else schemas()
    schema = draw(schema)
    values = draw(st.lists(st.one_of(value_for(schema), value_for(schema), st.just(SQL_NULL)), min_size=1,
                           max_size=rows))
    return schema, values, draw(st.booleans()), draw(st.integers(0, len(values)))


def _reference(encoded: list[tuple[bytes, bytes] | None]) -> pa.Array:
    return pa.array([None if e is None else {"metadata": e[0], "value": e[1]} for e in encoded], VARIANT_ARROW)


def _assert_rows(rebuilt: pa.Array, encoded: list[tuple[bytes, bytes] | None], values: list[Any]) -> None:
    """Each row of ``rebuilt`` is the unshredded encoding: same bytes (both sides encode primitives at the
    same width and objects in key order, so nothing may differ), same typed tree, same JSON text."""
    got_rows = rebuilt.to_pylist()
    for row, (pair, got) in enumerate(zip(encoded, got_rows)):
        if pair is None:
            assert got is None, row
            continue
        meta, value = pair
        assert got is not None, (row, values[row])
        assert typed_tree(got["metadata"], got["value"]) == typed_tree(meta, value), (row, values[row])
        assert (got["metadata"], got["value"]) == (meta, value), (row, values[row])
    got_json = lakehouse.variant_to_json(rebuilt).to_pylist()
    want_json = lakehouse.variant_to_json(_reference(encoded)).to_pylist()
    assert got_json == want_json
    # Key order is fixed by the encoders, so equal text is the check; the parsed values say the same.
    assert [None if t is None else orjson.loads(t) for t in got_json] == \
        [None if t is None else orjson.loads(t) for t in want_json]


@settings(max_examples=250, **FAST)
@given(cases())
def test_unshredding_restores_every_value(case):
    schema, values, empty_residual, cut = case
    column, encoded = shredded_column(schema, values, empty_residual=empty_residual)
    rebuilt = conform_variant(column, "v")
    assert rebuilt.type == VARIANT_ARROW
    _assert_rows(rebuilt, encoded, values)
    # Sliced chunks (non-zero offsets in every child, list offsets not starting at 0) read the same.
    chunked = conform_variant(pa.chunked_array([column.slice(0, cut), column.slice(cut)]), "v")
    assert chunked.combine_chunks().to_pylist() == rebuilt.to_pylist()


def _around(name: str) -> st.SearchStrategy[Any]:
    """Schemas that put primitive ``name`` at the top, in an array, in an object and deeper."""
    prim = ("prim", name)
    return st.sampled_from([prim, ("arr", prim), ("obj", {"a": prim, "b": ("none", None)}),
                            ("obj", {"a": ("arr", ("obj", {"x": prim})), "zz": ("obj", {"é": prim})})])


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
@settings(max_examples=15, **FAST)
@given(data=st.data())
def test_every_primitive_type_round_trips(name, data):
    """Each typed column type, where the random schemas above may rarely put a matching value."""
    schema, values, empty_residual, _ = data.draw(cases(schema=_around(name)))
    column, encoded = shredded_column(schema, values, empty_residual=empty_residual)
    _assert_rows(conform_variant(column, "v"), encoded, values)


@settings(max_examples=100, **FAST)
@given(any_value(3, tuple(k for k in SCALARS if k != "float")))
def test_the_test_encoder_is_encode_value(value):
    """The test-side `encode` (which adds variant floats) agrees with `encode_value` where both apply."""
    assert encode(value) == vb.encode_value(value)


# -- the spec's examples --------------------------------------------------------------------------------------
def test_the_spec_event_table_shreds_as_the_spec_shows():
    """VariantShredding.md "Objects": the `event` rows, shredded by the test shredder, give the spec's
    value/typed_value columns, and read back as the events."""
    from datetime import datetime

    ts = datetime(2024, 10, 24, 18, 21, 54, 937000, tzinfo=UTC)
    schema = ("obj", {"event_type": ("prim", "string"), "event_ts": ("prim", "ts")})
    values = [{"event_type": "noop", "event_ts": ts}, {"event_type": "login", "event_ts": ts, "email": "u@e.com"},
              {"error_msg": "malformed"}, "malformed: not an object", {"event_ts": ts, "click": "_button"},
              {"event_type": None, "event_ts": ts}, {"event_type": "noop", "event_ts": "2024-10-24"}, {}, None,
              SQL_NULL]
    rows, encoded = shred_rows(schema, values)
    missing = {"value": None, "typed_value": None}

    def obj(meta: bytes, **fields: Any) -> bytes:
        keys = parse_metadata(meta)
        return vb.encode_object([(keys.index(k), vb.encode_scalar(v)) for k, v in sorted(fields.items())])

    shredded = [(r or {}).get("value") for r in rows]
    typed = [(r or {}).get("typed_value") for r in rows]
    assert shredded == [None, obj(rows[1]["metadata"], email="u@e.com"),
                        obj(rows[2]["metadata"], error_msg="malformed"), vb.string("malformed: not an object"), obj(rows[4]["metadata"], click="_button"), None, None,
                        None, vb.NULL, None]
    assert typed == [
        {"event_type": {"value": None, "typed_value": "noop"}, "event_ts": {"value": None, "typed_value": ts}},
        {"event_type": {"value": None, "typed_value": "login"}, "event_ts": {"value": None, "typed_value": ts}},
        {"event_type": missing, "event_ts": missing}, None,
        {"event_type": missing, "event_ts": {"value": None, "typed_value": ts}},
        {"event_type": {"value": vb.NULL, "typed_value": None}, "event_ts": {"value": None, "typed_value": ts}},
        {"event_type": {"value": None, "typed_value": "noop"},
         "event_ts": {"value": vb.string("2024-10-24"), "typed_value": None}},
        {"event_type": missing, "event_ts": missing}, None, None]
    assert rows[-1] is None
    _assert_rows(conform_variant(pa.array(rows, column_type(schema)), "event"), encoded, values)


def test_the_spec_tags_table_shreds_as_the_spec_shows():
    """VariantShredding.md "Arrays": `tags` shredded as a list of strings; a null element is `00`."""
    values = [["comedy", "drama"], ["horror", None], ["comedy", "drama", "romance"], None]
    rows, encoded = shred_rows(("arr", ("prim", "string")), values)
    assert [r["value"] for r in rows] == [None, None, None, vb.NULL]
    assert [[e["value"] for e in r["typed_value"]] for r in rows[:3]] == [[None, None], [None, vb.NULL],
                                                                         [None, None, None]]
    assert [[e["typed_value"] for e in r["typed_value"]] for r in rows[:3]] == [
        ["comedy", "drama"], ["horror", None], ["comedy", "drama", "romance"]]
    _assert_rows(conform_variant(pa.array(rows, column_type(("arr", ("prim", "string")))), "tags"), encoded, values)


# -- invalid shreddings ---------------------------------------------------------------------------------------
def _refused(rows: list[dict | None], schema: Any, column: str, *needles: str) -> None:
    with pytest.raises(ShreddingError) as info:
        conform_variant(pa.array(rows, column_type(schema)), column)
    message = str(info.value)
    assert f"variant column '{column}'" in message and "\n" not in message
    for needle in needles:
        assert needle in message, message


@st.composite
def objects_with_a_shredded_field(draw: Any) -> tuple[Any, dict, str]:
    """(object schema, an object value holding shredded field ``key``, key)."""
    spec = draw(st.dictionaries(KEYS, schemas(2, top=False), min_size=1, max_size=4))
    value = draw(value_for(("obj", spec)).filter(lambda v: isinstance(v, dict) and set(v) & set(spec)))
    return ("obj", spec), value, draw(st.sampled_from(sorted(set(value) & set(spec))))


@settings(max_examples=40, **FAST)
@given(objects_with_a_shredded_field(), COLUMNS, st.integers(0, 3))
def test_a_field_both_shredded_and_in_the_residual_object_is_refused(case, column, at):
    """VariantShredding.md INVALID: "Shredded field is present in `value`"."""
    schema, value, key = case
    meta, buf = encode(value)
    keys = parse_metadata(meta)
    row = {"metadata": meta, **shred(schema, buf, 0, len(buf), keys)}
    residual = vb.object_fields(row["value"]) if row["value"] is not None else []
    assert residual is not None
    field_bytes = dict(vb.object_fields(buf) or [])[keys.index(key)]
    leaked = sorted(residual + [(keys.index(key), field_bytes)])
    row["value"] = vb.encode_object(leaked)
    rows: list[dict | None] = [None] * at + [row]
    _refused(rows, schema, column, f"'{key}'", "shredded")


@settings(max_examples=40, **FAST)
@given(schemas(2, top=False).filter(lambda s: s[0] == "obj").flatmap(
    lambda s: st.tuples(st.just(s), value_for(s).filter(lambda v: isinstance(v, dict)))),
    any_value(1).filter(lambda v: not isinstance(v, dict)), COLUMNS)
def test_a_non_object_residual_beside_a_shredded_object_is_refused(case, other, column):
    """VariantShredding.md INVALID: "`typed_value` is present and `value` is not an object"."""
    schema, value = case
    meta, buf = encode(value)
    row = {"metadata": meta, **shred(schema, buf, 0, len(buf), parse_metadata(meta))}
    assert row["typed_value"] is not None
    row["value"] = encode(other)[1]
    _refused([row], schema, column, "not an object")


@settings(max_examples=40, **FAST)
@given(st.sampled_from(sorted(PRIMITIVES)).flatmap(lambda n: st.tuples(st.just(n), SCALARS[n])), any_value(1),
       COLUMNS)
def test_a_primitive_in_both_value_and_typed_value_is_refused(case, other, column):
    """VariantShredding.md "Primitive Types": `typed_value` or `value` (but not both) must be non-null."""
    name, value = case
    meta, buf = encode(value)
    row = {"metadata": meta, **shred(("prim", name), buf, 0, len(buf), [])}
    assert row["value"] is None and row["typed_value"] is not None
    row["value"] = encode(other)[1] if not isinstance(other, (dict, list)) else vb.NULL
    _refused([row], ("prim", name), column, "both")


@settings(max_examples=40, **FAST)
@given(schemas(1, top=False).flatmap(lambda s: st.tuples(st.just(s), st.lists(value_for(s), min_size=1, max_size=4))),
       st.integers(0, 3), COLUMNS)
def test_a_missing_array_element_is_refused(case, which, column):
    """VariantShredding.md "Arrays": all elements must be present (not both null)."""
    element, items = case
    schema = ("arr", element)
    meta, buf = encode(items)
    row = {"metadata": meta, **shred(schema, buf, 0, len(buf), parse_metadata(meta))}
    row["typed_value"][which % len(items)] = {"value": None, "typed_value": None}
    _refused([row], schema, column, "element", "missing")


@settings(max_examples=40, **FAST)
@given(cases(), st.data())
def test_a_row_with_value_and_typed_value_null_is_a_variant_null(case, data):
    """VariantShredding.md "Value Shredding": "if a Variant is required ... and both `value` and
    `typed_value` are null, the returned `value` must be `00` (Variant null)": a reader result, not an
    error (writers write `00` in `value`, as the shredder does); other rows are unaffected."""
    schema, values, _, _ = case
    rows, encoded = shred_rows(schema, values)
    blank = data.draw(st.sets(st.integers(0, len(rows) - 1)))
    for i in blank:
        if rows[i] is not None:
            rows[i] = {"metadata": rows[i]["metadata"], "value": None, "typed_value": None}
            encoded[i] = (rows[i]["metadata"], vb.NULL)
    rebuilt = conform_variant(pa.array(rows, column_type(schema)), "v")
    _assert_rows(rebuilt, encoded, values)
    assert all(lakehouse.variant_to_json(rebuilt)[i].as_py() == "null" for i in blank if rows[i] is not None)


# -- end to end -------------------------------------------------------------------------------------------------
@settings(max_examples=15, **FAST)
@given(cases(parquet=True, rows=20))
def test_a_shredded_file_in_a_delta_table_reads_as_its_values(case):
    """The shredded column written by pyarrow.parquet into a hand-built Delta table reads through
    `lakehouse.read_delta` (file by file, so typed_value is not dropped) as the unshredded rows."""
    schema, values, empty_residual, _ = case
    column, encoded = shredded_column(schema, values, empty_residual=empty_residual)
    ids = list(range(len(values)))
    with tempfile.TemporaryDirectory() as path:
        write_shredded_table(path, column, ids)
        got = lakehouse.read_delta(path).sort_by("id")
    assert got.column("id").to_pylist() == ids
    assert got.schema.field("v").type == VARIANT_ARROW
    _assert_rows(got.column("v").combine_chunks(), encoded, values)
