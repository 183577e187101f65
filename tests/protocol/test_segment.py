"""Unit tests of `lakehouse.protocol.segment.build_segment` (PROTOCOL.md "Checkpoints", "Log Compaction Files")."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidLogError, TableNotFoundError, VersionNotFoundError
from lakehouse.protocol.log_path import LogFile, classify
from lakehouse.protocol.segment import build_segment, complete_checkpoints

UUID = "3a0d65cd-4056-49b8-937b-95f9e3ee90e5"


def commits(*versions: int) -> list[LogFile]:
    return [classify(f"{v:020d}.json") for v in versions]


def classic(v: int) -> LogFile:
    return classify(f"{v:020d}.checkpoint.parquet")


def multi(v: int, parts: int, present=None) -> list[LogFile]:
    present = range(1, parts + 1) if present is None else present
    return [classify(f"{v:020d}.checkpoint.{p:010d}.{parts:010d}.parquet") for p in present]


def uuid_cp(v: int, fmt="json") -> LogFile:
    return classify(f"{v:020d}.checkpoint.{UUID}.{fmt}")


def compacted(a: int, b: int) -> LogFile:
    return classify(f"{a:020d}.{b:020d}.compacted.json")


def vers(files) -> list[int]:
    return [f.version for f in files]


def test_latest_without_checkpoint():
    seg = build_segment(commits(0, 1, 2))
    assert seg.version == 2 and seg.checkpoint is None
    assert vers(seg.deltas) == [0, 1, 2] and vers(seg.commits) == [0, 1, 2]
    assert seg.start_version == 0


def test_latest_with_checkpoint_reads_only_later_commits():
    seg = build_segment(commits(*range(0, 8)) + [classic(5)] + [classify("_last_checkpoint"), classify("00000000000000000003.crc")])
    assert seg.version == 7
    assert seg.checkpoint.version == 5
    assert vers(seg.deltas) == [6, 7]
    assert seg.start_version == 6


def test_time_travel():
    seg = build_segment(commits(*range(0, 8)) + [classic(5)], 3)
    assert seg.version == 3 and seg.checkpoint is None
    assert vers(seg.deltas) == [0, 1, 2, 3]


def test_time_travel_to_checkpoint_version():
    seg = build_segment(commits(*range(0, 8)) + [classic(5)], 5)
    assert seg.checkpoint.version == 5 and seg.deltas == ()


def test_checkpoint_newer_than_target_not_used():
    seg = build_segment(commits(*range(0, 12)) + [classic(4), classic(10)], 8)
    assert seg.checkpoint.version == 4
    assert vers(seg.deltas) == [5, 6, 7, 8]


def test_newest_complete_checkpoint_chosen():
    files = commits(*range(0, 12)) + [classic(3)] + multi(6, 2) + [uuid_cp(9, "parquet")]
    seg = build_segment(files)
    assert seg.checkpoint.version == 9
    assert seg.checkpoint.files[0].fmt == "parquet"
    assert vers(seg.deltas) == [10, 11]


def test_multi_part_checkpoint_all_parts_in_order():
    files = commits(*range(0, 5)) + list(reversed(multi(3, 3)))
    seg = build_segment(files)
    assert seg.checkpoint.version == 3
    assert [f.part for f in seg.checkpoint.files] == [1, 2, 3]


def test_incomplete_multi_part_checkpoint_ignored():
    files = commits(*range(0, 10)) + [classic(4)] + multi(8, 3, present=[1, 3])
    seg = build_segment(files)
    assert seg.checkpoint.version == 4
    assert vers(seg.deltas) == [5, 6, 7, 8, 9]
    assert [c.version for c in complete_checkpoints(files)] == [4]


def test_incomplete_multi_part_only_means_replay_from_zero():
    files = commits(*range(0, 4)) + multi(2, 2, present=[2])
    seg = build_segment(files)
    assert seg.checkpoint is None and vers(seg.deltas) == [0, 1, 2, 3]


def test_excluded_checkpoint_is_skipped():
    files = commits(*range(0, 8)) + [classic(3), classic(6)]
    seg = build_segment(files, exclude_checkpoints=frozenset({(6, "classic")}))
    assert seg.checkpoint.version == 3 and vers(seg.deltas) == [4, 5, 6, 7]


def test_checkpoint_without_its_commit_file():
    # Commits before and at the checkpoint were cleaned up; the checkpoint alone rebuilds version 5.
    seg = build_segment([classic(5)] + commits(6, 7))
    assert seg.checkpoint.version == 5 and vers(seg.deltas) == [6, 7]
    seg = build_segment([classic(5)])
    assert seg.version == 5 and seg.deltas == ()


def test_gap_in_versions_is_invalid_log_error():
    with pytest.raises(InvalidLogError) as exc_info:
        build_segment(commits(0, 1, 3, 4), table_path="file:///t")
    assert "2" in str(exc_info.value)
    assert exc_info.value.version == 4


def test_gap_after_checkpoint_is_invalid_log_error():
    with pytest.raises(InvalidLogError):
        build_segment(commits(*range(0, 6), 7, 8) + [classic(4)])


def test_gap_before_checkpoint_is_harmless():
    seg = build_segment(commits(0, 1, 3, 4, 5, 6) + [classic(4)])
    assert seg.checkpoint.version == 4 and vers(seg.deltas) == [5, 6]
    # ... but time travel into the gap's range needs the missing commit.
    with pytest.raises(InvalidLogError):
        build_segment(commits(0, 1, 3, 4, 5, 6) + [classic(4)], 3)


def test_truncated_head_without_checkpoint_is_version_not_found():
    files = commits(*range(5, 10)) + [classic(7)]
    with pytest.raises(VersionNotFoundError):
        build_segment(files, 3)
    with pytest.raises(VersionNotFoundError):
        build_segment(files, 6)
    # Without any checkpoint the latest version is unreachable too.
    with pytest.raises(VersionNotFoundError):
        build_segment(commits(*range(5, 10)))
    assert build_segment(files, 8).checkpoint.version == 7


def test_version_after_latest_is_version_not_found():
    with pytest.raises(VersionNotFoundError, match="latest"):
        build_segment(commits(0, 1, 2), 3)


def test_negative_version_is_version_not_found():
    with pytest.raises(VersionNotFoundError):
        build_segment(commits(0, 1, 2), -1)


def test_empty_listing_is_table_not_found():
    with pytest.raises(TableNotFoundError):
        build_segment([])
    with pytest.raises(TableNotFoundError):
        build_segment([classify("_last_checkpoint"), classify("00000000000000000000.crc")] + multi(1, 2, [1]))


def test_compaction_used_inside_range():
    files = commits(*range(0, 8)) + [compacted(2, 5)]
    seg = build_segment(files)
    assert [(f.kind, f.version) for f in seg.deltas] == [
        ("commit", 0), ("commit", 1), ("compacted", 2), ("commit", 6), ("commit", 7)
    ]
    assert vers(seg.commits) == list(range(0, 8))


def test_compaction_not_used_when_it_ends_after_target():
    files = commits(*range(0, 8)) + [compacted(2, 5)]
    seg = build_segment(files, 4)
    assert all(f.kind == "commit" for f in seg.deltas)
    assert vers(seg.deltas) == [0, 1, 2, 3, 4]


def test_compaction_not_used_when_it_starts_at_or_before_checkpoint():
    files = commits(*range(0, 10)) + [classic(3), compacted(2, 6), compacted(3, 5)]
    seg = build_segment(files)
    assert all(f.kind == "commit" for f in seg.deltas)
    assert vers(seg.deltas) == [4, 5, 6, 7, 8, 9]


def test_compaction_right_after_checkpoint_is_used():
    files = commits(*range(0, 10)) + [classic(3), compacted(4, 9)]
    seg = build_segment(files)
    assert [(f.kind, f.version, f.end_version) for f in seg.deltas] == [("compacted", 4, 9)]


def test_widest_compaction_preferred_and_disabled_on_request():
    files = commits(*range(0, 10)) + [compacted(1, 3), compacted(1, 6), compacted(7, 8)]
    seg = build_segment(files)
    assert [(f.kind, f.version) for f in seg.deltas] == [
        ("commit", 0), ("compacted", 1), ("compacted", 7), ("commit", 9)
    ]
    assert seg.deltas[1].end_version == 6
    seg = build_segment(files, use_compactions=False)
    assert all(f.kind == "commit" for f in seg.deltas)


def test_compaction_does_not_paper_over_a_gap():
    files = commits(0, 1, 2, 4, 5) + [compacted(1, 4)]
    with pytest.raises(InvalidLogError):
        build_segment(files)
