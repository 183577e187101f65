"""Building and taking apart Parquet Variant values (Parquet `VariantEncoding.md`: "Metadata encoding",
"Value encoding", "Encoding types"), below the JSON decoder of `lakehouse.protocol.variant`.

This module owns the byte-level pieces every other variant module shares:

- encoders for each primitive type, for arrays and objects built from already encoded children, and
  for the metadata dictionary; `encode_value` encodes a whole Python value (dicts, lists, scalars);
- `object_fields`, the fields of an encoded object as (field id, value bytes), which variant shredding
  merges with its shredded fields;
- `find`, which follows a path (`$.a[0]`) through encoded bytes, and `scalar`, which reads the
  primitive at a position as a Python value, for `variant_get`.

Encoders choose the smallest widths the spec allows (field ids, offsets, the element count) and write
object fields in key order, as the spec requires. Nothing here recurses: containers are walked and built
with explicit stacks, so a deeply nested value cannot exhaust the Python stack. Pure; no I/O.
"""

from __future__ import annotations

import struct
import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Sequence

from lakehouse.errors import InvalidArgumentError

NULL = b"\x00"
TRUE, FALSE = bytes([1 << 2]), bytes([2 << 2])
EMPTY_METADATA = b"\x01\x00\x00"  # version 1, no keys, one zero offset

# Primitive type ids (VariantEncoding.md "Encoding types").
INT8, INT16, INT32, INT64, DOUBLE = 3, 4, 5, 6, 7
DECIMAL4, DECIMAL8, DECIMAL16 = 8, 9, 10
DATE, TIMESTAMP, TIMESTAMP_NTZ, FLOAT, BINARY, STRING = 11, 12, 13, 14, 15, 16
TIME, TIMESTAMP_NANOS, TIMESTAMP_NTZ_NANOS, UUID = 17, 18, 19, 20
_INT_IDS = {1: INT8, 2: INT16, 4: INT32, 8: INT64}
_DECIMAL_IDS = {4: DECIMAL4, 8: DECIMAL8, 16: DECIMAL16}
_WIDTHS = {INT8: 1, INT16: 2, INT32: 4, INT64: 8, DOUBLE: 8, DATE: 4, TIMESTAMP: 8, TIMESTAMP_NTZ: 8, FLOAT: 4,
           TIME: 8, TIMESTAMP_NANOS: 8, TIMESTAMP_NTZ_NANOS: 8, UUID: 16}
_OBJECT, _ARRAY = 2, 3
_EPOCH = date(1970, 1, 1)


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid variant value: {message}")


# -- primitives --------------------------------------------------------------------------------------------
def primitive(type_id: int, payload: bytes = b"") -> bytes:
    """A primitive value: its header byte (type id, basic type 0) and its payload."""
    return bytes([type_id << 2]) + payload


def integer(v: int, width: int) -> bytes:
    """An int8/int16/int32/int64 (``width`` bytes, little-endian two's complement)."""
    return primitive(_INT_IDS[width], v.to_bytes(width, "little", signed=True))


def fixed(type_id: int, ticks: int) -> bytes:
    """A date, time or timestamp of ``type_id`` from its integer (days, micros or nanos)."""
    return primitive(type_id, ticks.to_bytes(_WIDTHS[type_id], "little", signed=True))


def double(v: float) -> bytes:
    """A double (IEEE 754, little-endian)."""
    return primitive(DOUBLE, struct.pack("<d", v))


def float32(v: float) -> bytes:
    """A float (IEEE 754 single, little-endian); ``v`` must be a float32 value."""
    return primitive(FLOAT, struct.pack("<f", v))


def decimal(unscaled: int, scale: int, width: int) -> bytes:
    """A decimal4/8/16: the scale byte, then the unscaled value in ``width`` bytes."""
    return primitive(_DECIMAL_IDS[width], bytes([scale]) + unscaled.to_bytes(width, "little", signed=True))


def string(s: str) -> bytes:
    """A string: the short-string form (basic type 1) up to 63 bytes, the long form above."""
    raw = s.encode("utf-8")
    if len(raw) < 64:
        return bytes([(len(raw) << 2) | 1]) + raw
    return primitive(STRING, len(raw).to_bytes(4, "little") + raw)


def binary(b: bytes) -> bytes:
    """A binary value: a 4-byte length, then the bytes."""
    return primitive(BINARY, len(b).to_bytes(4, "little") + bytes(b))


def uuid_value(b: bytes) -> bytes:
    """A uuid from its 16 big-endian bytes."""
    return primitive(UUID, bytes(b))


# -- containers --------------------------------------------------------------------------------------------
def _width(n: int) -> int:
    """The fewest bytes (1 to 4) that hold the unsigned integer ``n``."""
    return 1 if n < 1 << 8 else 2 if n < 1 << 16 else 3 if n < 1 << 24 else 4


def _offsets(values: Sequence[bytes]) -> tuple[int, list[int]]:
    out, total = [0], 0
    for v in values:
        total += len(v)
        out.append(total)
    return _width(total), out


def encode_array(elements: Sequence[bytes]) -> bytes:
    """An array of already encoded ``elements``."""
    n = len(elements)
    large = n > 255
    offset_size, offsets = _offsets(elements)
    header = _ARRAY | (((int(large) << 2) | (offset_size - 1)) << 2)
    parts = [bytes([header]), n.to_bytes(4 if large else 1, "little")]
    parts += [o.to_bytes(offset_size, "little") for o in offsets]
    return b"".join(parts + list(elements))


def encode_object(fields: Sequence[tuple[int, bytes]]) -> bytes:
    """An object of ``fields`` (dictionary id, encoded value), which must already be in key order."""
    n = len(fields)
    large = n > 255
    id_size = _width(max((i for i, _ in fields), default=0))
    values = [v for _, v in fields]
    offset_size, offsets = _offsets(values)
    header = _OBJECT | (((int(large) << 4) | ((id_size - 1) << 2) | (offset_size - 1)) << 2)
    parts = [bytes([header]), n.to_bytes(4 if large else 1, "little")]
    parts += [i.to_bytes(id_size, "little") for i, _ in fields]
    parts += [o.to_bytes(offset_size, "little") for o in offsets]
    return b"".join(parts + values)


def encode_metadata(keys: Sequence[str]) -> bytes:
    """A version-1 metadata dictionary of ``keys``, flagged sorted when they are unique and in order."""
    raw = [k.encode("utf-8") for k in keys]
    offset_size, offsets = _offsets(raw)
    is_sorted = all(a < b for a, b in zip(raw, raw[1:]))
    header = 1 | (int(is_sorted) << 4) | ((offset_size - 1) << 6)
    parts = [bytes([header]), len(raw).to_bytes(offset_size, "little")]
    parts += [o.to_bytes(offset_size, "little") for o in offsets]
    return b"".join(parts + raw)


def _uint(buf: bytes, pos: int, size: int, end: int) -> int:
    if pos < 0 or pos + size > end:
        raise _bad(f"needs {size} bytes at offset {pos}, but the value ends at {end}")
    return int.from_bytes(buf[pos:pos + size], "little")


def _frame(buf: bytes, pos: int, end: int) -> tuple[bool, int, int, int, int, int, int] | None:
    """The headers of the container at ``buf[pos:end]``: (is_object, count, ids_at, id_size, offsets_at,
    offset_size, data_at); None when the value there is not a container."""
    if pos >= end:
        raise _bad(f"a value starts at offset {pos}, at or past its end {end}")
    header = buf[pos]
    basic, info = header & 0x03, header >> 2
    if basic not in (_OBJECT, _ARRAY):
        return None
    is_object = basic == _OBJECT
    offset_size = (info & 0x03) + 1
    id_size = ((info >> 2) & 0x03) + 1 if is_object else 0
    count_size = 4 if (info >> (4 if is_object else 2)) & 0x01 else 1
    count = _uint(buf, pos + 1, count_size, end)
    ids_at = pos + 1 + count_size
    offsets_at = ids_at + count * id_size
    data_at = offsets_at + (count + 1) * offset_size
    if data_at > end:
        raise _bad(f"a container of {count} elements at offset {pos} has headers past its end {end}")
    return is_object, count, ids_at, id_size, offsets_at, offset_size, data_at


def container(buf: bytes, pos: int, end: int) -> tuple[bool, list[int], list[tuple[int, int]]] | None:
    """The object or array at ``buf[pos:end]``: (is_object, field ids (empty for arrays), child extents as
    absolute (start, end) positions); None when the value there is not a container."""
    frame = _frame(buf, pos, end)
    if frame is None:
        return None
    is_object, count, ids_at, id_size, offsets_at, offset_size, data_at = frame
    ids = [_uint(buf, ids_at + i * id_size, id_size, end) for i in range(count)] if is_object else []
    offsets = [_uint(buf, offsets_at + i * offset_size, offset_size, end) for i in range(count + 1)]
    total = offsets[count]
    if data_at + total > end:
        raise _bad(f"a container at offset {pos} claims {total} bytes of values past its end {end}")
    # A child ends at the next larger offset: object values need not be stored in key order.
    bounds = sorted(set(offsets))
    after = dict(zip(bounds, bounds[1:]))
    children = []
    for i in range(count):
        if offsets[i] >= total:
            raise _bad(f"element {i} of the container at offset {pos} starts at {offsets[i]}, past its {total} bytes")
        children.append((data_at + offsets[i], data_at + after[offsets[i]]))
    return is_object, ids, children


def value_size(buf: bytes, pos: int = 0) -> int:
    """How many bytes the value starting at ``pos`` takes (a value followed by padding or other data, as
    in Z85-encoded statistics)."""
    end = len(buf)
    frame = _frame(buf, pos, end)
    if frame is not None:
        _, count, _, _, offsets_at, offset_size, data_at = frame
        return data_at + _uint(buf, offsets_at + count * offset_size, offset_size, end) - pos
    header = buf[pos]
    basic, info = header & 0x03, header >> 2
    if basic == 1:
        return 1 + info
    if info in (0, 1, 2):
        return 1
    if info in (DECIMAL4, DECIMAL8, DECIMAL16):
        return 2 + {DECIMAL4: 4, DECIMAL8: 8, DECIMAL16: 16}[info]
    if info in (BINARY, STRING):
        return 5 + _uint(buf, pos + 1, 4, end)
    if info in _WIDTHS:
        return 1 + _WIDTHS[info]
    raise _bad(f"primitive type id {info} at offset {pos} is not one this reader knows")


def metadata_size(buf: bytes) -> int:
    """How many bytes the metadata dictionary at the start of ``buf`` takes."""
    if not buf or buf[0] & 0x0F != 1:
        raise _bad("metadata does not start with a version-1 header")
    size = ((buf[0] >> 6) & 0x03) + 1
    count = _uint(buf, 1, size, len(buf))
    return 1 + size + (count + 1) * size + _uint(buf, 1 + size + count * size, size, len(buf))


def object_fields(value: bytes) -> list[tuple[int, bytes]] | None:
    """The fields of the encoded object ``value`` as (field id, value bytes); None when ``value`` is not an
    object. Raises `InvalidArgumentError` when the bytes break the encoding."""
    parsed = container(value, 0, len(value))
    if parsed is None or not parsed[0]:
        return None
    _, ids, children = parsed
    return [(i, value[lo:hi]) for i, (lo, hi) in zip(ids, children)]


# -- paths -------------------------------------------------------------------------------------------------
def find(keys: Sequence[str], buf: bytes, steps: Sequence[str | int]) -> tuple[int, int] | None:
    """The extent (start, end) in ``buf`` of the value a path reaches, None when the path is missing (a
    key the object lacks, an index outside the array, a step into a value of another kind). ``keys`` is
    the metadata dictionary; a string step is an object key, an int an array index."""
    lo, hi = 0, len(buf)
    for step in steps:
        parsed = container(buf, lo, hi)
        if parsed is None:
            return None
        is_object, ids, children = parsed
        if isinstance(step, int):
            if is_object or not 0 <= step < len(children):
                return None
            lo, hi = children[step]
            continue
        if not is_object:
            return None
        for fid, child in zip(ids, children):
            if fid >= len(keys):
                raise _bad(f"field id {fid} is outside the {len(keys)}-key dictionary")
            if keys[fid] == step:
                lo, hi = child
                break
        else:
            return None
    return lo, hi


def kind(buf: bytes, pos: int) -> str:
    """``"object"``, ``"array"`` or ``"primitive"``: the basic type of the value at ``pos``."""
    basic = buf[pos] & 0x03
    return "object" if basic == _OBJECT else "array" if basic == _ARRAY else "primitive"


def scalar(buf: bytes, pos: int, end: int) -> tuple[int, Any]:
    """The primitive at ``buf[pos:end]`` as (type id, Python value): ints, floats, bools, None for null,
    ``(unscaled, scale)`` for decimals, the integer count of days/micros/nanos for dates, times and
    timestamps, `str`, `bytes` and `uuid.UUID`. A short string reports type id `STRING`."""
    if pos >= end:
        raise _bad(f"a value starts at offset {pos}, at or past its end {end}")
    header = buf[pos]
    basic, info = header & 0x03, header >> 2
    if basic == 1:
        if pos + 1 + info > end:
            raise _bad(f"a short string of {info} bytes at offset {pos} runs past {end}")
        return STRING, _text(buf[pos + 1:pos + 1 + info])
    if basic != 0:
        raise _bad(f"the value at offset {pos} is an {'object' if basic == _OBJECT else 'array'}, not a primitive")
    data = pos + 1
    if info == 0:
        return 0, None
    if info in (1, 2):
        return info, info == 1
    if info in (DOUBLE, FLOAT):
        width = _WIDTHS[info]
        _uint(buf, data, width, end)
        return info, struct.unpack("<d" if width == 8 else "<f", buf[data:data + width])[0]
    if info in _WIDTHS and info != UUID:
        width = _WIDTHS[info]
        _uint(buf, data, width, end)
        return info, int.from_bytes(buf[data:data + width], "little", signed=True)
    if info in (DECIMAL4, DECIMAL8, DECIMAL16):
        width = {DECIMAL4: 4, DECIMAL8: 8, DECIMAL16: 16}[info]
        scale = _uint(buf, data, 1, end)
        if scale > 38:
            raise _bad(f"decimal scale {scale} at offset {pos} is above 38")
        _uint(buf, data + 1, width, end)
        return info, (int.from_bytes(buf[data + 1:data + 1 + width], "little", signed=True), scale)
    if info in (BINARY, STRING):
        size = _uint(buf, data, 4, end)
        if data + 4 + size > end:
            raise _bad(f"a {size}-byte value at offset {pos} runs past {end}")
        raw = buf[data + 4:data + 4 + size]
        return info, (raw if info == BINARY else _text(raw))
    if info == UUID:
        _uint(buf, data, 16, end)
        return info, uuid.UUID(bytes=buf[data:data + 16])
    raise _bad(f"primitive type id {info} at offset {pos} is not one this reader knows")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad(f"a string is not valid UTF-8 ({e.reason} at byte {e.start})") from None


# -- whole Python values -----------------------------------------------------------------------------------
def encode_value(value: Any) -> tuple[bytes, bytes]:
    """(metadata, value) encoding a Python value: None, bool, int (the narrowest integer; a decimal beyond
    64 bits), float (double), `Decimal`, str, bytes, `date`, `datetime` (aware: timestamp in UTC; naive:
    timestamp_ntz; microseconds), `time` (microseconds), `uuid.UUID`, dicts with str keys, lists and
    tuples. The dictionary holds the object keys sorted. Raises `InvalidArgumentError` for other values."""
    # Nodes in pre-order (a child always after its parent), then built in reverse: children first.
    nodes: list[Any] = []
    children: list[list[int]] = []
    names: set[str] = set()
    stack: list[tuple[Any, int, int]] = [(value, -1, 0)]
    while stack:
        v, parent, slot = stack.pop()
        i = len(nodes)
        nodes.append(v)
        if parent >= 0:
            children[parent][slot] = i
        if isinstance(v, dict):
            ordered = sorted(v, key=lambda k: _key(k).encode("utf-8"))
            names.update(ordered)
            kids = [v[k] for k in ordered]
        else:
            kids = list(v) if isinstance(v, (list, tuple)) else []
        children.append([-1] * len(kids))
        stack.extend((kid, i, j) for j, kid in reversed(list(enumerate(kids))))
    keys = sorted(names, key=lambda k: k.encode("utf-8"))
    ids = {k: i for i, k in enumerate(keys)}
    built: list[bytes] = [b""] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):
        v = nodes[i]
        if isinstance(v, dict):
            ordered = sorted(v, key=lambda k: k.encode("utf-8"))
            built[i] = encode_object([(ids[k], built[c]) for k, c in zip(ordered, children[i])])
        elif isinstance(v, (list, tuple)):
            built[i] = encode_array([built[c] for c in children[i]])
        else:
            built[i] = encode_scalar(v)
        for c in children[i]:
            built[c] = b""  # copied into the parent: free it
    return encode_metadata(keys), built[0]


def _key(k: Any) -> str:
    if not isinstance(k, str):
        raise InvalidArgumentError(f"variant object keys must be strings, got {type(k).__name__} {k!r}")
    return k


def encode_scalar(v: Any) -> bytes:
    """The encoding of one Python scalar (see `encode_value` for the accepted types)."""
    if v is None:
        return NULL
    if isinstance(v, bool):
        return TRUE if v else FALSE
    if isinstance(v, int):
        for width in (1, 2, 4, 8):
            if -(1 << (8 * width - 1)) <= v < 1 << (8 * width - 1):
                return integer(v, width)
        return encode_scalar(Decimal(v))
    if isinstance(v, float):
        return double(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise InvalidArgumentError(f"a variant decimal must be finite, got {v}")
        sign, digits, exponent = v.as_tuple()
        scale = max(0, -int(exponent))
        unscaled = int("".join(map(str, digits)) or "0") * 10 ** max(0, int(exponent))
        unscaled = -unscaled if sign else unscaled
        precision = max(len(str(abs(unscaled))), scale)
        if precision > 38:
            raise InvalidArgumentError(f"decimal {v} has {precision} digits; a variant decimal holds at most 38")
        return decimal(unscaled, scale, 4 if precision <= 9 else 8 if precision <= 18 else 16)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return binary(bytes(v))
    if isinstance(v, datetime):
        aware = v.tzinfo is not None
        base = datetime(1970, 1, 1, tzinfo=timezone.utc) if aware else datetime(1970, 1, 1)
        delta = v - base
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return fixed(TIMESTAMP if aware else TIMESTAMP_NTZ, micros)
    if isinstance(v, date):
        return fixed(DATE, (v - _EPOCH).days)
    if isinstance(v, time):
        return fixed(TIME, ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)
    if isinstance(v, uuid.UUID):
        return uuid_value(v.bytes)
    raise InvalidArgumentError(f"cannot encode {type(v).__name__} {v!r} as a variant")
