"""RESTORE: make the latest version look like an older one (Spark's RESTORE TABLE).

The commit is the difference between the two file sets: `add` (dataChange=true) for every file of the
target version that is not active now, `remove` for every active file the target does not have, plus
the target's `metaData` when it differs. The protocol is never downgraded (a restored table keeps the
features it has now, and gains any the target needs). Files are keyed by path and deletion vector, so a
file whose deletion vector changed is swapped for the target's variant.

Before committing, every file to re-add (and its deletion vector file) must still exist: if VACUUM has
removed one, RESTORE fails naming it and the table is left as it was (``ignore_missing_files=True``
restores without them, as Spark's `spark.sql.files.ignoreMissingFiles` does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Mapping

from lakehouse.scan.deletion_vectors import dv_file_path
from lakehouse.errors import AppendOnlyError, DataFileNotFoundError, InvalidArgumentError
from lakehouse.operations.cluster import restored_domain
from lakehouse.protocol.actions import Add, file_key
from lakehouse.protocol.file_table import remove_for, table_to_adds
from lakehouse.protocol.features import (
    active_features, check_writable, reader_features_in_use, required_protocol, writer_features_in_use,
)
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.replay import canonical_path
from lakehouse.snapshot import Snapshot
from lakehouse.write.transaction import CommitProperties, Transaction, already_applied, check_commit_safety, records_app_transactions


@dataclass(frozen=True)
class RestoreMetrics:
    """What a RESTORE did (``version`` is None when the table already matched the target)."""

    version: int | None
    restored_version: int
    num_restored_files: int
    num_removed_files: int
    restored_files_size: int
    removed_files_size: int
    num_of_files_after_restore: int
    table_size_after_restore: int
    num_missing_files_skipped: int = 0


def _by_key(snapshot: Snapshot) -> dict[tuple[str, str | None], Add]:
    """The snapshot's active files by (canonical path, deletion vector id): a file whose DV changed is a
    different logical file."""
    return {file_key(canonical_path(a.path), a.deletion_vector): a for a in table_to_adds(snapshot.adds)}


def _missing(target: Snapshot, add: Add) -> str | None:
    """The first file this add needs that no longer exists (data file, then DV file)."""
    storage = target.storage
    rel = resolve_relative(add.path, storage.root_uri)
    if not storage.exists(rel):
        return rel
    if add.deletion_vector is not None:
        dv_rel = dv_file_path(add.deletion_vector, storage.root_uri)
        if dv_rel and not storage.exists(dv_rel):
            return dv_rel
    return None


def restore(latest: Snapshot, target: Snapshot, *, ignore_missing_files: bool = False,
            commit_properties: CommitProperties | None = None, parameters: Mapping[str, Any] | None = None) -> RestoreMetrics:
    """Commit the latest version back to the state of ``target`` (an older snapshot of the same table)."""
    if target.version > latest.version:
        raise InvalidArgumentError(f"cannot restore to version {target.version}: the latest version is {latest.version}")
    check_writable(latest.protocol, active_features(latest.protocol, latest.metadata))
    check_commit_safety(latest.storage)
    if already_applied(latest, commit_properties):
        return RestoreMetrics(None, target.version, 0, 0, 0, 0, 0, 0)  # a replay: skipped
    now_files, then_files = _by_key(latest), _by_key(target)
    # Re-added files are data changes, whatever the add that first wrote them said (OPTIMIZE's say false).
    to_add = [replace(a, data_change=True) for k, a in then_files.items() if k not in now_files]
    to_remove = [a for k, a in now_files.items() if k not in then_files]
    skipped = skipped_bytes = 0
    kept_adds = []
    for add in to_add:
        gone = _missing(target, add)
        if gone is None:
            kept_adds.append(add)
        elif ignore_missing_files:
            skipped += 1
            skipped_bytes += add.size
        else:
            raise DataFileNotFoundError(
                f"cannot restore {latest.storage.root_uri} to version {target.version}: {gone} no longer exists "
                "(probably removed by VACUUM); the table is unchanged.\n"
                "Help: restore to a newer version, or pass ignore_missing_files=True to restore without it.",
                path=gone)
    now = int(time.time() * 1000)
    removes = [remove_for(a, now) for a in to_remove]
    metadata_changed = target.metadata != latest.metadata
    clustering = restored_domain(latest, target)  # the target's clustering columns come back (spec/clustering.md)
    after = target.adds.num_rows - skipped
    metrics = RestoreMetrics(
        version=None, restored_version=target.version, num_restored_files=len(kept_adds),
        num_removed_files=len(removes), restored_files_size=sum(a.size for a in kept_adds),
        removed_files_size=sum(int(r.size or 0) for r in removes), num_of_files_after_restore=after,
        table_size_after_restore=sum(int(s) for s in target.adds.column("size").to_pylist()) - skipped_bytes,
        num_missing_files_skipped=skipped,
    )
    if (not kept_adds and not removes and not metadata_changed and clustering is None
            and not records_app_transactions(commit_properties)):
        return metrics
    if removes and latest.properties.append_only:
        raise AppendOnlyError(f"{latest.storage.root_uri} is append-only (delta.appendOnly=true); restoring "
                              f"version {target.version} would remove {len(removes)} file(s)")
    # Serializable: a concurrent blind append would leave a table equal to no version at all.
    txn = Transaction(latest.storage, latest, operation="RESTORE", isolation="Serializable",
                      parameters=dict(parameters or {"version": target.version}), properties=commit_properties)
    txn.read_whole_table()
    if metadata_changed:
        # Keep the table's identity; take the target's schema, partitioning and properties.
        txn.update_metadata(replace(target.metadata, id=latest.metadata.id))
    # The target's features stay supported, and its schema and properties get what they need.
    needed = writer_features_in_use(target.protocol) | reader_features_in_use(target.protocol)
    protocol = required_protocol(latest.protocol, target.schema, target.metadata.configuration, needed)
    if protocol != latest.protocol:
        txn.update_protocol(protocol)
    if clustering is not None:
        txn.set_domain_metadata(clustering)
    txn.remove_files(removes)
    txn.add_files(kept_adds)
    txn.metrics.update({
        "numRestoredFiles": len(kept_adds), "numRemovedFiles": len(removes),
        "restoredFilesSize": metrics.restored_files_size, "removedFilesSize": metrics.removed_files_size,
        "numOfFilesAfterRestore": after, "tableSizeAfterRestore": metrics.table_size_after_restore,
    })
    version = txn.commit().version
    return replace(metrics, version=version)
