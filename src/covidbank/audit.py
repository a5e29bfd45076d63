"""``covidbank audit BANK [--raw RAW_DIR]``: search a bank for what must not leave the hospital.

The check an attacker-minded privacy review does, as a command a curator runs
before sharing a bank (``docs/privacy.md``):

1. **identifying values of the input**: with ``--raw``, every header under
   the raw folder seeds a :class:`~covidbank.dicom.denylist.DenyList` (names
   and their parts, ids, dates in written forms, instance UIDs, addresses,
   institutions, phones), plus the values the bank must never hold: SOP class
   UIDs that are not registered DICOM UIDs, values of allow-listed attributes
   that fail their check (:mod:`covidbank.dicom.allowlist`) and free text of
   attributes a sidecar never copies; with ``--tests``/``--reports``, their
   patient ids and accession numbers;
2. **every file of the bank** is searched for them: file and folder names,
   text files, gzip members, PNG text chunks, NIfTI headers and extensions,
   Parquet cells, and the printable strings of any other file;
3. **the key**: the bank records a key fingerprint; with ``--key-file`` it
   must match, and the key itself must not be in any file of the bank;
4. **linkage**: no audit digest and no UID is shared by two subjects;
5. **pseudonyms**: every registry number, participant and sidecar subject is unique and consistent;
6. **reasons**: every reason in the log and the ``skipped`` table is a code of
   :data:`~covidbank.dicom.reasons.REASONS`.

Each finding names the bank file, a check and, for the curator's terminal
only, the matched text.  Exit status 1 on any finding.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["audit", "AuditReport", "Finding", "collect_raw_terms"]

_TEXT_SUFFIXES = {".json", ".jsonl", ".tsv", ".csv", ".txt", ".md", ".html", ".htm", ".xml", ".yaml", ".yml", ".log"}
_FREE_TEXT_VRS = {"LO", "SH", "LT", "ST", "UT", "UC", "AE"}
_MAX_TEXT = 64 << 20  # bytes of one file searched (a bank file larger than this is searched in its first 64 MiB)


@dataclass
class Finding:
    """One thing found: which check, which bank file, what (category/keyword) and the matched text."""

    check: str
    file: str
    what: str
    match: str = ""

    def to_dict(self) -> dict:
        return {"check": self.check, "file": self.file, "what": self.what, "match": self.match}

    def __str__(self) -> str:  # without the matched text: a release log may be shared
        return f"{self.check}: {self.file}: {self.what}"


@dataclass
class AuditReport:
    """Result of :func:`audit`."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    terms: int = 0
    subjects: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No finding."""
        return not self.findings

    def to_dict(self) -> dict:
        return {"findings": [f.to_dict() for f in self.findings], "files": self.files, "terms": self.terms,
                "subjects": self.subjects, "counts": self.counts}


# --------------------------------------------------------------------------- what to look for
#: Attributes of coded entries (PS3.3 8.8): a code from a coding scheme, the same for every patient.
_CODE_KEYWORDS = {"CodeValue", "CodeMeaning", "CodingSchemeDesignator", "CodingSchemeVersion", "LongCodeValue",
                  "URNCodeValue", "ContextIdentifier", "MappingResource", "ContextGroupVersion"}


def _identifier_shaped(value: str) -> bool:
    """Whether a free-text value that failed its check could identify someone (a term worth searching).

    It holds digits and letters, an ``@``, two words or more, or seven digits
    or more; a lone word (``APPLIED``) or a short or decimal number (``150000``
    in Image Type) is not evidence, and would match the bank's own words and
    numbers (``"center": 15000.0``).
    """
    if len(re.sub(r"[^0-9A-Za-z]", "", value)) < 6:
        return False
    if "@" in value:
        return True
    if re.fullmatch(r"[\s\d.,+\-]+", value):  # a number: a record number has seven digits or more, no fraction
        return bool(re.fullmatch(r"\s*\d{7,}\s*", value))
    return bool(re.search(r"\d", value)) or len(re.findall(r"[^\W\d_]{2,}", value)) >= 2


#: Allow-listed free-text attributes (checked as descriptors): their failing values are searched when identifier-shaped.
_DESCRIPTORS = {"Manufacturer", "ManufacturerModelName", "SoftwareVersions", "ConvolutionKernel", "StudyDescription",
                "SeriesDescription", "ProtocolName", "ContrastBolusAgent"}


def _coded_suspect(value: str) -> bool:
    """A failing value of a coded attribute (Body Part, Patient's Sex, Image Type, ...): any six letters or digits
    (``MRKBODYPART``), except a plain number of fewer than seven digits or with a fraction."""
    if len(re.sub(r"[^0-9A-Za-z]", "", value)) < 6:
        return False
    return not re.fullmatch(r"[\s\d.,+\-]+", value) or bool(re.fullmatch(r"\s*\d{7,}\s*", value))


def _allowed_values(ds) -> set[str]:
    """The normalized values of ``ds`` that pass their allow-list check (a model name also kept in a private tag)."""
    from .dicom.allowlist import ALLOWED
    from .dicom.denylist import normalize_with_offsets
    from .dicom.ingest.pipeline import _sidecar_from

    kept, _ = _sidecar_from(ds, ALLOWED)
    return {normalize_with_offsets(v)[0].strip() for v in kept.values() if isinstance(v, str)}


def _add_dataset_terms(dl, ds) -> None:
    from pydicom.uid import UID_dictionary

    from .dicom.allowlist import ALLOWED, validate_value
    from .dicom.denylist import DenyList, normalize_with_offsets
    from .dicom.ingest.pipeline import _jsonable

    dl.extend(DenyList.from_dataset(ds))
    valid = _allowed_values(ds)

    def suspect(x: str) -> bool:  # a failing or never-copied free-text value worth searching for
        return _identifier_shaped(x) and normalize_with_offsets(x)[0].strip() not in valid

    meta = getattr(ds, "file_meta", None)
    for elem in list(ds.iterall()) + (list(meta) if meta is not None else []):
        kw = elem.keyword or ""
        if elem.VR == "SQ" or elem.value in (None, "", b"") or kw in _CODE_KEYWORDS:
            continue
        if elem.VR == "UI" and kw.endswith("ClassUID"):
            for v in (elem.value if elem.VM > 1 else [elem.value]):
                if str(v) not in UID_dictionary:
                    dl.add(str(v), "uid", kw)
            continue
        if kw in ALLOWED:
            try:
                v = _jsonable(elem.value)
            except Exception:
                continue
            if not validate_value(kw, v):  # the values that fail (of a multi-valued one, each on its own)
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(v, list) and (validate_value(kw, [x]) or validate_value(kw, x)):
                        continue
                    if isinstance(x, str) and (suspect(x) if kw in _DESCRIPTORS else _coded_suspect(x)):
                        dl.add(x, "id", kw)
        elif elem.VR in _FREE_TEXT_VRS:
            for v in (elem.value if elem.VM > 1 else [elem.value]):
                if suspect(str(v)):
                    dl.add(str(v), "id", kw or "private")


def collect_raw_terms(raw: str | os.PathLike | None, tests: Iterable[str | os.PathLike] = (),
                      reports: Iterable[str | os.PathLike] = ()):
    """The deny-list of everything identifying in the raw input (headers, tests and reports files)."""
    from .dicom.denylist import DenyList
    from .dicom.discover import iter_files
    from .dicom.reasons import ReasonError
    from .dicom.safeio import Limits, check_path, read_dataset
    from .fileio import read_csv_text

    dl = DenyList()
    if raw is not None:
        for p in iter_files(raw, follow_symlinks=True):
            try:
                check_path(p, None, Limits())
                ds = read_dataset(p, Limits(), stop_before_pixels=True)
            except ReasonError:
                continue
            _add_dataset_terms(dl, ds)
    for path, cols in [(p, ("patient_id", "patientid", "patient")) for p in tests] + \
                      [(p, ("accession", "accession_number", "study_id", "study_uid")) for p in reports]:
        try:
            # every row, a longer one with its extra fields dropped: pandas took a longer first row's first
            # column as the index and shifted every column (the patient ids were never collected)
            df = read_csv_text(path, longer_rows="truncate")
        except Exception:
            continue
        norm = {c.strip().lower().replace(" ", "_"): c for c in df.columns}
        for c in cols:
            if c in norm:
                for v in df[norm[c]]:
                    dl.add(v, "id", c)
    return dl


# --------------------------------------------------------------------------- what the bank holds
def _file_texts(path: Path) -> Iterator[str]:
    """The text an attacker could read in one bank file."""
    name = path.name.lower()
    try:
        if name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as im:
                yield "\x00".join(f"{k}\x00{v}" for k, v in im.info.items() if isinstance(v, (str, bytes)))
            return
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(path)
            h = img.header
            yield "\x00".join(str(h[k]) for k in ("descrip", "aux_file", "intent_name", "db_name")
                              if k in h)
            for ext in h.extensions:
                yield bytes(ext.get_content() if hasattr(ext, "get_content") else ext._content).decode("latin-1")
            return
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            t = pq.read_table(path)
            yield "\x00".join(str(c) for c in t.column_names)
            for col in t.columns:
                yield "\x00".join("" if v is None else str(v) for v in col.to_pylist())
            meta = t.schema.metadata or {}
            yield "\x00".join(v.decode("latin-1") for v in meta.values())
            return
        data = path.read_bytes()[:_MAX_TEXT] if path.stat().st_size <= _MAX_TEXT else open(path, "rb").read(_MAX_TEXT)
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read(_MAX_TEXT)
        if path.suffix.lower() in _TEXT_SUFFIXES or name.endswith(".gz"):
            yield data.decode("utf-8", errors="replace")
        else:  # unknown binary: its printable runs
            yield "\x00".join(m.decode("latin-1") for m in re.findall(rb"[\x20-\x7e]{4,}", data))
    except Exception as e:  # an unreadable file is itself worth a look
        yield f"\x00unreadable {type(e).__name__}\x00"


def _subject_of(rel: str) -> str | None:
    m = re.search(r"(?:^|/)(sub-[A-Za-z0-9]+)", rel)
    return m.group(1) if m else None


def audit(bank, raw: str | os.PathLike | None = None, tests: Iterable = (),
          reports: Iterable = (), key_file: str | os.PathLike | None = None) -> AuditReport:
    """Audit ``bank`` (a folder or a :class:`~covidbank.bank.Bank`; see the module docstring).

    Without ``raw``/``tests``/``reports`` only the checks that need no input
    run (key record, linkage, pseudonyms, reasons): what ``covidbank release``
    runs as its privacy gate.  Returns the findings (empty: nothing found).
    """
    from .dicom.keys import (
        KEY_RECORD,
        REGISTRY,
        bank_fingerprint,
        key_fingerprint,
        load_key,
    )
    from .dicom.reasons import REASONS
    from .errors import BankError

    root = Path(getattr(bank, "path", bank))
    if not root.is_dir():
        raise BankError(f"{root}: no such bank folder")
    rep = AuditReport()
    dl = collect_raw_terms(raw, tests, reports)
    # 3. key
    fp = None
    try:
        fp = bank_fingerprint(root)
    except BankError:
        rep.findings.append(Finding("key", KEY_RECORD, "unreadable key record"))
    if fp is None and (root / REGISTRY).exists():
        rep.findings.append(Finding("key", KEY_RECORD, "the bank records no key fingerprint"))
    if key_file is not None:
        key = load_key(key_file)
        if fp is not None and fp != key_fingerprint(key):
            rep.findings.append(Finding("key", KEY_RECORD, "the bank was made with another key"))
        dl.add(key.hex(), "id", "key")
    rep.terms = len(dl)
    # 2. every file
    hash_subjects: dict[str, set] = defaultdict(set)
    uid_subjects: dict[str, set] = defaultdict(set)
    dropped = 0
    sidecar_subjects: list[tuple[str, str]] = []
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if dl:
            for h in dl.find(rel):
                rep.findings.append(Finding("value", rel, f"{h.category} ({h.keyword}) in a file or folder name",
                                            rel[h.start:h.end]))
        if p.is_symlink():
            rep.findings.append(Finding("file", rel, "symbolic link inside the bank"))
            continue
        if not p.is_file():
            continue
        rep.files += 1
        for text in _file_texts(p):
            if dl:
                for h in dl.find(text):
                    rep.findings.append(Finding("value", rel, f"{h.category} ({h.keyword})", text[h.start:h.end][:80]))
            sub = _subject_of(rel)
            if rel.startswith("logs/audit/") and sub:
                for line in text.splitlines():
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    for r in rec.get("records", []):
                        hash_subjects[r.get("old_hash")].add(sub)
            elif rel.endswith(".json") and sub and "/mod-" in rel:
                try:
                    side = json.loads(text)
                except ValueError:
                    continue
                cb = side.get("covidbank", {})
                dropped += len(cb.get("dropped_attributes", []))
                sidecar_subjects.append((rel, cb.get("subject")))
                for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
                    if side.get(k):
                        uid_subjects[f"{k}={side[k]}"].add(sub)
    # 4. linkage
    shared = [h for h, subs in hash_subjects.items() if h and len(subs) > 1]
    if shared:
        rep.findings.append(Finding("linkage", "logs/audit", f"{len(shared)} audit digest(s) shared by two or more "
                                    "subjects (equal original values link patients)"))
    shared_uids = [u for u, subs in uid_subjects.items() if len(subs) > 1]
    if shared_uids:
        rep.findings.append(Finding("linkage", "sidecars", f"{len(shared_uids)} UID(s) shared by two or more subjects"))
    # 5. pseudonyms
    reg_path = root / REGISTRY
    if reg_path.exists():
        data = json.loads(reg_path.read_text())
        for kind, table in data.items():
            nums = [v[0] if isinstance(v, list) else v for v in table.values()]
            if len(nums) != len(set(nums)):
                rep.findings.append(Finding("pseudonym", REGISTRY, f"{kind}: a number is given to two tokens"))
    subs = [s for s in (root.glob("sub-*")) if s.is_dir()]
    rep.subjects = len(subs)
    for rel, sub in sidecar_subjects:
        if sub != _subject_of(rel):
            rep.findings.append(Finding("pseudonym", rel, "sidecar subject differs from its folder"))
    part = root / "participants.tsv"
    if part.exists():
        ids = [ln.split("\t")[0] for ln in part.read_text().splitlines()[1:] if ln.strip()]
        if len(ids) != len(set(ids)):
            rep.findings.append(Finding("pseudonym", "participants.tsv", "a participant id appears twice"))
    # 6. reasons
    log = root / "logs" / "ingest.jsonl"
    if log.exists():
        bad = set()
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("reason") is not None and r["reason"] not in REASONS:
                bad.add(str(r["reason"])[:40])
        for b in sorted(bad):
            rep.findings.append(Finding("reason", "logs/ingest.jsonl", "reason outside the fixed vocabulary", b))
    rep.counts = {"dropped sidecar attributes": dropped, "audit digests": len(hash_subjects)}
    return rep
