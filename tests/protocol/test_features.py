"""Unit tests of `lakehouse.protocol.features.check_readable` (PROTOCOL.md "Reader Version Requirements")."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidLogError, UnsupportedFeatureError
from lakehouse.protocol.actions import Protocol
from lakehouse.protocol.features import FEATURES, check_readable, check_writable, reader_features_in_use


@pytest.mark.parametrize("writer", [1, 2, 3, 4, 5, 6, 7])
def test_reader_version_1(writer):
    check_readable(Protocol(1, writer))
    assert reader_features_in_use(Protocol(1, writer)) == frozenset()


def test_reader_version_2_implies_column_mapping():
    check_readable(Protocol(2, 5))
    assert reader_features_in_use(Protocol(2, 5)) == {"columnMapping"}


@pytest.mark.parametrize(
    "features",
    [(), ("deletionVectors",), ("columnMapping", "timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"),
     ("typeWidening",), ("typeWidening-preview",), ("variantType", "deletionVectors"), ("variantType-preview",)],
)
def test_reader_version_3_with_readable_features(features):
    check_readable(Protocol(3, 7, features, features))


def test_variant_type_and_shredding_are_readable_and_writable():
    # The protocol delta-rs 1.x writes for every table created with deletion vectors (issue 18 item 8).
    deltars = Protocol(3, 7, ("variantType", "deletionVectors"), ("deletionVectors", "appendOnly", "variantType", "invariants"))
    check_writable(deltars, frozenset({"variantType", "deletionVectors"}))
    # Shredded variants are rebuilt on read; writes store them unshredded, which the spec allows.
    for name in ("variantShredding", "variantShredding-preview"):
        shredded = Protocol(3, 7, ("variantType", name), ("variantType", name))
        check_readable(shredded)
        check_writable(shredded, frozenset({"variantType", name}))
        assert FEATURES[name].readable and FEATURES[name].writable


def test_writer_only_features_do_not_block_reading():
    check_readable(Protocol(3, 7, (), ("appendOnly", "invariants", "checkConstraints", "rowTracking", "someFutureWriterFeature")))


def test_reader_version_3_without_reader_features_is_invalid():
    with pytest.raises(InvalidLogError):
        check_readable(Protocol(3, 7, None, ("deletionVectors",)))


def test_unknown_reader_feature_is_named():
    with pytest.raises(UnsupportedFeatureError) as exc_info:
        check_readable(Protocol(3, 7, ("deletionVectors", "quantumEntanglement"), ()))
    assert exc_info.value.feature == "quantumEntanglement"
    assert "quantumEntanglement" in str(exc_info.value)


@pytest.mark.parametrize("name", sorted(n for n, f in FEATURES.items() if not f.readable))
def test_unsupported_known_reader_features(name):
    with pytest.raises(UnsupportedFeatureError) as exc_info:
        check_readable(Protocol(3, 7, (name,), (name,)))
    assert exc_info.value.feature == name
    assert name in str(exc_info.value)


@pytest.mark.parametrize("version", [99, 4, 0, -1])
def test_unsupported_reader_version(version):
    with pytest.raises(UnsupportedFeatureError) as exc_info:
        check_readable(Protocol(version, 7, (), ()))
    assert str(version) in str(exc_info.value)
    assert exc_info.value.feature is not None and str(version) in exc_info.value.feature


def test_reader_features_ignored_below_version_3():
    # Legacy reader versions do not consult readerFeatures.
    check_readable(Protocol(1, 2, ("quantumEntanglement",), None))
