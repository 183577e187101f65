"""Writing results: ``latest.json`` (everything, raw runs included) and ``latest.md`` (summary tables).

A partial run (``--only``) carries the other benchmarks' results over from the previous ``latest.json``
(`carry_over`), each with the run it came from, so one benchmark can be re-run without losing the rest.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import ENGINES, PEER_KEYS, BenchResult, Measurement, Target


def _measurement_json(m: Measurement) -> dict[str, Any]:
    out = {
        "engine": m.engine,
        "call": m.label,
        "median_s": m.median,
        "min_s": m.min,
        "runs_s": m.runs,
        "note": m.note or None,
        "compare": m.compare,
        "key": m.key,
        "positions": m.positions,
    }
    if m.peak_rss_kib:
        out |= {"peak_rss_mib": m.peak_rss_mib, "peak_rss_kib": m.peak_rss_kib, "baseline_rss_kib": m.baseline_rss_kib}
    return out


def _target_json(r: BenchResult, t: Target | None) -> dict[str, Any] | None:
    if t is None:
        return None
    out = {"kind": t.kind, "threshold": t.threshold, "text": t.text, "met": r.meets(t), "ratio": r.target_ratio(t)}
    return out | {k: v for k, v in (("peer", t.peer), ("subject", t.subject)) if v}


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
        "rss_ratios": {"lakehouse/deltalake": r.rss_ratio("deltalake")},
        "peer_ratios": r.peer_ratios(),
        "target": _target_json(r, r.target),
        "rss_target": _target_json(r, r.rss_target),
        "extra_targets": [_target_json(r, t) for t in r.extra_targets],
        "checks": r.checks,
    }


def _target_from_json(t: dict[str, Any] | None) -> Target | None:
    return None if t is None else Target(t["kind"], t["threshold"], t["text"], t.get("peer", ""), t.get("subject", ""))


def result_from_json(b: dict[str, Any]) -> BenchResult:
    """The inverse of `result_json` (older files lack the memory fields: they read as unmeasured)."""
    ms = [
        Measurement(m["engine"], m["call"], m["runs_s"], m.get("note") or "", m.get("peak_rss_kib", []),
                    m.get("baseline_rss_kib", []), m.get("compare", True), m.get("key", ""), m.get("positions", []))
        for m in b["measurements"]
    ]
    extra = [t for t in (_target_from_json(x) for x in b.get("extra_targets", [])) if t is not None]
    return BenchResult(b["name"], b["description"], b["params"], ms, _target_from_json(b.get("target")),
                       b.get("checks", []), _target_from_json(b.get("rss_target")), extra)


def _run_header(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    keys = ("started_at", "duration_s", "config", "machine", "versions")
    return {**{k: doc.get(k) for k in keys}, "benchmarks": names}


def _earlier_runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run whose results ``doc`` holds: its own, then those it had carried over itself."""
    carried = doc.get("carried_over", [])
    inherited = {n for run in carried for n in run["benchmarks"]}
    own = [n for n in doc["benchmarks"] if n not in inherited]
    return [_run_header(doc, own)] + carried


def carry_over(out_dir: Path, doc: dict[str, Any], results: list[BenchResult], *, selected: list[str],
               order: list[str]) -> tuple[dict[str, Any], list[BenchResult]]:
    """Add to a partial run's ``doc`` and ``results`` the previous ``latest.json``'s results of the
    benchmarks not ``selected`` now, in ``order``; ``doc["carried_over"]`` names the runs they came from."""
    try:
        previous = json.loads((out_dir / "latest.json").read_text())
    except (OSError, ValueError):
        return doc, results
    kept = {n: b for n, b in previous.get("benchmarks", {}).items() if n not in selected}
    old_errors = [{**e, "run": e.get("run", previous.get("started_at"))} for e in previous.get("errors", [])
                  if e["name"] not in selected]
    if not kept and not old_errors:
        return doc, results
    runs = []
    for run in _earlier_runs(previous):
        names = [n for n in run["benchmarks"] if n in kept]
        if names:
            runs.append({**run, "benchmarks": names})
    rank = {n: i for i, n in enumerate(order)}
    merged = sorted([*results, *(result_from_json(b) for b in kept.values())], key=lambda r: rank.get(r.name, len(rank)))
    benchmarks = {r.name: doc["benchmarks"].get(r.name) or kept[r.name] for r in merged}
    return {**doc, "benchmarks": benchmarks, "carried_over": runs, "errors": doc["errors"] + old_errors}, merged


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


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _met(r: BenchResult) -> str:
    targets = r.targets()
    if not targets:
        return "n/a"
    if len(targets) == 1:
        return _yes(r.meets(targets[0]))
    return f"{sum(r.meets(t) for t in targets)}/{len(targets)}" + ("" if all(r.meets(t) for t in targets) else " **no**")


def _targets(results: list[BenchResult]) -> list[str]:
    """Every target with the figure it is judged on."""
    rows = [(r, t) for r in results for t in r.targets()]
    if not rows:
        return []
    out = ["", "## Targets", "", "Each target with the figure it is judged on: a ratio of medians (time) or of median "
           "peak RSS (memory) of the two variants it names (default: lakehouse's fastest compared variant against "
           "the peer engine's fastest), or an absolute median.", "",
           "| benchmark | target | figure | met |", "|---|---|---|---|"]
    for r, t in rows:
        if t.kind in ("absolute_ms", "rss_absolute_mb"):
            lh = r.best("lakehouse")
            if t.kind == "absolute_ms":
                fig = _ms(lh)
            else:
                fig = f"{lh.peak_rss_mib:.0f} MiB" if lh is not None and lh.peak_rss_mib is not None else "—"
        else:
            fig = _ratio(r.target_ratio(t))
        out.append(f"| {r.name} | {t.text} | {fig} | {_yes(r.meets(t))} |")
    return out


def _target_text(r: BenchResult) -> str:
    return "; ".join(t.text for t in r.targets()) or "—"


def _mib(kib: list[int]) -> str:
    return f"{statistics.median(kib) / 1024:.0f} MiB" if kib else "—"


def _memory(results: list[BenchResult]) -> list[str]:
    """The peak-memory table, for the variants run in a child process."""
    rows = [(r, m) for r in results for m in r.measurements if m.peak_rss_kib]
    if not rows:
        return []
    out = ["", "## Peak memory", "",
           "Measured in a fresh process that loaded only its engine (DML and maintenance: every timed call; "
           "reads and writes: one extra call of the same work after the timed rounds, input loaded first); peak "
           "RSS is that process's high-water mark (`VmHWM`, imports and input included; see "
           "`benchmarks/dml_child.py` for why not `ru_maxrss`), the median over its runs; \"before\" is its "
           "resident size just before the operation, so the operation's own share is the difference.",
           "", "| benchmark | engine | call | peak RSS | max | before | lakehouse/deltalake |", "|---|---|---|---|---|---|---|"]
    for r, m in rows:
        ratio = _ratio(r.rss_ratio("deltalake")) if m is r.best_measured("lakehouse") else ""
        out.append(f"| {r.name} | {m.engine} | `{m.label}` | {_mib(m.peak_rss_kib)} | {max(m.peak_rss_kib) / 1024:.0f} MiB | "
                   f"{_mib(m.baseline_rss_kib)} | {ratio} |")
    return out


def _carried(doc: dict[str, Any]) -> list[str]:
    """Where the results marked † come from."""
    out = []
    for run in doc.get("carried_over", []):
        cfg, mach = run.get("config") or {}, run.get("machine") or {}
        load = f", load average {_load(mach['loadavg_start'])} -> {_load(mach['loadavg_end'])}" if "loadavg_start" in mach else ""
        commit, sha = str(mach.get("lakehouse_git_commit"))[:12], str(mach.get("lakehouse_source_sha256"))[:16]
        code = f"lakehouse commit {commit}, source sha256 {sha}…"
        out.append(f"- † {', '.join(run['benchmarks'])}: from the run of {run['started_at']} "
                   f"(rows={cfg.get('rows', 0):,} repeat={cfg.get('repeat')}{load}, {code})")
    return out


def markdown(doc: dict[str, Any], results: list[BenchResult]) -> str:
    """The human summary: one line per benchmark, then every variant, then the machine."""
    cfg, mach, ver = doc["config"], doc["machine"], doc["versions"]
    carried = {n for run in doc.get("carried_over", []) for n in run["benchmarks"]}
    out = [
        "# Benchmark results",
        "",
        f"{doc['started_at']} · rows={cfg['rows']:,} big_rows={cfg.get('big_rows', 0):,} commits={cfg['commits']:,} "
        f"compact_files={cfg.get('compact_files', 0):,} vacuum_files={cfg.get('vacuum_files', 0):,} "
        f"repeat={cfg['repeat']} seed={cfg['seed']} · {doc['duration_s']:.0f} s total"
        + (" · † = carried over from an earlier run (see the end)" if carried else ""),
        "",
        "Times are medians of the timed runs (after one warm-up), min in brackets. Ratios compare medians "
        "against each engine's fastest variant; below 1 means lakehouse is faster. In brackets after a ratio: "
        "the paired ratio (median over interleaved rounds of the per-round ratio), steadier on a busy machine. "
        "Targets are judged on the ratio of medians. DML and maintenance benchmarks run each call in a fresh "
        "child process (time of the operation alone), with at most 5 timed runs for DML (`benchmarks.dml.DML_REPEAT`), 3 for Z-order "
        "(`benchmarks.maintenance.ZORDER_REPEAT`) and 5 for OPTIMIZE compaction "
        "and VACUUM (`benchmarks.maintenance.MAINTENANCE_REPEAT`); the bulk and partitioned writes get at most 5 "
        "(`benchmarks.writes.WRITE_REPEAT`). Round r starts at variant r mod n, and the "
        "page cache is flushed (`sync`) before every timed call, so no variant pays for another's write-back.",
        "",
        "| benchmark | lakehouse | deltalake (fastest) | pyarrow (fastest) | lakehouse/pyarrow | lakehouse/deltalake | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mark = " †" if r.name in carried else ""
        out.append(
            f"| {r.name}{mark} | {_ms(r.best('lakehouse'))} | {_ms(r.best('deltalake'))} | {_ms(r.best('pyarrow'))} | "
            f"{_ratio(r.ratio('pyarrow'), r.paired_ratio('pyarrow'))} | "
            f"{_ratio(r.ratio('deltalake'), r.paired_ratio('deltalake'))} | "
            f"{_target_text(r)} | {_met(r)} |"
        )
    out += _targets(results)
    out += ["", "## All variants", "",
            "| benchmark | engine | key | call | median | min | peak RSS | lakehouse ★ / this | note |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        peers = r.peer_ratios()
        for m in sorted(r.measurements, key=lambda m: (ENGINES.index(m.engine), m.median)):
            star = " ★" if m is r.best(m.engine) else (" (info)" if not m.compare else "")
            rss = f"{m.peak_rss_mib:.0f} MiB" if m.peak_rss_mib is not None else "—"
            out.append(
                f"| {r.name} | {m.engine}{star} | {m.key} | `{m.label}` | {m.median * 1000:.1f} ms | {m.min * 1000:.1f} ms | "
                f"{rss} | {_ratio(peers.get(m.label))} | {m.note} |"
            )
    out += ["", "★ = the engine's fastest variant, used for the engine-level ratios; (info) = reported for "
            "information, never the engine's best (a target may still name it by key). Keys: "
            + "; ".join(f"`{k}` {v}" for k, v in PEER_KEYS.items()) + "."]
    out += _memory(results)
    out += ["", "## What each benchmark verified", ""]
    for r in results:
        out.append(f"- **{r.name}** ({r.description}): " + "; ".join(r.checks))
    if doc["errors"]:
        out += ["", "## Errors", ""] + [
            f"- **{e['name']}**: {e['error']}" + (f" (in the earlier run of {e['run']})" if "run" in e else "")
            for e in doc["errors"]
        ]
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
        *_carried(doc),
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
