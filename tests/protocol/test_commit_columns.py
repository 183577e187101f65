"""Unit tests of `lakehouse.protocol.commit_columns`: the column-wise decoding of commits with many adds
gives exactly what the per-line path (`codec.parse_commit_bytes` + `file_table.adds_to_table`) gives, raises
the same `InvalidLogError` for a malformed commit, and declines (falls back) on anything it does not model.
"""

from __future__ import annotations

import json

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.actions import Add, Remove
from lakehouse.protocol.codec import parse_commit_bytes
from lakehouse.protocol.commit_columns import decode_commit
from lakehouse.protocol.file_table import adds_to_table, file_keys, replayed_adds
from lakehouse.protocol.replay import Replay

PATH = "_delta_log/00000000000000000003.json"
VERSION = 3
HEADER = [
    {"commitInfo": {"timestamp": 1, "operation": "WRITE"}},
    {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
    {"metaData": {"id": "x", "format": {"provider": "parquet", "options": {}}, "schemaString": "{}",
                  "partitionColumns": ["p"], "configuration": {}}},
]


def add_row(i: int, **over: object) -> dict:
    row = {"path": f"p={i % 3}/f{i}.parquet", "partitionValues": {"p": str(i % 3)}, "size": 100 + i,
           "modificationTime": 1700000000000 + i, "dataChange": True,
           "stats": json.dumps({"numRecords": i, "minValues": {"id": i}, "maxValues": {"id": i + 9}})}
    row.update(over)
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()


def commit(rows: list[dict], *, header: list[dict] = HEADER, spaced: bool = False) -> bytes:
    dump = (lambda r: json.dumps(r).encode()) if spaced else orjson.dumps
    return b"\n".join(dump(r) for r in [*header, *({"add": a} for a in rows)]) + b"\n"


def assert_same_as_per_line(data: bytes, *, expect_bulk: bool | None = None) -> None:
    """decode_commit(min_bulk=1) against the per-line path: same error, or same actions and file table."""
    try:
        reference = parse_commit_bytes(data, path=PATH, version=VERSION, skip_commit_info=True)
    except InvalidLogError as expected:
        with pytest.raises(InvalidLogError) as got:
            decode_commit(data, path=PATH, version=VERSION, skip_commit_info=True, min_bulk=1)
        assert str(got.value) == str(expected)
        assert expect_bulk is not True
        return
    decoded = decode_commit(data, path=PATH, version=VERSION, skip_commit_info=True, min_bulk=1)
    if expect_bulk is not None:
        assert (decoded.adds is not None) == expect_bulk
    if decoded.adds is None:
        assert decoded.actions == reference
        return
    assert decoded.actions == [a for a in reference if not isinstance(a, Add)]
    expected = adds_to_table([a for a in reference if isinstance(a, Add)])
    assert decoded.adds.schema == expected.schema
    got_rows, want_rows = decoded.adds.to_pylist(), expected.to_pylist()
    for row in (*got_rows, *want_rows):  # a map's entry order carries no meaning
        row["partitionValues"] = sorted(row["partitionValues"])
    assert got_rows == want_rows
    assert decoded.keys is not None and decoded.keys.equals(file_keys(decoded.adds))


def test_large_commit_is_decoded_column_wise_and_equals_the_per_line_path():
    data = commit([add_row(i) for i in range(500)])
    decoded = decode_commit(data, path=PATH, version=VERSION, skip_commit_info=True, min_bulk=100)
    assert decoded.adds is not None and decoded.adds.num_rows == 500
    assert_same_as_per_line(data, expect_bulk=True)
    expected = adds_to_table([a for a in parse_commit_bytes(data) if isinstance(a, Add)])
    assert decoded.adds.equals(expected)  # exactly, map entry order included


def test_small_commits_stay_on_the_per_line_path():
    data = commit([add_row(i) for i in range(3)])
    assert decode_commit(data, min_bulk=10).adds is None


@pytest.mark.parametrize("over", [
    {"stats": _DROP}, {"stats": None}, {"stats": ""}, {"baseRowId": 7, "defaultRowCommitVersion": 2},
    {"clusteringProvider": "liquid"}, {"tags": None, "deletionVector": None, "baseRowId": None},
    {"partitionValues": {"p": None}}, {"partitionValues": {}}, {"path": "p=1/a%20b.parquet"},
    {"path": "p=1/\u00e9t\u00e9 \u2028.parquet"}, {"path": "a\\b\"c"},
])
def test_accepted_variants(over):
    assert_same_as_per_line(commit([add_row(0), add_row(1, **over), add_row(2)]), expect_bulk=True)
    assert_same_as_per_line(commit([add_row(0), add_row(1, **over)], spaced=True), expect_bulk=True)


@pytest.mark.parametrize("over", [
    {"tags": {"k": "v"}}, {"tags": {}},
    {"deletionVector": {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^", "offset": 1,
                        "sizeInBytes": 36, "cardinality": 2}},
    {"futureField": 1}, {"futureField": None}, {"partitionValues": {"p": "1", "q": "2"}},
    {"partitionValues": [["p", "1"]]},
])
def test_declined_variants_fall_back_to_the_per_line_path(over):
    assert_same_as_per_line(commit([add_row(0), add_row(1, **over)]), expect_bulk=False)


@pytest.mark.parametrize("over", [
    {"path": 5}, {"path": None}, {"path": _DROP}, {"size": "100"}, {"size": 1.0}, {"size": 1.5},
    {"size": 2**63}, {"modificationTime": _DROP}, {"dataChange": 1}, {"dataChange": None},
    {"partitionValues": None}, {"partitionValues": _DROP}, {"partitionValues": {"p": 1}},
    {"stats": {"numRecords": 1}}, {"baseRowId": "x"}, {"tags": "x"}, {"deletionVector": {}},
])
def test_malformed_adds_raise_the_per_line_error(over):
    for rows in ([add_row(0), add_row(1, **over)], [add_row(0, **over), add_row(1)]):
        assert_same_as_per_line(commit(rows), expect_bulk=False)


@pytest.mark.parametrize("data", [
    commit([add_row(0)]) + b'{"add": {"path": "x"',  # truncated last line
    commit([add_row(0), add_row(1)]).replace(b"f1.parquet", b"f1\xff.parquet"),  # not UTF-8
    commit([add_row(0), add_row(1)]).replace(b"f1.parquet", b"f1\\ud800.parquet"),  # lone surrogate
    commit([add_row(0), add_row(1)]).replace(b'"size":101', b'"size":NaN'),
    commit([add_row(0), add_row(1)]).replace(b'"size":101', b'"size":101,"size":102'),  # duplicate key
    commit([add_row(0), add_row(1)]) + orjson.dumps({"add": add_row(2)}) + b" " + orjson.dumps({"add": add_row(3)}),
    commit([add_row(0), add_row(1)]).rstrip(b"\n") + b" trailing\n",
    commit([add_row(0), add_row(1)], header=[*HEADER, {"metaData": "broken"}]),
    commit([add_row(0)]) + b'{"add": {}, "remove": {"path": "x", "dataChange": true}}\n',
    commit([add_row(0)]) + b'{"add": null, "remove": {"path": "x", "dataChange": true}}\n',
    commit([add_row(0)]) + b"{}\n",
])
def test_malformed_commits_raise_the_per_line_error(data):
    assert_same_as_per_line(data, expect_bulk=False)


def test_keys_present_with_null_and_keys_missing_are_told_apart():
    rows = [add_row(0, partitionValues={"p": "1", "q": None}), add_row(1, partitionValues={"p": None}),
            add_row(2, partitionValues={"q": "z"}), add_row(3, partitionValues={"q": None, "p": "x"})]
    decoded = decode_commit(commit(rows), min_bulk=1)
    assert decoded.adds is not None
    assert [dict(m) for m in decoded.adds.column("partitionValues").to_pylist()] == [
        {"p": "1", "q": None}, {"p": None}, {"q": "z"}, {"q": None, "p": "x"}]
    assert_same_as_per_line(commit(rows), expect_bulk=True)


def test_a_commit_naming_one_file_twice_is_left_to_line_order():
    assert_same_as_per_line(commit([add_row(0), add_row(1), add_row(0)]), expect_bulk=False)
    spelled = add_row(1, path=add_row(1)["path"].replace("=", "%3D"))
    assert_same_as_per_line(commit([add_row(1), spelled]), expect_bulk=False)


def test_a_remove_of_one_of_the_added_files_is_left_to_line_order():
    remove = {"remove": {"path": add_row(1)["path"], "dataChange": True}}
    assert_same_as_per_line(commit([add_row(0), add_row(1)], header=[*HEADER, remove]), expect_bulk=False)
    other = {"remove": {"path": "gone.parquet", "dataChange": True}}
    assert_same_as_per_line(commit([add_row(0), add_row(1)], header=[*HEADER, other]), expect_bulk=True)


def test_adds_between_other_actions_keep_file_order():
    remove = orjson.dumps({"remove": {"path": "gone.parquet", "dataChange": True}})
    lines = [orjson.dumps(r) for r in HEADER]
    lines += [orjson.dumps({"add": add_row(0)}), remove, b"", orjson.dumps({"add": add_row(1)}),
              orjson.dumps({"txn": {"appId": "a", "version": 1}}), orjson.dumps({"add": add_row(2)})]
    data = b"\r\n".join(lines)
    assert_same_as_per_line(data, expect_bulk=True)
    assert decode_commit(data, min_bulk=1).adds.column("path").to_pylist() == [
        add_row(i)["path"] for i in range(3)]


def test_an_add_spelled_with_leading_space_declines():
    data = commit([add_row(0), add_row(1)]) + b" " + orjson.dumps({"add": add_row(2)}) + b"\n"
    assert_same_as_per_line(data, expect_bulk=False)


def _replay(commits: list[bytes], min_bulk: int) -> Replay:
    replay = Replay()
    for version, data in reversed(list(enumerate(commits))):
        d = decode_commit(data, path=PATH, version=version, skip_commit_info=True, min_bulk=min_bulk)
        replay.add_commit(version, d.actions, d.adds, d.keys)
    return replay


def test_replay_of_bulk_commits_equals_typed_replay():
    """Newer removes and re-adds decide over a bulk commit's files, and a bulk commit over older typed ones."""
    base = commit([add_row(i) for i in range(20)])
    rm = [{"remove": {"path": add_row(i)["path"], "dataChange": True, "deletionTimestamp": 5}} for i in (3, 4)]
    middle = commit([add_row(i, size=7) for i in (5, 20, 21)], header=rm)
    newest = commit([add_row(i, size=9) for i in range(18, 30)], header=[])
    log = [base, middle, newest]
    typed, bulk = _replay(log, 10**9), _replay(log, 1)
    assert bulk.add_tables and not typed.add_tables
    assert replayed_adds(bulk).equals(replayed_adds(typed))
    assert bulk.tombstones == typed.tombstones
    assert set(bulk.seen_key_strings().to_pylist()) == set(typed.seen_key_strings().to_pylist())
    mixed = _replay(log, 5)  # the small middle commit typed, the others bulk
    assert replayed_adds(mixed).equals(replayed_adds(typed))


_text = st.text(alphabet=st.sampled_from(list("ab=/% \\\"\u00e9\u2028\x00{}:,")), max_size=6)
_maybe = st.none() | _text


@st.composite
def add_rows(draw: st.DrawFn) -> dict:
    row: dict = {"path": draw(_text.map(lambda s: "f" + s)), "size": draw(st.integers(0, 2**40)),
                 "modificationTime": draw(st.integers(-5, 2**41)), "dataChange": draw(st.booleans())}
    keys = draw(st.lists(st.sampled_from(["p", "q", "r"]), unique=True, max_size=3))
    row["partitionValues"] = {k: draw(_maybe) for k in keys}
    for key, strategy in (("stats", _maybe), ("baseRowId", st.none() | st.integers(0, 99)),
                          ("clusteringProvider", _maybe), ("tags", st.none() | st.just({"t": "v"}))):
        if draw(st.booleans()):
            row[key] = draw(strategy)
    if draw(st.integers(0, 20)) == 0:  # now and then a field of the wrong type
        row[draw(st.sampled_from(sorted(row)))] = draw(st.sampled_from([1, "1", 1.5, None, [], {}]))
    return row


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(add_rows(), min_size=1, max_size=6), st.booleans())
def test_property_bulk_decode_equals_per_line_decode(rows, spaced):
    assert_same_as_per_line(commit(rows, spaced=spaced))


def test_empty_and_headers_only():
    assert decode_commit(b"", min_bulk=1).actions == []
    assert decode_commit(commit([]), min_bulk=1).adds is None
    assert decode_commit(commit([add_row(0)]) * 2, min_bulk=1).adds is None  # one file twice
    assert decode_commit(commit([add_row(0), add_row(1)]) + b"\n\n", min_bulk=1).adds.num_rows == 2
    assert [type(a) for a in decode_commit(commit([add_row(0)], header=[
        {"remove": {"path": "z", "dataChange": True}}]), min_bulk=1).actions] == [Remove]
