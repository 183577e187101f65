"""The I/O side of row tracking at commit time (spec/row-tracking.md): which active files a commit that
enables row tracking must re-add with row ids (the backfill, PROTOCOL.md "Writer Requirements for Row
Tracking"), and the row count of a file whose statistics lack `numRecords` (read from its footer).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Collection

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.errors import StorageError
from lakehouse.protocol.actions import Add, file_key
from lakehouse.protocol.file_table import table_to_adds
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.replay import canonical_path
from lakehouse.protocol.row_tracking import num_records
from lakehouse.storage.base import Storage


def with_num_records(storage: Storage, add: Add) -> Add:
    """``add`` with `numRecords` in its statistics, read from the file's Parquet footer when missing."""
    if num_records(add) is not None:
        return add
    rel = resolve_relative(add.path, storage.root_uri, kind="data file")
    fs, root = storage.arrow_filesystem()
    try:
        rows = pq.ParquetFile(f"{root}/{rel}", filesystem=fs).metadata.num_rows
    except (OSError, pa.ArrowException) as e:
        raise StorageError(f"cannot read the footer of data file {rel} to count its rows: {e}", path=rel,
                           operation="read") from None
    try:
        stats = orjson.loads(add.stats) if add.stats else {}
    except orjson.JSONDecodeError:
        stats = {}
    if not isinstance(stats, dict):
        stats = {}
    stats["numRecords"] = rows
    return replace(add, stats=orjson.dumps(stats).decode())


def backfill(storage: Storage, active: pa.Table, skip: Collection[tuple[str, str | None]]) -> list[Add]:
    """Re-adds (``dataChange=false``) of the ``active`` files (a snapshot's file table) that lack
    `baseRowId` or `defaultRowCommitVersion`, except those whose key is in ``skip`` (removed or re-added by
    the same commit); the transaction assigns the missing fields."""
    if active.num_rows == 0:
        return []
    lacking = pc.or_(pc.is_null(active.column("baseRowId")), pc.is_null(active.column("defaultRowCommitVersion")))
    out = []
    for add in table_to_adds(active.filter(lacking)):
        if file_key(canonical_path(add.path), add.deletion_vector) in skip:
            continue
        out.append(with_num_records(storage, replace(add, data_change=False)))
    return out
