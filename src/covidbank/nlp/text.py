"""Text normalization and sentence splitting for Spanish radiology reports.

BIMCV publishes its reports lower-cased and accent-stripped, with punctuation
reduced to `` . `` and placeholders (``nombrepropio``) where names were.  The
labeler works on that form: :func:`normalize` brings ordinary Spanish text to
it, so one lexicon serves both.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Sentence", "normalize", "strip_accents", "split_sentences"]

_ACCENT_TABLE = str.maketrans(
    "áéíóúàèìòùäëïöüâêîôûÁÉÍÓÚÀÈÌÒÙÄËÏÖÜÂÊÎÔÛñÑçÇ",
    "aeiouaeiouaeiouaeiouAEIOUAEIOUAEIOUAEIOUnNcC",
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
# punctuation that BIMCV drops (kept: . ; : and newlines, which end sentences or clauses)
_DROP = re.compile(r"[,()\[\]{}\"'¿?¡!*_/\\=+<>|#~^`´]")
_SENT_END = re.compile(r"(?:\.(?!\d)|\n|;)+")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a normalized report.

    Attributes
    ----------
    start, end : int
        Character offsets in the normalized text.
    text : str
        The sentence, stripped of surrounding spaces.
    """

    start: int
    end: int
    text: str


def strip_accents(text: str) -> str:
    """Remove Spanish diacritics (``á`` -> ``a``, ``ñ`` -> ``n``), keeping length.

    Characters outside the common Spanish set are decomposed (NFKD) and their
    combining marks dropped.
    """
    s = text.translate(_ACCENT_TABLE)
    if s.isascii():
        return s
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Bring report text to BIMCV's form: lower case, no accents, light punctuation.

    Commas, brackets and quotes become spaces, hyphens between words become
    spaces (``covid-19`` -> ``covid 19``), runs of spaces collapse; full stops,
    semicolons and newlines are kept because they end sentences.

    Examples
    --------
    >>> normalize("Opacidades en vidrio deslustrado, bilaterales (COVID-19).")
    'opacidades en vidrio deslustrado bilaterales covid 19 .'
    """
    if not isinstance(text, str):
        return ""
    s = strip_accents(text.lower())
    s = _DROP.sub(" ", s)
    s = re.sub(r"(?<=\w)-(?=\w)", " ", s)
    s = re.sub(r"\.(?!\d)", " . ", s)
    s = _SPACES.sub(" ", s)
    return s.strip()


def split_sentences(text: str) -> list[Sentence]:
    """Split normalized text into sentences at ``.``, ``;`` and line ends.

    A full stop followed by a digit (``0.5``) does not end a sentence.
    Empty pieces are dropped.
    """
    out: list[Sentence] = []
    pos = 0
    for m in _SENT_END.finditer(text):
        _add(out, text, pos, m.start())
        pos = m.end()
    _add(out, text, pos, len(text))
    return out


def _add(out: list[Sentence], text: str, a: int, b: int) -> None:
    while a < b and text[a] in " :":
        a += 1
    while b > a and text[b - 1] in " :":
        b -= 1
    if b > a:
        out.append(Sentence(a, b, text[a:b]))
