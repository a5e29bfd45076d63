"""``covidbank serve``: run the web viewer for a bank."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the covidbank CLI."""

    @app.command()
    def serve(
        bank: Path = typer.Argument(..., help="Bank folder."),
        host: str = typer.Option("127.0.0.1", help="Address to bind (localhost by default; the viewer has no login)."),
        port: int = typer.Option(8000, help="Port to listen on."),
        cache_dir: Optional[Path] = typer.Option(None, help="Thumbnail cache folder (default ~/.cache/covidbank/web/...)."),
        review: bool = typer.Option(False, "--review", help="Accept decisions of the burned-in text review queue "
                                                            "(/review; stored in the bank, applied by the next ingest)."),
    ) -> None:
        """Browse a bank in a web browser: search, case pages, CT viewer, REST API under /api (read-only)."""
        from ..errors import CovidbankError
        from . import console, fail

        from ..optional import require

        try:
            uvicorn = require("uvicorn", purpose="the web viewer")
            require("fastapi", purpose="the web viewer")
            require("jinja2", purpose="the web viewer")
            from ..web.app import create_app
        except CovidbankError as e:
            raise fail(str(e))
        loopback = _is_loopback(host)
        hosts = ["localhost", "127.0.0.1", "::1", "[::1]", host] if loopback else None
        try:
            web = create_app(bank, cache_dir=cache_dir, allowed_hosts=hosts, review=review)
        except CovidbankError as e:
            raise fail(str(e))
        if not loopback:
            console.print(f"[yellow]warning:[/] binding {host}: anyone who can reach this address can browse the bank (no login)")
        console.print(f"covidbank viewer for [bold]{bank}[/] at http://{host}:{port}/  (API docs: /api/docs; Ctrl+C stops)")
        uvicorn.run(web, host=host, port=port, log_level="warning")
