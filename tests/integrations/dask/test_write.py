"""`lakehouse.integrations.dask.write_delta` on a two-process cluster commits what `lakehouse.write_delta` commits:
every mode, partitions, replaceWhere on partition and data columns, schema evolution, conflicts, S3.
Results are read back by lakehouse and by deltalake."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe")
import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from tests.support.rows import dl_read  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.integrations.dask as ldd  # noqa: E402
from lakehouse.write.transaction import commit_hook  # noqa: E402
from lakehouse.errors import (  # noqa: E402
    ConcurrentModificationError,
    ConstraintViolationError,
    InvalidArgumentError,
    SchemaMismatchError,
    TableExistsError,
)
from tests.support.dask import assert_no_missing_file, assert_same_rows  # noqa: E402


def _frame(start: int, n: int, parts: str = "abc") -> pd.DataFrame:
    ids = np.arange(start, start + n, dtype=np.int64)
    return pd.DataFrame({
        "id": ids,
        "p": pd.array([parts[i % len(parts)] for i in range(n)], dtype="string[pyarrow]"),
        "v": ids * 1.5,
        "ts": [datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(minutes=int(i)) for i in ids],
    })


def _ddf(df: pd.DataFrame, npartitions: int = 3) -> dd.DataFrame:
    return dd.from_pandas(df, npartitions=npartitions, sort=False)


class Pair:
    """The same writes through Dask (``dask_uri``) and single-process (``ref_uri``); compared after each."""

    def __init__(self, tmp_path):
        self.dask_uri, self.ref_uri = str(tmp_path / "dask"), str(tmp_path / "ref")

    def write(self, df: pd.DataFrame, **kw) -> lakehouse.CommitResult:
        result = ldd.write_delta(self.dask_uri, _ddf(df), **kw)
        reference = lakehouse.write_delta(self.ref_uri, df, **kw)
        # File counts differ (each Dask partition writes its own files); rows and outcomes must not.
        assert (result.version, result.operation) == (reference.version, reference.operation)
        # Rows copied by a data-column replaceWhere depend on which files hold matches, so only the new rows
        # must agree.
        def new_rows(r: lakehouse.CommitResult) -> int:
            return r.metrics["numOutputRows"] - r.metrics["numCopiedRows"]

        assert new_rows(result) == new_rows(reference)
        self.check()
        return result

    def check(self) -> None:
        ours, ref = lakehouse.DeltaTable(self.dask_uri), lakehouse.DeltaTable(self.ref_uri)
        assert ours.version == ref.version and ours.partition_columns == ref.partition_columns
        assert ours.schema == ref.schema
        assert_same_rows(ours.to_arrow(), ref.to_arrow())
        assert_same_rows(dl_read(self.dask_uri), ref.to_arrow())
        mine, theirs = ours.history(1)[0], ref.history(1)[0]
        assert (mine.operation, mine.operation_parameters) == (theirs.operation, theirs.operation_parameters)
        assert_no_missing_file(self.dask_uri)


def test_every_mode_matches_single_process(client, tmp_path):
    pair = Pair(tmp_path)
    first = pair.write(_frame(0, 90), partition_by=["p"])
    assert first.version == 0 and first.num_added_files >= 3
    with pytest.raises(TableExistsError):
        ldd.write_delta(pair.dask_uri, _ddf(_frame(0, 5)))
    assert pair.write(_frame(90, 30), mode="append").num_removed_files == 0
    assert ldd.write_delta(pair.dask_uri, _ddf(_frame(0, 5)), mode="ignore").operation == "NOOP"
    pair.write(_frame(500, 40, parts="bd"), mode="overwrite")
    pair.write(_frame(700, 20), mode="append")


def test_replace_where_matches_single_process(client, tmp_path):
    pair = Pair(tmp_path)
    pair.write(_frame(0, 120), partition_by=["p"])
    pair.write(_frame(1000, 12, parts="b"), mode="overwrite", predicate="p = 'b'")
    kept = _frame(2000, 10)
    kept["id"] = np.arange(10, dtype=np.int64)  # rows of the data-column predicate's range
    result = pair.write(kept, mode="overwrite", predicate="id < 10")
    assert result.metrics["numCopiedRows"] > 0  # files were rewritten on the workers
    with pytest.raises(ConstraintViolationError):
        ldd.write_delta(pair.dask_uri, _ddf(_frame(0, 10)), mode="overwrite", predicate="p = 'c'")
    pair.check()  # unchanged by the refused write


def test_replace_where_on_a_table_with_deletion_vectors(client, tmp_path):
    pair = Pair(tmp_path)
    pair.write(_frame(0, 60), configuration={"delta.enableDeletionVectors": "true"})
    for uri in (pair.dask_uri, pair.ref_uri):
        lakehouse.DeltaTable(uri).delete("id > 40 AND id < 50")
    pair.check()
    replacement = _frame(0, 20)
    replacement["id"] = np.arange(30, 50, dtype=np.int64)
    pair.write(replacement, mode="overwrite", predicate="id >= 30")


def test_column_mapped_table_matches_single_process(client, tmp_path):
    """Workers write physical column names under column mapping, as the single-process write does."""
    pair = Pair(tmp_path)
    pair.write(_frame(0, 60), partition_by=["p"], configuration={"delta.columnMapping.mode": "name"})
    pair.write(_frame(60, 30), mode="append")
    replacement = _frame(0, 10)
    pair.write(replacement, mode="overwrite", predicate="id < 10")
    assert lakehouse.DeltaTable(pair.dask_uri).snapshot.column_mapping_mode == "name"


def test_schema_evolution_matches_single_process(client, tmp_path):
    pair = Pair(tmp_path)
    pair.write(_frame(0, 30))
    wider = _frame(30, 30).assign(extra=pd.array(range(30), dtype="Int32"))
    with pytest.raises(SchemaMismatchError):
        ldd.write_delta(pair.dask_uri, _ddf(wider), mode="append")
    pair.write(wider, mode="append", schema_mode="merge")
    replaced = pd.DataFrame({"k": pd.array(["x", "y", "z"], dtype="string[pyarrow]"), "n": [1, 2, 3]})
    pair.write(replaced, mode="overwrite", schema_mode="overwrite", partition_by=["k"])


def test_object_columns_take_the_table_type_or_need_a_schema(client, tmp_path):
    uri = str(tmp_path / "t")
    dates = pd.DataFrame({"id": [1, 2, 3], "d": [datetime(2024, 1, i).date() for i in (1, 2, 3)]})
    with dask.config.set({"dataframe.convert-string": False}):  # else Dask itself turns the dates into text
        ddf = dd.from_pandas(dates, npartitions=2)
    assert ddf.dtypes["d"] == object
    with pytest.raises(SchemaMismatchError, match="dtype object"):
        ldd.write_delta(uri, ddf)
    schema = pa.schema([("id", pa.int64()), ("d", pa.date32())])
    ldd.write_delta(uri, ddf, schema=schema)
    ldd.write_delta(uri, ddf, mode="append")  # typed from the table now
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), pa.concat_tables([pa.Table.from_pandas(dates, schema)] * 2))
    round_trip = ldd.read_delta(uri)  # dates come back as ArrowDtype, not object; reads pin version 1
    assert round_trip.dtypes["d"] == pd.ArrowDtype(pa.date32())
    ldd.write_delta(uri, round_trip, mode="append")
    assert lakehouse.DeltaTable(uri).to_arrow().num_rows == 12


def _write_with(writer: str, uri: str, df: pd.DataFrame, hook=None, **kw) -> lakehouse.CommitResult:
    with commit_hook(hook):
        if writer == "dask":
            return ldd.write_delta(uri, _ddf(df), **kw)
        return lakehouse.write_delta(uri, df, **kw)


def _outcome(fn) -> str:
    try:
        fn()
    except ConcurrentModificationError as e:
        return type(e).__name__
    return "committed"


def test_named_index_is_written_as_pandas_input_writes_it(client, tmp_path):
    """A named Dask index (``set_index``, ``read_delta(index=...)``) is data: it becomes its column, as
    the index of a pandas DataFrame given to `lakehouse.write_delta` does."""
    pair = Pair(tmp_path)
    pair.write(_frame(0, 30).set_index("id"))
    assert "id" in lakehouse.DeltaTable(pair.dask_uri).schema.names
    pair.write(_frame(30, 12).set_index("id"), mode="append")
    copy = str(tmp_path / "copy")
    ldd.write_delta(copy, ldd.read_delta(pair.dask_uri, index="id"))
    assert_same_rows(lakehouse.DeltaTable(copy).to_arrow(), lakehouse.DeltaTable(pair.ref_uri).to_arrow())
    assert_same_rows(dl_read(copy), lakehouse.DeltaTable(pair.ref_uri).to_arrow())


def test_values_are_converted_exactly_or_refused(client, tmp_path):
    """Workers convert with the single-process rules: int64 into an int column when each value fits."""
    uri = str(tmp_path / "t")
    lakehouse.DeltaTable.create(uri, schema=pa.schema([("id", pa.int32()), ("v", pa.float32())]))
    df = pd.DataFrame({"id": np.arange(6, dtype=np.int64), "v": np.arange(6, dtype=np.float64) / 2})
    ldd.write_delta(uri, _ddf(df, 2), mode="append")
    # Each task names the first value of its own partition; whichever task fails first is reported.
    with pytest.raises(SchemaMismatchError, match=r"'id'.*42949672(96|99) \(bigint\).*as int"):
        ldd.write_delta(uri, _ddf(df.assign(id=df.id + 2**32), 2), mode="append")
    assert lakehouse.DeltaTable(uri).version == 1
    expected = pa.table({"id": pa.array(range(6), pa.int32()), "v": pa.array([i / 2 for i in range(6)], pa.float32())})
    assert_same_rows(lakehouse.DeltaTable(uri).to_arrow(), expected)
    assert_same_rows(dl_read(uri), expected)


def test_concurrent_commits_are_checked_like_a_single_process_write(client, tmp_path):
    """A replaceWhere of partition 'a' while another writer commits: the Dask write and the
    single-process write reach the same outcome for each concurrent commit."""
    concurrent = {
        "append to another partition": dict(df=_frame(100, 3, parts="c"), mode="append"),
        "blind append to the same partition": dict(df=_frame(100, 3, parts="a"), mode="append"),
        "replaceWhere of the same partition": dict(df=_frame(100, 3, parts="a"), mode="overwrite", predicate="p = 'a'"),
    }
    outcomes: dict[str, dict[str, str]] = {}
    for writer in ("dask", "single"):
        for case, other in concurrent.items():
            uri = str(tmp_path / f"{writer}-{len(outcomes.get(writer, {}))}")
            lakehouse.write_delta(uri, _frame(0, 30), partition_by=["p"])
            kw = {k: v for k, v in other.items() if k != "df"}

            def hook(phase, txn, uri=uri, other=other, kw=kw):
                if phase == "prepared" and txn.attempts == 0:
                    lakehouse.write_delta(uri, other["df"], **kw)

            outcome = _outcome(lambda: _write_with(writer, uri, _frame(200, 6, parts="a"), mode="overwrite",
                                                   predicate="p = 'a'", hook=hook))
            outcomes.setdefault(writer, {})[case] = outcome
            table = lakehouse.DeltaTable(uri)
            assert table.version == (2 if outcome == "committed" else 1)
            assert (table.to_arrow(filter="id >= 200").num_rows == 6) == (outcome == "committed")
    assert outcomes["dask"] == outcomes["single"]
    assert outcomes["dask"]["append to another partition"] == "committed"
    assert outcomes["dask"]["replaceWhere of the same partition"] != "committed"


def test_bad_arguments_fail_before_any_task(tmp_path):
    ddf = _ddf(_frame(0, 3))
    uri = str(tmp_path / "t")
    with pytest.raises(InvalidArgumentError):
        ldd.write_delta(uri, ddf, mode="upsert")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        ldd.write_delta(uri, ddf, mode="append", predicate="id > 1")
    with pytest.raises(InvalidArgumentError):
        ldd.write_delta(uri, _frame(0, 3))  # type: ignore[arg-type]
    assert not (tmp_path / "t").exists()


def test_s3_write_passes_storage_options_to_workers(client, s3_bucket):
    bucket, options, fs = s3_bucket
    uri = f"s3://{bucket}/t"
    df = _frame(0, 60)
    ldd.write_delta(uri, _ddf(df, 4), partition_by=["p"], storage_options=options)
    ldd.write_delta(uri, _ddf(_frame(60, 9, parts="a"), 2), mode="overwrite", predicate="p = 'a'", storage_options=options)
    expected = pd.concat([df[df.p != "a"], _frame(60, 9, parts="a")])
    got = ldd.read_delta(uri, storage_options=options).compute()
    assert_same_rows(pa.Table.from_pandas(got, preserve_index=False).select(list(expected.columns)),
                     pa.Table.from_pandas(expected, preserve_index=False))
    assert lakehouse.DeltaTable(uri, storage_options=options).version == 1
