"""A Delta Sharing client: list what a profile may read, and read shared tables and their change data feed
as Arrow, through `lakehouse`'s own reader.

A read asks for the `delta` response format (any server may still answer `parquet`), downloads the files
the response names into a temporary directory, and writes the response's actions there as a local Delta
log whose paths point at the downloaded copies. `lakehouse` then reads that table as it reads any other,
so deletion vectors, column mapping, partition values and type widening behave exactly as for a local
table. Change data feeds are laid out the same way, one local commit per shared version.

HTTP is the standard library's (`urllib`); nothing here needs the server's extras.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError, SharingError
from lakehouse.protocol import arrow_values as av
from lakehouse.table import DeltaTable

if TYPE_CHECKING:
    import pandas
    import polars

CAPABILITIES = "responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping,timestampntz,typewidening,varianttype"
_HTTP_TIMEOUT = 300


@dataclass(frozen=True)
class Profile:
    """A profile file (PROTOCOL.md "Profile File Format"), version 1."""

    endpoint: str
    bearer_token: str
    expiration_time: str | None = None

    @classmethod
    def load(cls, source: "str | os.PathLike[str] | Mapping[str, Any] | Profile") -> "Profile":
        """From a profile file path, its parsed JSON, or a `Profile`."""
        if isinstance(source, Profile):
            return source
        raw: Any = source
        if not isinstance(source, Mapping):
            try:
                with open(source) as f:
                    raw = json.load(f)
            except OSError as e:
                raise InvalidArgumentError(f"cannot read profile file {source}: {e.strerror}") from None
            except ValueError:
                raise InvalidArgumentError(f"profile file {source} is not JSON") from None
        version = raw.get("shareCredentialsVersion")
        if version != 1:
            raise InvalidArgumentError(f"profile shareCredentialsVersion {version!r} is not supported (only 1)")
        endpoint, token = raw.get("endpoint"), raw.get("bearerToken")
        if not isinstance(endpoint, str) or not isinstance(token, str):
            raise InvalidArgumentError("profile needs an endpoint and a bearerToken")
        return cls(endpoint.rstrip("/"), token, raw.get("expirationTime"))


@dataclass(frozen=True)
class Share:
    """A share the profile may read (``id`` when the server gives one)."""

    name: str
    id: str | None = None


@dataclass(frozen=True)
class Schema:
    """A schema of a share."""

    name: str
    share: str


@dataclass(frozen=True)
class Table:
    """A shared table, named ``share.schema.name`` in a `load` URL."""

    name: str
    share: str
    schema: str


def parse_url(url: str) -> tuple[str, str, str, str]:
    """``profile#share.schema.table`` as (profile path, share, schema, table)."""
    profile, sep, fqn = url.rpartition("#")
    parts = fqn.rsplit(".", 2)
    if not sep or not profile or len(parts) != 3 or not all(parts):
        raise InvalidArgumentError(f"table URL {url!r} must look like 'profile-file#share.schema.table'")
    return profile, parts[0], parts[1], parts[2]


class SharingClient:
    """A recipient's view of one sharing server, from a profile (file path, mapping or `Profile`)."""

    def __init__(self, profile: "str | os.PathLike[str] | Mapping[str, Any] | Profile"):
        self.profile = Profile.load(profile)

    # -- HTTP ---------------------------------------------------------------------------------------
    def _request(self, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.profile.endpoint + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET", headers={
            "Authorization": f"Bearer {self.profile.bearer_token}", "User-Agent": "lakehouse-sharing",
            **({"Content-Type": "application/json; charset=utf-8"} if data is not None else {}), **(headers or {})})
        try:
            return urllib.request.urlopen(req, timeout=_HTTP_TIMEOUT)
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read() or b"{}")
            except ValueError:
                err = {}
            raise SharingError(f"{e.code} from {path}: {err.get('message', e.reason)}", status=e.code,
                               error_code=err.get("errorCode", "UNKNOWN")) from None
        except urllib.error.URLError as e:
            raise SharingError(f"cannot reach {self.profile.endpoint}: {e.reason}", status=0, error_code="UNREACHABLE") from None

    def _pages(self, path: str, max_results: int | None = None) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            with self._request(path, params={"maxResults": max_results, "pageToken": token}) as r:
                page = json.loads(r.read() or b"{}")
            yield from page.get("items") or []
            token = page.get("nextPageToken")
            if not token:
                return

    def _path(self, share: str, schema: str, table: str) -> str:
        q = urllib.parse.quote
        return f"/shares/{q(share, safe='')}/schemas/{q(schema, safe='')}/tables/{q(table, safe='')}"

    # -- listing ------------------------------------------------------------------------------------
    def list_shares(self) -> list[Share]:
        """Every share the profile may read."""
        return [Share(i["name"], i.get("id")) for i in self._pages("/shares")]

    def list_schemas(self, share: str | Share) -> list[Schema]:
        """The schemas of ``share``."""
        name = share.name if isinstance(share, Share) else share
        return [Schema(i["name"], i["share"]) for i in self._pages(f"/shares/{urllib.parse.quote(name, safe='')}/schemas")]

    def list_tables(self, schema: Schema) -> list[Table]:
        """The tables of ``schema``."""
        q = urllib.parse.quote
        path = f"/shares/{q(schema.share, safe='')}/schemas/{q(schema.name, safe='')}/tables"
        return [Table(i["name"], i["share"], i["schema"]) for i in self._pages(path)]

    def list_all_tables(self) -> list[Table]:
        """Every table of every share the profile may read."""
        out = []
        for s in self.list_shares():
            path = f"/shares/{urllib.parse.quote(s.name, safe='')}/all-tables"
            out += [Table(i["name"], i["share"], i["schema"]) for i in self._pages(path)]
        return out

    def table_version(self, share: str, schema: str, table: str) -> int:
        """The table's latest version."""
        with self._request(self._path(share, schema, table) + "/version") as r:
            return int(r.headers["Delta-Table-Version"])

    # -- reading ------------------------------------------------------------------------------------
    def load(self, share: str, schema: str, table: str, *, version: int | None = None,
             timestamp: "str | datetime | None" = None, filter: Any = None, columns: Sequence[str] | None = None,
             limit: int | None = None) -> pa.Table:
        """The table's rows (at ``version`` or ``timestamp``), filtered, projected and limited."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidArgumentError(f"limit must be a non-negative int, got {limit!r}")
        body: dict[str, Any] = {}
        if version is not None:
            body["version"] = version
        if timestamp is not None:
            body["timestamp"] = timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp
        if isinstance(filter, str):
            body["predicateHints"] = [filter]  # a hint: the rows are filtered here in any case
        if limit is not None and filter is None:
            body["limitHint"] = limit
        with self._request(self._path(share, schema, table) + "/query", body=body,
                           headers={"delta-sharing-capabilities": CAPABILITIES}) as r:
            fmt = _format(r.headers)
            lines = [json.loads(x) for x in r.read().splitlines() if x.strip()]
        with tempfile.TemporaryDirectory(prefix="lakehouse-sharing-") as tmp:
            actions = _snapshot_actions(lines, fmt, tmp)
            _write_commit(tmp, 0, actions, None)
            out = DeltaTable(tmp).to_arrow(columns=list(columns) if columns is not None else None, filter=filter)
        return out.slice(0, limit) if limit is not None else out

    def load_cdf(self, share: str, schema: str, table: str, *, starting_version: int | None = None,
                 ending_version: int | None = None, starting_timestamp: str | None = None,
                 ending_timestamp: str | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """The change data feed of the version range (inclusive), with ``_change_type``,
        ``_commit_version`` and ``_commit_timestamp``."""
        if starting_version is None and starting_timestamp is None:
            starting_version = 0
        params = {"startingVersion": starting_version, "endingVersion": ending_version,
                  "startingTimestamp": starting_timestamp, "endingTimestamp": ending_timestamp}
        with self._request(self._path(share, schema, table) + "/changes", params=params,
                           headers={"delta-sharing-capabilities": CAPABILITIES}) as r:
            fmt = _format(r.headers)
            start = int(r.headers["Delta-Table-Version"])
            lines = [json.loads(x) for x in r.read().splitlines() if x.strip()]
        with tempfile.TemporaryDirectory(prefix="lakehouse-sharing-") as tmp:
            end = _changes_log(lines, fmt, tmp, start)
            changes = DeltaTable(tmp).load_cdf(starting_version=1, ending_version=end - start + 1, columns=columns) \
                if end >= start else None
        if changes is None:
            raise SharingError("the server returned no versions for this range", status=0, error_code="EMPTY")
        shifted = pc.add(changes.column("_commit_version"), av.scalar(start - 1, pa.int64()))
        return changes.set_column(changes.schema.get_field_index("_commit_version"), "_commit_version", shifted)


def _format(headers: Any) -> str:
    caps = (headers.get("delta-sharing-capabilities") or "").lower()
    return "delta" if "responseformat=delta" in caps else "parquet"


def _download(items: list[tuple[str, str]]) -> None:
    for url, _ in items:
        # urllib also opens file:// and ftp:// URLs: a server must not make the client copy local files.
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise SharingError(f"the server named a file by a {urllib.parse.urlsplit(url).scheme or 'schemeless'} URL; "
                               "only http and https URLs are fetched", status=0, error_code="INVALID_URL")

    def fetch(item: tuple[str, str]) -> None:
        url, dest = item
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT) as r, open(dest, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except urllib.error.HTTPError as e:
            raise SharingError(f"downloading a shared file failed with HTTP {e.code}", status=e.code,
                               error_code="DOWNLOAD_FAILED") from None

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, items))


class _Localizer:
    """Turns response file actions into local Delta actions whose files are downloaded under ``root``."""

    def __init__(self, root: str):
        self.root = root
        self.pending: dict[str, str] = {}  # url -> local relative name

    def _local(self, url: str, file_id: str, suffix: str) -> str:
        # The local name is a digest of the server's id, never the id itself: an id such as "../x" must not
        # place a download outside the temporary table.
        name = self.pending.get(url) or f"data/{hashlib.sha256(file_id.encode()).hexdigest()[:32]}{suffix}"
        self.pending[url] = name
        return name

    def action(self, wrapper: Mapping[str, Any], fmt: str, kind: str) -> dict[str, Any]:
        """One delta action (``{"add": {...}}``) for a response line's payload."""
        if fmt == "delta":
            single = dict(wrapper["deltaSingleAction"])
            (dkind, body), = single.items()
            body = dict(body)
        else:
            dkind = {"file": "add", "add": "add", "remove": "remove", "cdf": "cdc"}[kind]
            body = {"path": wrapper["url"], "partitionValues": wrapper.get("partitionValues") or {},
                    "size": wrapper.get("size", 0), "dataChange": dkind != "cdc"}
            if dkind == "add":
                body.update(modificationTime=wrapper.get("timestamp", 0), stats=wrapper.get("stats"))
            elif dkind == "remove":
                body["deletionTimestamp"] = wrapper.get("timestamp", 0)
        fid = str(wrapper.get("id") or body["path"])
        body["path"] = self._local(body["path"], fid, ".parquet")
        dv = body.get("deletionVector")
        if dv and dv.get("storageType") == "p":
            local = self._local(dv["pathOrInlineDv"], str(wrapper.get("deletionVectorFileId") or fid + "-dv"), ".bin")
            body["deletionVector"] = {**dv, "pathOrInlineDv": f"file://{self.root}/{local}"}
        return {dkind: {k: v for k, v in body.items() if v is not None}}

    def fetch(self) -> None:
        _download([(url, os.path.join(self.root, name)) for url, name in self.pending.items()])


def _protocol_metadata(lines: list[dict[str, Any]], fmt: str) -> tuple[dict, dict]:
    proto, meta = lines[0]["protocol"], lines[1]["metaData"]
    if fmt == "delta":
        return {"protocol": proto["deltaProtocol"]}, {"metaData": meta["deltaMetadata"]}
    metadata = {k: meta[k] for k in ("id", "name", "description", "format", "schemaString", "partitionColumns",
                                     "configuration", "createdTime") if meta.get(k) is not None}
    return {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}, {"metaData": metadata}


def _snapshot_actions(lines: list[dict[str, Any]], fmt: str, root: str) -> list[dict[str, Any]]:
    protocol, metadata = _protocol_metadata(lines, fmt)
    loc = _Localizer(root)
    files = [loc.action(x["file"], fmt, "file") for x in lines[2:] if "file" in x]
    _check_end(lines)
    loc.fetch()
    return [protocol, metadata, *files]


def _check_end(lines: list[dict[str, Any]]) -> None:
    end = next((x["endStreamAction"] for x in lines if "endStreamAction" in x), None)
    if end and end.get("errorMessage"):
        raise SharingError(f"the server failed mid-response: {end['errorMessage']}", status=500, error_code="INTERNAL_ERROR")


def _write_commit(root: str, version: int, actions: list[dict[str, Any]], timestamp_ms: int | None) -> None:
    log = os.path.join(root, "_delta_log")
    os.makedirs(log, exist_ok=True)
    path = os.path.join(log, f"{version:020d}.json")
    with open(path, "w") as f:
        for a in actions:
            f.write(json.dumps(a) + "\n")
    if timestamp_ms is not None:
        os.utime(path, ns=(timestamp_ms * 1_000_000, timestamp_ms * 1_000_000))


def _changes_log(lines: list[dict[str, Any]], fmt: str, root: str, start: int) -> int:
    """Lay out a changes response as local commits: version 0 holds protocol and metadata, local version
    ``k`` holds shared version ``start + k - 1``. Returns the last shared version seen."""
    protocol, metadata = _protocol_metadata(lines, fmt)
    loc = _Localizer(root)
    per_version: dict[int, list[dict[str, Any]]] = {}
    stamps: dict[int, int] = {}
    for x in lines[2:]:
        if "metaData" in x:
            m = x["metaData"]
            v = int(m.get("version", start))
            if v > start:
                per_version.setdefault(v, []).insert(0, _protocol_metadata([lines[0], x], fmt)[1])
            continue
        if "endStreamAction" in x:
            continue
        (kind, wrapper), = x.items()
        if fmt == "delta":
            wrapper = x["file"]
            kind = "file"
        v = int(wrapper["version"])
        stamps[v] = int(wrapper.get("timestamp") or 0)
        per_version.setdefault(v, []).append(loc.action(wrapper, fmt, kind))
    _check_end(lines)
    loc.fetch()
    end = max(per_version, default=start)
    first_ts = min(stamps.values(), default=0)
    # One millisecond before the first change: commit times are made strictly increasing when read, so an
    # equal time here would move the first real version's timestamp.
    _write_commit(root, 0, [protocol, metadata], first_ts - 1)
    for v in range(start, end + 1):
        _write_commit(root, v - start + 1, per_version.get(v, []), stamps.get(v, first_ts))
    return end


# -- module-level helpers (the connector's `load_as_pandas`-style entry points) -----------------------
def load(url: str, *, version: int | None = None, timestamp: "str | datetime | None" = None, filter: Any = None,
         columns: Sequence[str] | None = None, limit: int | None = None) -> pa.Table:
    """Read ``profile-file#share.schema.table`` as Arrow."""
    profile, share, schema, table = parse_url(url)
    return SharingClient(profile).load(share, schema, table, version=version, timestamp=timestamp, filter=filter,
                                       columns=columns, limit=limit)


def load_cdf(url: str, *, starting_version: int | None = None, ending_version: int | None = None,
             starting_timestamp: str | None = None, ending_timestamp: str | None = None,
             columns: Sequence[str] | None = None) -> pa.Table:
    """The change data feed of ``profile-file#share.schema.table`` as Arrow."""
    profile, share, schema, table = parse_url(url)
    return SharingClient(profile).load_cdf(share, schema, table, starting_version=starting_version,
                                           ending_version=ending_version, starting_timestamp=starting_timestamp,
                                           ending_timestamp=ending_timestamp, columns=columns)


def load_polars(url: str, **kwargs: Any) -> "polars.DataFrame":
    """`load` as a polars DataFrame."""
    import polars as pl

    return pl.from_arrow(load(url, **kwargs))  # type: ignore[return-value]  # a Table gives a DataFrame (pyarrow has no stubs)


def load_pandas(url: str, **kwargs: Any) -> "pandas.DataFrame":
    """`load` as a pandas DataFrame."""
    return load(url, **kwargs).to_pandas()
