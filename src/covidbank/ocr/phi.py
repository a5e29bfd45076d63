"""Decide which text read in a radiograph is personal data.

Each text line the detector read is classified as

* ``phi``: it matches one of the instance's removed header values (its
  :class:`~covidbank.dicom.denylist.DenyList`) exactly or within the edit
  distance OCR errors leave, or a generic pattern of identifiers (a date, a
  number of six digits or more, a label such as ``Name:``, ``NHC``, ``ID``
  followed by a value);
* ``allowed``: every word of it is harmless radiograph text from the
  allow-list (side markers, projections, positions, exposure factors, arrows,
  device markers), kept as data in ``covidbank/ocr/data/allowlist.txt``;
* ``unknown``: legible text that is neither, a word of four letters or digits or more read with confidence
  (flagged for a curator's review);
* ``noise``: what Tesseract made of anatomy (short, low-confidence strings).

Categories are a fixed vocabulary (:data:`PHI_CATEGORIES`): safe to store in a
bank.  The text itself is never returned for storage.

The fuzzy match is a bounded edit distance over short strings (approximate
substring search, Sellers 1980), written by hand: a dozen lines, not worth a
dependency.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..dicom.denylist import MONTH_NAMES, DenyList
from .detect import TextLine

__all__ = ["PHI_CATEGORIES", "AllowList", "Finding", "approx_find", "classify_lines", "classify_rows", "id_hint"]

#: Categories a PHI finding can carry: the deny-list's and the generic patterns'.
PHI_CATEGORIES = ("name", "id", "date", "uid", "address", "institution", "phone",
                  "date_pattern", "long_number", "labelled_value")

#: Confidence below which a word is not used for the allow-list or review; generic patterns (structured: a
#: date, six digits, a label) take words from :data:`MIN_CONF_PATTERN`.
MIN_CONF = 40.0
MIN_CONF_PATTERN = 30.0

_CONFUSABLE_DIGITS = str.maketrans({"o": "0", "O": "0", "Q": "0", "D": "0", "i": "1", "I": "1", "l": "1",
                                    "|": "1", "!": "1", "L": "1", "s": "5", "S": "5", "B": "8", "z": "2",
                                    "Z": "2", "g": "9", "q": "9", "G": "6", "b": "6", "T": "7", "A": "4", "@": "0"})
#: Characters Tesseract reads for one another, each class mapped to one representative (digits in names,
#: ``i``/``l``/``1``, ``e``/``c``, ``u``/``v``) and letter pairs it reads as one letter (``rn``/``m``).
_LOOKALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "i": "l", "j": "l", "|": "l", "!": "l", "5": "s", "2": "z",
                            "8": "b", "9": "g", "c": "e", "v": "u"})
#: Name words up to this length are matched only exactly up to look-alike characters (one free edit in a
#: four or five letter word makes too many ordinary words match); longer ones within an edit distance.
SHORT_NAME = 5
_MONTHS = ("ene|enero|feb|febrero|mar|marzo|abr|abril|may|mayo|jun|junio|jul|julio|ago|agosto|sep|sept|"
           "septiembre|set|oct|octubre|nov|noviembre|dic|diciembre|jan|january|february|march|apr|april|june|"
           "july|aug|august|september|october|november|dec|december")
_DATE_RES = [
    re.compile(r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])\s*[/.\-]\s*(?:0?[1-9]|1[0-2])\s*[/.\-]\s*(?:\d{4}|\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(?:0?[1-9]|1[0-2])\s*[/.\-]\s*(?:0?[1-9]|[12]\d|3[01])\s*[/.\-]\s*\d{4}(?!\d)"),
    re.compile(r"(?<!\d)(?:19|20)\d{2}\s*[/.\-]\s*(?:0?[1-9]|1[0-2])\s*[/.\-]\s*(?:0?[1-9]|[12]\d|3[01])(?!\d)"),
    re.compile(rf"(?<!\d)(?:0?[1-9]|[12]\d|3[01])\s*(?:de\s+)?(?:{_MONTHS})\.?\s*(?:de\s+)?[',]?\s*(?:\d{{4}}|\d{{2}})(?!\d)"),
    re.compile(rf"\b(?:{_MONTHS})\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s*,?\s*\d{{4}}(?!\d)"),
    re.compile(r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)"),
]
_DATE_LOOSE = [  # a month word OCR misread ("Warch 23, 1931", "23 rnarzo 1931"), or month and year only
    re.compile(r"\b[a-z]{3,10}\.?\s+(?:0?[1-9]|[12]\d|3[01])\s*,\s*(?:19|20)\d{2}(?!\d)"),
    re.compile(r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[\s\-/.,]*(?:de\s+)?[a-z]{3,10}\.?[\s\-/.,]*(?:de\s+)?(?:19|20)\d{2}(?!\d)"),
    re.compile(rf"\b(?:{_MONTHS})\.?[\s\-/.,]*(?:de\s+)?(?:19|20)\d{{2}}(?!\d)"),
]
_FULL_MONTHS = ("enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
                "january|february|march|april|june|july|august|september|october|november|december")
_DATE_PARTIAL = [  # what OCR leaves of a date when it loses a field: day and month name, or ", year" of "Month D, YYYY"
    re.compile(rf"(?<!\d)(?:0?[1-9]|[12]\d|3[01])\s*(?:de\s+)?(?:{_FULL_MONTHS})\b"),
    re.compile(rf"\b(?:{_FULL_MONTHS})\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b(?!\s*[.:/\-]?\d)"),
    re.compile(r"(?<![\d.,/\-])(?:0?[1-9]|[12]\d|3[01])\s*,\s*(?:19|20)\d{2}(?!\d)"),
]
_MONTH_NUMBERS = {name: f"{m:02d}" for m, names in MONTH_NAMES.items() for name in names}
#: A month word not inside another word (digits and punctuation around it are fine: ``3FEB-1949``).
_MONTH_WORD = re.compile(r"(?<![a-z])(" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")(?![a-z])")
#: Digits and the separators between them (up to three: `2020 - 19`): one written number or date as OCR read it.
_DIGIT_RUN = re.compile(r"\d+(?:[\s/.\-,]{1,3}\d+)*")
#: Two fields of a date side by side and the third lost: two digits, a date separator, two digits, a separator
#: and at most one digit (``02/14/2(`` of ``02/14/2019``; ``03/15/19`` is another date, not the same one cut).
_DATE_PAIR = re.compile(r"(?<!\d)(\d{2})\s?[/.\-]\s?(\d{2})\s?[/.\-]\s?\d?(?!\d)")
#: One written date as OCR read it, for the fuzzy match of an instance's date: digits joined by up to three other
#: characters (separators, spaces, a misread digit: ``15/0e/2020``, ``|15 / 03 / 2O2O``), not by a time's colon.
_DATE_DIGIT_RUN = re.compile(r"\d+(?:[^\d:]{1,3}\d+)*")
#: A time read glued to the number before it (``15/03/202010:22:31``, ``2020-03-15T10:22`` with its ``T`` read
#: ``7``): the hour (and a ``7`` before it) set apart as a group of its own, so that the date's groups end before it.
_GLUED_TIME = re.compile(r"(?<=\d{2})(?=(?:[01]\d|2[0-3])[:.][0-5]\d(?:[:.][0-5]\d)?(?!\d))")
_GLUED_TIME_T = re.compile(r"(?<=\d{2})(?=7(?:[01]\d|2[0-3])[:.][0-5]\d(?:[:.][0-5]\d)?(?!\d))")
#: A number of six digits or more, its digits together or split by one of ``.-/``, or grouped by spaces in threes
#: (``12 345 678``, ``912 345 678``).  Numbers split by spaces otherwise are not one number: a caption's window
#: ``C: 341 W: 2048``, its letters dropped as unsure, left ``341 2048``.
#: A day of two digits, a month word read as no month (``NON``, ``War`` of ``Mar``, ``d@octubre``, ``i osto`` of
#: ``agosto``, ``de septiemb) mbre de``: at least three letters among up to 24 characters) and a year; or the year
#: first (``2019-; lope -17``).
_DAY_WORD_YEAR = re.compile(r"(?<!\d)(\d{2})(?=\D{0,24}(?:19|20)\d{2}(?!\d))(\D*?[a-z]\D*?[a-z]\D*?[a-z]\D*?)"
                            r"((?:19|20)\d{2})(?!\d)")
_YEAR_WORD_DAY = re.compile(r"(?<!\d)((?:19|20)\d{2})(?=\D{0,24}\d{2}(?!\d))(\D*?[a-z]\D*?[a-z]\D*?[a-z]\D*?)"
                            r"(\d{2})(?!\d)")
_LONG_NUMBER = re.compile(r"(?<![0-9])(?:\d(?:[.\-/]?\d){5,}|\d{1,3}(?:\s\d{3}){2,}|\d{3}\s\d{3})(?![0-9])")
#: A number split by spaces in any grouping (``ID 4937 175``, ``N° 73 26 01 37``) after a record label: the label
#: says it is one number (six digits or more, counted by :func:`_generic`), whatever a caption's numbers side by side.
_LABELLED_SPLIT_NUMBER = re.compile(r"\b(?:nhc|mrn|dni|nie|nif|pid|id|hist|historia|exp|expediente|acc|accession|"
                                    r"sip|cip|tis|n[o\u00ba\u00b0])(?![a-z0-9])\W{0,3}(\d+(?:\s\d+)+)(?!\d)")
_LABEL = re.compile(
    r"\b(?:nombre|name|paciente|patient|pat|apellidos?|nhc|n\.?\s?h\.?\s?c|mrn|dni|nie|nif|sip|cip|tis|dob|"
    r"f\.?\s?nac|nacimiento|birth|historia|hist|h\.?\s?c|acc|accession|acceso|exp|expediente|id|pid|n[ºo°]|dra?|doctora?)"
    r"\s*[:#=.]\s*[0-9a-z]", re.IGNORECASE)
_LABEL_BARE = re.compile(r"\b(?:nhc|mrn|dni|nie|dob|pid|historia)\s+[0-9a-z]", re.IGNORECASE)
#: What announces a record number or a date the first reading caught only in part: a label, or three digits.
_ID_HINT = re.compile(r"\b(?:nhc|mrn|dni|nie|pid|id|hist|historia|exp|expediente|acc|accession|n[o\u00ba\u00b0]|"
                      r"dob|nac|fecha|date)\b|\d{3}")


def id_hint(text: str) -> bool:
    """Whether OCR text holds a record-number label or three digits in a row (worth a digits-only reading)."""
    return bool(_ID_HINT.search(_fold(text)))



def _fold(text: str) -> str:
    """Case folded, accents stripped (as the deny-list normalizes)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def approx_find(term: str, text: str, k: int, whole: bool = False) -> bool:
    """Whether ``term`` occurs in ``text`` with at most ``k`` edits (insertions, deletions, substitutions).

    Sellers' approximate substring search: the edit-distance table with a
    free start and end in ``text``; with ``whole``, no free start or end:
    ``term`` is all of ``text`` within ``k`` edits (their edit distance).

    >>> approx_find("lopez", "garciatopezmaria", 1)
    True
    >>> approx_find("lopez", "garciamaria", 1)
    False
    >>> approx_find("20200315", "20200317", 2, whole=True), approx_find("20200315", "20200317142231", 2, whole=True)
    (True, False)
    """
    m = len(term)
    if m == 0:
        return False
    if k <= 0:
        return term == text if whole else term in text
    if whole and abs(len(text) - m) > k:
        return False
    prev = list(range(m + 1))
    for j, ch in enumerate(text, 1):
        cur = [j if whole else 0] + [0] * m
        for i in range(1, m + 1):
            cost = 0 if term[i - 1] == ch else 1
            cur[i] = min(prev[i - 1] + cost, prev[i] + 1, cur[i - 1] + 1)
        if not whole and cur[m] <= k:
            return True
        prev = cur
    return whole and prev[m] <= k


class AllowList:
    """Harmless radiograph words (exact, after folding) and patterns, read from a text file.

    Parameters
    ----------
    words : iterable of str
    patterns : iterable of str
        Regular expressions matched against a whole folded word.
    """

    def __init__(self, words: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self.words = frozenset(_fold(w) for w in words)
        self.patterns = [re.compile(p) for p in patterns]

    @classmethod
    def parse(cls, text: str) -> AllowList:
        words, pats = [], []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            (pats if line.startswith("re:") else words).append(line.removeprefix("re:"))
        return cls(words, pats)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AllowList:
        """The package's allow-list (``covidbank/ocr/data/allowlist.txt``) or the file at ``path``."""
        if path is None:
            return cls.parse(resources.files("covidbank.ocr").joinpath("data/allowlist.txt").read_text("utf-8"))
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def __contains__(self, word: str) -> bool:
        """Exact (folded) word, a pattern, or one OCR error from a listed word of five letters or more."""
        w = _fold(word).strip()
        if not w:
            return True
        w = w.strip(".,:;|")
        if not w or w in self.words or any(p.fullmatch(w) for p in self.patterns):
            return True
        return len(w) >= 4 and any(len(a) >= 5 and abs(len(a) - len(w)) <= 1 and approx_find(a, w, 1)
                                   for a in self.words)


@dataclass(frozen=True)
class Finding:
    """The decision on one text line: ``kind`` (phi, allowed, unknown, noise), categories, box, confidence.

    ``members`` are the indices of the detector's lines that make up a row (:func:`classify_rows`).
    """

    kind: str
    categories: tuple[str, ...]
    box: tuple[int, int, int, int]
    conf: float
    score: float
    members: tuple[int, ...] = field(default=(), compare=False)


#: Quote marks OCR reads from a stroke's end or the texture beside a word (``‘febrero``, ``de'2049``): for the date
#: patterns, separators like a space.
_QUOTES = re.compile("[\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u00ab\u00bb'`\"]")


def _unquote(text: str) -> str:
    """``text`` with its quote marks (:data:`_QUOTES`) read as spaces, for the date patterns: a stray quote
    between the day and the month word (``17 de ‘febrero``) kept them apart."""
    return _QUOTES.sub(" ", text)


def _digitize(text: str) -> str:
    """OCR confusions undone in digit-heavy tokens (``O``->0, ``l``->1, ``S``->5 ...)."""
    out = []
    for tok in re.split(r"(\s+)", text):
        digits = sum(c.isdigit() for c in tok)
        alnum = sum(c.isalnum() for c in tok)
        out.append(tok.translate(_CONFUSABLE_DIGITS) if alnum and digits / alnum >= 0.5 else tok)
    return "".join(out)


def _digitize_loose(text: str) -> str:
    """OCR confusions undone in every run of letters and digits holding a digit, however few (``Z0Z0`` of
    ``2020``, ``7GG`` of ``766``, ``FECHAZ30B1979``), for the instance's own numbers (its ids and dates) only:
    :func:`_digitize` keeps tokens mostly of letters, a label glued to a number among them."""
    return re.sub(r"[0-9A-Za-z|!]+", lambda m: m.group().translate(_CONFUSABLE_DIGITS)
                  if any(c.isdigit() for c in m.group()) else m.group(), text)


#: One or two letters Tesseract reads for digits just before a date separator and a number (``iz. .03., .21`` of
#: ``12.03.21``): a day or month group read as letters, a word of its own that :func:`_digitize` keeps.  Only a word
#: all of look-alikes (``wl`` of a caption's ``WL -303`` is a word, not ``w1``).
_DATED_LETTERS = re.compile(r"(?<![0-9a-z])[a-z|!]{1,2}(?![0-9a-z])(?=\s*[./\-]\s*[./\-]?\s*\d)")


def _digitize_dated(folded: str) -> str:
    """``folded`` with the look-alikes of :data:`_DATED_LETTERS` undone, for the instance's own dates only."""
    def undo(m: re.Match) -> str:
        digits = m.group().translate(_CONFUSABLE_DIGITS)
        return digits if digits.isdigit() else m.group()
    return _DATED_LETTERS.sub(undo, folded)


def _lookalike(text: str) -> str:
    """``text`` (folded) with each look-alike class of :data:`_LOOKALIKE` reduced to one character."""
    for a, b in _LOOKALIKE_PAIRS:
        text = text.replace(a, b)
    return text.translate(_LOOKALIKE)


def _made_of(token: str, words: frozenset[str]) -> bool:
    """Whether ``token`` is one or more of ``words`` written together (OCR drops the space between words)."""
    ok = [True] + [False] * len(token)
    for end in range(1, len(token) + 1):
        ok[end] = any(ok[start] and token[start:end] in words for start in range(max(0, end - 12), end))
    return ok[-1]


def _date_forms(yyyymmdd: str) -> list[str]:
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:8]
    forms = {d + m + y, d + m + y[2:], y + m + d, m + d + y, m + d + y[2:], d.lstrip("0") + m.lstrip("0") + y,
             d.lstrip("0") + m + y, d + m.lstrip("0") + y}
    return [f for f in forms if len(f) >= 6]


def _date_parts(yyyymmdd: str) -> set[str]:
    """Two of a date's three fields written together (zero-padded; two- or four-digit year), in any order.

    What is left when OCR loses one field of a written date (``16/02``,
    ``12.20``, ``04 78``).  Parts that read as a year (19xx, 20xx) are left out:
    years alone are everywhere in figure captions.
    """
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:8]
    fields = {"d": d, "m": m}
    out = set()
    for yy in (y[2:], y):
        fields["y"] = yy
        for a in "dmy":
            for b in "dmy":
                if a != b:
                    out.add(fields[a] + fields[b])
    return {p for p in out if not re.fullmatch(r"(?:19|20)\d\d", p)}


class _DenyMatcher:
    """Fuzzy matching of OCR text against one deny-list (terms prepared once per image)."""

    def __init__(self, deny: DenyList | None) -> None:
        self.deny = deny if deny is not None else DenyList()
        terms = self.deny.terms
        self.names = sorted({w for t in terms if t.category == "name" for w in t.text.split(" ") if len(w) >= 4})
        self.long_names = [w for w in self.names if len(w) > SHORT_NAME]
        self.short_names = {_lookalike(w) for w in self.names if len(w) <= SHORT_NAME}
        self.name_words = frozenset({_lookalike(w) for t in terms if t.category == "name"
                                     for w in t.text.split(" ") if len(w) >= 4})
        self.codes = [(re.sub(r"[^0-9a-z]", "", t.text), t.category) for t in terms
                      if t.category in ("id", "uid", "phone")]
        self.dates = sorted({f for t in terms if t.category == "date" for f in _date_forms(t.text)})
        self.date_parts = {p for t in terms if t.category == "date" for p in _date_parts(t.text)}
        self.ymd = sorted({(t.text[:4], t.text[4:6]) for t in terms if t.category == "date" and len(t.text) == 8})
        self.dy = {(int(t.text[6:8]), t.text[:4]) for t in terms if t.category == "date" and len(t.text) == 8
                   and t.text.isdigit()}
        self.md = {(t.text[4:6], int(t.text[6:8])) for t in terms if t.category == "date" and len(t.text) == 8
                   and t.text[6:8].isdigit()}
        self.places = [(re.sub(r"[^a-z0-9]", "", t.text), t.category) for t in terms
                       if t.category in ("address", "institution")]

    def _short_name(self, folded: str) -> bool:
        """A short name word read exactly up to look-alikes: as a word, split in two, or written together with
        other words of the name."""
        tokens = [t for t in re.split(r"[^a-z]+", _lookalike(folded)) if t]
        joined = [a + b for a, b in zip(tokens, tokens[1:])]
        return any(t in self.short_names or (len(t) > SHORT_NAME and _made_of(t, self.name_words))
                   for t in tokens + joined)

    def _month_date(self, folded: str) -> bool:
        """A date written with its month's name (``20-FEB-1949``, ``15 de marzo de 2020``, ``March 15, 2020``)
        whose month is an instance date's and whose year is too (within one misread digit), with a day read
        next to it (any: OCR misreads the day first, ``ERE@3FEB-1949``); or whose month and day are an instance
        date's, the year lost (``12-JUL-`` of ``12-JUL-2021``, ``May 10, W:`` of ``May 10, 2021`` beside a
        caption): two of the date's fields, as :func:`_date_parts` for dates in digits."""
        for m in _MONTH_WORD.finditer(folded):
            month = _MONTH_NUMBERS[m.group(1)]
            head = folded[max(0, m.start() - 8):m.start()]
            tail = _digitize(folded[m.end():m.end() + 14])
            day_first = re.search(r"\d[\s.,/\-]*(?:de\s+)?$", _digitize(head))  # day month year, else month day, year
            day = re.search(r"(?<!\d)(\d{1,2})[\s.,/\-]*(?:de\s+)?$", head) if day_first \
                else re.match(r"[\s.]*(\d{1,2})(?![\d.,]\d)(?:st|nd|rd|th)?(?![a-z])", tail)
            if day is not None and (month, int(day.group(1))) in self.md:
                return True
            if day is None:  # the day lost (``abril-de 2019`` of ``16 de abril de 2019``): month and year, exactly
                my = re.match(r"[\s.,/\-]*(?:del?[\s.,/\-]*)?((?:19|20)\d{2})(?!\d)", tail)
                if my is not None and (my.group(1), month) in self.ymd:
                    return True
            y = re.match(r"[\s.,/\-]*(?:de\s+)?[',]?\s*(\d{2,4})" if day_first
                         else r"[\s.]*\d{1,2}(?:st|nd|rd|th)?\s*[,.]?\s*(\d{4})", tail)
            if y is None:
                continue
            year = y.group(1)
            for yy, mm in self.ymd:
                if mm == month and (year == yy[2:] if len(year) == 2 else len(year) == 4 and approx_find(yy, year, 1)):
                    return True
        return False

    def _date_digits(self, folded: str) -> bool:
        """A form of an instance's date (:func:`_date_forms`) in the digits of the text: exactly anywhere, or
        (eight digits within two edits, seven within one) as whole groups of digits of one written number
        (:data:`_DATE_DIGIT_RUN`), bounded by non-digits on both sides, of the form's length (one digit fewer, up to ``k`` more: a
        separator read as a digit, ``0471272020`` of ``07/12/2020``).

        The bounds keep a date from matching the digits of a longer number, or of a date and a time read
        together, by a part of them: ``29/02/2020, RX 01:35:05`` (a real caption) held ``2020013``, 13 July
        2020 within one edit, when all the digits of a line were searched.  What that search also caught, a
        month word misread as no month between the day and the year, is :meth:`_day_and_year`.  A time glued to
        the date (:data:`_GLUED_TIME`) and a letter glued before it read as a digit (``FECHA14/07`` digitized
        ``FECH414/07``) are set apart from its groups: the misses of the bounds on synthetic OCR'd dates.
        """
        digits = re.sub(r"\D", "", folded)
        runs = []
        for text in {folded, _GLUED_TIME.sub(" ", folded), _GLUED_TIME_T.sub(" ", folded)}:
            for r in _DATE_DIGIT_RUN.finditer(text):
                groups = re.findall(r"\d+", r.group())
                runs.append(groups)
                if r.start() and text[r.start() - 1].isalpha() and len(groups[0]) > 1:
                    runs.append([groups[0][1:]] + groups[1:])  # a letter glued before read as a digit (FECHA15)
        for form in self.dates:
            if form in digits:
                return True
            k = 2 if len(form) >= 8 else 1 if len(form) >= 7 else 0
            if not k:
                continue
            for groups in runs:
                for i in range(len(groups)):
                    span = ""
                    for g in groups[i:]:
                        span += g
                        if len(span) > len(form) + k:
                            break
                        if len(span) >= len(form) - 1 and approx_find(form, span, k, whole=True):
                            return True
        return False

    def _day_and_year(self, folded: str) -> bool:
        """An instance date's day and year around a month word read as no month (``21 NON:2019``, ``24 d@octubre
        de 2020``, ``2019-; lope -17``; :data:`_DAY_WORD_YEAR`), in the text as read (not digitized: ``NON`` is no ``N0N``)."""
        return any(len(m.group(2)) <= 24 and (int(m.group(1)), m.group(3)) in self.dy
                   for m in _DAY_WORD_YEAR.finditer(folded)) \
            or any(len(m.group(2)) <= 24 and (int(m.group(3)), m.group(1)) in self.dy
                   for m in _YEAR_WORD_DAY.finditer(folded))

    def _date_run(self, folded: str) -> bool:
        """One written number of the text is two fields of an instance's date (exactly), or holds two of them
        side by side, the third field lost (``02/14/2(`` of ``02/14/2019``); or a six or seven digit form of it
        with one digit misread."""
        for run in _DIGIT_RUN.finditer(folded):
            digits = re.sub(r"\D", "", run.group())
            if digits in self.date_parts:
                return True
            if any(a + b in self.date_parts for a, b in _DATE_PAIR.findall(run.group())):
                return True
            if len(digits) >= 6 and any(len(f) in (6, 7) and abs(len(f) - len(digits)) <= 1
                                        and approx_find(f, digits, 1) for f in self.dates):
                return True
        return False

    def categories(self, text: str) -> set[str]:
        cats = {h.category for h in self.deny.find(text)}
        dig = _digitize(text)
        if dig != text:
            cats |= {h.category for h in self.deny.find(dig)}
        folded = _fold(text)
        letters = re.sub(r"[^a-z]", "", folded)
        if any(approx_find(name, letters, 1 if len(name) <= 7 else 2) for name in self.long_names) \
                or (self.short_names and self._short_name(folded)):
            cats.add("name")
        fdig = _fold(dig)
        alnum = re.sub(r"[^0-9a-z]", "", fdig)
        # a record number's group read mostly as letters (``Z0ZOO3``, ``7GG``) stays letters in ``dig``: its
        # look-alikes undone in every word holding a digit
        loose_text = _digitize_loose(dig)
        loose = re.sub(r"[^0-9a-z]", "", _fold(loose_text))
        for code, cat in self.codes:
            if cat in cats or len(code) < 4:
                continue
            k = 0 if len(code) < 6 else 1 if len(code) < 8 else 2 if len(code) < 12 else len(code) // 5
            for a in dict.fromkeys((alnum, loose)):  # once when no look-alike was undone
                if approx_find(code, a if not code.isdigit() else re.sub(r"[^0-9]", "", a), k):
                    cats.add(cat)
                    break
            # the rest of a long number whose first digits OCR read as letters (``ho97032`` of ``482097032``):
            # five of its digits in a row, exactly
            if cat not in cats and code.isdigit() and len(code) >= 7 and any(
                    len(r) >= 5 and r in code for r in re.findall(r"\d+", dig)):
                cats.add(cat)
        if self._date_digits(fdig) or self._day_and_year(folded) or (
                loose_text != dig and self._date_digits(_fold(loose_text))):
            cats.add("date")
        if "date" not in cats and self.ymd and self._month_date(_unquote(folded)):
            cats.add("date")
        if "date" not in cats and self._date_run(fdig):
            cats.add("date")
        if "date" not in cats:
            dated = _digitize_dated(fdig)
            if dated != fdig and (self._date_digits(dated) or self._date_run(dated)):
                cats.add("date")
        for place, cat in self.places:
            if len(place) >= 6 and approx_find(place, re.sub(r"[^a-z0-9]", "", folded), len(place) // 8):
                cats.add(cat)
        return cats


def _generic(text: str) -> set[str]:
    cats = set()
    dig = _digitize(text)
    # quote marks read as separators only around a month word: the patterns of any word (``5erics '2019`` of
    # ``Series 2019``) keep them
    fdig, ftext = _fold(dig), _fold(text)
    unq = _unquote(ftext)
    if any(r.search(fdig) for r in _DATE_RES) or any(r.search(ftext) for r in _DATE_LOOSE[:2]) \
            or any(r.search(unq) for r in _DATE_LOOSE[2:] + _DATE_PARTIAL):
        cats.add("date_pattern")
    if _LONG_NUMBER.search(dig) or any(sum(c.isdigit() for c in m.group(1)) >= 6
                                       for m in _LABELLED_SPLIT_NUMBER.finditer(fdig)):
        cats.add("long_number")
    if _LABEL.search(ftext) or _LABEL_BARE.search(ftext) or _fuzzy_label(ftext):
        cats.add("labelled_value")
    return cats


#: Record labels long enough to be read with two letters wrong (``histona``, ``dustoria`` of ``historia``),
#: and the ordinary words within two edits of them that are no label: a word nearer one of these than the label
#: is that word, misread (``histor 2`` of a caption's ``History 2``, ``historv``, ``Histor1cal``).
_LONG_LABELS = ("historia", "expediente", "nacimiento")
_NOT_LABELS = ("history", "historic", "historical", "historian", "histories", "histology", "historico", "historica",
               "historicos", "historicas", "victoria", "vitoria", "yacimiento")
#: A word and a number after it (up to three other characters between them).
_WORD_NUMBER = re.compile(r"(?<![a-z])([a-z]{6,11})(?![a-z])\W{0,3}\d")


def _fuzzy_label(folded: str) -> bool:
    """A long record label read within two letters (:data:`_LONG_LABELS`) followed by a number, the word not
    nearer an ordinary word (:data:`_NOT_LABELS`) than the label."""
    for w in _WORD_NUMBER.findall(folded):
        k = next((k for k in range(3) if any(approx_find(lbl, w, k, whole=True) for lbl in _LONG_LABELS)), None)
        if k is not None and not (k and any(approx_find(o, w, k - 1, whole=True) for o in _NOT_LABELS)):
            return True
    return False


def _union_box(boxes: Sequence[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def classify_lines(lines: Sequence[TextLine], deny: DenyList | None, allow: AllowList | None = None,
                   patterns: bool = True) -> list[Finding]:
    """One :class:`Finding` per text line (same order).

    A line is ``phi`` when its whole text (every word Tesseract gave,
    whatever its confidence: a deny term is specific) matches the deny-list,
    or (with ``patterns``) its confident words match a generic pattern.  Its
    box is the union of the candidate and the words read in it.
    """
    allow = allow if allow is not None else AllowList.load()
    matcher = _DenyMatcher(deny)
    out = []
    for ln in lines:
        box = _union_box([ln.box] + [(w.x, w.y, w.w, w.h) for w in ln.words])
        words = sorted(ln.words, key=lambda w: w.x)
        confident = [w for w in words if w.conf >= MIN_CONF]
        cats = matcher.categories(" ".join(w.text for w in words)) if matcher.deny else set()
        if patterns:
            cats |= _generic(" ".join(w.text for w in words if w.conf >= MIN_CONF_PATTERN))
        conf = max((w.conf for w in words), default=0.0)
        if cats:
            out.append(Finding("phi", tuple(c for c in PHI_CATEGORIES if c in cats), box, conf, ln.score))
            continue
        legible = [w for w in confident if w.text not in allow]
        if not confident or (confident and not legible):
            kind = "allowed" if confident else "noise"
        elif any(sum(c.isalnum() for c in w.text) >= 4 and w.conf >= 60 for w in legible):
            kind = "unknown"
        else:
            kind = "noise"
        out.append(Finding(kind, (), box, conf, ln.score))
    return out


def _rows(lines: Sequence[TextLine]) -> list[list[int]]:
    """Lines (of either polarity) on one text row: overlapping vertically, of similar height, close side by side.

    The candidate search splits a row where a letter fuses with the anatomy;
    the decision is taken on the whole row.
    """
    from ..unionfind import UnionFind

    uf = UnionFind(range(len(lines)))
    order = sorted(range(len(lines)), key=lambda i: lines[i].box[0])
    for a_i, i in enumerate(order):
        ax, ay, aw, ah = lines[i].box
        for j in order[a_i + 1:]:
            bx, by, bw, bh = lines[j].box
            hi, lo = max(ah, bh), min(ah, bh)
            if bx > ax + aw + 2.0 * hi:
                if bx > ax + aw + 2.0 * 80:
                    break
                continue
            if hi > 2.2 * lo or min(ay + ah, by + bh) - max(ay, by) < 0.5 * lo:
                continue
            uf.union(i, j)
    return [sorted(m) for m in uf.groups().values()]


def classify_rows(lines: Sequence[TextLine], deny: DenyList | None,
                  allow: AllowList | None = None) -> list[Finding]:
    """One :class:`Finding` per text row: ``phi`` when any of its lines is, or its text read left to right is.

    A row's box is the union of its lines'; rows are returned top to bottom.
    """
    allow = allow if allow is not None else AllowList.load()
    per_line = classify_lines(lines, deny, allow)
    rank = {"phi": 3, "unknown": 2, "allowed": 1, "noise": 0}
    out = []
    for members in _rows(lines):
        fs = [per_line[i] for i in members]
        box = _union_box([f.box for f in fs])
        cats = {c for f in fs for c in f.categories}
        if len(members) > 1:
            for pol in ("bright", "dark"):
                words = sorted((w for i in members if lines[i].polarity == pol for w in lines[i].words),
                               key=lambda w: w.x)
                if words:
                    row = TextLine(box, pol, 1.0, words)
                    (f,) = classify_lines([row], deny, allow)
                    cats |= set(f.categories)
        kind = "phi" if cats else max((f.kind for f in fs), key=rank.get)
        out.append(Finding(kind, tuple(c for c in PHI_CATEGORIES if c in cats), box,
                           max(f.conf for f in fs), max(f.score for f in fs), tuple(members)))
    return sorted(out, key=lambda f: (f.box[1], f.box[0]))
