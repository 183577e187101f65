"""The `delta.*` table properties: the one registry of known keys with a parser per key, the typed view
`TableProperties` of the ones `lakehouse` acts on, and the validation of properties a caller sets
(PROTOCOL.md "Table Properties" and the per-feature sections; the key list and value rules follow
Delta on Spark's `DeltaConfigs` and delta-kernel's `TableConfig`).

Two directions, two rules:

- Reading (`TableProperties.parse`) never refuses a key: a table written by Spark or Databricks may carry
  keys `lakehouse` does not know or act on. A malformed value of a property that does not change how
  rows are read falls back to its default on the read path.
- Setting (`validate_new_properties`, used by create, `write_delta(configuration=)` and
  `alter.set_table_properties`) refuses an unknown `delta.*` key (with a "did you mean"), a malformed value, a key
  the engine maintains itself, and a value that turns on a table feature `lakehouse` cannot write yet
  (recording it without the feature would be a lie to every other engine). Keys without the `delta.`
  prefix stay free-form.

Pure logic: no I/O.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Literal, Mapping, TypeVar

from lakehouse.errors import InvalidArgumentError, InvalidLogError, UnsupportedFeatureError

T = TypeVar("T")

FEATURE_PREFIX = "delta.feature."
CONSTRAINT_PREFIX = "delta.constraints."
#: Keys under these prefixes are free-form (Spark accepts any UniForm converter setting).
FREE_PREFIXES = ("delta.universalformat.config.",)
#: Protocol requests spelled as properties: they raise the protocol and are never stored (as in Spark).
PROTOCOL_KEYS = ("delta.minReaderVersion", "delta.minWriterVersion")


# -- value parsers: text -> typed value, or ValueError saying what the value must be ----------------------
def parse_bool(text: str) -> bool:
    """'true' or 'false', case-insensitive (Spark's `toBoolean`)."""
    v = text.strip().lower()
    if v not in ("true", "false"):
        raise ValueError("must be 'true' or 'false'")
    return v == "true"


_INT = re.compile(r"^[+-]?\d+$")


def _integer(minimum: int | None, maximum: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        v = text.strip()
        if not _INT.match(v):
            raise ValueError(f"must be {what}")
        n = int(v)
        if (minimum is not None and n < minimum) or n > maximum:
            raise ValueError(f"must be {what}")
        return n

    return parse


_INT32, _INT64 = 2**31 - 1, 2**63 - 1
_positive_int = _integer(1, _INT32, "a positive integer")
_long = _integer(-(2**63), _INT64, "an integer")
_non_negative_long = _integer(0, _INT64, "an integer >= 0")

# Spark's CalendarInterval string syntax (IntervalUtils.stringToInterval, as Delta's parseCalendarInterval
# uses it): an optional "interval" prefix, then one or more "[+-]N unit[s]"; only seconds take a fraction.
_INTERVAL_TOKEN = r"([+-]?)\s*(\d+(?:\.\d{0,9})?|\.\d{1,9})\s+([a-z]+)"
_INTERVAL = re.compile(rf"^(?:interval\s+)?({_INTERVAL_TOKEN}(?:\s+{_INTERVAL_TOKEN})*)$")
_TOKEN = re.compile(_INTERVAL_TOKEN)
_UNIT_MICROS = {
    "week": 7 * 86_400_000_000, "day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000,
    "second": 1_000_000, "millisecond": 1_000, "microsecond": 1,
}
_INTERVAL_RULE = ("must be an interval such as 'interval 7 days' or '168 hours' (units: weeks, days, hours, "
                  "minutes, seconds, milliseconds, microseconds; not months or years)")


def parse_interval_value(text: str) -> timedelta:
    """A non-negative Spark interval string ("interval 7 days", "7 days", "1 week 12 hours", "1.5 seconds")
    as a duration; months and years are refused, as Delta refuses them (their length varies)."""
    m = _INTERVAL.match(text.strip().lower())
    if not m:
        raise ValueError(_INTERVAL_RULE)
    days = micros = 0
    for sign, number, unit in _TOKEN.findall(m.group(1)):
        base = unit[:-1] if unit.endswith("s") and unit[:-1] in _UNIT_MICROS else unit
        if base.rstrip("s") in ("year", "month"):
            raise ValueError("cannot use months or years (their length varies); give days, e.g. '365 days'")
        if base not in _UNIT_MICROS:
            raise ValueError(_INTERVAL_RULE)
        whole, _, frac = number.partition(".")
        if frac and base != "second":
            raise ValueError(f"cannot give {base}s with a fraction (only seconds take one)")
        n = int(whole or 0) * (-1 if sign == "-" else 1)
        if base in ("week", "day"):
            days += n * (7 if base == "week" else 1)
        else:
            micros += n * _UNIT_MICROS[base] + (-1 if sign == "-" else 1) * int((frac + "000000")[:6] or 0)
    if abs(days) > _INT32 or abs(micros) > _INT64:
        raise ValueError("is too large an interval")
    total = days * 86_400_000_000 + micros
    if total < 0:
        raise ValueError("must not be negative")
    try:
        return timedelta(microseconds=total)
    except OverflowError:
        raise ValueError("is too large an interval") from None


def parse_interval(text: str, *, key: str = "") -> timedelta:
    """Parse a Delta interval property value; `InvalidLogError` naming ``key`` when it is malformed."""
    try:
        return parse_interval_value(text)
    except ValueError as e:
        raise InvalidLogError(f"table property {key or 'interval'}={text!r} {e}") from None


def format_duration(value: timedelta) -> str:
    """A duration as a person writes it and Delta parses it back: "7 days", "36 hours", "1 day 2 hours",
    "90 minutes", "0 seconds"."""
    micros = value // timedelta(microseconds=1)
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    parts = []
    for unit, size in (("day", 86_400_000_000), ("hour", 3_600_000_000), ("minute", 60_000_000),
                       ("second", 1_000_000), ("millisecond", 1_000), ("microsecond", 1)):
        n, micros = divmod(micros, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return sign + (" ".join(parts) if parts else "0 seconds")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        v = text.strip()
        for a in allowed:
            if v.lower() == a.lower():
                return a
        hint = difflib.get_close_matches(v.lower(), [a.lower() for a in allowed], n=1, cutoff=0.5)
        suggestion = f" (did you mean '{next(a for a in allowed if a.lower() == hint[0])}'?)" if hint else ""
        raise ValueError(f"must be one of {', '.join(allowed)}{suggestion}")

    return parse


_SIZE = re.compile(r"^(\d+)\s*(b|k|kb|m|mb|g|gb|t|tb)?$")
_SIZE_UNITS = {None: 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
               "t": 2**40, "tb": 2**40}


def parse_size(text: str) -> int:
    """A positive byte size: bytes ("134217728") or with a unit as Databricks writes it ("128mb", "1gb")."""
    m = _SIZE.match(text.strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise ValueError("must be a positive size in bytes, such as 134217728 or '128mb'")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


_IDENT = r"(?:`(?:[^`]|``)+`|[^`,.\s]+)"
_COLUMN = re.compile(rf"^{_IDENT}(?:\.{_IDENT})*$")


def parse_stats_columns(text: str) -> tuple[str, ...]:
    """`delta.dataSkippingStatsColumns`: comma-separated column names (nested with dots, special characters
    in backticks)."""
    cols = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cols if not _COLUMN.match(c)]
    if bad:
        raise ValueError(f"must be a comma-separated list of column names; {bad[0]!r} is not one "
                         "(quote names with special characters in backticks)")
    return cols


def _formats(text: str) -> tuple[str, ...]:
    items = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    if len(set(items)) != len(items) or not set(items) <= {"iceberg", "hudi"}:
        raise ValueError("must be a comma-separated list of formats from iceberg, hudi")
    return items


def _semver(text: str) -> str:
    if not re.match(r"^\d+\.\d+\.\d+$", text.strip()):
        raise ValueError("must be a Parquet format version such as 1.0.0 or 2.12.0")
    return text.strip()


def _any_text(text: str) -> str:
    return text


# -- the registry --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One known `delta.*` property: its canonical key, its parser, and what setting it means here.

    ``internal`` says why a user may not set it (the engine maintains it). ``feature`` names the table
    feature that an enabling value (``enables(parsed)``) needs when `lakehouse` cannot write that feature
    yet; such a value is refused when newly set. ``acts`` says whether `lakehouse` honours the property
    (the others are kept and passed on for engines that do).
    """

    key: str
    parse: Callable[[str], Any]
    acts: bool = False
    internal: str | None = None
    feature: str | None = None
    enables: Callable[[Any], bool] = bool


def _spec(key: str, parse: Callable[[str], Any], **kw: Any) -> PropertySpec:
    return PropertySpec("delta." + key, parse, **kw)


_ENGINE = "set by the engine that enables the feature"

PROPERTIES: dict[str, PropertySpec] = {
    s.key: s
    for s in (
        # what lakehouse acts on
        _spec("appendOnly", parse_bool, acts=True),
        _spec("enableDeletionVectors", parse_bool, acts=True),
        _spec("enableChangeDataFeed", parse_bool, acts=True),
        _spec("enableChangeDataCapture", parse_bool, acts=True),  # Spark's older name of enableChangeDataFeed
        _spec("enableInCommitTimestamps", parse_bool, acts=True),
        _spec("inCommitTimestampEnablementVersion", _non_negative_long, acts=True),
        _spec("inCommitTimestampEnablementTimestamp", _long, acts=True),
        _spec("enableTypeWidening", parse_bool, acts=True),
        _spec("columnMapping.mode", _choice("none", "id", "name"), acts=True),
        _spec("columnMapping.maxColumnId", _non_negative_long, acts=True,
              internal="the highest column id in use, maintained by column mapping"),
        _spec("checkpointInterval", _positive_int, acts=True),
        _spec("checkpointPolicy", _choice("classic", "v2"), acts=True),
        _spec("logRetentionDuration", parse_interval_value, acts=True),
        _spec("deletedFileRetentionDuration", parse_interval_value, acts=True),
        _spec("dataSkippingNumIndexedCols", _integer(-1, _INT32, "an integer >= -1 (-1 means every column)"),
              acts=True),
        _spec("dataSkippingStatsColumns", parse_stats_columns, acts=True),
        _spec("targetFileSize", parse_size, acts=True),
        _spec("isolationLevel", _choice("Serializable", "WriteSerializable"), acts=True),
        _spec("enableRowTracking", parse_bool, acts=True),
        _spec("rowTracking.materializedRowIdColumnName", _any_text, acts=True,
              internal="named by the engine when row tracking is enabled"),
        _spec("rowTracking.materializedRowCommitVersionColumnName", _any_text, acts=True,
              internal="named by the engine when row tracking is enabled"),
        _spec("minReaderVersion", _integer(1, 3, "a reader version from 1 to 3"), acts=True),
        _spec("minWriterVersion", _integer(1, 7, "a writer version from 1 to 7"), acts=True),
        # kept for engines that act on them (Spark, Databricks, delta-rs, delta-kernel)
        _spec("enableExpiredLogCleanup", parse_bool),
        _spec("enableFullRetentionRollback", parse_bool),
        _spec("sampleRetentionDuration", parse_interval_value),
        _spec("checkpointRetentionDuration", parse_interval_value),
        _spec("setTransactionRetentionDuration", parse_interval_value),
        _spec("dropFeatureTruncateHistory.retentionDuration", parse_interval_value),
        _spec("randomizeFilePrefixes", parse_bool),
        _spec("randomPrefixLength", _positive_int),
        _spec("dataSkippingStringPrefixLength", _integer(0, _INT32, "an integer >= 0")),
        _spec("checkpoint.writeStatsAsJson", parse_bool, acts=True),
        _spec("checkpoint.writeStatsAsStruct", parse_bool, acts=True),
        _spec("compatibility.symlinkFormatManifest.enabled", parse_bool),
        _spec("autoOptimize", parse_bool),
        _spec("autoOptimize.optimizeWrite", parse_bool),
        _spec("autoOptimize.autoCompact", _choice("true", "false", "auto", "legacy")),
        _spec("tuneFileSizesForRewrites", parse_bool),
        _spec("ignoreProtocolDefaults", parse_bool),
        _spec("parquet.format.version", _semver),
        _spec("parquet.compression.codec", _choice("uncompressed", "none", "snappy", "gzip", "lz4", "lz4_raw", "zstd")),
        _spec("writePartitionColumnsToParquet", parse_bool),
        _spec("castIcebergTimeType", parse_bool),
        _spec("ignoreIcebergBucketPartition", parse_bool),
        _spec("universalFormat.iceberg.atomicConversion.supported", parse_bool),
        _spec("rowTrackingSuspended", parse_bool, acts=True),
        _spec("requireCheckpointProtectionBeforeVersion", _non_negative_long,
              internal="maintained by DROP FEATURE (checkpointProtection)"),
        # features lakehouse cannot write yet: an enabling value is refused
        _spec("enableIcebergCompatV1", parse_bool, feature="icebergCompatV1"),
        _spec("enableIcebergCompatV2", parse_bool, feature="icebergCompatV2"),
        _spec("enableIcebergCompatV3", parse_bool, feature="icebergCompatV3"),
        _spec("enableIcebergWriterCompatV1", parse_bool, feature="icebergWriterCompatV1"),
        _spec("enableIcebergWriterCompatV3", parse_bool, feature="icebergWriterCompatV3"),
        _spec("universalFormat.enabledFormats", _formats, feature="icebergCompatV2 (UniForm)"),
        _spec("enableVariantShredding", parse_bool, feature="variantShredding-preview"),
        _spec("enableMaterializePartitionColumnsFeature", parse_bool, feature="materializePartitionColumns"),
        _spec("redirectReaderWriter-preview", _any_text, feature="redirectReaderWriter-preview", enables=lambda v: True),
        _spec("redirectWriterOnly-preview", _any_text, feature="redirectWriterOnly-preview", enables=lambda v: True),
        _spec("coordinatedCommits.commitCoordinator-preview", _any_text, feature="coordinatedCommits-preview",
              enables=lambda v: True),
        _spec("coordinatedCommits.commitCoordinatorConf-preview", _any_text, feature="coordinatedCommits-preview",
              enables=lambda v: True),
        _spec("coordinatedCommits.tableConf-preview", _any_text, feature="coordinatedCommits-preview",
              enables=lambda v: True),
    )
}
_BY_LOWER = {k.lower(): s for k, s in PROPERTIES.items()}

#: Column metadata keys that belong to a writer feature `lakehouse` cannot write yet.
FIELD_METADATA_FEATURES: tuple[tuple[str, str], ...] = (
    ("delta.generationExpression", "generatedColumns"),
    ("delta.identity.", "identityColumns"),
    ("CURRENT_DEFAULT", "allowColumnDefaults"),
)


def lookup(key: str) -> PropertySpec | None:
    """The registry entry of a `delta.*` key (case-insensitive, as Spark matches them), or None."""
    return _BY_LOWER.get(key.lower())


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key.lower(), list(_BY_LOWER), n=1, cutoff=0.75)
    if close:
        return f"Help: did you mean '{_BY_LOWER[close[0]].key}'?"
    return ("Help: lakehouse knows the delta.* properties listed in spec/writer.md (\"Table properties\"); "
            "keys without the 'delta.' prefix are free-form.")


def property_text(value: Any) -> str:
    """A property value as the log stores it: booleans as 'true'/'false', numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def validate_new_properties(new: Mapping[str, Any], *, existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check the properties a caller is setting and return them as the log stores them, with known keys
    in their canonical spelling (``delta.appendonly`` -> ``delta.appendOnly``).

    `delta.feature.*` and `delta.constraints.*` pass through (their callers check them); keys without the
    `delta.` prefix are free-form; a `delta.*` key already in ``existing`` (the table's configuration)
    is kept even when unknown, so re-setting a key another engine wrote never fails. Raises
    `InvalidArgumentError` for an unknown key, a malformed value or an engine-maintained key, and
    `UnsupportedFeatureError` for a value that turns on a feature `lakehouse` cannot write.
    """
    existing = existing or {}
    out: dict[str, str] = {}
    for key, raw in new.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidArgumentError(f"property names must be non-empty strings, got {key!r}")
        value = property_text(raw)
        lower = key.lower()
        spec = lookup(key)
        if (not lower.startswith("delta.") or lower.startswith(FEATURE_PREFIX) or lower.startswith(CONSTRAINT_PREFIX)
                or lower.startswith(FREE_PREFIXES)):
            canonical = FEATURE_PREFIX + key[len(FEATURE_PREFIX):] if lower.startswith(FEATURE_PREFIX) else key
        elif spec is None:
            if key not in existing:
                raise InvalidArgumentError(f"unknown table property '{key}'.\n{_suggest(key)}")
            canonical = key
        else:
            canonical = spec.key
            if spec.internal:
                raise InvalidArgumentError(f"table property {spec.key} cannot be set: it is {spec.internal}")
            try:
                parsed = spec.parse(value)
            except ValueError as e:
                raise InvalidArgumentError(f"table property {spec.key}={value!r} {e}") from None
            if spec.feature and spec.enables(parsed):
                feature = spec.feature.split(" ")[0]
                raise UnsupportedFeatureError(
                    f"table property {spec.key}={value!r} needs table feature '{spec.feature}', which lakehouse "
                    "cannot write yet; it was not recorded.\n"
                    f"Help: set it with an engine that implements '{feature}' (Spark, Databricks).", feature=feature)
        if canonical in out:
            raise InvalidArgumentError(f"table property {canonical} is given twice (keys are case-insensitive)")
        out[canonical] = value
    _check_retention_pair({**existing, **out}, out)
    return out


def _check_retention_pair(config: Mapping[str, str], changed: Mapping[str, str]) -> None:
    """Spark's rule: the log is kept at least as long as removed files (time travel to a version whose
    files are gone would fail otherwise)."""
    log_key, file_key = "delta.logRetentionDuration", "delta.deletedFileRetentionDuration"
    if log_key not in changed and file_key not in changed:
        return
    defaults = TableProperties()
    try:
        log = parse_interval_value(config[log_key]) if config.get(log_key) else defaults.log_retention
        files = parse_interval_value(config[file_key]) if config.get(file_key) else defaults.deleted_file_retention
    except ValueError:
        return  # the other one is a value another engine wrote that does not parse: nothing to compare
    if log < files:
        raise InvalidArgumentError(
            f"{log_key} ({format_duration(log)}) must be at least {file_key} ({format_duration(files)}).\n"
            f"Help: raise {log_key} or lower {file_key}.")


def field_metadata_feature(key: str) -> str | None:
    """The table feature `lakehouse` cannot write yet that a column metadata key belongs to, or None."""
    for prefix, feature in FIELD_METADATA_FEATURES:
        if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
            return feature
    return None


# -- the typed view -------------------------------------------------------------------------------------------
ColumnMappingMode = Literal["none", "name", "id"]


@dataclass(frozen=True, slots=True)
class TableProperties:
    """The `delta.*` properties `lakehouse` acts on, with the protocol's defaults."""

    column_mapping_mode: ColumnMappingMode = "none"
    enable_deletion_vectors: bool = False
    enable_change_data_feed: bool = False
    enable_in_commit_timestamps: bool = False
    in_commit_timestamp_enablement_version: int | None = None
    in_commit_timestamp_enablement_timestamp: int | None = None
    enable_type_widening: bool = False
    append_only: bool = False
    checkpoint_interval: int = 100
    log_retention: timedelta = timedelta(days=30)
    deleted_file_retention: timedelta = timedelta(days=7)
    data_skipping_num_indexed_cols: int = 32
    data_skipping_stats_columns: tuple[str, ...] | None = None
    checkpoint_policy: Literal["classic", "v2"] = "classic"
    #: `delta.checkpoint.writeStatsAsJson` / `...writeStatsAsStruct`: the forms of file stats in checkpoints.
    checkpoint_write_stats_as_json: bool = True
    checkpoint_write_stats_as_struct: bool = False
    #: `delta.targetFileSize` in bytes (OPTIMIZE's default target), None when unset.
    target_file_size: int | None = None
    #: `delta.isolationLevel`: None when unset (each operation picks its own level, WriteSerializable at least).
    isolation_level: Literal["Serializable", "WriteSerializable"] | None = None
    #: `delta.enableRowTracking` (spec/row-tracking.md).
    enable_row_tracking: bool = False

    @staticmethod
    def parse(config: Mapping[str, str | None], *, strict: bool = True) -> "TableProperties":
        """Parse a `metaData.configuration` map (unknown keys are ignored, never refused).

        With ``strict=False`` (the read path) a malformed value of a property that does not affect how
        rows are read falls back to the protocol default instead of making the table unreadable;
        `delta.columnMapping.mode` is always checked.
        """
        defaults = TableProperties()

        def get(key: str, default: T, *, always_strict: bool = False) -> T:
            raw = config.get(key)
            if raw is None:
                return default
            try:
                return PROPERTIES[key].parse(raw)
            except ValueError as e:
                if strict or always_strict:
                    raise InvalidLogError(f"table property {key}={raw!r} {e}") from None
                return default

        cdf = get("delta.enableChangeDataFeed", None)
        return TableProperties(
            column_mapping_mode=get("delta.columnMapping.mode", "none", always_strict=True),
            enable_deletion_vectors=get("delta.enableDeletionVectors", False),
            # Spark reads the older key when the current one is absent.
            enable_change_data_feed=cdf if cdf is not None else get("delta.enableChangeDataCapture", False),
            enable_in_commit_timestamps=get("delta.enableInCommitTimestamps", False),
            in_commit_timestamp_enablement_version=get("delta.inCommitTimestampEnablementVersion", None),
            in_commit_timestamp_enablement_timestamp=get("delta.inCommitTimestampEnablementTimestamp", None),
            enable_type_widening=get("delta.enableTypeWidening", False),
            append_only=get("delta.appendOnly", False),
            checkpoint_interval=get("delta.checkpointInterval", defaults.checkpoint_interval),
            log_retention=get("delta.logRetentionDuration", defaults.log_retention),
            deleted_file_retention=get("delta.deletedFileRetentionDuration", defaults.deleted_file_retention),
            data_skipping_num_indexed_cols=get("delta.dataSkippingNumIndexedCols", 32),
            data_skipping_stats_columns=get("delta.dataSkippingStatsColumns", None) or None,
            checkpoint_policy=get("delta.checkpointPolicy", "classic"),
            checkpoint_write_stats_as_json=get("delta.checkpoint.writeStatsAsJson", True),
            checkpoint_write_stats_as_struct=get("delta.checkpoint.writeStatsAsStruct", False),
            target_file_size=get("delta.targetFileSize", None),
            isolation_level=get("delta.isolationLevel", None),
            enable_row_tracking=get("delta.enableRowTracking", False),
        )
