"""`normalize_storage_options`: delta-rs/object_store keys and fsspec/s3fs keys to s3fs keyword arguments.

Pure-function tests (the environment is an argument); the S3 server tests in test_s3_options.py check that
the translated arguments reach a real S3 API and that deltalake reads the same tables with the same dict.
"""

from __future__ import annotations

import inspect

import pytest

from lakehouse.errors import InvalidArgumentError, LakehouseError
from lakehouse.storage.options import FSSPEC_S3_KEYS, normalize_storage_options

ENDPOINT = "http://127.0.0.1:9000"


def norm(options, environ=None, scheme="s3"):
    return normalize_storage_options(scheme, options, environ or {})


def test_delta_rs_keys_become_s3fs_arguments():
    got = norm({"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_SESSION_TOKEN": "tok",
                "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": ENDPOINT, "AWS_ALLOW_HTTP": "true"})
    assert got.kwargs == {"key": "ak", "secret": "sk", "token": "tok",
                          "client_kwargs": {"region_name": "eu-west-1", "endpoint_url": ENDPOINT}}
    assert got.ignored == ()


@pytest.mark.parametrize("spelling", ["aws_access_key_id", "AWS_ACCESS_KEY_ID", "Aws_Access_Key_Id", "access_key_id"])
def test_every_case_and_alias_of_a_key(spelling):
    assert norm({spelling: "ak"}).kwargs == {"key": "ak"}


@pytest.mark.parametrize("key, value, want", [
    ("AWS_ENDPOINT", ENDPOINT, {"client_kwargs": {"endpoint_url": ENDPOINT}}),
    ("endpoint", ENDPOINT, {"client_kwargs": {"endpoint_url": ENDPOINT}}),
    ("aws_token", "t", {"token": "t"}),
    ("session_token", "t", {"token": "t"}),
    ("AWS_PROFILE", "dev", {"profile": "dev"}),
    ("AWS_DEFAULT_REGION", "us-west-2", {"client_kwargs": {"region_name": "us-west-2"}}),
    ("region", "us-west-2", {"client_kwargs": {"region_name": "us-west-2"}}),
    ("AWS_ALLOW_INVALID_CERTIFICATES", "true", {"client_kwargs": {"verify": False}}),
    ("AWS_ALLOW_INVALID_CERTIFICATES", "false", {}),
    ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "true", {"config_kwargs": {"s3": {"addressing_style": "virtual"}}}),
    ("AWS_S3_ADDRESSING_STYLE", "path", {"config_kwargs": {"s3": {"addressing_style": "path"}}}),
    ("AWS_SKIP_SIGNATURE", "true", {"anon": True}),
    ("AWS_REQUEST_PAYER", True, {"requester_pays": True}),
    ("AWS_ALLOW_HTTP", False, {}),
])
def test_each_translated_key(key, value, want):
    assert norm({key: value}).kwargs == want


def test_region_wins_over_default_region_in_any_order():
    for options in ({"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"}, {"AWS_DEFAULT_REGION": "b", "AWS_REGION": "a"}):
        assert norm(options).kwargs == {"client_kwargs": {"region_name": "a"}}


def test_fsspec_keys_pass_through_unchanged():
    options = {"key": "ak", "secret": "sk", "client_kwargs": {"endpoint_url": ENDPOINT, "region_name": "r"},
               "skip_instance_cache": True, "use_listings_cache": False, "config_kwargs": {"retries": {"max_attempts": 3}}}
    got = norm(options)
    assert got.kwargs == options
    got.kwargs["client_kwargs"]["region_name"] = "changed"
    assert options["client_kwargs"]["region_name"] == "r"  # the caller's dict is never modified


def test_both_styles_mix_and_agree():
    got = norm({"key": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "client_kwargs": {"endpoint_url": ENDPOINT},
                "AWS_ENDPOINT_URL": ENDPOINT, "AWS_REGION": "r"})
    assert got.kwargs == {"key": "ak", "secret": "sk", "client_kwargs": {"endpoint_url": ENDPOINT, "region_name": "r"}}


@pytest.mark.parametrize("options, named", [
    ({"key": "a", "AWS_ACCESS_KEY_ID": "b"}, "AWS_ACCESS_KEY_ID"),
    ({"client_kwargs": {"region_name": "a"}, "AWS_REGION": "b"}, "AWS_REGION"),
    ({"endpoint_url": "http://a", "AWS_ENDPOINT": "http://b"}, "AWS_ENDPOINT"),
    ({"AWS_ENDPOINT_URL": "http://a", "aws_endpoint": "http://b"}, "aws_endpoint"),
])
def test_two_spellings_that_disagree_are_refused(options, named):
    with pytest.raises(InvalidArgumentError, match=f"{named}.*different values"):
        norm(options)


def test_unknown_key_names_it_and_suggests_the_right_one():
    with pytest.raises(InvalidArgumentError) as e:
        norm({"AWS_ACESS_KEY_ID": "ak"})
    message = str(e.value)
    assert "unknown storage option 'AWS_ACESS_KEY_ID'" in message
    assert "did you mean 'AWS_ACCESS_KEY_ID'?" in message
    assert isinstance(e.value, LakehouseError) and not isinstance(e.value, TypeError)


def test_unknown_fsspec_style_key_suggests_the_fsspec_key():
    with pytest.raises(InvalidArgumentError, match="did you mean 'client_kwargs'"):
        norm({"client_kwarg": {}})


@pytest.mark.parametrize("key", ["AWS_S3_LOCKING_PROVIDER", "DELTA_DYNAMO_TABLE_NAME", "AWS_S3_ALLOW_UNSAFE_RENAME",
                                 "aws_conditional_put", "AWS_COPY_IF_NOT_EXISTS", "DELTA_DYNAMO_BILLING_MODE"])
def test_locking_keys_are_accepted_and_reported_as_ignored(key):
    got = norm({key: "x", "AWS_REGION": "r"})
    assert got.kwargs == {"client_kwargs": {"region_name": "r"}}
    assert [k for k, _ in got.ignored] == [key]
    assert "needs no lock" in got.ignored[0][1] and "conditional writes" in got.ignored[0][1]


def test_role_keys_are_refused_with_what_to_do():
    with pytest.raises(InvalidArgumentError, match="AWS_IAM_ROLE_ARN.*\n.*AWS_PROFILE"):
        norm({"AWS_IAM_ROLE_ARN": "arn:aws:iam::1:role/x"})


@pytest.mark.parametrize("options, match", [
    ({"AWS_ALLOW_HTTP": "maybe"}, "'AWS_ALLOW_HTTP' must be true or false, got 'maybe'"),
    ({"AWS_REGION": 5}, "'AWS_REGION' must be a string, got 5"),
    ({"AWS_S3_ADDRESSING_STYLE": "sideways"}, "must be 'path' or 'virtual'"),
])
def test_malformed_values_are_named(options, match):
    with pytest.raises(InvalidArgumentError, match=match):
        norm(options)


def test_environment_fills_what_the_options_leave_out():
    environ = {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_REGION": "r",
               "AWS_DEFAULT_REGION": "ignored", "AWS_ENDPOINT": ENDPOINT, "AWS_ALLOW_HTTP": "true"}
    assert norm({}, environ).kwargs == {"key": "ak", "secret": "sk",
                                        "client_kwargs": {"region_name": "r", "endpoint_url": ENDPOINT}}
    assert norm(None, {"AWS_DEFAULT_REGION": "d"}).kwargs == {"client_kwargs": {"region_name": "d"}}
    assert norm(None, {"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT": "http://b"}).kwargs == {
        "client_kwargs": {"endpoint_url": "http://a"}}


def test_options_win_over_the_environment():
    environ = {"AWS_ACCESS_KEY_ID": "env", "AWS_SECRET_ACCESS_KEY": "env", "AWS_SESSION_TOKEN": "env",
               "AWS_REGION": "env", "AWS_ENDPOINT_URL": "http://env"}
    got = norm({"AWS_DEFAULT_REGION": "opt", "client_kwargs": {"endpoint_url": ENDPOINT}}, environ)
    assert got.kwargs["client_kwargs"] == {"endpoint_url": ENDPOINT, "region_name": "opt"}


@pytest.mark.parametrize("options", [{"AWS_PROFILE": "dev"}, {"key": "k", "secret": "s"}, {"anon": True},
                                     {"aws_access_key_id": "k", "aws_secret_access_key": "s"}])
def test_credentials_come_from_the_environment_only_when_the_options_have_none(options):
    environ = {"AWS_ACCESS_KEY_ID": "env", "AWS_SECRET_ACCESS_KEY": "env", "AWS_SESSION_TOKEN": "env"}
    got = norm(options, environ).kwargs
    assert "env" not in (got.get("key"), got.get("secret"), got.get("token"))


def test_environment_values_are_validated_and_named():
    with pytest.raises(InvalidArgumentError, match="'AWS_ALLOW_HTTP' must be true or false"):
        norm({}, {"AWS_ALLOW_HTTP": "sometimes"})


def test_other_schemes_pass_through():
    options = {"anything": 1, "AWS_REGION": "x"}
    assert norm(options, {"AWS_REGION": "y"}, scheme="memory").kwargs == options
    assert norm(options, scheme="gs").kwargs == options


def test_s3a_is_translated_like_s3():
    assert norm({"AWS_REGION": "r"}, scheme="s3a").kwargs == {"client_kwargs": {"region_name": "r"}}


def test_fsspec_key_table_covers_the_installed_s3fs():
    import s3fs
    params = set(inspect.signature(s3fs.S3FileSystem.__init__).parameters) - {"self", "kwargs", "asynchronous", "loop"}
    assert params <= FSSPEC_S3_KEYS, sorted(params - FSSPEC_S3_KEYS)
