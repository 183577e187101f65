"""Byte storage for tables: the `Storage` interface and its fsspec implementation.

`open_storage(uri, storage_options)` is the single entry point the rest of the package uses.
"""

from lakehouse.storage.base import FileInfo, Storage
from lakehouse.storage.fsspec_store import FsspecStorage, open_storage

__all__ = ["FileInfo", "Storage", "FsspecStorage", "open_storage"]
