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
from typing import Any, Iterable

from ...fileio import atomic_write
from .index import build_index
from .tables import _merge_tsv, _process_reports, _process_tests

__all__ = ["ingest", "IngestSummary", "process_task", "plan_tasks", "worker_common", "LOG_NAME"]

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
    burned_in: dict = field(default_factory=dict)  # action (redacted, excluded, flagged) -> images


# --------------------------------------------------------------------------- helpers
def _jsonable(v: Any) -> Any:
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSfloat, PersonName

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


def _nifti_bytes(vol, affine) -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(affine, code=1)
    try:
        img.set_qform(affine, code=1)
    except Exception:  # sheared (tilted) affines have no exact qform
        img.set_qform(None, code=0)
    # level 1: a third of level 6's CPU time on CT volumes for 2-3 % larger files (still standard .nii.gz, deterministic)
    return gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)


# --------------------------------------------------------------------------- worker
def process_task(task: dict, common: dict) -> dict:
    """De-identify and convert one series; write its files into the bank.

    Runs in a worker process (or a dask worker).  Returns a result dict with
    ``status`` (``converted``/``error``), ``reason`` and ``series`` (token); never
    raises for a bad input.
    """
    import pydicom

    from ...errors import CovidbankError
    from ..convert import ct_to_volume, write_png16, xray_to_uint16
    from ..deid import DeidOptions, PatientContext, deidentify_dataset
    from ..keys import Keyring

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
        deny = None
        for p in task["paths"]:
            try:
                ds = pydicom.dcmread(p)
            except Exception as e:
                raise CovidbankError(f"unreadable DICOM file ({type(e).__name__})")
            if "PixelData" not in ds:  # pydicom returns what it could read of a file cut short
                raise CovidbankError("unreadable DICOM file (truncated or corrupt: its pixel data could not be read)")
            if task["kind"] == "rx" and deny is None and common.get("burned_in"):
                from ..denylist import DenyList

                deny = DenyList.from_dataset(ds)  # before de-identification: the values it removes
            audit = deidentify_dataset(ds, keyring, ctx, options, task["modality"])
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
            if common.get("burned_in"):  # text burned into the pixels: redact/exclude/flag (covidbank.ocr)
                from ...ocr.burnedin import ingest_check

                img = ingest_check(img, deny, common["burned_in"], side, cb)
            data = write_png16(img) if img is not None else None
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
        if common.get("keep_dicom"):  # --keep-dicom (dicom/ingest/keep.py), before the sidecar that marks completion
            from .keep import keep_dicom

            ocr_action = (cb.get("burned_in") or {}).get("action")
            if ocr_action == "redacted":  # the kept DICOM gets the PNG's redactions (covidbank.ocr)
                from ...ocr.burnedin import redact_dataset

                redact_dataset(first, [(b["x"], b["y"], b["w"], b["h"]) for b in cb["burned_in"]["boxes"]])
            if ocr_action in (None, "none", "redacted"):
                cb["kept_dicom"] = keep_dicom(dsets, bank, task["dir"], stem)
            else:  # excluded or flagged for burned-in personal data: its pixels are not kept as DICOM
                cb["kept_dicom"] = None
        burned = str(first.get("BurnedInAnnotation", "") or "").upper() == "YES"
        cb["burned_in_annotation"] = burned
        side["covidbank"] = cb
        audit_lines = []
        for i, a in enumerate(audits):
            audit_lines.append(json.dumps({"instance": i + 1, "sop_instance": str(dsets[i].get("SOPInstanceUID", "")),
                                           "records": a}, sort_keys=True))
        atomic_write(bank / cb["audit"], gzip.compress(("\n".join(audit_lines) + "\n").encode(), mtime=0))
        if data is not None:
            atomic_write(image_path, data)
        atomic_write(out_dir / f"{stem}.json",
                      (json.dumps(side, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        res.update(status="converted", reason=None)
        if "burned_in" in cb:
            res["burned_in"] = {k: cb["burned_in"][k] for k in ("action", "reason")}
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
    from .. import mids

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
    keep_dicom: bool = False,
    burned_in: str = "redact",
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
    keep_dicom : bool
        Also store the de-identified DICOM instances under ``sourcedata/``
        (:mod:`covidbank.dicom.ingest.keep`), for DICOM SEG/SR export.
    progress : bool
        Show a rich progress bar.
    burned_in : {"redact", "exclude", "flag"}
        What to do with personal data burned into X-ray pixels (Tesseract OCR,
        :mod:`covidbank.ocr`): fill it and verify by a second OCR (default),
        leave the image out of the bank, or keep it out of the index until a
        curator reviews it.
    """
    from ...errors import BankError, KeyFileError
    from ..deid import DeidOptions
    from ..discover import discover
    from ..keys import Keyring, PseudonymRegistry, default_key_file, load_key

    from ...ocr.burnedin import POLICIES

    if burned_in not in POLICIES:
        raise BankError(f"unknown --burned-in policy {burned_in!r}: use one of {', '.join(POLICIES)}")
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
            from .. import mids

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
        common = {**worker_common(root, key, options, window_index, burned_in), "keep_dicom": bool(keep_dicom)}
        if any(t["kind"] == "rx" for t in todo):  # fail early, once, when Tesseract is missing
            from ...ocr.engine import tesseract_info

            tesseract_info()
        for res in _run(todo, common, workers, scheduler, progress):
            log.write(kind="series", **res)
            if res["status"] == "converted":
                summary.converted += 1
                act = (res.get("burned_in") or {}).get("action")
                if act and act != "none":
                    summary.burned_in[act] = summary.burned_in.get(act, 0) + 1
            else:
                summary.errors += 1
                skipped_rows.append({"record": res["series"], "path": f"series {res['series']}", "reason": res["reason"]})
        from ...ocr.review import apply_reviews  # curators' burned-in text decisions from the viewer

        reviewed = apply_reviews(root)
        if any(reviewed.values()):
            summary.notes.append("burned-in text reviews applied: " +
                                 ", ".join(f"{k} {v}" for k, v in reviewed.items() if v))
        if test_rows:
            _merge_tsv(root / "phenotype" / "tests.tsv", test_rows,
                       ["participant_id", "test_type", "result", "acq_date"],
                       ["participant_id", "test_type", "result", "acq_date"])
        if report_rows:
            _merge_tsv(root / "phenotype" / "reports.tsv", report_rows, ["participant_id", "session_id", "report"],
                       ["participant_id", "session_id"])
            from .. import mids

            # how the text was de-identified: what `covidbank release` checks before publishing it
            mids.write_json(root / "phenotype" / "reports.json", {
                "report": {"Description": "Radiology report text",
                           "Deidentification": "declared by the curator (reports_deidentified)" if reports_deidentified
                           else "covidbank.nlp.deidentify (keyed surrogates, dates shifted)"}})
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
    from ...progress import ProgressBar

    with ProgressBar("ingest", len(tasks), enabled=progress and bool(tasks)) as bar:
        if scheduler:
            from distributed import Client, as_completed

            with Client(scheduler) as client:
                futs = client.map(process_task, tasks, common=common, pure=False)
                for f in as_completed(futs):
                    yield f.result()
                    bar.advance()
        elif workers > 1 and len(tasks) > 1:
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures import as_completed as done

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
                    bar.advance()
        else:
            for t in tasks:
                yield process_task(t, common)
                bar.advance()


# --------------------------------------------------------------------------- entry for covidbank pull
def plan_tasks(series, bank: str | os.PathLike, keyring, registry) -> list[dict]:
    """Worker tasks for series already discovered, named and pseudonymized exactly as :func:`ingest` does.

    For ``covidbank pull`` (:mod:`covidbank.pacs.pull`), which feeds each
    retrieved study through :func:`process_task` and rebuilds the index once
    at the end.  A task whose sidecar is already in the bank has ``done`` set.
    """
    root = Path(bank)
    tasks, _ = _plan(series, keyring, registry, root)
    for t in tasks:
        t["done"] = (root / t["dir"] / f"{t['stem']}.json").exists()
    return tasks


def worker_common(bank: str | os.PathLike, key: bytes, options=None, window_index: int = 0,
                  burned_in: str = "redact") -> dict:
    """The run-wide part of a :func:`process_task` call (bank, key, de-identification options, window,
    burned-in text policy: every path into a bank, ``ingest`` or ``pull``, checks X-ray pixels)."""
    from ..deid import DeidOptions

    return {"bank": str(Path(bank).resolve()), "key": key.hex(), "options": (options or DeidOptions()).to_dict(),
            "window_index": window_index, "burned_in": burned_in}
