"""Unit tests of `lakehouse.protocol.properties` (PROTOCOL.md "Table Properties")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lakehouse.errors import InvalidLogError, LakehouseError
from lakehouse.protocol.properties import TableProperties, parse_interval


@pytest.mark.parametrize(
    "text,expected",
    [
        ("interval 7 days", timedelta(days=7)),
        ("interval 1 day", timedelta(days=1)),
        ("INTERVAL 30 DAYS", timedelta(days=30)),
        ("30 days", timedelta(days=30)),
        ("168 hours", timedelta(hours=168)),
        ("interval 1 hour", timedelta(hours=1)),
        ("  interval   2   weeks  ", timedelta(weeks=2)),
        ("1 week", timedelta(weeks=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("interval 45 seconds", timedelta(seconds=45)),
        ("1500 milliseconds", timedelta(milliseconds=1500)),
        ("interval 10 microseconds", timedelta(microseconds=10)),
        ("0 days", timedelta(0)),
        ("interval 7 days 3 hours", timedelta(days=7, hours=3)),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "days",
        "interval",
        "interval seven days",
        "7 fortnights",
        "-7 days",
        "1.5 days",
        "7days later",
        "interval 99999999999 days",  # beyond what a duration can hold: still a bad value, not a crash
    ],
)
def test_bad_interval_is_invalid_log_error(text):
    with pytest.raises(LakehouseError) as exc_info:
        parse_interval(text, key="delta.logRetentionDuration")
    assert isinstance(exc_info.value, InvalidLogError)
    assert "delta.logRetentionDuration" in str(exc_info.value)


def test_defaults():
    p = TableProperties.parse({})
    assert p == TableProperties()
    assert p.column_mapping_mode == "none"
    assert p.log_retention == timedelta(days=30)
    assert p.deleted_file_retention == timedelta(days=7)
    assert p.checkpoint_interval == 100
    assert p.data_skipping_num_indexed_cols == 32
    assert p.checkpoint_policy == "classic"


def test_parse_all_supported_properties():
    p = TableProperties.parse(
        {
            "delta.columnMapping.mode": "Name",
            "delta.enableDeletionVectors": "true",
            "delta.enableChangeDataFeed": "TRUE",
            "delta.enableInCommitTimestamps": " false ",
            "delta.inCommitTimestampEnablementVersion": "5",
            "delta.inCommitTimestampEnablementTimestamp": "1700000000000",
            "delta.appendOnly": "true",
            "delta.checkpointInterval": "10",
            "delta.logRetentionDuration": "interval 60 days",
            "delta.deletedFileRetentionDuration": "168 hours",
            "delta.dataSkippingNumIndexedCols": "-1",
            "delta.dataSkippingStatsColumns": "a, b.c ,,d",
            "delta.checkpointPolicy": "v2",
            "some.other.property": "whatever",
            "delta.unknownFutureProperty": None,
        }
    )
    assert p.column_mapping_mode == "name"
    assert p.enable_deletion_vectors and p.enable_change_data_feed and not p.enable_in_commit_timestamps
    assert p.in_commit_timestamp_enablement_version == 5
    assert p.in_commit_timestamp_enablement_timestamp == 1700000000000
    assert p.append_only and p.checkpoint_interval == 10
    assert p.log_retention == timedelta(days=60)
    assert p.deleted_file_retention == timedelta(hours=168)
    assert p.data_skipping_num_indexed_cols == -1
    assert p.data_skipping_stats_columns == ("a", "b.c", "d")
    assert p.checkpoint_policy == "v2"


@pytest.mark.parametrize(
    "key,value",
    [
        ("delta.columnMapping.mode", "physical"),
        ("delta.checkpointPolicy", "v3"),
        ("delta.enableDeletionVectors", "yes"),
        ("delta.appendOnly", "1"),
        ("delta.checkpointInterval", "ten"),
        ("delta.dataSkippingNumIndexedCols", "3.5"),
        ("delta.inCommitTimestampEnablementVersion", ""),
        ("delta.logRetentionDuration", "forever"),
        ("delta.deletedFileRetentionDuration", "7"),
    ],
)
def test_bad_property_values_are_invalid_log_error(key, value):
    with pytest.raises(InvalidLogError) as exc_info:
        TableProperties.parse({key: value})
    assert key in str(exc_info.value)


# -- validation of newly set properties (create, write_delta(configuration=), set_properties) -------------------
from lakehouse.errors import InvalidArgumentError, UnsupportedFeatureError  # noqa: E402
from lakehouse.protocol.properties import (  # noqa: E402
    PROPERTIES, format_duration, lookup, parse_interval_value, validate_new_properties,
)


@pytest.mark.parametrize("typo,meant", [
    ("delta.enableDeletionVector", "delta.enableDeletionVectors"),
    ("delta.appendOnyl", "delta.appendOnly"),
    ("delta.logRetentionDurations", "delta.logRetentionDuration"),
    ("delta.checkpointIntervall", "delta.checkpointInterval"),
])
def test_unknown_key_is_refused_with_did_you_mean(typo, meant):
    with pytest.raises(InvalidArgumentError) as e:
        validate_new_properties({typo: "true"})
    first, help_line = str(e.value).splitlines()
    assert typo in first
    assert help_line == f"Help: did you mean '{meant}'?"


def test_unknown_key_without_a_close_match_points_to_the_list():
    with pytest.raises(InvalidArgumentError, match="delta.zzzzzz") as e:
        validate_new_properties({"delta.zzzzzz": "1"})
    assert "Help:" in str(e.value) and "free-form" in str(e.value)


@pytest.mark.parametrize("key,value,expected", [
    ("delta.appendOnly", "maybe", "'true' or 'false'"),
    ("delta.enableDeletionVectors", "yes", "'true' or 'false'"),
    ("delta.checkpointInterval", "-3", "positive integer"),
    ("delta.checkpointInterval", "0", "positive integer"),
    ("delta.checkpointInterval", "5_000", "positive integer"),
    ("delta.deletedFileRetentionDuration", "forever", "interval"),
    ("delta.logRetentionDuration", "1 month", "months or years"),
    ("delta.logRetentionDuration", "2 years", "months or years"),
    ("delta.logRetentionDuration", "1.5 days", "fraction"),
    ("delta.logRetentionDuration", "-1 days", "negative"),
    ("delta.columnMapping.mode", "nmae", "did you mean 'name'"),
    ("delta.checkpointPolicy", "v3", "classic, v2"),
    ("delta.isolationLevel", "SnapshotIsolation", "Serializable, WriteSerializable"),
    ("delta.dataSkippingNumIndexedCols", "-2", ">= -1"),
    ("delta.targetFileSize", "-3", "positive size"),
    ("delta.universalFormat.enabledFormats", "delta", "iceberg, hudi"),
    ("delta.dataSkippingStatsColumns", "a,`b", "column names"),
    ("delta.minWriterVersion", "8", "writer version"),
    ("delta.autoOptimize.autoCompact", "sometimes", "true, false"),
])
def test_invalid_values_are_refused(key, value, expected):
    with pytest.raises(InvalidArgumentError) as e:
        validate_new_properties({key: value})
    assert key in str(e.value) and repr(value) in str(e.value) and expected in str(e.value)


@pytest.mark.parametrize("key,value", [
    ("delta.enableIcebergCompatV1", "true"),
    ("delta.enableIcebergCompatV2", "true"),
    ("delta.enableIcebergWriterCompatV1", "true"),
    ("delta.universalFormat.enabledFormats", "iceberg"),
    ("delta.coordinatedCommits.commitCoordinator-preview", "dynamodb"),
])
def test_properties_of_features_lakehouse_cannot_write_are_refused(key, value):
    with pytest.raises(UnsupportedFeatureError) as e:
        validate_new_properties({key: value})
    assert key in str(e.value) and e.value.feature and e.value.feature in str(e.value)


@pytest.mark.parametrize("key,value", [
    ("delta.enableIcebergCompatV2", "false"),
    ("delta.universalFormat.enabledFormats", ""),
])
def test_disabling_values_of_unwritable_features_are_fine(key, value):
    assert validate_new_properties({key: value}) == {key: value}


@pytest.mark.parametrize("key", ["delta.columnMapping.maxColumnId", "delta.rowTracking.materializedRowIdColumnName",
                                 "delta.rowTracking.materializedRowCommitVersionColumnName"])
def test_engine_maintained_keys_cannot_be_set(key):
    with pytest.raises(InvalidArgumentError, match=f"{key}.*cannot be set"):
        validate_new_properties({key: "7"})


@pytest.mark.parametrize("value", ["true", "TRUE", "false"])
def test_row_tracking_can_be_switched(value):
    assert validate_new_properties({"delta.enableRowTracking": value}) == {"delta.enableRowTracking": value}
    assert TableProperties.parse({"delta.enableRowTracking": value}).enable_row_tracking is (value.lower() == "true")


def test_keys_are_normalised_and_values_stored_as_text():
    out = validate_new_properties({"DELTA.APPENDONLY": True, "delta.checkpointinterval": 5, "Owner": "alice",
                                   "delta.feature.deletionVectors": "supported", "delta.constraints.c": "x > 0",
                                   "delta.universalFormat.config.iceberg.anything": "x"})
    assert out == {"delta.appendOnly": "true", "delta.checkpointInterval": "5", "Owner": "alice",
                   "delta.feature.deletionVectors": "supported", "delta.constraints.c": "x > 0",
                   "delta.universalFormat.config.iceberg.anything": "x"}


def test_the_same_key_twice_is_refused():
    with pytest.raises(InvalidArgumentError, match="twice"):
        validate_new_properties({"delta.appendOnly": "true", "delta.appendonly": "false"})


def test_non_delta_keys_are_free_form():
    assert validate_new_properties({"owner": "x", "spark.whatever": "maybe", "deltaLike": "-3"}) == {
        "owner": "x", "spark.whatever": "maybe", "deltaLike": "-3"}


def test_a_key_the_table_already_carries_is_never_refused():
    existing = {"delta.someDatabricksOnlyKey": "1"}
    assert validate_new_properties({"delta.someDatabricksOnlyKey": "2"}, existing=existing) == {
        "delta.someDatabricksOnlyKey": "2"}
    # and reading never refuses a key
    assert TableProperties.parse({"delta.someDatabricksOnlyKey": "x", "delta.enableIcebergCompatV2": "true"}) == TableProperties()


def test_log_retention_must_cover_deleted_file_retention():
    with pytest.raises(InvalidArgumentError, match="delta.logRetentionDuration"):
        validate_new_properties({"delta.logRetentionDuration": "1 day"})
    with pytest.raises(InvalidArgumentError, match="7 days"):
        validate_new_properties({"delta.deletedFileRetentionDuration": "10 days"},
                                existing={"delta.logRetentionDuration": "7 days"})
    assert validate_new_properties({"delta.logRetentionDuration": "1 day", "delta.deletedFileRetentionDuration": "1 day"})


def test_registry_holds_delta_on_spark_keys():
    # A sample of DeltaConfigs (delta-io/delta) and delta-kernel TableConfig keys, and Databricks' targetFileSize.
    for key in ("delta.appendOnly", "delta.autoOptimize.optimizeWrite", "delta.autoOptimize.autoCompact",
                "delta.checkpoint.writeStatsAsJson", "delta.checkpoint.writeStatsAsStruct",
                "delta.checkpointRetentionDuration", "delta.compatibility.symlinkFormatManifest.enabled",
                "delta.dataSkippingStringPrefixLength", "delta.enableExpiredLogCleanup", "delta.enableTypeWidening",
                "delta.isolationLevel", "delta.randomPrefixLength", "delta.setTransactionRetentionDuration",
                "delta.targetFileSize", "delta.parquet.compression.codec", "delta.enableIcebergCompatV3"):
        assert key in PROPERTIES and lookup(key.upper()) is PROPERTIES[key]


@pytest.mark.parametrize("text,expected", [
    ("interval 1 week 2 days", timedelta(days=9)),
    ("1 day -1 hour", timedelta(hours=23)),
    ("1.5 seconds", timedelta(seconds=1.5)),
    ("+2 hours", timedelta(hours=2)),
    ("interval 7 DAYS", timedelta(days=7)),
])
def test_spark_interval_syntax(text, expected):
    assert parse_interval_value(text) == expected


@pytest.mark.parametrize("value,text", [
    (timedelta(days=7), "7 days"),
    (timedelta(days=1), "1 day"),
    (timedelta(hours=36), "1 day 12 hours"),
    (timedelta(minutes=90), "1 hour 30 minutes"),
    (timedelta(0), "0 seconds"),
    (timedelta(hours=-2), "-2 hours"),
])
def test_format_duration(value, text):
    assert format_duration(value) == text
    if value >= timedelta(0):
        assert parse_interval_value(text) == value


def test_target_file_size_with_units_and_legacy_cdf_key():
    p = TableProperties.parse({"delta.targetFileSize": "128mb", "delta.enableChangeDataCapture": "true",
                               "delta.isolationLevel": "serializable"})
    assert p.target_file_size == 128 * 2**20 and p.enable_change_data_feed and p.isolation_level == "Serializable"


def test_retention_check_tolerates_a_foreign_value_it_cannot_parse():
    existing = {"delta.logRetentionDuration": "interval 1 month"}  # refused if set here, but another engine wrote it
    assert validate_new_properties({"delta.deletedFileRetentionDuration": "1 day"}, existing=existing) == {
        "delta.deletedFileRetentionDuration": "1 day"}
