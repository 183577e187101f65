"""The NDJSON lines of sharing responses (PROTOCOL.md "API Response Actions in Parquet Format" and
"API Response Actions in Delta Format"), built from `lakehouse` actions and file rows.

Pure: file URLs come from a caller-supplied function (``url_for(rel) -> (url, expiration ms)``), so this
module neither signs nor reads anything. Every line is one JSON object with exactly one wrapper key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import orjson

from lakehouse.protocol.actions import DeletionVectorDescriptor, Metadata, Protocol
from lakehouse.protocol.codec import encode_action

UrlFor = Callable[[str], "tuple[str, int]"]

#: Reader features a `parquet` response cannot carry: the recipient would read the files wrongly
#: (deleted rows back, physical column names) without the log's help.
PARQUET_INCOMPATIBLE = ("deletionVectors", "columnMapping")


@dataclass(frozen=True)
class Capabilities:
    """The parsed ``delta-sharing-capabilities`` request header (keys and values lower-cased)."""

    response_formats: tuple[str, ...] = ("parquet",)
    reader_features: frozenset[str] = frozenset()
    include_end_stream_action: bool = False

    @classmethod
    def parse(cls, header: str | None) -> "Capabilities":
        """Parse ``key=v1,v2;key2=v3`` (case-insensitive; unknown keys ignored)."""
        values: dict[str, list[str]] = {}
        for part in (header or "").split(";"):
            key, _, raw = part.partition("=")
            if key.strip():
                values[key.strip().lower()] = [v.strip().lower() for v in raw.split(",") if v.strip()]
        formats = tuple(values.get("responseformat") or ["parquet"])
        return cls(formats, frozenset(values.get("readerfeatures") or []),
                   (values.get("includeendstreamaction") or ["false"])[0] == "true")


def line(obj: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return orjson.dumps(obj) + b"\n"


def file_id(rel: str) -> str:
    """A file's stable id: the MD5 hex of its table-relative path (the same in every response)."""
    return hashlib.md5(rel.encode()).hexdigest()


def protocol_line(protocol: Protocol, fmt: str, *, version: int | None = None) -> bytes:
    """The first line of a response."""
    if fmt == "parquet":
        return line({"protocol": {"minReaderVersion": 1}})
    body: dict[str, Any] = {"deltaProtocol": encode_action(protocol)["protocol"]}
    if version is not None:
        body["version"] = version
    return line({"protocol": body})


def metadata_line(metadata: Metadata, fmt: str, *, version: int | None = None, size: int | None = None,
                  num_files: int | None = None) -> bytes:
    """A `metaData` line."""
    extra = {k: v for k, v in (("version", version), ("size", size), ("numFiles", num_files)) if v is not None}
    if fmt == "parquet":
        body: dict[str, Any] = {"id": metadata.id, "format": {"provider": "parquet"},
                                "schemaString": metadata.schema_string,
                                "partitionColumns": list(metadata.partition_columns),
                                "configuration": dict(metadata.configuration)}
        if metadata.name is not None:
            body["name"] = metadata.name
        if metadata.description is not None:
            body["description"] = metadata.description
        return line({"metaData": {**body, **extra}})
    return line({"metaData": {"deltaMetadata": encode_action(metadata)["metaData"], **extra}})


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _as_map(value: Any) -> dict[str, Any]:
    """A partitionValues/tags column value (Arrow map -> list of pairs) as a dict."""
    if value is None:
        return {}
    return dict(value) if not isinstance(value, dict) else value


def _shared_dv(dv: Mapping[str, Any] | None, dv_rel: str | None, url_for: UrlFor) -> tuple[dict | None, str | None]:
    """A DV descriptor the recipient can resolve: on-disk DVs become ``storageType='p'`` with the URL of
    their file (the path is meaningless outside the server); inline DVs travel as they are."""
    if dv is None:
        return None, None
    out = _drop_none(dv)
    if dv_rel is None:
        return out, None
    out["storageType"] = "p"
    out["pathOrInlineDv"] = url_for(dv_rel)[0]
    return out, file_id(dv_rel)


def file_line(kind: str, row: Mapping[str, Any], rel: str, fmt: str, url_for: UrlFor, *, version: int | None = None,
              timestamp: int | None = None, dv_rel: str | None = None) -> bytes:
    """A file line: ``kind`` is ``file`` (snapshot), or ``add``/``remove``/``cdf`` (changes).

    ``row`` holds the action's fields in Delta's JSON names (``path``, ``partitionValues``, ``size``,
    ``stats``, ``deletionVector``, ...) and ``rel`` the decoded table-relative path of its file.
    """
    url, expires = url_for(rel)
    when = _drop_none({"version": version, "timestamp": timestamp})
    if fmt == "parquet":
        body = _drop_none({"url": url, "id": file_id(rel), "partitionValues": _as_map(row.get("partitionValues")),
                           "size": row.get("size"), "stats": row.get("stats") if kind != "remove" and kind != "cdf" else None,
                           "expirationTimestamp": expires})
        return line({kind: {**body, **when}})
    action = _drop_none(dict(row))
    action["path"] = url
    action["partitionValues"] = _as_map(row.get("partitionValues"))
    if "tags" in action:
        action["tags"] = _as_map(action["tags"])
    dv, dv_id = _shared_dv(row.get("deletionVector"), dv_rel, url_for)
    if dv is not None:
        action["deletionVector"] = dv
    delta_kind = {"file": "add", "add": "add", "remove": "remove", "cdf": "cdc"}[kind]
    body = {"id": file_id(rel), "expirationTimestamp": expires, "deltaSingleAction": {delta_kind: action}, **when}
    if dv_id is not None:
        body["deletionVectorFileId"] = dv_id
    return line({"file": body})


def end_stream_line(min_expiration: int | None) -> bytes:
    """The closing `endStreamAction` (sent only when the client asked for it)."""
    return line({"endStreamAction": _drop_none({"minUrlExpirationTimestamp": min_expiration})})


def dv_descriptor(dv: Mapping[str, Any]) -> DeletionVectorDescriptor:
    """A DV column value as a typed descriptor."""
    return DeletionVectorDescriptor(dv["storageType"], dv["pathOrInlineDv"], dv["sizeInBytes"], dv["cardinality"],
                                    dv.get("offset"), dv.get("maxRowIndex"))


def needs_delta_format(protocol: Protocol, column_mapping_mode: str) -> list[str]:
    """The reader features of a table that a `parquet` response cannot represent."""
    features = set(protocol.reader_features or ())
    out = [f for f in PARQUET_INCOMPATIBLE if f in features]
    if column_mapping_mode != "none" and "columnMapping" not in out:
        out.append("columnMapping")
    return out


def rows_of(table: Any) -> Iterable[dict[str, Any]]:
    """The rows of an Arrow file table as dicts (batch by batch)."""
    for batch in table.to_batches(max_chunksize=1024):
        yield from batch.to_pylist()
