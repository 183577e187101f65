"""What the sharing server does for each endpoint, with no HTTP in it: resolve a recipient's share, schema
and table (unknown and not-granted look the same), load the snapshot at the asked version or time, plan the
files (partition pruning and stats skipping from the hints, `limitHint` from live row counts), and stream the
response lines of `lakehouse.integrations.sharing.protocol`.

Errors are `SharingError` with the protocol's status; messages name the shared table, never its location.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa

from lakehouse.protocol import arrow_values as av
from lakehouse.scan.deletion_vectors import dv_file_path
from lakehouse.errors import LakehouseError, SharingError, VersionNotFoundError
from lakehouse.snapshot.history import commit_timestamps, version_for_timestamp
from lakehouse.log.commits import read_log_files
from lakehouse.protocol.actions import Add, AddCDCFile, Metadata, Remove
from lakehouse.protocol.codec import encode_action
from lakehouse.protocol.log_path import LogFile, commit_name
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.properties import TableProperties
from lakehouse.protocol.skipping import live_rows, skip_files
from lakehouse.integrations.sharing import hints
from lakehouse.integrations.sharing.auth import may_read
from lakehouse.integrations.sharing.config import Recipient, ShareConfig, SharingConfig, TableConfig, name_problem
from lakehouse.integrations.sharing.protocol import (
    Capabilities, dv_descriptor, end_stream_line, file_line, metadata_line, needs_delta_format, protocol_line, rows_of,
)
from lakehouse.integrations.sharing.urls import S3Presigner, UrlSigner, local_root
from lakehouse.snapshot import Snapshot, latest_snapshot, load_snapshot
from lakehouse.storage import Storage, open_storage


def bad_request(message: str) -> SharingError:
    """The protocol's 400."""
    return SharingError(message, status=400, error_code="INVALID_PARAMETER_VALUE")


def not_found(kind: str, name: str) -> SharingError:
    """The protocol's 404, the same whether the object is missing or merely not granted."""
    return SharingError(f"{kind} '{name}' does not exist or is not shared with you", status=404,
                        error_code="RESOURCE_DOES_NOT_EXIST")


def check_name(name: str, kind: str) -> None:
    """400 for a name PROTOCOL.md "Names" forbids."""
    problem = name_problem(name, kind)
    if problem:
        raise bad_request(problem)


def parse_timestamp(text: Any, what: str) -> datetime:
    """An ISO-8601 UTC time (PROTOCOL.md "Timestamp Format"); 400 otherwise."""
    if not isinstance(text, str):
        raise bad_request(f"{what} must be a timestamp string such as 2022-01-01T00:00:00Z")
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{what} {text!r} is not an ISO-8601 timestamp such as 2022-01-01T00:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_request(f"{what} must be a non-negative integer, got {value!r}")
    return value


@dataclass
class SharedTable:
    """A configured table and its storage (opened once)."""

    config: TableConfig
    storage: Storage
    local_root: str | None

    @property
    def label(self) -> str:
        return f"{self.config.share}.{self.config.schema}.{self.config.name}"


@dataclass
class QueryResult:
    """A response: the `Delta-Table-Version`, the format served and the lines (a lazy iterator)."""

    version: int
    fmt: str
    lines: Iterator[bytes]
    audit: dict[str, Any] = field(default_factory=dict)


class SharingService:
    """The endpoints' logic over one configuration."""

    def __init__(self, config: SharingConfig, signer: UrlSigner, endpoint_url: Callable[[str], str] | None = None):
        self.config = config
        self.signer = signer
        self.tables: dict[str, SharedTable] = {}
        self._presigners: dict[str, S3Presigner] = {}
        self._lock = threading.Lock()
        for share in config.shares:
            for tables in share.schemas.values():
                for t in tables:
                    self.tables[t.key] = SharedTable(t, open_storage(t.location, t.storage_options or None),
                                                     local_root(t.location))

    # -- names and grants ---------------------------------------------------------------------------
    def shares_for(self, recipient: Recipient) -> list[ShareConfig]:
        return [s for s in self.config.shares if may_read(recipient, s.name)]

    def share(self, recipient: Recipient, name: str) -> ShareConfig:
        check_name(name, "share")
        s = self.config.share(name)
        if s is None or not may_read(recipient, s.name):
            raise not_found("share", name)
        return s

    def schema(self, recipient: Recipient, share: str, schema: str) -> tuple[ShareConfig, str, tuple[TableConfig, ...]]:
        s = self.share(recipient, share)
        check_name(schema, "schema")
        for name, tables in s.schemas.items():
            if name.lower() == schema.lower():
                return s, name, tables
        raise not_found("schema", f"{share}.{schema}")

    def table(self, recipient: Recipient, share: str, schema: str, table: str) -> SharedTable:
        _, _, tables = self.schema(recipient, share, schema)
        check_name(table, "table")
        for t in tables:
            if t.name.lower() == table.lower():
                return self.tables[t.key]
        raise not_found("table", f"{share}.{schema}.{table}")

    # -- snapshots ----------------------------------------------------------------------------------
    def _guard(self, t: SharedTable, e: LakehouseError) -> SharingError:
        """A lakehouse error as a protocol error whose message names the shared table, not its location."""
        message = str(e).splitlines()[0]
        for secret in {t.storage.root_uri, t.config.location, t.local_root or t.config.location}:
            message = message.replace(secret, t.label)
        if isinstance(e, VersionNotFoundError):
            return bad_request(message)
        return SharingError(f"table {t.label} cannot be read: {message}", status=500, error_code="INTERNAL_ERROR")

    def _latest(self, t: SharedTable) -> Snapshot:
        try:
            return latest_snapshot(t.storage)
        except LakehouseError as e:
            raise self._guard(t, e) from None

    def _check_history(self, t: SharedTable, version: int, what: str) -> None:
        if not t.config.history_shared:
            raise bad_request(f"{what} needs history sharing, which is not enabled on table {t.label}")
        start = t.config.start_version
        if start is not None and version < start:
            raise bad_request(f"{what} resolves to version {version}, before the first shared version {start} of {t.label}")

    def snapshot_at(self, t: SharedTable, version: int | None, timestamp: Any) -> tuple[Snapshot, bool]:
        """The snapshot asked for, and whether it was time travel."""
        if version is not None and timestamp is not None:
            raise bad_request("give version or timestamp, not both")
        latest = self._latest(t)
        if version is None and timestamp is None:
            return latest, False
        try:
            if timestamp is not None:
                when = parse_timestamp(timestamp, "timestamp")
                version = version_for_timestamp(latest, when)
            assert version is not None
            self._check_history(t, version, "reading an older version")
            if version > latest.version:
                raise bad_request(f"version {version} does not exist: the latest version of {t.label} is {latest.version}")
            return (latest if version == latest.version else load_snapshot(t.storage, version)), True
        except LakehouseError as e:
            if isinstance(e, SharingError):
                raise
            raise self._guard(t, e) from None

    def table_version(self, t: SharedTable, starting_timestamp: str | None) -> int:
        """Query Table Version: the latest version, or the earliest at or after ``starting_timestamp``."""
        latest = self._latest(t)
        if starting_timestamp is None:
            return latest.version
        when = parse_timestamp(starting_timestamp, "startingTimestamp")
        versions, times, _ = commit_timestamps(latest)
        ms = int(when.timestamp() * 1000)
        for v, ts in zip(versions, times):
            if ts >= ms:
                self._check_history(t, v, "startingTimestamp")
                return v
        raise bad_request(f"startingTimestamp {starting_timestamp} is after the latest version of {t.label}")

    # -- formats and URLs ---------------------------------------------------------------------------
    def response_format(self, t: SharedTable, snapshot: Snapshot, caps: Capabilities) -> str:
        """``delta`` or ``parquet``: the one asked for, or with both asked for, parquet unless the table needs
        delta. A parquet-only request on a table with deletion vectors or column mapping is refused."""
        needs = needs_delta_format(snapshot.protocol, snapshot.column_mapping_mode)
        formats = caps.response_formats
        if "delta" in formats and (needs or "parquet" not in formats):
            return "delta"
        if "parquet" in formats:
            if needs:
                raise bad_request(
                    f"table {t.label} uses {', '.join(needs)}, which the parquet response format cannot carry; "
                    "ask for it with the header delta-sharing-capabilities: responseformat=delta")
            return "parquet"
        raise bad_request(f"unsupported responseformat {','.join(formats)!r}: use parquet or delta")

    def url_for(self, t: SharedTable, base: str) -> Callable[[str], tuple[str, int]]:
        timeout = self.config.url_timeout_seconds
        expires = int(time.time()) + timeout
        if t.local_root is not None:
            def local(rel: str) -> tuple[str, int]:
                return f"{base}/files/{self.signer.token(t.config.key, rel, expires)}", expires * 1000
            return local
        presigner = self._presigner(t)
        root = t.storage.arrow_filesystem()[1]

        def presigned(rel: str) -> tuple[str, int]:
            return presigner.url(root, rel, timeout), expires * 1000
        return presigned

    def _presigner(self, t: SharedTable) -> S3Presigner:
        with self._lock:
            if t.config.key not in self._presigners:
                fs = getattr(t.storage, "fs", None)
                protocols = getattr(fs, "protocol", ())
                if fs is None or not {"s3", "s3a"} & set(protocols if isinstance(protocols, (tuple, list)) else [protocols]):
                    raise SharingError(f"table {t.label} is on a store this server cannot pre-sign URLs for "
                                       "(local paths and s3:// are supported)", status=500, error_code="INTERNAL_ERROR")
                self._presigners[t.config.key] = S3Presigner(fs)
            return self._presigners[t.config.key]

    # -- query --------------------------------------------------------------------------------------
    def metadata(self, t: SharedTable, caps: Capabilities, version: Any, timestamp: Any) -> QueryResult:
        snapshot, travelled = self.snapshot_at(t, _int(version, "version"), timestamp)
        fmt = self.response_format(t, snapshot, caps)
        lines = [protocol_line(snapshot.protocol, fmt),
                 metadata_line(snapshot.metadata, fmt, version=snapshot.version if travelled else None,
                               size=_total_size(snapshot), num_files=snapshot.num_files)]
        return QueryResult(snapshot.version, fmt, iter(lines), {"version": snapshot.version})

    def query(self, t: SharedTable, caps: Capabilities, body: Mapping[str, Any], base: str) -> QueryResult:
        """Read Data from a Table: a snapshot's files, or with ``startingVersion`` the data change files."""
        if not isinstance(body, Mapping):
            raise bad_request("the request body must be a JSON object")
        starting = _int(body.get("startingVersion"), "startingVersion")
        version = _int(body.get("version"), "version")
        limit = _int(body.get("limitHint"), "limitHint")
        timestamp = body.get("timestamp")
        if starting is not None:
            if version is not None or timestamp is not None:
                raise bad_request("startingVersion cannot be combined with version or timestamp")
            return self.changes(t, caps, starting, _int(body.get("endingVersion"), "endingVersion"), None, None, base,
                                streaming=True)
        predicate_hints = body.get("predicateHints")
        if predicate_hints is not None and not isinstance(predicate_hints, list):
            raise bad_request("predicateHints must be a list of strings")
        json_hints = body.get("jsonPredicateHints")
        if json_hints is not None and not isinstance(json_hints, str):
            raise bad_request("jsonPredicateHints must be a string holding a JSON predicate")
        snapshot, travelled = self.snapshot_at(t, version, timestamp)
        fmt = self.response_format(t, snapshot, caps)
        adds = _select(snapshot, hints.combine(hints.sql_hints(predicate_hints, snapshot.schema.names),
                                               hints.json_hint(json_hints, snapshot.schema.names)), limit)
        url_for = self.url_for(t, base)
        audit: dict[str, Any] = {"version": snapshot.version, "files": adds.num_rows}

        def lines() -> Iterator[bytes]:
            yield protocol_line(snapshot.protocol, fmt)
            yield metadata_line(snapshot.metadata, fmt, version=snapshot.version if travelled else None,
                                size=_total_size(snapshot), num_files=snapshot.num_files)
            stamp = None
            if travelled:
                versions, times, _ = commit_timestamps(snapshot)
                stamp = dict(zip(versions, times)).get(snapshot.version)
            expires = None
            for row in rows_of(adds):
                rel, dv_rel = self._paths(t, snapshot.version, row)
                out = file_line("file", row, rel, fmt, url_for, version=snapshot.version if travelled else None,
                                timestamp=stamp, dv_rel=dv_rel)
                expires = url_for(rel)[1] if expires is None else expires
                yield out
            if caps.include_end_stream_action:
                yield end_stream_line(expires)

        return QueryResult(snapshot.version, fmt, lines(), audit)

    def _paths(self, t: SharedTable, version: int, row: Mapping[str, Any]) -> tuple[str, str | None]:
        """The decoded table-relative paths of a file and of its DV file; a log path that leaves the table
        is never served (500, and nothing of the path in the message)."""
        try:
            rel = resolve_relative(row["path"], t.storage.root_uri, kind="data file", version=version)
            dv = row.get("deletionVector")
            dv_rel = dv_file_path(dv_descriptor(dv), t.storage.root_uri, version=version) if dv else None
        except LakehouseError:
            raise SharingError(f"the log of {t.label} at version {version} names a file outside the table; "
                               "it is not served", status=500, error_code="INTERNAL_ERROR") from None
        return rel, dv_rel

    # -- changes ------------------------------------------------------------------------------------
    def changes(self, t: SharedTable, caps: Capabilities, starting_version: int | None, ending_version: int | None,
                starting_timestamp: str | None, ending_timestamp: str | None, base: str, *,
                streaming: bool = False) -> QueryResult:
        """Read Change Data Feed (or, ``streaming``, a query with startingVersion): file actions per commit."""
        if not streaming and not t.config.cdf_enabled:
            raise bad_request(f"the change data feed is not shared for table {t.label} (cdfEnabled is false)")
        latest = self._latest(t)
        versions, times, _ = commit_timestamps(latest)
        stamp = dict(zip(versions, times))
        if (starting_version is None) == (starting_timestamp is None):
            raise bad_request("give exactly one of startingVersion and startingTimestamp")
        if ending_version is not None and ending_timestamp is not None:
            raise bad_request("give at most one of endingVersion and endingTimestamp")
        if starting_timestamp is not None:
            ms = int(parse_timestamp(starting_timestamp, "startingTimestamp").timestamp() * 1000)
            after = [v for v, ts in zip(versions, times) if ts >= ms]
            if not after:
                raise bad_request(f"startingTimestamp {starting_timestamp} is after the latest version of {t.label}")
            starting_version = after[0]
        if ending_timestamp is not None:
            ms = int(parse_timestamp(ending_timestamp, "endingTimestamp").timestamp() * 1000)
            before = [v for v, ts in zip(versions, times) if ts <= ms]
            if not before:
                raise bad_request(f"endingTimestamp {ending_timestamp} is before the first version of {t.label}")
            ending_version = before[-1]
        assert starting_version is not None
        end = latest.version if ending_version is None else min(ending_version, latest.version)
        self._check_history(t, starting_version, "reading changes")
        if starting_version > latest.version:
            raise bad_request(f"startingVersion {starting_version} is after the latest version {latest.version} of {t.label}")
        if end < starting_version:
            raise bad_request(f"endingVersion {end} is before startingVersion {starting_version}")
        try:
            start_snapshot = load_snapshot(t.storage, starting_version)
        except LakehouseError as e:
            raise self._guard(t, e) from None
        if not streaming and not start_snapshot.properties.enable_change_data_feed:
            raise bad_request(f"the change data feed is not enabled at version {starting_version} of {t.label} "
                              "(delta.enableChangeDataFeed is not true)")
        fmt = self.response_format(t, start_snapshot, caps)
        url_for = self.url_for(t, base)
        files = [LogFile(commit_name(v), "commit", v) for v in range(starting_version, end + 1)]
        audit: dict[str, Any] = {"version": f"{starting_version}..{end}"}

        def lines() -> Iterator[bytes]:
            yield protocol_line(start_snapshot.protocol, fmt)
            yield metadata_line(start_snapshot.metadata, fmt, version=starting_version)
            served = 0
            for f, actions in zip(files, read_log_files(t.storage, files)):
                yield from self._commit_lines(t, f.version, stamp.get(f.version), actions, fmt, url_for, streaming,
                                              first=f.version == starting_version)
                served += 1
            audit["commits"] = served
            if caps.include_end_stream_action:
                yield end_stream_line(None)

        return QueryResult(starting_version, fmt, lines(), audit)

    def _commit_lines(self, t: SharedTable, version: int, ts: int | None, actions: list, fmt: str,
                      url_for: Callable[[str], tuple[str, int]], streaming: bool, *, first: bool) -> Iterator[bytes]:
        cdc = [a for a in actions if isinstance(a, AddCDCFile)]
        for a in actions:
            # The starting version's metadata is the response's second line already.
            if isinstance(a, Metadata) and not first:
                if not streaming and not TableProperties.parse(a.configuration, strict=False).enable_change_data_feed:
                    raise bad_request(f"the change data feed is not enabled at version {version} of {t.label}")
                yield metadata_line(a, fmt, version=version)
        picked: list[tuple[str, Any]] = []
        if cdc and not streaming:
            picked = [("cdf", a) for a in cdc]
        else:
            picked = [("add" if isinstance(a, Add) else "remove", a) for a in actions
                      if isinstance(a, (Add, Remove)) and a.data_change]
        for kind, a in picked:
            row = next(iter(encode_action(a).values()))
            rel, dv_rel = self._paths(t, version, row)
            if fmt == "delta" and kind == "remove":
                row.setdefault("deletionTimestamp", ts)
            yield file_line(kind, row, rel, fmt, url_for, version=version, timestamp=ts, dv_rel=dv_rel)


def _total_size(snapshot: Snapshot) -> int:
    return int(pa.compute.sum(snapshot.adds.column("size")).as_py() or 0)


def _select(snapshot: Snapshot, predicate: Any, limit: int | None) -> pa.Table:
    """The files to return: pruned and skipped by ``predicate`` (best effort: a predicate the skipping
    code cannot evaluate is dropped), then cut at ``limit`` live rows where the stats tell row counts."""
    adds = snapshot.adds
    if predicate is not None and adds.num_rows:
        try:
            result = skip_files(adds, predicate, snapshot.schema, snapshot.partition_columns,
                                snapshot.column_mapping_mode)
            adds = adds.filter(av.array(result.after_stats))
        except (LakehouseError, pa.ArrowException, ValueError, TypeError, KeyError):
            pass  # hints are best effort: the recipient filters the rows anyway
    if limit is not None and adds.num_rows:
        rows = av.to_numpy(live_rows(adds.column("stats"), adds.column("deletionVector")))
        known = np.nan_to_num(np.asarray(rows, dtype="float64"), nan=0.0)
        # Keep files until the rows counted reach the limit; a file without stats counts as none.
        before = np.concatenate([[0.0], np.cumsum(known)[:-1]])
        keep = before < limit if limit > 0 else np.zeros(adds.num_rows, dtype=bool)
        adds = adds.filter(av.array(keep))
    return adds
