"""Charts of benchmark results: ``python -m benchmarks.chart [results.json] [--out file.svg]``.

`draw` turns ``results/latest.json`` into one horizontal bar chart (``docs/img/benchmarks.svg`` by default):
per workload, each engine's median time relative to the fastest variant of that workload (1.0 = the
fastest; a log scale, so 0.5x and 2x sit at the same distance from 1), with the median in ms on each bar
and the machine, its load and the versions in the caption. `draw_scale` does the same for the scale curves
(``results/scale.json``, `benchmarks.scale`): time against size, one line per engine.

matplotlib is a bench-only dependency (``pip install -e '.[bench]'``, also in ``dev``): without it these
functions raise `ChartError` with that instruction, and nothing else in the suite needs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import BenchResult, Measurement
from benchmarks.report import result_from_json

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "latest.json"
DEFAULT_OUT = REPO / "docs" / "img" / "benchmarks.svg"
DEFAULT_SCALE_OUT = REPO / "docs" / "img" / "benchmarks-scale.svg"

#: The bars of one workload, in drawing order: label, colour, and how to find the variant.
SERIES: list[tuple[str, str, Callable[[BenchResult], Measurement | None]]] = [
    ("lakehouse", "#1f77b4", lambda r: r.by_key("lakehouse")),
    ("lakehouse, deletion vectors", "#0b4f80", lambda r: r.by_key("lakehouse_dv")),
    ("lakehouse, copy-on-write", "#4f9bd0", lambda r: r.by_key("lakehouse_cow")),
    ("lakehouse, max_workers=1", "#9ecae1", lambda r: r.by_key("lakehouse_1w")),
    ("delta-rs (fastest call)", "#d62728", lambda r: r.best("deltalake")),
    ("raw pyarrow, 1 thread", "#7f7f7f", lambda r: r.by_key("pyarrow_1t")),
    ("raw pyarrow, all cores", "#bdbdbd", lambda r: r.by_key("pyarrow_mt")),
    ("raw pyarrow", "#a0a0a0", lambda r: r.by_key("pyarrow")),
]
#: Diagnostics of the harness, not workloads: never drawn.
SKIP = ("dml_position_check",)


class ChartError(RuntimeError):
    """The chart cannot be drawn (matplotlib missing, no results); the message says what to do."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise ChartError("benchmarks.chart needs matplotlib, a bench-only dependency: "
                         ".venv/bin/python -m pip install -e '.[bench]' (it is also in the dev extra)") from e
    matplotlib.use("Agg")  # no display: files only
    # Reproducible SVG: fixed ids and no timestamp, so a re-draw of the same results changes no bytes.
    matplotlib.rcParams["svg.hashsalt"] = "lakehouse-benchmarks"
    import matplotlib.pyplot as plt

    return plt


def _caption(doc: dict[str, Any]) -> str:
    mach, ver, cfg = doc.get("machine", {}), doc.get("versions", {}), doc.get("config", {})
    load = "/".join(f"{x:.1f}" for x in mach.get("loadavg_start", [])) + " → " + "/".join(
        f"{x:.1f}" for x in mach.get("loadavg_end", []))
    versions = ", ".join(f"{k} {ver[k]}" for k in ("lakehouse", "deltalake", "pyarrow") if ver.get(k))
    return (f"{doc.get('started_at', '?')} · {mach.get('cpu_model', '?')}, {mach.get('nproc', '?')} cores, "
            f"{mach.get('ram_gib', '?')} GiB · load average (1/5/15 min) {load}\n"
            f"{versions} · rows={_sizes(cfg.get('rows', 0))} repeat={cfg.get('repeat', '?')} · medians; lower is better")


def _sizes(rows: int | list[int]) -> str:
    return ",".join(f"{r:,}" for r in rows) if isinstance(rows, list) else f"{rows:,}"


def bars(results: list[BenchResult]) -> list[tuple[str, list[tuple[str, str, float, float]]]]:
    """Per drawable workload: its name and its bars as (series label, colour, time / fastest, median s)."""
    out = []
    for r in results:
        if r.name.startswith(SKIP):
            continue
        found = [(label, colour, m) for label, colour, pick in SERIES if (m := pick(r)) is not None]
        if len({m.engine for _, _, m in found}) < 2:  # nothing to compare against (planning_100k)
            continue
        fastest = min(m.median for _, _, m in found)
        out.append((r.name, [(label, colour, m.median / fastest, m.median) for label, colour, m in found]))
    return out


def draw(results_json: Path, out: Path) -> Path:
    """Draw the per-workload chart of ``results_json`` into ``out`` (SVG or PNG by suffix); returns ``out``."""
    plt = _pyplot()
    try:
        doc = json.loads(Path(results_json).read_text())
    except (OSError, ValueError) as e:
        raise ChartError(f"cannot read benchmark results {results_json}: {e}. Help: run `python -m benchmarks` first.") from e
    groups = bars([result_from_json(b) for b in doc.get("benchmarks", {}).values()])
    if not groups:
        raise ChartError(f"{results_json} holds no workload measured with two engines; nothing to draw")
    height = sum(len(b) for _, b in groups) * 0.22 + len(groups) * 0.35 + 2.2
    fig, ax = plt.subplots(figsize=(10, height))
    y, ticks, names, seen = 0.0, [], [], set()
    top = max(ratio for _, b in groups for _, _, ratio, _ in b)
    for name, group in groups:
        start = y
        for label, colour, ratio, median in group:
            ax.barh(y, ratio, height=0.8, color=colour, label=None if label in seen else label)
            seen.add(label)
            ax.text(ratio * 1.04, y, f"{ratio:.2f}x  ({_fmt_time(median)})", va="center", fontsize=7)
            y += 1
        ticks.append((start + y - 1) / 2)
        names.append(name)
        y += 0.8
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_xlim(0.8, top * 4)
    ax.xaxis.set_major_locator(FixedLocator([t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if t <= top * 4]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_yticks(ticks, names, fontsize=9)
    ax.set_ylim(y - 0.6, -0.8)  # top to bottom in run order, no empty band at either end
    ax.axvline(1.0, color="black", linewidth=0.6)
    ax.grid(True, axis="x", linewidth=0.3)
    ax.set_xlabel("median time relative to the fastest variant of the workload (log scale; 1x = fastest)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)
    fig.suptitle("lakehouse vs delta-rs vs raw pyarrow: time per workload, lower is better", fontsize=11,
                 y=1 - 0.1 / height)
    fig.text(0.01, 0.005, _caption(doc), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.6 / height, 1, 1 - 0.35 / height))
    return _save(plt, fig, out)


def _fmt_time(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.0f} s"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _short(n: float) -> str:
    """1000 -> 1k, 5000000 -> 5M."""
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:g}{unit}"
    return f"{n:g}"


def _save(plt: Any, fig: Any, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Date": None} if out.suffix == ".svg" else None)
    plt.close(fig)
    return out


def draw_scale(scale_json: Path, out: Path) -> Path:
    """Draw the scale curves of ``scale_json`` (`benchmarks.scale`) into ``out``; returns ``out``."""
    plt = _pyplot()
    try:
        doc = json.loads(Path(scale_json).read_text())
    except (OSError, ValueError) as e:
        raise ChartError(f"cannot read scale results {scale_json}: {e}. Help: run `python -m benchmarks --scale` first.") from e
    curves = doc.get("curves", {})
    if not curves:
        raise ChartError(f"{scale_json} holds no curves")
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4.0), squeeze=False)
    colours = {"lakehouse": "#1f77b4", "deltalake": "#d62728", "pyarrow": "#7f7f7f"}
    for ax, (name, curve) in zip(axes[0], curves.items()):
        for engine, points in curve["engines"].items():
            xs = [p["size"] for p in points]
            ys = [p["median_s"] for p in points]
            ax.plot(xs, ys, marker="o", color=colours.get(engine), label="delta-rs" if engine == "deltalake" else engine)
            for x, y in zip(xs, ys):  # a log axis with few ticks: the values themselves
                ax.annotate(_fmt_time(y), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6,
                            color=colours.get(engine))
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({p["size"] for points in curve["engines"].values() for p in points})
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_time(v)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: _fmt_time(v)))
        ax.tick_params(axis="y", which="both", labelsize=6)
        ax.set_title(curve["title"], fontsize=9)
        ax.set_xlabel(curve["size_label"], fontsize=8)
        ax.set_ylabel("median time", fontsize=8)
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=7)
    fig.text(0.01, 0.005, _caption(doc), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return _save(plt, fig, out)


def main(argv: list[str] | None = None) -> int:
    """Command line: draw the chart of a results file; exit status 2 with one line when it cannot."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.chart", description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, nargs="?", default=DEFAULT_RESULTS, help="results JSON (default results/latest.json)")
    p.add_argument("--out", type=Path, default=None, help="SVG or PNG to write (default docs/img/benchmarks.svg)")
    p.add_argument("--scale", action="store_true", help="the results are scale curves (results/scale.json)")
    args = p.parse_args(argv)
    try:
        if args.scale:
            path = draw_scale(args.results, args.out or DEFAULT_SCALE_OUT)
        else:
            path = draw(args.results, args.out or DEFAULT_OUT)
    except ChartError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"[benchmarks.chart] wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
