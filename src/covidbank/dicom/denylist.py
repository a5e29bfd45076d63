"""A deny-list seeded from a DICOM header: the identifying values of one instance, searchable in any text.

Before an instance is de-identified, :meth:`DenyList.from_dataset` collects
the values the PS3.15 Basic Profile removes or replaces that could be written
elsewhere: the patient's (and other persons') names and their components, the
patient's identifiers, accession and study ids, dates in the forms people
write them, instance UIDs, addresses, institutions and phone numbers.
Everything written for that instance and its patient (sidecar, index rows,
report text, test rows, OCR output of burned-in text) can then be searched
with :meth:`DenyList.find`; a hit means an identifier would leave the
hospital.

Matching works on a normalized copy of the text (Unicode NFKC, case folded,
accents stripped, zero-width characters dropped), with offsets mapped back to
the original text:

* names match as whole words, with any run of spaces, hyphens, commas or
  carets between their words (``GARCIA LOPEZ^MARIA`` matches
  ``María García-López``);
* identifiers and UIDs match their letters and digits whatever separators
  (up to three punctuation or space characters) are written between them
  (``NHC 99887766`` matches ``99 887 766``), never inside a longer run of
  letters or digits;
* dates match ``YYYYMMDD`` and the usual written forms (``15/03/2020``,
  ``15-3-20``, ``2020-03-15``, ``15 de marzo de 2020``, ``March 15, 2020``).

Hits carry a category from a fixed vocabulary and the DICOM keyword the term
came from, never the term itself, so they can be logged in a bank.

Written by hand: de-identification libraries (pydicom's ``deid``, dicognito,
CTP) replace header values but do not search other text for them.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

__all__ = ["CATEGORIES", "DenyTerm", "DenyHit", "DenyList", "normalize_with_offsets", "MONTH_NAMES"]

#: Categories of deny terms and hits (a fixed vocabulary: safe to store in a bank).
CATEGORIES = ("name", "id", "date", "uid", "address", "institution", "phone")

#: Attributes whose values are identifiers (matched on their letters and digits).
ID_KEYWORDS = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "MedicalRecordLocator", "IssuerOfPatientID",
    "RequestedProcedureID", "PerformedProcedureStepID", "ScheduledProcedureStepID", "AdmissionID",
    "ServiceEpisodeID", "PatientInsurancePlanCodeSequence", "DeviceSerialNumber", "StationName",
    "DetectorID", "PlateID", "CassetteID", "GantryID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "PatientTransportArrangements", "MilitaryRank",
)
#: Attributes whose values are addresses, institutions or phone numbers.
ADDRESS_KEYWORDS = ("PatientAddress", "InstitutionAddress", "ReferringPhysicianAddress", "RegionOfResidence",
                    "CountryOfResidence", "PersonAddress")
INSTITUTION_KEYWORDS = ("InstitutionName", "InstitutionalDepartmentName", "InstitutionCodeSequence")
PHONE_KEYWORDS = ("PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers", "PersonTelephoneNumbers")
_KEYWORDS = frozenset(ID_KEYWORDS + ADDRESS_KEYWORDS + INSTITUTION_KEYWORDS + PHONE_KEYWORDS)

#: Month names and abbreviations (Spanish, English) by number: the written forms of a date's month.
MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("enero", "january", "jan", "ene"), 2: ("febrero", "february", "feb"), 3: ("marzo", "march", "mar"),
    4: ("abril", "april", "apr", "abr"), 5: ("mayo", "may"), 6: ("junio", "june", "jun"),
    7: ("julio", "july", "jul"), 8: ("agosto", "august", "aug", "ago"),
    9: ("septiembre", "setiembre", "september", "sep", "sept", "set"), 10: ("octubre", "october", "oct"),
    11: ("noviembre", "november", "nov"), 12: ("diciembre", "december", "dec", "dic"),
}
#: Name parts too common to be evidence on their own (particles, titles).
_NAME_STOP = frozenset("de del la las los y e i da do dos das van von der den di le mr mrs ms dr dra sr sra jr md".split())
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SEP = r"[\s\-_^=,.'’/]+"
#: The ASCII characters ``str.isspace`` holds for, each to one space (as the character loop does).
_ASCII_SPACE = {i: " " for i in range(128) if chr(i).isspace()}


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Text NFKC-normalized, case folded, accents and zero-width characters removed.

    Returns the normalized text and, for each of its characters, the index of
    the character of ``text`` it came from (so a match can be mapped back).
    """
    if text.isascii():  # NFKC, NFKD and accents change no ASCII character: lower case and spaces only
        return text.lower().translate(_ASCII_SPACE), list(range(len(text)))
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        ch = ch.translate(_ZERO_WIDTH)
        if not ch:
            continue
        norm = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch).casefold())
        for c in norm:
            if unicodedata.combining(c):
                continue
            if c.isspace():
                c = " "
            out.append(c)
            offsets.append(i)
    return "".join(out), offsets


def _norm(text: str) -> str:
    return normalize_with_offsets(text)[0]


@dataclass(frozen=True)
class DenyTerm:
    """One value to search for: its normalized text, category and source attribute."""

    text: str
    category: str
    keyword: str


@dataclass(frozen=True)
class DenyHit:
    """Where a deny term was found in a text (offsets in the original text)."""

    start: int
    end: int
    category: str
    keyword: str

    def to_dict(self) -> dict:
        """Offsets, category and keyword (no text: safe to store)."""
        return {"start": self.start, "end": self.end, "category": self.category, "keyword": self.keyword}


def _date_patterns(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value)[:8]
    if len(digits) != 8:
        return []
    y, m, d = digits[:4], int(digits[4:6]), int(digits[6:8])
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return []
    dd, mm, yy = rf"0?{d}", rf"0?{m}", rf"(?:{y}|{y[2:]})"
    months = "|".join(MONTH_NAMES[m])
    sep = r"\s*[/.\-]\s*"
    wsep = r"\s+"  # numbers separated by spaces only: with the four-digit year
    msep = r"[\s/.\-]*"  # around a month name: 12 APR 1965, 12-APR-1965, 12APR1965, 12.abr.65
    return [
        rf"(?<!\d){y}{digits[4:6]}{digits[6:8]}(?!\d)",
        rf"(?<!\d){digits[6:8]}{digits[4:6]}{y}(?!\d)",  # DDMMYYYY
        rf"(?<!\d){digits[4:6]}{digits[6:8]}{y}(?!\d)",  # MMDDYYYY
        rf"(?<!\d){dd}{sep}{mm}{sep}{yy}(?!\d)",
        rf"(?<!\d){y}{sep}{mm}{sep}{dd}(?!\d)",
        rf"(?<!\d){mm}{sep}{dd}{sep}{y}(?!\d)",
        rf"(?<!\d){dd}{wsep}{mm}{wsep}{y}(?!\d)",
        rf"(?<!\d){y}{wsep}{mm}{wsep}{dd}(?!\d)",
        rf"(?<!\d){mm}{wsep}{dd}{wsep}{y}(?!\d)",
        rf"(?<!\d){dd}{msep}(?:de\s+)?(?:{months})(?![a-z])\.?{msep}(?:de\s+)?,?\s*{yy}(?!\d)",
        rf"(?<![a-z])(?:{months})(?![a-z])\.?{msep}{dd}(?:st|nd|rd|th)?\s*,?{msep}{y}(?!\d)",
        rf"(?<!\d){y}{msep}(?:{months})(?![a-z])\.?{msep}{dd}(?!\d)",
    ]


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_NOT_WORD = re.compile(r"[\W_]+")
#: The single characters each of those does not match (what :func:`_squash` keeps).
_KEEP = {_NOT_ALNUM: re.compile(r"[0-9a-z]"), _NOT_WORD: re.compile(r"[^\W_]")}


def _patterns(t: DenyTerm) -> list[str]:
    if t.category == "name" or t.category in ("address", "institution"):
        words = [re.escape(w) for w in t.text.split(" ")]
        return [r"(?<![0-9a-z])" + _SEP.join(words) + r"(?![0-9a-z])"]
    if t.category == "date":
        return _date_patterns(t.text)
    # id, uid, phone: letters and digits with any short run of punctuation between them
    # (``MRK@HOSP.ES``, ``99 887 766``, ``12-34/56``)
    chars = [re.escape(c) for c in t.text]
    return [r"(?<![0-9a-z])" + r"[^0-9a-z\x00]{0,3}".join(chars) + r"(?![0-9a-z])"]


@lru_cache(maxsize=4096)
def _compiled(t: DenyTerm) -> re.Pattern | None:
    """The patterns of one term as one regex (None if it has none)."""
    pats = _patterns(t)
    return re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None


def _squash(norm: str, drop: re.Pattern) -> tuple[str, list[int]]:
    """``norm`` without the characters ``drop`` matches, and the index in ``norm`` of each kept character."""
    keep = [m.start() for m in _KEEP[drop].finditer(norm)]
    return "".join(norm[i] for i in keep), keep


#: How far from its year a written date may start or end (``15 de septiembre de 1972``).
_DATE_REACH = 40


#: Value representations :meth:`DenyList.from_dataset` reads (``None``: implicit VR, ``UN``: unknown until the
#: dictionary says; both are resolved when the element is converted).
_READ_VRS = frozenset({"PN", "DA", "DT", "UI", "SQ", "UN", None})


def _iter_elements(ds) -> Iterator:
    """The elements of ``ds`` at any depth, in the order of ``Dataset.iterall``, less those that cannot matter.

    An element still raw (not yet converted by pydicom) whose explicit VR is
    none of :data:`_READ_VRS` and whose keyword is in none of the keyword
    lists adds no term, so it is left unconverted: converting every numeric
    and binary value of a header cost most of the time of a walk.
    """
    from pydicom.datadict import keyword_for_tag
    from pydicom.dataelem import RawDataElement

    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.VR not in _READ_VRS and keyword_for_tag(tag) not in _KEYWORDS:
            continue
        elem = ds[tag]
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _iter_elements(item)


class DenyList:
    """The identifying values of one instance (or patient), searchable in text.

    Parameters
    ----------
    terms : iterable of DenyTerm
        Usually built with :meth:`from_dataset`, or added with :meth:`add`.

    Examples
    --------
    >>> dl = DenyList()
    >>> dl.add("GARCIA LOPEZ^MARIA", "name", "PatientName")
    >>> dl.add("99887766", "id", "PatientID")
    >>> [h.category for h in dl.find("Paciente García-López, María; NHC 99 887 766")]
    ['name', 'id']
    """

    def __init__(self, terms: Iterable[DenyTerm] = ()) -> None:
        self._terms: dict[tuple[str, str], DenyTerm] = {}
        self._sorted: tuple[DenyTerm, ...] | None = None
        for t in terms:
            self._put(t)

    # ----------------------------------------------------------------- building
    def _put(self, term: DenyTerm) -> None:
        if term.category not in CATEGORIES:
            raise ValueError(f"unknown deny-term category {term.category!r}: use one of {CATEGORIES}")
        key = (term.category, term.text)
        if term.text and key not in self._terms:
            self._terms[key] = term
            self._sorted = None

    def add(self, value: object, category: str, keyword: str = "") -> None:
        """Add a raw value (a header value, a name from a tests file) under ``category``.

        Names add the full name, each multi-word component of a DICOM PN
        (``family^given^middle``) and each word of three letters or more that
        is not a particle; identifiers, UIDs and phone numbers of fewer than
        four letters or digits are ignored (they would match everywhere).
        """
        text = str(value or "").strip()
        if not text:
            return
        if category == "name":
            full = " ".join(w for w in re.split(_SEP, _norm(text)) if w)
            if len(full) >= 3:
                self._put(DenyTerm(full, "name", keyword))
            # PN component groups (alphabetic=ideographic=phonetic, PS3.5 6.2.1.1), then their components
            # (family^given^middle^prefix^suffix): each multi-word component as written together
            for part in re.split(r"[=^]", text):
                comp = " ".join(w for w in re.split(_SEP, _norm(part)) if w)
                if " " in comp:
                    self._put(DenyTerm(comp, "name", keyword))
            for w in full.split(" "):  # ideographic names are often two characters (山田)
                if (len(w) >= 3 or (len(w) == 2 and not w.isascii())) and w not in _NAME_STOP and not w.isdigit():
                    self._put(DenyTerm(w, "name", keyword))
        elif category in ("id", "uid", "phone"):
            alnum = re.sub(r"[^0-9a-z]", "", _norm(text))
            if len(alnum) >= 4:
                self._put(DenyTerm(alnum, category, keyword))
        elif category == "date":
            digits = re.sub(r"\D", "", text)
            if len(digits) >= 8:
                self._put(DenyTerm(digits[:8], "date", keyword))
        else:  # address, institution: the whole value and each comma/line part of two words or more
            norm = " ".join(_norm(text).split())
            parts = [norm] + [p.strip() for p in re.split(r"[,;\n^]+", norm)]
            for p in parts:  # one word ("DEFAULT", "RADIOLOGY") is not evidence; two words are
                if len(p) >= 6 and len(p.split()) >= 2:
                    self._put(DenyTerm(p, category, keyword))

    @classmethod
    def from_dataset(cls, ds) -> "DenyList":
        """Collect the identifying values of a pydicom ``Dataset`` (call it *before* de-identification).

        Walks every element at any depth: person names (VR PN), dates and
        date-times (DA, DT) other than the well-known defaults, UIDs (UI) that
        are not registered DICOM UIDs nor class or transfer-syntax UIDs, and the
        identifier, address, institution and phone attributes listed in this
        module.
        """
        from pydicom.uid import UID_dictionary

        dl = cls()
        for elem in _iter_elements(ds):
            kw = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
            if elem.VR == "SQ" or elem.value in (None, "", b""):
                continue
            values = elem.value if elem.VM > 1 else [elem.value]
            for v in values:
                if elem.VR == "PN":
                    dl.add(str(v), "name", kw)
                elif elem.VR in ("DA", "DT"):
                    dl.add(str(v), "date", kw)
                elif elem.VR == "UI":  # instance UIDs; class and transfer-syntax UIDs name no one
                    if str(v) not in UID_dictionary and not kw.endswith(("ClassUID", "TransferSyntaxUID")):
                        dl.add(str(v), "uid", kw)
                elif kw in ID_KEYWORDS:
                    dl.add(v, "id", kw)
                elif kw in ADDRESS_KEYWORDS:
                    dl.add(v, "address", kw)
                elif kw in INSTITUTION_KEYWORDS:
                    dl.add(v, "institution", kw)
                elif kw in PHONE_KEYWORDS:
                    dl.add(v, "phone", kw)
        return dl

    def extend(self, other: "DenyList") -> "DenyList":
        """Add every term of ``other`` (for a patient's several instances); returns self."""
        for t in other.terms:
            self._put(t)
        return self

    # ----------------------------------------------------------------- reading
    @property
    def terms(self) -> tuple[DenyTerm, ...]:
        """The terms, in a stable order."""
        if self._sorted is None:
            self._sorted = tuple(sorted(self._terms.values(), key=lambda t: (t.category, t.text, t.keyword)))
        return self._sorted

    def __len__(self) -> int:
        return len(self._terms)

    def __bool__(self) -> bool:
        return bool(self._terms)

    def texts(self, categories: Iterable[str] | None = None) -> list[str]:
        """The normalized term texts (for OCR matching and report surrogates); do not store them."""
        cats = set(categories) if categories is not None else set(CATEGORIES)
        return [t.text for t in self.terms if t.category in cats]

    def find(self, text: str) -> list[DenyHit]:
        """Every place a term occurs in ``text`` (offsets in ``text``), left to right.

        Overlapping terms of one place are reported once (the longest term
        that matches at the leftmost position: a name's full form before its
        words).

        Each term is looked for only where it can be: an identifier's letters
        and digits appear in order once the other characters are removed, a
        name's word characters likewise, a date's two-digit year as digits; its
        pattern then runs in a small window around each such place.  This keeps
        a search of a long text (a bank's log or table, searched by ``covidbank
        audit``) linear in the text instead of trying every pattern at every
        position.
        """
        if not self._terms or not text:
            return []
        norm, offs = normalize_with_offsets(text)
        squashed: dict[str, tuple[str, list[int]]] = {"raw": (norm, list(range(len(norm))))}
        windows: dict[tuple[str, str, int], list[list[int]]] = {}

        def spans(kind: str, key: str, reach: int) -> list[list[int]]:
            """Merged windows of ``norm`` around each place ``key`` occurs in the squashed text."""
            if (kind, key, reach) not in windows:
                if kind not in squashed:
                    squashed[kind] = _squash(norm, _NOT_ALNUM if kind == "alnum" else _NOT_WORD)
                flat, where = squashed[kind]
                out: list[list[int]] = []
                i = flat.find(key)
                while i >= 0:
                    lo = max(0, where[i] - reach - 4)
                    hi = min(len(norm), where[i + len(key) - 1] + 1 + reach + 4)
                    if out and lo <= out[-1][1]:
                        out[-1][1] = max(out[-1][1], hi)
                    else:
                        out.append([lo, hi])
                    i = flat.find(key, i + 1)
                windows[(kind, key, reach)] = out
            return windows[(kind, key, reach)]

        by_rank = sorted(self.terms, key=lambda t: (-len(t.text), t.category, t.text))
        cands: set[tuple[int, int, int]] = set()
        for r, t in enumerate(by_rank):
            if t.category == "date":
                kind, key, reach = "alnum", t.text[2:4], _DATE_REACH
            elif t.category in ("id", "uid", "phone"):
                kind, key, reach = "alnum", t.text, 0
            else:
                kind, key, reach = "word", _NOT_WORD.sub("", t.text), 0
                if not key:  # a name of punctuation only (``???``): as written
                    kind, key = "raw", t.text
            if not key:
                continue
            where = spans(kind, key, reach)
            regex = _compiled(t) if where else None  # compiled only where the term can be (a UID's is long)
            if regex is None:
                continue
            for lo, hi in where:
                for m in regex.finditer(norm, lo, hi):
                    if m.end() > m.start():
                        cands.add((m.start(), r, m.end()))
        hits, last = [], 0
        for s, r, e in sorted(cands):
            if s < last:
                continue
            t = by_rank[r]
            hits.append(DenyHit(offs[s], offs[e - 1] + 1, t.category, t.keyword))
            last = e
        return hits

    def contains(self, text: str) -> bool:
        """Whether any term occurs in ``text``."""
        return bool(self.find(text))
