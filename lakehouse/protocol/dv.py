"""Deletion vector decoding (PROTOCOL.md "Deletion Vectors", "Deletion Vector Format",
"Deletion Vector File Storage Format").

Pure byte-level logic: Z85 (base85) decoding, the path derived from a UUID, the RoaringBitmapArray with
its magic number, and the on-disk framing with its CRC-32. Reading the bytes is the caller's job.
"""

from __future__ import annotations

import array
import struct
import uuid
import zlib

import numpy as np
from pyroaring import BitMap, BitMap64

from lakehouse.errors import InvalidDeletionVectorError
from lakehouse.protocol.actions import DeletionVectorDescriptor

MAGIC = 1681511377
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX = {c: i for i, c in enumerate(_Z85)}


def z85_decode(text: str) -> bytes:
    """Decode Z85 text (the base85 alphabet Delta uses); length must be a multiple of 5."""
    if len(text) % 5:
        raise InvalidDeletionVectorError(f"base85 text has length {len(text)}, not a multiple of 5")
    out = bytearray()
    for i in range(0, len(text), 5):
        value = 0
        for ch in text[i : i + 5]:
            digit = _Z85_INDEX.get(ch)
            if digit is None:
                raise InvalidDeletionVectorError(f"character {ch!r} is not in the base85 alphabet")
            value = value * 85 + digit
        if value > 0xFFFFFFFF:
            raise InvalidDeletionVectorError("base85 group overflows 32 bits")
        out += value.to_bytes(4, "big")
    return bytes(out)


def z85_encode(data: bytes) -> str:
    """Encode bytes (length a multiple of 4) as Z85 text."""
    if len(data) % 4:
        raise ValueError("Z85 input length must be a multiple of 4")
    chars: list[str] = []
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i : i + 4], "big")
        group = []
        for _ in range(5):
            value, r = divmod(value, 85)
            group.append(_Z85[r])
        chars.extend(reversed(group))
    return "".join(chars)


def relative_dv_path(dv: DeletionVectorDescriptor) -> str:
    """Table-relative path of a ``storageType='u'`` DV file: ``<prefix>/deletion_vector_<uuid>.bin``."""
    encoded = dv.path_or_inline_dv
    if len(encoded) < 20:
        raise InvalidDeletionVectorError(f"DV path {encoded!r} is shorter than a 20-character encoded UUID")
    prefix, tail = encoded[:-20], encoded[-20:]
    u = uuid.UUID(bytes=z85_decode(tail))
    name = f"deletion_vector_{u}.bin"
    return f"{prefix}/{name}" if prefix else name


def decode_bitmap(data: bytes, *, where: str = "") -> np.ndarray:
    """Decode a RoaringBitmapArray (magic number + portable 64-bit roaring) into sorted row indexes."""
    if len(data) < 4:
        raise InvalidDeletionVectorError(f"deletion vector {where} is too short ({len(data)} bytes)")
    magic = struct.unpack_from("<i", data, 0)[0]
    if magic != MAGIC:
        raise InvalidDeletionVectorError(f"deletion vector {where} has magic number {magic}, expected {MAGIC}")
    try:
        bitmap = BitMap64.deserialize(data[4:])
    except (ValueError, OverflowError, IndexError, MemoryError) as e:
        raise InvalidDeletionVectorError(f"deletion vector {where} does not decode as a roaring bitmap: {e}") from None
    return np.frombuffer(bitmap.to_array(), dtype=np.uint64)  # array('Q'): no per-row Python


def encode_bitmap(rows: "np.ndarray | list[int]") -> bytes:
    """Serialise row indexes as a RoaringBitmapArray (magic number + portable 64-bit roaring)."""
    values = np.asarray(rows, dtype=np.uint64)
    if len(values) and int(values.max()) < 1 << 32:
        # One 32-bit bucket (every file under 4 billion rows): the portable 64-bit format is the bucket
        # count, the bucket's high 32 bits and the 32-bit bitmap, built from the array without a Python loop.
        low = BitMap(array.array("I", values.astype(np.uint32).tobytes()))
        return struct.pack("<iQI", MAGIC, 1, 0) + low.serialize()
    bitmap = BitMap64(int(r) for r in values)
    return struct.pack("<i", MAGIC) + bitmap.serialize()


def unframe_dv(blob: bytes, dv: DeletionVectorDescriptor, *, where: str = "") -> bytes:
    """Check and strip the on-disk framing of one DV read at its offset: size (BE), data, CRC-32 (BE)."""
    if len(blob) < 8:
        raise InvalidDeletionVectorError(f"deletion vector {where} is truncated ({len(blob)} bytes)")
    size = struct.unpack_from(">i", blob, 0)[0]
    if size != dv.size_in_bytes:
        raise InvalidDeletionVectorError(
            f"deletion vector {where} declares {size} bytes but the log says {dv.size_in_bytes}"
        )
    if len(blob) < 8 + size:
        raise InvalidDeletionVectorError(f"deletion vector {where} is truncated")
    data = blob[4 : 4 + size]
    checksum = struct.unpack_from(">I", blob, 4 + size)[0]
    if zlib.crc32(data) != checksum:
        raise InvalidDeletionVectorError(f"deletion vector {where} fails its CRC-32 checksum")
    return data


def inline_dv_bytes(dv: DeletionVectorDescriptor) -> bytes:
    """The RoaringBitmapArray bytes of an inline (``storageType='i'``) DV."""
    raw = z85_decode(dv.path_or_inline_dv)
    if len(raw) < dv.size_in_bytes:
        raise InvalidDeletionVectorError("inline deletion vector is shorter than its sizeInBytes")
    return raw[: dv.size_in_bytes]


def check_cardinality(rows: np.ndarray, dv: DeletionVectorDescriptor, *, where: str = "") -> None:
    """A decoded DV must hold exactly ``cardinality`` rows; anything else is a damaged log or file."""
    if len(rows) != dv.cardinality:
        raise InvalidDeletionVectorError(
            f"deletion vector {where} holds {len(rows)} rows but the log says cardinality {dv.cardinality}"
        )


# -- writing -------------------------------------------------------------------------------------------
INLINE_LIMIT = 64  # bytes of RoaringBitmapArray up to which a DV is stored inline in the log


def frame_dv(bitmap: bytes) -> bytes:
    """One DV in the on-disk framing: size (BE int32), RoaringBitmapArray, CRC-32 (BE)."""
    return struct.pack(">i", len(bitmap)) + bitmap + struct.pack(">I", zlib.crc32(bitmap))


def dv_file_bytes(bitmap: bytes) -> tuple[bytes, int]:
    """A DV file holding one DV: the format-version byte, then the framed DV; returns (bytes, offset)."""
    return b"\x01" + frame_dv(bitmap), 1


def encode_uuid_path(u: uuid.UUID, prefix: str = "") -> str:
    """``pathOrInlineDv`` for a ``storageType='u'`` DV: optional prefix + Z85 of the UUID's 16 bytes."""
    return prefix + z85_encode(u.bytes)


def descriptor_for(rows: np.ndarray, *, file_uuid: uuid.UUID | None = None, prefix: str = "") -> tuple[DeletionVectorDescriptor, bytes | None]:
    """The descriptor for deleting ``rows`` (sorted unique row indexes), and the DV file content when the
    DV is not stored inline (None for inline)."""
    bitmap = encode_bitmap(rows)
    cardinality = int(len(rows))
    max_row = int(rows[-1]) if cardinality else None
    if len(bitmap) <= INLINE_LIMIT:
        padded = bitmap + b"\x00" * (-len(bitmap) % 4)
        return DeletionVectorDescriptor("i", z85_encode(padded), len(bitmap), cardinality, None, max_row), None
    u = file_uuid or uuid.uuid4()
    content, offset = dv_file_bytes(bitmap)
    return DeletionVectorDescriptor("u", encode_uuid_path(u, prefix), len(bitmap), cardinality, offset, max_row), content
