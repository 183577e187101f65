"""Row tracking (PROTOCOL.md "Row Tracking"): fresh row ids and commit versions assigned to added files,
the `delta.rowTracking` high-water mark, the materialized columns that keep stable ids through rewrites.

Row tracking is **supported** when `rowTracking` is a writer feature: every file a writer adds gets a
`baseRowId` above the high-water mark (its rows' fresh ids are ``baseRowId + physical row index``) and a
`defaultRowCommitVersion` (the version of the commit adding it), unless `delta.rowTrackingSuspended`.
It is **enabled** when `delta.enableRowTracking=true` as well: then every active file has both fields, and
rows a writer copies or updates keep their stable id (and copied rows their commit version) in two
hidden columns named by the configuration (`materializedRowIdColumnName`, `...RowCommitVersionColumnName`).

Pure logic, no I/O: the transaction assigns at commit time (`assign_row_ids`, per attempt, so a retry
above a concurrent writer's ids takes new ones), the DML engine and OPTIMIZE carry the columns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError, InvalidLogError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add, DomainMetadata, Protocol

#: The writer feature of PROTOCOL.md "Row Tracking".
FEATURE = "rowTracking"
#: The domain holding ``{"rowIdHighWaterMark": n}``.
DOMAIN = "delta.rowTracking"
ENABLE_KEY = "delta.enableRowTracking"
SUSPENDED_KEY = "delta.rowTrackingSuspended"
ROW_ID_COLUMN_KEY = "delta.rowTracking.materializedRowIdColumnName"
COMMIT_VERSION_COLUMN_KEY = "delta.rowTracking.materializedRowCommitVersionColumnName"
#: The commitInfo tag saying every copied/updated row kept its stable id and version (PROTOCOL.md
#: "Writer Requirements for Row Tracking").
PRESERVED_TAG = "delta.rowTracking.preserved"
#: Metadata columns a read can ask for (Spark's `_metadata` struct fields, flattened).
METADATA_PREFIX = "_metadata."
ROW_ID = "row_id"
ROW_COMMIT_VERSION = "row_commit_version"
ROW_INDEX = "row_index"
FILE_PATH = "file_path"
METADATA_COLUMNS = (ROW_ID, ROW_COMMIT_VERSION, ROW_INDEX, FILE_PATH)


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class RowTracking:
    """What row tracking asks of a writer on one table version."""

    supported: bool = False
    enabled: bool = False
    suspended: bool = False
    row_id_column: str | None = None
    commit_version_column: str | None = None

    @staticmethod
    def of(protocol: Protocol, configuration: Mapping[str, str]) -> "RowTracking":
        """The row-tracking state of a protocol and a table configuration."""
        supported = protocol.min_writer_version >= 7 and FEATURE in (protocol.writer_features or ())
        return RowTracking(
            supported=supported, enabled=supported and _true(configuration.get(ENABLE_KEY)),
            suspended=_true(configuration.get(SUSPENDED_KEY)),
            row_id_column=configuration.get(ROW_ID_COLUMN_KEY) or None,
            commit_version_column=configuration.get(COMMIT_VERSION_COLUMN_KEY) or None)

    @property
    def assigns(self) -> bool:
        """Writers give new files `baseRowId` and `defaultRowCommitVersion`."""
        return self.supported and not self.suspended

    @property
    def materializes(self) -> bool:
        """Writers keep stable ids and versions of copied rows in the hidden columns."""
        return self.enabled and self.row_id_column is not None and self.commit_version_column is not None

    @property
    def hidden_columns(self) -> tuple[str, str]:
        """The two materialized column names (row id, row commit version); only when `materializes`."""
        assert self.row_id_column is not None and self.commit_version_column is not None
        return self.row_id_column, self.commit_version_column


def check_configuration(configuration: Mapping[str, str], column_names: Iterable[str], *, table: str) -> None:
    """Refuse a configuration that enables row tracking while suspending it, or materialized column names
    that are not unique or clash with a column of the table (PROTOCOL.md: they must stay unique)."""
    if _true(configuration.get(ENABLE_KEY)) and _true(configuration.get(SUSPENDED_KEY)):
        raise InvalidArgumentError(
            f"{table}: {ENABLE_KEY}=true together with {SUSPENDED_KEY}=true; row tracking cannot be enabled "
            "and suspended at once")
    names = [configuration.get(k) for k in (ROW_ID_COLUMN_KEY, COMMIT_VERSION_COLUMN_KEY)]
    if None in names:
        return
    taken = {c.lower() for c in column_names}
    if names[0] == names[1] or any(n and n.lower() in taken for n in names):
        raise InvalidArgumentError(
            f"{table}: the materialized row-tracking column names {names} must be distinct from each other and "
            "from every column of the table")


def with_column_names(configuration: Mapping[str, str]) -> dict[str, str]:
    """``configuration`` with the materialized column names added when row tracking is enabled and they are
    missing (Spark's ``_row-id-col-<uuid>`` form: never a name a user picks)."""
    out = dict(configuration)
    if _true(out.get(ENABLE_KEY)):
        out.setdefault(ROW_ID_COLUMN_KEY, f"_row-id-col-{uuid.uuid4()}")
        out.setdefault(COMMIT_VERSION_COLUMN_KEY, f"_row-commit-version-col-{uuid.uuid4()}")
    return out


def high_water_mark(domain: DomainMetadata | None) -> int:
    """The highest fresh row id assigned (-1 when none was: the first file gets `baseRowId` 0)."""
    if domain is None or domain.removed:
        return -1
    try:
        value = orjson.loads(domain.configuration)["rowIdHighWaterMark"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise InvalidLogError(f"domain {DOMAIN} has a malformed configuration {domain.configuration!r}: {e}") from e
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise InvalidLogError(f"domain {DOMAIN} has an invalid rowIdHighWaterMark {value!r}")
    return value


def mark_domain(mark: int) -> DomainMetadata:
    """The `domainMetadata` action recording high-water mark ``mark``."""
    return DomainMetadata(DOMAIN, orjson.dumps({"rowIdHighWaterMark": mark}).decode(), False)


def num_records(add: Add) -> int | None:
    """`numRecords` of an add's statistics (physical rows, deletion vectors not applied); None if absent."""
    if not add.stats:
        return None
    try:
        value = orjson.loads(add.stats).get("numRecords")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def highest_row_id(adds: Iterable[Add]) -> int:
    """The highest fresh row id the files' `baseRowId`s cover (-1 for none): a guard against a winner
    that assigned ids without moving the mark."""
    top = -1
    for a in adds:
        if a.base_row_id is not None:
            n = num_records(a)
            top = max(top, a.base_row_id + max((n or 1) - 1, 0))
    return top


def assign_row_ids(adds: Sequence[Add], version: int, mark: int) -> tuple[list[Add], int]:
    """``adds`` with fresh `baseRowId`s above ``mark`` for those without one, and ``version`` as the
    `defaultRowCommitVersion` of those without one (re-adds of existing files keep theirs); returns them
    with the new high-water mark. Every add needs `numRecords` statistics (`InvalidArgumentError`)."""
    out = []
    for a in adds:
        base, default = a.base_row_id, a.default_row_commit_version
        if base is None:
            n = num_records(a)
            if n is None:
                raise InvalidArgumentError(
                    f"file {a.path} has no numRecords statistics, which row tracking needs to assign its row ids")
            base = mark + 1
            mark += n
        if default is None:
            default = version
        out.append(a if (base, default) == (a.base_row_id, a.default_row_commit_version)
                   else replace(a, base_row_id=base, default_row_commit_version=default))
    return out, mark


def stable_values(materialized: pa.Array | pa.ChunkedArray | None, default: int | None, n: int, *,
                  fresh: bool) -> pa.Array:
    """The stable row ids (``fresh=True``: ``default`` + physical row index) or row commit versions
    (``default`` for every row) of a file of ``n`` physical rows: the materialized value where there is
    one, the default otherwise (PROTOCOL.md "Reader Requirements for Row Tracking")."""
    if default is None:
        base = pa.nulls(n, pa.int64())
    elif fresh:
        base = av.array(np.arange(default, default + n, dtype=np.int64))
    else:
        base = av.array(np.full(n, default, dtype=np.int64))
    if materialized is None:
        return base
    if isinstance(materialized, pa.ChunkedArray):
        materialized = materialized.combine_chunks()
    if materialized.null_count == 0:
        return materialized.cast(pa.int64())
    return pc.coalesce(materialized.cast(pa.int64()), base)
