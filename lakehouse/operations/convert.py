"""CONVERT TO DELTA: turn a folder of Parquet files (optionally Hive-partitioned) into a Delta table in
place, by writing version 0 that adds every file as it is (Spark's CONVERT TO DELTA).

Only footers are read: the schema (the files' schemas unified), row counts, and per-column null counts
and min/max from row-group statistics. Float and double columns get no min/max (Parquet footers leave
NaN out of their bounds, and a bound that hides a NaN could skip a matching file); a column whose null
count a row group does not record gets no statistics for the file beyond `numRecords`.

Partitioned folders need the partition schema (``partition_by``, as in Spark): every file must sit under
``col=value`` directories for exactly those columns, in that order. Hidden paths (names starting with
``_`` or ``.``) are ignored.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import quote, unquote

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.errors import InvalidArgumentError, SchemaMismatchError, StorageError, TableExistsError
from lakehouse.operations.create import new_table_actions
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.actions import Add
from lakehouse.protocol.log_path import LOG_DIR
from lakehouse.protocol.partitions import serialize_partition_value
from lakehouse.protocol.schema import StructField, StructType, from_arrow_field, from_arrow_schema
from lakehouse.protocol.stats import StatsCollector, physical_paths
from lakehouse.storage.base import FileInfo, Storage
from lakehouse.write.transaction import Transaction

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _partition_values(f: FileInfo, partition_by: pa.Schema) -> dict[str, Any]:
    dirs = f.path.split("/")[:-1]
    names = list(partition_by.names)
    if len(dirs) != len(names):
        raise InvalidArgumentError(
            f"{f.path} is not under one directory per partition column {names} (col=value/...)")
    values: dict[str, Any] = {}
    for d, field in zip(dirs, partition_by):
        key, sep, raw = d.partition("=")
        if not sep or unquote(key) != field.name:
            raise InvalidArgumentError(f"{f.path}: directory {d!r} should be {field.name}=<value>")
        text = unquote(raw)
        if text == HIVE_NULL:
            values[field.name] = None
            continue
        try:
            values[field.name] = av.scalar(text).cast(field.type).as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidArgumentError(
                f"{f.path}: partition value {text!r} is not a valid {field.type} for {field.name}") from None
    return values


def _footer_stats(md: pq.FileMetaData, schema: StructType) -> str:
    collector = StatsCollector.for_schema(schema, physical_paths(schema, "none"), bounds_from_parquet=True)
    collector.num_records = md.num_rows
    by_path = {".".join(leaf.path): leaf for leaf in collector.leaves}
    known_nulls: dict[str, int] = {}
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            st = col.statistics
            if col.path_in_schema not in by_path:
                continue
            if st is None or st.null_count is None:
                known_nulls[col.path_in_schema] = -1
            elif known_nulls.get(col.path_in_schema, 0) >= 0:
                known_nulls[col.path_in_schema] = known_nulls.get(col.path_in_schema, 0) + st.null_count
    if any(known_nulls.get(p, -1) < 0 for p in by_path) and md.num_rows:
        return orjson.dumps({"numRecords": md.num_rows}).decode()
    for p, leaf in by_path.items():
        leaf.null_count = max(0, known_nulls.get(p, 0))
        if getattr(leaf.dtype, "name", "") in ("float", "double"):
            leaf.nan = True
    collector.absorb_parquet(md)
    return collector.to_json()


def convert_to_delta(storage: Storage, *, partition_by: pa.Schema | None = None,
                     configuration: Mapping[str, str] | None = None, name: str | None = None,
                     description: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> int:
    """Write version 0 over the Parquet files under ``storage``'s root; returns the number of files.
    ``progress(done, total)`` counts footers read (`lakehouse.progress.reporter` makes one from a
    user's `Progress`)."""
    if storage.list_dir(LOG_DIR):
        raise TableExistsError(f"{storage.root_uri} already has a _delta_log; it is a Delta table (or part of one)")
    partition_by = partition_by if partition_by is not None else pa.schema([])
    listed = [f for f in storage.list_tree("", skip_dir=lambda d: d.rsplit("/", 1)[-1].startswith(("_", ".")))
              if f.name.endswith(".parquet") and not f.name.startswith(("_", "."))]
    if not listed:
        raise InvalidArgumentError(f"no Parquet files under {storage.root_uri} to convert")
    fs, root = storage.arrow_filesystem()
    footers = []
    if progress:
        progress(0, len(listed))
    for i, f in enumerate(listed):
        try:
            footers.append(pq.ParquetFile(f"{root}/{f.path}", filesystem=fs).metadata)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"cannot read the footer of {f.path}: {e}", path=f.path, operation="read") from None
        if progress:
            progress(i + 1, len(listed))
    try:
        data_schema = pa.unify_schemas([md.schema.to_arrow_schema() for md in footers], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SchemaMismatchError(f"the Parquet files under {storage.root_uri} have incompatible schemas: {e}") from None
    clash = [n for n in partition_by.names if n in data_schema.names]
    if clash:
        raise SchemaMismatchError(f"partition column(s) {clash} are also stored inside the data files")
    data_struct = from_arrow_schema(pa.schema([pa.field(f.name, f.type, True) for f in data_schema]))
    part_fields = tuple(StructField(p.name, from_arrow_field(p).type, True) for p in partition_by)
    schema = StructType(data_struct.fields + part_fields)
    protocol, metadata = new_table_actions(schema, list(partition_by.names), configuration, name, description)
    adds = []
    for f, md in zip(listed, footers):
        values = _partition_values(f, partition_by)
        pv = {k: serialize_partition_value(v, schema.field(k).type) for k, v in values.items()}
        adds.append(Add(path=quote(f.path, safe="/=+-_.~!$&'()*,;:@"), partition_values=pv, size=f.size,
                        modification_time=f.mtime_ms or 0, data_change=True, stats=_footer_stats(md, data_struct)))
    txn = Transaction(storage, None, operation="CONVERT",
                      parameters={"numFiles": len(adds), "partitionedBy": list(partition_by.names), "collectStats": True})
    txn.update_protocol(protocol)
    txn.update_metadata(metadata)
    txn.add_files(adds)
    txn.commit()
    return len(adds)

