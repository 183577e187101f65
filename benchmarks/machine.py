"""Facts about the machine and the software versions, recorded with every result."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("lakehouse", "deltalake", "pyarrow", "polars", "numpy", "orjson", "matplotlib")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git(*args: str) -> str | None:
    # Read-only queries; GIT_OPTIONAL_LOCKS=0 stops git from even refreshing the index.
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip()


def _source_sha256() -> str:
    # The commit alone does not identify the code measured when the working tree has edits.
    h = hashlib.sha256()
    for f in sorted((REPO / "lakehouse").rglob("*.py")):
        h.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that matter to the numbers."""
    out: dict[str, str | None] = {}
    try:  # the source tree's version: the distribution's name (lakehouse-delta) is not the import name
        from lakehouse._version import __version__

        out["lakehouse"] = __version__
    except ImportError:
        out["lakehouse"] = None
    for name in PACKAGES[1:]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def facts() -> dict[str, Any]:
    """CPU model, core counts, RAM, OS, Python and the repository commit."""
    ram = _ram_bytes()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    status = _git("status", "--porcelain", "--", "lakehouse")
    return {
        "cpu_model": _cpu_model(),
        "nproc": affinity or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "ram_bytes": ram,
        "ram_gib": round(ram / 2**30, 1) if ram else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "lakehouse_git_commit": _git("rev-parse", "HEAD") or None,
        "lakehouse_uncommitted_changes": None if status is None else bool(status),
        "lakehouse_source_sha256": _source_sha256(),
    }
