"""`Progress` and `ProgressEvent`: how long operations report how far they are.

Every long public call (``write_delta``, ``DeltaTable.convert_to_delta``, ``dt.optimize.compact`` /
``z_order``, ``DeltaTable.vacuum``, ``MergeBuilder.execute``, ``DeltaTable.verify``) takes
``progress=``: a callable that receives one `ProgressEvent` each time a unit of work is done. Within
one call ``done`` never decreases, the first event has ``done == 0`` and the last has ``done == total``.
Events arrive on the calling thread, so a callback needs no locking.

Operation modules count in plain ``(done, total)`` pairs; `reporter` turns a user's `Progress` into
such a counter. Layer 0: this module imports only `lakehouse.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lakehouse.errors import InvalidArgumentError

__all__ = ["Progress", "ProgressEvent", "reporter"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a long operation.

    ``operation`` is the commit's operation name (``"WRITE"``, ``"CONVERT"``, ``"OPTIMIZE"``,
    ``"VACUUM"``, ``"MERGE"``, ``"VERIFY"``); ``done`` counts the ``unit``s finished so far (``"rows"``,
    ``"files"``, ``"bins"``); ``total`` is how many there are, None while not yet known (a streamed
    write learns its total at the end).
    """

    operation: str
    done: int
    total: int | None
    unit: str

    @property
    def fraction(self) -> float | None:
        """``done / total`` (1.0 for an empty total), or None while the total is unknown."""
        if self.total is None:
            return None
        return 1.0 if self.total == 0 else self.done / self.total


#: The type of every ``progress=`` argument: called with a `ProgressEvent` after each unit of work.
Progress = Callable[[ProgressEvent], None]


def reporter(progress: Progress | None, operation: str, unit: str) -> Callable[[int, int | None], None] | None:
    """A ``(done, total)`` counter for an operation module that sends `ProgressEvent`s to ``progress``
    (None when ``progress`` is None, so the operation skips the calls). Repeated counts are sent once:
    a callback sees each step a single time."""
    if progress is None:
        return None
    if not callable(progress):
        raise InvalidArgumentError(f"progress must be a callable taking a ProgressEvent, got {type(progress).__name__}")
    last: list[tuple[int, int | None]] = []

    def report(done: int, total: int | None) -> None:
        if last and last[0] == (done, total):
            return
        last[:] = [(done, total)]
        progress(ProgressEvent(operation, done, total, unit))

    return report
