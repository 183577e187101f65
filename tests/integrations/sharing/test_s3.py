"""An S3 table (moto on 127.0.0.1) shared with pre-signed URLs of the store: the URLs carry the store's
signature and expiry, download without credentials, and the lakehouse client reads the table."""

from __future__ import annotations

import urllib.parse

import pyarrow as pa

from lakehouse import DeltaTable, write_delta
from lakehouse.integrations.sharing import SharingClient
from tests.integrations.sharing.conftest import ServerThread, call


def test_s3_table_is_shared_with_presigned_urls(s3_bucket):
    from lakehouse.integrations.sharing import app

    bucket, options, _fs = s3_bucket
    uri = f"s3a://{bucket}/tbl"  # the reference server's spelling; served as s3://
    write_delta(f"s3://{bucket}/tbl", pa.table({"id": [1, 2, 3], "p": ["x", "y", "x"]}), partition_by=["p"],
                storage_options=options)
    config = {"shares": [{"name": "s", "schemas": [{"name": "d", "tables": [
        {"name": "t", "location": uri, "storage_options": options}]}]}],
        "authorization": {"bearerToken": "s3-token-0001"}, "preSignedUrlTimeoutSeconds": 300}
    with ServerThread(app(config)) as server:
        base = f"http://127.0.0.1:{server.port}/delta-sharing"
        lines = call(base + "/shares/s/schemas/d/tables/t/query", "s3-token-0001", body={}).lines()
        urls = [x["file"]["url"] for x in lines[2:]]
        assert len(urls) == 2
        for url in urls:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == ["300"]
            r = call(url)  # no credentials: the signature is the grant
            assert r.status == 200 and r.body[:4] == b"PAR1"
            # (moto does not check signatures, so a tampered URL cannot be shown to fail here; S3 does.)
        client = SharingClient({"shareCredentialsVersion": 1, "endpoint": base, "bearerToken": "s3-token-0001"})
        got = client.load("s", "d", "t")
    want = DeltaTable(f"s3://{bucket}/tbl", storage_options=options).to_arrow()
    assert sorted(got.to_pylist(), key=str) == sorted(want.to_pylist(), key=str)
