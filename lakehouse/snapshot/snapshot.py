"""A `Snapshot`: the reconciled state of a table at one version, and how it is loaded.

Loading follows the data flow storage -> log -> replay: find the log segment (using `_last_checkpoint`
as a hint, falling back to a full listing), read the JSON commits after the checkpoint concurrently,
replay them newest first, then take from the checkpoint only the file actions no commit has decided.
The reader gate runs as soon as the protocol is known, before any data file is touched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import pyarrow as pa

from lakehouse.errors import InvalidLogError, LakehouseError, TableNotFoundError
from lakehouse.log.checkpoints import CheckpointData, read_checkpoint
from lakehouse.log.commits import read_log_files_for_replay
from lakehouse.log.listing import list_log, read_last_checkpoint
from lakehouse.protocol.actions import Action, DomainMetadata, Metadata, Protocol, Txn
from lakehouse.protocol.features import check_readable, column_mapping_mode
from lakehouse.protocol.file_table import drop_seen, removes_to_table, replayed_adds
from lakehouse.protocol.log_path import LOG_DIR, LogFile
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol.replay import Replay
from lakehouse.protocol.schema import StructType, parse_schema
from lakehouse.protocol.segment import LogSegment, build_segment
from lakehouse.storage.base import Storage


@dataclass(frozen=True)
class Snapshot:
    """The state of a table at ``version``: protocol, metadata, schema and active files.

    ``adds`` holds the active `add` actions column-wise (see `lakehouse.protocol.file_table`).
    """

    storage: Storage
    version: int
    protocol: Protocol
    metadata: Metadata
    schema: StructType
    properties: TableProperties
    adds: pa.Table
    tombstones: pa.Table
    txns: Mapping[str, Txn]
    domains: Mapping[str, DomainMetadata]
    segment: LogSegment
    listing: tuple[LogFile, ...] = field(repr=False, default=())
    #: The commit file of ``version`` as listed when loaded (identity check for incremental refresh).
    tip: LogFile | None = field(repr=False, default=None)

    @property
    def partition_columns(self) -> list[str]:
        """Logical names of the partition columns, in partitioning order."""
        return list(self.metadata.partition_columns)

    @property
    def column_mapping_mode(self) -> ColumnMappingMode:
        """``none``, ``name`` or ``id`` (see `lakehouse.protocol.features.column_mapping_mode`)."""
        return column_mapping_mode(self.protocol, self.properties)

    @property
    def num_files(self) -> int:
        """Number of active data files."""
        return self.adds.num_rows


def _segment(storage: Storage, version: int | None, excluded: frozenset) -> tuple[LogSegment, list[LogFile]]:
    hint = read_last_checkpoint(storage) if not excluded else None
    if hint is not None and (version is None or version >= hint.version):
        partial = list_log(storage, hint.version)
        try:
            seg = build_segment(partial, version, exclude_checkpoints=excluded, table_path=storage.root_uri)
            if seg.checkpoint is not None:
                return seg, partial
        except LakehouseError:
            pass  # the hint was stale or wrong: the full listing decides
    files = list_log(storage)
    if not files and storage.is_file():
        raise TableNotFoundError(
            f"{storage.root_uri} is a file, not a Delta table: a table is a directory holding _delta_log/.\n"
            "Help: give the table's directory (the parent of _delta_log/), not one of its files.")
    if not files:
        raise TableNotFoundError(
            f"no Delta table at {storage.root_uri}: _delta_log/ is missing or empty.\n"
            "Help: check the path, or create the table first."
        )
    return build_segment(files, version, exclude_checkpoints=excluded, table_path=storage.root_uri), files


def load_snapshot(storage: Storage, version: int | None = None, *,
                  exclude_checkpoints: frozenset = frozenset()) -> Snapshot:
    """Load the snapshot at ``version`` (None = latest) from storage.

    ``exclude_checkpoints`` (checkpoint keys) makes the load ignore those checkpoints, so that state can
    be rebuilt from older files (what `lakehouse.operations.verify` compares a checkpoint with).
    """
    excluded: frozenset = frozenset(exclude_checkpoints)
    checkpoint = CheckpointData()
    while True:
        segment, listing = _segment(storage, version, excluded)
        if segment.checkpoint is None:
            break
        try:
            checkpoint = read_checkpoint(storage, segment.checkpoint)
            break
        except InvalidLogError as damaged:
            # A damaged checkpoint is skipped when older state can rebuild the same version; otherwise
            # the damage itself is the error to report.
            excluded = excluded | {segment.checkpoint.key}
            try:
                _segment(storage, segment.version, excluded)
            except LakehouseError:
                raise damaged from None
    base_version = segment.checkpoint.version if segment.checkpoint is not None else None
    return _reconcile(storage, segment, listing, base_version, checkpoint.actions, checkpoint.add_table(),
                      checkpoint.remove_table())


def _reconcile(storage: Storage, segment: LogSegment, listing: Sequence[LogFile], base_version: int | None,
               base_actions: Sequence[Action], base_adds: pa.Table, base_removes: pa.Table) -> Snapshot:
    """Replay ``segment.deltas`` newest first on top of a base state (a checkpoint or an older snapshot)."""
    replay = Replay()
    deltas = list(segment.deltas)
    for f, commit in reversed(list(zip(deltas, read_log_files_for_replay(storage, deltas)))):
        replay.add_commit(f.end_version or f.version, commit.actions, commit.adds, commit.keys)
    if base_version is not None:
        replay.add_checkpoint_actions(base_version, base_actions)

    protocol, metadata = replay.require_complete(segment.version, storage.root_uri)
    check_readable(protocol)
    schema = parse_schema(metadata.schema_string, version=replay.metadata_version,
                          path=_log_file_of(segment, replay.metadata_version))
    properties = TableProperties.parse(metadata.configuration, strict=False)

    adds = replayed_adds(replay)
    removed = removes_to_table(replay.tombstones)
    if base_version is not None:
        # Keys of column-wise decoded commits are Arrow strings: filter the base with them all at once.
        strings = replay.seen_key_strings() if replay.table_keys else None
        adds = pa.concat_tables([adds, drop_seen(base_adds, replay.seen_keys, seen_strings=strings)])
        removed = pa.concat_tables([removed, drop_seen(base_removes, replay.seen_keys, seen_strings=strings)])
    tip = next((f for f in listing if f.kind == "commit" and f.version == segment.version), None)
    return Snapshot(
        storage=storage,
        version=segment.version,
        protocol=protocol,
        metadata=metadata,
        schema=schema,
        properties=properties,
        adds=adds,
        tombstones=removed,
        txns=dict(replay.txns),
        domains=replay.live_domains(),
        segment=segment,
        listing=tuple(listing),
        tip=tip,
    )


def _log_file_of(segment: LogSegment, version: int | None) -> str | None:
    """The `_delta_log/` file that holds the actions of ``version`` in ``segment`` (for error messages)."""
    for f in segment.deltas:
        if (f.end_version or f.version) == version:
            return f"{LOG_DIR}/{f.name}"
    if segment.checkpoint is not None and segment.checkpoint.version == version:
        return f"{LOG_DIR}/{segment.checkpoint.files[0].name}"
    return None


def refresh_snapshot(snapshot: Snapshot, storage: Storage | None = None) -> Snapshot:
    """The latest snapshot, reading only the commits after ``snapshot`` (a full load when the log no
    longer continues it: rewritten tip, gap, or a table replaced at the same location)."""
    storage = storage or snapshot.storage
    listing = list_log(storage, snapshot.version)
    here = next((f for f in listing if f.kind == "commit" and f.version == snapshot.version), None)
    same_tip = snapshot.tip is not None and here is not None and (here.size, here.mtime_ms) == (
        snapshot.tip.size, snapshot.tip.mtime_ms)
    newer = sorted((f for f in listing if f.kind == "commit" and f.version > snapshot.version), key=lambda f: f.version)
    contiguous = all(f.version == snapshot.version + 1 + i for i, f in enumerate(newer))
    if not same_tip or not contiguous:
        return load_snapshot(storage)
    if not newer:
        return snapshot if storage is snapshot.storage else replace(snapshot, storage=storage)
    segment = LogSegment(version=newer[-1].version, checkpoint=None, deltas=tuple(newer), commits=tuple(newer))
    base_actions: list[Action] = [snapshot.protocol, snapshot.metadata, *snapshot.txns.values(), *snapshot.domains.values()]
    return _reconcile(storage, segment, listing, snapshot.version, base_actions, snapshot.adds, snapshot.tombstones)


_CACHE: "OrderedDict[str, Snapshot]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


def latest_snapshot(storage: Storage, hint: Snapshot | None = None) -> Snapshot:
    """The latest snapshot, refreshed incrementally from the last one this process loaded for the same
    table (or from ``hint``, a snapshot of it the caller holds, when that is newer), so that repeated
    writes cost what their own commits cost, not what the whole log costs."""
    with _CACHE_LOCK:
        cached = _CACHE.get(storage.root_uri)
    if hint is not None and hint.storage.root_uri == storage.root_uri and (cached is None or hint.version > cached.version):
        cached = hint
    snapshot = refresh_snapshot(cached, storage) if cached is not None else load_snapshot(storage)
    with _CACHE_LOCK:
        _CACHE[storage.root_uri] = snapshot
        _CACHE.move_to_end(storage.root_uri)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return snapshot
