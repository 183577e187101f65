"""Liquid clustering (PROTOCOL.md "Clustered Table"): the `delta.clustering` domain, the rules its
clustering columns obey, and which files an incremental clustering run rewrites.

A table is clustered when `clustering` is among its writer features. Its clustering columns live in the
`domainMetadata` action of domain `delta.clustering`, as physical column paths:
``{"clusteringColumns": [["c1"], ["col-5abe..."]]}`` (Spark's and delta-kernel's shape; PROTOCOL.md's
example shows one string per column, which is read too). ``[]`` means "clustered by nothing" (Spark's
``CLUSTER BY NONE``): the feature stays, OPTIMIZE only compacts.

Pure logic, no I/O: the operations layer (`lakehouse.operations.cluster`) stages the actions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import orjson

from lakehouse.errors import InvalidArgumentError, InvalidLogError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol.actions import Add, DomainMetadata, Metadata, Protocol
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.features import column_mapping_mode
from lakehouse.protocol.properties import ColumnMappingMode, TableProperties
from lakehouse.protocol.schema import DecimalType, PrimitiveType, StructType, parse_schema
from lakehouse.protocol.stats import physical_paths, stats_leaves

#: The writer feature of PROTOCOL.md "Clustered Table".
FEATURE = "clustering"
#: The domain that records the clustering columns.
DOMAIN = "delta.clustering"
#: The value of `add.clusteringProvider` on files this implementation clustered (Spark's name).
PROVIDER = "liquid"
#: Types with min/max statistics and an order to cluster by (PROTOCOL.md: clustering columns need
#: per-column statistics; Spark refuses the others, booleans and nested types included).
CLUSTERABLE = {"byte", "short", "integer", "long", "float", "double", "date", "timestamp", "timestamp_ntz",
               "string"}
#: Spark's limit on the number of clustering columns (a connector setting, kept for compatibility: a
#: curve over more columns clusters each of them poorly).
MAX_COLUMNS = 4


def is_clustered(protocol: Protocol) -> bool:
    """The table supports clustering (PROTOCOL.md: `clustering` among the writer features)."""
    return protocol.min_writer_version >= 7 and FEATURE in (protocol.writer_features or ())


def _physical_to_logical(schema: StructType, mode: ColumnMappingMode) -> dict[tuple[str, ...], str]:
    return {pp: ".".join(lp) for lp, pp in physical_paths(schema, mode).items()}


def parse_domain(configuration: str) -> list[tuple[str, ...]]:
    """The physical column paths of a `delta.clustering` configuration (lists of names, or PROTOCOL.md's
    plain strings); a malformed one is an `InvalidLogError`."""
    try:
        value = orjson.loads(configuration)
        cols = value["clusteringColumns"]
        paths = [tuple(c) if isinstance(c, list) else (c,) for c in cols]
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise InvalidLogError(f"domain {DOMAIN} has a malformed configuration {configuration!r}: {e}") from e
    if not all(p and all(isinstance(n, str) for n in p) for p in paths):
        raise InvalidLogError(f"domain {DOMAIN} lists a clustering column that is not a name path: {configuration!r}")
    return paths


def clustering_columns(protocol: Protocol, metadata: Metadata,
                       domains: Mapping[str, DomainMetadata]) -> tuple[str, ...] | None:
    """The logical names of the clustering columns (dotted for nested ones); None when the table is not
    clustered, ``()`` when it is clustered by nothing. A physical path that names no column is an
    `InvalidLogError`."""
    if not is_clustered(protocol):
        return None
    domain = domains.get(DOMAIN)
    if domain is None or domain.removed:
        return ()
    schema = parse_schema(metadata.schema_string)
    props = TableProperties.parse(metadata.configuration, strict=False)
    mode = _mode(protocol, props)
    names = _physical_to_logical(schema, mode)
    out = []
    for path in parse_domain(domain.configuration):
        if path not in names:
            raise InvalidLogError(f"domain {DOMAIN} names clustering column {'.'.join(path)!r}, which is not in the "
                                  f"table's schema {schema.names}")
        out.append(names[path])
    return tuple(out)


def _mode(protocol: Protocol, props: TableProperties) -> ColumnMappingMode:
    return column_mapping_mode(protocol, props)


def validate_columns(columns: Sequence[str], metadata: Metadata, protocol: Protocol) -> tuple[str, ...]:
    """Check clustering columns against the table (PROTOCOL.md "Writer Requirements for Clustered Table"):
    top-level columns that exist, distinct, at most `MAX_COLUMNS`, of a type with statistics and an
    order, each collecting statistics under `delta.dataSkippingNumIndexedCols` /
    `delta.dataSkippingStatsColumns`; and the table is not partitioned."""
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise InvalidArgumentError(f"cluster_by must be a list of column names, got {columns!r}")
    cols = tuple(columns)
    if len(set(cols)) != len(cols):
        raise InvalidArgumentError(f"cluster_by lists a column twice: {list(cols)}")
    if len(cols) > MAX_COLUMNS:
        raise InvalidArgumentError(f"cluster_by takes at most {MAX_COLUMNS} columns (as Spark), got {list(cols)}")
    if metadata.partition_columns:
        raise InvalidArgumentError(
            f"a table cannot be both partitioned (by {list(metadata.partition_columns)}) and clustered "
            "(PROTOCOL.md \"Clustered Table\").\nHelp: use either partition_by or cluster_by.")
    schema = parse_schema(metadata.schema_string)
    by_name = {f.name: f for f in schema.fields}
    props = TableProperties.parse(metadata.configuration, strict=False)
    mode = _mode(protocol, props)
    with_stats = {".".join(p) for p, _ in stats_leaves(schema, physical_paths(schema, mode),
                                                      props.data_skipping_num_indexed_cols,
                                                      props.data_skipping_stats_columns, frozenset())}
    for c in cols:
        f = by_name.get(c)
        if f is None:
            raise SchemaMismatchError(f"clustering column {c!r} is not a top-level column of the table; it has "
                                      f"{schema.names}")
        kind = "decimal" if isinstance(f.type, DecimalType) else (
            f.type.name if isinstance(f.type, PrimitiveType) else type(f.type).__name__)
        if kind != "decimal" and kind not in CLUSTERABLE:
            raise SchemaMismatchError(f"clustering column {c!r} has type {kind}, which has no statistics to "
                                      "cluster by")
        if c not in with_stats:
            raise InvalidArgumentError(
                f"clustering column {c!r} collects no statistics (delta.dataSkippingNumIndexedCols="
                f"{props.data_skipping_num_indexed_cols}, delta.dataSkippingStatsColumns="
                f"{props.data_skipping_stats_columns}); PROTOCOL.md requires them.\n"
                "Help: list it in delta.dataSkippingStatsColumns or move it among the first indexed columns.")
    return cols


def domain_for(columns: Sequence[str], metadata: Metadata, protocol: Protocol) -> DomainMetadata:
    """The `delta.clustering` domain metadata recording ``columns`` (validated) by physical name."""
    cols = validate_columns(columns, metadata, protocol) if columns else ()
    schema = parse_schema(metadata.schema_string)
    mode = _mode(protocol, TableProperties.parse(metadata.configuration, strict=False))
    paths = [[physical_name(schema.field(c), mode)] for c in cols]
    config = orjson.dumps({"clusteringColumns": paths, "domainName": DOMAIN}).decode()
    return DomainMetadata(DOMAIN, config, False)


def check_table(protocol: Protocol, metadata: Metadata, domains: Mapping[str, DomainMetadata]) -> None:
    """The invariants of a clustered table a commit must keep: not partitioned, and every clustering
    column still a column with statistics (a dropped column or a narrowed
    `delta.dataSkippingNumIndexedCols` would break PROTOCOL.md's requirement)."""
    if not is_clustered(protocol):
        return
    if metadata.partition_columns:
        raise UnsupportedFeatureError(
            f"the table is clustered (feature '{FEATURE}') and cannot also be partitioned by "
            f"{list(metadata.partition_columns)} (PROTOCOL.md \"Clustered Table\").", feature=FEATURE)
    try:
        cols = clustering_columns(protocol, metadata, domains)
    except InvalidLogError as e:
        raise SchemaMismatchError(f"this change would leave a clustering column without a column: {e}.\n"
                                  "Help: change the clustering columns first (dt.alter.cluster_by).") from e
    if cols:
        validate_columns(cols, metadata, protocol)


def zcube_key(columns: Sequence[str]) -> str:
    """The `ZCUBE_ZORDER_BY` tag value of files clustered by ``columns`` (the Z-order tag format)."""
    return orjson.dumps(list(columns)).decode()


def needs_clustering(add: Add, columns: Sequence[str]) -> bool:
    """Whether an incremental clustering run by ``columns`` rewrites this file: an unclustered file (no
    `clusteringProvider`), or one of ours (`PROVIDER`) clustered by other columns or with deletions since.
    A file of another provider is left alone: PROTOCOL.md lets an implementation recluster only
    unclustered files and its own (or those of providers it supersedes, none here)."""
    if add.clustering_provider is None:
        return True
    if add.clustering_provider != PROVIDER:
        return False
    if add.deletion_vector is not None:
        return True
    tags = add.tags or {}
    return tags.get("ZCUBE_ZORDER_BY") != zcube_key(columns)
