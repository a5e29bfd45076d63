"""COVID-19 Image Data Collection (Cohen et al., ieee8023/covid-chestxray-dataset).

Reads ``metadata.csv`` as published: the ``finding`` column may be flat
(``COVID-19``, ``COVID-19, ARDS``, ``Mycoplasma Bacterial Pneumonia``, older
releases) or hierarchical (``Pneumonia/Viral/COVID-19``, newer releases); both
map onto the same label hierarchy (:data:`covidbank.labels.COHEN_HIERARCHY`).
Rows whose finding is ``todo`` or ``Unknown`` are skipped with a reason.
Missing image files are kept with ``file_present = False``.  Severity scores
(``annotations/covid-severity-scores.csv``) and lungVAE masks
(``annotations/lungVAE-masks/<stem>_mask.png``) are joined to their images.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ..errors import SourceFormatError
from ..labels import COHEN_FLAT_FINDINGS, LabelTree, default_tree
from ..pixels import is_nifti
from ..schema import POSITIVE, make_id, normalize_view
from .base import (
    SourceResult,
    normalize_license,
    parse_age,
    parse_bool,
    read_side_table,
    require_columns,
    to_float,
)

__all__ = ["load", "parse_finding", "NAME"]

NAME = "cohen"
REQUIRED = ["patientid", "finding", "view", "modality", "filename"]
SKIP_FINDINGS = {"todo", "unknown", ""}


def parse_finding(finding: str, tree: LabelTree) -> list[str]:
    """Turn a ``finding`` cell into hierarchy leaf labels (preferred names).

    Flat values (``COVID-19, ARDS``) are mapped through
    :data:`~covidbank.labels.COHEN_FLAT_FINDINGS`; paths
    (``Pneumonia/Viral/COVID-19``) are added as paths.  Unknown flat values
    become top-level labels of their own.
    """
    out: list[str] = []
    for part in re.split(r",", str(finding)):
        part = part.strip()
        if not part:
            continue
        if "/" in part:
            out.append(tree.add_path(part))
            continue
        path = COHEN_FLAT_FINDINGS.get(part.lower())
        out.append(tree.add_path(path) if path else tree.add(part))
    return list(dict.fromkeys(out))


def _view(raw: str) -> str:
    return normalize_view(raw)


def _modality(raw: str) -> str:
    s = str(raw).strip()
    if s.upper() in {"CT", "CR", "DX"}:
        return s.upper()
    return "X-ray" if s.lower().replace("-", "") in {"xray", "x ray", ""} else s


def _clean(v: object) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s if s and s not in {"?", "nan"} else None


def load(path: str | Path, version: str | None = None, tree: LabelTree | None = None, **_: object) -> SourceResult:
    """Load the COVID-19 Image Data Collection.

    Parameters
    ----------
    path : str or Path
        The dataset folder (holding ``metadata.csv``) or the ``metadata.csv`` file.
    version : str, optional
        Release or commit, recorded as ``source_version``.
    tree : LabelTree, optional
        Vocabulary to extend; :func:`~covidbank.labels.default_tree` by default.

    Returns
    -------
    SourceResult
    """
    p = Path(path)
    root = p.parent if p.is_file() else p
    meta_csv = p if p.is_file() else p / "metadata.csv"
    if not meta_csv.is_file():
        raise SourceFormatError(f"{meta_csv}: not found (expected the collection's metadata.csv)")
    try:
        raw = pd.read_csv(meta_csv, dtype=str, keep_default_na=False, encoding="utf-8", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as e:
        raise SourceFormatError(f"{meta_csv}: unreadable CSV ({e.__class__.__name__}: {e})") from None
    raw.columns = [c.strip() for c in raw.columns]
    require_columns(raw, REQUIRED, meta_csv)
    tree = tree or default_tree()

    res = SourceResult(source=NAME)
    severity = _load_severity(root / "annotations" / "covid-severity-scores.csv", res)
    mask_dir = root / "annotations" / "lungVAE-masks"
    masks = {m.name[: -len("_mask.png")]: m for m in mask_dir.glob("*_mask.png")} if mask_dir.is_dir() else {}

    subjects: dict[str, dict] = {}
    sessions: dict[str, dict] = {}
    images: list[dict] = []
    labels: list[dict] = []
    seen_ids: Counter = Counter()
    col = lambda r, *names: next((r[n] for n in names if n in r and r[n] != ""), "")  # noqa: E731

    for i, r in raw.iterrows():
        rec = f"row {i + 2}"
        try:
            finding = str(r["finding"]).strip()
            if finding.lower() in SKIP_FINDINGS:
                res.skip(rec, meta_csv, f"finding is {finding!r}: no label yet")
                continue
            pid = str(r["patientid"]).strip()
            if not pid:
                res.skip(rec, meta_csv, "empty patientid")
                continue
            fname = str(r["filename"]).strip()
            if not fname:
                res.skip(rec, meta_csv, "empty filename")
                continue
            folder = str(r.get("folder", "images") or "images").strip()
            subject_id = make_id(NAME, pid)
            offset = to_float(r.get("offset"))
            ses_key = f"{pid}/" + (f"d{offset:g}" if offset is not None else (_clean(r.get("date")) or fname))
            session_id = make_id(NAME, ses_key)
            base_id = f"{folder}/{fname}"
            seen_ids[base_id] += 1
            image_id = make_id(NAME, base_id if seen_ids[base_id] == 1 else f"{base_id}#{seen_ids[base_id]}")
            fpath = (root / folder / fname).resolve()
            present = fpath.is_file()
            sex = _clean(r.get("sex"))
            sex = sex.upper() if sex and sex.upper() in {"M", "F"} else None
            age = parse_age(r.get("age"))
            subj = subjects.setdefault(subject_id, {"subject_id": subject_id, "original_id": pid, "sex": sex, "age": age, "survival": None})
            subj["sex"] = subj["sex"] or sex
            if age is not None and (subj["age"] is None or (offset is not None and offset <= 0)):
                subj["age"] = subj["age"] if subj["age"] is not None and subj["age"] <= age else age
            surv = parse_bool(r.get("survival"))
            if surv is not None:
                subj["survival"] = surv if subj["survival"] is None else (subj["survival"] and surv)
            if session_id not in sessions:
                sessions[session_id] = {
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "original_id": ses_key,
                    "offset_days": offset,
                    "date": _clean(r.get("date")),
                    "modality": _modality(r["modality"]),
                    "intubated": parse_bool(r.get("intubated")),
                    "intubation_present": parse_bool(r.get("intubation_present")),
                    "went_icu": parse_bool(r.get("went_icu")),
                    "in_icu": parse_bool(r.get("in_icu")),
                    "needed_supplemental_o2": parse_bool(col(r, "needed_supplemental_O2", "needed_supplemental_o2")),
                    "extubated": parse_bool(r.get("extubated")),
                    "temperature": to_float(r.get("temperature")),
                    "po2_saturation": to_float(col(r, "pO2_saturation", "pO2 saturation")),
                    "leukocyte_count": to_float(col(r, "leukocyte_count", "wbc count", "wbc_count")),
                    "neutrophil_count": to_float(col(r, "neutrophil_count", "neutrophil count")),
                    "lymphocyte_count": to_float(col(r, "lymphocyte_count", "lymphocyte count")),
                    "clinical_notes": _clean(col(r, "clinical_notes", "clinical notes")),
                    "location": _clean(r.get("location")),
                }
            sev = severity.get(fname, (None, None))
            stem = Path(fname).stem
            mask = masks.get(stem)
            lic_raw = _clean(r.get("license"))
            images.append(
                {
                    "image_id": image_id,
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "source_version": version,
                    "original_id": fname,
                    "modality": _modality(r["modality"]),
                    "view": _view(r["view"]),
                    "sex": sex,
                    "age": age,
                    "offset_days": offset,
                    "path": str(fpath),
                    "file_present": present,
                    "file_format": "nifti" if is_nifti(fname) else Path(fname).suffix.lower().lstrip(".").replace("jpg", "jpeg") or None,
                    "license": normalize_license(lic_raw),
                    "license_raw": lic_raw,
                    "doi": _clean(r.get("doi")),
                    "url": _clean(r.get("url")),
                    "mask_path": str(mask.resolve()) if mask else None,
                    "mask_kind": "lung" if mask else None,
                    "severity_geographic_extent": sev[0],
                    "severity_opacity": sev[1],
                }
            )
            leaves = parse_finding(finding, tree)
            values = tree.expand({leaf: POSITIVE for leaf in leaves})
            for lab, v in values.items():
                labels.append(
                    {
                        "image_id": image_id,
                        "label": lab,
                        "cui": tree.cui(lab),
                        "value": v,
                        "origin": "source" if lab in leaves else "implied",
                    }
                )
        except Exception as e:  # one bad row never stops the load
            res.skip(rec, meta_csv, f"unreadable row: {e.__class__.__name__}: {e}")

    for s in subjects.values():
        s["source"] = NAME
        s["source_version"] = version
    res.tables = {
        "subjects": pd.DataFrame(list(subjects.values())),
        "sessions": pd.DataFrame(list(sessions.values())).assign(source=NAME, source_version=version),
        "images": pd.DataFrame(images).assign(source=NAME),
        "labels": pd.DataFrame(labels).assign(source=NAME),
    }
    res.__post_init__()
    raw_views = Counter(_view(v) for v in raw["view"])
    kept_views = Counter(im["view"] for im in images)
    n_present_all = sum((root / str(f or "images").strip() / str(n).strip()).is_file() for f, n in zip(raw.get("folder", ["images"] * len(raw)), raw["filename"]))
    present = sum(im["file_present"] for im in images)
    res.meta = {
        "path": str(meta_csv.resolve()),
        "version": version,
        "rows": len(raw),
        "records": len(images),
        "files_present": int(present),
        "files_present_all_rows": int(n_present_all),
        "views_all_rows": dict(raw_views),
        "views_records": dict(kept_views),
        "notes": [
            f"metadata.csv: {len(raw)} rows, {len(images)} image records kept, {len(raw) - len(images)} skipped",
            f"files present: {present} of {len(images)} records ({n_present_all} of all {len(raw)} rows, skipped rows included)",
            "views, all rows: " + ", ".join(f"{k} {v}" for k, v in raw_views.most_common()),
            "views, kept records: " + ", ".join(f"{k} {v}" for k, v in kept_views.most_common()),
        ],
    }
    return res


def _load_severity(path: Path, res: SourceResult) -> dict[str, tuple[float | None, float | None]]:
    """Read the severity scores CSV (comment lines start with ``#``)."""
    df = read_side_table(path, res, "severity scores", comment="#")
    if df is None:
        return {}
    if not {"filename", "geographic_mean", "opacity_mean"} <= set(df.columns):
        res.skip("severity scores", path, "missing columns filename, geographic_mean, opacity_mean")
        return {}
    return {str(r.filename).strip(): (to_float(r.geographic_mean), to_float(r.opacity_mean)) for r in df.itertuples()}
