"""Shared pieces: the run configuration, timed variants, the interleaved timer and result records.

Most variants are timed in this process around ``fn()``. Operations that mutate a table (DELETE, MERGE)
add a ``setup`` that prepares fresh input outside the timed region, and run in a fresh child process that
reports its own time and peak memory as a `ChildRun`.
"""

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
    big_rows: int = 50_000_000  # the large partitioned table of the DML benchmarks
    compact_files: int = 1_000  # small files compacted by optimize_compact
    vacuum_files: int = 10_000  # data files of the VACUUM table, half of them tombstoned


@dataclass
class Variant:
    """One way of doing a benchmark's work with one engine.

    ``check`` runs on the result of every call, outside the timed region, and must raise when the result
    is wrong: a reader that returns the wrong thing must not post a time.

    ``setup``, when given, runs before every call outside the timed region and its return value is passed
    to ``fn`` (a fresh copy of a table for an operation that mutates it). When ``fn`` returns a
    `ChildRun`, its own time replaces the wall clock around ``fn``, its peak RSS is recorded, and
    ``check`` receives its ``value``. ``compare=False`` marks a variant reported for information only:
    it never counts as the engine's best, so ratios and targets ignore it.
    """

    engine: str
    label: str
    fn: Callable[..., Any]
    check: Callable[[Any], None]
    note: str = ""
    setup: Callable[[], Any] | None = None
    compare: bool = True


@dataclass(frozen=True)
class ChildRun:
    """One operation run in a fresh child process that loaded only its engine, as the child reported it.

    ``elapsed_s`` times the operation alone (interpreter start-up, imports and input loading excluded);
    ``peak_rss_kib`` is the child's peak resident size in KiB, imports included, and ``baseline_rss_kib``
    its resident size just before the operation, so the operation's own share is the difference.
    ``value`` is what the variant's check verifies.
    """

    elapsed_s: float
    peak_rss_kib: int
    baseline_rss_kib: int
    value: Any


@dataclass
class Measurement:
    """Wall-clock times (seconds) of the timed calls of one variant; the warm-up call is not included."""

    engine: str
    label: str
    runs: list[float]
    note: str = ""
    peak_rss_kib: list[int] = field(default_factory=list)  # per timed run, for variants run in a child
    baseline_rss_kib: list[int] = field(default_factory=list)
    compare: bool = True

    @property
    def median(self) -> float:
        """Median of the timed runs, in seconds."""
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        """Fastest timed run, in seconds."""
        return min(self.runs)

    @property
    def peak_rss_mib(self) -> float | None:
        """Median over the timed runs of the peak RSS, in MiB (None when not measured)."""
        return statistics.median(self.peak_rss_kib) / 1024 if self.peak_rss_kib else None


TARGET_KINDS = ("vs_pyarrow", "vs_deltalake", "absolute_ms", "rss_vs_deltalake", "rss_absolute_mb")


@dataclass(frozen=True)
class Target:
    """A pass/fail goal on lakehouse's best variant, by ``kind``:

    ``vs_pyarrow`` / ``vs_deltalake``: ratio of median times <= threshold; ``absolute_ms``: median time <=
    threshold ms; ``rss_vs_deltalake``: ratio of median peak RSS <= threshold; ``rss_absolute_mb``: median
    peak RSS <= threshold MiB.
    """

    kind: str
    threshold: float
    text: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; known: {', '.join(TARGET_KINDS)}")


@dataclass
class BenchResult:
    """Everything one benchmark measured and verified."""

    name: str
    description: str
    params: dict[str, Any]
    measurements: list[Measurement]
    target: Target | None
    checks: list[str] = field(default_factory=list)
    rss_target: Target | None = None  # a memory goal next to (or instead of) the time goal

    def best(self, engine: str) -> Measurement | None:
        """The engine's fastest compared variant by median (None when the engine was not measured)."""
        ms = [m for m in self.measurements if m.engine == engine and m.compare]
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

    def rss_ratio(self, engine: str) -> float | None:
        """lakehouse's median peak RSS over ``engine``'s, both of the best variants (None if unmeasured)."""
        lh, other = self.best("lakehouse"), self.best(engine)
        if lh is None or other is None or lh.peak_rss_mib is None or other.peak_rss_mib is None:
            return None
        return lh.peak_rss_mib / other.peak_rss_mib

    def targets(self) -> list[Target]:
        """The time and memory targets that are set."""
        return [t for t in (self.target, self.rss_target) if t is not None]

    def meets(self, t: Target) -> bool:
        """Whether lakehouse meets ``t`` (False when a number it needs was not measured)."""
        lh = self.best("lakehouse")
        if t.kind == "absolute_ms":
            return lh is not None and lh.median * 1000 <= t.threshold
        if t.kind == "rss_absolute_mb":
            return lh is not None and lh.peak_rss_mib is not None and lh.peak_rss_mib <= t.threshold
        ratio = self.rss_ratio("deltalake") if t.kind == "rss_vs_deltalake" else self.ratio(t.kind.removeprefix("vs_"))
        return ratio is not None and ratio <= t.threshold

    def target_met(self) -> bool | None:
        """Whether every target is met (None when the benchmark has no target)."""
        targets = self.targets()
        return all(self.meets(t) for t in targets) if targets else None


def measure(variants: list[Variant], repeat: int) -> list[Measurement]:
    """Time every variant: one warm-up call each, then ``repeat`` rounds.

    Rounds are interleaved (each round calls every variant once) so that a slow phase of a shared machine
    hits all engines alike instead of whichever happened to run then. A full collection before each call
    keeps one call's garbage out of the next call's time; the collector stays enabled during the call
    because collection pauses are part of what a Python reader really costs. A variant's ``setup`` runs
    before each of its calls, warm-up included, outside the timed region.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for v in variants:
        _timed_call(v)
    ms = [Measurement(v.engine, v.label, [], v.note, compare=v.compare) for v in variants]
    for _ in range(repeat):
        for v, m in zip(variants, ms):
            gc.collect()
            elapsed, child = _timed_call(v)
            m.runs.append(elapsed)
            if child is not None:
                m.peak_rss_kib.append(child.peak_rss_kib)
                m.baseline_rss_kib.append(child.baseline_rss_kib)
    return ms


def _timed_call(v: Variant) -> tuple[float, ChildRun | None]:
    """Call ``v`` once (setup untimed), check its result; returns the time and the child's report if any."""
    args = (v.setup(),) if v.setup is not None else ()
    start = time.perf_counter()
    result = v.fn(*args)
    elapsed = time.perf_counter() - start
    if isinstance(result, ChildRun):
        # The child timed the operation alone: its interpreter start-up and imports are no engine's cost.
        v.check(result.value)
        return result.elapsed_s, result
    v.check(result)
    return elapsed, None


def expect(condition: bool, message: str) -> None:
    """Raise `AssertionError` with ``message`` unless ``condition`` (not stripped by ``python -O``)."""
    if not condition:
        raise AssertionError(message)
