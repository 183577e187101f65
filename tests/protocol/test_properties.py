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
