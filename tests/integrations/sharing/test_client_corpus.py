"""The lakehouse sharing client against the lakehouse sharing server: every (table, version) case of the
conformance corpus shared and read back over HTTP, rows equal to lakehouse's own read of the table; a case
lakehouse refuses to read fails over sharing too, with a typed error."""

from __future__ import annotations

import json
import re

import pytest

import lakehouse
from lakehouse.errors import LakehouseError
from lakehouse.integrations.sharing import SharingClient
from tests.support.conformance import MISSING, canonical_rows, corpus_dir, describe_difference
from tests.integrations.sharing.conftest import ServerThread

CORPUS = corpus_dir()
if CORPUS is None:  # corpus_dir() raises under CI, so this skip only happens in a user's clone
    pytest.skip(MISSING, allow_module_level=True)

MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
TOKEN = "corpus-token-123"


def _name(table: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", table["name"])[:255]


CASES = [pytest.param(t, e, id=f"{t['name']}@v{e['version']}") for t in MANIFEST["tables"] for e in t["versions"]]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from lakehouse.integrations.sharing import app

    tables = [{"name": _name(t), "location": str(CORPUS / t["table_path"]), "historyShared": True}
              for t in MANIFEST["tables"]]
    config = {"shares": [{"name": "corpus", "schemas": [{"name": "all", "tables": tables}]}],
              "authorization": {"bearerToken": TOKEN}}
    with ServerThread(app(config)) as server:
        yield SharingClient({"shareCredentialsVersion": 1, "bearerToken": TOKEN,
                             "endpoint": f"http://127.0.0.1:{server.port}/delta-sharing"})


def test_every_corpus_table_is_listed(client):
    names = sorted(t.name for t in client.list_all_tables())
    assert names == sorted(_name(t) for t in MANIFEST["tables"])


@pytest.mark.parametrize("table,entry", CASES)
def test_corpus_case_over_sharing(client, table, entry):
    path = CORPUS / table["table_path"]
    version = entry["version"]
    try:
        want = lakehouse.DeltaTable(path, version=version).to_arrow()
    except LakehouseError:
        with pytest.raises(LakehouseError):
            client.load("corpus", "all", _name(table), version=version)
        return
    got = client.load("corpus", "all", _name(table), version=version)
    assert sorted(got.column_names) == sorted(want.column_names)
    got_rows, want_rows = canonical_rows(got), canonical_rows(want)
    assert got_rows == want_rows, describe_difference(got_rows, want_rows)
