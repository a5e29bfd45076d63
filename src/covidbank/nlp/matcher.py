"""Fast phrase matching: many regular expressions, indexed by their first letters.

One alternation of hundreds of patterns makes Python's regex engine try
every pattern at every position.  :class:`PhraseMatcher` instead indexes
each pattern by the first three letters of the words it can start with, and
at each word of the text tries only the few patterns filed under that word's
first letters.  Matches are resolved longest-first, without overlaps.
"""
from __future__ import annotations

import re
from typing import Mapping

__all__ = ["PhraseMatcher", "expand_leading"]

_WORD = re.compile(r"\w+")
_META = set(".^$*+?{}[]\\|()")


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def expand_leading(pattern: str) -> list[str]:
    """Split a pattern whose start is an alternation group into one pattern per branch.

    ``(?:arterias?|ramas?) pulmonar`` -> ``arterias? pulmonar``, ``ramas? pulmonar``.
    A leading ``\\b`` is dropped.  Patterns that start with a literal are returned as they are.
    """
    p = pattern[2:] if pattern.startswith("\\b") else pattern
    if not p.startswith("(?:"):
        return [p]
    depth = 0
    for i, c in enumerate(p):
        if c == "(" and (i == 0 or p[i - 1] != "\\"):
            depth += 1
        elif c == ")" and p[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                inner, rest = p[3:i], p[i + 1:]
                optional = rest.startswith("?")
                if optional:
                    rest = rest[1:]
                out = []
                for br in _split_top(inner):
                    out.extend(expand_leading(br + rest))
                if optional:
                    out.extend(expand_leading(rest.lstrip(" ")))
                return out
    return [p]


def _literal_prefix(p: str) -> str:
    out = []
    for i, c in enumerate(p):
        if c in _META:
            # a quantifier makes the previous character optional
            if c in "?*{" and out:
                out.pop()
            break
        out.append(c)
    return "".join(out)


class PhraseMatcher:
    """Find labelled phrases in text, longest match first, no overlaps.

    Parameters
    ----------
    table : mapping
        label -> list of regex patterns (each matched at word boundaries).

    Examples
    --------
    >>> m = PhraseMatcher({"effusion": [r"derrames? pleural(?:es)?"], "other": [r"derrames?"]})
    >>> m.find("no derrame pleural ni derrame pericardico")
    [('effusion', 3, 18), ('other', 22, 29)]
    """

    KEY = 3

    def __init__(self, table: Mapping[str, list[str]]):
        self._index: dict[str, list[tuple[re.Pattern, str]]] = {}
        self._cache: dict[str, list[tuple[re.Pattern, str]]] = {}
        for label, pats in table.items():
            for pat in pats:
                for p in expand_leading(pat):
                    lit = _literal_prefix(p)
                    if not lit or not lit[0].isalnum():
                        raise ValueError(f"pattern {pat!r} of {label!r} must start with a literal word")
                    key = lit[: self.KEY].split(" ")[0]
                    rx = re.compile(r"(?:" + p + r")\b")
                    self._index.setdefault(key, []).append((rx, label))

    def _candidates(self, tok: str) -> list[tuple[re.Pattern, str]]:
        out: list[tuple[re.Pattern, str]] = []
        seen: set[str] = set()
        for key in (tok[: self.KEY], tok[:2], tok[:1]):
            if key in seen:
                continue
            seen.add(key)
            out.extend(self._index.get(key, ()))
        return out

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """``(label, start, end)`` of every phrase, left to right, longest first."""
        cache = self._cache
        cands: list[tuple[int, int, str]] = []
        for w in _WORD.finditer(text):
            tok = w.group()
            lst = cache.get(tok)
            if lst is None:
                lst = self._candidates(tok)
                if len(cache) < 200_000:
                    cache[tok] = lst
            if not lst:
                continue
            pos = w.start()
            for rx, label in lst:
                m = rx.match(text, pos)
                if m:
                    cands.append((pos, m.end(), label))
        if not cands:
            return []
        cands.sort(key=lambda c: (c[0], -(c[1] - c[0])))
        out: list[tuple[str, int, int]] = []
        last_end = -1
        for a, b, label in cands:
            if a >= last_end:
                out.append((label, a, b))
                last_end = b
        return out
