"""Writer interop with delta-rs (deltalake) in both directions, every version read by both engines; and
delta-rs consuming lakehouse's per-file statistics (get_add_actions, stats-based file skipping)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import unquote

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lakehouse
from tests.support.log import actions_of
from tests.support.rows import Versions, assert_rows, concat, dl_read

UTC = timezone.utc


def _t(ids, p=None) -> pa.Table:
    ids = list(ids)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "p": p if p is not None else [("even" if i % 2 == 0 else "odd") for i in ids],
        "s": [f"s{i}" if i % 5 else None for i in ids],
    })


def _latest(path: str) -> int:
    return deltalake.DeltaTable(path).version()


def test_lakehouse_then_deltalake_then_lakehouse(table_path):
    v = Versions(table_path)
    lakehouse.write_delta(table_path, _t(range(0, 10)), partition_by=["p"])
    v[0] = _t(range(0, 10))
    lakehouse.write_delta(table_path, _t(range(10, 20)), mode="append")
    v[1] = concat(v[0], _t(range(10, 20)))
    v.check()

    deltalake.write_deltalake(table_path, _t(range(20, 25)), mode="append")
    v[2] = concat(v[1], _t(range(20, 25)))
    dl = deltalake.DeltaTable(table_path)
    dl.delete("id < 3")
    v[3] = v[2].filter(pc.field("id") >= 3)
    dl = deltalake.DeltaTable(table_path)
    dl.update(updates={"s": "'updated'"}, predicate="id >= 20")
    cur = v[3]
    v[4] = pa.table({"id": cur["id"], "p": cur["p"],
                     "s": pc.if_else(pc.greater_equal(cur["id"], 20), pa.scalar("updated"), cur["s"])})
    deltalake.DeltaTable(table_path).optimize.compact()
    v[5] = v[4]
    assert _latest(table_path) == 5
    v.check()

    lakehouse.write_delta(table_path, _t(range(100, 104)), mode="append")
    v[6] = concat(v[5], _t(range(100, 104)))
    lakehouse.write_delta(table_path, _t([200, 202]), mode="overwrite", predicate="p = 'even'")
    v[7] = concat(v[6].filter(pc.field("p") == "odd"), _t([200, 202]))
    lakehouse.write_delta(table_path, _t([300]), mode="overwrite", predicate="id > 100")
    v[8] = concat(v[7].filter(pc.field("id") <= 100), _t([300]))
    deltalake.write_deltalake(table_path, _t([401, 403]), mode="overwrite", predicate="p = 'odd'")
    v[9] = concat(v[8].filter(pc.field("p") == "even"), _t([401, 403]))
    deltalake.write_deltalake(table_path, _t([1, 2, 3]), mode="overwrite")
    v[10] = _t([1, 2, 3])
    lakehouse.write_delta(table_path, _t([4]), mode="append")
    v[11] = _t([1, 2, 3, 4])
    v.check()
    hist = lakehouse.DeltaTable(table_path).history()
    assert [h.version for h in hist] == list(range(11, -1, -1))


def test_deltalake_creates_lakehouse_writes(table_path):
    v = Versions(table_path)
    t0 = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "d": pa.array([date(2024, 1, i) for i in (1, 2, 3)]),
                   "x": pa.array([1.5, None, 2.5])})
    deltalake.write_deltalake(table_path, t0, partition_by=["d"])
    v[0] = t0
    t1 = pa.table({"id": pa.array([4], pa.int32()), "d": pa.array([date(2024, 1, 1)]), "x": pa.array([9.0])})
    lakehouse.write_delta(table_path, t1, mode="append")
    v[1] = concat(t0, t1.cast(t0.schema))
    lakehouse.write_delta(table_path, t1.cast(t0.schema), mode="overwrite", predicate="d = '2024-01-01'")
    v[2] = concat(t0.filter(pc.field("d") != date(2024, 1, 1)), t1.cast(t0.schema))
    lakehouse.write_delta(table_path, t0.slice(0, 0), mode="overwrite", predicate="x > 2")
    v[3] = v[2].filter(pc.fill_null(pc.less_equal(v[2]["x"], 2.0), True))
    deltalake.write_deltalake(table_path, t0, mode="append")
    v[4] = concat(v[3], t0)
    extra = pa.table({"id": pa.array([7], pa.int64()), "d": pa.array([None], pa.date32()), "x": pa.array([None], pa.float64()),
                      "new": ["n"]})
    lakehouse.write_delta(table_path, extra, mode="append", schema_mode="merge")
    v[5] = concat(v[4], extra)
    lakehouse.write_delta(table_path, t0, mode="overwrite")  # keeps the merged schema
    t0_new = t0.append_column("new", pa.array([None] * 3, pa.string()))
    v[6] = t0_new
    deltalake.write_deltalake(table_path, t0_new, mode="append")
    v[7] = concat(t0_new, t0_new)
    v.check()
    assert lakehouse.DeltaTable(table_path).partition_columns == ["d"]


def test_deltalake_vacuum_after_lakehouse_overwrite(table_path):
    lakehouse.write_delta(table_path, _t(range(5)))
    lakehouse.write_delta(table_path, _t(range(5, 8)), mode="overwrite")
    gone = deltalake.DeltaTable(table_path).vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    assert len(gone) == 1
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), _t(range(5, 8)))
    lakehouse.write_delta(table_path, _t([9]), mode="append")
    v = Versions(table_path)
    latest = _latest(table_path)
    v[latest] = _t([5, 6, 7, 9])
    v.check(versions=[latest])


# -- statistics consumed by delta-rs ---------------------------------------------------------------------

def _stats_table() -> pa.Table:
    base = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    ts = [base + timedelta(microseconds=us) for us in (0, 999, 1000, 1001, 1999, 123_456_789)]
    return pa.table({
        "id": pa.array([3, 1, 2, None, 6, 5], pa.int64()),
        "f": pa.array([0.5, -1.25, None, 3.0, 2.0, 1.0], pa.float64()),
        "s": ["b", "a" * 40, "zz" * 20, None, "a" * 32 + "b", "m"],
        "d": pa.array([date(2024, 1, 1), None, date(1999, 12, 31), date(2030, 6, 6), date(2024, 1, 2), date(2024, 1, 3)]),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "ntz": pa.array([t.replace(tzinfo=None) for t in ts], pa.timestamp("us")),
        "dec": pa.array([Decimal("1.10"), Decimal("-5.25"), None, Decimal("99.99"), Decimal("0.00"), Decimal("3.33")],
                        pa.decimal128(6, 2)),
        "b": [True, False, None, True, True, False],
    })


def test_deltalake_reads_lakehouse_stats(table_path):
    t = _stats_table()
    lakehouse.write_delta(table_path, t.slice(0, 3))
    lakehouse.write_delta(table_path, t.slice(3), mode="append")
    actions = pa.table(deltalake.DeltaTable(table_path).get_add_actions(flatten=True)).to_pylist()
    assert len(actions) == 2
    for a in actions:
        data = pq.read_table(f"{table_path}/{unquote(a['path'])}")
        assert a["num_records"] == data.num_rows
        for col in ("id", "f", "s", "d", "ts", "ntz", "dec", "b"):
            arr = data.column(col)
            assert a[f"null_count.{col}"] == arr.null_count, col
            if col == "b":
                continue
            mm = pc.min_max(arr).as_py()
            lo, hi = a.get(f"min.{col}"), a.get(f"max.{col}")
            assert lo is not None and hi is not None, f"deltalake sees no min/max for {col}"
            if isinstance(lo, datetime) and mm["min"].tzinfo is not None and lo.tzinfo is None:
                lo, hi = lo.replace(tzinfo=UTC), hi.replace(tzinfo=UTC)
            if isinstance(mm["min"], datetime) and mm["min"].tzinfo is None and lo.tzinfo is not None:
                lo, hi = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
            assert lo <= mm["min"] and hi >= mm["max"], (col, lo, hi, mm)
            if col in ("id", "f", "d", "dec"):
                assert (lo, hi) == (mm["min"], mm["max"]), col
            if col == "s":
                assert len(lo) <= 32 or lo == mm["min"]


def _filtered_cases(t: pa.Table):
    base = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    cases = []
    for us in (0, 999, 1000, 1001, 1999, 123_456_789, 500):
        ts = base + timedelta(microseconds=us)
        for op in ("=", ">=", "<=", ">", "<"):
            cases.append(("ts", op, ts))
            cases.append(("ntz", op, ts.replace(tzinfo=None)))
    for s in ("a" * 40, "a" * 32 + "b", "a" * 32, "a" * 33, "zz" * 20, "zz" * 16 + "z", "m", "b"):
        for op in ("=", ">=", "<=", ">", "<"):
            cases.append(("s", op, s))
    for op in ("=", ">", "<", ">=", "<="):
        cases.append(("id", op, 5))
        cases.append(("d", op, date(2024, 1, 2)))
        cases.append(("f", op, 1.0))
    return cases


_OPS = {"=": pc.equal, ">": pc.greater, "<": pc.less, ">=": pc.greater_equal, "<=": pc.less_equal}


def _write_one_row_per_file(path: str, t: pa.Table) -> None:
    lakehouse.write_delta(path, t.slice(0, 1))
    for i in range(1, t.num_rows):
        lakehouse.write_delta(path, t.slice(i, 1), mode="append")


def test_deltalake_filtered_reads_use_lakehouse_stats(table_path):
    """One row per file, so any wrong bound makes delta-rs skip a file it needs (or keep one it can
    prune, which is harmless): the filtered result must equal the filter applied to all rows."""
    t = _stats_table()
    _write_one_row_per_file(table_path, t)
    full = lakehouse.DeltaTable(table_path).to_arrow()
    assert_rows(full, t)
    wrong = []
    for col, op, val in _filtered_cases(t):
        want = full.filter(_OPS[op](full[col], pa.scalar(val, full.schema.field(col).type)))
        got = dl_read(table_path, filters=[(col, op, val)])
        try:
            assert_rows(got, want)
        except AssertionError:
            wrong.append((col, op, val, got.num_rows, want.num_rows))
    assert not wrong, f"delta-rs filtered reads disagree (col, op, value, got rows, want rows): {wrong}"


def test_deltalake_sql_filters_use_lakehouse_stats(table_path):
    t = _stats_table()
    _write_one_row_per_file(table_path, t)
    full = lakehouse.DeltaTable(table_path).to_arrow()
    qb = deltalake.QueryBuilder().register("t", deltalake.DeltaTable(table_path))
    queries = {
        "id > 2": pc.greater(full["id"], 2),
        f"s = '{'a' * 40}'": pc.equal(full["s"], "a" * 40),
        f"s >= '{'a' * 32}b'": pc.greater_equal(full["s"], "a" * 32 + "b"),
        "ts = TIMESTAMP '2024-03-01T12:00:00.000999Z'": pc.equal(
            full["ts"], pa.scalar(datetime(2024, 3, 1, 12, 0, 0, 999, tzinfo=UTC), pa.timestamp("us", tz="UTC"))),
        "ts > TIMESTAMP '2024-03-01T12:00:00.001000Z'": pc.greater(
            full["ts"], pa.scalar(datetime(2024, 3, 1, 12, 0, 0, 1000, tzinfo=UTC), pa.timestamp("us", tz="UTC"))),
        "ts >= TIMESTAMP '2024-03-01T12:00:00.001999Z'": pc.greater_equal(
            full["ts"], pa.scalar(datetime(2024, 3, 1, 12, 0, 0, 1999, tzinfo=UTC), pa.timestamp("us", tz="UTC"))),
        "ntz <= TIMESTAMP '2024-03-01 12:00:00.000999'": pc.less_equal(
            full["ntz"], pa.scalar(datetime(2024, 3, 1, 12, 0, 0, 999), pa.timestamp("us"))),
        "dec > 1.10": pc.greater(full["dec"], pa.scalar(Decimal("1.10"), pa.decimal128(6, 2))),
        "id IS NULL": pc.is_null(full["id"]),
        "f < 0": pc.less(full["f"], 0.0),
    }
    wrong = []
    for where, mask in queries.items():
        got = pa.table(qb.execute(f"SELECT * FROM t WHERE {where}").read_all())
        want = full.filter(mask)
        if got.num_rows != want.num_rows:
            wrong.append((where, got.num_rows, want.num_rows))
    assert not wrong, f"delta-rs SQL filters disagree (where, got, want): {wrong}"


SUPPLEMENTARY = ["a" * 32 + "\U0001F600", "a" * 32 + "\U0001F600zzz", "a" * 31 + "\U00010000" + "x" * 5, "b"]


def test_string_max_bound_with_supplementary_characters(table_path):
    """A truncated max must stay an upper bound in UTF-8 byte order (the order Spark, delta-rs and
    Parquet compare strings in) even when the character after the 32-character prefix is outside the
    BMP: U+FFFF (EF BF BF) sorts below every 4-byte UTF-8 sequence."""
    t = pa.table({"s": SUPPLEMENTARY, "id": pa.array(range(len(SUPPLEMENTARY)), pa.int64())})
    _write_one_row_per_file(table_path, t)
    bad = []
    for ver, value in enumerate(SUPPLEMENTARY):
        (a,) = actions_of(table_path, ver, "add")
        stats = json.loads(a["stats"])
        if not (stats["maxValues"]["s"].encode() >= value.encode() and stats["minValues"]["s"].encode() <= value.encode()):
            bad.append((value, stats["minValues"]["s"], stats["maxValues"]["s"]))
    assert not bad, f"string bounds that do not enclose the value (value, min, max): {bad}"


def test_deltalake_filter_finds_rows_with_supplementary_characters(table_path):
    """The user-visible effect of the bound above: delta-rs skips the file and loses the row."""
    t = pa.table({"s": SUPPLEMENTARY, "id": pa.array(range(len(SUPPLEMENTARY)), pa.int64())})
    _write_one_row_per_file(table_path, t)
    assert_rows(lakehouse.DeltaTable(table_path).to_arrow(), t)
    missing = [val for val in SUPPLEMENTARY if dl_read(table_path, filters=[("s", "=", val)]).num_rows != 1]
    assert not missing, f"delta-rs equality filters lost these rows: {missing}"
