"""Unicode normalization before PHI matching, with offsets mapped back to the original text.

A name or number written with look-alike characters must be found like its plain spelling: a phone
number split by non-breaking spaces, a DNI in full-width digits (``１２３４５６７８Z``), a surname with a
zero-width space or a soft hyphen inside (``Gar\\u200bcía``), a ligature.  :func:`normalize_for_matching`
returns the text every detector reads and the map from its offsets to the original's, so what is found
is replaced in the original text, invisible characters included.

What is done, character by character (Unicode Standard Annex #15 for NFKC):

* zero-width and format characters (``U+200B-U+200F``, ``U+2060-U+2064``, ``U+FEFF``, soft hyphen
  ``U+00AD``, other ``Cf``) are dropped;
* every space separator (``Zs``: no-break, narrow no-break, figure, ideographic spaces...) becomes ``" "``;
* other characters get their NFKC form (full-width digits and letters, ligatures, superscripts);
* a combining mark is composed with the character before it (NFC) when it can be.

The standard library's :func:`unicodedata.normalize` works on whole strings and loses the offsets; that is
why this is written by hand here, one character at a time.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["NormalizedText", "normalize_for_matching"]


@dataclass(frozen=True)
class NormalizedText:
    """Normalized text and, for each of its characters, the original span it came from.

    Attributes
    ----------
    text : str
        The normalized text.
    starts, ends : list of int or None
        ``starts[i]:ends[i]`` is the original span of ``text[i]``; ``None`` when the text did not change
        (offsets are the same).
    """

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the normalized span ``start:end`` (``end`` exclusive, ``start < end``)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def _plain(c: str) -> bool:
    return c.isascii() or c in "áéíóúüñÁÉÍÓÚÜÑàèìòùçÇºª¿¡·€°´¨"


def normalize_for_matching(text: str) -> NormalizedText:
    """Normalize ``text`` for PHI matching (see the module docstring); offsets map back with
    :meth:`NormalizedText.to_original`.

    Examples
    --------
    >>> n = normalize_for_matching("DNI １２３\\u200b45")
    >>> n.text
    'DNI 12345'
    >>> n.to_original(4, 9)
    (4, 10)
    """
    if all(_plain(c) for c in text):
        return NormalizedText(text)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, c in enumerate(text):
        if _plain(c):
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
            continue
        cat = unicodedata.category(c)
        if cat == "Cf" or c == "\u00ad":
            if ends:  # an invisible character inside a span belongs to it
                ends[-1] = i + 1
            continue
        if cat == "Zs":
            out.append(" ")
            starts.append(i)
            ends.append(i + 1)
            continue
        if unicodedata.combining(c) and out:
            composed = unicodedata.normalize("NFC", out[-1] + c)
            if len(composed) == 1:
                out[-1] = composed
                ends[-1] = i + 1
                continue
        n = unicodedata.normalize("NFKC", c)
        if not n:
            continue
        for ch in n:
            out.append(ch)
            starts.append(i)
            ends.append(i + 1)
    return NormalizedText("".join(out), starts, ends)
