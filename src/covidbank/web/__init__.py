"""The covidbank web viewer (``covidbank serve``; needs the ``[web]`` extra).

:func:`create_app` builds a read-only FastAPI app for one bank: a search page,
case pages, a CT viewer, a summary page and a REST API under ``/api``.

The package imports FastAPI lazily, so ``covidbank --help`` stays fast and
works without the extra.
"""
from __future__ import annotations

__all__ = ["create_app", "BankStore", "SearchQuery", "Renderer"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("BankStore", "SearchQuery"):
        from . import store

        return getattr(store, name)
    if name == "Renderer":
        from .render import Renderer

        return Renderer
    raise AttributeError(name)
