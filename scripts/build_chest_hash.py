"""Build the mean chest film of the duplicate search's chest hash (covidbank/data/chest_hash_mean.json).

Usage::

    PYTHONPATH=src python scripts/build_chest_hash.py [--data ../shared/data/cohen] [--out src/covidbank/data/chest_hash_mean.json]

The chest hash (:func:`covidbank.duplicates._chest_bits`) sets a bit where a crop's DCT coefficient (one of the 64
lowest-frequency AC coefficients, the vector scaled to unit length) is above the mean chest film's.  That mean is
learned here, once, from the present X-ray images of the COVID-19 Image Data Collection (every image file in
``DATA/images``, sorted by name; every crop box of each, as the fingerprint reads them): 64 numbers, the mean of
the features of 2,310 crops, no image content.  Deterministic (no sampling); the numpy and scipy versions used are
written into the file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from covidbank.duplicates import (  # noqa: E402
    _CHEST_COEFS, THUMB, _box_mean, _chest_features, _dct_low, _hash_factor, _read_small, _resize_crops)


def crop_features(path: str) -> np.ndarray:
    """The chest features of every crop box of one image, as :func:`covidbank.duplicates.fingerprint_file` reads it."""
    g = _read_small(path, None, None, None)
    r = _resize_crops(_box_mean(g, _hash_factor(g.shape)), {"lanczos": 32, "box": THUMB})
    return _chest_features(_dct_low(r["lanczos"]))


def main(argv=None) -> int:
    shared = Path(os.environ.get("COVIDBANK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared / "cohen")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "covidbank" / "data" / "chest_hash_mean.json")
    args = ap.parse_args(argv)
    files = sorted(p for p in (args.data / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    feats = np.concatenate([crop_features(str(p)) for p in files])
    doc = {
        "what": "mean chest-hash feature vector (covidbank.duplicates._chest_bits): 64 lowest-frequency AC "
                "coefficients (zigzag) of the 32 x 32 DCT of each crop box, scaled to unit length, averaged",
        "learned_from": f"COVID-19 Image Data Collection (ieee8023/covid-chestxray-dataset), {len(files)} X-ray "
                        f"images, {len(feats)} crops; built by scripts/build_chest_hash.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "coefficients": [list(c) for c in _CHEST_COEFS],
        "mean": [round(float(x), 8) for x in feats.mean(0)],
    }
    text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items()) + "\n}\n"  # a key a line
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: mean of {len(feats)} crops of {len(files)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
