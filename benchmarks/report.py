"""Writing results: ``latest.json`` (everything, raw runs included) and ``latest.md`` (summary tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import ENGINES, BenchResult, Measurement


def _measurement_json(m: Measurement) -> dict[str, Any]:
    return {
        "engine": m.engine,
        "call": m.label,
        "median_s": m.median,
        "min_s": m.min,
        "runs_s": m.runs,
        "note": m.note or None,
    }


def result_json(r: BenchResult) -> dict[str, Any]:
    """One benchmark as a JSON-ready dict; ``best`` names the variant each engine is judged by."""
    best = {e: (b.label if (b := r.best(e)) else None) for e in ENGINES}
    return {
        "name": r.name,
        "description": r.description,
        "params": r.params,
        "measurements": [_measurement_json(m) for m in r.measurements],
        "best": best,
        "ratios": {"lakehouse/pyarrow": r.ratio("pyarrow"), "lakehouse/deltalake": r.ratio("deltalake")},
        "paired_ratios": {"lakehouse/pyarrow": r.paired_ratio("pyarrow"), "lakehouse/deltalake": r.paired_ratio("deltalake")},
        "target": None
        if r.target is None
        else {"kind": r.target.kind, "threshold": r.target.threshold, "text": r.target.text, "met": r.target_met()},
        "checks": r.checks,
    }


def _ms(m: Measurement | None) -> str:
    if m is None:
        return "—"
    return f"{m.median * 1000:.1f} ms (min {m.min * 1000:.1f})"


def _ratio(x: float | None, paired: float | None = None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}x" if paired is None else f"{x:.2f}x ({paired:.2f}x)"


def _load(avg: list[float]) -> str:
    return "/".join(f"{x:.2f}" for x in avg)


def _met(r: BenchResult) -> str:
    met = r.target_met()
    return "n/a" if met is None else ("yes" if met else "**no**")


def markdown(doc: dict[str, Any], results: list[BenchResult]) -> str:
    """The human summary: one line per benchmark, then every variant, then the machine."""
    cfg, mach, ver = doc["config"], doc["machine"], doc["versions"]
    out = [
        "# Benchmark results",
        "",
        f"{doc['started_at']} · rows={cfg['rows']:,} commits={cfg['commits']:,} repeat={cfg['repeat']} "
        f"seed={cfg['seed']} · {doc['duration_s']:.0f} s total",
        "",
        "Times are medians of the timed runs (after one warm-up), min in brackets. Ratios compare medians "
        "against each engine's fastest variant; below 1 means lakehouse is faster. In brackets after a ratio: "
        "the paired ratio (median over interleaved rounds of the per-round ratio), steadier on a busy machine. "
        "Targets are judged on the ratio of medians.",
        "",
        "| benchmark | lakehouse | deltalake (fastest) | pyarrow (fastest) | lakehouse/pyarrow | lakehouse/deltalake | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        out.append(
            f"| {r.name} | {_ms(r.best('lakehouse'))} | {_ms(r.best('deltalake'))} | {_ms(r.best('pyarrow'))} | "
            f"{_ratio(r.ratio('pyarrow'), r.paired_ratio('pyarrow'))} | "
            f"{_ratio(r.ratio('deltalake'), r.paired_ratio('deltalake'))} | "
            f"{r.target.text if r.target else '—'} | {_met(r)} |"
        )
    out += ["", "## All variants", "", "| benchmark | engine | call | median | min | note |", "|---|---|---|---|---|---|"]
    for r in results:
        for m in sorted(r.measurements, key=lambda m: (ENGINES.index(m.engine), m.median)):
            star = " ★" if m is r.best(m.engine) else ""
            out.append(
                f"| {r.name} | {m.engine}{star} | `{m.label}` | {m.median * 1000:.1f} ms | {m.min * 1000:.1f} ms | {m.note} |"
            )
    out += ["", "★ = the engine's fastest variant, used for the ratios.", "", "## What each benchmark verified", ""]
    for r in results:
        out.append(f"- **{r.name}** ({r.description}): " + "; ".join(r.checks))
    if doc["errors"]:
        out += ["", "## Errors", ""] + [f"- **{e['name']}**: {e['error']}" for e in doc["errors"]]
    if doc["warnings"]:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in doc["warnings"]]
    out += [
        "",
        "## Machine",
        "",
        f"- CPU: {mach['cpu_model']}, nproc {mach['nproc']}, RAM {mach['ram_gib']} GiB",
        f"- load average (1/5/15 min) at start {_load(mach['loadavg_start'])}, at end {_load(mach['loadavg_end'])}",
        f"- {mach['os']}, {mach['python_implementation']} {mach['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in ver.items()),
        f"- lakehouse commit {mach['lakehouse_git_commit']}, uncommitted changes under lakehouse/: "
        f"{mach['lakehouse_uncommitted_changes']}, source sha256 {mach['lakehouse_source_sha256'][:16]}…",
        "",
    ]
    return "\n".join(out)


def write(out_dir: Path, doc: dict[str, Any], results: list[BenchResult]) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "latest.json", out_dir / "latest.md"
    js.write_text(json.dumps(doc, indent=2) + "\n")
    md.write_text(markdown(doc, results))
    return js, md
