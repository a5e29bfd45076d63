"""Train the second reading's band filter (covidbank/ocr/data/band_filter.json) on the tune part of the bench.

Two steps, fixed seeds throughout:

1. ``collect``: the images of ``bench/burned_in.py --part tune --seed S`` (the same overlay and clean images, in
   the same order), each run through the detector's first reading and the second reading's choice of bands
   (:func:`covidbank.ocr.burnedin.reread_candidates`); per band its features
   (:func:`covidbank.ocr.bandfilter.band_features`) and labels: how much overlay ink of the band's polarity it
   holds (ground truth: the bench draws the text), and whether reading it again made its row personal data.
2. ``fit``: a logistic regression (scikit-learn, ``random_state=0``) on the collected bands; the threshold is
   the largest that keeps every band holding overlay text (every band whose second reading found personal data
   is such a band), lowered by a safety factor; written as JSON (means, scales, coefficients, threshold).

    PYTHONPATH=src python scripts/train_band_filter.py collect --seed 0 --out /tmp/bands_s0.npz
    PYTHONPATH=src python scripts/train_band_filter.py fit /tmp/bands_s*.npz --out src/covidbank/ocr/data/band_filter.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "src"))

#: A band holds overlay text when at least this share of a string's ink (of the band's polarity) lies in it.
MIN_SHARE = 0.10


def _labels(case, base: np.ndarray, box, pol: str, caught: np.ndarray) -> tuple[float, int, int, float, float]:
    """(largest share of one string's ink of the band's polarity in ``box``, its ink pixels in it, PHI string among
    them, largest share of any string's ink whatever its polarity, largest share of the ink of the band's polarity
    of one string the first reading left unredacted: ``caught`` is what its PHI rows redact)."""
    x, y, w, h = box
    share, pix, phi, anyp, left = 0.0, 0, 0, 0.0, 0.0
    for s in case.strings:
        m = s.mask
        ink = m[max(0, y):y + h, max(0, x):x + w]
        n = int(ink.sum())
        if not n:
            continue
        anyp = max(anyp, n / max(1, int(m.sum())))
        bright = float(case.img[m].mean()) > float(base[m].mean())
        if ("bright" if bright else "dark") != pol:
            continue
        share = max(share, n / max(1, int(m.sum())))
        if (m & ~caught).any():
            left = max(left, n / max(1, int(m.sum())))
        pix += n
        phi |= int(s.phi)
    return share, pix, phi, anyp, left


def collect(seed: int, n: int, out: Path) -> None:
    import burned_in as B

    from covidbank.ocr.burnedin import _mark, band_rows_features, padded, reread_candidates
    from covidbank.ocr.detect import detect_text, extend_along_row, reread_bands, window_to_float
    from covidbank.ocr.phi import AllowList, classify_rows

    allow = AllowList.load()
    rng = np.random.default_rng(seed)
    bases = B.load_bases(Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")), "tune", n)
    X, rows = [], []
    for bi, (name, base) in enumerate(bases):
        over = B.make_case(name, base, rng, True)
        clean = B.make_case(name, base, rng, False)
        for ci, case in enumerate((over, clean)):
            deny, _ = B.deny_of(case.header)
            g = window_to_float(case.img)
            lines = detect_text(case.img, keep_unread=True, windowed=g)
            findings = classify_rows(lines, deny, allow)
            cands = reread_candidates(g, lines, findings)
            if not cands:
                continue
            X.append(band_rows_features(g, lines, findings, cands))
            caught = B._mask_of([padded(extend_along_row(g, f.box), g.shape) for f in findings if f.kind == "phi"],
                                g.shape)
            read = reread_bands(g, [(b, p, h) for _, b, p, h in cands])
            for (i, box, pol, hm), line in zip(cands, read):
                marked = _mark(list(findings), i, line, deny, allow)
                share, pix, phi, anyp, left = _labels(case, base, box, pol, caught) if ci == 0 else (0.0, 0, 0, 0.0, 0.0)
                rows.append((seed, bi, ci, share, pix, phi, int(marked), *box, int(pol == "bright"), anyp, left))
        print(f"  seed {seed} {bi + 1}/{len(bases)} {name}", file=sys.stderr)
    np.savez(out, X=np.concatenate(X), meta=np.array(rows, np.float64))


def fit(files: list[Path], out: Path, margin: float) -> None:
    from sklearn.linear_model import LogisticRegression

    from covidbank.ocr.bandfilter import FEATURES

    X = np.concatenate([np.load(f)["X"] for f in files])
    meta = np.concatenate([np.load(f)["meta"] for f in files])
    share, marked, left = meta[:, 3], meta[:, 6] > 0, meta[:, 13]
    # a band must be read again when it holds text the first reading left unredacted (a string fully inside the
    # first reading's redactions is caught whatever the second reading does), or when its reading found PHI in
    # such text; the model learns the broader "holds overlay text of its polarity, or its reading found PHI"
    # (twice the examples: it carried over from one seed to another better, threshold set on the narrower set)
    must = (left >= MIN_SHARE) | (marked & (left > 0))
    y = ((share >= MIN_SHARE) | marked | must).astype(int)
    print(f"{len(y)} bands, {int(must.sum())} to keep: {int((left >= MIN_SHARE).sum())} holding text the first "
          f"reading left, {int(marked.sum())} made PHI by the second reading ({int((marked & (left > 0)).sum())} "
          f"over such text); {int(y.sum())} holding overlay text or made PHI (the model's label)")
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000, random_state=0)
    clf.fit((X - mean) / scale, y)
    p = clf.predict_proba((X - mean) / scale)[:, 1]
    t = float(p[must].min()) * margin
    keep = p >= t
    print(f"threshold {t:.4f}: keeps {keep.mean():.3f} of the bands, {keep[must].mean():.3f} of those with text "
          f"or made PHI, {keep[y == 0].mean():.3f} of the bands without overlay text")
    for q in (0.5, 0.8, 0.9):
        tq = float(p[must].min()) * q
        print(f"  (margin {q}: keeps {np.mean(p >= tq):.3f})")
    for name, c in sorted(zip(FEATURES, clf.coef_[0]), key=lambda kv: -abs(kv[1])):
        print(f"  {name:<20} {c:+.3f}")
    model = {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
             "coef": clf.coef_[0].round(6).tolist(), "intercept": round(float(clf.intercept_[0]), 6),
             "threshold": round(t, 6),
             "trained_on": f"bench/burned_in.py --part tune, seeds {sorted({int(s) for s in meta[:, 0]})}: "
                           f"{len(y)} bands, {int(must.sum())} to keep; threshold = the lowest probability "
                           f"of a band with text x {margin}"}
    out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--n", type=int, default=60)
    c.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("files", type=Path, nargs="+")
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--margin", type=float, default=0.5, help="threshold = lowest probability of a text band x this")
    a = ap.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if a.cmd == "collect":
        collect(a.seed, a.n, a.out)
    else:
        fit(a.files, a.out, a.margin)


if __name__ == "__main__":
    main()
