"""Delta Sharing: a server for `lakehouse` tables and a client for any sharing server (issue 17).

Server: `app(config)` is an ASGI app (Starlette) for embedding; `serve(config)` runs it with uvicorn; the
CLI has ``lakehouse share serve CONFIG``. Client: `SharingClient(profile)` lists and reads; `load(url)` and
`load_cdf(url)` read ``profile-file#share.schema.table`` as Arrow. Needs the ``sharing`` extra.

This package is on the public API and the layers below it; nothing in `lakehouse` imports it.
"""

from __future__ import annotations

from typing import Any

from lakehouse.integrations.sharing.config import SharingConfig, load_config


def app(config: Any, **kwargs: Any) -> Any:
    """The ASGI app serving ``config`` (see `lakehouse.integrations.sharing.server.app`)."""
    from lakehouse.integrations.sharing.server import app as _app

    return _app(config, **kwargs)


def serve(config: Any, **kwargs: Any) -> None:
    """Run the server with uvicorn (see `lakehouse.integrations.sharing.server.serve`)."""
    from lakehouse.integrations.sharing.server import serve as _serve

    return _serve(config, **kwargs)


def __getattr__(name: str):  # the client imports lazily, so the server works without its extras and back
    if name in ("SharingClient", "load", "load_cdf", "load_polars", "load_pandas", "Profile"):
        from lakehouse.integrations.sharing import client

        return getattr(client, name)
    raise AttributeError(name)


__all__ = ["SharingConfig", "load_config", "app", "serve", "SharingClient", "load", "load_cdf", "load_polars",
           "load_pandas", "Profile"]
