"""File URLs handed to recipients: signed, expiring, and never naming a server path.

Local tables: the sharing server serves the bytes itself under ``{endpoint}/files/{payload}?sp=r&sig={signature}``.
``payload`` is base64url JSON ``[table key, table-relative path, expiry (unix s)]`` and ``signature`` the
base64url HMAC-SHA256 of the payload under a per-server secret, so a URL can be neither forged nor
re-pointed nor extended; the relative path is checked again when the URL is used (no ``..``, no absolute
path, and the resolved real path, symlinks followed, must lie inside the table's real root). The signature
travels in the query string, in the shape of a pre-signed object-store URL (``sp`` as in an Azure SAS):
delta-kernel-rs, which the official connector reads `delta` responses with, fetches a URL over HTTP only
when its query string marks it as pre-signed.

Object-store tables (``s3://``): a SigV4 pre-signed GET URL of the store itself (botocore, with s3fs's
credentials), expiring
after the same timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import posixpath
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from lakehouse.errors import SharingError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forbidden(message: str = "the file URL is invalid or has expired") -> SharingError:
    """The 403 every bad file URL gets: it says nothing about why beyond that."""
    return SharingError(message, status=403, error_code="PERMISSION_DENIED")


@dataclass(frozen=True)
class FileGrant:
    """What a verified file URL allows: one table-relative file of one table."""

    table_key: str
    rel: str
    expires: int


class UrlSigner:
    """Signs and verifies the server's own file URLs with ``secret`` (32 random bytes when not given)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or os.urandom(32)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def token(self, table_key: str, rel: str, expires: int) -> str:
        """``payload?sp=r&sig=signature`` for one file (the tail of its URL)."""
        payload = _b64(json.dumps([table_key, rel, expires], separators=(",", ":")).encode())
        return f"{payload}?sp=r&sig={self._sign(payload)}"

    def verify(self, payload: str, signature: str, *, now: float | None = None) -> FileGrant:
        """The grant a URL carries; 403 when the signature is wrong, the URL expired or the path is unsafe."""
        if not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            raise forbidden()
        try:
            table_key, rel, expires = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            raise forbidden() from None
        if not isinstance(expires, int) or (now if now is not None else time.time()) >= expires:
            raise forbidden()
        if not isinstance(rel, str) or not safe_relative(rel):
            raise forbidden()
        return FileGrant(str(table_key), rel, expires)


def safe_relative(rel: str) -> bool:
    """Whether ``rel`` is a plain table-relative path: not empty, not absolute, no ``.``/``..`` or empty
    segment, no backslash or NUL. ``rel`` is already decoded (the log's path, decoded once) and is only
    ever joined literally below a local root or used as an object key: it is not decoded again, so
    ``%2F`` or ``%2E%2E`` in it are ordinary characters of a name (a partition value "/" is the directory
    ``p=%2F``), never a separator or a parent."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        return False
    return not any(seg in ("", ".", "..") for seg in rel.split("/"))


def local_file(root: str, rel: str) -> str:
    """The real path of ``rel`` under the local table root ``root``; 403 when it resolves (through
    symlinks too) outside the root or is not a regular file."""
    if not safe_relative(rel):
        raise forbidden()
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *rel.split("/")))
    if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
        raise forbidden()
    return real


def local_root(location: str) -> str | None:
    """The directory of a local table location (path or ``file://``), None for other schemes."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        return os.path.abspath(unquote(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return os.path.abspath(os.path.expanduser(location))
    return None


class S3Presigner:
    """SigV4 pre-signed GET URLs for the objects of one s3fs filesystem (its credentials, endpoint and
    region). SigV4 (``X-Amz-Signature``), not s3fs's default SigV2: delta-kernel-rs recognises only the
    former as a pre-signed URL, and AWS regions opened after 2014 accept only SigV4."""

    def __init__(self, fs: Any):
        import botocore.session
        from botocore.config import Config

        kwargs = dict(getattr(fs, "client_kwargs", None) or {})
        config = dict(getattr(fs, "config_kwargs", None) or {})
        config["signature_version"] = "s3v4"
        self._client = botocore.session.get_session().create_client(
            "s3", region_name=kwargs.get("region_name"),
            endpoint_url=kwargs.get("endpoint_url") or getattr(fs, "endpoint_url", None),
            aws_access_key_id=getattr(fs, "key", None), aws_secret_access_key=getattr(fs, "secret", None),
            aws_session_token=getattr(fs, "token", None), config=Config(**config))

    def url(self, root: str, rel: str, expires_in: int) -> str:
        """The URL of ``root/rel`` (``root`` is ``bucket/prefix``), valid ``expires_in`` seconds."""
        if not safe_relative(rel):
            raise forbidden()
        bucket, _, prefix = root.strip("/").partition("/")
        key = posixpath.join(prefix, rel) if prefix else rel
        return self._client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                   ExpiresIn=expires_in)
