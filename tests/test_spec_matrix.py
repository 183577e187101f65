"""spec/ must not drift from the code and the tests: the conformance matrix has a row for every feature
of the registry, names only corpus tables that exist, and every test file or `file::test` that a spec
page names exists (a renamed or moved test makes this fail, so the page is fixed with it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lakehouse.protocol.features import FEATURES
from tests.support.conformance import corpus_dir

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
MATRIX = SPEC / "conformance-matrix.md"
#: `tests/<path>.py` optionally followed by `::test_name`, as spec pages cite tests.
TEST_REF = re.compile(r"\btests/[A-Za-z0-9_/]+\.py(?:::[A-Za-z_][A-Za-z0-9_]*)?")
#: A glob of test files (`tests/operations/test_vacuum*.py`) names at least one file.
TEST_GLOB = re.compile(r"\btests/[A-Za-z0-9_/]*\*[A-Za-z0-9_*]*\.py")


def matrix_rows() -> dict[str, list[str]]:
    """The matrix's rows by feature name: each backticked name in a row's first cell maps to its cells."""
    rows: dict[str, list[str]] = {}
    for line in MATRIX.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name] = cells
    return rows


def test_every_registry_feature_has_a_matrix_row() -> None:
    rows = matrix_rows()
    missing = sorted(set(FEATURES) - set(rows))
    assert not missing, f"spec/conformance-matrix.md has no row for {missing}"
    for name, cells in rows.items():
        assert len(cells) == 7, f"row {name!r} has {len(cells)} cells, the header has 7"
        assert all(cells), f"row {name!r} has an empty cell"


def test_every_matrix_feature_is_in_the_registry_or_marked_unknown() -> None:
    unknown = {n for n in matrix_rows() if n not in FEATURES}
    # The last row is about names the registry does not know; its examples must really be unknown.
    assert unknown <= {"checkpointProtection", "icebergCompatV3"}, unknown


def test_corpus_tables_named_in_the_matrix_exist() -> None:
    corpus = corpus_dir()
    if corpus is None:  # pragma: no cover - the corpus ships beside the repo
        pytest.skip("conformance corpus not found")
    names = {t["name"] for t in json.loads((corpus / "MANIFEST.json").read_text())["tables"]}
    cited = set(re.findall(r"`((?:dat|golden|deltars|kernelrs|delta)__[^`]+)`", MATRIX.read_text()))
    assert cited, "the matrix names no corpus table"
    assert not sorted(cited - names), f"not in MANIFEST.json: {sorted(cited - names)}"


def _test_names(path: Path) -> set[str]:
    return set(re.findall(r"^\s*(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]*)", path.read_text(), re.M))


def test_every_test_a_spec_page_names_exists() -> None:
    wrong = []
    for page in sorted(SPEC.glob("*.md")):
        text = page.read_text()
        for ref in sorted(set(TEST_REF.findall(text))):
            file, _, test = ref.partition("::")
            target = ROOT / file
            if not target.is_file():
                wrong.append(f"{page.name}: {ref} (no such file)")
            elif test and test not in _test_names(target):
                wrong.append(f"{page.name}: {ref} (no such test)")
        for pattern in sorted(set(TEST_GLOB.findall(text))):
            if not list(ROOT.glob(pattern)):
                wrong.append(f"{page.name}: {pattern} (matches no file)")
    assert not wrong, "spec pages name tests that do not exist:\n" + "\n".join(wrong)


def test_relative_links_between_spec_pages_resolve() -> None:
    wrong = []
    for page in sorted(SPEC.glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).is_file():
                wrong.append(f"{page.name} -> {target}")
    assert not wrong, f"broken links: {wrong}"


def test_spec_index_lists_every_page() -> None:
    index = (SPEC / "README.md").read_text()
    missing = [p.name for p in sorted(SPEC.glob("*.md")) if p.name != "README.md" and f"]({p.name})" not in index]
    assert not missing, f"spec/README.md does not list {missing}"
