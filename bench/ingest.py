"""Benchmark `covidbank ingest` against the peer tools a curator would otherwise chain.

Peers, on the same corpus in the same run:
  * X-ray: dicognito (de-identification) + pydicom (modality/VOI LUT) + Pillow (16-bit PNG);
  * X-ray with pixel screening: Presidio's DicomImageRedactorEngine (Tesseract OCR, the
    header-derived deny list, redaction; set up as in bench/presidio_peer.py) before dicognito,
    then pydicom + Pillow as above;
  * CT:    dicognito (de-identification, written back as DICOM) + dcm2niix (NIfTI).

covidbank does more per file (Basic Profile row by row with audit, sidecars,
MIDS layout, index), so the ratio is the price (or gain) of doing it in one tool.
Its X-ray ingest also screens every image for burned-in text (OCR, redaction, a
second OCR of the redacted image), which the first X-ray peer does not do; so two
comparisons are printed: (a) the peers without pixel screening, (b) with Presidio's
(skipped, with a note, when presidio-image-redactor is not importable).  Tesseract
runs on one thread on both sides (OMP_THREAD_LIMIT=1, as covidbank's ingest sets it).

Corpus: the real files of ../shared/data (X-ray DICOMs, TotalSegmentator CT
series, COVID-19-NY-SBU and lungmask CT slices), copied ``--copies`` times into a
temporary folder with new UIDs and patient ids (so every copy is a new patient),
or any folder given with ``--corpus``.

Prints what each side wrote (X-ray PNGs, CT NIfTI slices: the bench stops if
either side converted fewer files than the corpus holds), files/s per tool
(medians of ``--repeat`` interleaved runs), the ratios, covidbank's rate as a
fraction of pydicom's read + decode rate, the parallel efficiency at 1 and 2
workers (speed-up / workers) and the load average; then the same comparisons in
CPU seconds (each tool's process and children), which a loaded shared machine
moves much less than wall time.

    /work/venv/bin/python bench/ingest.py [--copies 3] [--repeat 3] [--corpus DIR] [--data ../shared/data] [--no-presidio]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def build_corpus(data: Path, out: Path, copies: int) -> None:
    """Copy the real files ``copies`` times with new UIDs and patient ids.

    Every file gets its own new SOP Instance UID (never one per old UID: the
    TotalSegmentator series has empty SOP and Series UIDs in all 20 files, and
    mapping old -> new would give all 20 slices one SOP UID, so ingest would keep
    one slice and skip 19 as duplicates).  Series, Study and Frame of Reference
    UIDs are mapped old -> new within a copy; an empty one becomes one new UID
    per source folder, so a folder of slices stays one series.
    """
    import pydicom
    from pydicom.uid import generate_uid

    xray = [p for p in sorted((data / "dicom").glob("*.dcm")) if not p.name.startswith(("ctbrain", "Fake_"))]
    ct_dirs = [data / "ct" / "totalsegmentator" / "example_ct_dicom", data / "ct" / "lungmask-slices",
               data / "ct" / "covid19-ny-sbu-slices"]
    for c in range(copies):
        uid_map: dict[tuple[str, str], str] = {}

        def new(kw: str, uid: object, folder: Path) -> str:
            uid = str(uid or "").strip()
            k = (kw, uid) if uid else (kw, f"empty:{folder}")
            if k not in uid_map:
                uid_map[k] = generate_uid()
            return uid_map[k]

        def rewrite(src: Path, dst: Path):
            ds = pydicom.dcmread(src)
            ds.SOPInstanceUID = generate_uid()  # one per file, always
            for kw in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
                if kw in ds or kw != "FrameOfReferenceUID":
                    setattr(ds, kw, new(kw, ds.get(kw), src.parent))
            if hasattr(ds, "file_meta"):
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = f"BENCH{c}-{ds.get('PatientID') or src.parent.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(dst)

        for p in xray:
            rewrite(p, out / "xray" / f"c{c}" / p.name)
        for d in ct_dirs:
            for p in sorted(d.rglob("*")):
                if p.is_file() and not p.name.startswith(("LICENSE", "data-readme")) and p.suffix not in (".md", ".txt"):
                    rewrite(p, out / "ct" / f"c{c}" / d.name / p.relative_to(d))


def count_outputs(folder: Path) -> tuple[int, int]:
    """PNG files and NIfTI slices (product of the dimensions past the second) under ``folder``."""
    import nibabel as nib

    pngs = sum(1 for _ in folder.rglob("*.png"))
    slices = 0
    for f in folder.rglob("*.nii*"):
        shape = nib.load(f).shape
        n = 1
        for d in shape[2:]:
            n *= d
        slices += n
    return pngs, slices


def peer_xray(files: list[Path], out: Path, screen: bool = False) -> int:
    """dicognito + pydicom + Pillow; with ``screen``, Presidio's pixel redaction first (on the original
    header, whose values it looks for in the pixels). Returns the number of images Presidio redacted."""
    import numpy as np
    import pydicom
    from dicognito.anonymizer import Anonymizer
    from PIL import Image
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    if screen:
        from presidio_peer import presidio_redact  # bench/: the Presidio setup of bench/burned_in.py

    anon = Anonymizer()
    redacted = 0
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        if screen:
            ds, boxes = presidio_redact(ds)
            redacted += bool(boxes)
        anon.anonymize(ds)
        arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype("float64")
        lo, hi = float(arr.min()), float(arr.max())
        img = ((arr - lo) / max(hi - lo, 1e-9) * 65535).astype(np.uint16)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            img = 65535 - img
        Image.fromarray(img).save(out / f"{i}.png")
    return redacted


def peer_ct(dirs: list[Path], out: Path, dcm2niix: str) -> None:
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anon = Anonymizer()
    for j, d in enumerate(dirs):
        tmp = out / f"deid{j}"
        tmp.mkdir()
        for i, f in enumerate(sorted(p for p in d.rglob("*") if p.is_file())):
            ds = pydicom.dcmread(f)
            anon.anonymize(ds)
            ds.save_as(tmp / f"{i}.dcm")
        nii = out / f"nii{j}"
        nii.mkdir()
        subprocess.run([dcm2niix, "-z", "y", "-o", str(nii), str(tmp)], check=True, capture_output=True)


def read_decode(files: list[Path]) -> None:
    """What pydicom alone costs: read every file and decode its pixels (the floor of any converter)."""
    import pydicom

    for f in files:
        _ = pydicom.dcmread(f).pixel_array


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")),
                    help="the shared real data (default $COVIDBANK_SHARED_DATA or ../shared/data)")
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool (medians are printed)")
    ap.add_argument("--corpus", type=Path, help="use this folder (with xray/ and ct/ sub-folders) as the corpus")
    ap.add_argument("--no-presidio", action="store_true", help="skip the X-ray peer with Presidio's pixel screening")
    args = ap.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one thread per Tesseract on both sides (covidbank sets the same)
    presidio = None
    if not args.no_presidio:
        try:
            from presidio_peer import presidio_engine

            presidio_engine()  # built once, outside the timing (a curator keeps one engine)
            presidio = True
        except Exception as e:  # not installed or not runnable offline
            presidio = f"{type(e).__name__}: {e}"
    from covidbank.dicom.ingest import ingest

    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    work = Path(tempfile.mkdtemp(prefix="covidbank-bench-"))
    try:
        corpus = args.corpus or work / "corpus"
        if not args.corpus:
            if not (args.data / "dicom").is_dir():
                raise SystemExit(f"{args.data}: no shared data here (set --data or COVIDBANK_SHARED_DATA)")
            build_corpus(args.data, corpus, args.copies)
        xfiles = sorted(p for p in (corpus / "xray").rglob("*") if p.is_file())
        cdirs = sorted({p.parent for p in (corpus / "ct").rglob("*") if p.is_file()})
        cfiles = sum(1 for d in cdirs for p in d.iterdir() if p.is_file())
        n = len(xfiles) + cfiles
        print(f"corpus: {len(xfiles)} X-ray files, {cfiles} CT files in {len(cdirs)} folders "
              f"({n} files); machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              "load at the start: {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()))

        cpu_runs: dict = {}

        def cpu_now() -> float:
            """CPU seconds of this process and of its children waited for (pool workers, dcm2niix, Tesseract)."""
            a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

        def timed(fn, name=None):
            c0, t0 = cpu_now(), time.perf_counter()
            fn()
            if name is not None:
                cpu_runs.setdefault(name, []).append(cpu_now() - c0)
            return time.perf_counter() - t0

        def fresh(path: Path) -> Path:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            return path

        key = work / "bench.key"
        runs: dict = {}
        summaries: dict = {}
        screened: list[int] = []
        px, pxs, pc = work / "peer-x", work / "peer-x-presidio", work / "peer-ct"
        # rounds interleave the tools so a change of machine load hits all of them alike; medians reported
        for _ in range(args.repeat):
            for name in ("xray", "ct"):
                for w in (1, 2):
                    bank = work / f"bank-{name}-{w}"
                    shutil.rmtree(bank, ignore_errors=True)

                    def run(name=name, bank=bank, w=w) -> None:
                        summaries[(name, w)] = ingest(corpus / name, bank, key_file=key, new_key=True, workers=w,
                                                      follow_symlinks=True)
                    runs.setdefault((name, w), []).append(timed(run, (name, w)))
            runs.setdefault("peer-x", []).append(timed(lambda: peer_xray(xfiles, fresh(px)), "peer-x"))
            if presidio is True:
                runs.setdefault("peer-xp", []).append(
                    timed(lambda: screened.append(peer_xray(xfiles, fresh(pxs), screen=True)), "peer-xp"))
            runs.setdefault("peer-ct", []).append(timed(lambda: peer_ct(cdirs, fresh(pc), dcm2niix), "peer-ct"))
            runs.setdefault("decode", []).append(timed(lambda: read_decode(xfiles + [f for d in cdirs for f in sorted(d.iterdir())]),
                                                       "decode"))
        res = {k: statistics.median(v) for k, v in runs.items()}
        t_px, t_pc = res["peer-x"], res["peer-ct"]
        # what each side produced: both must have converted every input file (X-ray: one PNG
        # per file; CT: one NIfTI slice per file), or the ratio compares different work
        counts = {("xray", w): count_outputs(work / f"bank-xray-{w}") for w in (1, 2)}
        counts |= {("ct", w): count_outputs(work / f"bank-ct-{w}") for w in (1, 2)}
        peer_x, peer_c = count_outputs(px), count_outputs(pc)
        peer_xs = count_outputs(pxs) if presidio is True else None
        print(f"\ninputs: X-ray {len(xfiles)} files, CT {cfiles} files")
        print(f"X-ray PNGs written: peers {peer_x[0]}, "
              + (f"peers with Presidio {peer_xs[0]}, " if peer_xs else "") + ", ".join(
            f"covidbank --workers {w} {counts[('xray', w)][0]}" for w in (1, 2)))
        print(f"CT NIfTI slices written: peers {peer_c[1]}, " + ", ".join(
            f"covidbank --workers {w} {counts[('ct', w)][1]} (+{counts[('ct', w)][0]} PNG)" for w in (1, 2)))
        xsides = [("peers", peer_x[0])] + ([("peers with Presidio", peer_xs[0])] if peer_xs else [])
        bad = [f"X-ray {name}: {got} PNGs for {len(xfiles)} files"
               for name, got in xsides + [(f"covidbank --workers {w}", counts[("xray", w)][0]) for w in (1, 2)]
               if got != len(xfiles)]
        bad += [f"CT {name}: {got} slices for {cfiles} files"
                for name, got in [("peers", peer_c[1])] + [(f"covidbank --workers {w}", counts[("ct", w)][1] + counts[("ct", w)][0])
                                                          for w in (1, 2)]
                if got != cfiles]
        if bad:
            raise SystemExit("counts differ, the comparison is not fair: " + "; ".join(bad))
        if presidio is True:
            print(f"X-ray images with burned-in text redacted (last run): Presidio {screened[-1]} of {len(xfiles)}; "
                  + ", ".join(f"covidbank --workers {w} " + (", ".join(f"{k} {v}" for k, v in sorted(summaries[('xray', w)].burned_in.items()))
                                                             or "none") for w in (1, 2)))
        print("\n(a) peers without pixel screening")
        print(f"{'task':<8}{'tool':<36}{'seconds':>9}{'files/s':>10}{'ratio':>8}")
        for name, nfiles, t_peer, peer in (("X-ray", len(xfiles), t_px, "dicognito + pydicom + Pillow"),
                                           ("CT", cfiles, t_pc, "dicognito + dcm2niix")):
            key_ = "xray" if name == "X-ray" else "ct"
            print(f"{name:<8}{peer:<36}{t_peer:>9.2f}{nfiles / t_peer:>10.1f}{1.0:>8.2f}")
            for w in (1, 2):
                t = res[(key_, w)]
                print(f"{'':<8}{f'covidbank ingest --workers {w}':<36}{t:>9.2f}{nfiles / t:>10.1f}{t_peer / t:>8.2f}")
        tot1 = res[("xray", 1)] + res[("ct", 1)]
        tot2 = res[("xray", 2)] + res[("ct", 2)]
        print(f"\nall files: covidbank 1 worker {n / tot1:.1f} files/s, 2 workers {n / tot2:.1f} files/s; "
              f"peers {n / (t_px + t_pc):.1f} files/s; ratio (covidbank 1 worker / peers) {(t_px + t_pc) / tot1:.2f}")
        print(f"parallel efficiency: 1 worker 1.00, 2 workers {tot1 / tot2 / 2:.2f} (speed-up {tot1 / tot2:.2f})")
        print(f"pydicom read + decode of every file (the decode limit): {n / res['decode']:.1f} files/s; "
              f"covidbank 1 worker is {res['decode'] / tot1:.2f} of it")
        cpu = {k: statistics.median(v) for k, v in cpu_runs.items()}
        # CPU seconds (processes and their children) move much less with the machine's load than wall time:
        # the ratio of CPU seconds is what the tools cost, whoever else runs
        print("\nCPU seconds (this process and its children; medians): "
              f"X-ray peers {cpu['peer-x']:.2f}, covidbank 1 worker {cpu[('xray', 1)]:.2f}, 2 workers {cpu[('xray', 2)]:.2f}; "
              f"CT peers {cpu['peer-ct']:.2f}, covidbank 1 worker {cpu[('ct', 1)]:.2f}, 2 workers {cpu[('ct', 2)]:.2f}; "
              f"pydicom read + decode {cpu['decode']:.2f}")
        c1 = cpu[("xray", 1)] + cpu[("ct", 1)]
        print(f"CPU-second ratios (peers / covidbank 1 worker): X-ray {cpu['peer-x'] / cpu[('xray', 1)]:.2f}, "
              f"CT {cpu['peer-ct'] / cpu[('ct', 1)]:.2f}, all {(cpu['peer-x'] + cpu['peer-ct']) / c1:.2f}; "
              f"decode limit fraction {cpu['decode'] / c1:.2f}; "
              f"CPU at 2 workers / 1 worker {(cpu[('xray', 2)] + cpu[('ct', 2)]) / c1:.2f}")
        if presidio is True:
            # the same comparison with a peer that does the pixel screening covidbank does (OCR, deny list, redaction)
            t_pxs = res["peer-xp"]
            peer_name = "dicognito + Presidio + pydicom + Pillow"
            print("\n(b) peers with Presidio's pixel screening (X-ray: Presidio's DicomImageRedactorEngine before dicognito)")
            print(f"{'task':<8}{'tool':<44}{'seconds':>9}{'files/s':>10}{'ratio':>8}{'CPU s':>9}{'CPU ratio':>11}")
            for name, nfiles, t_peer, c_peer, peer, key_ in (
                    ("X-ray", len(xfiles), t_pxs, cpu["peer-xp"], peer_name, "xray"),
                    ("CT", cfiles, t_pc, cpu["peer-ct"], "dicognito + dcm2niix", "ct"),
                    ("all", n, t_pxs + t_pc, cpu["peer-xp"] + cpu["peer-ct"], "the two peers above", None)):
                print(f"{name:<8}{peer:<44}{t_peer:>9.2f}{nfiles / t_peer:>10.1f}{1.0:>8.2f}{c_peer:>9.2f}{1.0:>11.2f}")
                for w in (1, 2):
                    t = res[(key_, w)] if key_ else res[("xray", w)] + res[("ct", w)]
                    c = cpu[(key_, w)] if key_ else cpu[("xray", w)] + cpu[("ct", w)]
                    print(f"{'':<8}{f'covidbank ingest --workers {w}':<44}{t:>9.2f}{nfiles / t:>10.1f}{t_peer / t:>8.2f}"
                          f"{c:>9.2f}{c_peer / c:>11.2f}")
            print("ratio: peer seconds / covidbank seconds (above 1: covidbank faster); CPU s: process and children, medians")
        else:
            print(f"\n(b) peers with Presidio's pixel screening: not run ({presidio or '--no-presidio'})")
        print(f"medians of {args.repeat} runs; load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
