"""Data skipping on variant statistics (PROTOCOL.md "Statistics for Variant Columns"; issue 16).

lakehouse never writes variant min/max (it does not shred), so the tables here are written by lakehouse
and their add actions then given the statistics a shredding writer (Spark) would write: per file and per
path, the lower and upper bound as a Z85 string of the variant metadata followed by its value, padded to
4 bytes (`tests.scan.test_variant_skipping.spark_stat`, written from PROTOCOL.md and Delta's
`DeltaStatsJsonUtils`, independent of the decoder). A path gets bounds only where it has one variant type
in every row of the file. The property: skipping never drops a file that holds a matching row.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.protocol.dv import z85_encode
from lakehouse.protocol.expr import evaluate, parse_sql
from lakehouse.protocol.functions.variants import parse_json_value
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType, VARIANT_ARROW
from lakehouse.protocol.variant_binary import encode_value
from lakehouse.protocol import variant_stats

SCHEMA = StructType([StructField("id", PrimitiveType("long")), StructField("v", PrimitiveType("variant"))])


def spark_stat(bounds: dict[str, object], *, value_first: bool = False) -> str:
    """A variant statistic as Spark writes it: Z85 of metadata + value, zero-padded to 4 bytes (or, with
    ``value_first``, in the order of PROTOCOL.md's example)."""
    meta, value = encode_value(bounds)
    raw = value + meta if value_first else meta + value
    raw += b"\0" * (-len(raw) % 4)
    return z85_encode(raw)


def _kind(x: object) -> str:
    return "dec" if isinstance(x, Decimal) else "bool" if isinstance(x, bool) else type(x).__name__


def file_bounds(docs: list[dict]) -> tuple[dict, dict]:
    """Per path (top-level keys here), min and max over the rows holding it, only where every row of the
    file holds that path with one type (the protocol's rule)."""
    lo: dict[str, object] = {}
    hi: dict[str, object] = {}
    for key in {k for d in docs for k in d}:
        values = [d.get(key) for d in docs]
        if any(v is None for v in values) or len({_kind(v) for v in values}) != 1 or _kind(values[0]) == "list":
            continue
        lo[f"$['{key}']"], hi[f"$['{key}']"] = min(values), max(values)
    return lo, hi


def _variants(docs: list[dict]) -> pa.Array:
    pairs = [encode_value(d) for d in docs]
    return pa.StructArray.from_arrays([pa.array([p[0] for p in pairs], pa.binary()),
                                       pa.array([p[1] for p in pairs], pa.binary())], fields=list(VARIANT_ARROW))


def build(path: Path, files: list[list[dict]], *, value_first: bool = False) -> str:
    """A variant table of one file per entry of ``files``, then the variant bounds added to each add's stats."""
    uri = str(path)
    lakehouse.DeltaTable.create(uri, schema=SCHEMA)
    start = 0
    for docs in files:
        ids = pa.array(range(start, start + len(docs)), pa.int64())
        lakehouse.write_delta(uri, pa.table({"id": ids, "v": _variants(docs)}), mode="append")
        start += len(docs)
    for version, docs in enumerate(files, start=1):
        commit = path / "_delta_log" / f"{version:020d}.json"
        lines = []
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                stats = json.loads(action["add"]["stats"])
                lo, hi = file_bounds(docs)
                if lo:
                    stats.setdefault("minValues", {})["v"] = spark_stat(lo, value_first=value_first)
                    stats.setdefault("maxValues", {})["v"] = spark_stat(hi, value_first=value_first)
                action["add"]["stats"] = json.dumps(stats)
            lines.append(json.dumps(action))
        commit.write_text("\n".join(lines) + "\n")
    return uri


def _ids(uri: str, predicate: str) -> tuple[list[int], int]:
    scan = lakehouse.DeltaTable(uri).scan(filter=predicate)
    return sorted(scan.to_arrow().column("id").to_pylist()), scan.metrics.files_after_stats_skipping


FILES = [
    [{"a": 1, "s": "apple", "d": Decimal("1.50")}, {"a": 5, "s": "banana", "d": Decimal("2.25")}],
    [{"a": 10, "s": "cherry", "d": Decimal("7.00")}, {"a": 20, "s": "date", "d": Decimal("9.99")}],
    [{"a": 100, "s": "x"}, {"a": "oops", "s": "y"}],  # a has two types here: no bounds for it
]


@pytest.mark.parametrize("value_first", [False, True])
def test_decode_reads_both_byte_orders(value_first):
    stat = spark_stat({"$['a']": 5, "$['b']['c']": "min-string"}, value_first=value_first)
    assert variant_stats.decode(stat) == {"$['a']": (3, 5), "$['b']['c']": (16, "min-string")}


@pytest.mark.parametrize("text", ["", "not z85!", spark_stat({"$['a']": 1})[:-5], z85_encode(b"\x05\x00\x00\x00")])
def test_bad_statistics_decode_to_nothing(text):
    assert variant_stats.decode(text) is None


def test_files_are_skipped_by_path_bounds(tmp_path):
    uri = build(tmp_path / "t", FILES)
    # the third file has no bounds for a ("oops" is text): it is always read, and TRY_ casts skip "oops"
    assert _ids(uri, "TRY_CAST(v:a AS INT) > 50") == ([4], 1)
    assert _ids(uri, "try_variant_get(v, '$.a', 'int') = 5") == ([1], 2)
    assert _ids(uri, "try_variant_get(v, '$.a', 'long') BETWEEN 6 AND 15") == ([2], 2)
    assert _ids(uri, "v:s::string >= 'c'") == ([2, 3, 4, 5], 2)  # the first file's max is 'banana'
    assert _ids(uri, "v:d::decimal(10,2) > 8") == ([3], 2)
    assert _ids(uri, "try_variant_get(v, '$.a', 'int') IN (10, 20)") == ([2, 3], 2)


def test_what_never_prunes(tmp_path):
    uri = build(tmp_path / "t", FILES)
    # text bounds under a numeric cast, floating point, !=, IS NULL, a path without bounds: every file read
    for predicate in ["try_variant_get(v, '$.s', 'int') = 1", "try_variant_get(v, '$.a', 'double') > 1000",
                      "try_variant_get(v, '$.a', 'int') != 1", "v:a IS NULL", "v:zzz::int = 1", "v:a::string = '1'"]:
        ids, files = _ids(uri, predicate)
        assert files == 3, predicate
        table = lakehouse.DeltaTable(uri).to_arrow()
        mask = [bool(x) for x in evaluate(table, parse_sql(predicate), SCHEMA, what="t").to_pylist()]
        assert ids == sorted(i for i, m in zip(table.column("id").to_pylist(), mask) if m), predicate


def test_protocol_example_order_and_checkpoint(tmp_path):
    uri = build(tmp_path / "t", FILES, value_first=True)
    assert _ids(uri, "TRY_CAST(v:a AS INT) > 50") == ([4], 1)
    dt = lakehouse.DeltaTable(uri)
    dt.alter.set_table_properties({"delta.checkpoint.writeStatsAsStruct": "true"})
    lakehouse.DeltaTable(uri).create_checkpoint()
    assert _ids(uri, "TRY_CAST(v:a AS INT) > 50") == ([4], 1)  # the stats JSON is kept in the checkpoint
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 6


def _one_variant_and_one_null(path: Path) -> str:
    """A variant table of two files: one non-null variant row (id 0), one SQL NULL variant row (id 1)."""
    uri = str(path)
    lakehouse.DeltaTable.create(uri, schema=SCHEMA)
    meta, value = parse_json_value('{"a": 1}')
    full = pa.StructArray.from_arrays([pa.array([meta], pa.binary()), pa.array([value], pa.binary())],
                                      fields=list(VARIANT_ARROW))
    empty = pa.StructArray.from_arrays([pa.array([b""], pa.binary()), pa.array([b""], pa.binary())],
                                       fields=list(VARIANT_ARROW), mask=pa.array([True]))
    for i, column in enumerate([full, empty]):
        lakehouse.write_delta(uri, pa.table({"id": pa.array([i], pa.int64()), "v": column}), mode="append")
    return uri


def test_variant_null_count_prunes_is_null(tmp_path):
    uri = _one_variant_and_one_null(tmp_path / "n")
    assert _ids(uri, "v IS NULL") == ([1], 1)
    assert _ids(uri, "v IS NOT NULL") == ([0], 1)


# -- the property: never a wrong skip ------------------------------------------------------------------------
KINDS = {
    "int": st.integers(-1000, 1000),
    "str": st.sampled_from(["a", "b", "m", "z", "10", "9", "aa"]),
    "dec": st.decimals(min_value=-100, max_value=100, places=2),
    "bool": st.booleans(),
}
CASTS = {"int": ["int", "bigint", "tinyint", "decimal(5,1)", "double", "string"], "str": ["string", "int"],
         "dec": ["decimal(5,1)", "decimal(10,2)", "double", "int"], "bool": ["boolean", "int"]}
LITERALS = {"int": ["0", "5", "-3", "100", "999"], "bigint": ["0", "500"], "tinyint": ["0", "-100", "100"],
            "decimal(5,1)": ["1.5", "-20", "0"], "decimal(10,2)": ["1.25", "50"], "double": ["1.5", "-7"],
            "string": ["'m'", "'10'", "'b'"], "boolean": ["true", "false"]}


@st.composite
def a_file(draw) -> list[dict]:
    """Rows whose paths mostly keep one type per file (so bounds exist), sometimes not, sometimes absent."""
    kinds = {key: draw(st.sampled_from(sorted(KINDS))) for key in ("a", "b")}
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        row = {}
        for key, kind in kinds.items():
            roll = draw(st.integers(0, 19))
            if roll == 0:
                continue  # the path is missing in this row
            row[key] = draw(KINDS[draw(st.sampled_from(sorted(KINDS)))] if roll == 1 else KINDS[kind])
        rows.append(row)
    return rows


@st.composite
def a_predicate(draw) -> str:
    key = draw(st.sampled_from(["a", "b"]))
    cast = draw(st.sampled_from(CASTS[draw(st.sampled_from(sorted(KINDS)))]))
    op = draw(st.sampled_from(["=", "<", "<=", ">", ">=", "!=", "IN"]))
    lit = draw(st.sampled_from(LITERALS[cast]))
    if op == "IN":
        return f"try_variant_get(v, '$.{key}', '{cast}') IN ({lit}, {draw(st.sampled_from(LITERALS[cast]))})"
    return f"try_variant_get(v, '$.{key}', '{cast}') {op} {lit}"


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(files=st.lists(a_file(), min_size=1, max_size=4), predicates=st.lists(a_predicate(), min_size=1, max_size=6))
def test_skipping_never_drops_a_matching_row(tmp_path_factory, files, predicates):
    uri = build(tmp_path_factory.mktemp("p") / "t", files)
    table = lakehouse.DeltaTable(uri).to_arrow()
    for predicate in predicates:
        try:
            want = evaluate(table, parse_sql(predicate), SCHEMA, what="t").to_pylist()
        except lakehouse.errors.LakehouseError:
            continue  # a literal that does not fit the cast type: the query is refused either way
        expected = sorted(i for i, m in zip(table.column("id").to_pylist(), want) if m)
        assert _ids(uri, predicate)[0] == expected, predicate


# -- checkpoints ------------------------------------------------------------------------------------------------
def _checkpoint(uri: str, *, json_stats: bool) -> Path:
    dt = lakehouse.DeltaTable(uri)
    dt.alter.set_table_properties({"delta.checkpoint.writeStatsAsStruct": "true",
                                   "delta.checkpoint.writeStatsAsJson": "true" if json_stats else "false"})
    lakehouse.DeltaTable(uri).create_checkpoint()
    return max(Path(uri, "_delta_log").glob("*.checkpoint.parquet"))


def _with_parsed_bounds(checkpoint: Path, files: list[list[dict]]) -> None:
    """Give the checkpoint's adds the variant bounds in `stats_parsed` as PROTOCOL.md types them in Parquet
    (a variant column: struct<metadata, value>), as a Spark checkpoint without JSON stats holds them."""
    import pyarrow.parquet as pq

    table = pq.read_table(checkpoint)
    adds = table.column("add").combine_chunks()
    parsed = adds.field("stats_parsed")
    lows, highs = [], []
    paths = adds.field("path").to_pylist()
    # files were appended in order: the add whose rows start at id k belongs to the file holding id k
    starts = [json.loads(s)["minValues"]["id"] if s else None for s in _json_stats_of(checkpoint, paths)]
    firsts = [0]
    for docs in files:
        firsts.append(firsts[-1] + len(docs))
    for p, start in zip(paths, starts):
        if p is None:
            lows.append(None)
            highs.append(None)
            continue
        lo, hi = file_bounds(files[firsts.index(start)])
        lows.append(encode_value(lo) if lo else None)
        highs.append(encode_value(hi) if hi else None)

    def variant(pairs):
        mask = pa.array([p is None for p in pairs])
        return pa.StructArray.from_arrays([pa.array([p[0] if p else b"" for p in pairs], pa.binary()),
                                           pa.array([p[1] if p else b"" for p in pairs], pa.binary())],
                                          names=["metadata", "value"], mask=mask)

    def section(name, pairs):
        old = parsed.field(name)
        names = [old.type.field(i).name for i in range(old.type.num_fields) if old.type.field(i).name != "v"]
        return pa.StructArray.from_arrays([old.field(n) for n in names] + [variant(pairs)], names=names + ["v"])

    names = [parsed.type.field(i).name for i in range(parsed.type.num_fields)]
    children = [section(n, lows if n == "minValues" else highs) if n in ("minValues", "maxValues") else parsed.field(n)
                for n in names]
    new_parsed = pa.StructArray.from_arrays(children, names=names, mask=parsed.is_null())
    add_names = [adds.type.field(i).name for i in range(adds.type.num_fields)]
    new_adds = pa.StructArray.from_arrays([new_parsed if n == "stats_parsed" else adds.field(n) for n in add_names],
                                          names=add_names, mask=adds.is_null())
    pq.write_table(table.set_column(table.column_names.index("add"), "add", new_adds), checkpoint)


def _json_stats_of(checkpoint: Path, paths: list) -> list:
    """The JSON stats of each add (from the commits, by path), to tell which file an add is."""
    by_path = {}
    for commit in sorted(checkpoint.parent.glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                by_path[action["add"]["path"]] = action["add"]["stats"]
    return [by_path.get(p) if p else None for p in paths]


PRUNING = ["TRY_CAST(v:a AS INT) > 50", "try_variant_get(v, '$.a', 'int') = 5", "v:s::string >= 'c'",
           "v:d::decimal(10,2) > 8", "try_variant_get(v, '$.a', 'int') IN (10, 20)"]


def test_checkpoint_with_json_stats_prunes_the_same(tmp_path):
    uri = build(tmp_path / "t", FILES)
    before = {p: _ids(uri, p) for p in PRUNING}
    _checkpoint(uri, json_stats=True)
    assert {p: _ids(uri, p) for p in PRUNING} == before
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 6


def test_checkpoint_struct_stats_only(tmp_path):
    """Without JSON stats in the checkpoint, `stats_parsed` holds the variant bounds as Parquet variants
    (struct<metadata, value>) and they prune as the JSON did; so do bounds written there by the test-side
    writer (as Spark would), replacing lakehouse's."""
    uri = build(tmp_path / "t", FILES)
    before = {p: _ids(uri, p) for p in PRUNING}
    checkpoint = _checkpoint(uri, json_stats=False)
    import pyarrow.parquet as pq

    parsed = pq.read_table(checkpoint).column("add").combine_chunks().field("stats_parsed")
    assert parsed.type.field("minValues").type.field("v").type == pa.struct(
        [pa.field("metadata", pa.binary()), pa.field("value", pa.binary())])
    assert {p: _ids(uri, p) for p in PRUNING} == before
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 6
    _with_parsed_bounds(checkpoint, FILES)
    assert {p: _ids(uri, p) for p in PRUNING} == before
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 6


def test_checkpoint_keeps_the_variant_null_count(tmp_path):
    uri = _one_variant_and_one_null(tmp_path / "n")
    _checkpoint(uri, json_stats=False)
    assert _ids(uri, "v IS NULL") == ([1], 1)
    assert _ids(uri, "v IS NOT NULL") == ([0], 1)


@pytest.mark.parametrize("bad", [17, {"$['a']": 100}, "not z85!", "", spark_stat({"$['a']": 100})[:-5],
                                 spark_stat({"$['a']": "text"})])
def test_malformed_bounds_neither_prune_nor_fail(tmp_path, bad):
    """Bounds of the wrong JSON type, the human-readable form, bad Z85, truncated bytes, or a type that does
    not match the other bound: the file is read, the query and a checkpoint of the table still work."""
    uri = build(tmp_path / "t", FILES)
    commit = Path(uri, "_delta_log", f"{1:020d}.json")  # the first file's lower bounds
    lines = []
    for line in commit.read_text().splitlines():
        action = json.loads(line)
        if "add" in action:
            stats = json.loads(action["add"]["stats"])
            stats["minValues"]["v"] = bad
            action["add"]["stats"] = json.dumps(stats)
        lines.append(json.dumps(action))
    commit.write_text("\n".join(lines) + "\n")
    for json_stats in (None, True, False):
        if json_stats is not None:
            _checkpoint(uri, json_stats=json_stats)
        assert _ids(uri, "TRY_CAST(v:a AS INT) > 50") == ([4], 2)  # the first file is read now
        assert _ids(uri, "v:s::string >= 'x'") == ([4, 5], 2)
        assert _ids(uri, "v:d::decimal(10,2) > 8") == ([3], 3)
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 6
