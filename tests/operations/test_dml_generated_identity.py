"""UPDATE and MERGE on tables with generated, identity and default columns (PROTOCOL.md "Generated
Columns", "Identity Columns", "Default Columns"; spec/generated-identity-defaults.md): generated columns
recomputed or checked, identity values assigned on MERGE insert (unique with appends, the mark in the same
commit), defaults on MERGE insert; deletion vectors and copy-on-write; every version read back by lakehouse
and deltalake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError
from tests.support.log import active_paths, commit_actions, log_state
from tests.support.rows import Versions, assert_versions_agree


def _schema(explicit: bool) -> pa.Schema:
    return pa.schema([
        pa.field("k", pa.int64()), pa.field("n", pa.int64()),
        pa.field("n2", pa.int64(), metadata={"delta.generationExpression": "n * 2"}),
        pa.field("id", pa.int64(), metadata={"delta.identity.start": "1", "delta.identity.step": "1",
                                             "delta.identity.allowExplicitInsert": str(explicit).lower()}),
        pa.field("z", pa.int32(), metadata={"CURRENT_DEFAULT": "40 + 2"}),
    ])


def _rows(rows: list[tuple[int, int, int, int]]) -> pa.Table:
    """(k, n, id, z) rows with n2 = n * 2."""
    rows = sorted(rows)
    return pa.table({"k": pa.array([r[0] for r in rows], pa.int64()), "n": pa.array([r[1] for r in rows], pa.int64()),
                     "n2": pa.array([r[1] * 2 for r in rows], pa.int64()),
                     "id": pa.array([r[2] for r in rows], pa.int64()), "z": pa.array([r[3] for r in rows], pa.int32())})


def _mark(path: str) -> object:
    return lakehouse.DeltaTable(path).delta_schema.field("id").metadata.get("delta.identity.highWaterMark")


@pytest.mark.parametrize("dv", [True, False], ids=["dv", "copy_on_write"])
@pytest.mark.parametrize("explicit", [False, True], ids=["always", "by_default"])
def test_update_and_merge_complete_columns(tmp_path, dv: bool, explicit: bool) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(explicit),
                                configuration={"delta.enableDeletionVectors": str(dv).lower()})
    v = Versions(path)
    v[0] = _rows([])
    lakehouse.write_delta(path, pa.table({"k": [1, 2, 3], "n": [10, 20, 30]}), mode="append")
    v[1] = _rows([(1, 10, 1, 42), (2, 20, 2, 42), (3, 30, 3, 42)])
    lakehouse.DeltaTable(path).update(predicate="k = 1", updates={"n": "n + 1"})
    v[2] = _rows([(1, 11, 1, 42), (2, 20, 2, 42), (3, 30, 3, 42)])
    # MERGE update (generated recomputed) + insert (identity, default and generated filled)
    (lakehouse.DeltaTable(path).merge(pa.table({"k": [2, 4], "n": [200, 400]}), "t.k = s.k")
     .when_matched_update({"n": "s.n"}).when_not_matched_insert({"k": "s.k", "n": "s.n"}).execute())
    v[3] = _rows([(1, 11, 1, 42), (2, 200, 2, 42), (3, 30, 3, 42), (4, 400, 4, 42)])
    assert _mark(path) == 4
    # MERGE delete + insert_all whose source lacks id, n2 and z
    (lakehouse.DeltaTable(path).merge(pa.table({"k": [3, 5], "n": [0, 5]}), "t.k = s.k")
     .when_matched_delete().when_not_matched_insert_all().execute())
    v[4] = _rows([(1, 11, 1, 42), (2, 200, 2, 42), (4, 400, 4, 42), (5, 5, 5, 42)])
    lakehouse.write_delta(path, pa.table({"k": [6], "n": [6]}), mode="append")
    v[5] = _rows([(1, 11, 1, 42), (2, 200, 2, 42), (4, 400, 4, 42), (5, 5, 5, 42), (6, 6, 6, 42)])
    # update_all with a matching generated value given explicitly, and a generated column left to compute
    (lakehouse.DeltaTable(path).merge(pa.table({"k": [6], "n": [7], "n2": [14]}), "t.k = s.k")
     .when_matched_update_all().execute())
    v[6] = _rows([(1, 11, 1, 42), (2, 200, 2, 42), (4, 400, 4, 42), (5, 5, 5, 42), (6, 7, 6, 42)])
    assert _mark(path) == 6
    metadata = [a for a in commit_actions(path, 4) if "metaData" in a]
    assert len(metadata) == 1 and '"delta.identity.highWaterMark":5' in metadata[0]["metaData"]["schemaString"]
    v.check()
    assert_versions_agree(path)
    ids = lakehouse.DeltaTable(path).to_arrow().column("id").to_pylist()
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("dv", [True, False], ids=["dv", "copy_on_write"])
def test_wrong_generated_or_identity_values_refused(tmp_path, dv: bool) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False),
                                configuration={"delta.enableDeletionVectors": str(dv).lower()})
    lakehouse.write_delta(path, pa.table({"k": [1, 2], "n": [10, 20]}), mode="append")
    before = log_state(path)
    files = sorted(p.name for p in (tmp_path / "t").iterdir())
    dt = lakehouse.DeltaTable(path)
    with pytest.raises(ConstraintViolationError, match="'n2' is generated as n \\* 2"):
        dt.update(predicate="k = 1", updates={"n2": "5"})
    with pytest.raises(ConstraintViolationError, match="identity"):
        dt.update(predicate="k = 1", updates={"id": "7"})
    with pytest.raises(ConstraintViolationError, match="'n2' is generated"):
        (dt.merge(pa.table({"k": [1], "n": [3]}), "t.k = s.k")
         .when_matched_update({"n": "s.n", "n2": "1"}).execute())
    with pytest.raises(ConstraintViolationError, match="'n2' is generated"):
        (dt.merge(pa.table({"k": [9], "n": [3], "n2": [5]}), "t.k = s.k").when_not_matched_insert_all().execute())
    with pytest.raises(ConstraintViolationError, match="GENERATED ALWAYS"):
        (dt.merge(pa.table({"k": [9], "n": [3], "id": [100]}), "t.k = s.k").when_not_matched_insert_all().execute())
    assert log_state(path) == before
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == files  # no file left behind
    assert_versions_agree(path)


def test_by_default_merge_insert_keeps_explicit_ids_and_moves_mark(tmp_path) -> None:
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(True))
    lakehouse.write_delta(path, pa.table({"k": [1], "n": [1]}), mode="append")
    (lakehouse.DeltaTable(path).merge(pa.table({"k": [2, 3], "n": [2, 3], "id": [50, None]}), "t.k = s.k")
     .when_not_matched_insert_all().execute())
    # an explicit null is kept as given (BY DEFAULT keeps explicit values); the mark moves past 50
    assert _mark(path) == 50
    lakehouse.write_delta(path, pa.table({"k": [4], "n": [4]}), mode="append")
    got = {r["k"]: r["id"] for r in lakehouse.DeltaTable(path).to_arrow().to_pylist()}
    assert got == {1: 1, 2: 50, 3: None, 4: 51}
    assert_versions_agree(path)


def test_change_data_holds_completed_rows(tmp_path) -> None:
    """The update_postimage and insert change rows carry the recomputed generated, the assigned identity
    and the default values, as the data files do."""
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False), configuration={"delta.enableChangeDataFeed": "true"})
    lakehouse.write_delta(path, pa.table({"k": [1], "n": [10]}), mode="append")
    lakehouse.DeltaTable(path).update(updates={"n": "n + 5"})
    (lakehouse.DeltaTable(path).merge(pa.table({"k": [1, 2], "n": [7, 8]}), "t.k = s.k")
     .when_matched_update({"n": "s.n"}).when_not_matched_insert({"k": "s.k", "n": "s.n"}).execute())
    cdf = lakehouse.DeltaTable(path).load_cdf(2, 3).to_pylist()
    got = sorted((r["_commit_version"], r["_change_type"], r["k"], r["n"], r["n2"], r["id"], r["z"]) for r in cdf)
    assert got == [(2, "update_postimage", 1, 15, 30, 1, 42), (2, "update_preimage", 1, 10, 20, 1, 42),
                   (3, "insert", 2, 8, 16, 2, 42), (3, "update_postimage", 1, 7, 14, 1, 42),
                   (3, "update_preimage", 1, 15, 30, 1, 42)]
    assert_versions_agree(path)


_WORKER = """
import sys, pyarrow as pa, lakehouse
path, who, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    k = 1000 * who + 10 * i
    if who % 2:
        lakehouse.write_delta(path, pa.table({"k": [k, k + 1], "n": [i, i]}), mode="append")
    else:
        # an upsert: two keys inserted, and from the second round on one updated (inserted by the round before)
        ks, ns = [k, k + 1] + ([k - 10] if i else []), [i, i] + ([-1] if i else [])
        (lakehouse.DeltaTable(path).merge(pa.table({"k": ks, "n": ns}), "t.k = s.k")
         .when_matched_update({"n": "s.n"}).when_not_matched_insert({"k": "s.k", "n": "s.n"}).execute())
"""


def test_concurrent_merges_and_appends_never_share_identity_values(tmp_path) -> None:
    """Processes doing MERGE inserts and appends at once: identity values distinct and gap-free (a MERGE
    that lost the high-water mark race is redone, its files removed), every row there once."""
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False))
    n, m = 4, 3
    repo = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, path, str(w), str(m)], cwd=repo,
                              stderr=subprocess.PIPE, text=True) for w in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    table = lakehouse.DeltaTable(path).to_arrow()
    ids = sorted(table.column("id").to_pylist())
    assert ids == list(range(1, 2 * n * m + 1))
    assert sorted(table.column("k").to_pylist()) == sorted(1000 * w + 10 * i + j for w in range(n)
                                                           for i in range(m) for j in (0, 1))
    assert all(r["n2"] == r["n"] * 2 and r["z"] == 42 for r in table.to_pylist())
    assert _mark(path) == 2 * n * m
    files = {q.name for q in Path(path).glob("*.parquet")}
    # no abandoned data files: every file on disk is in some version (an upsert's copy-on-write removes some)
    latest = lakehouse.DeltaTable(path).version
    assert files == {Path(a).name for v in range(latest + 1) for a in active_paths(path, v)}
    assert_versions_agree(path)


def test_all_columns_clauses_and_identity_columns(tmp_path) -> None:
    """`update_all` from a source carrying the identity column is refused (identity columns cannot be
    updated); `except_cols` leaves it out. `insert_all` of a GENERATED ALWAYS column likewise."""
    path = str(tmp_path / "t")
    lakehouse.DeltaTable.create(path, schema=_schema(False))
    lakehouse.write_delta(path, pa.table({"k": [1], "n": [1]}), mode="append")
    source = pa.table({"k": [1, 2], "n": [5, 6], "id": [1, 99]})
    before = log_state(path)
    with pytest.raises(ConstraintViolationError, match="identity column\\(s\\) \\['id'\\] cannot be updated"):
        lakehouse.DeltaTable(path).merge(source, "t.k = s.k").when_matched_update_all().execute()
    assert log_state(path) == before
    (lakehouse.DeltaTable(path).merge(source, "t.k = s.k").when_matched_update_all(except_cols=["id"])
     .when_not_matched_insert_all(except_cols=["id"]).execute())
    v = Versions(path)
    v[2] = _rows([(1, 5, 1, 42), (2, 6, 2, 42)])
    v.check([2])
    assert_versions_agree(path)


def test_corpus_generated_table_accepts_update_and_merge(tmp_path) -> None:
    """dat__generated_columns (creation = CAST(now() AS DATE)): UPDATE and MERGE recompute `creation` for
    the rows they write (today, as Spark folds now() per query); other rows keep theirs."""
    import shutil
    from datetime import datetime, timezone

    from tests.support.conformance import corpus_dir

    corpus = corpus_dir()
    assert corpus is not None
    path = str(tmp_path / "g")
    shutil.copytree(corpus / "tables" / "dat__generated_columns", path)
    base = lakehouse.DeltaTable(path).to_arrow().to_pylist()
    first = datetime.now(timezone.utc).date()
    lakehouse.DeltaTable(path).update(predicate="int = 25", updates={"int": "26"})
    (lakehouse.DeltaTable(path).merge(pa.table({"letter": ["z"], "int": pa.array([7], pa.int64())}),
                                      "t.int = s.int").when_not_matched_insert_all().execute())
    today = datetime.now(timezone.utc).date()
    got = sorted(lakehouse.DeltaTable(path).to_arrow().to_pylist(), key=lambda r: (r["int"], r["letter"]))
    if first != today:  # the day changed during the test: either day is right for the rows written
        got = [dict(r, creation=today) if r["creation"] == first else r for r in got]
    want = sorted([dict(r, int=26, creation=today) if r["int"] == 25 else r for r in base]
                  + [{"letter": "z", "int": 7, "date": None, "creation": today}], key=lambda r: (r["int"], r["letter"]))
    assert got == want
    assert_versions_agree(path)
