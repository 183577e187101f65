"""The package as users install it: a wheel built from a copy of the sources, as `pip install /path/to/clone`
builds one (with build isolation, so the build backend is the one pyproject.toml asks for).

Checks the distribution name (the index's `lakehouse` is an unrelated project), the version, the extras
the README's Install section names, the console script, package data, and that the build prints no
setuptools deprecation warning (the old `license = {text = ...}` table printed one on every install).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import lakehouse

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "lakehouse-delta"
EXTRAS = {"pandas", "dask", "sharing", "bench", "dev"}


def _copy_sources(base: Path) -> Path:
    # A copy, so the build's egg-info and build/ directories never touch the working tree.
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "lakehouse", src / "lakehouse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel path, the build's combined output) for a wheel built from a copy of the sources."""
    base = tmp_path_factory.mktemp("install")
    src = _copy_sources(base)
    out = base / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--disable-pip-version-check",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], output


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode()), z.namelist()


def test_wheel_is_named_lakehouse_delta_and_imports_as_lakehouse(built):
    wheel, _ = built
    meta, names = _metadata(wheel)
    assert meta["Name"] == DISTRIBUTION
    assert wheel.name.startswith("lakehouse_delta-")
    assert meta["Version"] == lakehouse.__version__  # one version, read from lakehouse/_version.py
    assert meta["License-Expression"] == "Apache-2.0"
    assert "lakehouse/__init__.py" in names and "lakehouse/py.typed" in names
    assert any(n.startswith("lakehouse/demo_table/_delta_log/") for n in names)  # `make demo` reads it
    assert all(word in meta["Summary"] for word in ("MERGE", "OPTIMIZE", "VACUUM", "time travel"))
    with zipfile.ZipFile(wheel) as z:
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert re.search(r"^lakehouse = lakehouse\.cli:main$", entry_points, re.M), entry_points


def test_extras_are_the_ones_the_readme_names(built):
    wheel, _ = built
    meta, _ = _metadata(wheel)
    assert set(meta.get_all("Provides-Extra")) == EXTRAS
    requires = meta.get_all("Requires-Dist")
    for extra, package in (("pandas", "pandas"), ("dask", "dask"), ("sharing", "starlette"),
                           ("sharing", "uvicorn"), ("sharing", "pyyaml")):
        assert any(r.lower().startswith(package) and f'extra == "{extra}"' in r for r in requires), (extra, requires)
    install = README_INSTALL()
    for extra in EXTRAS:
        assert f"`{extra}`" in install, extra


def test_build_prints_no_deprecation_or_license_warning(built):
    _, output = built
    bad = [line for line in output.splitlines()
           if re.search(r"BuildBackendWarning|Setuptools\w*Warning|license", line, re.I)]
    assert not bad, "\n".join(bad)


def test_editable_install_prints_nothing_and_imports_the_sources(tmp_path):
    """`pip install -q -e .` as the Makefile runs it (this pip surfaces build-backend warnings), into a
    fresh environment: no output at all, and `lakehouse` imports from the sources."""
    src = _copy_sources(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--disable-pip-version-check", "-e", str(src)],
                          capture_output=True, text=True, timeout=300)
    output = [line for line in (proc.stdout + proc.stderr).splitlines()
              if line.strip() and "is neither a file nor a directory" not in line]  # this machine's index config
    assert proc.returncode == 0 and not output, "\n".join(output)
    # find_spec locates the package without running it (the fresh environment has no dependencies).
    where = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('lakehouse').origin)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.strip() == str(src / "lakehouse" / "__init__.py"), where.stderr


def README_INSTALL() -> str:  # noqa: N802 - reads like the section it returns
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Install\n")
    return text[start:text.index("\n## ", start + 1)]


def test_readme_install_section_names_the_distribution_not_the_index_lakehouse():
    install = README_INSTALL()
    assert DISTRIBUTION in install
    assert "pip install /path/to/clone" in install and 'pip install -e ".[dev]"' in install
    assert not re.search(r"pip install ['\"]?lakehouse(\[|\s|$)", install)


def test_install_hints_in_messages_name_this_distribution_and_real_extras():
    """Every `pip install '<name>[extra]'` a message or docstring gives must install this project."""
    hints = []
    for path in sorted((ROOT / "lakehouse").rglob("*.py")):
        for m in re.finditer(r"pip install '([A-Za-z0-9_.-]+)\[([a-z,]+)\]'", path.read_text()):
            hints.append((path.relative_to(ROOT).as_posix(), m.group(1), m.group(2)))
    assert hints, "no install hints found: the pattern is stale"
    for where, name, extras in hints:
        assert name == DISTRIBUTION, (where, name)
        assert set(extras.split(",")) <= EXTRAS, (where, extras)
