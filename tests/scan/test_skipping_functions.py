"""Skipping through functions of a column: a non-decreasing function (year, date_trunc, CAST between
numbers and dates, col + literal...) prunes by its value at the file's bounds; any other function keeps
every file. The property: no file holding a row the filter selects is ever skipped, and the rows equal
the filter applied to the full read."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.protocol.expr import evaluate, parse_sql
from lakehouse.scan.read import read_file

BASE = datetime(2019, 6, 1, tzinfo=timezone.utc)

# (SQL template with {v} for the literal, literal strategy)
FUNCTIONS = [
    ("year(ts) {op} {v}", st.integers(2017, 2023).map(str)),
    ("date_trunc('month', ts) {op} TIMESTAMP'{v}'",
     st.integers(-800, 800).map(lambda d: (BASE + timedelta(days=d)).strftime("%Y-%m-01 00:00:00"))),
    ("to_date(ts) {op} DATE'{v}'", st.integers(-800, 800).map(lambda d: (BASE + timedelta(days=d)).date().isoformat())),
    ("CAST(ts AS DATE) {op} DATE'{v}'", st.integers(-800, 800).map(lambda d: (BASE + timedelta(days=d)).date().isoformat())),
    ("CAST(id AS DOUBLE) {op} {v}", st.floats(-60, 60, allow_nan=False).map(repr)),
    ("TRY_CAST(f AS BIGINT) {op} {v}", st.integers(-60, 60).map(str)),
    ("id + 7 {op} {v}", st.integers(-60, 60).map(str)),
    ("id - 7 {op} {v}", st.integers(-60, 60).map(str)),
    ("floor(f) {op} {v}", st.integers(-60, 60).map(str)),
    ("ceil(f) {op} {v}", st.integers(-60, 60).map(str)),
    ("date_add(d, 3) {op} DATE'{v}'", st.integers(-400, 400).map(lambda x: (date(2019, 6, 1) + timedelta(days=x)).isoformat())),
    ("month(ts) {op} {v}", st.integers(1, 12).map(str)),  # not monotonic: must keep files
    ("abs(id) {op} {v}", st.integers(0, 60).map(str)),  # not monotonic
    ("id * -1 {op} {v}", st.integers(-60, 60).map(str)),  # decreasing
    ("upper(s) {op} '{v}'", st.sampled_from(["A", "M", "ZZ", "B10", "B9"])),  # text order is not kept by functions
]
OPS = ["=", "<", "<=", ">", ">=", "!="]

rows = st.fixed_dictionaries({
    "id": st.one_of(st.none(), st.integers(-50, 50)),
    "f": st.one_of(st.none(), st.floats(-50, 50, allow_nan=False), st.just(float("nan"))),
    "ts": st.one_of(st.none(), st.integers(-900, 900).map(lambda h: BASE + timedelta(hours=h * 13))),
    "d": st.one_of(st.none(), st.integers(-400, 400).map(lambda x: date(2019, 6, 1) + timedelta(days=x))),
    "s": st.one_of(st.none(), st.sampled_from(["a", "b9", "b10", "m", "z", "A", ""])),
})
SCHEMA = pa.schema([("id", pa.int64()), ("f", pa.float64()), ("ts", pa.timestamp("us", tz="UTC")),
                    ("d", pa.date32()), ("s", pa.string())])


@st.composite
def cases(draw):
    files = draw(st.lists(st.lists(rows, min_size=1, max_size=5), min_size=1, max_size=5))
    template, literals = draw(st.sampled_from(FUNCTIONS))
    sql = template.format(op=draw(st.sampled_from(OPS)), v=draw(literals))
    if draw(st.booleans()):
        sql = f"NOT ({sql})"
    return files, sql


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_functions_never_skip_a_matching_file(tmp_path_factory, case):
    files, sql = case
    path = Path(tmp_path_factory.mktemp("fn")) / "t"
    for chunk in files:
        lakehouse.write_delta(path, pa.Table.from_pylist(chunk, schema=SCHEMA), mode="append")
    dt = lakehouse.DeltaTable(path)
    expr = parse_sql(sql)
    selected = set(dt.scan(sql).files().column("path").to_pylist())
    want = []
    for task in dt.scan().tasks():
        data = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields))
        mask = evaluate(data, expr, dt.snapshot.schema, what=sql).to_pylist()
        hits = [r for r, m in zip(data.to_pylist(), mask) if m is True]
        if hits:
            assert task.path in selected, f"{sql}: skipped a file holding {hits}"
        want.extend(hits)
    got = dt.to_arrow(filter=sql).to_pylist()
    key = lambda r: repr(sorted(r.items()))  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want)), sql


def test_monotonic_functions_do_prune(tmp_path: Path):
    path = tmp_path / "t"
    for year in range(2018, 2024):
        ts = [datetime(year, m, 1, tzinfo=timezone.utc) for m in range(1, 11)]
        lakehouse.write_delta(path, pa.table({"id": pa.array(range(year * 10, year * 10 + 10), pa.int64()),
                                              "ts": pa.array(ts)}), mode="append")
    dt = lakehouse.DeltaTable(path)
    expected = {"year(ts) = 2020": 1, "year(ts) >= 2022": 2, "2020 = year(ts)": 1, "id + 5 > 20235": 1,
                "date_trunc('month', ts) = TIMESTAMP'2019-03-01 00:00:00'": 1, "to_date(ts) < DATE'2019-01-01'": 1,
                "CAST(id AS DOUBLE) < 20185.5": 1, "month(ts) = 3": 6, "year(ts) != 2020": 6}
    got = {sql: dt.scan(sql).metrics.files_after_stats_skipping for sql in expected}
    assert got == expected
    assert dt.to_arrow(filter="year(ts) = 2020").num_rows == 10
