"""Talking to archives (PACS): push (C-STORE, STOW-RS) here; ``pull`` comes with issue 18."""
from __future__ import annotations

__all__ = ["push_dimse", "push_dicomweb", "parse_pacs", "PushError", "PushResult"]

from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "push_dimse": ".push",
    "push_dicomweb": ".push",
    "parse_pacs": ".push",
    "PushError": ".push",
    "PushResult": ".push",
}, globals())
