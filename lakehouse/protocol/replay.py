"""Log replay (PROTOCOL.md "Action Reconciliation"): newest to oldest, first sighting wins.

`Replay` consumes the JSON commits (or compaction files) of a log segment from the newest version down,
then the checkpoint's non-file actions and the set of logical-file keys it has already decided. The
newest `protocol` and `metaData` win, `txn` by `appId` and `domainMetadata` by `domain` (removed ones are
tombstones), and file actions are deduplicated by (path, deletion-vector id). Checkpoint file actions are
filtered in bulk by the caller with `Replay.seen_key_strings` so a 100,000-file checkpoint never becomes
Python objects, and so are the adds of a large commit decoded column-wise (`lakehouse.protocol.commit_columns`),
fed as one Arrow table with their key strings (`file_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidLogError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import (
    Action,
    Add,
    CommitInfo,
    DomainMetadata,
    Metadata,
    Protocol,
    Remove,
    Txn,
    file_key,
)


def canonical_path(raw: str) -> str:
    """The decoded form of an `add`/`remove` path: the key under which two spellings are one file."""
    return unquote(raw) if "%" in raw else raw


def key_string(key: tuple[str, str | None]) -> str:
    """The `file_keys` string of one (canonical path, dv id) key."""
    return f"{key[0]}\x00{key[1] or ''}"


def file_keys(table: pa.Table) -> pa.Array:
    """One string per row of a file table identifying the logical file: canonical path + NUL + DV unique id
    (the `key_string` of its `file_key`)."""
    paths = table.column("path").combine_chunks()
    if pc.any(pc.match_substring(paths, "%")).as_py():
        paths = av.array([canonical_path(p) for p in paths.to_pylist()], pa.string())
    dv = table.column("deletionVector").combine_chunks()
    if dv.null_count == len(dv):
        return pc.binary_join_element_wise(paths, av.scalar(""), av.scalar("\x00"))
    storage = av.fill_null(dv.field("storageType"), "")
    pod = av.fill_null(dv.field("pathOrInlineDv"), "")
    off = dv.field("offset")
    off_txt = pc.if_else(off.is_null(), av.scalar(""), pc.binary_join_element_wise(av.scalar("@"), off.cast(pa.string()), av.scalar("")))
    dv_id = pc.binary_join_element_wise(storage, pod, off_txt, av.scalar(""))
    dv_id = pc.if_else(dv.is_null(), av.scalar(""), dv_id)
    return pc.binary_join_element_wise(paths, dv_id, av.scalar("\x00"))


@dataclass
class Replay:
    """Accumulates the reconciled state while actions are fed newest first.

    Surviving adds are ``adds`` (typed) plus ``add_tables``: (position in ``adds``, rows) for commits whose
    adds arrived as one table, so the file table keeps replay order (`file_table.replayed_adds`).
    """

    protocol: Protocol | None = None
    metadata: Metadata | None = None
    txns: dict[str, Txn] = field(default_factory=dict)
    domains: dict[str, DomainMetadata] = field(default_factory=dict)
    adds: list[Add] = field(default_factory=list)
    tombstones: list[Remove] = field(default_factory=list)
    seen_keys: set[tuple[str, str | None]] = field(default_factory=set)
    protocol_version: int | None = None
    metadata_version: int | None = None
    latest_commit_info: CommitInfo | None = None
    add_tables: list[tuple[int, pa.Table]] = field(default_factory=list)
    #: Key strings of the logical files decided by ``add_tables`` (one array per table).
    table_keys: list[pa.Array] = field(default_factory=list)
    _table_key_set: set[str] | None = field(default=None, init=False, repr=False, compare=False)

    def add_commit(self, version: int, actions: Iterable[Action], adds: pa.Table | None = None,
                   keys: pa.Array | None = None) -> None:
        """Feed one commit (or compaction file, ``version`` = its end) newer than everything fed before.

        ``adds`` (file-table rows, with their ``keys`` strings) are the commit's remaining add actions,
        decoded column-wise; the caller guarantees none of them shares a logical file with another action
        of the commit, so feeding them after ``actions`` keeps "first sighting wins".
        """
        # A commit may not name one logical file twice, so order inside it only matters for compaction
        # files; writers of those (delta-kernel-rs among them) put the newest action first.
        for action in actions:
            self._apply(action, version)
        if adds is not None:
            if keys is None:
                raise TypeError("a commit's add table comes with its file keys")
            self._apply_table(adds, keys)

    def _apply_table(self, adds: pa.Table, keys: pa.Array) -> None:
        seen = self.seen_key_strings()
        if len(seen):
            keep = pc.invert(pc.is_in(keys, value_set=seen))
            if not pc.all(keep).as_py():
                adds, keys = adds.filter(keep), keys.filter(keep)
        self.add_tables.append((len(self.adds), adds))
        self.table_keys.append(keys)
        self._table_key_set = None

    def seen_key_strings(self) -> pa.Array:
        """Every logical file decided so far, as `key_string`s (typed actions and add tables alike)."""
        typed = av.array([key_string(k) for k in self.seen_keys], pa.string())
        if not self.table_keys:
            return typed
        return pa.concat_arrays([typed, *(k.cast(pa.string()) for k in self.table_keys)])

    def _seen_in_tables(self, key: tuple[str, str | None]) -> bool:
        if not self.table_keys:
            return False
        if self._table_key_set is None:
            self._table_key_set = {k for keys in self.table_keys for k in keys.to_pylist()}
        return key_string(key) in self._table_key_set

    def _apply(self, action: Action, version: int) -> None:
        if isinstance(action, (Add, Remove)):
            key = file_key(canonical_path(action.path), action.deletion_vector)
            if key in self.seen_keys or self._seen_in_tables(key):
                return
            self.seen_keys.add(key)
            if isinstance(action, Add):
                self.adds.append(action)
            else:
                self.tombstones.append(action)
        elif isinstance(action, Metadata):
            if self.metadata is None:
                self.metadata, self.metadata_version = action, version
        elif isinstance(action, Protocol):
            if self.protocol is None:
                self.protocol, self.protocol_version = action, version
        elif isinstance(action, Txn):
            self.txns.setdefault(action.app_id, action)
        elif isinstance(action, DomainMetadata):
            self.domains.setdefault(action.domain, action)

    def add_checkpoint_actions(self, version: int, actions: Iterable[Action]) -> None:
        """Feed the non-file actions of the checkpoint at ``version`` (older than every commit fed)."""
        for action in actions:
            if isinstance(action, (Add, Remove)):
                raise TypeError("checkpoint file actions are filtered in bulk, not fed one by one")
            self._apply(action, version)

    def live_domains(self) -> dict[str, DomainMetadata]:
        """Domain metadata with tombstones (``removed=true``) dropped."""
        return {k: v for k, v in self.domains.items() if not v.removed}

    def require_complete(self, version: int, table_path: str = "") -> tuple[Protocol, Metadata]:
        """The winning protocol and metadata; a log without either is invalid."""
        if self.protocol is None:
            raise InvalidLogError(
                "no protocol action found in the log: the table cannot be read", path=table_path or None, version=version
            )
        if self.metadata is None:
            raise InvalidLogError(
                "no metaData action found in the log: the table cannot be read", path=table_path or None, version=version
            )
        return self.protocol, self.metadata
