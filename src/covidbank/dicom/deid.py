"""De-identify a DICOM dataset by the PS3.15 Basic Profile, row by row.

Every element (at any depth of sequences) whose tag is a row of Table E.1-1
(:mod:`covidbank.dicom.profile`) gets that row's action, after the enabled
options substitute theirs; private elements are removed; curves (50xx) and
overlay data/comments (60xx) follow their patterned rows.  Each action taken is
recorded as an :class:`AuditRecord` holding the tag, the action and a keyed hash
of the old value keyed with the patient too (:meth:`Keyring.audit_hash`), never
the value: two patients who shared a value share no hash.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .keys import Keyring
from .profile import EDITION, OPTION_CODES, load_profile, resolve_compound
from .timeshift import DateTimeShift, partner_keyword

__all__ = ["DeidOptions", "PatientContext", "AuditRecord", "deidentify_dataset", "deidentify", "clean_text", "SAFE_WORDS"]

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
_DUMMY_TEXT = "ANONYMIZED"

#: Type of compound-action attributes in the IODs covidbank ingests (PS3.3); the rest are Type 3.
IOD_TYPES: dict[str, dict[int, str]] = {
    "DX": {0x00080023: "1", 0x00080033: "1", 0x00400555: "2", 0x00100020: "2", 0x00180010: "2"},
    "CR": {0x00080023: "2", 0x00080033: "2", 0x00100020: "2", 0x00180010: "2"},
    "CT": {0x00080023: "2", 0x00080033: "2", 0x00100020: "2", 0x00180010: "2"},
    "OT": {0x00100020: "2"},
}

#: Words the Clean Descriptors option keeps in a free-text descriptor (everything else is dropped).
SAFE_WORDS = frozenset(
    """
    CHEST THORAX TORAX TÓRAX THORACIC TORACICO TORÁCICO LUNG LUNGS PULMON PULMONAR PULMONARY HEART ABDOMEN PELVIS
    HEAD BRAIN NECK SPINE BODY WHOLE
    PA AP LAT LATERAL LL RL LLAT RLAT FRONTAL OBLIQUE PORTABLE PORTATIL PORTÁTIL SUPINE ERECT UPRIGHT DECUBITUS
    SEMIERECT STANDING SITTING BED
    CT TC CR DX RX XR X-RAY XRAY RADIOGRAPH RADIOGRAPHY RADIOGRAFIA RADIOGRAFÍA SCAN TOMOGRAPHY HRCT CTA ANGIO
    HIGH LOW RESOLUTION DOSE ULTRA STANDARD ROUTINE CONTRAST NONCONTRAST WITH WITHOUT W WO IV ORAL SIN CON
    AXIAL CORONAL SAGITTAL MIP MINIP MPR VR 3D THIN THICK SLICE SLICES SOFT TISSUE BONE LUNGWINDOW MEDIASTINUM
    MEDIASTINAL WINDOW KERNEL SHARP SMOOTH ARTERIAL VENOUS PORTAL DELAYED PHASE INSPIRATION EXPIRATION PE
    COVID COVID-19 PNEUMONIA SCREENING FOLLOW-UP FOLLOWUP EMERGENCY URGENT VIEW VIEWS AND Y DE EL LA OF THE
    """.split()
)


def clean_text(value: str) -> str:
    """Clean a descriptor: keep only words of :data:`SAFE_WORDS` (case-insensitive), in order."""
    words = re.split(r"[\s_^/\\,;:()\[\]]+", str(value))
    kept = [w for w in words if w and w.upper() in SAFE_WORDS]
    return " ".join(kept)


def _int_tag(v) -> int:
    """``0x0029``, ``"0029"``, ``"0x29"`` or ``41`` as an int (strings are hexadecimal)."""
    if isinstance(v, int):
        return v
    return int(str(v).strip().lower().removeprefix("0x"), 16)


@dataclass(frozen=True)
class DeidOptions:
    """Options of the Basic Profile covidbank applies.

    Attributes
    ----------
    retain_modified_dates : bool
        Retain Longitudinal Temporal Information with Modified Dates: dates move
        by one shift per patient (times of day by one per-patient offset), so
        intervals between a patient's studies survive.
    retain_patient_characteristics : bool
        Retain Patient Characteristics (sex, age, size, weight, ...). On by
        default: the research bank needs sex and age.
    clean_descriptors : bool
        Clean Descriptors: keep descriptions/comments after dropping every word
        not in :data:`SAFE_WORDS` (instead of removing them).
    safe_private : tuple of (creator, group, element)
        Retain Safe Private: private data elements the curator has established
        as safe (for instance from PS3.15 Table E.3.10-1, which covidbank does
        not ship), each given by its Private Creator string, its odd group
        and the element's low byte (``("SIEMENS CSA HEADER", 0x0029, 0x08)``).
        Their Private Creator reservations are kept too; every other private
        attribute is removed.  Empty (the default) means the option is off.
    """

    retain_modified_dates: bool = True
    retain_patient_characteristics: bool = True
    clean_descriptors: bool = False
    safe_private: tuple = ()

    def __post_init__(self) -> None:
        norm = []
        for entry in self.safe_private or ():
            creator, group, elem = entry
            group, elem = _int_tag(group), _int_tag(elem) & 0xFF
            if group % 2 == 0 or group <= 0x0008:
                raise ValueError(f"safe private entry {entry!r}: group {group:04X} is not a private (odd) group")
            norm.append((str(creator).strip(), group, elem))
        object.__setattr__(self, "safe_private", tuple(sorted(set(norm))))

    @classmethod
    def read_safe_private(cls, path) -> tuple:
        """Read a safe-private list: a CSV/TSV with columns ``creator``,
        ``group`` and ``element`` (hex, e.g. ``0029`` and ``08`` or ``1008``).

        Raises
        ------
        ValueError
            Naming the file and the row that cannot be read.
        """
        import csv
        from pathlib import Path as _P

        p = _P(path)
        text = p.read_text(encoding="utf-8")
        dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
        rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
        if not rows or not {"creator", "group", "element"} <= {k.strip().lower() for k in rows[0]}:
            raise ValueError(f"{p}: needs the columns creator, group, element")
        out = []
        for i, r in enumerate(rows, start=2):
            r = {k.strip().lower(): (v or "").strip() for k, v in r.items()}
            try:
                out.append((r["creator"], _int_tag(r["group"]), _int_tag(r["element"]) & 0xFF))
            except ValueError:
                raise ValueError(f"{p}: row {i}: group/element must be hexadecimal") from None
        return tuple(out)

    @property
    def names(self) -> frozenset[str]:
        """Names of the enabled options as in :data:`~covidbank.dicom.profile.OPTION_COLUMNS`."""
        out = set()
        if self.retain_modified_dates:
            out.add("long_modif_dates")
        if self.retain_patient_characteristics:
            out.add("patient_chars")
        if self.clean_descriptors:
            out.add("clean_desc")
        if self.safe_private:
            out.add("safe_private")
        return frozenset(out)

    def to_dict(self) -> dict:
        """The options as a plain dict (recorded in sidecars and bank meta)."""
        return {
            "retain_modified_dates": self.retain_modified_dates,
            "retain_patient_characteristics": self.retain_patient_characteristics,
            "clean_descriptors": self.clean_descriptors,
            "safe_private": [list(e) for e in self.safe_private],
        }

    @classmethod
    def parse(cls, items: list[str] | None) -> "DeidOptions":
        """Build options from ``name=yes/no`` strings (CLI ``--options``)."""
        aliases = {
            "retain_modified_dates": "retain_modified_dates",
            "dates": "retain_modified_dates",
            "retain_patient_characteristics": "retain_patient_characteristics",
            "patient_chars": "retain_patient_characteristics",
            "clean_descriptors": "clean_descriptors",
            "clean_desc": "clean_descriptors",
        }
        kw = {}
        for item in items or []:
            for part in item.split(","):
                part = part.strip()
                if not part:
                    continue
                name, _, val = part.partition("=")
                key = aliases.get(name.strip().lower().replace("-", "_"))
                if key is None:
                    raise ValueError(f"unknown de-identification option {name!r}: use one of {sorted(set(aliases))}")
                kw[key] = val.strip().lower() not in ("0", "no", "false", "off") if val else True
        return cls(**kw)


@dataclass(frozen=True)
class PatientContext:
    """What de-identification needs to know about the patient of a dataset.

    Attributes
    ----------
    subject : str
        Pseudonym label of the patient (``S01234``).
    session : str
        Pseudonym label of the study (``E01234``).
    date_shift_days : int
        Days added to every date.
    time_shift_seconds : int
        Seconds added, modulo one day, to every time of day.
    """

    subject: str
    session: str
    date_shift_days: int
    time_shift_seconds: int


@dataclass(frozen=True)
class AuditRecord:
    """One action taken on one attribute: no value, only a keyed hash of it."""

    tag: str
    action: str
    old_hash: str
    path: str = ""

    def to_dict(self) -> dict:
        return {"tag": self.tag, "path": self.path, "action": self.action, "old_hash": self.old_hash}


# --------------------------------------------------------------------------- values
def _dummy(vr: str):
    if vr in ("DA",):
        return "19000101"
    if vr == "TM":
        return "000000"
    if vr == "DT":
        return "19000101000000"
    if vr == "AS":
        return "000Y"
    if vr in ("IS", "DS"):
        return "0"
    if vr in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"):
        return 0
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return b""
    if vr == "SQ":
        return Sequence()
    if vr == "CS":
        return "ANONYMIZED"
    if vr == "UR":
        return ""
    return _DUMMY_TEXT


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------- engine
class _Deidentifier:
    def __init__(self, keyring: Keyring, ctx: PatientContext, options: DeidOptions, modality: str) -> None:
        self.keyring = keyring
        self.ctx = ctx
        self.options = options
        self.opt_names = options.names
        self.types = IOD_TYPES.get(modality, IOD_TYPES["OT"])
        self.table = load_profile()
        self.audit: list[AuditRecord] = []
        self.shift = DateTimeShift(ctx.date_shift_days, ctx.time_shift_seconds)
        self._pairs: dict[tuple[int, int], str] = {}  # (id of the dataset level, tag) -> shifted value

    def _safe_private_tags(self, ds: Dataset) -> set[int]:
        """Private tags of ``ds`` (creators and data) on the curator's safe list."""
        if not self.options.safe_private:
            return set()
        safe = {(c, g): set() for c, g, _ in self.options.safe_private}
        for c, g, e in self.options.safe_private:
            safe[(c, g)].add(e)
        keep: set[int] = set()
        for tag in ds.keys():
            t = int(tag)
            group, elem = t >> 16, t & 0xFFFF
            if group % 2 == 1 and 0x0010 <= elem <= 0x00FF:
                try:
                    creator = str(ds[tag].value).strip()
                except Exception:
                    continue
                offsets = safe.get((creator, group))
                if not offsets:
                    continue
                block = elem << 8
                present = [x for x in offsets if (group << 16 | block | x) in ds]
                if present:
                    keep.add(t)
                    keep.update(group << 16 | block | x for x in present)
        return keep

    def _shifted_pairs(self, ds: Dataset) -> dict[tuple[int, int], str]:
        """Shifted values of the DA/TM pairs of one dataset level (``StudyDate`` with ``StudyTime``, ...),
        computed from the original values before either is changed."""
        if "long_modif_dates" not in self.opt_names:
            return {}
        from pydicom.datadict import tag_for_keyword

        out: dict[tuple[int, int], str] = {}
        for elem in ds:
            if elem.VR != "DA" or not elem.keyword.endswith("Date") or elem.VM != 1:
                continue
            partner = tag_for_keyword(partner_keyword(elem.keyword) or "")
            if partner is None or partner not in ds or ds[partner].VR != "TM" or ds[partner].VM != 1:
                continue
            d, t = self.shift.pair(_as_text(elem.value), _as_text(ds[partner].value))
            out[(id(ds), int(elem.tag))] = d
            out[(id(ds), int(partner))] = t
        return out

    def run(self, ds: Dataset, path: str = "", top: bool = True) -> None:
        safe_private = self._safe_private_tags(ds)
        self._pairs.update(self._shifted_pairs(ds))
        for tag in list(ds.keys()):
            t = int(tag)
            group, elem = t >> 16, t & 0xFFFF
            if group == 0x0002:
                continue
            tag_hex = f"{t:08X}"
            if elem == 0x0000:  # group lengths: recomputed on write, never kept
                del ds[tag]
                continue
            if group % 2 == 1:
                if t in safe_private:
                    self._record(ds, tag, "K", path)
                    continue
                self._record(ds, tag, "X", path)
                del ds[tag]
                continue
            row = self.table.lookup(t)
            if row is None:
                # not in Table E.1-1: the profile keeps it; recurse into sequences
                try:
                    elem_obj = ds[tag]
                except Exception:
                    del ds[tag]
                    continue
                if elem_obj.VR == "SQ":
                    for i, item in enumerate(elem_obj.value or []):
                        self.run(item, f"{path}{tag_hex}[{i}].", top=False)
                continue
            action = row.action(self.opt_names)
            if action in ("X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"):
                action = resolve_compound(action, self.types.get(t) if top else None)
            self._apply(ds, tag, t, tag_hex, action, row, path)

    def _record(self, ds: Dataset, tag, action: str, path: str) -> None:
        try:
            value = ds[tag].value
        except Exception:
            value = "<unreadable>"
        if isinstance(value, Sequence):
            value = f"<sequence of {len(value)} items>"
        self.audit.append(AuditRecord(f"{int(tag):08X}", action, self.keyring.audit_hash(value, self.ctx.subject), path))

    def _apply(self, ds: Dataset, tag, t: int, tag_hex: str, action: str, row, path: str) -> None:
        try:
            el = ds[tag]
        except Exception:  # undecodable value: remove whatever the action
            self.audit.append(AuditRecord(tag_hex, "X", self.keyring.audit_hash("<unreadable>", self.ctx.subject), path))
            del ds[tag]
            return
        vr = el.VR
        if action == "K":
            if vr == "SQ":
                for i, item in enumerate(el.value or []):
                    self.run(item, f"{path}{tag_hex}[{i}].", top=False)
            return
        self._record(ds, tag, action, path)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            if vr == "SQ":
                el.value = Sequence()
            elif vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
                el.value = b""
            elif vr in _TEXT_VRS or vr in ("DA", "TM", "DT", "AS", "IS", "DS", "UI"):
                el.value = ""
            else:
                el.value = None
        elif action == "D":
            if vr == "UI":
                el.value = self._uid(el.value)
            else:
                el.value = _dummy(vr)
        elif action == "U":
            if vr == "UI":
                el.value = self._uid(el.value)
            elif vr == "SQ":  # X/Z/U* resolved to U: keep the references, replace their UIDs
                for i, item in enumerate(el.value or []):
                    self.run(item, f"{path}{tag_hex}[{i}].", top=False)
            else:
                del ds[tag]
        elif action == "C":
            self._clean(ds, tag, el, row, path, tag_hex)
        else:  # unknown action: be safe
            del ds[tag]

    def _uid(self, value) -> str | list[str]:
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return [self.keyring.uid(v) for v in value]
        return self.keyring.uid(value) if value else ""

    def _clean(self, ds: Dataset, tag, el, row, path: str, tag_hex: str) -> None:
        vr = el.VR
        opts = row.options
        if vr in ("DA", "TM", "DT") and "long_modif_dates" in self.opt_names and opts.get("long_modif_dates") == "C":
            paired = self._pairs.get((id(ds), int(tag)))
            if paired is not None:
                el.value = paired
                return
            vals = [self.shift.value(vr, v) for v in _as_text(el.value).split("\\") if v.strip()]
            el.value = "\\".join(v for v in vals if v)
            return
        if vr == "SQ":  # clean structured content: de-identify the items (their rows apply)
            for i, item in enumerate(el.value or []):
                self.run(item, f"{path}{tag_hex}[{i}].", top=False)
            return
        if vr in _TEXT_VRS and vr not in ("PN", "UR", "AE"):
            cleaned = [clean_text(v) for v in _as_text(el.value).split("\\")]
            cleaned = [c for c in cleaned if c]
            if cleaned:
                el.value = "\\".join(cleaned)[:64 if vr in ("LO",) else 10240]
                return
        del ds[tag]


def deidentify_dataset(
    ds: Dataset,
    keyring: Keyring,
    ctx: PatientContext,
    options: DeidOptions = DeidOptions(),
    modality: str = "OT",
) -> list[AuditRecord]:
    """De-identify ``ds`` in place by Table E.1-1 and the options.

    Parameters
    ----------
    ds : pydicom Dataset
        Read with or without pixel data; file meta is updated to the new UIDs.
    keyring : Keyring
        Keyed derivations (UIDs).
    ctx : PatientContext
        Pseudonyms and shifts of the dataset's patient.
    options : DeidOptions
    modality : str
        ``CR``, ``DX``, ``CT`` or ``OT``: selects the attribute types that resolve compound actions.

    Returns
    -------
    list of AuditRecord
    """
    # Retain Patient Characteristics: derive the age before the birth date goes
    age_from_birth = None
    if options.retain_patient_characteristics and not str(ds.get("PatientAge", "") or "").strip():
        birth = str(ds.get("PatientBirthDate", "") or "")
        when = str(ds.get("StudyDate", "") or ds.get("ContentDate", "") or "")
        if len(birth) >= 8 and len(when) >= 8 and birth[:8].isdigit() and when[:8].isdigit():
            b, w = int(birth[:8]), int(when[:8])
            years = (w - b) // 10000
            if 0 <= years < 150:
                age_from_birth = f"{years:03d}Y"
    eng = _Deidentifier(keyring, ctx, options, modality)
    eng.run(ds)
    if age_from_birth:
        ds.PatientAge = age_from_birth
    # identity of the de-identified record: the pseudonyms, nothing from the input
    ds.PatientID = f"sub-{ctx.subject}"
    ds.PatientName = f"sub-{ctx.subject}"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"covidbank PS3.15 {EDITION} Basic Profile"
    codes = ["basic"] + sorted(options.names)
    seq = Sequence()
    for c in codes:
        item = Dataset()
        item.CodeValue, item.CodeMeaning = OPTION_CODES[c]
        item.CodingSchemeDesignator = "DCM"
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq
    if options.retain_modified_dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for kw in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle",
                   "SourcePresentationAddress", "SendingPresentationAddress", "ReceivingPresentationAddress",
                   "PrivateInformationCreatorUID", "PrivateInformation"):
            if kw in meta:
                del meta[kw]
    return eng.audit


def deidentify(*args, **kwargs):
    """Former name of :func:`deidentify_dataset` (kept for 0.1 code; report text has
    :func:`covidbank.nlp.deidentify`)."""
    import warnings

    warnings.warn("covidbank.dicom.deidentify is now covidbank.dicom.deidentify_dataset", DeprecationWarning, stacklevel=2)
    return deidentify_dataset(*args, **kwargs)
