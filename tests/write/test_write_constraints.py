"""CHECK constraints (`delta.constraints.*`) enforced on written rows; NULL passes as in SQL."""

from __future__ import annotations

import shutil

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError, UnsupportedFeatureError
from tests.support.conformance import corpus_dir
from tests.support.log import actions_of, log_state
from tests.support.rows import Versions, concat

T0 = pa.table({"x": pa.array([1, 5], pa.int64()), "s": ["a", "b"]})


def _create(path: str, constraints: dict[str, str]) -> None:
    conf = {f"delta.constraints.{k}": v for k, v in constraints.items()}
    lakehouse.write_delta(path, T0, configuration=conf)


def test_check_constraint_rejects_violations_and_accepts_null(table_path):
    _create(table_path, {"pos": "x > 0"})
    (proto,) = actions_of(table_path, 0, "protocol")
    features_ok = proto["minWriterVersion"] >= 3 and (proto["minWriterVersion"] < 7 or "checkConstraints" in proto["writerFeatures"])
    assert features_ok, proto
    cfg = deltalake.DeltaTable(table_path).metadata().configuration
    assert cfg.get("delta.constraints.pos") == "x > 0"

    before = log_state(table_path)
    bad = pa.table({"x": pa.array([3, 0, -1], pa.int64()), "s": ["c", "d", "e"]})
    with pytest.raises(ConstraintViolationError) as e:
        lakehouse.write_delta(table_path, bad, mode="append")
    assert "pos" in str(e.value)
    assert log_state(table_path) == before

    ok = pa.table({"x": pa.array([None, 7], pa.int64()), "s": ["n", "m"]})
    lakehouse.write_delta(table_path, ok, mode="append")
    v = Versions(table_path)
    v[0] = T0
    v[1] = concat(T0, ok)
    v.check()

    # deltalake honours the constraint lakehouse wrote, too.
    with pytest.raises(Exception) as e2:
        deltalake.write_deltalake(table_path, bad, mode="append")
    assert "failed validation check" in str(e2.value)
    assert lakehouse.DeltaTable(table_path).version == 1


def test_overwrite_and_replace_where_are_checked_too(table_path):
    _create(table_path, {"pos": "x > 0"})
    before = log_state(table_path)
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(table_path, pa.table({"x": pa.array([-5], pa.int64()), "s": ["z"]}), mode="overwrite")
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(table_path, pa.table({"x": pa.array([-5], pa.int64()), "s": ["z"]}),
                              mode="overwrite", predicate="x < 3")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = T0
    v.check()


@pytest.mark.parametrize(
    "expr, good, bad",
    [
        ("x > 0 AND s IS NOT NULL", {"x": [1], "s": ["a"]}, {"x": [1], "s": [None]}),
        ("x BETWEEN 1 AND 10", {"x": [1, 10], "s": ["a", "b"]}, {"x": [11], "s": ["a"]}),
        ("s IN ('a', 'b') OR x >= 100", {"x": [1, 100], "s": ["a", "z"]}, {"x": [1], "s": ["z"]}),
        ("x <> 3", {"x": [2], "s": ["a"]}, {"x": [3], "s": ["a"]}),
        ("`x` > 0", {"x": [2], "s": ["a"]}, {"x": [-3], "s": ["a"]}),
    ],
)
def test_constraint_expression_shapes(table_path, expr, good, bad):
    _create(table_path, {"c1": expr})
    g = pa.table({"x": pa.array(good["x"], pa.int64()), "s": pa.array(good["s"], pa.string())})
    b = pa.table({"x": pa.array(bad["x"], pa.int64()), "s": pa.array(bad["s"], pa.string())})
    lakehouse.write_delta(table_path, g, mode="append")
    before = log_state(table_path)
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(table_path, b, mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = T0
    v[1] = concat(T0, g)
    v.check()


def test_several_constraints_all_enforced(table_path):
    _create(table_path, {"pos": "x > 0", "small": "x < 100"})
    for bad in ([0], [100]):
        with pytest.raises(ConstraintViolationError):
            lakehouse.write_delta(table_path, pa.table({"x": pa.array(bad, pa.int64()), "s": ["q"]}), mode="append")
    assert lakehouse.DeltaTable(table_path).version == 0


def test_unevaluable_constraint_refuses_writes(table_path):
    """A constraint lakehouse cannot evaluate must not be silently skipped."""
    conf = {"delta.constraints.weird": "length(s) < 5 AND regexp_like(s, '^[a-z]+$')"}
    try:
        lakehouse.write_delta(table_path, T0, configuration=conf)
    except UnsupportedFeatureError as e:
        assert e.feature == "checkConstraints"
        return
    # If lakehouse evaluates it, it must be enforced.
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(table_path, pa.table({"x": pa.array([1], pa.int64()), "s": ["TOOLONGVALUE"]}), mode="append")


def test_spark_table_with_check_constraint(tmp_path):
    """dat__check_constraints: Spark added `const1: int > 0` (a column named `int`)."""
    src = corpus_dir() / "tables" / "dat__check_constraints"
    path = str(tmp_path / "t")
    shutil.copytree(src, path)
    start = lakehouse.DeltaTable(path)
    base = start.to_arrow()
    n = start.version
    schema = start.schema
    bad = pa.table({"letter": ["z"], "int": pa.array([-1], pa.int64()), "date": pa.array([None], pa.date32())}).cast(schema)
    before = log_state(path)
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(path, bad, mode="append")
    assert log_state(path) == before
    good = pa.table({"letter": ["z", None], "int": pa.array([5, None], pa.int64()),
                     "date": pa.array([None, None], pa.date32())}).cast(schema)
    r = lakehouse.write_delta(path, good, mode="append")
    assert r.version == n + 1
    v = Versions(path)
    v[n] = base
    v[n + 1] = concat(base, good)
    v.check()
