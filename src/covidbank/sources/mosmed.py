"""MosMedData COVID19_1110 (Morozov et al., 2020).

1,110 anonymised chest CT studies from Moscow hospitals, graded CT-0..CT-4 by
the share of lung parenchyma involved, 50 of them (CT-1) with expert lesion
masks.  Read from ``dataset_registry.csv`` (study id, category, study file,
mask file) or, without it, from the ``studies/CT-k/study_NNNN.nii.gz`` folder
layout.  Volumes that are not on disk are kept with ``file_present = False``
and counted; a missing registry entry's mask is reported.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import SourceFormatError
from ..schema import make_id
from .base import SourceResult, read_csv_text, require_columns, trimmed_names, unreadable_row

__all__ = ["load", "NAME", "CATEGORIES"]

NAME = "mosmed"
CATEGORIES = ("CT-0", "CT-1", "CT-2", "CT-3", "CT-4")
LICENSE = "CC-BY-NC-ND-3.0"
DOI = "10.1101/2020.05.20.20100362"
URL = "https://mosmed.ai/datasets/covid19_1110"
_STUDY_RE = re.compile(r"(study_\d+)")
# Reasons stored in the bank: fixed wording, never the row's category or mask file name.
_BAD_CATEGORY = f"category is not one of {', '.join(CATEGORIES)}"
_MISSING_MASK = "mask file listed but missing; study kept without mask"


def _registry_from_folders(root: Path) -> pd.DataFrame:
    rows = []
    for cat_dir in sorted((root / "studies").glob("CT-*")):
        for f in sorted(cat_dir.glob("study_*.nii*")):
            m = _STUDY_RE.search(f.name)
            rows.append({"study_id": m.group(1)[6:] if m else f.stem, "category": cat_dir.name, "study_file": f"/studies/{cat_dir.name}/{f.name}", "mask_file": ""})
    masks = {(_STUDY_RE.search(m.name) or [None, None])[1]: m for m in (root / "masks").glob("*_mask.nii*")} if (root / "masks").is_dir() else {}
    for r in rows:
        key = _STUDY_RE.search(r["study_file"]).group(1) if _STUDY_RE.search(r["study_file"]) else None
        if key in masks:
            r["mask_file"] = f"/masks/{masks[key].name}"
    return pd.DataFrame(rows, columns=["study_id", "category", "study_file", "mask_file"])


def load(path: str | Path, version: str | None = None, **_: object) -> SourceResult:
    """Load MosMedData.

    Parameters
    ----------
    path : str or Path
        The dataset folder (with ``dataset_registry.csv`` and/or ``studies/``)
        or the registry file itself.
    version : str, optional
        Release, recorded as ``source_version`` (default ``1.0``).
    """
    p = Path(path)
    root = p.parent if p.is_file() else p
    reg_path = p if p.is_file() else root / "dataset_registry.csv"
    version = version or "1.0"
    if reg_path.is_file():
        try:
            reg = read_csv_text(reg_path, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as e:
            raise SourceFormatError(f"{reg_path}: unreadable registry ({e.__class__.__name__}: {e})") from None
        reg.columns = trimmed_names(reg.columns, reg_path)
        require_columns(reg, ["study_id", "category", "study_file"], reg_path)
        if "mask_file" not in reg.columns:
            reg["mask_file"] = ""
        form = "registry"
    elif (root / "studies").is_dir():
        reg = _registry_from_folders(root)
        form = "studies folders"
        if reg.empty:
            raise SourceFormatError(f"{root / 'studies'}: no studies/CT-k/study_*.nii.gz files found")
    else:
        raise SourceFormatError(f"{root}: neither dataset_registry.csv nor a studies/ folder (not a MosMedData folder)")

    res = SourceResult(source=NAME)
    images, sessions, subjects = [], [], []
    missing_volumes = 0
    missing_masks = 0
    for i, r in reg.iterrows():
        rec = f"row {i + 2}"
        try:
            cat = str(r["category"]).strip().upper()
            if cat not in CATEGORIES:
                res.skip(rec, reg_path, _BAD_CATEGORY)
                continue
            sfile = str(r["study_file"]).strip()
            m = _STUDY_RE.search(sfile)
            sid = m.group(1) if m else f"study_{int(str(r['study_id']).strip()):04d}"
            vol = (root / sfile.lstrip("/")).resolve()
            present = vol.is_file()
            missing_volumes += not present
            mfile = str(r.get("mask_file", "") or "").strip()
            mask = (root / mfile.lstrip("/")).resolve() if mfile else None
            if mask is not None and not mask.is_file():
                res.skip(rec, reg_path, _MISSING_MASK)
                missing_masks += 1
                mask = None
            subject_id, session_id, image_id = (make_id(NAME, sid),) * 3
            subjects.append({"subject_id": subject_id, "original_id": sid})
            sessions.append({"session_id": session_id, "subject_id": subject_id, "original_id": sid, "modality": "CT", "ct_category": cat})
            images.append(
                {
                    "image_id": image_id,
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "original_id": str(r["study_id"]).strip(),
                    "modality": "CT",
                    "view": "Axial",
                    "path": str(vol),
                    "file_present": present,
                    "file_format": "nifti",
                    "license": LICENSE,
                    "license_raw": "CC BY-NC-ND 3.0",
                    "doi": DOI,
                    "url": URL,
                    "mask_path": str(mask) if mask else None,
                    "mask_kind": "lesion" if mask else None,
                    "ct_category": cat,
                }
            )
        except Exception as e:  # one bad row never stops the load
            res.skip(rec, reg_path, unreadable_row(e))
    res.tables = {
        "subjects": pd.DataFrame(subjects).assign(source=NAME, source_version=version),
        "sessions": pd.DataFrame(sessions).assign(source=NAME, source_version=version),
        "images": pd.DataFrame(images).assign(source=NAME, source_version=version),
    }
    res.__post_init__()
    im = res.tables["images"]
    counts = im["ct_category"].value_counts().reindex(list(CATEGORIES), fill_value=0)
    res.meta = {
        "path": str(root.resolve()),
        "form": form,
        "version": version,
        "categories": {k: int(v) for k, v in counts.items()},
        "masks": int(im["mask_path"].notna().sum()),
        "volumes_missing": missing_volumes,
        "notes": [
            f"{len(im)} studies: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; {int(im['mask_path'].notna().sum())} with a lesion mask",
            f"volumes on disk: {len(im) - missing_volumes} of {len(im)} (missing ones kept with file_present = false)",
        ]
        + ([f"{missing_masks} listed masks missing"] if missing_masks else []),
    }
    return res
