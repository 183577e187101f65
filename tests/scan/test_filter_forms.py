"""Every form a filter takes (`lakehouse.FilterLike`): a Spark SQL string, a polars expression, a DNF
tuple filter as pyarrow and deltalake take it. Each form selects the same rows as the equivalent SQL
string, through every read entry point (`to_arrow`, `scan`, `to_pandas`, `to_polars`, `read_delta`,
`scan_delta`, the Dask read), prunes files the same way, and a bad filter is one clear line naming what
is wrong. DNF filters are cross-checked against deltalake's own DNF reads.
"""

from __future__ import annotations

import math
import typing
from datetime import date, datetime, timezone
from decimal import Decimal

import deltalake
import polars as pl
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr import columns, parse_predicate
from tests.support.rows import rows_of

SCHEMA = pa.schema([
    ("id", pa.int64()), ("name", pa.string()), ("v", pa.float64()), ("d", pa.date32()),
    ("ts", pa.timestamp("us", tz="UTC")), ("amount", pa.decimal128(10, 2)), ("p", pa.string()),
    ("s", pa.struct([("x", pa.int64())])),
])


def _rows(lo: int, hi: int) -> list[dict]:
    out = []
    for i in range(lo, hi):
        out.append({
            "id": i, "name": None if i % 7 == 0 else f"n{i % 5}",
            "v": math.nan if i % 11 == 0 else None if i % 13 == 0 else (i - 20) / 4,
            "d": date(2024, 1, 1 + i % 28), "ts": datetime(2024, 1, 1, i % 24, tzinfo=timezone.utc),
            "amount": Decimal(i * 37 % 1000) / 100, "p": "a" if i % 3 else "b", "s": {"x": i % 4},
        })
    return out


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("forms") / "t")
    for lo in range(0, 60, 10):  # six appends: several files per partition, stats to skip with
        lakehouse.write_delta(path, pa.Table.from_pylist(_rows(lo, lo + 10), schema=SCHEMA), partition_by=["p"],
                              mode="append")
    return path


def _sql_rows(path: str, sql: str) -> typing.Counter:
    return rows_of(lakehouse.DeltaTable(path).to_arrow(filter=sql))


# (SQL string, polars expression, DNF filter or None): the three stand for the same predicate.
FORMS = [
    ("id = 5", pl.col("id") == 5, [("id", "=", 5)]),
    ("id = 5", pl.col("id") == 5, [("id", "==", 5)]),
    ("id != 5", pl.col("id") != 5, [("id", "!=", 5)]),
    ("id < 12", pl.col("id") < 12, [("id", "<", 12)]),
    ("id <= 12 AND id > 3", (pl.col("id") <= 12) & (pl.col("id") > 3), [("id", "<=", 12), ("id", ">", 3)]),
    ("id >= 50", pl.col("id") >= 50, [("id", ">=", 50)]),
    ("id IN (1, 2, 40)", pl.col("id").is_in([1, 2, 40]), [("id", "in", [1, 2, 40])]),
    ("id NOT IN (1, 2, 40)", ~pl.col("id").is_in([1, 2, 40]), [("id", "not in", [1, 2, 40])]),
    ("name = 'n1' OR id > 55", (pl.col("name") == "n1") | (pl.col("id") > 55),
     [[("name", "=", "n1")], [("id", ">", 55)]]),
    ("p = 'b' AND id < 30", (pl.col("p") == "b") & (pl.col("id") < 30), [("p", "=", "b"), ("id", "<", 30)]),
    ("p IN ('b')", pl.col("p").is_in(["b"]), [("p", "in", ["b"])]),
    ("d >= '2024-01-20'", pl.col("d") >= date(2024, 1, 20), [("d", ">=", "2024-01-20")]),
    ("d = DATE'2024-01-05'", pl.col("d") == date(2024, 1, 5), [("d", "=", date(2024, 1, 5))]),
    ("d IN ('2024-01-05', '2024-01-06')", pl.col("d").is_in([date(2024, 1, 5), date(2024, 1, 6)]),
     [("d", "in", ["2024-01-05", "2024-01-06"])]),
    ("ts > '2024-01-01T20:00:00Z'", pl.col("ts") > datetime(2024, 1, 1, 20, tzinfo=timezone.utc),
     [("ts", ">", "2024-01-01T20:00:00Z")]),
    ("amount > 5.5", pl.col("amount") > Decimal("5.5"), [("amount", ">", Decimal("5.5"))]),
    ("v > 1.5", pl.col("v") > 1.5, [("v", ">", 1.5)]),  # NaN rows match: NaN is the largest value (Spark)
    ("v < 0", pl.col("v") < 0, [("v", "<", 0)]),
    ("v = 'NaN'", pl.col("v") == float("nan"), [("v", "=", float("nan"))]),
    ("name IS NULL", pl.col("name").is_null(), None),
    ("name IS NOT NULL AND id < 20", pl.col("name").is_not_null() & (pl.col("id") < 20), None),
    ("s.x = 2", pl.col("s").struct.field("x") == 2, None),
    ("id % 3 = 1", pl.col("id") % 3 == 1, None),
    ("id * 2 + 1 > 90", pl.col("id") * 2 + 1 > 90, None),
    ("upper(name) = 'N2'", pl.col("name").str.to_uppercase() == "N2", None),
    ("startswith(name, 'n3')", pl.col("name").str.starts_with("n3"), None),
    ("contains(name, '4')", pl.col("name").str.contains("4", literal=True), None),
    ("CASE WHEN id > 50 THEN 'hi' ELSE 'lo' END = 'hi'",
     pl.when(pl.col("id") > 50).then(pl.lit("hi")).otherwise(pl.lit("lo")) == "hi", None),
    ("CAST(id AS STRING) = '12'", pl.col("id").cast(pl.String) == "12", None),
    ("abs(v) > 4", pl.col("v").abs() > 4, None),
    ("id BETWEEN 10 AND 14", pl.col("id").is_between(10, 14), None),
]


@pytest.mark.parametrize("sql,polars_expr,dnf", FORMS, ids=[f[0] for f in FORMS])
def test_every_form_selects_the_rows_of_its_sql_string(table, sql, polars_expr, dnf):
    want = _sql_rows(table, sql)
    assert 0 < sum(want.values()) < 60, f"{sql}: a form test needs a selective predicate"
    dt = lakehouse.DeltaTable(table)
    forms = [polars_expr] + ([dnf] if dnf is not None else [])
    for form in forms:
        label = f"{sql} as {form!r}"
        assert rows_of(dt.to_arrow(filter=form)) == want, label
        assert rows_of(dt.scan(form).to_arrow()) == want, label
        assert rows_of(pa.Table.from_batches(list(dt.scan(form).to_batches()), schema=dt.schema)) == want, label
        assert rows_of(lakehouse.read_delta(table, filter=form)) == want, label
        assert rows_of(dt.to_polars(filter=form).to_arrow()) == want, label
        assert len(dt.to_pandas(filter=form)) == sum(want.values()), label
        assert rows_of(lakehouse.scan_delta(table, filter=form).collect().to_arrow()) == want, label
    # Each polars expression here converts to the tree (so it prunes files), rather than falling back to
    # polars filtering every row, and it references the columns the SQL string does.
    assert dt.scan(polars_expr).predicate is not None
    assert columns(parse_predicate(polars_expr)) == columns(parse_predicate(sql))


@pytest.mark.parametrize("sql,polars_expr,dnf", [f for f in FORMS if f[2] is not None][:6])
def test_forms_prune_files_as_the_sql_string_does(table, sql, polars_expr, dnf):
    dt = lakehouse.DeltaTable(table)
    want = dt.scan(sql).metrics
    for form in (polars_expr, dnf):
        got = dt.scan(form).metrics
        assert (got.files_after_partition_pruning, got.files_after_stats_skipping) == \
            (want.files_after_partition_pruning, want.files_after_stats_skipping), f"{sql} as {form!r}"


def test_dnf_partition_filter_prunes_files(table):
    dt = lakehouse.DeltaTable(table)
    m = dt.scan([("p", "=", "b")]).metrics
    assert m.files_total == 12 and m.files_after_partition_pruning == 6
    m = dt.scan([("id", "<", 10)]).metrics
    assert m.files_after_stats_skipping == 2  # the first append's two files


def test_dnf_filters_read_the_rows_deltalake_reads(table):
    # deltalake applies DNF filters through pyarrow; float columns are left out (pyarrow orders NaN
    # differently from Spark, whose order lakehouse follows), and so are date/timestamp strings on data
    # columns, which pyarrow does not coerce (lakehouse does, as Spark and DataFusion do).
    dl = deltalake.DeltaTable(table)
    checked = 0
    for sql, _, dnf in FORMS:
        terms = [] if dnf is None else [t for group in (dnf if isinstance(dnf[0], list) else [dnf]) for t in group]
        if dnf is None or any(t[0] == "v" or (t[0] in ("d", "ts") and "'" in repr(t[2])) for t in terms):
            continue
        checked += 1
        got = lakehouse.DeltaTable(table).to_arrow(filter=dnf)
        want = dl.to_pyarrow_table(filters=dnf)
        assert rows_of(got) == rows_of(want.select(got.column_names)), sql
    assert checked >= 12


def test_dask_read_takes_every_form(table):
    from lakehouse.integrations.dask import read_delta as dask_read

    sql = "id IN (1, 2, 40) OR p = 'b'"
    want = sorted(lakehouse.DeltaTable(table).to_arrow(filter=sql).column("id").to_pylist())
    assert 0 < len(want) < 60
    for form in ([[("id", "in", [1, 2, 40])], [("p", "=", "b")]], pl.col("id").is_in([1, 2, 40]) | (pl.col("p") == "b")):
        frame = dask_read(table, filter=form, columns=["id"]).compute(scheduler="sync")
        assert sorted(frame["id"].tolist()) == want, repr(form)


def test_scan_delta_filter_combines_with_polars_predicates(table):
    want = _sql_rows(table, "p = 'a' AND id > 40")
    got = lakehouse.scan_delta(table, filter=[("p", "=", "a")]).filter(pl.col("id") > 40).collect()
    assert rows_of(got.to_arrow()) == want
    got = lakehouse.scan_delta(table, filter="p = 'a'").filter(pl.col("id") > 40).select("id").collect()
    assert got.columns == ["id"]
    assert sorted(got["id"].to_list()) == [i for i in range(41, 60) if i % 3]


def test_filter_like_is_a_public_type_alias():
    assert lakehouse.FilterLike is lakehouse.protocol.expr.FilterLike
    args = typing.get_args(lakehouse.FilterLike)
    assert str in args and any("polars.Expr" in str(a) for a in args)
    # Every public entry point is annotated with it (polars.Expr resolves once polars is importable).
    resolved = typing.get_type_hints(lakehouse.read_delta, localns={"polars": pl})["filter"]
    for fn in (lakehouse.DeltaTable.to_arrow, lakehouse.DeltaTable.scan, lakehouse.DeltaTable.to_pandas,
               lakehouse.DeltaTable.to_polars, lakehouse.DeltaTable.delete, lakehouse.DeltaTable.update,
               lakehouse.scan_delta, lakehouse.Scan.__init__):
        hints = typing.get_type_hints(fn, localns={"polars": pl, "pandas": __import__("pandas")})
        assert hints.get("filter", hints.get("predicate")) == resolved, fn
    assert pl.Expr in typing.get_args(resolved) and type(None) in typing.get_args(resolved)


# -- bad filters: one line (plus a Help line), no escape codes or parser classes ----------------------------
BAD = [
    ("name = bob",
     "unknown column 'bob' in filter 'name = bob'; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: quote string literals: 'bob'"),
    ("nmae = 'x'",
     "unknown column 'nmae' in filter \"nmae = 'x'\"; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: did you mean 'name'?"),
    ("s.y = 1",
     "unknown column 's.y' in filter 's.y = 1'; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: did you mean 's.x'?"),
    ('name = "bob"',
     "unknown column 'bob' in filter 'name = \"bob\"'; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: string literals take single quotes: 'bob' (double quotes name columns)"),
    ("id = ", "cannot parse expression 'id = ' at column 4: '=' is missing an operand"),
    ("id = 1)", "cannot parse expression 'id = 1)' at column 7: unexpected ')'"),
    ("id IN (1,", "cannot parse expression 'id IN (1,' at column 9: expected ')' near ','"),
    ("name = 'bob", "cannot parse expression \"name = 'bob\": unterminated string or quoted name"),
    ([("nmae", "=", 1)],
     "unknown column 'nmae' in filter; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: did you mean 'name'?"),
    (pl.col("idd") > 1,
     "unknown column 'idd' in filter; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: did you mean 'id'?"),
    ([("s.x", "=", 1)],
     "unknown column 's.x' in filter; the columns are id, name, v, d, ts, amount, p, s, s.x\n"
     "Help: 's.x' is field 'x' of struct column 's': filter it in SQL (s.x = ...) or polars "
     "(pl.col('s').struct.field('x'))"),
    ([("id", "~", 1)],
     "unsupported operator '~' in DNF filter term ('id', '~', 1)\nHelp: a DNF filter is [(column, op, value), "
     "...] (AND) or [[...], [...]] (OR of ANDs); op is one of =, ==, !=, <, <=, >, >=, in, not in"),
    ([("id", "in", 1)], "DNF filter term ('id', 'in', 1): 'in' takes a list of values, got 1"),
    ([("id", "=")], "malformed DNF filter term ('id', '='): expected (column, op, value)\nHelp: a DNF filter is "
                    "[(column, op, value), ...] (AND) or [[...], [...]] (OR of ANDs); op is one of =, ==, !=, <, "
                    "<=, >, >=, in, not in"),
    ([], "empty DNF filter []: give at least one (column, op, value) term\nHelp: a DNF filter is "
         "[(column, op, value), ...] (AND) or [[...], [...]] (OR of ANDs); op is one of =, ==, !=, <, "
         "<=, >, >=, in, not in"),
    ([("id", "=", [1, 2])], "DNF filter term ('id', '=', [1, 2]) compares with a collection; use 'in'\nHelp: a "
     "DNF filter is [(column, op, value), ...] (AND) or [[...], [...]] (OR of ANDs); op is one of =, ==, !=, <, "
     "<=, >, >=, in, not in"),
    (42, "a filter or predicate must be a SQL string, a polars expression or a DNF list of (column, op, value) "
         "tuples, got int"),
]


@pytest.mark.parametrize("bad,message", BAD, ids=[repr(b[0]) for b in BAD])
def test_bad_filter_is_one_clear_message(table, bad, message):
    with pytest.raises(InvalidArgumentError) as info:
        lakehouse.DeltaTable(table).to_arrow(filter=bad)
    text = str(info.value)
    assert text == message
    assert "\x1b" not in text and "<class" not in text and "sqlglot" not in text
    first, *rest = text.splitlines()
    assert len(rest) <= 1 and all(line.startswith("Help: ") for line in rest)


def test_dnf_value_that_does_not_fit_the_column_is_named(table):
    with pytest.raises(InvalidArgumentError) as info:
        lakehouse.DeltaTable(table).to_arrow(filter=[("d", ">", "not a date")])
    assert "not a date" in str(info.value) and "\n" not in str(info.value).split("Help:")[0].strip()


def test_unconvertible_polars_filter_still_reads_with_polars(table):
    expr = pl.col("name").str.reverse() == "1n"  # no SQL form: polars filters the rows, no skipping
    want = _sql_rows(table, "name = 'n1'")
    scan = lakehouse.DeltaTable(table).scan(expr)
    assert rows_of(scan.to_arrow()) == want
    assert "could not be used for skipping" in scan.explain()


# -- property: a converted polars expression selects what polars itself selects -------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lakehouse.protocol.expr import evaluate  # noqa: E402
from lakehouse.protocol.expr_polars import from_polars  # noqa: E402
from lakehouse.protocol.schema import from_arrow_schema  # noqa: E402

PROP = pa.table({
    "id": pa.array(range(12), pa.int64()),
    "v": pa.array([10, -7, None, 40, -20, 65, 0, 22, -1, 3, None, 9], pa.int64()),
    "f": pa.array([0.5, math.nan, None, 2.5, -1.0, math.nan, 3.0, None, -0.0, 1.5, 7.25, -3.5], pa.float64()),
    "name": pa.array(["alice", "bob", "Bea", None, "carl", "dora", "bo", "éva", "", "Bob", None, "zed"]),
})
PROP_SCHEMA = from_arrow_schema(PROP.schema)
_small = st.integers(-25, 70)
_cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def _compare(left: pl.Expr, op: str, right: object) -> pl.Expr:
    return {"==": left.__eq__, "!=": left.__ne__, "<": left.__lt__, "<=": left.__le__, ">": left.__gt__,
            ">=": left.__ge__}[op](right)


def _atoms() -> st.SearchStrategy[pl.Expr]:
    v, f, name, i = pl.col("v"), pl.col("f"), pl.col("name"), pl.col("id")
    numeric = st.one_of(
        st.just(v), st.just(f), st.builds(lambda k: v + k, _small), st.builds(lambda k: v * k - i, st.integers(-3, 3)),
        st.builds(lambda k: v % k, st.integers(-5, 5).filter(bool)), st.just(v.abs()), st.just(-v),
        st.builds(lambda k: v.fill_null(k), _small), st.builds(lambda k: v.cast(pl.Float64) / k, st.integers(1, 4)),
        st.just(f.abs()), st.just(name.str.len_chars()),
    )
    literal = st.one_of(_small, st.sampled_from([0.5, -1.0, 2.5, 65.0]))
    strings = st.sampled_from(["b", "B", "bo", "é", "", "zed", "a"])
    return st.one_of(
        st.builds(_compare, numeric, _cmp, literal),
        # NaN literals against float values only: lakehouse refuses NaN against a bigint column (see report)
        st.builds(_compare, st.sampled_from([f, f.abs(), pl.col("v").cast(pl.Float64) / 2]), _cmp, st.just(math.nan)),
        st.builds(lambda s: name.str.starts_with(s), strings),
        st.builds(lambda s: name.str.ends_with(s), strings),
        st.builds(lambda s: name.str.contains(s, literal=True), strings),
        st.builds(lambda s: name.str.to_uppercase() == s.upper(), strings),
        st.builds(lambda s: name.str.to_lowercase() != s, strings),
        st.builds(lambda s: (name + s).str.ends_with(s + "!") | (pl.lit("<") + name == "<" + s), strings),
        st.builds(lambda vs: v.is_in(vs), st.lists(st.one_of(_small, st.none()), max_size=4)),
        st.builds(lambda vs: v.is_in(vs, nulls_equal=True), st.lists(st.one_of(_small, st.none()), max_size=4)),
        st.just(v.is_null()), st.just(name.is_not_null()),
        st.builds(lambda a, b, c: v.is_between(a, b, closed=c), _small, _small,
                  st.sampled_from(["both", "left", "right", "none"])),
        st.builds(lambda k: v.cast(pl.String) == str(k), _small),
        st.builds(lambda k: v.eq_missing(k), st.one_of(_small, st.none())),
    )


def _predicates() -> st.SearchStrategy[pl.Expr]:
    return st.recursive(_atoms(), lambda inner: st.one_of(
        st.builds(lambda a, b: a & b, inner, inner), st.builds(lambda a, b: a | b, inner, inner),
        st.builds(lambda a: ~a, inner),
        st.builds(lambda a, b, c: pl.when(a).then(b).otherwise(c), inner, inner, inner),
    ), max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_predicates())
def test_converted_polars_predicate_selects_what_polars_selects(expr):
    want = pl.from_arrow(PROP).select(expr.fill_null(False).alias("m"))["m"].to_list()  # type: ignore[union-attr]
    tree = parse_predicate(expr)
    got = evaluate(PROP, tree, PROP_SCHEMA, what="property").to_pylist()
    assert [g is True for g in got] == want, f"{expr} -> {tree}"
    assert from_polars(expr) is not None


def test_polars_nan_against_bigint_is_evaluated_as_polars_does(tmp_path):
    # lakehouse compares a NaN literal with a bigint column as doubles (Spark), which is polars' answer
    # too (NaN is largest): the filter is used for planning and gives polars' rows.
    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"v": pa.array([1, None, 3], pa.int64())}))
    scan = lakehouse.DeltaTable(path).scan(pl.col("v") < float("nan"))
    assert scan.predicate is not None
    assert sorted(scan.to_arrow().column("v").to_pylist()) == [1, 3]
    expected = pl.DataFrame({"v": [1, None, 3]}).filter(pl.col("v") < float("nan"))["v"].to_list()
    assert sorted(expected) == [1, 3]


def test_unknown_column_in_columns_says_did_you_mean(table):
    from lakehouse.errors import SchemaMismatchError

    with pytest.raises(SchemaMismatchError) as info:
        lakehouse.DeltaTable(table).to_arrow(columns=["id", "amont"], filter=[("id", "=", 1)])
    assert str(info.value) == ("unknown column 'amont' in columns=; the columns are id, name, v, d, ts, amount, p, s\n"
                               "Help: did you mean 'amount'?")


# JSON that polars 1.9 writes (captured with that release): typed literals without Dyn/Scalar, Series
# literals as JSON values, cast dtypes unwrapped, Decimal as [unscaled, scale]. Read as polars 2.x is.
POLARS_1_9 = [
    ('{"BinaryExpr":{"left":{"Column":"a"},"op":"Gt","right":{"Literal":{"Int":1}}}}', "a > 1"),
    ('{"Function":{"input":[{"Column":"a"},{"Literal":{"Series":{"name":"","datatype":"Int64","bit_settings":"",'
     '"values":[1,2]}}}],"function":{"Boolean":"IsIn"},"options":{"collect_groups":"ElementWise","fmt_str":"",'
     '"check_lengths":true,"flags":"ALLOW_GROUP_AWARE"}}}', "a IN (1, 2)"),
    ('{"BinaryExpr":{"left":{"Cast":{"expr":{"Column":"a"},"dtype":"Int32","options":"Strict"}},"op":"Eq",'
     '"right":{"Literal":{"Int":1}}}}', "CAST(a AS INT) = 1"),
    ('{"BinaryExpr":{"left":{"Column":"m"},"op":"Gt","right":{"Literal":{"Decimal":[125,2]}}}}', "m > 1.25"),
]


@pytest.mark.parametrize("text,sql", POLARS_1_9, ids=[p[1] for p in POLARS_1_9])
def test_older_polars_json_layouts_convert(text, sql):
    import orjson

    from lakehouse.protocol.expr_polars import _Converter

    assert parse_predicate(_Converter(text).node(orjson.loads(text))) == parse_predicate(sql)


def test_unknown_polars_layout_is_unsupported_never_a_crash():
    import orjson

    from lakehouse.protocol.expr_polars import _Converter

    odd = '{"Function":{"input":[{"Column":"t"}],"function":{"TemporalExpr":{"ReplaceTimeZone":["UTC","Raise"]}}}}'
    with pytest.raises(InvalidArgumentError, match="the function temporal_expr is not supported"):
        _Converter(odd).node(orjson.loads(odd))
    with pytest.raises(InvalidArgumentError, match="a node of a layout lakehouse does not know"):
        _Converter("x").node(orjson.loads('{"BinaryExpr":{"left":{"Column":"a"},"op":"Gt"}}'))


def test_polars_filter_errors_are_lakehouse_errors_before_any_read(table):
    dt = lakehouse.DeltaTable(table)
    with pytest.raises(InvalidArgumentError) as info:
        dt.scan(pl.col("name") > 5)  # refused at planning, not while reading
    assert str(info.value) == ('polars cannot evaluate filter [(col("name")) > (dyn int: 5)]: cannot compare string '
                               "with numeric type (i32)")
    with pytest.raises(InvalidArgumentError) as info:
        dt.to_arrow(filter=pl.col("nmae").str.reverse() == "x")  # not convertible, unknown column all the same
    assert str(info.value) == ("unknown column 'nmae' in filter; the columns are id, name, v, d, ts, amount, p, s, "
                               "s.x\nHelp: did you mean 'name'?")
