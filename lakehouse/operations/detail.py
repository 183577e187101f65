"""`DESCRIBE DETAIL`: a table's size, files, protocol, features and properties in one record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from lakehouse.protocol import arrow_values as av
from lakehouse.snapshot.history import history
from lakehouse.protocol.clustering import clustering_columns
from lakehouse.protocol.features import active_features, reader_features_in_use, writer_features_in_use
from lakehouse.protocol.skipping import live_rows
from lakehouse.snapshot import Snapshot


@dataclass(frozen=True)
class TableDetail:
    """What `DeltaTable.detail()` reports (the fields of Spark's DESCRIBE DETAIL, plus row counts)."""

    location: str
    id: str
    name: str | None
    description: str | None
    version: int
    created_time: int | None
    last_modified: int | None
    last_operation: str | None
    partition_columns: list[str]
    num_files: int
    size_in_bytes: int
    num_rows: int | None
    num_deletion_vectors: int
    num_deleted_rows: int
    min_reader_version: int
    min_writer_version: int
    reader_features: list[str]
    writer_features: list[str]
    active_features: list[str]
    properties: dict[str, str]
    column_mapping_mode: str
    #: Liquid clustering columns (logical names); None when the table is not clustered (spec/clustering.md).
    clustering_columns: list[str] | None = None


def table_detail(snapshot: Snapshot) -> TableDetail:
    """Describe the table at ``snapshot`` (one history lookup for the last operation)."""
    adds = snapshot.adds
    dv = adds.column("deletionVector")
    deleted = 0
    if dv.null_count < len(dv):
        card = av.to_numpy(pc.struct_field(dv, "cardinality"))
        deleted = int(np.nansum(np.asarray(card, dtype=float)))
    live = live_rows(adds.column("stats"), dv)
    last = history(snapshot, 1)
    p = snapshot.protocol
    return TableDetail(
        location=snapshot.storage.root_uri, id=snapshot.metadata.id, name=snapshot.metadata.name,
        description=snapshot.metadata.description, version=snapshot.version,
        created_time=snapshot.metadata.created_time, last_modified=last[0].timestamp_ms if last else None,
        last_operation=last[0].operation if last else None, partition_columns=snapshot.partition_columns,
        num_files=adds.num_rows, size_in_bytes=int(pc.sum(adds.column("size")).as_py() or 0),
        num_rows=None if live.null_count else int(pc.sum(live).as_py() or 0),
        num_deletion_vectors=len(dv) - dv.null_count, num_deleted_rows=deleted,
        min_reader_version=p.min_reader_version, min_writer_version=p.min_writer_version,
        reader_features=sorted(reader_features_in_use(p)), writer_features=sorted(writer_features_in_use(p)),
        active_features=sorted(active_features(p, snapshot.metadata)),
        properties=dict(snapshot.metadata.configuration), column_mapping_mode=snapshot.column_mapping_mode,
        clustering_columns=_clustering(snapshot),
    )


def _clustering(snapshot: Snapshot) -> list[str] | None:
    cols = clustering_columns(snapshot.protocol, snapshot.metadata, snapshot.domains)
    return None if cols is None else list(cols)
