"""Synthetic burned-in text on real radiographs: the fixtures of the tests and the set of ``bench/burned_in.py``.

:func:`draw_text` blends a string into an image of any bit depth (anti-aliased
TrueType text, any grey level, slight rotation) and returns the ink box, so a
detector can be scored on whether every character lies inside what it
redacted.  Fonts are the Debian ``fonts-dejavu-core`` and ``fonts-liberation``
files (:func:`system_fonts`).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

__all__ = ["FONT_DIRS", "draw_text", "readable", "system_fonts", "whole_image_text"]

#: Where Debian installs the DejaVu and Liberation TrueType fonts.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")


@functools.lru_cache(maxsize=1)
def system_fonts() -> tuple[str, ...]:
    """Upright DejaVu and Liberation fonts installed (sans, serif, mono, regular and bold)."""
    out = []
    for d in FONT_DIRS:
        for p in sorted(Path(d).glob("*.ttf")):
            n = p.stem.lower()
            if any(x in n for x in ("oblique", "italic", "extralight", "math", "condensed", "narrow")):
                continue
            out.append(str(p))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], size: int, level: float,
              font: str | None = None, angle: float = 0.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``img`` with ``text`` blended in at grey ``level``; and the ink box ``(x, y, w, h)``.

    Parameters
    ----------
    img : ndarray, 2-D (uint8, uint16 or float)
    text : str
    xy : (x, y)
        Top-left corner of the text's box.
    size : int
        Font size in pixels (the em; capitals are about 0.73 of it).
    level : float
        Grey level of the text in the image's units (e.g. 65535 for white in 16 bits).
    font : str, optional
        TrueType file (default: the first of :func:`system_fonts`).
    angle : float
        Rotation in degrees (counter-clockwise) about the text's centre.
    """
    from PIL import Image, ImageDraw

    f = _font(font or system_fonts()[0], int(size))
    l, t, r, b = f.getbbox(text)
    pad = int(size)
    canvas = Image.new("L", (r - l + 2 * pad, b - t + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - l, pad - t), text, fill=255, font=f)
    if angle:
        canvas = canvas.rotate(angle, resample=Image.BICUBIC, expand=False)
    alpha = np.asarray(canvas, dtype=np.float32) / 255.0
    x0, y0 = int(xy[0]) - pad, int(xy[1]) - pad
    H, W = img.shape
    ys, xs = slice(max(0, y0), min(H, y0 + alpha.shape[0])), slice(max(0, x0), min(W, x0 + alpha.shape[1]))
    a = alpha[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    out = np.array(img, copy=True)
    region = out[ys, xs].astype(np.float64)
    blended = region * (1 - a) + float(level) * a
    if np.issubdtype(out.dtype, np.integer):
        info = np.iinfo(out.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    out[ys, xs] = blended.astype(out.dtype)
    ink = np.argwhere(a > 0.25)
    if not len(ink):
        return out, (xs.start, ys.start, 0, 0)
    (iy0, ix0), (iy1, ix1) = ink.min(axis=0), ink.max(axis=0)
    return out, (int(xs.start + ix0), int(ys.start + iy0), int(ix1 - ix0 + 1), int(iy1 - iy0 + 1))


def readable(strings, text: str, k: int = 1) -> list[str]:
    """Which of ``strings`` can be read in ``text`` (OCR output) within ``k`` edits, ignoring case, accents, spaces."""
    from .phi import _fold, approx_find

    hay = "".join(c for c in _fold(text) if c.isalnum())
    out = []
    for s in strings:
        needle = "".join(c for c in _fold(s) if c.isalnum())
        if needle and approx_find(needle, hay, k if len(needle) >= 6 else 0):
            out.append(s)
    return out


def whole_image_text(img: np.ndarray, scale: int = 1) -> str:
    """An independent reader: Tesseract on the whole image, two windows (percentile and min-max), both polarities.

    No candidate search: the way a person with an image viewer would look.  Used by the tests and the benchmark
    to check that redacted identifiers are unreadable.
    """
    import pytesseract
    from PIL import Image

    from .detect import window_to_uint8

    full = ((img.astype(float) - img.min()) / max(1, int(img.max()) - int(img.min())) * 255).astype(np.uint8)
    out = []
    for u8 in (window_to_uint8(img), full):
        if scale > 1:
            u8 = np.asarray(Image.fromarray(u8).resize((u8.shape[1] * scale, u8.shape[0] * scale), Image.BICUBIC))
        out += [pytesseract.image_to_string(Image.fromarray(a), config="--psm 11") for a in (u8, 255 - u8)]
    return " ".join(out)
