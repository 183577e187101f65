"""Creating tables: the first `metaData` and the smallest `protocol` its features need (PROTOCOL.md
"Change Metadata", "Protocol Evolution", "Table Features for New and Existing Tables")."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Mapping, Sequence

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError
from lakehouse.protocol.actions import Format, Metadata, Protocol
from lakehouse.protocol.column_mapping import with_column_mapping
from lakehouse.protocol.features import FEATURES, minimal_protocol
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.schema import ArrayType, MapType, StructType, schema_to_json
from lakehouse.protocol.schema_evolution import check_unique_names, contains_type

_FEATURE_PREFIX = "delta.feature."


def required_features(schema: StructType, configuration: Mapping[str, str]) -> frozenset[str]:
    """Table features that a schema and a set of table properties need."""
    props = TableProperties.parse(configuration)
    needed = set()
    if any(contains_type(f.type, "timestamp_ntz") for f in schema.fields):
        needed.add("timestampNtz")
    if props.enable_deletion_vectors:
        needed.add("deletionVectors")
    if props.enable_change_data_feed:
        needed.add("changeDataFeed")
    if props.append_only:
        needed.add("appendOnly")
    if props.enable_in_commit_timestamps:
        needed.add("inCommitTimestamp")
    if props.checkpoint_policy == "v2":
        needed.add("v2Checkpoint")
    if any(k.startswith("delta.constraints.") for k in configuration):
        needed.add("checkConstraints")
    if props.column_mapping_mode != "none":
        needed.add("columnMapping")
    for key, value in configuration.items():
        if key.startswith(_FEATURE_PREFIX):
            name = key[len(_FEATURE_PREFIX):]
            if name not in FEATURES or (value or "").lower() not in ("supported", "enabled"):
                raise InvalidArgumentError(f"{key}={value!r}: unknown feature or value (use 'supported')")
            needed.add(name)
    return frozenset(needed)


def validate_partition_columns(schema: StructType, partition_by: Sequence[str]) -> list[str]:
    """Partition columns must exist, be distinct, be primitive and not be every column."""
    names = schema.names
    cols = list(partition_by)
    missing = [c for c in cols if c not in names]
    if missing:
        raise SchemaMismatchError(f"partition column(s) {missing} are not in the schema {names}")
    if len(set(cols)) != len(cols):
        raise InvalidArgumentError(f"partition columns {cols} repeat a column")
    if cols and len(cols) == len(names):
        raise InvalidArgumentError("a table cannot be partitioned by every one of its columns")
    for c in cols:
        t = schema.field(c).type
        if isinstance(t, (StructType, ArrayType, MapType)):
            raise SchemaMismatchError(f"partition column '{c}' must have a primitive type")
    return cols


def new_table_actions(schema: StructType, partition_by: Sequence[str], configuration: Mapping[str, str] | None,
                      name: str | None = None, description: str | None = None) -> tuple[Protocol, Metadata]:
    """The protocol and metadata of a new table."""
    config = {k: str(v) for k, v in (configuration or {}).items()}
    if not schema.fields:
        raise SchemaMismatchError("a table needs at least one column")
    check_unique_names(schema)
    cols = validate_partition_columns(schema, partition_by)
    protocol = minimal_protocol(required_features(schema, config))
    # Feature switches are protocol requests, not properties (as in Spark).
    config = {k: v for k, v in config.items() if not k.startswith(_FEATURE_PREFIX)}
    schema, config = with_column_mapping(schema, config)
    metadata = Metadata(
        id=str(uuid.uuid4()),
        schema_string=schema_to_json(schema),
        partition_columns=tuple(cols),
        configuration=config,
        format=Format("parquet", {}),
        name=name,
        description=description,
        created_time=int(time.time() * 1000),
    )
    return protocol, metadata


def with_schema(metadata: Metadata, schema: StructType) -> tuple[Metadata, StructType]:
    """``metadata`` carrying the evolved ``schema``; under column mapping new fields get ids and physical
    names first and `delta.columnMapping.maxColumnId` moves up."""
    mapped, config = with_column_mapping(schema, metadata.configuration)
    return replace(metadata, schema_string=schema_to_json(mapped), configuration=config), mapped
