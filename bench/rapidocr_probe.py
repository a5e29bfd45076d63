"""Feasibility probe: would RapidOCR (PP-OCR det/cls/rec, ONNX) catch the burned-in strings covidbank.ocr misses?

Not part of the project: needs ``pip install rapidocr-onnxruntime`` in the venv (not a project dependency).
Only the ``tune`` part of bench/burned_in.py is used.

    PYTHONPATH=src python bench/rapidocr_probe.py misses /tmp/s10/tuneB*.txt   # missed strings, one case each
    PYTHONPATH=src python bench/rapidocr_probe.py clean --seed 3 --every 2      # clean bases: boxes and PHI read
    PYTHONPATH=src python bench/rapidocr_probe.py cpu --k 4                     # CPU s per 2k x 2k image, 1 thread

The miss lists are the ``--misses`` output of bench/burned_in.py (lines under "covidbank's missed PHI strings");
each case is rebuilt exactly (``default_rng(seed)``, every base in order, overlay then clean).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import burned_in as B  # noqa: E402  (bench/)

MARGIN = 40


def engine(threads: int = 1, **kw):
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, **kw)


LAST_ELAPSE: list = []


def missed_cases(misses, bases):
    """Each missed string's case rebuilt: (overlay case, drawn string, deny matcher, 8-bit image)."""
    from covidbank.ocr import phi
    from covidbank.ocr.detect import window_to_uint8

    for seed in sorted({m[0] for m in misses}):
        want = [m for m in misses if m[0] == seed]
        for over, _ in cases_of(seed, bases):
            for _, name, cap, text in want:
                if over.name != name:
                    continue
                for s in over.strings:
                    if s.phi and s.text == text and s.cap == cap:
                        yield over, s, phi._DenyMatcher(B.deny_of(over.header)[0]), window_to_uint8(over.img)


def run(eng, g: np.ndarray, box_thresh: float = 0.5):
    """[(quad (4x2 float), text, score)] with every recognised box kept (text_score 0)."""
    res, el = eng(g, box_thresh=box_thresh, unclip_ratio=1.6, text_score=0.0)
    LAST_ELAPSE[:] = el or []
    return [(np.asarray(b, float), str(t), float(s)) for b, t, s in (res or [])]


def quad_mask(quads, shape, off=(0, 0)) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    for q in quads:
        cv2.fillPoly(m, [np.round(q + np.array(off)).astype(np.int32)], 1)
    return m.astype(bool)


def cases_of(seed: int, bases):
    rng = np.random.default_rng(seed)
    for name, base in bases:
        over = B.make_case(name, base, rng, True)
        clean = B.make_case(name, base, rng, False)
        yield over, clean


def parse_misses(paths):
    out = []  # (seed, name, cap, text)
    for p in paths:
        seed = int(re.search(r"(\d+)\.txt$", p).group(1))
        on = False
        for line in open(p, encoding="utf-8"):
            if "missed PHI strings" in line:
                on = True
                continue
            m = re.match(r"\s+(\S+) cap\s+(\d+): ('.*?'|\".*?\"): ", line) if on else None
            if m:
                out.append((seed, m.group(1), int(m.group(2)), ast.literal_eval(m.group(3))))
    return out


def judge(dets, s, deny_m, off, shape):
    """Boxes over the string's ink: coverage by all boxes, their text, PHI categories, coverage by PHI boxes."""
    from covidbank.ocr import phi

    ink = s.mask
    over = []
    for q, t, sc in dets:
        mq = quad_mask([q], shape, off)
        if (mq & ink).any():
            over.append((q, t, sc, mq))
    cov = float((np.logical_or.reduce([o[3] for o in over]) & ink).sum() / ink.sum()) if over else 0.0
    over.sort(key=lambda o: o[0][:, 0].min())
    texts = [(o[1], round(o[2], 2)) for o in over]
    phi_boxes, cats = [], set()
    for q, t, sc, mq in over:
        c = deny_m.categories(t) | phi._generic(t)
        if c:
            phi_boxes.append(mq)
            cats |= c
    joined = " ".join(o[1] for o in over)
    cats_joined = deny_m.categories(joined) | phi._generic(joined) if over else set()
    phicov = float((np.logical_or.reduce(phi_boxes) & ink).sum() / ink.sum()) if phi_boxes else 0.0
    return {"cov": cov, "texts": texts, "cats": sorted(cats | cats_joined), "phicov": phicov}


def cmd_misses(args):
    misses = parse_misses(args.files)
    bases = B.load_bases(Path(os.environ["COVIDBANK_SHARED_DATA"]), "tune", 200)
    eng = engine(args.threads)
    print(f"{len(misses)} missed strings; load {os.getloadavg()}", flush=True)
    tally = {}
    for over, s, dm, g in missed_cases(misses, bases):
        H, W = g.shape
        x, y, w, h = s.box
        x0, y0 = max(0, x - MARGIN), max(0, y - MARGIN)
        crop = g[y0:y + h + MARGIN, x0:x + w + MARGIN]
        row = {}
        if args.scale != 1.0:  # whole image only, reduced (as a 2k image read at 1k would be)
            import cv2

            gs = cv2.resize(g, (round(W * args.scale), round(H * args.scale)), interpolation=cv2.INTER_AREA)
            for pol in ("pos", "neg"):
                d = run(eng, gs if pol == "pos" else 255 - gs, args.box_thresh)
                d = [(q / args.scale, t, sc) for q, t, sc in d]
                row[f"x{args.scale}-{pol}"] = judge(d, s, dm, (0, 0), (H, W))
        for where, im, off in (("whole", g, (0, 0)), ("crop", crop, (x0, y0))) if args.scale == 1.0 else ():
            for pol in ("pos", "neg"):
                d = run(eng, im if pol == "pos" else 255 - im, args.box_thresh)
                row[f"{where}-{pol}"] = judge(d, s, dm, off, (H, W))
        print(f"\nseed {seed} {name} cap {cap} {text!r} ({W}x{H})", flush=True)
        for k, r in row.items():
            ok = "CAUGHT" if r["phicov"] >= 0.999 else ("phi-partial" if r["phicov"] > 0 else "")
            print(f"  {k:10s} ink cov {r['cov']:.2f} phi cov {r['phicov']:.2f} cats {r['cats']} "
                  f"read {r['texts']} {ok}")
            t = tally.setdefault(k, [0, 0, 0, 0, 0])
            t[0] += 1
            t[1] += r["cov"] >= 0.9
            t[2] += bool(r["texts"])
            t[3] += bool(r["cats"])
            t[4] += r["phicov"] >= 0.999
    print("\nmode: strings / box over >=90% ink / any text read / text PHI by matcher / all ink in PHI boxes")
    for k, t in tally.items():
        print(f"  {k:10s} {t}")
    print(f"load {os.getloadavg()}")


def rec_candidates(eng, img, g, lang):
    """Hybrid: covidbank's candidate lines (read or not by Tesseract), each re-read by RapidOCR's recogniser only
    (no det), dark text on light.  [(box, text, score)], rec CPU seconds."""
    from covidbank.ocr.detect import detect_text

    out, t = [], 0.0
    for ln in detect_text(img, lang=lang, keep_unread=True):
        x, y, w, h = ln.box
        pad = max(4, h // 2)
        c = g[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]
        if ln.polarity == "bright":
            c = 255 - c
        t0 = time.process_time()
        res, _ = eng(c, use_det=False, use_cls=False)
        t += time.process_time() - t0
        for txt, sc in res or []:
            out.append((ln.box, str(txt), float(sc)))
    return out, t


def cmd_hybrid(args):
    from covidbank.ocr import phi

    misses = parse_misses(args.files)
    bases = B.load_bases(Path(os.environ["COVIDBANK_SHARED_DATA"]), "tune", 200)
    eng = engine(args.threads)
    print(f"hybrid (covidbank candidates, RapidOCR rec): {len(misses)} missed strings; load {os.getloadavg()}", flush=True)
    n = read = matched = caught = 0
    for over, s, dm, g in missed_cases(misses, bases):
        recs, t = rec_candidates(eng, over.img, g, B.LANG)
        on = [(b, tx, sc) for b, tx, sc in recs if s.mask[b[1]:b[1] + b[3], b[0]:b[0] + b[2]].any()]
        red = np.zeros(s.mask.shape, bool)
        cats = set()
        for (x, y, w, h), tx, sc in on:
            c = dm.categories(tx) | phi._generic(tx)
            if c:
                cats |= c
                red[y:y + h, x:x + w] = True
        cov = (s.mask & red).sum() / s.mask.sum()
        n += 1
        read += bool(on)
        matched += bool(cats)
        caught += cov >= 0.999
        print(f"seed {seed} {name} cap {cap} {text!r}: {len(recs)} candidates ({t:.2f} s rec CPU); "
              f"on the string: {[(tx, round(sc, 2)) for _, tx, sc in on]} cats {sorted(cats)} "
              f"PHI box ink cov {cov:.2f}", flush=True)
    print(f"\n{n} strings: candidate re-read {read}, PHI by matcher {matched}, all ink in PHI candidate boxes {caught}; "
          f"load {os.getloadavg()}")


def cmd_clean(args):
    from covidbank.ocr import phi
    from covidbank.ocr.detect import window_to_uint8

    bases = B.load_bases(Path(os.environ["COVIDBANK_SHARED_DATA"]), "tune", 200)
    eng = engine(args.threads)
    n = fp = fp_conf = nboxes = 0
    print(f"load {os.getloadavg()}", flush=True)
    for i, (_, clean) in enumerate(cases_of(args.seed, bases)):
        if i % args.every:
            continue
        deny, _ = B.deny_of(clean.header)
        dm = phi._DenyMatcher(deny)
        g = window_to_uint8(clean.img)
        n += 1
        hits = []
        for pol in ("pos", "neg"):
            for q, t, sc in run(eng, g if pol == "pos" else 255 - g, args.box_thresh):
                nboxes += 1
                c = dm.categories(t) | phi._generic(t)
                if c:
                    hits.append((pol, t, round(sc, 2), sorted(c)))
        fp += bool(hits)
        fp_conf += any(h[2] >= 0.5 for h in hits)
        print(f"{i + 1:3d} {clean.name[:30]:30s} {g.shape} PHI read: {hits}", flush=True)
    print(f"\n{n} clean images, {nboxes} boxes (both polarities), images with PHI read: {fp} "
          f"({fp / n:.0%}); with rec score >= 0.5: {fp_conf} ({fp_conf / n:.0%}); load {os.getloadavg()}")


def cmd_cpu(args):
    import cv2

    from covidbank.ocr.detect import window_to_uint8

    bases = B.load_bases(Path(os.environ["COVIDBANK_SHARED_DATA"]), "tune", 200)
    rng = np.random.default_rng(0)
    # the image itself is reduced (det and rec): the library ignores det_limit_side_len with limit_type "max"
    kw = {"max_side_len": args.det_max} if args.det_max else {}
    eng = engine(args.threads, **kw)
    picks = [bases[i] for i in np.linspace(0, len(bases) - 1, args.k).astype(int)]
    run(eng, np.zeros((64, 64), np.uint8))  # warm
    print(f"threads {args.threads}; load {os.getloadavg()}", flush=True)
    tot = []
    for name, base in picks:
        over = B.make_case(name, base, rng, True)
        g = cv2.resize(window_to_uint8(over.img), (args.size, args.size), interpolation=cv2.INTER_LINEAR)
        for pol in ("pos", "neg"):
            t0, w0 = time.process_time(), time.perf_counter()
            c0 = os.times()
            d = run(eng, g if pol == "pos" else 255 - g, args.box_thresh)
            c1 = os.times()
            dt = time.process_time() - t0 + (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
            tot.append(dt)
            print(f"  {name[:30]:30s} {pol}: {dt:.2f} s CPU, {time.perf_counter() - w0:.2f} s wall, {len(d)} boxes; wall det/cls/rec {[round(e, 2) for e in LAST_ELAPSE]}",
                  flush=True)
    print(f"size {args.size}, det max side {args.det_max or 'full'}: CPU per image per polarity: median {np.median(tot):.2f} s, mean {np.mean(tot):.2f} s; "
          f"load {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["misses", "clean", "cpu", "hybrid"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--det-max", type=int, default=0)
    ap.add_argument("--box-thresh", type=float, default=0.5)
    args = ap.parse_args()
    {"misses": cmd_misses, "clean": cmd_clean, "cpu": cmd_cpu, "hybrid": cmd_hybrid}[args.mode](args)


if __name__ == "__main__":
    main()
