"""The covidbank web viewer (``covidbank serve``; needs the ``[web]`` extra).

:func:`create_app` builds a read-only FastAPI app for one bank: a search page,
case pages, a CT viewer, a summary page and a REST API under ``/api``.

The package imports FastAPI lazily, so ``covidbank --help`` stays fast and
works without the extra.
"""
from __future__ import annotations

__all__ = ["create_app", "BankStore", "SearchQuery", "Renderer"]


from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "create_app": ".app",
    "BankStore": ".store",
    "SearchQuery": ".store",
    "Renderer": ".render",
}, globals())
