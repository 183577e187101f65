"""`detail()` numbers against the files and rows (deletion vectors subtracted) and against delta-rs's view of
the same log; `verify()` finds each kind of damage it promises to name (missing or truncated data file,
missing or corrupted deletion vector, altered checkpoint, a hole in the log, a bad `_last_checkpoint`, a
broken commit) and changes nothing while looking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.scan.deletion_vectors import dv_file_path
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.operations.verify import verify_table
from tests.support.conformance import MISSING, corpus_dir
from tests.support.log import data_files_on_disk, log_state as log_files

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("p", pa.string())])


def rows(start: int, n: int, parts: str = "ab") -> pa.Table:
    """``n`` rows with ids from ``start``."""
    return pa.Table.from_pylist([{"id": i, "v": i, "p": parts[i % len(parts)]} for i in range(start, start + n)],
                                schema=SCHEMA)


def dv_table(path: str) -> None:
    """v0: 300 rows in one file, v1: 20 more, v2: DELETE of 100 scattered rows (an on-disk DV) and 1 more."""
    lakehouse.write_delta(path, rows(0, 300, "a"), partition_by=["p"],
                          configuration={"delta.enableDeletionVectors": "true"})
    lakehouse.write_delta(path, rows(300, 20), mode="append")
    doomed = list(range(0, 300, 3)) + [301]
    lakehouse.DeltaTable(path).delete(f"id IN ({', '.join(map(str, doomed))})")


def dv_files(path: str) -> list[str]:
    """Deletion vector files on disk."""
    return sorted(p for p in data_files_on_disk(path) if Path(p).name.startswith("deletion_vector"))


# -- detail --------------------------------------------------------------------------------------------------
def test_detail_numbers(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    dt = lakehouse.DeltaTable(path)
    d = dt.detail()
    files = dt.files()
    assert d.version == 2 and d.id == dt.metadata.id and d.partition_columns == ["p"]
    assert d.num_files == files.num_rows == 3
    on_disk = sum((Path(path) / unquote(p)).stat().st_size for p in files["path"].to_pylist())
    assert d.size_in_bytes == on_disk
    assert d.num_rows == dt.to_arrow().num_rows == 320 - 101
    assert d.num_deleted_rows == 101
    assert d.num_deletion_vectors == 2
    assert d.last_operation == "DELETE"
    assert (d.min_reader_version, d.min_writer_version) == (3, 7)
    assert "deletionVectors" in d.reader_features and "deletionVectors" in d.writer_features
    assert d.properties["delta.enableDeletionVectors"] == "true"
    assert d.column_mapping_mode == "none"
    assert d.created_time == dt.metadata.created_time
    # delta-rs sees the same files and sizes
    adds = pa.table(deltalake.DeltaTable(path).get_add_actions(flatten=True))
    assert adds.num_rows == d.num_files and pc.sum(adds["size_bytes"]).as_py() == d.size_in_bytes
    # an older version
    d0 = lakehouse.DeltaTable(path, version=0).detail()
    assert (d0.version, d0.num_files, d0.num_rows, d0.num_deletion_vectors, d0.last_operation) == (0, 1, 300, 0, "WRITE")


def test_detail_after_maintenance_and_on_empty_tables(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    dt = lakehouse.DeltaTable(path)
    dt.optimize.compact()
    d = dt.detail()
    assert d.last_operation == "OPTIMIZE" and d.num_deletion_vectors == 0 and d.num_deleted_rows == 0
    assert d.num_rows == 219 and d.num_files == 2
    dt.alter.set_table_properties({"delta.columnMapping.mode": "name"})
    assert dt.detail().column_mapping_mode == "name"
    assert dt.detail().last_operation == "SET TBLPROPERTIES"
    empty = str(tmp_path / "e")
    lakehouse.DeltaTable.create(empty, schema=SCHEMA, name="events", description="nothing yet")
    e = lakehouse.DeltaTable(empty).detail()
    assert (e.num_files, e.size_in_bytes, e.num_rows, e.name, e.description) == (0, 0, 0, "events", "nothing yet")


def test_detail_without_stats_has_no_row_count(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows(0, 4))
    lakehouse.write_delta(path, rows(4, 4), mode="append")
    commit = Path(path) / "_delta_log" / f"{1:020d}.json"
    actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
    for a in actions:
        if "add" in a:
            a["add"].pop("stats", None)  # as a writer that keeps no statistics leaves it
    commit.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    d = lakehouse.DeltaTable(path).detail()
    assert d.num_rows is None and d.num_files == 2
    assert lakehouse.DeltaTable(path, version=0).detail().num_rows == 4


# -- verify --------------------------------------------------------------------------------------------------
def kinds(report) -> set[str]:
    """The kinds of problem a verify report names."""
    return {p.kind for p in report.problems}


def assert_untouched(path: str, before: tuple) -> None:
    """The log and data files are exactly as ``before`` (log bytes, data file names)."""
    assert (log_files(path), data_files_on_disk(path)) == before, "verify must not change anything"


def test_clean_tables_verify_ok(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    dt = lakehouse.DeltaTable(path)
    dt.create_checkpoint()
    lakehouse.write_delta(path, rows(500, 3), mode="append")
    before = (log_files(path), data_files_on_disk(path))
    report = lakehouse.DeltaTable(path).verify()
    assert report.ok, report.problems
    assert report.version == 3
    assert report.checked["commits"] == 4 and report.checked["checkpoints"] == 1
    assert report.checked["data_files"] == 5 and report.checked["deletion_vectors"] == 2
    assert_untouched(path, before)
    # a column-mapped table written by lakehouse, and the same through the function API
    cm = str(tmp_path / "cm")
    lakehouse.write_delta(cm, rows(0, 5), configuration={"delta.columnMapping.mode": "id"})
    assert verify_table(cm).ok


def test_missing_data_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    victim = unquote(sorted(lakehouse.DeltaTable(path).files()["path"].to_pylist())[0])
    (Path(path) / victim).unlink()
    before = (log_files(path), data_files_on_disk(path))
    report = lakehouse.DeltaTable(path).verify()
    assert not report.ok
    missing = [p for p in report.problems if p.kind == "missing_file"]
    assert [p.path for p in missing] == [victim] and missing[0].version == 2
    assert kinds(report) == {"missing_file"}
    assert_untouched(path, before)


def test_truncated_data_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    victim = unquote(sorted(lakehouse.DeltaTable(path).files()["path"].to_pylist())[-1])
    f = Path(path) / victim
    f.write_bytes(f.read_bytes()[:-10])
    report = lakehouse.DeltaTable(path).verify()
    problems = [p for p in report.problems if p.kind == "size_mismatch"]
    assert [p.path for p in problems] == [victim]
    assert kinds(report) == {"size_mismatch"}


def test_corrupted_deletion_vector(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    [dv] = dv_files(path)
    f = Path(path) / dv
    raw = bytearray(f.read_bytes())
    middle = len(raw) // 2
    raw[middle] ^= 0xFF  # same size, wrong bits: only the checksum can tell
    f.write_bytes(bytes(raw))
    report = lakehouse.DeltaTable(path).verify()
    bad = [p for p in report.problems if p.kind == "bad_dv"]
    assert bad and all(p.path == dv for p in bad), report.problems
    assert kinds(report) == {"bad_dv"}


def test_missing_deletion_vector(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    [dv] = dv_files(path)
    (Path(path) / dv).unlink()
    report = lakehouse.DeltaTable(path).verify()
    assert kinds(report) == {"missing_dv"} and {p.path for p in report.problems} == {dv}


def _checkpoint_file(path: str) -> Path:
    """The table's single classic checkpoint file."""
    [cp] = sorted((Path(path) / "_delta_log").glob("*.checkpoint.parquet"))
    return cp


def test_checkpoint_with_an_add_dropped(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    lakehouse.DeltaTable(path).create_checkpoint()
    cp = _checkpoint_file(path)
    table = pq.read_table(cp)
    adds = pc.is_valid(table["add"]).to_pylist()
    assert sum(adds) == 3
    keep = [True] * len(adds)
    keep[adds.index(True)] = False  # drop the first add row
    pq.write_table(table.filter(pa.array(keep)), cp)
    report = lakehouse.DeltaTable(path).verify() if _opens(path) else verify_table(path)
    found = [p for p in report.problems if p.kind in ("checkpoint_mismatch", "bad_checkpoint")]
    assert found, report.problems
    assert all(p.version == 2 for p in found) and found[0].path == f"_delta_log/{cp.name}"


def _opens(path: str) -> bool:
    """Whether lakehouse can open the table at all."""
    try:
        lakehouse.DeltaTable(path)
        return True
    except lakehouse.LakehouseError:
        return False


def test_checkpoint_that_does_not_parse(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    dv_table(path)
    lakehouse.DeltaTable(path).create_checkpoint()
    cp = _checkpoint_file(path)
    cp.write_bytes(b"PAR1 not really parquet PAR1")
    report = verify_table(path)
    assert "bad_checkpoint" in kinds(report), report.problems


def test_a_deleted_commit_in_the_middle(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for i in range(5):
        lakehouse.write_delta(path, rows(i * 3, 3), mode="append" if i else "error")
    (Path(path) / "_delta_log" / f"{2:020d}.json").unlink()
    report = verify_table(path)
    gaps = [p for p in report.problems if p.kind == "log_gap"]
    assert gaps and gaps[0].version == 2 and gaps[0].path == f"_delta_log/{2:020d}.json"


def test_bad_last_checkpoint_and_bad_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for i in range(3):
        lakehouse.write_delta(path, rows(i * 3, 3), mode="append" if i else "error")
    (Path(path) / "_delta_log" / "_last_checkpoint").write_text(json.dumps({"version": 1, "size": 3}))
    report = verify_table(path)
    assert [p.kind for p in report.problems] == ["last_checkpoint"] and report.problems[0].version == 1
    (Path(path) / "_delta_log" / f"{1:020d}.json").write_text("{not json\n")
    report = verify_table(path)
    bad = [p for p in report.problems if p.kind == "bad_commit"]
    assert bad and bad[0].version == 1


def test_verify_a_corpus_table_with_deletion_vectors_and_checkpoints(tmp_path: Path) -> None:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip(MISSING)
    path = tmp_path / "t"
    shutil.copytree(corpus / "tables" / "golden__dv-partitioned-with-checkpoint", path)
    assert verify_table(path).ok
    dvs = [d for d in lakehouse.DeltaTable(path).files()["deletion_vector"].to_pylist() if d]
    assert dvs and dvs[0]["storageType"] == "u"
    dv = dv_file_path(decode_deletion_vector(dvs[0], path="x"), lakehouse.DeltaTable(path).snapshot.storage.root_uri)
    raw = bytearray((path / dv).read_bytes())
    raw[len(raw) // 2] ^= 0x55
    (path / dv).write_bytes(bytes(raw))
    assert "bad_dv" in kinds(verify_table(path))


def _corpus_tables() -> list:
    """One pytest param per corpus table (none without the corpus)."""
    corpus = corpus_dir()
    if corpus is None:
        return []
    manifest = json.loads((corpus / "MANIFEST.json").read_text())
    return [pytest.param(t, id=t["name"]) for t in manifest["tables"]]


# Tables of the corpus that are damaged on purpose, with the problems verify must name.
DAMAGED = {
    "golden__deltalog-invalid-protocol-version": {"unreadable"},
    "golden__deltalog-state-reconstruction-without-metadata": {"unreadable"},
    "golden__versions-not-contiguous": {"log_gap", "bad_commit", "unreadable"},
    "deltars__with_checkpoint_no_last_checkpoint": {"missing_file"},  # its data files were not kept
    "golden__no-delta-log-folder": None,  # not a table at all
}


@pytest.mark.parametrize("table", _corpus_tables())
def test_verify_finds_no_problem_in_healthy_corpus_tables(table: dict) -> None:
    """A false alarm on a table Spark, delta-rs or kernel wrote correctly is a verify bug."""
    path = corpus_dir() / table["table_path"]
    expected = DAMAGED.get(table["name"], set())
    if expected is None:
        with pytest.raises(lakehouse.LakehouseError):
            verify_table(path)
        return
    report = verify_table(path)
    assert kinds(report) == expected, [(p.kind, p.path, p.message) for p in report.problems]


def test_checkpoint_with_the_same_schema_spelled_differently_is_not_a_mismatch(tmp_path: Path) -> None:
    """Writers format schemaString differently (kernel adds spaces); only a different schema is a mismatch."""
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, rows(0, 4))
    lakehouse.write_delta(path, rows(4, 2), mode="append")
    lakehouse.DeltaTable(path).create_checkpoint()
    cp = _checkpoint_file(path)
    table = pq.read_table(cp)
    field = table.schema.field("metaData")
    respelled = [dict(m, schemaString=json.dumps(json.loads(m["schemaString"]))) if m else None
                 for m in table.column("metaData").to_pylist()]
    pq.write_table(table.set_column(table.schema.get_field_index("metaData"), field, pa.array(respelled, field.type)), cp)
    assert lakehouse.DeltaTable(path).to_arrow().num_rows == 6
    report = verify_table(path)
    assert report.ok, report.problems
