"""Shared pieces: the run configuration, timed variants, the interleaved timer and result records."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ENGINES = ("lakehouse", "deltalake", "pyarrow")


@dataclass(frozen=True)
class Config:
    """What one run of the suite was asked to do."""

    rows: int
    commits: int
    repeat: int
    seed: int
    data_dir: Path


@dataclass
class Variant:
    """One way of doing a benchmark's work with one engine.

    ``check`` runs on the result of every call, outside the timed region, and must raise when the result
    is wrong: a reader that returns the wrong thing must not post a time.
    """

    engine: str
    label: str
    fn: Callable[[], Any]
    check: Callable[[Any], None]
    note: str = ""


@dataclass
class Measurement:
    """Wall-clock times (seconds) of the timed calls of one variant; the warm-up call is not included."""

    engine: str
    label: str
    runs: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        """Median of the timed runs, in seconds."""
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        """Fastest timed run, in seconds."""
        return min(self.runs)


@dataclass(frozen=True)
class Target:
    """A pass/fail goal: ``kind`` is ``vs_pyarrow`` or ``vs_deltalake`` (ratio of medians) or ``absolute_ms``."""

    kind: str
    threshold: float
    text: str


@dataclass
class BenchResult:
    """Everything one benchmark measured and verified."""

    name: str
    description: str
    params: dict[str, Any]
    measurements: list[Measurement]
    target: Target | None
    checks: list[str] = field(default_factory=list)

    def best(self, engine: str) -> Measurement | None:
        """The engine's fastest variant by median (None when the engine was not measured)."""
        ms = [m for m in self.measurements if m.engine == engine]
        return min(ms, key=lambda m: m.median) if ms else None

    def ratio(self, engine: str) -> float | None:
        """lakehouse's median over ``engine``'s best median."""
        lh, other = self.best("lakehouse"), self.best(engine)
        if lh is None or other is None:
            return None
        return lh.median / other.median

    def paired_ratio(self, engine: str) -> float | None:
        """Median over rounds of lakehouse's time / ``engine``'s best variant's time in the same round.

        Rounds are interleaved, so this cancels slow phases of a shared machine that the ratio of
        medians only averages out.
        """
        lh, other = self.best("lakehouse"), self.best(engine)
        if lh is None or other is None:
            return None
        return statistics.median(a / b for a, b in zip(lh.runs, other.runs))

    def target_met(self) -> bool | None:
        """Whether the target is met (None when the benchmark has no target)."""
        t = self.target
        if t is None:
            return None
        if t.kind == "absolute_ms":
            lh = self.best("lakehouse")
            return lh is not None and lh.median * 1000 <= t.threshold
        ratio = self.ratio(t.kind.removeprefix("vs_"))
        return ratio is not None and ratio <= t.threshold


def measure(variants: list[Variant], repeat: int) -> list[Measurement]:
    """Time every variant: one warm-up call each, then ``repeat`` rounds.

    Rounds are interleaved (each round calls every variant once) so that a slow phase of a shared machine
    hits all engines alike instead of whichever happened to run then. A full collection before each call
    keeps one call's garbage out of the next call's time; the collector stays enabled during the call
    because collection pauses are part of what a Python reader really costs.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for v in variants:
        v.check(v.fn())
    runs: dict[int, list[float]] = {i: [] for i in range(len(variants))}
    for _ in range(repeat):
        for i, v in enumerate(variants):
            gc.collect()
            start = time.perf_counter()
            result = v.fn()
            elapsed = time.perf_counter() - start
            v.check(result)
            del result
            runs[i].append(elapsed)
    return [Measurement(v.engine, v.label, runs[i], v.note) for i, v in enumerate(variants)]


def expect(condition: bool, message: str) -> None:
    """Raise `AssertionError` with ``message`` unless ``condition`` (not stripped by ``python -O``)."""
    if not condition:
        raise AssertionError(message)
