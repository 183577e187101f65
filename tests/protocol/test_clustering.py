"""Pure rules of liquid clustering (`lakehouse.protocol.clustering`, PROTOCOL.md "Clustered Table"): the
domain's JSON shape (physical names, both list shapes read), column validation (exists, top-level,
statistics, not partitioned), the commit gate, and which files an incremental run rewrites."""

from __future__ import annotations

import json

import pytest

from lakehouse.errors import InvalidArgumentError, InvalidLogError, SchemaMismatchError, UnsupportedFeatureError
from lakehouse.protocol.actions import Add, DeletionVectorDescriptor, DomainMetadata, Metadata, Protocol
from lakehouse.protocol.clustering import (
    DOMAIN, PROVIDER, check_table, clustering_columns, domain_for, is_clustered, needs_clustering, parse_domain,
    validate_columns, zcube_key,
)
from lakehouse.protocol.features import FEATURES, check_writable

CLUSTERED = Protocol(1, 7, None, ("clustering", "domainMetadata"))
PLAIN = Protocol(1, 2)


def schema(*fields: tuple[str, str], mapped: bool = False) -> str:
    out = []
    for i, (name, kind) in enumerate(fields, 1):
        meta = {"delta.columnMapping.id": i, "delta.columnMapping.physicalName": f"col-{name}"} if mapped else {}
        out.append({"name": name, "type": kind, "nullable": True, "metadata": meta})
    return json.dumps({"type": "struct", "fields": out})


def metadata(*fields: tuple[str, str], config: dict | None = None, parts: tuple[str, ...] = (),
             mapped: bool = False) -> Metadata:
    conf = dict(config or {})
    if mapped:
        conf["delta.columnMapping.mode"] = "name"
    return Metadata("t", schema(*fields, mapped=mapped), parts, conf)


META = metadata(("id", "long"), ("s", "string"))


def test_domain_records_physical_names_as_paths_and_reads_back() -> None:
    dm = domain_for(["s", "id"], META, CLUSTERED)
    assert dm.domain == DOMAIN and not dm.removed
    assert json.loads(dm.configuration)["clusteringColumns"] == [["s"], ["id"]]
    assert clustering_columns(CLUSTERED, META, {DOMAIN: dm}) == ("s", "id")


def test_column_mapping_uses_physical_names() -> None:
    mapped_proto = Protocol(2, 7, None, ("clustering", "columnMapping", "domainMetadata"))
    meta = metadata(("id", "long"), ("s", "string"), mapped=True)
    dm = domain_for(["s"], meta, mapped_proto)
    assert json.loads(dm.configuration)["clusteringColumns"] == [["col-s"]]
    assert clustering_columns(mapped_proto, meta, {DOMAIN: dm}) == ("s",)


def test_protocol_md_string_shape_is_read_too() -> None:
    # PROTOCOL.md's example lists plain strings; Spark and delta-kernel write lists of names.
    assert parse_domain('{"clusteringColumns": ["a", "b"]}') == [("a",), ("b",)]
    assert parse_domain('{"clusteringColumns": [["a"], ["n", "x"]]}') == [("a",), ("n", "x")]
    with pytest.raises(InvalidLogError, match="malformed"):
        parse_domain('{"columns": []}')
    with pytest.raises(InvalidLogError, match="not a name path"):
        parse_domain('{"clusteringColumns": [[1]]}')


def test_not_clustered_none_and_clustered_by_nothing_empty() -> None:
    assert clustering_columns(PLAIN, META, {}) is None
    assert clustering_columns(CLUSTERED, META, {}) == ()
    empty = DomainMetadata(DOMAIN, '{"clusteringColumns":[]}', False)
    assert clustering_columns(CLUSTERED, META, {DOMAIN: empty}) == ()
    assert is_clustered(CLUSTERED) and not is_clustered(PLAIN)


def test_unknown_physical_column_is_an_invalid_log() -> None:
    bad = DomainMetadata(DOMAIN, '{"clusteringColumns":[["gone"]]}', False)
    with pytest.raises(InvalidLogError, match="gone"):
        clustering_columns(CLUSTERED, META, {DOMAIN: bad})


@pytest.mark.parametrize("cols, error, words", [
    (["nope"], SchemaMismatchError, "'nope' is not a top-level column"),
    (["id", "id"], InvalidArgumentError, "twice"),
    (["id", "s", "id2", "x", "y"], InvalidArgumentError, "at most 4"),
    ("id", InvalidArgumentError, "list of column names"),
])
def test_bad_columns_are_refused(cols, error, words) -> None:
    with pytest.raises(error, match=words):
        validate_columns(cols, META, CLUSTERED)


def test_types_without_statistics_are_refused() -> None:
    meta = metadata(("id", "long"), ("b", "boolean"), ("bin", "binary"))
    for col, kind in (("b", "boolean"), ("bin", "binary")):
        with pytest.raises(SchemaMismatchError, match=f"type {kind}"):
            validate_columns([col], meta, CLUSTERED)
    meta = Metadata("t", json.dumps({"type": "struct", "fields": [
        {"name": "n", "type": {"type": "struct", "fields": []}, "nullable": True, "metadata": {}}]}))
    with pytest.raises(SchemaMismatchError, match="StructType"):
        validate_columns(["n"], meta, CLUSTERED)


def test_columns_must_collect_statistics() -> None:
    few = metadata(("id", "long"), ("s", "string"), config={"delta.dataSkippingNumIndexedCols": "1"})
    assert validate_columns(["id"], few, CLUSTERED) == ("id",)
    with pytest.raises(InvalidArgumentError, match="'s' collects no statistics"):
        validate_columns(["s"], few, CLUSTERED)
    listed = metadata(("id", "long"), ("s", "string"), config={"delta.dataSkippingStatsColumns": "s"})
    assert validate_columns(["s"], listed, CLUSTERED) == ("s",)
    with pytest.raises(InvalidArgumentError, match="'id' collects no statistics"):
        validate_columns(["id"], listed, CLUSTERED)


def test_partitioned_and_clustered_together_is_refused() -> None:
    parted = metadata(("id", "long"), ("p", "string"), parts=("p",))
    with pytest.raises(InvalidArgumentError, match="both partitioned"):
        validate_columns(["id"], parted, CLUSTERED)
    with pytest.raises(UnsupportedFeatureError, match="cannot also be partitioned"):
        check_table(CLUSTERED, parted, {})
    check_table(PLAIN, parted, {})  # an unclustered table may be partitioned


def test_commit_gate_refuses_losing_statistics_or_a_column() -> None:
    dm = domain_for(["s"], META, CLUSTERED)
    check_table(CLUSTERED, META, {DOMAIN: dm})
    narrowed = metadata(("id", "long"), ("s", "string"), config={"delta.dataSkippingNumIndexedCols": "1"})
    with pytest.raises(InvalidArgumentError, match="no statistics"):
        check_table(CLUSTERED, narrowed, {DOMAIN: dm})
    dropped = metadata(("id", "long"))
    with pytest.raises(SchemaMismatchError, match="dt.alter.cluster_by"):
        check_table(CLUSTERED, dropped, {DOMAIN: dm})


def _add(provider: str | None, tags: dict | None = None, dv: bool = False) -> Add:
    desc = DeletionVectorDescriptor("i", "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 40, 1) if dv else None
    return Add("f.parquet", {}, 1, 0, False, tags=tags, deletion_vector=desc, clustering_provider=provider)


def test_which_files_an_incremental_run_rewrites() -> None:
    cols = ("x", "y")
    ours = {"ZCUBE_ZORDER_BY": zcube_key(cols)}
    assert needs_clustering(_add(None), cols)  # unclustered
    assert not needs_clustering(_add(PROVIDER, ours), cols)  # clustered by these columns
    assert needs_clustering(_add(PROVIDER, {"ZCUBE_ZORDER_BY": zcube_key(("x",))}), cols)  # other columns
    assert needs_clustering(_add(PROVIDER, ours, dv=True), cols)  # rows deleted since
    # another implementation's files are left alone (PROTOCOL.md: only unclustered files and our own)
    assert not needs_clustering(_add("hilbert-v2", None), cols)


def test_registry_writes_clustering_and_refuses_the_liquid_preview_name() -> None:
    assert FEATURES["clustering"].writable
    proto = Protocol(3, 7, ("deletionVectors",), ("domainMetadata", "deletionVectors", "liquid"))
    with pytest.raises(UnsupportedFeatureError, match="'liquid'.*preview") as e:
        check_writable(proto, frozenset({"liquid", "domainMetadata", "deletionVectors"}))
    assert e.value.feature == "liquid"


def test_clustering_brings_domain_metadata_into_any_protocol() -> None:
    from lakehouse.protocol.features import minimal_protocol, upgraded_protocol

    assert minimal_protocol(frozenset({"clustering"})) == Protocol(1, 7, None, ("clustering", "domainMetadata"))
    up = upgraded_protocol(Protocol(1, 2), frozenset({"clustering"}))
    assert up is not None and {"clustering", "domainMetadata"} <= set(up.writer_features or ())
    assert upgraded_protocol(CLUSTERED, frozenset({"clustering"})) is None
