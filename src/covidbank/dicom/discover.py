"""Find DICOM instances in a folder tree and group them into patients, studies and series.

Headers only (``stop_before_pixels``).  Files may have any name (with or
without ``.dcm``) and no DICOMDIR is needed.  Non-image SOP classes
(structured reports, dose reports, presentation states, raw data, ...),
localizers/scouts, unsupported modalities and unreadable files are returned as
:class:`Skip` records with a :class:`~covidbank.dicom.reasons.Reason`: a code
from a fixed vocabulary (what a bank may store) and a ``detail`` for the
curator's terminal and private log.

Hostile input is bounded (:mod:`covidbank.dicom.safeio`): only regular files
are read, symbolic links leaving the input folder are not followed unless
asked, and headers are parsed within size and element-count limits.  When two
files hold the same SOP instance, the larger copy (the intact one, when the
other was cut short) is kept.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .reasons import Reason, ReasonError
from .safeio import Limits, check_path, read_dataset

__all__ = ["Instance", "Skip", "Series", "discover", "iter_files", "classify_sop", "read_instance"]

#: SOP classes that hold no image covidbank converts (prefix match), with a readable kind.
NON_IMAGE_SOP = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.66": "raw data / registration / segmentation-free data",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy object",
    "1.2.840.10008.5.1.4.1.1.4": "MR image (not ingested)",
    "1.2.840.10008.5.1.4.1.1.128": "PET image (not ingested)",
    "1.2.840.10008.5.1.4.1.1.20": "nuclear medicine image (not ingested)",
    "1.2.840.10008.5.1.4.1.1.6.": "ultrasound image (not ingested)",
    "1.2.840.10008.5.1.4.1.1.3.": "ultrasound multiframe (not ingested)",
    "1.2.840.10008.5.1.4.1.1.12.": "X-ray angiography (not ingested)",
    "1.2.840.10008.5.1.4.1.1.1.2": "mammography (not ingested)",
    "1.2.840.10008.5.1.4.1.1.1.3": "intra-oral X-ray (not ingested)",
    "1.2.840.10008.5.1.4.1.1.2.1": "enhanced CT (multi-frame, not ingested)",
    "1.2.840.10008.5.1.4.1.1.2.2": "legacy converted enhanced CT (not ingested)",
    "1.2.840.10008.5.1.1.": "non-composite object",
    "1.2.840.10008.5.1.4.1.1.200.": "protocol / configuration object",
}

#: Image SOP classes and the modality they imply.
IMAGE_SOP = {
    "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.7": None,  # secondary capture: modality from the header
    "1.2.840.10008.5.1.4.1.1.7.1": None,
    "1.2.840.10008.5.1.4.1.1.7.2": None,
    "1.2.840.10008.5.1.4.1.1.7.3": None,
    "1.2.840.10008.5.1.4.1.1.7.4": None,
}

#: What :func:`read_instance` reads of a header when no deny list is collected: the rest is skipped
#: unparsed (bounded like a read), since the worker parses the whole header again to convert the file.
HEADER_TAGS = ("SOPClassUID", "Modality", "Rows", "Columns", "ImageType", "PatientID", "IssuerOfPatientID",
               "PatientName", "PatientBirthDate", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
               "StudyDate", "SeriesNumber", "AccessionNumber", "InstanceNumber", "AcquisitionNumber",
               "ImageOrientationPatient", "ImagePositionPatient", "ViewPosition", "BodyPartExamined")


@dataclass(slots=True)  # one per input file, all held until planned: no per-object __dict__
class Instance:
    """One image instance found on disk (identifiers stay in memory only)."""

    path: str
    sop_class: str
    sop_instance: str
    modality: str  # CR, DX or CT
    patient_key: str  # PatientID (+ issuer) or a fallback
    study_uid: str
    series_uid: str
    instance_number: int
    acquisition_number: int
    series_number: int
    view: str | None
    study_date: str
    accession: str
    body_part: str | None
    orientation: tuple[float, ...] | None
    position: tuple[float, ...] | None
    rows: int
    columns: int
    transfer_syntax: str
    complete: bool = True  # the file holds all of its pixel data (a copy cut short does not)


@dataclass
class Skip:
    """A file not ingested, with why: ``reason.code`` for the bank, ``reason.detail`` for the curator only."""

    path: str
    reason: Reason


@dataclass(slots=True)
class Series:
    """Instances of one series (CT: one volume; CR/DX: one image each)."""

    patient_key: str
    study_uid: str
    series_uid: str
    modality: str
    instances: list[Instance] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``rx`` for CR/DX, ``ct`` for CT."""
        return "ct" if self.modality == "CT" else "rx"


def _inside(real: str, base: str) -> bool:
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def iter_files(root: str | os.PathLike, exclude: Iterable[str | os.PathLike] = (),
               follow_symlinks: bool = False) -> Iterator[Path]:
    """Every entry under ``root`` that is not a folder (sorted; hidden files and DICOMDIR left out).

    Entries are not opened here: FIFOs, sockets and devices are yielded so
    that :func:`read_instance` reports them.  Symbolic links to folders are
    followed once when they stay inside ``root`` (or always with
    ``follow_symlinks``); a link to a folder outside is yielded as an entry
    (and reported), not walked.
    """
    root = Path(root)
    if not root.is_dir():
        yield root
        return
    base = os.path.realpath(root)
    seen: set[str] = {os.path.realpath(e) for e in exclude}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            full = os.path.join(dirpath, d)
            if os.path.islink(full) and not follow_symlinks and not _inside(os.path.realpath(full), base):
                yield Path(full)
                continue
            keep.append(d)
        dirnames[:] = keep
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.upper() == "DICOMDIR":
                continue
            yield Path(dirpath) / fn


def classify_sop(sop_class: str, modality: str | None) -> tuple[str | None, Reason | None]:
    """Return ``(modality, None)`` for an ingestible image, else ``(None, reason)``.

    The reason's code is fixed vocabulary; its ``detail`` names the class (and
    the value read) for the curator only.
    """
    sop_class = (sop_class or "").strip()
    if sop_class in IMAGE_SOP:
        m = IMAGE_SOP[sop_class] or (modality or "").upper()
        if sop_class == "1.2.840.10008.5.1.4.1.1.2":
            m = "CT"
        if m in ("CR", "DX", "CT"):
            return m, None
        return None, Reason("secondary_capture_modality", ("Modality",),
                            f"secondary capture of modality {m or 'unknown'} is not ingested")
    for prefix, kind in sorted(NON_IMAGE_SOP.items(), key=lambda kv: -len(kv[0])):
        if sop_class == prefix or (prefix.endswith(".") and sop_class.startswith(prefix)):
            code = "image_class_not_ingested" if "not ingested" in kind else "non_image_sop_class"
            return None, Reason(code, ("SOPClassUID",), kind if "not ingested" in kind else f"non-image SOP class: {kind}")
    if not sop_class and (modality or "").upper() in ("CR", "DX", "CT"):
        return modality.upper(), None
    return None, Reason("unknown_sop_class", ("SOPClassUID",),
                        f"SOP class {sop_class or 'missing'} is not an ingested image class")


def _f(ds, kw, default=None):
    try:
        v = ds.get(kw, default)
    except Exception:
        return default
    return default if v is None else v


def _int(v, default=0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def read_instance(path: str | os.PathLike, root: str | os.PathLike | None = None, limits: Limits = Limits(),
                  follow_symlinks: bool = False, denylists: dict | None = None) -> Instance | Skip:
    """Read one file's header (within ``limits``) and classify it.

    With ``denylists`` (a dict), the identifying values of the header are
    added to ``denylists[patient_key]`` (:class:`~covidbank.dicom.denylist.DenyList`,
    without instance UIDs) for the checks of the patient's tests and reports.
    """
    try:
        check_path(path, root, limits, follow_symlinks)
        # the deny list needs every element; otherwise only the tags read below
        ds = read_dataset(path, limits, stop_before_pixels=True,
                          specific_tags=None if denylists is not None else list(HEADER_TAGS))
    except ReasonError as e:
        return Skip(str(path), e.reason)
    meta = getattr(ds, "file_meta", None)
    sop_class = str(_f(ds, "SOPClassUID", "") or (_f(meta, "MediaStorageSOPClassUID", "") if meta else ""))
    modality_tag = str(_f(ds, "Modality", "") or "")
    modality, reason = classify_sop(sop_class, modality_tag)
    if modality is None:
        return Skip(str(path), reason or Reason("unknown_sop_class", ("SOPClassUID",)))
    if "Rows" not in ds or "Columns" not in ds:
        return Skip(str(path), Reason("no_image_matrix", ("Rows", "Columns")))
    image_type = [str(v).upper() for v in (_f(ds, "ImageType", []) or [])]
    if any(t in ("LOCALIZER", "SCOUT", "TOPOGRAM") for t in image_type):
        return Skip(str(path), Reason("localizer", ("ImageType",)))
    pid = str(_f(ds, "PatientID", "") or "").strip()
    issuer = str(_f(ds, "IssuerOfPatientID", "") or "").strip()
    study_uid = str(_f(ds, "StudyInstanceUID", "") or "").strip()
    series_uid = str(_f(ds, "SeriesInstanceUID", "") or "").strip()
    sop_instance = str(_f(ds, "SOPInstanceUID", "") or (_f(meta, "MediaStorageSOPInstanceUID", "") if meta else ""))
    if not pid:
        name = str(_f(ds, "PatientName", "") or "").strip()
        birth = str(_f(ds, "PatientBirthDate", "") or "").strip()
        pid = f"name:{name}|{birth}" if name else f"study:{study_uid}"
    patient_key = f"{issuer}|{pid}" if issuer else pid
    if denylists is not None:
        from .denylist import DenyList

        found = DenyList([t for t in DenyList.from_dataset(ds).terms if t.category != "uid"])
        denylists.setdefault(patient_key, DenyList()).extend(found)
    if not study_uid:
        study_uid = f"nostudy:{patient_key}|{_f(ds, 'StudyDate', '')}"
    if not series_uid:
        series_uid = f"noseries:{study_uid}|{_f(ds, 'SeriesNumber', '')}"
    iop = _f(ds, "ImageOrientationPatient")
    ipp = _f(ds, "ImagePositionPatient")
    try:
        iop = tuple(float(v) for v in iop) if iop is not None and len(iop) == 6 else None
        ipp = tuple(float(v) for v in ipp) if ipp is not None and len(ipp) == 3 else None
    except (TypeError, ValueError):
        iop = ipp = None
    view = str(_f(ds, "ViewPosition", "") or "").strip().upper() or None
    ts = str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else ""
    return Instance(
        path=str(path),
        sop_class=sop_class,
        sop_instance=sop_instance,
        modality=modality,
        patient_key=patient_key,
        study_uid=study_uid,
        series_uid=series_uid,
        instance_number=_int(_f(ds, "InstanceNumber")),
        acquisition_number=_int(_f(ds, "AcquisitionNumber")),
        series_number=_int(_f(ds, "SeriesNumber")),
        view=view,
        study_date=str(_f(ds, "StudyDate", "") or ""),
        accession=str(_f(ds, "AccessionNumber", "") or "").strip(),
        body_part=str(_f(ds, "BodyPartExamined", "") or "").strip().upper() or None,
        orientation=iop,
        position=ipp,
        rows=_int(_f(ds, "Rows")),
        columns=_int(_f(ds, "Columns")),
        transfer_syntax=ts,
        complete=bool(getattr(ds, "_covidbank_pixel_complete", True)),
    )


#: Files per task of a parallel discovery: large enough that a task's overhead (pickling the
#: results, one round trip) is small beside reading its headers, small enough to spread over the workers.
CHUNK = 32


def _read_chunk(paths: list[str], root: str | None, limits: Limits, follow_symlinks: bool,
                with_deny: bool) -> tuple[list[Instance | Skip], dict]:
    """:func:`read_instance` over ``paths`` (in a worker process): the results and the chunk's deny lists."""
    deny: dict | None = {} if with_deny else None
    return [read_instance(p, root, limits, follow_symlinks, deny) for p in paths], deny or {}


def _read_parallel(executor, paths: list, root, limits: Limits, follow_symlinks: bool,
                   denylists: dict | None) -> Iterator[Instance | Skip]:
    """Read the headers of ``paths`` in chunks on ``executor``; yield the results in path order.

    Each chunk's per-patient deny lists are merged in path order too: a term
    seen in several files keeps the keyword of the first, as in a serial walk.
    """
    if not paths:
        return
    n = max(1, min(CHUNK, -(-len(paths) // (4 * max(1, getattr(executor, "_max_workers", 2))))))
    chunks = [[str(p) for p in paths[i:i + n]] for i in range(0, len(paths), n)]
    rt = str(root) if root is not None else None
    futures = [executor.submit(_read_chunk, c, rt, limits, follow_symlinks, denylists is not None) for c in chunks]
    for fut in futures:
        results, deny = fut.result()
        if denylists is not None:
            from .denylist import DenyList

            for pkey, dl in deny.items():
                denylists.setdefault(pkey, DenyList()).extend(dl)
        yield from results


def discover(root: str | os.PathLike, files: Iterable[Path] | None = None,
             exclude: Iterable[str | os.PathLike] = (), limits: Limits = Limits(), follow_symlinks: bool = False,
             denylists: dict | None = None, executor=None) -> tuple[list[Series], list[Skip]]:
    """Walk ``root`` and group its image instances into series.

    CR/DX instances become one single-instance series each (one PNG each); CT
    instances of one series with the same orientation and matrix form one
    volume (a series mixing orientations or sizes is split into stacks).

    ``exclude`` lists folders not to walk (the bank, when it lies inside
    ``root``); ``limits`` and ``follow_symlinks`` bound what is read
    (:mod:`~covidbank.dicom.safeio`); ``denylists`` collects each patient's
    identifying values (see :func:`read_instance`).  With ``executor`` (a
    :class:`concurrent.futures.Executor`, e.g. the ingest's process pool) the
    headers are read in chunks of files on its workers; the result is the
    same as a serial walk (chunks are merged in path order).

    Returns
    -------
    (list of Series, list of Skip)
        Series sorted by patient, study and series; skipped files.
    """
    skips: list[Skip] = []
    found: list[Instance] = []
    paths = files if files is not None else iter_files(root, exclude, follow_symlinks)
    if executor is None:
        results: Iterable[Instance | Skip] = (read_instance(p, root, limits, follow_symlinks, denylists) for p in paths)
    else:
        results = _read_parallel(executor, list(paths), root, limits, follow_symlinks, denylists)
    for res in results:
        if isinstance(res, Skip):
            skips.append(res)
        else:
            found.append(res)
    # one copy per SOP instance: the first intact copy (in path order); a copy cut short loses to an intact one
    copies: dict[str, list[Instance]] = {}
    for inst in found:
        if inst.sop_instance:
            copies.setdefault(inst.sop_instance, []).append(inst)
    best: dict[str, Instance] = {}
    for sop, insts in copies.items():
        intact = [i for i in insts if i.complete]
        keep = intact[0] if intact else max(insts, key=lambda i: os.path.getsize(i.path))
        best[sop] = keep
        for i in insts:
            if i is not keep:
                skips.append(Skip(i.path, Reason("duplicate_instance", ("SOPInstanceUID",),
                                                 "another copy of this instance was kept" +
                                                 ("" if i.complete else " (this copy is cut short)"))))
    groups: dict[tuple, Series] = {}
    for res in found:
        if res.sop_instance and best[res.sop_instance] is not res:
            continue
        if res.modality == "CT":
            ori = tuple(round(v, 3) for v in res.orientation) if res.orientation else None
            key = (res.patient_key, res.study_uid, res.series_uid, ori, res.rows, res.columns)
        else:
            key = (res.patient_key, res.study_uid, res.series_uid, res.sop_instance or res.path)
        s = groups.get(key)
        if s is None:
            s = groups[key] = Series(res.patient_key, res.study_uid, res.series_uid, res.modality)
        s.instances.append(res)
    out = list(groups.values())
    for s in out:
        s.instances.sort(key=lambda i: (i.instance_number, i.path))
    out.sort(key=lambda s: (s.patient_key, s.study_uid, s.series_uid, s.instances[0].instance_number, s.instances[0].path))
    return out, skips
