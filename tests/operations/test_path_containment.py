"""Paths derived from the log never leave the table root (issue 18 item 7).

A hostile table sits next to a victim table. Its log names the victim's files through every kind of path
the log can hold: a deletion vector of storage type `u` (whose prefix is joined as a directory) and `p`,
a data file of an add or a tombstone, a change data file, a v2 checkpoint's sidecar, `_last_checkpoint`.
Each is written as `../`, percent-encoded `%2E%2E`, nested `sub/../../`, or an absolute path or URI. Reads
refuse with `InvalidLogError` naming the path and version; VACUUM (lite and full) refuses and deletes
nothing; the victim keeps every file and reads the same in lakehouse and delta-rs.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidLogError
from lakehouse.operations import vacuum as vacuum_module
from lakehouse.protocol.dv import z85_encode
from lakehouse.storage.base import FileInfo
from tests.support.rows import assert_same_rows, dl_read
from tests.support.log import commit_actions

DV_ON = {"delta.enableDeletionVectors": "true"}
#: scattered ids, so the victim's deletion vector is too large to be inlined and lives in a file
SCATTERED = "id IN (" + ", ".join(str(i * 7) for i in range(40)) + ")"


def _ids(n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + n), pa.int64())})


def _write_commit(path: Path, version: int, actions: list[dict]) -> None:
    info = {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "WRITE"}}
    lines = [orjson.dumps(a) for a in [info, *actions]]
    (path / "_delta_log" / f"{version:020d}.json").write_bytes(b"\n".join(lines) + b"\n")


class Victim:
    """A DV table whose deletion vector lives in a file: the target of the hostile logs."""

    def __init__(self, root: Path):
        self.path = root / "victim"
        lakehouse.write_delta(str(self.path), _ids(300), configuration=DV_ON)
        lakehouse.DeltaTable(str(self.path)).delete(SCATTERED)
        dv = next(a["add"]["deletionVector"] for a in commit_actions(self.path, 1) if "add" in a)
        assert dv["storageType"] == "u", "the victim's DV was inlined: the test lost its subject"
        self.dv = dv
        self.dv_uuid = uuid.UUID(next(f for f in os.listdir(self.path) if f.startswith("deletion_vector_"))[16:-4])
        self.dv_name = f"deletion_vector_{self.dv_uuid}.bin"
        self.data_name = next(f for f in os.listdir(self.path) if f.endswith(".parquet"))
        self.files = self._files()
        self.rows = dl_read(str(self.path))
        assert self.rows.num_rows == 260

    def _files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.path)): p.read_bytes() for p in self.path.rglob("*") if p.is_file()}

    def assert_intact(self) -> None:
        assert self._files() == self.files, "a file of the victim table was deleted or changed"
        assert_same_rows(lakehouse.DeltaTable(str(self.path)).to_arrow(), self.rows, "victim (lakehouse)")
        assert_same_rows(dl_read(str(self.path)), self.rows, "victim (delta-rs)")


@pytest.fixture
def victim(tmp_path: Path) -> Victim:
    return Victim(tmp_path)


def _hostile(tmp_path: Path, victim: Victim, dv: dict) -> Path:
    """A table of 300 rows (like the victim's file) whose file gets ``dv`` at version 1."""
    path = tmp_path / "hostile"
    lakehouse.write_delta(str(path), _ids(300), configuration=DV_ON)
    add = next(a["add"] for a in commit_actions(path, 0) if "add" in a)
    remove = {"path": add["path"], "deletionTimestamp": int(time.time() * 1000), "dataChange": True,
              "extendedFileMetadata": True, "partitionValues": {}, "size": add["size"]}
    _write_commit(path, 1, [{"remove": remove}, {"add": {**add, "deletionVector": dv}}])
    return path


def _u_prefix(victim: Victim, prefix: str) -> dict:
    return {**victim.dv, "pathOrInlineDv": prefix + z85_encode(victim.dv_uuid.bytes)}


def _assert_refused(err: InvalidLogError, needle: str, version: int) -> None:
    text = str(err)
    assert "\n" not in text, text  # one clear line
    assert needle in text and f"version {version}" in text and "outside the table" in text, text


U_PREFIXES = {
    "dotdot": lambda v: "../victim",
    "encoded-dotdot": lambda v: "%2E%2E/victim",
    "nested-dotdot": lambda v: "sub/../../victim",
    "absolute-posix": lambda v: str(v.path),
    "absolute-file-uri": lambda v: f"file://{v.path}",
}


@pytest.mark.parametrize("kind", sorted(U_PREFIXES))
def test_read_refuses_a_u_deletion_vector_outside_the_root(tmp_path, victim, kind):
    hostile = _hostile(tmp_path, victim, _u_prefix(victim, U_PREFIXES[kind](victim)))
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).to_arrow()
    _assert_refused(info.value, victim.dv_name, 1)
    for op in (lambda dt: dt.delete("id = 1"), lambda dt: dt.update(updates={"id": "3"}, predicate="id = 2"),
               lambda dt: dt.optimize.compact()):
        with pytest.raises(InvalidLogError):
            op(lakehouse.DeltaTable(str(hostile)))
    assert lakehouse.DeltaTable(str(hostile)).version == 1
    victim.assert_intact()


P_PATHS = {
    "dotdot": lambda v: f"../victim/{v.dv_name}",
    "encoded-dotdot": lambda v: f"%2E%2E/victim/{v.dv_name}",
    "absolute-posix": lambda v: f"{v.path}/{v.dv_name}",
    "absolute-file-uri": lambda v: f"file://{v.path}/{v.dv_name}",
    "absolute-encoded-dotdot": lambda v: f"file://{v.path.parent}/hostile/%2E%2E/victim/{v.dv_name}",
}


@pytest.mark.parametrize("kind", sorted(P_PATHS))
def test_read_refuses_a_p_deletion_vector_outside_the_root(tmp_path, victim, kind):
    raw = P_PATHS[kind](victim)
    hostile = _hostile(tmp_path, victim, {**victim.dv, "storageType": "p", "pathOrInlineDv": raw})
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).to_arrow()
    _assert_refused(info.value, victim.dv_name, 1)
    victim.assert_intact()


def _tombstone_of_dv(tmp_path: Path, victim: Victim, dv: dict) -> Path:
    """The hostile file with ``dv``, then removed by a commit with an expired tombstone (timestamp 1)."""
    hostile = _hostile(tmp_path, victim, dv)
    add = next(a["add"] for a in commit_actions(hostile, 1) if "add" in a)
    remove = {"path": add["path"], "deletionTimestamp": 1, "dataChange": True, "extendedFileMetadata": True,
              "partitionValues": {}, "size": add["size"], "deletionVector": dv}
    _write_commit(hostile, 2, [{"remove": remove}])
    return hostile


@pytest.mark.parametrize("mode", ["lite", "full"])
@pytest.mark.parametrize("kind", sorted(U_PREFIXES))
def test_vacuum_of_a_hostile_table_leaves_the_victim_intact(tmp_path, victim, kind, mode):
    """The issue's reproduction: VACUUM lite deleted the victim's DV file named by a tombstone's `u` DV."""
    hostile = _tombstone_of_dv(tmp_path, victim, _u_prefix(victim, U_PREFIXES[kind](victim)))
    before = sorted(os.listdir(hostile / "_delta_log"))
    for dry_run in (True, False):
        with pytest.raises(InvalidLogError) as info:
            lakehouse.DeltaTable(str(hostile)).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                      dry_run=dry_run, mode=mode)
        _assert_refused(info.value, victim.dv_name, 2)
    assert sorted(os.listdir(hostile / "_delta_log")) == before, "a refused VACUUM committed something"
    victim.assert_intact()


@pytest.mark.parametrize("raw", ["../victim/{data}", "%2E%2E/victim/{data}", "sub/../../victim/{data}",
                                 "{victim}/{data}", "file://{victim}/{data}"])
def test_vacuum_refuses_a_tombstone_outside_the_root(tmp_path, victim, raw):
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration=DV_ON)
    path = raw.format(data=victim.data_name, victim=victim.path)
    _write_commit(hostile, 1, [{"remove": {"path": path, "deletionTimestamp": 1, "dataChange": True}}])
    for mode in ("lite", "full"):
        with pytest.raises(InvalidLogError) as info:
            lakehouse.DeltaTable(str(hostile)).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                      dry_run=False, mode=mode)
        _assert_refused(info.value, victim.data_name, 1)
    victim.assert_intact()


@pytest.mark.parametrize("raw", ["../victim/{data}", "%2E%2E/victim/{data}", "file://{victim}/{data}"])
def test_change_data_file_outside_the_root(tmp_path, victim, raw):
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration={"delta.enableChangeDataFeed": "true"})
    lakehouse.DeltaTable(str(hostile)).delete("id = 1")  # a real change data file, for VACUUM full to weigh
    for f in (hostile / "_change_data").iterdir():
        os.utime(f, (time.time() - 7200, time.time() - 7200))
    path = raw.format(data=victim.data_name, victim=victim.path)
    _write_commit(hostile, 2, [{"cdc": {"path": path, "partitionValues": {}, "size": 1, "dataChange": False}}])
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).load_cdf(0)
    _assert_refused(info.value, victim.data_name, 2)
    # VACUUM full reads the change data files named inside the window (commit 2 is): refused
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).vacuum(retention_hours=1, enforce_retention_duration=False,
                                                  dry_run=False, mode="full")
    _assert_refused(info.value, victim.data_name, 2)
    victim.assert_intact()


def _v2_checkpoint_with_sidecar(hostile: Path, sidecar_path: str) -> None:
    """Replace the hostile table's log up to version 0 by a JSON v2 checkpoint whose sidecar is
    ``sidecar_path`` (and drop commit 0, so the checkpoint is all there is)."""
    actions = commit_actions(hostile, 0)
    lines = [{"checkpointMetadata": {"version": 0}},
             {"sidecar": {"path": sidecar_path, "sizeInBytes": 1, "modificationTime": 1}}]
    lines += [a for a in actions if "protocol" in a or "metaData" in a]
    name = f"{0:020d}.checkpoint.{uuid.uuid4()}.json"
    (hostile / "_delta_log" / name).write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    (hostile / "_delta_log" / f"{0:020d}.json").unlink()


@pytest.mark.parametrize("raw", ["_sidecars/../../../victim/planted.parquet", "..", "_sidecars/..",
                                 "_sidecars/%2E%2E/%2E%2E/%2E%2E/victim/planted.parquet"])
def test_sidecar_outside_the_sidecar_directory(tmp_path, victim, raw):
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration=DV_ON)
    lakehouse.write_delta(str(hostile), _ids(2, 10), mode="append")
    # A valid sidecar for the hostile table planted outside it, where the path points: a reader that
    # followed the path would read the table from a file outside it.
    checkpoint = lakehouse.DeltaTable(str(hostile)).create_checkpoint()
    (hostile / "_delta_log" / checkpoint).rename(victim.path / "planted.parquet")
    (hostile / "_delta_log" / "_sidecars").mkdir()  # a v2 table with sidecars has the directory
    victim.files = victim._files()
    _v2_checkpoint_with_sidecar(hostile, raw)
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).to_arrow()
    assert "sidecar" in str(info.value) and "outside the table" in str(info.value), str(info.value)
    victim.assert_intact()


def test_sidecar_inside_the_sidecar_directory_is_read(tmp_path, victim):
    """The containment rule does not refuse what the protocol allows: a bare name, `_sidecars/<name>`, a
    URI (of which only the name counts)."""
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration=DV_ON)
    checkpoint = lakehouse.DeltaTable(str(hostile)).create_checkpoint()
    (hostile / "_delta_log" / "_sidecars").mkdir()
    for i, raw in enumerate(["a.parquet", "_sidecars/b.parquet", "file:///elsewhere/_sidecars/c%2E.parquet"]):
        name = raw.rsplit("/", 1)[-1].replace("%2E", ".")
        shutil.copy(hostile / "_delta_log" / checkpoint, hostile / "_delta_log" / "_sidecars" / name)
        copy = tmp_path / f"copy{i}"
        shutil.copytree(hostile, copy)
        (copy / "_delta_log" / checkpoint).unlink()
        _v2_checkpoint_with_sidecar(copy, raw)
        assert sorted(lakehouse.DeltaTable(str(copy)).to_arrow().column("id").to_pylist()) == [0, 1, 2], raw


def test_hostile_last_checkpoint_paths_are_not_followed(tmp_path, victim):
    """`_last_checkpoint` is a hint: only its version is used, never a path it names."""
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration=DV_ON)
    lakehouse.DeltaTable(str(hostile)).create_checkpoint()
    hint = {"version": 0, "size": 3, "v2Checkpoint": {
        "path": f"../../victim/_delta_log/{victim.data_name}", "sizeInBytes": 1, "modificationTime": 1,
        "sidecarFiles": [{"path": f"../../../victim/{victim.data_name}", "sizeInBytes": 1, "modificationTime": 1}]}}
    (hostile / "_delta_log" / "_last_checkpoint").write_bytes(orjson.dumps(hint))
    assert sorted(lakehouse.DeltaTable(str(hostile)).to_arrow().column("id").to_pylist()) == [0, 1, 2]
    lakehouse.DeltaTable(str(hostile)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False,
                                              mode="lite")
    victim.assert_intact()


@pytest.mark.parametrize("outside", ["../victim/{dv}", "/{victim}/{dv}", "sub/../../victim/{dv}", "", "."])
def test_vacuum_checks_every_path_again_at_the_delete_call(tmp_path, victim, monkeypatch, outside):
    """Defence in depth: even if planning produced a path outside the root (a bug, or a log trick not
    thought of), VACUUM deletes nothing and commits nothing."""
    hostile = tmp_path / "hostile"
    lakehouse.write_delta(str(hostile), _ids(3), configuration=DV_ON)
    bad = outside.format(dv=victim.dv_name, victim=str(victim.path).lstrip("/"))
    monkeypatch.setattr(vacuum_module, "plan_vacuum", lambda *a, **k: [FileInfo(bad, 1, 0)])
    with pytest.raises(InvalidLogError) as info:
        lakehouse.DeltaTable(str(hostile)).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                  dry_run=False, mode="lite")
    assert "VACUUM refuses to delete" in str(info.value)
    assert lakehouse.DeltaTable(str(hostile)).version == 0
    # and right at the delete call, for callers that skip planning
    with pytest.raises(InvalidLogError):
        vacuum_module._delete_all(lakehouse.DeltaTable(str(hostile))._storage, [bad], None, 0)
    victim.assert_intact()
