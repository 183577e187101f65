"""The one exception hierarchy of `lakehouse`.

Every error the package raises on purpose is a `LakehouseError`. Families below the root say what kind
of thing went wrong (a missing table, a damaged log, a feature we do not implement, bad user input,
storage trouble), so callers can catch as narrowly or as broadly as they like. Messages say what is
wrong, where (path, version, column), and what to do, ending in a ``Help:`` line where there is advice.

This module must not import anything from the rest of the package.
"""

from __future__ import annotations


class LakehouseError(Exception):
    """Root of every error raised on purpose by `lakehouse`."""


class TableNotFoundError(LakehouseError):
    """The location holds no Delta table (no `_delta_log/` or no commits in it)."""


class VersionNotFoundError(LakehouseError):
    """A requested version or timestamp lies outside the table's reachable history."""


class InvalidLogError(LakehouseError):
    """The transaction log is damaged or violates the Delta protocol.

    ``path`` names the log file at fault and ``version`` the table version, where known.
    """

    def __init__(self, message: str, *, path: str | None = None, version: int | None = None):
        where = []
        if path is not None:
            where.append(f"file {path}")
        if version is not None:
            where.append(f"version {version}")
        full = f"{message} ({', '.join(where)})" if where else message
        super().__init__(full)
        self.path = path
        self.version = version


class InvalidDeletionVectorError(InvalidLogError):
    """A deletion vector cannot be decoded: bad magic number, checksum, size or encoding."""


class UnsupportedFeatureError(LakehouseError):
    """The table uses a protocol version or table feature that `lakehouse` does not implement."""

    def __init__(self, message: str, *, feature: str | None = None):
        super().__init__(message)
        self.feature = feature


class SchemaMismatchError(LakehouseError):
    """Data or a request does not fit the table schema (unknown column, wrong type, NOT NULL)."""


class ConstraintViolationError(SchemaMismatchError):
    """Written rows break a NOT NULL column, a CHECK constraint, an invariant or a replaceWhere predicate."""


class InvalidArgumentError(LakehouseError, ValueError):
    """A caller passed an argument that cannot be used (bad mode, bad version value, bad URI)."""


class DataFileNotFoundError(LakehouseError, FileNotFoundError):
    """A file the log references (data file or deletion vector) is missing from storage."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class StorageError(LakehouseError):
    """A storage backend failed; ``path`` and ``operation`` say where and doing what."""

    def __init__(self, message: str, *, path: str | None = None, operation: str | None = None):
        super().__init__(message)
        self.path = path
        self.operation = operation


class BucketNotFoundError(StorageError):
    """The object store has no bucket (container) of the name the table URI gives."""


class StorageOptionWarning(UserWarning):
    """A storage option was accepted but has no effect in `lakehouse` (the message says why)."""


class ObjectExistsError(StorageError, FileExistsError):
    """A put-if-absent found the object already there (another writer won that name)."""


class TableExistsError(LakehouseError):
    """A write in mode ``error`` (or a create) found a table already at the location."""


class CommitError(LakehouseError):
    """A transaction could not be committed; the table is unchanged by it."""


class ConcurrentModificationError(CommitError):
    """A concurrent commit conflicts with this transaction (Spark's conflict rules).

    ``version`` is the winning commit that conflicts; retrying the whole operation on the new state is
    the usual remedy.
    """

    def __init__(self, message: str, *, version: int | None = None):
        super().__init__(message)
        self.version = version


class ConcurrentAppendError(ConcurrentModificationError):
    """Files were added by a concurrent commit to data this transaction read."""


class ConcurrentDeleteReadError(ConcurrentModificationError):
    """A concurrent commit removed a file this transaction read."""


class ConcurrentDeleteDeleteError(ConcurrentModificationError):
    """A concurrent commit removed a file this transaction also removes."""


class MetadataChangedError(ConcurrentModificationError):
    """A concurrent commit changed the table metadata (schema, partitioning, properties)."""


class ProtocolChangedError(ConcurrentModificationError):
    """A concurrent commit changed the table protocol."""


class ConcurrentTransactionError(ConcurrentModificationError):
    """A concurrent commit recorded the same application transaction id (`txn.appId`)."""


class MaxCommitRetriesError(CommitError):
    """The commit lost the race for a version more times than allowed."""


class AppendOnlyError(CommitError):
    """The table is append-only (`delta.appendOnly=true`) and the operation would remove data."""


class MissingDependencyError(LakehouseError, ImportError):
    """An optional dependency a call needs is not installed; the message names the extra to install."""


class SharingError(LakehouseError):
    """A Delta Sharing request failed: ``status`` is the HTTP status and ``error_code`` the protocol's
    ``errorCode`` (``INVALID_PARAMETER_VALUE``, ``UNAUTHENTICATED``, ``RESOURCE_DOES_NOT_EXIST``, ...)."""

    def __init__(self, message: str, *, status: int = 400, error_code: str = "INVALID_PARAMETER_VALUE"):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
