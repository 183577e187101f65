"""Running table work as Dask tasks and committing the results once: the pattern every distributed
operation here follows (write, OPTIMIZE and MERGE; the last two return their own result types,
`BinResult` and `TargetChanges`, and commit through `commit_optimize` and `commit_merge`).

1. The client plans against one snapshot and describes each unit of work as plain, picklable data.
2. Each task gets a `TableRef` (root URI, storage options, version), never an open filesystem or a
   snapshot: a worker opens storage itself and loads the snapshot once per process (`TableRef.snapshot`).
3. A task writes data files under fresh unique names and returns its actions as data (`TaskOutput`).
   A retried task writes new files; the files of a failed or lost attempt stay unreferenced (VACUUM
   removes them).
4. The client gathers the outputs (`compute_outputs`) and commits them in one `Transaction`
   (`stage_outputs` + `Transaction.commit`). Only outputs actually gathered are committed, so no file is
   committed twice; a failed job raises before the transaction exists, so nothing is committed.

This module must not plan or validate operations: callers do that before building tasks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import dask
from dask import delayed
from dask.base import tokenize
from dask.delayed import Delayed

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.actions import Add, Remove
from lakehouse.snapshot import Snapshot, load_snapshot
from lakehouse.storage import Storage, open_storage
from lakehouse.write.transaction import Transaction

_CACHE_SIZE = 8
_snapshots: "OrderedDict[tuple[str, int, str], Snapshot]" = OrderedDict()
_storages: "OrderedDict[tuple[str, str], Storage]" = OrderedDict()
_lock = threading.Lock()

#: A test hook every task calls first with its index (picklable; None in normal use).
TaskHook = Callable[[int], None]

# Test seam, not public API: read on the client when `task` builds a graph node; a hooked node wraps
# the work in `_hooked`, which takes the hook as an argument (a context variable would not reach a
# worker), so tests can fail or pause chosen tasks while no public signature carries the hook.
_TASK_HOOK: ContextVar[TaskHook | None] = ContextVar("lakehouse_dask_task_hook", default=None)


@contextmanager
def task_hook(hook: TaskHook | None) -> Iterator[None]:
    """Test seam: every distributed write, OPTIMIZE or MERGE task whose graph is built inside the block calls
    ``hook(index)`` first, on its worker."""
    token = _TASK_HOOK.set(hook)
    try:
        yield
    finally:
        _TASK_HOOK.reset(token)


def _hooked(hook: TaskHook, index: int, fn: Callable[..., Any], *args: Any) -> Any:
    hook(index)
    return fn(*args)


def task(fn: Callable[..., Any], index: int, *args: Any) -> Delayed:
    """``fn(*args)`` as task number ``index`` of a job (not pure: a rerun writes new files); inside a
    `task_hook` block the task calls the hook first."""
    hook = _TASK_HOOK.get()
    if hook is None:
        return delayed(fn, pure=False)(*args)
    return delayed(_hooked, pure=False)(hook, index, fn, *args)


@dataclass(frozen=True)
class TableRef:
    """How a worker finds a table: root URI, storage options and the version the client planned on.

    Plain data, so it pickles to any worker; the storage and snapshot it opens are cached per process.
    """

    uri: str
    storage_options: Mapping[str, Any] | None = None
    version: int | None = None

    def _options_token(self) -> str:
        return tokenize(dict(self.storage_options or {}))

    def storage(self) -> Storage:
        """The table's storage, opened once per process per (uri, options)."""
        key = (self.uri, self._options_token())
        with _lock:
            found = _storages.get(key)
        if found is None:
            found = open_storage(self.uri, self.storage_options)
            _remember(_storages, key, found)
        return found

    def snapshot(self) -> Snapshot:
        """The snapshot at ``version``, loaded once per process per (uri, version, options)."""
        if self.version is None:
            raise InvalidArgumentError(f"TableRef for {self.uri} has no version; workers read a pinned version")
        key = (self.uri, self.version, self._options_token())
        with _lock:
            found = _snapshots.get(key)
        if found is None:
            found = load_snapshot(self.storage(), self.version)
            _remember(_snapshots, key, found)
        return found


def _remember(cache: "OrderedDict[Any, Any]", key: Any, value: Any) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def clear_caches() -> None:
    """Forget the storages and snapshots this process opened (tests; long-lived workers)."""
    with _lock:
        _snapshots.clear()
        _storages.clear()


@dataclass(frozen=True)
class TaskOutput:
    """What one task did to the table: the actions it wants committed and counts for the commit metrics."""

    adds: tuple[Add, ...] = ()
    removes: tuple[Remove, ...] = ()
    metrics: Mapping[str, int] = field(default_factory=dict)
    # identity column -> the furthest value this task wrote (or the mark explicit values moved it to)
    marks: Mapping[str, int] = field(default_factory=dict)


def compute_outputs(tasks: Sequence[Delayed]) -> list[Any]:
    """Run the tasks on the active Dask scheduler (a `distributed.Client` if one is set) and gather
    their results in order. Raises the first task's error; then nothing must be committed."""
    if not tasks:
        return []
    return list(dask.compute(*tasks))


def collect_outputs(outputs: Sequence[TaskOutput]) -> tuple[list[Add], list[Remove], dict[str, int]]:
    """Every output's adds and removes, in task order, and the outputs' metrics summed."""
    adds: list[Add] = []
    removes: list[Remove] = []
    totals: dict[str, int] = {}
    for out in outputs:
        adds.extend(out.adds)
        removes.extend(out.removes)
        for k, v in out.metrics.items():
            totals[k] = totals.get(k, 0) + v
    return adds, removes, totals


def stage_outputs(txn: Transaction, outputs: Sequence[TaskOutput]) -> dict[str, int]:
    """Stage every output's adds and removes in ``txn``; returns the outputs' metrics summed."""
    adds, removes, totals = collect_outputs(outputs)
    txn.add_files(adds)
    txn.remove_files(removes)
    return totals
