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
from typing import Iterable, Iterator

__all__ = ["CATEGORIES", "DenyTerm", "DenyHit", "DenyList", "normalize_with_offsets"]

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

_MONTHS = {
    1: ("enero", "january", "jan", "ene"), 2: ("febrero", "february", "feb"), 3: ("marzo", "march", "mar"),
    4: ("abril", "april", "apr", "abr"), 5: ("mayo", "may"), 6: ("junio", "june", "jun"),
    7: ("julio", "july", "jul"), 8: ("agosto", "august", "aug", "ago"),
    9: ("septiembre", "setiembre", "september", "sep", "sept", "set"), 10: ("octubre", "october", "oct"),
    11: ("noviembre", "november", "nov"), 12: ("diciembre", "december", "dec", "dic"),
}
#: Name parts too common to be evidence on their own (particles, titles).
_NAME_STOP = frozenset("de del la las los y e i da do dos das van von der den di le mr mrs ms dr dra sr sra jr md".split())
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SEP = r"[\s\-_^,.'’/]+"


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Text NFKC-normalized, case folded, accents and zero-width characters removed.

    Returns the normalized text and, for each of its characters, the index of
    the character of ``text`` it came from (so a match can be mapped back).
    """
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


def _date_patterns(value: str) -> list[tuple[str, set[str]]]:
    """The written forms of a date as regular expressions, each with the characters a match can start with."""
    digits = re.sub(r"\D", "", value)[:8]
    if len(digits) != 8:
        return []
    y, m, d = digits[:4], int(digits[4:6]), int(digits[6:8])
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return []
    dd, mm, yy = rf"0?{d}", rf"0?{m}", rf"(?:{y}|{y[2:]})"
    months = "|".join(_MONTHS[m])
    sep = r"\s*[/.\-]\s*"
    day0, month0 = {"0", str(d)[0]}, {"0", str(m)[0]}
    return [
        (rf"(?<!\d){y}{digits[4:6]}{digits[6:8]}(?!\d)", {y[0]}),
        (rf"(?<!\d){dd}{sep}{mm}{sep}{yy}(?!\d)", day0),
        (rf"(?<!\d){y}{sep}{mm}{sep}{dd}(?!\d)", {y[0]}),
        (rf"(?<!\d){mm}{sep}{dd}{sep}{y}(?!\d)", month0),
        (rf"(?<!\d){dd}(?:\s*de)?\s+(?:{months})\.?(?:\s*de)?\s*,?\s*{yy}(?!\d)", day0),
        (rf"\b(?:{months})\.?\s+{dd}(?:st|nd|rd|th)?\s*,?\s*{y}(?!\d)", {mo[0] for mo in _MONTHS[m]}),
    ]


def _iter_elements(ds) -> Iterator:
    for elem in ds.iterall():
        yield elem


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
        self._regex: dict | None = None  # compiled expressions by the terms a text may hold (see _compile)
        self._ordered: list[tuple[DenyTerm, tuple[str, ...]]] = []
        for t in terms:
            self._put(t)

    # ----------------------------------------------------------------- building
    def _put(self, term: DenyTerm) -> None:
        if term.category not in CATEGORIES:
            raise ValueError(f"unknown deny-term category {term.category!r}: use one of {CATEGORIES}")
        key = (term.category, term.text)
        if term.text and key not in self._terms:
            self._terms[key] = term
            self._regex = None

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
            for part in text.split("^"):  # PN components: family, given, middle names as written together
                comp = " ".join(w for w in re.split(_SEP, _norm(part)) if w)
                if " " in comp:
                    self._put(DenyTerm(comp, "name", keyword))
            for w in full.split(" "):
                if len(w) >= 3 and w not in _NAME_STOP and not w.isdigit():
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
        return tuple(sorted(self._terms.values(), key=lambda t: (t.category, t.text, t.keyword)))

    def __len__(self) -> int:
        return len(self._terms)

    def __bool__(self) -> bool:
        return bool(self._terms)

    def texts(self, categories: Iterable[str] | None = None) -> list[str]:
        """The normalized term texts (for OCR matching and report surrogates); do not store them."""
        cats = set(categories) if categories is not None else set(CATEGORIES)
        return [t.text for t in self.terms if t.category in cats]

    def _prepare(self) -> None:
        """The terms in match order (longest first), each with the substrings a text must hold to match it."""
        self._ordered = []
        # longest first: a full name wins over its words, a full address over its parts
        for t in sorted(self.terms, key=lambda t: (-len(t.text), t.category, t.text)):
            if t.category == "date":  # every written form holds the year's last two digits and the day
                need = (t.text[2:4], str(int(t.text[6:8]))) if len(t.text) >= 8 and t.text[:8].isdigit() else ()
            else:  # a match's letters and digits are the term's, in order, with only separators between them
                need = (re.sub(r"[^0-9a-z]", "", t.text),)
            self._ordered.append((t, need))
        self._regex = {}

    def _compile(self, chosen: tuple[int, ...]) -> tuple[re.Pattern, list[DenyTerm]]:
        """One regular expression for the ``chosen`` terms, grouped by the character a match starts with.

        Two things keep a search linear in practice.  Only the terms whose
        letters and digits occur in the text (in order, separators removed)
        are compiled: the others cannot match there, and leaving them out does
        not change which term matches at any place.  And the alternatives are
        grouped under a look-ahead of their first character: a flat alternation
        costs every alternative at every position (``re`` cannot skip ahead
        past alternatives that start with assertions), a grouped one only the
        terms that can start there.  Among those the order is kept (longest
        first), so which term a place is reported under is unchanged.
        """
        buckets: dict[str, list[str]] = {}
        groups: list[DenyTerm] = []
        for i in chosen:
            t = self._ordered[i][0]
            if t.category == "name" or t.category in ("address", "institution"):
                words = [re.escape(w) for w in t.text.split(" ")]
                pats = [(r"(?<![0-9a-z])" + _SEP.join(words) + r"(?![0-9a-z])", {t.text[0]})]
            elif t.category == "date":
                pats = _date_patterns(t.text)
            else:  # id, uid, phone: letters and digits with any separators between them
                chars = [re.escape(c) for c in t.text]
                # any short run of punctuation between them (``MRK@HOSP.ES``, ``99 887 766``, ``12-34/56``)
                pats = [(r"(?<![0-9a-z])" + r"[^0-9a-z\x00]{0,3}".join(chars) + r"(?![0-9a-z])", {t.text[0]})]
            for p, firsts in pats:
                for c in sorted(firsts):  # a pattern that may start with several characters is in each group
                    buckets.setdefault(c, []).append(f"(?P<g{len(groups)}>{p})")
                    groups.append(t)
        parts = [f"(?={re.escape(c)})(?:{'|'.join(ps)})" for c, ps in sorted(buckets.items())]
        return re.compile("|".join(parts) if parts else r"(?!x)x"), groups

    def find(self, text: str) -> list[DenyHit]:
        """Every place a term occurs in ``text`` (offsets in ``text``), left to right.

        Overlapping terms of one place are reported once (the first that
        matches at a position; a name's full form comes before its words).
        """
        if not self._terms or not text:
            return []
        if self._regex is None:
            self._prepare()
        norm, offs = normalize_with_offsets(text)
        alnum = re.sub(r"[^0-9a-z]", "", norm)
        chosen = tuple(i for i, (_, need) in enumerate(self._ordered) if all(n in alnum for n in need))
        if not chosen:
            return []
        if chosen not in self._regex:
            if len(self._regex) >= 64:
                self._regex.clear()
            self._regex[chosen] = self._compile(chosen)
        regex, groups = self._regex[chosen]
        hits = []
        pos = 0
        while pos <= len(norm):
            m = regex.search(norm, pos)
            if m is None:
                break
            term = groups[int(m.lastgroup[1:])]
            s, e = m.start(), m.end()
            if e == s:
                pos = s + 1
                continue
            hits.append(DenyHit(offs[s], offs[e - 1] + 1, term.category, term.keyword))
            pos = e
        return hits

    def contains(self, text: str) -> bool:
        """Whether any term occurs in ``text``."""
        return bool(self.find(text))
