"""The covidbank label vocabulary and its hierarchy.

Every label has a name and, where one exists, a UMLS CUI.  Labels form a
directed acyclic graph (PadChest lists a few labels under two parents); a
positive label implies its ancestors (an image labelled COVID-19 is also Viral
and Pneumonia).  Labels from different sources that share a CUI, or whose
names differ only in case and spacing, are the same concept: ``COVID-19``
(COVID-19 Image Data Collection) and ``COVID 19`` (BIMCV) are one node.

The built-in vocabulary covers the COVID-19 Image Data Collection's pathogen
hierarchy; :meth:`LabelTree.load_padchest` merges the PadChest/BIMCV concept
tree from the dataset's own ``trees_code`` file when the user has it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from .errors import LabelError
from .schema import POSITIVE, UNCERTAIN

__all__ = ["Label", "LabelTree", "imply_parents", "COHEN_HIERARCHY", "COHEN_FLAT_FINDINGS", "normalize_label", "default_tree", "padchest_tree", "BIMCV_COVID_SPINE"]

_CUI_RE = re.compile(r"C\d{7}")


def normalize_label(name: str) -> str:
    """Lower-case, strip quotes and collapse whitespace, for matching names."""
    s = str(name).strip().strip("'\"").strip()
    s = re.sub(r"[\s_]+", " ", s)
    return s.lower()


#: The COVID-19 Image Data Collection hierarchy (path -> UMLS CUI or None).
COHEN_HIERARCHY: dict[str, str | None] = {
    "Pneumonia": "C0032285",
    "Pneumonia/Viral": "C0032310",
    "Pneumonia/Viral/COVID-19": "C5203670",
    "Pneumonia/Viral/SARS": "C1175175",
    "Pneumonia/Viral/MERS-CoV": None,
    "Pneumonia/Viral/Varicella": None,
    "Pneumonia/Viral/Influenza": None,
    "Pneumonia/Viral/Influenza/H1N1": None,
    "Pneumonia/Viral/Herpes": None,
    "Pneumonia/Bacterial": "C0004626",
    "Pneumonia/Bacterial/Streptococcus": None,
    "Pneumonia/Bacterial/Klebsiella": None,
    "Pneumonia/Bacterial/Mycoplasma": None,
    "Pneumonia/Bacterial/Legionella": None,
    "Pneumonia/Bacterial/E.Coli": None,
    "Pneumonia/Bacterial/Chlamydophila": None,
    "Pneumonia/Bacterial/Staphylococcus": None,
    "Pneumonia/Bacterial/Staphylococcus/MRSA": None,
    "Pneumonia/Bacterial/Nocardia": None,
    "Pneumonia/Fungal": None,
    "Pneumonia/Fungal/Pneumocystis": None,
    "Pneumonia/Fungal/Aspergillosis": None,
    "Pneumonia/Lipoid": None,
    "Pneumonia/Aspiration": None,
    "ARDS": "C0035222",
    "Tuberculosis": "C0041296",
    "No Finding": None,
}

#: Flat ``finding`` values of older metadata.csv releases -> hierarchy paths.
COHEN_FLAT_FINDINGS: dict[str, str] = {
    "covid-19": "Pneumonia/Viral/COVID-19",
    "sars": "Pneumonia/Viral/SARS",
    "mers": "Pneumonia/Viral/MERS-CoV",
    "mers-cov": "Pneumonia/Viral/MERS-CoV",
    "varicella": "Pneumonia/Viral/Varicella",
    "influenza": "Pneumonia/Viral/Influenza",
    "h1n1": "Pneumonia/Viral/Influenza/H1N1",
    "herpes": "Pneumonia/Viral/Herpes",
    "viral": "Pneumonia/Viral",
    "bacterial": "Pneumonia/Bacterial",
    "streptococcus": "Pneumonia/Bacterial/Streptococcus",
    "klebsiella": "Pneumonia/Bacterial/Klebsiella",
    "mycoplasma bacterial pneumonia": "Pneumonia/Bacterial/Mycoplasma",
    "mycoplasma": "Pneumonia/Bacterial/Mycoplasma",
    "legionella": "Pneumonia/Bacterial/Legionella",
    "e.coli": "Pneumonia/Bacterial/E.Coli",
    "chlamydophila": "Pneumonia/Bacterial/Chlamydophila",
    "staphylococcus": "Pneumonia/Bacterial/Staphylococcus",
    "mrsa": "Pneumonia/Bacterial/Staphylococcus/MRSA",
    "nocardia": "Pneumonia/Bacterial/Nocardia",
    "fungal": "Pneumonia/Fungal",
    "pneumocystis": "Pneumonia/Fungal/Pneumocystis",
    "aspergillosis": "Pneumonia/Fungal/Aspergillosis",
    "lipoid": "Pneumonia/Lipoid",
    "aspiration": "Pneumonia/Aspiration",
    "pneumonia": "Pneumonia",
    "ards": "ARDS",
    "tuberculosis": "Tuberculosis",
    "no finding": "No Finding",
}


def imply_parents(values: Mapping[str, int], ancestors: Callable[[str], Iterable[str]]) -> dict[str, int]:
    """Add the values that labels imply for their ancestors: the one implication rule of covidbank.

    A positive label makes its ancestors positive; an uncertain label makes
    them uncertain unless something else makes them positive; negative labels
    imply nothing.  Explicit values are never overridden except an uncertain
    or negative parent by a positive child.  The result does not depend on the
    order of ``values`` (a hedged ground glass before a consolidation still
    makes ``infiltrates`` positive).  Unknown labels are kept as they are.

    Parameters
    ----------
    values : mapping
        label -> value (:data:`~covidbank.schema.POSITIVE`, ``NEGATIVE`` or ``UNCERTAIN``).
    ancestors : callable
        label -> its ancestors (any order; unknown labels give none).

    Returns
    -------
    dict
        ``values`` plus the implied ancestors.
    """
    out = dict(values)
    for name, v in values.items():
        if v not in (POSITIVE, UNCERTAIN):
            continue
        for anc in ancestors(name):
            cur = out.get(anc)
            if cur is None or (v == POSITIVE and cur != POSITIVE):
                out[anc] = v
    return out


@dataclass
class Label:
    """One concept of the vocabulary.

    Attributes
    ----------
    name : str
        Preferred name (the first name the concept was added under).
    cui : str or None
        UMLS CUI.
    parents : set of str
        Preferred names of the parent concepts.
    aliases : set of str
        Other names of the same concept (other sources' spellings).
    """

    name: str
    cui: str | None = None
    parents: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)


class LabelTree:
    """A label vocabulary with implied parents.

    Examples
    --------
    >>> t = default_tree()
    >>> t.ancestors("COVID-19")
    ['Viral', 'Pneumonia']
    >>> t.cui("covid-19")
    'C5203670'
    """

    def __init__(self) -> None:
        self._labels: dict[str, Label] = {}
        self._by_norm: dict[str, str] = {}
        self._by_cui: dict[str, str] = {}

    # -------------------------------------------------------------- building
    def add(self, name: str, cui: str | None = None, parent: str | None = None) -> str:
        """Add a concept (or merge it into an existing one) and return its preferred name.

        A concept whose CUI or normalized name already exists is merged: the
        new name becomes an alias and the parent edge is added.
        """
        name = str(name).strip()
        if not name:
            raise LabelError("empty label name")
        key = None
        if cui and cui in self._by_cui:
            key = self._by_cui[cui]
        elif normalize_label(name) in self._by_norm:
            key = self._by_norm[normalize_label(name)]
        if key is None:
            key = name
            self._labels[key] = Label(name=name, cui=cui)
        lab = self._labels[key]
        if name != key:
            lab.aliases.add(name)
        if cui and not lab.cui:
            lab.cui = cui
        if lab.cui:
            self._by_cui.setdefault(lab.cui, key)
        self._by_norm.setdefault(normalize_label(name), key)
        if parent is not None:
            pkey = self.resolve(parent)
            if pkey is None:
                pkey = self.add(parent)
            if pkey != key and key not in self._ancestor_set(pkey):
                lab.parents.add(pkey)
        return key

    def add_path(self, path: str, cui: str | None = None) -> str:
        """Add ``A/B/C`` as C under B under A; ``cui`` applies to the last part."""
        parts = [p.strip() for p in str(path).split("/") if p.strip()]
        if not parts:
            raise LabelError(f"empty label path {path!r}")
        parent = None
        for i, p in enumerate(parts):
            parent = self.add(p, cui if i == len(parts) - 1 else None, parent)
        return parent

    def load_padchest(self, path: str | Path) -> "LabelTree":
        """Merge a PadChest/BIMCV ``trees_code`` file (YAML documents of
        ``label``/``concept``/``children``) into this vocabulary.

        Raises
        ------
        LabelError
            If the file is missing or is not a tree file.
        """
        p = Path(path)
        try:
            docs = list(yaml.safe_load_all(p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise LabelError(f"{p}: label tree file not found") from None
        except yaml.YAMLError as e:
            raise LabelError(f"{p}: not a PadChest tree file ({e.__class__.__name__}: {str(e).splitlines()[0]})") from None
        n = 0

        def walk(node: Mapping, parent: str | None) -> None:
            nonlocal n
            if not isinstance(node, Mapping) or "label" not in node:
                raise LabelError(f"{p}: tree node without 'label': {str(node)[:80]}")
            m = _CUI_RE.search(str(node.get("concept") or ""))
            key = self.add(str(node["label"]), m.group(0) if m else None, parent)
            n += 1
            for child in node.get("children") or []:
                walk(child, key)

        for d in docs:
            if d is None:
                continue
            walk(d, None)
        if n == 0:
            raise LabelError(f"{p}: no labels found in tree file")
        return self

    # -------------------------------------------------------------- queries
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self):
        return iter(self._labels.values())

    def resolve(self, name_or_cui: str) -> str | None:
        """Preferred name of a label given any of its names or its CUI."""
        if name_or_cui is None:
            return None
        s = str(name_or_cui).strip()
        if s in self._labels:
            return s
        if _CUI_RE.fullmatch(s) and s in self._by_cui:
            return self._by_cui[s]
        return self._by_norm.get(normalize_label(s))

    def get(self, name_or_cui: str) -> Label | None:
        """The :class:`Label` for a name or CUI, or None."""
        key = self.resolve(name_or_cui)
        return self._labels.get(key) if key else None

    def cui(self, name: str) -> str | None:
        """UMLS CUI of a label, or None."""
        lab = self.get(name)
        return lab.cui if lab else None

    def parents(self, name: str) -> list[str]:
        """Direct parents (preferred names)."""
        lab = self.get(name)
        return sorted(lab.parents) if lab else []

    def _ancestor_set(self, key: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self._labels[key].parents) if key in self._labels else []
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(self._labels[k].parents)
        return seen

    def ancestors(self, name: str) -> list[str]:
        """All ancestors, nearest first (breadth-first)."""
        key = self.resolve(name)
        if key is None:
            return []
        out: list[str] = []
        frontier = sorted(self._labels[key].parents)
        while frontier:
            nxt = []
            for k in frontier:
                if k not in out:
                    out.append(k)
                    nxt.extend(sorted(self._labels[k].parents))
            frontier = nxt
        return out

    def descendants(self, name: str, include_self: bool = True) -> set[str]:
        """Preferred names of the label and everything below it."""
        key = self.resolve(name)
        if key is None:
            return set()
        children: dict[str, set[str]] = {}
        for k, lab in self._labels.items():
            for p in lab.parents:
                children.setdefault(p, set()).add(k)
        out = {key} if include_self else set()
        stack = list(children.get(key, ()))
        while stack:
            k = stack.pop()
            if k not in out:
                out.add(k)
                stack.extend(children.get(k, ()))
        return out

    def names(self, name: str, include_descendants: bool = True) -> set[str]:
        """Every spelling (preferred names and aliases) of a label and,
        optionally, of its descendants: what to match in a ``labels`` table."""
        keys = self.descendants(name) if include_descendants else ({self.resolve(name)} - {None})
        out: set[str] = set()
        for k in keys:
            out.add(k)
            out |= self._labels[k].aliases
        return out

    def cuis(self, name: str, include_descendants: bool = True) -> set[str]:
        """CUIs of a label and, optionally, of its descendants."""
        keys = self.descendants(name) if include_descendants else ({self.resolve(name)} - {None})
        return {self._labels[k].cui for k in keys if self._labels[k].cui}

    def expand(self, values: Mapping[str, int]) -> dict[str, int]:
        """Add implied parents to ``{label: value}`` (:func:`imply_parents` with this tree's ancestors)."""
        return imply_parents(values, self.ancestors)

    def to_frame(self):
        """The vocabulary as a DataFrame: name, cui, parents, aliases."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"name": l.name, "cui": l.cui, "parents": "|".join(sorted(l.parents)), "aliases": "|".join(sorted(l.aliases))}
                for l in self._labels.values()
            ]
        )


#: Minimal PadChest-COVID spine used when no ``trees_code`` file is at hand:
#: (label, CUI, parent) in PadChest spelling.
BIMCV_COVID_SPINE: list[tuple[str, str | None, str | None]] = [
    ("pneumonia", "C0032285", None),
    ("atypical pneumonia", "C1412002", "pneumonia"),
    ("viral pneumonia", "C0032310", "atypical pneumonia"),
    ("COVID 19", "C5203670", "viral pneumonia"),
    ("COVID 19 uncertain", "C5203671", "viral pneumonia"),
    ("normal", "C0205307", None),
]


def padchest_tree(files: Iterable[str | Path] = ()) -> LabelTree:
    """A vocabulary in PadChest spelling: the given ``trees_code`` files, or
    the minimal COVID spine (:data:`BIMCV_COVID_SPINE`) when none is given."""
    t = LabelTree()
    files = list(files)
    for p in files:
        t.load_padchest(p)
    for name, cui, parent in BIMCV_COVID_SPINE:
        if t.resolve(name) is None and (cui is None or t.resolve(cui) is None):
            t.add(name, cui, parent)
    return t


def default_tree(padchest: Iterable[str | Path] = ()) -> LabelTree:
    """The built-in vocabulary (COVID-19 Image Data Collection hierarchy, plus
    the BIMCV COVID labels), optionally merged with PadChest tree files."""
    t = LabelTree()
    for path, cui in COHEN_HIERARCHY.items():
        t.add_path(path, cui)
    # BIMCV COVID-19+ labels (PadChest covid tree): same CUIs as above merge in.
    t.add("COVID 19", "C5203670", "Viral")
    t.add("COVID 19 uncertain", "C5203671", "Viral")
    for p in padchest:
        t.load_padchest(p)
    return t
