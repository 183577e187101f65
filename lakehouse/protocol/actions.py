"""Typed Delta log actions (PROTOCOL.md "Actions").

Each action is a frozen, slotted dataclass named after the protocol. Fields the protocol defines are typed
attributes; anything else found in the log is kept in ``extra`` so that a read-write round trip loses
nothing. Decoding from and encoding to raw dicts lives in `lakehouse.protocol.codec`, the only place raw
dicts are handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Format:
    """`metaData.format`: the data file format (always parquet for Delta)."""

    provider: str = "parquet"
    # Values may be null in a log written by another engine; they are kept so a round trip loses nothing.
    options: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metadata:
    """`metaData` action (PROTOCOL.md "Change Metadata")."""

    id: str
    schema_string: str
    partition_columns: tuple[str, ...] = ()
    configuration: Mapping[str, str] = field(default_factory=dict)
    format: Format = field(default_factory=Format)
    name: str | None = None
    description: str | None = None
    created_time: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Protocol:
    """`protocol` action (PROTOCOL.md "Protocol Evolution")."""

    min_reader_version: int
    min_writer_version: int
    reader_features: tuple[str, ...] | None = None
    writer_features: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeletionVectorDescriptor:
    """`deletionVector` struct of add/remove (PROTOCOL.md "Deletion Vector Descriptor Schema")."""

    storage_type: str
    path_or_inline_dv: str
    size_in_bytes: int
    cardinality: int
    offset: int | None = None
    max_row_index: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unique_id(self) -> str:
        """The DV's identity within the table: storageType + pathOrInlineDv (+ "@offset")."""
        base = f"{self.storage_type}{self.path_or_inline_dv}"
        return base if self.offset is None else f"{base}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Add:
    """`add` action (PROTOCOL.md "Add File and Remove File")."""

    path: str
    partition_values: Mapping[str, str | None]
    size: int
    modification_time: int
    data_change: bool
    stats: str | None = None
    tags: Mapping[str, str | None] | None = None
    deletion_vector: DeletionVectorDescriptor | None = None
    base_row_id: int | None = None
    default_row_commit_version: int | None = None
    clustering_provider: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Remove:
    """`remove` action (PROTOCOL.md "Add File and Remove File"); a tombstone for VACUUM."""

    path: str
    data_change: bool
    deletion_timestamp: int | None = None
    extended_file_metadata: bool | None = None
    partition_values: Mapping[str, str | None] | None = None
    size: int | None = None
    stats: str | None = None
    tags: Mapping[str, str | None] | None = None
    deletion_vector: DeletionVectorDescriptor | None = None
    base_row_id: int | None = None
    default_row_commit_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AddCDCFile:
    """`cdc` action (PROTOCOL.md "Add CDC File"): a change data file, never part of snapshot reads."""

    path: str
    partition_values: Mapping[str, str | None]
    size: int
    data_change: bool = False
    tags: Mapping[str, str | None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Txn:
    """`txn` action (PROTOCOL.md "Transaction Identifiers"): an application's last committed version."""

    app_id: str
    version: int
    last_updated: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """`commitInfo` action (PROTOCOL.md "Commit Provenance Information").

    The protocol leaves its content free-form; the well-known fields are typed and the rest kept in
    ``extra``.
    """

    timestamp: int | None = None
    operation: str | None = None
    operation_parameters: Mapping[str, Any] | None = None
    in_commit_timestamp: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DomainMetadata:
    """`domainMetadata` action (PROTOCOL.md "Domain Metadata")."""

    domain: str
    configuration: str
    removed: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckpointMetadata:
    """`checkpointMetadata` action, found only in v2 checkpoints (PROTOCOL.md "Checkpoint Metadata")."""

    version: int
    tags: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sidecar:
    """`sidecar` action, found only in v2 checkpoints (PROTOCOL.md "Sidecar File Information")."""

    path: str
    size_in_bytes: int
    modification_time: int
    tags: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnknownAction:
    """An action whose key the protocol does not define; kept verbatim and ignored by replay."""

    key: str
    value: Any


Action = Union[
    Metadata,
    Protocol,
    Add,
    Remove,
    AddCDCFile,
    Txn,
    CommitInfo,
    DomainMetadata,
    CheckpointMetadata,
    Sidecar,
    UnknownAction,
]

FileAction = Union[Add, Remove]


def file_key(path: str, dv: DeletionVectorDescriptor | None) -> tuple[str, str | None]:
    """The logical-file primary key of PROTOCOL.md "Action Reconciliation": (path, dv unique id).

    ``path`` must already be canonical (URI-decoded): two spellings of one file are one file.
    """
    return (path, dv.unique_id if dv is not None else None)
