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
or series with its status and a reason **code** (:mod:`covidbank.dicom.reasons`);
files are named by a keyed token of their path (:meth:`Keyring.token` of
``"path"``), never by the path itself.  The bank's ``skipped`` table is rebuilt
from that log, so it keeps every run's entries (column ``run``).  The curator's
private run log, outside the bank (:mod:`.private`), maps each token to its
input path and the full reason.

Privacy guards of the worker: the sidecar holds only the attributes of
:data:`~covidbank.dicom.allowlist.ALLOWED` with valid values; everything
written for an instance is searched for the identifying values of its header
(:class:`~covidbank.dicom.denylist.DenyList`, seeded before
de-identification), and a hit sends the item to the quarantine outside the
bank instead.  Input is read within :class:`~covidbank.dicom.safeio.Limits`.
An ingest holds the bank's lock (:func:`~covidbank.dicom.keys.bank_lock`)
from the pseudonym assignment to the index, and refuses a key that is not the
bank's (:func:`~covidbank.dicom.keys.bind_key`).
"""
from __future__ import annotations

import datetime as _dt
import gzip
import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ...fileio import atomic_write
from ..allowlist import ALLOWED, descriptor_ok, filter_sidecar
from ..reasons import Reason, ReasonError
from ..safeio import Limits
from .index import build_index
from .tables import _merge_tsv, _process_reports, _process_tests

__all__ = ["ingest", "IngestSummary", "process_task", "plan_tasks", "worker_common", "LOG_NAME", "read_skipped"]

LOG_NAME = "logs/ingest.jsonl"

#: De-identified attributes copied into sidecars (when present and valid, :mod:`covidbank.dicom.allowlist`).
SIDECAR_KEYS = list(ALLOWED)


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
    quarantined: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0
    run: str = ""
    #: (input path or token, reason code, detail) of what was skipped, failed or quarantined: for the curator's
    #: terminal only (never written into the bank)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    private_log: str = ""
    quarantine: str = ""
    key_file: str = ""
    key_created: bool = False
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


def _sidecar_from(ds, keys: Iterable[str] = SIDECAR_KEYS) -> tuple[dict, list[str]]:
    """Allowed attributes of ``ds`` whose values pass their checks; and the keywords dropped."""
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
    seq = out.pop("DeidentificationMethodCodeSequence", None)
    kept, dropped = filter_sidecar(out)
    if seq is not None:
        kept["DeidentificationMethodCodeSequence"] = seq
    return kept, dropped


def _strings(obj, numbers: bool = False) -> Iterable[str]:
    """Every string (keys and values) inside a JSON-like object; with ``numbers``, whole numbers written as digits.

    A numeric attribute passes its VR check whatever number it holds: a Series
    Number of ``99887766`` (the patient id) or an Acquisition Number of
    ``19650412`` (the birth date) is searched like text.
    """
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bool):
        return
    elif isinstance(obj, (int, float)):
        if numbers and (isinstance(obj, int) or (math.isfinite(obj) and obj.is_integer())):
            yield str(int(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v, numbers)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v, numbers)


def deny_hits(denylist, *objs, numbers: bool = False) -> list[dict]:
    """Deny-list hits (category, keyword; no text) in the strings of ``objs``.

    The strings are searched as one text joined by NUL characters (one
    regex pass instead of one per string; NUL is neither a word character nor
    a separator the deny-list patterns cross).
    """
    if denylist is None or not denylist:
        return []
    text = "\x00".join(t for o in objs for t in _strings(o, numbers))
    return [h.to_dict() for h in denylist.find(text)]


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


_TEXT_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def _dataset_strings(ds) -> Iterable[str]:
    """The text values of a (de-identified) dataset at any depth, for the deny-list check of a kept instance."""
    for elem in ds.iterall():
        if elem.VR in _TEXT_VRS and elem.value not in (None, ""):
            yield str(elem.value)


# --------------------------------------------------------------------------- worker
def process_task(task: dict, common: dict) -> dict:
    """De-identify and convert one series; write its files into the bank.

    Runs in a worker process (or a dask worker).  Returns a result dict with
    ``status`` (``converted``/``error``/``quarantined``), ``reason`` (a code of
    :data:`~covidbank.dicom.reasons.REASONS`), ``attributes`` (keywords),
    ``series`` (token) and ``detail`` (for the curator's private log only; the
    driver never writes it into the bank); never raises for a bad input.
    """
    from ...errors import CovidbankError, DicomError
    from ..convert import ct_to_volume, write_png16, xray_to_uint16
    from ..deid import DeidOptions, PatientContext, deidentify_dataset
    from ..denylist import DenyList
    from ..keys import Keyring
    from ..safeio import check_path, check_pixels, read_dataset

    bank = Path(common["bank"])
    out_dir = bank / task["dir"]
    stem = task["stem"]
    limits = Limits(**common.get("limits", {}))
    res = {"series": task["series_token"], "files": task["file_tokens"], "output": f"{task['dir']}/{stem}"}
    try:
        keyring = Keyring(bytes.fromhex(common["key"]))
        options = DeidOptions(**common["options"])
        ctx = PatientContext(task["sub"], task["ses"], task["shift_days"], task["shift_seconds"])
        dsets = []
        audits = []
        deny = DenyList()
        total = 0
        for p in task["paths"]:
            check_path(p, common.get("raw"), limits, common.get("follow_symlinks", False))
            ds = read_dataset(p, Limits(**{**limits.to_dict(), "max_reads": limits.max_reads * 10}))
            if "PixelData" not in ds:  # pydicom returns what it could read of a file cut short
                raise ReasonError("truncated", f"{p}: no pixel data could be read (truncated or corrupt)", ("PixelData",))
            total += check_pixels(ds, limits, p)
            if total > limits.max_series_bytes:
                raise ReasonError("image_too_large", f"series above {limits.max_series_bytes} decoded bytes",
                                  ("Rows", "Columns"))
            deny.extend(DenyList.from_dataset(ds))  # before de-identification: what must not come out
            audit = deidentify_dataset(ds, keyring, ctx, options, task["modality"])
            audits.append([a.to_dict() for a in audit])
            dsets.append(ds)
        first = dsets[0]
        side, dropped = _sidecar_from(first)
        side.setdefault("Modality", task["modality"])
        ts = getattr(first.file_meta.get("TransferSyntaxUID"), "name", None) if hasattr(first, "file_meta") else None
        cb: dict = {
            "subject": f"sub-{task['sub']}", "session": f"ses-{task['ses']}", "kind": task["kind"],
            "acq": task["acq"], "run": task["run"], "instances": len(dsets),
            "profile": "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, edition 2024b",
            "deid_options": options.to_dict(),
            "private_attributes": "safe list kept, others removed" if options.safe_private else "removed",
            "source_transfer_syntax": ts if isinstance(ts, str) and descriptor_ok(ts) else None,
            "audit": f"logs/audit/{task['dir']}/{stem}.audit.jsonl.gz",
            "dropped_attributes": dropped,
        }
        if task["kind"] == "rx":
            img, params = xray_to_uint16(first, window_index=common.get("window_index", 0))
            voi = params.get("voi", {})
            if voi.get("explanation") is not None and not descriptor_ok(voi["explanation"]):
                voi["explanation"] = None  # free text from the header: only a clean descriptor passes
                cb["dropped_attributes"] = sorted(set(dropped) | {"LUTExplanation"})
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
        burned = str(first.get("BurnedInAnnotation", "") or "").upper() == "YES"
        cb["burned_in_annotation"] = burned
        side["covidbank"] = cb
        audit_lines = []
        for i, a in enumerate(audits):
            audit_lines.append(json.dumps({"instance": i + 1, "sop_instance": str(dsets[i].get("SOPInstanceUID", "")),
                                           "records": a}, sort_keys=True))
        def quarantine(kind: str, hits: list[dict], content) -> None:
            if common.get("quarantine"):  # a caller without a quarantine folder (pull) logs the reason only
                from .private import Quarantine

                Quarantine(common["quarantine"], common.get("run", "run")).put(
                    kind, task["series_token"], "deny_list_hit", hits, content, source="; ".join(task["paths"]))

        # an attribute holding an identifying value of the header is dropped (and kept in the quarantine)
        held = {}
        attrs = [k for k in side if k != "covidbank"]
        # one search of all values first (joined by NUL, which no pattern crosses: the hits of the whole are
        # the hits of the parts); only when it finds something is each attribute searched on its own
        if not deny_hits(deny, [side[k] for k in attrs], numbers=True):
            attrs = []
        for kw in attrs:
            found = deny_hits(deny, side[kw], numbers=True)
            if found:
                held[kw] = {"value": side.pop(kw), "hits": found}
        if held:
            cb["dropped_attributes"] = sorted(set(cb["dropped_attributes"]) | set(held))
            quarantine("attributes", [h for v in held.values() for h in v["hits"]], {k: v["value"] for k, v in held.items()})
        # then the whole sidecar (and the kept DICOM instances): a hit left keeps the whole series out.
        # The audit lines hold only generated values (tags, action codes, keyed hashes, new UIDs): not searched.
        hits = deny_hits(deny, side)
        if not hits and common.get("keep_dicom"):
            hits = deny_hits(deny, [list(_dataset_strings(d)) for d in dsets])
        if hits:
            quarantine("series", hits, {"sidecar": side})
            attrs = tuple(sorted({h["keyword"] for h in hits}))
            res.update(status="quarantined", reason="deny_list_hit", attributes=list(Reason("deny_list_hit", attrs).attributes),
                       detail=f"{len(hits)} deny-list hit(s) in what would be written ({', '.join(attrs)}); "
                              "see the quarantine")
            return res
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
        atomic_write(bank / cb["audit"], gzip.compress(("\n".join(audit_lines) + "\n").encode(), mtime=0))
        if data is not None:
            atomic_write(image_path, data)
        atomic_write(out_dir / f"{stem}.json",
                      (json.dumps(side, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        res.update(status="converted", reason=None, attributes=[])
        if "burned_in" in cb:
            res["burned_in"] = {k: cb["burned_in"][k] for k in ("action", "reason")}
    except ReasonError as e:
        res.update(status="error", reason=e.reason.code, attributes=list(e.reason.attributes), detail=e.reason.detail)
    except DicomError as e:
        r = Reason(getattr(e, "code", "conversion_failed"), getattr(e, "attributes", ()))
        res.update(status="error", reason=r.code, attributes=list(r.attributes), detail=str(e))
    except CovidbankError as e:  # another covidbank error (the OCR engine, ...): a code, the message privately
        res.update(status="error", reason="conversion_failed", attributes=[], detail=str(e))
    except MemoryError:
        res.update(status="error", reason="out_of_memory", attributes=[], detail="out of memory")
    except Exception as e:  # never let a bad file stop the run; the bank gets a code, the curator the detail
        res.update(status="error", reason="unexpected_error", attributes=[], detail=f"{type(e).__name__}: {e}")
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
    """The bank's ingest log: tokens, statuses and reason codes only."""

    def __init__(self, path: Path, run_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")
        self.run_id = run_id

    def write(self, **rec) -> None:
        rec.pop("detail", None)  # the curator's detail never enters the bank
        rec = {"time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "run": self.run_id, **rec}
        self.f.write(json.dumps(rec, sort_keys=True) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class _Records:
    """Writes one event to the bank log (codes) and the private log (paths, detail) together."""

    def __init__(self, log: _Log, private) -> None:
        self.log = log
        self.private = private

    def write(self, *, private: dict | None = None, **rec) -> None:
        detail = rec.pop("detail", None)
        self.log.write(**rec)
        if private is not None or detail or rec.get("status") not in ("converted", "done-before"):
            self.private.write(**{k: v for k, v in rec.items()}, **(private or {}), detail=detail)


def read_skipped(bank: str | os.PathLike) -> list[dict]:
    """Rows of the ``skipped`` table from every run in ``BANK/logs/ingest.jsonl``.

    Files, series and rows that were skipped, failed or quarantined, with the
    run id, the reason code and attribute keywords (no value, no path).
    """
    p = Path(bank) / LOG_NAME
    rows = []
    if not p.exists():
        return rows
    with open(p, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:  # a line cut by a kill
                continue
            if r.get("status") not in ("skipped", "error", "quarantined", "partial"):
                continue
            kind = r.get("kind", "file")
            rec = r.get("file") or r.get("series") or r.get("record")
            rows.append({"record": None if rec is None else str(rec), "path": f"{kind} {rec}",
                         "reason": r.get("reason"), "attributes": ",".join(r.get("attributes") or []) or None,
                         "run": r.get("run")})
    return rows


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
    new_key: bool = False,
    private_log: str | os.PathLike | None = None,
    quarantine: str | os.PathLike | None = None,
    limits: Limits | None = None,
    follow_symlinks: bool = False,
    lock_timeout: float = -1,
    burned_in: str = "redact",
) -> IngestSummary:
    """Ingest the DICOM files under ``raw_dir`` into ``bank`` (see module docstring).

    Parameters
    ----------
    raw_dir, bank : path-like
    key_file : path-like, optional
        Project key, outside the bank. Default
        :func:`~covidbank.dicom.keys.default_key_file`.  Never created
        silently: a missing key is an error unless ``new_key``.  A bank records
        its key's fingerprint; another key is refused before anything changes.
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
        Merge original patient id -> pseudonym into this TSV (outside the bank; earlier rows kept).
    window_index : int
        Which window / VOI LUT to apply when several are present.
    keep_dicom : bool
        Also store the de-identified DICOM instances under ``sourcedata/``
        (:mod:`covidbank.dicom.ingest.keep`), for DICOM SEG/SR export.
    progress : bool
        Show a rich progress bar.
    new_key : bool
        Create the key file when it does not exist (said in the summary notes).
    private_log, quarantine : path-like, optional
        The curator's run log (appended) and quarantine folder, outside the
        bank; default ``<key file>.private/runs.jsonl`` and ``.../quarantine``.
    limits : Limits, optional
        Bounds on what is read (:class:`~covidbank.dicom.safeio.Limits`).
    follow_symlinks : bool
        Follow symbolic links that lead outside ``raw_dir``.
    lock_timeout : float
        Seconds to wait for another ingest into the same bank (-1: wait; 0: refuse at once).
    burned_in : {"redact", "exclude", "flag"}
        What to do with personal data burned into X-ray pixels (Tesseract OCR,
        :mod:`covidbank.ocr`): fill it and verify by a second OCR (default),
        leave the image out of the bank, or keep it out of the index until a
        curator reviews it.
    """
    from ...errors import BankError
    from ..deid import DeidOptions
    from ..discover import discover
    from ..keys import REGISTRY, Keyring, PseudonymRegistry, bank_lock, bind_key, key_for_bank
    from .private import PrivateLog, Quarantine, merge_linkage, private_dir, refuse_inside

    from ...ocr.burnedin import POLICIES

    if burned_in not in POLICIES:
        raise BankError(f"unknown --burned-in policy {burned_in!r}: use one of {', '.join(POLICIES)}")
    t0 = time.perf_counter()
    options = options or DeidOptions()
    limits = limits or Limits()
    raw = Path(raw_dir)
    root = Path(bank)
    if not raw.exists():
        raise BankError(f"{raw}: input folder not found")
    # the key, checked before anything is written
    key, kpath, created = key_for_bank(key_file, root, new_key)
    keyring = Keyring(key)
    pdir = private_dir(kpath)
    plog_path = refuse_inside(private_log or pdir / "runs.jsonl", root, "private run log")
    quar_path = refuse_inside(quarantine or pdir / "quarantine", root, "quarantine")
    if linkage is not None:
        refuse_inside(linkage, root, "linkage file")
    root.mkdir(parents=True, exist_ok=True)
    run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    summary = IngestSummary(run=run_id, private_log=str(plog_path), quarantine=str(quar_path), key_file=str(kpath))
    summary.key_created = created  # said on the terminal, never in the bank (notes go into the index meta)
    with bank_lock(root, lock_timeout):
        bind_key(root, key, kpath)
        _clean_stale(root)
        registry = PseudonymRegistry(root / REGISTRY)
        log = _Log(root / LOG_NAME, run_id)
        plog = PrivateLog(plog_path, run_id, root)
        rec = _Records(log, plog)
        quar = Quarantine(quar_path, run_id)
        try:
            _ingest_locked(raw, root, keyring, registry, rec, quar, summary, options=options, name=name, tests=tests,
                           reports=reports, reports_deidentified=reports_deidentified, linkage=linkage,
                           window_index=window_index, progress=progress, workers=workers, scheduler=scheduler,
                           limits=limits, follow_symlinks=follow_symlinks, key=key, merge_linkage=merge_linkage,
                           discover=discover, t0=t0, keep_dicom=keep_dicom, burned_in=burned_in)
        finally:
            log.close()
            plog.close()
    return summary


def _ingest_locked(raw: Path, root: Path, keyring, registry, rec: _Records, quar, summary: IngestSummary, *,
                   options, name, tests, reports, reports_deidentified, linkage, window_index, progress, workers,
                   scheduler, limits: Limits, follow_symlinks: bool, key: bytes, merge_linkage, discover, t0,
                   keep_dicom: bool = False, burned_in: str = "redact") -> None:
    # one process pool for the whole run: headers are read on it (discovery), then the series converted
    pool = None
    if workers > 1 and not scheduler:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=workers)
    try:
        _ingest_pooled(raw, root, keyring, registry, rec, quar, summary, pool, options=options, name=name, tests=tests,
                       reports=reports, reports_deidentified=reports_deidentified, linkage=linkage,
                       window_index=window_index, progress=progress, workers=workers, scheduler=scheduler,
                       limits=limits, follow_symlinks=follow_symlinks, key=key, merge_linkage=merge_linkage,
                       discover=discover, t0=t0, keep_dicom=keep_dicom, burned_in=burned_in)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _ingest_pooled(raw: Path, root: Path, keyring, registry, rec: _Records, quar, summary: IngestSummary, pool, *,
                   options, name, tests, reports, reports_deidentified, linkage, window_index, progress, workers,
                   scheduler, limits: Limits, follow_symlinks: bool, key: bytes, merge_linkage, discover, t0,
                   keep_dicom: bool = False, burned_in: str = "redact") -> None:
    # each patient's identifying header values, for the checks of the tests and reports rows (only then:
    # walking every element of every header costs more than reading it)
    denylists: dict | None = {} if (tests or reports) else None
    series, skips = discover(raw, exclude=[root], limits=limits, follow_symlinks=follow_symlinks, denylists=denylists,
                             executor=pool)
    summary.files = sum(len(s.instances) for s in series) + len(skips)
    for sk in skips:
        tok = keyring.token("path", sk.path)[:16]
        rec.write(kind="file", file=tok, status="skipped", reason=sk.reason.code,
                  attributes=list(sk.reason.attributes), detail=sk.reason.detail, private={"path": os.path.abspath(sk.path)})
        summary.problems.append((os.path.abspath(sk.path), sk.reason.code, sk.reason.detail))
    summary.skipped = len(skips)
    tasks, patients = _plan(series, keyring, registry, root)
    summary.series = len(tasks)
    ctx = {"keyring": keyring, "registry": registry, "log": rec, "quarantine": quar, "denylists": denylists}
    test_rows = _process_tests(Path(tests), **ctx) if tests else []
    report_rows: list[dict] = []
    if reports:
        report_rows = _process_reports(Path(reports), series=series, deidentify_text=not reports_deidentified, **ctx)
    registry.save()
    if linkage is not None:
        merge_linkage(linkage, {k: f"sub-{v['sub']}" for k, v in patients.items()})
    todo = _todo(tasks, root, rec, summary)
    # discovery's records (one per file) are not needed by the run: freed before it
    del series, skips, patients
    common = {**worker_common(root, key, options, window_index, burned_in, quarantine=quar.folder, run=quar.run_id,
                              limits=limits),
              "raw": str(raw.resolve()), "follow_symlinks": follow_symlinks, "keep_dicom": bool(keep_dicom)}
    if any(t["kind"] == "rx" for t in todo):  # fail early, once, when Tesseract is missing
        from ...ocr.engine import tesseract_info

        tesseract_info()
    first_path = {t["series_token"]: t["paths"][0] for t in todo}  # a failed series is named by its first file
    for res in _run(todo, common, workers, scheduler, progress, pool):
        rec.write(kind="series", **res)
        if res["status"] == "converted":
            summary.converted += 1
            act = (res.get("burned_in") or {}).get("action")
            if act and act != "none":
                summary.burned_in[act] = summary.burned_in.get(act, 0) + 1
        elif res["status"] == "quarantined":
            summary.quarantined += 1
        else:
            summary.errors += 1
        if res["status"] != "converted":
            where = first_path.get(res["series"], res["series"])
            summary.problems.append((os.path.abspath(where), res.get("reason") or "", res.get("detail") or ""))
    # the per-file records of discovery and planning are not needed any more: freed before the index is
    # built (the peak of a run), so that they do not add to it
    del tasks, todo, first_path
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
    tables = build_index(root, name, read_skipped(root), summary.notes)
    summary.images = len(tables["images"])
    summary.subjects = len(tables["subjects"])
    summary.sessions = len(tables["sessions"])
    summary.tests = len(tables["tests"])
    summary.reports = len(report_rows)
    summary.seconds = time.perf_counter() - t0
    rec.write(kind="run", status="finished", converted=summary.converted, resumed=summary.resumed,
              errors=summary.errors, skipped=summary.skipped, quarantined=summary.quarantined,
              seconds=round(summary.seconds, 3))


def _todo(tasks: list[dict], root: Path, rec: _Records, summary: IngestSummary) -> list[dict]:
    """Log the planned series (private log) and those finished by an earlier run; the tasks left to run."""
    for t in tasks:
        rec.private.write(kind="series", series=t["series_token"], paths=[os.path.abspath(p) for p in t["paths"]],
                          output=f"{t['dir']}/{t['stem']}", status="planned")
    todo = []
    for t in tasks:
        if (root / t["dir"] / f"{t['stem']}.json").exists():
            summary.resumed += 1
            rec.write(kind="series", series=t["series_token"], files=t["file_tokens"], status="done-before",
                      output=f"{t['dir']}/{t['stem']}")
        else:
            todo.append(t)
    return todo


def _task_bytes(task: dict) -> int:
    """Size on disk of a task's files: how long its series will take, roughly."""
    n = 0
    for p in task["paths"]:
        try:
            n += os.path.getsize(p)
        except OSError:
            pass
    return n


def _run(tasks: list[dict], common: dict, workers: int, scheduler: str | None, progress: bool, pool=None):
    """Yield results of :func:`process_task` over ``tasks`` (inline, process pool or dask).

    ``pool``: a process pool to use (the ingest's, already started for
    discovery) instead of starting one.
    """
    from contextlib import nullcontext

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
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

            def failed(t: dict, e: BaseException) -> dict:  # a worker died (e.g. a decoder crashed): report, go on
                return {"series": t["series_token"], "files": t["file_tokens"], "output": f"{t['dir']}/{t['stem']}",
                        "status": "error", "reason": "worker_failed", "attributes": [],
                        "detail": f"{type(e).__name__}: {e}"}

            # the largest series first (no long one left alone at the end), and only a few tasks per worker in
            # flight at a time: the pool's queue (and this process's memory) stays the same size for any input
            pending = iter(sorted(tasks, key=_task_bytes, reverse=True))
            window = 4 * workers
            with (nullcontext(pool) if pool is not None else ProcessPoolExecutor(max_workers=workers)) as ex:
                futs: dict = {}
                while True:
                    for t in pending:
                        try:
                            futs[ex.submit(process_task, t, common)] = t
                        except Exception as e:  # the pool is broken
                            yield failed(t, e)
                            bar.advance()
                            continue
                        if len(futs) >= window:
                            break
                    if not futs:
                        break
                    finished, _ = wait(futs, return_when=FIRST_COMPLETED)
                    for f in finished:
                        t = futs.pop(f)
                        try:
                            res = f.result()
                        except Exception as e:
                            res = failed(t, e)
                        yield res
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
                  burned_in: str = "redact", quarantine: str | os.PathLike | None = None, run: str = "",
                  limits: Limits | None = None) -> dict:
    """The run-wide part of a :func:`process_task` call (bank, key, de-identification options, window,
    burned-in text policy: every path into a bank, ``ingest`` or ``pull``, checks X-ray pixels; the
    quarantine folder outside the bank and the read limits)."""
    from ..deid import DeidOptions

    return {"bank": str(Path(bank).resolve()), "key": key.hex(), "options": (options or DeidOptions()).to_dict(),
            "window_index": window_index, "burned_in": burned_in,
            "quarantine": str(quarantine) if quarantine else None, "run": run, "limits": (limits or Limits()).to_dict()}
