"""`required_protocol`: the one function that derives the protocol a schema and a configuration need
(issue 18 item 9). Pure unit tests; the end-to-end paths are in tests/operations/test_schema_features.py."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.actions import Protocol
from lakehouse.protocol.features import (
    reader_features_in_use, required_features, required_protocol, writer_features_in_use,
)
from lakehouse.protocol.schema import ArrayType, MapType, PrimitiveType, StructField, StructType

NTZ = PrimitiveType("timestamp_ntz")
LONG = PrimitiveType("long")


def schema(*types) -> StructType:
    return StructType(tuple(StructField(f"c{i}", t) for i, t in enumerate(types)))


@pytest.mark.parametrize("t", [
    NTZ,
    StructType((StructField("x", NTZ),)),
    ArrayType(NTZ, True),
    MapType(PrimitiveType("string"), NTZ, True),
    MapType(NTZ, LONG, True),
    ArrayType(StructType((StructField("m", MapType(PrimitiveType("string"), ArrayType(NTZ, True), True)),)), True),
], ids=["top", "struct", "list", "map-value", "map-key", "deep"])
def test_timestamp_ntz_anywhere_needs_the_feature(t):
    assert "timestampNtz" in required_features(schema(LONG, t), {})
    new = required_protocol(None, schema(LONG, t), {})
    assert new == Protocol(3, 7, ("timestampNtz",), ("timestampNtz",))
    upgraded = required_protocol(Protocol(1, 2), schema(LONG, t), {})
    assert upgraded == Protocol(3, 7, ("timestampNtz",), ("appendOnly", "invariants", "timestampNtz"))


def test_nothing_needed_keeps_the_current_protocol():
    current = Protocol(1, 4)
    assert required_protocol(current, schema(LONG), {"delta.enableChangeDataFeed": "true"}) is current
    assert required_protocol(None, schema(LONG), {}) == Protocol(1, 2)


def test_never_a_downgrade():
    current = Protocol(3, 7, ("deletionVectors",), ("deletionVectors", "domainMetadata"))
    new = required_protocol(current, schema(NTZ), {})
    assert set(new.reader_features) == {"deletionVectors", "timestampNtz"}
    assert set(new.writer_features) == {"deletionVectors", "domainMetadata", "timestampNtz"}


@pytest.mark.parametrize("config, feature", [
    ({"delta.enableDeletionVectors": "true"}, "deletionVectors"),
    ({"delta.enableChangeDataFeed": "true"}, "changeDataFeed"),
    ({"delta.appendOnly": "true"}, "appendOnly"),
    ({"delta.constraints.pos": "c0 > 0"}, "checkConstraints"),
    ({"delta.columnMapping.mode": "name"}, "columnMapping"),
    ({"delta.enableInCommitTimestamps": "true"}, "inCommitTimestamp"),
    ({"delta.checkpointPolicy": "v2"}, "v2Checkpoint"),
    ({"delta.feature.domainMetadata": "supported"}, "domainMetadata"),
])
def test_properties_need_their_features(config, feature):
    assert feature in required_features(schema(LONG), config)
    p = required_protocol(Protocol(1, 1), schema(LONG), config)
    assert feature in writer_features_in_use(p) | reader_features_in_use(p)


def test_invariants_in_column_metadata_and_variant_type():
    with_invariant = StructType((StructField("c", LONG, True, {"delta.invariants": '{"expression": {"expression": "c > 0"}}'}),))
    assert "invariants" in required_features(with_invariant, {})
    assert "variantType" in required_features(schema(ArrayType(PrimitiveType("variant"), True)), {})


def test_preview_features_count_as_supported():
    current = Protocol(3, 7, ("typeWidening-preview",), ("typeWidening-preview",))
    assert required_protocol(current, schema(LONG), {"delta.enableTypeWidening": "true"}) is current


def test_explicit_features_are_added():
    p = required_protocol(Protocol(1, 2), schema(LONG), {}, frozenset({"deletionVectors"}))
    assert p.reader_features == ("deletionVectors",)


def test_unknown_feature_request_is_refused():
    with pytest.raises(InvalidArgumentError):
        required_features(schema(LONG), {"delta.feature.noSuchFeature": "supported"})
