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

from .cache import CacheSummary, XRayCache, XRayPrep, build_cache, preprocess_xray
from .dataset import BankImageDataset, CTDataset, XRayDataset, collate_skip, select_records
from .transforms import NORMALIZATIONS, WINDOWS, Normalize, Window, normalize, resample_volume, window

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
