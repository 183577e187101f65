"""Unit tests of `lakehouse.protocol.dv` (PROTOCOL.md "Deletion Vectors", "Deletion Vector Format",
"Deletion Vector File Storage Format")."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidDeletionVectorError, LakehouseError
from lakehouse.protocol.actions import DeletionVectorDescriptor
from lakehouse.protocol.dv import (
    MAGIC,
    check_cardinality,
    decode_bitmap,
    encode_bitmap,
    inline_dv_bytes,
    relative_dv_path,
    unframe_dv,
    z85_decode,
    z85_encode,
)


def test_z85_spec_vector():
    # The test vector of the Z85 specification (rfc.zeromq.org/spec/32).
    data = bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
    assert z85_encode(data) == "HelloWorld"
    assert z85_decode("HelloWorld") == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64).map(lambda b: b[: len(b) - len(b) % 4]))
def test_z85_round_trip(data):
    text = z85_encode(data)
    assert len(text) == len(data) // 4 * 5
    assert z85_decode(text) == data


@pytest.mark.parametrize("text", ["abcd", "abcdef", "abc\x00e", "abc e", "abc\"e", "#####"])
def test_z85_bad_input(text):
    with pytest.raises(InvalidDeletionVectorError):
        z85_decode(text)


def test_z85_encode_needs_multiple_of_4():
    with pytest.raises(ValueError):
        z85_encode(b"abc")


def test_relative_dv_path_protocol_example_1():
    dv = DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", size_in_bytes=40, cardinality=6, offset=4)
    assert relative_dv_path(dv) == "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"


def test_relative_dv_path_without_prefix():
    dv = DeletionVectorDescriptor("u", "^-aqEH.-t@S}K{vb[*k^", size_in_bytes=40, cardinality=6, offset=4)
    assert relative_dv_path(dv) == "deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"


@pytest.mark.parametrize("pod", ["short", "ab^-aqEH.-t@S}K{vb[* ^"])
def test_relative_dv_path_bad(pod):
    with pytest.raises(InvalidDeletionVectorError):
        relative_dv_path(DeletionVectorDescriptor("u", pod, size_in_bytes=40, cardinality=6, offset=4))


def test_inline_dv_portable_format():
    # An inline DV in the portable layout (magic 1681511377) with a size that is not a multiple of 4, so
    # the Z85 text carries padding; delta-spark reads it as rows 1, 3, 5.
    dv = DeletionVectorDescriptor("i", "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", size_in_bytes=38, cardinality=3)
    raw = inline_dv_bytes(dv)
    assert len(raw) == 38
    rows = decode_bitmap(raw)
    assert rows.tolist() == [1, 3, 5]
    check_cardinality(rows, dv)
    with pytest.raises(InvalidDeletionVectorError):
        check_cardinality(rows, DeletionVectorDescriptor("i", dv.path_or_inline_dv, 38, 4))


def test_inline_dv_protocol_example_3_native_layout_is_refused():
    # PROTOCOL.md "JSON Example 3" holds the legacy Native layout (big-endian magic 1681511376), which
    # delta-spark's reader refuses too; it must fail as a typed error, not decode to garbage.
    dv = DeletionVectorDescriptor("i", "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", size_in_bytes=40, cardinality=6)
    with pytest.raises(InvalidDeletionVectorError, match="magic"):
        decode_bitmap(inline_dv_bytes(dv))


def test_inline_dv_round_trip():
    data = encode_bitmap([3, 4, 7, 11, 18, 29])
    padded = data + b"\0" * (-len(data) % 4)
    dv = DeletionVectorDescriptor("i", z85_encode(padded), size_in_bytes=len(data), cardinality=6)
    assert decode_bitmap(inline_dv_bytes(dv)).tolist() == [3, 4, 7, 11, 18, 29]


def test_inline_dv_shorter_than_size():
    dv = DeletionVectorDescriptor("i", "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", size_in_bytes=41, cardinality=3)
    with pytest.raises(InvalidDeletionVectorError):
        inline_dv_bytes(dv)


ROWS = st.lists(
    st.one_of(
        st.integers(0, 2**16),
        st.integers(0, 2**32 + 10),
        st.integers(2**32 - 5, 2**33),
        st.integers(0, 2**63 - 1),  # keys must keep their most significant bit 0
    ),
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(ROWS)
def test_bitmap_round_trip(rows):
    data = encode_bitmap(rows)
    assert struct.unpack_from("<i", data)[0] == MAGIC
    got = decode_bitmap(data)
    assert got.dtype == np.uint64
    assert got.tolist() == sorted(set(rows))


def test_bitmap_round_trip_dense_and_beyond_32_bits():
    rows = list(range(0, 70000)) + [2**32, 2**32 + 1, 2**40 + 7]
    assert decode_bitmap(encode_bitmap(np.array(rows, dtype=np.uint64))).tolist() == rows


def test_bad_magic():
    data = bytearray(encode_bitmap([1, 2, 3]))
    data[0] ^= 0xFF
    with pytest.raises(InvalidDeletionVectorError, match="magic"):
        decode_bitmap(bytes(data), where="x.bin")


@pytest.mark.parametrize("cut", [0, 2, 4, 5, 8, 12, -3, -1])
def test_truncated_bitmap(cut):
    data = encode_bitmap([1, 2, 3, 2**33])
    with pytest.raises(LakehouseError) as exc_info:
        decode_bitmap(data[:cut], where="x.bin")
    assert isinstance(exc_info.value, InvalidDeletionVectorError)


def test_garbage_bitmap():
    data = struct.pack("<i", MAGIC) + b"\xff" * 40
    with pytest.raises(InvalidDeletionVectorError):
        decode_bitmap(data)


def _frame(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data + struct.pack(">I", zlib.crc32(data))


def _dv(size: int, card: int = 3) -> DeletionVectorDescriptor:
    return DeletionVectorDescriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", size_in_bytes=size, cardinality=card, offset=1)


def test_unframe_ok_and_trailing_bytes_ignored():
    data = encode_bitmap([1, 5, 9])
    blob = _frame(data)
    assert unframe_dv(blob, _dv(len(data))) == data
    assert unframe_dv(blob + _frame(b"next dv!"), _dv(len(data))) == data


def test_unframe_bad_checksum():
    data = encode_bitmap([1, 5, 9])
    blob = bytearray(_frame(data))
    blob[-1] ^= 0x01
    with pytest.raises(InvalidDeletionVectorError, match="CRC"):
        unframe_dv(bytes(blob), _dv(len(data)), where="dv.bin")
    blob = bytearray(_frame(data))
    blob[6] ^= 0x01  # corrupt the bitmap bytes instead
    with pytest.raises(InvalidDeletionVectorError):
        unframe_dv(bytes(blob), _dv(len(data)))


def test_unframe_wrong_size():
    data = encode_bitmap([1, 5, 9])
    with pytest.raises(InvalidDeletionVectorError, match="declares"):
        unframe_dv(_frame(data), _dv(len(data) + 1))


@pytest.mark.parametrize("keep", [0, 3, 7, 10, -1])
def test_unframe_truncated(keep):
    data = encode_bitmap([1, 5, 9])
    blob = _frame(data)
    with pytest.raises(InvalidDeletionVectorError):
        unframe_dv(blob[:keep] if keep >= 0 else blob[:keep], _dv(len(data)))


@pytest.mark.parametrize("rows", [[0], [5, 7, 1 << 20], list(range(0, 200_000, 3)), [(1 << 32) - 1], [3, 1 << 32],
                                  [1 << 40, 2]])
def test_encode_bitmap_matches_the_portable_64_bit_format(rows):
    """The one-bucket fast path writes the bytes pyroaring's BitMap64 writes; values past 32 bits take
    BitMap64 itself. Either way the bitmap decodes to the same rows."""
    from pyroaring import BitMap64

    data = encode_bitmap(np.array(rows, dtype=np.uint64))
    assert data == struct.pack("<i", MAGIC) + BitMap64(rows).serialize()
    assert decode_bitmap(data).tolist() == sorted(rows)
