"""Creating tables: the first `metaData` and the smallest `protocol` its features need (PROTOCOL.md
"Change Metadata", "Protocol Evolution", "Table Features for New and Existing Tables")."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Mapping, Sequence

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol.actions import Format, Metadata, Protocol
from lakehouse.protocol.column_mapping import with_column_mapping
from lakehouse.protocol.features import FEATURES, reader_features_in_use, required_protocol, writer_features_in_use
from lakehouse.protocol.properties import (
    PROTOCOL_KEYS, field_metadata_feature, validate_new_properties,
)
from lakehouse.protocol.schema import ArrayType, DataType, MapType, StructType, parse_schema, schema_to_json
from lakehouse.protocol.schema_evolution import check_unique_names

_FEATURE_PREFIX = "delta.feature."


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


def requested_versions(config: Mapping[str, str]) -> tuple[int | None, int | None]:
    """`delta.minReaderVersion` / `delta.minWriterVersion` of a validated configuration (None when absent)."""
    reader, writer = (config.get(k) for k in PROTOCOL_KEYS)
    return (int(reader) if reader else None), (int(writer) if writer else None)


def with_versions(protocol: Protocol, reader: int | None, writer: int | None) -> Protocol:
    """``protocol`` raised to at least the requested versions (never lowered), as Spark treats
    `delta.minReaderVersion` / `delta.minWriterVersion`: moving to writer version 7 lists the features the
    old versions implied, so nothing that was supported stops being so."""
    r = max(protocol.min_reader_version, reader or 1)
    w = max(protocol.min_writer_version, writer or 1)
    if (r, w) == (protocol.min_reader_version, protocol.min_writer_version):
        return protocol
    if r >= 3 and w < 7:
        raise InvalidArgumentError(f"reader version {r} needs writer version 7 (table features), got {w}.\n"
                                   "Help: also set delta.minWriterVersion=7.")
    if w < 7:
        return Protocol(r, w)
    writers = sorted(writer_features_in_use(protocol) | reader_features_in_use(protocol))
    readers = tuple(f for f in writers if FEATURES[f].kind == "reader_writer") if r >= 3 else None
    return Protocol(r, 7, readers, tuple(writers))


def check_field_metadata(schema: StructType, old: StructType | None = None) -> None:
    """Refuse column metadata that belongs to a writer feature `lakehouse` cannot write yet (generated
    columns, identity columns, column defaults) when it is new, i.e. not already on the same column of
    ``old``: recording it would claim the feature without honouring it."""

    def walk(t: DataType, before: DataType | None, path: str) -> None:
        if isinstance(t, StructType):
            olds = {f.name: f for f in before.fields} if isinstance(before, StructType) else {}
            for f in t.fields:
                prior = olds.get(f.name)
                for key in f.metadata:
                    feature = field_metadata_feature(key)
                    if feature and (prior is None or key not in prior.metadata):
                        raise UnsupportedFeatureError(
                            f"column '{path}{f.name}' has metadata {key!r}, which needs table feature '{feature}'; "
                            "lakehouse cannot write that feature yet, so the column was not recorded.\n"
                            f"Help: drop {key!r} from the field metadata, or create the column with an engine that "
                            f"implements '{feature}'.", feature=feature)
                walk(f.type, prior.type if prior is not None else None, f"{path}{f.name}.")
        elif isinstance(t, ArrayType):
            walk(t.element_type, before.element_type if isinstance(before, ArrayType) else None, f"{path}element.")
        elif isinstance(t, MapType):
            walk(t.key_type, before.key_type if isinstance(before, MapType) else None, f"{path}key.")
            walk(t.value_type, before.value_type if isinstance(before, MapType) else None, f"{path}value.")

    walk(schema, old, "")


def new_table_actions(schema: StructType, partition_by: Sequence[str], configuration: Mapping[str, str] | None,
                      name: str | None = None, description: str | None = None) -> tuple[Protocol, Metadata]:
    """The protocol and metadata of a new table (``configuration`` is validated as newly set properties)."""
    if configuration is not None and not isinstance(configuration, Mapping):
        raise InvalidArgumentError(f"configuration must be a mapping of property name to value, got "
                                   f"{type(configuration).__name__}")
    config = validate_new_properties(configuration or {})
    if not schema.fields:
        raise SchemaMismatchError("a table needs at least one column")
    check_unique_names(schema)
    check_field_metadata(schema)
    cols = validate_partition_columns(schema, partition_by)
    protocol = with_versions(required_protocol(None, schema, config), *requested_versions(config))
    # Feature switches and protocol versions are protocol requests, not properties (as in Spark).
    config = {k: v for k, v in config.items() if not k.startswith(_FEATURE_PREFIX) and k not in PROTOCOL_KEYS}
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
    names first and `delta.columnMapping.maxColumnId` moves up. New column metadata of a feature
    `lakehouse` cannot write is refused (see `check_field_metadata`)."""
    check_field_metadata(schema, parse_schema(metadata.schema_string))
    mapped, config = with_column_mapping(schema, metadata.configuration)
    return replace(metadata, schema_string=schema_to_json(mapped), configuration=config), mapped
