"""Deterministic interleavings of two writers: one named test per pair of operations.

Every test follows the same script (see `Racer`):

1. transaction A starts in a thread; its hook stops it at phase ``prepared`` (data files written,
   actions staged, nothing committed yet);
2. transaction B (the winner) runs to completion in the main thread;
3. A is released and either rebases and commits at the next free version, or fails with one exact
   `ConcurrentModificationError` subclass (Spark's ConflictChecker rules, WriteSerializable by default).

Then the table is reopened and checked: every row is what the serial order says, commit versions are
contiguous from 0, the loser's `txnId` appears in no commit, no temporary commit file is left behind and
delta-rs (`deltalake`) reads the same rows. Every test runs on local disk and on the moto S3 server.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import pyarrow as pa
import pytest

from lakehouse import AppTransaction, CommitProperties, DeltaTable, write_delta
from lakehouse.errors import (
    ConcurrentAppendError,
    ConcurrentDeleteDeleteError,
    ConcurrentDeleteReadError,
    ConcurrentModificationError,
    ConcurrentTransactionError,
    MaxCommitRetriesError,
    MetadataChangedError,
    ProtocolChangedError,
    TableNotFoundError,
)
from lakehouse.protocol.actions import Protocol, Remove
from lakehouse.protocol.expr import parse_predicate
from lakehouse.protocol.pruning import may_match
from lakehouse.snapshot import load_snapshot
from lakehouse.storage import fsspec_store, open_storage
from lakehouse.write.transaction import Transaction, commit_hook
from lakehouse.write.files import DataFileWriter
from tests.conftest import S3_ENV

SCHEMA = pa.schema([("id", pa.int64()), ("part", pa.string()), ("who", pa.string())])
Row = tuple[int, str, str]
COMMIT_RE = re.compile(r"^(\d{20})\.json$")
WAIT = 60  # seconds any single step may take before the test is declared hung


# -- where the table lives --------------------------------------------------------------------------------
@dataclass
class Loc:
    """A table location: URI and storage options for lakehouse, and the same for deltalake."""

    kind: str
    uri: str
    options: dict[str, Any] | None
    dl_options: dict[str, str] | None

    _storage: Any = None

    def storage(self):
        """One Storage per location (a fresh s3fs client per call costs a connection setup on S3)."""
        if self._storage is None:
            self._storage = open_storage(self.uri, self.options)
        return self._storage


@pytest.fixture(params=["local", "s3"])
def loc(request, tmp_path) -> Loc:
    if request.param == "local":
        return Loc("local", str(tmp_path / "table"), None, None)  # created by the first write
    bucket, options, _fs = request.getfixturevalue("s3_bucket")
    endpoint = options["client_kwargs"]["endpoint_url"]
    dl = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": options["client_kwargs"]["region_name"],
    }
    return Loc("s3", f"s3://{bucket}/table", options, dl)


# -- data helpers -------------------------------------------------------------------------------------------
def batch(rows: Iterable[Row]) -> pa.Table:
    rows = list(rows)
    return pa.table(
        {"id": [r[0] for r in rows], "part": [r[1] for r in rows], "who": [r[2] for r in rows]}, schema=SCHEMA
    )


SEED: list[Row] = [(1, "a", "seed"), (2, "a", "seed"), (3, "b", "seed")]


def seed(loc: Loc, rows: list[Row] = SEED, **kw) -> None:
    """Version 0: the table partitioned by ``part`` holding ``rows``."""
    r = write_delta(loc.uri, batch(rows), partition_by=["part"], storage_options=loc.options, **kw)
    assert r.version == 0


def write(loc: Loc, rows: Iterable[Row], hook=None, **kw):
    with commit_hook(hook):
        return write_delta(loc.uri, batch(rows), storage_options=loc.options, **kw)


def hooked(hook, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)`` with ``hook`` on every transaction it opens (the commit-phase test seam)."""
    with commit_hook(hook):
        return fn(*args, **kw)


def append(loc: Loc, rows: Iterable[Row], hook=None, **kw):
    return write(loc, rows, hook, mode="append", **kw)


def replace_where(loc: Loc, predicate: str, rows: Iterable[Row], hook=None, **kw):
    return write(loc, rows, hook, mode="overwrite", predicate=predicate, **kw)


def overwrite(loc: Loc, rows: Iterable[Row], hook=None, **kw):
    return write(loc, rows, hook, mode="overwrite", **kw)


# -- the interleaving harness ------------------------------------------------------------------------------
class Racer:
    """Runs ``fn(hook)`` in a thread and holds it at phase ``prepared`` until `finish`."""

    def __init__(self, fn: Callable[[Callable], Any]):
        self.fn = fn
        self.phases: list[str] = []
        self.txn: Transaction | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._prepared = threading.Event()
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def hook(self, phase: str, txn: Transaction) -> None:
        self.phases.append(phase)
        self.txn = txn
        if phase == "prepared":
            self._prepared.set()
            if not self._go.wait(WAIT):
                raise RuntimeError("the racer was never released")

    def _run(self) -> None:
        try:
            self.result = self.fn(self.hook)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e
        finally:
            self._prepared.set()

    def start(self) -> "Racer":
        self._thread.start()
        assert self._prepared.wait(WAIT), "transaction A never reached phase 'prepared'"
        if self.error is not None:
            raise AssertionError(f"transaction A failed before committing: {self.error!r}") from self.error
        assert self.phases == ["prepared"]
        return self

    def finish(self) -> "Racer":
        self._go.set()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "transaction A hung after release"
        return self

    # outcomes
    def committed_at(self, version: int, *, attempts: int = 2) -> None:
        assert self.error is None, f"A should have committed at {version}, raised {self.error!r}"
        assert self.result.version == version
        assert self.result.attempts == attempts
        assert self.phases == ["prepared"] + ["conflict"] * (attempts - 1) + ["committed"]
        assert self.txn is not None and self.txn.version == version

    def raised(self, cls: type[BaseException], *, winner: int | None = None) -> BaseException:
        assert self.error is not None, f"A should have raised {cls.__name__}, committed {self.result!r}"
        assert type(self.error) is cls, f"A raised {type(self.error).__name__}, expected {cls.__name__}: {self.error}"
        assert "committed" not in self.phases
        if winner is not None and isinstance(self.error, ConcurrentModificationError):
            assert self.error.version == winner, f"conflict blamed on version {self.error.version}, not {winner}"
        return self.error


def race(a: Callable[[Callable], Any], *winners: Callable[[], Any]) -> Racer:
    """A stops at 'prepared', every winner commits in order, then A goes on."""
    racer = Racer(a).start()
    for w in winners:
        w()
    return racer.finish()


# -- table checks -----------------------------------------------------------------------------------------
def commit_versions(loc: Loc) -> list[int]:
    names = [f.path.rsplit("/", 1)[-1] for f in loc.storage().list_dir("_delta_log")]
    return sorted(int(m.group(1)) for n in names if (m := COMMIT_RE.match(n)))


def commit_actions(loc: Loc, version: int) -> list[dict]:
    raw = loc.storage().read_bytes(f"_delta_log/{version:020d}.json")
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def commit_info(loc: Loc, version: int) -> dict:
    return next(a["commitInfo"] for a in commit_actions(loc, version) if "commitInfo" in a)


def table_rows(loc: Loc, version: int | None = None) -> list[Row]:
    t = DeltaTable(loc.uri, version=version, storage_options=loc.options).to_arrow()
    return sorted(zip(*(t.column(c).to_pylist() for c in ("id", "part", "who"))))


def deltalake_rows(loc: Loc) -> list[Row]:
    deltalake = pytest.importorskip("deltalake")
    t = deltalake.DeltaTable(loc.uri, storage_options=loc.dl_options).to_pyarrow_table()
    return sorted(zip(*(t.column(c).to_pylist() for c in ("id", "part", "who"))))


def check_table(loc: Loc, rows: list[Row], *, latest: int, loser: Racer | None = None) -> None:
    """Rows as the serial order says, versions 0..latest contiguous, no trace of a failed loser."""
    assert commit_versions(loc) == list(range(latest + 1)), "commit versions are not contiguous"
    dt = DeltaTable(loc.uri, storage_options=loc.options)
    assert dt.version == latest
    assert [h.version for h in dt.history()] == list(range(latest, -1, -1))
    assert table_rows(loc) == sorted(rows)
    if loc.kind == "local":
        leftovers = [f.path for f in loc.storage().list_dir("_delta_log") if f.path.rsplit("/", 1)[-1].startswith(".")]
        assert leftovers == [], f"temporary files left in the log: {leftovers}"
    if loser is not None and loser.error is not None:
        assert loser.txn is not None
        for v in range(latest + 1):
            assert commit_info(loc, v).get("txnId") != loser.txn.txn_id, f"the failed loser's commit is version {v}"
    assert deltalake_rows(loc) == sorted(rows), "deltalake reads different rows"


def rows_of(who: str, ids: Iterable[int], part: str) -> list[Row]:
    return [(i, part, who) for i in ids]


# =========================================================================================================
# blind appends
# =========================================================================================================
def test_append_vs_append_both_commit(loc):
    seed(loc)
    a_rows, b_rows = rows_of("A", [10, 11], "a"), rows_of("B", [20], "a")
    a = race(lambda h: append(loc, a_rows, h), lambda: append(loc, b_rows))
    a.committed_at(2)
    check_table(loc, SEED + b_rows + a_rows, latest=2, loser=a)
    info = commit_info(loc, 2)
    assert info["readVersion"] == 0 and info["isBlindAppend"] is True and info["txnId"] == a.txn.txn_id


def test_rebased_commit_lands_at_next_version(loc):
    """Three winners: A checks them all in one rebase and lands right after the last one."""
    seed(loc)
    a_rows = rows_of("A", [10], "b")
    winners = [rows_of(f"B{i}", [20 + i], "a") for i in range(3)]
    a = race(lambda h: append(loc, a_rows, h), *[(lambda r=r: append(loc, r)) for r in winners])
    a.committed_at(4)
    check_table(loc, SEED + sum(winners, []) + a_rows, latest=4, loser=a)
    assert commit_info(loc, 4)["txnId"] == a.txn.txn_id
    assert commit_info(loc, 4)["readVersion"] == 0
    assert [commit_info(loc, v)["readVersion"] for v in (1, 2, 3)] == [0, 1, 2]


def test_append_vs_overwrite_both_commit(loc):
    """A blind append read nothing, so a concurrent overwrite cannot invalidate it (serial: B then A)."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20, 21], "b")
    a = race(lambda h: append(loc, a_rows, h), lambda: overwrite(loc, b_rows))
    a.committed_at(2)
    check_table(loc, b_rows + a_rows, latest=2, loser=a)


def test_different_app_ids_both_commit(loc):
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "a")
    a = race(
        lambda h: append(loc, a_rows, h, commit_properties=CommitProperties(app_transactions=(AppTransaction("app-a", 1),))),
        lambda: append(loc, b_rows, commit_properties=CommitProperties(app_transactions=(AppTransaction("app-b", 1),))),
    )
    a.committed_at(2)
    check_table(loc, SEED + b_rows + a_rows, latest=2, loser=a)
    txns = DeltaTable(loc.uri, storage_options=loc.options).transactions
    assert {k: v.version for k, v in txns.items()} == {"app-a": 1, "app-b": 1}


def test_same_app_id_raises_concurrent_transaction(loc):
    """Both writers claim batch 1 of application 'etl': only the first may land (idempotent writes)."""
    seed(loc)
    props = CommitProperties(app_transactions=(AppTransaction("etl", 1),))
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "a")
    a = race(lambda h: append(loc, a_rows, h, commit_properties=props), lambda: append(loc, b_rows, commit_properties=props))
    a.raised(ConcurrentTransactionError, winner=1)
    check_table(loc, SEED + b_rows, latest=1, loser=a)
    assert DeltaTable(loc.uri, storage_options=loc.options).transactions["etl"].version == 1
    # Retrying the same batch is now a no-op, not a duplicate.
    assert append(loc, a_rows, commit_properties=props).operation == "NOOP"
    check_table(loc, SEED + b_rows, latest=1)


# =========================================================================================================
# replaceWhere (overwrite with a predicate)
# =========================================================================================================
def test_replace_where_disjoint_partitions_both_commit(loc):
    """No false conflict between replaceWhere on different partitions (delta-rs #2227 / #2980)."""
    seed(loc, SEED + [(4, "c", "seed")])
    a_rows, b_rows = rows_of("A", [10, 11], "a"), rows_of("B", [20], "b")
    a = race(lambda h: replace_where(loc, "part = 'a'", a_rows, h), lambda: replace_where(loc, "part = 'b'", b_rows))
    a.committed_at(2)
    check_table(loc, a_rows + b_rows + [(4, "c", "seed")], latest=2, loser=a)


def test_replace_where_disjoint_empty_partitions_both_commit(loc):
    """Same, with both target partitions still empty: nothing read, nothing removed, no conflict."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "c"), rows_of("B", [20], "d")
    a = race(lambda h: replace_where(loc, "part = 'c'", a_rows, h), lambda: replace_where(loc, "part = 'd'", b_rows))
    a.committed_at(2)
    check_table(loc, SEED + b_rows + a_rows, latest=2, loser=a)


def test_replace_where_overlapping_raises_concurrent_append(loc):
    """Two replaceWhere on the SAME empty partition must not both succeed (delta-rs #3622 lost update):
    the winner's rows would otherwise sit next to A's although each replaced the whole partition."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10, 11], "c"), rows_of("B", [20, 21], "c")
    a = race(lambda h: replace_where(loc, "part = 'c'", a_rows, h), lambda: replace_where(loc, "part = 'c'", b_rows))
    a.raised(ConcurrentAppendError, winner=1)
    check_table(loc, SEED + b_rows, latest=1, loser=a)


def test_replace_where_same_nonempty_partition_raises_concurrent_append(loc):
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "a")
    a = race(lambda h: replace_where(loc, "part = 'a'", a_rows, h), lambda: replace_where(loc, "part = 'a'", b_rows))
    a.raised(ConcurrentAppendError, winner=1)
    check_table(loc, [(3, "b", "seed")] + b_rows, latest=1, loser=a)


def test_replace_where_vs_append_same_partition_write_serializable_commits(loc):
    """WriteSerializable: a blind append into the replaced partition does not conflict; the appended row
    survives (equivalent serial order: A's replaceWhere, then B's append)."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "a")
    a = race(lambda h: replace_where(loc, "part = 'a'", a_rows, h), lambda: append(loc, b_rows))
    a.committed_at(2)
    check_table(loc, [(3, "b", "seed")] + a_rows + b_rows, latest=2, loser=a)


def test_replace_where_vs_non_blind_write_to_other_partition_commits(loc):
    """A non-blind winner (a replaceWhere elsewhere) adding files outside A's predicate is harmless."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "d")
    a = race(lambda h: replace_where(loc, "part = 'a'", a_rows, h), lambda: replace_where(loc, "part = 'd'", b_rows))
    a.committed_at(2)
    check_table(loc, [(3, "b", "seed")] + a_rows + b_rows, latest=2, loser=a)


def test_replace_where_vs_delete_of_read_file_raises_delete_read(loc):
    """B's replaceWhere on a data column removes the file of partition 'a' that A read and writes its new
    rows into partition 'b' only: no added file matches A's predicate, the removal does."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [1, 2], "b")
    a = race(lambda h: replace_where(loc, "part = 'a'", a_rows, h), lambda: replace_where(loc, "id <= 2", b_rows))
    a.raised(ConcurrentDeleteReadError, winner=1)
    check_table(loc, [(3, "b", "seed")] + b_rows, latest=1, loser=a)


# =========================================================================================================
# full overwrites
# =========================================================================================================
def test_overwrite_vs_append_write_serializable_commits(loc):
    """A read the whole table, but a blind append does not conflict under WriteSerializable: A removes only
    the files it saw, B's rows survive (equivalent serial order: A, then B)."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "b")
    a = race(lambda h: overwrite(loc, a_rows, h), lambda: append(loc, b_rows))
    a.committed_at(2)
    check_table(loc, a_rows + b_rows, latest=2, loser=a)
    assert commit_info(loc, 2)["isolationLevel"] == "WriteSerializable"


def test_overwrite_vs_overwrite_raises_delete_read(loc):
    """B truncates the table (an overwrite with no rows: removes only); A read every file B removed."""
    seed(loc)
    a_rows = rows_of("A", [10], "a")
    a = race(lambda h: overwrite(loc, a_rows, h), lambda: overwrite(loc, []))
    a.raised(ConcurrentDeleteReadError, winner=1)
    check_table(loc, [], latest=1, loser=a)


def test_overwrite_vs_overwrite_with_data_raises_concurrent_append(loc):
    """When B's overwrite also adds files, the added-files check runs first (Spark's check order), so the
    conflict is reported as ConcurrentAppend rather than ConcurrentDeleteRead."""
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "b")
    a = race(lambda h: overwrite(loc, a_rows, h), lambda: overwrite(loc, b_rows))
    a.raised(ConcurrentAppendError, winner=1)
    check_table(loc, b_rows, latest=1, loser=a)


# =========================================================================================================
# removes, metadata, protocol, isolation (transactions built directly)
# =========================================================================================================
def _remove_file(loc: Loc, path_prefix: str, hook=None):
    """A transaction that removes the one active file under ``path_prefix`` without declaring a read."""
    storage = loc.storage()
    snap = load_snapshot(storage)
    row = next(r for r in snap.adds.to_pylist() if r["path"].startswith(path_prefix))
    txn = Transaction(storage, snap, operation="DELETE", hook=hook)
    txn.remove_files([Remove(row["path"], True, int(time.time() * 1000), True, dict(row["partitionValues"] or []), row["size"])])
    return txn.commit()


def test_remove_same_file_raises_delete_delete(loc):
    seed(loc)
    a = race(lambda h: _remove_file(loc, "part=a/", h), lambda: _remove_file(loc, "part=a/"))
    a.raised(ConcurrentDeleteDeleteError, winner=1)
    check_table(loc, [(3, "b", "seed")], latest=1, loser=a)


def test_remove_different_files_both_commit(loc):
    seed(loc)
    a = race(lambda h: _remove_file(loc, "part=a/", h), lambda: _remove_file(loc, "part=b/"))
    a.committed_at(2)
    check_table(loc, [], latest=2, loser=a)


def test_metadata_change_raises(loc):
    """B evolves the schema (schema_mode='merge'); A's plain append was planned against the old one."""
    seed(loc)
    a_rows = rows_of("A", [10], "a")
    b = pa.table({"id": [20], "part": ["a"], "who": ["B"], "extra": [1.5]})
    a = race(
        lambda h: append(loc, a_rows, h),
        lambda: write_delta(loc.uri, b, mode="append", schema_mode="merge", storage_options=loc.options),
    )
    a.raised(MetadataChangedError, winner=1)
    check_table(loc, SEED + [(20, "a", "B")], latest=1, loser=a)
    dt = DeltaTable(loc.uri, storage_options=loc.options)
    assert dt.schema.names == ["id", "part", "who", "extra"]
    assert sorted(dt.to_arrow().column("extra").to_pylist(), key=lambda x: (x is not None, x)) == [None] * 3 + [1.5]


def _upgrade_protocol(loc: Loc) -> None:
    storage = loc.storage()
    snap = load_snapshot(storage)
    assert (snap.protocol.min_reader_version, snap.protocol.min_writer_version) == (1, 2)
    txn = Transaction(storage, snap, operation="UPGRADE PROTOCOL")
    txn.update_protocol(Protocol(1, 3))
    assert txn.commit().version == snap.version + 1


def test_protocol_change_raises(loc):
    seed(loc)
    a_rows = rows_of("A", [10], "a")
    a = race(lambda h: append(loc, a_rows, h), lambda: _upgrade_protocol(loc))
    a.raised(ProtocolChangedError, winner=1)
    check_table(loc, SEED, latest=1, loser=a)
    assert DeltaTable(loc.uri, storage_options=loc.options).protocol.min_writer_version == 3


def _read_and_add(loc: Loc, isolation: str, hook=None):
    """Transaction A built by hand: reads partition 'a' (and its files), adds one file to partition 'a'."""
    storage = loc.storage()
    snap = load_snapshot(storage)
    writer = DataFileWriter(storage, snap.schema, snap.partition_columns, snap.properties)
    writer.write(batch(rows_of("A", [10], "a")))
    adds = writer.close()
    # Transaction's default may_match answers True for every file; pass the partition-level one that
    # write_delta uses so "other partition" is recognised.
    txn = Transaction(storage, snap, operation="WRITE", isolation=isolation, hook=hook,
                      may_match=lambda add, p: may_match(add, p, snap.schema, snap.partition_columns,
                                                         snap.column_mapping_mode))
    pred = parse_predicate("part = 'a'")
    files = [r for r in snap.adds.to_pylist() if dict(r["partitionValues"]).get("part") == "a"]
    txn.read_predicate(pred, [{"path": r["path"], "dv_id": None} for r in files])
    txn.add_files(adds)
    return txn.commit()


def test_serializable_blind_append_conflicts(loc):
    """Isolation 'Serializable' counts a blind append to the partition A read."""
    seed(loc)
    b_rows = rows_of("B", [20], "a")
    a = race(lambda h: _read_and_add(loc, "Serializable", h), lambda: append(loc, b_rows))
    a.raised(ConcurrentAppendError, winner=1)
    check_table(loc, SEED + b_rows, latest=1, loser=a)


def test_serializable_blind_append_to_other_partition_commits(loc):
    seed(loc)
    b_rows = rows_of("B", [20], "b")
    a = race(lambda h: _read_and_add(loc, "Serializable", h), lambda: append(loc, b_rows))
    a.committed_at(2)
    check_table(loc, SEED + b_rows + rows_of("A", [10], "a"), latest=2, loser=a)
    assert commit_info(loc, 2)["isolationLevel"] == "Serializable"


def test_write_serializable_blind_append_does_not_conflict(loc):
    """The same interleaving as the Serializable test commits under WriteSerializable."""
    seed(loc)
    b_rows = rows_of("B", [20], "a")
    a = race(lambda h: _read_and_add(loc, "WriteSerializable", h), lambda: append(loc, b_rows))
    a.committed_at(2)
    check_table(loc, SEED + b_rows + rows_of("A", [10], "a"), latest=2, loser=a)


# =========================================================================================================
# table creation, retries, post-commit work
# =========================================================================================================
def test_concurrent_create_one_wins(loc):
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "b")
    a = race(
        lambda h: hooked(h, write_delta, loc.uri, batch(a_rows), partition_by=["part"], storage_options=loc.options),
        lambda: write_delta(loc.uri, batch(b_rows), partition_by=["part"], storage_options=loc.options),
    )
    a.raised(ProtocolChangedError, winner=0)
    assert a.txn.read_version == -1
    check_table(loc, b_rows, latest=0, loser=a)


def test_concurrent_create_with_different_schema_one_wins(loc):
    """The loser's table definition (another schema) must not leak into the winner's table."""
    a_data = pa.table({"x": ["A"]})
    a = race(
        lambda h: hooked(h, write_delta, loc.uri, a_data, mode="append", storage_options=loc.options),
        lambda: write_delta(loc.uri, batch(rows_of("B", [20], "b")), partition_by=["part"], storage_options=loc.options),
    )
    a.raised(ProtocolChangedError, winner=0)
    check_table(loc, rows_of("B", [20], "b"), latest=0, loser=a)
    assert DeltaTable(loc.uri, storage_options=loc.options).schema.names == ["id", "part", "who"]


def test_retry_exhaustion_raises_max_commit_retries(loc):
    seed(loc)
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "a")
    a = race(
        lambda h: append(loc, a_rows, h, commit_properties=CommitProperties(max_commit_retries=0)),
        lambda: append(loc, b_rows),
    )
    a.raised(MaxCommitRetriesError)
    assert a.phases == ["prepared", "conflict"]
    check_table(loc, SEED + b_rows, latest=1, loser=a)


@pytest.mark.parametrize("lost_races", [2, 3])
def test_retry_bound_counts_every_lost_race(loc, lost_races):
    """A winner steals the version right before each of A's first ``lost_races`` attempts. With
    max_commit_retries=2, A may lose twice and commit on its third attempt, but not lose three times."""
    seed(loc)
    storage = open_storage(loc.uri, loc.options)  # a private instance: its put_if_absent is patched below
    real_put = storage.put_if_absent
    stolen: list[int] = []

    def stealing_put(rel: str, data: bytes) -> None:
        if COMMIT_RE.match(rel.rsplit("/", 1)[-1]) and len(stolen) < lost_races:
            r = append(loc, rows_of(f"B{len(stolen)}", [20 + len(stolen)], "b"))
            stolen.append(r.version)
        real_put(rel, data)

    storage.put_if_absent = stealing_put  # type: ignore[method-assign]
    phases: list[str] = []
    a_rows = rows_of("A", [10], "a")
    winners = sum((rows_of(f"B{i}", [20 + i], "b") for i in range(lost_races)), [])
    props = CommitProperties(max_commit_retries=2)
    try:
        result = hooked(lambda p, t: phases.append(p), write_delta, storage, batch(a_rows), mode="append",
                        commit_properties=props)
    except MaxCommitRetriesError:
        assert lost_races == 3
        assert phases == ["prepared"] + ["conflict"] * 3
        check_table(loc, SEED + winners, latest=3)
    else:
        assert lost_races == 2
        assert (result.version, result.attempts) == (3, 3)
        assert phases == ["prepared", "conflict", "conflict", "committed"]
        check_table(loc, SEED + winners + a_rows, latest=3)
    assert stolen == list(range(1, lost_races + 1))


def test_rebased_commit_writes_checkpoint_at_its_final_version(loc):
    """Checkpointing follows the version the commit finally landed at, not the one it first tried."""
    seed(loc, configuration={"delta.checkpointInterval": "2"})
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "b")
    a = race(lambda h: append(loc, a_rows, h), lambda: append(loc, b_rows))
    a.committed_at(2)
    assert a.result.checkpoint_written is True
    names = {f.path.rsplit("/", 1)[-1] for f in loc.storage().list_dir("_delta_log")}
    assert "00000000000000000002.checkpoint.parquet" in names
    assert "00000000000000000001.checkpoint.parquet" not in names
    assert orjson.loads(loc.storage().read_bytes("_delta_log/_last_checkpoint"))["version"] == 2
    check_table(loc, SEED + b_rows + a_rows, latest=2, loser=a)
    assert load_snapshot(loc.storage()).segment.checkpoint.version == 2


def test_in_commit_timestamps_stay_monotonic_after_rebase(loc):
    seed(loc, configuration={"delta.enableInCommitTimestamps": "true"})
    a_rows, b_rows = rows_of("A", [10], "a"), rows_of("B", [20], "b")
    a = race(lambda h: append(loc, a_rows, h), lambda: append(loc, b_rows))
    a.committed_at(2)
    ict = [commit_info(loc, v)["inCommitTimestamp"] for v in range(3)]
    assert ict[0] < ict[1] < ict[2], ict
    check_table(loc, SEED + b_rows + a_rows, latest=2, loser=a)


# =========================================================================================================
# a concurrent commit's temporary file vanishing while the log is listed (local disk only)
# =========================================================================================================
# Local put-if-absent writes `_delta_log/.<version>.json.<uuid>.tmp`, links it to the commit name and
# unlinks it. A reader listing `_delta_log/` at that moment gets the temporary entry from readdir and then
# a FileNotFoundError from stat. Regression tests: `FsspecStorage` used to catch that FileNotFoundError
# around the whole scan and return an EMPTY listing, so the table looked missing (readers raised
# TableNotFoundError, appends took the create path and failed with ProtocolChangedError, post-commit
# checkpoints were silently skipped). `RacingScandir` replays the race deterministically with real files:
# it unlinks each temporary file right after readdir returned it.
class RacingScandir:
    real = staticmethod(os.scandir)

    def __init__(self, path):
        self._it = self.real(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._it.close()

    def __iter__(self):
        for entry in self._it:
            if entry.name.startswith(".") and entry.name.endswith(".tmp") and os.path.exists(entry.path):
                os.unlink(entry.path)  # the other writer's put-if-absent finishes now
            yield entry


def _temp_commit_file(table: Path, version: int) -> Path:
    tmp = table / "_delta_log" / f".{version:020d}.json.{uuid.uuid4().hex}.tmp"
    tmp.write_bytes(b'{"commitInfo":{}}\n')
    return tmp


@pytest.fixture
def local_table(tmp_path) -> Loc:
    loc = Loc("local", str(tmp_path / "table"), None, None)
    seed(loc, configuration={"delta.checkpointInterval": "2"})
    return loc


def test_reader_during_concurrent_commit_still_sees_the_table(local_table, monkeypatch):
    _temp_commit_file(Path(local_table.uri), 1)
    monkeypatch.setattr(fsspec_store.os, "scandir", RacingScandir)
    try:
        dt = DeltaTable(local_table.uri)
    except TableNotFoundError as e:
        raise AssertionError(f"an existing table was reported missing while another writer committed: {e}") from e
    assert dt.version == 0
    assert table_rows(local_table) == sorted(SEED)


def test_append_during_concurrent_commit_is_not_a_table_create(local_table, monkeypatch):
    """The append must land at version 1, not take the create path and fail at version 0."""
    _temp_commit_file(Path(local_table.uri), 1)
    monkeypatch.setattr(fsspec_store.os, "scandir", RacingScandir)
    phases: list[tuple[str, int]] = []
    try:
        result, error = append(local_table, rows_of("A", [10], "a"), lambda p, t: phases.append((p, t.read_version))), None
    except ProtocolChangedError as e:
        result, error = None, e
    assert phases[0] == ("prepared", 0), f"the append saw no table (read version {phases[0][1]}) and tried to create it"
    assert error is None and result.version == 1
    check_table(local_table, SEED + rows_of("A", [10], "a"), latest=1)


def test_post_commit_checkpoint_survives_concurrent_commit_temp_file(local_table, monkeypatch):
    """A commit at a checkpoint version whose post-commit listing races another writer's temporary file
    still writes its checkpoint (a failure there is only logged, so it would go unnoticed)."""
    append(local_table, rows_of("B", [20], "b"))

    def hook(phase, txn):
        if phase == "committed":  # between the commit and maybe_checkpoint
            _temp_commit_file(Path(local_table.uri), txn.version + 1)
            monkeypatch.setattr(fsspec_store.os, "scandir", RacingScandir)

    result = append(local_table, rows_of("A", [10], "a"), hook)
    assert result.version == 2
    assert result.checkpoint_written is True, "the post-commit checkpoint at version 2 was skipped"
    assert (Path(local_table.uri) / "_delta_log" / "00000000000000000002.checkpoint.parquet").exists()
