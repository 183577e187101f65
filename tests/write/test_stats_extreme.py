"""Statistics of dates and timestamps outside Python's datetime range (issue 18, item 11).

Delta timestamps and dates may lie after year 9999 or before year 1 (delta-rs writes and reads them).
Stats stay integers from the Parquet footer to the JSON text, which carries ISO 8601 expanded years
(``+10001-02-04T00:00:00.000Z``, ``-0001-...``) as Spark and delta-rs write them. Writes, UPDATE and
OPTIMIZE of such tables work, every row reads back, skipping on these bounds is sound, and deltalake
reads the result.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq

import lakehouse
from lakehouse.protocol.stats import format_date, format_timestamp_ms, parse_iso_micros

US = 1_000_000
DAY = 86_400 * US
Y10K = 253_402_300_800 * US  # 10000-01-01T00:00:00Z
Y1 = -62_135_596_800 * US  # 0001-01-01T00:00:00Z
TIMES = [Y10K + 400 * DAY + 123_456, Y10K - 1, 0, Y1 - 10 * DAY - 999, Y1 - 400 * DAY * 366, 1_700_000_000_123_999]
IDS = list(range(len(TIMES)))


def _table(ids: list[int], times: list[int]) -> pa.Table:
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
        "ntz": pa.array(times, pa.timestamp("us")),
        "dt": pa.array([t // DAY for t in times], pa.date32()),
    })


def _ints(table: pa.Table) -> list[tuple]:
    """Rows as integers (Python's datetime cannot hold these values), sorted."""
    cols = [table.column(c).cast(pa.int64() if c != "dt" else pa.int32()).to_pylist() for c in ("id", "ts", "ntz", "dt")]
    return sorted(zip(*cols))


def _expected(ids: list[int], times: list[int]) -> list[tuple]:
    return sorted((i, t, t, t // DAY) for i, t in zip(ids, times))


def _dl_ints(path: str, where: str = "true") -> list[tuple]:
    dt = deltalake.DeltaTable(path)
    sql = ("select id, arrow_cast(ts, 'Int64') as ts, arrow_cast(ntz, 'Int64') as ntz, arrow_cast(dt, 'Int32') as dt "
           f"from t where {where}")
    got = pa.table(deltalake.QueryBuilder().register("t", dt).execute(sql).read_all())
    return sorted(zip(*(got.column(c).to_pylist() for c in ("id", "ts", "ntz", "dt"))))


def _stats(path: str) -> list[dict]:
    log = f"{path}/_delta_log"
    return [json.loads(json.loads(line)["add"]["stats"]) for name in sorted(os.listdir(log)) if name.endswith(".json")
            for line in open(f"{log}/{name}") if line.startswith('{"add"')]


def test_write_reopen_update_optimize_beyond_year_9999(tmp_path):
    path = str(tmp_path / "t")
    half = len(TIMES) // 2
    lakehouse.write_delta(path, _table(IDS[:half], TIMES[:half]))
    lakehouse.write_delta(path, _table(IDS[half:], TIMES[half:]), mode="append")
    assert _ints(lakehouse.DeltaTable(path).to_arrow()) == _expected(IDS, TIMES)
    first = _stats(path)[0]
    assert first["maxValues"] == {"id": 2, "ts": "+10001-02-04T00:00:00.124Z", "ntz": "+10001-02-04T00:00:00.124",
                                  "dt": "+10001-02-04"}
    assert first["minValues"]["dt"] == "1970-01-01" and first["minValues"]["ts"] == "1970-01-01T00:00:00.000Z"
    second = _stats(path)[1]
    assert second["minValues"]["ts"] == "-0400-03-04T00:00:00.000Z" and second["minValues"]["dt"] == "-0400-03-04"
    assert second["maxValues"]["ts"] == "2023-11-14T22:13:20.124Z"

    dt = lakehouse.DeltaTable(path)
    dt.update(updates={"id": "100"}, predicate="id = 0")
    dt = lakehouse.DeltaTable(path)
    metrics = dt.optimize.compact()
    assert metrics.num_files_removed == 2 and metrics.num_files_added == 1
    ids = [100] + IDS[1:]
    assert _ints(lakehouse.DeltaTable(path).to_arrow()) == _expected(ids, TIMES)
    assert _dl_ints(path) == _expected(ids, TIMES)
    (merged,) = [s for s in _stats(path) if s["numRecords"] == len(TIMES)]
    assert merged["minValues"]["ts"] == "-0400-03-04T00:00:00.000Z"
    assert merged["maxValues"]["dt"] == "+10001-02-04"


def test_filters_on_bounds_beyond_year_9999(tmp_path):
    """Our own expanded-year bounds parse back (as integers) and skip soundly; deltalake filters agree."""
    path = str(tmp_path / "t")
    for i, t in zip(IDS, TIMES):  # one file per row: every bound decides
        lakehouse.write_delta(path, _table([i], [t]), mode="append")
    dt = lakehouse.DeltaTable(path)
    cases = {
        "ts > '9999-12-31T23:59:59.999999Z'": [0],
        "ts >= '9999-12-31T23:59:59.999999Z'": [0, 1],
        "ntz < '0001-01-01 00:00:00'": [3, 4],
        "dt < '0001-01-01'": [3, 4],
        "dt > '9999-12-31'": [0],
        "ts = '2023-11-14T22:13:20.123999Z'": [5],
        "ts = '9999-12-31T23:59:59.999999Z'": [1],
        "id = 4": [4],
    }
    for where, want in cases.items():
        got = dt.to_arrow(filter=where)
        assert sorted(got.column("id").to_pylist()) == want, where
    # Files are skipped on these bounds (they are parsed, not just treated as unknown).
    assert len(dt.scan(filter="dt > '9999-12-31'").files()) == 1
    assert len(dt.scan(filter="ts = '2023-11-14T22:13:20.123999Z'").files()) == 1
    dl = _dl_ints(path, "dt > cast('9999-12-31' as date)")
    assert [r[0] for r in dl] == [0]


def test_reads_deltalake_stats_beyond_year_9999(tmp_path):
    """delta-rs writes ``+10001-...`` and ``0000-...`` bounds; they parse and skip soundly."""
    path = str(tmp_path / "t")
    for i, t in zip(IDS, TIMES):
        deltalake.write_deltalake(path, _table([i], [t]), mode="append")
    assert any(str(s["maxValues"]["ts"]).startswith("+10001") for s in _stats(path))
    dt = lakehouse.DeltaTable(path)
    assert _ints(dt.to_arrow()) == _expected(IDS, TIMES)
    assert sorted(dt.to_arrow(filter="dt > '9999-12-31'").column("id").to_pylist()) == [0]
    assert sorted(dt.to_arrow(filter="ts < '0001-01-01T00:00:00Z'").column("id").to_pylist()) == [3, 4]
    assert len(dt.scan(filter="dt > '9999-12-31'").files()) == 1
    dt.update(updates={"id": "40"}, predicate="id = 4")
    assert _ints(lakehouse.DeltaTable(path).to_arrow()) == _expected([0, 1, 2, 3, 40, 5], TIMES)


def test_hand_written_bounds_of_any_form(tmp_path):
    """Expanded years, nanosecond fractions, offsets and malformed bounds: parsed as integers, floored,
    or unknown; never a crash and never a wrongly skipped file."""
    path = str(tmp_path / "t")
    os.makedirs(f"{path}/_delta_log")
    schema = {"type": "struct", "fields": [{"name": "ts", "type": "timestamp", "nullable": True, "metadata": {}}]}
    lines = [json.dumps({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}),
             json.dumps({"metaData": {"id": "x", "format": {"provider": "parquet", "options": {}},
                                      "schemaString": json.dumps(schema), "partitionColumns": [],
                                      "configuration": {}, "createdTime": 0}})]
    files = [  # (value, min text, max text)
        (Y10K + 5, "+10000-01-01T00:00:00.000005Z", "+10000-01-01T00:00:00.000005Z"),
        (1_641_040_496_789_123, "2022-01-01T12:34:56.789123456Z", "2022-01-01T12:34:56.789123456Z"),
        (0, "1970-01-01T01:00:00+01:00", "1970-01-01T00:00:00Z"),
        (Y1 - 1, "0000-12-31T23:59:59.999999Z", "not a time"),
        (Y1 - 366 * DAY, "-0001-01-01T00:00:00Z", "-0001-01-01T00:00:00Z"),
    ]
    for i, (value, lo, hi) in enumerate(files):
        name = f"f{i}.parquet"
        pq.write_table(pa.table({"ts": pa.array([value], pa.timestamp("us", tz="UTC"))}), f"{path}/{name}")
        stats = json.dumps({"numRecords": 1, "minValues": {"ts": lo}, "maxValues": {"ts": hi}, "nullCount": {"ts": 0}})
        lines.append(json.dumps({"add": {"path": name, "partitionValues": {}, "size": os.path.getsize(f"{path}/{name}"),
                                         "modificationTime": 0, "dataChange": True, "stats": stats}}))
    with open(f"{path}/_delta_log/00000000000000000000.json", "w") as f:
        f.write("\n".join(lines) + "\n")
    dt = lakehouse.DeltaTable(path)
    assert sorted(dt.to_arrow().column("ts").cast(pa.int64()).to_pylist()) == sorted(v for v, _, _ in files)
    for where, want in {
        "ts > '9999-12-31T23:59:59Z'": [Y10K + 5],
        "ts = '2022-01-01T12:34:56.789123Z'": [1_641_040_496_789_123],
        "ts = '1970-01-01T00:00:00Z'": [0],
        "ts < '0001-01-01T00:00:00Z'": [Y1 - 366 * DAY, Y1 - 1],
    }.items():
        assert sorted(dt.to_arrow(filter=where).column("ts").cast(pa.int64()).to_pylist()) == sorted(want), where
    # The file with the malformed maximum is kept (unknown bound), the others are decided by theirs.
    kept = dt.scan(filter="ts > '9999-12-31T23:59:59Z'").files().column("path").to_pylist()
    assert sorted(kept) == ["f0.parquet", "f3.parquet"]
    assert dt.scan(filter="ts = '2022-01-01T12:34:56.789123Z'").files().column("path").to_pylist() == [
        "f1.parquet", "f3.parquet"]


def test_iso_helpers_round_trip_any_year():
    for days in (-800_000, -719_529, -719_528, -1, 0, 2_932_896, 2_932_897, 10_000_000):
        assert parse_iso_micros(format_date(days)) == days * DAY
    for micros in (Y10K - 1, Y10K, Y1 - 1, Y1, -1, 1, 999, 10**18, -(10**17)):
        lo = parse_iso_micros(format_timestamp_ms(micros, upper=False, ntz=False))
        hi = parse_iso_micros(format_timestamp_ms(micros, upper=True, ntz=True))
        assert lo <= micros <= hi and hi - lo <= 1000
    assert format_date(2_932_897) == "+10000-01-01" and format_date(-719_529) == "-0001-12-31"
    assert parse_iso_micros("2022-02-30") is None and parse_iso_micros("10000-01-01") is None


def test_checkpoint_stats_parsed_beyond_year_9999(tmp_path):
    """A checkpoint holding only `stats_parsed` (Spark's writeStatsAsStruct) with a year-10000 maximum
    and a 38-digit decimal: the snapshot loads, the bounds keep their exact values, skipping is sound."""
    path = str(tmp_path / "t")
    values = [Y10K + 5, 0]
    decs = [Decimal("1.000000000000000001"), Decimal("12345678901234567890.123456789012345678")]
    deltalake.write_deltalake(path, pa.table({
        "id": pa.array([1, 2], pa.int64()), "ts": pa.array(values, pa.timestamp("us", tz="UTC")),
        "d": pa.array(decs, pa.decimal128(38, 18))}),
        configuration={"delta.checkpoint.writeStatsAsStruct": "true", "delta.checkpoint.writeStatsAsJson": "false"})
    deltalake.DeltaTable(path).create_checkpoint()
    log = f"{path}/_delta_log"
    (cp,) = [f"{log}/{n}" for n in os.listdir(log) if n.endswith(".checkpoint.parquet")]
    rows = pq.read_table(cp).to_pylist()
    for row in rows:
        if row["add"]:  # what Spark writes: exact bounds of the values (delta-rs leaves them null)
            st = row["add"]["stats_parsed"]
            st["minValues"].update(ts=0, d=decs[0])
            st["maxValues"].update(ts=Y10K + 5, d=decs[1])
            assert row["add"].get("stats") is None
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(cp)), cp)
    os.remove(f"{log}/00000000000000000000.json")
    dt = lakehouse.DeltaTable(path)
    (stats,) = dt.scan().files().column("stats").to_pylist()
    assert '"ts":"+10000-01-01T00:00:00.000005Z"' in stats and '"d":12345678901234567890.123456789012345678' in stats
    assert sorted(dt.to_arrow().column("ts").cast(pa.int64()).to_pylist()) == sorted(values)
    assert dt.to_arrow(filter="ts > '9999-12-31T00:00:00Z'").column("id").to_pylist() == [1]
    assert dt.to_arrow(filter="d = 1.000000000000000001").column("id").to_pylist() == [1]
    assert len(dt.scan(filter="d > 12345678901234567890.123456789012345678").files()) == 0


def test_collector_from_batches_keeps_integers():
    """The batch path of the collector (bounds from Arrow, not the footer) handles any year too, and
    nanosecond input is floored/ceiled to microseconds before the millisecond rounding."""
    from lakehouse.protocol.schema import PrimitiveType, StructField, StructType
    from lakehouse.protocol.stats import StatsCollector, physical_paths

    schema = StructType((StructField("ts", PrimitiveType("timestamp"), True), StructField("dt", PrimitiveType("date"), True)))
    collector = StatsCollector.for_schema(schema, physical_paths(schema, "none"))
    collector.update(pa.table({"ts": pa.array([Y10K + 1, Y1 - 1], pa.timestamp("us", tz="UTC")),
                               "dt": pa.array([Y10K // DAY, Y1 // DAY - 1], pa.date32())}))
    collector.update(pa.table({"ts": pa.array([-1], pa.timestamp("ns", tz="UTC")), "dt": pa.array([None], pa.date32())}))
    st = collector.to_dict()
    assert st["minValues"] == {"ts": "0000-12-31T23:59:59.999Z", "dt": "0000-12-31"}
    assert st["maxValues"] == {"ts": "+10000-01-01T00:00:00.001Z", "dt": "+10000-01-01"}
    assert st["nullCount"] == {"ts": 0, "dt": 1} and st["numRecords"] == 3
