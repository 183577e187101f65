"""Log replay (PROTOCOL.md "Action Reconciliation"): newest to oldest, first sighting wins.

`Replay` consumes the JSON commits (or compaction files) of a log segment from the newest version down,
then the checkpoint's non-file actions and the set of logical-file keys it has already decided. The
newest `protocol` and `metaData` win, `txn` by `appId` and `domainMetadata` by `domain` (removed ones are
tombstones), and file actions are deduplicated by (path, deletion-vector id). Checkpoint file actions are
filtered in bulk by the caller with `Replay.seen_keys` so a 100,000-file checkpoint never becomes Python
objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import unquote

from lakehouse.errors import InvalidLogError
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


@dataclass
class Replay:
    """Accumulates the reconciled state while actions are fed newest first."""

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

    def add_commit(self, version: int, actions: Iterable[Action]) -> None:
        """Feed one commit (or compaction file, ``version`` = its end) newer than everything fed before."""
        # A commit may not name one logical file twice, so order inside it only matters for compaction
        # files; writers of those (delta-kernel-rs among them) put the newest action first.
        for action in actions:
            self._apply(action, version)

    def _apply(self, action: Action, version: int) -> None:
        if isinstance(action, (Add, Remove)):
            key = file_key(canonical_path(action.path), action.deletion_vector)
            if key in self.seen_keys:
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
