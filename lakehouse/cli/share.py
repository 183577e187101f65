"""`lakehouse share`: Delta Sharing commands. `serve CONFIG` runs the sharing server (issue 17) on a
reference-server YAML config until interrupted."""

from __future__ import annotations

import sys

import click

from lakehouse.cli.common import fail


@click.group("share")
def share() -> None:
    """Delta Sharing: serve tables to recipients over the open sharing protocol."""


@share.command("serve")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--host", default=None, help="Address to listen on (default: the config's host, else 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: the config's port, else 8080).")
@click.option("--debug", is_flag=True, help="Print the traceback of an error.")
def serve(config: str, host: str | None, port: int | None, debug: bool) -> None:
    """Serve the shares of CONFIG (the reference server's YAML format, plus `recipients`) until
    interrupted. Exits 2 on a bad config."""
    try:
        from lakehouse.integrations.sharing import load_config, serve as run

        cfg = load_config(config)
        click.echo(f"serving {len(cfg.shares)} share(s) on http://{host or cfg.host}:{port or cfg.port}{cfg.endpoint}",
                   err=True)
        run(cfg, host=host, port=port)
    except Exception as e:  # one error line and the exit code, as every command does
        sys.exit(fail(e, debug))
