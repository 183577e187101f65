"""Decoding the Parquet Variant binary encoding to JSON text (PROTOCOL.md "Variant Data Type"; Parquet
`VariantEncoding.md`, "Metadata encoding", "Value encoding", "Encoding types").

A variant value is two byte strings: ``metadata`` (a header byte, a dictionary size and offsets of
`offset_size` bytes, then the UTF-8 key strings) and ``value`` (a header byte whose low two bits are the
basic type: primitive, short string, object or array). Objects refer to keys by dictionary index and list
their fields in key order; arrays and objects locate their children through offsets of 1 to 4 bytes.

This module owns the pure decoder: it walks the bytes iteratively, never recursing, so a deeply nested
value cannot exhaust the Python stack, and checks every offset against the buffer. It must not depend on
how the bytes were read. `variant_to_json` lifts it to an Arrow column of `struct<metadata, value>`.
It also owns the column-level rules of PROTOCOL.md "Variant Data Type": which Arrow data is a variant
(`is_variant_struct`, `conform_variant`), for reads and writes alike, so both refuse the same things.

JSON rendering (the variant spec defines no JSON form; these follow Spark's `to_json` where it is
unambiguous and stay valid JSON everywhere):

- null, booleans, integers: JSON literals and numbers;
- double and float: the shortest decimal text that reads back as the same double/float; NaN and the
  infinities, which JSON cannot write as numbers, as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- decimal4/8/16: a plain (never exponent) number with trailing fractional zeros removed, as Spark;
- date: ``"YYYY-MM-DD"``; timestamp: ``"YYYY-MM-DD HH:MM:SS[.fraction]+00:00"`` (UTC), timestamp without
  time zone the same without the offset, time without time zone ``"HH:MM:SS[.fraction]"``; the fraction
  keeps 6 (micros) or 9 (nanos) digits with trailing zeros removed; years outside 1..9999 are printed
  with their sign and digits (no `datetime` round trip, so any 64-bit value decodes);
- binary: a base64 string (as Spark); uuid: the canonical hyphenated string;
- strings (short and long) and object keys: JSON strings; objects keep the encoded (key-sorted) order.
"""

from __future__ import annotations

import base64
import math
import struct
import uuid
from typing import Any, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import (
    VARIANT_ARROW, DataType, PrimitiveType, StructField, StructType, arrow_type_name, walk_types,
)
from lakehouse.protocol.variant_binary import container

VARIANT = PrimitiveType("variant")

_PRIMITIVE, _SHORT_STRING, _OBJECT, _ARRAY = 0, 1, 2, 3
_FIXED = {3: 1, 4: 2, 5: 4, 6: 8, 7: 8, 11: 4, 12: 8, 13: 8, 14: 4, 17: 8, 18: 8, 19: 8, 20: 16}
_DECIMAL_WIDTH = {8: 4, 9: 8, 10: 16}


class _Bad(Exception):
    """Raised inside the decoder; turned into one `InvalidArgumentError` line by the public functions."""


def _uint(buf: bytes, pos: int, size: int, end: int) -> int:
    if pos < 0 or pos + size > end:
        raise _Bad(f"needs {size} bytes at offset {pos}, but the buffer ends at {end}")
    return int.from_bytes(buf[pos:pos + size], "little")


def _int(buf: bytes, pos: int, size: int, end: int) -> int:
    if pos + size > end:
        raise _Bad(f"needs {size} bytes at offset {pos}, but the buffer ends at {end}")
    return int.from_bytes(buf[pos:pos + size], "little", signed=True)


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Bad(f"{what} is not valid UTF-8 ({e.reason} at byte {e.start})") from None


def parse_metadata(metadata: bytes) -> list[str]:
    """The key dictionary of a variant ``metadata`` buffer (VariantEncoding.md "Metadata encoding").

    Raises `InvalidArgumentError` for a version other than 1, offsets that are not ascending or run past
    the buffer, and keys that are not UTF-8.
    """
    try:
        return _parse_metadata(bytes(metadata))
    except _Bad as e:
        raise InvalidArgumentError(f"invalid variant metadata: {e}") from None


def _parse_metadata(buf: bytes) -> list[str]:
    if not buf:
        raise _Bad("the metadata is empty")
    header = buf[0]
    if header & 0x0F != 1:
        raise _Bad(f"metadata version {header & 0x0F} is not 1")
    size = ((header >> 6) & 0x03) + 1
    count = _uint(buf, 1, size, len(buf))
    first = 1 + size
    start = first + (count + 1) * size  # where the string bytes begin
    if start > len(buf):
        raise _Bad(f"{count} dictionary offsets of {size} bytes run past the end of {len(buf)} bytes")
    offsets = [int.from_bytes(buf[first + i * size:first + (i + 1) * size], "little") for i in range(count + 1)]
    keys = []
    for i in range(count):
        lo, hi = offsets[i], offsets[i + 1]
        if not lo <= hi <= len(buf) - start:
            raise _Bad(f"dictionary string {i} spans bytes {lo}..{hi} outside the {len(buf) - start} string bytes")
        keys.append(_utf8(buf[start + lo:start + hi], f"dictionary string {i}"))
    return keys


def variant_json(metadata: bytes, value: bytes) -> str:
    """The JSON text of one variant given its ``metadata`` and ``value`` bytes (rendering rules in the
    module docstring). Raises `InvalidArgumentError` when the bytes break the encoding."""
    try:
        keys = _json_keys(_parse_metadata(bytes(metadata)))
    except _Bad as e:
        raise InvalidArgumentError(f"invalid variant metadata: {e}") from None
    try:
        return _value_json(keys, bytes(value))
    except _Bad as e:
        raise InvalidArgumentError(f"invalid variant value: {e}") from None


def _json_keys(keys: list[str]) -> list[str]:
    """The dictionary keys as JSON strings, encoded once per metadata buffer rather than once per field."""
    return [orjson.dumps(k).decode() for k in keys]


def _value_json(keys: list[str], buf: bytes) -> str:
    """Render the value that fills ``buf`` (``keys``: the dictionary as JSON strings); containers are
    expanded with an explicit work stack."""
    out: list[str] = []
    # Work items: ("value", pos, end) renders a value; ("text", s) emits literal text.
    work: list[tuple[Any, ...]] = [("value", 0, len(buf))]
    while work:
        item = work.pop()
        if item[0] == "text":
            out.append(item[1])
            continue
        _, pos, end = item
        if pos >= end:
            raise _Bad(f"a value starts at offset {pos}, at or past its end {end}")
        header = buf[pos]
        basic, info = header & 0x03, header >> 2
        if basic == _PRIMITIVE:
            out.append(_primitive_json(buf, pos, end, info))
        elif basic == _SHORT_STRING:
            if pos + 1 + info > end:
                raise _Bad(f"a short string of {info} bytes at offset {pos} runs past {end}")
            out.append(orjson.dumps(_utf8(buf[pos + 1:pos + 1 + info], "a short string")).decode())
        else:
            try:
                parsed = container(buf, pos, end)
            except InvalidArgumentError as e:  # the framing's own message, under this decoder's prefix
                raise _Bad(str(e).removeprefix("invalid variant value: ")) from None
            assert parsed is not None  # the basic type is a container here
            is_object, ids, children = parsed
            items: list[tuple[Any, ...]] = []
            if is_object:
                items.append(("text", "{"))
                for i, (fid, (lo, hi)) in enumerate(zip(ids, children)):
                    if fid >= len(keys):
                        raise _Bad(f"field id {fid} at offset {pos} is outside the {len(keys)}-key dictionary")
                    prefix = ("," if i else "") + keys[fid] + ":"
                    items += [("text", prefix), ("value", lo, hi)]
                items.append(("text", "}"))
            else:
                items.append(("text", "["))
                for i, (lo, hi) in enumerate(children):
                    if i:
                        items.append(("text", ","))
                    items.append(("value", lo, hi))
                items.append(("text", "]"))
            work.extend(reversed(items))
    return "".join(out)


def _primitive_json(buf: bytes, pos: int, end: int, type_id: int) -> str:
    data = pos + 1
    if type_id == 0:
        return "null"
    if type_id in (1, 2):
        return "true" if type_id == 1 else "false"
    if type_id in (3, 4, 5, 6):
        return str(_int(buf, data, _FIXED[type_id], end))
    if type_id in (7, 14):
        width = _FIXED[type_id]
        if data + width > end:
            raise _Bad(f"a {'double' if width == 8 else 'float'} at offset {pos} runs past {end}")
        (x,) = struct.unpack("<d" if width == 8 else "<f", buf[data:data + width])
        return _float_json(x, single=width == 4)
    if type_id in _DECIMAL_WIDTH:
        scale = _uint(buf, data, 1, end)
        if scale > 38:
            raise _Bad(f"decimal scale {scale} at offset {pos} is above 38")
        return _decimal_text(_int(buf, data + 1, _DECIMAL_WIDTH[type_id], end), scale)
    if type_id == 11:
        return f'"{_date_text(_int(buf, data, 4, end))}"'
    if type_id in (12, 13, 18, 19):
        per_second = 1_000_000 if type_id in (12, 13) else 1_000_000_000
        text = _timestamp_text(_int(buf, data, 8, end), per_second)
        return f'"{text}+00:00"' if type_id in (12, 18) else f'"{text}"'
    if type_id == 17:
        micros = _int(buf, data, 8, end)
        if not 0 <= micros < 86_400_000_000:
            raise _Bad(f"time {micros} at offset {pos} is outside one day")
        return f'"{_clock_text(micros, 1_000_000)}"'
    if type_id in (15, 16):
        size = _uint(buf, data, 4, end)
        if data + 4 + size > end:
            raise _Bad(f"a {size}-byte {'binary' if type_id == 15 else 'string'} at offset {pos} runs past {end}")
        raw = buf[data + 4:data + 4 + size]
        if type_id == 15:
            return f'"{base64.b64encode(raw).decode()}"'
        return orjson.dumps(_utf8(raw, "a string")).decode()
    if type_id == 20:
        if data + 16 > end:
            raise _Bad(f"a uuid at offset {pos} runs past {end}")
        return f'"{uuid.UUID(bytes=buf[data:data + 16])}"'
    raise _Bad(f"primitive type id {type_id} at offset {pos} is not one this decoder knows")


def _float_json(x: float, *, single: bool) -> str:
    if math.isnan(x):
        return '"NaN"'
    if math.isinf(x):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if not single:
        return repr(x)
    # The shortest text that reads back as the same float32 (repr of the widened double would print
    # 1.100000023841858 for 1.1f).
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == x:
            return text if any(c in text for c in ".e") else text + ".0"
    return repr(x)


def _decimal_text(unscaled: int, scale: int) -> str:
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    whole, frac = digits[:len(digits) - scale], digits[len(digits) - scale:]
    frac = frac.rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01 in the proleptic Gregorian calendar, for any integer
    (H. Hinnant's `civil_from_days`), so no `datetime` range limit applies."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def _date_text(days: int) -> str:
    y, m, d = _civil(days)
    year = f"{y:04d}" if 0 <= y <= 9999 else (f"+{y}" if y > 9999 else f"-{-y:04d}")
    return f"{year}-{m:02d}-{d:02d}"


def _clock_text(ticks: int, per_second: int) -> str:
    seconds, fraction = divmod(ticks, per_second)
    h, rest = divmod(seconds, 3600)
    text = f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if fraction:
        width = len(str(per_second)) - 1
        text += "." + str(fraction).rjust(width, "0").rstrip("0")
    return text


def _timestamp_text(ticks: int, per_second: int) -> str:
    days, in_day = divmod(ticks, 86_400 * per_second)
    return f"{_date_text(days)} {_clock_text(in_day, per_second)}"


def variant_to_json(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Decode a variant column to JSON text, one string per row (null rows stay null).

    ``array`` is a variant column as `lakehouse` (and delta-rs) read it: a struct with binary ``metadata``
    and ``value`` fields (``large_binary`` and ``binary_view`` children are accepted). Returns a `string`
    array (chunked when the input is chunked). The rendering of each type is listed in this module's
    docstring. Raises `InvalidArgumentError` naming the row when a value breaks the Variant encoding, and
    for an input that is not such a struct (a shredded variant with ``typed_value`` included).

    Example::

        table = lakehouse.DeltaTable(path).to_arrow()
        json_text = lakehouse.variant_to_json(table.column("v"))
    """
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([variant_to_json(c) for c in array.chunks], type=pa.string())
    if not isinstance(array, pa.Array):
        raise InvalidArgumentError(f"variant_to_json needs a pyarrow Array, got {type(array).__name__}")
    names = [array.type.field(i).name for i in range(array.type.num_fields)] if pa.types.is_struct(array.type) else []
    if sorted(names) != ["metadata", "value"]:
        raise InvalidArgumentError(
            f"variant_to_json needs a struct of 'metadata' and 'value' binaries, got {arrow_type_name(array.type)}")
    metadata = array.field(names.index("metadata")).to_pylist()
    values = array.field(names.index("value")).to_pylist()
    valid = array.is_valid().to_pylist()
    out: list[str | None] = []
    cache: dict[bytes, list[str]] = {}  # rows of one writer usually share a few metadata buffers
    for row, (ok, md, val) in enumerate(zip(valid, metadata, values)):
        if not ok:
            out.append(None)
            continue
        if md is None or val is None:
            raise InvalidArgumentError(f"variant row {row} has a null 'metadata' or 'value'")
        try:
            keys = cache.get(md)
            if keys is None:
                keys = cache[md] = _json_keys(_parse_metadata(md))
        except _Bad as e:
            raise InvalidArgumentError(f"invalid variant metadata in row {row}: {e}") from None
        try:
            out.append(_value_json(keys, val))
        except _Bad as e:
            raise InvalidArgumentError(f"invalid variant value in row {row}: {e}") from None
    return av.array(out, type=pa.string())


def is_variant_struct(t: DataType) -> bool:
    """Whether Delta type ``t`` (as `from_arrow_type` maps Arrow data) is the unshredded form of a variant:
    exactly the binary fields ``metadata`` and ``value``, in either order. Arrow has no variant type, so
    this is how data written to a `variant` column is recognised."""
    return (isinstance(t, StructType) and sorted(t.names) == ["metadata", "value"]
            and all(f.type == PrimitiveType("binary") for f in t.fields))


def has_variant(fields: Sequence[StructField]) -> bool:
    """Whether any of ``fields`` is or holds a `variant`. Such columns are read file by file, through
    `conform_variant`: a shredded file keeps part of each value in ``typed_value``, which an Arrow dataset
    projecting the file onto `struct<metadata, value>` would silently drop."""
    return any(t == VARIANT for f in fields for _, t in walk_types(f.type))


def conform_variant(arr: pa.Array, path: str, *, where: str = "a data file") -> pa.Array:
    """An unshredded variant column as `VARIANT_ARROW`, its ``metadata`` and ``value`` bytes unchanged.

    Used on what a data file stores (reads) and on the data given to a write (``where`` names which, for
    messages). The children are matched by name (PROTOCOL.md "Variant data in Parquet" fixes the names, not
    the order) and any binary layout (large, view) becomes ``binary``. A shredded variant (a ``typed_value``
    child) is rebuilt in its unshredded form (`lakehouse.protocol.variant_shredding.unshred`, which names
    what breaks the shredding spec in a `ShreddingError`). Refused, naming the column ``path``: anything
    else that is not a struct of the two binaries, and a null ``metadata`` or ``value`` in a non-null row
    (`SchemaMismatchError`).
    """
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([conform_variant(c, path, where=where) for c in arr.chunks], type=VARIANT_ARROW)
    names = [arr.type.field(i).name for i in range(arr.type.num_fields)] if pa.types.is_struct(arr.type) else []
    if "typed_value" in names:
        # A shredded variant (PROTOCOL.md "Variant Shredding"): rebuilt as its unshredded form.
        from lakehouse.protocol.variant_shredding import unshred

        return unshred(arr, path)
    children = []
    for want in VARIANT_ARROW:
        child = arr.field(names.index(want.name)) if want.name in names else None
        if child is None or not (pa.types.is_binary(child.type) or pa.types.is_large_binary(child.type)
                                 or pa.types.is_binary_view(child.type)):
            raise SchemaMismatchError(
                f"variant column '{path}' is {arrow_type_name(arr.type)} in {where}, not a struct of binary 'metadata' and "
                "'value' (PROTOCOL.md \"Variant data in Parquet\")")
        if child.null_count and pc.any(pc.and_(arr.is_valid(), child.is_null())).as_py():
            raise SchemaMismatchError(
                f"variant column '{path}' has a null '{want.name}' in a non-null row of {where}; a variant needs "
                "both binaries (a SQL NULL variant is a null struct)")
        child = child if child.type == want.type else child.cast(want.type)
        if child.null_count:
            # Only under null rows (checked above), where the bytes mean nothing: empty bytes there keep the
            # child valid for the non-null field type (Arrow checks child nulls whatever the parent says).
            child = pc.fill_null(child, av.scalar(b"", pa.binary()))
        children.append(child)
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(VARIANT_ARROW), mask=mask)
