"""Unit tests of `lakehouse.protocol.variant`: the Parquet Variant binary encoding decoded to JSON text.

Every value below is encoded by hand from Parquet `VariantEncoding.md` (header byte = basic type in bits
0-1 and the type-specific header in bits 2-7; primitive header = the type id), and every expected JSON
text is written out by hand, not produced by another encoder.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.variant import parse_metadata, variant_json

# Metadata with an empty dictionary: version 1, offset_size 1, dictionary_size 0, one offset (0).
EMPTY = bytes([0x01, 0x00, 0x00])


def le(n: int, size: int) -> bytes:
    return n.to_bytes(size, "little", signed=n < 0)


def prim(type_id: int, data: bytes = b"") -> bytes:
    return bytes([type_id << 2]) + data


@pytest.mark.parametrize("value,expected", [
    (bytes([0x00]), "null"),                                             # 0 null
    (bytes([0x04]), "true"),                                             # 1 boolean true
    (bytes([0x08]), "false"),                                            # 2 boolean false
    (bytes([0x0C, 0xFB]), "-5"),                                         # 3 int8
    (bytes([0x0C, 0x7F]), "127"),
    (bytes([0x10, 0x39, 0x30]), "12345"),                                # 4 int16 (0x3039)
    (bytes([0x10, 0x00, 0x80]), "-32768"),
    (bytes([0x14, 0x00, 0x00, 0x00, 0x80]), "-2147483648"),              # 5 int32
    (bytes([0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), "9223372036854775807"),  # 6 int64
    (bytes([0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80]), "-9223372036854775808"),
    (bytes([0x1C, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]), "1.5"),                 # 7 double 0x3FF8000000000000
    (bytes([0x1C, 0, 0, 0, 0, 0, 0, 0, 0x80]), "-0.0"),
    (bytes([0x1C, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F]), '"NaN"'),
    (bytes([0x1C, 0, 0, 0, 0, 0, 0, 0xF0, 0xFF]), '"-Infinity"'),
    (bytes([0x1C, 0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F]), "0.1"),  # 0x3FB999999999999A
    (bytes([0x20, 0x02, 0x39, 0x30, 0x00, 0x00]), "123.45"),             # 8 decimal4, scale 2, 12345
    (bytes([0x20, 0x03, 0xFB, 0xFF, 0xFF, 0xFF]), "-0.005"),             # scale 3, -5
    (bytes([0x20, 0x02, 0xDC, 0x05, 0x00, 0x00]), "15"),                 # scale 2, 1500: zeros stripped
    (bytes([0x20, 0x00, 0x00, 0x00, 0x00, 0x00]), "0"),
    (bytes([0x24, 0x00, 0xCB, 0x04, 0xFB, 0x71, 0x1F, 0x01, 0x00, 0x00]), "1234567890123"),  # 9 decimal8
    (bytes([0x24, 0x04, 0xCB, 0x04, 0xFB, 0x71, 0x1F, 0x01, 0x00, 0x00]), "123456789.0123"),
    # 10 decimal16: scale 10, unscaled 10**20 + 1 = 0x56BC75E2D63100001
    (bytes([0x28, 0x0A, 0x01, 0x00, 0x10, 0x63, 0x2D, 0x5E, 0xC7, 0x6B, 0x05] + [0] * 7),
     "10000000000.0000000001"),
    (bytes([0x28, 0x26] + [0xFF] * 16), "-0.00000000000000000000000000000000000001"),  # scale 38, -1
    (bytes([0x2C, 0x0B, 0x4D, 0x00, 0x00]), '"2024-01-01"'),             # 11 date, 19723 days
    (bytes([0x2C, 0xFF, 0xFF, 0xFF, 0xFF]), '"1969-12-31"'),
    (bytes([0x2C]) + le(2932897, 4), '"+10000-01-01"'),                  # the day after 9999-12-31
    (bytes([0x2C]) + le(-719529, 4), '"-0001-12-31"'),                  # the day before 0000-01-01
    # 12 timestamp (UTC, micros): 1704067200123456 = 2024-01-01 00:00:00.123456
    (bytes([0x30, 0x40, 0x02, 0x23, 0x10, 0xD7, 0x0D, 0x06, 0x00]), '"2024-01-01 00:00:00.123456+00:00"'),
    (bytes([0x34]) + le(0, 8), '"1970-01-01 00:00:00"'),                 # 13 timestamp_ntz (micros)
    (bytes([0x34]) + le(-1, 8), '"1969-12-31 23:59:59.999999"'),
    (bytes([0x34]) + le(1_500_000, 8), '"1970-01-01 00:00:01.5"'),
    (bytes([0x38, 0xCD, 0xCC, 0x8C, 0x3F]), "1.1"),                      # 14 float 0x3F8CCCCD
    (bytes([0x38, 0x00, 0x00, 0x80, 0x3F]), "1.0"),
    (bytes([0x38, 0x00, 0x00, 0xC0, 0x7F]), '"NaN"'),
    (bytes([0x38, 0x00, 0x00, 0x80, 0x7F]), '"Infinity"'),
    (bytes([0x3C, 0x03, 0, 0, 0, 0x00, 0xFF, 0x10]), '"AP8Q"'),           # 15 binary: base64 of 00 FF 10
    (bytes([0x3C, 0x00, 0, 0, 0]), '""'),
    (bytes([0x40, 0x06, 0, 0, 0]) + "héllo".encode(), '"héllo"'),       # 16 string (h c3a9 l l o)
    (bytes([0x40, 0x04, 0, 0, 0]) + b'a"b\n', '"a\\"b\\n"'),
    (bytes([0x44]) + le(3_723_000_001, 8), '"01:02:03.000001"'),         # 17 time (micros)
    (bytes([0x48]) + le(1, 8), '"1970-01-01 00:00:00.000000001+00:00"'),  # 18 timestamp (UTC, nanos)
    (bytes([0x4C]) + le(1_500_000_000, 8), '"1970-01-01 00:00:01.5"'),   # 19 timestamp_ntz (nanos)
    (bytes([0x50]) + bytes.fromhex("00112233445566778899aabbccddeeff"),  # 20 uuid, big-endian
     '"00112233-4455-6677-8899-aabbccddeeff"'),
    (bytes([0x01]), '""'),                                               # short string, length 0
    (bytes([0x0D]) + b"abc", '"abc"'),                                   # short string, (3 << 2) | 1
    (bytes([0xFD]) + b"x" * 63, '"' + "x" * 63 + '"'),                   # short string, length 63
])
def test_primitives_and_short_strings(value, expected):
    assert variant_json(EMPTY, value) == expected


# Metadata with keys a, b, c: version 1 + sorted_strings (0x11), size 3, offsets 0 1 2 3, "abc".
ABC = bytes([0x11, 0x03, 0x00, 0x01, 0x02, 0x03]) + b"abc"


def test_metadata_dictionary():
    assert parse_metadata(ABC) == ["a", "b", "c"]
    assert parse_metadata(EMPTY) == []
    # offset_size 4 (header bits 6-7 = 3): 0xC1; two keys "key", "" (empty keys are allowed).
    wide = bytes([0xC1]) + le(2, 4) + le(0, 4) + le(3, 4) + le(3, 4) + b"key"
    assert parse_metadata(wide) == ["key", ""]


def test_object_in_key_order():
    # {"a": 1, "b": "x", "c": null}: header 0x02 (object, 1-byte ids and offsets), 3 elements, ids 0 1 2,
    # values int8 1 (2 bytes), short string "x" (2 bytes), null (1 byte): offsets 0 2 4 5.
    value = bytes([0x02, 0x03, 0, 1, 2, 0, 2, 4, 5, 0x0C, 0x01, 0x05, ord("x"), 0x00])
    assert variant_json(ABC, value) == '{"a":1,"b":"x","c":null}'


def test_object_values_stored_out_of_key_order():
    # Same object, values stored c, a, b: null at 0, int8 at 1, string at 3, end 5.
    value = bytes([0x02, 0x03, 0, 1, 2, 1, 3, 0, 5, 0x00, 0x0C, 0x01, 0x05, ord("x")])
    assert variant_json(ABC, value) == '{"a":1,"b":"x","c":null}'


def test_nested_arrays_and_objects():
    # {"a": [1, {"b": true}, []], "c": {}}
    inner_obj = bytes([0x02, 0x01, 1, 0, 1, 0x04])              # {"b": true}
    empty_arr = bytes([0x03, 0x00, 0x00])                       # []: array header 0x03, 0 elements, offset 0
    arr = bytes([0x03, 0x03, 0, 2, 8, 11, 0x0C, 0x01]) + inner_obj + empty_arr
    assert len(inner_obj) == 6 and len(arr) == 8 + 6 + 3
    empty_obj = bytes([0x02, 0x00, 0x00])
    top = bytes([0x02, 0x02, 0, 2, 0, len(arr), len(arr) + 3]) + arr + empty_obj
    assert variant_json(ABC, top) == '{"a":[1,{"b":true},[]],"c":{}}'


def test_large_headers_and_wide_offsets():
    # An object with is_large (4-byte count), 4-byte field ids and 4-byte offsets:
    # value_header = is_large << 4 | (4-1) << 2 | (4-1) = 0x1F, so the byte is 0x1F << 2 | 2 = 0x7E.
    obj = bytes([0x7E]) + le(1, 4) + le(2, 4) + le(0, 4) + le(1, 4) + bytes([0x08])
    assert variant_json(ABC, obj) == '{"c":false}'
    # An array of 300 int8 values needs is_large; its 600 value bytes need 2-byte offsets:
    # value_header = 1 << 2 | (2-1) = 0x05, byte 0x05 << 2 | 3 = 0x17.
    values = b"".join(bytes([0x0C, i % 128]) for i in range(300))
    arr = bytes([0x17]) + le(300, 4) + b"".join(le(2 * i, 2) for i in range(301)) + values
    assert variant_json(EMPTY, arr) == "[" + ",".join(str(i % 128) for i in range(300)) + "]"
    # Two 40,000-byte long strings (type 16) need 3-byte offsets: header (3-1) = 0x02, byte 0x0B.
    s1, s2 = prim(16, le(40_000, 4) + b"x" * 40_000), prim(16, le(40_000, 4) + b"y" * 40_000)
    arr3 = bytes([0x0B, 0x02]) + le(0, 3) + le(len(s1), 3) + le(len(s1) + len(s2), 3) + s1 + s2
    assert variant_json(EMPTY, arr3) == '["' + "x" * 40_000 + '","' + "y" * 40_000 + '"]'


def test_object_with_two_byte_field_ids_into_a_large_dictionary():
    # 300 keys k000..k299 with 2-byte dictionary offsets (header (2-1) << 6 | 1 = 0x41).
    keys = [f"k{i:03d}" for i in range(300)]
    md = bytes([0x41]) + le(300, 2) + b"".join(le(4 * i, 2) for i in range(301)) + "".join(keys).encode()
    # {"k299": 7}: object with 2-byte field ids: value_header (2-1) << 2 = 0x04, byte 0x04 << 2 | 2 = 0x12.
    value = bytes([0x12, 0x01]) + le(299, 2) + bytes([0, 2, 0x0C, 7])
    assert variant_json(md, value) == '{"k299":7}'


def test_deep_nesting_does_not_recurse():
    # 5,000 nested single-element arrays around a null: [[[...null...]]]
    value = bytes([0x00])
    for _ in range(5000):
        value = bytes([0x0F, 0x01]) + le(0, 4) + le(len(value), 4) + value  # 4-byte offsets: (0x03 << 2) | 3
    assert variant_json(EMPTY, value) == "[" * 5000 + "null" + "]" * 5000


@pytest.mark.parametrize("metadata,value,message", [
    (bytes([0x02, 0x00, 0x00]), bytes([0x00]), "metadata version 2 is not 1"),
    (b"", bytes([0x00]), "metadata is empty"),
    (bytes([0x01, 0x05, 0x00]), bytes([0x00]), "run past the end"),
    (bytes([0x01, 0x01, 0x00, 0x02, 0xFF]), bytes([0x00]), "dictionary string 0"),
    (bytes([0x01, 0x01, 0x00, 0x01, 0xFF]), bytes([0x00]), "not valid UTF-8"),
    (EMPTY, b"", "at or past its end"),
    (EMPTY, bytes([0x14, 0x01, 0x02]), "needs 4 bytes"),
    (EMPTY, bytes([0x54]), "primitive type id 21"),
    (EMPTY, bytes([0x0D]) + b"ab", "short string of 3 bytes"),
    (EMPTY, bytes([0x40, 0x09, 0, 0, 0]) + b"abc", "9-byte string"),
    (EMPTY, bytes([0x20, 0x27, 0, 0, 0, 0]), "decimal scale 39"),
    (EMPTY, bytes([0x02, 0x01, 0x00, 0x00, 0x01, 0x00]), "field id 0"),
    (EMPTY, bytes([0x03, 0x02, 0x00, 0x01, 0x09, 0x00, 0x00]), "past its end"),
    (ABC, bytes([0x02, 0x01, 0x00, 0x05, 0x03, 0x00, 0x00, 0x00]), "starts at 5"),
])
def test_malformed_bytes_are_one_clear_error(metadata, value, message):
    with pytest.raises(InvalidArgumentError, match=message):
        variant_json(metadata, value)


VARIANT = pa.struct([pa.field("metadata", pa.binary(), nullable=False), pa.field("value", pa.binary(), nullable=False)])


def test_variant_to_json_on_arrow_columns():
    rows = [{"metadata": ABC, "value": bytes([0x02, 0x01, 0, 0, 2, 0x0C, 0x2A])}, None,
            {"metadata": EMPTY, "value": bytes([0x0D]) + b"abc"}]
    arr = pa.array(rows, type=VARIANT)
    got = lakehouse.variant_to_json(arr)
    assert got.type == pa.string()
    assert got.to_pylist() == ['{"a":42}', None, '"abc"']
    assert [orjson.loads(t) if t else None for t in got.to_pylist()] == [{"a": 42}, None, "abc"]
    chunked = lakehouse.variant_to_json(pa.chunked_array([arr.slice(0, 1), arr.slice(1)]))
    assert isinstance(chunked, pa.ChunkedArray) and chunked.to_pylist() == got.to_pylist()
    # Children in the other order and in large/view binary layouts are the same variant.
    other = pa.StructArray.from_arrays(
        [pa.array([bytes([0x04])], pa.large_binary()), pa.array([EMPTY], pa.binary_view())], names=["value", "metadata"])
    assert lakehouse.variant_to_json(other).to_pylist() == ["true"]


def test_variant_to_json_refuses_other_input_and_names_the_bad_row():
    with pytest.raises(InvalidArgumentError, match="struct of 'metadata' and 'value'"):
        lakehouse.variant_to_json(pa.array([1, 2]))
    shredded = pa.StructArray.from_arrays([pa.array([EMPTY]), pa.array([None], pa.binary()), pa.array([1])],
                                          names=["metadata", "value", "typed_value"])
    with pytest.raises(InvalidArgumentError, match="struct of 'metadata' and 'value'"):
        lakehouse.variant_to_json(shredded)
    bad = pa.array([{"metadata": EMPTY, "value": bytes([0x00])}, {"metadata": EMPTY, "value": bytes([0x54])}], type=VARIANT)
    with pytest.raises(InvalidArgumentError, match="row 1: primitive type id 21"):
        lakehouse.variant_to_json(bad)
