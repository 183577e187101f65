"""Column-wise decoding of commits with many `add` actions (PROTOCOL.md "Delta Log Entries", "Add File
and Remove File").

A commit that adds 100,000 files would otherwise become 100,000 dicts, 100,000 typed `Add` objects and then
Arrow columns again. Here the `add` lines are read by Arrow's JSON reader straight into the file table's
columns (`file_table.ADD_SCHEMA`), and only the other lines (protocol, metadata, removes, txn, ...) become
typed actions through `codec`. The result must be exactly what the per-line path gives, so this path is
only an accelerator: whenever a commit has anything it does not model (tags, deletion vectors, unknown
fields, a line that is not valid for `codec`, duplicate logical files, ...) it declines and the caller
decodes the commit line by line, which also raises the same typed error for a malformed log.

What it must not do: accept a line the per-line path rejects, or change a value. Arrow's reader is strict
where it matters (a number where a string is expected, a fractional or out-of-range integer, duplicate keys,
an unexpected field: all errors); it does not check UTF-8, so non-ASCII input is checked here. One
representational difference is allowed: the entries of a `partitionValues` map come in the order of the
first add's keys (a map's entry order carries no meaning).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakehouse.errors import InvalidLogError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Action, Add, Remove, file_key
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.file_table import ADD_SCHEMA, json_read_options
from lakehouse.protocol.replay import canonical_path, file_keys, key_string

#: Commits with fewer add lines than this are decoded line by line (Arrow's reader has a fixed cost).
BULK_MIN_ADDS = 256

_PREFIX = b'{"add":'
_MAPS = ADD_SCHEMA.field("partitionValues").type


@dataclass(frozen=True)
class DecodedCommit:
    """One commit's actions in file order, except the add actions decoded column-wise (``adds``, in file
    order, with their logical-file ``keys``, `replay.file_keys`); ``adds`` is None when every action is in
    ``actions``."""

    actions: list[Action]
    adds: pa.Table | None = None
    keys: pa.Array | None = None


def decode_commit(data: bytes, *, path: str | None = None, version: int | None = None,
                  skip_commit_info: bool = False, min_bulk: int | None = None) -> DecodedCommit:
    """Decode a commit (or compaction) file for log replay: column-wise when it holds at least
    ``min_bulk`` add lines the bulk reader can take exactly, else line by line (`codec.parse_commit_bytes`,
    whose `InvalidLogError` naming ``path`` and ``version`` a malformed file raises either way).
    ``min_bulk`` defaults to `BULK_MIN_ADDS`."""
    min_bulk = BULK_MIN_ADDS if min_bulk is None else max(1, min_bulk)
    if len(data) >= min_bulk * len(_PREFIX):
        bulk = _decode_bulk(data, path, version, skip_commit_info, min_bulk)
        if bulk is not None:
            return bulk
    return DecodedCommit(parse_commit_bytes(data, path=path, version=version, skip_commit_info=skip_commit_info))


class _Layout(NamedTuple):
    """A commit split into its add lines (``body``, ``adds`` of them, ``line(i)`` the i-th) and the
    newline-joined other lines."""

    others: bytes
    body: bytes | memoryview
    adds: int
    line: Callable[[int], bytes]


def _line_bounds(data: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line."""
    breaks = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A)
    return np.concatenate(([0], breaks + 1)), np.concatenate((breaks, [len(data)]))


def _layout(data: bytes) -> _Layout:
    # numpy finds the line breaks and checks each line's first bytes several times faster than bytes.split
    # or bytes.count over a 30 MB commit.
    starts, ends = _line_bounds(data)
    buf = np.frombuffer(data, np.uint8)
    is_add = (ends - starts) >= len(_PREFIX)
    for i, byte in enumerate(_PREFIX):
        is_add &= buf[np.minimum(starts + i, max(len(data) - 1, 0))] == byte
    add_lines = np.flatnonzero(is_add)
    if not len(add_lines):
        return _Layout(data, b"", 0, lambda i: b"")
    others = b"\n".join(data[starts[i]:ends[i]] for i in np.flatnonzero(~is_add))
    # Runs of consecutive add lines, each one slice of the file.
    cuts = np.flatnonzero(np.diff(add_lines) != 1) + 1
    runs = [(int(starts[r[0]]), int(ends[r[-1]])) for r in np.split(add_lines, cuts) if len(r)]
    view = memoryview(data)
    body = view[runs[0][0]:runs[0][1]] if len(runs) == 1 else b"\n".join(view[s:e] for s, e in runs)
    return _Layout(others, body, len(add_lines), lambda i: data[starts[add_lines[i]]:ends[add_lines[i]]])


def _add_schema(keys: list[str]) -> pa.Schema:
    """What a bulk add line may hold: the fields of an `Add` without tags or a deletion vector (declared as
    empty structs, so that null is accepted and anything else is an unexpected field)."""
    return pa.schema([("add", pa.struct([
        ("path", pa.string()),
        ("partitionValues", pa.struct([(k, pa.string()) for k in keys])),
        ("size", pa.int64()),
        ("modificationTime", pa.int64()),
        ("dataChange", pa.bool_()),
        ("stats", pa.string()),
        ("tags", pa.struct([])),
        ("deletionVector", pa.struct([])),
        ("baseRowId", pa.int64()),
        ("defaultRowCommitVersion", pa.int64()),
        ("clusteringProvider", pa.string()),
    ]))])


def _decode_bulk(data: bytes, path: str | None, version: int | None, skip_commit_info: bool,
                 min_bulk: int) -> DecodedCommit | None:
    layout = _layout(data)
    if layout.adds < min_bulk:
        return None
    try:
        actions = parse_commit_bytes(layout.others, path=path, version=version, skip_commit_info=skip_commit_info)
    except InvalidLogError:
        return None  # the per-line decode raises it, naming the right line
    if any(isinstance(a, Add) for a in actions):
        return None  # an add spelled another way: file order between the two kinds would be lost
    try:
        pv = orjson.loads(layout.line(0))["add"]["partitionValues"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if type(pv) is not dict:
        return None
    names = list(pv)
    body = layout.body
    if not data.isascii():
        try:
            codecs.decode(body, "utf-8")  # orjson rejects invalid UTF-8; Arrow's reader passes it through
        except UnicodeDecodeError:
            return None
    try:
        read = pj.read_json(pa.BufferReader(pa.py_buffer(body)), read_options=json_read_options(len(body)),
                            parse_options=pj.ParseOptions(
            explicit_schema=_add_schema(names), unexpected_field_behavior="error"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    n = layout.adds
    if read.num_rows != n:
        return None  # two JSON objects on one line
    add = read.column("add").combine_chunks()
    if add.null_count:
        return None
    col = {add.type.field(i).name: add.field(i) for i in range(add.type.num_fields)}
    required = ("path", "partitionValues", "size", "modificationTime", "dataChange")
    if any(col[c].null_count for c in required) or any(
            col[c].null_count != n for c in ("tags", "deletionVector")):
        return None
    partition_values = _partition_map(col["partitionValues"], names, layout.line)
    if partition_values is None:
        return None
    table = pa.Table.from_arrays([
        col["path"], partition_values, col["size"], col["modificationTime"], col["dataChange"], col["stats"],
        pa.nulls(n, _MAPS), pa.nulls(n, ADD_SCHEMA.field("deletionVector").type), col["baseRowId"],
        col["defaultRowCommitVersion"], col["clusteringProvider"],
    ], schema=ADD_SCHEMA)
    keys = file_keys(table)
    if pc.count_distinct(keys).as_py() != n:
        return None  # one logical file twice: line order decides which wins
    removed = [key_string(file_key(canonical_path(a.path), a.deletion_vector)) for a in actions
               if isinstance(a, Remove)]
    if removed and pc.any(pc.is_in(av.array(removed, pa.string()), value_set=keys)).as_py():
        return None
    return DecodedCommit(actions, table, keys)


def _partition_map(values: pa.StructArray, names: list[str], line: Callable[[int], bytes]) -> pa.MapArray | None:
    """The `partitionValues` map column from the struct Arrow read, one entry per key present in the line.

    A null child is either ``"k": null`` or a missing key; only those lines are parsed again to tell.
    """
    n, width = len(values), len(names)
    children = [values.field(i) for i in range(width)]
    present = np.ones((n, width), dtype=bool)
    gaps = np.zeros(n, dtype=bool)
    for c in children:
        if c.null_count:
            gaps |= ~np.asarray(av.to_numpy(c.is_valid()), dtype=bool)
    for row in np.flatnonzero(gaps):
        try:
            pv = orjson.loads(line(int(row)))["add"]["partitionValues"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        present[row] = [k in pv for k in names]
    entries = present.ravel()
    # Entry (row, j) of the flattened map is child j at row: interleave the children row by row.
    take = (np.arange(width)[None, :] * n + np.arange(n)[:, None]).ravel()[entries]
    items = pa.concat_arrays(children).take(av.array(take)) if width else av.array([], pa.string())
    keys = av.array(names, pa.string()).take(av.array(np.tile(np.arange(width), n)[entries])) if width else items
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    return pa.MapArray.from_arrays(av.array(offsets), keys, items, type=_MAPS)
