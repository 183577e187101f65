"""The lakehouse sharing client against the session's server: listing per recipient, reads at latest,
older versions and timestamps, filters, columns, limits, deletion vectors, the change data feed, and
errors as typed `SharingError`s."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from lakehouse import DeltaTable
from lakehouse.errors import InvalidArgumentError, SharingError
from lakehouse.integrations.sharing import SharingClient, load, load_cdf, load_pandas, load_polars
from lakehouse.integrations.sharing.client import Schema, parse_url
from tests.integrations.sharing.conftest import BOB


def _rows(table) -> list:
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


def test_listing_per_recipient(shared, tmp_path):
    alice = SharingClient(shared.profile)
    assert [s.name for s in alice.list_shares()] == ["s1"]
    assert [s.name for s in alice.list_schemas("s1")] == ["sc", "other"]
    assert [t.name for t in alice.list_tables(Schema("other", "s1"))] == ["parts2"]
    assert len(alice.list_all_tables()) == 6
    bob = SharingClient({"shareCredentialsVersion": 1, "endpoint": shared.base, "bearerToken": BOB})
    assert [f"{t.share}.{t.schema}.{t.name}" for t in bob.list_all_tables()] == ["s2.sc.secret"]
    assert alice.table_version("s1", "sc", "parts") == 2


def test_reads_equal_lakehouse(shared):
    url = f"{shared.profile}#s1.sc.parts"
    assert _rows(load(url)) == _rows(DeltaTable(shared.root / "parts").to_arrow())
    assert _rows(load(url, version=1)) == _rows(DeltaTable(shared.root / "parts", version=1).to_arrow())
    when = datetime.fromtimestamp(shared.timestamps["parts"][0] / 1000, timezone.utc)
    assert _rows(load(url, timestamp=when)) == _rows(DeltaTable(shared.root / "parts", version=0).to_arrow())
    got = load(url, filter="id > 4 AND part <> 'c'", columns=["id"])
    assert got.column_names == ["id"] and sorted(got.column("id").to_pylist()) == [5, 6]
    assert load(url, limit=2).num_rows == 2 and load(url, limit=0).num_rows == 0
    assert load_pandas(url).shape == (9, 2) and load_polars(url).height == 9


def test_deletion_vector_table_and_its_change_feed(shared):
    url = f"{shared.profile}#s1.sc.dvt"
    assert _rows(load(url)) == _rows(DeltaTable(shared.root / "dvt").to_arrow())
    assert load(url, version=0).num_rows == 10
    got, want = load_cdf(url, starting_version=0), DeltaTable(shared.root / "dvt").load_cdf(starting_version=0)
    assert _rows(got) == _rows(want)


def test_change_feed_ranges(shared):
    url = f"{shared.profile}#s1.sc.cdft"
    lh = DeltaTable(shared.root / "cdft")
    assert _rows(load_cdf(url, starting_version=0)) == _rows(lh.load_cdf(starting_version=0))
    assert _rows(load_cdf(url, starting_version=1, ending_version=1)) == \
        _rows(lh.load_cdf(starting_version=1, ending_version=1))


def test_errors_are_typed(shared, tmp_path):
    with pytest.raises(SharingError) as e:
        load(f"{shared.profile}#s2.sc.secret")
    assert e.value.status == 404 and e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    bad = tmp_path / "bad.share"
    bad.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": shared.base, "bearerToken": "nope-nope-1"}))
    with pytest.raises(SharingError) as e:
        SharingClient(bad).list_shares()
    assert e.value.status == 401
    with pytest.raises(SharingError, match="history sharing"):
        load(f"{shared.profile}#s1.sc.nohist", version=0)
    with pytest.raises(InvalidArgumentError):
        parse_url("no-fragment")
    with pytest.raises(InvalidArgumentError):
        SharingClient({"shareCredentialsVersion": 2, "endpoint": "x", "bearerToken": "y"})
    with pytest.raises(SharingError):  # the linked table's file is refused by the server: no silent empty read
        load(f"{shared.profile}#s1.sc.linked")


def test_partition_values_with_slashes_percent_and_dots_are_served(tmp_path):
    """A file path is used literally below the table root: a partition directory such as ``p=%2F`` (the
    value "/") or ``p=..`` is an ordinary name there and must be served, not mistaken for a traversal."""
    import pyarrow as pa

    from lakehouse import write_delta
    from lakehouse.integrations.sharing import app
    from tests.integrations.sharing.conftest import ServerThread

    write_delta(tmp_path / "t", pa.table({"id": [1, 2, 3, 4], "p": ["x/y%z", "/", "..", "a b=c"]}), partition_by=["p"])
    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [{"name": "t", "location": str(tmp_path / "t")}]}]}],
              "authorization": {"bearerToken": "pv-token-0001"}}
    with ServerThread(app(config)) as server:
        client = SharingClient({"shareCredentialsVersion": 1, "bearerToken": "pv-token-0001",
                                "endpoint": f"http://127.0.0.1:{server.port}/delta-sharing"})
        got = client.load("s", "d", "t")
    assert _rows(got) == _rows(DeltaTable(tmp_path / "t").to_arrow())


def test_client_fetches_only_http_urls(tmp_path):
    """A server's response must not make the client read local files (file://) or other schemes."""
    from lakehouse.integrations.sharing.client import _download

    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    for url in (f"file://{secret}", "ftp://127.0.0.1/x", f"{secret}"):
        with pytest.raises(SharingError, match="http"):
            _download([(url, str(tmp_path / "out" / "x.parquet"))])
    assert not (tmp_path / "out" / "x.parquet").exists()


def test_server_file_ids_cannot_place_downloads_outside_the_temporary_table(tmp_path):
    from lakehouse.integrations.sharing.client import _Localizer

    loc = _Localizer(str(tmp_path / "tbl"))
    action = loc.action({"url": "http://127.0.0.1:1/x", "id": "../../../evil", "size": 1, "partitionValues": {}},
                        "parquet", "file")
    (name,) = loc.pending.values()
    assert action["add"]["path"] == name and "/" not in name.removeprefix("data/") and ".." not in name
