"""Commit-level behaviour of writes: in-commit timestamps (commitInfo first, strictly increasing,
used by history and timestamp time travel) and idempotent writes through app transactions (`txn`)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import deltalake
import pyarrow as pa

import lakehouse
from tests.support.log import actions_of, commit_actions, log_state
from tests.support.rows import Versions, concat


def _t(i: int) -> pa.Table:
    return pa.table({"id": pa.array([i], pa.int64()), "v": [f"v{i}"]})


def test_in_commit_timestamps(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _t(0), configuration={"delta.enableInCommitTimestamps": "true"})
    v[0] = _t(0)
    for i in range(1, 6):
        lakehouse.write_delta(table_path, _t(i), mode="append" if i != 3 else "overwrite")
        v[i] = _t(i) if i == 3 else concat(v[i - 1], _t(i))
    (proto,) = actions_of(table_path, 0, "protocol")
    assert proto["minWriterVersion"] == 7 and "inCommitTimestamp" in proto["writerFeatures"]
    icts = []
    for ver in range(6):
        actions = commit_actions(table_path, ver)
        assert "commitInfo" in actions[0], f"commitInfo is not the first action of version {ver}"
        info = actions[0]["commitInfo"]
        assert isinstance(info.get("inCommitTimestamp"), int)
        icts.append(info["inCommitTimestamp"])
    assert all(b > a for a, b in zip(icts, icts[1:])), icts
    v.check()

    # Move the commit files' modification times far away: only the ICTs may decide from now on.
    for ver in range(6):
        f = Path(table_path) / "_delta_log" / f"{ver:020d}.json"
        os.utime(f, (946684800 + ver, 946684800 + ver))  # 2000-01-01
    hist = lakehouse.DeltaTable(table_path).history()
    assert [h.version for h in hist] == [5, 4, 3, 2, 1, 0]
    assert [h.timestamp_ms for h in hist] == icts[::-1]
    dl_hist = deltalake.DeltaTable(table_path).history()
    assert [h["timestamp"] for h in dl_hist] == icts[::-1]

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    for ver, ts in enumerate(icts):
        dt = lakehouse.DeltaTable(table_path, version=at(ts))
        assert dt.version == ver
        if ver + 1 < len(icts) and icts[ver + 1] - ts > 1:
            assert lakehouse.DeltaTable(table_path, version=at(ts + 1)).version == ver
    assert lakehouse.DeltaTable(table_path, version=at(icts[-1])).version == 5
    # Before the first commit (ICT), whatever the file times say: no version.
    import pytest
    from lakehouse.errors import VersionNotFoundError
    with pytest.raises(VersionNotFoundError):
        lakehouse.DeltaTable(table_path, version=at(icts[0]) - timedelta(seconds=1))
    iso = at(icts[2]).isoformat()
    assert lakehouse.DeltaTable(table_path, version=iso).version == 2
    # (deltalake 1.6's load_as_version(datetime) uses file modification times, not in-commit
    # timestamps, so it cannot serve as the oracle here.)


def test_app_transactions_make_writes_idempotent(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _t(0))
    v[0] = _t(0)
    props3 = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("app", 3),))
    r = lakehouse.write_delta(table_path, _t(1), mode="append", commit_properties=props3)
    assert r.version == 1
    v[1] = concat(v[0], _t(1))
    (txn,) = actions_of(table_path, 1, "txn")
    assert (txn["appId"], txn["version"]) == ("app", 3) and isinstance(txn["lastUpdated"], int)
    assert lakehouse.DeltaTable(table_path).transactions["app"].version == 3

    before = log_state(table_path)
    for again in (3, 2, 0):
        props = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("app", again),))
        r = lakehouse.write_delta(table_path, _t(99), mode="append", commit_properties=props)
        assert r.version == 1 and r.num_added_files == 0
        r = lakehouse.write_delta(table_path, _t(99), mode="overwrite", commit_properties=props)
        assert r.version == 1
    assert log_state(table_path) == before

    props4 = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("app", 4),))
    r = lakehouse.write_delta(table_path, _t(2), mode="append", commit_properties=props4)
    assert r.version == 2
    v[2] = concat(v[1], _t(2))
    v.check()
    assert lakehouse.DeltaTable(table_path).transactions["app"].version == 4
    assert deltalake.DeltaTable(table_path).transaction_version("app") == 4
    assert deltalake.DeltaTable(table_path, version=1).transaction_version("app") == 3
    assert deltalake.DeltaTable(table_path).transaction_version("other") is None


def test_several_app_ids_in_one_commit(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _t(0))
    v[0] = _t(0)
    both = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("a", 1), lakehouse.AppTransaction("b", 1)))
    lakehouse.write_delta(table_path, _t(1), mode="append", commit_properties=both)
    v[1] = concat(v[0], _t(1))
    # b is new at 2: the write is not a duplicate, it commits and records both.
    newer = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("a", 1), lakehouse.AppTransaction("b", 2)))
    r = lakehouse.write_delta(table_path, _t(2), mode="append", commit_properties=newer)
    assert r.version == 2
    v[2] = concat(v[1], _t(2))
    v.check()
    txns = lakehouse.DeltaTable(table_path).transactions
    assert (txns["a"].version, txns["b"].version) == (1, 2)


def test_app_transaction_on_table_creation(table_path):
    props = lakehouse.CommitProperties(app_transactions=(lakehouse.AppTransaction("creator", 0),))
    lakehouse.write_delta(table_path, _t(0), commit_properties=props)
    assert deltalake.DeltaTable(table_path).transaction_version("creator") == 0
    r = lakehouse.write_delta(table_path, _t(1), mode="append", commit_properties=props)
    assert r.version == 0
    v = Versions(table_path)
    v[0] = _t(0)
    v.check()


def test_table_isolation_level_serializable_applies_to_every_commit(table_path):
    """delta.isolationLevel=Serializable is not only recorded: every later commit runs at that level (a
    recorded-but-ignored level would promise a guarantee the writer does not give)."""
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _t(0), configuration={"delta.isolationLevel": "serializable"})
    v[0] = _t(0)
    lakehouse.write_delta(table_path, _t(1), mode="append")
    v[1] = concat(v[0], _t(1))
    lakehouse.DeltaTable(table_path).delete("id = 0")
    v[2] = _t(1)
    assert lakehouse.DeltaTable(table_path).metadata.configuration["delta.isolationLevel"] == "serializable"
    for ver in (1, 2):
        assert commit_actions(table_path, ver)[0]["commitInfo"]["isolationLevel"] == "Serializable"
    v.check()
