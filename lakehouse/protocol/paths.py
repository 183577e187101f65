"""Resolving file paths found in the log against the table root (PROTOCOL.md "Add File and Remove File":
paths are URIs relative to the table root, or absolute URIs).

`lakehouse` only reads files inside the table root: a path that climbs out with `..` or an absolute URI
pointing elsewhere is refused, so a hostile log cannot make the reader touch other data.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

from lakehouse.errors import InvalidLogError


def _strip_scheme_root(uri: str) -> str:
    """Normalise a root or absolute file URI to ``scheme://authority/path`` without trailing slash."""
    parts = urlsplit(uri)
    scheme = parts.scheme or "file"
    path = parts.path
    if scheme == "file":
        return "file://" + posixpath.normpath(path or "/")
    return f"{scheme}://{parts.netloc}{posixpath.normpath(path or '/')}".rstrip("/")


def resolve_relative(raw_path: str, root_uri: str) -> str:
    """The decoded, root-relative form of a log path; InvalidLogError when it escapes the root."""
    decoded = unquote(raw_path)
    if "://" in raw_path or raw_path.startswith("file:") or raw_path.startswith("/"):
        # Decode before normalising: an encoded "%2E%2E" must not survive normalisation as "..".
        target = decoded if "://" in decoded or decoded.startswith("file:") else "file://" + decoded
        absolute = _strip_scheme_root(target)
        root = _strip_scheme_root(unquote(root_uri))
        if absolute == root or not absolute.startswith(root + "/"):
            raise InvalidLogError(
                f"the log references {raw_path!r}, which lies outside the table root {root_uri}; "
                f"lakehouse refuses to read files outside the table"
            )
        return absolute[len(root) + 1 :]
    normalized = posixpath.normpath(decoded)
    if normalized in (".", "..") or normalized.startswith("../") or normalized.startswith("/"):
        raise InvalidLogError(f"the log path {raw_path!r} escapes the table root")
    return normalized
