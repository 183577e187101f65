"""Shared pieces: the run configuration, timed variants, the interleaved timer and result records.

Most variants are timed in this process around ``fn()``. Operations that mutate a table (DELETE, MERGE)
add a ``setup`` that prepares fresh input outside the timed region, and run in a fresh child process that
reports its own time and peak memory as a `ChildRun`. Variants timed in this process may add a ``memory``
call: one extra run of the same work in a fresh child process, for its peak memory only.

Every variant has a ``key`` (`PEER_KEYS` names the usual ones): targets name the variants they compare by
key, and the report gives lakehouse's ratio against every other variant.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ENGINES = ("lakehouse", "deltalake", "pyarrow")

#: The usual variant keys. A variant without a key is keyed by its engine.
PEER_KEYS = {
    "lakehouse": "lakehouse, default max_workers (the core count)",
    "lakehouse_1w": "lakehouse, max_workers=1: one encode worker, the per-core baseline",
    "lakehouse_dv": "lakehouse on a table with deletion vectors enabled",
    "lakehouse_cow": "lakehouse, copy-on-write (no deletion vectors)",
    "deltalake": "delta-rs (`deltalake`)",
    "pyarrow_1t": "raw pyarrow on one thread, same codec (zstd): pq.read_table/pq.write_table",
    "pyarrow_mt": "raw pyarrow on all cores: pyarrow.dataset",
}


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
    it never counts as the engine's best, so the engine-level ratios ignore it (targets may still name it
    by ``key``).

    ``memory``, for a variant timed in this process, runs the same work once more in a fresh child process
    and returns its `ChildRun` (called once, after the timed rounds): this process holds every variant's
    input and garbage, so its own resident size says nothing about one engine's peak.
    """

    engine: str
    label: str
    fn: Callable[..., Any]
    check: Callable[[Any], None]
    note: str = ""
    setup: Callable[[], Any] | None = None
    compare: bool = True
    key: str = ""
    memory: Callable[[], "ChildRun"] | None = None

    def __post_init__(self) -> None:
        self.key = self.key or self.engine


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
    peak_rss_kib: list[int] = field(default_factory=list)  # per timed run, or of the one `memory` run
    baseline_rss_kib: list[int] = field(default_factory=list)
    compare: bool = True
    key: str = ""
    positions: list[int] = field(default_factory=list)  # the variant's place in each round (0 = first)

    def __post_init__(self) -> None:
        self.key = self.key or self.engine

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


TARGET_KINDS = ("vs_pyarrow", "vs_deltalake", "absolute_ms", "rss_vs_deltalake", "rss_absolute_mb", "vs_peer",
                "rss_vs_peer")


@dataclass(frozen=True)
class Target:
    """A pass/fail goal on lakehouse's best variant (or on the variant keyed ``subject``), by ``kind``:

    ``vs_pyarrow`` / ``vs_deltalake``: ratio of median times <= threshold, against that engine's fastest
    compared variant; ``vs_peer``: the same against the variant keyed ``peer``; ``absolute_ms``: median
    time <= threshold ms; ``rss_vs_deltalake`` / ``rss_vs_peer``: ratio of median peak RSS <= threshold;
    ``rss_absolute_mb``: median peak RSS <= threshold MiB.
    """

    kind: str
    threshold: float
    text: str
    peer: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; known: {', '.join(TARGET_KINDS)}")
        if self.kind.endswith("vs_peer") and not self.peer:
            raise ValueError(f"a {self.kind} target names its peer variant's key")


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
    extra_targets: list[Target] = field(default_factory=list)  # more goals (issue #15 sets several per workload)

    def best(self, engine: str) -> Measurement | None:
        """The engine's fastest compared variant by median (None when the engine was not measured)."""
        ms = [m for m in self.measurements if m.engine == engine and m.compare]
        return min(ms, key=lambda m: m.median) if ms else None

    def by_key(self, key: str) -> Measurement | None:
        """The variant keyed ``key`` (the fastest if several share it; None when there is none)."""
        ms = [m for m in self.measurements if m.key == key]
        return min(ms, key=lambda m: m.median) if ms else None

    def peer_ratios(self) -> dict[str, float]:
        """lakehouse's best median over every other variant's median, by that variant's label."""
        lh = self.best("lakehouse")
        if lh is None:
            return {}
        return {m.label: lh.median / m.median for m in self.measurements if m is not lh}

    def subject_and_peer(self, t: Target) -> tuple[Measurement | None, Measurement | None]:
        """The two variants a target compares: its subject (default lakehouse's best) and its peer."""
        lh = self.by_key(t.subject) if t.subject else self.best("lakehouse")
        if t.kind.endswith("vs_peer"):
            return lh, self.by_key(t.peer)
        if t.kind in ("vs_pyarrow", "vs_deltalake"):
            return lh, self.best(t.kind.removeprefix("vs_"))
        if t.kind == "rss_vs_deltalake":
            return lh, self.best_measured("deltalake")
        return lh, None

    def best_measured(self, engine: str) -> Measurement | None:
        """The engine's fastest compared variant among those whose peak memory was measured."""
        ms = [m for m in self.measurements if m.engine == engine and m.compare and m.peak_rss_kib]
        return min(ms, key=lambda m: m.median) if ms else None

    def target_ratio(self, t: Target) -> float | None:
        """The figure a ratio target is judged on (None if unmeasured or not a ratio target)."""
        a, b = self.subject_and_peer(t)
        if a is None or b is None:
            return None
        if t.kind.startswith("rss"):
            return None if a.peak_rss_mib is None or b.peak_rss_mib is None else a.peak_rss_mib / b.peak_rss_mib
        return a.median / b.median

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
        """lakehouse's median peak RSS over ``engine``'s, both of the fastest variants whose memory was
        measured (None if unmeasured)."""
        lh, other = self.best_measured("lakehouse"), self.best_measured(engine)
        if lh is None or other is None or lh.peak_rss_mib is None or other.peak_rss_mib is None:
            return None
        return lh.peak_rss_mib / other.peak_rss_mib

    def targets(self) -> list[Target]:
        """The time and memory targets that are set."""
        return [t for t in (self.target, self.rss_target, *self.extra_targets) if t is not None]

    def meets(self, t: Target) -> bool:
        """Whether lakehouse meets ``t`` (False when a number it needs was not measured)."""
        lh, _ = self.subject_and_peer(t)
        if t.kind == "absolute_ms":
            return lh is not None and lh.median * 1000 <= t.threshold
        if t.kind == "rss_absolute_mb":
            return lh is not None and lh.peak_rss_mib is not None and lh.peak_rss_mib <= t.threshold
        ratio = self.target_ratio(t)
        return ratio is not None and ratio <= t.threshold

    def target_met(self) -> bool | None:
        """Whether every target is met (None when the benchmark has no target)."""
        targets = self.targets()
        return all(self.meets(t) for t in targets) if targets else None


def measure(variants: list[Variant], repeat: int, *, rotate: bool = True, sync: bool = True) -> list[Measurement]:
    """Time every variant: one warm-up call each, then ``repeat`` rounds; then each ``memory`` run.

    Rounds are interleaved (each round calls every variant once) so that a slow phase of a shared machine
    hits all engines alike instead of whichever happened to run then, and round ``r`` starts at variant
    ``r mod n`` so that no variant always runs right after the same neighbour. A full collection before
    each call keeps one call's garbage out of the next call's time; the collector stays enabled during
    the call because collection pauses are part of what a Python reader really costs. A variant's
    ``setup`` runs before each of its calls, warm-up included, outside the timed region, and so does a
    `settle` of the page cache: without it a call pays for the write-back of the files the previous call
    wrote (or its fresh table copy), which made the DML variant after a copy-on-write rewrite up to 2.5x
    slower. ``rotate=False`` and ``sync=False`` turn both off (for the position check that shows why they
    are on).
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for v in variants:
        _timed_call(v, sync)
    ms = [Measurement(v.engine, v.label, [], v.note, compare=v.compare, key=v.key) for v in variants]
    n = len(variants)
    for r in range(repeat):
        for pos in range(n):
            i = (r + pos) % n if rotate else pos
            v, m = variants[i], ms[i]
            gc.collect()
            elapsed, child = _timed_call(v, sync)
            m.runs.append(elapsed)
            m.positions.append(pos)
            if child is not None:
                m.peak_rss_kib.append(child.peak_rss_kib)
                m.baseline_rss_kib.append(child.baseline_rss_kib)
    for v, m in zip(variants, ms):
        if v.memory is not None and not m.peak_rss_kib:
            settle()
            run = v.memory()
            m.peak_rss_kib.append(run.peak_rss_kib)
            m.baseline_rss_kib.append(run.baseline_rss_kib)
    return ms


def settle() -> None:
    """Flush dirty pages to disk (``sync``) so the next timed call starts with a quiet disk.

    The kernel writes files back in the background some seconds after they are written: a call that
    follows one which wrote hundreds of MiB (or a fresh table copy) would otherwise compete with that
    write-back. Synced outside the timed region, every call starts alike whatever ran before it.
    """
    if hasattr(os, "sync"):
        os.sync()


def _timed_call(v: Variant, sync: bool = True) -> tuple[float, ChildRun | None]:
    """Call ``v`` once (setup and `settle` untimed), check its result; returns the time and the child's
    report if any."""
    args = (v.setup(),) if v.setup is not None else ()
    if sync:
        settle()
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
