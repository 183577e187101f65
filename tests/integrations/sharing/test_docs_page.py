"""docs/sharing.md runs as written: its table-writing block, its YAML configuration served by the real
`lakehouse share serve` command in a subprocess, and its client block, on a free loopback port."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.integrations.sharing.conftest import free_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "sharing.md"
LAKEHOUSE = Path(sys.executable).parent / "lakehouse"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_sharing_page_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the page writes `orders/` and `acme.share` in the working directory
    python, yaml, console = _blocks("python"), _blocks("yaml"), _blocks("console")
    assert len(python) == 2 and len(yaml) == 1 and len(console) == 1
    port = free_port()
    exec(compile(python[0], "docs/sharing.md#1", "exec"), {"__name__": "docs"})  # noqa: S102 - the page's own code
    (tmp_path / "server.yaml").write_text(yaml[0].replace("port: 8080", f"port: {port}"))
    command = console[0].strip().lstrip("$ ").split()
    assert command[:3] == ["lakehouse", "share", "serve"]
    args = [str(LAKEHOUSE), *command[1:]]
    args[args.index("--port") + 1] = str(port)
    server = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/delta-sharing/shares", timeout=2)
            except urllib.error.HTTPError:
                break  # 401 without a token: the server is up
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the sharing server did not start"
                time.sleep(0.1)
        client = python[1].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        exec(compile(client, "docs/sharing.md#3", "exec"), {"__name__": "docs"})  # noqa: S102
    finally:
        server.terminate()
        server.wait(timeout=15)
