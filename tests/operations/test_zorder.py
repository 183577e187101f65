"""OPTIMIZE ZORDER BY: rows unchanged at every version (lakehouse and delta-rs), output files tagged like
Spark's (`ZCUBE_ZORDER_BY`), a second run by the same columns skipped and by other columns done, any ordered
type (strings, dates, timestamps, decimals) with nulls, bad columns refused, and the point of it all:
files' min/max ranges of the Z columns overlap less afterwards."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import InvalidArgumentError
from lakehouse.operations.optimize import ZCUBE_ZORDER_BY, rank_by_bounds, z_keys
from tests.support.log import actions_of, commit_info, file_stats, log_state as log_files
from tests.support.rows import Model

MIXED = pa.schema([
    ("id", pa.int64()), ("s", pa.string()), ("d", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")),
    ("dec", pa.decimal128(10, 2)), ("p", pa.string()),
])


def mixed_batch(start: int, n: int, seed: int) -> pa.Table:
    """Rows with every Z-orderable kind of value, about one in six null per column."""
    rnd = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)

    def maybe(v):
        """``v``, or null about one time in six."""
        return None if rnd.random() < 0.17 else v

    rows = [{
        "id": i,
        "s": maybe("".join(rnd.choice("xyzabc") for _ in range(rnd.randint(0, 6)))),
        "d": maybe(date(2020, 1, 1) + timedelta(days=rnd.randint(-400, 4000))),
        "ts": maybe(base + timedelta(microseconds=rnd.randint(-10**12, 10**12))),
        "dec": maybe(Decimal(rnd.randint(-10**6, 10**6)) / 100),
        "p": "ab"[i % 2],
    } for i in range(start, start + n)]
    return pa.Table.from_pylist(rows, schema=MIXED)


def mixed_table(path: str, writes: int = 4, partitioned: bool = True, config: dict | None = None) -> Model:
    """A table of ``writes`` small mixed-type writes; returns its model."""
    model = Model(path)
    rows: list[dict] = []
    for i in range(writes):
        t = mixed_batch(i * 50, 50, i)
        res = lakehouse.write_delta(path, t, mode="append" if i else "error",
                                    partition_by=["p"] if partitioned else None, configuration=None if i else config)
        rows += t.to_pylist()
        model.record(res.version, rows)
    return model


def zorder_tags(path: str, version: int) -> list[dict]:
    """The tags of every add of commit ``version``."""
    return [a.get("tags") or {} for a in actions_of(path, version, "add")]


@pytest.mark.parametrize("columns", [["s"], ["d", "ts"], ["dec", "s", "id"], ["ts"], ["id", "dec"]],
                         ids=lambda c: "+".join(c))
@pytest.mark.parametrize("partitioned", [True, False], ids=["partitioned", "unpartitioned"])
def test_zorder_keeps_rows_and_tags_files(tmp_path: Path, columns: list[str], partitioned: bool) -> None:
    path = str(tmp_path / "t")
    model = mixed_table(path, partitioned=partitioned)
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.z_order(columns)
    assert m.version == 4 and m.z_order_by == tuple(columns)
    model.same_as(4, 3)
    tags = zorder_tags(path, 4)
    assert tags and all(json.loads(t[ZCUBE_ZORDER_BY]) == columns for t in tags)
    assert all(a["dataChange"] is False for a in actions_of(path, 4, "add"))
    assert all(r["dataChange"] is False for r in actions_of(path, 4, "remove"))
    assert len(actions_of(path, 4, "remove")) == (8 if partitioned else 4)
    params = commit_info(path, 4)["operationParameters"]
    z = params["zOrderBy"]
    assert (json.loads(z) if isinstance(z, str) else z) == columns
    # the snapshot keeps the tags (a later run reads them from there)
    active_tags = [dict(r.get("tags") or []) for r in lakehouse.DeltaTable(path).snapshot.adds.to_pylist()]
    assert all(json.loads(t[ZCUBE_ZORDER_BY]) == columns for t in active_tags)
    model.check()


def test_second_zorder_by_same_columns_is_skipped_and_other_columns_rewrite(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = mixed_table(path)
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.z_order(["s", "d"]).version == 4
    model.same_as(4, 3)
    before = log_files(path)
    again = dt.optimize.z_order(["s", "d"])
    assert again.version is None and dt.version == 4
    assert log_files(path) == before
    # the same columns in another order are another curve
    other = dt.optimize.z_order(["d", "s"])
    assert other.version == 5
    model.same_as(5, 4)
    assert all(json.loads(t[ZCUBE_ZORDER_BY]) == ["d", "s"] for t in zorder_tags(path, 5))
    third = dt.optimize.z_order(["ts"])
    assert third.version == 6
    model.same_as(6, 5)
    model.check()


def test_a_new_file_makes_a_zordered_partition_eligible_again(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = mixed_table(path)
    dt = lakehouse.DeltaTable(path)
    dt.optimize.z_order(["s"])
    model.same_as(4, 3)
    extra = mixed_batch(1000, 10, 99).filter(pa.compute.equal(mixed_batch(1000, 10, 99)["p"], "a"))
    lakehouse.write_delta(path, extra, mode="append")
    model.record(5, model.latest() + extra.to_pylist())
    m = dt.optimize.z_order(["s"])
    assert m.version == 6
    removed_parts = {r["partitionValues"]["p"] for r in actions_of(path, 6, "remove")}
    assert removed_parts == {"a"}, "only the partition that gained a file is re-clustered"
    model.same_as(6, 5)
    model.check()


def test_zorder_applies_deletion_vectors(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = mixed_table(path, config={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    dt.delete("id < 30 OR s IS NULL")
    model.record(4, [r for r in model.latest() if not (r["id"] < 30 or r["s"] is None)])
    assert lakehouse.DeltaTable(path).files()["deletion_vector"].null_count < len(lakehouse.DeltaTable(path).files())
    m = dt.optimize.z_order(["dec", "d"])
    assert m.version == 5
    model.same_as(5, 4)
    files = lakehouse.DeltaTable(path).files()
    assert files["deletion_vector"].null_count == files.num_rows
    model.check()


def test_zordered_file_with_a_deletion_vector_is_not_skipped(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = mixed_table(path, config={"delta.enableDeletionVectors": "true"})
    dt = lakehouse.DeltaTable(path)
    dt.optimize.z_order(["id"])
    model.same_as(4, 3)
    dt.delete("id = 7")
    model.record(5, [r for r in model.latest() if r["id"] != 7])
    m = dt.optimize.z_order(["id"])
    assert m.version == 6, "a deletion since the last Z-order makes the partition eligible again"
    model.same_as(6, 5)
    model.check()


@pytest.mark.parametrize("columns", [["nope"], ["p"], ["s", "s"], ["id", "missing"]])
def test_bad_zorder_columns_are_refused(tmp_path: Path, columns: list[str]) -> None:
    path = str(tmp_path / "t")
    mixed_table(path, writes=2)
    before = log_files(path)
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.z_order(columns)
    assert log_files(path) == before


def test_zorder_of_an_unorderable_type_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = pa.table({"id": [1, 2], "l": pa.array([[1], [2, 3]], pa.list_(pa.int64()))})
    lakehouse.write_delta(path, t)
    lakehouse.write_delta(path, t, mode="append")
    with pytest.raises(InvalidArgumentError):
        lakehouse.DeltaTable(path).optimize.z_order(["l"])


def _overlap(ranges: list[tuple]) -> float:
    """Fraction of ordered file pairs whose [min, max] ranges intersect."""
    n = len(ranges)
    hits = sum(1 for i in range(n) for j in range(n) if i != j and ranges[i][0] <= ranges[j][1] and ranges[j][0] <= ranges[i][1])
    return hits / (n * (n - 1))


def _ranges(path: str, column: str) -> list[tuple]:
    """Per active file, the (min, max) of ``column`` from its stats."""
    return [(s["minValues"][column], s["maxValues"][column]) for s in file_stats(path)]


def test_zorder_improves_clustering(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    rnd = random.Random(7)
    model = Model(path)
    rows: list[dict] = []
    for i in range(8):
        t = pa.table({"id": pa.array(range(i * 1000, (i + 1) * 1000), pa.int64()),
                      "x": pa.array([rnd.randint(0, 9999) for _ in range(1000)], pa.int64()),
                      "y": pa.array([rnd.randint(0, 9999) for _ in range(1000)], pa.int64()),
                      "pad": pa.array([rnd.getrandbits(60) for _ in range(1000)], pa.int64())})
        res = lakehouse.write_delta(path, t, mode="append" if i else "error")
        rows += t.to_pylist()
        model.record(res.version, rows)
    before_x, before_y = _overlap(_ranges(path, "x")), _overlap(_ranges(path, "y"))
    assert before_x > 0.95 and before_y > 0.95  # random files span everything
    total = sum(lakehouse.DeltaTable(path).files()["size"].to_pylist())
    m = lakehouse.DeltaTable(path).optimize.z_order(["x", "y"], target_size=total // 8)
    assert m.version == 8
    model.same_as(8, 7)
    n_files = len(file_stats(path))
    assert n_files >= 4, f"a target of 1/8 of the data gave only {n_files} files"
    after_x, after_y = _overlap(_ranges(path, "x")), _overlap(_ranges(path, "y"))
    # a Z-curve splits the box into quadrants: each file overlaps fewer others on each axis
    assert after_x < before_x and after_y < before_y, (before_x, after_x, before_y, after_y)
    # and the files' boxes (x and y together) overlap much less
    boxes = [((s["minValues"]["x"], s["maxValues"]["x"]), (s["minValues"]["y"], s["maxValues"]["y"])) for s in file_stats(path)]
    both = sum(1 for i in range(len(boxes)) for j in range(len(boxes)) if i != j and all(
        boxes[i][k][0] <= boxes[j][k][1] and boxes[j][k][0] <= boxes[i][k][1] for k in range(2))) / (len(boxes) * (len(boxes) - 1))
    assert both < 0.7, both
    # a filtered read now skips files
    scan = lakehouse.DeltaTable(path).scan(filter="x < 2000 AND y < 2000")
    assert scan.metrics.files_after_stats_skipping < n_files
    model.check()


def test_rank_by_bounds_and_keys_order_any_type() -> None:
    values = pa.array(["b", None, "a", "c", "b"])
    bounds = pa.array(["b", "c"])
    assert rank_by_bounds(values, bounds).tolist() == [1, 0, 0, 2, 1]
    dates = pa.array([date(2020, 1, 1), date(2019, 1, 1), None], pa.date32())
    assert rank_by_bounds(dates, pa.array([date(2019, 6, 1)], pa.date32())).tolist() == [1, 0, 0]
    decs = pa.array([Decimal("1.50"), Decimal("-2.00")], pa.decimal128(5, 2))
    assert rank_by_bounds(decs, pa.array([Decimal("0.00")], pa.decimal128(5, 2))).tolist() == [1, 0]
    # two columns: the key interleaves bits, so (high, high) sorts after (high, low) after (low, low)
    k = z_keys([pa.array([0, 3, 3]), pa.array([0, 0, 3])], [pa.array([1, 2, 3]), pa.array([1, 2, 3])])
    assert k[0] < k[1] < k[2]


def test_zorder_of_all_null_binary_boolean_and_timestamp_ntz_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = Model(path)
    rows: list[dict] = []
    for i in range(3):
        t = pa.table({"id": pa.array(range(i * 5, i * 5 + 5), pa.int64()),
                      "z": pa.array([None] * 5, pa.int64()),
                      "b": pa.array([b"x%d" % (j * 7 % 5) for j in range(5)]),
                      "f": pa.array([True, False, None, True, False]),
                      "t": pa.array([datetime(2020, 1, (j * 3) % 5 + 1) for j in range(5)], pa.timestamp("us"))})
        lakehouse.write_delta(path, t, mode="append" if i else "error")
        rows += t.to_pylist()
        model.record(i, rows)
    dt = lakehouse.DeltaTable(path)
    assert dt.optimize.z_order(["z"]).version == 3
    model.same_as(3, 2)
    assert dt.optimize.z_order(["b", "f", "t"]).version == 4
    model.same_as(4, 3)
    model.check()
