"""Optimistic transactions: stage actions, commit with put-if-absent, resolve conflicts, retry.

The commit path is the state machine of spec/commit-protocol.md:

    validate -> actions (commitInfo first) -> put-if-absent(v+1)
             -> lost the race? read the winners, run the named conflict checks, rebase to v+k+1, back off
                (bounded, jittered), retry
             -> won: post-commit checkpoint (failure there never fails the commit)

Nothing ever overwrites a commit file. A transaction records what it read (`ReadSet`) so the checks in
`lakehouse.protocol.conflicts` can tell a harmless concurrent commit from one that invalidates it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

import orjson

from lakehouse._version import __version__
from lakehouse.errors import (
    CommitError,
    ConcurrentAppendError,
    InvalidArgumentError,
    MaxCommitRetriesError,
    ProtocolChangedError,
)
from lakehouse.log.commits import commit_timestamp, read_commit
from lakehouse.log.committer import Committed, put_commit
from lakehouse.protocol.actions import Action, Add, AddCDCFile, CommitInfo, Metadata, Protocol, Remove, Txn, file_key
from lakehouse.protocol.actions import DomainMetadata
from lakehouse.protocol.clustering import DOMAIN as CLUSTERING_DOMAIN, check_table as check_clustered_table
from lakehouse.protocol.codec import encode_commit
from lakehouse.protocol.conflicts import Isolation, MayMatch, ReadSet, TxnSummary, WinnerSummary, check_winner
from lakehouse.protocol.expr import Expr
from lakehouse.snapshot.checkpoint import maybe_checkpoint
from lakehouse.protocol.features import active_features, check_rows_completed, check_writable
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.replay import canonical_path
from lakehouse.protocol.row_tracking import (
    DOMAIN as ROW_TRACKING_DOMAIN, PRESERVED_TAG, RowTracking, assign_row_ids, check_configuration, high_water_mark,
    highest_row_id, mark_domain, with_column_names,
)
from lakehouse.protocol.schema import parse_schema
from lakehouse.snapshot import Snapshot
from lakehouse.storage.base import Storage
from lakehouse.write.row_tracking import backfill, with_num_records

log = logging.getLogger(__name__)

Phase = Literal["prepared", "conflict", "committed"]
Hook = Callable[[Phase, "Transaction"], None]

# Test seam, not public API: tests pause a commit at a phase to interleave writers deterministically
# (Spark's phase locks). A context variable rather than a `_hook` parameter keeps the public signatures
# free of test plumbing; it is per thread/task, so one test's hook never leaks into another writer.
_COMMIT_HOOK: ContextVar[Hook | None] = ContextVar("lakehouse_commit_hook", default=None)


@contextmanager
def commit_hook(hook: Hook | None) -> Iterator[None]:
    """Test seam: every `Transaction` created inside the block (in this thread) calls ``hook(phase, txn)``
    at "prepared", "conflict" and "committed"."""
    token = _COMMIT_HOOK.set(hook)
    try:
        yield
    finally:
        _COMMIT_HOOK.reset(token)


@dataclass(frozen=True)
class AppTransaction:
    """An application's idempotency marker (`txn` action): ``version`` of ``app_id`` is in the table."""

    app_id: str
    version: int


@dataclass(frozen=True)
class CommitProperties:
    """Options of one commit: custom `commitInfo` fields, app transactions, retry bound.

    ``app_transactions`` make the operation idempotent (spec/commit-protocol.md section 4): see
    `already_applied`.
    """

    custom_metadata: Mapping[str, Any] = field(default_factory=dict)
    app_transactions: tuple[AppTransaction, ...] = ()
    max_commit_retries: int = 15

    def __post_init__(self) -> None:
        txns = tuple(self.app_transactions)
        object.__setattr__(self, "app_transactions", txns)
        seen: set[str] = set()
        for t in txns:
            if not isinstance(t, AppTransaction):
                raise InvalidArgumentError(f"app_transactions takes AppTransaction values, got {t!r}")
            if not isinstance(t.app_id, str) or not t.app_id:
                raise InvalidArgumentError(f"an app transaction needs a non-empty string app_id, got {t.app_id!r}")
            if isinstance(t.version, bool) or not isinstance(t.version, int) or t.version < 0:
                raise InvalidArgumentError(
                    f"app transaction {t.app_id!r} needs a non-negative int version, got {t.version!r}")
            if t.app_id in seen:
                # One commit records one version per application (PROTOCOL.md "Transaction Identifiers").
                raise InvalidArgumentError(f"app transaction {t.app_id!r} is named twice in one commit")
            seen.add(t.app_id)


def pending_app_transactions(recorded: Mapping[str, Txn], properties: CommitProperties | None) -> tuple[AppTransaction, ...]:
    """The app transactions of ``properties`` that are newer than the version ``recorded`` (the
    table's `txn` actions by app id) holds for their app: the only ones a commit may write, so that a
    recorded version never moves backwards."""
    if properties is None:
        return ()
    return tuple(t for t in properties.app_transactions
                 if t.app_id not in recorded or recorded[t.app_id].version < t.version)


def already_applied(snapshot: Snapshot | None, properties: CommitProperties | None) -> bool:
    """The idempotency rule every operation follows (spec/commit-protocol.md section 4): an operation
    given app transactions is a replay, to be skipped without writing anything, when the table already
    records every one of them at that version or later."""
    if properties is None or not properties.app_transactions or snapshot is None:
        return False
    return not pending_app_transactions(snapshot.txns, properties)


def records_app_transactions(properties: CommitProperties | None) -> bool:
    """Whether the operation must commit even when it changes no data: its app transactions have to be
    recorded, or a replay after later writes would run it again."""
    return properties is not None and bool(properties.app_transactions)


@dataclass(frozen=True)
class CommitResult:
    """The outcome of a successful commit."""

    version: int
    operation: str
    attempts: int
    num_added_files: int
    num_removed_files: int
    checkpoint_written: bool = False
    metrics: Mapping[str, int] = field(default_factory=dict)


def check_commit_safety(storage: Storage) -> None:
    """Refuse to commit through a backend without atomic put-if-absent unless the user opted in."""
    if not storage.atomic_put_if_absent and not getattr(storage, "allow_unsafe_commits", False):
        raise CommitError(
            f"{storage.root_uri} has no atomic put-if-absent, so concurrent writers could overwrite each "
            "other's commits.\nHelp: pass storage_options={'lakehouse.allow_unsafe_commits': True} if you are "
            "certain only one writer uses this table."
        )


class Transaction:
    """One atomic change to a table, based on the snapshot it read (None when creating the table)."""

    def __init__(
        self,
        storage: Storage,
        snapshot: Snapshot | None,
        *,
        operation: str,
        parameters: Mapping[str, Any] | None = None,
        isolation: Isolation = "WriteSerializable",
        properties: CommitProperties | None = None,
        hook: Hook | None = None,
        may_match: MayMatch | None = None,
    ):
        if isolation not in ("Serializable", "WriteSerializable"):
            raise InvalidArgumentError(f"isolation must be 'Serializable' or 'WriteSerializable', got {isolation!r}")
        self.storage = storage
        self.snapshot = snapshot
        self.operation = operation
        self.parameters = dict(parameters or {})
        # delta.isolationLevel=Serializable holds for every operation on the table (a stricter level asked
        # for by the operation is kept).
        table_level = snapshot.properties.isolation_level if snapshot is not None else None
        self.isolation: Isolation = "Serializable" if table_level == "Serializable" else isolation
        self.properties = properties or CommitProperties()
        self.hook = hook if hook is not None else _COMMIT_HOOK.get()
        self.may_match = may_match or (lambda add, pred: True)
        self.read_version = snapshot.version if snapshot is not None else -1
        self.adds: list[Add] = []
        self.removes: list[Remove] = []
        self.cdc: list[AddCDCFile] = []
        self.metadata: Metadata | None = None
        self.protocol: Protocol | None = None
        self.domains: dict[str, DomainMetadata] = {}
        self._read_domains: set[str] = set()
        self.metrics: dict[str, int] = {}
        self._read_whole_table = False
        self._read_predicates: list[Expr] = []
        self._read_files: set[tuple[str, str | None]] = set()
        self.txn_id = str(uuid.uuid4())
        # Only app versions newer than the table's are written; commit() refuses a replay.
        self.app_transactions = pending_app_transactions(snapshot.txns if snapshot else {}, self.properties)
        self.attempts = 0
        #: Set by an operation whose rows went through `complete_rows` (see `check_rows_completed`).
        self.columns_completed = False
        #: Cleared by an operation that copies rows without keeping their row ids (`delta.rowTracking.preserved`).
        self.rows_preserved = True
        self.version: int | None = None
        # Row tracking (spec/row-tracking.md): the state the commit writes under, the highest row id
        # assigned so far (moved by winners on retry), the files a commit that enables it re-adds.
        self._tracking = RowTracking()
        self._row_id_mark = -1
        self._backfill: list[Add] = []
        self._enabling_row_tracking = False

    def _call_hook(self, phase: Phase) -> None:
        # A hook commits the "winning" writer itself: that inner transaction must not pick up the hook.
        token = _COMMIT_HOOK.set(None)
        try:
            assert self.hook is not None
            self.hook(phase, self)
        finally:
            _COMMIT_HOOK.reset(token)

    # -- staging -------------------------------------------------------------------------------------
    def read_whole_table(self) -> None:
        """Declare that the result depends on every row of the table."""
        self._read_whole_table = True

    def read_predicate(self, predicate: Expr, files: Iterable[Add | Mapping[str, Any]] = ()) -> None:
        """Declare a read of the rows matching ``predicate``, through the given files."""
        self._read_predicates.append(predicate)
        for f in files:
            if isinstance(f, Add):
                self._read_files.add(file_key(canonical_path(f.path), f.deletion_vector))
            else:
                self._read_files.add((canonical_path(f["path"]), f.get("dv_id")))

    def read_files(self, files: Iterable[Add | Remove]) -> None:
        """Declare that the result depends on exactly these files (and not on any predicate): a
        concurrent commit that removes one of them conflicts, concurrent appends do not (OPTIMIZE)."""
        for f in files:
            self._read_files.add(file_key(canonical_path(f.path), f.deletion_vector))

    def add_files(self, adds: Sequence[Add]) -> None:
        """Stage files to add."""
        self.adds.extend(adds)

    def remove_files(self, removes: Sequence[Remove]) -> None:
        """Stage files to remove (tombstones)."""
        self.removes.extend(removes)

    def add_cdc_files(self, files: Sequence[AddCDCFile]) -> None:
        """Stage change data files (`cdc` actions)."""
        self.cdc.extend(files)

    def update_metadata(self, metadata: Metadata) -> None:
        """Stage a new `metaData` action."""
        self.metadata = metadata

    def update_protocol(self, protocol: Protocol) -> None:
        """Stage a new `protocol` action."""
        self.protocol = protocol

    def set_domain_metadata(self, domain: DomainMetadata) -> None:
        """Stage a `domainMetadata` action (one per domain: a later one for the same domain replaces it).
        A concurrent commit that changes the same domain conflicts."""
        self.domains[domain.domain] = domain

    def read_domain(self, name: str) -> None:
        """Declare that the result depends on domain ``name`` (e.g. OPTIMIZE on `delta.clustering`): a
        concurrent commit that changes it conflicts."""
        self._read_domains.add(name)

    @property
    def is_blind_append(self) -> bool:
        """Only adds, nothing read, nothing removed, no metadata change."""
        return (
            not self.removes and not self._read_whole_table and not self._read_predicates
            and self.metadata is None and self.protocol is None and not self.cdc and not self.domains
        )

    # -- commit --------------------------------------------------------------------------------------
    def _effective(self) -> tuple[Protocol, Metadata]:
        protocol = self.protocol or (self.snapshot.protocol if self.snapshot else None)
        metadata = self.metadata or (self.snapshot.metadata if self.snapshot else None)
        if protocol is None or metadata is None:
            raise CommitError("a new table needs both a protocol and a metaData action")
        return protocol, metadata

    def _summary(self) -> TxnSummary:
        app_ids = frozenset(t.app_id for t in self.properties.app_transactions)
        return TxnSummary(
            read_version=self.read_version,
            isolation=self.isolation,
            read=ReadSet(self._read_whole_table, tuple(self._read_predicates), frozenset(self._read_files), app_ids),
            removed=frozenset(file_key(canonical_path(r.path), r.deletion_vector) for r in self.removes),
            changes_metadata=self.metadata is not None,
            changes_protocol=self.protocol is not None,
            # Files clustered here (rewrites, dataChange=false, naming a provider) follow the clustering columns
            # read: a concurrent change of them conflicts. A DML re-add keeping its file's provider does not.
            domains_read=frozenset(self._read_domains | (
                {CLUSTERING_DOMAIN} if any(a.clustering_provider and not a.data_change for a in self.adds)
                else set())),
            domains_written=frozenset(self.domains),
        )

    def _commit_info(self, version: int, ict: int | None) -> CommitInfo:
        now = int(time.time() * 1000)
        tags: dict[str, str] = {}
        if self._tracking.supported:
            # Rows copied on a table that only supports row tracking get new ids (nothing materialized).
            tags[PRESERVED_TAG] = str(self.rows_preserved and (self._tracking.enabled or not self.removes)).lower()
        extra: dict[str, Any] = {
            "readVersion": self.read_version if self.read_version >= 0 else None,
            "isolationLevel": self.isolation,
            "isBlindAppend": self.is_blind_append,
            "operationMetrics": {k: str(v) for k, v in self.metrics.items()},
            "engineInfo": f"lakehouse/{__version__}",
            "txnId": self.txn_id,
            "tags": tags or None,
        }
        extra.update(self.properties.custom_metadata)
        params = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in self.parameters.items()}
        return CommitInfo(
            timestamp=ict if ict is not None else now,
            operation=self.operation,
            operation_parameters=params,
            in_commit_timestamp=ict,
            extra={k: v for k, v in extra.items() if v is not None},
        )

    def _actions(self, version: int, ict: int | None) -> list[Action]:
        actions: list[Action] = [self._commit_info(version, ict)]
        if self.protocol is not None:
            actions.append(self.protocol)
        if self.metadata is not None:
            actions.append(self.metadata)
        domains = dict(self.domains)
        adds = self.adds + self._backfill
        if self._tracking.assigns:
            # Assigned per attempt: a retry takes ids above the mark of the writers that won meanwhile.
            adds, mark = assign_row_ids(adds, version, self._row_id_mark)
            if mark > self._row_id_mark:
                domains[ROW_TRACKING_DOMAIN] = mark_domain(mark)
        actions += domains.values()
        now = int(time.time() * 1000)
        actions += [Txn(t.app_id, t.version, now) for t in self.app_transactions]
        actions += self.removes
        actions += adds
        actions += self.cdc
        return actions

    def _prepare_row_tracking(self, protocol: Protocol, metadata: Metadata) -> Metadata:
        """Row tracking's part of a commit, decided once: the materialized column names of a table that
        enables it (added to the staged metadata), the high-water mark to assign above, and the backfill of
        the active files without row ids when this commit enables it. Returns the metadata to commit."""
        if self.metadata is not None:
            named = with_column_names(self.metadata.configuration)
            if named != dict(self.metadata.configuration):
                self.metadata = metadata = replace(self.metadata, configuration=named)
            schema = parse_schema(metadata.schema_string)
            names = [f.name for f in schema.fields] + [
                str(f.metadata["delta.columnMapping.physicalName"]) for f in schema.fields
                if "delta.columnMapping.physicalName" in f.metadata]
            check_configuration(metadata.configuration, names, table=self.storage.root_uri)
        self._tracking = RowTracking.of(protocol, metadata.configuration)
        if not self._tracking.assigns:
            return metadata
        # Row ids are counted in rows: a file added without `numRecords` (CONVERT of files without
        # statistics) is counted from its footer.
        self.adds = [with_num_records(self.storage, a) if a.base_row_id is None else a for a in self.adds]
        snapshot = self.snapshot
        if snapshot is not None:
            self._row_id_mark = max(high_water_mark(snapshot.domains.get(ROW_TRACKING_DOMAIN)), -1)
            was = RowTracking.of(snapshot.protocol, snapshot.metadata.configuration)
            if self._tracking.enabled and not was.enabled:
                self._enabling_row_tracking = True
                skip = {file_key(canonical_path(r.path), r.deletion_vector) for r in self.removes}
                skip |= {file_key(canonical_path(a.path), a.deletion_vector) for a in self.adds}
                self._backfill = backfill(self.storage, snapshot.adds, skip)
                self.read_files(self._backfill)  # a concurrent removal of one of them conflicts
        return metadata

    def _previous_ict(self, version: int) -> int | None:
        """The commit timestamp of ``version - 1`` for in-commit timestamps (its ICT, else its mtime)."""
        return None if version == 0 else commit_timestamp(self.storage, version - 1)

    def commit(self) -> CommitResult:
        """Commit the staged actions; raises a `CommitError` subclass when it cannot."""
        protocol, metadata = self._effective()
        if self.properties.app_transactions and not self.app_transactions:
            # Operations skip replays before writing anything (`already_applied`); reaching here means the
            # table moved on since the operation checked, and committing would apply the batch twice.
            raise CommitError(
                f"every application transaction of this {self.operation} "
                f"{[(t.app_id, t.version) for t in self.properties.app_transactions]} is already recorded in "
                f"{self.storage.root_uri} at version {self.read_version}; nothing was committed.\n"
                "Help: this batch was already applied; do not run it again.")
        metadata = self._prepare_row_tracking(protocol, metadata)
        props = TableProperties.parse(metadata.configuration)
        check_writable(protocol, active_features(protocol, metadata))
        if self.adds:  # new rows must honour generated/identity/default columns (write/columns.py)
            check_rows_completed(self.operation, active_features(protocol, metadata), self.columns_completed)
        if self.protocol is not None or self.metadata is not None or self.domains:
            # A clustered table stays unpartitioned with statistics on its clustering columns.
            known = dict(self.snapshot.domains) if self.snapshot is not None else {}
            check_clustered_table(protocol, metadata, {**known, **self.domains})
        check_commit_safety(self.storage)
        version = self.read_version + 1
        summary = self._summary()
        max_retries = self.properties.max_commit_retries
        if self.hook:
            self._call_hook("prepared")
        while True:
            self.attempts += 1
            ict = None
            if props.enable_in_commit_timestamps:
                prev = self._previous_ict(version)
                now = int(time.time() * 1000)
                ict = now if prev is None else max(now, prev + 1)
            data = encode_commit(self._actions(version, ict))
            # A lost response is resolved inside put_commit: the bytes hold our unique txnId, so reading
            # them back tells a landed commit from a failed one.
            outcome = put_commit(self.storage, version, data)
            if isinstance(outcome, Committed):
                break
            if self.read_version < 0:
                raise ProtocolChangedError(
                    f"another writer created the table at {self.storage.root_uri} concurrently.\n"
                    "Help: retry the write; it will append to (or check) the table that now exists.",
                    version=0,
                )
            if self.hook:
                self._call_hook("conflict")
            version = self._rebase(summary, version)
            if self.attempts > max_retries:
                raise MaxCommitRetriesError(
                    f"gave up after {self.attempts} attempts to commit to {self.storage.root_uri}; the table is "
                    "unchanged by this transaction.\nHelp: retry later or raise max_commit_retries."
                )
            time.sleep(min(1.0, 0.005 * 2 ** min(self.attempts, 8)) * random.random())
        self.version = version
        if self.hook:
            self._call_hook("committed")
        checkpointed = maybe_checkpoint(self.storage, version, props)
        return CommitResult(
            version=version,
            operation=self.operation,
            attempts=self.attempts,
            num_added_files=len(self.adds),
            num_removed_files=len(self.removes),
            checkpoint_written=checkpointed,
            metrics=dict(self.metrics),
        )

    def _rebase_row_ids(self, winner: WinnerSummary, actions: Sequence[Action]) -> None:
        """Move the row-id high-water mark past a winner's ids; a commit enabling row tracking cannot let
        files without row ids (a writer that did not know it yet) into the table it enables it on."""
        if not self._tracking.assigns:
            return
        if self._enabling_row_tracking and any(a.base_row_id is None for a in winner.added):
            raise ConcurrentAppendError(
                f"concurrent commit {winner.version} added files without row ids while this commit enables row "
                f"tracking on {self.storage.root_uri}; nothing was committed.\nHelp: retry the operation.",
                version=winner.version)
        marks = [high_water_mark(a) for a in actions if isinstance(a, DomainMetadata) and a.domain == ROW_TRACKING_DOMAIN]
        self._row_id_mark = max([self._row_id_mark, highest_row_id(winner.added), *marks])

    def _rebase(self, summary: TxnSummary, lost: int) -> int:
        """Check every winner from ``lost`` on; returns the next version to try."""
        version = lost
        while True:
            actions = read_commit(self.storage, version)
            if actions is None:
                return version
            winner = WinnerSummary.of(version, actions)
            check_winner(summary, winner, self.may_match)
            self._rebase_row_ids(winner, actions)
            log.debug("rebased over version %s", version)
            version += 1
