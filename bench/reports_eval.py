"""Evaluation harness of covidbank.nlp (labeling and de-identification).

Usage::

    PYTHONPATH=src python bench/reports_eval.py [--data ../shared/data] [--json out.json]
        [--model FILE | --rules-only] [--no-ablation]

Prints:

* label agreement with the BIMCV COVID-19+ dev table (the dataset authors' report
  classifier output), per distinct report, on the two parts of the subject split
  (:mod:`covidbank.nlp.corpus`: the ``rules`` part read while writing rules, the
  ``validation`` part never read) side by side: per-label precision/recall/F1 for
  the 20 labels most frequent in the rules part, micro and macro F1, ``COVID 19``
  and ``COVID 19 uncertain``; the sentence model is trained on the rules part in
  the same run (``covidbank train-labeler``'s procedure) unless ``--model`` or
  ``--rules-only`` is given;
* the same figures for the rules alone and for a keyword-only baseline (the
  lexicon without any negation/uncertainty cues) run in the same process, as a
  ratio — no installable Spanish labeler exists to compare against;
* the uncertainty figures (COVID confusion, how labels read from hedged or
  doubtful mentions fare), the disagreements of the rules part (never of the
  validation part), and the ablation table of the named rules and the model;
* de-identification precision/recall per category on MEDDOCAN ``dev`` and, as a
  check that rules written on dev's leaks carry over, ``train`` (its 22
  PHI types mapped onto NAME/DIR/LOC/NUM/FECHA/INST; age, sex, relatives,
  profession and "other" are outside the six categories) and on the DiSMed
  tagged samples; which kinds leak;
* throughput in reports per second per core (process CPU time) for both steps.

A predicted span counts when it overlaps a gold span (recall: any predicted
category — a detected identifier does not leak whatever its label;
precision: per predicted category).

The MEDDOCAN shared task's own metrics (subtrack 1 and 2, per type, the
tagger, rules and combined de-identifier side by side, BIMCV throughput and
name scan) are in ``bench/deid_eval.py``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from covidbank.nlp import ReportLabeler, find_phi  # noqa: E402
from covidbank.nlp.cues import NEGATED, POSITIVE  # noqa: E402
from covidbank.nlp.evaluation import agreement, gold_by_text, top_labels  # noqa: E402
from covidbank.nlp.lexicon import FINDINGS  # noqa: E402

CATS = ("NAME", "DIR", "LOC", "NUM", "FECHA", "INST")
MEDDOCAN_MAP = {
    "NOMBRE_SUJETO_ASISTENCIA": "NAME", "NOMBRE_PERSONAL_SANITARIO": "NAME",
    "CALLE": "DIR", "TERRITORIO": "LOC", "PAIS": "LOC",
    "ID_SUJETO_ASISTENCIA": "NUM", "ID_TITULACION_PERSONAL_SANITARIO": "NUM", "ID_ASEGURAMIENTO": "NUM",
    "ID_CONTACTO_ASISTENCIAL": "NUM", "NUMERO_TELEFONO": "NUM", "NUMERO_FAX": "NUM", "CORREO_ELECTRONICO": "NUM",
    "ID_EMPLEO_PERSONAL_SANITARIO": "NUM", "FECHAS": "FECHA",
    "HOSPITAL": "INST", "INSTITUCION": "INST", "CENTRO_SALUD": "INST",
    # outside the six categories: EDAD_SUJETO_ASISTENCIA, SEXO_SUJETO_ASISTENCIA, FAMILIARES_SUJETO_ASISTENCIA,
    # PROFESION, OTROS_SUJETO_ASISTENCIA, URL_WEB, DIREC_PROT_INTERNET, NUMERO_BENEF_PLAN_SALUD, ...
}


class KeywordBaseline:
    """The lexicon alone: every phrase found is a label (no cues, no conventions)."""

    def __init__(self) -> None:
        from covidbank.nlp.matcher import PhraseMatcher
        from covidbank.nlp.text import normalize

        self._m = PhraseMatcher(FINDINGS)
        self._norm = normalize

    def labels(self, text: str) -> set[str]:
        out = set()
        for lab, _, _ in self._m.find(self._norm(text)):
            out.update(lab.split("|"))
        return out or {"normal"}


def _part_eval(reports, lab, rules_only, base, top: list[str]) -> tuple[dict, dict, dict, dict, dict]:
    """Figures of one part of the split, per distinct report (the first reference labels of a repeated text)."""
    gold = gold_by_text(reports)
    uniq = list(gold)
    res_u = {t: lab.label(t) for t in uniq}
    pred_u = {t: set(x.labels) for t, x in res_u.items()}
    res_r = res_u if rules_only is lab else {t: rules_only.label(t) for t in uniq}
    base_u = {t: base.labels(t) for t in uniq}
    pairs = [(gold[t], t) for t in uniq]
    out = {"reports": len(uniq), "subjects": len({r.subject for r in reports}),
           "labeler": agreement(pairs, pred_u, top), "keyword_baseline": agreement(pairs, base_u, top),
           "rules_only": agreement(pairs, {t: set(x.labels) for t, x in res_r.items()}, top),
           "covid_confusion": _covid_confusion(pairs, pred_u), "uncertainty": _uncertainty(pairs, res_u, pred_u)}
    return out, gold, res_u, pred_u, res_r


def _covid_confusion(pairs, pred) -> dict:
    """Reference vs labeler among {COVID 19, COVID 19 uncertain, none}."""
    def cls(s: set[str]) -> str:
        return "COVID 19" if "COVID 19" in s else "COVID 19 uncertain" if "COVID 19 uncertain" in s else "none"
    return dict(sorted(Counter(f"{cls(g)} -> {cls(pred[r])}" for g, r in pairs).items()))


def _uncertainty(pairs, res_u, pred_u) -> dict:
    """How the labeler's uncertain readings fare against the reference.

    For every label the labeler writes, the strongest polarity of its mentions
    in the report (positive > hedged > doubtful); the precision of each group
    against the reference (PadChest keeps hedged findings as labels, so a
    hedged finding is right when the reference lists it).  And the reference's
    labels the labeler read only as hedged or doubtful but left out.
    """
    from covidbank.nlp.cues import DOUBTFUL, HEDGED

    by = {k: [0, 0] for k in (POSITIVE, HEDGED, DOUBTFUL, "no mention")}
    for g, r in pairs:
        res = res_u[r]
        for k in pred_u[r] - {"normal", "exclude"}:
            target = "COVID 19" if k == "COVID 19 uncertain" else k
            pols = {m.polarity for m in res.mentions if m.label in (k, target)}
            kind = POSITIVE if POSITIVE in pols else HEDGED if HEDGED in pols else DOUBTFUL if DOUBTFUL in pols else "no mention"
            by[kind][0] += 1
            by[kind][1] += k in g
    return {k: {"labels": n, "in_reference": ok, "precision": ok / n if n else None} for k, (n, ok) in by.items()}


def _rule_effect(gold, res_on, res_off) -> dict:
    """Labels a rule changes (on vs off) over the distinct reports, and how many of the changes agree with the reference."""
    changed = agree = reports = 0
    for t, g in gold.items():
        on, off = set(res_on[t].labels), set(res_off[t].labels)
        diff = on ^ off
        if diff:
            reports += 1
            changed += len(diff)
            agree += sum((k in on) == (k in g) for k in diff)
    return {"reports": reports, "changes": changed, "agree": agree}


def label_eval(tsv: Path, ablation: bool = True, model_path: Path | None = None, learned: bool = True) -> dict:
    """Labeling figures on the two parts of the subject split of the dev table (:mod:`covidbank.nlp.corpus`).

    The sentence model is trained here on the rules part (``covidbank train-labeler``'s procedure, fixed seed)
    unless ``model_path`` gives one or ``learned`` is false (rules only).
    """
    from covidbank.nlp.corpus import PARTS, SPLIT_RATIOS, SPLIT_SEED, read_reports, split_reports
    from covidbank.nlp.model import SentenceModel
    from covidbank.nlp.rules import RULES

    reports = read_reports(tsv)
    parts = split_reports(reports)
    model, train_cpu = None, None
    if model_path is not None:
        model = SentenceModel.load(model_path)
    elif learned:
        from covidbank.nlp.training import build_model

        t0 = time.process_time()
        model, _ = build_model(tsv)
        train_cpu = time.process_time() - t0
    rules_only = ReportLabeler(model=None)
    lab = ReportLabeler(model=model) if model is not None else rules_only
    base = KeywordBaseline()
    # the 20 most frequent labels, counted on image rows of the rules part (the reference's own unit)
    top = top_labels(parts["rules"])
    out: dict = {"seed": SPLIT_SEED, "ratios": SPLIT_RATIOS, "top20": top, "rows": sum(r.rows for r in reports),
                 "model": None if model is None else {"labels": model.labels, "features": len(model.features),
                                                      "sentences": model.meta.get("sentences"),
                                                      "trained_on": model.meta.get("trained_on"),
                                                      "training_cpu_seconds": train_cpu}}
    gold_of, res_of = {}, {}
    for part in PARTS:
        out[part], gold_of[part], res, pred, res_of[part] = _part_eval(parts[part], lab, rules_only, base, top)
        if part == "rules":
            # where the disagreements come from: printed for the part the rules are written on, never validation
            def uncontradicted(g: set[str], t: str) -> set[str]:
                return {k for k in g if k in pred[t] or _fn_kind(res[t], k) != "negated"}
            pairs = [(g, t) for t, g in gold_of[part].items()]
            out[part]["disagreements"] = _disagreements(pairs, res, pred, top + ["COVID 19 uncertain"])
            out[part]["uncontradicted"] = agreement([(uncontradicted(g, t), t) for g, t in pairs], pred, top)
    # throughput: each labeler on every distinct report once, fresh (no sentence cache), one process, CPU time
    uniq = list(dict.fromkeys(r.text for r in reports))
    for name, make in (("throughput_reports_per_s", lambda: ReportLabeler(model=model)),
                       ("rules_only_reports_per_s", lambda: ReportLabeler(model=None)),
                       ("baseline_reports_per_s", KeywordBaseline)):
        x = make()
        f = x.labels if isinstance(x, KeywordBaseline) else x.label
        f(uniq[0])
        t0 = time.process_time()
        for t in uniq:
            f(t)
        out[name] = len(uniq) / (time.process_time() - t0)
    t0 = time.process_time()
    n_spans = sum(len(find_phi(r)) for r in uniq)
    dt_deid = time.process_time() - t0
    out.update({"reports": len(uniq), "deid_reports_per_s": len(uniq) / dt_deid, "deid_spans_on_bimcv": n_spans})
    if ablation:
        # each rule switched off in the rules-only labeler (the model is trained with every rule on); the last
        # row is the learned model (rules + model minus rules only)
        rows = []
        for rule in RULES:
            off = ReportLabeler(disable={rule.name}, model=None)
            row = {"rule": rule.name, "stage": rule.stage}
            for part in PARTS:
                gold = gold_of[part]
                res_off = {t: off.label(t) for t in gold}
                A = agreement([(g, t) for t, g in gold.items()], {t: set(x.labels) for t, x in res_off.items()}, top)
                row[part] = {**_deltas(out[part]["rules_only"], A), **_rule_effect(gold, res_of[part], res_off)}
            rows.append(row)
        if model is not None:
            row = {"rule": "learned sentence model", "stage": "sentence"}
            for part in PARTS:
                row[part] = _deltas(out[part]["labeler"], out[part]["rules_only"])
            rows.append(row)
        out["ablation"] = rows
    return out


def _deltas(full: dict, without: dict) -> dict:
    return {"delta_micro_f1": full["micro_f1"] - without["micro_f1"],
            "delta_macro_f1": full["macro_f1"] - without["macro_f1"],
            "delta_covid_f1": full["per_label"]["COVID 19"]["f1"] - without["per_label"]["COVID 19"]["f1"],
            "delta_covid_uncertain_f1": full["per_label"]["COVID 19 uncertain"]["f1"]
            - without["per_label"]["COVID 19 uncertain"]["f1"]}


def _fn_kind(res, label: str) -> str:
    """Why the labeler may lack ``label``: ``not mentioned``, ``negated`` (every mention), or ``mentioned``."""
    ms = [m for m in res.mentions if m.label == label]
    if not ms:
        return "not mentioned"
    return "negated" if all(m.polarity == NEGATED for m in ms) else "mentioned"


def _fp_kind(res, label: str) -> str:
    """Why the labeler wrote ``label``: a positive, hedged/doubtful or only negated mention, or no mention."""
    target = "COVID 19" if label == "COVID 19 uncertain" else label
    ms = [m for m in res.mentions if m.label == target]
    if not ms:
        return "no mention (a convention)"
    if any(m.polarity == POSITIVE for m in ms):
        return "positive mention"
    if any(m.polarity != NEGATED for m in ms):
        return "hedged or doubtful mention"
    return "negated mention (a convention)"


def _disagreements(pairs, res_u, pred_u, labels: list[str]) -> dict:
    """Missed reference labels by what the text says of them; extra labels by the labeler's mention of them."""
    fn, fp = Counter(), Counter()
    for g, r in pairs:
        for k in labels:
            if k in g and k not in pred_u[r]:
                fn[_fn_kind(res_u[r], k)] += 1
            elif k not in g and k in pred_u[r]:
                fp[_fp_kind(res_u[r], k)] += 1
    return {"missed": dict(fn), "extra": dict(fp)}


def _overlap_eval(docs: list[tuple[str, list[tuple[int, int, str]]]]) -> dict:
    gold_by, hit_by, pred_by, ptp_by = Counter(), Counter(), Counter(), Counter()
    leaks = Counter()
    words_by, words_leaked_by = Counter(), Counter()
    t0 = time.process_time()
    preds = [find_phi(t) for t, _ in docs]
    dt = time.process_time() - t0
    for (text, gold), pred in zip(docs, preds):
        for a, b, cat, *rest in gold:
            gold_by[cat] += 1
            if any(p.start < b and a < p.end for p in pred):
                hit_by[cat] += 1
            else:
                leaks[rest[0] if rest else cat] += 1
            # word level: a span caught in part still leaks its other words ("Juan" caught, "de la Fuente" not)
            for w in re.finditer(r"[^\W_]+", text[a:b]):
                words_by[cat] += 1
                x, y = a + w.start(), a + w.end()
                if not all(any(p.start <= k < p.end for p in pred) for k in range(x, y)):
                    words_leaked_by[cat] += 1
        for p in pred:
            pred_by[p.category] += 1
            if any(p.start < b and a < p.end for a, b, *_ in gold):
                ptp_by[p.category] += 1
    per = {c: {"recall": hit_by[c] / gold_by[c] if gold_by[c] else None, "gold": gold_by[c],
               "precision": ptp_by[c] / pred_by[c] if pred_by[c] else None, "predicted": pred_by[c],
               "word_recall": 1 - words_leaked_by[c] / words_by[c] if words_by[c] else None} for c in CATS}
    G, H, P, T = sum(gold_by.values()), sum(hit_by.values()), sum(pred_by.values()), sum(ptp_by.values())
    W, WL = sum(words_by.values()), sum(words_leaked_by.values())
    return {"docs": len(docs), "per_category": per, "recall": H / G if G else None, "precision": T / P if P else None,
            "word_recall": 1 - WL / W if W else None, "words_leaked": WL, "words": W,
            "leaks_by_type": dict(leaks.most_common()), "throughput_docs_per_s": len(docs) / dt if dt else None}


def meddocan_docs(folder: Path) -> list:
    docs = []
    for txt in sorted(folder.glob("*.txt")):
        text = txt.read_text(encoding="utf-8")
        gold = []
        ann = txt.with_suffix(".ann")
        for line in ann.read_text(encoding="utf-8").splitlines():
            if not line.startswith("T"):
                continue
            _, mid, _ = line.split("\t", 2)
            parts = mid.replace(";", " ").split()
            typ, a, b = parts[0], int(parts[1]), int(parts[-1])
            if typ in MEDDOCAN_MAP:
                gold.append((a, b, MEDDOCAN_MAP[typ], typ))
        docs.append((text, gold))
    return docs


_TAG = re.compile(r"<(NAME|FECHA|NUM|DIR|INST|LOC|CAB)>(.*?)</\1>", re.S)


def dismed_docs(folder: Path) -> list:
    docs = []
    for f in sorted(folder.glob("sr/*.txt")) + sorted(folder.glob("text_to_html/text_html_labels.txt")):
        raw = f.read_text(encoding="utf-8")
        text, gold, pos = [], [], 0
        out_len = 0
        for m in _TAG.finditer(raw):
            text.append(raw[pos:m.start()])
            out_len += m.start() - pos
            inner = m.group(2)
            if m.group(1) != "CAB":
                gold.append((out_len, out_len + len(inner), m.group(1)))
            text.append(inner)
            out_len += len(inner)
            pos = m.end()
        text.append(raw[pos:])
        docs.append(("".join(text), gold))
    return docs


def _worst_cases() -> dict:
    """CPU seconds of :func:`find_phi` on long inputs that make careless patterns backtrack."""
    cases = {
        "one long capitalized word after a form label": "NOMBRE " + "A" * 50_000 + ":",
        "a long lower-case line after an address label": "DIRECCION " + "a" * 50_000 + ":",
        "a run of digits": "1" * 50_000,
        "a comma list of places": ", ".join(["Madrid"] * 6_000) + ", España",
        "postcodes": " ".join(["28013"] * 8_000),
        "capitalized words": " ".join(["Garcia"] * 7_000),
    }
    out = {}
    for name, text in cases.items():
        t0 = time.process_time()
        find_phi(text)
        out[name] = time.process_time() - t0
    return out


def _f(x) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def _print_labeling(L: dict) -> None:
    R, V = L["rules"], L["validation"]
    print("== Labeling vs the BIMCV dev table (the authors' classifier output), per distinct report")
    print(f"   split by subject, seed {L['seed']}: rules part {R['subjects']} subjects / {R['reports']} reports"
          f" (read while writing rules), validation part {V['subjects']} subjects / {V['reports']} reports (never read)")
    M = L.get("model")
    if M:
        cpu = f", trained here in {M['training_cpu_seconds']:.0f} s CPU" if M.get("training_cpu_seconds") else ""
        print(f"   labeler = rules + sentence model ({M['trained_on']}: {M['sentences']} sentences, {M['features']} features,"
              f" {len(M['labels'])} labels decided by the model{cpu})")
    else:
        print("   labeler = rules only (no sentence model)")
    print(f"\n   {'label':34s} | {'rules part':^27s} | {'validation part':^27s} | baseline F1")
    print(f"   {'':34s} | {'P':>6s} {'R':>6s} {'F1':>6s} {'n':>6s} | {'P':>6s} {'R':>6s} {'F1':>6s} {'n':>6s} | rules  valid.")
    for k in L["top20"] + ["COVID 19 uncertain"]:
        a, b = R["labeler"]["per_label"][k], V["labeler"]["per_label"][k]
        print(f"   {k:34s} | {a['precision']:6.3f} {a['recall']:6.3f} {a['f1']:6.3f} {a['support']:6d} |"
              f" {b['precision']:6.3f} {b['recall']:6.3f} {b['f1']:6.3f} {b['support']:6d} |"
              f" {R['keyword_baseline']['per_label'][k]['f1']:.3f}  {V['keyword_baseline']['per_label'][k]['f1']:.3f}")
    print(f"\n   {'figure':40s} {'rules part':>11s} {'validation':>11s}   target (validation)")
    print(f"   {'micro-F1 (20 most frequent labels)':40s} {R['labeler']['micro_f1']:11.3f} {V['labeler']['micro_f1']:11.3f}   >= 0.90")
    print(f"   {'macro-F1 (of the labels present)':40s} {R['labeler']['macro_f1']:11.3f} {V['labeler']['macro_f1']:11.3f}   >= 0.85"
          f"   ({R['labeler']['macro_labels']} and {V['labeler']['macro_labels']} labels)")
    for k, target in (("COVID 19", 0.92), ("COVID 19 uncertain", 0.60)):
        print(f"   {k + ' F1':40s} {R['labeler']['per_label'][k]['f1']:11.3f} {V['labeler']['per_label'][k]['f1']:11.3f}"
              f"   >= {target:.2f}")
    for name, key in (("rules only micro-F1", "micro_f1"), ("rules only macro-F1", "macro_f1")):
        print(f"   {name:40s} {R['rules_only'][key]:11.3f} {V['rules_only'][key]:11.3f}")
    for k in ("COVID 19", "COVID 19 uncertain"):
        print(f"   {'rules only ' + k + ' F1':40s} {R['rules_only']['per_label'][k]['f1']:11.3f}"
              f" {V['rules_only']['per_label'][k]['f1']:11.3f}")
    for name, key in (("keyword baseline micro-F1", "micro_f1"), ("keyword baseline macro-F1", "macro_f1")):
        print(f"   {name:40s} {R['keyword_baseline'][key]:11.3f} {V['keyword_baseline'][key]:11.3f}")
    print(f"   {'labeler / keyword baseline (micro-F1)':40s} {R['labeler']['micro_f1'] / R['keyword_baseline']['micro_f1']:10.2f}x"
          f" {V['labeler']['micro_f1'] / V['keyword_baseline']['micro_f1']:10.2f}x")
    print("\n-- uncertainty")
    for part, P in (("rules part", R), ("validation part", V)):
        print(f"   {part}: COVID (reference -> labeler): {P['covid_confusion']}")
        u = P["uncertainty"]
        print(f"   {part}: labels written from a positive / only hedged / only doubtful mention, share the reference lists:"
              + ", ".join(f" {k} {_f(v['precision'])} of {v['labels']}" for k, v in u.items()))
    D, U = R["disagreements"], R["uncontradicted"]
    print("\n-- where the rules part disagrees (validation is never broken down)")
    print(f"   reference labels missed, by what the report says of them: {D['missed']}")
    print(f"   labels the reference lacks, by the labeler's mention: {D['extra']}")
    print(f"   against the reference without the labels its text negates (as the labeler reads negation; an upper"
          f" bound): micro-F1 {U['micro_f1']:.3f}, COVID 19 F1 {U['per_label']['COVID 19']['f1']:.3f}")
    if "ablation" in L:
        print("\n-- ablation: what each named rule adds to the rules-only labeler (with it minus without it), and what the"
              " sentence model adds to the rules (F1 points x100)")
        print(f"   {'rule':40s} {'stage':8s} | {'validation':^31s} | {'rules part':^11s} | rules part: labels changed")
        print(f"   {'':40s} {'':8s} | {'micro':>7s} {'macro':>7s} {'COVID':>7s} {'unc.':>7s} | {'micro':>11s} |"
              f" (reports), agreeing with the reference")
        for row in L["ablation"]:
            v, r = row["validation"], row["rules"]
            print(f"   {row['rule']:40s} {row['stage']:8s} | {100 * v['delta_micro_f1']:+7.2f} {100 * v['delta_macro_f1']:+7.2f}"
                  f" {100 * v['delta_covid_f1']:+7.2f} {100 * v['delta_covid_uncertain_f1']:+7.2f} |"
                  f" {100 * r['delta_micro_f1']:+11.2f} |"
                  + (f" {r['changes']} ({r['reports']}), {r['agree']} agree" if "changes" in r else " (trained on it)"))
    print(f"\n   throughput: {L['throughput_reports_per_s']:.0f} reports/s (one core, whole labeler)"
          f"; rules only {L['rules_only_reports_per_s']:.0f} reports/s"
          f"; keyword baseline {L['baseline_reports_per_s']:.0f} reports/s"
          f" (labeler/baseline speed {L['throughput_reports_per_s'] / L['baseline_reports_per_s']:.2f}x)")
    print(f"   de-identification of the same reports: {L['deid_reports_per_s']:.0f} reports/s (one core),"
          f" {L['deid_spans_on_bimcv']} spans (BIMCV reports are already anonymized: residual dates/numbers)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None, help="Also write every figure as JSON here.")
    ap.add_argument("--no-ablation", action="store_true", help="Skip the rule ablation table (about 20 s).")
    ap.add_argument("--model", type=Path, default=None, help="Sentence model to use (default: train one on the rules"
                    " part here, about a minute of CPU).")
    ap.add_argument("--rules-only", action="store_true", help="No sentence model.")
    args = ap.parse_args()
    res = {}
    tsv = args.data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv"
    if tsv.is_file():
        L = res["labeling"] = label_eval(tsv, ablation=not args.no_ablation, model_path=args.model,
                                         learned=not args.rules_only)
        _print_labeling(L)
    for name, docs in (("MEDDOCAN dev", meddocan_docs(args.data / "reports" / "meddocan" / "dev" / "brat")
                        if (args.data / "reports" / "meddocan" / "dev").is_dir() else None),
                       # the rules were tuned on dev's leaks; train is the check that they carry over
                       ("MEDDOCAN train (not used to write rules)",
                        meddocan_docs(args.data / "reports" / "meddocan" / "train" / "brat")
                        if (args.data / "reports" / "meddocan" / "train").is_dir() else None),
                       ("DiSMed samples", dismed_docs(args.data / "reports" / "dismed" / "data")
                        if (args.data / "reports" / "dismed").is_dir() else None)):
        if not docs:
            continue
        D = res[name] = _overlap_eval(docs)
        print(f"\n== De-identification, {name}: {D['docs']} documents")
        for c in CATS:
            d = D["per_category"][c]
            r = "  -  " if d["recall"] is None else f"{d['recall']:.3f}"
            p = "  -  " if d["precision"] is None else f"{d['precision']:.3f}"
            wr = "  -  " if d["word_recall"] is None else f"{d['word_recall']:.3f}"
            print(f"   {c:6s} recall {r} (gold {d['gold']:4d})   precision {p} (predicted {d['predicted']:4d})"
                  f"   word recall {wr}")
        print(f"   ALL    recall {D['recall']:.4f}   precision {D['precision']:.4f}   word recall {D['word_recall']:.4f}"
              f" ({D['words_leaked']} of {D['words']} words of the gold spans left in the text)")
        print(f"   leaks by type: {D['leaks_by_type']}")
        print(f"   throughput: {D['throughput_docs_per_s']:.0f} documents/s (one core)")
    res["deid_worst_case_seconds"] = worst = _worst_cases()
    print("\n== De-identification on 50 KB worst-case inputs (seconds; a regex that backtracks shows here)")
    print("   " + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
