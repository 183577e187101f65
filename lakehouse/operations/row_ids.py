"""Row ids carried through a rewrite that copies rows unchanged (OPTIMIZE, Z-order, clustering): with row
tracking enabled, each copied row keeps its stable row id and row commit version in the table's hidden
materialized columns (PROTOCOL.md "Row Tracking"; spec/row-tracking.md)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.protocol.row_tracking import ROW_COMMIT_VERSION, ROW_ID, RowTracking
from lakehouse.protocol.schema import StructField
from lakehouse.scan.read import metadata_field
from lakehouse.snapshot import Snapshot


def hidden_columns(snapshot: Snapshot) -> tuple[str, ...]:
    """The materialized column names a rewrite of this table writes (none unless row tracking is enabled)."""
    tracking = RowTracking.of(snapshot.protocol, snapshot.metadata.configuration)
    return tracking.hidden_columns if tracking.materializes else ()


def carried_fields(snapshot: Snapshot) -> list[StructField]:
    """The metadata fields to read beside the table's columns so that `to_hidden` can keep them."""
    return [metadata_field(ROW_ID), metadata_field(ROW_COMMIT_VERSION)] if hidden_columns(snapshot) else []


def to_hidden(table: pa.Table, snapshot: Snapshot) -> pa.Table:
    """A table read with `carried_fields` with those columns renamed to the hidden column names, as the
    data file writer takes them (after the logical columns)."""
    hidden = hidden_columns(snapshot)
    if not hidden:
        return table
    carried = [f.name for f in carried_fields(snapshot)]
    values = [table.column(n) for n in carried]
    table = table.drop_columns(carried)
    for name, column in zip(hidden, values):
        table = table.append_column(pa.field(name, pa.int64(), True), column)
    return table
