"""Duplicate search speed: covidbank's fingerprints at 1 and 2 workers vs imagehash-only grouping.

On the present X-ray images of the COVID-19 Image Data Collection
(``../shared/data/cohen/images``), in one run:

* peer: ``imagehash.phash`` of every image (decoded at reduced size like
  covidbank does) and all pairs within ``--distance`` bits grouped: what a
  hash-only deduplication costs;
* covidbank ``find_duplicates`` with ``workers=1`` and ``workers=2`` (11 hashes
  and thumbnails per image, verification by correlation);
* the X-ray cache (``covidbank cache``) of the same images at 1 and 2 workers.

Prints images on both sides, images/s, the ratio to the peer per core, the
parallel efficiency and the load average.

    PYTHONPATH=src python bench/duplicates.py [--data ../shared/data/cohen] [--limit N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def peer(paths: list[str], distance: int) -> tuple[int, int]:
    """imagehash.phash per image, then pairs within ``distance`` bits (NumPy, all pairs): images, pairs."""
    import imagehash
    import numpy as np
    from PIL import Image

    hs = []
    for p in paths:
        with Image.open(p) as im:
            if im.format == "JPEG":
                im.draft("L", (512, 512))
            hs.append(imagehash.phash(im.convert("L")).hash.reshape(-1))
    packed = np.packbits(np.asarray(hs, dtype=bool), axis=-1).view(np.uint64)[:, 0]
    pairs = 0
    for i in range(len(packed) - 1):
        pairs += int((np.bitwise_count(packed[i] ^ packed[i + 1 :]) <= distance).sum())
    return len(hs), pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=shared / "cohen")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--distance", type=int, default=12)
    args = ap.parse_args(argv)

    import pandas as pd

    from covidbank.duplicates import find_duplicates

    files = sorted(p for p in (args.data / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.limit:
        files = files[: args.limit]
    recs = pd.DataFrame({"image_id": [f"cohen:{p.name}" for p in files], "subject_id": [f"s{i}" for i in range(len(files))],
                         "source": "cohen", "path": [str(p) for p in files]})
    load0 = os.getloadavg()
    t = time.perf_counter()
    n_peer, peer_pairs = peer([str(p) for p in files], args.distance)
    t_peer = time.perf_counter() - t
    res = {}
    for w in (1, 2):
        t = time.perf_counter()
        r = find_duplicates(None, records=recs, workers=w, hash_distance=args.distance)
        res[w] = (time.perf_counter() - t, r)
    n1, n2 = res[1][1].images, res[2][1].images
    if not (n_peer == n1 == n2 == len(files)):
        raise SystemExit(f"images hashed differ: peer {n_peer}, covidbank {n1} / {n2}, files {len(files)}")
    print(f"{len(files)} images of {args.data}; images fingerprinted: peer {n_peer}, covidbank {n1} (1 worker), {n2} (2 workers)")
    print(f"{'tool':<44}{'seconds':>9}{'images/s':>10}{'ratio':>8}")
    print(f"{'imagehash phash + all-pairs grouping':<44}{t_peer:>9.2f}{n_peer / t_peer:>10.1f}{1:>8.2f}   "
          f"({peer_pairs} pairs within {args.distance} bits)")
    for w in (1, 2):
        t, r = res[w]
        print(f"{f'covidbank find_duplicates --workers {w}':<44}{t:>9.2f}{r.images / t:>10.1f}{t_peer / t:>8.2f}   "
              f"({r.candidates} candidates, {int(r.pairs['duplicate'].sum()) if len(r.pairs) else 0} duplicate pairs)")
    print(f"parallel efficiency at 2 workers: {res[1][0] / res[2][0] / 2:.2f}; "
          f"per core, covidbank is {t_peer / res[1][0]:.2f} of the peer's rate")
    # the X-ray cache (decode, crop, resize to 224 once) built from the same files at 1 and 2 workers
    import tempfile

    from covidbank.torch.cache import XRayCache, XRayPrep

    cres = {}
    for w in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            summ = XRayCache(d, XRayPrep(224)).update(recs, workers=w)
            cres[w] = (time.perf_counter() - t, summ.decoded - summ.errors)
    print(f"cache build (224 px): 1 worker {cres[1][1]} images in {cres[1][0]:.2f} s ({cres[1][1] / cres[1][0]:.1f}/s), "
          f"2 workers {cres[2][1]} in {cres[2][0]:.2f} s ({cres[2][1] / cres[2][0]:.1f}/s): speed-up "
          f"{cres[1][0] / cres[2][0]:.2f}")
    load1 = os.getloadavg()
    print(f"load average: {load0[0]:.2f} at the start, {load1[0]:.2f} at the end ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
