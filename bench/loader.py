"""Loader speed: torchxrayvision's COVID19_Dataset vs covidbank's XRayDataset.

On the same present X-ray images of the COVID-19 Image Data Collection
(``../shared/data/cohen``), in one run, at 224 px with torchxrayvision's own
center crop and resizer (``XRayCenterCrop`` + ``XRayResizer(224)``) and its
[-1024, 1024] normalization, this prints images/s of

* torchxrayvision ``COVID19_Dataset``,
* covidbank ``XRayDataset`` uncached (decode + crop + resize every access),
* covidbank ``XRayDataset`` cached (memory-mapped, ``covidbank cache``),

in one process and through a ``DataLoader`` with workers, as ratios to
torchxrayvision, plus the largest difference between the two loaders' tensors.

Usage::

    PYTHONPATH=src python bench/loader.py [--data ../shared/data/cohen] [--workers 2] [--limit N]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def _rate(ds, idx, passes=1) -> float:
    t = time.perf_counter()
    n = 0
    for _ in range(passes):
        for i in idx:
            ds[i]
            n += 1
    return n / (time.perf_counter() - t)


def _rate_loader(ds, workers, passes=1, batch=16, collate=None) -> float:
    """images/s through a DataLoader; workers are started (and warmed up on
    one batch) before the clock starts."""
    import torch

    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False, collate_fn=collate,
                                     persistent_workers=workers > 0)
    it = iter(dl)
    next(it)
    for _ in it:  # finish the warm-up epoch cheaply only for fast loaders
        if passes == 1:
            break
    t = time.perf_counter()
    n = 0
    for _ in range(passes):
        for b in dl:
            n += len(b["img"])
    return n / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("COVIDBANK_SHARED_DATA", repo.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=shared / "cohen")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--bank", type=Path, default=None, help="reuse this bank (default: a temporary bank built with `covidbank add cohen`)")
    args = ap.parse_args(argv)

    import torch
    import torchvision
    import torchxrayvision as xrv

    from covidbank.bank import Bank
    from covidbank.torch import XRayDataset, build_cache

    torch.set_num_threads(1)
    data = args.data
    tmp = None
    if args.bank:
        bank = Bank(args.bank)
    else:
        from covidbank.sources import load_source

        tmp = tempfile.TemporaryDirectory(prefix="covidbank-bench-")
        bank = Bank(Path(tmp.name) / "bank", create=True)
        res = load_source("cohen", data)
        bank.add("cohen", res.all_tables(), res.meta)

    # --- torchxrayvision, restricted to present X-ray files (it has no such filter)
    tf = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(args.size)])
    xds = xrv.datasets.COVID19_Dataset(imgpath=str(data / "images"), csvpath=str(data / "metadata.csv"), views=["*"], transform=tf)
    csv = xds.csv
    present = csv["filename"].map(lambda f: os.path.isfile(data / "images" / str(f)))
    xray = csv["modality"].eq("X-ray")
    first = ~csv["filename"].duplicated()
    xidx = list(np.nonzero((present & xray & first).to_numpy())[0])
    files = [str(data / "images" / csv["filename"].iloc[i]) for i in xidx]
    if args.limit:
        xidx, files = xidx[: args.limit], files[: args.limit]

    # --- covidbank, the same files
    lst = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    q = f"SELECT image_id FROM images WHERE path IN ({lst})"
    cds = XRayDataset(bank, query=q, size=args.size, labels=["COVID-19", "Pneumonia"])
    by_path = {p: i for i, p in enumerate(cds.records["path"])}
    cidx = [by_path[f] for f in files if f in by_path]
    if len(cidx) != len(files):
        print(f"warning: covidbank found {len(cidx)} of the {len(files)} files torchxrayvision loads", file=sys.stderr)
    n = len(files)
    print(f"# covidbank loader bench: {n} present X-ray images of {data}, {args.size} px, center crop, [-1024, 1024]")
    print(f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"torchxrayvision {xrv.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    # --- equivalence
    diffs = []
    for xi, ci in zip(xidx, cidx):
        a = np.asarray(xds[xi]["img"], dtype=np.float32)
        b = cds[ci]["img"].numpy()
        diffs.append(float(np.abs(a - b).max()))
    print(f"tensors: max |torchxrayvision - covidbank| = {max(diffs):.4f} (uncached), over {len(diffs)} images")

    t = time.perf_counter()
    summ = build_cache(bank, size=args.size)
    build_s = time.perf_counter() - t
    kds = XRayDataset(bank, query=q, size=args.size, labels=["COVID-19", "Pneumonia"], cache=True)
    kidx = [dict((p, i) for i, p in enumerate(kds.records["path"]))[f] for f in files]
    cdiffs = [float(np.abs(cds[ci]["img"].numpy() - kds[ki]["img"].numpy()).max()) for ci, ki in zip(cidx, kidx)]
    print(f"tensors: max |uncached - cached| = {max(cdiffs):.4f} (uint16 cache quantization); "
          f"cache build {summ.decoded} images in {build_s:.1f} s")

    # --- one process
    rows = []
    r_x = _rate(xds, xidx)
    r_u = _rate(cds, cidx)
    r_c = _rate(kds, kidx, passes=max(1, int(2000 / max(n, 1))))
    rows += [("1 process", "torchxrayvision COVID19_Dataset", r_x, 1.0), ("1 process", "covidbank uncached", r_u, r_u / r_x),
             ("1 process", "covidbank cached", r_c, r_c / r_x)]
    # --- DataLoader workers
    if args.workers > 0:
        def xcollate(b):
            return {"img": torch.stack([torch.as_tensor(s["img"]) for s in b])}

        from torch.utils.data import Subset

        w_x = _rate_loader(Subset(xds, xidx), args.workers, collate=xcollate)
        w_u = _rate_loader(Subset(cds, cidx), args.workers)
        w_c = _rate_loader(Subset(kds, kidx), args.workers, passes=max(1, int(4000 / max(n, 1))))
        lab = f"DataLoader {args.workers} workers"
        rows += [(lab, "torchxrayvision COVID19_Dataset", w_x, 1.0), (lab, "covidbank uncached", w_u, w_u / w_x),
                 (lab, "covidbank cached", w_c, w_c / w_x)]
    print(f"{'mode':<22} {'loader':<34} {'images/s':>10} {'x torchxrayvision':>18}")
    for mode, name, r, ratio in rows:
        print(f"{mode:<22} {name:<34} {r:>10.1f} {ratio:>17.1f}x")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
