"""Catalog of public COVID-19 imaging resources.

The catalog is data shipped in the package (``data/catalog.json``): for each
resource its modalities (``Y``/``N``/``U``), published image and patient
counts, metadata available, diagnostic labels, access, license, URL, citation
and the covidbank source adapter that reads it (if any).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_catalog", "catalog_frame", "MODALITIES", "FLAGS", "METADATA_FIELDS"]

MODALITIES = ("CT", "X-ray", "MRI", "ultrasound")
METADATA_FIELDS = ("sex", "age", "survival", "view", "reports")
FLAGS = ("Y", "N", "U")
_MOD_ALIASES = {"ct": "CT", "xray": "X-ray", "x-ray": "X-ray", "cxr": "X-ray", "rx": "X-ray", "mri": "MRI", "mr": "MRI", "us": "ultrasound", "ultrasound": "ultrasound"}


@lru_cache(maxsize=1)
def load_catalog() -> tuple[dict, ...]:
    """The catalog entries as dicts (read once from the package data)."""
    text = resources.files("covidbank").joinpath("data/catalog.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["resources"])


def catalog_frame(modality: Optional[str] = None, adapter_only: bool = False) -> "pd.DataFrame":
    """The catalog as a flat DataFrame, optionally filtered.

    Parameters
    ----------
    modality : str, optional
        Keep resources with this modality ``Y`` (``CT``, ``X-ray``, ``MRI``, ``ultrasound``; case-insensitive).
    adapter_only : bool
        Keep only resources a covidbank source adapter reads.
    """
    import pandas as pd

    rows = []
    for e in load_catalog():
        r = {"name": e["name"], "key": e["key"]}
        for m in MODALITIES:
            r[m] = e["modalities"][m]
        r["images"] = e["images"]
        r["patients"] = e["patients"]
        for f in METADATA_FIELDS:
            r[f] = e["metadata"][f]
        for k in ("labels", "access", "license", "license_raw", "url", "citation", "adapter", "notes"):
            r[k] = e[k]
        rows.append(r)
    df = pd.DataFrame(rows)
    df["images"] = df["images"].astype("Int64")
    df["patients"] = df["patients"].astype("Int64")
    if modality:
        m = _MOD_ALIASES.get(modality.strip().lower().replace(" ", ""))
        if m is None:
            raise ValueError(f"unknown modality {modality!r}: use one of {', '.join(MODALITIES)}")
        df = df[df[m] == "Y"]
    if adapter_only:
        df = df[df["adapter"].notna()]
    return df.reset_index(drop=True)
