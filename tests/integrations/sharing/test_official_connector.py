"""End to end with the official `delta-sharing` Python connector as the client, against `lakehouse share
serve` running a reference-format YAML config (one `authorization.bearerToken`, the reference server's
unused keys present).

The connector pins its own pyarrow and pandas, so it runs from its own virtualenv, created once by a
session fixture under a cache directory keyed by the connector's version and reused afterwards; it is
driven by subprocess (tests/integrations/sharing/connector_driver.py). Rows are compared with lakehouse's own read.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from lakehouse import DeltaTable
from tests.support.conformance import MISSING, corpus_dir
from tests.integrations.sharing.conftest import BOB, call, free_port

CONNECTOR = "delta-sharing==1.4.2"
KERNEL_WRAPPER = "delta-kernel-rust-sharing-wrapper==0.3.3"  # reads `delta` responses (DVs) for the connector
DRIVER = Path(__file__).with_name("connector_driver.py")
TOKEN = "reference-token-42"
CORPUS = corpus_dir()
# Conformance tables with on-disk deletion vectors ('u' descriptors) and column mapping, by key columns.
CORPUS_TABLES = {"dat__deletion_vectors": ["letter", "int"], "golden__dv-partitioned-with-checkpoint": ["part", "col1", "col2"],
                 "dat__column_mapping": ["letter", "new_int"]} if CORPUS is not None else {}


def _cache_root() -> Path:
    base = os.environ.get("LAKEHOUSE_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lakehouse-tests")
    return Path(base) / f"venv-{CONNECTOR.replace('==', '-')}-{KERNEL_WRAPPER.split('==')[1]}"


@pytest.fixture(scope="session")
def connector_python() -> str:
    """The python of a virtualenv holding the official connector (created once, then reused)."""
    root = _cache_root()
    python = root / "bin" / "python"
    done = root / ".complete"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time; others wait and reuse it
        if not done.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", CONNECTOR,
                            KERNEL_WRAPPER], check=True, timeout=900)
            done.write_text("ok")
    return str(python)


@pytest.fixture(scope="module")
def reference_server(shared, tmp_path_factory):
    """`lakehouse share serve` on a reference-format config, as a subprocess on 127.0.0.1."""
    port = free_port()
    config = {
        "version": 1,
        "shares": [{"name": "share1", "schemas": [{"name": "default", "tables": [
            {"name": "parts", "location": str(shared.root / "parts"), "id": "00000000-0000-0000-0000-000000000001",
             "historyShared": True},
            {"name": "dvt", "location": f"file://{shared.root / 'dvt'}", "historyShared": True, "cdfEnabled": True},
            {"name": "cdft", "location": str(shared.root / "cdft"), "historyShared": True, "cdfEnabled": True},
        ]}, {"name": "corpus", "tables": [
            {"name": name, "location": str(CORPUS / "tables" / name)} for name in CORPUS_TABLES]}]}],
        "host": "127.0.0.1", "port": port, "endpoint": "/delta-sharing", "preSignedUrlTimeoutSeconds": 900,
        "deltaTableCacheSize": 10, "stalenessAcceptable": False, "evaluatePredicateHints": False,
        "authorization": {"bearerToken": TOKEN},
    }
    d = tmp_path_factory.mktemp("reference")
    path = d / "delta-sharing-server.yaml"
    path.write_text(yaml.safe_dump(config))
    exe = Path(sys.executable).with_name("lakehouse")
    proc = subprocess.Popen([str(exe), "share", "serve", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/delta-sharing"
    deadline = time.monotonic() + 30
    while True:
        try:
            if call(base + "/shares", TOKEN).status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"lakehouse share serve did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    profile = d / "profile.share"
    profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": base, "bearerToken": TOKEN}))
    try:
        yield str(profile)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _run(python: str, ops: list[dict]) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    out = subprocess.run([python, str(DRIVER), json.dumps(ops)], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ok(result: dict):
    assert "ok" in result, result.get("error")
    return result["ok"]


def _key(rows: list[dict], cols: list[str]) -> list[tuple]:
    return sorted(tuple(str(r[c]) for c in cols) for r in rows)


@pytest.fixture(scope="module")
def results(connector_python, reference_server, shared, tmp_path_factory):
    """Every connector operation in one subprocess (the connector's import costs seconds)."""
    p = reference_server
    hint = json.dumps({"op": "equal", "children": [{"op": "column", "name": "part", "valueType": "string"},
                                                   {"op": "literal", "value": "a", "valueType": "string"}]})
    bob = tmp_path_factory.mktemp("bob") / "bob.share"
    bob.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": shared.base, "bearerToken": BOB}))
    when = datetime.fromtimestamp(shared.timestamps["parts"][1] / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
    ops = {
        "tables": {"op": "list_all_tables", "profile": p},
        "alice_tables": {"op": "list_all_tables", "profile": str(shared.profile)},
        "bob_tables": {"op": "list_all_tables", "profile": str(bob)},
        "at_time": {"op": "load", "url": f"{p}#share1.default.parts", "kwargs": {"timestamp": when}},
        "latest": {"op": "load", "url": f"{p}#share1.default.parts"},
        "v0": {"op": "load", "url": f"{p}#share1.default.parts", "kwargs": {"version": 0}},
        "v1": {"op": "load", "url": f"{p}#share1.default.parts", "kwargs": {"version": 1}},
        "limit": {"op": "load", "url": f"{p}#share1.default.parts", "kwargs": {"limit": 2}},
        "hint": {"op": "load", "url": f"{p}#share1.default.parts", "kwargs": {"jsonPredicateHints": hint}},
        "cdf": {"op": "changes", "url": f"{p}#share1.default.cdft", "kwargs": {"starting_version": 0}},
        "dv": {"op": "load", "url": f"{p}#share1.default.dvt", "kwargs": {"use_delta_format": True}},
        "dv_auto": {"op": "load", "url": f"{p}#share1.default.dvt"},
        "dv_v0": {"op": "load", "url": f"{p}#share1.default.dvt", "kwargs": {"use_delta_format": True, "version": 0}},
        "dv_cdf": {"op": "changes", "url": f"{p}#share1.default.dvt",
                   "kwargs": {"starting_version": 0, "use_delta_format": True}},
        **{f"corpus:{name}": {"op": "load", "url": f"{p}#share1.corpus.{name}"} for name in CORPUS_TABLES},
        "cdf_delta": {"op": "changes", "url": f"{p}#share1.default.cdft",
                      "kwargs": {"starting_version": 1, "ending_version": 2, "use_delta_format": True}},
    }
    return dict(zip(ops, _run(connector_python, list(ops.values()))))


def _lh(shared, name: str, version: int | None = None) -> list[dict]:
    return DeltaTable(shared.root / name, version=version).to_arrow().to_pylist()


def test_connector_lists_tables(results):
    corpus = sorted(f"share1.corpus.{name}" for name in CORPUS_TABLES)
    assert _ok(results["tables"]) == corpus + ["share1.default.cdft", "share1.default.dvt", "share1.default.parts"]


def test_connector_lists_tables_per_recipient(results):
    assert _ok(results["alice_tables"]) == ["s1.other.parts2", "s1.sc.cdft", "s1.sc.dvt", "s1.sc.linked",
                                            "s1.sc.nohist", "s1.sc.parts"]
    assert _ok(results["bob_tables"]) == ["s2.sc.secret"]


def test_connector_reads_at_a_timestamp(results, shared):
    assert _key(_ok(results["at_time"]), ["id", "part"]) == _key(_lh(shared, "parts", 1), ["id", "part"])


def test_connector_reads_latest_and_older_versions(results, shared):
    for name, version in (("latest", None), ("v0", 0), ("v1", 1)):
        got = _ok(results[name])
        assert _key(got, ["id", "part"]) == _key(_lh(shared, "parts", version), ["id", "part"]), name


def test_connector_limit(results, shared):
    got = _ok(results["limit"])
    assert len(got) == 2 and set(_key(got, ["id", "part"])) <= set(_key(_lh(shared, "parts"), ["id", "part"]))


def test_connector_json_predicate_hints_prune_on_the_server(results):
    # The connector does not filter rows itself: only partition a's file came back.
    assert _key(_ok(results["hint"]), ["id", "part"]) == [("1", "a"), ("2", "a"), ("3", "a")]


def test_connector_table_changes(results, shared):
    want = DeltaTable(shared.root / "cdft").load_cdf(starting_version=0).to_pylist()
    cols = ["id", "_change_type", "_commit_version"]
    assert _key(_ok(results["cdf"]), cols) == _key(want, cols)
    want12 = DeltaTable(shared.root / "cdft").load_cdf(starting_version=1, ending_version=2).to_pylist()
    assert _key(_ok(results["cdf_delta"]), cols) == _key(want12, cols)


def test_connector_reads_deletion_vector_table_in_delta_format(results, shared):
    for name, version in (("dv", None), ("dv_auto", None), ("dv_v0", 0)):
        assert _key(_ok(results[name]), ["id", "v"]) == _key(_lh(shared, "dvt", version), ["id", "v"]), name
    want = DeltaTable(shared.root / "dvt").load_cdf(starting_version=0).to_pylist()
    cols = ["id", "v", "_change_type", "_commit_version"]
    assert _key(_ok(results["dv_cdf"]), cols) == _key(want, cols)


def test_connector_reads_corpus_tables_with_deletion_vectors_and_column_mapping(results):
    if CORPUS is None:
        pytest.skip(MISSING)
    for name, cols in CORPUS_TABLES.items():
        want = DeltaTable(CORPUS / "tables" / name).to_arrow().to_pylist()
        assert _key(_ok(results[f"corpus:{name}"]), cols) == _key(want, cols), name
