"""Child process of the DML and maintenance benchmarks: one operation by one engine, timed and measured alone.

``python -m benchmarks.dml_child '<json spec>'`` with spec keys ``engine`` (``lakehouse`` or
``deltalake``), ``op`` and ``table`` (path), plus per ``op``:

* ``delete``: ``predicate``; ``merge``: ``on`` and ``source`` (the condition and a Parquet file of source
  rows);
* ``optimize``: ``z_order_by`` (a list of columns, or null for bin-packing) and ``target_size`` (bytes, or
  null for the engine's default);
* ``vacuum``: ``dry_run`` and ``full`` (lakehouse ``mode="full"``/``"lite"``, deltalake ``full=``), always
  with retention 0 and the retention check off; the report adds ``files``, the paths the engine listed.

It imports only that engine (and pyarrow to load a MERGE source), runs the operation once and prints one
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
        return optimizer.compact(target_size=spec.get("target_size"))

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


def _metrics(result: Any) -> dict[str, Any]:
    # lakehouse returns a metrics dataclass, deltalake a dict: both become plain JSON.
    raw = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result or {})
    return {k: v for k, v in raw.items() if isinstance(v, (int, float, str, bool)) or v is None}


def main(argv: list[str]) -> None:
    """Run the operation ``argv[0]`` describes and print its report as the last line of stdout."""
    spec = json.loads(argv[0])
    source = None
    if spec.get("source"):
        import pyarrow.parquet as pq

        source = pq.read_table(spec["source"])
    operation = {"lakehouse": _lakehouse, "deltalake": _deltalake}[spec["engine"]](spec, source)
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
