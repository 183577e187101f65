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


class CommitError(LakehouseError):
    """A transaction could not be committed."""
