"""Agreement of the labeler with the BIMCV reference labels, per distinct report (issue 17's measure).

The figures of ``bench/reports_eval.py`` and ``covidbank train-labeler``:
precision, recall and F1 per label, micro-F1 and macro-F1 over the 20 labels
most frequent in the ``rules`` part (counted on image rows), each distinct
report counted once (a CT report repeated once per volume weighs one).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

from .corpus import LabelledReport

__all__ = ["prf", "agreement", "top_labels", "gold_by_text", "agreement_figures"]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def top_labels(reports: Iterable[LabelledReport], n: int = 20) -> list[str]:
    """The ``n`` labels most frequent on the image rows of ``reports``."""
    freq: Counter = Counter()
    for r in reports:
        for k in r.labels:
            freq[k] += r.rows
    return [k for k, _ in freq.most_common(n)]


def gold_by_text(reports: Iterable[LabelledReport]) -> dict[str, set[str]]:
    """Reference labels per distinct report text (the first subject's, when a text repeats)."""
    gold: dict[str, set[str]] = {}
    for r in reports:
        gold.setdefault(r.text, set(r.labels))
    return gold


def agreement(pairs: Sequence[tuple[set[str], str]], pred: Mapping[str, set[str]], top: Sequence[str]) -> dict:
    """Per-label P/R/F1 over ``top``, ``COVID 19`` and ``COVID 19 uncertain``; micro and macro F1 over ``top``.

    Parameters
    ----------
    pairs : sequence of (reference labels, report text)
    pred : mapping
        report text -> predicted labels.
    top : sequence of str
        The labels of the micro and macro averages.

    The macro average leaves out a label that neither the reference nor the
    labeler has in these reports (its F1 is undefined; ``macro_labels`` says
    how many labels were averaged).
    """
    per = {}
    TP = FP = FN = 0
    f1s = []
    for k in list(top) + [x for x in ("COVID 19", "COVID 19 uncertain") if x not in top]:
        tp = sum(1 for g, r in pairs if k in g and k in pred[r])
        fp = sum(1 for g, r in pairs if k not in g and k in pred[r])
        fn = sum(1 for g, r in pairs if k in g and k not in pred[r])
        p, rc, f = prf(tp, fp, fn)
        per[k] = {"precision": p, "recall": rc, "f1": f, "support": tp + fn}
        if k in top:
            TP, FP, FN = TP + tp, FP + fp, FN + fn
            if tp + fp + fn:
                f1s.append(f)
    micro = prf(TP, FP, FN)
    return {"per_label": per, "micro_f1": micro[2], "micro_p": micro[0], "micro_r": micro[1],
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "macro_labels": len(f1s)}


def agreement_figures(parts: Mapping[str, list[LabelledReport]], model=None, part: str = "validation") -> dict:
    """Headline figures on one part: the rules alone and, with ``model``, rules + model.

    Returns
    -------
    dict
        name -> ``micro_f1``, ``macro_f1``, ``covid_f1``, ``covid_uncertain_f1``.
    """
    from .labeler import ReportLabeler

    top = top_labels(parts["rules"])
    gold = gold_by_text(parts[part])
    pairs = [(g, t) for t, g in gold.items()]
    runs = [("rules only", ReportLabeler(model=None))]
    if model is not None:
        runs.append(("rules + model", ReportLabeler(model=model)))
    out = {}
    for name, lab in runs:
        a = agreement(pairs, {t: set(lab.label(t).labels) for t in gold}, top)
        out[name] = {"micro_f1": a["micro_f1"], "macro_f1": a["macro_f1"], "covid_f1": a["per_label"]["COVID 19"]["f1"],
                     "covid_uncertain_f1": a["per_label"]["COVID 19 uncertain"]["f1"]}
    return out
