"""The core (`lakehouse` outside `lakehouse.integrations.dask`) never imports Dask: Dask is an optional extra."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

PKG = Path(__file__).resolve().parents[3] / "lakehouse"
DASK_MODULES = ("dask", "distributed")


def _core_files() -> list[Path]:
    return [p for p in PKG.rglob("*.py") if "dask" not in p.relative_to(PKG).parts and "demo_table" not in p.parts]


def test_no_core_module_imports_dask_anywhere_in_its_source():
    """Also catches imports inside functions, which importing the module would not run."""
    offenders = []
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            offenders += [f"{path.relative_to(PKG.parent)} imports {n}" for n in names if n.split(".")[0] in DASK_MODULES]
    assert not offenders, "\n".join(offenders)


def test_importing_every_core_module_loads_no_dask():
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        import lakehouse
        failed = []

        def walk(package):  # not pkgutil.walk_packages: it imports every package it finds, lakehouse.integrations.dask too
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                if info.name == "lakehouse.integrations.dask" or info.name.endswith(".__main__"):
                    continue
                try:
                    module = importlib.import_module(info.name)
                except Exception as e:
                    failed.append(f"{{info.name}}: {{e!r}}")
                    continue
                if info.ispkg:
                    walk(module)

        walk(lakehouse)
        assert not failed, failed
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {DASK_MODULES!r})
        assert not loaded, loaded
        print("ok", len([m for m in sys.modules if m.startswith("lakehouse")]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PKG.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
