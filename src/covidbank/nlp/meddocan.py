"""MEDDOCAN corpus reading and the shared task's official metrics.

MEDDOCAN (Marimon et al., "Automatic De-identification of Medical Texts in Spanish: the MEDDOCAN Track,
Corpus, Guidelines, Methods and Evaluation of Results", IberLEF 2019; corpus CC BY 4.0, PlanTL) is
distributed as BRAT standoff: one ``.txt`` and one ``.ann`` per clinical case.

The metrics are those of the task's evaluation script (itself from the i2b2 2014 de-identification
script), re-implemented here from its description so a bench and a test can call them on spans in memory:

* **subtrack 1** (NER offset and type): a system annotation is a true positive when its start, end and type
  equal a gold annotation's; micro precision, recall and F1 over all documents and types;
* **subtrack 2 strict** (sensitive span detection): the same on ``(start, end)``, type ignored;
* **subtrack 2 merged**: spans of a document, sorted, are merged with the next one when only
  non-alphanumeric characters lie between them; a true positive is a strict match or a merged-span match; a
  strict span contained in a matched span is neither a false positive nor a false negative;
* **leak**: gold spans the system missed (subtrack 1 false negatives); per type recall; and the words of
  gold spans that no system span covers (what a reader of the output would still see).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["Doc", "read_brat", "evaluate", "Scores", "dev_part", "dev_parts", "DEV_PARTS", "DEV_PART_SEED"]

#: The two halves of MEDDOCAN ``dev``: every choice (features, training parameters, combination rules) is
#: made on ``choice``; the figures that are reported come from ``report``, which no choice looked at.
DEV_PARTS: tuple[str, str] = ("choice", "report")
#: Seed of the hash that sends each document to a half (:func:`dev_part`).
DEV_PART_SEED = 16

Ann = tuple[int, int, str]


@dataclass
class Doc:
    """One MEDDOCAN document: its name, text and gold annotations ``(start, end, type)``."""

    name: str
    text: str
    gold: list[Ann]


def read_brat(folder: str | Path) -> list[Doc]:
    """The documents of a BRAT folder (``*.txt`` with ``*.ann``), sorted by name."""
    docs = []
    for txt in sorted(Path(folder).glob("*.txt")):
        text = txt.read_text(encoding="utf-8")
        gold: list[Ann] = []
        ann = txt.with_suffix(".ann")
        if ann.is_file():
            for line in ann.read_text(encoding="utf-8").splitlines():
                if line.startswith("T"):
                    parts = line.split("\t")[1].split()
                    gold.append((int(parts[1]), int(parts[2]), parts[0]))
        docs.append(Doc(txt.stem, text, sorted(gold)))
    return docs


def dev_part(name: str, seed: int = DEV_PART_SEED) -> str:
    """The half of :data:`DEV_PARTS` a document goes to: the parity of ``sha256(seed:name)``.

    The side depends on the file name (and the seed) only, never on the other documents or their order.
    """
    return DEV_PARTS[int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest(), 16) % 2]


def dev_parts(docs: Sequence[Doc], seed: int = DEV_PART_SEED) -> dict[str, list[Doc]]:
    """Split documents by name into the halves :data:`DEV_PARTS` (:func:`dev_part`), in their order.

    A MEDDOCAN document is one clinical case (one patient), so the split is by subject.
    """
    out: dict[str, list[Doc]] = {p: [] for p in DEV_PARTS}
    for d in docs:
        out[dev_part(d.name, seed)].append(d)
    return out


def _merge(text: str, spans: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and not any(c.isalnum() for c in text[out[-1][1]:a]):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return set(out)


def _contained(s: tuple[int, int], container: set[tuple[int, int]]) -> bool:
    return any(s[0] >= a and s[1] <= b for a, b in container)


@dataclass
class Scores:
    """Micro counts of one metric; ``precision``, ``recall``, ``f1`` from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "tp": self.tp, "fp": self.fp,
                "fn": self.fn}


@dataclass
class Evaluation:
    """The official figures over a set of documents (see the module docstring)."""

    subtrack1: Scores = field(default_factory=Scores)
    subtrack2_strict: Scores = field(default_factory=Scores)
    subtrack2_merged: Scores = field(default_factory=Scores)
    per_type: dict[str, Scores] = field(default_factory=dict)
    gold_by_type: Counter = field(default_factory=Counter)
    covered_by_type: Counter = field(default_factory=Counter)  # gold spans fully covered by system spans
    words: int = 0
    words_left: int = 0
    words_left_by_type: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "subtrack1": self.subtrack1.as_dict(), "subtrack2_strict": self.subtrack2_strict.as_dict(),
            "subtrack2_merged": self.subtrack2_merged.as_dict(),
            "per_type": {t: {**s.as_dict(), "covered": self.covered_by_type[t] / self.gold_by_type[t]
                             if self.gold_by_type[t] else None} for t, s in sorted(self.per_type.items())},
            "gold_words": self.words, "gold_words_left": self.words_left,
            "words_left_by_type": dict(self.words_left_by_type),
        }


def evaluate(docs: Sequence[Doc], predicted: Sequence[Iterable[Ann]]) -> Evaluation:
    """Official MEDDOCAN figures of ``predicted`` (one list of ``(start, end, type)`` per document)."""
    import re

    ev = Evaluation()
    word = re.compile(r"[^\W_]+")
    for doc, pred_iter in zip(docs, predicted):
        pred = set(pred_iter)
        gold = set(doc.gold)
        s1 = ev.subtrack1
        s1.tp += len(gold & pred)
        s1.fp += len(pred - gold)
        s1.fn += len(gold - pred)
        for t in {t for *_, t in gold | pred}:
            g = {x for x in gold if x[2] == t}
            p = {x for x in pred if x[2] == t}
            s = ev.per_type.setdefault(t, Scores())
            s.tp += len(g & p)
            s.fp += len(p - g)
            s.fn += len(g - p)
        gs, ps = {(a, b) for a, b, _ in gold}, {(a, b) for a, b, _ in pred}
        s2 = ev.subtrack2_strict
        s2.tp += len(gs & ps)
        s2.fp += len(ps - gs)
        s2.fn += len(gs - ps)
        inter = (gs & ps) | (_merge(doc.text, gs) & _merge(doc.text, ps))
        fp = {s for s in ps - gs if not _contained(s, inter)}
        fn = {s for s in gs - ps if not _contained(s, inter)}
        m = ev.subtrack2_merged
        m.tp += len(inter)
        m.fp += len(fp)
        m.fn += len(fn)
        # words of the gold spans no predicted span covers
        covered = bytearray(len(doc.text) + 1)
        for a, b in ps:
            covered[a:b] = b"\x01" * (b - a)
        for a, b, t in gold:
            ev.gold_by_type[t] += 1
            if all(covered[a:b]):
                ev.covered_by_type[t] += 1
            for w in word.finditer(doc.text, a, b):
                ev.words += 1
                if not all(covered[w.start():w.end()]):
                    ev.words_left += 1
                    ev.words_left_by_type[t] += 1
    return ev
