"""Raw log rows <-> typed actions. The only module where raw action dicts live.

A commit file is newline-delimited JSON, one action per line, each an object with exactly one key
(PROTOCOL.md "Delta Log Entries"). Checkpoint rows arrive as dicts from Parquet with one non-null action
column. Both go through `decode_action`, which validates types once so nothing past it re-checks.
Unknown keys inside a known action are preserved in ``extra``; unknown action keys become
`UnknownAction` (readers must ignore them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.actions import (
    Action,
    Add,
    AddCDCFile,
    CheckpointMetadata,
    CommitInfo,
    DeletionVectorDescriptor,
    DomainMetadata,
    Format,
    Metadata,
    Protocol,
    Remove,
    Sidecar,
    Txn,
    UnknownAction,
)


class _Bad(Exception):
    """Internal: a field failed validation; converted to InvalidLogError with file and version."""


def _str(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise _Bad(f"field '{name}' must be a string, got {type(v).__name__}")
    return v


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"field '{name}' must be an integer, got {type(v).__name__}")
    return v


def _bool(v: Any, name: str) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"field '{name}' must be a boolean, got {type(v).__name__}")
    return v


def _strmap(v: Any, name: str) -> dict[str, str | None]:
    # Checkpoint Parquet maps arrive as lists of (key, value) pairs.
    if isinstance(v, list):
        try:
            v = dict(v)
        except (TypeError, ValueError):
            raise _Bad(f"field '{name}' must be a map of strings") from None
    if not isinstance(v, dict):
        raise _Bad(f"field '{name}' must be a map of strings, got {type(v).__name__}")
    for k, x in v.items():
        if not isinstance(k, str) or not (x is None or isinstance(x, str)):
            raise _Bad(f"field '{name}' must be a map of strings (key {k!r})")
    return v


def _anymap(v: Any, name: str) -> dict[str, Any]:
    if isinstance(v, list):
        try:
            v = dict(v)
        except (TypeError, ValueError):
            raise _Bad(f"field '{name}' must be an object") from None
    if not isinstance(v, dict):
        raise _Bad(f"field '{name}' must be an object, got {type(v).__name__}")
    return v


def _strtuple(v: Any, name: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Bad(f"field '{name}' must be a list of strings")
    return tuple(v)


def _format(v: Any, name: str) -> Format:
    d = _anymap(v, name)
    provider = _str(d.get("provider", "parquet"), f"{name}.provider")
    options = _strmap(d.get("options") or {}, f"{name}.options")
    return Format(provider=provider, options=options)


def _dv(v: Any, name: str) -> DeletionVectorDescriptor:
    d = _anymap(v, name)
    return _decode(DeletionVectorDescriptor, _DV_FIELDS, d, name)


# (json key, attribute, converter, required)
_Spec = tuple[tuple[str, str, Callable[[Any, str], Any], bool], ...]

_DV_FIELDS: _Spec = (
    ("storageType", "storage_type", _str, True),
    ("pathOrInlineDv", "path_or_inline_dv", _str, True),
    ("offset", "offset", _int, False),
    ("sizeInBytes", "size_in_bytes", _int, True),
    ("cardinality", "cardinality", _int, True),
    ("maxRowIndex", "max_row_index", _int, False),
)

_SPECS: dict[str, tuple[type, _Spec]] = {
    "metaData": (
        Metadata,
        (
            ("id", "id", _str, True),
            ("name", "name", _str, False),
            ("description", "description", _str, False),
            ("format", "format", _format, False),
            ("schemaString", "schema_string", _str, True),
            ("partitionColumns", "partition_columns", _strtuple, False),
            ("configuration", "configuration", _strmap, False),
            ("createdTime", "created_time", _int, False),
        ),
    ),
    "protocol": (
        Protocol,
        (
            ("minReaderVersion", "min_reader_version", _int, True),
            ("minWriterVersion", "min_writer_version", _int, True),
            ("readerFeatures", "reader_features", _strtuple, False),
            ("writerFeatures", "writer_features", _strtuple, False),
        ),
    ),
    "add": (
        Add,
        (
            ("path", "path", _str, True),
            ("partitionValues", "partition_values", _strmap, True),
            ("size", "size", _int, True),
            ("modificationTime", "modification_time", _int, True),
            ("dataChange", "data_change", _bool, True),
            ("stats", "stats", _str, False),
            ("tags", "tags", _strmap, False),
            ("deletionVector", "deletion_vector", _dv, False),
            ("baseRowId", "base_row_id", _int, False),
            ("defaultRowCommitVersion", "default_row_commit_version", _int, False),
            ("clusteringProvider", "clustering_provider", _str, False),
        ),
    ),
    "remove": (
        Remove,
        (
            ("path", "path", _str, True),
            ("deletionTimestamp", "deletion_timestamp", _int, False),
            ("dataChange", "data_change", _bool, True),
            ("extendedFileMetadata", "extended_file_metadata", _bool, False),
            ("partitionValues", "partition_values", _strmap, False),
            ("size", "size", _int, False),
            ("stats", "stats", _str, False),
            ("tags", "tags", _strmap, False),
            ("deletionVector", "deletion_vector", _dv, False),
            ("baseRowId", "base_row_id", _int, False),
            ("defaultRowCommitVersion", "default_row_commit_version", _int, False),
        ),
    ),
    "cdc": (
        AddCDCFile,
        (
            ("path", "path", _str, True),
            ("partitionValues", "partition_values", _strmap, True),
            ("size", "size", _int, True),
            ("dataChange", "data_change", _bool, False),
            ("tags", "tags", _strmap, False),
        ),
    ),
    "txn": (
        Txn,
        (
            ("appId", "app_id", _str, True),
            ("version", "version", _int, True),
            ("lastUpdated", "last_updated", _int, False),
        ),
    ),
    "commitInfo": (
        CommitInfo,
        (
            ("timestamp", "timestamp", _int, False),
            ("operation", "operation", _str, False),
            ("operationParameters", "operation_parameters", _anymap, False),
            ("inCommitTimestamp", "in_commit_timestamp", _int, False),
        ),
    ),
    "domainMetadata": (
        DomainMetadata,
        (
            ("domain", "domain", _str, True),
            ("configuration", "configuration", _str, True),
            ("removed", "removed", _bool, True),
        ),
    ),
    "checkpointMetadata": (
        CheckpointMetadata,
        (
            ("version", "version", _int, True),
            ("tags", "tags", _strmap, False),
        ),
    ),
    "sidecar": (
        Sidecar,
        (
            ("path", "path", _str, True),
            ("sizeInBytes", "size_in_bytes", _int, True),
            ("modificationTime", "modification_time", _int, True),
            ("tags", "tags", _strmap, False),
        ),
    ),
}

_ACTION_KEYS = {cls: key for key, (cls, _) in _SPECS.items()}


_KNOWN: dict[int, frozenset[str]] = {}


def _decode(cls: type, spec: _Spec, d: Mapping[str, Any], where: str) -> Any:
    kwargs: dict[str, Any] = {}
    for key, attr, conv, required in spec:
        v = d.get(key)
        if v is None:
            if required:
                raise _Bad(f"'{where}' is missing required field '{key}'")
            continue
        kwargs[attr] = conv(v, f"{where}.{key}")
    known = _KNOWN.get(id(spec))
    if known is None:
        known = _KNOWN[id(spec)] = frozenset(s[0] for s in spec)
    extra = {k: v for k, v in d.items() if k not in known and v is not None}
    return cls(**kwargs, extra=extra)


_FAST_ADD_KEYS = frozenset({"path", "partitionValues", "size", "modificationTime", "dataChange", "stats"})


def _fast_add(v: dict[str, Any]) -> Add | None:
    """The common add (no DV, tags or row tracking) without the generic field loop; None to fall back.

    Appends dominate long logs, so this path decides how fast a snapshot of a long log loads.
    """
    for k in v:
        # delta-rs writes unused optional fields as explicit nulls; those do not need the generic path.
        if k not in _FAST_ADD_KEYS and v[k] is not None:
            return None
    path, pv, size, mtime, change = v.get("path"), v.get("partitionValues"), v.get("size"), v.get("modificationTime"), v.get("dataChange")
    stats = v.get("stats")
    if (type(path) is not str or type(pv) is not dict or type(size) is not int or type(mtime) is not int
            or type(change) is not bool or not (stats is None or type(stats) is str)):
        return None
    for k, x in pv.items():
        if type(k) is not str or not (x is None or type(x) is str):
            return None
    return Add(path, pv, size, mtime, change, stats)


_FAST_REMOVE_KEYS = frozenset({"path", "deletionTimestamp", "dataChange", "extendedFileMetadata", "partitionValues",
                               "size", "stats"})


def _fast_remove(v: dict[str, Any]) -> Remove | None:
    """The common remove (no DV, tags or row tracking) without the generic field loop; None to fall back.

    An overwrite or OPTIMIZE of many files writes as many removes, which every later load decodes."""
    for k in v:
        if k not in _FAST_REMOVE_KEYS and v[k] is not None:
            return None
    path, change, ts, ext = v.get("path"), v.get("dataChange"), v.get("deletionTimestamp"), v.get("extendedFileMetadata")
    pv, size, stats = v.get("partitionValues"), v.get("size"), v.get("stats")
    if (type(path) is not str or type(change) is not bool or not (ts is None or type(ts) is int)
            or not (ext is None or type(ext) is bool) or not (pv is None or type(pv) is dict)
            or not (size is None or type(size) is int) or not (stats is None or type(stats) is str)):
        return None
    if pv:
        for k, x in pv.items():
            if type(k) is not str or not (x is None or type(x) is str):
                return None
    return Remove(path, change, ts, ext, pv, size, stats)


def decode_action(row: Mapping[str, Any], *, path: str | None = None, version: int | None = None) -> Action:
    """Turn one raw action object (``{"add": {...}}``) into a typed action.

    Raises `InvalidLogError` naming ``path`` and ``version`` when the row is not a valid action.
    """
    if not isinstance(row, dict) or len(row) == 0:
        raise InvalidLogError("log line is not a JSON object holding one action", path=path, version=version)
    present = [(k, v) for k, v in row.items() if v is not None]
    known = [(k, v) for k, v in present if k in _SPECS]
    if len(known) > 1:
        raise InvalidLogError(
            f"log line must hold exactly one action, found {sorted(k for k, _ in known)}",
            path=path,
            version=version,
        )
    if not known:
        if not present:
            raise InvalidLogError("log line holds no action", path=path, version=version)
        # Readers must ignore actions they do not know (PROTOCOL.md "Actions").
        return UnknownAction(key=present[0][0], value=present[0][1])
    # Unknown keys beside a known action are ignored, as Spark's reader does.
    key, value = known[0]
    if not isinstance(value, dict):
        raise InvalidLogError(f"action '{key}' must be a JSON object", path=path, version=version)
    if key == "commitInfo":
        return _lenient_commit_info(value)
    if key in ("add", "remove"):
        fast = _fast_add(value) if key == "add" else _fast_remove(value)
        if fast is not None:
            return fast
    cls, fields = _SPECS[key]
    try:
        return _decode(cls, fields, value, key)
    except _Bad as e:
        raise InvalidLogError(f"invalid '{key}' action: {e}", path=path, version=version) from None


def _lenient_commit_info(value: dict[str, Any]) -> CommitInfo:
    """commitInfo may hold any JSON (PROTOCOL.md "Commit Provenance Information"): fields of an
    unexpected type are kept in ``extra`` instead of failing the whole table."""
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, attr, conv, _required in _SPECS["commitInfo"][1]:
        if key not in value or value[key] is None:
            continue
        try:
            kwargs[attr] = conv(value[key], key)
        except _Bad:
            extra[key] = value[key]
    known = {s[0] for s in _SPECS["commitInfo"][1]}
    extra.update({k: v for k, v in value.items() if k not in known and v is not None})
    return CommitInfo(**kwargs, extra=extra)


def parse_commit_bytes(data: bytes, *, path: str | None = None, version: int | None = None,
                       skip_commit_info: bool = False) -> list[Action]:
    """Parse a newline-delimited JSON commit (or compacted log) file into actions, in file order.

    ``skip_commit_info`` leaves `commitInfo` lines out (log replay never uses them).
    """
    actions: list[Action] = []
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if skip_commit_info and line.startswith(b'{"commitInfo"'):
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise InvalidLogError(
                f"line {lineno} is not valid JSON ({e.msg})", path=path, version=version
            ) from None
        actions.append(decode_action(row, path=path, version=version))
    return actions


def _encode(obj: Any, spec: _Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attr, conv, _required in spec:
        v = getattr(obj, attr)
        if v is None:
            continue
        if isinstance(v, Format):
            v = {"provider": v.provider, "options": dict(v.options)}
        elif isinstance(v, DeletionVectorDescriptor):
            v = _encode(v, _DV_FIELDS)
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, Mapping):
            v = dict(v)
        out[key] = v
    out.update(obj.extra)
    return out


def encode_action(action: Action) -> dict[str, Any]:
    """Turn a typed action back into its raw ``{"key": {...}}`` form, unknown fields included."""
    if isinstance(action, UnknownAction):
        return {action.key: action.value}
    key = _ACTION_KEYS[type(action)]
    return {key: _encode(action, _SPECS[key][1])}


# Unicode line separators are legal raw inside JSON strings, but line readers that honour them (Python's
# str.splitlines among them) would cut a commit line in two; escape them.
_LINE_BREAKS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def _line(action: Action) -> bytes:
    data = orjson.dumps(encode_action(action))
    for raw, escaped in _LINE_BREAKS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data + b"\n"


def encode_commit(actions: Iterable[Action]) -> bytes:
    """Serialise actions as newline-delimited JSON, the byte form of a commit file."""
    return b"".join(_line(a) for a in actions)


def decode_deletion_vector(
    raw: Mapping[str, Any], *, path: str | None = None, version: int | None = None
) -> DeletionVectorDescriptor:
    """Decode a `deletionVector` struct (e.g. a row of a checkpoint or of the active-files table)."""
    try:
        return _dv({k: v for k, v in raw.items() if v is not None}, "deletionVector")
    except _Bad as e:
        raise InvalidLogError(f"invalid deletion vector descriptor: {e}", path=path, version=version) from None
