"""The README and the user guide in docs/ run as written: every ```python block and every `$ lakehouse`
line of a ```console block is executed, so the docs cannot rot.

Rules (docs/index.md tells writers the same):

* The blocks of one page run in order in one namespace (a page builds on its earlier blocks), in a fresh
  temporary working directory, so relative table paths in the examples land there.
* ```console blocks: each line starting with ``$ lakehouse`` is run with the .venv's ``lakehouse``
  executable (shell-split, nothing replaced) in that directory and must exit 0; other lines are output.
* ```python no-run blocks are illustrations that need real cloud credentials; they are compiled (so they
  at least parse) but not run, and a page may have at most `MAX_NO_RUN` of them.
* Pages whose examples use S3 (`S3_PAGES`) run against the S3-compatible test server of tests/conftest.py:
  its endpoint replaces the placeholder endpoint ``http://127.0.0.1:9000`` (the only substitution), the
  bucket ``lakehouse-docs`` is created first, and the credentials are the server's test credentials.
* docs/sharing.md is run by tests/integrations/sharing/test_docs_page.py and is skipped here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAKEHOUSE = Path(sys.executable).parent / "lakehouse"
PLACEHOLDER_ENDPOINT = "http://127.0.0.1:9000"
S3_PAGES = {"docs/cloud-storage.md"}
OWN_TEST = {"docs/sharing.md"}  # run by its own test
MAX_NO_RUN = 2

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One fenced code block: its info string (language and flags), text and first line number."""

    info: str
    text: str
    line: int

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def flags(self) -> set[str]:
        return set(self.info.split()[1:])


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    text = path.read_text()
    return [Block(m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 2) for m in _FENCE.finditer(text)]


def pages() -> list[str]:
    """README.md and every docs/*.md page (relative paths), except the pages with their own test."""
    found = ["README.md"] + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    return [p for p in found if p not in OWN_TEST]


def _runnable(block: Block) -> bool:
    return ((block.lang == "python" and "no-run" not in block.flags)
            or (block.lang == "console" and "$ lakehouse" in block.text))


def pages_with_code() -> list[str]:
    """The pages that have at least one runnable block (prose-only pages, such as the index, have none)."""
    return [p for p in pages() if any(_runnable(b) for b in blocks_of(ROOT / p))]


def _run_console(block: Block, where: str, cwd: Path, endpoint: str | None) -> int:
    ran = 0
    for offset, line in enumerate(block.text.splitlines()):
        if not line.startswith("$ lakehouse"):
            continue
        command = line[2:]
        if endpoint:
            command = command.replace(PLACEHOLDER_ENDPOINT, endpoint)
        argv = [str(LAKEHOUSE), *shlex.split(command)[1:]]
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (f"{where}:{block.line + offset}: `{line}` exited {proc.returncode}\n"
                                      f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        ran += 1
    return ran


def run_page(page: str, cwd: Path, endpoint: str | None = None) -> int:
    """Run every runnable block of ``page`` in ``cwd``; returns how many blocks and commands ran."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    no_run = 0
    for block in blocks_of(ROOT / page):
        where = f"{page}:{block.line}"
        if block.lang == "python":
            code = block.text.replace(PLACEHOLDER_ENDPOINT, endpoint) if endpoint else block.text
            compiled = compile(code, where, "exec")
            if "no-run" in block.flags:
                no_run += 1
                continue
            exec(compiled, namespace)  # noqa: S102 - running the docs is the point
            ran += 1
        elif block.lang == "console":
            ran += _run_console(block, page, cwd, endpoint)
    assert no_run <= MAX_NO_RUN, f"{page}: {no_run} `python no-run` blocks; keep them to cloud credentials only"
    return ran


@pytest.mark.parametrize("page", pages_with_code())
def test_page_code_blocks_run(page, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    endpoint = None
    if page in S3_PAGES:
        endpoint = request.getfixturevalue("s3_server")
        from tests.conftest import S3_ENV, _s3fs

        fs = _s3fs(endpoint)
        if not fs.exists("lakehouse-docs"):
            fs.mkdir("lakehouse-docs")
        for key, value in S3_ENV.items():
            monkeypatch.setenv(key, value)
    saved = dict(os.environ)  # a page may set AWS_* variables (the environment section): undo them
    try:
        ran = run_page(page, tmp_path, endpoint)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert ran > 0, f"{page} has no runnable example"


def test_the_harness_finds_every_page_and_block_kind():
    """A stale fence pattern or page list would make every page test pass vacuously."""
    found = pages()
    assert "README.md" in found and "docs/migrating-from-deltalake.md" in found and "docs/sharing.md" not in found
    # The guide's pages that teach an API must have examples that run.
    taught = {"README.md", "getting-started", "migrating-from-deltalake", "reading", "writing", "dml",
              "deletion-vectors-and-cdf", "maintenance", "cloud-storage", "dask", "concurrency"}
    with_code = {Path(p).stem if p != "README.md" else p for p in pages_with_code()}
    assert taught <= with_code, f"pages without a runnable example: {sorted(taught - with_code)}"
    kinds = {b.lang for p in found for b in blocks_of(ROOT / p)}
    assert {"python", "console"} <= kinds
    sample = blocks_of(ROOT / "README.md")
    assert any(b.lang == "python" and "lakehouse" in b.text for b in sample)


def test_a_failing_block_fails_the_page(tmp_path, monkeypatch):
    """The runner must surface errors: a page whose block raises, or whose command exits non-zero, fails."""
    import tests.docs.test_docs_code_blocks as me

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.md"
    bad.write_text("```python\nx = 1\n```\n\n```python\nassert x == 2, 'x is 1'\n```\n")
    monkeypatch.setattr(me, "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="x is 1"):
        run_page("bad.md", tmp_path)
    bad.write_text("```console\n$ lakehouse history no-such-table\n```\n")
    with pytest.raises(AssertionError, match="exited 2"):
        run_page("bad.md", tmp_path)
