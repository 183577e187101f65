"""Table features as a registry of records, and the reader gate (PROTOCOL.md "Table Features",
"Reader Version Requirements", "Valid Feature Names in Table Features").

Each row says whether a feature is a reader+writer or writer-only feature and whether `lakehouse` can
read tables that use it. The gate runs before any data is read: a table whose protocol needs a reader
feature we do not implement fails with `UnsupportedFeatureError` naming that feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lakehouse.errors import InvalidLogError, UnsupportedFeatureError
from lakehouse.protocol.actions import Protocol

MAX_READER_VERSION = 3


@dataclass(frozen=True, slots=True)
class Feature:
    """One table feature: its protocol name, who must know it, and whether we can read it."""

    name: str
    kind: Literal["reader_writer", "writer"]
    readable: bool
    note: str = ""


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("appendOnly", "writer", True),
        Feature("invariants", "writer", True),
        Feature("checkConstraints", "writer", True),
        Feature("changeDataFeed", "writer", True),
        Feature("generatedColumns", "writer", True),
        Feature("allowColumnDefaults", "writer", True),
        Feature("identityColumns", "writer", True),
        Feature("rowTracking", "writer", True),
        Feature("domainMetadata", "writer", True),
        Feature("icebergCompatV1", "writer", True),
        Feature("icebergCompatV2", "writer", True),
        Feature("icebergWriterCompatV1", "writer", True),
        Feature("clustering", "writer", True),
        Feature("inCommitTimestamp", "writer", True),
        Feature("columnMapping", "reader_writer", True, "physical names and field ids mapped to logical names"),
        Feature("deletionVectors", "reader_writer", True, "inline, relative and absolute DVs applied on read"),
        Feature("timestampNtz", "reader_writer", True),
        Feature("v2Checkpoint", "reader_writer", True, "JSON and Parquet v2 checkpoints with sidecars"),
        Feature("vacuumProtocolCheck", "reader_writer", True),
        Feature("typeWidening", "reader_writer", True, "widened columns cast to the table type on read"),
        Feature("typeWidening-preview", "reader_writer", True, "as typeWidening"),
        Feature("variantType", "reader_writer", False, "the variant type is not implemented"),
        Feature("variantType-preview", "reader_writer", False, "the variant type is not implemented"),
        Feature("variantShredding-preview", "reader_writer", False, "the variant type is not implemented"),
        Feature("catalogManaged", "reader_writer", False, "catalog-managed commits need a catalog client"),
        Feature("catalogOwned-preview", "reader_writer", False, "catalog-managed commits need a catalog client"),
        Feature("collations-preview", "reader_writer", False, "collated strings are not implemented"),
    )
}


def reader_features_in_use(protocol: Protocol) -> frozenset[str]:
    """Names of the reader features a protocol requires, including those implied by legacy versions."""
    if protocol.min_reader_version >= 3:
        return frozenset(protocol.reader_features or ())
    if protocol.min_reader_version == 2:
        return frozenset({"columnMapping"})
    return frozenset()


def check_readable(protocol: Protocol) -> None:
    """Refuse a table this reader cannot read correctly; called before any data is read."""
    if protocol.min_reader_version > MAX_READER_VERSION or protocol.min_reader_version < 1:
        raise UnsupportedFeatureError(
            f"the table requires reader version {protocol.min_reader_version}; lakehouse supports reader "
            f"versions 1 to {MAX_READER_VERSION}.\nHelp: read it with a newer engine or upgrade lakehouse.",
            feature=f"readerVersion{protocol.min_reader_version}",
        )
    if protocol.min_reader_version == 3 and protocol.reader_features is None:
        # PROTOCOL.md: with reader version 3, readerFeatures must exist.
        raise InvalidLogError("protocol has minReaderVersion 3 but no readerFeatures")
    for name in sorted(reader_features_in_use(protocol)):
        feature = FEATURES.get(name)
        if feature is None or not feature.readable:
            why = feature.note if feature else "it is not a feature lakehouse knows"
            raise UnsupportedFeatureError(
                f"the table uses reader feature '{name}', which lakehouse does not support ({why}).\n"
                f"Help: read this table with an engine that implements '{name}'.",
                feature=name,
            )
