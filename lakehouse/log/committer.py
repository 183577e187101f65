"""Writing one commit file: the only place a commit reaches storage (PROTOCOL.md "Delta Log Entries",
spec/commit-protocol.md).

`put_commit` is the narrow interface of the commit path, after delta-kernel-rs's committer: it takes the
storage, the version and the encoded actions, does the put-if-absent, and returns the outcome as a value
(`Committed` or `Conflict`). "The file already exists" is an expected outcome of optimistic concurrency,
not an error, so it is never raised. A commit file is never overwritten.

It must not decide what to do about a conflict (read the winners, check, rebase, retry): that is the
transaction's job (`lakehouse.write.transaction`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import DataFileNotFoundError, ObjectExistsError, StorageError
from lakehouse.protocol.log_path import LOG_DIR, commit_name
from lakehouse.storage.base import Storage


@dataclass(frozen=True, slots=True)
class Committed:
    """The commit file of ``version`` now holds exactly the bytes this writer put."""

    version: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another writer's commit already holds ``version``; nothing of this writer was written."""

    version: int


CommitOutcome = Committed | Conflict


def put_commit(storage: Storage, version: int, data: bytes) -> CommitOutcome:
    """Put ``data`` as the commit file of ``version`` if no file holds that version yet.

    Returns `Committed` or `Conflict`. A storage error may hide a put that landed (the response was
    lost): the file is then read back, and if it holds exactly ``data`` the commit stands; if it holds
    other bytes another writer won the version (`Conflict`). When the file is not there, the error is
    raised: the put did not happen and nothing was written. Callers make ``data`` unique to the attempt
    (the transaction's `txnId` in `commitInfo`), so equal bytes mean this writer's own put.
    """
    rel = f"{LOG_DIR}/{commit_name(version)}"
    try:
        storage.put_if_absent(rel, data)
    except ObjectExistsError:
        return Conflict(version)
    except StorageError as failure:
        try:
            landed = storage.read_bytes(rel)
        except (DataFileNotFoundError, StorageError):
            # Not there (the put did not land), or unreadable (cannot tell): report the original failure.
            raise failure from None
        return Committed(version) if landed == data else Conflict(version)
    return Committed(version)
