"""PyTorch access to a bank (needs the ``[torch]`` extra).

Public API
----------
XRayDataset, CTDataset
    Datasets over a bank query or source, yielding ``img``, ``lab``, ``meta``.
select_records, collate_skip
    Record selection with label hierarchy; a collate that drops skipped items.
XRayPrep, XRayCache, build_cache
    Decode-once memory-mapped cache (``covidbank cache``).
normalize, Normalize, window, Window, resample_volume, WINDOWS, NORMALIZATIONS
    Intensity transforms.
"""
from __future__ import annotations

__all__ = [
    "BankImageDataset",
    "CTDataset",
    "CacheSummary",
    "NORMALIZATIONS",
    "Normalize",
    "WINDOWS",
    "Window",
    "XRayCache",
    "XRayDataset",
    "XRayPrep",
    "build_cache",
    "collate_skip",
    "normalize",
    "preprocess_xray",
    "resample_volume",
    "select_records",
    "window",
]

from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "CacheSummary": ".cache",
    "XRayCache": ".cache",
    "XRayPrep": ".cache",
    "build_cache": ".cache",
    "preprocess_xray": ".cache",
    "BankImageDataset": ".dataset",
    "CTDataset": ".dataset",
    "XRayDataset": ".dataset",
    "collate_skip": ".dataset",
    "select_records": ".dataset",
    "NORMALIZATIONS": ".transforms",
    "WINDOWS": ".transforms",
    "Normalize": ".transforms",
    "Window": ".transforms",
    "normalize": ".transforms",
    "resample_volume": ".transforms",
    "window": ".transforms",
}, globals())
