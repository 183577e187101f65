"""Loading deletion vectors from the log or from storage, and turning them into row masks
(PROTOCOL.md "Reader Requirements for Deletion Vectors").

The byte formats live in `lakehouse.protocol.dv`; this module only fetches the bytes the descriptor
points at (inline, a UUID-derived file under the table root, or an absolute path inside the table root).
"""

from __future__ import annotations

import numpy as np

from lakehouse.errors import DataFileNotFoundError, InvalidDeletionVectorError
from lakehouse.protocol.actions import DeletionVectorDescriptor
from lakehouse.protocol.dv import (
    check_cardinality,
    decode_bitmap,
    inline_dv_bytes,
    relative_dv_path,
    unframe_dv,
)
from lakehouse.protocol.paths import resolve_relative
from lakehouse.storage.base import Storage


def dv_file_path(dv: DeletionVectorDescriptor, root_uri: str, *, version: int | None = None) -> str | None:
    """Root-relative path of the file holding an on-disk DV (None for inline DVs).

    Both on-disk storage types go through the same containment check as data files: a ``u`` DV's
    prefix (the text before its 20-character UUID) is joined as a directory, so a prefix such as
    ``../victim`` would otherwise name a file of another table, which VACUUM would then delete.
    """
    if dv.storage_type == "i":
        return None
    if dv.storage_type == "u":
        return resolve_relative(relative_dv_path(dv), root_uri, kind="deletion vector", version=version)
    if dv.storage_type == "p":
        return resolve_relative(dv.path_or_inline_dv, root_uri, kind="deletion vector", version=version)
    raise InvalidDeletionVectorError(f"unknown deletion vector storageType {dv.storage_type!r}")


def load_deleted_rows(storage: Storage, dv: DeletionVectorDescriptor, *, data_path: str = "",
                      version: int | None = None) -> np.ndarray:
    """The sorted row indexes a DV marks as deleted, checked against its checksum and cardinality."""
    where = f"of {data_path}" if data_path else ""
    rel = dv_file_path(dv, storage.root_uri, version=version)
    if rel is None:
        raw = inline_dv_bytes(dv)
    else:
        where = f"{rel} (for {data_path})" if data_path else rel
        try:
            blob = storage.read_range(rel, dv.offset or 1, dv.size_in_bytes + 8)
        except DataFileNotFoundError:
            raise DataFileNotFoundError(
                f"deletion vector file {rel} referenced by {data_path or 'the log'} is missing", path=rel
            ) from None
        raw = unframe_dv(blob, dv, where=where)
    rows = decode_bitmap(raw, where=where)
    check_cardinality(rows, dv, where=where)
    return rows


def keep_mask(deleted: np.ndarray, num_rows: int, *, data_path: str = "") -> np.ndarray:
    """Boolean mask of the rows a DV leaves in a file of ``num_rows`` rows."""
    if len(deleted) and int(deleted[-1]) >= num_rows:
        raise InvalidDeletionVectorError(
            f"deletion vector of {data_path} deletes row {int(deleted[-1])}, but the file has {num_rows} rows"
        )
    keep = np.ones(num_rows, dtype=bool)
    keep[deleted.astype(np.int64)] = False
    return keep
