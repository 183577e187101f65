"""A `Storage` wrapper that fails, delays or "crashes" before or after any call, for reliability tests.

Every call (listing, reads, data-file streams through the Arrow filesystem, commit put-if-absent,
checkpoint and `_last_checkpoint` writes, deletes) is counted and recorded in ``trace`` as
``(operation, path)``. A `FaultPlan` decides, per call, whether to raise `InjectedFault` (an ordinary
storage failure the engine should report) or `SimulatedCrash` (a BaseException standing for the process
dying: nothing in the engine may catch it), before or after the real call runs, or to sleep.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs

from lakehouse.errors import StorageError
from lakehouse.storage.base import FileInfo, Storage

R = TypeVar("R")

When = Literal["before", "after"]


class InjectedFault(StorageError):
    """A storage call failed on purpose (a transient backend error)."""


class SimulatedCrash(BaseException):
    """The process "died" at this point; deliberately not an Exception so no handler swallows it."""


@dataclass
class FaultPlan:
    """Which call to break: the ``at``-th call (0-based) matching ``operations``, ``when`` it breaks."""

    at: int | None = None
    when: When = "before"
    kind: Literal["crash", "fail", "delay"] = "crash"
    operations: frozenset[str] | None = None
    delay_s: float = 0.0
    predicate: Callable[[str, str], bool] | None = None
    seen: int = 0
    fired: bool = False

    def matches(self, op: str, path: str) -> bool:
        """Whether this call counts towards ``at``."""
        if self.operations is not None and op not in self.operations:
            return False
        return self.predicate is None or self.predicate(op, path)


@dataclass
class FaultyStorage(Storage):
    """Wraps another `Storage`; see the module docstring."""

    inner: Storage
    plan: FaultPlan = field(default_factory=FaultPlan)
    trace: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root_uri = self.inner.root_uri
        self.atomic_put_if_absent = self.inner.atomic_put_if_absent

    def _call(self, op: str, path: str, fn: Callable[[], R]) -> R:
        with self._lock:
            self.trace.append((op, path))
            fire = False
            if self.plan.at is not None and not self.plan.fired and self.plan.matches(op, path):
                if self.plan.seen == self.plan.at:
                    fire = True
                    self.plan.fired = True
                self.plan.seen += 1
        if fire and self.plan.when == "before":
            self._fire(op, path)
        result = fn()
        if fire and self.plan.when == "after":
            self._fire(op, path)
        return result

    def _fire(self, op: str, path: str) -> None:
        if self.plan.kind == "delay":
            time.sleep(self.plan.delay_s)
            return
        if self.plan.kind == "fail":
            raise InjectedFault(f"injected failure of {op} {path}", path=path, operation=op)
        raise SimulatedCrash(f"simulated crash {self.plan.when} {op} {path}")

    # -- Storage -------------------------------------------------------------------------------------
    def list_dir(self, rel: str) -> list[FileInfo]:
        """See `Storage.list_dir`."""
        return self._call("list", rel, lambda: self.inner.list_dir(rel))

    def list_from(self, rel: str, start_name: str) -> list[FileInfo]:
        """See `Storage.list_from`."""
        return self._call("list", rel, lambda: self.inner.list_from(rel, start_name))

    def list_tree(self, rel: str = "", *, skip_dir: Callable[[str], bool] | None = None) -> list[FileInfo]:
        """See `Storage.list_tree`."""
        return self._call("list", rel, lambda: self.inner.list_tree(rel, skip_dir=skip_dir))

    def read_bytes(self, rel: str) -> bytes:
        """See `Storage.read_bytes`."""
        return self._call("read", rel, lambda: self.inner.read_bytes(rel))

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        """See `Storage.read_range`."""
        return self._call("read", rel, lambda: self.inner.read_range(rel, start, length))

    def read_many(self, rels: Sequence[str], *, max_workers: int = 8) -> list[bytes]:
        """Reads one by one so each read is a separate fault point."""
        return [self.read_bytes(r) for r in rels]

    def exists(self, rel: str) -> bool:
        """See `Storage.exists`."""
        return self._call("exists", rel, lambda: self.inner.exists(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """See `Storage.write_bytes`."""
        op = "write_checkpoint" if ".checkpoint." in rel else "write_last_checkpoint" if rel.endswith("_last_checkpoint") else "write"
        self._call(op, rel, lambda: self.inner.write_bytes(rel, data))

    def put_if_absent(self, rel: str, data: bytes) -> None:
        """See `Storage.put_if_absent`."""
        self._call("put_commit", rel, lambda: self.inner.put_if_absent(rel, data))

    def delete(self, rel: str) -> None:
        """See `Storage.delete`."""
        self._call("delete", rel, lambda: self.inner.delete(rel))

    def is_file(self, rel: str = "") -> bool:
        """See `Storage.is_file` (never faulted: it only words an error message)."""
        return self.inner.is_file(rel)

    def prepare_dir(self, rel: str) -> None:
        """See `Storage.prepare_dir`."""
        self.inner.prepare_dir(rel)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The inner Arrow filesystem behind a handler that routes data-file opens through the plan."""
        fs, root = self.inner.arrow_filesystem()
        return pafs.PyFileSystem(_FaultyHandler(fs, self, root)), root


class _FaultyHandler(pafs.FileSystemHandler):
    """Delegates to an Arrow filesystem; opening a data file for reading or writing is a fault point."""

    def __init__(self, fs: pafs.FileSystem, owner: FaultyStorage, root: str):
        self.fs, self.owner, self.root = fs, owner, root

    def _rel(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def get_type_name(self) -> str:
        return "faulty+" + self.fs.type_name

    def normalize_path(self, path: str) -> str:
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.fs.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.owner._call("read_data", self._rel(path), lambda: self.fs.open_input_stream(path))

    def open_input_file(self, path: str) -> pa.NativeFile:
        return self.owner._call("read_data", self._rel(path), lambda: self.fs.open_input_file(path))

    def open_output_stream(self, path: str, metadata: dict | None = None) -> pa.NativeFile:
        return self.owner._call("write_data", self._rel(path), lambda: self.fs.open_output_stream(path, metadata=metadata))

    def open_append_stream(self, path: str, metadata: dict | None = None) -> pa.NativeFile:
        return self.fs.open_append_stream(path, metadata=metadata)
