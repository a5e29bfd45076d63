"""The BIMCV COVID-19+ report table as a labelled corpus: distinct reports, a subject split, per-sentence labels.

The labels of the table are the BIMCV authors' report classifier output: the
reference covidbank's labeler is measured against (issue 17), per distinct
report.  Rules and models are written on one part of the subjects and
measured on the other: :func:`split_reports` assigns whole subjects to the
``rules`` part (about 70%) or the ``validation`` part with a fixed seed
(:func:`covidbank.splits.assign_sides`), so the same table always gives the
same parts.

``LabelsLocalizationsBySentence`` is published flattened (``exclude', 'normal',
'loc pleural', 'cardiomegaly', ' mediastinal enlargement', 'loc cardiac``): a
sentence's labels come first, the second and later ones with a leading space,
then its locations.  :func:`sentence_groups` rebuilds the per-sentence lists;
they are used only where their number matches the report's sentences
(:func:`covidbank.nlp.text.split_sentences`), 97% of the dev reports.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReportError
from .text import normalize, split_sentences

__all__ = ["LabelledReport", "read_reports", "split_reports", "sentence_groups", "SPLIT_SEED", "SPLIT_RATIOS", "PARTS"]

#: The seed and shares of the subject split of the dev table (issue 17).
SPLIT_SEED = 17
SPLIT_RATIOS = (0.7, 0.3)
PARTS = ("rules", "validation")

_ITEM = re.compile(r"""['"]\s*,\s*['"]""")


@dataclass
class LabelledReport:
    """One distinct report of one subject with the reference's labels.

    Attributes
    ----------
    subject : str
    text : str
        The report as published.
    labels : frozenset of str
        Report labels (``Labels``).
    sentences : list of list of str, or None
        Labels (no locations) of each sentence of ``normalize(text)``, where
        the published per-sentence lists line up with the sentences.
    rows : int
        Image rows of the table carrying this report.
    """

    subject: str
    text: str
    labels: frozenset[str]
    sentences: list[list[str]] | None
    rows: int = 1


def sentence_groups(raw: str) -> list[list[str]]:
    """Rebuild the per-sentence lists of a flattened ``LabelsLocalizationsBySentence`` cell.

    Examples
    --------
    >>> sentence_groups("exclude', 'normal', 'loc pleural', 'cardiomegaly', ' mediastinal enlargement', 'loc cardiac")
    [['exclude'], ['normal', 'loc pleural'], ['cardiomegaly', 'mediastinal enlargement', 'loc cardiac']]
    """
    s = str(raw or "").strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    s = s.strip("'\"")
    groups: list[list[str]] = []
    for item in _ITEM.split(s) if s else []:
        item = item.strip("[]'\"")
        clean = re.sub(r"\s+", " ", item).strip()
        if groups and (item.startswith(" ") or clean.startswith("loc ")):
            if clean:
                groups[-1].append(clean)
        else:
            groups.append([clean] if clean else [])
    return groups


def read_reports(path: str | Path) -> list[LabelledReport]:
    """Distinct reports (per subject) of a BIMCV image table, with their labels.

    Raises
    ------
    ReportError
        The file is missing or lacks ``Subject``, ``Report`` or ``Labels``.
    """
    import pandas as pd

    from ..fileio import read_csv_text
    from ..sources.bimcv import parse_label_list

    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: file not found")
    head = pd.read_csv(p, sep="\t", nrows=0, quoting=csv.QUOTE_NONE).columns
    need = ["Subject", "Report", "Labels"]
    missing = [c for c in need if c not in head]
    if missing:
        raise ReportError(f"{p}: no column {', '.join(missing)}; give the BIMCV COVID-19+ image table (TSV)")
    cols = need + (["LabelsLocalizationsBySentence"] if "LabelsLocalizationsBySentence" in head else [])
    try:  # never an index taken from the data: a longer first row would shift every column
        df = read_csv_text(p, sep="\t", quoting=csv.QUOTE_NONE)[cols]  # every field read: a longer row is an error
    except pd.errors.ParserError as e:
        raise ReportError(f"{p}: a row has more fields than the header ({str(e).strip()}); fix or remove it") from None
    out: dict[tuple[str, str], LabelledReport] = {}
    by_sent = df["LabelsLocalizationsBySentence"] if "LabelsLocalizationsBySentence" in df else [""] * len(df)
    for sub, text, labels, bys in zip(df["Subject"], df["Report"], df["Labels"], by_sent):
        key = (sub.strip(), text)
        if key in out:
            out[key].rows += 1
            continue
        sents = None
        if bys:
            groups = sentence_groups(bys)
            if len(groups) == len(split_sentences(normalize(text))):
                sents = [[x for x in g if not x.startswith("loc ")] for g in groups]
        out[key] = LabelledReport(key[0], text, frozenset(parse_label_list(labels)), sents)
    return list(out.values())


def split_reports(reports: list[LabelledReport], seed: int = SPLIT_SEED,
                  ratios: tuple[float, ...] = SPLIT_RATIOS) -> dict[str, list[LabelledReport]]:
    """Split reports by subject into :data:`PARTS` (``rules``, ``validation``), reproducibly.

    A subject's reports all go to one part; the shares count subjects.
    """
    from ..splits import assign_sides

    sides = assign_sides(sorted({r.subject for r in reports}), ratios, PARTS, seed)
    out: dict[str, list[LabelledReport]] = {k: [] for k in PARTS}
    for r in reports:
        out[sides[r.subject]].append(r)
    return out
