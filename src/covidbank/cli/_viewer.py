"""The viewer's cache, refreshed by the commands that change a bank's index.

``covidbank add`` (and ``relink``, ``split``, ``duplicates``, ``severity-table --bank``) build the web
viewer's DuckDB cache right after writing the index (:meth:`covidbank.web.store.BankStore.prepare`), so
that ``covidbank serve`` reuses it and starts in seconds instead of building it on its first start.  The
cache lives outside the bank (``$XDG_CACHE_HOME/covidbank/web/<hash of the bank path>/index``) and holds
only what the bank's tables hold, laid out for the viewer.  ``--no-viewer-cache`` (or the environment
variable ``COVIDBANK_NO_VIEWER_CACHE=1``) skips it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from ._output import console

__all__ = ["no_viewer_cache_option", "refresh_viewer_cache"]


def no_viewer_cache_option() -> bool:
    """The ``--no-viewer-cache`` option of the commands that change the index."""
    return typer.Option(False, "--no-viewer-cache",
                        help="Do not build the web viewer's cache now (`covidbank serve` builds it on its first start; "
                             "also COVIDBANK_NO_VIEWER_CACHE=1).")


def refresh_viewer_cache(bank: Path, skip: bool = False) -> None:
    """Build the viewer's cache of ``bank`` unless an up-to-date one exists, ``skip`` (``--no-viewer-cache``)
    is set or ``COVIDBANK_NO_VIEWER_CACHE`` is; a failure is a warning (the index is written; ``serve`` tries
    again)."""
    if skip or os.environ.get("COVIDBANK_NO_VIEWER_CACHE", "") not in ("", "0"):
        return
    from ..errors import CovidbankError
    from ..web.store import BankStore

    t = time.perf_counter()
    try:
        with console.status("building the web viewer's cache (skip with --no-viewer-cache)"):
            path, built = BankStore.prepare(bank)
    except CovidbankError as e:
        console.print(f"warning: the viewer's cache was not built: {e}", markup=False)
        return
    if built:
        console.print(f"viewer cache built in {time.perf_counter() - t:.1f} s ({path.parent})")
