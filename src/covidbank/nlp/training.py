"""Train the labeler's sentence model (:mod:`covidbank.nlp.model`) on a BIMCV COVID-19+ table.

Reproducible: a fixed subject split (:func:`covidbank.nlp.corpus.split_reports`),
a fixed seed, liblinear (deterministic), features and labels in sorted
order; the versions of scikit-learn, numpy and covidbank are written into the
model's metadata.  By default the model is trained on the ``rules`` part only,
so the ``validation`` part still measures it; ``all_subjects=True`` trains on
every subject (no held-out figure then).

Needs scikit-learn (``pip install 'covidbank[nlp]'``) at training time only.
"""
from __future__ import annotations

import platform
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .corpus import SPLIT_SEED, LabelledReport, read_reports, split_reports
from .labeler import ReportLabeler
from .model import FORMAT, SentenceModel

__all__ = ["training_sentences", "train_sentence_model", "build_model", "cross_validate", "choose_labels", "MIN_LABEL_COUNT", "MIN_FEATURE_COUNT", "C"]

#: A label is learned when the training sentences list it at least this often (rarer labels: rules only).
MIN_LABEL_COUNT = 5
#: A feature is kept when it occurs in at least this many training sentences.
MIN_FEATURE_COUNT = 2
#: Inverse L2 regularization strength of each logistic regression.
C = 1.0


def training_sentences(reports: Sequence[LabelledReport], labeler: ReportLabeler | None = None,
                       progress: Callable[[], None] | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """Features and reference labels of every sentence of the reports whose per-sentence labels line up.

    Each distinct report text counts once (the first subject's labels).
    """
    lab = labeler or ReportLabeler(model=None)
    X: list[list[str]] = []
    Y: list[list[str]] = []
    seen: set[str] = set()
    for r in reports:
        if progress:
            progress()
        if r.sentences is None or r.text in seen:
            continue
        seen.add(r.text)
        feats = lab.sentence_features(r.text)
        if len(feats) != len(r.sentences):
            continue
        X.extend(feats)
        Y.extend([x for x in g if x] for g in r.sentences)
    return X, Y


def train_sentence_model(X: list[list[str]], Y: list[list[str]], seed: int = SPLIT_SEED, c: float = C,
                         min_label_count: int = MIN_LABEL_COUNT, min_feature_count: int = MIN_FEATURE_COUNT,
                         meta: dict | None = None, labels: Sequence[str] | None = None,
                         thresholds: dict[str, tuple[float, float]] | None = None) -> SentenceModel:
    """Fit one L2 logistic regression per label (liblinear) on sentence features.

    Parameters
    ----------
    X : list of list of str
        Feature strings per sentence (:meth:`ReportLabeler.sentence_features`).
    Y : list of list of str
        Reference labels per sentence.
    seed : int
        ``random_state`` of the solver.
    c : float
        Inverse regularization strength.
    min_label_count, min_feature_count : int
        Rarer labels are left to the rules; rarer features are dropped.
    meta : dict, optional
        Extra metadata stored with the model.
    labels : sequence of str, optional
        Learn only these labels (default: every label listed ``min_label_count`` times).
    thresholds : dict, optional
        label -> (keep, add) probability thresholds; default 0.5 and 0.5.
    """
    from ..optional import require

    require("sklearn", extra="nlp", purpose="training the report labeler's sentence model")
    import scipy.sparse as sp
    import sklearn
    from sklearn.linear_model import LogisticRegression

    if len(X) != len(Y) or not X:
        raise ValueError(f"need as many label lists as feature lists, and some: {len(X)} and {len(Y)}")
    df = Counter(f for feats in X for f in set(feats))
    features = sorted(f for f, n in df.items() if n >= min_feature_count)
    index = {f: i for i, f in enumerate(features)}
    counts = Counter(x for ys in Y for x in set(ys))
    labels = sorted(k for k, n in counts.items() if n >= min_label_count and n < len(Y)
                    and (labels is None or k in labels))
    rows, cols = [], []
    for i, feats in enumerate(X):
        for f in feats:
            j = index.get(f)
            if j is not None:
                rows.append(i)
                cols.append(j)
    M = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(X), len(features)))
    W = np.zeros((len(features), len(labels)), dtype=np.float32)
    b = np.zeros(len(labels), dtype=np.float32)
    for k, lab in enumerate(labels):
        y = np.fromiter((lab in ys for ys in Y), dtype=bool, count=len(Y))
        clf = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=1000)
        clf.fit(M, y)
        W[:, k] = clf.coef_[0]
        b[k] = clf.intercept_[0]
    keep = np.abs(W).max(axis=1) >= 1e-4
    if "*" in index:
        keep[index["*"]] = True
    features = [f for f, kf in zip(features, keep) if kf]
    W = W[keep]
    info = {
        "format": FORMAT, "seed": seed, "C": c, "min_label_count": min_label_count,
        "min_feature_count": min_feature_count, "sentences": len(X), "features": len(features),
        "label_counts": {k: counts[k] for k in labels},
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version(),
                     "covidbank": _covidbank_version()},
    }
    info.update(meta or {})
    thr = np.array([[(thresholds or {}).get(k, (0.5, 0.5))[i] for k in labels] for i in (0, 1)], dtype=np.float32)
    return SentenceModel(features, labels, W, b, thr.reshape(2, len(labels)), info)


#: (keep, add) threshold pairs tried per label by :func:`choose_labels`.  The entries with keep 0 leave every
#: label the rules give to the rules and let the model only add: the reference's conventions that go beyond the
#: text (``COVID 19`` on a report that never names it) are learned this way without unlearning what the rules
#: read (5-fold cross-validation on the rules part: ``COVID 19`` 53 report-level errors with (0, 0.5) against 55
#: for the rules alone and 54 for the best entry that also decides the rules' labels).
THRESHOLD_GRID = ((0.5, 0.5), (0.3, 0.7), (0.15, 0.85), (0.0, 0.5), (0.0, 0.7), (0.0, 0.85))
#: A label is left to the model only when it removes at least this many report-level errors in cross-validation.
MIN_GAIN = 2


def cross_validate(reports: Sequence[LabelledReport], folds: int = 5, seed: int = SPLIT_SEED, c: float = C,
                   grid: Sequence[tuple[float, float]] = THRESHOLD_GRID,
                   progress: Callable[[], None] | None = None) -> dict[str, dict]:
    """Report-level counts per label of the rules alone and of rules + model, by subject folds of ``reports``.

    Returns
    -------
    dict
        label -> ``{"rules": [tp, fp, fn], "model": [[tp, fp, fn] per grid entry]}`` over the held-out folds.
    """
    from ..splits import assign_sides

    base = ReportLabeler(model=None)
    side = assign_sides(sorted({r.subject for r in reports}), (1 / folds,) * folds, [str(i) for i in range(folds)], seed)
    out: dict[str, dict] = {}

    def count(key, k, g, p, i=None):
        d = out.setdefault(k, {"rules": [0, 0, 0], "model": [[0, 0, 0] for _ in grid]})
        c_ = d["rules"] if i is None else d["model"][i]
        if k in g and k in p:
            c_[0] += 1
        elif k in p:
            c_[1] += 1
        elif k in g:
            c_[2] += 1

    for f in range(folds):
        train = [r for r in reports if side[r.subject] != str(f)]
        test: dict[str, set[str]] = {}
        for r in reports:
            if side[r.subject] == str(f):
                test.setdefault(r.text, set(r.labels))
        X, Y = training_sentences(train, base)
        model = train_sentence_model(X, Y, seed=seed, c=c)
        runs = [(None, base)]
        for i, (keep, add) in enumerate(grid):
            m = SentenceModel(model.features, model.labels, model.weights, model.intercepts,
                              np.array([[keep] * len(model.labels), [add] * len(model.labels)], dtype=np.float32))
            runs.append((i, ReportLabeler(model=m)))
        for i, lab in runs:
            for t, g in test.items():
                p = set(lab.label(t).labels)
                for k in g | p:
                    count(None, k, g, p, i)
        if progress:
            progress()
    return out


def choose_labels(cv: dict[str, dict], grid: Sequence[tuple[float, float]] = THRESHOLD_GRID,
                  min_gain: int = MIN_GAIN) -> dict[str, tuple[float, float]]:
    """The labels the model decides, with their thresholds: where it makes fewer report-level errors than the rules.

    For each label the grid entry with the fewest errors (false positives plus
    false negatives) is taken; the label goes to the model when that is at
    least ``min_gain`` errors fewer than the rules alone.
    """
    out = {}
    for k, d in cv.items():
        rules_err = d["rules"][1] + d["rules"][2]
        errs = [m[1] + m[2] for m in d["model"]]
        i = int(np.argmin(errs))
        if rules_err - errs[i] >= min_gain:
            out[k] = tuple(grid[i])
    return out


def build_model(table: str | Path, out: str | Path | None = None, seed: int = SPLIT_SEED, all_subjects: bool = False,
                progress: Callable[[], None] | None = None) -> tuple[SentenceModel, dict[str, list[LabelledReport]]]:
    """Read a BIMCV image table, split it by subject, train on the ``rules`` part (or every subject), save.

    Which labels the model decides (and from which probability) is chosen by
    5-fold cross-validation by subject within the training reports
    (:func:`cross_validate`, :func:`choose_labels`); the other labels stay with
    the rules.  The validation part is not used.

    Returns
    -------
    (SentenceModel, parts)
        The model and the split (``rules`` / ``validation`` reports).
    """
    reports = read_reports(table)
    parts = split_reports(reports)
    train = reports if all_subjects else parts["rules"]
    cv = cross_validate(train, seed=seed, progress=progress)
    chosen = choose_labels(cv)
    X, Y = training_sentences(train)
    model = train_sentence_model(X, Y, seed=seed, labels=sorted(chosen), thresholds=chosen, meta={
        "table": Path(table).name, "trained_on": "all subjects" if all_subjects else "rules part",
        "subjects": len({r.subject for r in train}), "reports": len({r.text for r in train}),
        "cross_validation": {k: {"rules_errors": cv[k]["rules"][1] + cv[k]["rules"][2],
                                 "model_errors": min(m[1] + m[2] for m in cv[k]["model"]), "thresholds": list(chosen[k])}
                             for k in sorted(chosen)}})
    if out is not None:
        model.save(out)
    return model, parts


def _covidbank_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("covidbank")
    except PackageNotFoundError:
        return "unknown"
