"""Table features as a registry of records, the reader and writer gates, and the smallest protocol a
new table needs (PROTOCOL.md "Table Features", "Reader Version Requirements", "Writer Version
Requirements", "Valid Feature Names in Table Features").

Each row says whether a feature is a reader+writer or writer-only feature, whether `lakehouse` can read
tables that use it, and whether it can write them. The reader gate runs before any data is read; the
writer gate before anything is written. Both name the feature they refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from lakehouse.errors import InvalidArgumentError, InvalidLogError, UnsupportedFeatureError
from lakehouse.protocol.actions import Metadata, Protocol
from lakehouse.protocol.generated import features_declared
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol.schema import PrimitiveType, StructType, parse_schema, walk_types

MAX_READER_VERSION = 3
MAX_WRITER_VERSION = 7


@dataclass(frozen=True, slots=True)
class Feature:
    """One table feature: its protocol name, who must know it, and whether we can read/write it.

    ``writable`` is False when `lakehouse` cannot yet honour the feature's writer requirements; such a
    table is refused for writes only when the feature is *active* (see `active_writer_features`).
    """

    name: str
    kind: Literal["reader_writer", "writer"]
    readable: bool
    note: str = ""
    writable: bool = False
    write_note: str = ""


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("appendOnly", "writer", True, writable=True, write_note="removing data is refused"),
        Feature("invariants", "writer", True, writable=True, write_note="enforced on written rows"),
        Feature("checkConstraints", "writer", True, writable=True, write_note="enforced on written rows"),
        Feature("changeDataFeed", "writer", True, writable=True,
                write_note="DML writes row-level change data; a replaceWhere on data columns is refused"),
        Feature("generatedColumns", "writer", True, writable=True,
                write_note="computed when absent, checked when present, on every write path"),
        Feature("allowColumnDefaults", "writer", True, writable=True,
                write_note="CURRENT_DEFAULT filled for absent columns on insert"),
        Feature("identityColumns", "writer", True, writable=True,
                write_note="values assigned after delta.identity.highWaterMark, advanced in the same commit"),
        Feature("rowTracking", "writer", True, writable=True,
                write_note="row ids and commit versions assigned; kept through DML and OPTIMIZE when enabled"),
        Feature("domainMetadata", "writer", True, writable=True, write_note="preserved unchanged"),
        Feature("icebergCompatV1", "writer", True, write_note="Iceberg compatibility rules are not enforced"),
        Feature("icebergCompatV2", "writer", True, write_note="Iceberg compatibility rules are not enforced"),
        Feature("icebergWriterCompatV1", "writer", True, write_note="Iceberg compatibility rules are not enforced"),
        Feature("clustering", "writer", True, writable=True,
                write_note="delta.clustering domain kept; OPTIMIZE clusters unclustered files (spec/clustering.md)"),
        # Databricks' preview name for clustering (domain `delta.liquid`, another JSON shape), found in
        # delta-rs's test table: its rules were never published, so writes are refused.
        Feature("liquid", "writer", True, write_note="'liquid' is Databricks' unpublished preview of "
                "clustering; its domain and rules are not in PROTOCOL.md (spec/clustering.md)"),
        Feature("inCommitTimestamp", "writer", True, writable=True),
        Feature("columnMapping", "reader_writer", True, "physical names and field ids mapped to logical names",
                writable=True, write_note="physical names and field ids written; new fields get new ids"),
        Feature("deletionVectors", "reader_writer", True, "inline, relative and absolute DVs applied on read",
                writable=True, write_note="files with DVs are removed with their descriptors"),
        Feature("timestampNtz", "reader_writer", True, writable=True),
        Feature("v2Checkpoint", "reader_writer", True, "JSON and Parquet v2 checkpoints with sidecars", writable=True),
        Feature("vacuumProtocolCheck", "reader_writer", True, writable=True),
        Feature("typeWidening", "reader_writer", True, "widened columns cast to the table type on read", writable=True),
        Feature("typeWidening-preview", "reader_writer", True, "as typeWidening", writable=True),
        Feature("variantType", "reader_writer", True, "unshredded variants read as struct<metadata, value>",
                writable=True, write_note="variant values written back unchanged, never created from Arrow"),
        Feature("variantType-preview", "reader_writer", True, "as variantType", writable=True),
        Feature("variantShredding", "reader_writer", True, "shredded variants rebuilt as struct<metadata, value>",
                writable=True, write_note="variants written unshredded, which the spec allows (spec/features.md)"),
        Feature("variantShredding-preview", "reader_writer", True, "as variantShredding", writable=True,
                write_note="as variantShredding"),
        Feature("catalogManaged", "reader_writer", False, "catalog-managed commits need a catalog client"),
        Feature("catalogOwned-preview", "reader_writer", False, "catalog-managed commits need a catalog client"),
        Feature("collations-preview", "reader_writer", False, "collated strings are not implemented"),
    )
}

# Features implied by legacy writer versions (PROTOCOL.md "Writer Version Requirements").
_LEGACY_WRITER = {
    2: ("appendOnly", "invariants"),
    3: ("appendOnly", "invariants", "checkConstraints"),
    4: ("appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns"),
    5: ("appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping"),
    6: ("appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping",
        "identityColumns"),
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


def writer_features_in_use(protocol: Protocol) -> frozenset[str]:
    """Names of the writer features a protocol lists or implies by its legacy writer version."""
    if protocol.min_writer_version >= 7:
        return frozenset(protocol.writer_features or ())
    return frozenset(_LEGACY_WRITER.get(protocol.min_writer_version, ()))


def check_writable(protocol: Protocol, active: frozenset[str]) -> None:
    """Refuse to write a table whose protocol needs a writer feature we cannot honour.

    ``active`` names the features the table's metadata actually uses (a supported but inactive feature,
    such as generatedColumns on a table with no generated column, places no requirement on a write).
    """
    check_readable(protocol)
    if protocol.min_writer_version > MAX_WRITER_VERSION:
        raise UnsupportedFeatureError(
            f"the table requires writer version {protocol.min_writer_version}; lakehouse writes versions up to "
            f"{MAX_WRITER_VERSION}.", feature=f"writerVersion{protocol.min_writer_version}",
        )
    if protocol.min_writer_version == 7 and protocol.writer_features is None:
        raise InvalidLogError("protocol has minWriterVersion 7 but no writerFeatures")
    for name in sorted(writer_features_in_use(protocol) | reader_features_in_use(protocol)):
        feature = FEATURES.get(name)
        if feature is None:
            raise UnsupportedFeatureError(
                f"the table uses writer feature '{name}', which lakehouse does not know; writing could break it.\n"
                "Help: write this table with an engine that implements it.", feature=name,
            )
        if not feature.writable and name in active:
            raise UnsupportedFeatureError(
                f"the table uses feature '{name}', which lakehouse cannot write yet ({feature.write_note}).\n"
                f"Help: write this table with an engine that implements '{name}'.", feature=name,
            )


#: Features that need another (PROTOCOL.md "Clustered Table", "Row Tracking": both need `domainMetadata`).
_DEPENDS_ON = {"clustering": ("domainMetadata",), "rowTracking": ("domainMetadata",)}


def with_dependencies(features: frozenset[str]) -> frozenset[str]:
    """``features`` plus every feature one of them requires."""
    return features.union(*(_DEPENDS_ON.get(f, ()) for f in features))


def minimal_protocol(features: frozenset[str]) -> Protocol:
    """The smallest protocol that supports ``features`` and the features they depend on (PROTOCOL.md
    "Table Features for New and Existing Tables"): legacy versions where they suffice, table features
    otherwise."""
    features = with_dependencies(features)
    for version, implied in sorted(_LEGACY_WRITER.items()):
        if version >= 5:
            break
        if features <= set(implied):
            return Protocol(1, version if features else 2)
    readers = sorted(f for f in features if FEATURES[f].kind == "reader_writer")
    writers = sorted(features)
    if readers:
        return Protocol(3, 7, tuple(readers), tuple(writers))
    return Protocol(1, 7, None, tuple(writers))


def _field_metadata_keys(schema: StructType) -> set[str]:
    return {key for field, _ in walk_types(schema) if field is not None for key in field.metadata}


def active_features(protocol: Protocol, metadata: Metadata) -> frozenset[str]:
    """Supported features whose metadata requirements are met (PROTOCOL.md "Active Features").

    Features without a metadata switch count as active whenever they are supported (conservative: a
    writer that cannot honour them must not write).
    """
    conf = metadata.configuration
    keys = _field_metadata_keys(parse_schema(metadata.schema_string))

    def on(key: str) -> bool:
        return (conf.get(key) or "").lower() == "true"

    switches = {
        "appendOnly": on("delta.appendOnly"),
        "invariants": "delta.invariants" in keys,
        "checkConstraints": any(k.startswith("delta.constraints.") for k in conf),
        "changeDataFeed": on("delta.enableChangeDataFeed"),
        "generatedColumns": "delta.generationExpression" in keys,
        "allowColumnDefaults": "CURRENT_DEFAULT" in keys,
        "identityColumns": any(k.startswith("delta.identity.") for k in keys),
        "columnMapping": (conf.get("delta.columnMapping.mode") or "none").lower() != "none",
        "icebergCompatV1": on("delta.enableIcebergCompatV1"),
        "icebergCompatV2": on("delta.enableIcebergCompatV2"),
        "icebergWriterCompatV1": on("delta.enableIcebergWriterCompatV1"),
    }
    supported = writer_features_in_use(protocol) | reader_features_in_use(protocol)
    return frozenset(f for f in supported if switches.get(f, True))


def upgraded_protocol(current: Protocol, needed: frozenset[str]) -> Protocol | None:
    """The protocol after adding ``needed`` features to ``current`` (None when it supports them all).

    Never a downgrade: features the current protocol lists or implies stay supported, and a legacy
    protocol that cannot express the new set moves to table features listing all of them (as Spark does).
    """
    have = writer_features_in_use(current) | reader_features_in_use(current)
    unknown = sorted(n for n in needed if n not in FEATURES)
    if unknown:
        raise UnsupportedFeatureError(f"unknown table feature(s) {unknown}", feature=unknown[0])
    needed = with_dependencies(needed)
    if needed <= have:
        return None
    target = minimal_protocol(frozenset(have | needed))
    if target.min_writer_version < 7 and (target.min_reader_version < current.min_reader_version
                                          or target.min_writer_version < current.min_writer_version):
        target = Protocol(max(target.min_reader_version, current.min_reader_version),
                          max(target.min_writer_version, current.min_writer_version))
    return target


def column_mapping_mode(protocol: Protocol, properties: "TableProperties") -> ColumnMappingMode:
    """The column mapping mode in force: ``none``, ``name`` or ``id``.

    The `delta.columnMapping.mode` property is honoured only when the protocol supports column mapping
    (reader version 2, writer version 5/6, or `columnMapping` among the table features). Spark counts a
    feature as supported when either feature list names it, and writers such as Spark's
    icebergCompatV1 list it only among writer features, so both lists are consulted.
    """
    supported = (
        "columnMapping" in reader_features_in_use(protocol)
        or "columnMapping" in (protocol.writer_features or ())
        or (protocol.min_writer_version in (5, 6) and protocol.min_reader_version >= 2)
    )
    return properties.column_mapping_mode if supported else "none"


# -- the protocol a schema and a configuration need ------------------------------------------------------------
_FEATURE_PREFIX = "delta.feature."
#: Column types that need a table feature wherever they appear, nested ones included (PROTOCOL.md
#: "Timestamp without timezone (TimestampNtz)", "Variant Data Type").
_TYPE_FEATURES = {"timestamp_ntz": "timestampNtz", "variant": "variantType"}
#: A preview feature the protocol may already list, which honours the same requirements.
_PREVIEW_OF = {"typeWidening": "typeWidening-preview", "variantType": "variantType-preview"}


def _schema_needs(schema: StructType) -> set[str]:
    """Features the column types and column metadata of ``schema`` need, at any depth."""
    needed: set[str] = set()
    for field, t in walk_types(schema):
        if field is not None and "delta.invariants" in field.metadata:
            needed.add("invariants")
        if isinstance(t, PrimitiveType) and t.name in _TYPE_FEATURES:
            needed.add(_TYPE_FEATURES[t.name])
    return needed | features_declared(schema)


def required_features(schema: StructType, configuration: Mapping[str, str]) -> frozenset[str]:
    """Every table feature a schema and a set of table properties need: column types (timestamp_ntz,
    variant, nested too), column metadata (invariants), property switches (deletion vectors, change
    data feed, append-only, CHECK constraints, column mapping, in-commit timestamps, v2 checkpoints,
    type widening) and explicit `delta.feature.<name>=supported` requests."""
    props = TableProperties.parse(configuration)
    needed = _schema_needs(schema)
    switches = {
        "deletionVectors": props.enable_deletion_vectors,
        "changeDataFeed": props.enable_change_data_feed,
        "appendOnly": props.append_only,
        "inCommitTimestamp": props.enable_in_commit_timestamps,
        "v2Checkpoint": props.checkpoint_policy == "v2",
        "typeWidening": props.enable_type_widening,
        "checkConstraints": any(k.startswith("delta.constraints.") for k in configuration),
        "columnMapping": props.column_mapping_mode != "none",
        "rowTracking": props.enable_row_tracking,
    }
    needed |= {name for name, on in switches.items() if on}
    for key, value in configuration.items():
        if key.startswith(_FEATURE_PREFIX):
            name = key[len(_FEATURE_PREFIX):]
            if name not in FEATURES or (value or "").lower() not in ("supported", "enabled"):
                raise InvalidArgumentError(f"{key}={value!r}: unknown feature or value (use 'supported')")
            needed.add(name)
    return frozenset(needed)


def required_protocol(current: Protocol | None, schema: StructType, configuration: Mapping[str, str],
                      extra: frozenset[str] = frozenset()) -> Protocol:
    """The protocol a table needs once its schema and configuration are ``schema`` and
    ``configuration`` (plus the explicitly requested ``extra`` features): the smallest one for a new
    table (``current`` None), else ``current`` itself or an upgrade of it, never a downgrade.

    The single source of truth for every path that sets or changes a schema or configuration (create,
    write_delta overwrite/merge, MERGE schema evolution, `dt.alter` (set_table_properties, add_feature, columns), convert,
    restore), so that no path records, say, a timestamp_ntz column without `timestampNtz`.
    """
    needed = required_features(schema, configuration) | extra
    if current is None:
        return minimal_protocol(frozenset(needed))
    have = writer_features_in_use(current) | reader_features_in_use(current)
    needed = frozenset(n for n in needed if _PREVIEW_OF.get(n) not in have)
    return upgraded_protocol(current, needed) or current


# -- operations that write row values on tables with computed columns --------------------------------------------
#: Which computed-column features an operation that adds rows must honour (write/columns.py
#: `complete_rows`): an UPDATE must recompute generated columns and may not set identity values, a MERGE
#: inserts rows (identity, defaults) and updates them, a WRITE inserts.
_COMPLETION_NEEDED = {
    "WRITE": ("generatedColumns", "identityColumns", "allowColumnDefaults"),
    "MERGE": ("generatedColumns", "identityColumns", "allowColumnDefaults"),
    "UPDATE": ("generatedColumns", "identityColumns"),
}


def check_rows_completed(operation: str, active: frozenset[str], completed: bool) -> None:
    """Refuse a commit of new rows by ``operation`` on a table with active generated, identity or
    default columns when the operation did not complete its rows (`complete_rows`): its values could
    break the column declarations silently. Operations that only carry rows over unchanged (DELETE,
    OPTIMIZE, RESTORE) need nothing."""
    if completed:
        return
    for name in _COMPLETION_NEEDED.get(operation, ()):
        if name in active:
            raise UnsupportedFeatureError(
                f"{operation} on a table with active feature '{name}' does not compute its generated, identity "
                "or default columns yet in this code path, so it was refused; nothing was committed.\n"
                "Help: write with write_delta (append/overwrite), which completes these columns.", feature=name)
