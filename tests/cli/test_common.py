"""Pure pieces of the CLI, in process: the exit-code map, error lines, JSON encoding, option parsing."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import click
import pytest

from lakehouse import errors
from lakehouse.cli.common import (
    BAD_INPUT, FAILED, ISO_TIME, ByteSize, error_message, exit_code_for, jsonable, parse_assignments,
    storage_value,
)


@pytest.mark.parametrize("error, code", [
    (errors.TableNotFoundError("x"), BAD_INPUT),
    (errors.VersionNotFoundError("x"), BAD_INPUT),
    (errors.InvalidArgumentError("x"), BAD_INPUT),
    (errors.SchemaMismatchError("x"), BAD_INPUT),
    (errors.TableExistsError("x"), BAD_INPUT),
    (errors.ConstraintViolationError("x"), FAILED),
    (errors.ConcurrentAppendError("x"), FAILED),
    (errors.MaxCommitRetriesError("x"), FAILED),
    (errors.StorageError("x"), FAILED),
    (errors.DataFileNotFoundError("x"), FAILED),
    (errors.InvalidLogError("x"), FAILED),
    (errors.UnsupportedFeatureError("x"), FAILED),
    (RuntimeError("x"), FAILED),
])
def test_exit_code_per_error_family(error, code):
    assert exit_code_for(error) == code


def test_error_message_is_first_line_plus_help_line():
    e = errors.InvalidArgumentError("retention too short\nsome detail\nHelp: pass enforce_retention_duration=False.")
    assert error_message(e) == "error: retention too short\nHelp: pass --no-enforce-retention."
    assert error_message(errors.StorageError("disk gone\nmore")) == "error: disk gone"


def test_unexpected_errors_name_their_type():
    assert error_message(KeyError("k")).startswith("error: unexpected KeyError: 'k'")


def test_jsonable_encodes_every_value_kind():
    value = {"d": Decimal("1.50"), "t": datetime(2024, 1, 1, tzinfo=timezone.utc), "day": date(2024, 5, 1),
             "b": b"\x00\x01", "nan": float("nan"), "inf": float("-inf"), "nested": ({"x": 1},), 3: None}
    out = jsonable(value)
    assert out == {"d": "1.50", "t": "2024-01-01T00:00:00+00:00", "day": "2024-05-01", "b": "AAE=", "nan": "NaN",
                   "inf": "-Infinity", "nested": [{"x": 1}], "3": None}
    json.dumps(out, allow_nan=False)  # strict JSON


def test_storage_values_parse_json_structures_only():
    assert storage_value('{"endpoint_url": "http://x"}') == {"endpoint_url": "http://x"}
    assert storage_value("true") is True
    assert storage_value("0123") == "0123"  # a secret of digits stays a string
    with pytest.raises(click.BadParameter):
        storage_value("{not json")


def test_assignments_need_key_and_equals():
    assert parse_assignments(("a=1", "b==2", "c="), "--set") == [("a", "1"), ("b", "=2"), ("c", "")]
    for bad in ("novalue", "=x"):
        with pytest.raises(click.BadParameter):
            parse_assignments((bad,), "--set")


def test_byte_sizes_and_times():
    size = ByteSize()
    assert [size.convert(v, None, None) for v in ("1024", "128MiB", "1GB", "2k")] == [1024, 128 << 20, 10**9, 2000]
    with pytest.raises(click.BadParameter):
        size.convert("12QB", None, None)
    assert ISO_TIME.convert("2024-05-01T12:00:00", None, None) == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    with pytest.raises(click.BadParameter):
        ISO_TIME.convert("yesterday", None, None)
