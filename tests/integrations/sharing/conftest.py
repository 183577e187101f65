"""A sharing server on 127.0.0.1 for the whole session, over a handful of small tables.

Tables (all local): ``parts`` (partitioned by ``part``, three versions), ``dvt`` (deletion vectors and
the change data feed on, a DV delete at version 1), ``cdft`` (change data feed: insert, update, delete),
``linked`` (a data file replaced by a symlink to a file outside the table). Recipients: alice (share s1),
bob (share s2, configured by the SHA-256 of his token), old (expired). The server runs uvicorn in a thread
and is stopped at the end of the session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakehouse import DeltaTable, write_delta
from lakehouse.integrations.sharing.config import sha256_hex

ALICE, BOB, OLD = "alice-token-0001", "bob-token-00002", "old-token-00003"
SECRET = b"test-signing-secret-0123456789ab"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", limit_concurrency=64))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the sharing server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict]:
        return [json.loads(x) for x in self.body.splitlines() if x.strip()]


def call(url: str, token: str | None = None, *, body: Any = None, headers: dict | None = None,
         method: str | None = None) -> Response:
    """One HTTP request; errors come back as responses, not exceptions."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=h, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


@dataclass
class Shared:
    base: str            # http://127.0.0.1:port/delta-sharing
    root: Path           # where the tables live
    audit: Path          # the audit log file
    profile: Path        # alice's profile file
    timestamps: dict     # table -> list of commit timestamps (ms) by version

    def url(self, path: str) -> str:
        return self.base + path


def build_tables(root: Path) -> dict[str, list[int]]:
    """The tables described in the module docstring; returns their commit timestamps by version."""
    parts = root / "parts"
    for i, part in enumerate("abc"):
        write_delta(parts, pa.table({"id": [3 * i + 1, 3 * i + 2, 3 * i + 3], "part": [part] * 3}),
                    partition_by=["part"], mode="append" if i else "error")
        time.sleep(0.01)
    dvt = root / "dvt"
    write_delta(dvt, pa.table({"id": list(range(10)), "v": [f"v{i}" for i in range(10)]}),
                configuration={"delta.enableDeletionVectors": "true", "delta.enableChangeDataFeed": "true"})
    DeltaTable(dvt).delete("id < 3")
    cdft = root / "cdft"
    write_delta(cdft, pa.table({"id": [1, 2, 3]}), configuration={"delta.enableChangeDataFeed": "true"})
    DeltaTable(cdft).update(updates={"id": "id + 10"}, predicate="id = 2")
    DeltaTable(cdft).delete("id = 1")
    linked = root / "linked"
    write_delta(linked, pa.table({"id": [1, 2]}))
    outside = root / "outside"
    outside.mkdir()
    data = next(p for p in linked.iterdir() if p.suffix == ".parquet")
    shutil.copy(data, outside / "secret.parquet")
    data.unlink()
    os.symlink(outside / "secret.parquet", data)
    return {name: [h.timestamp_ms for h in reversed(DeltaTable(root / name).history())]
            for name in ("parts", "dvt", "cdft")}


def make_config(root: Path, audit: Path) -> dict:
    def table(name: str, location: str, **kw: Any) -> dict:
        return {"name": name, "location": location, "historyShared": True, **kw}

    return {
        "version": 1,
        "shares": [
            {"name": "s1", "schemas": [
                {"name": "sc", "tables": [table("parts", str(root / "parts")),
                                          table("dvt", str(root / "dvt"), cdfEnabled=True),
                                          table("cdft", f"file://{root / 'cdft'}", cdfEnabled=True),
                                          table("linked", str(root / "linked")),
                                          table("nohist", str(root / "parts"), historyShared=False)]},
                {"name": "other", "tables": [table("parts2", str(root / "parts"))]},
            ]},
            {"name": "s2", "schemas": [{"name": "sc", "tables": [table("secret", str(root / "parts"))]}]},
        ],
        "recipients": [
            {"name": "alice", "bearerToken": ALICE, "shares": ["s1"]},
            {"name": "bob", "bearerTokenSha256": sha256_hex(BOB), "shares": ["s2"]},
            {"name": "old", "bearerToken": OLD, "expirationTime": "2000-01-01T00:00:00Z"},
        ],
        "endpoint": "/delta-sharing",
        "preSignedUrlTimeoutSeconds": 600,
        "auditLog": str(audit),
    }


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Any:
    """The session's server and what the tests need to know about it."""
    from lakehouse.integrations.sharing import app

    root = tmp_path_factory.mktemp("sharing")
    stamps = build_tables(root)
    audit = root / "audit.log"
    with ServerThread(app(make_config(root, audit), signing_secret=SECRET)) as server:
        base = f"http://127.0.0.1:{server.port}/delta-sharing"
        profile = root / "alice.share"
        profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": base, "bearerToken": ALICE}))
        yield Shared(base, root, audit, profile, stamps)
