"""The attributes a sidecar (and therefore the bank index) may hold, each with the check its value must pass.

De-identification by PS3.15 Table E.1-1 removes what the table lists, but
keeps every attribute the table does not name, and keeps Patient's Age and
Sex (Retain Patient Characteristics) whatever they hold.  A sidecar copies
only the attributes of :data:`ALLOWED`, and each value only when it passes:

* its VR's syntax (PS3.5 Table 6.2-1): ``CS`` upper-case code string of at
  most 16 characters, ``AS`` ``nnnD/W/M/Y``, ``DA``/``TM`` parsed by pydicom,
  ``UI`` digits and dots, numbers finite;
* for coded attributes, the defined terms of PS3.3 (Patient's Sex M/F/O,
  View Position, Patient Position, VOI LUT Function, ...);
* for free text outside Table E.1-1 (Manufacturer, model, software
  versions, kernel, descriptions), a Clean-Descriptors-style check
  (:func:`descriptor_ok`): short, plain characters, no long digit runs, no
  date, no e-mail, descriptions made of :data:`~covidbank.dicom.deid.SAFE_WORDS`
  only;
* and, in the worker, the instance's deny-list (:mod:`covidbank.dicom.denylist`).

A value that fails is dropped and its keyword recorded in
``covidbank.dropped_attributes`` of the sidecar (counted by ``covidbank audit``).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

__all__ = ["ALLOWED", "validate_value", "descriptor_ok", "filter_sidecar"]

_CS = re.compile(r"^[A-Z0-9_ ]{0,16}$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_UI = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|ene|abr|ago|dic)[a-z]*\.?"
#: Dates as people write them: 12/04/1965, 1965-04-12, 19650412, 1965 04 12, 12-APR-1965, 12APR1965, Sep 15, 1972.
#: A date written with separators has a day and a month (1-31 both, either order) and a year of two digits or
#: 19xx/20xx, so a version such as 4.1.3 or 11.0.2345 is not one.
_DM = r"(?:0?[1-9]|[12]\d|3[01])"
_YEAR4 = r"(?:19|20)\d{2}"
_DATE_LIKE = re.compile(rf"(?<!\d)(?:{_DM}[/.\-]{_DM}[/.\-](?:{_YEAR4}|\d{{2}})|{_YEAR4}[/.\-]{_DM}[/.\-]{_DM})(?!\d)|"
                        r"\d{8}|\d{4}\s+\d{1,2}\s+\d{1,2}(?!\d)|"
                        r"(?<!\d)\d{1,2}\s+\d{1,2}\s+\d{4}|"
                        rf"(?<!\d)\d{{1,2}}[\s/.\-]*{_MONTH}[\s/.\-]*\d{{2,4}}|"
                        rf"(?<![a-z]){_MONTH}[\s/.\-]*\d{{1,2}},?[\s/.\-]*\d{{4}}", re.I)
_PLAIN = re.compile(r"^[A-Za-z0-9 .,_\-+/()#:&]*$")


def _cs(terms: set[str] | None = None) -> Callable[[Any], bool]:
    """A CS value; in ``terms`` when given, else free CS without a run of five digits (no ids or dates)."""
    def check(v: Any) -> bool:
        if not isinstance(v, str) or not _CS.match(v):
            return False
        return v.strip() in terms if terms is not None else not re.search(r"\d{5,}", v)
    return check


def _multi(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def f(v: Any) -> bool:
        vals = v if isinstance(v, list) else [v]
        return bool(vals) and all(check(x) for x in vals)
    return f


def _number(lo: float = -math.inf, hi: float = math.inf) -> Callable[[Any], bool]:
    def f(v: Any) -> bool:
        vals = v if isinstance(v, list) else [v]
        return bool(vals) and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                  and lo <= x <= hi for x in vals)
    return f


def _date(v: Any) -> bool:
    from pydicom.valuerep import DA

    if not isinstance(v, str) or not re.fullmatch(r"\d{8}", v):
        return False
    try:
        DA(v)
        return True
    except ValueError:
        return False


def _time(v: Any) -> bool:
    from pydicom.valuerep import TM

    if not isinstance(v, str) or not re.fullmatch(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?", v):
        return False
    try:
        TM(v)
        return True
    except ValueError:
        return False


def _uid(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 64 and bool(_UI.match(v))


def descriptor_ok(v: Any, words_only: bool = False) -> bool:
    """Clean-Descriptors-style check of a free-text value outside Table E.1-1.

    Passes a short (at most 64 characters) value of plain characters with no
    run of six or more digits, nothing shaped like a date and no ``@``; with
    ``words_only`` every word must be one of the Clean Descriptors safe words.
    """
    from .deid import SAFE_WORDS

    if isinstance(v, list):
        return bool(v) and all(descriptor_ok(x, words_only) for x in v)
    if not isinstance(v, str) or not v.strip() or len(v) > 64 or not _PLAIN.match(v):
        return False
    if re.search(r"\d{6,}", v) or _DATE_LIKE.search(v):
        return False
    if words_only:
        words = [w for w in re.split(r"[\s_^/\\,;:()\[\]]+", v) if w]
        return all(w.upper() in SAFE_WORDS for w in words)
    return True


_VIEWS = {"AP", "PA", "LL", "RL", "RLD", "LLD", "RLO", "LLO", "LATERAL", "LAT"}
_PATIENT_POSITIONS = {"HFP", "HFS", "HFDR", "HFDL", "FFDR", "FFDL", "FFP", "FFS", "LFP", "LFS", "RFP", "RFS",
                      "AFDR", "AFDL", "PFDR", "PFDL", "SITTING", "STANDING"}
_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_ICT",
                "YBR_RCT", "PALETTE COLOR"}


def _body_part(v: Any) -> bool:
    from .mids import BODY_PARTS

    return _cs()(v) and v.strip() in BODY_PARTS


def _orientation(v: Any) -> bool:
    vals = v if isinstance(v, list) else [v]
    return all(isinstance(x, str) and re.fullmatch(r"[APLRHF]{1,3}", x) for x in vals)


#: Keyword -> check of the value as it is written into the sidecar (after :func:`~covidbank.dicom.ingest.pipeline._jsonable`).
ALLOWED: dict[str, Callable[[Any], bool]] = {
    "Modality": _cs({"CR", "DX", "CT"}),
    "SOPClassUID": _uid, "SOPInstanceUID": _uid, "StudyInstanceUID": _uid, "SeriesInstanceUID": _uid,
    "FrameOfReferenceUID": _uid,
    "StudyDate": _date, "SeriesDate": _date, "AcquisitionDate": _date, "ContentDate": _date,
    "StudyTime": _time, "SeriesTime": _time, "AcquisitionTime": _time,
    "Manufacturer": descriptor_ok, "ManufacturerModelName": descriptor_ok, "SoftwareVersions": descriptor_ok,
    "ConvolutionKernel": descriptor_ok,
    "StudyDescription": lambda v: descriptor_ok(v, words_only=True),
    "SeriesDescription": lambda v: descriptor_ok(v, words_only=True),
    "ProtocolName": lambda v: descriptor_ok(v, words_only=True),
    "ContrastBolusAgent": lambda v: descriptor_ok(v, words_only=True),
    "BodyPartExamined": _body_part,
    "ViewPosition": _cs(_VIEWS),
    "PatientPosition": _cs(_PATIENT_POSITIONS),
    "PatientOrientation": _orientation,
    "ImageType": _multi(_cs()),
    "PhotometricInterpretation": _cs(_PHOTOMETRIC),
    "Rows": _number(1, 65535), "Columns": _number(1, 65535),
    "PixelSpacing": _number(0, 1e4), "ImagerPixelSpacing": _number(0, 1e4),
    "BitsAllocated": _number(1, 64), "BitsStored": _number(1, 64), "HighBit": _number(0, 63),
    "PixelRepresentation": _number(0, 1),
    "WindowCenter": _number(), "WindowWidth": _number(),
    "VOILUTFunction": _cs({"LINEAR", "LINEAR_EXACT", "SIGMOID"}),
    "RescaleSlope": _number(), "RescaleIntercept": _number(),
    "RescaleType": _cs({"US", "OD", "HU", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT"}),
    "PresentationLUTShape": _cs({"IDENTITY", "INVERSE"}),
    "KVP": _number(0, 1e4), "Exposure": _number(0, 1e9), "ExposureTime": _number(0, 1e9),
    "XRayTubeCurrent": _number(0, 1e6), "ExposureInuAs": _number(0, 1e12),
    "DistanceSourceToDetector": _number(0, 1e5), "DistanceSourceToPatient": _number(0, 1e5),
    "Grid": _multi(_cs()), "FilterType": _cs(),
    "SliceThickness": _number(0, 1e3), "SpacingBetweenSlices": _number(-1e3, 1e3),
    "ReconstructionDiameter": _number(0, 1e4), "GantryDetectorTilt": _number(-90, 90),
    "ImageOrientationPatient": _number(-1.0001, 1.0001),
    "SeriesNumber": _number(-2**31, 2**31), "AcquisitionNumber": _number(-2**31, 2**31),
    "PatientSex": _cs({"M", "F", "O"}),
    "PatientAge": lambda v: isinstance(v, str) and bool(_AS.match(v)),
    "PatientSize": _number(0.2, 3.0), "PatientWeight": _number(0.2, 700),
    "BurnedInAnnotation": _cs({"YES", "NO"}),
    "LossyImageCompression": _cs({"00", "01"}),
    "LossyImageCompressionRatio": _number(0, 1e6),
    "LossyImageCompressionMethod": _multi(_cs()),
    "PatientIdentityRemoved": _cs({"YES"}),
    "DeidentificationMethod": lambda v: isinstance(v, str) and v.startswith("covidbank PS3.15 "),
    "LongitudinalTemporalInformationModified": _cs({"UNMODIFIED", "MODIFIED", "REMOVED"}),
    "CTDIvol": _number(0, 1e5),
}


def validate_value(keyword: str, value: Any) -> bool:
    """Whether ``value`` may be written for ``keyword`` (False for keywords not allowed)."""
    check = ALLOWED.get(keyword)
    if check is None:
        return False
    try:
        return bool(check(value))
    except Exception:
        return False


def filter_sidecar(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep the allowed, valid values; return them and the sorted keywords dropped."""
    kept, dropped = {}, []
    for k, v in values.items():
        if validate_value(k, v):
            kept[k] = v
        else:
            dropped.append(k)
    return kept, sorted(dropped)
