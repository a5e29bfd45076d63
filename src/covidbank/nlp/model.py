"""The learned part of the report labeler: a sentence-level multi-label linear model.

BIMCV's reference labels come from its authors' classifier, whose
conventions (which of a sentence's findings it lists, when it writes ``COVID
19`` for a report that never names the disease) are learned here from the
per-sentence labels of the table (``LabelsLocalizationsBySentence``) instead
of being copied by hand.  The model reads a sentence through the rules:

* its words and word pairs, each marked with the scope it stands in
  (negated, hedged, doubtful; :mod:`covidbank.nlp.cues`), and word beginnings
  (five letters: inflections and misspellings);
* the findings the lexicon found in it with their polarity, and the labels the
  named rules give the sentence (:mod:`covidbank.nlp.rules`).

It gives a probability per label; :class:`~covidbank.nlp.labeler.ReportLabeler`
lists a label whose probability passes the label's threshold, except a
finding that every mention of the sentence negates (negated findings are never
labels), and keeps the rules' decision for labels the model does not know.

One logistic regression per label (scikit-learn, at training time only);
inference is a sum of weight rows in numpy, because calling scikit-learn per
sentence costs more than the whole rule-based labeler.  The model file is a
compressed ``.npz`` without pickles (feature strings, weights, thresholds,
training metadata as JSON), loaded with ``allow_pickle=False``.

No model ships with covidbank: it would be derived from BIMCV COVID-19+ data,
which is under the BIMCV research use agreement.  ``covidbank train-labeler``
builds one from the user's own copy of the table (:mod:`covidbank.nlp.training`)
into :func:`default_model_path`; without a model the labeler uses its rules only.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ReportError
from ..fileio import atomic_path
from .cues import DOUBTFUL, HEDGED, NEGATED, Cue, polarity_at

__all__ = ["SentenceModel", "sentence_features", "default_model_path", "load_default_model", "MODEL_ENV", "FORMAT"]

#: Environment variable naming the model file (``none`` switches the default model off).
MODEL_ENV = "COVIDBANK_LABELER_MODEL"
#: Model file format version.
FORMAT = 1

_TOKEN = re.compile(r"[a-z0-9]+")
_TAG = {NEGATED: "n:", HEDGED: "h:", DOUBTFUL: "d:"}
_PREFIX = 5


def sentence_features(text: str, cues: Sequence[Cue], mentions: Sequence[tuple[str, str]],
                      rule_labels: Sequence[str]) -> list[str]:
    """Feature strings of one normalized sentence (with repeats: they are counted).

    Parameters
    ----------
    text : str
        The sentence (:func:`covidbank.nlp.text.normalize`-d).
    cues : sequence of Cue
        Its cues (:func:`covidbank.nlp.cues.find_cues`); the labeler looks
        for them only in sentences where the lexicon found something.
    mentions : sequence of (label, polarity)
        The findings the lexicon found in it.
    rule_labels : sequence of str
        The labels the rules give it.

    Examples
    --------
    >>> from covidbank.nlp.cues import find_cues
    >>> s = "no derrame pleural"
    >>> [f for f in sentence_features(s, find_cues(s), [("pleural effusion", "negated")], ["normal"]) if f[0] in "wmr"]
    ['w:no', 'w:n:derrame', 'w:n:pleural', 'm:pleural effusion:negated', 'r:normal']
    """
    out = ["*"]
    prev = "<s>"
    if cues:
        for m in _TOKEN.finditer(text):
            w = m.group()
            tag = _TAG.get(polarity_at(cues, m.start(), m.end()), "")
            out.append("w:" + tag + w)
            out.append("b:" + tag + prev + "_" + w)
            if len(w) > _PREFIX:
                out.append("p:" + tag + w[:_PREFIX])
            prev = w
    else:
        words = _TOKEN.findall(text)
        out += ["w:" + w for w in words]
        out += ["b:" + a + "_" + b for a, b in zip(["<s>"] + words, words)]
        out += ["p:" + w[:_PREFIX] for w in words if len(w) > _PREFIX]
    for lab, pol in mentions:
        out.append("m:" + lab + ":" + pol)
    if rule_labels:
        out.extend("r:" + lab for lab in rule_labels)
    else:
        out.append("r:")
    return out


@dataclass
class SentenceModel:
    """Weights of the sentence model (one logistic regression per label).

    Attributes
    ----------
    features : list of str
        Feature strings (rows of :attr:`weights`).
    labels : list of str
        Labels (columns).
    weights : ndarray, shape (n_features, n_labels)
    intercepts : ndarray, shape (n_labels,)
    thresholds : ndarray, shape (2, n_labels)
        Probability from which a label is listed: row 0 when the rules list
        it too (keep), row 1 when they do not (add).
    meta : dict
        How the model was trained (seed, versions, counts, figures).
    """

    features: list[str]
    labels: list[str]
    weights: np.ndarray
    intercepts: np.ndarray
    thresholds: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {f: i for i, f in enumerate(self.features)}
        self.label_set = frozenset(self.labels)
        self._label_index = {x: j for j, x in enumerate(self.labels)}
        self.thresholds = np.asarray(self.thresholds, dtype=np.float32).reshape(2, len(self.labels))

    def probabilities(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """Label probabilities of each sentence, shape ``(len(sentences), n_labels)``."""
        if not sentences:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        get = self._index.get
        star = get("*", 0)
        rows: list[int] = []
        starts: list[int] = []
        for feats in sentences:
            starts.append(len(rows))
            rows.append(star)
            rows.extend([i for i in map(get, feats[1:]) if i is not None])
        z = np.add.reduceat(self.weights[rows], starts, axis=0) + self.intercepts
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, sentences: Sequence[Sequence[str]], rule_labels: Sequence[Sequence[str]]) -> list[frozenset[str]]:
        """The labels of each sentence whose probability reaches its threshold.

        The *keep* threshold applies to a label the rules list for the
        sentence, the *add* threshold to the others.
        """
        p = self.probabilities(sentences)
        listed = np.zeros(p.shape, dtype=bool)
        li = self._label_index
        for i, given in enumerate(rule_labels):
            for x in given:
                j = li.get(x)
                if j is not None:
                    listed[i, j] = True
        hit = p >= np.where(listed, self.thresholds[0], self.thresholds[1])
        labels = self.labels
        return [frozenset(labels[j] for j in np.flatnonzero(row)) if row.any() else frozenset() for row in hit]

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model (compressed ``.npz``, no pickles), atomically."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f, format=np.array(FORMAT), features=np.array(self.features, dtype=str),
                labels=np.array(self.labels, dtype=str), weights=self.weights.astype(np.float32),
                intercepts=self.intercepts.astype(np.float32), thresholds=self.thresholds.astype(np.float32),
                meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "SentenceModel":
        """Read a model written by :meth:`save`.

        Raises
        ------
        ReportError
            The file is missing, not a model file, or of another format version.
        """
        p = Path(path)
        if not p.is_file():
            raise ReportError(f"{p}: labeler model not found; build one with `covidbank train-labeler TABLE --out {p}`")
        try:
            with np.load(p, allow_pickle=False) as z:
                fmt = int(z["format"])
                if fmt != FORMAT:
                    raise ReportError(f"{p}: labeler model format {fmt}, this covidbank reads {FORMAT}; "
                                      "rebuild it with `covidbank train-labeler`")
                model = cls(features=z["features"].tolist(), labels=z["labels"].tolist(), weights=z["weights"],
                            intercepts=z["intercepts"], thresholds=z["thresholds"], meta=json.loads(str(z["meta"])))
        except ReportError:
            raise
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise ReportError(f"{p}: not a covidbank labeler model ({e.__class__.__name__}); "
                              "rebuild it with `covidbank train-labeler`") from None
        if model.weights.shape != (len(model.features), len(model.labels)):
            raise ReportError(f"{p}: labeler model weights do not match its features and labels; rebuild it")
        return model


def default_model_path() -> Path | None:
    """Where the labeler looks for its model: ``$COVIDBANK_LABELER_MODEL``, else
    ``$XDG_DATA_HOME/covidbank/models/report-sentences.npz`` (``~/.local/share``).
    ``None`` when the variable is ``none`` (rules only)."""
    env = os.environ.get(MODEL_ENV, "").strip()
    if env.lower() == "none":
        return None
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "covidbank" / "models" / "report-sentences.npz"


def load_default_model() -> SentenceModel | None:
    """The model at :func:`default_model_path`, or ``None`` when there is none (rules only).

    Raises
    ------
    ReportError
        A file is there but is not a readable model (or ``$COVIDBANK_LABELER_MODEL`` names a missing file).
    """
    p = default_model_path()
    if p is None:
        return None
    if not p.is_file() and not os.environ.get(MODEL_ENV, "").strip():
        return None
    return SentenceModel.load(p)
