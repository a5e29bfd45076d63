"""``covidbank serve``: run the web viewer for a bank."""
from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address: ``localhost``, all of 127.0.0.0/8 in any form
    ``inet_aton`` reads (``127.1``, ``0x7f.1``) and ``::1``."""
    h = host.strip().strip("[]").lower()
    if h in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(h)).is_loopback
    except OSError:
        return False


def _host_names(host: str) -> list[str]:
    """Host header values accepted for a loopback bind."""
    return ["localhost", "127.0.0.1", "::1", "[::1]", host, f"[{host.strip('[]')}]" if ":" in host else host]


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the covidbank CLI."""

    @app.command()
    def serve(
        bank: Path = typer.Argument(..., help="Bank folder."),
        host: str = typer.Option("127.0.0.1", help="Address to bind (localhost by default; the viewer has no login)."),
        port: int = typer.Option(8000, help="Port to listen on."),
        cache_dir: Optional[Path] = typer.Option(None, help="Thumbnail cache folder (default ~/.cache/covidbank/web/...)."),
        allow_remote: bool = typer.Option(False, "--allow-remote",
                                          help="Allow binding an address other than loopback (anyone who reaches it "
                                               "can browse the bank: there is no login)."),
        allowed_host: List[str] = typer.Option([], "--allowed-host",
                                               help="Host header value accepted with --allow-remote (repeatable; "
                                                    "the --host address is always accepted)."),
        review: bool = typer.Option(False, "--review", help="Accept decisions of the burned-in text review queue "
                                                            "(/review; stored in the bank, applied by the next ingest)."),
    ) -> None:
        """Browse a bank in a web browser: search, case pages, CT viewer, REST API under /api (read-only)."""
        from ..errors import CovidbankError
        from ..optional import require
        from . import console, fail

        try:
            uvicorn = require("uvicorn", purpose="the web viewer")
            require("fastapi", purpose="the web viewer")
            require("jinja2", purpose="the web viewer")
            from ..web.app import create_app
        except CovidbankError as e:
            raise fail(str(e))
        loopback = _is_loopback(host)
        if not loopback and not allow_remote:
            raise fail(f"{host} is not a loopback address: anyone who can reach it could browse the bank (no login). "
                       "Pass --allow-remote (and --allowed-host NAME for each name clients use) to bind it", 2)
        hosts = _host_names(host) if loopback else [host, *allowed_host]
        t = time.perf_counter()
        try:
            with console.status("opening the bank (the first start after a change without --no-viewer-cache "
                                "builds the viewer's cache)"):
                web = create_app(bank, cache_dir=cache_dir, allowed_hosts=hosts, review=review)
        except CovidbankError as e:
            raise fail(str(e))
        built = getattr(web.state.store, "built", False)
        console.print(f"viewer cache {'built' if built else 'up to date'}; ready in {time.perf_counter() - t:.1f} s")
        if not loopback:
            console.print(f"[yellow]warning:[/] binding {host}: anyone who can reach this address can browse the bank "
                          f"(no login); Host names accepted: {', '.join(hosts)}")
        console.print(f"covidbank viewer for [bold]{bank}[/] at http://{host}:{port}/  (API docs: /api/docs; Ctrl+C stops)")
        uvicorn.run(web, host=host, port=port, log_level="warning")
