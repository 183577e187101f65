"""The `Storage` interface: every byte `lakehouse` reads or writes moves through it.

Contract (what the log and snapshot code relies on):

- Paths given to methods are relative to the table root, use ``/`` and never start with ``/``.
- `list_dir(rel)` is non-recursive, returns files only (no directories), sorted by name ascending, with
  size and modification time in milliseconds; a missing directory lists as empty.
- `read_bytes` returns the whole object as it is at the time of the call; a missing object raises
  `DataFileNotFoundError` carrying the path; any other backend failure raises `StorageError` naming the path
  and the operation. `read_range` behaves the same for a byte range.
- `read_many` returns the objects in the order asked; it may read concurrently.
- `arrow_filesystem()` exposes the same bytes to pyarrow's Parquet reader and writer, with the root's
  path in it.
- `write_bytes` creates or replaces an object; readers never see a partial object (local disk writes a
  temporary file and renames it). It is for files whose names are unique or that are advisory (data
  files, checkpoints, `_last_checkpoint`), never for commits.
- `put_if_absent` is the commit primitive: it creates the object only if no object has that name, and
  otherwise raises `ObjectExistsError` leaving the existing object untouched. Of several concurrent
  callers for one name exactly one succeeds, and the winner's bytes are complete when anyone can see
  them. Backends that cannot guarantee this set ``atomic_put_if_absent = False``; the transaction layer
  then refuses to commit unless the user opted in to unsafe commits.
- `delete` removes an object; a missing object is not an error.
- A directory under a file (``data.parquet/_delta_log``) is a missing directory: it lists as empty.
- Implementations are safe to call from several threads at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import pyarrow.fs as pafs


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A listed file: root-relative path, size in bytes, modification time in epoch milliseconds."""

    path: str
    size: int
    mtime_ms: int

    @property
    def name(self) -> str:
        """The last path component."""
        return self.path.rsplit("/", 1)[-1]


class Storage(ABC):
    """Access to the objects under one table root. See the module docstring for the contract."""

    #: The table root as a URI (``file:///abs/path``, ``s3://bucket/key``, ``memory://name``).
    root_uri: str
    #: Whether `put_if_absent` is atomic against concurrent writers (see the module docstring).
    atomic_put_if_absent: bool = True

    @abstractmethod
    def list_dir(self, rel: str) -> list[FileInfo]:
        """Files directly inside directory ``rel``, sorted by name; empty when it does not exist."""

    def list_from(self, rel: str, start_name: str) -> list[FileInfo]:
        """Files of `list_dir(rel)` whose name is >= ``start_name`` (backends may list less)."""
        return [f for f in self.list_dir(rel) if f.name >= start_name]

    @abstractmethod
    def list_tree(self, rel: str = "", *, skip_dir: "Callable[[str], bool] | None" = None) -> list[FileInfo]:
        """Every file under ``rel``, recursively, sorted by path (VACUUM's inventory).

        ``skip_dir(rel_dir)`` prunes a directory (root-relative path) and everything below it.
        """

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """The whole object at ``rel``."""

    @abstractmethod
    def read_range(self, rel: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``rel`` from ``start``."""

    @abstractmethod
    def exists(self, rel: str) -> bool:
        """Whether an object (or directory) exists at ``rel``."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem over the same bytes and the root's path inside it."""

    @abstractmethod
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Create or replace the object at ``rel`` (never used for commit files)."""

    @abstractmethod
    def put_if_absent(self, rel: str, data: bytes) -> None:
        """Create ``rel`` only if absent; `ObjectExistsError` otherwise. Atomic where the backend allows."""

    @abstractmethod
    def delete(self, rel: str) -> None:
        """Remove the object at ``rel``; missing objects are ignored."""

    def delete_many(self, rels: Sequence[str]) -> None:
        """Remove several objects (missing ones are ignored); backends with bulk deletes override this."""
        for rel in rels:
            self.delete(rel)

    def prepare_dir(self, rel: str) -> None:
        """Make sure directory ``rel`` can receive files (a no-op on object stores)."""

    def is_file(self, rel: str = "") -> bool:
        """Whether ``rel`` (the root itself by default) is a file rather than a directory or nothing. Asked
        only when a table root holds no log, to say that the path names a file."""
        return False

    def read_many(self, rels: Sequence[str], *, max_workers: int = 8) -> list[bytes]:
        """Read several objects, concurrently, in the order given.

        Work is handed out in contiguous chunks, one per worker: a task per object costs more in thread
        hand-off than reading a small commit file does.
        """
        if len(rels) <= 32:
            return [self.read_bytes(r) for r in rels]
        workers = min(max_workers, len(rels) // 16)
        size = -(-len(rels) // workers)
        chunks = [rels[i : i + size] for i in range(0, len(rels), size)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(lambda chunk: [self.read_bytes(r) for r in chunk], chunks)
            return [blob for part in parts for blob in part]
