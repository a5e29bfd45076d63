"""Compare candidate de-identification models with the shipped one on the ``choice`` half of MEDDOCAN dev.

Usage::

    PYTHONPATH=src python bench/deid_compare.py [--data ../shared/data] [--baseline TRAIN_ONLY.crfsuite] CANDIDATE.crfsuite[:WINDOW] ...

For the shipped model and each candidate (trained by ``scripts/train_deid.py --out``), the tagger alone and the
combined de-identifier (:func:`covidbank.nlp.find_phi`) are run on the ``choice`` half
(:func:`covidbank.nlp.meddocan.dev_parts`; the ``report`` half is never read here), and the official figures are
printed: subtrack 1 strict F1 and subtrack 2 merged F1, as written and lower-cased/accent-stripped.

What counts as noise: each candidate's difference from the shipped model is bootstrapped over documents, paired
(the same resampled documents for both models; 2,000 resamples, fixed seed), and printed with its 95 % interval
and the share of resamples in which the candidate is better.  A candidate wins when, combined, both figures
are higher and the lower end of the S1 interval is above zero.  A model trained on the ``choice`` half
(``scripts/train_deid.py --add-choice``, recorded in its sidecar) is marked in-sample: compare candidates with a
model trained on ``train`` alone (``scripts/train_deid.py --out ...`` without ``--add-choice``) given as the
baseline (``--baseline``), not with such a shipped model.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from covidbank.nlp import tagger as tg  # noqa: E402
from covidbank.nlp.deid import find_phi  # noqa: E402
from covidbank.nlp.meddocan import Doc, dev_parts, evaluate, read_brat  # noqa: E402
from covidbank.nlp.text import strip_accents  # noqa: E402

RESAMPLES = 2000
SEED = 16


def _counts(docs: list[Doc], pred: list) -> list[tuple[int, ...]]:
    """Per document: S1 tp, fp, fn and S2 merged tp, fp, fn."""
    out = []
    for d, p in zip(docs, pred):
        ev = evaluate([d], [p])
        s1, m = ev.subtrack1, ev.subtrack2_merged
        out.append((s1.tp, s1.fp, s1.fn, m.tp, m.fp, m.fn))
    return out


def _f1(rows: list[tuple[int, ...]], k: int) -> float:
    tp = sum(r[k] for r in rows)
    fp = sum(r[k + 1] for r in rows)
    fn = sum(r[k + 2] for r in rows)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _run(docs: list[Doc], model: Path | None, window: int | None) -> dict[str, list[tuple[int, ...]]]:
    tg.set_default_tagger(tg.PhiTagger(model, window=window))
    tagger = tg.default_tagger()
    return {"tagger": _counts(docs, [tagger.tag(d.text) for d in docs]),
            "combined": _counts(docs, [[(s.start, s.end, s.type) for s in find_phi(d.text)] for d in docs])}


def _bootstrap(a: list[tuple[int, ...]], b: list[tuple[int, ...]], k: int) -> tuple[float, float, float]:
    rng = random.Random(SEED)
    n = len(a)
    diffs = []
    for _ in range(RESAMPLES):
        pick = [rng.randrange(n) for _ in range(n)]
        diffs.append(_f1([b[i] for i in pick], k) - _f1([a[i] for i in pick], k))
    diffs.sort()
    return diffs[int(0.025 * RESAMPLES)], diffs[int(0.975 * RESAMPLES) - 1], sum(d > 0 for d in diffs) / RESAMPLES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("candidates", nargs="+", help="Model files, each optionally ':WINDOW' (default: its .json sidecar's"
                    " window and feature set, else the shipped model's).")
    ap.add_argument("--baseline", default=None,
                    help="Compare with this model (e.g. one trained on train alone) instead of the shipped one: needed"
                         " when the shipped model was trained on the choice half (scripts/train_deid.py --add-choice).")
    args = ap.parse_args()
    docs = dev_parts(read_brat(args.data / "reports" / "meddocan" / "dev" / "brat"))["choice"]
    low = [Doc(d.name, t, d.gold) for d in docs if len(t := strip_accents(d.text.lower())) == len(d.text)]
    runs = []  # each model is read with the window and feature set of its sidecar (tagger.model_settings)
    for spec in [args.baseline, *args.candidates]:
        path, window = (None, None) if spec is None else (
            (Path(spec.rsplit(":", 1)[0]), int(spec.rsplit(":", 1)[1])) if ":" in spec else (Path(spec), None))
        res = _run(docs, path, window)
        seen = "dev:choice" in tg.default_tagger().training.get("parts", [])
        name = (spec or "shipped") + ("  IN-SAMPLE: trained on the choice half, not comparable" if seen else "")
        runs.append((name, res, _run(low, path, window)))
    tg.set_default_tagger(None)
    print(f"MEDDOCAN dev, choice half ({len(docs)} documents); S1 strict F1 / S2 merged F1;"
          f" paired bootstrap over documents ({RESAMPLES}, 95 %)")
    base = runs[0][1]
    for name, res, res_low in runs:
        print(f"\n{name}")
        for system in ("tagger", "combined"):
            line = (f"  {system:9s} {_f1(res[system], 0):.4f} / {_f1(res[system], 3):.4f}"
                    f"   lower-cased {_f1(res_low[system], 0):.4f} / {_f1(res_low[system], 3):.4f}")
            if res is not base:
                for label, k in (("S1", 0), ("S2m", 3)):
                    lo, hi, better = _bootstrap(base[system], res[system], k)
                    d = _f1(res[system], k) - _f1(base[system], k)
                    line += f"   {label} {d:+.4f} [{lo:+.4f}, {hi:+.4f}] better in {better:.0%}"
            print(line)


if __name__ == "__main__":
    main()
