"""Security of the sharing server: authentication, grants that do not reveal existence, name validation,
signed and expiring file URLs, containment of every served path (``..``, ``%2F``, absolute paths,
symlinks, and a hypothesis search over random paths), and the audit log."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lakehouse.integrations.sharing.urls import UrlSigner
from tests.integrations.sharing.conftest import ALICE, BOB, OLD, SECRET, call

ROUTES = ["/shares", "/shares/s1", "/shares/s1/schemas", "/shares/s1/schemas/sc/tables", "/shares/s1/all-tables",
          "/shares/s1/schemas/sc/tables/parts/version", "/shares/s1/schemas/sc/tables/parts/metadata",
          "/shares/s1/schemas/sc/tables/cdft/changes?startingVersion=0"]


def _file_url(shared, rel: str, *, expires: int | None = None, key: str = "s1.sc.parts", secret: bytes = SECRET) -> str:
    token = UrlSigner(secret).token(key, rel, expires if expires is not None else int(time.time()) + 600)
    return shared.url(f"/files/{token}")


def _a_data_file(shared) -> str:
    return next(p.name for p in (shared.root / "parts" / "part=a").iterdir() if p.suffix == ".parquet")


@pytest.mark.parametrize("token", [None, "wrong-token-123", OLD])
def test_no_wrong_or_expired_token_is_401(shared, token):
    for route in ROUTES:
        r = call(shared.url(route), token)
        assert r.status == 401 and r.json()["errorCode"] == "UNAUTHENTICATED", route
    q = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), token, body={})
    assert q.status == 401
    if token == OLD:
        assert "expired" in q.json()["message"]


def test_malformed_authorization_header_is_401(shared):
    for header in ("Basic " + ALICE, ALICE, "Bearer", "Bearer  ", "bearer " + ALICE.upper()):
        r = call(shared.url("/shares"), headers={"Authorization": header})
        assert r.status == 401, header
    assert call(shared.url("/shares"), headers={"Authorization": "bearer " + ALICE}).status == 200


def test_token_given_by_sha256_works(shared):
    assert call(shared.url("/shares/s2/schemas/sc/tables/secret/version"), BOB).status == 200


def test_not_granted_looks_like_missing(shared):
    pairs = [("/shares/s2", "/shares/zz"), ("/shares/s2/schemas", "/shares/zz/schemas"),
             ("/shares/s2/all-tables", "/shares/zz/all-tables"),
             ("/shares/s2/schemas/sc/tables/secret/version", "/shares/zz/schemas/sc/tables/secret/version"),
             ("/shares/s2/schemas/sc/tables/secret/metadata", "/shares/zz/schemas/sc/tables/secret/metadata")]
    for granted_elsewhere, missing in pairs:
        a, b = call(shared.url(granted_elsewhere), ALICE), call(shared.url(missing), ALICE)
        assert a.status == b.status == 404
        assert a.json()["errorCode"] == b.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"
        assert a.json()["message"].replace("s2", "zz") == b.json()["message"]
    q = call(shared.url("/shares/s2/schemas/sc/tables/secret/query"), ALICE, body={})
    assert q.status == 404
    # Within a granted share, a missing schema or table is 404 too.
    assert call(shared.url("/shares/s1/schemas/nope/tables"), ALICE).status == 404
    assert call(shared.url("/shares/s1/schemas/sc/tables/nope/metadata"), ALICE).status == 404


@pytest.mark.parametrize("path", [
    "/shares/has%20space", "/shares/s1/schemas/a.b/tables", "/shares/s1/schemas/sc/tables/a.b/version",
    "/shares/" + "x" * 256, "/shares/s1/schemas/%01ctl/tables", "/shares/s1/schemas/sc/tables/del%7F/metadata",
])
def test_invalid_names_are_400(shared, path):
    r = call(shared.url(path), ALICE)
    assert r.status == 400 and r.json()["errorCode"] == "INVALID_PARAMETER_VALUE"


def test_slash_in_a_name_never_reaches_another_resource(shared):
    for path in ("/shares/s1%2Fschemas/schemas", "/shares/s1/schemas/sc%2Ftables/tables",
                 "/shares/s1/schemas/sc/tables/..%2F..%2Fs2/version", "/shares/..%2Fs2/all-tables"):
        r = call(shared.url(path), ALICE)
        assert r.status in (400, 404), path


def test_tampered_or_foreign_file_url_is_403(shared):
    good = _file_url(shared, f"part=a/{_a_data_file(shared)}")
    assert call(good).status == 200
    base, _, sig = good.partition("&sig=")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert call(f"{base}&sig={flipped}").status == 403
    assert call(base).status == 403  # no signature at all
    other = _file_url(shared, f"part=b/{_a_data_file(shared)}")  # a payload re-pointed, old signature kept
    assert call(other.split("?")[0] + "?sp=r&sig=" + sig).status == 403
    forged = _file_url(shared, f"part=a/{_a_data_file(shared)}", secret=b"not-the-server-secret-000000000")
    assert call(forged).status == 403
    for r in (call(f"{base}&sig={flipped}"), call(forged)):
        assert r.json() == {"errorCode": "PERMISSION_DENIED", "message": "the file URL is invalid or has expired"}


def test_expired_file_url_is_403(shared):
    rel = f"part=a/{_a_data_file(shared)}"
    assert call(_file_url(shared, rel, expires=int(time.time()) - 1)).status == 403


def test_urls_from_a_response_expire(shared):
    from lakehouse.integrations.sharing.urls import UrlSigner as Signer

    lines = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={}).lines()
    url = lines[2]["file"]["url"]
    payload = urllib.parse.urlsplit(url).path.rsplit("/", 1)[1]
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["sig"][0]
    grant = Signer(SECRET).verify(payload, sig)
    assert 590 <= grant.expires - time.time() <= 601  # preSignedUrlTimeoutSeconds
    with pytest.raises(Exception):
        Signer(SECRET).verify(payload, sig, now=grant.expires)


@pytest.mark.parametrize("rel", [
    "../outside/secret.parquet", "part=a/../../outside/secret.parquet", "%2E%2E/outside/secret.parquet",
    "..%2Foutside%2Fsecret.parquet", "/etc/passwd", "//etc/passwd", "part=a/./x", "", ".", "..",
    "part=a\\..\\..\\outside\\secret.parquet", "_delta_log/../../outside/secret.parquet", "part=a//x",
    "part=a/%00x",
])
def test_signed_paths_outside_the_table_are_403(shared, rel):
    r = call(_file_url(shared, rel))
    assert r.status == 403 and b"PAR1" not in r.body


def test_symlink_to_outside_is_not_served(shared):
    lines = call(shared.url("/shares/s1/schemas/sc/tables/linked/query"), ALICE, body={}).lines()
    (f,) = [x["file"] for x in lines[2:]]
    r = call(f["url"])
    assert r.status == 403 and b"PAR1" not in r.body


def test_raw_paths_under_files_never_serve(shared):
    for path in ("/files/..%2F..%2Fetc%2Fpasswd", "/files/%2Fetc%2Fpasswd", "/files/../../etc/passwd",
                 "/files/x/y", "/files/"):
        r = call(shared.url(path))
        assert r.status in (403, 404) and b"root:" not in r.body, path


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["..", ".", "", "part=a", "part=b", "outside", "secret.parquet", "%2E%2E", "%2F",
                                 "_delta_log", "/", "x", "..%2F", "\\"]), min_size=1, max_size=6),
       st.text(max_size=8))
def test_random_paths_never_escape_the_table(shared, segments, tail):
    rel = "/".join(segments) + tail
    r = call(_file_url(shared, rel))
    root = (shared.root / "parts").resolve()
    if r.status == 200:
        target = (root / rel).resolve()
        assert target.is_relative_to(root) and target.is_file() and ".." not in rel.split("/")
    else:
        assert r.status == 403 and b"PAR1" not in r.body


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=20))
def test_random_names_never_reveal_ungranted_tables(shared, name):
    quoted = urllib.parse.quote(name, safe="")
    for path in (f"/shares/{quoted}/all-tables", f"/shares/s2/schemas/{quoted}/tables",
                 f"/shares/s1/schemas/sc/tables/{quoted}/version"):
        r = call(shared.url(path), ALICE)
        assert r.status in (200, 400, 404), (path, r.status)
        if r.status == 200:
            assert "s2" not in r.body.decode() or name.lower() == "s1"


def test_audit_log_records_requests_without_secrets(shared):
    call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={"version": 1})
    call(shared.url("/shares"), "wrong-token-123")
    url = call(shared.url("/shares/s1/schemas/sc/tables/parts/query"), ALICE, body={}).lines()[2]["file"]["url"]
    call(url)
    text = shared.audit.read_text()
    records = [json.loads(x) for x in text.splitlines()]
    query = [r for r in records if r["route"] == "query" and r.get("version") == 1 and r["recipient"] == "alice"]
    assert query and query[-1]["table"] == "s1.sc.parts" and query[-1]["files"] == 2 and query[-1]["status"] == 200
    assert any(r["status"] == 401 and r["recipient"] is None for r in records)
    files = [r for r in records if r["route"] == "file" and r["status"] == 200]
    assert files and files[-1]["table"] == "s1.sc.parts" and files[-1]["file"].startswith("part=")
    for secret in (ALICE, BOB, OLD, "wrong-token-123", urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["sig"][0]):
        assert secret not in text


def test_audit_file_holds_only_its_own_server(shared, tmp_path):
    from lakehouse.integrations.sharing import app
    from tests.integrations.sharing.conftest import ServerThread

    other_log = tmp_path / "other.log"
    config = {"shares": [{"name": "o", "schemas": [{"name": "d", "tables": [
        {"name": "t", "location": str(shared.root / "parts")}]}]}],
        "authorization": {"bearerToken": "other-token-01"}, "auditLog": str(other_log)}
    with ServerThread(app(config)) as server:
        call(f"http://127.0.0.1:{server.port}/delta-sharing/shares", "other-token-01")
    before = shared.audit.read_text()
    call(shared.url("/shares"), ALICE)
    assert '"recipient": "default"' not in shared.audit.read_text() and shared.audit.read_text() != before
    assert [json.loads(x)["recipient"] for x in other_log.read_text().splitlines()] == ["default"]


def test_tokens_are_compared_with_every_recipient(monkeypatch):
    """Constant time: the digest is compared with every recipient's, whichever matches (no early exit)."""
    import hmac

    from lakehouse.integrations.sharing import auth
    from lakehouse.integrations.sharing.config import parse_config

    cfg = parse_config({"shares": [], "recipients": [{"name": f"r{i}", "bearerToken": f"token-{i:04d}"} for i in range(5)]})
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    for header in ("Bearer token-0000", "Bearer token-0004", "Bearer wrong-token"):
        calls.clear()
        try:
            auth.authenticate(cfg, header)
        except Exception:
            pass
        assert len(calls) == 5, header
