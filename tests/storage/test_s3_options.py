"""``storage_options`` as deltalake users write them, against the real S3 API (moto server on 127.0.0.1).

One dict in delta-rs/object_store spelling opens the same table in lakehouse and in deltalake, both ways;
lower-case ``aws_*`` keys, fsspec keys and environment-only configuration work; an unknown key and a
missing bucket are one clear `LakehouseError` each; the CLI takes the same keys.
"""

from __future__ import annotations

import warnings

import pyarrow as pa
import pytest
from deltalake import DeltaTable as DlTable
from deltalake import write_deltalake

import lakehouse
import lakehouse.storage.options as storage_options_module
from lakehouse.errors import BucketNotFoundError, InvalidArgumentError, TableNotFoundError
from lakehouse.errors import StorageOptionWarning
from tests.support.cli import lakehouse_cli
from tests.conftest import S3_ENV
from tests.support.rows import assert_same_rows

# The tests that check the warning reset its once-per-process memory and catch it themselves.
pytestmark = pytest.mark.filterwarnings("ignore::lakehouse.errors.StorageOptionWarning")


def delta_rs_options(endpoint: str) -> dict[str, str]:
    """The dict a deltalake user passes for an S3-compatible server (unsafe rename: deltalake's own need)."""
    return {
        "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": S3_ENV["AWS_DEFAULT_REGION"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def _rows(ids) -> pa.Table:
    ids = list(ids)
    return pa.table({"id": pa.array(ids, pa.int64()), "p": ["a" if i % 2 else "b" for i in ids],
                     "s": [f"v{i}" for i in ids]})


def _dl_rows(uri: str, options: dict) -> pa.Table:
    return DlTable(uri, storage_options=options).to_pyarrow_table()


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which ignored keys were already warned about in this process (the warning is once per key)."""
    monkeypatch.setattr(storage_options_module, "_WARNED", set())


def test_lakehouse_writes_deltalake_reads_one_dict(s3_bucket, s3_server, fresh_warnings):
    bucket, _, _ = s3_bucket
    uri, options = f"s3://{bucket}/t", delta_rs_options(s3_server)
    with pytest.warns(StorageOptionWarning, match="'AWS_S3_ALLOW_UNSAFE_RENAME' configures delta-rs's commit "
                                                  "locking; lakehouse needs no lock"):
        lakehouse.write_delta(uri, _rows(range(5)), partition_by=["p"], storage_options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: opening the table again stays quiet
        lakehouse.write_delta(uri, _rows(range(5, 8)), mode="append", storage_options=options)
        lakehouse.DeltaTable(uri, storage_options=options).delete("id = 2")
        got = lakehouse.DeltaTable(uri, storage_options=options).to_arrow()
    want = _rows([0, 1, 3, 4, 5, 6, 7])
    assert_same_rows(got, want, "lakehouse")
    assert_same_rows(_dl_rows(uri, options), want, "deltalake")
    assert DlTable(uri, storage_options=options).version() == 2


def test_deltalake_writes_lakehouse_reads_and_appends_one_dict(s3_bucket, s3_server):
    bucket, _, _ = s3_bucket
    uri, options = f"s3://{bucket}/t", delta_rs_options(s3_server)
    write_deltalake(uri, _rows(range(4)), partition_by=["p"], storage_options=options)
    write_deltalake(uri, _rows(range(4, 6)), mode="append", storage_options=options)
    table = lakehouse.DeltaTable(uri, storage_options=options)
    assert table.version == 1
    assert_same_rows(table.to_arrow(), _rows(range(6)), "lakehouse")
    lakehouse.write_delta(uri, _rows([6]), mode="append", storage_options=options)
    assert_same_rows(_dl_rows(uri, options), _rows(range(7)), "deltalake after the lakehouse append")


def test_lower_case_and_short_object_store_keys(s3_bucket, s3_server):
    bucket, _, _ = s3_bucket
    uri = f"s3://{bucket}/t"
    options = {"aws_access_key_id": "testing", "secret_access_key": "testing", "aws_endpoint": s3_server,
               "region": S3_ENV["AWS_DEFAULT_REGION"], "aws_allow_http": "true"}
    lakehouse.write_delta(uri, _rows(range(3)), storage_options=options)
    assert_same_rows(lakehouse.DeltaTable(uri, storage_options=options).to_arrow(), _rows(range(3)), "lakehouse")
    assert_same_rows(_dl_rows(uri, options), _rows(range(3)), "deltalake")


def test_fsspec_keys_and_delta_rs_keys_open_the_same_table(s3_bucket, s3_server):
    bucket, fsspec_options, _ = s3_bucket
    uri = f"s3://{bucket}/t"
    lakehouse.write_delta(uri, _rows(range(3)), storage_options=fsspec_options)
    lakehouse.write_delta(uri, _rows([3]), mode="append", storage_options=delta_rs_options(s3_server))
    for options in (fsspec_options, delta_rs_options(s3_server)):
        assert_same_rows(lakehouse.DeltaTable(uri, storage_options=options).to_arrow(), _rows(range(4)), "lakehouse")


def test_environment_alone_configures_s3(s3_bucket, s3_server, monkeypatch):
    """No storage_options at all: the object_store spellings botocore does not read itself (AWS_ENDPOINT,
    AWS_REGION) come from the environment, as in delta-rs."""
    bucket, _, _ = s3_bucket
    uri = f"s3://{bucket}/t"
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT", s3_server)
    monkeypatch.setenv("AWS_REGION", S3_ENV["AWS_DEFAULT_REGION"])
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    lakehouse.write_delta(uri, _rows(range(4)))
    lakehouse.write_delta(uri, _rows([4]), mode="append")
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), _rows(range(5)), "lakehouse")
    assert_same_rows(DlTable(uri).to_pyarrow_table(), _rows(range(5)), "deltalake, configured by the same variables")


def test_unknown_key_is_one_clear_error(s3_bucket, s3_server):
    bucket, _, _ = s3_bucket
    options = dict(delta_rs_options(s3_server), AWS_ACESS_KEY_ID="testing")
    for call in (lambda: lakehouse.DeltaTable(f"s3://{bucket}/t", storage_options=options),
                 lambda: lakehouse.write_delta(f"s3://{bucket}/t", _rows([1]), storage_options=options)):
        with pytest.raises(InvalidArgumentError, match="unknown storage option 'AWS_ACESS_KEY_ID'.*\n"
                                                       "Help: did you mean 'AWS_ACCESS_KEY_ID'"):
            call()


def test_missing_bucket_says_bucket_not_found(s3_server):
    uri, options = "s3://no-such-bucket-here/t", delta_rs_options(s3_server)
    for call in (lambda: lakehouse.DeltaTable(uri, storage_options=options),
                 lambda: lakehouse.write_delta(uri, _rows([1]), storage_options=options),
                 lambda: lakehouse.DeltaTable.create(uri, schema=_rows([1]).schema, storage_options=options)):
        with pytest.raises(BucketNotFoundError, match="^bucket not found: 'no-such-bucket-here'") as e:
            call()
        assert not isinstance(e.value, TableNotFoundError)


def test_missing_prefix_in_an_existing_bucket_is_still_no_table(s3_bucket, s3_server):
    bucket, _, _ = s3_bucket
    with pytest.raises(TableNotFoundError, match="no Delta table"):
        lakehouse.DeltaTable(f"s3://{bucket}/nothing", storage_options=delta_rs_options(s3_server))


def test_cli_takes_delta_rs_keys(s3_bucket, s3_server):
    bucket, _, _ = s3_bucket
    uri, options = f"s3://{bucket}/t", delta_rs_options(s3_server)
    lakehouse.write_delta(uri, _rows(range(3)), storage_options=options)
    flags = [a for k, v in options.items() for a in ("--storage-option", f"{k}={v}")]
    rows = lakehouse_cli("scan", uri, "--json", *flags).json_lines()
    assert sorted(r["id"] for r in rows) == [0, 1, 2]
    typo = lakehouse_cli("describe", uri, *flags, "--storage-option", "AWS_REGOIN=x", expect=2)
    assert "unknown storage option 'AWS_REGOIN'" in typo.err and "did you mean 'AWS_REGION'?" in typo.err
    missing = lakehouse_cli("describe", "s3://no-such-bucket-here/t", *flags, expect=2)
    assert missing.err.startswith("warning: storage option 'AWS_S3_ALLOW_UNSAFE_RENAME' configures delta-rs")
    assert "\nerror: bucket not found: 'no-such-bucket-here'" in missing.err, missing.err
