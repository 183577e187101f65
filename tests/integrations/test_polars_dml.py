"""polars expressions (and DNF tuple filters) wherever DML takes a SQL string: DELETE and UPDATE predicates,
UPDATE values, MERGE's ON condition, clause conditions and SET/INSERT values with columns named by their
alias (``pl.col("t.v")``, ``pl.col("s.v")``).

Each case runs twice on identical tables, once with the polars form and once with the equivalent SQL
string, in copy-on-write and deletion-vector mode. The expected rows are computed independently: by polars
itself evaluating the same expression over the original rows (DELETE, UPDATE) or in plain Python (MERGE).
Every table is reopened and checked row by row, and read by deltalake too. An expression lakehouse cannot
convert is one clear error and leaves the table unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from tests.support.dml import MODES, config, snapshot_dir
from tests.support.rows import assert_same_rows, dl_read, lh_read

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("f", pa.float64()), ("name", pa.string()),
                    ("p", pa.string())])
ROWS = [
    {"id": 1, "v": 10, "f": 0.5, "name": "alice", "p": "a"},
    {"id": 2, "v": -7, "f": float("nan"), "name": "bob", "p": "a"},
    {"id": 3, "v": None, "f": None, "name": "Bea", "p": "a"},
    {"id": 4, "v": 40, "f": 2.5, "name": None, "p": "b"},
    {"id": 5, "v": -20, "f": -1.0, "name": "carl", "p": "b"},
    {"id": 6, "v": 65, "f": float("nan"), "name": "dora", "p": "c"},
    {"id": 7, "v": 0, "f": 3.0, "name": "bo", "p": "c"},
    {"id": 8, "v": 22, "f": None, "name": "eve", "p": None},
]


def make(path: str, mode: str) -> None:
    lakehouse.write_delta(path, pa.Table.from_pylist(ROWS[:4], schema=SCHEMA), partition_by=["p"],
                          configuration=config(mode))
    lakehouse.write_delta(path, pa.Table.from_pylist(ROWS[4:], schema=SCHEMA), mode="append")


def frame() -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(ROWS, schema=SCHEMA))  # type: ignore[return-value]


def check(path: str, want: pa.Table | list[dict], label: str) -> None:
    """The reopened table holds exactly ``want``, read by lakehouse and by deltalake."""
    assert_same_rows(lh_read(path), want, f"{label} (lakehouse)")
    assert_same_rows(dl_read(path), want, f"{label} (deltalake)")


# (polars predicate, equivalent SQL string): polars' meaning, e.g. `%` takes the divisor's sign.
PREDICATES = [
    (pl.col("v") > 20, "v > 20"),
    (pl.col("v") % 3 == 1, "((v % 3) + 3) % 3 = 1"),
    (pl.col("p").is_in(["a", "c"]) & pl.col("v").is_null(), "p IN ('a', 'c') AND v IS NULL"),
    (pl.col("f") == float("nan"), "isnan(f)"),
    (pl.col("f") > 1.0, "f > 1.0"),  # NaN rows match: NaN is above every number, in polars and Spark
    (pl.col("name").str.to_uppercase().str.starts_with("B"), "startswith(upper(name), 'B')"),
    (pl.when(pl.col("v") > 30).then(pl.lit(True)).otherwise(pl.col("id") < 3),
     "CASE WHEN v > 30 THEN true ELSE id < 3 END"),
    (pl.col("v").cast(pl.String) == "10", "CAST(v AS STRING) = '10'"),
    ((pl.col("v") * 2 - pl.col("id")).abs() > 50, "abs(v * 2 - id) > 50"),
    (pl.col("v").fill_null(0) == 0, "coalesce(v, 0) = 0"),
    (pl.col("name").str.contains("o", literal=True) | pl.col("p").is_null(), "contains(name, 'o') OR p IS NULL"),
    (pl.col("id").is_between(2, 5, closed="left") & ~(pl.col("p") == "b"), "id >= 2 AND id < 5 AND NOT p = 'b'"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("expr,sql", PREDICATES, ids=[p[1] for p in PREDICATES])
def test_delete_with_a_polars_predicate(tmp_path: Path, mode: str, expr: pl.Expr, sql: str) -> None:
    df = frame()
    kept = df.filter(~expr.fill_null(False)).to_arrow()  # polars decides which rows the DELETE leaves
    assert 0 < kept.num_rows < len(ROWS), "a DELETE case must delete some rows and keep others"
    a, b = str(tmp_path / "polars"), str(tmp_path / "sql")
    make(a, mode)
    make(b, mode)
    got = lakehouse.DeltaTable(a).delete(expr)
    lakehouse.DeltaTable(b).delete(sql)
    assert got.num_deleted_rows == len(ROWS) - kept.num_rows
    check(a, kept, f"DELETE {expr}")
    check(b, kept, f"DELETE {sql}")


UPDATES = [
    (pl.col("v") > 20, {"v": pl.col("v") * 10}, "v > 20", {"v": "v * 10"}),
    (pl.col("p") == "a", {"name": pl.col("name").str.to_uppercase()}, "p = 'a'", {"name": "upper(name)"}),
    (pl.col("f").is_null(), {"f": pl.col("v").cast(pl.Float64) / 4}, "f IS NULL", {"f": "v / 4"}),
    (pl.col("v") % 4 == 1, {"p": pl.lit("moved"), "v": pl.col("v").abs()}, "((v % 4) + 4) % 4 = 1",
     {"p": "'moved'", "v": "abs(v)"}),
    (pl.col("name").str.len_chars() <= 3, {"name": pl.col("name") + pl.lit("!")}, "length(name) <= 3",
     {"name": "name || '!'"}),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("expr,values,sql,sql_values", UPDATES, ids=[u[2] for u in UPDATES])
def test_update_with_polars_predicate_and_values(tmp_path: Path, mode: str, expr: pl.Expr, values: dict,
                                                 sql: str, sql_values: dict) -> None:
    df = frame()
    hit = expr.fill_null(False)
    want = df.with_columns(**{c: pl.when(hit).then(v).otherwise(pl.col(c)) for c, v in values.items()}).to_arrow()
    assert 0 < df.filter(hit).height < len(ROWS)
    a, b = str(tmp_path / "polars"), str(tmp_path / "sql")
    make(a, mode)
    make(b, mode)
    got = lakehouse.DeltaTable(a).update(updates=values, predicate=expr)
    lakehouse.DeltaTable(b).update(updates=sql_values, predicate=sql)
    assert got.num_updated_rows == df.filter(hit).height
    check(a, want, f"UPDATE {expr}")
    check(b, want, f"UPDATE {sql}")


@pytest.mark.parametrize("mode", MODES)
def test_delete_and_update_take_dnf_tuple_filters(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "t")
    make(path, mode)
    dt = lakehouse.DeltaTable(path)
    dt.delete([[("p", "=", "a"), ("v", "<", 0)], [("id", "in", [7, 8])]])
    dt.update(updates={"v": "v + 1"}, predicate=[("p", "in", ["b", "c"]), ("v", ">=", 0)])
    want = []
    for r in ROWS:
        if (r["p"] == "a" and r["v"] is not None and r["v"] < 0) or r["id"] in (7, 8):
            continue
        if r["p"] in ("b", "c") and r["v"] is not None and r["v"] >= 0:
            r = {**r, "v": r["v"] + 1}
        want.append(r)
    check(path, pa.Table.from_pylist(want, schema=SCHEMA), "DNF DELETE then UPDATE")


# -- MERGE -------------------------------------------------------------------------------------------------
SOURCE = pa.table({"id": pa.array([1, 2, 4, 9, 10], pa.int64()), "v": pa.array([5, 6, 7, 8, None], pa.int64()),
                   "name": ["x", "y", "z", "new", "nul"], "w": pa.array([1, -1, 2, 3, 4], pa.int64())})


def _merge_expected() -> list[dict]:
    src = {r["id"]: r for r in SOURCE.to_pylist()}
    out = []
    for r in ROWS:
        s = src.get(r["id"])
        if s is not None:
            if s["w"] > 0:
                v = None if r["v"] is None or s["v"] is None else r["v"] + s["v"]
                out.append({**r, "v": v, "name": s["name"].upper()})
            elif s["w"] < 0:
                continue  # deleted
            else:
                out.append(r)
        elif r["v"] is not None and r["v"] > 60:
            out.append({**r, "v": -1})
        else:
            out.append(r)
    for s in SOURCE.to_pylist():
        if s["id"] not in {r["id"] for r in ROWS} and s["v"] is not None:
            out.append({"id": s["id"], "v": s["v"] * 2 + abs(s["w"]), "f": None, "name": s["name"], "p": "new"})
    return out


def _run_merge(dt: lakehouse.DeltaTable, forms: dict[str, Any]) -> Any:
    return (dt.merge(SOURCE, forms["on"])
            .when_matched_update(updates=forms["update"], predicate=forms["update_if"])
            .when_matched_delete(predicate=forms["delete_if"])
            .when_not_matched_insert(updates=forms["insert"], predicate=forms["insert_if"])
            .when_not_matched_by_source_update(updates=forms["nmbs"], predicate=forms["nmbs_if"])
            .execute())


POLARS_MERGE = {
    "on": pl.col("t.id") == pl.col("s.id"),
    "update": {"v": pl.col("t.v") + pl.col("s.v"), "name": pl.col("s.name").str.to_uppercase()},
    "update_if": pl.col("s.w") > 0,
    "delete_if": pl.col("s.w") < 0,
    # `w` is a source-only column named without its alias; `abs` of it must still find the source.
    "insert": {"id": pl.col("s.id"), "v": pl.col("s.v") * 2 + pl.col("w").abs(), "name": pl.col("s.name"),
               "p": pl.lit("new")},
    "insert_if": pl.col("s.v").is_not_null(),
    "nmbs": {"v": pl.lit(-1)},
    "nmbs_if": pl.col("t.v") > 60,
}
SQL_MERGE = {
    "on": "t.id = s.id",
    "update": {"v": "t.v + s.v", "name": "upper(s.name)"},
    "update_if": "s.w > 0",
    "delete_if": "s.w < 0",
    "insert": {"id": "s.id", "v": "s.v * 2 + abs(w)", "name": "s.name", "p": "'new'"},
    "insert_if": "s.v IS NOT NULL",
    "nmbs": {"v": "-1"},
    "nmbs_if": "t.v > 60",
}


@pytest.mark.parametrize("mode", MODES)
def test_merge_with_polars_condition_clauses_and_values(tmp_path: Path, mode: str) -> None:
    want = pa.Table.from_pylist(_merge_expected(), schema=SCHEMA)
    a, b = str(tmp_path / "polars"), str(tmp_path / "sql")
    make(a, mode)
    make(b, mode)
    got = _run_merge(lakehouse.DeltaTable(a), POLARS_MERGE)
    _run_merge(lakehouse.DeltaTable(b), SQL_MERGE)
    assert (got.num_target_rows_updated, got.num_target_rows_deleted, got.num_target_rows_inserted) == (3, 1, 1)
    check(a, want, "MERGE with polars")
    check(b, want, "MERGE with SQL")
    assert lakehouse.DeltaTable(a).history(1)[0].operation_parameters["predicate"] == str(POLARS_MERGE["on"])


def test_merge_qualifies_columns_inside_functions(tmp_path: Path) -> None:
    # `upper(name)`/`abs(w)` name columns without their alias inside a function call: each belongs to
    # the one side that has it (name is target-only here, w source-only).
    path = str(tmp_path / "t")
    make(path, "cow")
    src = pa.table({"id": pa.array([1, 5], pa.int64()), "w": pa.array([-3, 4], pa.int64())})
    (lakehouse.DeltaTable(path).merge(src, "t.id = s.id")
     .when_matched_update(updates={"v": "abs(w)", "name": "upper(name)"}).execute())
    want = [{**r, "v": 3, "name": "ALICE"} if r["id"] == 1 else {**r, "v": 4, "name": "CARL"} if r["id"] == 5 else r
            for r in ROWS]
    check(path, pa.Table.from_pylist(want, schema=SCHEMA), "MERGE with unqualified columns in functions")


# -- refusals: one clear line, nothing written ------------------------------------------------------------------
HELP = ("Help: write it as a Spark SQL string; polars expressions may use comparisons, &, |, ~, + - * / %, "
        "is_null/is_not_null, is_in, is_between, fill_null, abs, when/then/otherwise, cast, str.to_uppercase/"
        "to_lowercase/starts_with/ends_with/contains/len_chars/strip_chars/slice/replace_all(literal=True), "
        "dt.year/month/day/hour/minute/second")


def _refused(path: str, run: Any, message: str) -> None:
    before = snapshot_dir(path)
    with pytest.raises(InvalidArgumentError) as info:
        run(lakehouse.DeltaTable(path))
    assert str(info.value) == message
    assert snapshot_dir(path) == before
    check(path, pa.Table.from_pylist(ROWS, schema=SCHEMA), "table after a refused DML")


def test_unconvertible_polars_predicates_are_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    make(path, "dv")
    _refused(path, lambda dt: dt.delete(pl.col("v").sum() > 1),
             f'cannot convert polars expression [(col("v").sum()) > (dyn int: 1)]: the aggregation sum is not '
             f"supported\n{HELP}")
    _refused(path, lambda dt: dt.update(updates={"v": "0"}, predicate=pl.col("v") // 2 == 1),
             f'cannot convert polars expression [([(col("v")) // (dyn int: 2)]) == (dyn int: 1)]: the operator '
             f"FloorDivide (floor division: `div` or floor(a / b) in SQL) is not supported\n{HELP}")
    _refused(path, lambda dt: dt.merge(SOURCE, pl.col("t.id") == pl.col("s.id"))
             .when_matched_update(updates={"v": pl.col("s.v").rank()}).execute(),
             f'cannot convert polars expression col("s.v").rank(): the function rank is not supported\n{HELP}')
    _refused(path, lambda dt: dt.delete((pl.col("f") == float("nan")) | (pl.col("f") == float("inf"))),
             'cannot convert polars expression [([(col("f")) == (dyn float: NaN)]) | ([(col("f")) == (dyn float: '
             'inf)])]: NaN and infinite literals together (polars serialises both as null) is not supported\n'
             f"{HELP}")


def test_unknown_columns_in_polars_dml_say_did_you_mean(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    make(path, "cow")
    _refused(path, lambda dt: dt.delete(pl.col("nmae") == "bob"),
             "unknown column 'nmae' in DELETE predicate; the columns are id, v, f, name, p\nHelp: did you mean 'name'?")
    _refused(path, lambda dt: dt.update(updates={"v": pl.col("vv") + 1}, predicate=pl.col("id") == 1),
             "unknown column 'vv' in the value for v; the columns are id, v, f, name, p\nHelp: did you mean 'v'?")
    _refused(path, lambda dt: dt.merge(SOURCE, pl.col("t.idd") == pl.col("s.id")).when_matched_delete().execute(),
             "unknown column 't.idd' in MERGE; the columns are t.id, t.v, t.f, t.name, t.p, s.id, s.v, s.name, "
             "s.w\nHelp: did you mean 't.id'?")
    _refused(path, lambda dt: dt.delete("name = bob"),
             "unknown column 'bob' in DELETE predicate 'name = bob'; the columns are id, v, f, name, p\n"
             "Help: quote string literals: 'bob'")
    _refused(path, lambda dt: dt.update(updates={"nmae": "'x'"}, predicate="id = 1"),
             "unknown column 'nmae' in UPDATE updates=; the columns are id, v, f, name, p\nHelp: did you mean 'name'?")


def test_dask_merge_takes_polars_conditions_and_values(tmp_path: Path) -> None:
    import dask

    import lakehouse.integrations.dask as ldd

    a = str(tmp_path / "dask")
    make(a, "dv")
    with dask.config.set(scheduler="sync"):
        builder = ldd.merge(a, SOURCE, POLARS_MERGE["on"])
        (builder.when_matched_update(updates=POLARS_MERGE["update"], predicate=POLARS_MERGE["update_if"])
         .when_matched_delete(predicate=POLARS_MERGE["delete_if"])
         .when_not_matched_insert(updates=POLARS_MERGE["insert"], predicate=POLARS_MERGE["insert_if"])
         .when_not_matched_by_source_update(updates=POLARS_MERGE["nmbs"], predicate=POLARS_MERGE["nmbs_if"])
         .execute())
    check(a, pa.Table.from_pylist(_merge_expected(), schema=SCHEMA), "Dask MERGE with polars")
