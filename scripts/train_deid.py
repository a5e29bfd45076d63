"""Retrain the report de-identification tagger (covidbank/nlp/models/deid_crf.crfsuite).

Usage::

    PYTHONPATH=src python scripts/train_deid.py [--data ../shared/data] [--out src/covidbank/nlp/models/deid_crf.crfsuite]
        [--add-choice]

The shipped model is ``--add-choice`` (train and the dev ``choice`` half; its sidecar says so); a candidate is
trained without it and compared on ``choice`` with a model trained the same way (``bench/deid_compare.py
--baseline``).

Trains a linear-chain CRF (python-crfsuite, L-BFGS with elastic-net regularization) on the MEDDOCAN ``train``
split (500 documents; CC BY 4.0), with ``--add-choice`` also on the ``choice`` half of ``dev`` (114 documents:
the final model, once every choice is made), every document once as written and once lower-cased and
accent-stripped (BIMCV's published form); the parts it was trained on are recorded in the model's ``.json``
sidecar (``training``).  Prints the official MEDDOCAN figures of the tagger alone on the ``choice`` half
of ``dev`` (:func:`covidbank.nlp.meddocan.dev_parts`; model selection) and ``train`` (sanity).  The ``report``
half is not read here: its figures come from ``bench/deid_eval.py --part report`` once the choices are made.  Deterministic: L-BFGS has no randomness, the documents are read in sorted
order.  Versions used for the shipped model are pinned below and checked.

Model selection (dev ``choice`` half) is recorded in docs/report-deidentification.md.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from covidbank.nlp import tagger as tg  # noqa: E402
from covidbank.nlp.meddocan import DEV_PART_SEED, dev_parts, evaluate, read_brat  # noqa: E402
from covidbank.nlp.text import strip_accents  # noqa: E402

#: versions the shipped model was trained with
PINNED = {"python-crfsuite": "0.9.12", "Faker": "40.63.0"}
SEED = 20190901
ALGORITHM = "lbfgs"
PARAMS = {"c1": 0.05, "c2": 0.005, "max_iterations": 200, "feature.possible_transitions": True,
          "feature.minfreq": 1}


def bio(doc, window: int = tg.WINDOW, features: str = tg.FEATURES) -> list[tuple[list[list[str]], list[str]]]:
    """(features, labels) per line of one document; tokens inside a gold span take its type."""
    toks = tg.tokenize(doc.text)
    labels = ["O"] * len(toks)
    starts = {a: i for i, (a, _) in enumerate(toks)}
    for a, b, t in doc.gold:
        i = starts.get(a)
        if i is None:  # a span that starts inside a token: take the token
            i = next((k for k, (x, y) in enumerate(toks) if x <= a < y), None)
            if i is None:
                continue
        labels[i] = "B-" + t
        k = i + 1
        while k < len(toks) and toks[k][0] < b:
            labels[k] = "I-" + t
            k += 1
    return [(tg.sentence_features(doc.text, toks, idx, window, features), [labels[i] for i in idx])
            for idx in tg._lines(doc.text, toks)]


def lowered(doc):
    from covidbank.nlp.meddocan import Doc

    t = strip_accents(doc.text.lower())
    return Doc(doc.name + "#lower", t, doc.gold) if len(t) == len(doc.text) else None


def check_versions() -> None:
    from importlib.metadata import version

    for pkg, want in PINNED.items():
        have = version(pkg)
        if have != want:
            print(f"warning: {pkg} {have} installed, the shipped model was trained with {want}", file=sys.stderr)


def main() -> None:
    import pycrfsuite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=tg.MODEL_PATH)
    ap.add_argument("--no-lower", action="store_true", help="Do not add the lower-cased copy of each document.")
    ap.add_argument("--c1", type=float, default=PARAMS["c1"])
    ap.add_argument("--c2", type=float, default=PARAMS["c2"])
    ap.add_argument("--iterations", type=int, default=PARAMS["max_iterations"])
    ap.add_argument("--algorithm", choices=("lbfgs", "ap", "pa"), default=ALGORITHM,
                    help="CRFsuite's training algorithm: L-BFGS (the shipped model), averaged perceptron or passive"
                         " aggressive (much faster per iteration; --iterations then counts epochs, c1/c2 unused).")
    ap.add_argument("--window", type=int, default=tg.WINDOW,
                    help="Context tokens either side (the tagger must read the model with the same window).")
    ap.add_argument("--features", default=tg.FEATURES,
                    help="Feature set: 'base' (the shipped one) or 'base+EXTRA[+EXTRA...]' with extras from "
                         + ", ".join(sorted(tg.FEATURE_EXTRAS)) + " (written to the model's .json sidecar).")
    ap.add_argument("--log", type=Path, default=None,
                    help="Write CRFsuite's per-iteration log (loss, feature norm, improvement) here.")
    ap.add_argument("--limit", type=int, default=0, help="Train on the first N documents only (quick trials).")
    ap.add_argument("--add-choice", action="store_true",
                    help="Also train on the 'choice' half of dev (covidbank.nlp.meddocan.dev_parts), once every choice"
                         " is made: the final model. Its 'choice' figures are then in-sample; report 'report' only.")
    args = ap.parse_args()
    tg.feature_extras(args.features)  # fail before the training on an unknown feature set
    check_versions()
    random.seed(SEED)
    base = args.data / "reports" / "meddocan"
    train = read_brat(base / "train" / "brat")
    choice = dev_parts(read_brat(base / "dev" / "brat"))["choice"]
    if args.limit:
        train = train[:args.limit]
    fit = train + choice if args.add_choice else train
    parts = ["train", "dev:choice"] if args.add_choice else ["train"]
    t0 = time.time()
    log = args.log.open("w") if args.log else None

    class Trainer(pycrfsuite.Trainer):
        def message(self, m: str) -> None:  # CRFsuite's own progress log (loss and improvement per iteration)
            super().message(m)
            if log:
                log.write(m)
                log.flush()

    trainer = Trainer(args.algorithm, verbose=False)
    n_items = 0
    docs = list(fit)
    if not args.no_lower:
        docs += [d for d in map(lowered, fit) if d is not None]
    for d in docs:
        for x, y in bio(d, args.window, args.features):
            trainer.append(x, y)
            n_items += len(y)
    params = {**PARAMS, "c1": args.c1, "c2": args.c2, "max_iterations": args.iterations}
    if args.algorithm != "lbfgs":
        params = {k: v for k, v in params.items() if k not in ("c1", "c2")}
    trainer.set_params(params)
    t_feat = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    trainer.train(str(tmp))
    tmp.replace(args.out)
    # the window and feature set the model must be read with (tagger.model_settings)
    training = {"corpus": "MEDDOCAN", "parts": parts, "documents": len(fit), "lower_cased_copies": not args.no_lower,
                "dev_part_seed": DEV_PART_SEED, "algorithm": args.algorithm, "params": params}
    tg.save_model_settings(args.out, args.window, args.features, training)
    if log:
        log.close()
    t_train = time.time() - t0
    print(f"trained on {len(docs)} documents ({n_items} tokens) in {t_train:.0f} s"
          f" (features {t_feat:.0f} s); model {args.out.stat().st_size / 1e6:.1f} MB; {args.algorithm} {params}; window {args.window}; features {args.features}")
    tagger = tg.PhiTagger(args.out)
    seen = " (in-sample: trained on it)" if args.add_choice else ""
    for name, split in (("dev choice half" + seen, choice), ("train (in-sample)", train)):
        t1 = time.process_time()
        pred = [tagger.tag(d.text) for d in split]
        dt = time.process_time() - t1
        ev = evaluate(split, pred)
        print(f"{name}: subtrack1 P {ev.subtrack1.precision:.4f} R {ev.subtrack1.recall:.4f} F1 {ev.subtrack1.f1:.4f}"
              f" | subtrack2 strict F1 {ev.subtrack2_strict.f1:.4f} merged F1 {ev.subtrack2_merged.f1:.4f}"
              f" | gold words left {ev.words_left}/{ev.words} | {len(split) / dt:.0f} docs/s")
        low = [d for d in map(lowered, split) if d is not None]
        ev = evaluate(low, [tagger.tag(d.text) for d in low])
        print(f"{name} lower-cased, accent-stripped: subtrack1 F1 {ev.subtrack1.f1:.4f}"
              f" | subtrack2 merged F1 {ev.subtrack2_merged.f1:.4f} | gold words left {ev.words_left}/{ev.words}")


if __name__ == "__main__":
    main()
