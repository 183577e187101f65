"""`lakehouse.scan_delta` (a polars IO plugin) and `DeltaTable.to_pyarrow_dataset`.

Results are compared with polars (or pyarrow) computing the same query on the full table. Pushdown is
observed without touching lakehouse: the LazyFrame's explain() names the plugin and the predicate, and a
spy on `pyarrow.parquet.ParquetFile` (what lakehouse opens per data file) records which files and
columns are read.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import lakehouse
from tests.support.conformance import MISSING, canonical_rows, corpus_dir, describe_difference

CORPUS = corpus_dir()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason=MISSING)  # never skips under CI: corpus_dir() raises


class Reads:
    """What lakehouse opened: file paths and the columns read from each."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.columns: list[list[str] | None] = []

    def clear(self) -> None:
        self.files.clear()
        self.columns.clear()


@pytest.fixture
def reads(monkeypatch) -> Reads:
    rec = Reads()
    real = pq.ParquetFile

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, source, *args, **kwargs):
            rec.files.append(str(source))
            super().__init__(source, *args, **kwargs)

        def read(self, columns=None, *args, **kwargs):
            rec.columns.append(list(columns) if columns is not None else None)
            return super().read(columns, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", Spy)
    return rec


def same_frames(got: pl.DataFrame, want: pl.DataFrame, what: str = "") -> None:
    assert got.columns == want.columns, what
    g, w = canonical_rows(got.to_arrow()), canonical_rows(want.to_arrow())
    assert g == w, f"{what}\n{describe_difference(g, w)}"


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """20 files: 10 appends x 2 partitions (p0/p1); ids 0..199 contiguous per file; nulls and a date."""
    path = tmp_path_factory.mktemp("polars") / "t"
    for k in range(10):
        ids = list(range(20 * k, 20 * k + 20))
        t = pa.table({
            "id": pa.array(ids, pa.int64()),
            "v": pa.array([f"v{i:03d}" if i % 7 else None for i in ids], pa.string()),
            "x": pa.array([float(i) / 4 for i in ids], pa.float64()),
            "d": pa.array([date(2024, 1, 1 + k)] * 20, pa.date32()),
            "p": pa.array(["p0" if i % 20 < 10 else "p1" for i in ids], pa.string()),
        })
        lakehouse.write_delta(path, t, mode="append", partition_by=["p"])
    return path


@pytest.fixture(scope="module")
def full(table: Path) -> pl.DataFrame:
    return pl.from_arrow(lakehouse.DeltaTable(table).to_arrow())  # type: ignore[return-value]


QUERIES = {
    "filter-id": lambda lf: lf.filter(pl.col("id") < 20),
    "filter-between": lambda lf: lf.filter(pl.col("id").is_between(95, 104)),
    "filter-partition": lambda lf: lf.filter(pl.col("p") == "p1"),
    "filter-and-select": lambda lf: lf.filter((pl.col("p") == "p0") & (pl.col("id") >= 150)).select("v", "id"),
    "filter-or": lambda lf: lf.filter((pl.col("id") < 5) | (pl.col("v") == "v199")),
    "is-in": lambda lf: lf.filter(pl.col("id").is_in([3, 77, 150])),
    "not-is-in": lambda lf: lf.filter(~pl.col("id").is_in([3, 77, 150])),
    "is-null": lambda lf: lf.filter(pl.col("v").is_null()),
    "is-not-null": lambda lf: lf.filter(pl.col("v").is_not_null() & (pl.col("id") < 30)),
    "date": lambda lf: lf.filter(pl.col("d") > date(2024, 1, 8)),
    "float": lambda lf: lf.filter(pl.col("x") >= 49.5),
    "not": lambda lf: lf.filter(~(pl.col("id") < 190)),
    "select-only": lambda lf: lf.select("id", "p"),
    "with-columns": lambda lf: lf.with_columns((pl.col("id") * 2).alias("id2")).filter(pl.col("id2") > 390),
    "str-contains": lambda lf: lf.filter(pl.col("v").str.contains("9")),
    "str-contains-and-id": lambda lf: lf.filter(pl.col("v").str.starts_with("v1") & (pl.col("id") < 120)),
    "length": lambda lf: lf.filter(pl.col("v").str.len_chars() == 4),
    "group-by": lambda lf: lf.filter(pl.col("id") < 100).group_by("p").agg(pl.col("id").sum()).sort("p"),
    "sort-head": lambda lf: lf.filter(pl.col("id") > 50).sort("id").head(3),
    "cast-compare": lambda lf: lf.filter(pl.col("id").cast(pl.Float64) > 198.5),
    "fractional-literal": lambda lf: lf.filter(pl.col("id") < 20.5),
    "infinite-literal": lambda lf: lf.filter(pl.col("x") < float("inf")),
    "negative-infinite-literal": lambda lf: lf.filter(pl.col("x") > float("-inf")),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_scan_delta_equals_polars_on_the_full_table(table: Path, full: pl.DataFrame, name: str):
    query = QUERIES[name]
    got = query(lakehouse.scan_delta(table)).collect()
    want = query(full.lazy()).collect()
    same_frames(got, want, name)


def test_explain_names_the_plugin_and_the_pushed_predicate(table: Path):
    lf = lakehouse.scan_delta(table).filter(pl.col("id") < 20).select("v")
    plan = lf.explain()
    assert "lakehouse.scan_delta" in plan
    assert 'col("id")' in plan and "SELECTION" in plan  # the predicate is handed to the plugin
    assert "PROJECT" in plan  # only some columns are asked for


def test_predicate_pushdown_skips_files(table: Path, reads: Reads):
    out = lakehouse.scan_delta(table).filter(pl.col("id") < 20).collect()
    assert sorted(out["id"].to_list()) == list(range(20))
    assert len(set(reads.files)) == 2  # first append: one file per partition
    reads.clear()
    lakehouse.scan_delta(table).filter((pl.col("id") >= 100) & (pl.col("id") < 110)).collect()
    assert len(set(reads.files)) == 1
    reads.clear()
    lakehouse.scan_delta(table).filter(pl.col("p") == "p1").collect()
    assert len(set(reads.files)) == 10 and all("p=p1" in f for f in reads.files)
    reads.clear()
    lakehouse.scan_delta(table).collect()
    assert len(set(reads.files)) == 20


def test_projection_pushdown_reads_only_needed_columns(table: Path, reads: Reads):
    out = lakehouse.scan_delta(table).select("v").collect()
    assert out.columns == ["v"]
    assert reads.columns and all(cols == ["v"] for cols in reads.columns), reads.columns
    reads.clear()
    lakehouse.scan_delta(table).filter(pl.col("id") == 5).select("x").collect()
    assert reads.columns and all(sorted(cols) == ["id", "x"] for cols in reads.columns), reads.columns
    reads.clear()
    lakehouse.scan_delta(table).select("p").collect()  # a partition column needs no data column
    assert all(cols == [] for cols in reads.columns), reads.columns


def test_head_stops_early(table: Path, reads: Reads):
    out = lakehouse.scan_delta(table).head(5).collect()
    assert out.height == 5
    assert len(set(reads.files)) == 1, reads.files
    reads.clear()
    out = lakehouse.scan_delta(table).filter(pl.col("id") >= 100).head(3).collect()
    assert out.height == 3 and all(i >= 100 for i in out["id"].to_list())
    # polars may pull a few batches ahead when it applies the limit after a predicate, but not all 10 files
    assert len(set(reads.files)) < 10, reads.files


def test_unconvertible_expression_still_filters_and_reads_everything(table: Path, full: pl.DataFrame, reads: Reads):
    expr = pl.col("v").str.reverse().str.starts_with("91v")  # str.reverse has no SQL form in lakehouse
    got = lakehouse.scan_delta(table).filter(expr).collect()
    same_frames(got, full.filter(expr))
    # No skipping is possible: every one of the 20 files is read (polars may restart a Python IO source,
    # opening a file twice, so distinct files are counted).
    assert len(set(reads.files)) == 20
    # through DeltaTable.scan as well: explain() says so
    scan = lakehouse.DeltaTable(table).scan(expr)
    assert "could not be used for skipping" in scan.explain()
    same_frames(pl.from_arrow(scan.to_arrow()), full.filter(expr))  # type: ignore[arg-type]
    same_frames(scan.to_polars(), full.filter(expr))


def test_polars_expression_filters_in_delta_table_scan(table: Path, full: pl.DataFrame):
    dt = lakehouse.DeltaTable(table)
    for expr in [pl.col("id") < 20, pl.col("id").is_in([1, 150]), (pl.col("p") == "p1") & (pl.col("id") > 185),
                 pl.col("v").is_null() & (pl.col("id") < 20), pl.col("d") == date(2024, 1, 3)]:
        scan = dt.scan(expr)
        same_frames(pl.from_arrow(scan.to_arrow()), full.filter(expr), str(expr))  # type: ignore[arg-type]
        assert scan.metrics.files_after_stats_skipping < 20, str(expr)
        streamed = pa.Table.from_batches(list(scan.to_batches()), schema=scan.schema)
        same_frames(pl.from_arrow(streamed), full.filter(expr), str(expr))  # type: ignore[arg-type]


def test_infinite_literal_in_polars_predicate_is_not_null(table: Path):
    """polars serialises float literals NaN and +-inf as JSON null; converting that to a NULL literal
    makes skipping drop every file for `x < inf` (a comparison with NULL is never TRUE)."""
    scan = lakehouse.DeltaTable(table).scan(pl.col("x") < float("inf"))
    assert scan.metrics.files_after_stats_skipping == 20, scan.explain()
    assert lakehouse.scan_delta(table).filter(pl.col("x") < float("inf")).collect().height == 200


def test_fractional_literal_in_polars_predicate_does_not_skip_matching_files(table: Path, reads: Reads):
    """pl.col('id') < 20.5 selects id = 20, which sits in the second append's files; skipping must not
    turn 20.5 into 20 (polars itself filters the rows correctly once the files are read)."""
    out = lakehouse.scan_delta(table).filter(pl.col("id") < 20.5).collect()
    assert sorted(out["id"].to_list()) == list(range(21))


@pytest.mark.parametrize("writer", ["lakehouse", "deltalake"])
def test_polars_nan_semantics_survive_skipping(tmp_path: Path, writer: str):
    """polars orders NaN above every number and says NaN == NaN. Skipping with stats that ignore NaN
    (delta-rs writes min = max = 0.5 for [0.5, NaN]) must not drop the NaN row for `f > 1`."""
    t = pa.table({"f": pa.array([0.5, math.nan], pa.float64()), "k": [1, 2]})
    if writer == "lakehouse":
        lakehouse.write_delta(tmp_path / "t", t)
    else:
        from deltalake import write_deltalake

        write_deltalake(str(tmp_path / "t"), t)
    full = pl.from_arrow(t)
    for expr in [pl.col("f") > 1, pl.col("f") == float("nan"), pl.col("f") >= float("nan"), pl.col("f") != 0.5]:
        got = lakehouse.scan_delta(tmp_path / "t").filter(expr).collect()
        same_frames(got, full.filter(expr), f"{writer}: {expr}")  # type: ignore[union-attr]


# -- corpus tables: column mapping and deletion vectors ---------------------------------------------------

CM_AND_DV = ["dat__column_mapping", "golden__table-with-columnmapping-mode-name", "golden__table-with-columnmapping-mode-id",
             "deltars__table_with_column_mapping", "dat__deletion_vectors", "golden__dv-partitioned-with-checkpoint",
             "kernelrs__table-with-dv-small", "kernelrs__with-short-dv"]


def _latest_expected(name: str) -> tuple[Path, int, Path]:
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text())
    table = next(t for t in manifest["tables"] if t["name"] == name)
    entry = max((v for v in table["versions"] if str(v.get("expected_file", "")).endswith(".parquet")),
                key=lambda v: v["version"])
    return CORPUS / table["table_path"], entry["version"], CORPUS / entry["expected_file"]


def _polars_roundtrip(t: pa.Table) -> pa.Table:
    return pl.from_arrow(t).to_arrow()  # type: ignore[union-attr]


@needs_corpus
@pytest.mark.parametrize("name", CM_AND_DV)
def test_scan_delta_reads_column_mapping_and_deletion_vector_tables(name: str):
    path, version, expected_file = _latest_expected(name)
    want = pq.read_table(expected_file)
    lf = lakehouse.scan_delta(path, version=version)
    got = lf.collect()
    assert sorted(got.columns) == sorted(want.column_names)
    g, w = canonical_rows(got.to_arrow()), canonical_rows(_polars_roundtrip(want))
    assert g == w, describe_difference(g, w)
    # a pushed-down filter and projection on the first primitive column, against polars on the full data
    full = pl.from_arrow(_polars_roundtrip(want))
    prim = [c for c, t in full.schema.items() if t.is_numeric() or t == pl.String or t == pl.Date]
    assert prim
    c = prim[0]
    value = full[c].drop_nulls().sort()[full[c].drop_nulls().len() // 2] if full[c].drop_nulls().len() else None
    if value is not None:
        for expr in [pl.col(c) == value, pl.col(c) > value, pl.col(c) != value, pl.col(c).is_null()]:
            q = lambda lf_: lf_.filter(expr).select(sorted(full.columns)[:3] + ([c] if c not in sorted(full.columns)[:3] else []))  # noqa: E731
            got_f = q(lakehouse.scan_delta(path, version=version)).collect()
            want_f = q(full.lazy()).collect()
            same_frames(got_f, want_f, f"{name}: {expr}")


# -- to_pyarrow_dataset ------------------------------------------------------------------------------------

DS_FILTERS = [
    (ds.field("p") == "p1", "p = 'p1'"),
    ((ds.field("p") == "p0") & (ds.field("id") > 150), "p = 'p0' AND id > 150"),
    (ds.field("p").isin(["p0"]) | (ds.field("id") < 3), "p IN ('p0') OR id < 3"),
    (ds.field("v").is_null(), "v IS NULL"),
    (~(ds.field("id") < 190), "NOT (id < 190)"),
    (ds.field("d") >= pa.scalar(date(2024, 1, 9)), "d >= DATE '2024-01-09'"),
    ((ds.field("x") > 10.0) & (ds.field("x") <= 12.0), "x > 10.0 AND x <= 12.0"),
]


@pytest.mark.parametrize("expr,sql", DS_FILTERS, ids=[s for _, s in DS_FILTERS])
def test_to_pyarrow_dataset_filters_like_lakehouse(table: Path, expr, sql: str):
    dt = lakehouse.DeltaTable(table)
    dataset = dt.to_pyarrow_dataset()
    got = dataset.to_table(filter=expr)
    want = dt.to_arrow(filter=sql)
    assert sorted(got.column_names) == sorted(want.column_names)
    g, w = canonical_rows(got), canonical_rows(want)
    assert g == w, describe_difference(g, w)


def test_to_pyarrow_dataset_prunes_partitions(table: Path):
    dataset = lakehouse.DeltaTable(table).to_pyarrow_dataset()
    assert len(list(dataset.get_fragments())) == 20
    assert len(list(dataset.get_fragments(filter=ds.field("p") == "p1"))) == 10
    assert len(list(dataset.get_fragments(filter=ds.field("p") == "nope"))) == 0
    assert dataset.count_rows(filter=ds.field("p") == "p1") == 100


@needs_corpus
@pytest.mark.parametrize("name", ["golden__dv-partitioned-with-checkpoint", "dat__column_mapping"])
def test_to_pyarrow_dataset_of_tables_needing_per_file_work(name: str):
    path, version, expected_file = _latest_expected(name)
    dt = lakehouse.DeltaTable(path, version=version)
    dataset = dt.to_pyarrow_dataset()
    assert canonical_rows(dataset.to_table()) == canonical_rows(pq.read_table(expected_file))
    first = dt.schema.names[0]
    t = dt.to_arrow()
    value = pc.min(t.column(first)).as_py()
    expr = ds.field(first) > pa.scalar(value, t.schema.field(first).type)
    col_sql = '"' + first + '"'
    lit_sql = f"'{value}'" if isinstance(value, str) else str(value)
    assert canonical_rows(dataset.to_table(filter=expr)) == canonical_rows(dt.to_arrow(filter=f"{col_sql} > {lit_sql}"))


def test_scan_delta_time_travel_and_empty_result(table: Path, tmp_path: Path):
    old = lakehouse.scan_delta(table, version=0).collect()
    assert old.height == 20
    empty = lakehouse.scan_delta(table).filter(pl.col("id") < 0).collect()
    assert empty.height == 0 and empty.schema == lakehouse.scan_delta(table).collect_schema()
    ts = datetime(2024, 1, 1, tzinfo=timezone.utc)
    lakehouse.write_delta(tmp_path / "ts", pa.table({"t": pa.array([ts], pa.timestamp("us", tz="UTC"))}))
    got = lakehouse.scan_delta(tmp_path / "ts").filter(pl.col("t") == ts).collect()
    assert got.height == 1
    assert_frame_equal(got, pl.DataFrame({"t": [ts]}, schema={"t": pl.Datetime("us", "UTC")}))
