"""The public API in deltalake's dialect (issue 13): `dt.optimize` and `dt.alter` namespaces, `merge(source,
predicate)`, a typed result with ``.version`` from every mutating call, and no test plumbing (``_hook``) in
a public signature.

Each call is checked by what it does (reopen, every row, the metadata; deltalake reads the result) and
by its signature against deltalake 1.x's for the parameter names both libraries share.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any, Callable

import deltalake
import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import ConstraintViolationError, InvalidArgumentError, UnsupportedFeatureError
from tests.support.dml import rows_table, snapshot_dir
from tests.support.rows import assert_same_rows, dl_read, lh_read
from tests.support.log import actions_of

ROWS = [{"id": i, "v": i * 10, "p": "a" if i % 2 else "b"} for i in range(12)]


def _many_files(tmp_path: Path, *, partitioned: bool = True, configuration: dict[str, str] | None = None) -> str:
    """A table of 12 rows written as 6 small appends of 2 rows (12 files when partitioned by ``p``)."""
    path = str(tmp_path / "t")
    for i in range(0, len(ROWS), 2):
        lakehouse.write_delta(path, rows_table(ROWS[i:i + 2]), mode="append",
                              configuration=configuration if i == 0 else None,  # only the creating write
                              partition_by=["p"] if partitioned else None)
    return path


def _shared_names(ours: Callable[..., Any], theirs: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """(our parameter names, deltalake's) without self, *args/**kwargs and the parameters deltalake has
    and lakehouse deliberately does not take (post-commit hook properties: lakehouse runs its own)."""
    skip = {"self", "post_commithook_properties"}

    def names(fn: Callable[..., Any]) -> list[str]:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    return names(ours), names(theirs)


def _assert_mirrors(ours: Callable[..., Any], theirs: Callable[..., Any], *,
                    not_in_deltalake: frozenset[str] | set[str] = frozenset()) -> None:
    mine, dl = _shared_names(ours, theirs)
    missing = [n for n in dl if n not in mine]
    assert not missing, f"{ours.__qualname__} lacks deltalake's parameter(s) {missing}"
    # Shared names come in deltalake's order; our extras are named here, so a typo cannot pass as an extra.
    assert [n for n in mine if n in dl] == dl, f"{ours.__qualname__}: {mine} vs deltalake {dl}"
    assert set(mine) - set(dl) == set(not_in_deltalake), f"{ours.__qualname__}: extras {set(mine) - set(dl)}"


# -- dt.optimize --------------------------------------------------------------------------------------------
def test_optimize_compact_compacts_and_returns_the_commit_version(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    before = dt.version
    m = dt.optimize.compact()
    assert isinstance(m, lakehouse.OptimizeMetrics)
    assert m.version == before + 1 == dt.version == lakehouse.DeltaTable(path).version
    assert m.num_files_removed == 12 and m.num_files_added == 2  # one file per partition
    assert len(lakehouse.DeltaTable(path).files()) == 2
    assert actions_of(path, m.version, "commitInfo")[0]["operation"] == "OPTIMIZE"
    assert_same_rows(lh_read(path), ROWS, "lakehouse after compact")
    assert_same_rows(dl_read(path), ROWS, "deltalake after compact")
    assert dt.optimize.compact().version is None  # nothing left to do: no commit


def test_optimize_compact_takes_deltalake_partition_filters(tmp_path):
    path = _many_files(tmp_path)
    m = lakehouse.DeltaTable(path).optimize.compact(partition_filters=[("p", "=", "a")])
    assert m.num_files_removed == 6 and m.partitions_optimized == 1
    parts = [dict(pv)["p"] for pv in lakehouse.DeltaTable(path).files().column("partition_values").to_pylist()]
    assert sorted(parts) == ["a"] + ["b"] * 6
    assert_same_rows(dl_read(path), ROWS, "deltalake after a filtered compact")


def test_optimize_z_order_clusters_and_records_the_columns(tmp_path):
    path = _many_files(tmp_path, partitioned=False)
    dt = lakehouse.DeltaTable(path)
    m = dt.optimize.z_order(["id", "v"])
    assert m.version == dt.version == 6 and m.z_order_by == ("id", "v")
    info = actions_of(path, 6, "commitInfo")[0]
    assert info["operation"] == "OPTIMIZE" and "id" in info["operationParameters"]["zOrderBy"]
    assert_same_rows(lh_read(path), ROWS, "lakehouse after z_order")
    assert_same_rows(dl_read(path), ROWS, "deltalake after z_order")


@pytest.mark.parametrize("option,value", [("max_spill_size", 1 << 20), ("max_temp_directory_size", 1 << 30),
                                          ("min_commit_interval", 60), ("writer_properties", object())])
@pytest.mark.parametrize("method", ["compact", "z_order"])
def test_optimize_refuses_deltalake_options_it_cannot_honour(tmp_path, option, value, method):
    path = _many_files(tmp_path)
    before = snapshot_dir(path)
    optimizer = lakehouse.DeltaTable(path).optimize
    call = optimizer.compact if method == "compact" else (lambda **kw: optimizer.z_order(["id"], **kw))
    with pytest.raises(InvalidArgumentError, match=option):
        call(**{option: value})
    assert snapshot_dir(path) == before


def test_optimize_signatures_mirror_deltalake():
    _assert_mirrors(lakehouse.TableOptimizer.compact, deltalake.table.TableOptimizer.compact,
                    not_in_deltalake={"min_file_size", "max_workers", "progress"})
    _assert_mirrors(lakehouse.TableOptimizer.z_order, deltalake.table.TableOptimizer.z_order,
                    not_in_deltalake={"max_workers", "progress"})


def test_optimize_is_a_namespace_not_a_method(tmp_path):
    dt = lakehouse.DeltaTable(_many_files(tmp_path))
    assert isinstance(dt.optimize, lakehouse.TableOptimizer) and isinstance(dt.alter, lakehouse.TableAlterer)
    with pytest.raises(TypeError):
        dt.optimize()  # type: ignore[operator]  # the 0.x method is gone: the namespace is not callable
    assert not hasattr(dt, "set_properties") and not hasattr(dt, "add_features")


# -- dt.alter -----------------------------------------------------------------------------------------------
def test_alter_set_table_properties_and_add_columns(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    r = dt.alter.set_table_properties({"custom.owner": "alice", "delta.appendOnly": "true"})
    assert r == lakehouse.AlterResult(6) and dt.version == 6
    assert lakehouse.DeltaTable(path).metadata.configuration["custom.owner"] == "alice"
    assert deltalake.DeltaTable(path).metadata().configuration["delta.appendOnly"] == "true"
    r = dt.alter.add_columns(pa.field("note", pa.string()))  # one field, as deltalake accepts
    assert r.version == 7
    assert lakehouse.DeltaTable(path).schema.names == ["id", "v", "p", "note"]
    assert_same_rows(lh_read(path), [{**r, "note": None} for r in ROWS], "added column reads null")
    assert_same_rows(dl_read(path), [{**r, "note": None} for r in ROWS], "deltalake reads the new column")
    assert dt.alter.set_table_properties({"custom.nope": None}, raise_if_not_exists=False).version == 8


def test_alter_add_constraint_takes_a_dict_and_commits_all_or_nothing(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    before = snapshot_dir(path)
    with pytest.raises(ConstraintViolationError, match="v < 50"):
        dt.alter.add_constraint({"non_negative": "v >= 0", "small": "v < 50"})
    assert snapshot_dir(path) == before  # the passing one was not added either
    r = dt.alter.add_constraint({"non_negative": "v >= 0", "bounded": "v < 1000"})
    assert r.version == 6 == lakehouse.DeltaTable(path).version  # one commit for both
    conf = deltalake.DeltaTable(path).metadata().configuration
    assert conf["delta.constraints.non_negative"] == "v >= 0" and conf["delta.constraints.bounded"] == "v < 1000"
    with pytest.raises(ConstraintViolationError):
        lakehouse.write_delta(path, rows_table([{"id": 99, "v": -1, "p": "a"}]), mode="append")
    assert dt.alter.drop_constraint("bounded").version == 7
    assert dt.alter.drop_constraint("bounded", raise_if_not_exists=False).version is None
    assert "delta.constraints.bounded" not in lakehouse.DeltaTable(path).metadata.configuration
    assert_same_rows(lh_read(path), ROWS)


def test_alter_drop_constraints_drops_a_list_in_one_commit_or_nothing(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    dt.alter.add_constraint({"a": "v >= 0", "b": "v < 1000", "c": "id >= 0"})  # version 6
    before = snapshot_dir(path)
    with pytest.raises(InvalidArgumentError, match="'nope' does not exist"):
        dt.alter.drop_constraints(["a", "nope"])
    assert snapshot_dir(path) == before  # 'a' was not dropped either
    with pytest.raises(InvalidArgumentError, match="list of constraint names"):
        dt.alter.drop_constraints("a")  # a string is not a list of names
    r = dt.alter.drop_constraints(["a", "nope", "b"], raise_if_not_exists=False)
    assert r.version == 7 == lakehouse.DeltaTable(path).version  # one commit for both
    conf = deltalake.DeltaTable(path).metadata().configuration
    assert "delta.constraints.c" in conf and not {"delta.constraints.a", "delta.constraints.b"} & set(conf)
    entry = lakehouse.DeltaTable(path).history(1)[0]
    assert entry.operation == "DROP CONSTRAINT" and "v >= 0" in entry.operation_parameters["constraints"]
    assert dt.alter.drop_constraints(["a", "b"], raise_if_not_exists=False).version is None
    assert_same_rows(lh_read(path), ROWS)


def test_alter_set_table_name_and_description_as_deltalake(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.set_table_name("events").version == 6
    assert dt.alter.set_table_description("what happened").version == 7
    assert dt.alter.set_table_name("events").version is None  # already so: nothing committed
    meta = deltalake.DeltaTable(path).metadata()
    assert (meta.name, meta.description) == ("events", "what happened")
    assert (dt.metadata.name, dt.metadata.description) == ("events", "what happened")
    entry = dt.history(1)[0]
    assert entry.operation == "UPDATE TABLE METADATA"
    assert entry.operation_parameters == {"metadataUpdate": '{"name": null, "description": "what happened"}'}
    with pytest.raises(InvalidArgumentError, match="name must be a string"):
        dt.alter.set_table_name(3)  # type: ignore[arg-type]
    assert_same_rows(lh_read(path), ROWS)


def test_alter_add_feature_refuses_a_protocol_version_increase_unless_allowed(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    old = (dt.protocol.min_reader_version, dt.protocol.min_writer_version)
    assert old < (3, 7)
    before = snapshot_dir(path)
    with pytest.raises(InvalidArgumentError, match="allow_protocol_versions_increase"):
        dt.alter.add_feature("deletionVectors")
    assert snapshot_dir(path) == before
    # deltalake refuses the same call on the same table.
    with pytest.raises(Exception, match="allow_protocol_versions_increase"):
        deltalake.DeltaTable(path).alter.add_feature(deltalake.TableFeatures.DeletionVectors)
    assert snapshot_dir(path) == before
    assert dt.alter.add_feature("deletionVectors", allow_protocol_versions_increase=True).version == 6
    p = deltalake.DeltaTable(path).protocol()
    assert (p.min_reader_version, p.min_writer_version) == (3, 7) and "deletionVectors" in p.writer_features
    # Already supported: nothing to commit, and at (3, 7) a further feature raises no version.
    assert dt.alter.add_feature("deletionVectors").version is None
    assert dt.alter.add_feature("timestampNtz").version == 7
    assert_same_rows(dl_read(path), ROWS)


def test_alter_rename_and_drop_columns_under_column_mapping(tmp_path):
    path = _many_files(tmp_path, configuration={"delta.columnMapping.mode": "name"})
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.rename_column("v", "value").version == 6
    assert dt.alter.drop_columns(["value"]).version == 7
    want = [{"id": r["id"], "p": r["p"]} for r in ROWS]
    assert lakehouse.DeltaTable(path).schema.names == ["id", "p"]
    assert_same_rows(lh_read(path), want, "lakehouse after rename + drop")


def test_alter_set_column_metadata_merges_and_deltalake_reads_it(tmp_path):
    path = _many_files(tmp_path)
    dt = lakehouse.DeltaTable(path)
    assert dt.alter.set_column_metadata("v", {"comment": "tens"}).version == 6
    assert dt.alter.set_column_metadata("v", {"owner": "ops"}).version == 7
    field = next(f for f in lakehouse.DeltaTable(path).delta_schema.fields if f.name == "v")
    assert dict(field.metadata) == {"comment": "tens", "owner": "ops"}
    dl_field = next(f for f in deltalake.DeltaTable(path).schema().fields if f.name == "v")
    assert dl_field.metadata == {"comment": "tens", "owner": "ops"}
    assert actions_of(path, 7, "commitInfo")[0]["operation"] == "UPDATE FIELD METADATA"
    assert_same_rows(dl_read(path), ROWS)


@pytest.mark.parametrize("key,error", [
    ("delta.generationExpression", UnsupportedFeatureError),  # a feature lakehouse cannot write
    ("delta.identity.start", UnsupportedFeatureError),
    # CURRENT_DEFAULT is ALTER COLUMN SET DEFAULT now (tests/write/test_column_defaults.py)
    ("delta.columnMapping.id", InvalidArgumentError),  # owned by column mapping
    ("delta.columnMapping.physicalName", InvalidArgumentError),
    ("delta.invariants", InvalidArgumentError),  # would skip the check of existing rows
])
def test_alter_set_column_metadata_refuses_protocol_keys(tmp_path, key, error):
    path = _many_files(tmp_path)
    before = snapshot_dir(path)
    with pytest.raises(error, match=key.split(".")[-1]):
        lakehouse.DeltaTable(path).alter.set_column_metadata("v", {key: "1"})
    assert snapshot_dir(path) == before


def test_alter_set_column_metadata_names_a_missing_column(tmp_path):
    path = _many_files(tmp_path)
    with pytest.raises(InvalidArgumentError, match="'nope'"):
        lakehouse.DeltaTable(path).alter.set_column_metadata("nope", {"comment": "x"})


def test_alter_signatures_mirror_deltalake():
    dl = deltalake.table.TableAlterer
    ours = lakehouse.TableAlterer
    for name in ("add_columns", "add_constraint", "drop_constraint", "set_table_properties", "add_feature",
                 "set_column_metadata", "set_table_name", "set_table_description"):
        _assert_mirrors(getattr(ours, name), getattr(dl, name))


#: deltalake namespace methods lakehouse does not have (CHANGELOG.md lists them): dropping NOT NULL is not
#: supported yet.
NOT_MIRRORED = {"drop_column_not_null"}


def test_every_deltalake_namespace_method_exists_here():
    for ours, theirs in ((lakehouse.TableAlterer, deltalake.table.TableAlterer),
                         (lakehouse.TableOptimizer, deltalake.table.TableOptimizer)):
        wanted = {n for n, f in inspect.getmembers(theirs, inspect.isfunction) if not n.startswith("_")}
        have = {n for n, f in inspect.getmembers(ours, inspect.isfunction) if not n.startswith("_")}
        assert wanted - have == NOT_MIRRORED & wanted, (ours.__name__, sorted(wanted - have))


# -- merge ---------------------------------------------------------------------------------------------------
def test_merge_takes_predicate(tmp_path):
    path = _many_files(tmp_path)
    source = rows_table([{"id": 1, "v": -1, "p": "a"}, {"id": 100, "v": 1000, "p": "b"}])
    m = (lakehouse.DeltaTable(path).merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t")
         .when_matched_update_all().when_not_matched_insert_all().execute())
    assert isinstance(m, lakehouse.MergeMetrics) and m.version == 6
    want = [r for r in ROWS if r["id"] != 1] + [{"id": 1, "v": -1, "p": "a"}, {"id": 100, "v": 1000, "p": "b"}]
    assert_same_rows(lh_read(path), want, "lakehouse after merge")
    assert_same_rows(dl_read(path), want, "deltalake after merge")
    # The names deltalake users write, in deltalake's order (its engine knobs are not mirrored).
    mine, dl = _shared_names(lakehouse.DeltaTable.merge, deltalake.DeltaTable.merge)
    assert mine[:4] == dl[:4] == ["source", "predicate", "source_alias", "target_alias"]


def test_dask_merge_takes_predicate_too():
    ldd = pytest.importorskip("lakehouse.integrations.dask")
    assert list(inspect.signature(ldd.merge).parameters)[:3] == ["uri", "source", "predicate"]


# -- results -------------------------------------------------------------------------------------------------
def test_every_mutating_call_returns_a_typed_result_with_the_version(tmp_path):
    path = str(tmp_path / "t")
    conf = {"delta.enableDeletionVectors": "false"}
    results: list[tuple[Any, type]] = []
    results.append((lakehouse.write_delta(path, rows_table(ROWS[:6]), partition_by=["p"], configuration=conf),
                    lakehouse.CommitResult))
    results.append((lakehouse.write_delta(path, rows_table(ROWS[6:]), mode="append"), lakehouse.CommitResult))
    dt = lakehouse.DeltaTable(path)
    results.append((dt.delete("id = 0"), lakehouse.DeleteMetrics))
    results.append((dt.update(updates={"v": "v + 1"}, predicate="id = 1"), lakehouse.UpdateMetrics))
    results.append((dt.merge(rows_table([{"id": 2, "v": 0, "p": "b"}]), "t.id = s.id")
                    .when_matched_update_all().execute(), lakehouse.MergeMetrics))
    results.append((dt.optimize.compact(), lakehouse.OptimizeMetrics))
    results.append((dt.alter.set_table_properties({"custom.k": "v"}), lakehouse.AlterResult))
    results.append((dt.restore(1), lakehouse.RestoreMetrics))
    results.append((dt.vacuum(dry_run=False, retention_hours=0, enforce_retention_duration=False),
                    lakehouse.VacuumMetrics))
    versions = []
    for result, kind in results:
        assert isinstance(result, kind), (result, kind)
        assert repr(result).startswith(f"{kind.__name__}(") and "version=" in repr(result)
        versions.append(result.version)
    # Each is the commit it made: consecutive versions (VACUUM makes START and END; .version is END).
    assert versions == [0, 1, 2, 3, 4, 5, 6, 7, 9]
    assert lakehouse.DeltaTable(path).version == 9
    assert [h.operation for h in lakehouse.DeltaTable(path).history()][:2] == ["VACUUM END", "VACUUM START"]
    assert_same_rows(dl_read(path), ROWS, "restored to version 1, read by deltalake")
    assert lakehouse.DeltaTable(path).vacuum().version is None  # a dry run commits nothing
    assert repr(lakehouse.AlterResult(3)) == "AlterResult(version=3)"


def test_result_types_and_filter_like_are_exported():
    import typing

    for name in ("CommitResult", "DeleteMetrics", "UpdateMetrics", "MergeMetrics", "OptimizeMetrics",
                 "VacuumMetrics", "RestoreMetrics", "AlterResult"):
        kind = getattr(lakehouse, name)
        field_or_property = "version" in inspect.signature(kind).parameters or isinstance(
            getattr(kind, "version", None), property)  # VacuumMetrics: its END commit
        assert name in lakehouse.__all__ and field_or_property, name
    # FilterLike is a real alias: SQL text, a polars expression, DNF tuples (AND-ed, or OR-ed lists).
    args = typing.get_args(lakehouse.FilterLike)
    assert str in args and len(args) >= 4 and "FilterLike" in lakehouse.__all__


# -- no test plumbing in public signatures -------------------------------------------------------------------
def _public_callables() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for info in pkgutil.walk_packages(lakehouse.__path__, "lakehouse."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or "demo_table" in parts:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                found.append((f"{module.__name__}.{name}", obj))
            elif inspect.isclass(obj):
                found.extend((f"{module.__name__}.{name}.{k}", v) for k, v in vars(obj).items()
                             if inspect.isfunction(v) and (not k.startswith("_") or k == "__init__"))
    return found


def test_no_public_signature_has_a_private_parameter():
    callables = _public_callables()
    assert any(n.endswith("DeltaTable.delete") for n, _ in callables)  # the walk reaches the facade
    bad = [f"{name}({p})" for name, fn in callables for p in inspect.signature(fn).parameters if p.startswith("_")]
    assert not bad, f"private parameters in public signatures: {bad}"


def test_update_takes_deltalake_signature_updates_new_values_predicate(tmp_path):
    """`dt.update(updates=, new_values=, predicate=)` as deltalake: SQL in `updates`, Python literals in
    `new_values` (a string there is the string itself), and both engines read the same result."""
    import deltalake
    import pyarrow as pa

    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": ["a", "b", "c"],
                                          "v": pa.array([10, 20, 30], pa.int64())}))
    dt = lakehouse.DeltaTable(path)
    m = dt.update(updates={"v": "v * 2"}, new_values={"s": "upper(s)"}, predicate="id >= 2")
    assert m.num_updated_rows == 2 and m.version == 1
    want = [{"id": 1, "s": "a", "v": 10}, {"id": 2, "s": "upper(s)", "v": 40}, {"id": 3, "s": "upper(s)", "v": 60}]
    assert sorted(lakehouse.DeltaTable(path).to_arrow().to_pylist(), key=lambda r: r["id"]) == want
    assert sorted(deltalake.DeltaTable(path).to_pyarrow_table().to_pylist(), key=lambda r: r["id"]) == want
    with pytest.raises(lakehouse.errors.InvalidArgumentError, match="both updates= and new_values="):
        dt.update(updates={"v": "1"}, new_values={"v": 1})
    assert lakehouse.DeltaTable(path).version == 1


def test_deltalake_inspection_calls_partitions_get_add_actions_load_as_version_is_deltatable(tmp_path):
    """The deltalake calls a script moves over unchanged, checked against deltalake on the same table."""
    import deltalake
    import pyarrow as pa

    path = str(tmp_path / "t")
    lakehouse.write_delta(path, pa.table({"id": [1, 2, 3], "p": ["a", "b", None]}), partition_by=["p"])
    lakehouse.write_delta(path, pa.table({"id": [4], "p": ["a"]}), mode="append")
    dt, dl = lakehouse.DeltaTable(path), deltalake.DeltaTable(path)

    def key(d):
        return repr(sorted(d.items()))  # None and strings do not order; their reprs do

    assert sorted(map(key, dt.partitions())) == sorted(map(key, dl.partitions()))
    assert dt.partitions("p = 'a'") == [{"p": "a"}]

    mine, theirs = dt.get_add_actions(flatten=True), dl.get_add_actions(flatten=True)
    assert sorted(mine["path"].to_pylist()) == sorted(theirs.column("path").to_pylist())
    by_path = dict(zip(theirs.column("path").to_pylist(), theirs.column("num_records").to_pylist()))
    assert {p: n for p, n in zip(mine["path"].to_pylist(), mine["num_records"].to_pylist())} == by_path
    assert sorted(mine["partition.p"].to_pylist(), key=str) == sorted(theirs.column("partition.p").to_pylist(), key=str)
    assert "partition_values" in dt.get_add_actions().column_names

    assert lakehouse.DeltaTable.is_deltatable(path) and deltalake.DeltaTable.is_deltatable(path)
    assert not lakehouse.DeltaTable.is_deltatable(str(tmp_path / "missing"))
    (tmp_path / "empty" / "_delta_log").mkdir(parents=True)
    assert not lakehouse.DeltaTable.is_deltatable(str(tmp_path / "empty"))

    assert dt.load_as_version(0) is dt and dt.version == 0 and dt.to_arrow().num_rows == 3
    with pytest.raises(lakehouse.errors.LakehouseError):
        dt.delete("id = 1")  # a time-travelled object refuses writes until refresh()
    assert dt.refresh().version == 1 and dt.to_arrow().num_rows == 4
