"""The sharing server's configuration: the reference server's YAML format plus `recipients`.

Reference keys (delta-io/delta-sharing `server/src/universal`, "Server configuration"): `version`,
`shares` -> `schemas` -> `tables` (`name`, `location`, `id`, `historyShared`, `cdfEnabled`, `startVersion`),
`host`, `port`, `endpoint`, `preSignedUrlTimeoutSeconds`, `authorization: {bearerToken}`. Keys of the reference
server this one has no use for (`deltaTableCacheSize`, `stalenessAcceptable`, `evaluatePredicateHints`, ssl...)
are accepted and ignored. Added: `recipients` (name, `bearerToken` or `bearerTokenSha256`, `expirationTime`,
`shares`), per-table `storage_options`, and server-level `auditLog` (a file path), `urlSigningSecret` and
`maxConcurrentRequests` (connections `serve` accepts at once; more are answered 503).

Parsed and validated once here (names per PROTOCOL.md "Names"); past this module everything is typed.
This module reads no table and opens no socket.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from lakehouse.errors import InvalidArgumentError, MissingDependencyError

MAX_NAME = 255


def name_problem(name: Any, kind: str) -> str | None:
    """Why ``name`` is not a valid share/schema/table name (PROTOCOL.md "Names"), or None when it is.

    At most 255 characters; no space, ``/``, ASCII control character or DEL; schema and table names also
    no ``.``.
    """
    if not isinstance(name, str) or not name:
        return f"{kind} name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"{kind} name is longer than {MAX_NAME} characters"
    bad = [c for c in name if c in " /" or ord(c) < 0x20 or ord(c) == 0x7F or (c == "." and kind != "share")]
    if bad:
        return f"{kind} name {name!r} contains the character {bad[0]!r}, which names may not hold"
    return None


@dataclass(frozen=True)
class TableConfig:
    """One shared table."""

    share: str
    schema: str
    name: str
    location: str
    id: str
    history_shared: bool = False
    cdf_enabled: bool = False
    start_version: int | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``share.schema.table`` in lower case (names are case-insensitive)."""
        return f"{self.share}.{self.schema}.{self.name}".lower()


@dataclass(frozen=True)
class ShareConfig:
    """A share: its schemas, each an ordered list of tables."""

    name: str
    id: str | None
    schemas: Mapping[str, tuple[TableConfig, ...]]  # schema name (as configured) -> tables


@dataclass(frozen=True)
class Recipient:
    """Who holds a token: ``token_sha256`` (hex) is all the server keeps of it."""

    name: str
    token_sha256: str
    expiration: datetime | None
    shares: frozenset[str] | None  # lower-case share names; None = every share


@dataclass(frozen=True)
class SharingConfig:
    """The whole server configuration."""

    shares: tuple[ShareConfig, ...]
    recipients: tuple[Recipient, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    endpoint: str = "/delta-sharing"
    url_timeout_seconds: int = 3600
    audit_log: str | None = None
    url_signing_secret: bytes | None = None
    max_concurrent_requests: int = 128

    def share(self, name: str) -> ShareConfig | None:
        """The share called ``name`` (case-insensitive)."""
        return next((s for s in self.shares if s.name.lower() == name.lower()), None)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidArgumentError(f"{where} must be true or false, got {value!r}")


def _check_name(name: Any, kind: str, where: str) -> str:
    problem = name_problem(name, kind)
    if problem:
        raise InvalidArgumentError(f"sharing config {where}: {problem}")
    return name


def _location(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise InvalidArgumentError(f"sharing config {where}: location must be a non-empty string")
    # The reference server's configs name S3 tables with Hadoop's s3a:// scheme; fsspec calls it s3://.
    for hadoop in ("s3a://", "s3n://"):
        if raw.startswith(hadoop):
            return "s3://" + raw[len(hadoop):]
    return raw


def _time(raw: Any, where: str) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        when = raw
    else:
        try:
            when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(f"sharing config {where}: expirationTime {raw!r} is not an ISO-8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def sha256_hex(token: str) -> str:
    """The hex SHA-256 of a bearer token (how configs may name a token without holding it)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _recipient(raw: Any, i: int, share_names: set[str]) -> Recipient:
    where = f"recipients[{i}]"
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(f"sharing config {where} must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"sharing config {where}: name must be a non-empty string")
    token, digest = raw.get("bearerToken"), raw.get("bearerTokenSha256")
    if (token is None) == (digest is None):
        raise InvalidArgumentError(f"sharing config recipient {name!r}: give exactly one of bearerToken and bearerTokenSha256")
    if token is not None:
        if not isinstance(token, str) or len(token) < 8:
            raise InvalidArgumentError(f"sharing config recipient {name!r}: bearerToken must be a string of 8 characters or more")
        digest = sha256_hex(token)
    elif not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdefABCDEF" for c in digest)):
        raise InvalidArgumentError(f"sharing config recipient {name!r}: bearerTokenSha256 must be 64 hex digits")
    shares_raw = raw.get("shares", "*")
    shares: frozenset[str] | None
    if shares_raw == "*" or shares_raw == ["*"]:
        shares = None
    elif isinstance(shares_raw, list) and all(isinstance(s, str) for s in shares_raw):
        unknown = sorted({s for s in shares_raw if s.lower() not in share_names})
        if unknown:
            raise InvalidArgumentError(f"sharing config recipient {name!r}: unknown share(s) {unknown}")
        shares = frozenset(s.lower() for s in shares_raw)
    else:
        raise InvalidArgumentError(f"sharing config recipient {name!r}: shares must be a list of share names or '*'")
    return Recipient(name, digest.lower(), _time(raw.get("expirationTime"), f"recipient {name!r}"), shares)


def parse_config(raw: Mapping[str, Any]) -> SharingConfig:
    """Validate a configuration given as parsed YAML/JSON."""
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError("sharing config must be a mapping at the top level")
    shares: list[ShareConfig] = []
    for s in raw.get("shares") or []:
        sname = _check_name(s.get("name"), "share", "shares[]")
        schemas: dict[str, tuple[TableConfig, ...]] = {}
        for sc in s.get("schemas") or []:
            scname = _check_name(sc.get("name"), "schema", f"share {sname!r}")
            tables = []
            for t in sc.get("tables") or []:
                tname = _check_name(t.get("name"), "table", f"schema {sname}.{scname}")
                where = f"table {sname}.{scname}.{tname}"
                start = t.get("startVersion")
                if start is not None and (not isinstance(start, int) or isinstance(start, bool) or start < 0):
                    raise InvalidArgumentError(f"sharing config {where}: startVersion must be a non-negative integer")
                opts = t.get("storage_options", t.get("storageOptions")) or {}
                if not isinstance(opts, Mapping):
                    raise InvalidArgumentError(f"sharing config {where}: storage_options must be a mapping")
                tables.append(TableConfig(
                    share=sname, schema=scname, name=tname, location=_location(t.get("location"), where),
                    id=str(t.get("id") or hashlib.sha256(f"{sname}.{scname}.{tname}".lower().encode()).hexdigest()[:32]),
                    history_shared=_bool(t.get("historyShared", False), f"{where} historyShared"),
                    cdf_enabled=_bool(t.get("cdfEnabled", False), f"{where} cdfEnabled"),
                    start_version=start, storage_options=dict(opts)))
            if scname.lower() in {k.lower() for k in schemas}:
                raise InvalidArgumentError(f"sharing config: schema {sname}.{scname} is defined twice")
            names = [t.name.lower() for t in tables]
            if len(set(names)) != len(names):
                raise InvalidArgumentError(f"sharing config: schema {sname}.{scname} names a table twice")
            schemas[scname] = tuple(tables)
        if any(x.name.lower() == sname.lower() for x in shares):
            raise InvalidArgumentError(f"sharing config: share {sname!r} is defined twice")
        shares.append(ShareConfig(sname, str(s["id"]) if s.get("id") is not None else None, schemas))
    share_names = {s.name.lower() for s in shares}
    recipients = [_recipient(r, i, share_names) for i, r in enumerate(raw.get("recipients") or [])]
    auth = raw.get("authorization")
    if auth:
        token = auth.get("bearerToken") if isinstance(auth, Mapping) else None
        if not isinstance(token, str) or not token:
            raise InvalidArgumentError("sharing config: authorization.bearerToken must be a non-empty string")
        # The reference server's single token reads every share.
        recipients.append(Recipient("default", sha256_hex(token), None, None))
    if not recipients:
        raise InvalidArgumentError(
            "sharing config has no authorization.bearerToken and no recipients: the server would accept nobody.\n"
            "Help: add `authorization: {bearerToken: ...}` or a `recipients:` list.")
    endpoint = str(raw.get("endpoint", "/delta-sharing")).rstrip("/")
    if not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    timeout = raw.get("preSignedUrlTimeoutSeconds", 3600)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidArgumentError(f"sharing config: preSignedUrlTimeoutSeconds must be a positive integer, got {timeout!r}")
    secret = raw.get("urlSigningSecret")
    limit = raw.get("maxConcurrentRequests", 128)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise InvalidArgumentError(f"sharing config: maxConcurrentRequests must be a positive integer, got {limit!r}")
    return SharingConfig(
        shares=tuple(shares), recipients=tuple(recipients), host=str(raw.get("host", "127.0.0.1")),
        port=int(raw.get("port", 8080)), endpoint=endpoint, url_timeout_seconds=timeout,
        audit_log=raw.get("auditLog"), url_signing_secret=secret.encode() if isinstance(secret, str) else None,
        max_concurrent_requests=limit)


def load_config(source: "str | os.PathLike[str] | Mapping[str, Any] | SharingConfig") -> SharingConfig:
    """A `SharingConfig` from a YAML file path, a mapping, or an existing config."""
    if isinstance(source, SharingConfig):
        return source
    if isinstance(source, Mapping):
        return parse_config(source)
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError("reading a sharing config needs PyYAML: pip install 'lakehouse-delta[sharing]'") from None
    path = Path(source)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise InvalidArgumentError(f"cannot read sharing config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise InvalidArgumentError(f"sharing config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    return parse_config(raw or {})
