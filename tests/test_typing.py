"""Static typing is part of the build: `make test` (what `.ci/run` runs) type-checks `lakehouse/` with mypy
before the tests, so a new type error fails CI like a failing test (configuration: `[tool.mypy]` in
pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli comes with mypy, a dev dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _recipe(makefile: str, target: str) -> list[str]:
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{target}\s*:", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_runs_mypy_before_pytest():
    recipe = _recipe((ROOT / "Makefile").read_text(), "test")
    mypy = [i for i, cmd in enumerate(recipe) if cmd.split()[:3] == ["$(PY)", "-m", "mypy"]]
    pytest = [i for i, cmd in enumerate(recipe) if cmd.split()[:3] == ["$(PY)", "-m", "pytest"]]
    assert mypy and pytest and mypy[0] < pytest[0], recipe
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_mypy_checks_the_package_strictly_enough():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mypy = config["tool"]["mypy"]
    assert mypy["packages"] == ["lakehouse"]
    assert mypy["warn_unused_ignores"] is True and mypy["check_untyped_defs"] is True
    assert "ignore-without-code" in mypy["enable_error_code"]
    # Untyped third-party packages are silenced by name, never globally.
    assert "ignore_missing_imports" not in mypy
    assert any(dep.startswith("mypy") for dep in config["project"]["optional-dependencies"]["dev"])
    assert ".mypy_cache/" in (ROOT / ".gitignore").read_text().splitlines()


IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def test_every_type_ignore_names_its_error_and_says_why():
    # An ignore is for what the checker truly cannot see (a library without stubs, an invariant another
    # function established); the comment after it says which, so the next reader can judge it still holds.
    bare = []
    for path in sorted((ROOT / "lakehouse").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = IGNORE.search(line)
            if m and not (m["codes"] and re.match(r"\s+#\s*\S", m["rest"])):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "type: ignore without an error code and a reason:\n" + "\n".join(bare)
