"""Every relative link and image in README.md and docs/*.md points at a file that exists (and, for a
``#anchor`` into a Markdown page, at a heading that exists); every guide page is reachable from docs/index.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md"] + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def links(page: str) -> list[str]:
    """The link targets of a page outside code blocks."""
    text = _FENCE.sub("", (ROOT / page).read_text())
    return _LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (lower case, punctuation dropped, spaces to dashes)."""
    text = _FENCE.sub("", path.read_text())
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    bad = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (ROOT / page).parent / file_part if file_part else ROOT / page
        if not path.exists():
            bad.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            bad.append(f"{target}: no heading #{anchor}")
    assert not bad, f"{page}: " + "; ".join(bad)


def test_every_guide_page_is_linked_from_the_index():
    linked = {t.partition("#")[0] for t in links("docs/index.md")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages - linked == set(), f"pages not linked from docs/index.md: {sorted(pages - linked)}"


def test_the_readme_links_the_guide_and_stays_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 400
    assert "docs/index.md" in links("README.md") and "docs/migrating-from-deltalake.md" in links("README.md")
    assert "docs/img/benchmarks.svg" in links("README.md")


def test_the_migration_page_names_every_public_deltalake_call():
    """A deltalake user must find each call they have in the side-by-side table: every public method and
    attribute of deltalake's DeltaTable, its optimize/alter namespaces and the MERGE builder, and
    write_deltalake, appear on docs/migrating-from-deltalake.md (with a lakehouse form or "None")."""
    import inspect

    import deltalake
    from deltalake.table import TableAlterer, TableMerger, TableOptimizer

    text = (ROOT / "docs" / "migrating-from-deltalake.md").read_text()
    names = {"write_deltalake", "convert_to_deltalake", "QueryBuilder", "CommitProperties"}
    for cls in (deltalake.DeltaTable, TableOptimizer, TableAlterer, TableMerger):
        names |= {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", text))
    assert not missing, f"deltalake calls missing from the migration page: {missing}"
