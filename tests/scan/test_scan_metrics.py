"""Scan planning on designed tables: exact file counts at each stage, bytes, explain(), streaming,
projection with filters, stats that are missing, truncated or wide, and the errors for bad filters.

Every filtered read is also compared with the unfiltered read filtered by `tests.scan.sqlpred`
(an independent evaluator), so a skipping decision that drops a matching file shows up twice.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from lakehouse.scan.read import FileTask, read_file
from tests.support.conformance import MISSING, canonical_rows, corpus_dir, describe_difference
from tests.support import sqlpred as sp

CORPUS = corpus_dir()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason=MISSING)  # never skips under CI: corpus_dir() raises


# -- helpers ------------------------------------------------------------------------------------------


def assert_same_rows(got: pa.Table, want: pa.Table, what: str = "") -> None:
    g, w = canonical_rows(got), canonical_rows(want)
    assert g == w, f"{what}\n{describe_difference(g, w)}"


def expected(dt: lakehouse.DeltaTable, pred: sp.P, columns: list[str] | None = None) -> pa.Table:
    """The unfiltered read filtered by the independent evaluator."""
    full = dt.to_arrow()
    rows = sp.filter_rows(pred, full.to_pylist())
    out = pa.Table.from_pylist(rows, schema=full.schema)
    return out.select(columns) if columns is not None else out


def check_filter(dt: lakehouse.DeltaTable, pred: sp.P) -> lakehouse.Scan:
    """to_arrow and to_batches with the filter equal the evaluator's rows; returns the scan."""
    sql = sp.to_sql(pred)
    want = expected(dt, pred)
    assert_same_rows(dt.to_arrow(filter=sql), want, f"to_arrow(filter={sql!r})")
    scan = dt.scan(sql)
    streamed = pa.Table.from_batches(list(scan.to_batches()), schema=scan.schema)
    assert_same_rows(streamed, want, f"to_batches(filter={sql!r})")
    return scan


def counts(scan: lakehouse.Scan) -> tuple[int, int, int]:
    m = scan.metrics
    return m.files_total, m.files_after_partition_pruning, m.files_after_stats_skipping


def col(name: str) -> sp.C:
    return sp.C(name)


def lit(value, t: pa.DataType) -> sp.L:
    return sp.L(value, t)


I64 = pa.int64()


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Paths of the Parquet files lakehouse opens one by one (a spy on pyarrow, not on lakehouse)."""
    paths: list[str] = []
    real = pq.ParquetFile

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, source, *args, **kwargs):
            paths.append(str(source))
            super().__init__(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", Spy)
    return paths


# -- 50 files sorted by id --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sorted_ids(tmp_path_factory) -> Path:
    """50 files of 100 rows each; file k holds ids 100k .. 100k+99 (and a string column)."""
    path = tmp_path_factory.mktemp("scan") / "sorted_ids"
    for k in range(50):
        ids = list(range(100 * k, 100 * k + 100))
        lakehouse.write_delta(path, pa.table({"id": pa.array(ids, I64), "v": [f"v{i:05d}" for i in ids]}), mode="append")
    return path


def test_between_opens_exactly_one_file(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    scan = dt.scan("id BETWEEN 1000 AND 1099")
    assert counts(scan) == (50, 50, 1)
    assert scan.files().num_rows == 1 and len(scan.tasks()) == 1
    got = scan.to_arrow()
    assert sorted(got.column("id").to_pylist()) == list(range(1000, 1100))


@pytest.mark.parametrize(
    "sql,files",
    [
        ("id BETWEEN 1050 AND 1150", 2),
        ("id = 4999", 1),
        ("id = 0", 1),
        ("id > 4999", 0),
        ("id < 0", 0),
        ("id >= 0", 50),
        ("id < 100", 1),
        ("id <= 100", 2),
        ("id > 4899", 1),
        ("id >= 4899", 2),
        ("4899 < id", 1),
        ("id IN (5, 4005, 4006)", 2),
        ("id IN (-1, 5000)", 0),
        ("id NOT IN (5)", 50),
        ("id != 5", 50),
        ("NOT (id < 4900)", 1),
        ("NOT (id >= 100)", 1),
        ("NOT (id BETWEEN 100 AND 4899)", 2),
        ("id IS NULL", 0),
        ("id IS NOT NULL", 50),
        ("id < 100 OR id >= 4900", 2),
        ("id < 100 AND id >= 4900", 0),
        ("id = 5 OR v = 'zzz'", 1),
        ("id = 5 AND v = 'v00005'", 1),
        ("id = 5 AND v = 'v00006'", 1),
        ("id = 5 AND v > 'v00100'", 0),
        ("v = 'v01234'", 1),
        ("v < 'v00100'", 1),
        ("v >= 'v04900'", 1),
        ("id = NULL", 0),
        ("FALSE", 0),
        ("TRUE", 50),
    ],
)
def test_exact_file_counts_on_sorted_ids(sorted_ids: Path, sql: str, files: int):
    dt = lakehouse.DeltaTable(sorted_ids)
    scan = dt.scan(sql)
    total, after_parts, after_stats = counts(scan)
    # no partition columns: only a constant (FALSE, or `id = NULL` folded to NULL) decides at the partition stage
    assert (total, after_stats) == (50, files), scan.explain()
    assert after_parts == (0 if sql in ("FALSE", "id = NULL") else 50), scan.explain()
    assert len(scan.tasks()) == files


def test_sorted_ids_results_match_evaluator(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    preds = [
        sp.Between(col("id"), lit(1050, I64), lit(1150, I64)),
        sp.Not(sp.Cmp("<", col("id"), lit(4900, I64))),
        sp.In(col("id"), (lit(5, I64), lit(4005, I64))),
        sp.Or(sp.Cmp("=", col("id"), lit(5, I64)), sp.Cmp(">", col("v"), lit("v04990", pa.string()))),
    ]
    for p in preds:
        check_filter(dt, p)


def test_bytes_to_read_is_the_sum_of_selected_file_sizes(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    all_sizes = dict(zip(dt.files().column("path").to_pylist(), dt.files().column("size").to_pylist()))
    for sql in ["id BETWEEN 1000 AND 1099", "id < 300", "id < 0", "id >= 0"]:
        scan = dt.scan(sql)
        paths = scan.files().column("path").to_pylist()
        m = scan.metrics
        assert m.bytes_total == sum(all_sizes.values())
        assert m.bytes_to_read == sum(all_sizes[p] for p in paths)
        assert scan.files().column("size").to_pylist() == [all_sizes[p] for p in paths]
    assert dt.scan().metrics.bytes_to_read == dt.scan().metrics.bytes_total == sum(all_sizes.values())
    assert dt.scan("id < 0").metrics.bytes_to_read == 0


def test_explain_mentions_counts_and_bytes(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    scan = dt.scan("id BETWEEN 1000 AND 1099", columns=["v"])
    text = scan.explain()
    m = scan.metrics
    assert "50 total" in text
    assert "50 after partition pruning" in text
    assert "1 after stats skipping" in text
    assert f"{m.bytes_to_read:,}" in text and f"{m.bytes_total:,}" in text
    assert "'v'" in text  # the projected columns
    assert f"version {dt.version}" in text


def test_to_batches_streams_one_file_at_a_time(sorted_ids: Path, opened: list[str]):
    dt = lakehouse.DeltaTable(sorted_ids)
    scan = dt.scan("id < 1000")
    assert scan.metrics.files_after_stats_skipping == 10
    reader = scan.to_batches()
    assert opened == []  # nothing read before the first batch is asked for
    first = reader.read_next_batch()
    assert first.num_rows == 100
    assert len(opened) == 1, f"the first batch opened {len(opened)} files"
    batches = [first] + list(reader)
    assert len(opened) == 10 and len(set(opened)) == 10
    assert len(batches) == 10  # one (single row group) file per batch
    streamed = pa.Table.from_batches(batches, schema=scan.schema)
    assert_same_rows(streamed, dt.to_arrow(filter="id < 1000"))
    assert sorted(streamed.column("id").to_pylist()) == list(range(1000))


def test_to_batches_of_an_empty_selection(sorted_ids: Path):
    scan = lakehouse.DeltaTable(sorted_ids).scan("id < 0", columns=["v"])
    table = scan.to_batches().read_all()
    assert table.num_rows == 0 and table.schema == scan.schema == pa.schema([("v", pa.string())])
    assert scan.to_arrow().schema == scan.schema


def test_projection_with_filter_on_a_non_projected_column(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    got = dt.to_arrow(columns=["v"], filter="id BETWEEN 1000 AND 1002")
    assert got.column_names == ["v"]
    assert sorted(got.column("v").to_pylist()) == ["v01000", "v01001", "v01002"]
    scan = dt.scan("id BETWEEN 1000 AND 1002", columns=["v"])
    assert scan.metrics.files_after_stats_skipping == 1
    streamed = scan.to_batches().read_all()
    assert streamed.column_names == ["v"] and sorted(streamed.column("v").to_pylist()) == ["v01000", "v01001", "v01002"]
    pl_df = dt.to_polars(columns=["v"], filter="id > 4997")
    assert pl_df.columns == ["v"] and sorted(pl_df["v"].to_list()) == ["v04998", "v04999"]


def test_read_delta_filter_and_columns(sorted_ids: Path):
    got = lakehouse.read_delta(sorted_ids, columns=["id"], filter="id IN (1, 2, 4999)")
    assert got.column_names == ["id"] and sorted(got.column("id").to_pylist()) == [1, 2, 4999]


# -- bad filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["nope = 1", "nope IS NULL", "id = 1 AND nope > 2", "NOT (x IN (1, 2))", "id = other"])
def test_unknown_column_in_filter(sorted_ids: Path, sql: str):
    dt = lakehouse.DeltaTable(sorted_ids)
    with pytest.raises(InvalidArgumentError) as e:
        dt.scan(sql)
    unknown = [c for c in ("nope", "x", "other") if c in sql][0]
    assert unknown in str(e.value)
    with pytest.raises(InvalidArgumentError):
        dt.to_arrow(filter=sql)
    with pytest.raises(InvalidArgumentError):
        lakehouse.read_delta(sorted_ids, filter=sql)


@pytest.mark.parametrize(
    "sql,keep",
    [
        ("v LIKE 'v0000%'", lambda i: i < 10),
        ("v NOT LIKE 'v00%'", lambda i: i >= 1000),
        ("abs(id - 10) = 1", lambda i: i in (9, 11)),
        ("lower(upper(v)) = 'v00001'", lambda i: i == 1),
        ("id % 1000 = 7", lambda i: i % 1000 == 7),
        ("CASE WHEN id > 4995 THEN TRUE ELSE FALSE END", lambda i: i > 4995),
        ("coalesce(id, 0) = 1", lambda i: i == 1),
        ("length(v) = 6 AND substring(v, 2, 4) = '0012'", lambda i: 120 <= i <= 129),
    ],
)
def test_functions_filter_rows_and_keep_every_matching_file(sorted_ids: Path, sql: str, keep):
    dt = lakehouse.DeltaTable(sorted_ids)
    got = sorted(dt.to_arrow(filter=sql).column("id").to_pylist())
    assert got == [i for i in range(5000) if keep(i)]


@pytest.mark.parametrize(
    "sql,construct",
    [
        ("id IN (SELECT 1)", "subqueries"),
        ("sum(id) > 1", "aggregate"),
        ("row_number() OVER (ORDER BY id) = 1", "window"),
        ("my_udf(id) = 1", "my_udf"),
        ("uper(v) = 'X'", "did you mean upper"),
    ],
)
def test_unsupported_construct_is_named(sorted_ids: Path, sql: str, construct: str):
    dt = lakehouse.DeltaTable(sorted_ids)
    with pytest.raises(InvalidArgumentError) as e:
        dt.scan(sql)
    assert construct in str(e.value).lower(), str(e.value)


def test_arithmetic_filters_are_evaluated_and_never_skip_wrongly(sorted_ids: Path):
    dt = lakehouse.DeltaTable(sorted_ids)
    assert sorted(dt.to_arrow(filter="id + 1 = 2").column("id").to_pylist()) == [1]
    assert sorted(dt.to_arrow(filter="id * 2 > 9994").column("id").to_pylist()) == [4998, 4999]
    assert sorted(dt.to_arrow(filter="id - 4998 >= 0").column("id").to_pylist()) == [4998, 4999]
    assert sorted(dt.to_arrow(filter="id / 2 = 0.5").column("id").to_pylist()) == [1]
    assert sorted(dt.to_arrow(filter="-id = -3").column("id").to_pylist()) == [3]


@pytest.mark.parametrize("sql", ["", "   ", "id = = 1", "id IN ()", "id = 'abc'", "v = 5", "id IN (v)"])
def test_malformed_or_ill_typed_filters(sorted_ids: Path, sql: str):
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(sorted_ids).to_arrow(filter=sql)


# -- partitions ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory) -> Path:
    """10 string partitions p0..p9, two appends (20 files); file ids are disjoint ranges of 10."""
    path = tmp_path_factory.mktemp("scan") / "partitioned"
    base = 0
    for _append in range(2):
        rows = []
        for j in range(10):
            for i in range(10):
                rows.append({"p": f"p{j}", "n": j, "d": date(2024, 1, 1) + timedelta(days=j), "id": base + i})
            base += 10
        lakehouse.write_delta(path, pa.Table.from_pylist(rows, schema=pa.schema(
            [("p", pa.string()), ("n", pa.int64()), ("d", pa.date32()), ("id", I64)])), mode="append", partition_by=["p"])
    return path


@pytest.mark.parametrize(
    "sql,after_parts,after_stats",
    [
        ("p = 'p3'", 2, 2),
        ("'p3' = p", 2, 2),
        ("p = 'p3' AND id < 0", 2, 0),
        ("p = 'p3' AND id = 35", 2, 1),   # first append: p3 holds ids 30..39
        ("p IN ('p1', 'p2')", 4, 4),
        ("p NOT IN ('p1', 'p2')", 16, 16),
        ("p > 'p7'", 4, 4),
        ("p IS NULL", 0, 0),
        ("p IS NOT NULL", 20, 20),
        ("p != 'p3'", 18, 18),
        ("NOT (p = 'p3')", 18, 18),
        ("p = 'nope'", 0, 0),
        ("p = 'p3' OR id = 5", 20, 3),
        ("p = 'p3' OR p = 'p4'", 4, 4),
        ("(p = 'p3' OR p = 'p4') AND n = 4", 4, 2),
        ("p BETWEEN 'p2' AND 'p4'", 6, 6),
        ("p = NULL", 0, 0),
        ("id = 105", 20, 1),
    ],
)
def test_partition_pruning_is_exact(partitioned: Path, sql: str, after_parts: int, after_stats: int):
    dt = lakehouse.DeltaTable(partitioned)
    scan = dt.scan(sql)
    assert counts(scan) == (20, after_parts, after_stats), scan.explain()
    pvs = [dict(pv) for pv in scan.files().column("partition_values").to_pylist()]
    if sql in ("p = 'p3'", "p = 'p3' AND id = 35"):
        assert all(pv == {"p": "p3"} for pv in pvs)


def test_partition_filter_results(partitioned: Path):
    dt = lakehouse.DeltaTable(partitioned)
    S = pa.string()
    for p in [
        sp.Cmp("=", col("p"), lit("p3", S)),
        sp.And(sp.Cmp("=", col("p"), lit("p3", S)), sp.Cmp("=", col("id"), lit(35, I64))),
        sp.Or(sp.Cmp("=", col("p"), lit("p3", S)), sp.Cmp("=", col("id"), lit(5, I64))),
        sp.In(col("p"), (lit("p1", S), lit("p9", S)), negated=True),
        sp.Cmp("=", col("n"), col("id")),
        sp.Not(sp.Between(col("p"), lit("p2", S), lit("p8", S))),
    ]:
        check_filter(dt, p)
    got = dt.to_arrow(columns=["id"], filter="p = 'p3'")
    assert got.column_names == ["id"] and sorted(got.column("id").to_pylist()) == list(range(30, 40)) + list(range(130, 140))


def test_int_and_date_partitions_with_nulls(tmp_path: Path):
    schema = pa.schema([("pi", I64), ("pd", pa.date32()), ("x", I64)])
    rows = []
    for k, (pi, pd) in enumerate([(1, date(2024, 1, 1)), (2, date(2024, 1, 2)), (None, date(2024, 1, 1)),
                                  (1, None), (None, None), (3, date(2024, 1, 3))]):
        rows += [{"pi": pi, "pd": pd, "x": 10 * k + i} for i in range(3)]
    lakehouse.write_delta(tmp_path / "t", pa.Table.from_pylist(rows, schema=schema), partition_by=["pi", "pd"])
    dt = lakehouse.DeltaTable(tmp_path / "t")
    D = pa.date32()
    cases = [
        ("pi = 1", sp.Cmp("=", col("pi"), lit(1, I64)), 2),
        ("pi IS NULL", sp.IsNull(col("pi")), 2),
        ("pd = DATE '2024-01-01'", sp.Cmp("=", col("pd"), lit(date(2024, 1, 1), D)), 2),
        ("pd > '2024-01-01'", sp.Cmp(">", col("pd"), lit(date(2024, 1, 1), D)), 2),
        ("pi != 1", sp.Cmp("!=", col("pi"), lit(1, I64)), 2),
        ("pi IS NULL AND pd IS NULL", sp.And(sp.IsNull(col("pi")), sp.IsNull(col("pd"))), 1),
        ("pi = 1 OR pd IS NULL", sp.Or(sp.Cmp("=", col("pi"), lit(1, I64)), sp.IsNull(col("pd"))), 3),
        ("pi IN (2, 3)", sp.In(col("pi"), (lit(2, I64), lit(3, I64))), 2),
        ("pi NOT IN (2, 3)", sp.In(col("pi"), (lit(2, I64), lit(3, I64)), negated=True), 2),
    ]
    for sql, pred, files in cases:
        assert sp.to_sql(pred)  # the model renders it
        scan = dt.scan(sql)
        assert counts(scan) == (6, files, files), (sql, scan.explain())
        want = expected(dt, pred)
        assert_same_rows(dt.to_arrow(filter=sql), want, sql)


# -- null counts --------------------------------------------------------------------------------------


def test_is_null_and_is_not_null_use_null_counts(tmp_path: Path):
    path = tmp_path / "t"
    schema = pa.schema([("k", pa.string()), ("c", I64)])
    lakehouse.write_delta(path, pa.table({"k": ["all-null"] * 5, "c": pa.nulls(5, I64)}, schema=schema), mode="append")
    lakehouse.write_delta(path, pa.table({"k": ["no-null"] * 5, "c": pa.array([1, 2, 3, 4, 5], I64)}, schema=schema), mode="append")
    lakehouse.write_delta(path, pa.table({"k": ["mixed"] * 5, "c": pa.array([1, None, 3, None, 5], I64)}, schema=schema), mode="append")
    dt = lakehouse.DeltaTable(path)
    stats = [json.loads(s) for s in dt.files().column("stats").to_pylist()]
    assert sorted((s["numRecords"], s["nullCount"]["c"]) for s in stats) == [(5, 0), (5, 2), (5, 5)]

    def kinds(sql):
        scan = dt.scan(sql)
        return sorted({r["k"] for r in scan.to_arrow().to_pylist()}), scan.metrics.files_after_stats_skipping

    assert dt.scan("c IS NULL").metrics.files_after_stats_skipping == 2
    assert dt.scan("c IS NOT NULL").metrics.files_after_stats_skipping == 2
    assert dt.scan("NOT (c IS NULL)").metrics.files_after_stats_skipping == 2
    assert dt.scan("c IS NULL AND c IS NOT NULL").metrics.files_after_stats_skipping == 1  # only the mixed file
    # the all-null file has no bounds; skipping it for a value predicate is optional (numRecords == nullCount)
    assert dt.scan("c IS NULL AND c > 3").metrics.files_after_stats_skipping in (1, 2)
    assert dt.scan("c = 1").metrics.files_after_stats_skipping in (2, 3)
    assert dt.scan("c = 100").metrics.files_after_stats_skipping in (0, 1)
    assert kinds("c IS NULL") == (["all-null", "mixed"], 2)
    assert kinds("c IS NOT NULL") == (["mixed", "no-null"], 2)
    for pred in [sp.IsNull(col("c")), sp.IsNull(col("c"), negated=True), sp.Not(sp.IsNull(col("c"))),
                 sp.Cmp("!=", col("c"), lit(3, I64)), sp.In(col("c"), (lit(1, I64),), negated=True)]:
        check_filter(dt, pred)


# -- missing stats ------------------------------------------------------------------------------------


def _rewrite_log_stats(path: Path, fn) -> None:
    """Rewrite every add action's stats in the JSON commits with ``fn(stats_dict_or_None)`` (None drops them)."""
    for commit in sorted((path / "_delta_log").glob("*.json")):
        lines = []
        for line in commit.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                old = action["add"].get("stats")
                new = fn(json.loads(old) if old else None)
                if new is None:
                    action["add"].pop("stats", None)
                else:
                    action["add"]["stats"] = json.dumps(new)
            lines.append(json.dumps(action))
        commit.write_text("\n".join(lines) + "\n")
    for crc in (path / "_delta_log").glob("*.crc"):
        crc.unlink()


def _deltalake_table(path: Path) -> None:
    from deltalake import write_deltalake

    for k in range(4):
        write_deltalake(str(path), pa.table({"id": pa.array(range(10 * k, 10 * k + 10), I64),
                                             "s": [f"s{k}"] * 10}), mode="append")


# For each way of damaging the stats: files kept by `id = 5`, `id > 100` and `id IS NULL` (of 4).
@pytest.mark.parametrize(
    "strip,eq5,gt100,isnull",
    [
        pytest.param(lambda s: None, 4, 4, 4, id="no-stats"),
        pytest.param(lambda s: {"numRecords": s["numRecords"]}, 4, 4, 4, id="numRecords-only"),
        pytest.param(lambda s: {k: v for k, v in s.items() if k != "minValues"}, 4, 0, 0, id="no-minValues"),
        pytest.param(lambda s: {**s, "minValues": {}, "maxValues": {}}, 4, 4, 0, id="empty-bounds"),
        pytest.param(lambda s: {**s, "nullCount": {}}, 1, 0, 4, id="no-nullCount"),
        # A null max leaves the min a valid lower bound: `id = 5` may still skip files whose min is above 5.
        pytest.param(lambda s: {**s, "maxValues": {"id": None}}, 1, 4, 0, id="null-max"),
    ],
)
def test_missing_stats_never_skip(tmp_path: Path, strip, eq5: int, gt100: int, isnull: int):
    path = tmp_path / "t"
    _deltalake_table(path)
    before = lakehouse.DeltaTable(path)
    assert before.scan("id = 5").metrics.files_after_stats_skipping == 1  # deltalake's stats do skip
    _rewrite_log_stats(path, strip)
    dt = lakehouse.DeltaTable(path)
    assert dt.scan("id = 5").metrics.files_after_stats_skipping == eq5
    assert dt.scan("id > 100").metrics.files_after_stats_skipping == gt100
    assert dt.scan("id IS NULL").metrics.files_after_stats_skipping == isnull
    for pred in [
        sp.Cmp("=", col("id"), lit(5, I64)),
        sp.Cmp("<", col("id"), lit(0, I64)),
        sp.Cmp(">", col("id"), lit(100, I64)),
        sp.IsNull(col("id")),
        sp.IsNull(col("id"), negated=True),
        sp.Cmp("=", col("s"), lit("s1", pa.string())),
        sp.Cmp("!=", col("id"), lit(3, I64)),
    ]:
        sql = sp.to_sql(pred)
        scan = check_filter(dt, pred)
        selected = set(scan.files().column("path").to_pylist())
        for task in dt.scan().tasks():  # every file with a matching row is kept
            rows = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields)).to_pylist()
            if any(sp.matches(pred, r) for r in rows):
                assert task.path in selected, (sql, task.path)


@needs_corpus
def test_corpus_table_without_stats_is_never_skipped():
    dt = lakehouse.DeltaTable(CORPUS / "tables" / "dat__no_stats")
    assert all(json.loads(s).keys() == {"numRecords"} for s in dt.files().column("stats").to_pylist())
    total = dt.snapshot.num_files
    S, D = pa.string(), pa.date32()
    for pred in [
        sp.Cmp("=", col("int"), lit(-999, I64)),
        sp.Cmp("=", col("int"), lit(93, I64)),
        sp.Cmp(">", col("int"), lit(10**9, I64)),
        sp.Cmp("=", col("letter"), lit("zzz", S)),
        sp.IsNull(col("letter")),
        sp.IsNull(col("date"), negated=True),
        sp.Cmp("<", col("date"), lit(date(1900, 1, 1), D)),
    ]:
        scan = check_filter(dt, pred)
        assert scan.metrics.files_after_stats_skipping == total, sp.to_sql(pred)


# -- deletion vectors and wide bounds -----------------------------------------------------------------

DV_TABLES = ["dat__deletion_vectors", "golden__dv-partitioned-with-checkpoint", "kernelrs__table-with-dv-small",
             "kernelrs__with-short-dv", "deltars__table_with_deletion_logs"]


def _raw_rows(dt: lakehouse.DeltaTable) -> list[dict]:
    """All physical rows of the active files, deletion vectors ignored."""
    fields = list(dt.snapshot.schema.fields)
    rows = []
    for t in dt.scan().tasks():
        rows += read_file(dt.snapshot, FileTask(t.path, t.partition_values, None), fields).to_pylist()
    return rows


@needs_corpus
@pytest.mark.parametrize("name", DV_TABLES)
def test_deletion_vector_tables_filter_like_the_full_read(name: str):
    dt = lakehouse.DeltaTable(CORPUS / "tables" / name)
    assert dt.files().column("deletion_vector").null_count < dt.snapshot.num_files
    full = dt.to_arrow()
    live = full.to_pylist()
    raw = _raw_rows(dt)
    assert len(raw) > len(live)  # the vectors do delete rows
    deleted = list((Counter(map(repr, raw)) - Counter(map(repr, live))).elements())
    assert deleted
    schema = full.schema
    deleted_rows = [r for r in raw if repr(r) in set(deleted)]
    preds: list[sp.P] = []
    for f in schema:
        if not sp.literal_supported(f.type) or pa.types.is_boolean(f.type):
            continue
        values = [r[f.name] for r in deleted_rows[:2] + live[:1] if r[f.name] is not None]
        for v in values:
            preds += [sp.Cmp("=", col(f.name), lit(v, f.type)), sp.Cmp("!=", col(f.name), lit(v, f.type)),
                      sp.Cmp(">", col(f.name), lit(v, f.type)), sp.Cmp("<=", col(f.name), lit(v, f.type))]
        preds += [sp.IsNull(col(f.name)), sp.IsNull(col(f.name), negated=True)]
    assert preds
    for pred in preds:
        check_filter(dt, pred)
    # a deleted row's exact values select nothing from it
    for r in deleted_rows[:3]:
        conj: sp.P | None = None
        for f in schema:
            if sp.literal_supported(f.type) and r[f.name] is not None and not pa.types.is_floating(f.type):
                atom = sp.Cmp("=", col(f.name), lit(r[f.name], f.type))
                conj = atom if conj is None else sp.And(conj, atom)
        if conj is not None:
            got = dt.to_arrow(filter=sp.to_sql(conj)).to_pylist()
            assert got == [x for x in live if sp.matches(conj, x)]


@needs_corpus
def test_wide_bounds_with_deletion_vectors_are_still_used():
    """tightBounds=false bounds still bound the rows: a value outside them skips the file, IS NULL with
    nullCount 0 skips it, and everything inside is read."""
    dt = lakehouse.DeltaTable(CORPUS / "tables" / "kernelrs__table-with-dv-small")
    stats = json.loads(dt.files().column("stats")[0].as_py())
    assert stats["tightBounds"] is False and stats["minValues"]["value"] == 0 and stats["maxValues"]["value"] == 9
    assert dt.scan("value > 9").metrics.files_after_stats_skipping == 0
    assert dt.scan("value < 0").metrics.files_after_stats_skipping == 0
    assert dt.scan("value IS NULL").metrics.files_after_stats_skipping == 0
    assert dt.scan("value IS NOT NULL").metrics.files_after_stats_skipping == 1
    for v in range(10):
        check_filter(dt, sp.Cmp("=", col("value"), lit(v, pa.int32())))
        check_filter(dt, sp.Cmp("!=", col("value"), lit(v, pa.int32())))


# -- truncated and special bounds --------------------------------------------------------------------

PREFIX = "x" * 32


STRING_FILES = [[PREFIX + "a", PREFIX + "b"], [PREFIX + "z", PREFIX + "zz" + "é" * 10], ["b", "c"], ["é" * 40, "é" * 33],
                [PREFIX], ["x" * 31 + "😀" * 3]]


def _string_table(path: Path, writer: str) -> lakehouse.DeltaTable:
    for values in STRING_FILES:
        t = pa.table({"s": pa.array(values, pa.string())})
        if writer == "lakehouse":
            lakehouse.write_delta(path, t, mode="append")
        else:
            from deltalake import write_deltalake

            write_deltalake(str(path), t, mode="append")
    return lakehouse.DeltaTable(path)


@pytest.mark.parametrize("writer", ["lakehouse", "deltalake"])
def test_string_max_truncation(tmp_path: Path, writer: str):
    """Values sharing a 32-character prefix: a cut (or unbounded) maximum never skips a matching file."""
    dt = _string_table(tmp_path / "t", writer)
    S = pa.string()
    probes = [PREFIX + "z", PREFIX + "zz" + "é" * 10, PREFIX + "b", PREFIX + "y", PREFIX, "é" * 40, "é" * 33,
              "é" * 35, "x" * 31 + "😀" * 3, "x" * 31 + "😀", "c", "bb", PREFIX + "\uffff", PREFIX + "\U0010ffff"]
    for v in probes:
        for op in ["=", "<", "<=", ">", ">=", "!="]:
            pred = sp.Cmp(op, col("s"), lit(v, S))
            scan = check_filter(dt, pred)
            selected = set(scan.files().column("path").to_pylist())
            for task in dt.scan().tasks():
                rows = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields)).to_pylist()
                if any(sp.matches(pred, r) for r in rows):
                    assert task.path in selected, (sp.to_sql(pred), dt.files().to_pylist())
    # short strings keep exact bounds on both sides
    assert dt.scan("s > 'c' AND s < 'x'").metrics.files_after_stats_skipping == 0
    assert dt.scan("s < 'b'").metrics.files_after_stats_skipping == 0


@pytest.mark.parametrize("writer", ["lakehouse", "deltalake"])
def test_long_string_minimum_still_skips(tmp_path: Path, writer: str):
    """A file whose (possibly cut) maximum is unknown still has an exact lower bound: `s = 'bb'` cannot
    match a file whose minimum is 'xxx…' or 'ééé…'. Only the file holding 'b'..'c' may match."""
    dt = _string_table(tmp_path / "t", writer)
    scan = dt.scan("s = 'bb'")
    assert scan.metrics.files_after_stats_skipping == 1, scan.explain()
    assert dt.scan("s <= 'c'").metrics.files_after_stats_skipping == 1
    assert dt.scan("s IN ('bb', 'a')").metrics.files_after_stats_skipping == 1


def _ts_table(path: Path, writer: str, values: list[list[datetime]], tz: str | None) -> None:
    for chunk in values:
        t = pa.table({"ts": pa.array(chunk, pa.timestamp("us", tz=tz))})
        if writer == "lakehouse":
            lakehouse.write_delta(path, t, mode="append")
        else:
            from deltalake import write_deltalake

            write_deltalake(str(path), t, mode="append")


@pytest.mark.parametrize("tz", ["UTC", None])
@pytest.mark.parametrize("writer", ["lakehouse", "deltalake"])
def test_timestamp_millisecond_truncation(tmp_path: Path, writer: str, tz: str | None):
    base = datetime(2024, 5, 1, 12, 0, 0)
    files = [[base + timedelta(microseconds=999_999)], [base + timedelta(microseconds=1)],
             [base + timedelta(seconds=1, microseconds=500)], [base - timedelta(microseconds=1)]]
    if tz:
        files = [[v.replace(tzinfo=timezone.utc) for v in f] for f in files]
    _ts_table(tmp_path / "t", writer, files, tz)
    dt = lakehouse.DeltaTable(tmp_path / "t")
    t = dt.schema.field("ts").type
    probes = sorted({v for f in files for v in f} | {v + timedelta(microseconds=d) for f in files for v in f
                                                    for d in (-1000, -1, 1, 1000)})
    for v in probes:
        for op in ["=", "<", "<=", ">", ">="]:
            pred = sp.Cmp(op, col("ts"), lit(v, t))
            scan = check_filter(dt, pred)
            selected = set(scan.files().column("path").to_pylist())
            for task in dt.scan().tasks():
                rows = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields)).to_pylist()
                if any(sp.matches(pred, r) for r in rows):
                    assert task.path in selected, (sp.to_sql(pred), dt.files().column("stats").to_pylist())
    row = files[0][0]
    text = (row.astimezone(timezone.utc) if tz else row).replace(tzinfo=None).isoformat(sep=" ")
    assert dt.to_arrow(filter=f"ts = '{text}'").num_rows == 1
    # bounds still skip: nothing lies a day later
    later = (base + timedelta(days=1)).isoformat(sep=" ")
    assert dt.scan(f"ts > '{later}'").metrics.files_after_stats_skipping == 0


def test_nan_columns_keep_their_files(tmp_path: Path):
    path = tmp_path / "t"
    for values in ([1.0, math.nan], [math.nan], [5.0, 6.0], [math.inf, -math.inf], [None, 2.0]):
        lakehouse.write_delta(path, pa.table({"f": pa.array(values, pa.float64())}), mode="append")
    dt = lakehouse.DeltaTable(path)
    for task, stats in zip(dt.scan().tasks(), dt.files().column("stats").to_pylist()):
        values = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields)).column("f").to_pylist()
        has_nan = any(v is not None and math.isnan(v) for v in values)
        assert ("f" in json.loads(stats)["minValues"]) == (not has_nan)  # no bounds for a column with NaN
    F = pa.float64()
    # exact skipping where bounds exist, none where NaN removed them
    assert dt.scan("f = 1.0").metrics.files_after_stats_skipping == 3  # the two NaN files and [-inf, inf]
    # NaN is above every number (Spark), and bounds leave NaN out, so `>` cannot skip by the maximum
    assert dt.scan("f > 7").metrics.files_after_stats_skipping == 5
    assert dt.scan("f < -7").metrics.files_after_stats_skipping == 3
    for v in [1.0, 5.0, 6.0, 2.0, math.inf, -math.inf, 0.0]:
        for op in ["=", "<", "<=", ">", ">="]:
            pred = sp.Cmp(op, col("f"), lit(v, F))
            selected = set(dt.scan(sp.to_sql(pred)).files().column("path").to_pylist())
            for task in dt.scan().tasks():
                rows = read_file(dt.snapshot, task, list(dt.snapshot.schema.fields)).to_pylist()
                if any(sp.matches(pred, r) for r in rows):
                    assert task.path in selected, sp.to_sql(pred)
            scan = dt.scan(sp.to_sql(pred))
            streamed = pa.Table.from_batches(list(scan.to_batches()), schema=scan.schema)
            assert_same_rows(streamed, expected(dt, pred), sp.to_sql(pred))


# -- checkpoints and time travel ----------------------------------------------------------------------


def test_skipping_from_checkpoint_stats(tmp_path: Path):
    path = tmp_path / "t"
    for k in range(6):
        lakehouse.write_delta(path, pa.table({"id": pa.array(range(10 * k, 10 * k + 10), I64)}), mode="append")
    lakehouse.DeltaTable(path).create_checkpoint()
    lakehouse.write_delta(path, pa.table({"id": pa.array(range(60, 70), I64)}), mode="append")
    dt = lakehouse.DeltaTable(path)
    assert counts(dt.scan("id BETWEEN 15 AND 25")) == (7, 7, 2)
    assert counts(dt.scan("id = 65")) == (7, 7, 1)
    old = lakehouse.DeltaTable(path, version=2)
    assert counts(old.scan("id BETWEEN 15 AND 25")) == (3, 3, 2)
    assert sorted(old.to_arrow(filter="id >= 25").column("id").to_pylist()) == list(range(25, 30))
