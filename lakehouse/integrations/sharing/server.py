"""The Delta Sharing REST server: an ASGI app (Starlette) over `SharingService` (PROTOCOL.md "REST APIs").

Routes under ``{endpoint}`` (default ``/delta-sharing``): ``/shares``, ``/shares/{share}``,
``/shares/{share}/schemas``, ``/shares/{share}/schemas/{schema}/tables``, ``/shares/{share}/all-tables``,
``.../tables/{table}`` (HEAD) and ``/version``, ``/metadata``, ``/query`` (POST), ``/changes``, and
``/files/{payload}?sp=r&sig={signature}`` for the bytes of local tables (signed, expiring; see `urls`).

Every request but ``/files`` needs a recipient's bearer token. Every request is written to the audit log
(logger ``lakehouse.integrations.sharing.audit``, JSON lines): recipient, route, share.schema.table, version, files,
status; never the token nor a file URL's signature. Blocking work (log replay, planning) runs in Starlette's
bounded thread pool, so the event loop keeps answering while a large query streams.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import time
from typing import Any, Callable, Iterator

from lakehouse.errors import LakehouseError, MissingDependencyError, SharingError
from lakehouse.integrations.sharing.auth import authenticate
from lakehouse.integrations.sharing.config import Recipient, SharingConfig, load_config
from lakehouse.integrations.sharing.protocol import Capabilities
from lakehouse.integrations.sharing.service import QueryResult, SharingService, bad_request
from lakehouse.integrations.sharing.urls import UrlSigner, forbidden, local_file

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError:  # pragma: no cover - exercised only without the extra
    Starlette = None  # type: ignore[assignment,misc]  # optional extra: None marks starlette missing

AUDIT = logging.getLogger("lakehouse.integrations.sharing.audit")
_APP_IDS = itertools.count(1)
NDJSON = "application/x-ndjson; charset=utf-8"
MAX_PAGE = 1000


def _error(e: SharingError) -> JSONResponse:
    return JSONResponse({"errorCode": e.error_code, "message": str(e)}, status_code=e.status)


class _Pager:
    """Signed page tokens: an offset bound to the listing it pages (so a token cannot be replayed on
    another listing or edited)."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def _sig(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def token(self, context: str, offset: int) -> str:
        body = f"{offset}:{context}"
        return base64.urlsafe_b64encode(f"{body}:{self._sig(body)}".encode()).decode().rstrip("=")

    def offset(self, context: str, token: str | None) -> int:
        if not token:
            return 0
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            body, _, sig = text.rpartition(":")
            offset_text, _, ctx = body.partition(":")
            if hmac.compare_digest(sig, self._sig(body)) and ctx == context:
                return int(offset_text)
        except (ValueError, UnicodeDecodeError):
            pass
        raise bad_request("pageToken is invalid for this listing")


def _page(request: Request, pager: _Pager, context: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    raw = request.query_params.get("maxResults")
    size = MAX_PAGE
    if raw is not None:
        if not raw.strip().isdigit():
            raise bad_request(f"maxResults must be a non-negative integer, got {raw!r}")
        size = min(int(raw), MAX_PAGE)
    start = pager.offset(context, request.query_params.get("pageToken"))
    out: dict[str, Any] = {"items": items[start:start + size]}
    if start + size < len(items):
        out["nextPageToken"] = pager.token(context, start + size)
    return out


def app(config: "str | Any", *, signing_secret: bytes | None = None) -> Any:
    """The ASGI app serving ``config`` (a `SharingConfig`, a mapping, or a YAML file path)."""
    if Starlette is None:
        raise MissingDependencyError("the sharing server needs starlette: pip install 'lakehouse-delta[sharing]'")
    cfg: SharingConfig = load_config(config)
    signer = UrlSigner(signing_secret or cfg.url_signing_secret)
    pager = _Pager(signing_secret or cfg.url_signing_secret or hashlib.sha256(repr(id(signer)).encode()).digest())
    service = SharingService(cfg, signer)
    prefix = cfg.endpoint
    # A child logger per app: its `auditLog` file receives this app's records only, while handlers on
    # `lakehouse.integrations.sharing.audit` itself still see every app's.
    audit_log = AUDIT.getChild(f"app{next(_APP_IDS)}")
    audit_log.setLevel(logging.INFO)
    if cfg.audit_log:
        audit_log.addHandler(logging.FileHandler(cfg.audit_log))

    def audit(request: Request, recipient: Recipient | None, status: int, started: float, **extra: Any) -> None:
        record = {"time": round(time.time(), 3), "recipient": recipient.name if recipient else None,
                  "method": request.method, "route": extra.pop("route", None), "status": status,
                  "ms": round((time.perf_counter() - started) * 1000, 1), **extra}
        audit_log.info(json.dumps(record, default=str))

    def endpoint(route: str, fn: Callable[..., Any]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            recipient = None
            info: dict[str, Any] = {"route": route}
            p = request.path_params
            if "table" in p:
                info["table"] = f"{p.get('share')}.{p.get('schema')}.{p.get('table')}"
            elif "share" in p:
                info["share"] = p["share"]
            try:
                recipient = authenticate(cfg, request.headers.get("authorization"))
                body = None
                if request.method == "POST":
                    raw = await request.body()
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        raise bad_request("the request body is not valid JSON") from None
                result = await run_in_threadpool(fn, request, recipient, body, info)
            except SharingError as e:
                audit(request, recipient, e.status, started, **info)
                return _error(e)
            except LakehouseError as e:
                audit(request, recipient, 500, started, **info)
                return _error(SharingError(f"internal error: {type(e).__name__}", status=500, error_code="INTERNAL_ERROR"))
            if isinstance(result, QueryResult):
                response = _stream(result, lambda: audit(request, recipient, 200, started, **info, **result.audit))
                return response
            audit(request, recipient, result.status_code, started, **info)
            return result
        return handle

    def _stream(result: QueryResult, done: Callable[[], None]) -> Response:
        def body() -> Iterator[bytes]:
            try:
                yield from _chunks(result.lines)
            except SharingError as e:
                # The status line is gone: the protocol's endStreamAction carries the error instead.
                yield json.dumps({"endStreamAction": {"errorMessage": str(e)}}).encode() + b"\n"
            finally:
                done()
        headers = {"Delta-Table-Version": str(result.version),
                   "delta-sharing-capabilities": f"responseformat={result.fmt}"}
        return StreamingResponse(body(), media_type=NDJSON, headers=headers)

    def base(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{prefix}"

    def list_shares(request: Request, r: Recipient, _b: Any, _i: dict) -> Response:
        items = [{"name": s.name, **({"id": s.id} if s.id else {})} for s in service.shares_for(r)]
        return JSONResponse(_page(request, pager, "shares", items))

    def get_share(request: Request, r: Recipient, _b: Any, _i: dict) -> Response:
        s = service.share(r, request.path_params["share"])
        return JSONResponse({"share": {"name": s.name, **({"id": s.id} if s.id else {})}})

    def list_schemas(request: Request, r: Recipient, _b: Any, _i: dict) -> Response:
        s = service.share(r, request.path_params["share"])
        items = [{"name": n, "share": s.name} for n in s.schemas]
        return JSONResponse(_page(request, pager, f"schemas/{s.name.lower()}", items))

    def _table_item(t: Any, share_id: str | None) -> dict[str, Any]:
        item = {"name": t.name, "schema": t.schema, "share": t.share, "id": t.id}
        return {**item, "shareId": share_id} if share_id else item

    def list_tables(request: Request, r: Recipient, _b: Any, _i: dict) -> Response:
        s, name, tables = service.schema(r, request.path_params["share"], request.path_params["schema"])
        items = [_table_item(t, s.id) for t in tables]
        return JSONResponse(_page(request, pager, f"tables/{s.name.lower()}/{name.lower()}", items))

    def list_all_tables(request: Request, r: Recipient, _b: Any, _i: dict) -> Response:
        s = service.share(r, request.path_params["share"])
        items = [_table_item(t, s.id) for tables in s.schemas.values() for t in tables]
        return JSONResponse(_page(request, pager, f"all-tables/{s.name.lower()}", items))

    def _table(request: Request, r: Recipient):
        p = request.path_params
        return service.table(r, p["share"], p["schema"], p["table"])

    def table_version(request: Request, r: Recipient, _b: Any, info: dict) -> Response:
        t = _table(request, r)
        v = service.table_version(t, request.query_params.get("startingTimestamp"))
        info["version"] = v
        return Response(status_code=200, headers={"Delta-Table-Version": str(v)})

    def metadata(request: Request, r: Recipient, _b: Any, _i: dict) -> QueryResult:
        t = _table(request, r)
        q = request.query_params
        return service.metadata(t, Capabilities.parse(request.headers.get("delta-sharing-capabilities")),
                                q.get("version"), q.get("timestamp"))

    def query(request: Request, r: Recipient, body: Any, _i: dict) -> QueryResult:
        t = _table(request, r)
        caps = Capabilities.parse(request.headers.get("delta-sharing-capabilities"))
        return service.query(t, caps, body, base(request))

    def changes(request: Request, r: Recipient, _b: Any, _i: dict) -> QueryResult:
        from lakehouse.integrations.sharing.service import _int

        t = _table(request, r)
        q = request.query_params
        caps = Capabilities.parse(request.headers.get("delta-sharing-capabilities"))
        return service.changes(t, caps, _int(q.get("startingVersion"), "startingVersion"),
                               _int(q.get("endingVersion"), "endingVersion"), q.get("startingTimestamp"),
                               q.get("endingTimestamp"), base(request))

    async def files(request: Request) -> Response:
        started = time.perf_counter()
        info: dict[str, Any] = {"route": "file"}
        try:
            grant = signer.verify(request.path_params["payload"], request.query_params.get("sig", ""))
            shared = service.tables.get(grant.table_key)
            if shared is None or shared.local_root is None:
                raise forbidden()
            path = await run_in_threadpool(local_file, shared.local_root, grant.rel)
            info.update(table=shared.label, file=grant.rel)
        except SharingError as e:
            audit(request, None, e.status, started, **info)
            return _error(e)
        audit(request, None, 200, started, **info)
        return FileResponse(path, media_type="application/octet-stream")

    t = "/shares/{share}/schemas/{schema}/tables/{table}"
    routes = [
        Route(f"{prefix}/shares", endpoint("list_shares", list_shares)),
        Route(f"{prefix}/shares/{{share}}", endpoint("get_share", get_share)),
        Route(f"{prefix}/shares/{{share}}/schemas", endpoint("list_schemas", list_schemas)),
        Route(f"{prefix}/shares/{{share}}/schemas/{{schema}}/tables", endpoint("list_tables", list_tables)),
        Route(f"{prefix}/shares/{{share}}/all-tables", endpoint("list_all_tables", list_all_tables)),
        Route(f"{prefix}{t}", endpoint("table_version", table_version), methods=["HEAD"]),
        Route(f"{prefix}{t}/version", endpoint("table_version", table_version)),
        Route(f"{prefix}{t}/metadata", endpoint("metadata", metadata)),
        Route(f"{prefix}{t}/query", endpoint("query", query), methods=["POST"]),
        Route(f"{prefix}{t}/changes", endpoint("changes", changes)),
        Route(f"{prefix}/files/{{payload}}", files, methods=["GET", "HEAD"]),
    ]
    return _RejectEncodedSlash(Starlette(routes=routes), prefix)


def _chunks(lines: Iterator[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """Lines joined into chunks of about ``size`` bytes. Starlette iterates a sync body in its thread pool,
    one thread hop per item: a hop per file line made a 1,000-file response ten times slower than building
    it. The protocol and metadata lines still leave at once (the first chunk is sent as soon as it is
    ready), so the first bytes are not delayed."""
    buffer: list[bytes] = []
    held = 0
    first = True
    for line in lines:
        buffer.append(line)
        held += len(line)
        if held >= size or (first and len(buffer) == 2):
            yield b"".join(buffer)
            buffer, held, first = [], 0, False
    if buffer:
        yield b"".join(buffer)


class _RejectEncodedSlash:
    """ASGI wrapper: an encoded ``/`` (``%2F``) in an API path is refused with 400 before routing.

    The server decodes the path before matching routes, so ``sc%2Ftables`` would otherwise be routed as two
    segments, i.e. as another resource than the one named; names may not hold ``/`` (PROTOCOL.md "Names").
    """

    def __init__(self, inner: Any, prefix: str):
        self.inner = inner
        self.prefix = prefix.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") or b""
        if scope.get("type") == "http" and raw.startswith(self.prefix + b"/shares") and b"%2f" in raw.lower():
            response = _error(bad_request("names may not contain '/' (PROTOCOL.md Names)"))
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def serve(config: "str | Any", *, host: str | None = None, port: int | None = None) -> None:
    """Run the server with uvicorn until interrupted (``host``/``port`` default to the config's)."""
    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("serving needs uvicorn: pip install 'lakehouse-delta[sharing]'") from None
    cfg = load_config(config)
    uvicorn.run(app(cfg), host=host or cfg.host, port=port or cfg.port, log_level="warning",
                limit_concurrency=cfg.max_concurrent_requests)
