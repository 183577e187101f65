"""Architecture checks with `ast`: data flows one way and `lakehouse.protocol` does no I/O.

Layers, lowest first: errors -> protocol -> storage -> log -> snapshot -> (scan, write) -> operations ->
table -> package API / demo / integrations -> cli. A module may import only from its own layer or lower
ones; the folders under lakehouse/ are the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "lakehouse"

LAYERS = {
    "lakehouse._version": 0,
    "lakehouse.errors": 0,
    "lakehouse.protocol": 1,
    "lakehouse.storage": 2,
    "lakehouse.log": 3,
    "lakehouse.snapshot": 4,  # Snapshot, history and time travel, checkpoints written from a snapshot
    "lakehouse.scan": 5,  # planning, reading, deletion vectors, change data reads
    "lakehouse.write": 5,  # data files, stats, constraints, the transaction
    "lakehouse.operations": 7,
    "lakehouse.table": 8,
    "lakehouse.namespaces": 8,  # dt.optimize and dt.alter: part of the facade
    "lakehouse.demo": 9,
    "lakehouse": 9,
    "lakehouse.integrations": 9,  # polars, Dask, Delta Sharing: on the public API and the layers below
    "lakehouse.cli": 10,
}

IO_MODULES = {"os", "io", "fsspec", "s3fs", "pyarrow.parquet", "pyarrow.fs", "pyarrow.dataset", "shutil", "pathlib",
              "socket", "urllib.request", "requests", "boto3", "botocore", "concurrent.futures"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best[1] if best else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _modules() -> list[Path]:
    return [p for p in PKG.rglob("*.py") if "demo_table" not in p.parts]


def test_every_module_has_a_layer():
    missing = [_module_name(p) for p in _modules() if _layer(_module_name(p)) is None]
    assert not missing, f"modules without a layer in tests/test_layering.py: {missing}"


def test_lower_layers_never_import_higher_ones():
    violations = []
    for path in _modules():
        mod = _module_name(path)
        own = _layer(mod)
        if mod == "lakehouse":
            continue
        for imp in _imports(path):
            if imp.startswith("lakehouse"):
                other = _layer(imp)
                if other is not None and own is not None and other > own:
                    violations.append(f"{mod} (layer {own}) imports {imp} (layer {other})")
    assert not violations, "\n".join(violations)


def test_protocol_does_no_io():
    offenders = []
    for path in (PKG / "protocol").rglob("*.py"):
        for imp in _imports(path):
            if imp in IO_MODULES or any(imp.startswith(m + ".") for m in IO_MODULES):
                offenders.append(f"{_module_name(path)} imports {imp}")
    assert not offenders, "\n".join(offenders)


def test_core_never_imports_deltalake():
    """deltalake is the test oracle only; the package must not depend on it."""
    offenders = [
        f"{_module_name(p)} imports {imp}" for p in _modules() for imp in _imports(p) if imp.split(".")[0] == "deltalake"
    ]
    assert not offenders, "\n".join(offenders)


def test_modules_stay_small():
    big = [f"{_module_name(p)}: {n} lines" for p in _modules() if (n := len(p.read_text().splitlines())) > 600]
    assert not big, big
