"""Reading shredded variants: rebuilding the unshredded `struct<metadata, value>` from a shredded column
(PROTOCOL.md "Variant Shredding", "Reader Requirements for Variant Shredding"; Parquet
`VariantShredding.md`, "Value Shredding", "Objects", "Arrays", "Reconstructing a Shredded Variant").

A shredded variant column is a group of a binary ``metadata``, an optional binary ``value`` and an
optional ``typed_value``. ``typed_value`` is a primitive column (the value when it has that type), a
struct of one group per shredded object field, each again an optional ``value`` and an optional
``typed_value``, or a list whose element group has the same two fields, nested to any depth. Per entry:

| ``value`` | ``typed_value`` | meaning |
|---|---|---|
| null | null | missing: an absent object field (a variant null at the top level) |
| set | null | the value, any type (bytes kept as they are) |
| null | set | the shredded value: the primitive, the array of the elements, the object of the present fields |
| set | set (object) | a partially shredded object: the fields of ``value`` merged with the shredded ones |

`unshred` turns such a column into the unshredded form every other part of `lakehouse` reads, so a
shredded file reads, filters, decodes (`variant_to_json`) and rewrites (DML, OPTIMIZE) like any other;
values stored in ``value`` keep their bytes, values built from typed columns are encoded with the
narrowest widths (`lakehouse.protocol.variant_binary`), objects list their fields in key order.

Refused with `ShreddingError` (a `SchemaMismatchError`), one line naming the column, the place in the
shredding and the row: a ``typed_value`` type the spec does not map (unsigned integers, milliseconds,
maps...), both ``value`` and ``typed_value`` set for anything but an object, a ``value`` that is not an
object beside a shredded object, a shredded field also present in ``value``, a missing array element, a
shredded field name the row's metadata lacks, bytes that break the encoding. Lenient where the spec lets
readers assume correct data: an object stored whole in ``value`` beside a null ``typed_value`` is read
as it is. The walk over the shredding schema uses an explicit list, never recursion. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.protocol import variant_binary as vb
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import VARIANT_ARROW, arrow_type_name


class ShreddingError(SchemaMismatchError, ValueError):
    """A shredded variant column breaks the Variant Shredding spec. Also a `ValueError`, so that the
    reader of a data file adds the file and version to the message, as it does for other misfits."""


Encoded = list[bytes | None]


@dataclass
class _Node:
    """One ``value``/``typed_value`` pair of the shredding, over its entries (rows, or array elements)."""

    where: str
    value: pa.Array | None
    typed: pa.Array | None
    live: np.ndarray  # the entry belongs to a present value (its parents are set)
    rows: np.ndarray  # the top-level row of each entry, for messages and metadata
    shape: str = "none"  # "none" (no typed_value), "primitive", "object", "array"
    fields: list[tuple[str, int]] = field(default_factory=list)  # object: (name, node index)
    element: int = -1  # array: node index of the elements
    offsets: np.ndarray | None = None  # array: element offsets, rebased to 0


def is_shredded(t: pa.DataType) -> bool:
    """Whether Arrow type ``t`` is a shredded variant group (a struct with a ``typed_value`` field)."""
    return pa.types.is_struct(t) and t.get_field_index("typed_value") >= 0


def unshred(arr: pa.Array, path: str) -> pa.Array:
    """The unshredded `VARIANT_ARROW` column of the shredded variant column ``arr`` (named ``path`` in
    errors). Null rows stay null; a present row whose ``value`` and ``typed_value`` are both null is a
    variant null. Raises `ShreddingError` for anything the spec does not allow (module docstring)."""
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([unshred(c, path) for c in arr.chunks], type=VARIANT_ARROW)
    names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
    extra = sorted(set(names) - {"metadata", "value", "typed_value"})
    if extra or "metadata" not in names:
        raise _error(path, path, f"a shredded variant is a struct of 'metadata', 'value' and 'typed_value', got "
                     f"{arrow_type_name(arr.type)}")
    metadata = arr.field(names.index("metadata"))
    if not _is_binary(metadata.type):
        raise _error(path, f"{path}.metadata", f"must be binary, got {arrow_type_name(metadata.type)}")
    n = len(arr)
    live = av.to_numpy(arr.is_valid())
    md = metadata.to_pylist()
    missing_md = [i for i in range(n) if live[i] and md[i] is None]
    if missing_md:
        raise _error(path, f"{path}.metadata", f"is null in row {missing_md[0]}, which is not null")
    nodes = _plan(arr, path, live)
    keys = _Keys(path, md)
    results: list[Encoded] = [[] for _ in nodes]
    for i in range(len(nodes) - 1, -1, -1):  # children come after their parent in `nodes`
        results[i] = _evaluate(nodes[i], results, keys, path)
        for _, child in nodes[i].fields:
            results[child] = []
        if nodes[i].element >= 0:
            results[nodes[i].element] = []
    top = results[0]
    values = [b"" if not live[i] else (vb.NULL if top[i] is None else top[i]) for i in range(n)]
    metas = [m if m is not None else b"" for m in md]
    mask = av.array(~live) if not live.all() else None
    return pa.StructArray.from_arrays([av.array(metas, pa.binary()), av.array(values, pa.binary())],
                                      fields=list(VARIANT_ARROW), mask=mask)


def _error(column: str, where: str, detail: str) -> ShreddingError:
    return ShreddingError(f"variant column '{column}' is not a valid shredded variant: {where} {detail} "
                          "(Parquet VariantShredding.md)")


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _plan(root: pa.Array, column: str, live: np.ndarray) -> list[_Node]:
    """Every ``value``/``typed_value`` pair of the shredding, parents before children, with the type of
    each ``typed_value`` checked against the spec's table before any value is read."""
    nodes = [_pair(root, column, live, np.arange(len(root)), column)]
    todo = [0]
    while todo:
        node = nodes[todo.pop()]
        typed = node.typed
        if typed is None:
            continue
        if isinstance(typed.type, pa.ExtensionType):
            typed = node.typed = typed.storage
        if pa.types.is_dictionary(typed.type):
            typed = node.typed = typed.dictionary_decode()
        present = node.live & av.to_numpy(typed.is_valid())
        if pa.types.is_struct(typed.type):
            node.shape = "object"
            for j in range(typed.type.num_fields):
                name = typed.type.field(j).name
                group = typed.field(j)
                where = f"{node.where}.typed_value.{name}"
                if not pa.types.is_struct(group.type):
                    raise _error(column, where, f"must be a group of 'value' and 'typed_value', got "
                                 f"{arrow_type_name(group.type)}")
                nodes.append(_pair(group, where, present & av.to_numpy(group.is_valid()), node.rows, column))
                node.fields.append((name, len(nodes) - 1))
                todo.append(len(nodes) - 1)
        elif pa.types.is_list(typed.type) or pa.types.is_large_list(typed.type):
            node.shape = "array"
            offsets = av.to_numpy(typed.offsets).astype(np.int64)
            base, end = int(offsets[0]), int(offsets[-1])
            elements = typed.values.slice(base, end - base)
            where = f"{node.where}.typed_value.element"
            if not pa.types.is_struct(elements.type):
                raise _error(column, where, f"must be a group of 'value' and 'typed_value', got "
                             f"{arrow_type_name(elements.type)}")
            lengths = np.diff(offsets)
            elem_live = np.repeat(present, lengths) & av.to_numpy(elements.is_valid())
            nodes.append(_pair(elements, where, elem_live, np.repeat(node.rows, lengths), column))
            node.element, node.offsets = len(nodes) - 1, offsets - base
            todo.append(len(nodes) - 1)
        else:
            _encoder(typed.type, column, f"{node.where}.typed_value")  # refuses unmapped types now
            node.shape = "primitive"
    return nodes


def _pair(group: pa.Array, where: str, live: np.ndarray, rows: np.ndarray, column: str) -> _Node:
    names = [group.type.field(i).name for i in range(group.type.num_fields)]
    top = where == column
    allowed = {"metadata", "value", "typed_value"} if top else {"value", "typed_value"}
    extra = sorted(set(names) - allowed)
    if extra or not (set(names) & {"value", "typed_value"}) and not top:
        raise _error(column, where, f"must hold 'value' and/or 'typed_value' only, got {arrow_type_name(group.type)}")
    value = group.field(names.index("value")) if "value" in names else None
    if value is not None and not _is_binary(value.type):
        raise _error(column, f"{where}.value", f"must be binary, got {arrow_type_name(value.type)}")
    typed = group.field(names.index("typed_value")) if "typed_value" in names else None
    return _Node(where, value, typed, live, rows)


class _Keys:
    """Each row's metadata dictionary, parsed once per distinct buffer: names by id and ids by name."""

    def __init__(self, column: str, metadata: list[bytes | None]):
        self.column, self.metadata = column, metadata
        self.cache: dict[bytes, tuple[list[str], dict[str, int]]] = {}

    def of(self, row: int) -> tuple[list[str], dict[str, int]]:
        md = self.metadata[row] or b""
        got = self.cache.get(md)
        if got is None:
            from lakehouse.protocol.variant import parse_metadata

            try:
                names = parse_metadata(md)
            except InvalidArgumentError as e:
                raise _error(self.column, f"{self.column}.metadata", f"of row {row} is invalid: {e}") from None
            ids: dict[str, int] = {}
            for i, name in enumerate(names):
                ids.setdefault(name, i)
            got = self.cache[md] = (names, ids)
        return got


def _evaluate(node: _Node, results: list[Encoded], keys: _Keys, column: str) -> Encoded:
    """The encoded value of each entry of ``node`` (None: missing), its children already evaluated."""
    n = len(node.live)
    values: list[bytes | None] = node.value.to_pylist() if node.value is not None else [None] * n
    if node.typed is None:
        return [values[i] if node.live[i] else None for i in range(n)]
    present = node.live & av.to_numpy(node.typed.is_valid())
    out: Encoded = [values[i] if node.live[i] else None for i in range(n)]
    where = f"{node.where}.typed_value"
    if node.shape == "primitive":
        encoded = _encoder(node.typed.type, column, where)(node.typed)
        for i in np.flatnonzero(present):
            if values[i] is not None:
                raise _error(column, node.where, f"has both 'value' and 'typed_value' set in row {node.rows[i]}; only "
                             "an object may be partially shredded")
            out[i] = encoded[i]
    elif node.shape == "array":
        elements, offsets = results[node.element], node.offsets
        assert offsets is not None
        for i in np.flatnonzero(present):
            if values[i] is not None:
                raise _error(column, node.where, f"has both 'value' and an array 'typed_value' set in row {node.rows[i]}")
            items = elements[offsets[i]:offsets[i + 1]]
            if any(e is None for e in items):
                raise _error(column, f"{where}.element", f"is missing (both 'value' and 'typed_value' null) in row "
                             f"{node.rows[i]}; array elements must be present (a null element is a variant null)")
            out[i] = vb.encode_array(items)  # type: ignore[arg-type]  # no None left
    else:
        shredded = [(name, results[child]) for name, child in node.fields]
        names = {name for name, _ in node.fields}
        for i in np.flatnonzero(present):
            out[i] = _object(node, int(i), values[i], shredded, names, keys, column)
    return out


def _object(node: _Node, i: int, residual: bytes | None, shredded: list[tuple[str, Encoded]], names: set[str],
            keys: _Keys, column: str) -> bytes:
    """The object of entry ``i``: its present shredded fields merged with the fields of ``residual``."""
    row = int(node.rows[i])
    key_names, ids = keys.of(row)
    fields: list[tuple[str, int, bytes]] = []
    for name, encoded in shredded:
        value = encoded[i]
        if value is None:
            continue  # a missing field is absent, not null
        if name not in ids:
            raise _error(column, f"{node.where}.typed_value.{name}", f"is a field the metadata of row {row} does not "
                         "list; every field name must be in the metadata")
        fields.append((name, ids[name], value))
    if residual is not None:
        try:
            rest = vb.object_fields(residual)
        except InvalidArgumentError as e:
            raise _error(column, f"{node.where}.value", f"of row {row}: {e}") from None
        if rest is None:
            raise _error(column, f"{node.where}.value", f"of row {row} is not an object, but 'typed_value' is a "
                         "shredded object; only an object may be partially shredded")
        for fid, value in rest:
            if fid >= len(key_names):
                raise _error(column, f"{node.where}.value", f"of row {row} has field id {fid}, outside the "
                             f"{len(key_names)}-key metadata")
            name = key_names[fid]
            if name in names:
                raise _error(column, f"{node.where}.value", f"of row {row} holds field '{name}', which is shredded; "
                             "a shredded field must not also be in 'value'")
            fields.append((name, fid, value))
    fields.sort(key=lambda f: f[0])  # key order: str order is UTF-8 byte order
    return vb.encode_object([(fid, value) for _, fid, value in fields])


# -- typed_value columns to encoded primitives -----------------------------------------------------------
def _encoder(t: pa.DataType, column: str, where: str) -> Callable[[pa.Array], list[bytes | None]]:
    """How to encode a primitive ``typed_value`` column of Arrow type ``t`` (VariantShredding.md "Shredded
    Value Types"); a type the spec does not map is refused naming ``where``."""
    if pa.types.is_boolean(t):
        return lambda a: [None if v is None else vb.TRUE if v else vb.FALSE for v in a.to_pylist()]
    if pa.types.is_signed_integer(t):
        return _fixed_width(vb.primitive(vb._INT_IDS[t.bit_width // 8]), f"<i{t.bit_width // 8}", None)
    if pa.types.is_float32(t) or pa.types.is_float64(t):
        ident = vb.FLOAT if pa.types.is_float32(t) else vb.DOUBLE
        return _fixed_width(vb.primitive(ident), "<f4" if ident == vb.FLOAT else "<f8", None)
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise _error(column, where, f"is {arrow_type_name(t)}; a variant decimal holds at most 38 digits")
        return _decimals(t)
    if pa.types.is_date32(t):
        return _fixed_width(vb.primitive(vb.DATE), "<i4", pa.int32())
    if pa.types.is_timestamp(t) and t.unit in ("us", "ns"):
        ident = {("us", True): vb.TIMESTAMP, ("us", False): vb.TIMESTAMP_NTZ, ("ns", True): vb.TIMESTAMP_NANOS,
                 ("ns", False): vb.TIMESTAMP_NTZ_NANOS}[(t.unit, t.tz is not None)]
        return _fixed_width(vb.primitive(ident), "<i8", pa.int64())
    if pa.types.is_time64(t) and t.unit == "us":
        return _fixed_width(vb.primitive(vb.TIME), "<i8", pa.int64())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return lambda a: [None if v is None else vb.string(v) for v in a.to_pylist()]
    if _is_binary(t):
        return lambda a: [None if v is None else vb.binary(v) for v in a.to_pylist()]
    if pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        return lambda a: [None if v is None else vb.uuid_value(v) for v in a.to_pylist()]
    if pa.types.is_null(t):
        return lambda a: [None] * len(a)
    raise _error(column, where, f"has type {arrow_type_name(t)}, which the Variant Shredding spec does not map to a "
                 "variant type")


def _fixed_width(header: bytes, dtype: str, storage: pa.DataType | None) -> Callable[[pa.Array], list[bytes | None]]:
    """Encoder of a fixed-width column: the header byte, then each value's little-endian bytes."""
    width = np.dtype(dtype).itemsize

    def encode(a: pa.Array) -> list[bytes | None]:
        plain = a.cast(storage) if storage is not None else a
        data = np.asarray(av.to_numpy(av.fill_null(plain, 0))).astype(dtype).tobytes()
        valid = av.to_numpy(a.is_valid())
        return [header + data[i * width:(i + 1) * width] if valid[i] else None for i in range(len(a))]
    return encode


def _decimals(t: pa.DataType) -> Callable[[pa.Array], list[bytes | None]]:
    """decimal4/8/16 by precision (9 and 18 digits are the limits of 4 and 8 bytes), copied from the
    Arrow buffer: little-endian two's complement, as the variant stores it; a narrower width keeps the low
    bytes, which hold the whole value since it has at most that precision."""
    width = 4 if t.precision <= 9 else 8 if t.precision <= 18 else 16
    header = vb.primitive(vb._DECIMAL_IDS[width], bytes([t.scale]))
    stride = t.byte_width

    def encode(a: pa.Array) -> list[bytes | None]:
        raw = a.buffers()[1].to_pybytes() if len(a) else b""
        start = a.offset * stride
        valid = av.to_numpy(a.is_valid())
        out: list[bytes | None] = []
        for i in range(len(a)):
            at = start + i * stride
            chunk = raw[at:at + stride]
            if width > stride:  # a narrow Arrow decimal: sign-extend to the variant width
                chunk = int.from_bytes(chunk, "little", signed=True).to_bytes(width, "little", signed=True)
            out.append(header + chunk[:width] if valid[i] else None)
        return out
    return encode
