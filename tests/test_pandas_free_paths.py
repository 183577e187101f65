"""The write, DML and maintenance paths never make pyarrow import pandas (issue 15).

pyarrow imports pandas (when it is installed) the first time it converts a Python object or loads
pyarrow.dataset: 0.1-0.2 s and ~30 MiB in every fresh process, more than a whole DELETE with deletion
vectors or a VACUUM dry run takes. A subprocess runs every such operation once on real tables with
pandas installed and checks after each step that pandas is still not loaded; then it reads every table
back (the read path may load it) and checks every row.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

import lakehouse
from tests.support.rows import dl_table

SCRIPT = r"""
import sys
import numpy as np
import pyarrow as pa
import lakehouse
from lakehouse.protocol import arrow_values as av

root = sys.argv[1]
done = []
where = []


class Witness:
    # Records where pandas is first imported, for the failure message.

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" and not where:
            import traceback

            frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
            where.extend(f"{f.filename}:{f.lineno} {f.line}" for f in frames[-8:])
        return None


sys.meta_path.insert(0, Witness())


def step(name):
    assert "pandas" not in sys.modules, f"pandas was imported by: {name} (after {done}) at\n" + "\n".join(where)
    done.append(name)


def rows(ids):
    ids = np.asarray(ids, dtype=np.int64)
    return pa.table({"id": av.array(ids, pa.int64()), "bucket": av.array(ids % 10, pa.int64()),
                     "v": av.array(ids * 0.5, pa.float64()), "s": av.array([f"s{i}" for i in ids.tolist()], pa.string())})


dv, cow, part = f"{root}/dv", f"{root}/cow", f"{root}/part"
lakehouse.write_delta(dv, rows(np.arange(0, 3000)), configuration={"delta.enableDeletionVectors": "true"})
lakehouse.write_delta(cow, rows(np.arange(0, 3000)))
lakehouse.write_delta(part, rows(np.arange(0, 3000)), partition_by=["bucket"],
                      configuration={"delta.checkpoint.writeStatsAsStruct": "true"})
step("create")
for start in range(3000, 6000, 1000):
    for path in (dv, cow, part):
        lakehouse.write_delta(path, rows(np.arange(start, start + 1000)), mode="append")
step("append")
for path in (dv, cow, part):
    lakehouse.DeltaTable(path).delete("bucket = 3 AND id < 4000")
step("delete")
for path in (dv, cow, part):
    lakehouse.DeltaTable(path).update({"v": "v + 1", "s": "'u'"}, predicate="id >= 5000 AND id < 5100")
step("update")
source = rows(np.arange(5900, 6100))
for path in (dv, cow, part):
    (lakehouse.DeltaTable(path).merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t")
     .when_matched_update({"v": "s.v * 2"}).when_not_matched_insert_all().execute())
step("merge")
for path in (dv, cow, part):
    lakehouse.DeltaTable(path).optimize.compact()
step("optimize")
lakehouse.DeltaTable(cow).optimize.z_order(["id", "v"])
lakehouse.write_delta(cow, rows(np.arange(6100, 6200)), mode="append")
lakehouse.DeltaTable(cow).optimize.z_order(["id", "v"])  # now the files carry Z-cube tags
step("z-order")
for path in (dv, cow, part):
    lakehouse.DeltaTable(path).create_checkpoint()
step("checkpoint")
for path in (dv, cow, part):
    table = lakehouse.DeltaTable(path)
    planned = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
    deleted = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert planned.num_files > 0 and sorted(planned.files) == sorted(deleted.files), path
step("vacuum")
for path in (dv, cow, part):
    table = lakehouse.DeltaTable(path)
    table.history()
    table.files()
    lakehouse.DeltaTable(path, version=2)
step("history, files, time travel")
print("|".join(done))
"""


def _expected(appended: range = range(0)) -> list[tuple[int, int, float, str]]:
    """Every row the script's operations leave (plus rows ``appended`` after the MERGE), computed
    independently in Python."""
    out: dict[int, tuple[int, int, float, str]] = {}
    for i in range(0, 6000):
        if i % 10 == 3 and i < 4000:
            continue
        v, s = i * 0.5, f"s{i}"
        if 5000 <= i < 5100:
            v, s = v + 1, "u"
        out[i] = (i, i % 10, v, s)
    for i in range(5900, 6100):
        out[i] = (i, i % 10, i * 0.5 * 2, out[i][3]) if i in out else (i, i % 10, i * 0.5, f"s{i}")
    out.update({i: (i, i % 10, i * 0.5, f"s{i}") for i in appended})
    return sorted(out.values())


def test_write_dml_and_maintenance_never_import_pandas(tmp_path: Path) -> None:
    # Without pandas installed the check could not fail: the test environment has it (the dask extra).
    assert importlib.util.find_spec("pandas") is not None
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().split("|") == ["create", "append", "delete", "update", "merge", "optimize", "z-order", "checkpoint",
                                             "vacuum", "history, files, time travel"]
    schema = pa.schema([("id", pa.int64()), ("bucket", pa.int64()), ("v", pa.float64()), ("s", pa.string())])
    for name in ("dv", "cow", "part"):
        path = str(tmp_path / name)
        for reader, table in (("lakehouse", lakehouse.DeltaTable(path).to_arrow()), ("deltalake", dl_table(path))):
            table = table.select(schema.names).cast(schema)
            got = sorted(zip(*(table.column(c).to_pylist() for c in schema.names)))
            assert got == _expected(range(6100, 6200) if name == "cow" else range(0)), (name, reader)
