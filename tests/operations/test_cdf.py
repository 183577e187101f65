"""The change data feed: lakehouse's `load_cdf` against deltalake's after append, DELETE, UPDATE, MERGE and
overwrite (both DML modes); version and timestamp ranges; the feed off; the corpus CDF tables."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import LakehouseError, UnsupportedFeatureError, VersionNotFoundError
from tests.support.conformance import canonical_rows, corpus_dir, describe_difference
from tests.support.dml import MODES, config, rows_table
from tests.support.rows import assert_same_rows
from tests.support.log import actions_of

META = ["_change_type", "_commit_version"]
DATA = ["id", "v", "p"]


def dl_cdf(path: str, **kwargs) -> pa.Table:
    table = pa.table(deltalake.DeltaTable(path).load_cdf(**kwargs).read_all())
    # string_view columns lack some Arrow kernels (take/filter); compare as plain strings
    return table.cast(pa.schema([pa.field(f.name, pa.string() if f.type == pa.string_view() else f.type) for f in table.schema]))


def _keyed(table: pa.Table, columns: list[str]) -> pa.Table:
    table = table.select(columns)
    # deltalake's _commit_version is uint64, ours int64: compare values
    return table.set_column(table.schema.get_field_index("_commit_version"), "_commit_version",
                            table.column("_commit_version").cast(pa.int64()))


def assert_same_changes(ours: pa.Table, theirs: pa.Table, columns: list[str], label: str) -> None:
    assert_same_rows(_keyed(ours, columns), _keyed(theirs, columns), label)


def _history(path: str) -> dict[int, datetime]:
    return {h.version: h.timestamp for h in lakehouse.DeltaTable(path).history()}


def build_history(path: str, mode: str, partitioned: bool, pause: float = 0.0) -> dict[int, list[dict]]:
    """Versions 0..6: write, append, DELETE, UPDATE, MERGE, partition overwrite, full overwrite.
    Returns the expected changes per version."""
    changes: dict[int, list[dict]] = {}
    t0 = [{"id": i, "v": i * 10, "p": "ab"[i % 2]} for i in range(1, 9)]
    lakehouse.write_delta(path, rows_table(t0), partition_by=["p"] if partitioned else None, configuration=config(mode))
    changes[0] = [{**r, "_change_type": "insert"} for r in t0]
    time.sleep(pause)
    t1 = [{"id": 9, "v": None, "p": "a"}, {"id": 10, "v": 100, "p": None}]
    lakehouse.write_delta(path, rows_table(t1), mode="append")
    changes[1] = [{**r, "_change_type": "insert"} for r in t1]
    rows = t0 + t1
    time.sleep(pause)
    dt = lakehouse.DeltaTable(path)
    dt.delete("v > 60")  # ids 7, 8, 10
    changes[2] = [{**r, "_change_type": "delete"} for r in rows if r["v"] is not None and r["v"] > 60]
    rows = [r for r in rows if not (r["v"] is not None and r["v"] > 60)]
    time.sleep(pause)
    dt.update(updates={"v": "v + 1"}, predicate="p = 'a'")
    hit = [r for r in rows if r["p"] == "a"]
    changes[3] = [{**r, "_change_type": "update_preimage"} for r in hit] + \
                 [{**r, "v": None if r["v"] is None else r["v"] + 1, "_change_type": "update_postimage"} for r in hit]
    rows = [({**r, "v": None if r["v"] is None else r["v"] + 1} if r["p"] == "a" else r) for r in rows]
    time.sleep(pause)
    source = [{"id": 2, "v": -2, "p": "a"}, {"id": 3, "v": None, "p": "b"}, {"id": 11, "v": 110, "p": "b"}]
    dt.merge(rows_table(source), "t.id = s.id").when_matched_delete("s.v IS NULL").when_matched_update_all() \
        .when_not_matched_insert_all().execute()
    old = {r["id"]: r for r in rows}
    changes[4] = [{**old[3], "_change_type": "delete"}, {**old[2], "_change_type": "update_preimage"},
                  {**source[0], "_change_type": "update_postimage"}, {**source[2], "_change_type": "insert"}]
    rows = [r for r in rows if r["id"] not in (2, 3)] + [source[0], source[2]]
    time.sleep(pause)
    if partitioned:
        new_b = [{"id": 20, "v": 200, "p": "b"}]
        lakehouse.write_delta(path, rows_table(new_b), mode="overwrite", predicate="p = 'b'")
        changes[5] = [{**r, "_change_type": "delete"} for r in rows if r["p"] == "b"] + \
                     [{**r, "_change_type": "insert"} for r in new_b]
        rows = [r for r in rows if r["p"] != "b"] + new_b
    else:
        extra = [{"id": 21, "v": 210, "p": "b"}]
        lakehouse.write_delta(path, rows_table(extra), mode="append")
        changes[5] = [{**r, "_change_type": "insert"} for r in extra]
        rows = rows + extra
    time.sleep(pause)
    final = [{"id": 30, "v": 300, "p": "a"}, {"id": 31, "v": None, "p": None}]
    lakehouse.write_delta(path, rows_table(final), mode="overwrite")
    changes[6] = [{**r, "_change_type": "delete"} for r in rows] + [{**r, "_change_type": "insert"} for r in final]
    assert lakehouse.DeltaTable(path).version == 6
    return changes


def _expected(changes: dict[int, list[dict]], lo: int, hi: int) -> list[dict]:
    return [{**r, "_commit_version": v} for v in range(lo, hi + 1) for r in changes[v]]


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
@pytest.mark.parametrize("mode", MODES)
def test_cdf_after_every_operation_matches_deltalake_and_the_expected_changes(tmp_path: Path, mode: str,
                                                                               partitioned: bool) -> None:
    path = str(tmp_path / "t")
    changes = build_history(path, mode, partitioned)
    ours = lakehouse.DeltaTable(path).load_cdf(0)
    assert ours.schema.names == DATA + ["_change_type", "_commit_version", "_commit_timestamp"]
    assert_same_rows(ours.select(DATA + META), _expected(changes, 0, 6), "lakehouse CDF vs expected changes")
    # deltalake 1.6.6 reads the `remove` of a file that has a deletion vector without applying the DV (it
    # reports rows deleted earlier as deleted again), so those versions are compared with the expected
    # changes only
    comparable = [v for v in range(7) if not any(r.get("deletionVector") for r in actions_of(path, v, "remove"))]
    if mode == "cow":
        assert comparable == list(range(7))
    theirs = dl_cdf(path, starting_version=0)
    keep = pa.compute.is_in(theirs.column("_commit_version").cast(pa.int64()), pa.array(comparable, pa.int64()))
    mine = pa.compute.is_in(ours.column("_commit_version"), pa.array(comparable, pa.int64()))
    assert_same_changes(ours.filter(mine), theirs.filter(keep), DATA + META, "lakehouse CDF vs deltalake CDF")
    # every row carries its commit's timestamp
    stamps = _history(path)
    for row in ours.select(["_commit_version", "_commit_timestamp"]).to_pylist():
        assert row["_commit_timestamp"] == stamps[row["_commit_version"]]
    # one version at a time, and a middle range, agree too
    for v in range(7):
        assert_same_rows(lakehouse.DeltaTable(path).load_cdf(v, v).select(DATA + META), _expected(changes, v, v), f"v{v}")
    mid_ours = lakehouse.DeltaTable(path).load_cdf(2, 4)
    assert_same_changes(mid_ours, dl_cdf(path, starting_version=2, ending_version=4), DATA + META, "range 2..4")
    assert_same_rows(mid_ours.select(DATA + META), _expected(changes, 2, 4), "range 2..4")
    # the DeltaTable opened at an older version reads up to that version by default
    assert_same_rows(lakehouse.DeltaTable(path, version=3).load_cdf(0).select(DATA + META), _expected(changes, 0, 3),
                     "CDF up to the loaded version")


def test_cdf_column_selection(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    changes = build_history(path, "dv", True)
    got = lakehouse.DeltaTable(path).load_cdf(2, 3, columns=["id"])
    assert got.column_names == ["id", "_change_type", "_commit_version", "_commit_timestamp"]
    assert_same_rows(got.select(["id"] + META), [{"id": r["id"], "_change_type": r["_change_type"], "_commit_version": r["_commit_version"]}
                                                 for r in _expected(changes, 2, 3)], "columns=['id']")


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def timed_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[int, list[dict]], dict[int, datetime]]:
    path = str(tmp_path_factory.mktemp("cdf-ts") / "t")
    changes = build_history(path, "cow", True, pause=0.25)
    return path, changes, _history(path)


def _between(ts: dict[int, datetime], a: int, b: int) -> datetime:
    return ts[a] + (ts[b] - ts[a]) / 2


def test_cdf_by_exact_commit_timestamps(timed_history) -> None:
    path, changes, ts = timed_history
    dt = lakehouse.DeltaTable(path)
    # exact commit timestamps are inclusive at both ends
    got = dt.load_cdf(starting_timestamp=ts[2], ending_timestamp=ts[4])
    assert_same_rows(got.select(DATA + META), _expected(changes, 2, 4), "exact timestamps 2..4")
    # ISO strings work as well as datetimes
    got = dt.load_cdf(starting_timestamp=_iso(ts[3]), ending_timestamp=_iso(ts[3]))
    assert_same_rows(got.select(DATA + META), _expected(changes, 3, 3), "ISO string timestamps")


def test_cdf_end_timestamp_between_commits_stops_at_the_earlier_one(timed_history) -> None:
    path, changes, ts = timed_history
    dt = lakehouse.DeltaTable(path)
    got = dt.load_cdf(starting_version=1, ending_timestamp=_between(ts, 2, 3))
    assert_same_rows(got.select(DATA + META), _expected(changes, 1, 2), "version start, timestamp end")
    theirs = dl_cdf(path, starting_version=1, ending_timestamp=_iso(_between(ts, 2, 3)))
    assert_same_changes(got, theirs, DATA + META, "timestamp end vs deltalake")


def test_cdf_start_timestamp_between_commits_begins_at_the_later_one(timed_history) -> None:
    """Spark (CDCReader: the first commit at or after startingTimestamp) and deltalake both start at the
    commit after the timestamp; the version current at that time changed data *before* it."""
    path, changes, ts = timed_history
    dt = lakehouse.DeltaTable(path)
    theirs = dl_cdf(path, starting_timestamp=_iso(_between(ts, 1, 2)), ending_timestamp=_iso(_between(ts, 4, 5)))
    assert sorted(set(theirs.column("_commit_version").to_pylist())) == [2, 3, 4]
    got = dt.load_cdf(starting_timestamp=_between(ts, 1, 2), ending_timestamp=_between(ts, 4, 5))
    assert_same_rows(got.select(DATA + META), _expected(changes, 2, 4), "timestamps between commits")


def test_cdf_range_errors(timed_history) -> None:
    path, _, ts = timed_history
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(VersionNotFoundError):
        dt.load_cdf(starting_version=7)
    with pytest.raises(VersionNotFoundError):
        dt.load_cdf(starting_version=4, ending_version=2)
    with pytest.raises(LakehouseError):
        dt.load_cdf(starting_version=1, starting_timestamp=ts[1])
    with pytest.raises(LakehouseError):
        dt.load_cdf(starting_timestamp=ts[6] + timedelta(hours=1))


def test_cdf_not_enabled_is_unsupported(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table([{"id": 1, "v": 1, "p": "a"}, {"id": 2, "v": 2, "p": "a"}]),
                          configuration=config("cow", cdf=False))
    lakehouse.DeltaTable(path).delete("id = 1")
    with pytest.raises(UnsupportedFeatureError):
        lakehouse.DeltaTable(path).load_cdf(0)
    with pytest.raises(UnsupportedFeatureError):
        lakehouse.DeltaTable(path).load_cdf(1, 1)
    with pytest.raises(VersionNotFoundError):
        lakehouse.DeltaTable(path).load_cdf(5)


def test_replace_where_on_data_columns_of_a_cdf_table_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table([{"id": 1, "v": 1, "p": "a"}, {"id": 2, "v": 2, "p": "a"}]),
                          configuration=config("cow"))
    with pytest.raises(UnsupportedFeatureError):
        lakehouse.write_delta(path, rows_table([{"id": 3, "v": 1, "p": "a"}]), mode="overwrite", predicate="v = 1")
    assert lakehouse.DeltaTable(path).version == 0


# -- the corpus --------------------------------------------------------------------------------------

CORPUS = corpus_dir()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="conformance corpus not found")


@needs_corpus
@pytest.mark.parametrize("name", [
    "dat__cdf",
    "deltars__cdf-table",
    # Databricks-written, with deletion vectors: its DELETEs (versions 2, 5, 10, 16, 24) have no cdc files,
    # only `remove` + `add` of the same file with a grown DV; the changes are the rows the new DV adds
    "kernelrs__compacted-log-files-table",
])
def test_corpus_cdf_matches_deltalake(name: str) -> None:
    path = str(CORPUS / "tables" / name)
    dt = lakehouse.DeltaTable(path)
    data = [f.name for f in dt.schema]
    ours = dt.load_cdf(0)
    theirs = dl_cdf(path, starting_version=0)
    assert theirs.num_rows > 0
    assert_same_changes(ours, theirs, data + META, f"{name} CDF")
    for v in range(dt.version + 1):
        assert_same_changes(dt.load_cdf(v, v), dl_cdf(path, starting_version=v, ending_version=v), data + META, f"{name} v{v}")


def _multiset(table: pa.Table, columns: list[str]) -> Counter:
    return canonical_rows(table.select(columns))


@needs_corpus
def test_corpus_cdf_with_column_mapping_explains_every_snapshot() -> None:
    path = str(CORPUS / "tables" / "kernelrs__cdf-column-mapping-id-mode")
    dt = lakehouse.DeltaTable(path)
    data = [f.name for f in dt.schema]
    # version 0 predates the feed: a range starting there is refused
    with pytest.raises(UnsupportedFeatureError):
        dt.load_cdf(0)
    feed = dt.load_cdf(1)
    assert feed.column_names[: len(data)] == data
    assert set(feed.column("_commit_version").to_pylist()) == {2, 3, 4}  # v1 only sets a table property
    for v in range(2, dt.version + 1):
        before = _multiset(lakehouse.DeltaTable(path, version=v - 1).to_arrow(), data)
        after = _multiset(lakehouse.DeltaTable(path, version=v).to_arrow(), data)
        changes = feed.filter(pa.compute.equal(feed.column("_commit_version"), v))
        kinds = changes.column("_change_type").to_pylist()

        def of(kind: str) -> Counter:
            return _multiset(changes.filter(pa.compute.equal(changes.column("_change_type"), kind)), data)

        removed, added = of("delete") + of("update_preimage"), of("insert") + of("update_postimage")
        assert kinds.count("update_preimage") == kinds.count("update_postimage")
        assert not (removed - before), f"v{v}: removed rows that were not there\n{describe_difference(removed, before)}"
        explained = before - removed + added
        assert explained == after, f"v{v}: the changes do not explain the snapshot\n{describe_difference(explained, after)}"
    # the three commits are an UPDATE, an append and a DELETE
    by_version = {v: sorted(set(feed.filter(pa.compute.equal(feed.column("_commit_version"), v)).column("_change_type").to_pylist()))
                  for v in (2, 3, 4)}
    assert by_version == {2: ["update_postimage", "update_preimage"], 3: ["insert"], 4: ["delete"]}


@pytest.mark.parametrize("how", ["merge_schema", "append_schema_merge"])
def test_cdf_across_a_commit_that_adds_a_column(tmp_path: Path, how: str) -> None:
    """Rows of versions before the column existed read it as NULL (deltalake and Spark: the range's end
    schema)."""
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows_table([{"id": 1, "v": 1, "p": "a"}, {"id": 2, "v": 2, "p": "a"}]), configuration=config("cow"))
    source = pa.table({"id": pa.array([2, 3], pa.int64()), "v": pa.array([20, 30], pa.int64()), "p": ["a", "a"], "w": ["x", "y"]})
    if how == "merge_schema":
        lakehouse.DeltaTable(path).merge(source, "t.id = s.id", merge_schema=True) \
            .when_matched_update_all().when_not_matched_insert_all().execute()
        expected_1 = [{"id": 2, "v": 2, "p": "a", "w": None, "_change_type": "update_preimage"},
                      {"id": 2, "v": 20, "p": "a", "w": "x", "_change_type": "update_postimage"},
                      {"id": 3, "v": 30, "p": "a", "w": "y", "_change_type": "insert"}]
    else:
        lakehouse.write_delta(path, source, mode="append", schema_mode="merge")
        expected_1 = [{**r, "_change_type": "insert"} for r in source.to_pylist()]
    assert lakehouse.DeltaTable(path).schema.names == ["id", "v", "p", "w"]
    expected = [{"id": 1, "v": 1, "p": "a", "w": None, "_change_type": "insert", "_commit_version": 0},
                {"id": 2, "v": 2, "p": "a", "w": None, "_change_type": "insert", "_commit_version": 0}] + \
               [{**r, "_commit_version": 1} for r in expected_1]
    theirs = dl_cdf(path, starting_version=0)
    assert_same_rows(_keyed(theirs, DATA + ["w"] + META), expected, "deltalake")
    ours = lakehouse.DeltaTable(path).load_cdf(0)
    assert_same_rows(ours.select(DATA + ["w"] + META), expected, "lakehouse CDF across the new column")
