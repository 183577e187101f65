"""pandas in and out (spec/writer.md section 2): the index is data unless it is the unnamed RangeIndex (as
`pyarrow.Table.from_pandas` decides, with its column names); an unnamed index a table was not made for
is refused; pandas' int64 goes into int/short/double columns when every value fits; a mixed-type object
column is a SchemaMismatchError; `to_pandas()` without pandas names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import SchemaMismatchError
from tests.support.log import log_state
from tests.support.rows import Versions, concat

FRAME = pd.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "c"]})


def _rows(ids: list[int], vs: list[str]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "v": pa.array(vs, pa.string())})


@pytest.mark.parametrize("ids", [[1, 2, 3], [30, 10, 20]], ids=["consecutive", "scattered"])
def test_named_index_becomes_a_column_of_a_new_table(table_path, ids):
    """pandas keeps consecutive ids as a (named) RangeIndex: it is data all the same."""
    df = pd.DataFrame({"id": ids, "v": ["a", "b", "c"]}).set_index("id")
    lakehouse.write_delta(table_path, df)
    assert sorted(lakehouse.DeltaTable(table_path).schema.names) == ["id", "v"]
    v = Versions(table_path)
    v[0] = _rows(ids, ["a", "b", "c"])
    v.check()


def test_named_index_fills_its_column_on_append(table_path):
    lakehouse.write_delta(table_path, FRAME)
    lakehouse.write_delta(table_path, pd.DataFrame({"id": [4, 5], "v": ["d", "e"]}).set_index("id"), mode="append")
    lakehouse.write_delta(table_path, pd.DataFrame({"id": [9, 7], "v": ["g", "f"]}).set_index("id"), mode="append")
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v[1] = concat(v[0], _rows([4, 5], ["d", "e"]))
    v[2] = concat(v[1], _rows([9, 7], ["g", "f"]))
    v.check()


def test_multiindex_becomes_columns(table_path):
    df = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "n": [0.5, 1.5, 2.5]}).set_index(["a", "b"])
    lakehouse.write_delta(table_path, df)
    v = Versions(table_path)
    v[0] = pa.table({"a": pa.array([1, 1, 2], pa.int64()), "b": ["x", "y", "x"], "n": [0.5, 1.5, 2.5]})
    v.check()


def test_unnamed_index_of_a_new_table_is_a_column_named_as_pyarrow_names_it(table_path):
    df = FRAME.set_index(pd.Index([10, 30, 20]))
    lakehouse.write_delta(table_path, df)
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"]).append_column("__index_level_0__", pa.array([10, 30, 20], pa.int64()))
    v.check()
    assert pa.Table.from_pandas(df).column_names == ["id", "v", "__index_level_0__"]


@pytest.mark.parametrize("schema_mode", [None, "merge"])
def test_unnamed_index_is_refused_by_a_table_without_it(table_path, schema_mode):
    lakehouse.write_delta(table_path, FRAME)
    before = log_state(table_path)
    filtered = pd.concat([FRAME, FRAME.assign(id=[4, 5, 6])], ignore_index=True)
    filtered = filtered[filtered.id != 3]  # index [0, 1, 3, 4, 5]: not a range (pandas keeps [1, 3, 5] as one)
    assert not isinstance(filtered.index, pd.RangeIndex)
    with pytest.raises(SchemaMismatchError, match="'__index_level_0__'.*unnamed index") as e:
        lakehouse.write_delta(table_path, filtered, mode="append", schema_mode=schema_mode)
    assert "reset_index(drop=True)" in str(e.value)
    assert log_state(table_path) == before
    lakehouse.write_delta(table_path, filtered.reset_index(drop=True), mode="append", schema_mode=schema_mode)
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v[1] = concat(v[0], _rows([1, 2, 4, 5, 6], ["a", "b", "a", "b", "c"]))
    v.check()


def test_unnamed_range_index_is_dropped(table_path):
    lakehouse.write_delta(table_path, FRAME)
    lakehouse.write_delta(table_path, FRAME.iloc[1:], mode="append")  # RangeIndex(1, 3)
    lakehouse.write_delta(table_path, FRAME.set_index(pd.RangeIndex(5, 8)), mode="append")
    assert lakehouse.DeltaTable(table_path).schema.names == ["id", "v"]
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v[1] = concat(v[0], _rows([2, 3], ["b", "c"]))
    v[2] = concat(v[1], _rows([1, 2, 3], ["a", "b", "c"]))
    v.check()


def test_pandas_int64_goes_into_int_short_and_double_columns(table_path):
    schema = pa.schema([("i", pa.int32()), ("s", pa.int16()), ("d", pa.float64()), ("f", pa.float32())])
    lakehouse.DeltaTable.create(table_path, schema=schema)
    df = pd.DataFrame({"i": [1, -5, 2**31 - 1], "s": [7, 8, -9], "d": [1, 2**53, 3], "f": [0.5, 1.0, 2.0]})
    assert str(df["i"].dtype) == "int64"
    lakehouse.write_delta(table_path, df, mode="append")
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError, match="'s'.*40000 \\(bigint\\).*smallint"):
        lakehouse.write_delta(table_path, df.assign(s=[1, 40000, 2]), mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = schema.empty_table()
    v[1] = pa.table({"i": pa.array([1, -5, 2**31 - 1], pa.int32()), "s": pa.array([7, 8, -9], pa.int16()),
                     "d": [1.0, 2.0**53, 3.0], "f": pa.array([0.5, 1.0, 2.0], pa.float32())})
    v.check()


def test_pandas_int_column_with_missing_values_goes_into_a_bigint_column(table_path):
    """pandas turns an int column with a missing value into float64 with NaN: NaN is pandas' null, the
    other values are whole, so they go into a bigint column exactly."""
    lakehouse.write_delta(table_path, FRAME)
    df = pd.DataFrame({"id": [4, None, 6], "v": ["d", "e", None]})
    assert str(df["id"].dtype) == "float64"
    lakehouse.write_delta(table_path, df, mode="append")
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError, match="'id'.*7.5"):
        lakehouse.write_delta(table_path, pd.DataFrame({"id": [7.5, None], "v": ["x", "y"]}), mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v[1] = concat(v[0], pa.table({"id": pa.array([4, None, 6], pa.int64()), "v": ["d", "e", None]}))
    v.check()


def test_mixed_type_object_column_is_a_schema_mismatch(table_path):
    with pytest.raises(SchemaMismatchError, match="column 'm'.*object"):
        lakehouse.write_delta(table_path, pd.DataFrame({"id": [1, 2], "m": [1, "a"]}))
    assert not (Path(table_path) / "_delta_log").exists()
    lakehouse.write_delta(table_path, FRAME)
    before = log_state(table_path)
    with pytest.raises(SchemaMismatchError, match="column 'v'"):
        lakehouse.write_delta(table_path, pd.DataFrame({"id": [4, 5], "v": ["x", 2.5]}), mode="append")
    assert log_state(table_path) == before
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v.check()


def test_merge_source_keeps_its_named_index(table_path):
    lakehouse.write_delta(table_path, FRAME)
    source = pd.DataFrame({"id": [3, 4], "v": ["C", "d"]}).set_index("id")
    (lakehouse.DeltaTable(table_path).merge(source, "t.id = s.id")
     .when_matched_update_all().when_not_matched_insert_all().execute())
    v = Versions(table_path)
    v[0] = _rows([1, 2, 3], ["a", "b", "c"])
    v[1] = _rows([1, 2, 3, 4], ["a", "b", "C", "d"])
    v.check()


def test_to_pandas_without_pandas_names_the_extra(table_path):
    lakehouse.write_delta(table_path, FRAME)
    code = textwrap.dedent(f"""
        import importlib.abc
        import sys

        class NoPandas(importlib.abc.MetaPathFinder):  # imports of pandas fail as when it is not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pandas":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, NoPandas())
        import lakehouse
        from lakehouse.errors import LakehouseError
        dt = lakehouse.DeltaTable({table_path!r})
        assert dt.to_arrow().num_rows == 3
        try:
            dt.to_pandas()
        except LakehouseError as e:
            print(type(e).__name__, str(e))
        else:
            raise SystemExit("to_pandas() did not raise")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert "pip install 'lakehouse-delta[pandas]'" in out.stdout, out.stdout
    assert "Traceback" not in out.stdout
