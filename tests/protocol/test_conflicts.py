"""Direct unit tests of the conflict checker (`lakehouse.protocol.conflicts`): one test per named check in
`CHECKS`, each with the winning commit that triggers it, one that does not, and the error's type, version
and message. Transactions and winners are built from typed actions; ``may_match`` is the partition pruner
the commit path uses (`protocol.pruning.may_match`), so "cannot match" means "in another partition".

Test names say the interleaving: ``test_<what the winner did>_<what we did>_<outcome>``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import pytest

from lakehouse.errors import (
    ConcurrentAppendError,
    ConcurrentDeleteDeleteError,
    ConcurrentDeleteReadError,
    ConcurrentModificationError,
    ConcurrentTransactionError,
    MetadataChangedError,
    ProtocolChangedError,
)
from lakehouse.protocol.actions import (
    Action,
    Add,
    CommitInfo,
    DeletionVectorDescriptor,
    DomainMetadata,
    Metadata,
    Protocol,
    Remove,
    Txn,
    file_key,
)
from lakehouse.protocol.conflicts import (
    CHECKS,
    Isolation,
    ReadSet,
    TxnSummary,
    WinnerSummary,
    check_metadata_unchanged,
    check_no_added_files_we_read,
    check_no_conflicting_app_txn,
    check_no_conflicting_domain,
    check_no_deleted_files_we_delete,
    check_no_deleted_files_we_read,
    check_protocol_unchanged,
    check_winner,
)
from lakehouse.protocol.expr import Expr, parse_sql
from lakehouse.protocol.pruning import may_match
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType

SCHEMA = StructType((StructField("p", PrimitiveType("integer")), StructField("x", PrimitiveType("long"))))
PARTS = ("p",)
WINNER_VERSION = 7


def partition_may_match(add: Add, predicate: Expr) -> bool:
    """The commit path's real ``may_match``: partition values only."""
    return may_match(add, predicate, SCHEMA, PARTS)


def add(path: str, p: int | None = 1, *, data_change: bool = True,
        dv: DeletionVectorDescriptor | None = None) -> Add:
    return Add(path=path, partition_values={"p": None if p is None else str(p)}, size=100,
               modification_time=0, data_change=data_change, deletion_vector=dv)


def remove(path: str, *, data_change: bool = True, dv: DeletionVectorDescriptor | None = None) -> Remove:
    return Remove(path=path, data_change=data_change, deletion_timestamp=0, deletion_vector=dv)


def ours(*, isolation: Isolation = "WriteSerializable", whole_table: bool = False,
         predicates: Sequence[str] = (), files: Sequence[str] = (), app_ids: Sequence[str] = (),
         removed: Sequence[str] = ()) -> TxnSummary:
    """A transaction at read version 5 that read and removed the given things (paths are canonical)."""
    return TxnSummary(
        read_version=5,
        isolation=isolation,
        read=ReadSet(whole_table=whole_table, predicates=tuple(parse_sql(p) for p in predicates),
                     files=frozenset(file_key(f, None) for f in files), app_ids=frozenset(app_ids)),
        removed=frozenset(file_key(f, None) for f in removed),
    )


def winner(*actions: Action, blind_append: bool = False) -> WinnerSummary:
    info = CommitInfo(timestamp=0, operation="WRITE", extra={"isBlindAppend": blind_append})
    return WinnerSummary.of(WINNER_VERSION, [info, *actions])


def conflict(txn: TxnSummary, win: WinnerSummary) -> ConcurrentModificationError | None:
    """The error `check_winner` raises, or None when the transaction may rebase onto the winner."""
    try:
        check_winner(txn, win, partition_may_match)
    except ConcurrentModificationError as e:
        return e
    return None


def assert_conflict(txn: TxnSummary, win: WinnerSummary, kind: type, *words: str) -> None:
    err = conflict(txn, win)
    assert type(err) is kind, f"expected {kind.__name__}, got {err!r}"
    assert err.version == WINNER_VERSION
    text = str(err)
    assert f"concurrent commit {WINNER_VERSION}" in text, text
    assert text.splitlines()[-1].startswith("Help:"), text
    for w in words:
        assert w in text, text


METADATA = Metadata(id="t", schema_string='{"type":"struct","fields":[]}')
PROTOCOL = Protocol(min_reader_version=1, min_writer_version=2)
DV = DeletionVectorDescriptor(storage_type="u", path_or_inline_dv="ab^-aqEH.-t@S}K{vb[*k^", size_in_bytes=34,
                              cardinality=2, offset=1)


# -- the order of the checks ---------------------------------------------------------------------------
def test_checks_run_in_sparks_order() -> None:
    assert CHECKS == (check_protocol_unchanged, check_metadata_unchanged, check_no_added_files_we_read,
                      check_no_deleted_files_we_read, check_no_deleted_files_we_delete, check_no_conflicting_app_txn,
                      check_no_conflicting_domain)


def test_first_failing_check_wins_when_a_winner_breaks_several() -> None:
    txn = ours(whole_table=True, files=["a.parquet"], removed=["a.parquet"], app_ids=["app"])
    everything = (PROTOCOL, METADATA, add("n.parquet"), remove("a.parquet"), Txn("app", 3))
    assert_conflict(txn, winner(*everything), ProtocolChangedError)
    assert_conflict(txn, winner(*everything[1:]), MetadataChangedError)
    assert_conflict(txn, winner(*everything[2:]), ConcurrentAppendError)
    assert_conflict(txn, winner(*everything[3:]), ConcurrentDeleteReadError)
    assert_conflict(ours(removed=["a.parquet"], app_ids=["app"]), winner(*everything[3:]), ConcurrentDeleteDeleteError)
    assert_conflict(ours(app_ids=["app"]), winner(*everything[4:]), ConcurrentTransactionError)


# -- ProtocolChanged -----------------------------------------------------------------------------------
def test_concurrent_protocol_change_raises_for_a_blind_append() -> None:
    assert_conflict(ours(), winner(PROTOCOL), ProtocolChangedError, "protocol", "reload the table")


def test_winner_without_protocol_action_is_not_a_protocol_change() -> None:
    assert conflict(ours(), winner(add("n.parquet"))) is None


# -- MetadataChanged -----------------------------------------------------------------------------------
def test_concurrent_metadata_change_raises_for_a_blind_append() -> None:
    assert_conflict(ours(), winner(METADATA), MetadataChangedError, "metadata", "reload the table")


def test_winner_that_only_sets_a_domain_or_app_txn_changes_no_metadata() -> None:
    # A domain this transaction neither read nor writes does not conflict.
    win = winner(DomainMetadata("delta.clustering", "{}", False), Txn("other", 1))
    assert win.metadata is None and win.protocol is None
    assert conflict(ours(predicates=["p = 1"], files=["a.parquet"]), win) is None


# -- domain metadata -----------------------------------------------------------------------------------
def test_winner_changing_a_domain_we_read_raises() -> None:
    # OPTIMIZE clustered by the delta.clustering columns loses to a concurrent ALTER ... CLUSTER BY.
    txn = dataclasses.replace(ours(files=["a.parquet"]), domains_read=frozenset({"delta.clustering"}))
    assert_conflict(txn, winner(DomainMetadata("delta.clustering", '{"clusteringColumns":[]}', False)),
                    MetadataChangedError, "delta.clustering", "domain metadata")


def test_winner_changing_a_domain_we_write_raises_and_other_domains_do_not() -> None:
    txn = dataclasses.replace(ours(), domains_written=frozenset({"delta.clustering"}))
    assert_conflict(txn, winner(DomainMetadata("delta.clustering", "{}", False)), MetadataChangedError,
                    "delta.clustering")
    assert conflict(txn, winner(DomainMetadata("myapp.other", "{}", False))) is None


# -- ConcurrentAppend ----------------------------------------------------------------------------------
def test_concurrent_append_into_read_partition_raises() -> None:
    assert_conflict(ours(predicates=["p = 1"]), winner(add("p=1/n.parquet", 1)), ConcurrentAppendError,
                    "p=1/n.parquet", "added data", "disjoint partitions")


def test_concurrent_append_into_other_partition_does_not_conflict() -> None:
    assert conflict(ours(predicates=["p = 1"]), winner(add("p=2/n.parquet", 2))) is None


def test_concurrent_append_with_data_predicate_conflicts_in_any_partition() -> None:
    # `x > 3` says nothing about partitions: every added file may hold a match.
    assert_conflict(ours(predicates=["x > 3"]), winner(add("p=2/n.parquet", 2)), ConcurrentAppendError)


def test_concurrent_append_into_null_partition_matches_only_is_null() -> None:
    assert conflict(ours(predicates=["p = 1"]), winner(add("p=null/n.parquet", None))) is None
    assert_conflict(ours(predicates=["p IS NULL"]), winner(add("p=null/n.parquet", None)), ConcurrentAppendError)


def test_concurrent_blind_append_does_not_conflict_under_write_serializable() -> None:
    txn = ours(isolation="WriteSerializable", predicates=["p = 1"])
    assert conflict(txn, winner(add("p=1/n.parquet", 1), blind_append=True)) is None


def test_concurrent_blind_append_conflicts_under_serializable() -> None:
    txn = ours(isolation="Serializable", predicates=["p = 1"])
    assert_conflict(txn, winner(add("p=1/n.parquet", 1), blind_append=True), ConcurrentAppendError, "p=1/n.parquet")
    assert conflict(txn, winner(add("p=2/n.parquet", 2), blind_append=True)) is None


def test_concurrent_append_after_whole_table_read_raises_in_any_partition() -> None:
    assert_conflict(ours(whole_table=True), winner(add("p=9/n.parquet", 9)), ConcurrentAppendError, "p=9/n.parquet")


def test_concurrent_append_does_not_conflict_with_a_transaction_that_read_nothing() -> None:
    # A blind append of ours (no predicates, no whole-table read) is never invalidated by added files.
    assert conflict(ours(isolation="Serializable"), winner(add("p=1/n.parquet", 1))) is None


def test_concurrent_compaction_adds_without_data_change_do_not_conflict() -> None:
    # OPTIMIZE re-adds existing rows (dataChange=false): nothing new for our read to have missed.
    win = winner(add("p=1/compacted.parquet", 1, data_change=False))
    assert conflict(ours(isolation="Serializable", predicates=["p = 1"]), win) is None


def test_concurrent_append_names_the_first_matching_file() -> None:
    win = winner(add("p=2/other.parquet", 2), add("p=1/hit.parquet", 1))
    err = conflict(ours(predicates=["p = 1"]), win)
    assert isinstance(err, ConcurrentAppendError) and "p=1/hit.parquet" in str(err)
    assert "other.parquet" not in str(err)


def test_concurrent_append_checks_every_read_predicate() -> None:
    txn = ours(predicates=["p = 1", "p = 3"])
    assert_conflict(txn, winner(add("p=3/n.parquet", 3)), ConcurrentAppendError)
    assert conflict(txn, winner(add("p=2/n.parquet", 2))) is None


# -- ConcurrentDeleteRead ------------------------------------------------------------------------------
def test_concurrent_delete_read_raises() -> None:
    assert_conflict(ours(files=["p=1/a.parquet"]), winner(remove("p=1/a.parquet")), ConcurrentDeleteReadError,
                    "removed p=1/a.parquet", "which this transaction read")


def test_concurrent_delete_of_a_file_we_did_not_read_does_not_conflict() -> None:
    assert conflict(ours(files=["p=1/a.parquet"]), winner(remove("p=2/b.parquet"))) is None


def test_concurrent_delete_after_whole_table_read_raises() -> None:
    assert_conflict(ours(whole_table=True), winner(remove("p=2/b.parquet")), ConcurrentDeleteReadError, "p=2/b.parquet")


def test_concurrent_compaction_removing_a_file_we_read_raises() -> None:
    # Unlike adds, removes conflict whether or not they change data: our rewrite of that file would
    # resurrect rows the compaction moved elsewhere.
    win = winner(remove("p=1/a.parquet", data_change=False), add("p=1/c.parquet", 1, data_change=False))
    assert_conflict(ours(files=["p=1/a.parquet"]), win, ConcurrentDeleteReadError, "p=1/a.parquet")


def test_concurrent_delete_read_matches_percent_encoded_spelling() -> None:
    # The log may spell one file URI-encoded; the key is the decoded path.
    assert_conflict(ours(files=["p=a b/f.parquet"]), winner(remove("p=a%20b/f.parquet")), ConcurrentDeleteReadError)


def test_concurrent_delete_read_keys_on_the_deletion_vector() -> None:
    with_dv = TxnSummary(read_version=5, isolation="WriteSerializable",
                         read=ReadSet(files=frozenset({file_key("a.parquet", DV)})))
    assert_conflict(with_dv, winner(remove("a.parquet", dv=DV)), ConcurrentDeleteReadError)
    # The file's DV-less version is another logical file: a winner removing that one does not touch ours.
    assert conflict(with_dv, winner(remove("a.parquet"))) is None


# -- ConcurrentDeleteDelete ----------------------------------------------------------------------------
def test_concurrent_delete_delete_raises() -> None:
    assert_conflict(ours(removed=["p=1/a.parquet"]), winner(remove("p=1/a.parquet")), ConcurrentDeleteDeleteError,
                    "also removed p=1/a.parquet")


def test_concurrent_delete_of_another_file_than_ours_does_not_conflict() -> None:
    assert conflict(ours(removed=["p=1/a.parquet"]), winner(remove("p=1/b.parquet"))) is None


def test_concurrent_delete_delete_matches_percent_encoded_spelling() -> None:
    assert_conflict(ours(removed=["p=é/f.parquet"]), winner(remove("p=%C3%A9/f.parquet")), ConcurrentDeleteDeleteError)


# -- ConcurrentTransaction (app txn) -------------------------------------------------------------------
def test_concurrent_transaction_with_same_app_id_raises() -> None:
    assert_conflict(ours(app_ids=["etl"]), winner(Txn("etl", 4), add("n.parquet")), ConcurrentTransactionError,
                    "['etl']", "already wrote this batch")


def test_concurrent_transaction_of_another_app_does_not_conflict() -> None:
    assert conflict(ours(app_ids=["etl"]), winner(Txn("other", 4))) is None


def test_concurrent_transaction_names_every_clashing_app_sorted() -> None:
    err = conflict(ours(app_ids=["b", "a", "c"]), winner(Txn("c", 1), Txn("a", 1)))
    assert isinstance(err, ConcurrentTransactionError) and "['a', 'c']" in str(err)


# -- WinnerSummary.of ----------------------------------------------------------------------------------
def test_winner_summary_reads_typed_actions() -> None:
    a, r = add("n.parquet"), remove("o.parquet")
    win = WinnerSummary.of(3, [CommitInfo(extra={"isBlindAppend": True}), a, r, METADATA, PROTOCOL, Txn("x", 1)])
    assert win == WinnerSummary(version=3, added=(a,), removed=(r,), metadata=METADATA, protocol=PROTOCOL,
                                app_ids=frozenset({"x"}), blind_append=True)


@pytest.mark.parametrize("info", [None, CommitInfo(), CommitInfo(extra={"isBlindAppend": "true"}),
                                  CommitInfo(extra={"isBlindAppend": False})])
def test_winner_is_blind_append_only_when_commit_info_says_true(info: CommitInfo | None) -> None:
    # A missing or non-boolean flag must count as "not blind": a wrong True would hide a conflict.
    actions: list[Action] = [add("n.parquet")] + ([info] if info else [])
    assert WinnerSummary.of(1, actions).blind_append is False
    assert_conflict(ours(predicates=["p = 1"]), WinnerSummary.of(WINNER_VERSION, actions), ConcurrentAppendError)


def test_empty_winner_never_conflicts() -> None:
    txn = ours(isolation="Serializable", whole_table=True, files=["a.parquet"], removed=["a.parquet"], app_ids=["x"])
    assert conflict(txn, WinnerSummary(version=WINNER_VERSION)) is None
