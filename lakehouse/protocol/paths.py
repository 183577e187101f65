"""Resolving file paths found in the log against the table root (PROTOCOL.md "Add File and Remove File":
paths are URIs relative to the table root, or absolute URIs).

`lakehouse` only reads (and VACUUM only deletes) files inside the table root: a path that climbs out with
`..` (also percent-encoded, `%2E%2E`) or an absolute URI pointing elsewhere is refused, so a hostile log
cannot make the reader or VACUUM touch other data. Every path derived from the log goes through
`resolve_relative`: data files of add/remove, change data files, deletion vector files of both on-disk
storage types (see `lakehouse.scan.deletion_vectors.dv_file_path`); sidecars have their own, stricter rule
(`lakehouse.log.checkpoints`); `is_inside_root` is the last check before a delete.
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


def resolve_relative(raw_path: str, root_uri: str, *, kind: str = "file", version: int | None = None) -> str:
    """The decoded, root-relative form of a log path; InvalidLogError when it escapes the root.

    ``kind`` says what the path is for ("data file", "deletion vector", ...) and ``version`` which table
    version the log was read at, both only to name them in the error.
    """
    decoded = unquote(raw_path)
    if "://" in raw_path or raw_path.startswith("file:") or raw_path.startswith("/"):
        # Decode before normalising: an encoded "%2E%2E" must not survive normalisation as "..".
        target = decoded if "://" in decoded or decoded.startswith("file:") else "file://" + decoded
        absolute = _strip_scheme_root(target)
        root = _strip_scheme_root(unquote(root_uri))
        if absolute == root or not absolute.startswith(root + "/"):
            raise _outside(raw_path, root_uri, kind, version)
        return absolute[len(root) + 1 :]
    normalized = posixpath.normpath(decoded)
    if normalized in (".", "..") or normalized.startswith("../") or normalized.startswith("/"):
        raise _outside(raw_path, root_uri, kind, version)
    return normalized


def _outside(raw_path: str, root_uri: str, kind: str, version: int | None) -> InvalidLogError:
    return InvalidLogError(
        f"the log's {kind} path {raw_path!r} escapes the table root {root_uri} (it lies outside the table); "
        "lakehouse refuses to read or delete files outside the table", version=version)


def is_inside_root(rel: str) -> bool:
    """Whether a storage-relative path (as VACUUM is about to delete it) names a file inside the root:
    not empty, not absolute, no scheme, and no `.`/`..` segment. Nothing is decoded: the path is the key
    storage will be asked for."""
    if not rel or rel.startswith(("/", "\\")) or "://" in rel:
        return False
    return not any(seg in (".", "..", "") for seg in rel.replace("\\", "/").split("/"))
