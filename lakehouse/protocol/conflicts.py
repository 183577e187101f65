"""Optimistic-concurrency conflict rules (Delta on Spark's ConflictChecker), as small named checks.

When a commit loses the race for version N, every winning commit between the transaction's read version
and now is summarised and checked, in order, against what the transaction read and wrote. The first
check that fails raises its typed error; if none fails the transaction rebases onto the winners and
retries. Isolation levels (PROTOCOL.md leaves them to the engine; these are Spark's):

- ``WriteSerializable`` (the default): files a winner added in a *blind append* do not conflict with
  what this transaction read; other added files do when they may match its read predicates.
- ``Serializable``: every file a winner added conflicts when it may match.

Pure logic: the caller supplies ``may_match(add, predicate)``, which must answer True whenever the file
could hold a matching row (a wrong True costs a retry, a wrong False would lose an update).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from lakehouse.errors import (
    ConcurrentAppendError,
    ConcurrentDeleteDeleteError,
    ConcurrentDeleteReadError,
    ConcurrentTransactionError,
    MetadataChangedError,
    ProtocolChangedError,
)
from lakehouse.protocol.actions import (
    Action, Add, CommitInfo, DomainMetadata, Metadata, Protocol, Remove, Txn, file_key,
)
from lakehouse.protocol.expr import Expr
from lakehouse.protocol.replay import canonical_path
from lakehouse.protocol.row_tracking import DOMAIN as ROW_TRACKING_DOMAIN

Isolation = Literal["Serializable", "WriteSerializable"]
FileKey = tuple[str, str | None]


@dataclass(frozen=True)
class ReadSet:
    """What a transaction read: the whole table, data through predicates, specific files, app txn ids."""

    whole_table: bool = False
    predicates: tuple[Expr, ...] = ()
    files: frozenset[FileKey] = frozenset()
    app_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TxnSummary:
    """The current transaction as the checks see it."""

    read_version: int
    isolation: Isolation
    read: ReadSet
    removed: frozenset[FileKey] = frozenset()
    changes_metadata: bool = False
    changes_protocol: bool = False
    domains_read: frozenset[str] = frozenset()  # domain metadata the result depends on (e.g. delta.clustering)
    domains_written: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WinnerSummary:
    """One winning commit, reduced to what the checks need."""

    version: int
    added: tuple[Add, ...] = ()
    removed: tuple[Remove, ...] = ()
    metadata: Metadata | None = None
    protocol: Protocol | None = None
    app_ids: frozenset[str] = frozenset()
    blind_append: bool = False
    domains: frozenset[str] = frozenset()

    @staticmethod
    def of(version: int, actions: Sequence[Action]) -> "WinnerSummary":
        """Summarise a winning commit's actions."""
        info = next((a for a in actions if isinstance(a, CommitInfo)), None)
        return WinnerSummary(
            version=version,
            added=tuple(a for a in actions if isinstance(a, Add)),
            removed=tuple(a for a in actions if isinstance(a, Remove)),
            metadata=next((a for a in actions if isinstance(a, Metadata)), None),
            protocol=next((a for a in actions if isinstance(a, Protocol)), None),
            app_ids=frozenset(a.app_id for a in actions if isinstance(a, Txn)),
            blind_append=bool(info and info.extra.get("isBlindAppend") is True),
            domains=frozenset(a.domain for a in actions if isinstance(a, DomainMetadata)),
        )


MayMatch = Callable[[Add, Expr], bool]


@dataclass(frozen=True)
class Context:
    """Everything a check looks at."""

    ours: TxnSummary
    winner: WinnerSummary
    may_match: MayMatch = field(default=lambda add, pred: True)


def _key(action: Add | Remove) -> FileKey:
    return file_key(canonical_path(action.path), action.deletion_vector)


def check_protocol_unchanged(ctx: Context) -> None:
    """A winner that changed the protocol invalidates every concurrent transaction."""
    if ctx.winner.protocol is not None:
        raise ProtocolChangedError(
            f"the protocol was changed by concurrent commit {ctx.winner.version}.\nHelp: reload the table and retry.",
            version=ctx.winner.version,
        )


def check_metadata_unchanged(ctx: Context) -> None:
    """A winner that changed metadata (schema, partitioning, properties) invalidates every transaction."""
    if ctx.winner.metadata is not None:
        raise MetadataChangedError(
            f"the table metadata was changed by concurrent commit {ctx.winner.version}.\n"
            "Help: reload the table and retry the operation.",
            version=ctx.winner.version,
        )


def check_no_added_files_we_read(ctx: Context) -> None:
    """Files a winner added must not fall inside what this transaction read (ConcurrentAppend)."""
    read = ctx.ours.read
    if not read.whole_table and not read.predicates:
        return
    if ctx.ours.isolation == "WriteSerializable" and ctx.winner.blind_append:
        return
    for add in ctx.winner.added:
        if not add.data_change:
            continue
        if read.whole_table or any(ctx.may_match(add, p) for p in read.predicates):
            raise ConcurrentAppendError(
                f"concurrent commit {ctx.winner.version} added data ({add.path}) that this transaction read.\n"
                "Help: retry the operation; to avoid it, make the two operations touch disjoint partitions.",
                version=ctx.winner.version,
            )


def check_no_deleted_files_we_read(ctx: Context) -> None:
    """Files a winner removed must not be files this transaction read (ConcurrentDeleteRead)."""
    read = ctx.ours.read
    for rm in ctx.winner.removed:
        if read.whole_table or _key(rm) in read.files:
            raise ConcurrentDeleteReadError(
                f"concurrent commit {ctx.winner.version} removed {rm.path}, which this transaction read.\n"
                "Help: retry the operation on the new table state.",
                version=ctx.winner.version,
            )


def check_no_deleted_files_we_delete(ctx: Context) -> None:
    """Files a winner removed must not be files this transaction removes too (ConcurrentDeleteDelete)."""
    for rm in ctx.winner.removed:
        if _key(rm) in ctx.ours.removed:
            raise ConcurrentDeleteDeleteError(
                f"concurrent commit {ctx.winner.version} also removed {rm.path}.\nHelp: retry the operation.",
                version=ctx.winner.version,
            )


def check_no_conflicting_app_txn(ctx: Context) -> None:
    """A winner may not record an application transaction id this transaction depends on."""
    clash = ctx.winner.app_ids & ctx.ours.read.app_ids
    if clash:
        raise ConcurrentTransactionError(
            f"concurrent commit {ctx.winner.version} recorded application transaction {sorted(clash)}.\n"
            "Help: the other writer already wrote this batch; check the table's transactions before retrying.",
            version=ctx.winner.version,
        )


def check_no_conflicting_domain(ctx: Context) -> None:
    """A winner may not change a domain (PROTOCOL.md "Domain Metadata") this transaction read or writes:
    an OPTIMIZE that clusters by `delta.clustering` loses to a concurrent change of the clustering
    columns, and two writers of one domain cannot both win (Spark's domain metadata conflict rule). The
    row-tracking high-water mark is the exception: the loser assigns its row ids again above the
    winner's mark (PROTOCOL.md "Row Tracking"; the transaction does it on every attempt)."""
    clash = (ctx.winner.domains - {ROW_TRACKING_DOMAIN}) & (ctx.ours.domains_read | ctx.ours.domains_written)
    if clash:
        raise MetadataChangedError(
            f"concurrent commit {ctx.winner.version} changed domain metadata {sorted(clash)} that this "
            "transaction depends on.\nHelp: reload the table and retry the operation.",
            version=ctx.winner.version,
        )


CHECKS: tuple[Callable[[Context], None], ...] = (
    check_protocol_unchanged,
    check_metadata_unchanged,
    check_no_added_files_we_read,
    check_no_deleted_files_we_read,
    check_no_deleted_files_we_delete,
    check_no_conflicting_app_txn,
    check_no_conflicting_domain,
)


def check_winner(ours: TxnSummary, winner: WinnerSummary, may_match: MayMatch) -> None:
    """Run every check, in order, for one winning commit; raises the first conflict found."""
    ctx = Context(ours, winner, may_match)
    for check in CHECKS:
        check(ctx)
