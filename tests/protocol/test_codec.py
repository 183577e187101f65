"""Unit tests of `lakehouse.protocol.codec`: raw log rows <-> typed actions (PROTOCOL.md "Actions")."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.errors import InvalidLogError, LakehouseError
from lakehouse.protocol.actions import (
    Add,
    AddCDCFile,
    CheckpointMetadata,
    CommitInfo,
    DeletionVectorDescriptor,
    DomainMetadata,
    Format,
    Metadata,
    Protocol,
    Remove,
    Sidecar,
    Txn,
    UnknownAction,
)
from lakehouse.protocol.codec import (
    decode_action,
    decode_deletion_vector,
    encode_action,
    encode_commit,
    parse_commit_bytes,
)

PATH = "_delta_log/00000000000000000007.json"
VERSION = 7

ADD = {
    "path": "part-1.parquet",
    "partitionValues": {"p": "1", "q": None},
    "size": 10,
    "modificationTime": 1700000000000,
    "dataChange": True,
}

# One raw example of every action type, each with an unknown field that must survive a round trip.
RAW_ACTIONS = {
    "add": {
        **ADD,
        "stats": '{"numRecords":1}',
        "tags": {"t": "v"},
        "deletionVector": {
            "storageType": "u",
            "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^",
            "offset": 1,
            "sizeInBytes": 36,
            "cardinality": 2,
            "maxRowIndex": 9,
            "futureDvField": 1,
        },
        "baseRowId": 5,
        "defaultRowCommitVersion": 3,
        "clusteringProvider": "liquid",
        "futureAddField": {"nested": [1, 2]},
    },
    "remove": {
        "path": "part-0.parquet",
        "deletionTimestamp": 1700000000001,
        "dataChange": True,
        "extendedFileMetadata": True,
        "partitionValues": {},
        "size": 9,
        "stats": "{}",
        "tags": {},
        "baseRowId": 1,
        "defaultRowCommitVersion": 2,
        "futureRemoveField": "x",
    },
    "metaData": {
        "id": "abc",
        "name": "n",
        "description": "d",
        "format": {"provider": "parquet", "options": {"k": "v"}},
        "schemaString": '{"type":"struct","fields":[]}',
        "partitionColumns": ["p"],
        "configuration": {"delta.appendOnly": "true"},
        "createdTime": 1,
        "futureMetaField": True,
    },
    "protocol": {
        "minReaderVersion": 3,
        "minWriterVersion": 7,
        "readerFeatures": ["deletionVectors"],
        "writerFeatures": ["deletionVectors", "appendOnly"],
        "futureProtocolField": 1.5,
    },
    "cdc": {"path": "_change_data/c.parquet", "partitionValues": {}, "size": 3, "dataChange": False, "tags": {}, "x": 1},
    "txn": {"appId": "app", "version": 4, "lastUpdated": 10, "futureTxn": "y"},
    "commitInfo": {
        "timestamp": 5,
        "operation": "WRITE",
        "operationParameters": {"mode": "Append", "nested": {"a": [1]}},
        "inCommitTimestamp": 6,
        "engineInfo": "Apache-Spark/3.5.1",
        "isBlindAppend": True,
    },
    "domainMetadata": {"domain": "delta.clustering", "configuration": "{}", "removed": False, "future": 0},
    "checkpointMetadata": {"version": 3, "tags": {"a": "b"}, "future": "z"},
    "sidecar": {"path": "s.parquet", "sizeInBytes": 100, "modificationTime": 7, "tags": {}, "future": [None]},
}

EXPECTED_TYPES = {
    "add": Add,
    "remove": Remove,
    "metaData": Metadata,
    "protocol": Protocol,
    "cdc": AddCDCFile,
    "txn": Txn,
    "commitInfo": CommitInfo,
    "domainMetadata": DomainMetadata,
    "checkpointMetadata": CheckpointMetadata,
    "sidecar": Sidecar,
}


@pytest.mark.parametrize("key", sorted(RAW_ACTIONS))
def test_round_trip_each_action_type_keeps_unknown_fields(key):
    raw = {key: RAW_ACTIONS[key]}
    action = decode_action(raw, path=PATH, version=VERSION)
    assert type(action) is EXPECTED_TYPES[key]
    assert encode_action(action) == raw
    # And through the commit byte form.
    assert parse_commit_bytes(encode_commit([action]), path=PATH, version=VERSION) == [action]


def test_decoded_fields_are_typed():
    add = decode_action({"add": RAW_ACTIONS["add"]})
    assert add.path == "part-1.parquet"
    assert add.partition_values == {"p": "1", "q": None}
    assert add.size == 10 and add.modification_time == 1700000000000 and add.data_change is True
    assert add.extra == {"futureAddField": {"nested": [1, 2]}}
    dv = add.deletion_vector
    assert isinstance(dv, DeletionVectorDescriptor)
    assert (dv.storage_type, dv.offset, dv.size_in_bytes, dv.cardinality, dv.max_row_index) == ("u", 1, 36, 2, 9)
    assert dv.extra == {"futureDvField": 1}
    assert dv.unique_id == "uab^-aqEH.-t@S}K{vb[*k^@1"

    md = decode_action({"metaData": RAW_ACTIONS["metaData"]})
    assert md.partition_columns == ("p",)
    assert md.format == Format("parquet", {"k": "v"})
    assert md.configuration == {"delta.appendOnly": "true"}
    assert md.extra == {"futureMetaField": True}

    proto = decode_action({"protocol": RAW_ACTIONS["protocol"]})
    assert proto.reader_features == ("deletionVectors",)
    assert proto.writer_features == ("deletionVectors", "appendOnly")

    ci = decode_action({"commitInfo": RAW_ACTIONS["commitInfo"]})
    assert ci.operation == "WRITE" and ci.in_commit_timestamp == 6
    assert ci.extra == {"engineInfo": "Apache-Spark/3.5.1", "isBlindAppend": True}


def test_minimal_actions_use_defaults():
    md = decode_action({"metaData": {"id": "x", "schemaString": "{}"}})
    assert md.partition_columns == () and md.configuration == {} and md.format == Format()
    proto = decode_action({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}})
    assert proto.reader_features is None and proto.writer_features is None
    ci = decode_action({"commitInfo": {}})
    assert ci == CommitInfo()
    rm = decode_action({"remove": {"path": "a", "dataChange": False}})
    assert rm.deletion_timestamp is None and rm.partition_values is None


def test_checkpoint_map_as_list_of_pairs_is_accepted():
    # Parquet checkpoint rows give maps as lists of (key, value) pairs.
    add = decode_action({"add": {**ADD, "partitionValues": [("p", "1"), ("q", None)]}})
    assert add.partition_values == {"p": "1", "q": None}


def test_unknown_action_key_becomes_unknown_action():
    action = decode_action({"someFutureAction": {"a": 1}}, path=PATH, version=VERSION)
    assert action == UnknownAction("someFutureAction", {"a": 1})
    assert encode_action(action) == {"someFutureAction": {"a": 1}}


def test_known_action_plus_unknown_key_is_accepted():
    action = decode_action({"add": ADD, "someFutureAction": {"a": 1}}, path=PATH, version=VERSION)
    assert isinstance(action, Add) and action.path == "part-1.parquet"


def test_parse_commit_bytes_keeps_order_and_skips_blank_lines():
    data = (
        b'{"commitInfo":{"timestamp":1}}\n\n'
        + orjson.dumps({"add": ADD})
        + b"\r\n   \n"
        + b'{"unknownThing":1}\n'
        + orjson.dumps({"remove": {"path": "x", "dataChange": True}})
    )
    actions = parse_commit_bytes(data, path=PATH, version=VERSION)
    assert [type(a) for a in actions] == [CommitInfo, Add, UnknownAction, Remove]


def test_empty_commit_is_empty():
    assert parse_commit_bytes(b"") == []
    assert parse_commit_bytes(b"\n\n") == []


def _assert_invalid(exc_info):
    err = exc_info.value
    assert isinstance(err, InvalidLogError)
    assert err.path == PATH and err.version == VERSION
    assert PATH in str(err) and f"version {VERSION}" in str(err)


# --- typed errors -----------------------------------------------------------------------------------

WRONG_TYPES = [
    pytest.param({"add": {**ADD, "size": "10"}}, id="add.size-str"),
    pytest.param({"add": {**ADD, "size": 1.5}}, id="add.size-float"),
    pytest.param({"add": {**ADD, "size": True}}, id="add.size-bool"),
    pytest.param({"add": {**ADD, "dataChange": "true"}}, id="add.dataChange-str"),
    pytest.param({"add": {**ADD, "path": 5}}, id="add.path-int"),
    pytest.param({"add": {**ADD, "partitionValues": ["a"]}}, id="add.partitionValues-list"),
    pytest.param({"add": {**ADD, "partitionValues": {"p": 1}}}, id="add.partitionValues-int-value"),
    pytest.param({"add": {**ADD, "partitionValues": "p=1"}}, id="add.partitionValues-str"),
    pytest.param({"add": {**ADD, "stats": {"numRecords": 1}}}, id="add.stats-object"),
    pytest.param({"add": {**ADD, "tags": {"t": 1}}}, id="add.tags-int-value"),
    pytest.param({"add": {**ADD, "deletionVector": "abc"}}, id="add.deletionVector-str"),
    pytest.param({"add": {**ADD, "deletionVector": {"storageType": "u", "pathOrInlineDv": "x", "sizeInBytes": "1", "cardinality": 1}}}, id="add.deletionVector.sizeInBytes-str"),
    pytest.param({"add": {**ADD, "deletionVector": [1]}}, id="add.deletionVector-list"),
    pytest.param({"remove": {"path": "a", "dataChange": 1}}, id="remove.dataChange-int"),
    pytest.param({"metaData": {"id": "x", "schemaString": {"type": "struct"}}}, id="metaData.schemaString-object"),
    pytest.param({"metaData": {"id": "x", "schemaString": "{}", "partitionColumns": "p"}}, id="metaData.partitionColumns-str"),
    pytest.param({"metaData": {"id": "x", "schemaString": "{}", "partitionColumns": [1]}}, id="metaData.partitionColumns-int"),
    pytest.param({"metaData": {"id": "x", "schemaString": "{}", "configuration": {"delta.appendOnly": True}}}, id="metaData.configuration-bool"),
    pytest.param({"metaData": {"id": "x", "schemaString": "{}", "format": "parquet"}}, id="metaData.format-str"),
    pytest.param({"metaData": {"id": "x", "schemaString": "{}", "format": [1]}}, id="metaData.format-list"),
    pytest.param({"metaData": {"id": 1, "schemaString": "{}"}}, id="metaData.id-int"),
    pytest.param({"protocol": {"minReaderVersion": "1", "minWriterVersion": 2}}, id="protocol.minReaderVersion-str"),
    pytest.param({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2, "readerFeatures": "deletionVectors"}}, id="protocol.readerFeatures-str"),
    pytest.param({"txn": {"appId": "a", "version": "1"}}, id="txn.version-str"),
    pytest.param({"domainMetadata": {"domain": "d", "configuration": {}, "removed": False}}, id="domainMetadata.configuration-object"),
    pytest.param({"sidecar": {"path": "s", "sizeInBytes": "1", "modificationTime": 1}}, id="sidecar.sizeInBytes-str"),
]


@pytest.mark.parametrize("row", WRONG_TYPES)
def test_wrong_field_type_is_invalid_log_error(row):
    with pytest.raises(LakehouseError) as exc_info:
        decode_action(row, path=PATH, version=VERSION)
    _assert_invalid(exc_info)


@pytest.mark.parametrize(
    "body",
    [
        {"timestamp": "yesterday", "operation": "WRITE"},
        {"timestamp": 1, "operationParameters": "mode=Append"},
        {"operationParameters": [1], "inCommitTimestamp": 1.5},
        {"operation": {"nested": True}, "engineInfo": None},
    ],
)
def test_commit_info_is_free_form(body):
    # PROTOCOL.md "Commit Provenance Information": implementations may store any valid JSON in commitInfo,
    # so badly typed well-known fields must not make the table unreadable; they are kept in `extra`.
    action = decode_action({"commitInfo": body}, path=PATH, version=VERSION)
    assert isinstance(action, CommitInfo)
    for key, value in body.items():
        if value is None:
            continue
        typed = {"timestamp": action.timestamp, "operation": action.operation,
                 "operationParameters": action.operation_parameters, "inCommitTimestamp": action.in_commit_timestamp}
        assert typed.get(key) == value or action.extra.get(key) == value
    assert orjson.loads(encode_commit([action])) == {"commitInfo": {k: v for k, v in body.items() if v is not None}}


MISSING = [
    ("add", {k: v for k, v in ADD.items() if k != "path"}, "path"),
    ("add", {k: v for k, v in ADD.items() if k != "partitionValues"}, "partitionValues"),
    ("add", {k: v for k, v in ADD.items() if k != "size"}, "size"),
    ("add", {k: v for k, v in ADD.items() if k != "modificationTime"}, "modificationTime"),
    ("add", {k: v for k, v in ADD.items() if k != "dataChange"}, "dataChange"),
    ("add", {**ADD, "deletionVector": {"storageType": "u", "pathOrInlineDv": "x", "sizeInBytes": 1}}, "cardinality"),
    ("remove", {"dataChange": True}, "path"),
    ("remove", {"path": "a"}, "dataChange"),
    ("metaData", {"schemaString": "{}"}, "id"),
    ("metaData", {"id": "x"}, "schemaString"),
    ("protocol", {"minWriterVersion": 2}, "minReaderVersion"),
    ("protocol", {"minReaderVersion": 1}, "minWriterVersion"),
    ("txn", {"version": 1}, "appId"),
    ("txn", {"appId": "a"}, "version"),
    ("cdc", {"path": "c", "partitionValues": {}}, "size"),
    ("domainMetadata", {"domain": "d", "configuration": "{}"}, "removed"),
    ("checkpointMetadata", {}, "version"),
    ("sidecar", {"path": "s", "sizeInBytes": 1}, "modificationTime"),
]


@pytest.mark.parametrize("key,body,field", MISSING, ids=[f"{k}-{f}" for k, _, f in MISSING])
def test_missing_required_field_is_invalid_log_error(key, body, field):
    with pytest.raises(InvalidLogError) as exc_info:
        decode_action({key: body}, path=PATH, version=VERSION)
    _assert_invalid(exc_info)
    assert field in str(exc_info.value)


def test_explicit_null_required_field_is_missing():
    with pytest.raises(InvalidLogError) as exc_info:
        decode_action({"add": {**ADD, "size": None}}, path=PATH, version=VERSION)
    _assert_invalid(exc_info)


@pytest.mark.parametrize(
    "line",
    [b"[1, 2]", b'"add"', b"42", b"null", b"true", b"{}", b'{"add": null}', b'{"add": "x"}', b'{"add": [1]}'],
)
def test_non_object_lines_are_invalid_log_error(line):
    with pytest.raises(InvalidLogError) as exc_info:
        parse_commit_bytes(line + b"\n", path=PATH, version=VERSION)
    _assert_invalid(exc_info)


def test_two_known_actions_on_one_line():
    line = orjson.dumps({"add": ADD, "remove": {"path": "x", "dataChange": True}})
    with pytest.raises(InvalidLogError) as exc_info:
        parse_commit_bytes(line, path=PATH, version=VERSION)
    _assert_invalid(exc_info)
    assert "add" in str(exc_info.value) and "remove" in str(exc_info.value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"add": {"path": "a"',  # truncated
        b'{"commitInfo": {}}\n{"add": ',
        b'{"commitInfo": {"x": "\xff\xfe"}}',  # not UTF-8
        b"\xef\xbb\xbf\x00\x01",
        b'{"commitInfo": {}} trailing',
        b"{'single': 'quotes'}",
        b'{"commitInfo": {"x": NaN}}',
    ],
)
def test_malformed_json_is_invalid_log_error_naming_line(data):
    with pytest.raises(InvalidLogError) as exc_info:
        parse_commit_bytes(data, path=PATH, version=VERSION)
    _assert_invalid(exc_info)
    assert "line" in str(exc_info.value)


def test_error_names_the_failing_line_number():
    data = b'{"commitInfo":{}}\n{"commitInfo":{}}\n{"broken'
    with pytest.raises(InvalidLogError, match="line 3"):
        parse_commit_bytes(data, path=PATH, version=VERSION)


def test_decode_deletion_vector_drops_nulls_and_validates():
    raw = {"storageType": "i", "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L",
           "offset": None, "sizeInBytes": 40, "cardinality": 6, "maxRowIndex": None}
    dv = decode_deletion_vector(raw)
    assert dv.offset is None and dv.max_row_index is None and dv.cardinality == 6
    with pytest.raises(InvalidLogError) as exc_info:
        decode_deletion_vector({"storageType": "i", "sizeInBytes": 1, "cardinality": 1}, path=PATH, version=VERSION)
    _assert_invalid(exc_info)


# --- property test: encode_commit -> parse_commit_bytes is the identity ---------------------------------

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
NN64 = st.integers(min_value=0, max_value=2**63 - 1)
TEXT = st.text(max_size=12)
STRMAP = st.dictionaries(TEXT, st.none() | TEXT, max_size=3)
STRMAP_NN = st.dictionaries(TEXT, TEXT, max_size=3)
JSONISH = st.recursive(
    st.none() | st.booleans() | I64 | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
# Unknown fields: keys that cannot collide with protocol fields, values never null (null means absent).
EXTRA = st.dictionaries(st.text(min_size=1, max_size=6).map(lambda s: "x_" + s), JSONISH.filter(lambda v: v is not None), max_size=2)


def opt(s):
    return st.none() | s


DVS = st.builds(
    DeletionVectorDescriptor,
    storage_type=st.sampled_from(["u", "i", "p"]),
    path_or_inline_dv=TEXT,
    size_in_bytes=NN64,
    cardinality=NN64,
    offset=opt(NN64),
    max_row_index=opt(NN64),
    extra=EXTRA,
)

ADDS = st.builds(
    Add,
    path=TEXT,
    partition_values=STRMAP,
    size=NN64,
    modification_time=I64,
    data_change=st.booleans(),
    stats=opt(TEXT),
    tags=opt(STRMAP),
    deletion_vector=opt(DVS),
    base_row_id=opt(NN64),
    default_row_commit_version=opt(NN64),
    clustering_provider=opt(TEXT),
    extra=EXTRA,
)

REMOVES = st.builds(
    Remove,
    path=TEXT,
    data_change=st.booleans(),
    deletion_timestamp=opt(I64),
    extended_file_metadata=opt(st.booleans()),
    partition_values=opt(STRMAP),
    size=opt(NN64),
    stats=opt(TEXT),
    tags=opt(STRMAP),
    deletion_vector=opt(DVS),
    base_row_id=opt(NN64),
    default_row_commit_version=opt(NN64),
    extra=EXTRA,
)

METADATAS = st.builds(
    Metadata,
    id=TEXT,
    schema_string=TEXT,
    partition_columns=st.lists(TEXT, max_size=3).map(tuple),
    configuration=STRMAP,
    format=st.builds(Format, provider=TEXT, options=STRMAP),
    name=opt(TEXT),
    description=opt(TEXT),
    created_time=opt(I64),
    extra=EXTRA,
)

PROTOCOLS = st.builds(
    Protocol,
    min_reader_version=st.integers(1, 3),
    min_writer_version=st.integers(1, 7),
    reader_features=opt(st.lists(TEXT, max_size=3).map(tuple)),
    writer_features=opt(st.lists(TEXT, max_size=3).map(tuple)),
    extra=EXTRA,
)

TXNS = st.builds(Txn, app_id=TEXT, version=I64, last_updated=opt(I64), extra=EXTRA)
DOMAINS = st.builds(DomainMetadata, domain=TEXT, configuration=TEXT, removed=st.booleans(), extra=EXTRA)

ACTIONS = st.one_of(ADDS, REMOVES, METADATAS, PROTOCOLS, TXNS, DOMAINS)


@settings(max_examples=150, deadline=None)
@given(st.lists(ACTIONS, max_size=8))
def test_encode_then_parse_is_identity(actions):
    data = encode_commit(actions)
    assert data.count(b"\n") == len(actions)
    assert parse_commit_bytes(data, path=PATH, version=VERSION) == actions


@settings(max_examples=60, deadline=None)
@given(ACTIONS)
def test_decode_of_encode_is_identity(action):
    assert decode_action(encode_action(action)) == action


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"path": st.sampled_from(["a.parquet", "p=1/b%20c.parquet"]),
                              "dataChange": st.booleans()},
                             optional={"deletionTimestamp": st.one_of(st.none(), st.integers(0, 2**62)),
                                       "extendedFileMetadata": st.one_of(st.none(), st.booleans()),
                                       "partitionValues": st.one_of(st.none(), st.dictionaries(
                                           st.sampled_from(["a", "b"]), st.one_of(st.none(), st.text(max_size=3)))),
                                       "size": st.one_of(st.none(), st.integers(0, 2**40)),
                                       "stats": st.one_of(st.none(), st.just('{"numRecords":1}')),
                                       "tags": st.one_of(st.none(), st.just({"k": "v"})),
                                       "baseRowId": st.one_of(st.none(), st.integers(0, 9))}))
def test_fast_remove_decodes_as_the_generic_path(value):
    """A remove decoded by the fast path equals the generic decoder's result (tags and row ids fall back)."""
    from lakehouse.protocol.codec import _SPECS, _decode

    cls, spec = _SPECS["remove"]
    assert decode_action({"remove": value}) == _decode(cls, spec, value, "remove")
