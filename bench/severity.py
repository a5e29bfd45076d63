"""Benchmark and accuracy figures of covidbank.severity on the real data in ../shared/data.

Prints (never asserts):

* runtime of ``assess`` on a 512x512x300 chest CT generated from the two real
  LIDC slices of ``ct/lungmask-slices`` (lungs shrunk toward apex and base,
  a ground-glass ball added), against a plain threshold + largest-components
  baseline on the same volume (ratio); lungmask itself cannot run here (its
  weights are downloaded at run time);
* lung voxel counts on ``ct/lungmask-slices`` against lungmask R231's oracle;
* Dice of the lungs against TotalSegmentator's lobes on ``example_ct_sm``;
* intensity-mode lesion Dice against the radiologists' masks on the 48
  ``ct/medseg-infection-slices`` (8-bit, not HU);
* results on the COVID-19-NY-SBU axial slices;
* lesion volumes of the 50 MosMedData masks.

Run: ``PYTHONPATH=src python bench/severity.py [--shared ../shared/data] [--skip-volume]``
(or set ``COVIDBANK_SHARED_DATA``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from covidbank.severity import CTVolume, assess, dice, load_ct, segment_lungs  # noqa: E402


def make_volume(shared: Path, nz: int = 300, seed: int = 0) -> CTVolume:
    """512x512xnz HU volume from the two real lungmask slices."""
    rng = np.random.default_rng(seed)
    base = load_ct(shared / "ct" / "lungmask-slices")
    sl = base.data.astype(np.int16)  # (512, 512, 2)
    masks = segment_lungs(base).labels > 0
    depth = [ndi.distance_transform_edt(masks[:, :, k]) for k in range(2)]
    vol = np.empty((512, 512, nz), np.int16)
    z0, z1 = int(nz * 0.07), int(nz * 0.93)
    for z in range(nz):
        k = z % 2
        img = sl[:, :, k].copy()
        t = (z - z0) / float(z1 - z0)
        f = np.sqrt(np.sin(np.pi * t)) if 0 < t < 1 else 0.0
        d = depth[k]
        gone = masks[:, :, k] & (d < (1 - f) * d.max())
        img[gone] = 40 + rng.integers(-15, 15, int(gone.sum()))
        vol[:, :, z] = img
    # a ground-glass ball in the patient's right lung (high x in RAS)
    x, y, zz = np.nonzero(masks[:, :, 0:1])
    xr = x[x > np.median(x)]
    cx, cy, cz = int(np.median(xr)), int(np.median(y[x > np.median(x)])), nz // 2
    X, Y, Z = np.ogrid[:512, :512, :nz]
    ball = ((X - cx) ** 2 + (Y - cy) ** 2) * 0.625**2 + ((Z - cz) * 1.0) ** 2 <= 25.0**2
    ball &= vol < -400
    vol[ball] = -480 + rng.integers(-30, 30, int(ball.sum()))
    aff = np.diag([0.625, 0.625, 1.0, 1.0])
    return CTVolume(data=vol, affine=aff, path="generated-512x512x300", kind="array")


def baseline(ct: CTVolume) -> np.ndarray:
    """Plain threshold + two largest 3-D components (what simple tools do)."""
    air = ct.data < -320
    lab, n = ndi.label(air)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    border = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(), lab[:, -1].ravel()]))
    sizes[border] = 0
    keep = np.argsort(sizes)[::-1][:2]
    return np.isin(lab, keep)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("COVIDBANK_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--skip-volume", action="store_true")
    a = ap.parse_args()
    shared = Path(a.shared)
    print(f"# covidbank.severity bench  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.machine()} {platform.python_version()}  cpus={os.cpu_count()}")

    if not a.skip_volume:
        t = time.perf_counter()
        ct = make_volume(shared)
        print(f"volume generated {ct.shape} in {time.perf_counter() - t:.1f} s")
        t, c = time.perf_counter(), time.process_time()
        res = assess(ct)
        ours, ours_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        baseline(ct)
        base, base_cpu = time.perf_counter() - t, time.process_time() - c
        load = os.getloadavg()[0]
        print(
            f"runtime 512x512x300 assess: wall {ours:.2f} s, cpu {ours_cpu:.2f} s (target < 15 s; load average {load:.1f} on {os.cpu_count()} cores) "
            f"steps {res.details['seconds']} -> {res.category}, involvement {res.involvement_percent['total']:.2f} %, "
            f"lungs {res.lung_volume_ml['total']:.0f} mL, qc {res.qc_flags}"
        )
        print(
            f"baseline threshold + 2 largest components: wall {base:.2f} s, cpu {base_cpu:.2f} s; "
            f"ratio assess/baseline wall {ours / base:.2f}, cpu {ours_cpu / base_cpu:.2f}"
        )
        del ct, res

    ct = load_ct(shared / "ct" / "lungmask-slices")
    c = segment_lungs(ct).counts()
    ref = {"right": 64752, "left": 36536, "background": 423000}
    print("lungmask-slices voxel counts vs lungmask R231: " + ", ".join(f"{k} {c[k]} vs {ref[k]} ({100 * (c[k] / ref[k] - 1):+.1f}%)" for k in ref))

    ts = shared / "ct" / "totalsegmentator"
    ct = load_ct(ts / "example_ct_sm.nii.gz")
    seg = load_ct(ts / "example_seg.nii.gz").data
    refm = np.isin(seg, [10, 11, 13, 14])
    zs = np.nonzero(refm.any(axis=(0, 1)))[0]
    lab = segment_lungs(ct).labels
    s = slice(zs.min(), zs.max() + 1)
    print(
        f"TotalSegmentator example_ct_sm: lung Dice vs lobes 10,11,13,14 in slab z={zs.min()}..{zs.max()}: {dice(lab[:, :, s] > 0, refm[:, :, s]):.3f} "
        f"(right vs 13,14: {dice(lab[:, :, s] == 1, np.isin(seg, [13, 14])[:, :, s]):.3f}, left vs 10,11: {dice(lab[:, :, s] == 2, np.isin(seg, [10, 11])[:, :, s]):.3f})"
    )

    med = shared / "ct" / "medseg-infection-slices" / "LungInfection-Test"
    from PIL import Image

    ds, tt = [], time.perf_counter()
    for img in sorted((med / "Imgs").glob("*.jpg"), key=lambda p: int(p.stem)):
        r = assess(img, intensity_mode=True)
        pred = r.lesion[::-1, ::-1, 0].T  # back to picture orientation
        gt = np.asarray(Image.open(med / "GT" / f"{img.stem}.png").convert("L")) > 127
        ds.append(dice(pred, gt))
    ds = np.array(ds)
    print(
        f"medseg-infection-slices intensity mode ({len(ds)} slices, {time.perf_counter() - tt:.1f} s): lesion Dice mean {ds.mean():.3f}, "
        f"median {np.median(ds):.3f}, min {ds.min():.3f}, max {ds.max():.3f}"
    )

    for f in sorted((shared / "ct" / "covid19-ny-sbu-slices").rglob("axial/*.dcm")):
        r = assess(f)
        print(
            f"ny-sbu {f.parent.parent.name}/{f.name}: lungs {r.lung_volume_ml['total']:.1f} mL, lesion {r.lesion_volume_ml['total']:.1f} mL, "
            f"involvement {r.involvement_percent['total']:.1f} %, grade {r.category}, qc {r.qc_flags}"
        )

    from covidbank.severity import severity_table

    tt = time.perf_counter()
    df, _ = severity_table(shared / "mosmed")
    v = df["lesion_volume_ml"]
    print(
        f"MosMed masks: {len(df)} read in {time.perf_counter() - tt:.1f} s, errors {int(df['error'].notna().sum())}; lesion mL median {v.median():.1f}, "
        f"mean {v.mean():.1f}, min {v.min():.2f}, max {v.max():.1f}; official classes {df['official_category'].value_counts().to_dict()}"
    )


if __name__ == "__main__":
    main()
