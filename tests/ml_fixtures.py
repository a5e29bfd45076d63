"""Generated images and banks for the ML tests (datasets, cache, splits, duplicates).

Images are real files written with Pillow / nibabel / pydicom: smooth
radiograph-like fields with ribs-like stripes and a few blobs, different for
every seed.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from covidbank.bank import Bank


def synthetic_radiograph(seed: int, h: int = 300, w: int = 260) -> np.ndarray:
    """A ``[0, 1]`` float image with structure at several scales (unique per seed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.25 + 0.2 * np.sin(yy / (6 + rng.uniform(0, 4)) + rng.uniform(0, 6)) * np.exp(-((xx - w / 2) / (w / 3)) ** 2)
    for _ in range(6):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(10, 60)
        img += rng.uniform(0.1, 0.4) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    noise = rng.normal(0, 1, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    noise = np.asarray(Image.fromarray(noise).resize((w, h), Image.Resampling.BICUBIC))
    img += 0.05 * noise
    img -= img.min()
    img /= img.max()
    return img.astype(np.float32)


def save_png8(a: np.ndarray, path: Path, rgb: bool = False) -> Path:
    u = np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
    im = Image.fromarray(u)
    if rgb:
        im = im.convert("RGB")
    im.save(path)
    return path


def save_png16(a: np.ndarray, path: Path) -> Path:
    u = np.clip(np.rint(a * 65535), 0, 65535).astype(np.uint16)
    Image.fromarray(u).save(path)
    return path


def save_jpeg(a: np.ndarray, path: Path, quality: int = 90) -> Path:
    Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)).save(path, "JPEG", quality=quality)
    return path


def jpeg_bytes_roundtrip(a: np.ndarray, quality: int) -> np.ndarray:
    b = io.BytesIO()
    Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)).save(b, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(b.getvalue())), dtype=np.float32) / 255


def xray_bank(root: Path, source: str = "alpha", n_subjects: int = 6, images_per_subject: int = 2, seed0: int = 0,
              site_of=None, labels_of=None, bank: Bank | None = None) -> Bank:
    """A bank with one source of generated PNG radiographs.

    ``labels_of(subject_index) -> list[(label, value)]`` gives label rows per image
    (default: COVID-19 for even subjects, Bacterial for odd ones, source rows only,
    so the hierarchy must be applied by the reader).
    """
    root.mkdir(parents=True, exist_ok=True)
    imgdir = root / f"{source}-images"
    imgdir.mkdir(exist_ok=True)
    images, labels, sessions = [], [], []
    for s in range(n_subjects):
        sid = f"{source}:p{s}"
        for k in range(images_per_subject):
            seed = seed0 + 1000 * s + k
            p = save_png8(synthetic_radiograph(seed), imgdir / f"s{s}_{k}.png", rgb=(k % 2 == 1))
            iid = f"{source}:s{s}_{k}"
            ses = f"{source}:p{s}/{k}"
            images.append({"image_id": iid, "session_id": ses, "subject_id": sid, "source": source,
                           "view": "PA" if k % 2 == 0 else "AP", "modality": "X-ray", "path": str(p),
                           "file_present": True, "file_format": "png"})
            sessions.append({"session_id": ses, "subject_id": sid, "source": source,
                             "location": site_of(s) if site_of else None})
            labs = labels_of(s) if labels_of else ([("COVID-19", 1)] if s % 2 == 0 else [("Bacterial", 1)])
            for lab, v in labs:
                labels.append({"image_id": iid, "source": source, "label": lab, "value": v, "origin": "source"})
    b = bank or Bank(root / "bank", create=True)
    b.add(source, {"images": pd.DataFrame(images), "labels": pd.DataFrame(labels), "sessions": pd.DataFrame(sessions)})
    return b
