"""Variant functions (Spark 4 / Databricks): `variant_get`, `try_variant_get` and the `:` path operator,
CAST from and to `variant`, `is_variant_null`, `to_json`, `parse_json` and `try_parse_json`.

The parser turns ``variant_get(v, '$.a', 'int')`` into ``CAST(variant_get(v, '$.a') AS INT)`` (``try_``
into TRY_CAST) and ``v:a.b::int`` into the same tree, so one extraction (`variant_get` with two
arguments: the sub-variant at a path, NULL where the path is missing) and one conversion (CAST from
variant) carry every form. Paths are kept in the RFC 9535 normalized form (``$['a'][0]``), the form
PROTOCOL.md's variant statistics are keyed by.

CAST from a variant follows Spark's `VariantGet`: a variant null is SQL NULL; a primitive converts as
Spark's CAST converts the matching SQL value (an int8..int64 as byte..long, a decimal, a date, a
timestamp...), so a variant string '12' casts to INT 12 and a variant 1.5 to INT 1; an object or array
converts only to STRING (its JSON text); a value that does not convert is an error naming it (CAST,
`variant_get`) or NULL (TRY_CAST, `try_variant_get`). Variant types Spark has no SQL type for (time,
uuid, nanosecond timestamps) convert only to STRING, as their JSON text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.functions.registry import BOOLEAN, STRING, Call, register, udf
from lakehouse.protocol.schema import (
    VARIANT_ARROW, DataType, DecimalType, MapType, PrimitiveType, to_arrow_type, type_name,
)
from lakehouse.protocol.variant import VARIANT, parse_metadata, variant_json
from lakehouse.protocol.variant_binary import (
    BINARY, DATE, DECIMAL4, DECIMAL8, DECIMAL16, DOUBLE, FLOAT, INT8, INT16, INT32, INT64, STRING as VSTRING,
    TIMESTAMP, TIMESTAMP_NANOS, TIMESTAMP_NTZ, TIMESTAMP_NTZ_NANOS, encode_value, find, kind, scalar,
)

Step = str | int

# -- paths ------------------------------------------------------------------------------------------------
_KEY = re.compile(r"\.([^.\[]+)")
_QUOTED = re.compile(r"""\[(['"])((?:\\.|(?!\1).)*)\1\]""")
_INDEX = re.compile(r"\[(\d+)\]")


def parse_path(text: str) -> tuple[Step, ...]:
    """The steps of a variant path (``$``, ``.key``, ``['key']``, ``["key"]``, ``[index]``), as Spark's
    `variant_get` takes them; anything else (wildcards, negative indexes) is an `InvalidArgumentError`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise InvalidArgumentError(f"invalid variant path {text!r}: a path starts with '$' (e.g. '$.a[0].b')")
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        for pattern in (_KEY, _QUOTED, _INDEX):
            m = pattern.match(text, pos)
            if m:
                break
        else:
            raise InvalidArgumentError(f"invalid variant path {text!r} at character {pos + 1}: expected .key, "
                                       "['key'] or [index]")
        if pattern is _KEY:
            steps.append(m.group(1))
        elif pattern is _QUOTED:
            steps.append(re.sub(r"\\(.)", r"\1", m.group(2)))
        else:
            steps.append(int(m.group(1)))
        pos = m.end()
    return tuple(steps)


def path_text(steps: tuple[Step, ...]) -> str:
    """The RFC 9535 normalized path of ``steps``: ``$['a']['b'][0]``."""
    parts = ["$"]
    for s in steps:
        if isinstance(s, int):
            parts.append(f"[{s}]")
        else:
            parts.append("['" + s.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(parts)


def extraction(expr_name: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Step, ...]] | None:
    """(variant argument, path steps) of a two-argument `variant_get` call with a literal path; None
    otherwise. Shared by data skipping, which prunes on the variant statistics of that path."""
    if expr_name != "variant_get" or len(args) != 2:
        return None
    path = getattr(args[1], "value", None)
    return (args[0], parse_path(path)) if isinstance(path, str) else None


# -- variant_get: the sub-variant at a path ------------------------------------------------------------------
def _require_variant(call: Call, i: int = 0) -> None:
    t = call.types[i] if i < len(call.types) else None
    if t is not None and t != VARIANT:
        raise InvalidArgumentError(f"{call.name}() takes a variant, got {type_name(t)}\n"
                                   "Help: parse_json(text) makes a variant from JSON text")


def _variant_get(call: Call) -> pc.Expression:
    _require_variant(call)
    steps = parse_path(call.literal(1, "path"))

    def extract(arr: pa.Array) -> pa.Array:
        metas, values = arr.field("metadata").to_pylist(), arr.field("value").to_pylist()
        out_meta: list[bytes | None] = []
        out_value: list[bytes | None] = []
        cache: dict[bytes, list[str]] = {}
        for ok, m, v in zip(arr.is_valid().to_pylist(), metas, values):
            found = None
            if ok:
                keys = cache.get(m)
                if keys is None:
                    keys = cache[m] = parse_metadata(m)
                found = find(keys, v, steps) if steps else (0, len(v))
            out_meta.append(m if found else b"")
            out_value.append(v[found[0]:found[1]] if found else b"")
        mask = av.array([f == b"" for f in out_value], pa.bool_())
        return pa.StructArray.from_arrays([av.array(out_meta, pa.binary()), av.array(out_value, pa.binary())],
                                          fields=list(VARIANT_ARROW), mask=mask)
    return udf("variant_get", extract, [VARIANT_ARROW], VARIANT_ARROW, [call.args[0]])


def _is_variant_null(call: Call) -> pc.Expression:
    _require_variant(call)

    def test(arr: pa.Array) -> pa.Array:
        return av.array([ok and v[:1] == b"\x00" for ok, v in zip(arr.is_valid().to_pylist(),
                                                                   arr.field("value").to_pylist())], pa.bool_())
    return udf("is_variant_null", test, [VARIANT_ARROW], pa.bool_(), call.args)


def _to_json(call: Call) -> pc.Expression:
    _require_variant(call)
    from lakehouse.protocol.variant import variant_to_json

    return udf("variant_to_json", lambda a: variant_to_json(a), [VARIANT_ARROW], pa.string(), call.args)


# -- parse_json ---------------------------------------------------------------------------------------------
def _number(text: str) -> Any:
    # Spark's parse_json: an integer is the narrowest integer (a decimal past 64 bits), a number with a
    # fraction and no exponent a decimal when it fits 38 digits, anything else a double.
    if "e" in text or "E" in text:
        return float(text)
    d = Decimal(text)
    return d if len(d.as_tuple().digits) <= 38 else float(text)


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in items:
        if k in out:
            raise ValueError(f"duplicate object key {k!r}")
        out[k] = v
    return out


def _integer(text: str) -> Any:
    # Past 64 bits an integer is a decimal (encode_value's rule) while it has at most 38 digits, then a double.
    return int(text) if len(text.lstrip("-")) <= 38 else float(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_value(text: str) -> tuple[bytes, bytes]:
    """(metadata, value) of JSON ``text`` as Spark's `parse_json` builds it; invalid JSON or a duplicate
    key is a `ValueError` naming it."""
    value = json.loads(text, parse_float=_number, parse_int=_integer, object_pairs_hook=_pairs,
                       parse_constant=_no_constant)
    return encode_value(value)


def _parse_json(safe: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        def parse(texts: pa.Array) -> pa.Array:
            meta: list[bytes | None] = []
            vals: list[bytes | None] = []
            for row, t in enumerate(texts.to_pylist()):
                pair: tuple[bytes, bytes] | None = None
                if t is not None:
                    try:
                        pair = parse_json_value(t)
                    except (ValueError, RecursionError, InvalidArgumentError) as e:
                        if not safe:
                            shown = t if len(t) <= 60 else t[:57] + "..."
                            raise InvalidArgumentError(f"parse_json(): {shown!r} is not valid JSON ({e})\n"
                                                       "Help: try_parse_json gives NULL for such text") from None
                meta.append(pair[0] if pair else b"")
                vals.append(pair[1] if pair else b"")
            mask = av.array([v == b"" for v in vals], pa.bool_())
            return pa.StructArray.from_arrays([av.array(meta, pa.binary()), av.array(vals, pa.binary())],
                                              fields=list(VARIANT_ARROW), mask=mask)
        return udf(call.name, parse, [pa.string()], VARIANT_ARROW, call.args)
    return build


# -- CAST from variant ----------------------------------------------------------------------------------------
_INT_TYPES = {INT8: "byte", INT16: "short", INT32: "integer", INT64: "long"}
_OTHER = PrimitiveType("void")  # a variant type with no SQL counterpart: converts only to its text


def _sql_value(type_id: int, value: Any) -> tuple[DataType, Any]:
    """The SQL type and Arrow-ready value a variant primitive stands for (Spark's `VariantGet`)."""
    if type_id in (1, 2):
        return BOOLEAN, value
    if type_id in _INT_TYPES:
        return PrimitiveType(_INT_TYPES[type_id]), value
    if type_id == DOUBLE:
        return PrimitiveType("double"), value
    if type_id == FLOAT:
        return PrimitiveType("float"), value
    if type_id in (DECIMAL4, DECIMAL8, DECIMAL16):
        unscaled, scale = value
        return DecimalType(38, scale), Decimal(unscaled).scaleb(-scale)
    if type_id == DATE:
        return PrimitiveType("date"), value
    if type_id in (TIMESTAMP, TIMESTAMP_NTZ):
        return PrimitiveType("timestamp" if type_id == TIMESTAMP else "timestamp_ntz"), value
    if type_id in (TIMESTAMP_NANOS, TIMESTAMP_NTZ_NANOS) and value % 1000 == 0:
        return PrimitiveType("timestamp" if type_id == TIMESTAMP_NANOS else "timestamp_ntz"), value // 1000
    if type_id == VSTRING:
        return STRING, value
    if type_id == BINARY:
        return PrimitiveType("binary"), value
    return _OTHER, None


def _arrow_values(source: DataType, values: list[Any]) -> pa.Array:
    # Dates and timestamps go through their integer storage: any 32/64-bit value converts, whatever
    # Python's datetime can hold.
    if source == PrimitiveType("date"):
        return av.array(values, pa.int32()).cast(pa.date32())
    if isinstance(source, PrimitiveType) and source.name in ("timestamp", "timestamp_ntz"):
        return av.array(values, pa.int64()).cast(to_arrow_type(source))
    return av.array(values, to_arrow_type(source))


def cast_from_variant(value: pc.Expression, to: DataType, *, safe: bool) -> pc.Expression:
    """CAST (an unconvertible value is an error) or TRY_CAST (NULL) of a variant to ``to``."""
    if to == VARIANT:
        return value
    if isinstance(to, MapType) or not isinstance(to, (PrimitiveType, DecimalType)):
        raise InvalidArgumentError(f"cannot CAST variant to {type_name(to)}: lakehouse converts variants to "
                                   "primitive types and decimals only")
    want = to_arrow_type(to)

    def convert(arr: pa.Array) -> pa.Array:
        from lakehouse.protocol.arrow_plans import project
        from lakehouse.protocol.functions.casts import cast_expression

        groups: dict[DataType, tuple[list[int], list[Any]]] = {}
        bad: list[int] = []
        metas, values = arr.field("metadata").to_pylist(), arr.field("value").to_pylist()
        for row, (ok, m, v) in enumerate(zip(arr.is_valid().to_pylist(), metas, values)):
            if not ok:
                continue
            if not v:
                raise InvalidArgumentError(f"invalid variant value in row {row}: no bytes")
            if kind(v, 0) == "primitive" and v[:1] == b"\x00":
                continue  # a variant null is SQL NULL
            if kind(v, 0) != "primitive" or _sql_value(*scalar(v, 0, len(v)))[0] == _OTHER:
                if to == STRING:  # an object, array or type without a SQL counterpart: its JSON text
                    text = variant_json(m, v)
                    groups.setdefault(_OTHER, ([], []))[0].append(row)
                    groups[_OTHER][1].append(text if text[:1] in "{[" else orjson.loads(text))
                else:
                    bad.append(row)
                continue
            type_id, raw = scalar(v, 0, len(v))
            source, py = _sql_value(type_id, raw)
            rows, vals = groups.setdefault(source, ([], []))
            rows.append(row)
            vals.append(py)
        parts: list[pa.Array] = []
        where: list[int | None] = [None] * len(arr)
        offset = 0
        for source, (rows, vals) in groups.items():
            if source == _OTHER or source == to:
                got = av.array(vals, want) if source == _OTHER else _arrow_values(source, vals)
            else:
                try:
                    expr = cast_expression(pc.field("x"), source, to, safe=True)
                    got = project(pa.table({"x": _arrow_values(source, vals)}), expr).combine_chunks()
                except InvalidArgumentError:  # Spark has no such conversion (a date to a number)
                    got = pa.nulls(len(vals), want)
            got = got.cast(want)
            for i, (row, valid) in enumerate(zip(rows, got.is_valid().to_pylist())):
                if valid:
                    where[row] = offset + i
                else:
                    bad.append(row)
            parts.append(got)
            offset += len(got)
        if bad and not safe:
            row = min(bad)
            shown = variant_json(metas[row], values[row])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise InvalidArgumentError(f"cannot CAST variant value {shown} to {type_name(to)}\n"
                                       "Help: try_variant_get or TRY_CAST gives NULL for such values")
        pool = pa.concat_arrays(parts) if parts else pa.nulls(0, want)
        return pool.take(av.array(where, pa.int64()))
    return udf("cast_from_variant", convert, [VARIANT_ARROW], want, [value])


def cast_to_variant(value: pc.Expression, source: DataType) -> pc.Expression:
    """CAST of a primitive, decimal, array or struct value to a variant (a map is refused: a variant
    object's keys are strings, a map's need not be)."""
    if isinstance(source, MapType):
        raise InvalidArgumentError(f"cannot CAST {type_name(source)} to variant: build an object with "
                                   "parse_json or a struct")

    def convert(arr: pa.Array) -> pa.Array:
        pairs = [None if v is None else encode_value(v) for v in arr.to_pylist()]
        mask = av.array([p is None for p in pairs], pa.bool_())
        return pa.StructArray.from_arrays(
            [av.array([p[0] if p else b"" for p in pairs], pa.binary()),
             av.array([p[1] if p else b"" for p in pairs], pa.binary())], fields=list(VARIANT_ARROW), mask=mask)
    return udf("cast_to_variant", convert, [to_arrow_type(source)], VARIANT_ARROW, [value])


register("variant_get", 2, 2, VARIANT, _variant_get)
register("is_variant_null", 1, 1, BOOLEAN, _is_variant_null, null_in_null_out=False)
register("to_json", 1, 1, STRING, _to_json)
register("parse_json", 1, 1, VARIANT, _parse_json(False))
register("try_parse_json", 1, 1, VARIANT, _parse_json(True))
