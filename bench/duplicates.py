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

``--step search`` measures the candidate search alone (multi-index hashing,
:func:`covidbank.duplicates.candidate_pairs`, against the former all-pairs
loop, which is kept here as the oracle and the peer):

* on the real Cohen hashes: candidates per radius (and the share of all
  pairs), the verified duplicate pairs each radius keeps, the same pairs on
  both sides;
* on synthetic fingerprints (11 hashes per image) at ``--sizes``:
  ``chest`` hashes drawn to be as concentrated as the Cohen radiographs'
  (whole-image hashes a Beta(6, 15) share of bits away from one centre, crop
  hashes pulled 30 % of the way back to the centre plus 8 % noise: about 5 %
  of pairs are candidates at 12 bits, like Cohen's 4.9 %), and ``sparse``
  hashes (uniform whole-image hashes, the same crop noise, 1 % planted
  copies): what a varied collection looks like.  The all-pairs loop runs up to
  ``--oracle-max`` images (both sides must agree) and is extrapolated
  (quadratic) beyond.

    PYTHONPATH=src python bench/duplicates.py [--data ../shared/data/cohen] [--limit N] [--step all|fingerprint|search]
        [--sizes 10000,100000,1000000] [--oracle-max 10000] [--full-max 100000] [--sample-queries 20000] [--planted]
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


def all_pairs(packed, distance: int) -> tuple:
    """The former candidate search of ``find_duplicates`` (all pairs, one row against all later rows): i, j, d."""
    import numpy as np

    ii, jj, dd = [], [], []
    for i in range(len(packed) - 1):
        xj = packed[i + 1 :]
        d = np.minimum(np.bitwise_count(packed[i, 0] ^ xj).min(axis=1), np.bitwise_count(packed[i][None, :] ^ xj[:, :1]).min(axis=1))
        hit = np.nonzero(d <= distance)[0]
        ii.append(np.full(len(hit), i))
        jj.append(hit + i + 1)
        dd.append(d[hit])
    cat = lambda x: np.concatenate(x) if x else np.zeros(0, dtype=np.int64)  # noqa: E731
    return cat(ii), cat(jj), cat(dd)


def _bern(rng, p, shape):
    """uint64 values whose bits are each set with probability ``p`` (broadcast over ``shape``)."""
    import numpy as np

    out = np.empty(shape, dtype=np.uint64)
    flat, pf = out.reshape(-1), np.broadcast_to(np.asarray(p, dtype=np.float32), shape).reshape(-1)
    for s in range(0, len(flat), 1 << 18):  # bounded memory
        bits = rng.random((len(flat[s : s + (1 << 18)]), 64), dtype=np.float32) < pf[s : s + (1 << 18), None]
        flat[s : s + (1 << 18)] = np.packbits(bits, axis=-1, bitorder="little").view(np.uint64)[:, 0]
    return out


def synthetic_hashes(kind: str, n: int, seed: int = 0):
    """``(n, 11)`` uint64 fingerprint hashes, whole image first: ``chest`` (concentrated) or ``sparse``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 2**63, dtype=np.uint64)
    if kind == "chest":
        whole = centre ^ _bern(rng, rng.beta(6, 15, n), (n,))
        back = _bern(rng, 0.3, (n, 11))  # crops look more like every chest film: bits pulled back to the centre
        h = ((whole[:, None] & ~back) | (centre & back)) ^ _bern(rng, 0.08, (n, 11))
    else:
        whole = rng.integers(0, 2**63, n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
        h = whole[:, None] ^ _bern(rng, 0.08, (n, 11))
    h[:, 0] = whole
    if kind == "sparse":
        src = rng.choice(n, n // 100, replace=False)
        h[src[: len(src) // 2]] = h[src[len(src) // 2 :][: len(src) // 2]] ^ _bern(rng, 0.03, (len(src) // 2, 11))
    return h


def planted_distances(files, packed) -> None:
    """Hash distance between each image and its re-encoded, resized and cropped copies (the tests' kinds)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(REPO / "tests"))
    from test_duplicates import _variants  # the copies the tests plant

    from covidbank.duplicates import candidate_pairs, fingerprint

    dist: dict[str, list[int]] = {}
    for x, p in enumerate(files):
        with Image.open(p) as im:
            for kind, v in _variants(im).items():
                h = np.packbits(fingerprint(np.asarray(v.convert("L"), dtype=np.float32) / 255).hashes, axis=-1).view(np.uint64)[:, 0]
                d = candidate_pairs(np.stack([packed[x], h]), 64)[2]
                dist.setdefault(kind, []).append(int(d[0]))
    print(f"planted copies of the {len(files)} images: hash distance to their original (max; histogram of 0, 2, 4, 6, 8 bits)")
    for kind, d in dist.items():
        print(f"  {kind:<10} max {max(d):>2}   {np.bincount(d, minlength=9)[::2].tolist()}")


def search_step(args, files) -> None:
    """Candidate search: real Cohen hashes per radius, then synthetic sizes, new vs all pairs."""
    import numpy as np

    from covidbank.duplicates import _verify, candidate_pairs, fingerprint_file

    t = time.perf_counter()
    fps = [fingerprint_file(str(p)) for p in files]
    t_fp = time.perf_counter() - t
    packed = np.stack([np.packbits(f.hashes, axis=-1).view(np.uint64)[:, 0] for f in fps])
    n = len(packed)
    i, j, d = candidate_pairs(packed, 12)
    t = time.perf_counter()
    corr = _verify(fps, i, j)  # find_duplicates' batched verification
    t_ver = (time.perf_counter() - t) / max(len(i), 1)
    dup, review = corr >= 0.975, (corr >= 0.95) & (corr < 0.975)
    print(f"\nCandidate search on {n} real Cohen images ({n * (n - 1) // 2} pairs); fingerprinting {t_fp / n * 1000:.1f} ms/image, "
          f"verification {t_ver * 1000:.2f} ms/candidate (one process)")
    ai, aj = np.triu_indices(n, 1)
    t = time.perf_counter()
    _verify(fps, ai, aj)
    t_all = time.perf_counter() - t
    print(f"verification of all pairs: {len(ai):,} in {t_all:.1f} s, {t_all / max(len(ai), 1) * 1000:.3f} ms/candidate "
          f"({2 * len(ai) / n:.0f} candidates per image)")
    print(f"{'radius':>6}{'candidates':>12}{'share of pairs':>16}{'duplicates kept':>17}{'review kept':>13}{'all-pairs same':>16}")
    for r in (0, 2, 4, 6, 8, 10, 12, 16):
        ni, nj, nd = candidate_pairs(packed, r)
        oi, oj, od = all_pairs(packed, r)
        same = np.array_equal(ni, oi) and np.array_equal(nj, oj) and np.array_equal(nd, od)
        print(f"{r:>6}{len(ni):>12,}{len(ni) / (n * (n - 1) / 2):>16.4f}{int((dup & (d <= r)).sum()):>14} / {int(dup.sum())}{int((review & (d <= r)).sum()):>10} / {int(review.sum())}{str(same):>16}")
    if args.planted:
        planted_distances(files, packed)
    print(f"{'size':>10}{'kind':>8}{'candidates':>14}{'share':>9}{'multi-index s':>15}{'all-pairs s':>13}{'ratio':>8}{'same':>6}")
    sizes = [int(x) for x in args.sizes.split(",") if x]
    ref: dict[str, tuple[int, float]] = {}
    share: dict[str, float] = {}
    for kind in args.kinds.split(","):
        for size in sizes:
            pairs = size * (size - 1) / 2
            est = share.get(kind, 0.05) * pairs  # candidates expected from the share at the size before
            if kind == "chest" and est > args.max_candidates:
                print(f"{size:>10,}{kind:>8}{'~%.1e' % est:>14}{'':>9}   (not run: the candidates alone would be {est * 24 / 1e9:.1f} GB)")
                continue
            h = synthetic_hashes(kind, size)
            if size > args.full_max:
                # every item indexed, a sample of the queries searched; the time scaled by the queries left out
                from covidbank.hamming import plan_chunks, radius_pairs

                nq = args.sample_queries
                t = time.perf_counter()
                plan = plan_chunks(h[:, 0].copy(), h.reshape(-1), args.distance)
                t_plan = time.perf_counter() - t
                timed = []
                for m in (nq // 2, nq):  # two sample sizes: the index build (fixed) and the cost per query apart
                    t = time.perf_counter()
                    hits = 0
                    for q, it, _ in radius_pairs(h[:m, 0].copy(), h.reshape(-1), args.distance, chunks=plan):
                        j = it // h.shape[1]
                        hits += len(np.unique(q[j != q] * size + j[j != q]))  # images, not crops; not its own
                    timed.append(time.perf_counter() - t)
                per_query = (timed[1] - timed[0]) / (nq - nq // 2)
                t_new = t_plan + timed[1] + per_query * (size - nq)
                chunks = "+".join(f"{b}b/{x}" for _, b, x in plan)
                t_old = ref[kind][1] * (size / ref[kind][0]) ** 2 if kind in ref else float("nan")
                print(f"{size:>10,}{kind:>8}{'~%.1e' % (hits * size / nq / 2):>14}{'':>9}{'~%.0f' % t_new:>15}{'~%.0f' % t_old:>13}"
                      f"{t_old / t_new:>8.1f}{'-':>6}   ({nq // 2:,} and {nq:,} of {size:,} queries timed: {timed[0]:.1f} s, "
                      f"{timed[1]:.1f} s; chunks {chunks})")
                continue
            t = time.perf_counter()
            ni, nj, nd = candidate_pairs(h, args.distance)
            t_new = time.perf_counter() - t
            if size <= args.oracle_max:
                t = time.perf_counter()
                oi, oj, od = all_pairs(h, args.distance)
                t_old = time.perf_counter() - t
                same = str(np.array_equal(ni, oi) and np.array_equal(nj, oj) and np.array_equal(nd, od))
                ref[kind] = (size, t_old)
                old = f"{t_old:>13.2f}"
            elif kind in ref:
                t_old = ref[kind][1] * (size / ref[kind][0]) ** 2
                old, same = f"{'~%.0f' % t_old:>13}", "-"
            else:
                t_old, old, same = float("nan"), f"{'-':>13}", "-"
            share[kind] = len(ni) / pairs
            print(f"{size:>10,}{kind:>8}{len(ni):>14,}{len(ni) / pairs:>9.1e}{t_new:>15.2f}{old}{t_old / t_new:>8.1f}{same:>6}")
            del h, ni, nj, nd
    print("(~: all pairs extrapolated quadratically from the largest size it ran at; above --full-max the multi-index\n"
          " search is timed on two samples of the queries against every item (all items indexed) and extrapolated\n"
          " linearly from the two (fixed index cost + cost per query); its candidates scaled likewise)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=shared / "cohen")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--distance", type=int, default=8, help="max hash distance of a candidate (find_duplicates' default)")
    ap.add_argument("--step", choices=("all", "fingerprint", "search"), default="all")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="synthetic sizes for --step search")
    ap.add_argument("--oracle-max", type=int, default=10000, help="largest size the all-pairs loop runs at")
    ap.add_argument("--planted", action="store_true", help="--step search: also plant 5 copies of every image (slow)")
    ap.add_argument("--kinds", default="chest,sparse", help="synthetic kinds for --step search")
    ap.add_argument("--full-max", type=int, default=100000, help="larger sizes time a sample of the queries")
    ap.add_argument("--sample-queries", type=int, default=20000, help="queries timed above --full-max")
    ap.add_argument("--max-candidates", type=float, default=3e7, help="concentrated (chest) sizes expected to give more are not run")
    args = ap.parse_args(argv)

    import pandas as pd

    from covidbank.duplicates import find_duplicates

    files = sorted(p for p in (args.data / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.limit:
        files = files[: args.limit]
    recs = pd.DataFrame({"image_id": [f"cohen:{p.name}" for p in files], "subject_id": [f"s{i}" for i in range(len(files))],
                         "source": "cohen", "path": [str(p) for p in files]})
    load0 = os.getloadavg()
    if args.step == "search":
        search_step(args, files)
        load1 = os.getloadavg()
        print(f"load average: {load0[0]:.2f} at the start, {load1[0]:.2f} at the end ({os.cpu_count()} CPUs)")
        return 0
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
    if args.step == "all":
        search_step(args, files)
    load1 = os.getloadavg()
    print(f"load average: {load0[0]:.2f} at the start, {load1[0]:.2f} at the end ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
