"""Pure parts of sharing: the YAML config (reference format and recipients), bearer-token checks, names,
predicate hints as lakehouse expressions, and the capabilities header."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from lakehouse.errors import InvalidArgumentError, SharingError
from lakehouse.protocol.expr_ast import And, Cmp, Col, IsNull, Lit, Not, Or
from lakehouse.integrations.sharing.auth import authenticate
from lakehouse.integrations.sharing.config import load_config, name_problem, parse_config, sha256_hex
from lakehouse.integrations.sharing.hints import json_hint, sql_hints
from lakehouse.integrations.sharing.protocol import Capabilities

REFERENCE_YAML = """
version: 1
shares:
- name: "share1"
  schemas:
  - name: "default"
    tables:
    - name: "table1"
      location: "s3a://bucket/path/table1"
      id: "00000000-0000-0000-0000-000000000000"
    - name: "table2"
      location: "/data/table2"
      historyShared: true
      cdfEnabled: true
      startVersion: 3
host: "localhost"
port: 8080
endpoint: "/delta-sharing"
preSignedUrlTimeoutSeconds: 3600
deltaTableCacheSize: 10
stalenessAcceptable: false
evaluatePredicateHints: false
authorization:
  bearerToken: "token-from-the-reference"
"""


def test_reference_yaml_loads(tmp_path):
    path = tmp_path / "server.yaml"
    path.write_text(REFERENCE_YAML)
    cfg = load_config(path)
    (share,) = cfg.shares
    t1, t2 = share.schemas["default"]
    assert t1.location == "s3://bucket/path/table1" and t1.id == "00000000-0000-0000-0000-000000000000"
    assert not t1.history_shared and t2.history_shared and t2.cdf_enabled and t2.start_version == 3
    assert cfg.endpoint == "/delta-sharing" and cfg.url_timeout_seconds == 3600 and cfg.port == 8080
    assert cfg.max_concurrent_requests == 128
    (r,) = cfg.recipients
    assert r.shares is None and r.token_sha256 == sha256_hex("token-from-the-reference")
    assert authenticate(cfg, "Bearer token-from-the-reference") is r


def _base(**extra):
    return {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [{"name": "t", "location": "/x"}]}]}], **extra}


@pytest.mark.parametrize("bad,words", [
    ({}, "accept nobody"),
    ({"recipients": [{"name": "a", "bearerToken": "short"}]}, "8 characters"),
    ({"recipients": [{"name": "a", "bearerToken": "long-enough-1", "bearerTokenSha256": "0" * 64}]}, "exactly one"),
    ({"recipients": [{"name": "a", "bearerTokenSha256": "xyz"}]}, "64 hex"),
    ({"recipients": [{"name": "a", "bearerToken": "long-enough-1", "shares": ["nope"]}]}, "unknown share"),
    ({"recipients": [{"name": "a", "bearerToken": "long-enough-1", "expirationTime": "soon"}]}, "ISO-8601"),
    ({"authorization": {"bearerToken": ""}}, "bearerToken"),
    ({"authorization": {"bearerToken": "t"}, "preSignedUrlTimeoutSeconds": 0}, "positive"),
    ({"authorization": {"bearerToken": "t"}, "maxConcurrentRequests": 0}, "maxConcurrentRequests"),
])
def test_bad_configs_say_what_is_wrong(bad, words):
    with pytest.raises(InvalidArgumentError, match=words):
        parse_config(_base(**bad))


@pytest.mark.parametrize("share,schema,table", [("a b", "d", "t"), ("s", "d.x", "t"), ("s", "d", "t/x"),
                                                 ("s", "d", "t\x01"), ("s", "d", "x" * 256)])
def test_bad_names_in_config(share, schema, table):
    raw = {"shares": [{"name": share, "schemas": [{"name": schema, "tables": [{"name": table, "location": "/x"}]}]}],
           "authorization": {"bearerToken": "long-enough-1"}}
    with pytest.raises(InvalidArgumentError):
        parse_config(raw)


def test_duplicate_tables_refused():
    raw = _base(authorization={"bearerToken": "long-enough-1"})
    raw["shares"][0]["schemas"][0]["tables"].append({"name": "T", "location": "/y"})
    with pytest.raises(InvalidArgumentError, match="twice"):
        parse_config(raw)


def test_names_rules():
    assert name_problem("share.with.dots", "share") is None
    assert name_problem("schema.x", "schema") and name_problem("a b", "table") and name_problem("a\x7f", "table")
    assert name_problem("x" * 255, "table") is None and name_problem("x" * 256, "table")


def test_expired_recipient_and_sha256_recipient():
    cfg = parse_config(_base(recipients=[
        {"name": "a", "bearerToken": "token-aaaa-1", "expirationTime": "2000-01-01T00:00:00Z"},
        {"name": "b", "bearerTokenSha256": sha256_hex("token-bbbb-2"), "shares": ["S"]}]))
    with pytest.raises(SharingError, match="expired") as e:
        authenticate(cfg, "Bearer token-aaaa-1")
    assert e.value.status == 401
    assert authenticate(cfg, "Bearer token-aaaa-1", now=datetime(1999, 1, 1, tzinfo=timezone.utc)).name == "a"
    b = authenticate(cfg, "Bearer token-bbbb-2")
    assert b.name == "b" and b.shares == frozenset({"s"})
    for header in (None, "", "Bearer", "Basic token-bbbb-2", "Bearer token-bbbb-3"):
        with pytest.raises(SharingError):
            authenticate(cfg, header)


def _leaf(op, name, vt, value):
    return {"op": op, "children": [{"op": "column", "name": name, "valueType": vt},
                                   {"op": "literal", "value": value, "valueType": vt}]}


def test_json_hints_become_lakehouse_expressions():
    cols = ["id", "d", "s", "f", "b", "ts"]
    assert json_hint(json.dumps(_leaf("equal", "d", "date", "2021-04-29")), cols) == \
        Cmp("=", Col(("d",)), Lit(date(2021, 4, 29)))
    tree = {"op": "and", "children": [_leaf("lessThan", "id", "int", "25"), _leaf("greaterThanOrEqual", "f", "double", "1.5"),
                                      {"op": "not", "children": [{"op": "isNull", "children": [
                                          {"op": "column", "name": "s", "valueType": "string"}]}]},
                                      {"op": "or", "children": [_leaf("lessThanOrEqual", "b", "bool", "true"),
                                                                _leaf("greaterThan", "ts", "timestamp", "2022-01-01T00:00:00Z")]}]}
    assert json_hint(json.dumps(tree), cols) == And((
        Cmp("<", Col(("id",)), Lit(25)), Cmp(">=", Col(("f",)), Lit(1.5)), Not(IsNull(Col(("s",)))),
        Or((Cmp("<=", Col(("b",)), Lit(True)), Cmp(">", Col(("ts",)), Lit(datetime(2022, 1, 1, tzinfo=timezone.utc)))))))


@pytest.mark.parametrize("text", [
    "not json", "[]", json.dumps({"op": "like"}), json.dumps(_leaf("equal", "nope", "int", "1")),
    json.dumps(_leaf("equal", "id", "int", "x")), json.dumps({"op": "and", "children": [_leaf("equal", "id", "int", "1")]}),
    json.dumps(_leaf("equal", "id", "weird", "1")), json.dumps({"op": "equal", "children": [{"op": "column", "name": "id"}]}),
    "{" * 5000,
])
def test_unusable_json_hints_are_dropped(text):
    assert json_hint(text, ["id"]) is None


def test_sql_hints_keep_what_parses():
    expr = sql_hints(["id > 3", "((( nonsense", "nope = 1", 42], ["id"])
    assert expr is not None and "id" in repr(expr) and "nope" not in repr(expr)
    assert sql_hints(None, ["id"]) is None and sql_hints(["((("], ["id"]) is None


def test_capabilities_header():
    caps = Capabilities.parse("responseFormat=Delta,parquet; readerFeatures=deletionVectors,columnMapping;"
                              "includeEndStreamAction=true")
    assert caps.response_formats == ("delta", "parquet") and "deletionvectors" in caps.reader_features
    assert caps.include_end_stream_action
    assert Capabilities.parse(None).response_formats == ("parquet",)


def test_response_lines_are_chunked_after_the_first_two():
    from lakehouse.integrations.sharing.server import _chunks

    lines = [b"p\n", b"m\n"] + [b"f%d\n" % i for i in range(1000)]
    chunks = list(_chunks(iter(lines), size=1024))
    assert chunks[0] == b"p\nm\n"  # protocol and metadata leave at once
    assert b"".join(chunks) == b"".join(lines) and len(chunks) < 10
    assert list(_chunks(iter([]))) == [] and list(_chunks(iter([b"p\n"]))) == [b"p\n"]
