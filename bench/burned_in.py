"""Benchmark the burned-in text check (covidbank.ocr) against Presidio's DICOM image redactor, same set, same run.

The set is built from the real X-rays of ../shared/data (Cohen images; the
DICOM fixtures RSNA, NCCID, WG04 RG1 and highdicom DX):

* **overlay** images: each base image (16-bit; 8-bit sources scaled x257) gets
  a synthetic header (Spanish or English name with or without accents, record
  number, birth and study dates) and those values drawn into its pixels: the
  name (upper, lower or title case, with or without accents, "family, given"
  or "given family"), the record number (bare or labelled NHC/ID/MRN/Nº
  historia), a date in one of eight written forms; plus one harmless marker
  (PORTABLE, AP, L, SUPINE ...).  Cap heights 8-40 px, DejaVu and Liberation
  fonts (sans, serif, mono, regular and bold), corners, edges or over the
  lungs, contrast from strong (white/black) to faint (15% of the image's range
  from the local background), both polarities, 0 or +-3 degrees of rotation.
* **clean** images: the same bases without overlays, with a random header (the
  Cohen figures carry real markers, letters and captions: a real test of false
  positives).

Reported, per tool:

* string recall: a PHI string counts as caught only when every pixel of its
  ink lies inside a redacted box; by cap height (8-12 px, >= 12 px);
* box precision: redacted boxes that touch a PHI string / all redacted boxes;
* residual: redacted overlay images in which an independent reader (Tesseract
  on the whole image, two windows, both polarities) still reads a deny term;
* image-level false positives: clean images with any redaction (and, for
  covidbank, the share put in the review queue);
* CPU seconds per image (this process and its Tesseract children), and per
  2k x 2k image (scaled by pixel count).

Subjects are split in two by a hash of the patient id; the thresholds of
covidbank.ocr were set by looking at a few images of the ``tune`` part (and the
NCCID DICOM); figures are for ``--part test`` unless asked.

    python bench/burned_in.py [--n 60] [--part test] [--no-presidio] [--seed 0] [--timing 6] [--lang eng+spa]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from presidio_peer import presidio_engine, presidio_redact  # bench/: the shared Presidio setup

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

FIRST = ["MARÍA", "José", "ANTONIO", "Lucía", "JOHN", "Mary", "Ángel", "Núria", "Peter", "Íñigo", "Carmen", "Robert"]
FAMILY = ["GARCÍA", "López", "MARTÍNEZ", "Sánchez", "Pérez", "SMITH", "Johnson", "Muñoz", "Fernández", "Brown",
          "Gómez", "Ibáñez", "Williams", "Rodríguez"]
MARKERS = ["PORTABLE", "AP", "L", "R", "SUPINE", "ERECT", "PA", "SEMI-ERECT", "DECUBITUS"]
MONTHS_ES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
             "noviembre", "diciembre"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
CAPS = [8, 9, 10, 11, 12, 14, 16, 20, 24, 30, 40]


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _part(subject: str) -> str:
    return "tune" if int(hashlib.sha1(subject.encode()).hexdigest(), 16) % 2 == 0 else "test"


def load_bases(data: Path, part: str, n: int) -> list[tuple[str, np.ndarray]]:
    """Real X-rays of the chosen part as 16-bit arrays (name, image)."""
    import pandas as pd
    import pydicom
    from PIL import Image

    from covidbank.dicom.convert import xray_to_uint16

    out = []
    dicoms = [p for p in sorted((data / "dicom").glob("*.dcm")) if not p.name.startswith(("ctbrain", "Fake_"))]
    for p in dicoms:
        ds = pydicom.dcmread(p)
        subject = str(ds.get("PatientID", p.name))
        if _part(subject) == part or (part == "tune" and "11129" in p.name):
            if "11129" in p.name and part == "test":
                continue  # looked at while writing the detector
            out.append((f"dicom/{p.name[:24]}", xray_to_uint16(ds)[0]))
    meta = pd.read_csv(data / "cohen" / "metadata.csv")
    meta = meta[(meta.modality == "X-ray") & (meta.folder == "images")]
    rows = [r for r in meta.itertuples() if (data / "cohen" / "images" / r.filename).exists()
            and _part(str(r.patientid)) == part]
    rows.sort(key=lambda r: hashlib.sha1(r.filename.encode()).hexdigest())
    for r in rows:
        if len(out) >= n:
            break
        im = Image.open(data / "cohen" / "images" / r.filename).convert("L")
        if max(im.size) > 2100:
            im.thumbnail((2048, 2048))
        out.append((f"cohen/{r.filename[:24]}", np.asarray(im, dtype=np.uint16) * 257))
    return out[:n]


@dataclass
class Drawn:
    text: str
    phi: bool
    cap: int
    mask: np.ndarray  # ink (bool), image-sized
    box: tuple


@dataclass
class Case:
    name: str
    img: np.ndarray
    header: dict
    strings: list[Drawn] = field(default_factory=list)


def _header(rng) -> dict:
    fam = list(rng.choice(FAMILY, 2, replace=False))
    given = str(rng.choice(FIRST))
    y, m, d = int(rng.integers(2019, 2022)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    by, bm, bd = int(rng.integers(1930, 2000)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return {"family": fam, "given": given, "id": str(rng.integers(10**5, 10**9)),
            "study": (y, m, d), "birth": (by, bm, bd)}


def _texts(h: dict, rng) -> list[tuple[str, bool]]:
    fam, given = h["family"], h["given"]
    style = rng.integers(4)
    name = [f"{' '.join(fam)}, {given}", f"{given} {' '.join(fam)}", f"{' '.join(fam)} {given}",
            f"{fam[0]} {fam[1]}^{given}"][style]
    case = rng.integers(4)
    name = [name.upper(), name.lower(), name.title(), name][case]
    if rng.random() < 0.3:  # written without accents
        import unicodedata
        name = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    ident = str(rng.choice(["{}", "NHC {}", "ID: {}", "MRN {}", "Nº historia {}", "PID {}"])).format(h["id"])
    y, m, d = h["study"] if rng.random() < 0.6 else h["birth"]
    date = [f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}-{MONTHS_EN[m - 1][:3].upper()}-{y}",
            f"{d:02d}.{m:02d}.{y % 100:02d}", f"{MONTHS_EN[m - 1]} {d}, {y}", f"{d} de {MONTHS_ES[m - 1]} de {y}",
            f"{y}{m:02d}{d:02d}", f"{m:02d}/{d:02d}/{y}"][int(rng.integers(8))]
    return [(name, True), (ident, True), (date, True), (str(rng.choice(MARKERS)), False)]


def make_case(name: str, base: np.ndarray, rng, overlay: bool) -> Case:
    from covidbank.ocr.synth import draw_text, system_fonts

    fonts = system_fonts()
    h = _header(rng)
    case = Case(name, base, h)
    if not overlay:
        return case
    img = base.copy()
    H, W = img.shape
    lo, hi = np.percentile(img[::4, ::4], [1, 99])
    rng_range = max(hi - lo, 4000)
    taken: list[tuple] = []
    for text, phi in _texts(h, rng):
        for _ in range(30):
            cap = int(rng.choice(CAPS))
            size = max(8, int(round(cap / 0.73)))
            font = str(rng.choice(fonts))
            angle = float(rng.choice([0, 0, 0, -3, 3, -2, 2]))
            where = rng.choice(["corner", "edge", "lungs"])
            tw, th = int(0.62 * size * len(text)) + 10, int(size * 1.4) + 6
            if tw >= W - 20 or th >= H - 20:
                continue
            if where == "corner":
                x = int(rng.choice([10, W - tw - 10]))
                y = int(rng.choice([10, H - th - 10]))
            elif where == "edge":
                x, y = int(rng.integers(10, W - tw - 9)), int(rng.choice([10, H - th - 10]))
            else:
                x, y = int(rng.integers(W // 5, max(W // 5 + 1, 4 * W // 5 - tw))), int(rng.integers(H // 4, 3 * H // 4))
            if any(x < bx + bw + 8 and bx < x + tw + 8 and y < by + bh + 8 and by < y + th + 8 for bx, by, bw, bh in taken):
                continue
            # legible everywhere along the string: beyond the local background's 5-95% range by 12% of the image's
            p5, p95 = np.percentile(img[y:y + th, x:x + tw], [5, 95])
            strength = float(rng.choice([1.0, 1.0, 0.6, 0.3, 0.15]))
            sides = ["bright", "dark"] if rng.random() < 0.6 else ["dark", "bright"]
            level = None
            for side in sides:
                if strength >= 1.0:
                    cand = 65535.0 if side == "bright" else 0.0
                else:
                    cand = p95 + strength * rng_range if side == "bright" else p5 - strength * rng_range
                cand = float(np.clip(cand, 0, 65535))
                if (side == "bright" and cand >= p95 + 0.12 * rng_range) or (side == "dark" and cand <= p5 - 0.12 * rng_range):
                    level = cand
                    break
            if level is None:
                continue
            img, box = draw_text(img, text, (x, y), size, level, font=font, angle=angle)
            alpha, _ = draw_text(np.zeros((H, W), np.float32), text, (x, y), size, 1.0, font=font, angle=angle)
            case.strings.append(Drawn(text, phi, cap, alpha > 0.5, box))
            taken.append((x, y, tw, th))
            break
    case.img = img
    return case


def deny_of(h: dict):
    from pydicom.dataset import Dataset

    from covidbank.dicom.denylist import DenyList

    ds = Dataset()
    ds.PatientName = f"{' '.join(h['family'])}^{h['given']}"
    ds.PatientID = h["id"]
    ds.StudyDate = "%04d%02d%02d" % h["study"]
    ds.PatientBirthDate = "%04d%02d%02d" % h["birth"]
    return DenyList.from_dataset(ds), ds


def _mask_of(boxes, shape) -> np.ndarray:
    m = np.zeros(shape, bool)
    for x, y, w, h in boxes:
        m[max(0, y):y + h, max(0, x):x + w] = True
    return m


def deny_strings(h: dict) -> list[str]:
    y, m, d = h["study"]
    by, bm, bd = h["birth"]
    return [w for w in h["family"] + [h["given"]] if len(w) >= 4] + [h["id"], f"{d:02d}/{m:02d}/{y}",
                                                                   f"{bd:02d}/{bm:02d}/{by}"]


# --------------------------------------------------------------------------- tools
LANG = "eng"
MISSES = False


def run_covidbank(case: Case):
    from covidbank.ocr.burnedin import check_burned_in

    deny, _ = deny_of(case.header)
    t = cpu()
    res = check_burned_in(case.img, deny, "redact", lang=LANG)
    dt = cpu() - t
    boxes = [(b["x"], b["y"], b["w"], b["h"]) for b in res.redacted]
    out = res.image if res.image is not None else None
    extra = {"action": res.action, "review": bool(res.review), "categories": [b["categories"] for b in res.redacted]}
    if MISSES:  # what the detector read and decided, for the diagnosis of missed strings (not timed)
        from covidbank.ocr.detect import detect_text
        from covidbank.ocr.phi import classify_rows

        lines = detect_text(case.img, lang=LANG, keep_unread=True)
        extra["lines"] = lines
        extra["rows"] = classify_rows(lines, deny)
    return boxes, out, dt, extra


def _as_dicom(case: Case):
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    _, ds = deny_of(case.header)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows, ds.Columns = case.img.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = case.img.astype(np.uint16).tobytes()
    return ds


def run_presidio(case: Case):
    presidio_engine()  # built once, outside the timing
    ds = _as_dicom(case)
    t = cpu()
    red, boxes = presidio_redact(ds)
    dt = cpu() - t
    return boxes, red.pixel_array if boxes else case.img, dt, {}


# --------------------------------------------------------------------------- scoring
@dataclass
class Score:
    caught: dict = field(default_factory=lambda: {"8-12": [0, 0], ">=12": [0, 0]})
    caught90: dict = field(default_factory=lambda: {"8-12": 0, ">=12": 0})
    boxes_true: int = 0
    boxes: int = 0
    residual: int = 0
    redacted_images: int = 0
    clean_fp: int = 0
    clean_review: int = 0
    clean: int = 0
    cpu: list = field(default_factory=list)
    mpix: list = field(default_factory=list)
    overlay_images: int = 0
    excluded: int = 0


def score_overlay(sc: Score, case: Case, boxes, out, dt, extra, check_residual: bool) -> None:
    red = _mask_of(boxes, case.img.shape)
    sc.cpu.append(dt)
    sc.mpix.append(case.img.size / 1e6)
    sc.overlay_images += 1
    for s in case.strings:
        if not s.phi:
            continue
        k = ">=12" if s.cap >= 12 else "8-12"
        sc.caught[k][1] += 1
        sc.caught[k][0] += int(not (s.mask & ~red).any())
        sc.caught90[k] += int((s.mask & red).sum() >= 0.9 * s.mask.sum())
    phi_mask = np.zeros(case.img.shape, bool)
    for s in case.strings:
        if s.phi:
            phi_mask |= s.mask
    for x, y, w, h in boxes:
        sc.boxes += 1
        sc.boxes_true += int(phi_mask[max(0, y):y + h, max(0, x):x + w].any())
    if extra.get("action") == "excluded":
        sc.excluded += 1
        return
    if boxes and check_residual:
        from covidbank.ocr.synth import readable, whole_image_text

        sc.redacted_images += 1
        sc.residual += int(bool(readable(deny_strings(case.header), whole_image_text(out))))


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def miss_reasons(case: Case, boxes, extra) -> list[str]:
    """Why each PHI string of an overlay image was missed (the bench's ``--misses``): one line per string.

    ``excluded`` (the second reading found PHI left), ``no candidate`` (the
    morphology found no text line on it), ``read nothing`` (candidates, no word
    read), ``not matched`` (read, but no row over it was PHI: the text read is
    shown), ``box too small`` (a PHI row over it, ink left outside the boxes:
    the share covered is shown).  The strings are synthetic.
    """
    red = _mask_of(boxes, case.img.shape)
    out = []
    for s in case.strings:
        if not s.phi or not (s.mask & ~red).any():
            continue
        ys, xs = np.nonzero(s.mask)
        ink = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
        lines = [ln for ln in extra.get("lines", []) if _overlaps(ln.box, ink)]
        rows = [f for f in extra.get("rows", []) if f.kind == "phi" and _overlaps(f.box, ink)]
        if extra.get("action") == "excluded":
            why = "excluded"
        elif rows:
            why = f"box too small ({(s.mask & red).sum() / s.mask.sum():.0%} of the ink covered)"
        elif not lines:
            why = "no candidate"
        elif not any(ln.words for ln in lines):
            why = "read nothing"
        else:
            why = "not matched: " + " | ".join(repr(ln.text) for ln in lines if ln.words)
        out.append(f"{case.name} cap {s.cap:>2}: {s.text!r}: {why}")
    return out


def score_clean(sc: Score, case: Case, boxes, dt, extra) -> None:
    sc.clean += 1
    sc.cpu.append(dt)
    sc.mpix.append(case.img.size / 1e6)
    sc.clean_fp += int(bool(boxes))
    sc.clean_review += int(bool(extra.get("review")))


def report(name: str, sc: Score) -> dict:
    def r(k):
        c, n = sc.caught[k]
        return c / n if n else float("nan")
    cpu_img = float(np.mean(sc.cpu)) if sc.cpu else float("nan")
    per_mp = float(np.sum(sc.cpu) / np.sum(sc.mpix)) if sc.cpu else float("nan")
    def r90(k):
        n = sc.caught[k][1]
        return sc.caught90[k] / n if n else float("nan")
    out = {"recall >=12 px": r(">=12"), "recall 8-12 px": r("8-12"),
           "recall >=12 px, 90% of the ink covered": r90(">=12"), "recall 8-12 px, 90% of the ink covered": r90("8-12"),
           "strings": sc.caught[">=12"][1] + sc.caught["8-12"][1],
           "box precision": sc.boxes_true / sc.boxes if sc.boxes else float("nan"),
           "redacted images with a deny term still readable": f"{sc.residual}/{sc.redacted_images}",
           "overlay images excluded after the second OCR": sc.excluded,
           "clean images with a redaction (FP)": sc.clean_fp / sc.clean if sc.clean else float("nan"),
           "clean images put in review": sc.clean_review / sc.clean if sc.clean else float("nan"),
           "CPU s / image": cpu_img, "CPU s / 2k x 2k image": per_mp * 2048 * 2048 / 1e6}
    print(f"\n{name}")
    for k, v in out.items():
        print(f"  {k:<50} {v:.3f}" if isinstance(v, float) else f"  {k:<50} {v}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--n", type=int, default=60,
                    help="base images (each used once with overlays, once clean); 60 gives about 180 PHI strings "
                         "(one string is about 1%% of a recall figure) and 60 clean images (one is 1.7%%), a few "
                         "minutes per tool; each part holds about 85-100")
    ap.add_argument("--part", choices=["test", "tune"], default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--no-residual", action="store_true", help="skip the independent reader (faster)")
    ap.add_argument("--misses", action="store_true",
                    help="list covidbank's missed PHI strings and why (OCR found or read nothing, misread, box too small)")
    ap.add_argument("--lang", default="eng", help="Tesseract languages of covidbank (default eng, as the ingest)")
    ap.add_argument("--timing", type=int, default=0,
                    help="also time both tools on this many bases resized to 2048 x 2048 (with and without overlays)")
    args = ap.parse_args()
    global LANG, MISSES
    LANG, MISSES = args.lang, args.misses
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    load0 = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start")
    from covidbank.ocr.engine import tesseract_info

    print(f"covidbank.ocr with tesseract {tesseract_info().version}, languages {args.lang}")
    rng = np.random.default_rng(args.seed)
    bases = load_bases(args.data, args.part, args.n)
    print(f"{len(bases)} base images ({args.part} part), sizes "
          f"{min(b[1].shape for b in bases)} .. {max(b[1].shape for b in bases)}")
    tools = {"covidbank": run_covidbank}
    if not args.no_presidio:
        try:
            presidio_engine()
            tools["presidio-image-redactor"] = run_presidio
        except Exception as e:  # not installed or not runnable offline
            print(f"presidio-image-redactor not run: {type(e).__name__}: {e}")
    scores = {t: Score() for t in tools}
    misses: list[str] = []
    t0 = time.time()
    for i, (name, base) in enumerate(bases):
        over = make_case(name, base, rng, True)
        clean = make_case(name, base, rng, False)
        for t, fn in tools.items():
            boxes, out, dt, extra = fn(over)
            score_overlay(scores[t], over, boxes, out, dt, extra, not args.no_residual)
            if MISSES and t == "covidbank":
                misses += miss_reasons(over, boxes, extra)
            boxes, _, dt, extra = fn(clean)
            score_clean(scores[t], clean, boxes, dt, extra)
            if MISSES and t == "covidbank" and boxes:
                misses.append(f"{name} clean image redacted: {extra['categories']}")
        print(f"  {i + 1}/{len(bases)} {name} {base.shape} ({time.time() - t0:.0f} s)", file=sys.stderr)
    res = {t: report(t, s) for t, s in scores.items()}
    if MISSES:
        print(f"\ncovidbank's missed PHI strings and redacted clean images ({len(misses)})")
        for m in misses:
            print("  " + m)
    if args.timing:
        from PIL import Image

        print(f"\nCPU seconds per 2048 x 2048 image ({args.timing} bases resized, each with and without overlays)")
        for t, fn in tools.items():
            secs = []
            trng = np.random.default_rng(args.seed + 1)
            for name, base in bases[:args.timing]:
                big = np.asarray(Image.fromarray(base).resize((2048, 2048), Image.BICUBIC))
                for overlay in (True, False):
                    secs.append(fn(make_case(name, big, trng, overlay))[2])
            res[t]["CPU s / 2048x2048 image (measured)"] = float(np.mean(secs))
            print(f"  {t:<30} {np.mean(secs):.3f} s (median {np.median(secs):.3f}, max {np.max(secs):.3f})")
    if len(res) == 2:
        a, b = res["covidbank"], res["presidio-image-redactor"]
        print("\ncovidbank / presidio")
        for k in ("recall >=12 px", "recall 8-12 px", "recall >=12 px, 90% of the ink covered",
                  "recall 8-12 px, 90% of the ink covered", "box precision"):
            print(f"  {k:<50} {a[k] / b[k]:.2f}x" if b[k] else f"  {k:<50} presidio 0")
        print(f"  {'CPU s / image (presidio / covidbank)':<50} {b['CPU s / image'] / a['CPU s / image']:.2f}x")
    load1 = os.getloadavg()
    print(f"\nload {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at the end; {time.time() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
