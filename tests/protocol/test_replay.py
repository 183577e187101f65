"""Unit tests of `lakehouse.protocol.replay` (PROTOCOL.md "Action Reconciliation")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.actions import (
    Add,
    CommitInfo,
    DeletionVectorDescriptor,
    DomainMetadata,
    Metadata,
    Protocol,
    Remove,
    Txn,
    UnknownAction,
    file_key,
)
from lakehouse.protocol.replay import Replay, canonical_path


def add(path, dv=None, size=1):
    return Add(path=path, partition_values={}, size=size, modification_time=0, data_change=True, deletion_vector=dv)


def remove(path, dv=None):
    return Remove(path=path, data_change=True, deletion_vector=dv)


def dv(name, offset=None):
    return DeletionVectorDescriptor("u", name, 10, 1, offset=offset)


def replay(commits: dict[int, list]) -> Replay:
    """Feed commits newest first, as the snapshot loader does."""
    r = Replay()
    for version in sorted(commits, reverse=True):
        r.add_commit(version, commits[version])
    return r


def md(i):
    return Metadata(id=f"m{i}", schema_string="{}")


def test_newest_protocol_and_metadata_win():
    r = replay(
        {
            0: [Protocol(1, 2), md(0), add("a")],
            1: [Protocol(3, 7, ("deletionVectors",), ("deletionVectors",))],
            2: [md(2)],
            3: [CommitInfo(operation="WRITE")],
        }
    )
    assert r.protocol == Protocol(3, 7, ("deletionVectors",), ("deletionVectors",))
    assert r.protocol_version == 1
    assert r.metadata == md(2) and r.metadata_version == 2
    assert r.require_complete(3) == (r.protocol, r.metadata)


def test_checkpoint_actions_are_older_than_commits():
    r = replay({6: [md(6)]})
    r.add_checkpoint_actions(5, [Protocol(1, 2), md(5), Txn("app", 1), DomainMetadata("d", "cp", False)])
    assert r.metadata == md(6) and r.protocol == Protocol(1, 2) and r.protocol_version == 5
    assert r.txns["app"].version == 1 and r.domains["d"].configuration == "cp"


def test_checkpoint_file_actions_are_refused():
    r = Replay()
    with pytest.raises(TypeError):
        r.add_checkpoint_actions(5, [add("a")])


def test_newest_txn_per_app_wins():
    r = replay({0: [Txn("a", 1), Txn("b", 10)], 1: [Txn("a", 2)], 2: [Txn("a", 3, last_updated=5)]})
    assert r.txns["a"] == Txn("a", 3, last_updated=5)
    assert r.txns["b"].version == 10


def test_newest_domain_wins_and_tombstones_drop_it():
    r = replay(
        {
            0: [DomainMetadata("keep", "v0", False), DomainMetadata("gone", "v0", False), DomainMetadata("back", "v0", False)],
            1: [DomainMetadata("keep", "v1", False), DomainMetadata("gone", "v1", True), DomainMetadata("back", "", True)],
            2: [DomainMetadata("back", "v2", False)],
        }
    )
    live = r.live_domains()
    assert set(live) == {"keep", "back"}
    assert live["keep"].configuration == "v1"
    assert live["back"].configuration == "v2"
    assert r.domains["gone"].removed is True


def test_remove_after_add_deletes_file():
    r = replay({0: [add("a"), add("b")], 1: [remove("a")]})
    assert [a.path for a in r.adds] == ["b"]
    assert [t.path for t in r.tombstones] == ["a"]


def test_re_add_after_remove_keeps_newest_add():
    r = replay({0: [add("a", size=1)], 1: [remove("a")], 2: [add("a", size=3)]})
    assert [(a.path, a.size) for a in r.adds] == [("a", 3)]
    assert r.tombstones == []


def test_newest_add_of_same_path_wins():
    r = replay({0: [add("a", size=1)], 1: [add("a", size=2)]})
    assert [(a.path, a.size) for a in r.adds] == [("a", 2)]


def test_dv_update_same_path_remove_dv1_add_dv2():
    # v1 adds p; v2 attaches dv1 (remove p, add p+dv1); v3 replaces dv1 by dv2 (remove p+dv1, add p+dv2).
    r = replay(
        {
            1: [add("p")],
            2: [remove("p"), add("p", dv("dv1"))],
            3: [remove("p", dv("dv1")), add("p", dv("dv2"))],
        }
    )
    assert [(a.path, a.deletion_vector) for a in r.adds] == [("p", dv("dv2"))]
    assert {file_key(t.path, t.deletion_vector) for t in r.tombstones} == {
        ("p", dv("dv1").unique_id),
        ("p", None),
    }
    assert r.seen_keys == {("p", None), ("p", dv("dv1").unique_id), ("p", dv("dv2").unique_id)}


def test_same_path_different_dv_offset_are_different_files():
    r = replay({0: [add("p", dv("x", offset=1))], 1: [add("p", dv("x", offset=50))]})
    assert len(r.adds) == 2


def test_remove_of_other_dv_does_not_remove_file():
    r = replay({0: [add("p", dv("dv1"))], 1: [remove("p", dv("other"))]})
    assert [a.deletion_vector for a in r.adds] == [dv("dv1")]


@pytest.mark.parametrize(
    "added,removed",
    [("a%20b.parquet", "a b.parquet"), ("a b.parquet", "a%20b.parquet"), ("x=1%3A2/f.parquet", "x=1:2/f.parquet")],
)
def test_path_canonicalisation(added, removed):
    r = replay({0: [add(added)], 1: [remove(removed)]})
    assert r.adds == []


def test_canonical_path():
    assert canonical_path("a%20b") == "a b"
    assert canonical_path("a b") == "a b"
    assert canonical_path("p=%2541/f") == "p=%41/f"


def test_unknown_actions_and_commit_info_are_ignored():
    r = replay({0: [Protocol(1, 2), md(0), UnknownAction("future", {"x": 1}), CommitInfo(timestamp=1)]})
    assert r.adds == [] and r.tombstones == [] and r.txns == {} and r.domains == {}


def test_require_complete():
    with pytest.raises(InvalidLogError, match="protocol"):
        replay({0: [md(0)]}).require_complete(0)
    with pytest.raises(InvalidLogError, match="metaData"):
        replay({0: [Protocol(1, 2)]}).require_complete(0, "file:///t")


# --- property test against a naive forward model ------------------------------------------------------

PATHS = st.sampled_from(["a", "b", "c d", "c%20d", "e%2Fx", "e/x"])
DVS = st.none() | st.sampled_from([dv("d1"), dv("d2"), dv("d1", offset=9)])
FILE_ACTIONS = st.tuples(st.booleans(), PATHS, DVS)


def _unique_keys(actions):
    seen, out = set(), []
    for is_add, path, d in actions:
        key = file_key(canonical_path(path), d)
        if key not in seen:  # a commit names each logical file at most once
            seen.add(key)
            out.append((is_add, path, d))
    return out


COMMITS = st.lists(st.lists(FILE_ACTIONS, max_size=6).map(_unique_keys), max_size=8)


@settings(max_examples=300, deadline=None)
@given(COMMITS)
def test_replay_matches_forward_model(commits):
    # Forward model: apply oldest -> newest; add puts the key, remove deletes it.
    active: dict = {}
    for actions in commits:
        for is_add, path, d in actions:
            key = file_key(canonical_path(path), d)
            if is_add:
                active[key] = (path, d)
            else:
                active.pop(key, None)

    typed = {v: [add(p, d) if is_add else remove(p, d) for is_add, p, d in acts] for v, acts in enumerate(commits)}
    r = replay(typed)
    got = {file_key(canonical_path(a.path), a.deletion_vector): (a.path, a.deletion_vector) for a in r.adds}
    assert len(got) == len(r.adds)  # no duplicate logical files
    assert got == active
    # Every key decided is either active or tombstoned, never both.
    tomb = {file_key(canonical_path(t.path), t.deletion_vector) for t in r.tombstones}
    assert not (tomb & set(got))
    assert tomb | set(got) == r.seen_keys
