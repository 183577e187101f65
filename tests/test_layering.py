"""Architecture checks with `ast`, generated from the layer table of spec/architecture.md: data flows one
way (a module imports only from its own layer or lower ones), `lakehouse.protocol` does no I/O, nothing
imports deltalake, modules stay small.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "lakehouse"

ARCHITECTURE = PKG.parent / "spec" / "architecture.md"


def _layers_from_spec() -> dict[str, int]:
    """The layer table of spec/architecture.md: rows `| <number> | `<module prefix>` | ... |`."""
    layers: dict[str, int] = {}
    for line in ARCHITECTURE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            layers[cells[1].strip("`")] = int(cells[0])
    return layers


LAYERS = _layers_from_spec()

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


def test_the_architecture_table_is_read():
    assert LAYERS["lakehouse.protocol"] == 1 and LAYERS["lakehouse.cli"] == max(LAYERS.values())
    assert len(LAYERS) >= 10


def test_every_module_has_a_layer():
    missing = [_module_name(p) for p in _modules() if _layer(_module_name(p)) is None]
    assert not missing, f"modules without a layer in spec/architecture.md: {missing}"


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


#: What the command line may import besides itself: the public API and the sharing server's package.
CLI_MAY_IMPORT = {"lakehouse", "lakehouse.errors", "lakehouse.integrations.sharing"}


def test_cli_uses_only_the_public_api():
    """The CLI is a user of `lakehouse` like any other: what it needs, a user can have too."""
    offenders = []
    for path in (PKG / "cli").rglob("*.py"):
        for imp in _imports(path):
            inside = imp == "lakehouse.cli" or imp.startswith("lakehouse.cli.")
            if imp.split(".")[0] == "lakehouse" and not inside and imp not in CLI_MAY_IMPORT:
                offenders.append(f"{_module_name(path)} imports {imp}")
    assert not offenders, "\n".join(offenders)


def test_cli_names_are_exported_by_lakehouse():
    """Every name the CLI takes from `lakehouse` is in its ``__all__`` (public, not an accident of imports)."""
    import lakehouse

    taken = set()
    for path in (PKG / "cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "lakehouse" and node.level == 0:
                taken |= {a.name for a in node.names}
    assert taken and not taken - set(lakehouse.__all__), sorted(taken - set(lakehouse.__all__))


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
