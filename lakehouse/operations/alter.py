"""Table management that changes metadata or protocol only (no data files): table properties, CHECK
constraints, table features and columns (PROTOCOL.md "Change Metadata", "Protocol Evolution",
"CHECK Constraints", "Column Mapping").

Each function takes the latest snapshot, validates, and commits one `metaData` (and, when a feature is
newly needed, `protocol`) action with Spark's operation name. A metadata change conflicts with every
concurrent commit that changed metadata or protocol; ADD CONSTRAINT also reads the whole table (its
check of existing rows would be invalidated by a concurrent write).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from lakehouse.errors import ConstraintViolationError, InvalidArgumentError, InvalidLogError, SchemaMismatchError
from lakehouse.operations.create import check_field_metadata, requested_versions, with_versions
from lakehouse.protocol.column_mapping import MODE, assign_column_mapping, strip_column_mapping, with_column_mapping
from lakehouse.protocol.expr import Not, columns, parse_sql
from lakehouse.protocol.features import active_features, check_writable, required_protocol, upgraded_protocol
from lakehouse.protocol.properties import PROTOCOL_KEYS, TableProperties, lookup, validate_new_properties
from lakehouse.protocol.schema import StructField, StructType, from_arrow_field, schema_to_json
from lakehouse.protocol.schema_evolution import check_unique_names
from lakehouse.scan import Scan
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, Transaction, already_applied, check_commit_safety
from lakehouse.write.constraints import CONSTRAINT_PREFIX

_FEATURE_PREFIX = "delta.feature."
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AlterResult:
    """The outcome of a table-management call (`DeltaTable.alter.*`): ``version`` is the commit it made,
    None when nothing was committed (already so, or a replay of an applied app transaction)."""

    version: int | None


def _commit(snapshot: Snapshot, operation: str, params: Mapping[str, Any], *, configuration: Mapping[str, str] | None = None,
            schema: StructType | None = None, partition_columns: Sequence[str] | None = None,
            extra_features: frozenset[str] = frozenset(), read_whole_table: bool = False,
            versions: tuple[int | None, int | None] = (None, None),
            commit_properties: CommitProperties | None = None, names: Mapping[str, str | None] | None = None) -> int:
    """Commit new metadata (and the protocol it needs, raised to ``versions`` = requested (reader, writer)
    versions; with ``names``: a new ``name`` and/or ``description``); returns the version."""
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    config = dict(snapshot.metadata.configuration if configuration is None else configuration)
    new_schema = schema if schema is not None else snapshot.schema
    metadata = replace(snapshot.metadata, configuration=config, schema_string=schema_to_json(new_schema),
                       partition_columns=tuple(partition_columns if partition_columns is not None
                                               else snapshot.metadata.partition_columns))
    if names:
        metadata = replace(metadata, name=names.get("name", metadata.name),
                           description=names.get("description", metadata.description))
    try:
        TableProperties.parse(config)
        required = required_protocol(snapshot.protocol, new_schema, config, extra_features)
    except InvalidLogError as e:
        raise InvalidArgumentError(str(e)) from None
    protocol = None if required == snapshot.protocol else required
    if versions != (None, None):
        raised = with_versions(protocol or snapshot.protocol, *versions)
        protocol = None if raised == snapshot.protocol else raised
    # A whole-table read must see concurrent blind appends too (a new row may break a new constraint):
    # Serializable, since WriteSerializable lets blind appends pass.
    txn = Transaction(snapshot.storage, snapshot, operation=operation, parameters=params, properties=commit_properties,
                      isolation="Serializable" if read_whole_table else "WriteSerializable")
    if read_whole_table:
        txn.read_whole_table()
    if protocol is not None:
        txn.update_protocol(protocol)
    txn.update_metadata(metadata)
    return txn.commit().version


# -- properties and features -------------------------------------------------------------------------------
def set_properties(snapshot: Snapshot, properties: Mapping[str, str | None], *, raise_if_not_exists: bool = True,
                   commit_properties: CommitProperties | None = None) -> int | None:
    """Set (value) or unset (None) table properties. `delta.feature.<name>=supported` adds a table
    feature; `delta.columnMapping.mode` may go from none to name (existing columns keep their names as
    physical names, so no file is rewritten)."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if not isinstance(properties, Mapping) or not properties:
        raise InvalidArgumentError("properties must be a non-empty mapping of property name to value (None unsets)")
    config = dict(snapshot.metadata.configuration)
    features: set[str] = set()
    schema = snapshot.schema
    for key, value in properties.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"property names must be non-empty strings, got {key!r}")
        if key.lower().startswith(_FEATURE_PREFIX):
            if value is None or str(value).lower() not in ("supported", "enabled"):
                raise InvalidArgumentError(f"{key} takes 'supported' (features cannot be removed), got {value!r}")
            features.add(key[len(_FEATURE_PREFIX):])
        elif key.lower().startswith(CONSTRAINT_PREFIX):
            raise InvalidArgumentError(f"{key}: use alter.add_constraint/drop_constraint, which check existing rows")
        elif value is None:
            spec = lookup(key)
            name = spec.key if spec is not None and key not in config else key
            if name not in config and raise_if_not_exists:
                raise InvalidArgumentError(f"table property {key!r} is not set; nothing to unset")
            config.pop(name, None)
    # Only the keys set here are validated: keys another engine wrote stay as they are.
    sets = validate_new_properties({k: v for k, v in properties.items()
                                    if v is not None and not k.lower().startswith(_FEATURE_PREFIX)},
                                   existing=snapshot.metadata.configuration)
    versions = requested_versions(sets)
    config.update({k: v for k, v in sets.items() if k not in PROTOCOL_KEYS})
    schema, config = _column_mapping_change(snapshot, schema, config)
    unsets_only = all(v is None for v in properties.values())
    op = "UNSET TBLPROPERTIES" if unsets_only else "SET TBLPROPERTIES"
    params: dict[str, Any] = ({"properties": sorted(properties), "ifExists": not raise_if_not_exists} if unsets_only
                              else {"properties": {k: v for k, v in properties.items() if v is not None}})
    return _commit(snapshot, op, params, configuration=config, schema=schema, extra_features=frozenset(features),
                   versions=versions, commit_properties=commit_properties)


def _column_mapping_change(snapshot: Snapshot, schema: StructType, config: dict[str, str]) -> tuple[StructType, dict[str, str]]:
    old = snapshot.properties.column_mapping_mode
    new = (config.get(MODE) or "none").lower()
    if new == old:
        return schema, config
    if old == "none" and new == "name":
        mapped, top = assign_column_mapping(schema, config, keep_names=True)
        config["delta.columnMapping.maxColumnId"] = str(top)
        return mapped, config
    raise InvalidArgumentError(
        f"delta.columnMapping.mode cannot change from {old!r} to {new!r}; only none -> name is supported "
        "(other changes need every data file rewritten)")


def add_features(snapshot: Snapshot, features: Sequence[str], *, allow_protocol_versions_increase: bool = True,
                 commit_properties: CommitProperties | None = None) -> int | None:
    """Add table features to the protocol (the table moves to table-features versions if needed, which
    ``allow_protocol_versions_increase=False`` refuses, as delta-rs does); returns None when the protocol
    already supports them all."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if isinstance(features, str):
        features = [features]
    bad = [f for f in features if not isinstance(f, str) or not f]
    if bad:
        raise InvalidArgumentError(f"table features are named by their protocol names (e.g. 'deletionVectors'), "
                                   f"got {bad[0]!r}")
    wanted = frozenset(features)
    if not wanted:
        raise InvalidArgumentError("name at least one table feature")
    target = upgraded_protocol(snapshot.protocol, wanted)
    if target is None:
        return None
    old = snapshot.protocol
    if not allow_protocol_versions_increase and (target.min_reader_version > old.min_reader_version
                                                 or target.min_writer_version > old.min_writer_version):
        raise InvalidArgumentError(
            f"adding {sorted(wanted)} needs protocol ({target.min_reader_version}, {target.min_writer_version}); "
            f"the table is at ({old.min_reader_version}, {old.min_writer_version}).\n"
            "Help: pass allow_protocol_versions_increase=True to raise the protocol versions.")
    return set_properties(snapshot, {f"{_FEATURE_PREFIX}{f}": "supported" for f in sorted(wanted)},
                          commit_properties=commit_properties)


# -- constraints ----------------------------------------------------------------------------------------------
def add_constraint(snapshot: Snapshot, name: str, expression: str, *,
                   commit_properties: CommitProperties | None = None) -> int | None:
    """Add a CHECK constraint after checking that every existing row satisfies it (NULL passes, as in SQL)."""
    return add_constraints(snapshot, {name: expression}, commit_properties=commit_properties)


def add_constraints(snapshot: Snapshot, constraints: Mapping[str, str], *,
                    commit_properties: CommitProperties | None = None) -> int | None:
    """Add CHECK constraints ({name: SQL}) in one commit after checking that every existing row satisfies
    each (NULL passes, as in SQL); none is added when one fails."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if not isinstance(constraints, Mapping) or not constraints:
        raise InvalidArgumentError("constraints must be a non-empty mapping of constraint name to SQL expression")
    config = dict(snapshot.metadata.configuration)
    added: list[dict[str, str]] = []
    for name, expression in constraints.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidArgumentError(f"constraint name must be an identifier (letters, digits, _), got {name!r}")
        key = CONSTRAINT_PREFIX + name.lower()
        if key in config:
            raise InvalidArgumentError(f"constraint {name.lower()!r} already exists: {config[key]}")
        if not isinstance(expression, str) or not expression.strip():
            raise InvalidArgumentError(f"constraint {name!r}: the expression must be a non-empty SQL string")
        expr = parse_sql(expression)
        unknown = sorted(c for c in columns(expr) if c not in snapshot.schema.names)
        if unknown:
            raise InvalidArgumentError(
                f"constraint {name!r} uses unknown column(s) {unknown}; the table has {snapshot.schema.names}")
        bad = Scan(snapshot, filter=Not(expr)).to_arrow()
        if bad.num_rows:
            raise ConstraintViolationError(
                f"{bad.num_rows} existing row(s) violate CHECK ({expression}), e.g. "
                f"{bad.slice(0, 1).to_pylist()[0]}; the constraint was not added.")
        config[key] = expression
        added.append({"name": name.lower(), "expr": expression})
    # One constraint: Spark's parameters; several in one commit: delta-rs's list.
    params: dict[str, Any] = added[0] if len(added) == 1 else {"constraints": json.dumps(added)}
    return _commit(snapshot, "ADD CONSTRAINT", params, configuration=config,
                   read_whole_table=True, commit_properties=commit_properties)


def drop_constraint(snapshot: Snapshot, name: str, *, raise_if_not_exists: bool = True,
                    commit_properties: CommitProperties | None = None) -> int | None:
    """Drop a CHECK constraint; None when it did not exist and ``raise_if_not_exists`` is False."""
    return drop_constraints(snapshot, [name], raise_if_not_exists=raise_if_not_exists,
                            commit_properties=commit_properties)


def drop_constraints(snapshot: Snapshot, names: Sequence[str], *, raise_if_not_exists: bool = True,
                     commit_properties: CommitProperties | None = None) -> int | None:
    """Drop CHECK constraints in one commit. A name that does not exist raises before anything is
    committed (unless ``raise_if_not_exists`` is False: it is skipped); None when none was dropped."""
    if isinstance(names, str) or not names:
        raise InvalidArgumentError(f"drop_constraints takes a non-empty list of constraint names, got {names!r}")
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    config = dict(snapshot.metadata.configuration)
    dropped: list[dict[str, str]] = []
    for name in names:
        key = CONSTRAINT_PREFIX + str(name).lower()
        if key not in config:
            if raise_if_not_exists and not any(d["name"] == str(name).lower() for d in dropped):
                raise InvalidArgumentError(f"constraint {name!r} does not exist (nothing was dropped)")
            continue
        dropped.append({"name": str(name).lower(), "expr": config.pop(key)})
    if not dropped:
        return None
    # One constraint: Spark's parameters; several in one commit: a list, as ADD CONSTRAINT records them.
    params: dict[str, Any] = dropped[0] if len(dropped) == 1 else {"constraints": json.dumps(dropped)}
    return _commit(snapshot, "DROP CONSTRAINT", params, configuration=config, commit_properties=commit_properties)


def set_table_metadata(snapshot: Snapshot, *, name: str | None = None, description: str | None = None,
                       commit_properties: CommitProperties | None = None) -> int | None:
    """Set the table's name and/or description (operation ``UPDATE TABLE METADATA``, as delta-rs
    records it); None when both already have these values."""
    changes = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    for key, value in changes.items():
        if not isinstance(value, str):
            raise InvalidArgumentError(f"table {key} must be a string, got {type(value).__name__}")
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if all(getattr(snapshot.metadata, k) == v for k, v in changes.items()):
        return None
    update = json.dumps({"name": changes.get("name"), "description": changes.get("description")})
    return _commit(snapshot, "UPDATE TABLE METADATA", {"metadataUpdate": update}, names=changes,
                   commit_properties=commit_properties)


# -- columns ----------------------------------------------------------------------------------------------------
def add_columns(snapshot: Snapshot, fields: Sequence[Any], *, commit_properties: CommitProperties | None = None) -> int | None:
    """Append nullable columns (pyarrow fields or `StructField`s); existing files read them as null."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if not fields:
        raise InvalidArgumentError("add_columns needs at least one field")
    new = []
    for f in fields:
        sf = f if isinstance(f, StructField) else from_arrow_field(f)
        if not sf.nullable:
            raise SchemaMismatchError(f"added column {sf.name!r} must be nullable: existing rows have no value for it")
        # Ids and physical names copied from another table's schema would collide with this table's.
        new.append(strip_column_mapping(StructField(sf.name, sf.type, True, sf.metadata)))
    schema = StructType(snapshot.schema.fields + tuple(new))
    check_unique_names(schema)
    check_field_metadata(schema, snapshot.schema)
    schema, config = with_column_mapping(schema, snapshot.metadata.configuration)
    return _commit(snapshot, "ADD COLUMNS", {"columns": [{"column": {"name": f.name}} for f in new]},
                   configuration=config, schema=schema, commit_properties=commit_properties)


def set_column_metadata(snapshot: Snapshot, column: str, metadata: Mapping[str, str], *,
                        commit_properties: CommitProperties | None = None) -> int | None:
    """Merge ``metadata`` into a top-level column's metadata (no data is rewritten). Keys the Delta
    protocol gives a meaning (``delta.*``, ``CURRENT_DEFAULT``) are refused: those of features `lakehouse`
    cannot write by the column-metadata guard, the others (column mapping ids and names, invariants)
    because only the operation that owns them may set them."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if column not in snapshot.schema.names:
        raise InvalidArgumentError(f"column {column!r} is not in the table; it has {snapshot.schema.names}")
    if not isinstance(metadata, Mapping) or not metadata:
        raise InvalidArgumentError("metadata must be a non-empty mapping of key to string value")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidArgumentError(f"column metadata takes string keys and values, got {key!r}: {value!r}")
    schema = StructType(tuple(replace(f, metadata={**f.metadata, **metadata}) if f.name == column else f
                              for f in snapshot.schema.fields))
    check_field_metadata(schema, snapshot.schema)  # feature keys: UnsupportedFeatureError naming the feature
    reserved = sorted(k for k in metadata if k.lower().startswith("delta."))
    if reserved:
        raise InvalidArgumentError(
            f"column {column!r}: metadata key {reserved[0]!r} is reserved by the Delta protocol and set only by the "
            "operation that owns it (column mapping, CHECK constraints); the metadata was not changed.\n"
            "Help: use a key outside the 'delta.' namespace, or add_constraint for a row check.")
    merged = next(f.metadata for f in schema.fields if f.name == column)
    # delta-rs's operation name for this call (Spark records a comment change as CHANGE COLUMN).
    return _commit(snapshot, "UPDATE FIELD METADATA", {"fields": json.dumps([{"name": column, "metadata": dict(merged)}])},
                   schema=schema, commit_properties=commit_properties)


def _require_mapping(snapshot: Snapshot, what: str) -> None:
    if snapshot.column_mapping_mode == "none":
        raise InvalidArgumentError(
            f"{what} needs column mapping (data files would otherwise still hold the old name).\n"
            "Help: alter.set_table_properties({'delta.columnMapping.mode': 'name'}) first; it rewrites no data.")


def _used_by_constraints(snapshot: Snapshot, name: str) -> list[str]:
    used = []
    for k, v in snapshot.metadata.configuration.items():
        if k.startswith(CONSTRAINT_PREFIX) and v:
            try:
                if name in columns(parse_sql(v)):
                    used.append(k[len(CONSTRAINT_PREFIX):])
            except InvalidArgumentError:
                used.append(k[len(CONSTRAINT_PREFIX):])
    return used


def rename_column(snapshot: Snapshot, old: str, new: str, *, commit_properties: CommitProperties | None = None) -> int | None:
    """Rename a top-level column (column mapping keeps its physical name, so no file is rewritten)."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    _require_mapping(snapshot, "renaming a column")
    if old not in snapshot.schema.names:
        raise InvalidArgumentError(f"column {old!r} is not in the table; it has {snapshot.schema.names}")
    if not isinstance(new, str) or not new:
        raise InvalidArgumentError(f"new column name must be a non-empty string, got {new!r}")
    used = _used_by_constraints(snapshot, old)
    if used:
        raise InvalidArgumentError(f"column {old!r} is used by constraint(s) {used}; drop them first")
    schema = StructType(tuple(replace(f, name=new) if f.name == old else f for f in snapshot.schema.fields))
    check_unique_names(schema)
    parts = [new if c == old else c for c in snapshot.partition_columns]
    return _commit(snapshot, "RENAME COLUMN", {"oldColumnPath": old, "newColumnPath": new}, schema=schema,
                   partition_columns=parts, commit_properties=commit_properties)


def drop_columns(snapshot: Snapshot, names: Sequence[str], *, commit_properties: CommitProperties | None = None) -> int | None:
    """Drop top-level columns (column mapping: the data stays in the files, unread)."""
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    if isinstance(names, str):
        names = [names]
    _require_mapping(snapshot, "dropping a column")
    missing = [n for n in names if n not in snapshot.schema.names]
    if missing:
        raise InvalidArgumentError(f"column(s) {missing} are not in the table; it has {snapshot.schema.names}")
    parts = [n for n in names if n in snapshot.partition_columns]
    if parts:
        raise InvalidArgumentError(f"partition column(s) {parts} cannot be dropped")
    for n in names:
        used = _used_by_constraints(snapshot, n)
        if used:
            raise InvalidArgumentError(f"column {n!r} is used by constraint(s) {used}; drop them first")
    schema = StructType(tuple(f for f in snapshot.schema.fields if f.name not in set(names)))
    if all(f.name in snapshot.partition_columns for f in schema.fields):
        raise InvalidArgumentError("cannot drop every data column: a table needs at least one column that is "
                                   "not a partition column")
    return _commit(snapshot, "DROP COLUMNS", {"columns": list(names)}, schema=schema,
                   commit_properties=commit_properties)
