"""Report de-identification measured as the MEDDOCAN shared task measures it, plus throughput.

Usage::

    PYTHONPATH=src python bench/deid_eval.py [--data ../shared/data] [--part choice|report|all] [--json out.json]
        [--sample 300]
    PYTHONPATH=src python scripts/train_deid.py --limit 250 --out /tmp/half.crfsuite   # a tagger of train[:250]
    PYTHONPATH=src python bench/deid_eval.py --part fresh --model /tmp/half.crfsuite --no-bimcv

``--part fresh`` reads the MEDDOCAN train documents a model trained on the first N of them never saw (250
documents, twice ``choice``): a larger set to look at when writing rules, with a weaker tagger beside them.

MEDDOCAN ``dev`` is split by document into two halves (:func:`covidbank.nlp.meddocan.dev_parts`, a hash of
the file name): every choice (features, training parameters, combination rules) is made looking at
``--part choice`` (the default) only; the figures that go in the docs are those of ``--part report``, which
no choice may look at (the shipped model's own choices predate the split: see
docs/report-deidentification.md); ``--part all`` (the whole of dev) is kept for continuity with earlier
figures.  It prints what the model was trained on (its sidecar, :attr:`covidbank.nlp.tagger.PhiTagger.training`):
the shipped model is trained on ``train`` and the ``choice`` half once every choice was made
(``scripts/train_deid.py --add-choice``), so its ``choice`` figures are marked in-sample.

Prints, for the chosen part of MEDDOCAN ``dev`` and ``train`` (what the tagger was trained on: a
sanity check, not a result), each also lower-cased and accent-stripped (BIMCV's published form), for three
systems run in the same process: the rules and gazetteers alone, the trained tagger alone, and the combined
de-identifier (:func:`covidbank.nlp.find_phi`):

* the official figures (:mod:`covidbank.nlp.meddocan`): subtrack 1 (strict span and type, micro over the
  MEDDOCAN types), subtrack 2 strict and merged (sensitive span, type ignored);
* per-type recall (strict) and coverage (the gold span entirely inside predicted spans: nothing of it is
  left in the text), and the words of gold spans left in the text;
* throughput in documents per second per core (process CPU time) on MEDDOCAN documents and on the distinct
  reports of the BIMCV COVID-19+ dev table;
* a scan of the de-identified BIMCV reports: in a fixed random sample (``--sample``), every remaining word
  that is a given name or surname of the gazetteers, with its context, for a hand check.

The official test split is held back for an independent evaluation; nothing here is tuned on it.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from covidbank.nlp import gazetteers as gz  # noqa: E402
from covidbank.nlp.deid import deidentify, find_phi  # noqa: E402
from covidbank.nlp.meddocan import DEV_PARTS, Doc, dev_parts, evaluate, read_brat  # noqa: E402
from covidbank.nlp import tagger as tg  # noqa: E402
from covidbank.nlp.tagger import default_tagger  # noqa: E402
from covidbank.nlp.text import strip_accents  # noqa: E402

SYSTEMS = {
    "rules": lambda t: [(s.start, s.end, s.type) for s in find_phi(t, model=False)],
    "tagger": lambda t: default_tagger().tag(t),
    "combined": lambda t: [(s.start, s.end, s.type) for s in find_phi(t)],
}


def lowered(docs: list[Doc]) -> list[Doc]:
    out = []
    for d in docs:
        t = strip_accents(d.text.lower())
        if len(t) == len(d.text):
            out.append(Doc(d.name, t, d.gold))
    return out


def run_split(docs: list[Doc]) -> dict:
    res = {}
    for name, fn in SYSTEMS.items():
        t0 = time.process_time()
        pred = [fn(d.text) for d in docs]
        dt = time.process_time() - t0
        ev = evaluate(docs, pred)
        res[name] = {**ev.as_dict(), "docs_per_s": len(docs) / dt if dt else None}
    return res


def print_split(title: str, res: dict, per_type: bool) -> None:
    print(f"\n== {title}")
    print(f"   {'system':9s} {'S1 P':>7s} {'S1 R':>7s} {'S1 F1':>7s} | {'S2 strict F1':>12s} | {'S2 merged P':>11s}"
          f" {'R':>7s} {'F1':>7s} | gold words left | docs/s")
    for name, r in res.items():
        s1, s2, m = r["subtrack1"], r["subtrack2_strict"], r["subtrack2_merged"]
        print(f"   {name:9s} {s1['precision']:7.4f} {s1['recall']:7.4f} {s1['f1']:7.4f} | {s2['f1']:12.4f} |"
              f" {m['precision']:11.4f} {m['recall']:7.4f} {m['f1']:7.4f} | {r['gold_words_left']:5d} of"
              f" {r['gold_words']:5d} | {r['docs_per_s']:.0f}")
    if per_type:
        c = res["combined"]
        print(f"   combined, per type: {'type':34s} {'gold':>5s} {'recall':>7s} {'covered':>8s} {'precision':>9s}"
              f"   words left")
        for t, d in sorted(c["per_type"].items(), key=lambda kv: -(kv[1]["tp"] + kv[1]["fn"])):
            gold = d["tp"] + d["fn"]
            if not gold:
                continue
            cov = "   -   " if d["covered"] is None else f"{d['covered']:.4f}"
            print(f"   {'':20s}{t:34s} {gold:5d} {d['recall']:7.4f} {cov:>8s} {d['precision']:9.4f}"
                  f"   {c['words_left_by_type'].get(t, 0)}")


def bimcv_reports(tsv: Path) -> list[str]:
    import pandas as pd

    df = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, usecols=["Report"])
    return [r for r in dict.fromkeys(df["Report"].tolist()) if r]


def throughput(texts: list[str]) -> dict:
    out = {}
    for name, fn in (("combined", lambda t: deidentify(t)), ("rules", lambda t: deidentify(t, model=False))):
        fn(texts[0])  # load the model and gazetteers outside the timing
        t0 = time.process_time()
        for t in texts:
            fn(t)
        dt = time.process_time() - t0
        out[name] = len(texts) / dt
    return out


_WORD = re.compile(r"[a-zñáéíóúü]{3,}")
# common words of radiology reports that are also names or surnames in the gazetteers
_COMMON = frozenset(strip_accents(w) for w in (
    "de la el los las y en con sin por para una uno leve signos campo campos base bases senos seno vidrio "
    "sala cama portatil control previa previo mismo derecha izquierda derecho izquierdo torax hilio hilios "
    "lobulo paciente patron silueta cardiaca cardiaco aorta masa nodulo pleural derrame imagen marca grado "
    "medio media alto alta bajo baja mayor menor parte cruz luz paz mar sol vega prado blanco rojo verde "
    "clara claro rosa flores bueno buena nieto santos reyes leon valle torre ramos cano calvo moreno rubio "
    "angulo lado casa mesa pastor gallego franco bravo caballero cortes vidal soler mora lozano pena mas "
    "nombrepropio").split())


def name_scan(texts: list[str], sample: int, seed: int = 16) -> dict:
    """Remaining given-name/surname words in a fixed sample of de-identified BIMCV reports, with context."""
    rng = random.Random(seed)
    picked = rng.sample(texts, min(sample, len(texts)))
    first, last = gz.first_names(), gz.last_names()
    hits = []
    for i, t in enumerate(picked):
        out = deidentify(t).text
        for m in _WORD.finditer(out):
            k = strip_accents(m.group())
            if k in _COMMON or not (k in first or k in last):
                continue
            ctx = out[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            hits.append({"report": i, "word": m.group(), "context": ctx})
    return {"reports": len(picked), "flagged": hits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None, help="Also write every figure as JSON here.")
    ap.add_argument("--sample", type=int, default=300, help="BIMCV reports in the hand-check sample.")
    ap.add_argument("--part", choices=(*DEV_PARTS, "all", "fresh"), default="choice",
                    help="Which half of MEDDOCAN dev: 'choice' (look at it to choose), 'report' (the figures to "
                         "report, never looked at to choose), 'all' (both halves); or 'fresh': the train documents "
                         "a --model trained on the first N of them (scripts/train_deid.py --limit N) never saw, a "
                         "larger set to look at for the rules.")
    ap.add_argument("--model", type=Path, default=None,
                    help="Measure this candidate model (scripts/train_deid.py --out) instead of the packaged one.")
    ap.add_argument("--window", type=int, default=None,
                    help="The context window the --model was trained with (default: its .json sidecar's, else 2).")
    ap.add_argument("--no-train", action="store_true", help="Skip the train split (faster).")
    ap.add_argument("--no-bimcv", action="store_true", help="Skip the BIMCV throughput and name scan (faster).")
    args = ap.parse_args()
    if args.model or args.window is not None:  # every system below reads the shared tagger
        tg.set_default_tagger(tg.PhiTagger(args.model, window=args.window))
    tagger = default_tagger()
    model = tagger.model_path
    res: dict = {"model": {"path": str(model), "bytes": model.stat().st_size, "window": tagger.window,
                           "features": tagger.features, "training": tagger.training}, "part": args.part}
    print(f"model: {model} ({model.stat().st_size / 1e3:.0f} KB, window {tagger.window}, features {tagger.features})")
    parts = list(tagger.training.get("parts", []))
    print(f"model trained on: MEDDOCAN {' + '.join(parts)}"
          + (f" ({tagger.training['documents']} documents)" if "documents" in tagger.training else ""))
    if args.part in ("choice", "all") and "dev:choice" in parts:
        print("NOTE: the model was trained on the dev 'choice' half: its tagger and combined figures on 'choice'"
              " are in-sample, not a result; only 'report' is unseen")
    base = args.data / "reports" / "meddocan"
    if args.part == "fresh":
        train = read_brat(base / "train" / "brat")
        n = int(tagger.training.get("documents", 0))
        if parts != ["train"] or not 0 < n < len(train):
            raise SystemExit("--part fresh needs a --model trained on the first N train documents only "
                             "(scripts/train_deid.py --limit N --out ...); this one was trained on "
                             f"{' + '.join(parts) or 'unknown parts'} ({n} documents)")
        dev = train[n:]
        args.no_train = True  # the train split is the set itself
    else:
        dev = read_brat(base / "dev" / "brat")
        if args.part != "all":
            dev = dev_parts(dev)[args.part]
    what = {"choice": "the half choices are made on", "report": "the half to report, never used to choose",
            "all": "both halves: choice and report",
            "fresh": "MEDDOCAN train documents the model was not trained on, to look at for the rules"}[args.part]
    print(f"MEDDOCAN {'train' if args.part == 'fresh' else 'dev'} part: {args.part} ({len(dev)} documents; {what})")
    splits = [("dev", dev)]
    src = "train" if args.part == "fresh" else "dev"
    if not args.no_train:
        splits.append(("train", read_brat(base / "train" / "brat")))
    for name, docs in splits:
        res[name] = run_split(docs)
        seen = " - IN-SAMPLE (the tagger was trained on the choice half)" if (
            args.part in ("choice", "all") and "dev:choice" in parts) else ""
        title = (f"MEDDOCAN train ({len(docs)} documents) - the tagger was trained on these: a sanity check"
                 if name == "train" else f"MEDDOCAN {src}, part {args.part} ({len(docs)} documents){seen}")
        print_split(title, res[name], per_type=name == "dev")
        low = lowered(docs)
        res[name + "_lower"] = run_split(low)
        print_split(f"MEDDOCAN {src if name == 'dev' else name}{', part ' + args.part if name == 'dev' else ''}, lower-cased and accent-stripped ({len(low)} documents)", res[name + "_lower"],
                    per_type=False)
    tsv = args.data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv"
    if tsv.is_file() and not args.no_bimcv:
        texts = bimcv_reports(tsv)
        res["bimcv_throughput"] = tp = throughput(texts)
        mean_len = sum(map(len, texts)) / len(texts)
        print(f"\n== Throughput on {len(texts)} distinct BIMCV dev reports (mean {mean_len:.0f} characters), one core:"
              f" combined {tp['combined']:.0f} reports/s, rules alone {tp['rules']:.0f} reports/s")
        res["name_scan"] = scan = name_scan(texts, args.sample)
        print(f"\n== BIMCV name scan: {scan['reports']} de-identified reports (fixed sample), "
              f"{len(scan['flagged'])} words that are given names or surnames left (context below, for a hand check)")
        for h in scan["flagged"]:
            print(f"   #{h['report']:3d} {h['word']!r:16s} ... {h['context']} ...")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
