"""A test-side variant SHREDDER, written from Parquet VariantShredding.md independently of
`lakehouse.protocol.variant_shredding` (which only reads shredded data), and a hand-built Delta table
holding one shredded file.

Schemas are plain tuples: ``("prim", name)`` (a `PRIMITIVES` typed_value column), ``("obj", {key:
schema})`` (a struct of field groups), ``("arr", schema)`` (a list of element groups) and, for object
fields and array elements only, ``("none", None)`` (a group with a ``value`` and no ``typed_value``,
which the spec allows).

The shredding rules (VariantShredding.md "Value Shredding", "Objects", "Arrays"): a value whose variant
type is exactly the typed column's goes to ``typed_value`` and ``value`` is null; any other value goes
whole to ``value``; a variant null is ``value`` = ``00``, never shredded; an object beside an object
schema puts each shredded field in its group (an absent field: both null) and the other fields, if any, in
``value`` as a partial object; an array beside an array schema puts each element in an element group.
Residual bytes are sliced from the whole value's encoding, so every field id refers to the row's single
metadata dictionary, as the spec requires.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.protocol import variant_binary as vb
from lakehouse.protocol.variant import parse_metadata

UTC = timezone.utc
SQL_NULL = "<SQL NULL>"  # a row (not a variant) that is null; a string no value strategy produces


class F32(float):
    """A Python float to encode as a variant ``float`` (4 bytes); a plain float encodes as a ``double``."""


# name -> (Arrow type of typed_value, variant type ids that go there, decimal scale or None)
PRIMITIVES: dict[str, tuple[pa.DataType, tuple[int, ...], int | None]] = {
    "int8": (pa.int8(), (vb.INT8,), None), "int16": (pa.int16(), (vb.INT16,), None),
    "int32": (pa.int32(), (vb.INT32,), None), "int64": (pa.int64(), (vb.INT64,), None),
    "float": (pa.float32(), (vb.FLOAT,), None), "double": (pa.float64(), (vb.DOUBLE,), None),
    "dec4": (pa.decimal128(9, 2), (vb.DECIMAL4,), 2), "dec8": (pa.decimal128(18, 4), (vb.DECIMAL8,), 4),
    "dec16": (pa.decimal128(38, 6), (vb.DECIMAL16,), 6), "bool": (pa.bool_(), (1, 2), None),
    "string": (pa.string(), (vb.STRING,), None), "binary": (pa.binary(), (vb.BINARY,), None),
    "date": (pa.date32(), (vb.DATE,), None), "ts": (pa.timestamp("us", tz="UTC"), (vb.TIMESTAMP,), None),
    "ntz": (pa.timestamp("us"), (vb.TIMESTAMP_NTZ,), None), "time": (pa.time64("us"), (vb.TIME,), None),
    "uuid": (pa.binary(16), (vb.UUID,), None),
}


# -- encoding whole values ----------------------------------------------------------------------------------
def encode(value: Any) -> tuple[bytes, bytes]:
    """(metadata, value) of a Python value, as `variant_binary.encode_value` encodes it, except that an
    `F32` becomes a variant float. The metadata lists every object key, sorted."""
    keys: set[str] = set()
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            keys.update(v)
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    ordered = sorted(keys)  # str order is UTF-8 byte order, the order the spec wants
    return vb.encode_metadata(ordered), _encode(value, {k: i for i, k in enumerate(ordered)})


def _encode(v: Any, ids: dict[str, int]) -> bytes:
    if isinstance(v, dict):
        return vb.encode_object([(ids[k], _encode(v[k], ids)) for k in sorted(v)])
    if isinstance(v, list):
        return vb.encode_array([_encode(x, ids) for x in v])
    if isinstance(v, F32):
        return vb.float32(v)
    return vb.encode_scalar(v)


# -- the shredder -------------------------------------------------------------------------------------------
def group_type(schema: Any) -> pa.DataType:
    """The Arrow struct of a field or element group: ``value``, and ``typed_value`` unless "none"."""
    fields = [pa.field("value", pa.binary())]
    if schema[0] != "none":
        fields.append(pa.field("typed_value", typed_type(schema)))
    return pa.struct(fields)


def typed_type(schema: Any) -> pa.DataType:
    """The Arrow type of the ``typed_value`` of ``schema``; groups are required (not nullable), as the
    spec's field groups and list elements are."""
    kind, spec = schema
    if kind == "prim":
        return PRIMITIVES[spec][0]
    if kind == "arr":
        return pa.list_(pa.field("element", group_type(spec), nullable=False))
    return pa.struct([pa.field(k, group_type(s), nullable=False) for k, s in spec.items()])


def column_type(schema: Any) -> pa.DataType:
    """The Arrow type of a shredded variant column with ``schema`` (a "prim", "obj" or "arr" schema)."""
    return pa.struct([pa.field("metadata", pa.binary(), nullable=False), pa.field("value", pa.binary()),
                      pa.field("typed_value", typed_type(schema))])


def _typed_scalar(name: str, buf: bytes, lo: int, hi: int) -> tuple[bool, Any]:
    """(fits, Arrow-ready value): whether the primitive at buf[lo:hi] has exactly the variant type of
    typed column ``name``, and then its value as pyarrow takes it."""
    type_id, value = vb.scalar(buf, lo, hi)
    _, ids, scale = PRIMITIVES[name]
    if type_id not in ids:
        return False, None
    if scale is not None:
        unscaled, got = value
        return got == scale, Decimal(f"{unscaled}E-{scale}")  # exact: scaleb would round to 28 digits
    if name == "date":
        return True, date(1970, 1, 1) + timedelta(days=value)
    if name in ("ts", "ntz"):
        return True, datetime(1970, 1, 1, tzinfo=UTC if name == "ts" else None) + timedelta(microseconds=value)
    if name == "time":
        return True, (datetime(1970, 1, 1) + timedelta(microseconds=value)).time()
    if name == "uuid":
        return True, value.bytes
    return True, value


def shred(schema: Any, buf: bytes, lo: int, hi: int, keys: list[str], *, empty_residual: bool = False) -> dict:
    """The ``{"value", "typed_value"}`` group of the value at buf[lo:hi] under ``schema``. With
    ``empty_residual`` an object whose fields are all shredded keeps an empty object in ``value`` (legal:
    a partial object with no fields left) instead of null."""
    kind, spec = schema
    if kind == "none" or buf[lo] == 0x00:  # unshredded, or a variant null (never shredded)
        return {"value": buf[lo:hi], "typed_value": None}
    parsed = vb.container(buf, lo, hi)
    if kind == "prim":
        if parsed is None:
            fits, typed = _typed_scalar(spec, buf, lo, hi)
            if fits:
                return {"value": None, "typed_value": typed}
        return {"value": buf[lo:hi], "typed_value": None}
    if kind == "arr":
        if parsed is None or parsed[0]:
            return {"value": buf[lo:hi], "typed_value": None}
        return {"value": None, "typed_value": [shred(spec, buf, a, b, keys, empty_residual=empty_residual)
                                               for a, b in parsed[2]]}
    if parsed is None or not parsed[0]:
        return {"value": buf[lo:hi], "typed_value": None}
    present = {keys[fid]: (fid, a, b) for fid, (a, b) in zip(parsed[1], parsed[2])}
    typed = {k: shred(s, buf, present[k][1], present[k][2], keys, empty_residual=empty_residual)
             if k in present else {"value": None, "typed_value": None} for k, s in spec.items()}
    rest = sorted((fid, buf[a:b]) for k, (fid, a, b) in present.items() if k not in spec)
    return {"value": vb.encode_object(rest) if rest or empty_residual else None, "typed_value": typed}


def shred_rows(schema: Any, values: list[Any], *, empty_residual: bool = False
               ) -> tuple[list[dict | None], list[tuple[bytes, bytes] | None]]:
    """The shredded rows (dicts for `column_type`) of ``values`` and each value's unshredded encoding;
    `SQL_NULL` stands for a null row."""
    rows: list[dict | None] = []
    encoded: list[tuple[bytes, bytes] | None] = []
    for v in values:
        if isinstance(v, str) and v == SQL_NULL:
            rows.append(None)
            encoded.append(None)
            continue
        meta, value = encode(v)
        rows.append({"metadata": meta, **shred(schema, value, 0, len(value), parse_metadata(meta),
                                                 empty_residual=empty_residual)})
        encoded.append((meta, value))
    return rows, encoded


def shredded_column(schema: Any, values: list[Any], *, empty_residual: bool = False
                    ) -> tuple[pa.Array, list[tuple[bytes, bytes] | None]]:
    """The shredded Arrow column of ``values`` and each value's unshredded (metadata, value)."""
    rows, encoded = shred_rows(schema, values, empty_residual=empty_residual)
    return pa.array(rows, column_type(schema)), encoded


def typed_tree(meta: bytes, buf: bytes, lo: int = 0, hi: int | None = None) -> Any:
    """The value at buf[lo:hi] as nested (type id, value) pairs with object fields by name: equal trees
    are equal variants, whatever the widths of offsets and field ids."""
    hi = len(buf) if hi is None else hi
    parsed = vb.container(buf, lo, hi)
    if parsed is None:
        return vb.scalar(buf, lo, hi)
    names = parse_metadata(meta)
    children = [typed_tree(meta, buf, a, b) for a, b in parsed[2]]
    if parsed[0]:
        return ("object", sorted(zip((names[i] for i in parsed[1]), children)))
    return ("array", children)


# -- a Delta table holding one shredded file -----------------------------------------------------------------
def write_shredded_table(path: str | Path, column: pa.Array, ids: list[int]) -> None:
    """A Delta table at ``path`` (schema ``id long, v variant``; features variantType and
    variantShredding) made of one Parquet file, written by pyarrow, whose ``v`` is the shredded
    ``column``; the log is written by hand, as a shredding engine would write it."""
    os.makedirs(Path(path, "_delta_log"), exist_ok=True)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "v": column}), os.path.join(path, name))
    schema = {"type": "struct", "fields": [{"name": "id", "type": "long", "nullable": True, "metadata": {}},
                                           {"name": "v", "type": "variant", "nullable": True, "metadata": {}}]}
    features = ["variantShredding", "variantType"]
    actions = [
        {"commitInfo": {"timestamp": 1_700_000_000_000, "operation": "WRITE"}},
        {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": features,
                      "writerFeatures": features}},
        {"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                      "schemaString": orjson.dumps(schema).decode(), "partitionColumns": [],
                      "createdTime": 1_700_000_000_000, "configuration": {}}},
        {"add": {"path": name, "partitionValues": {}, "size": os.path.getsize(os.path.join(path, name)),
                 "modificationTime": 1_700_000_000_000, "dataChange": True,
                 "stats": orjson.dumps({"numRecords": len(ids)}).decode()}},
    ]
    Path(path, "_delta_log", f"{0:020d}.json").write_bytes(b"\n".join(orjson.dumps(a) for a in actions) + b"\n")
