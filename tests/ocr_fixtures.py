"""Backgrounds and hostile overlays for the burned-in text tests (real Tesseract, real fonts, no mocks)."""
from __future__ import annotations

import numpy as np

from covidbank.ocr.synth import draw_text

NAME, NHC, DATE = "GARCIA LOPEZ MARIA", "NHC 99887766", "15/03/2020"
HEADER = {"PatientName": "GARCIA LOPEZ^MARIA", "PatientID": "99887766", "StudyDate": "20200315"}


def chest_like(rows: int = 384, cols: int = 384, seed: int = 0) -> np.ndarray:
    """A 16-bit radiograph-like background: dark lung fields, bright mediastinum and border, noise, ribs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols] / np.array([rows, cols])[:, None, None]
    body = 0.55 + 0.35 * np.exp(-((x - 0.5) / 0.09) ** 2)  # mediastinum
    lungs = 0.25 * (np.exp(-(((x - 0.3) / 0.13) ** 2 + ((y - 0.5) / 0.3) ** 2))
                    + np.exp(-(((x - 0.7) / 0.13) ** 2 + ((y - 0.5) / 0.3) ** 2)))
    ribs = 0.05 * (np.sin(y * 60 + 8 * (x - 0.5) ** 2) > 0.7)
    img = (body - lungs + ribs) * 40000 + rng.normal(0, 600, (rows, cols)) + 8000
    return np.clip(img, 0, 65535).astype(np.uint16)


def hostile(img: np.ndarray, level: float = 65535, size: int = 18) -> tuple[np.ndarray, list[tuple]]:
    """The privacy review's DX: name, record number and date drawn top left; ``L`` and ``PORTABLE`` as markers."""
    boxes = []
    for i, s in enumerate((NAME, NHC, DATE)):
        img, b = draw_text(img, s, (12, 12 + i * int(size * 1.6)), size, level)
        boxes.append(b)
    img, _ = draw_text(img, "L", (img.shape[1] - 30, 14), size, level)
    img, _ = draw_text(img, "PORTABLE", (img.shape[1] - 140, img.shape[0] - 34), size, level)
    return img, boxes
