"""Liquid clustering operations (PROTOCOL.md "Clustered Table"): declaring clustering columns when a
table is created, changing them (`dt.alter.cluster_by`), and OPTIMIZE on a clustered table, which
clusters incrementally.

- Create: the protocol gains `clustering` and `domainMetadata`; the first commit carries the
  `delta.clustering` domain with the columns' physical names.
- ALTER CLUSTER BY: one commit with the new domain (and a protocol upgrade on a table not yet
  clustered); no data is rewritten. ``None`` records an empty column list (Spark's ``CLUSTER BY NONE``).
- OPTIMIZE: every file not yet clustered by the current columns (`needs_clustering`) is rewritten in
  one Z-order run over the clustering columns (`optimize.execute_bin`), into files of the target size
  that carry `clusteringProvider` ``liquid`` and the Z-cube tags of those columns. Files already
  clustered are left alone, so a second run only rewrites what was appended since. A transaction that
  adds clustered files depends on `delta.clustering` (`Transaction`): a concurrent change of the
  columns makes it fail.

Appends, DELETE, UPDATE and MERGE write unclustered files (no provider), as PROTOCOL.md allows.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

from lakehouse.errors import InvalidArgumentError, UnsupportedFeatureError
from lakehouse.operations.optimize import (
    BinResult,
    OptimizeMetrics,
    commit_optimize,
    execute_bin,
    skipped_optimize,
)
from lakehouse.operations.optimize_plan import DEFAULT_TARGET_SIZE, Bin, OptimizePlan, PartitionFilter
from lakehouse.protocol.actions import DomainMetadata, Metadata, Protocol
from lakehouse.protocol.clustering import (
    DOMAIN,
    FEATURE,
    PROVIDER,
    clustering_columns,
    domain_for,
    is_clustered,
    needs_clustering,
)
from lakehouse.protocol.features import active_features, check_writable, upgraded_protocol
from lakehouse.protocol.file_table import table_to_adds
from lakehouse.snapshot import Snapshot
from lakehouse.write.files import resolve_max_workers
from lakehouse.write.transaction import (
    CommitProperties,
    Hook,
    Transaction,
    already_applied,
    check_commit_safety,
)

#: The features a clustered table needs (PROTOCOL.md: `clustering` requires `domainMetadata`).
NEEDED = frozenset({FEATURE, "domainMetadata"})


def _columns_arg(cluster_by: Sequence[str] | str | None) -> tuple[str, ...]:
    if cluster_by is None:
        return ()
    if isinstance(cluster_by, str):
        return (cluster_by,)
    cols = tuple(cluster_by)
    if not all(isinstance(c, str) for c in cols):
        raise InvalidArgumentError(f"cluster_by must be a list of column names, got {cluster_by!r}")
    return cols


def new_clustered_table(protocol: Protocol, metadata: Metadata,
                        cluster_by: Sequence[str] | str) -> tuple[Protocol, DomainMetadata]:
    """The protocol and `delta.clustering` domain of a new table clustered by ``cluster_by`` (validated:
    existing top-level columns with statistics, a table without partition columns)."""
    cols = _columns_arg(cluster_by)
    if not cols:
        raise InvalidArgumentError("cluster_by needs at least one column (omit it for an unclustered table)")
    new = upgraded_protocol(protocol, NEEDED) or protocol
    return new, domain_for(cols, metadata, new)


def clustering_of(snapshot: Snapshot) -> tuple[str, ...] | None:
    """The table's clustering columns (logical names); None when it is not clustered, ``()`` when it is
    clustered by nothing."""
    return clustering_columns(snapshot.protocol, snapshot.metadata, snapshot.domains)


def check_cluster_by_on_write(snapshot: Snapshot, cluster_by: Sequence[str] | str | None) -> None:
    """``cluster_by`` given to a write of an existing table must name its clustering columns (changing
    them is `dt.alter.cluster_by`'s job, which records the change without rewriting data)."""
    if cluster_by is None:
        return
    cols = _columns_arg(cluster_by)
    current = clustering_of(snapshot)
    if current != cols:
        raise InvalidArgumentError(
            f"cluster_by={list(cols)} differs from the clustering columns of the existing table at version "
            f"{snapshot.version} ({'not clustered' if current is None else list(current)}).\n"
            "Help: omit cluster_by, or change the columns with dt.alter.cluster_by(...).")


def alter_cluster_by(snapshot: Snapshot, cluster_by: Sequence[str] | str | None, *,
                     commit_properties: CommitProperties | None = None) -> int | None:
    """Set the clustering columns (operation ``CLUSTER BY``); ``None`` or ``[]`` clusters by nothing.
    A table that is not clustered gains the `clustering` and `domainMetadata` features (refused when it
    is partitioned). Returns the version committed, None when the columns were already these."""
    cols = _columns_arg(cluster_by)
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    if already_applied(snapshot, commit_properties):
        return None  # a replay of an applied app transaction: skipped
    current = clustering_of(snapshot)
    if current == cols or (current is None and not cols):
        return None
    protocol = snapshot.protocol if is_clustered(snapshot.protocol) else (
        upgraded_protocol(snapshot.protocol, NEEDED) or snapshot.protocol)
    domain = domain_for(cols, snapshot.metadata, protocol)
    txn = Transaction(snapshot.storage, snapshot, operation="CLUSTER BY",
                      parameters={"oldClusteringColumns": ",".join(current or ()),
                                  "newClusteringColumns": ",".join(cols)},
                      properties=commit_properties)
    if protocol != snapshot.protocol:
        txn.update_protocol(protocol)
    txn.set_domain_metadata(domain)
    return txn.commit().version


def restored_domain(latest: Snapshot, target: Snapshot) -> DomainMetadata | None:
    """The `delta.clustering` domain a RESTORE of ``target`` commits (None when it stays as it is): the
    target's clustering columns come back, as Spark restores them; a target that was not clustered gives
    a table clustered by nothing (the feature is never removed)."""
    if not is_clustered(latest.protocol):
        return None
    want = target.domains.get(DOMAIN)
    if want is None:
        want = domain_for((), target.metadata, latest.protocol)
    have = latest.domains.get(DOMAIN)
    if have is not None and have.configuration == want.configuration:
        return None
    return DomainMetadata(DOMAIN, want.configuration, False)


def plan_clustering(snapshot: Snapshot, columns: tuple[str, ...], target_size: int) -> OptimizePlan:
    """One bin of every file that `needs_clustering` by ``columns`` (none when there are fewer than
    one such file); the plan's ``z_order_by`` is ``columns``, so `execute_bin` writes in their Z-order."""
    adds = snapshot.adds
    typed = table_to_adds(adds) if adds.num_rows else []
    todo = tuple(a for a in typed if needs_clustering(a, columns))
    bins = (Bin({}, todo),) if todo else ()
    return OptimizePlan(snapshot.version, bins, target_size, columns, None, len(typed), len(typed) - len(todo))


def clustering_plan(snapshot: Snapshot, *, target_size: int | None = None, partition_filter: PartitionFilter = None,
                    z_order_by: Sequence[str] = (), min_file_size: int | None = None) -> OptimizePlan | None:
    """The plan of an OPTIMIZE of a clustered table (see the module docstring), or None when the OPTIMIZE
    is an ordinary one (the table is not clustered, or is clustered by nothing and no Z-order is asked).
    ``z_order_by``, ``partition_filter`` and ``min_file_size`` are refused on a clustered table (it has
    no partitions, its layout is the clustering columns', as in Spark, and every unclustered file is
    rewritten whatever its size)."""
    columns = clustering_of(snapshot)
    if columns is None or (not columns and not z_order_by):
        return None
    if z_order_by:
        raise UnsupportedFeatureError(
            f"z_order_by={list(z_order_by)} on a clustered table (clustered by {list(columns)}): Z-order and "
            "clustering are exclusive, as in Spark.\nHelp: run dt.optimize.compact(), which clusters by the "
            "clustering columns, or change them with dt.alter.cluster_by(...).", feature=FEATURE)
    if partition_filter is not None:
        raise InvalidArgumentError("partition_filters on a clustered table: it has no partition columns")
    if min_file_size is not None:
        raise InvalidArgumentError("min_file_size on a clustered table: OPTIMIZE clusters every unclustered file, "
                                   "whatever its size")
    if target_size is None:
        target_size = snapshot.properties.target_file_size or DEFAULT_TARGET_SIZE
    if not isinstance(target_size, int) or isinstance(target_size, bool) or target_size <= 0:
        raise InvalidArgumentError(f"target_size must be a positive number of bytes, got {target_size!r}")
    return plan_clustering(snapshot, columns, target_size)


def mark_clustered(result: BinResult) -> BinResult:
    """A clustering bin's result with its new files naming this implementation in `clusteringProvider`
    (PROTOCOL.md: files a clustering implementation clusters carry its name)."""
    return dataclasses.replace(
        result, adds=tuple(dataclasses.replace(a, clustering_provider=PROVIDER) for a in result.adds))


def optimize_clustered(snapshot: Snapshot, *, target_size: int | None = None,
                       partition_filter: PartitionFilter = None, z_order_by: Sequence[str] = (),
                       min_file_size: int | None = None, max_workers: int | None = None,
                       max_concurrent_tasks: int | None = None, commit_properties: CommitProperties | None = None, hook: Hook | None = None,
                       progress: Callable[[int, int], None] | None = None) -> OptimizeMetrics:
    """OPTIMIZE on a clustered table: cluster the files not yet clustered by the table's clustering
    columns (`clustering_plan`, whose refusals apply). ``max_concurrent_tasks`` is deltalake's name for
    ``max_workers`` (give one, or both equal)."""
    if max_concurrent_tasks is not None:
        if max_workers is not None and max_workers != max_concurrent_tasks:
            raise InvalidArgumentError(
                f"max_workers={max_workers!r} and max_concurrent_tasks={max_concurrent_tasks!r} name the same "
                "thread budget (max_concurrent_tasks is deltalake's name); pass one of them")
        max_workers = max_concurrent_tasks
    plan = clustering_plan(snapshot, target_size=target_size, partition_filter=partition_filter,
                           z_order_by=z_order_by, min_file_size=min_file_size)
    if plan is None:
        raise InvalidArgumentError(f"the table at version {snapshot.version} is not clustered by any column")
    check_writable(snapshot.protocol, active_features(snapshot.protocol, snapshot.metadata))
    check_commit_safety(snapshot.storage)
    workers = resolve_max_workers(max_workers)
    if already_applied(snapshot, commit_properties):
        return skipped_optimize()
    start = time.perf_counter()
    if progress:
        progress(0, len(plan.bins))
    results: list[BinResult] = []
    for item in plan.bins:
        results.append(mark_clustered(execute_bin(snapshot, plan, item, max_workers=workers)))
        if progress:
            progress(len(results), len(plan.bins))
    return commit_optimize(snapshot, plan, results, commit_properties=commit_properties, hook=hook,
                           duration_ms=int((time.perf_counter() - start) * 1000))


__all__ = ["NEEDED", "alter_cluster_by", "clustering_plan", "mark_clustered", "restored_domain", "check_cluster_by_on_write", "clustering_of", "new_clustered_table",
           "optimize_clustered", "plan_clustering"]
