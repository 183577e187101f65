"""The sharing server's REST API against PROTOCOL.md: listing with paging, table version, metadata, and
queries (latest, by version, by timestamp, predicate hints, limitHint, startingVersion), the change data
feed, and the delta response format for a deletion-vector table. Every file a response names is fetched
through its URL and its rows compared with lakehouse's own read."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse import DeltaTable
from tests.integrations.sharing.conftest import ALICE, BOB, call

DELTA = {"delta-sharing-capabilities": "responseformat=delta;readerfeatures=deletionvectors"}


def _rows_of(lines: list[dict], kind: str = "file") -> list[dict]:
    """Download every file a parquet-format response names and return its rows (with partition values)."""
    rows = []
    for line in lines:
        if kind in line:
            f = line[kind]
            r = call(f["url"])
            assert r.status == 200
            t = pq.read_table(io.BytesIO(r.body))
            for row in t.to_pylist():
                rows.append({**row, **f["partitionValues"]})
    return rows


def _ids(rows: list[dict]) -> list[int]:
    return sorted(int(r["id"]) for r in rows)


def test_list_shares_schemas_tables(shared):
    assert call(shared.url("/shares"), ALICE).json() == {"items": [{"name": "s1"}]}
    assert call(shared.url("/shares"), BOB).json() == {"items": [{"name": "s2"}]}
    assert call(shared.url("/shares/S1"), ALICE).json() == {"share": {"name": "s1"}}  # case-insensitive
    schemas = call(shared.url("/shares/s1/schemas"), ALICE).json()["items"]
    assert schemas == [{"name": "sc", "share": "s1"}, {"name": "other", "share": "s1"}]
    tables = call(shared.url("/shares/s1/schemas/sc/tables"), ALICE).json()["items"]
    assert [t["name"] for t in tables] == ["parts", "dvt", "cdft", "linked", "nohist"]
    assert all(t["share"] == "s1" and t["schema"] == "sc" and t["id"] for t in tables)
    everything = call(shared.url("/shares/s1/all-tables"), ALICE).json()["items"]
    assert [(t["schema"], t["name"]) for t in everything][-1] == ("other", "parts2")
    assert len(everything) == 6


def test_paging_walks_every_item_once(shared):
    seen, token, pages = [], None, 0
    while True:
        url = shared.url("/shares/s1/all-tables?maxResults=2") + (f"&pageToken={token}" if token else "")
        page = call(url, ALICE).json()
        assert len(page["items"]) <= 2
        seen += [t["name"] for t in page["items"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == ["parts", "dvt", "cdft", "linked", "nohist", "parts2"] and pages == 3
    zero = call(shared.url("/shares/s1/all-tables?maxResults=0"), ALICE).json()
    assert zero["items"] == [] and zero["nextPageToken"]


def test_paging_rejects_foreign_or_forged_tokens(shared):
    token = call(shared.url("/shares/s1/all-tables?maxResults=1"), ALICE).json()["nextPageToken"]
    other = call(shared.url(f"/shares/s1/schemas?pageToken={token}"), ALICE)  # a token of another listing
    assert other.status == 400 and other.json()["errorCode"] == "INVALID_PARAMETER_VALUE"
    assert call(shared.url("/shares/s1/all-tables?pageToken=Zm9vOmJhcg"), ALICE).status == 400
    assert call(shared.url("/shares/s1/all-tables?maxResults=-1"), ALICE).status == 400


def test_table_version_and_starting_timestamp(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/version"), ALICE)
    assert r.status == 200 and r.headers["Delta-Table-Version"] == "2"
    stamps = shared.timestamps["parts"]
    when = datetime.fromtimestamp(stamps[1] / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
    r = call(shared.url(f"/shares/s1/schemas/sc/tables/parts/version?startingTimestamp={when}"), ALICE)
    assert r.headers["Delta-Table-Version"] == "1"
    head = call(shared.url("/shares/s1/schemas/sc/tables/parts"), ALICE, method="HEAD")
    assert head.headers["Delta-Table-Version"] == "2"


def test_metadata_parquet_format(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/metadata"), ALICE)
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/x-ndjson")
    assert r.headers["Delta-Table-Version"] == "2"
    proto, meta = r.lines()
    assert proto == {"protocol": {"minReaderVersion": 1}}
    m = meta["metaData"]
    dt = DeltaTable(shared.root / "parts")
    assert m["id"] == dt.metadata.id and m["partitionColumns"] == ["part"] and m["format"] == {"provider": "parquet"}
    assert json.loads(m["schemaString"]) == json.loads(dt.metadata.schema_string)
    assert m["numFiles"] == 3


def test_query_latest_rows_equal_lakehouse_read(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={})
    assert r.status == 200 and r.headers["Delta-Table-Version"] == "2"
    lines = r.lines()
    assert list(lines[0]) == ["protocol"] and list(lines[1]) == ["metaData"]
    files = [x["file"] for x in lines[2:]]
    assert len(files) == 3 and all(f["id"] and f["size"] > 0 and f["expirationTimestamp"] for f in files)
    assert len({f["id"] for f in files}) == 3
    assert str(shared.root) not in r.body.decode()  # no server path anywhere in the response
    want = DeltaTable(shared.root / "parts").to_arrow().to_pylist()
    assert _ids(_rows_of(lines)) == _ids(want)
    again = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={}).lines()
    assert {x["file"]["id"] for x in again[2:]} == {f["id"] for f in files}  # ids are stable


def test_query_older_version_and_timestamp(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"version": 1})
    assert r.headers["Delta-Table-Version"] == "1"
    lines = r.lines()
    assert lines[1]["metaData"]["version"] == 1 and all(x["file"]["version"] == 1 for x in lines[2:])
    assert _ids(_rows_of(lines)) == _ids(DeltaTable(shared.root / "parts", version=1).to_arrow().to_pylist())
    when = datetime.fromtimestamp(shared.timestamps["parts"][0] / 1000, timezone.utc).isoformat()
    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"timestamp": when}).lines()
    assert _ids(_rows_of(lines)) == [1, 2, 3]
    both = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"version": 1, "timestamp": when})
    assert both.status == 400
    future = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"version": 99})
    assert future.status == 400 and str(shared.root) not in future.body.decode()


def test_history_not_shared_refuses_time_travel(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/nohist/query"), ALICE, body={"version": 0})
    assert r.status == 400 and "history sharing" in r.json()["message"]
    assert call(shared.url("/shares/s1/schemas/sc/tables/nohist/query"), ALICE, body={}).status == 200


def test_json_predicate_hints_prune_partitions(shared):
    hint = {"op": "or", "children": [
        {"op": "equal", "children": [{"op": "column", "name": "part", "valueType": "string"},
                                     {"op": "literal", "value": "a", "valueType": "string"}]},
        {"op": "greaterThanOrEqual", "children": [{"op": "column", "name": "id", "valueType": "int"},
                                                  {"op": "literal", "value": "9", "valueType": "int"}]}]}
    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE,
                 body={"jsonPredicateHints": json.dumps(hint)}).lines()
    files = [x["file"] for x in lines[2:]]
    assert sorted(f["partitionValues"]["part"] for f in files) == ["a", "c"]  # b pruned by stats, not only partitions
    assert _ids(_rows_of(lines)) == [1, 2, 3, 7, 8, 9]


def test_unusable_hints_return_every_file(shared):
    for body in ({"jsonPredicateHints": "{not json"},
                 {"jsonPredicateHints": json.dumps({"op": "equal", "children": [
                     {"op": "column", "name": "nope", "valueType": "int"},
                     {"op": "literal", "value": "1", "valueType": "int"}]})},
                 {"predicateHints": ["this is not sql ((("]}):
        lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body=body).lines()
        assert len(lines) == 5, body


def test_sql_predicate_hints(shared):
    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE,
                 body={"predicateHints": ["part = 'b'"]}).lines()
    assert [x["file"]["partitionValues"] for x in lines[2:]] == [{"part": "b"}]


def test_limit_hint_returns_enough_files(shared):
    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"limitHint": 4}).lines()
    files = lines[2:]
    assert len(files) == 2  # 3 rows per file: two files hold the 4 rows asked for
    assert len(_rows_of(lines)) >= 4
    one = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"limitHint": 1}).lines()
    assert len(one) == 3


def test_bad_query_bodies_are_400(shared):
    for body in ({"version": -1}, {"version": "x"}, {"limitHint": True}, {"predicateHints": "a = 1"},
                 {"startingVersion": 0, "version": 1}):
        r = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body=body)
        assert r.status == 400 and r.json()["errorCode"] == "INVALID_PARAMETER_VALUE", body
    raw = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body=None, method="POST")
    assert raw.status == 200  # an empty body is an empty query


def test_query_starting_version_returns_change_files(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"startingVersion": 1})
    assert r.headers["Delta-Table-Version"] == "1"
    adds = [x["add"] for x in r.lines() if "add" in x]
    assert sorted(a["version"] for a in adds) == [1, 2] and all(a["timestamp"] for a in adds)


def test_changes_parquet_format(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/cdft/changes?startingVersion=0&endingVersion=2"), ALICE)
    assert r.status == 200
    lines = r.lines()
    kinds = [next(iter(x)) for x in lines[2:]]
    assert kinds.count("add") == 1 and kinds.count("cdf") >= 1
    got = sorted((int(row["id"]), row["_change_type"]) for row in _rows_of(lines, "cdf"))
    want = DeltaTable(shared.root / "cdft").load_cdf(starting_version=1, ending_version=2)
    assert got == sorted(zip(want.column("id").to_pylist(), want.column("_change_type").to_pylist()))
    assert call(shared.url("/shares/s1/schemas/sc/tables/parts/changes?startingVersion=0"), ALICE).status == 400


def test_dv_table_needs_delta_format(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/dvt/query"), ALICE, body={})
    assert r.status == 400 and "responseformat=delta" in r.json()["message"]
    r = call(shared.url("/shares/s1/schemas/sc/tables/dvt/query"), ALICE, body={}, headers=DELTA)
    assert r.status == 200 and r.headers["delta-sharing-capabilities"] == "responseformat=delta"
    lines = r.lines()
    assert lines[0]["protocol"]["deltaProtocol"]["minReaderVersion"] == 3
    assert "deltaMetadata" in lines[1]["metaData"]
    (f,) = [x["file"] for x in lines[2:]]
    add = f["deltaSingleAction"]["add"]
    dv = add["deletionVector"]
    assert dv["storageType"] in ("p", "i") and dv["cardinality"] == 3
    assert ("deletionVectorFileId" in f) == (dv["storageType"] == "p")
    assert add["path"].startswith("http://127.0.0.1")
    data = pq.read_table(io.BytesIO(call(add["path"]).body))
    assert data.num_rows == 10  # the file as stored; the DV (fetched by its own URL) removes three rows
    if dv["storageType"] == "p":
        assert call(dv["pathOrInlineDv"]).status == 200
    both = call(shared.url("/shares/s1/schemas/sc/tables/dvt/metadata"), ALICE,
                headers={"delta-sharing-capabilities": "responseformat=parquet,delta"})
    assert both.headers["delta-sharing-capabilities"] == "responseformat=delta"  # the table needs delta


def test_plain_table_with_both_formats_answers_parquet(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/parts/metadata"), ALICE,
             headers={"delta-sharing-capabilities": "responseformat=delta,parquet"})
    assert r.headers["delta-sharing-capabilities"] == "responseformat=parquet"


def test_end_stream_action_when_asked(shared):
    caps = {"delta-sharing-capabilities": "responseformat=delta;includeendstreamaction=true"}
    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={}, headers=caps).lines()
    assert "endStreamAction" in lines[-1] and lines[-1]["endStreamAction"]["minUrlExpirationTimestamp"] > 0


def test_changes_need_the_feed_enabled_on_the_table(tmp_path):
    """cdfEnabled in the config is not enough: a table whose delta.enableChangeDataFeed is off has no
    change data, and its adds/removes must not be passed off as one."""
    import pyarrow as pa

    from lakehouse import write_delta
    from lakehouse.integrations.sharing import app
    from tests.integrations.sharing.conftest import ServerThread

    write_delta(tmp_path / "t", pa.table({"id": [1, 2]}))
    DeltaTable(tmp_path / "t").delete("id = 1")
    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [
        {"name": "t", "location": str(tmp_path / "t"), "historyShared": True, "cdfEnabled": True}]}]}],
        "authorization": {"bearerToken": "cdf-token-0001"}}
    DeltaTable(tmp_path / "t").alter.set_table_properties({"delta.enableChangeDataFeed": "true"})  # version 2
    DeltaTable(tmp_path / "t").delete("id = 2")  # version 3
    with ServerThread(app(config)) as server:
        url = f"http://127.0.0.1:{server.port}/delta-sharing/shares/s/schemas/d/tables/t/changes?startingVersion="
        r = call(url + "0", "cdf-token-0001")
        assert r.status == 400 and "not enabled" in r.json()["message"]
        r = call(url + "2", "cdf-token-0001", headers=DELTA)
    assert r.status == 200
    lines = r.lines()
    assert [x["metaData"]["version"] for x in lines if "metaData" in x] == [2]  # once, not again for its commit
    assert [next(iter(x["file"]["deltaSingleAction"])) for x in lines if "file" in x] == ["cdc"]


def test_changes_send_one_metadata_line_for_the_starting_version(shared):
    r = call(shared.url("/shares/s1/schemas/sc/tables/cdft/changes?startingVersion=0"), ALICE, headers=DELTA)
    metas = [x["metaData"]["version"] for x in r.lines() if "metaData" in x]
    assert metas == [0]


def test_start_version_hides_older_history(shared):
    from lakehouse.integrations.sharing import app
    from tests.integrations.sharing.conftest import ServerThread

    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [
        {"name": "t", "location": str(shared.root / "cdft"), "historyShared": True, "cdfEnabled": True,
         "startVersion": 1}]}]}], "authorization": {"bearerToken": "start-token-01"}}
    with ServerThread(app(config)) as server:
        base = f"http://127.0.0.1:{server.port}/delta-sharing/shares/s/schemas/d/tables/t"
        assert call(base + "/query", "start-token-01", body={"version": 0}).status == 400
        assert call(base + "/query", "start-token-01", body={"version": 1}).status == 200
        assert call(base + "/changes?startingVersion=0", "start-token-01").status == 400
        assert call(base + "/changes?startingVersion=1", "start-token-01").status == 200
        assert call(base + "/query", "start-token-01", body={}).status == 200  # the latest is always shared


def test_missing_table_location_is_500_without_the_path(tmp_path):
    from lakehouse.integrations.sharing import app
    from tests.integrations.sharing.conftest import ServerThread

    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [
        {"name": "t", "location": str(tmp_path / "nothing-here")}]}]}], "authorization": {"bearerToken": "gone-token-01"}}
    with ServerThread(app(config)) as server:
        r = call(f"http://127.0.0.1:{server.port}/delta-sharing/shares/s/schemas/d/tables/t/query", "gone-token-01", body={})
    assert r.status == 500 and r.json()["errorCode"] == "INTERNAL_ERROR"
    assert "s.d.t" in r.json()["message"] and str(tmp_path) not in r.body.decode()
