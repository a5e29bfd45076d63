"""Rebuild the MIDS TSVs and the bank index of an ingest from the sidecars in the bank."""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

__all__ = ["build_index"]

# --------------------------------------------------------------------------- index
def _age(v) -> float | None:
    from ...sources.base import parse_age

    return parse_age(v) if v not in (None, "") else None


def _date(s: str | None) -> _dt.date | None:
    if not s or len(str(s)) < 8 or not str(s)[:8].isdigit():
        return None
    try:
        return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None




#: Index columns whose texts repeat from image to image (a few distinct values, or one per session or subject).
_REPEATED = frozenset({"session_id", "subject_id", "modality", "view", "sex", "file_format", "photometric",
                       "presentation_lut_shape", "manufacturer", "model", "body_part", "exclude_reason",
                       "burned_in_text", "_date", "_sub", "_ses", "_kind"})


def build_index(bank: str | os.PathLike, name: str = "ingest", skipped: list[dict] | None = None,
                notes: list[str] | None = None) -> dict:
    """Rebuild the MIDS TSVs and the bank index of source ``name`` from the sidecars in ``bank``.

    ``skipped`` rows (record, path, reason code, attributes, run) are written
    as given (the ingest passes every run's, :func:`~covidbank.dicom.ingest.pipeline.read_skipped`).
    Returns the tables written (``subjects``, ``sessions``, ``images``, ``tests``, ``skipped``).
    """
    import pandas as pd

    from ...bank import Bank

    root = Path(bank)
    # column by column: a dict per image row held for all images cost about 1 KB per image more (same frame)
    cols: dict[str, list] = {}
    same: dict[str, str] = {}  # one object per distinct text (the JSON decoder makes a new one per value)
    for p in sorted(root.glob("sub-*/ses-*/mod-*/sub-*.json")):
        for k, v in _image_row(p, name).items():
            if k in _REPEATED and isinstance(v, str):
                v = same.setdefault(v, v)
            cols.setdefault(k, []).append(v)
    del same
    img = pd.DataFrame(cols) if cols else pd.DataFrame([])
    tests_path = root / "phenotype" / "tests.tsv"
    reports_path = root / "phenotype" / "reports.tsv"
    tests = pd.read_csv(tests_path, sep="\t", dtype=str, keep_default_na=False) if tests_path.exists() else None
    reports = pd.read_csv(reports_path, sep="\t", dtype=str, keep_default_na=False) if reports_path.exists() else None
    first_date = _first_dates(img, tests)
    sess_rows, subj_rows = _sessions_and_subjects(img, reports, first_date, name)
    _write_mids_tables(root, subj_rows, sess_rows)
    drop = ["_date", "_sub", "_ses", "_kind"]
    tables = {
        "images": img.drop(columns=[c for c in drop if c in img.columns]) if len(img) else pd.DataFrame(),
        "sessions": pd.DataFrame(sess_rows).drop(columns=["_sub", "_ses", "_mods"], errors="ignore"),
        "subjects": pd.DataFrame(subj_rows).drop(columns=["_sub"], errors="ignore"),
        "tests": pd.DataFrame(_test_rows(tests, first_date, name)),
        "skipped": pd.DataFrame(skipped or [], columns=["record", "path", "reason", "attributes", "run"]),
    }
    # the files are the bank's own: paths relative to it, root "." (relocatable, byte-identical)
    Bank(root, create=True).add(name, tables, meta={"kind": "dicom ingest", "notes": notes or []}, root=root)
    return tables


def _image_row(side_path: Path, name: str) -> dict:
    """The index row of one image from its sidecar (columns starting with ``_`` are for grouping only)."""
    from ...schema import make_id, normalize_view

    side = json.loads(side_path.read_text(encoding="utf-8"))
    cb = side.get("covidbank", {})
    kind = cb.get("kind", "rx")
    img_path = side_path.with_name(side_path.name[:-5] + (".png" if kind == "rx" else ".nii.gz"))
    sex = side.get("PatientSex")
    burned = bool(cb.get("burned_in_annotation"))
    ocr = cb.get("burned_in") or {}  # covidbank.ocr: text found in the pixels (action, reason code)
    ocr_out = ocr.get("action") == "excluded" or (ocr.get("action") == "flagged" and ocr.get("review") == "pending")
    view = normalize_view(side.get("ViewPosition")) if kind == "rx" else "Axial"
    if kind == "ct":
        iop = side.get("ImageOrientationPatient")
        if not iop or abs(abs(iop[0]) - 1) > 0.1 or abs(abs(iop[4]) - 1) > 0.3:
            view = "unknown"
    return {
        "image_id": make_id(name, side_path.name[:-5]),
        "session_id": make_id(name, cb.get("subject"), cb.get("session")),
        "subject_id": make_id(name, cb.get("subject")),
        "original_id": side.get("SeriesInstanceUID") if kind == "ct" else side.get("SOPInstanceUID"),
        "modality": side.get("Modality") or ("CT" if kind == "ct" else None),
        "view": view,
        "sex": sex if sex in ("M", "F") else None,
        "age": _age(side.get("PatientAge")),
        "path": str(img_path.resolve()),
        "file_present": img_path.exists(),
        "file_format": "png" if kind == "rx" else "nifti",
        "photometric": side.get("PhotometricInterpretation"),
        "presentation_lut_shape": side.get("PresentationLUTShape"),
        # ingest's PNGs hold the presentation values (MONOCHROME1 / INVERSE applied when converting)
        "display_ready": bool(cb.get("conversion", {}).get("display_ready", True)) if kind == "rx" else None,
        "manufacturer": side.get("Manufacturer"),
        "model": side.get("ManufacturerModelName"),
        "body_part": side.get("BodyPartExamined"),
        "exclude": burned or ocr_out,
        "exclude_reason": ("burned-in annotation: pixel data may show identifiers" if burned
                           else ocr.get("reason") if ocr_out else None),
        "burned_in_annotation": burned,
        "burned_in_text": ocr.get("action") if ocr else None,
        "review_score": ocr.get("review_score") if ocr.get("review") == "pending" else None,
        "_date": side.get("StudyDate") or side.get("SeriesDate") or side.get("AcquisitionDate"),
        "_sub": cb.get("subject"), "_ses": cb.get("session"), "_kind": kind,
    }


def _first_dates(img, tests) -> dict[str, _dt.date]:
    """Each subject's first (shifted) date: of its images, else of its tests; session offsets count from it."""
    first_date: dict[str, _dt.date] = {}
    if len(img):
        for sub, g in img.groupby("_sub", sort=True):
            dates = [d for d in (_date(x) for x in g["_date"]) if d]
            if dates:
                first_date[sub] = min(dates)
    if tests is not None:
        for sub, g in tests.groupby("participant_id"):
            if sub not in first_date:
                dates = [d for d in (_date(x) for x in g["acq_date"]) if d]
                if dates:
                    first_date[sub] = min(dates)
    return first_date


def _sessions_and_subjects(img, reports, first_date: dict[str, _dt.date], name: str) -> tuple[list[dict], list[dict]]:
    """Session rows (offset from the subject's first date, modalities, the session's report) and subject rows
    (sex and age of the first study); sets ``img['offset_days']``."""
    import pandas as pd

    from ...schema import make_id

    sess_rows: list[dict] = []
    subj_rows: list[dict] = []
    if not len(img):
        return sess_rows, subj_rows
    offsets = {}
    for (sub, ses), g in img.groupby(["_sub", "_ses"], sort=True):
        dates = sorted(d for d in (_date(x) for x in g["_date"]) if d)
        d0 = dates[0] if dates else None
        off = float((d0 - first_date[sub]).days) if d0 and sub in first_date else None
        offsets[(sub, ses)] = off
        mods = sorted(set(str(m).lower() for m in g["modality"].dropna()))
        report = None
        if reports is not None:
            m = reports[(reports.participant_id == sub) & (reports.session_id == ses)]
            report = m["report"].iloc[-1] if len(m) else None
        sess_rows.append({"session_id": make_id(name, sub, ses), "subject_id": make_id(name, sub),
                          "offset_days": off, "date": d0.strftime("%Y%m%d") if d0 else None,
                          "modality": ",".join(m.upper() for m in mods), "report": report,
                          "_sub": sub, "_ses": ses, "_mods": ",".join(mods)})
    img["offset_days"] = [offsets.get((a, b)) for a, b in zip(img["_sub"], img["_ses"])]
    for sub, g in img.groupby("_sub", sort=True):
        g = g.assign(_d=[_date(x) or _dt.date.max for x in g["_date"]]).sort_values("_d")
        sexes = [s for s in g["sex"] if isinstance(s, str) and s]
        ages = [a for a in g["age"] if a is not None and not pd.isna(a)]
        subj_rows.append({"subject_id": make_id(name, sub), "sex": sexes[0] if sexes else None,
                          "age": ages[0] if ages else None, "_sub": sub})
    return sess_rows, subj_rows


def _write_mids_tables(root: Path, subj_rows: list[dict], sess_rows: list[dict]) -> None:
    """``participants.tsv``/``.json``, each subject's ``sessions.tsv`` and the dataset description (MIDS)."""
    from .. import mids

    mids.write_tsv(root / "participants.tsv",
                   [{"participant_id": r["_sub"], "sex": r["sex"],
                     "age": None if r["age"] is None else f"{r['age']:g}"} for r in subj_rows],
                   mids.PARTICIPANTS_COLUMNS)
    mids.write_json(root / "participants.json", {
        "participant_id": {"Description": "Keyed pseudonym of the patient"},
        "sex": {"Description": "DICOM Patient's Sex (Retain Patient Characteristics option)", "Levels": {"M": "male", "F": "female", "O": "other"}},
        "age": {"Description": "Age in years at the first study (DICOM Patient's Age)", "Units": "year"},
    })
    by_sub: dict[str, list[dict]] = {}  # one pass over the sessions (a scan per subject grew with their square)
    for r in sess_rows:
        by_sub.setdefault(r["_sub"], []).append(
            {"session_id": r["_ses"], "acq_date": r["date"],
             "offset_days": None if r["offset_days"] is None else f"{r['offset_days']:g}", "modalities": r["_mods"]})
    for sub in sorted(by_sub):
        mids.write_tsv(root / sub / f"{sub}_sessions.tsv", by_sub[sub], mids.SESSIONS_COLUMNS)
    if not (root / "dataset_description.json").exists():
        mids.write_json(root / "dataset_description.json", mids.dataset_description())
    (root / "derivatives").mkdir(exist_ok=True)


def _test_rows(tests, first_date: dict[str, _dt.date], name: str) -> list[dict]:
    """The bank's ``tests`` rows from ``phenotype/tests.tsv`` (offsets from the subject's first date)."""
    from ...schema import make_id

    rows = []
    if tests is not None:
        for r in tests.to_dict("records"):
            sub = r["participant_id"]
            d = _date(r["acq_date"])
            rows.append({"subject_id": make_id(name, sub), "test_type": r["test_type"], "result": r["result"],
                         "date": r["acq_date"] if d else None,
                         "offset_days": float((d - first_date[sub]).days) if d and sub in first_date else None})
    return rows
