"""Which bands of the second reading may hold text: a small learned filter run before Tesseract reads them.

The second reading (:func:`covidbank.ocr.burnedin.second_reading`) reads up to
eight undecided rows of an image again, each in both polarities; most of those
bands are anatomy (ribs, vessels, the film's edge) and Tesseract spends about
as long on them as on text.  :func:`band_features` describes a band by what the
first reading already knows of its row (the candidates' scores, heights and
polarities, what Tesseract read in them and how confidently, how far the row
extended along its strokes) and by the statistics of its strokes (ink share,
contrast, row and column profiles, blob regularity: :func:`pixel_features`); :class:`BandFilter` is a logistic
regression over those features, trained by ``scripts/train_band_filter.py`` on
the ``tune`` part of ``bench/burned_in.py`` (synthetic overlays on real X-rays:
which band holds overlay text is known) with its threshold set so that every
band holding overlay text there is kept.  The model is a small JSON file in the
package (``covidbank/ocr/data/band_filter.json``), read on first use.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

from .detect import TextLine

__all__ = ["FEATURES", "BandFilter", "band_features"]

#: The features of a band, in the model's order (see :func:`band_features`).
FEATURES = (
    "row_score", "row_conf", "log_members", "kind_unknown", "kind_allowed", "kind_noise",
    "pol_share", "pol_score_max", "pol_score_mean", "log_height", "log_aspect", "log_extension",
    "log_chars", "pol_log_chars", "alnum_share", "pol_conf_max", "conf_max", "pol_words_conf60",
    "height_spread", "pol_members_read",
    "ink_share", "log_contrast", "row_peak", "col_ink_share", "log_col_runs", "log_blobs", "blob_height_spread",
    "blob_height_fit",
)


def _alnum(text: str) -> int:
    return sum(c.isalnum() for c in text)


def band_features(g: np.ndarray, lines: Sequence[TextLine], kind: str, conf: float, score: float, members: Sequence[int],
                  box: tuple[int, int, int, int], extended: tuple[int, int, int, int], polarity: str,
                  height: float) -> np.ndarray:
    """The features (:data:`FEATURES`) of one band of the second reading: a row of the first reading, one polarity.

    Parameters
    ----------
    g : ndarray
        The windowed image (:func:`~covidbank.ocr.detect.window_to_float`): the band's stroke statistics
        (:func:`pixel_features`).
    lines : sequence of TextLine
        The first reading's candidates (with what Tesseract read in them).
    kind, conf, score, members, box
        The row's decision (:class:`~covidbank.ocr.phi.Finding`): kind, best confidence, best candidate score,
        its candidates (indices into ``lines``) and box.
    extended : (x, y, w, h)
        The row's box extended along its strokes (the band that would be read).
    polarity : {"bright", "dark"}
        The band's polarity.
    height : float
        The median letter height of the row's candidates.
    """
    mem = [lines[k] for k in members]
    pol = [ln for ln in mem if ln.polarity == polarity]
    words = [w for ln in mem for w in ln.words]
    pwords = [w for ln in pol for w in ln.words]
    chars = sum(_alnum(w.text) for w in words)
    allc = sum(len(w.text.strip()) for w in words)
    hs = np.array([ln.height or ln.box[3] for ln in mem], float)
    hm = max(float(height), 1.0)
    f = [
        float(score), float(conf) / 100.0, math.log1p(len(mem)),
        float(kind == "unknown"), float(kind == "allowed"), float(kind == "noise"),
        len(pol) / max(1, len(mem)),
        max((ln.score for ln in pol), default=0.0),
        float(np.mean([ln.score for ln in pol])) if pol else 0.0,
        math.log(hm), math.log(max(1.0, box[2]) / hm),
        math.log(max(1.0, extended[2]) / max(1.0, box[2])),
        math.log1p(chars), math.log1p(sum(_alnum(w.text) for w in pwords)),
        chars / allc if allc else 0.0,
        max((w.conf for w in pwords), default=0.0) / 100.0,
        max((w.conf for w in words), default=0.0) / 100.0,
        math.log1p(sum(w.conf >= 60 and _alnum(w.text) > 0 for w in pwords)),
        float(np.std(hs) / hm) if len(hs) else 0.0,
        sum(bool(ln.words) for ln in pol) / max(1, len(pol)),
    ]
    return np.asarray(f + pixel_features(g, extended, polarity, hm), np.float64)


def pixel_features(g: np.ndarray, box: tuple[int, int, int, int], polarity: str, height: float) -> list[float]:
    """Stroke statistics of a band in the windowed image ``g``: its top-hat of ``polarity`` (the second reading's
    background removal), the ink above a third of its strongest strokes, and how text-like that ink is: its
    share of the band, the strokes' contrast over the band's median, how concentrated the ink is in a few rows
    (text lines are; anatomy is spread), the share of columns holding ink and how many separate runs of
    columns per letter height (letters alternate with gaps), the ink's blobs per letter height and how regular
    their heights are and how close to the row's letter height."""
    from .detect import _TOPHAT, _crop_tophat, _ndimage, _percentile

    hm = max(float(height), 1.0)
    th, _ = _crop_tophat(g, box, polarity, max(2, int(round(0.3 * hm))), max(2, int(round(0.3 * hm))),
                         max(_TOPHAT, int(0.9 * hm) | 1))
    if th.size == 0:
        return [0.0] * 8
    hi = float(_percentile(th, 99.5))
    ink = th > max(1e-3, 0.35 * hi)
    n = int(ink.sum())
    rows = ink.sum(axis=1).astype(np.float64)
    cols = ink.any(axis=0)
    runs = int(np.count_nonzero(np.diff(cols.astype(np.int8)) == 1) + int(cols[0])) if len(cols) else 0
    letters = max(1.0, th.shape[1] / hm)
    lab, nb = _ndimage().label(ink)
    if nb:
        objs = _ndimage().find_objects(lab)
        hs = np.array([s[0].stop - s[0].start for s in objs], np.float64)
        big = hs[hs >= 0.3 * hm]
    else:
        big = np.zeros(0)
    return [
        n / ink.size,
        math.log1p(hi / (float(np.median(th)) + 1.0)),
        float(np.dot(rows, rows) / max(1.0, rows.sum()) ** 2 * len(rows)) if n else 0.0,
        float(cols.mean()),
        math.log1p(runs / letters),
        math.log1p(len(big) / letters),
        float(np.std(big) / hm) if len(big) else 0.0,
        float(np.median(np.abs(big - hm)) / hm) if len(big) else 1.0,
    ]


@dataclass(frozen=True)
class BandFilter:
    """A logistic regression over :func:`band_features`: a band is read again when its probability of holding
    text is at least ``threshold`` (set on the ``tune`` part so every band with overlay text was kept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    @classmethod
    def from_dict(cls, d: dict) -> "BandFilter":
        if tuple(d["features"]) != FEATURES:
            raise ValueError("band filter model: its features are not this version's")
        return cls(np.asarray(d["mean"], float), np.asarray(d["scale"], float), np.asarray(d["coef"], float),
                   float(d["intercept"]), float(d["threshold"]))

    @classmethod
    def load(cls, path=None) -> "BandFilter":
        """The model at ``path`` (JSON), or the package's (cached after the first call)."""
        if path is None:
            return _packaged()
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Probability that each band (a row of ``x``, features in :data:`FEATURES` order) holds text."""
        z = (np.atleast_2d(x) - self.mean) / self.scale @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def keep(self, x: np.ndarray) -> np.ndarray:
        """Which bands to read again (bool per row of ``x``)."""
        return self.proba(x) >= self.threshold


@lru_cache(maxsize=1)
def _packaged() -> BandFilter:
    text = resources.files("covidbank.ocr").joinpath("data/band_filter.json").read_text(encoding="utf-8")
    return BandFilter.from_dict(json.loads(text))
