"""Child process of the DML and maintenance benchmarks: one operation by one engine, timed and measured alone.

``python -m benchmarks.dml_child '<json spec>'`` with spec keys ``engine`` (``lakehouse``, ``deltalake``
or ``pyarrow``: raw Parquet I/O with the same codec, no table), ``op`` and ``table`` (path), plus per ``op``:

* ``delete``: ``predicate``; ``merge``: ``on`` and ``source`` (the condition and a Parquet file of source
  rows); lakehouse takes ``max_workers`` too. The raw ``pyarrow`` engine does the least a copy-on-write
  engine must do, on one thread: read every data file of ``table`` (``*.parquet`` at its root), drop or
  replace the affected rows, write each file anew (zstd) under ``table/_raw``, and the MERGE's inserts as
  one more file; its DELETE predicate is ``column = integer`` and its MERGE key is ``id``; its
  ``optimize`` (bin-packing only) reads every data file and writes them as files of up to
  ``target_size`` bytes of input (one file when null), in input order, under ``table/_raw``;
* ``write``: ``source`` (a Parquet file of the rows to write), ``partition_by`` (a list or null) and
  ``max_workers`` (lakehouse); for ``pyarrow``, ``threads`` picks ``pq.write_table`` per file on one
  thread (``1``) or ``pyarrow.dataset.write_dataset`` on all cores (``0``), both zstd;
* ``read``: read the whole table into one Arrow table; ``pyarrow`` reads ``files`` with ``pq.read_table``
  (``threads`` ``1``: ``use_threads=False``; ``0``: all cores);
* ``optimize``: ``z_order_by`` (a list of columns, or null for bin-packing) and ``target_size`` (bytes, or
  null for the engine's default); lakehouse takes ``max_workers`` too;
* ``vacuum``: ``dry_run`` and ``full`` (lakehouse ``mode="full"``/``"lite"``, deltalake ``full=``), always
  with retention 0 and the retention check off; the report adds ``files``, the paths the engine listed.

It imports only that engine (and pyarrow to load a source), runs the operation once and prints one
JSON line: ``elapsed_s`` (open the table, plan, write, commit), ``peak_rss_kib`` (this process's peak
resident size, imports included), ``baseline_rss_kib`` (resident size just before the operation),
``ru_maxrss_kib`` and the engine's own ``metrics``.

The peak is ``VmHWM`` from ``/proc/self/status``, the high-water mark of this process's own address
space. ``ru_maxrss`` (KiB on Linux) is the same mark combined with one Linux carries over from the
process that spawned this one: measured here, a child of a 1 GiB parent reports ru_maxrss 1,060,396 KiB
while its VmHWM is 10,968 KiB. The benchmark parent holds several hundred MiB, so ``ru_maxrss`` is only
used where /proc is missing.

Nothing else from the benchmark suite may be imported here: the peak memory must be the engine's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import time
from typing import Any, Callable


def _status_kib(field: str) -> int:
    """A size field of /proc/self/status (``VmRSS``, ``VmHWM``) in KiB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _lakehouse(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    import lakehouse

    def delete() -> Any:
        return lakehouse.DeltaTable(spec["table"]).delete(spec["predicate"], max_workers=spec.get("max_workers"))

    def merge() -> Any:
        return (lakehouse.DeltaTable(spec["table"]).merge(source, predicate=spec["on"], source_alias="s", target_alias="t",
                                                          max_workers=spec.get("max_workers"))
                .when_matched_update_all().when_not_matched_insert_all().execute())

    def optimize() -> Any:
        optimizer = lakehouse.DeltaTable(spec["table"]).optimize
        if spec.get("z_order_by"):
            return optimizer.z_order(spec["z_order_by"], target_size=spec.get("target_size"))
        return optimizer.compact(target_size=spec.get("target_size"), max_workers=spec.get("max_workers"))

    def vacuum() -> Any:
        m = lakehouse.DeltaTable(spec["table"]).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                       dry_run=spec["dry_run"], mode="full" if spec["full"] else "lite")
        return {"files": list(m.files), "num_files": m.num_files, "num_bytes": m.num_bytes,
                "start_version": m.start_version, "end_version": m.end_version}

    return {"delete": delete, "merge": merge, "optimize": optimize, "vacuum": vacuum}[spec["op"]]


def _deltalake(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    import deltalake

    def delete() -> Any:
        return deltalake.DeltaTable(spec["table"]).delete(spec["predicate"])

    def merge() -> Any:
        return (deltalake.DeltaTable(spec["table"]).merge(source, predicate=spec["on"], source_alias="s", target_alias="t")
                .when_matched_update_all().when_not_matched_insert_all().execute())

    def optimize() -> Any:
        dt = deltalake.DeltaTable(spec["table"])
        if spec.get("z_order_by"):
            return dt.optimize.z_order(spec["z_order_by"], target_size=spec.get("target_size"))
        return dt.optimize.compact(target_size=spec.get("target_size"))

    def vacuum() -> Any:
        files = deltalake.DeltaTable(spec["table"]).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                           dry_run=spec["dry_run"], full=spec["full"])
        return {"files": list(files), "num_files": len(files)}

    return {"delete": delete, "merge": merge, "optimize": optimize, "vacuum": vacuum}[spec["op"]]


def _lakehouse_io(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    import lakehouse

    def write() -> Any:
        return {"version": lakehouse.write_delta(spec["table"], source, partition_by=spec.get("partition_by"),
                                                 max_workers=spec.get("max_workers")).version}

    def read() -> Any:
        return {"rows": lakehouse.read_delta(spec["table"]).num_rows}

    return {"write": write, "read": read}[spec["op"]]


def _deltalake_io(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    import deltalake

    def write() -> Any:
        deltalake.write_deltalake(spec["table"], source, partition_by=spec.get("partition_by"))
        return {}

    def read() -> Any:
        return {"rows": deltalake.DeltaTable(spec["table"]).to_pyarrow_table().num_rows}

    return {"write": write, "read": read}[spec["op"]]


def _pyarrow(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    """Raw Parquet I/O: the floor an engine that writes the same files can approach."""
    import os
    import uuid

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    root = spec["table"]
    one_thread = spec.get("threads", 1) == 1

    def put(table: Any, directory: str) -> str:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"part-{uuid.uuid4()}.zstd.parquet")
        pq.write_table(table, path, compression="zstd")
        return path

    def targets() -> list[str]:
        return sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".parquet"))

    def write() -> Any:
        by = spec.get("partition_by")
        if not one_thread:
            fmt = ds.ParquetFileFormat()
            ds.write_dataset(source, root, format="parquet", partitioning=by, partitioning_flavor="hive" if by else None,
                             file_options=fmt.make_write_options(compression="zstd"), use_threads=True)
            return {}
        if not by:
            put(source, root)
            return {}
        # One thread, one file per partition value: what a single-core partitioned writer must do.
        keys = source.column(by[0])
        for value in pc.unique(keys).to_pylist():
            put(source.filter(pc.equal(keys, value)).drop_columns(by), os.path.join(root, f"{by[0]}={value}"))
        return {}

    def read() -> Any:
        return {"rows": pq.read_table(spec["files"], use_threads=not one_thread).num_rows}

    def delete() -> Any:
        column, value = (x.strip() for x in spec["predicate"].split("="))
        out, rows = os.path.join(root, "_raw"), 0
        for f in targets():
            t = pq.read_table(f, use_threads=False)
            kept = t.filter(pc.not_equal(t.column(column), pa.scalar(int(value), t.schema.field(column).type)))
            put(kept, out)
            rows += kept.num_rows
        return {"rows": rows}

    def merge() -> Any:
        out, rows, matched = os.path.join(root, "_raw"), 0, []
        src_ids = source.column("id")
        for f in targets():
            t = pq.read_table(f, use_threads=False)
            hit = pc.is_in(t.column("id"), value_set=src_ids)
            ids = t.column("id").filter(hit)
            new = pa.concat_tables([t.filter(pc.invert(hit)), source.filter(pc.is_in(src_ids, value_set=ids))
                                    .select(t.column_names).cast(t.schema)])
            put(new, out)
            rows += new.num_rows
            matched.append(ids)
        inserts = source.filter(pc.invert(pc.is_in(src_ids, value_set=pa.chunked_array(matched, src_ids.type))))
        put(inserts, out)
        return {"rows": rows + inserts.num_rows}

    def optimize() -> Any:
        # Compaction's floor: decode every input file once and encode the rows again, on one thread.
        out, rows, files, batch, size = os.path.join(root, "_raw"), 0, 0, [], 0
        limit = spec.get("target_size") or float("inf")
        for f in targets():
            batch.append(pq.read_table(f, use_threads=False))
            size += os.path.getsize(f)
            if size >= limit:
                put(pa.concat_tables(batch), out)
                rows, files, batch, size = rows + sum(t.num_rows for t in batch), files + 1, [], 0
        if batch:
            put(pa.concat_tables(batch), out)
            rows, files = rows + sum(t.num_rows for t in batch), files + 1
        return {"rows": rows, "files_written": files}

    return {"write": write, "read": read, "delete": delete, "merge": merge, "optimize": optimize}[spec["op"]]


def _operation(spec: dict[str, Any], source: Any) -> Callable[[], Any]:
    """The engine's callable for ``spec``."""
    if spec["engine"] == "pyarrow":
        return _pyarrow(spec, source)
    if spec["op"] in ("write", "read"):
        return {"lakehouse": _lakehouse_io, "deltalake": _deltalake_io}[spec["engine"]](spec, source)
    return {"lakehouse": _lakehouse, "deltalake": _deltalake}[spec["engine"]](spec, source)


def _metrics(result: Any) -> dict[str, Any]:
    # lakehouse returns a metrics dataclass, deltalake a dict: both become plain JSON.
    raw = dataclasses.asdict(result) if dataclasses.is_dataclass(result) and not isinstance(result, type) else dict(result or {})
    return {k: v for k, v in raw.items() if isinstance(v, (int, float, str, bool)) or v is None}


def main(argv: list[str]) -> None:
    """Run the operation ``argv[0]`` describes and print its report as the last line of stdout."""
    spec = json.loads(argv[0])
    source = None
    if spec.get("source"):
        import pyarrow.parquet as pq

        # ParquetFile, not pq.read_table: that loads pyarrow.dataset, and with it pandas (~30 MiB), into
        # every engine's process before the operation starts.
        source = pq.ParquetFile(spec["source"]).read()
    operation = _operation(spec, source)
    baseline = _status_kib("VmRSS")
    start = time.perf_counter()
    result = operation()
    elapsed = time.perf_counter() - start
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {"elapsed_s": elapsed, "peak_rss_kib": _status_kib("VmHWM") or maxrss, "baseline_rss_kib": baseline,
              "ru_maxrss_kib": maxrss, "metrics": _metrics(result)}
    if isinstance(result, dict) and "files" in result:  # VACUUM: the listed paths, for the parent to compare
        report["files"] = result["files"]
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stderr.flush()
    # The report is out: leave without interpreter teardown, where deltalake's runtime threads have been
    # seen to abort the process ("terminate called without an active exception") after a good run.
    os._exit(0)
