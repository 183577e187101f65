"""``storage_options`` for S3 in both spellings: fsspec/s3fs keyword arguments and delta-rs/object_store keys.

Users of `deltalake` configure S3 with object_store's keys (``AWS_ACCESS_KEY_ID``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``...), in upper or lower case, in ``storage_options`` or in the
environment. `lakehouse` talks to S3 through s3fs, whose keyword arguments are spelled differently
(``key``, ``secret``, ``client_kwargs={"endpoint_url": ...}``). `normalize_storage_options` is the one
place that translates the first into the second, so a dict written for `deltalake` opens the same table
here. It is pure: the environment is an argument, and keys that are accepted but ignored are returned
for the caller to warn about.

The key table (spec/storage.md lists it for users) follows object_store's ``AmazonS3ConfigKey`` aliases
and delta-rs's ``s3_constants``. Keys that only configure delta-rs's commit locking (DynamoDB lock,
unsafe rename, conditional-put mode) are accepted and ignored: `lakehouse` commits with S3 conditional
writes (``If-None-Match: *``) and needs no lock. An unknown key is an `InvalidArgumentError` with a
"did you mean", never a ``TypeError`` from deep inside aiobotocore.

This module must not do I/O or import fsspec/s3fs: it maps dicts to dicts.
"""

from __future__ import annotations

import copy
import difflib
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from lakehouse.errors import InvalidArgumentError, StorageOptionWarning

#: Schemes whose options are translated; every other scheme's options go to fsspec unchanged.
S3_SCHEMES = ("s3", "s3a")

#: Keyword arguments s3fs's `S3FileSystem` (and the fsspec and aiobotocore layers it forwards to) accept.
#: A test checks this set against the installed s3fs signature, so a new s3fs argument is noticed.
FSSPEC_S3_KEYS = frozenset({
    "anon", "endpoint_url", "key", "secret", "token", "use_ssl", "client_kwargs", "requester_pays",
    "default_block_size", "default_fill_cache", "default_cache_type", "version_aware", "config_kwargs",
    "s3_additional_kwargs", "session", "username", "password", "cache_regions", "max_concurrency",
    "fixed_upload_size", "local_expiry_check",
    # fsspec's instance and listings caches
    "skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths",
    # forwarded by s3fs to aiobotocore's AioSession
    "profile", "session_vars", "event_hooks", "include_builtin_handlers",
})

# Targets: what a delta-rs key sets. Each has one place in s3fs's arguments (see `_place`).
_ACCESS_KEY, _SECRET, _TOKEN, _PROFILE = "access_key_id", "secret_access_key", "session_token", "profile"
_REGION, _DEFAULT_REGION, _ENDPOINT = "region", "default_region", "endpoint"
_ALLOW_HTTP, _INSECURE, _VIRTUAL, _ADDRESSING = "allow_http", "allow_invalid_certificates", "virtual_hosted", "addressing"
_ANON, _REQUESTER_PAYS = "skip_signature", "request_payer"

#: Lower-case delta-rs / object_store spellings -> target. Matching is case-insensitive, as in delta-rs.
DELTA_RS_KEYS: dict[str, str] = {
    **dict.fromkeys(("aws_access_key_id", "access_key_id"), _ACCESS_KEY),
    **dict.fromkeys(("aws_secret_access_key", "secret_access_key"), _SECRET),
    **dict.fromkeys(("aws_session_token", "aws_token", "session_token"), _TOKEN),
    **dict.fromkeys(("aws_profile",), _PROFILE),
    **dict.fromkeys(("aws_region", "region"), _REGION),
    **dict.fromkeys(("aws_default_region", "default_region"), _DEFAULT_REGION),
    **dict.fromkeys(("aws_endpoint_url", "aws_endpoint", "endpoint"), _ENDPOINT),
    **dict.fromkeys(("aws_allow_http", "allow_http"), _ALLOW_HTTP),
    **dict.fromkeys(("aws_allow_invalid_certificates", "allow_invalid_certificates"), _INSECURE),
    **dict.fromkeys(("aws_virtual_hosted_style_request", "virtual_hosted_style_request"), _VIRTUAL),
    **dict.fromkeys(("aws_s3_addressing_style",), _ADDRESSING),
    **dict.fromkeys(("aws_skip_signature", "skip_signature"), _ANON),
    **dict.fromkeys(("aws_request_payer", "request_payer"), _REQUESTER_PAYS),
}

_LOCK_REASON = ("configures delta-rs's commit locking; lakehouse needs no lock on S3 (it commits with "
                "conditional writes, If-None-Match: *), so it is ignored")
_NO_EFFECT_REASON = "has no counterpart in lakehouse's S3 client (s3fs/botocore), so it is ignored"

#: Lower-case keys accepted and ignored, with the reason the warning gives.
IGNORED_KEYS: dict[str, str] = {
    **dict.fromkeys((
        "aws_s3_locking_provider", "delta_dynamo_table_name", "delta_dynamo_billing_mode",
        "delta_dynamo_max_elapsed_request_time", "aws_s3_allow_unsafe_rename", "aws_endpoint_url_dynamodb",
        "aws_conditional_put", "conditional_put", "aws_copy_if_not_exists", "copy_if_not_exists",
        "dynamo_lock_table_name", "dynamo_lock_partition_key_value", "dynamo_lock_owner_name",
        "dynamo_lock_lease_duration", "dynamo_lock_refresh_period_millis",
        "dynamo_lock_additional_time_to_wait_millis",
    ), _LOCK_REASON),
    **dict.fromkeys((
        "aws_s3_pool_idle_timeout_seconds", "aws_sts_pool_idle_timeout_seconds",
        "aws_s3_get_internal_server_error_retries", "aws_ec2_metadata_timeout", "aws_unsigned_payload",
        "unsigned_payload", "aws_checksum_algorithm", "checksum_algorithm", "aws_imdsv1_fallback",
        "imdsv1_fallback", "aws_s3_express", "s3_express", "pool_idle_timeout", "pool_max_idle_per_host",
        "http1_only", "http2_only", "user_agent",
    ), _NO_EFFECT_REASON),
    **dict.fromkeys(("aws_bucket", "aws_bucket_name", "bucket_name", "bucket"),
                    "names the bucket, which lakehouse takes from the table URI, so it is ignored"),
}

#: Lower-case keys delta-rs accepts that lakehouse refuses, with what to do instead.
REFUSED_KEYS: dict[str, str] = dict.fromkeys((
    "aws_iam_role_arn", "aws_s3_assume_role_arn", "aws_iam_role_session_name", "aws_s3_role_session_name",
    "aws_role_arn", "aws_role_session_name", "aws_web_identity_token_file",
), "assuming a role is not a storage option in lakehouse.\nHelp: put the role in an AWS profile "
   "(role_arn and source_profile in ~/.aws/config) and pass AWS_PROFILE, or set AWS_ROLE_ARN and "
   "AWS_WEB_IDENTITY_TOKEN_FILE in the environment, which botocore reads itself")

#: Environment variables read when no option sets the same thing (delta-rs reads its keys from the
#: environment too). Credentials are taken from the environment only as a group, and only when the
#: options give no credential of their own, so a profile or key in the options is never mixed with
#: someone else's key from the environment.
ENV_CREDENTIALS = (("AWS_ACCESS_KEY_ID", _ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", _SECRET),
                   ("AWS_SESSION_TOKEN", _TOKEN), ("AWS_PROFILE", _PROFILE))
ENV_SETTINGS = (("AWS_REGION", _REGION), ("AWS_DEFAULT_REGION", _DEFAULT_REGION),
                ("AWS_ENDPOINT_URL", _ENDPOINT), ("AWS_ENDPOINT", _ENDPOINT), ("AWS_ALLOW_HTTP", _ALLOW_HTTP),
                ("AWS_ALLOW_INVALID_CERTIFICATES", _INSECURE),
                ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", _VIRTUAL), ("AWS_S3_ADDRESSING_STYLE", _ADDRESSING),
                ("AWS_SKIP_SIGNATURE", _ANON), ("AWS_REQUEST_PAYER", _REQUESTER_PAYS))

_BOOL_TARGETS = frozenset({_ALLOW_HTTP, _INSECURE, _VIRTUAL, _ANON, _REQUESTER_PAYS})
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off", ""})


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def warn_ignored(ignored: tuple[tuple[str, str], ...]) -> None:
    """Warn once per process about each ignored key (a table opened in a loop must not repeat it)."""
    for key, reason in ignored:
        with _WARNED_LOCK:
            if key.lower() in _WARNED:
                continue
            _WARNED.add(key.lower())
        warnings.warn(f"storage option {key!r} {reason}.", StorageOptionWarning, stacklevel=3)


@dataclass(frozen=True)
class NormalizedOptions:
    """The outcome of `normalize_storage_options`.

    ``kwargs`` are the keyword arguments for the fsspec filesystem; ``ignored`` lists the
    ``(key, reason)`` pairs that were accepted but have no effect (the caller warns about them once).
    """

    kwargs: dict[str, Any]
    ignored: tuple[tuple[str, str], ...] = ()


def normalize_storage_options(scheme: str, options: Mapping[str, Any] | None,
                              environ: Mapping[str, str]) -> NormalizedOptions:
    """Translate ``options`` for a ``scheme://`` table into fsspec keyword arguments.

    For ``s3``/``s3a``: fsspec/s3fs keys pass through; delta-rs/object_store keys (any case) are
    translated; settings no option gives are taken from ``environ`` as delta-rs does; keys that only
    configure delta-rs's locking are returned in ``ignored``. Raises `InvalidArgumentError` for an
    unknown key (with a "did you mean"), a malformed value, or two spellings of one setting that
    disagree. Other schemes' options are returned unchanged.
    """
    options = dict(options or {})
    if scheme not in S3_SCHEMES:
        return NormalizedOptions(options)
    out: dict[str, Any] = {}
    given: dict[str, tuple[str, Any]] = {}  # target -> (key as spelled, value) from delta-rs keys
    ignored: list[tuple[str, str]] = []
    for key, value in options.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"storage option keys must be strings, got {key!r}")
        if key in FSSPEC_S3_KEYS:
            out[key] = copy.deepcopy(value) if key in ("client_kwargs", "config_kwargs") else value
            continue
        lower = key.lower()
        if lower in DELTA_RS_KEYS:
            target = DELTA_RS_KEYS[lower]
            if target in given and given[target][1] != value:
                raise InvalidArgumentError(
                    f"storage options {given[target][0]!r}={given[target][1]!r} and {key!r}={value!r} "
                    "set the same thing to different values; give one")
            given[target] = (key, value)
        elif lower in IGNORED_KEYS:
            ignored.append((key, IGNORED_KEYS[lower]))
        elif lower in REFUSED_KEYS:
            raise InvalidArgumentError(f"storage option {key!r}: {REFUSED_KEYS[lower]}")
        else:
            raise InvalidArgumentError(_unknown_key_message(key, scheme))
    settings = {target: (spelled, _value(target, spelled, value)) for target, (spelled, value) in given.items()}
    _fill_from_environ(settings, out, environ)
    for target, (spelled, value) in settings.items():
        _place(out, target, value, spelled)
    return NormalizedOptions(out, tuple(ignored))


def _value(target: str, key: str, value: Any) -> Any:
    if target in _BOOL_TARGETS:
        return parse_bool(key, value)
    if not isinstance(value, str):
        raise InvalidArgumentError(f"storage option {key!r} must be a string, got {value!r}")
    if target == _ADDRESSING and value.lower() not in ("path", "virtual"):
        raise InvalidArgumentError(f"storage option {key!r} must be 'path' or 'virtual', got {value!r}")
    return value


def parse_bool(key: str, value: Any) -> bool:
    """A boolean option's value: a bool, or text such as "true"/"false" (object_store's spellings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidArgumentError(f"storage option {key!r} must be true or false, got {value!r}")


def _fill_from_environ(settings: dict[str, tuple[str, Any]], out: Mapping[str, Any],
                       environ: Mapping[str, str]) -> None:
    """Add to ``settings`` (target -> (source, value)) what the environment sets and the options do not."""
    client = out.get("client_kwargs") or {}
    has_credentials = any(t in settings for t in (_ACCESS_KEY, _SECRET, _TOKEN, _PROFILE, _ANON)) or any(
        k in out for k in ("key", "secret", "token", "username", "password", "profile", "session", "anon")) or any(
        k in client for k in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"))
    if not has_credentials:
        for var, target in ENV_CREDENTIALS:
            if environ.get(var):
                settings[target] = (var, environ[var])
    region_given = "region_name" in client or _REGION in settings or _DEFAULT_REGION in settings
    already = {
        _REGION: region_given, _DEFAULT_REGION: region_given,
        _ENDPOINT: "endpoint_url" in out or "endpoint_url" in client, _INSECURE: "verify" in client,
        _VIRTUAL: "s3" in (out.get("config_kwargs") or {}), _ADDRESSING: "s3" in (out.get("config_kwargs") or {}),
        _ANON: "anon" in out, _REQUESTER_PAYS: "requester_pays" in out,
    }
    for var, target in ENV_SETTINGS:
        value = environ.get(var)
        if value is None or value == "" or target in settings or already.get(target, False):
            continue
        settings[target] = (var, _value(target, var, value))
    if _DEFAULT_REGION in settings:
        region = settings.pop(_DEFAULT_REGION)
        settings.setdefault(_REGION, region)  # as in object_store: the default region only fills a missing one


def _place(out: dict[str, Any], target: str, value: Any, spelled: str) -> None:
    """Put one translated setting where s3fs reads it; a different value already there is an error."""
    if target == _ALLOW_HTTP:
        return  # botocore speaks whatever scheme the endpoint URL names; nothing to set
    if target in (_ACCESS_KEY, _SECRET, _TOKEN, _PROFILE):
        fsspec_key = {_ACCESS_KEY: "key", _SECRET: "secret", _TOKEN: "token", _PROFILE: "profile"}[target]
        _set(out, fsspec_key, value, spelled, fsspec_key)
        return
    if target == _ANON:
        _set(out, "anon", value, spelled, "anon")
        return
    if target == _REQUESTER_PAYS:
        _set(out, "requester_pays", value, spelled, "requester_pays")
        return
    client = out.setdefault("client_kwargs", {})
    if target == _REGION:
        _set(client, "region_name", value, spelled, "client_kwargs['region_name']")
    elif target == _ENDPOINT:
        if "endpoint_url" in out:
            _set(out, "endpoint_url", value, spelled, "endpoint_url")
        else:
            _set(client, "endpoint_url", value, spelled, "client_kwargs['endpoint_url']")
    elif target == _INSECURE:
        if value:
            _set(client, "verify", False, spelled, "client_kwargs['verify']")
    elif target in (_VIRTUAL, _ADDRESSING):
        style = ("virtual" if value else "path") if target == _VIRTUAL else value.lower()
        s3 = out.setdefault("config_kwargs", {}).setdefault("s3", {})
        _set(s3, "addressing_style", style, spelled, "config_kwargs['s3']['addressing_style']")
    if not out.get("client_kwargs"):
        out.pop("client_kwargs", None)


def _set(where: dict[str, Any], key: str, value: Any, spelled: str, fsspec_name: str) -> None:
    if key in where and where[key] != value:
        raise InvalidArgumentError(
            f"storage options {spelled!r}={value!r} and {fsspec_name}={where[key]!r} set the same thing "
            "to different values; give one")
    where[key] = value


def _unknown_key_message(key: str, scheme: str) -> str:
    known = {k.upper(): k for k in (*DELTA_RS_KEYS, *IGNORED_KEYS) if k.startswith(("aws_", "delta_"))}
    candidates = {**{k.lower(): k.upper() for k in known}, **{k: k for k in FSSPEC_S3_KEYS}}
    close = difflib.get_close_matches(key.lower(), list(candidates), n=1, cutoff=0.75)
    hint = f"did you mean {candidates[close[0]]!r}? " if close else ""
    return (f"unknown storage option {key!r} for {scheme}:// tables.\n"
            f"Help: {hint}S3 tables take fsspec/s3fs keys (key, secret, client_kwargs, ...) or delta-rs keys "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, ...); spec/storage.md lists them.")
