"""MIDS (Medical Imaging Data Structure) naming, layout files and validation.

Layout written by ``covidbank ingest`` (the bank folder is the MIDS root)::

    BANK/
      dataset_description.json
      participants.tsv                       participant_id, sex, age
      participants.json                      column descriptions
      derivatives/                           labels and other derived data
      sub-S01234/
        sub-S01234_sessions.tsv              session_id, acq_date (shifted), offset_days, modalities
        ses-E01234/
          mod-rx/sub-S01234_ses-E01234_acq-1_run-1_bp-chest_vp-pa_cr.png (+ .json)
          mod-ct/sub-S01234_ses-E01234_acq-1_run-2_bp-chest_ct.nii.gz  (+ .json)

``covidbank validate BANK`` (:func:`validate`) checks names, entities,
required sidecar keys and TSV columns, and reports every problem it finds.
:func:`pybids_config` is the entity configuration with which pybids indexes
the layout (``BIDSLayout(BANK, config=[pybids_config()], validate=False)``).
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .. import schema as _schema
from ..fileio import atomic_path, atomic_write

__all__ = [
    "MIDS_VERSION",
    "BODY_PARTS",
    "VIEW_ENTITIES",
    "Problem",
    "image_name",
    "image_dir",
    "body_part",
    "view_entity",
    "parse_name",
    "validate",
    "pybids_config",
    "pybids_layout",
    "write_tsv",
    "write_json",
    "dataset_description",
    "SIDECAR_REQUIRED",
    "PARTICIPANTS_COLUMNS",
    "SESSIONS_COLUMNS",
]

MIDS_VERSION = "1.0"
#: Body part entity values (DICOM Body Part Examined mapped to lower case words).
BODY_PARTS = {
    "CHEST": "chest", "THORAX": "chest", "TORAX": "chest", "LUNG": "chest", "LUNGS": "chest", "CHEST_TO_PELVIS": "chest",
    "ABDOMEN": "abdomen", "PELVIS": "pelvis", "HEAD": "head", "BRAIN": "head", "SKULL": "head", "NECK": "neck",
    "HEART": "heart", "CHESTABDOMEN": "chest", "CHEST ABDOMEN": "chest", "WHOLEBODY": "wholebody",
    "WHOLE BODY": "wholebody", "ABDOMENPELVIS": "abdomen", "SPINE": "spine",
}
#: View position entity values.
VIEW_ENTITIES = _schema.VIEW_ENTITIES  # one view map: covidbank.schema.normalize_view
SUFFIXES = {"rx": ("cr", "dx"), "ct": ("ct",)}
EXTENSIONS = {"rx": (".png", ".json"), "ct": (".nii.gz", ".json")}
IMAGE_EXT = {"rx": ".png", "ct": ".nii.gz"}

#: Keys every DICOM-derived sidecar must hold.
SIDECAR_REQUIRED = {
    "rx": ["Modality", "PhotometricInterpretation", "BitsStored", "Rows", "Columns", "PatientIdentityRemoved",
           "DeidentificationMethod", "covidbank"],
    "ct": ["Modality", "Rows", "Columns", "PatientIdentityRemoved", "DeidentificationMethod", "covidbank"],
}
PARTICIPANTS_COLUMNS = ["participant_id", "sex", "age"]
SESSIONS_COLUMNS = ["session_id", "acq_date", "offset_days", "modalities"]

_NAME_RE = re.compile(
    r"^sub-(?P<sub>[A-Za-z0-9]+)_ses-(?P<ses>[A-Za-z0-9]+)"
    r"(?:_acq-(?P<acq>[A-Za-z0-9]+))?(?:_run-(?P<run>\d+))?"
    r"(?:_bp-(?P<bp>[a-z]+))?(?:_vp-(?P<vp>[a-z]+))?"
    r"_(?P<suffix>[a-z0-9]+)(?P<ext>\.nii\.gz|\.[a-z]+)$"
)


@dataclass(frozen=True)
class Problem:
    """One layout problem: the path (relative to the bank) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def body_part(value: str | None) -> str:
    """Body part entity for a DICOM Body Part Examined (``unknown`` when absent or unmapped)."""
    v = (value or "").strip().upper()
    return BODY_PARTS.get(v, "unknown")


def view_entity(value: str | None) -> str | None:
    """View position entity (``pa``, ``ap``, ``ll``, ``dec``...) or None when unknown (:func:`covidbank.schema.view_entity`)."""
    return _schema.view_entity(value)


def image_dir(subject: str, session: str, kind: str) -> str:
    """Relative folder of an image: ``sub-S/ses-E/mod-rx``."""
    return f"sub-{subject}/ses-{session}/mod-{kind}"


def image_name(subject: str, session: str, kind: str, suffix: str, acq: int, run: int, bp: str,
               vp: str | None = None) -> str:
    """MIDS file stem (without extension) of one image or volume."""
    parts = [f"sub-{subject}", f"ses-{session}", f"acq-{acq}", f"run-{run}", f"bp-{bp}"]
    if vp and kind == "rx":
        parts.append(f"vp-{vp}")
    return "_".join(parts) + f"_{suffix}"


def parse_name(name: str) -> dict | None:
    """Entities of a MIDS file name, or None when it does not follow the pattern."""
    m = _NAME_RE.match(name)
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else None


def write_json(path: Path, obj) -> None:
    """Write JSON deterministically (sorted keys), temp file then rename."""
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_tsv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Write a TSV (``n/a`` for missing values), temp file then rename."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["n/a" if r.get(c) is None or r.get(c) == "" else r.get(c) for c in columns])


def dataset_description(name: str = "covidbank ingest") -> dict:
    """Content of ``dataset_description.json``."""
    return {
        "Name": name,
        "BIDSVersion": "1.8.0",
        "MIDSVersion": MIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "covidbank", "Description": "PS3.15 Basic Profile de-identification and MIDS ingest"}],
    }


def pybids_config() -> str:
    """Path of the pybids configuration of the MIDS entities shipped with covidbank.

    It adds ``bodypart`` (``bp-``) and ``viewposition`` (``vp-``) to pybids'
    own ``bids`` configuration, whose subject, session, acquisition, run,
    modality (``mod-``, the ``mod-rx``/``mod-ct`` folder), suffix and extension
    it keeps: use ``config=["bids", pybids_config()]``.
    """
    return str(resources.files("covidbank").joinpath("data/mids_pybids.json"))


def pybids_layout(bank: str | os.PathLike):
    """A ``bids.BIDSLayout`` of a bank with the MIDS entities (pybids must be installed).

    Index, logs, phenotype, derivatives, cache, report and licenses folders (of a
    bank or a release) are left out of the layout.
    """
    import bids

    indexer = bids.BIDSLayoutIndexer(validate=False, ignore=["index", "logs", "derivatives", "phenotype", "sourcedata",
                                                             ".covidbank", "cache", "report", "licenses"])
    return bids.BIDSLayout(str(bank), config=["bids", pybids_config()], validate=False, indexer=indexer)


def _checked_tsv(path: Path, required, problem) -> list[dict]:
    """Rows of a TSV, reporting each required column it lacks through ``problem``."""
    cols, rows = _read_tsv(path)
    for c in required:
        if c not in cols:
            problem(path, f"missing column {c}")
    return rows


def _read_tsv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f, delimiter="\t")
        rows = list(r)
        return list(r.fieldnames or []), rows


def validate(bank: str | os.PathLike) -> list[Problem]:
    """Check a MIDS bank folder and return every problem found (empty when valid).

    Checks: ``dataset_description.json`` fields; ``participants.tsv`` columns and
    agreement with the ``sub-*`` folders; per-subject sessions TSV columns and
    agreement with the ``ses-*`` folders; only ``mod-rx``/``mod-ct`` folders in a
    session; file names (entities, suffix, extension, sub/ses matching their
    folders); every image with its sidecar and vice versa; required sidecar keys
    and ``PatientIdentityRemoved == "YES"``.
    """
    root = Path(bank)
    probs: list[Problem] = []

    def p(path: Path | str, msg: str) -> None:
        rel = str(Path(path).relative_to(root)) if isinstance(path, Path) and root in Path(path).parents or path == root else str(path)
        probs.append(Problem(rel, msg))

    if not root.is_dir():
        return [Problem(str(root), "bank folder not found")]
    _validate_description(root / "dataset_description.json", p)
    subs = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("sub-"))
    part = root / "participants.tsv"
    listed = _validate_participants(part, bool(subs), p)
    for d in subs:
        if not re.fullmatch(r"sub-[A-Za-z0-9]+", d.name):
            p(d, "subject folder name must be sub-<alphanumeric>")
        if part.is_file() and d.name not in listed:
            p(d, "subject not listed in participants.tsv")
        _validate_subject(root, d, p)
    for sub in listed:
        if sub and not (root / sub).is_dir():
            p(part, f"lists {sub} but the folder is missing")
    return probs


def _validate_description(dd: Path, p) -> None:
    if not dd.is_file():
        p(dd, "missing dataset_description.json")
        return
    try:
        desc = json.loads(dd.read_text())
    except ValueError as e:
        p(dd, f"not valid JSON ({e})")
        return
    for k in ("Name", "BIDSVersion"):
        if k not in desc:
            p(dd, f"missing key {k}")


def _validate_participants(part: Path, has_subjects: bool, p) -> set[str]:
    """Check ``participants.tsv``; return the participant ids it lists."""
    if not part.is_file():
        if has_subjects:
            p(part, "missing participants.tsv")
        return set()
    rows = _checked_tsv(part, PARTICIPANTS_COLUMNS, p)
    for r in rows:
        if r.get("sex", "n/a") not in ("M", "F", "O", "n/a"):
            p(part, f"{r.get('participant_id')}: sex must be M, F, O or n/a")
    return {r.get("participant_id", "") for r in rows}


def _validate_subject(root: Path, d: Path, p) -> None:
    """A subject folder: its sessions TSV, session folders and their modality folders."""
    stsv = d / f"{d.name}_sessions.tsv"
    ses_listed: set[str] = set()
    if not stsv.is_file():
        p(stsv, "missing sessions TSV")
    else:
        ses_listed = {r.get("session_id", "") for r in _checked_tsv(stsv, SESSIONS_COLUMNS, p)}
    for s in sorted(x for x in d.iterdir() if x.is_dir()):
        if not re.fullmatch(r"ses-[A-Za-z0-9]+", s.name):
            p(s, "session folder name must be ses-<alphanumeric>")
            continue
        if stsv.is_file() and s.name not in ses_listed:
            p(s, f"session not listed in {stsv.name}")
        for m in sorted(s.iterdir()):
            kind = m.name[4:] if m.name.startswith("mod-") else None
            if not m.is_dir() or kind not in SUFFIXES:
                p(m, "unexpected entry in a session (expected mod-rx or mod-ct folders)")
                continue
            _validate_mod(root, m, kind, d.name[4:], s.name[4:], p)
    for s in ses_listed:
        if s and not (d / s).is_dir():
            p(stsv, f"lists {s} but the folder is missing")


def _validate_mod(root: Path, m: Path, kind: str, sub: str, ses: str, p) -> None:
    stems: dict[str, set[str]] = {}
    for f in sorted(m.iterdir()):
        if f.name.startswith("."):
            p(f, "leftover temporary or hidden file")
            continue
        ent = parse_name(f.name)
        if ent is None:
            p(f, "name does not follow sub-<id>_ses-<id>[_acq-<n>][_run-<n>][_bp-<part>][_vp-<view>]_<suffix>.<ext>")
            continue
        if ent["sub"] != sub or ent["ses"] != ses:
            p(f, "sub/ses entities do not match the folders")
        if ent["suffix"] not in SUFFIXES[kind]:
            p(f, f"suffix {ent['suffix']} not allowed in mod-{kind} (use {', '.join(SUFFIXES[kind])})")
        if ent["ext"] not in EXTENSIONS[kind]:
            p(f, f"extension {ent['ext']} not allowed in mod-{kind}")
            continue
        if "vp" in ent and ent["vp"] not in set(VIEW_ENTITIES.values()):
            p(f, f"unknown view position entity {ent['vp']}")
        stem = f.name[: -len(ent["ext"])]
        stems.setdefault(stem, set()).add(ent["ext"])
        if ent["ext"] == ".json":
            try:
                side = json.loads(f.read_text())
            except ValueError as e:
                p(f, f"sidecar is not valid JSON ({e})")
                continue
            for k in SIDECAR_REQUIRED[kind]:
                if k not in side:
                    p(f, f"sidecar misses required key {k}")
            if side.get("PatientIdentityRemoved") not in (None, "YES"):
                p(f, "PatientIdentityRemoved is not YES")
    for stem, exts in stems.items():
        if ".json" not in exts:
            p(m / (stem + IMAGE_EXT[kind]), "image without its JSON sidecar")
        if IMAGE_EXT[kind] not in exts:
            p(m / (stem + ".json"), "sidecar without its image")
