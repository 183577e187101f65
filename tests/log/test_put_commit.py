"""`put_commit`, the one place a commit file is written: outcomes are values (`Committed` / `Conflict`),
a lost response is resolved by reading back, and nothing is ever overwritten. Runs on the local file
system and on the S3 test server (spec/commit-protocol.md, ways to lose data 1 and 2)."""

from __future__ import annotations

import pytest

from lakehouse.errors import StorageError
from lakehouse.log.commits import commit_timestamp, read_commit
from lakehouse.log.committer import Committed, Conflict, put_commit
from lakehouse.protocol.actions import CommitInfo
from lakehouse.protocol.codec import encode_commit
from lakehouse.protocol.log_path import LOG_DIR, commit_name
from lakehouse.storage import open_storage
from lakehouse.storage.base import Storage
from lakehouse.storage.faulty import FaultPlan, FaultyStorage, InjectedFault


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return open_storage(str(tmp_path / "t"))
    bucket, options, _fs = request.getfixturevalue("s3_bucket")
    return open_storage(f"s3://{bucket}/t", options)


def _commit(txn: str, ict: int | None = None) -> bytes:
    return encode_commit([CommitInfo(timestamp=1, operation="WRITE", in_commit_timestamp=ict, extra={"txnId": txn})])


def _stored(storage: Storage, version: int) -> bytes:
    return storage.read_bytes(f"{LOG_DIR}/{commit_name(version)}")


def test_first_put_commits_second_is_a_conflict_and_never_overwrites(storage):
    mine, theirs = _commit("a"), _commit("b")
    assert put_commit(storage, 0, mine) == Committed(0)
    assert put_commit(storage, 0, theirs) == Conflict(0)
    assert _stored(storage, 0) == mine
    assert put_commit(storage, 1, theirs) == Committed(1)
    assert [_stored(storage, v) for v in (0, 1)] == [mine, theirs]


def test_lost_response_after_the_put_landed_is_committed(storage):
    faulty = FaultyStorage(storage, FaultPlan(at=0, when="after", kind="fail", operations=frozenset({"put_commit"})))
    data = _commit("a")
    assert put_commit(faulty, 0, data) == Committed(0)
    assert faulty.plan.fired and _stored(storage, 0) == data


def test_failure_before_the_put_raises_and_writes_nothing(storage):
    faulty = FaultyStorage(storage, FaultPlan(at=0, when="before", kind="fail", operations=frozenset({"put_commit"})))
    with pytest.raises(InjectedFault):
        put_commit(faulty, 0, _commit("a"))
    assert read_commit(storage, 0) is None
    assert put_commit(storage, 0, _commit("b")) == Committed(0)  # the version is still free


class _RacedThenFailed(FaultyStorage):
    """Another writer's commit lands first; this writer's put then fails without an answer."""

    def put_if_absent(self, rel: str, data: bytes) -> None:
        self.inner.put_if_absent(rel, _commit("winner"))
        raise InjectedFault(f"injected failure of put {rel}", path=rel, operation="put_commit")


def test_lost_response_when_another_writer_won_is_a_conflict(storage):
    assert put_commit(_RacedThenFailed(storage), 0, _commit("loser")) == Conflict(0)
    assert _stored(storage, 0) == _commit("winner")


def test_unreadable_after_a_failed_put_raises_the_put_failure(storage):
    plan = FaultPlan(at=0, when="before", kind="fail", operations=frozenset({"put_commit", "read"}))
    faulty = FaultyStorage(storage, plan)
    with pytest.raises(StorageError, match="put_commit"):
        put_commit(faulty, 0, _commit("a"))


def test_read_commit_and_commit_timestamp(storage):
    assert read_commit(storage, 0) is None and commit_timestamp(storage, 0) is None
    put_commit(storage, 0, _commit("a", ict=1234))
    put_commit(storage, 1, _commit("b"))
    info = read_commit(storage, 0)
    assert info is not None and isinstance(info[0], CommitInfo) and info[0].extra["txnId"] == "a"
    assert commit_timestamp(storage, 0) == 1234  # the in-commit timestamp wins over the file time
    listed = {f.name: f.mtime_ms for f in storage.list_dir(LOG_DIR)}
    assert commit_timestamp(storage, 1) == listed[commit_name(1)] > 0
