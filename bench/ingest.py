"""Benchmark `covidbank ingest` against the peer tools a curator would otherwise chain.

Peers, on the same corpus in the same run:
  * X-ray: dicognito (de-identification) + pydicom (modality/VOI LUT) + Pillow (16-bit PNG);
  * CT:    dicognito (de-identification, written back as DICOM) + dcm2niix (NIfTI).

covidbank does more per file (Basic Profile row by row with audit, sidecars,
MIDS layout, index), so the ratio is the price (or gain) of doing it in one tool.

Corpus: the real files of ../shared/data (X-ray DICOMs, TotalSegmentator CT
series, COVID-19-NY-SBU and lungmask CT slices), copied ``--copies`` times into a
temporary folder with new UIDs and patient ids (so every copy is a new patient),
or any folder given with ``--corpus``.

Prints files/s per tool, the ratios, and the parallel efficiency of covidbank at
1 and 2 workers (speed-up / workers).

    /work/venv/bin/python bench/ingest.py [--copies 3] [--corpus DIR] [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def build_corpus(data: Path, out: Path, copies: int) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    xray = [p for p in sorted((data / "dicom").glob("*.dcm")) if not p.name.startswith(("ctbrain", "Fake_"))]
    ct_dirs = [data / "ct" / "totalsegmentator" / "example_ct_dicom", data / "ct" / "lungmask-slices",
               data / "ct" / "covid19-ny-sbu-slices"]
    for c in range(copies):
        uid_map: dict[str, str] = {}

        def new(uid):
            uid = str(uid)
            if uid not in uid_map:
                uid_map[uid] = generate_uid()
            return uid_map[uid]

        def rewrite(src: Path, dst: Path):
            ds = pydicom.dcmread(src)
            for kw in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
                if kw in ds:
                    setattr(ds, kw, new(getattr(ds, kw)))
            if hasattr(ds, "file_meta") and "SOPInstanceUID" in ds:
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = f"BENCH{c}-{ds.get('PatientID', 'x')}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(dst)

        for p in xray:
            rewrite(p, out / "xray" / f"c{c}" / p.name)
        for d in ct_dirs:
            for p in sorted(d.rglob("*")):
                if p.is_file() and not p.name.startswith(("LICENSE", "data-readme")) and p.suffix not in (".md", ".txt"):
                    rewrite(p, out / "ct" / f"c{c}" / d.name / p.relative_to(d))


def peer_xray(files: list[Path], out: Path) -> None:
    import numpy as np
    import pydicom
    from dicognito.anonymizer import Anonymizer
    from PIL import Image
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    anon = Anonymizer()
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        anon.anonymize(ds)
        arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype("float64")
        lo, hi = float(arr.min()), float(arr.max())
        img = ((arr - lo) / max(hi - lo, 1e-9) * 65535).astype(np.uint16)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            img = 65535 - img
        Image.fromarray(img).save(out / f"{i}.png")


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--corpus", type=Path, help="use this folder (with xray/ and ct/ sub-folders) as the corpus")
    args = ap.parse_args()
    from covidbank.dicom.ingest import ingest

    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    work = Path(tempfile.mkdtemp(prefix="covidbank-bench-"))
    try:
        corpus = args.corpus or work / "corpus"
        if not args.corpus:
            build_corpus(args.data, corpus, args.copies)
        xfiles = sorted(p for p in (corpus / "xray").rglob("*") if p.is_file())
        cdirs = sorted({p.parent for p in (corpus / "ct").rglob("*") if p.is_file()})
        cfiles = sum(1 for d in cdirs for p in d.iterdir() if p.is_file())
        n = len(xfiles) + cfiles
        print(f"corpus: {len(xfiles)} X-ray files, {cfiles} CT files in {len(cdirs)} folders "
              f"({n} files); machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")

        def timed(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        key = work / "bench.key"
        res = {}
        for name, sub in (("xray", "xray"), ("ct", "ct")):
            for w in (1, 2):
                bank = work / f"bank-{name}-{w}"
                res[(name, w)] = timed(lambda: ingest(corpus / sub, bank, key_file=key, new_key=True, workers=w, follow_symlinks=True))
        px = work / "peer-x"
        px.mkdir()
        t_px = timed(lambda: peer_xray(xfiles, px))
        pc = work / "peer-ct"
        pc.mkdir()
        t_pc = timed(lambda: peer_ct(cdirs, pc, dcm2niix))
        print(f"\n{'task':<8}{'tool':<36}{'seconds':>9}{'files/s':>10}{'ratio':>8}")
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
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
