"""Ingest hospital DICOM into a bank: discover, de-identify, convert, lay out MIDS, index.

``covidbank ingest RAW_DIR --bank BANK`` runs :func:`ingest`:

1. discover image instances under ``RAW_DIR`` (headers only) and group them
   into series (:mod:`covidbank.dicom.discover`);
2. give each patient and study a keyed pseudonym (``sub-S01234``,
   ``ses-E01234``) and each patient a date shift, from the project key file
   kept outside the bank (:mod:`covidbank.dicom.keys`);
3. per series, in a process pool (or on a dask.distributed cluster with
   ``--scheduler``): read, de-identify by the PS3.15 Basic Profile
   (:mod:`covidbank.dicom.deid`), convert (X-ray to 16-bit PNG, CT to NIfTI),
   write image, audit and sidecar, each as a temporary file renamed into
   place, the sidecar last: a series whose sidecar exists is finished;
4. rebuild ``participants.tsv``, the sessions TSVs and the bank index (source
   ``ingest`` or ``--name``) from the sidecars present, so a re-run after a
   kill gives the same bank as one clean run.

The ingest log (``BANK/logs/ingest.jsonl``) has one JSON line per input file
or series with its status and reason; files are named by a keyed token of
their path (:meth:`Keyring.token` of ``"path"``), never by the path itself.
"""
from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, List, Optional

import typer

__all__ = ["ingest", "IngestSummary", "process_task", "register", "build_index"]

LOG_NAME = "logs/ingest.jsonl"

#: De-identified attributes copied into sidecars (when present after de-identification).
SIDECAR_KEYS = [
    "Modality", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime",
    "Manufacturer", "ManufacturerModelName", "SoftwareVersions", "BodyPartExamined", "ViewPosition",
    "PatientPosition", "PatientOrientation", "ImageType", "PhotometricInterpretation", "Rows", "Columns",
    "PixelSpacing", "ImagerPixelSpacing", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "WindowCenter", "WindowWidth", "VOILUTFunction", "RescaleSlope", "RescaleIntercept", "RescaleType",
    "PresentationLUTShape", "KVP", "Exposure", "ExposureTime", "XRayTubeCurrent", "ExposureInuAs",
    "DistanceSourceToDetector", "DistanceSourceToPatient", "Grid", "FilterType", "SliceThickness",
    "SpacingBetweenSlices", "ConvolutionKernel", "ReconstructionDiameter", "GantryDetectorTilt",
    "ImageOrientationPatient", "SeriesNumber", "AcquisitionNumber", "PatientSex", "PatientAge", "PatientSize",
    "PatientWeight", "BurnedInAnnotation", "LossyImageCompression", "LossyImageCompressionRatio",
    "LossyImageCompressionMethod", "PatientIdentityRemoved", "DeidentificationMethod",
    "LongitudinalTemporalInformationModified", "StudyDescription", "SeriesDescription", "ProtocolName",
    "ContrastBolusAgent", "CTDIvol",
]


@dataclass
class IngestSummary:
    """What an ingest did."""

    converted: int = 0
    resumed: int = 0
    errors: int = 0
    skipped: int = 0
    series: int = 0
    subjects: int = 0
    sessions: int = 0
    images: int = 0
    tests: int = 0
    reports: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0


# --------------------------------------------------------------------------- helpers
def _jsonable(v: Any) -> Any:
    from pydicom.multival import MultiValue
    from pydicom.valuerep import DSfloat, IS, PersonName

    if isinstance(v, (MultiValue, list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, DSfloat):
        f = float(v)
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    if isinstance(v, IS):
        return int(v)
    if isinstance(v, PersonName):
        return str(v)
    if isinstance(v, bytes):
        return None
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    if isinstance(v, (int, str)) or v is None:
        return v
    return str(v)


def _sidecar_from(ds, keys: Iterable[str] = SIDECAR_KEYS) -> dict:
    out: dict = {}
    for kw in keys:
        if kw in ds:
            try:
                v = _jsonable(ds[kw].value)
            except Exception:
                continue
            if v in (None, "", []):
                continue
            out[kw] = v
    if "DeidentificationMethodCodeSequence" in ds:
        out["DeidentificationMethodCodeSequence"] = [
            {"CodeValue": str(it.CodeValue), "CodingSchemeDesignator": str(it.CodingSchemeDesignator),
             "CodeMeaning": str(it.CodeMeaning)} for it in ds.DeidentificationMethodCodeSequence]
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _nifti_bytes(vol, affine) -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(affine, code=1)
    try:
        img.set_qform(affine, code=1)
    except Exception:  # sheared (tilted) affines have no exact qform
        img.set_qform(None, code=0)
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


# --------------------------------------------------------------------------- worker
def process_task(task: dict, common: dict) -> dict:
    """De-identify and convert one series; write its files into the bank.

    Runs in a worker process (or a dask worker).  Returns a result dict with
    ``status`` (``converted``/``error``), ``reason`` and ``series`` (token); never
    raises for a bad input.
    """
    import pydicom

    from .dicom.convert import ct_to_volume, write_png16, xray_to_uint16
    from .dicom.deid import DeidOptions, PatientContext, deidentify
    from .dicom.keys import Keyring
    from .errors import CovidbankError

    bank = Path(common["bank"])
    out_dir = bank / task["dir"]
    stem = task["stem"]
    res = {"series": task["series_token"], "files": task["file_tokens"], "output": f"{task['dir']}/{stem}"}
    try:
        keyring = Keyring(bytes.fromhex(common["key"]))
        options = DeidOptions(**common["options"])
        ctx = PatientContext(task["sub"], task["ses"], task["shift_days"], task["shift_seconds"])
        dsets = []
        audits = []
        for p in task["paths"]:
            try:
                ds = pydicom.dcmread(p)
            except Exception as e:
                raise CovidbankError(f"unreadable DICOM file ({type(e).__name__})")
            if "PixelData" not in ds:  # pydicom returns what it could read of a file cut short
                raise CovidbankError("unreadable DICOM file (truncated or corrupt: its pixel data could not be read)")
            audit = deidentify(ds, keyring, ctx, options, task["modality"])
            audits.append([a.to_dict() for a in audit])
            dsets.append(ds)
        first = dsets[0]
        side = _sidecar_from(first)
        side.setdefault("Modality", task["modality"])
        cb: dict = {
            "subject": f"sub-{task['sub']}", "session": f"ses-{task['ses']}", "kind": task["kind"],
            "acq": task["acq"], "run": task["run"], "instances": len(dsets),
            "profile": "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, edition 2024b",
            "deid_options": options.to_dict(),
            "private_attributes": "safe list kept, others removed" if options.safe_private else "removed",
            "source_transfer_syntax": getattr(first.file_meta.get("TransferSyntaxUID"), "name", None)
            if hasattr(first, "file_meta") else None,
            "audit": f"logs/audit/{task['dir']}/{stem}.audit.jsonl.gz",
        }
        if task["kind"] == "rx":
            img, params = xray_to_uint16(first, window_index=common.get("window_index", 0))
            data = write_png16(img)
            cb["conversion"] = {"format": "png", "bit_depth": 16, "resized": False, **params,
                                "undo": "value = lo + (png if not inverted else 65535 - png) / 65535 * (hi - lo), "
                                        "(lo, hi) = voi_output_range"}
            image_path = out_dir / f"{stem}.png"
        else:
            vol, affine, geo = ct_to_volume(dsets)
            data = _nifti_bytes(vol, affine)
            cb["conversion"] = {"format": "nifti", "dtype": "int16", "units": "HU", "resampled": False}
            cb["geometry"] = dict(geo)
            cb["affine"] = [[round(float(x), 6) for x in row] for row in affine]
            side["SliceCount"] = len(dsets)
            image_path = out_dir / f"{stem}.nii.gz"
        burned = str(first.get("BurnedInAnnotation", "") or "").upper() == "YES"
        cb["burned_in_annotation"] = burned
        side["covidbank"] = cb
        audit_lines = []
        for i, a in enumerate(audits):
            audit_lines.append(json.dumps({"instance": i + 1, "sop_instance": str(dsets[i].get("SOPInstanceUID", "")),
                                           "records": a}, sort_keys=True))
        _atomic_write(bank / cb["audit"], gzip.compress(("\n".join(audit_lines) + "\n").encode(), mtime=0))
        _atomic_write(image_path, data)
        _atomic_write(out_dir / f"{stem}.json",
                      (json.dumps(side, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        res.update(status="converted", reason=None)
    except CovidbankError as e:
        res.update(status="error", reason=str(e))
    except MemoryError:
        res.update(status="error", reason="out of memory")
    except Exception as e:  # never let a bad file stop the run; never quote values
        res.update(status="error", reason=f"unexpected {type(e).__name__} while converting")
    return res


# --------------------------------------------------------------------------- planning
def _plan(series, keyring, registry, bank: Path) -> tuple[list[dict], dict]:
    """Tasks (one per series) with pseudonyms and MIDS names; and per-patient info."""
    from . import mids

    patients: dict[str, dict] = {}
    by_study: dict[tuple, list] = {}
    for s in series:
        by_study.setdefault((s.patient_key, s.study_uid), []).append(s)
    tasks = []
    for (pkey, study_uid), group in sorted(by_study.items(), key=lambda kv: (keyring.token("patient", kv[0][0]),
                                                                            keyring.token("study", kv[0][1]))):
        ptok = keyring.token("patient", pkey)
        sub = registry.get(keyring, "sub", ptok)
        patients.setdefault(pkey, {"sub": sub, "token": ptok, "shift_days": keyring.date_shift_days(ptok),
                                   "shift_seconds": keyring.time_shift_seconds(ptok)})
        ses = registry.get(keyring, "ses", keyring.token("study", study_uid))
        # run: rank of the DICOM series in the study; acq: rank of the image/stack in the series
        uids = sorted({s.series_uid: s.instances[0].series_number for s in group}.items(),
                      key=lambda kv: (kv[1], keyring.token("series", kv[0])))
        run_of = {u: i + 1 for i, (u, _) in enumerate(uids)}
        per_series: dict[str, list] = {}
        for s in group:
            per_series.setdefault(s.series_uid, []).append(s)
        for uid, items in per_series.items():
            items.sort(key=lambda s: (s.instances[0].acquisition_number, s.instances[0].instance_number,
                                      keyring.token("sop", s.instances[0].sop_instance or s.instances[0].path)))
            for acq, s in enumerate(items, start=1):
                first = s.instances[0]
                kind = s.kind
                suffix = "ct" if kind == "ct" else s.modality.lower()
                bp = mids.body_part(getattr(first, "body_part", None))
                vp = mids.view_entity(first.view) if kind == "rx" else None
                stem = mids.image_name(sub, ses, kind, suffix, acq, run_of[uid], bp, vp)
                tasks.append({
                    "paths": [i.path for i in s.instances],
                    "file_tokens": [keyring.token("path", i.path)[:16] for i in s.instances],
                    "series_token": keyring.token("series", f"{uid}|{acq}")[:16],
                    "kind": kind, "modality": s.modality, "sub": sub, "ses": ses, "acq": acq, "run": run_of[uid],
                    "shift_days": patients[pkey]["shift_days"], "shift_seconds": patients[pkey]["shift_seconds"],
                    "dir": mids.image_dir(sub, ses, kind), "stem": stem,
                })
    return tasks, patients


def _clean_stale(bank: Path) -> None:
    for pattern in ("sub-*/ses-*/mod-*/.*.tmp-*", "logs/audit/**/.*.tmp-*", ".*.tmp-*", "phenotype/.*.tmp-*"):
        for p in bank.glob(pattern):
            try:
                p.unlink()
            except OSError:
                pass


class _Log:
    def __init__(self, path: Path, run_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")
        self.run_id = run_id

    def write(self, **rec) -> None:
        rec = {"time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "run": self.run_id, **rec}
        self.f.write(json.dumps(rec, sort_keys=True) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- tests / reports
def _read_csv(path: Path):
    import pandas as pd

    from .errors import SourceFormatError

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise SourceFormatError(f"{path}: cannot read CSV ({type(e).__name__})") from e


def _norm_cols(df) -> dict[str, str]:
    return {c.strip().lower().replace(" ", "_"): c for c in df.columns}


_TEST_TYPES = {"pcr": "PCR", "rt-pcr": "PCR", "rtpcr": "PCR", "igg": "IgG", "igm": "IgM", "antigen": "antigen",
               "ag": "antigen", "antigen_test": "antigen"}
_RESULTS = {"positive": "positive", "pos": "positive", "+": "positive", "1": "positive", "positivo": "positive",
            "negative": "negative", "neg": "negative", "-": "negative", "0": "negative", "negativo": "negative",
            "indeterminate": "indeterminate", "inconclusive": "indeterminate", "indeterminado": "indeterminate"}


def _shift(date_text: str, days: int) -> str | None:
    s = "".join(ch for ch in str(date_text) if ch.isdigit())[:8]
    if len(s) != 8:
        return None
    try:
        d = _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8])) + _dt.timedelta(days=days)
    except ValueError:
        return None
    return d.strftime("%Y%m%d")


def _process_tests(path: Path, keyring, registry, log: _Log) -> list[dict]:
    from .errors import SourceFormatError

    df = _read_csv(path)
    cols = _norm_cols(df)
    need = {"patient_id": ("patient_id", "patientid", "patient"), "date": ("date", "test_date"),
            "test_type": ("test_type", "type", "test"), "result": ("result", "outcome")}
    found = {}
    for k, alts in need.items():
        for a in alts:
            if a in cols:
                found[k] = cols[a]
                break
        else:
            raise SourceFormatError(f"{path}: missing column {k} (columns needed: patient_id, date, test_type, result)")
    rows = []
    for i, r in df.iterrows():
        pid = str(r[found["patient_id"]]).strip()
        ttype = _TEST_TYPES.get(str(r[found["test_type"]]).strip().lower())
        result = _RESULTS.get(str(r[found["result"]]).strip().lower())
        if not pid or ttype is None or result is None:
            log.write(kind="test", record=i + 2, status="skipped",
                      reason="empty patient id, unknown test type (PCR, IgG, IgM, antigen) or unknown result")
            continue
        ptok = keyring.token("patient", pid)
        sub = registry.get(keyring, "sub", ptok)
        date = _shift(r[found["date"]], keyring.date_shift_days(ptok))
        rows.append({"participant_id": f"sub-{sub}", "test_type": ttype, "result": result, "acq_date": date})
    return rows


def _process_reports(path: Path, keyring, registry, series, log: _Log, deidentify_text: bool = True) -> list[dict]:
    """Reports joined to ingested studies; their text de-identified by
    :func:`covidbank.nlp.deidentify` (names, numbers, places, institutions
    replaced by consistent keyed surrogates, dates moved by the patient's date
    shift) unless ``deidentify_text`` is false (text already de-identified)."""
    from .errors import SourceFormatError

    df = _read_csv(path)
    cols = _norm_cols(df)
    key_col = next((cols[a] for a in ("accession", "accession_number", "study_id", "study_uid", "study_instance_uid")
                    if a in cols), None)
    text_col = next((cols[a] for a in ("text", "report", "report_text") if a in cols), None)
    if key_col is None or text_col is None:
        raise SourceFormatError(f"{path}: needs an accession/study id column and a text column")
    index: dict[str, tuple[str, str]] = {}
    for s in series:
        for inst in s.instances:
            pair = (s.patient_key, s.study_uid)
            index.setdefault(s.study_uid, pair)
            if inst.accession:
                index.setdefault(inst.accession, pair)
    rows = []
    for i, r in df.iterrows():
        ref = str(r[key_col]).strip()
        if ref not in index:
            log.write(kind="report", record=i + 2, status="skipped", reason="no ingested study with this accession/study id")
            continue
        pkey, study = index[ref]
        ptok = keyring.token("patient", pkey)
        sub = registry.get(keyring, "sub", ptok)
        ses = registry.get(keyring, "ses", keyring.token("study", study))
        text = str(r[text_col])
        if deidentify_text:
            from .nlp.deid import Surrogates, deidentify

            # surrogates keyed by a secret token (not the public pseudonym), dates
            # shifted like the patient's images so intervals survive
            sur = Surrogates(patient_key=keyring.token("report-surrogates", pkey), date_shift_days=keyring.date_shift_days(ptok))
            text = deidentify(text, sur).text
        rows.append({"participant_id": f"sub-{sub}", "session_id": f"ses-{ses}", "report": text})
    return rows


def _merge_tsv(path: Path, rows: list[dict], columns: list[str], key: list[str]) -> None:
    import pandas as pd

    from . import mids

    old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False) if path.exists() else pd.DataFrame(columns=columns)
    new = pd.DataFrame(rows, columns=columns).astype("string").fillna("n/a")
    both = pd.concat([old.astype("string"), new], ignore_index=True).drop_duplicates(subset=key, keep="last")
    both = both.sort_values(columns).reset_index(drop=True)
    mids.write_tsv(path, both.to_dict("records"), columns)


# --------------------------------------------------------------------------- index
def _age(v) -> float | None:
    from .sources.base import parse_age

    return parse_age(v) if v not in (None, "") else None


def _date(s: str | None) -> _dt.date | None:
    if not s or len(str(s)) < 8 or not str(s)[:8].isdigit():
        return None
    try:
        return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


_VIEW = {"PA": "PA", "AP": "AP", "LL": "L", "RL": "L", "LATERAL": "L", "LAT": "L"}


def build_index(bank: str | os.PathLike, name: str = "ingest", skipped: list[dict] | None = None,
                notes: list[str] | None = None) -> dict:
    """Rebuild the MIDS TSVs and the bank index of source ``name`` from the sidecars in ``bank``.

    Returns the tables written (``subjects``, ``sessions``, ``images``, ``tests``, ``skipped``).
    """
    import pandas as pd

    from . import mids
    from .bank import Bank
    from .schema import make_id

    root = Path(bank)
    images = []
    for side_path in sorted(root.glob("sub-*/ses-*/mod-*/sub-*.json")):
        side = json.loads(side_path.read_text(encoding="utf-8"))
        cb = side.get("covidbank", {})
        kind = cb.get("kind", "rx")
        img_path = side_path.with_name(side_path.name[:-5] + (".png" if kind == "rx" else ".nii.gz"))
        sex = side.get("PatientSex")
        burned = bool(cb.get("burned_in_annotation"))
        view = _VIEW.get(str(side.get("ViewPosition", "")).upper(), "unknown") if kind == "rx" else "Axial"
        if kind == "ct":
            iop = side.get("ImageOrientationPatient")
            if not iop or abs(abs(iop[0]) - 1) > 0.1 or abs(abs(iop[4]) - 1) > 0.3:
                view = "unknown"
        images.append({
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
            "manufacturer": side.get("Manufacturer"),
            "model": side.get("ManufacturerModelName"),
            "body_part": side.get("BodyPartExamined"),
            "exclude": burned,
            "exclude_reason": "burned-in annotation: pixel data may show identifiers" if burned else None,
            "burned_in_annotation": burned,
            "_date": side.get("StudyDate") or side.get("SeriesDate") or side.get("AcquisitionDate"),
            "_sub": cb.get("subject"), "_ses": cb.get("session"), "_kind": kind,
        })
    img = pd.DataFrame(images)
    # sessions and subjects
    tests_path = root / "phenotype" / "tests.tsv"
    reports_path = root / "phenotype" / "reports.tsv"
    tests = pd.read_csv(tests_path, sep="\t", dtype=str, keep_default_na=False) if tests_path.exists() else None
    reports = pd.read_csv(reports_path, sep="\t", dtype=str, keep_default_na=False) if reports_path.exists() else None
    sess_rows, subj_rows = [], []
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
    offsets = {}
    if len(img):
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
    # MIDS TSVs
    mids.write_tsv(root / "participants.tsv",
                   [{"participant_id": r["_sub"], "sex": r["sex"],
                     "age": None if r["age"] is None else f"{r['age']:g}"} for r in subj_rows],
                   mids.PARTICIPANTS_COLUMNS)
    mids.write_json(root / "participants.json", {
        "participant_id": {"Description": "Keyed pseudonym of the patient"},
        "sex": {"Description": "DICOM Patient's Sex (Retain Patient Characteristics option)", "Levels": {"M": "male", "F": "female", "O": "other"}},
        "age": {"Description": "Age in years at the first study (DICOM Patient's Age)", "Units": "year"},
    })
    for sub in sorted({r["_sub"] for r in sess_rows}):
        rows = [{"session_id": r["_ses"], "acq_date": r["date"],
                 "offset_days": None if r["offset_days"] is None else f"{r['offset_days']:g}",
                 "modalities": r["_mods"]} for r in sess_rows if r["_sub"] == sub]
        mids.write_tsv(root / sub / f"{sub}_sessions.tsv", rows, mids.SESSIONS_COLUMNS)
    if not (root / "dataset_description.json").exists():
        mids.write_json(root / "dataset_description.json", mids.dataset_description())
    (root / "derivatives").mkdir(exist_ok=True)
    # bank tables
    test_rows = []
    if tests is not None:
        for r in tests.to_dict("records"):
            sub = r["participant_id"]
            d = _date(r["acq_date"])
            test_rows.append({"subject_id": make_id(name, sub), "test_type": r["test_type"], "result": r["result"],
                              "date": r["acq_date"] if d else None,
                              "offset_days": float((d - first_date[sub]).days) if d and sub in first_date else None})
    drop = ["_date", "_sub", "_ses", "_kind"]
    tables = {
        "images": img.drop(columns=[c for c in drop if c in img.columns]) if len(img) else pd.DataFrame(),
        "sessions": pd.DataFrame(sess_rows).drop(columns=["_sub", "_ses", "_mods"], errors="ignore"),
        "subjects": pd.DataFrame(subj_rows).drop(columns=["_sub"], errors="ignore"),
        "tests": pd.DataFrame(test_rows),
        "skipped": pd.DataFrame(skipped or [], columns=["record", "path", "reason"]),
    }
    Bank(root, create=True).add(name, tables, meta={"kind": "dicom ingest", "notes": notes or []})
    return tables


# --------------------------------------------------------------------------- driver
def ingest(
    raw_dir: str | os.PathLike,
    bank: str | os.PathLike,
    key_file: str | os.PathLike | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    options=None,
    name: str = "ingest",
    tests: str | os.PathLike | None = None,
    reports: str | os.PathLike | None = None,
    reports_deidentified: bool = False,
    linkage: str | os.PathLike | None = None,
    window_index: int = 0,
    progress: bool = False,
) -> IngestSummary:
    """Ingest the DICOM files under ``raw_dir`` into ``bank`` (see module docstring).

    Parameters
    ----------
    raw_dir, bank : path-like
    key_file : path-like, optional
        Project key (created when missing; refused inside the bank). Default
        :func:`~covidbank.dicom.keys.default_key_file`.
    workers : int
        Processes (1 = in this process).
    scheduler : str, optional
        Address of a dask.distributed scheduler (``tcp://host:8786``); overrides ``workers``.
    options : DeidOptions, optional
    name : str
        Source name of the rows in the bank index.
    tests, reports : path-like, optional
        ``tests.csv`` (patient_id, date, test_type, result) and ``reports.csv``
        (accession or study id, text), joined with the same pseudonyms and shifts.
    reports_deidentified : bool
        The reports' text is already de-identified: store it as it is.  By
        default it is de-identified first (:func:`covidbank.nlp.deidentify`,
        dates moved by the patient's date shift).
    linkage : path-like, optional
        Write original patient id -> pseudonym here (refused inside the bank).
    window_index : int
        Which window / VOI LUT to apply when several are present.
    progress : bool
        Show a rich progress bar.
    """
    from .dicom.deid import DeidOptions
    from .dicom.discover import discover
    from .dicom.keys import Keyring, PseudonymRegistry, default_key_file, load_key
    from .errors import BankError, KeyFileError

    t0 = time.perf_counter()
    options = options or DeidOptions()
    raw = Path(raw_dir)
    root = Path(bank)
    if not raw.exists():
        raise BankError(f"{raw}: input folder not found")
    root.mkdir(parents=True, exist_ok=True)
    key = load_key(key_file or default_key_file(), create=True, bank=root)
    keyring = Keyring(key)
    if linkage is not None:
        lp = Path(linkage).resolve()
        if root.resolve() in lp.parents:
            raise KeyFileError(f"{lp}: the linkage file must be kept outside the bank")
    _clean_stale(root)
    registry = PseudonymRegistry(root / ".covidbank" / "pseudonyms.json")
    run_id = uuid.uuid4().hex[:12]
    log = _Log(root / LOG_NAME, run_id)
    summary = IngestSummary()
    try:
        series, skips = discover(raw, exclude=[root])
        summary.files = sum(len(s.instances) for s in series) + len(skips)
        skipped_rows = []
        for sk in skips:
            tok = keyring.token("path", sk.path)[:16]
            log.write(kind="file", file=tok, status="skipped", reason=sk.reason)
            skipped_rows.append({"record": tok, "path": f"file {tok}", "reason": sk.reason})
        summary.skipped = len(skips)
        tasks, patients = _plan(series, keyring, registry, root)
        summary.series = len(tasks)
        test_rows = _process_tests(Path(tests), keyring, registry, log) if tests else []
        report_rows: list[dict] = []
        if reports:
            report_rows = _process_reports(Path(reports), keyring, registry, series, log,
                                           deidentify_text=not reports_deidentified)
        registry.save()
        if linkage is not None:
            from . import mids

            mids.write_tsv(Path(linkage), [{"original_patient_id": k, "participant_id": f"sub-{v['sub']}"}
                                           for k, v in sorted(patients.items())],
                           ["original_patient_id", "participant_id"])
        todo = []
        for t in tasks:
            if (root / t["dir"] / f"{t['stem']}.json").exists():
                summary.resumed += 1
                log.write(kind="series", series=t["series_token"], files=t["file_tokens"], status="done-before",
                          output=f"{t['dir']}/{t['stem']}")
            else:
                todo.append(t)
        common = {"bank": str(root.resolve()), "key": key.hex(), "options": options.to_dict(),
                  "window_index": window_index}
        for res in _run(todo, common, workers, scheduler, progress):
            log.write(kind="series", **res)
            if res["status"] == "converted":
                summary.converted += 1
            else:
                summary.errors += 1
                skipped_rows.append({"record": res["series"], "path": f"series {res['series']}", "reason": res["reason"]})
        if test_rows:
            _merge_tsv(root / "phenotype" / "tests.tsv", test_rows,
                       ["participant_id", "test_type", "result", "acq_date"],
                       ["participant_id", "test_type", "result", "acq_date"])
        if report_rows:
            _merge_tsv(root / "phenotype" / "reports.tsv", report_rows, ["participant_id", "session_id", "report"],
                       ["participant_id", "session_id"])
        tables = build_index(root, name, skipped_rows, summary.notes)
        summary.images = len(tables["images"])
        summary.subjects = len(tables["subjects"])
        summary.sessions = len(tables["sessions"])
        summary.tests = len(tables["tests"])
        summary.reports = len(report_rows)
        summary.seconds = time.perf_counter() - t0
        log.write(kind="run", status="finished", converted=summary.converted, resumed=summary.resumed,
                  errors=summary.errors, skipped=summary.skipped, seconds=round(summary.seconds, 3))
    finally:
        log.close()
    return summary


def _run(tasks: list[dict], common: dict, workers: int, scheduler: str | None, progress: bool):
    """Yield results of :func:`process_task` over ``tasks`` (inline, process pool or dask)."""
    bar = None
    if progress and tasks:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       transient=False)
        bar.start()
        tid = bar.add_task("series", total=len(tasks))
    try:
        if scheduler:
            from distributed import Client, as_completed

            with Client(scheduler) as client:
                futs = client.map(process_task, tasks, common=common, pure=False)
                for f in as_completed(futs):
                    yield f.result()
                    if bar:
                        bar.advance(tid)
        elif workers > 1 and len(tasks) > 1:
            from concurrent.futures import ProcessPoolExecutor, as_completed as done

            with ProcessPoolExecutor(max_workers=workers) as ex:
                futs = {ex.submit(process_task, t, common): t for t in tasks}
                for f in done(futs):
                    try:
                        yield f.result()
                    except Exception as e:  # a worker died (e.g. a decoder crashed): report, go on
                        t = futs[f]
                        yield {"series": t["series_token"], "files": t["file_tokens"],
                               "output": f"{t['dir']}/{t['stem']}", "status": "error",
                               "reason": f"worker process failed ({type(e).__name__}); re-run to retry"}
                    if bar:
                        bar.advance(tid)
        else:
            for t in tasks:
                yield process_task(t, common)
                if bar:
                    bar.advance(tid)
    finally:
        if bar:
            bar.stop()


# --------------------------------------------------------------------------- CLI
def register(app) -> None:
    """Add ``covidbank ingest`` and ``covidbank validate`` to the CLI."""
    @app.command("ingest")
    def ingest_cmd(
        raw_dir: Path = typer.Argument(..., help="Folder of DICOM files (any tree, any file names)."),
        bank: Path = typer.Option(..., "--bank", "-b", help="Bank folder (created if missing); the MIDS root."),
        workers: int = typer.Option(max(1, min(4, os.cpu_count() or 1)), "--workers", "-j", help="Worker processes."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://...)."),
        key_file: Optional[Path] = typer.Option(None, "--key-file", "-k",
                                                help="Project key file, kept outside the bank (created if missing; "
                                                     "default $COVIDBANK_KEY_FILE or ~/.config/covidbank/ingest.key)."),
        options: List[str] = typer.Option([], "--options", "-o",
                                          help="De-identification options as name=yes/no: retain_modified_dates (yes), "
                                               "retain_patient_characteristics (yes), clean_descriptors (no)."),
        safe_private: Optional[Path] = typer.Option(None, "--safe-private",
                                                    help="Retain Safe Private: CSV/TSV of private attributes the curator "
                                                         "established as safe (columns creator, group, element; hex)."),
        name: str = typer.Option("ingest", "--name", help="Source name of the images in the bank index."),
        tests: Optional[Path] = typer.Option(None, "--tests", help="tests.csv: patient_id, date, test_type, result."),
        reports: Optional[Path] = typer.Option(None, "--reports", help="reports.csv: accession (or study id), text."),
        reports_deidentified: bool = typer.Option(False, "--reports-deidentified",
                                                  help="The reports' text is already de-identified: store it as it is (default: de-identify it first)."),
        linkage: Optional[Path] = typer.Option(None, "--linkage",
                                               help="Write original patient id -> pseudonym to this file (outside the bank)."),
        window: int = typer.Option(0, "--window", help="Which window / VOI LUT to apply (0 = first)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    ) -> None:
        """De-identify (PS3.15 Basic Profile), convert (X-ray 16-bit PNG, CT NIfTI) and lay out DICOM as MIDS."""
        from .cli import console, fail
        from .dicom.deid import DeidOptions
        from .errors import CovidbankError

        try:
            opts = DeidOptions.parse(options)
            if safe_private is not None:
                import dataclasses

                opts = dataclasses.replace(opts, safe_private=DeidOptions.read_safe_private(safe_private))
        except (ValueError, OSError) as e:
            raise fail(str(e), 2)
        try:
            s = ingest(raw_dir, bank, key_file=key_file, workers=workers, scheduler=scheduler, options=opts, name=name,
                       tests=tests, reports=reports, reports_deidentified=reports_deidentified, linkage=linkage,
                       window_index=window, progress=not no_progress)
        except CovidbankError as e:
            raise fail(str(e))
        console.print(f"[green]{name}[/]: {s.series} series from {s.files} files in {s.seconds:.1f} s -> {bank}")
        console.print(f"  converted {s.converted}, already done {s.resumed}, errors {s.errors}, skipped files {s.skipped}")
        console.print(f"  subjects {s.subjects}, sessions {s.sessions}, images {s.images}, tests {s.tests}")
        for n in s.notes:
            console.print(f"  note: {n}")
        if s.errors or s.skipped:
            console.print(f"  reasons per file/series: {bank / LOG_NAME}")

    @app.command("validate")
    def validate_cmd(
        bank: Path = typer.Argument(..., help="Bank folder (MIDS root)."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Check a bank's MIDS layout (names, entities, sidecar keys, TSV columns); exit 1 on problems."""
        import pandas as pd

        from .cli import console, print_frame
        from .mids import validate

        probs = validate(bank)
        if not probs:
            console.print(f"[green]{bank}[/]: valid MIDS layout")
            return
        print_frame(pd.DataFrame([{"path": p.path, "problem": p.message} for p in probs]), format)
        console.print(f"[red]{len(probs)} problem(s)[/]")
        raise typer.Exit(1)
