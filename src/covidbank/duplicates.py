"""Finding the same image twice: in two sources or within one.

Public COVID-19 collections re-publish each other's images (COVIDx merged
several that share files), re-encoded, resized or with a border cropped.  Two
stages find them:

1. **Candidates**: a perceptual hash (``imagehash.phash``, 64-bit DCT hash) of
   the whole image and of ten crops (centred 90 % and 80 %, 5 % or 10 % off
   one side); two images are candidates when the whole-image hash of one is
   within ``hash_distance`` bits (default 8) of some hash of the other.  They
   are found by multi-index hashing (:mod:`covidbank.hamming`), not by
   comparing all pairs: the same pairs.  Chest radiographs' hashes are
   concentrated: of the 21,945 pairs of the 210 Cohen images, 4.9 % are within
   12 bits and 0.59 % within 8, so the candidates grow with the square of the
   images whatever the search.  Every copy measured is within 6 bits (the 6
   real duplicate pairs within 4; 1,050 planted re-encoded, resized and
   cropped copies of the 210 images within 6): 8 keeps them all, and the 3
   near-duplicates for review, with 8.4 times fewer candidates than 12
   (``docs/scale.md``).
2. **Verification**: the normalized cross-correlation of 48 x 48 grey
   thumbnails, maximized over the same crops and shifts of up to 2 pixels
   (4 %); a pair is a duplicate when it reaches ``min_correlation``
   (default 0.975).  Chest radiographs all look alike to a hash alone, and
   follow-up films of one patient taken days apart reach 0.97 on the COVID-19
   Image Data Collection, while re-encoded, resized and border-cropped copies
   stay above 0.99: the threshold sits between.  Pairs between
   ``review_correlation`` (0.95) and the threshold are kept in
   ``duplicate_pairs`` with ``duplicate = false``, for a person to look at.

**Fingerprint** (per image, the cost that matters): JPEGs decode their luma
only, at reduced scale (``draft("L")``, as an imagehash-only deduplication
does); the image is box-averaged once, in integers, to at most 255 pixels a
side; every crop of that copy is resized by Pillow's Lanczos filter (pHash)
and BOX filter (thumbnail) in a few sparse products of Pillow's own
fixed-point weights (the same pixels as Pillow, not an approximation), and the
eleven pHashes come from one DCT over the stack: ``imagehash.phash`` of each
crop bit for bit (tested on every crop of the 210 Cohen images).

Duplicate pairs are joined into groups (connected components).  The bank
table ``duplicates`` has one row per image in a group (``group_id`` is the
group's smallest ``image_id``); ``duplicate_pairs`` lists the verified pairs
with their hash distance and correlation, for a person to check.
:mod:`covidbank.splits` keeps every group on one side of a split.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .bank import Bank
from .errors import ArgumentError, ImageLoadError
from .parallel import map_ordered, sized
from .pixels import is_nifti, needs_inversion, read_xray

__all__ = [
    "Fingerprint",
    "DuplicateResult",
    "fingerprint",
    "fingerprint_file",
    "compare",
    "candidate_pairs",
    "find_duplicates",
    "write_duplicates",
    "CROP_BOXES",
]

#: Crop boxes hashed and compared, as (top, bottom, left, right) fractions cut
#: off: the whole image, centred 90 % and 80 %, and 5 % or 10 % off one side.
CROP_BOXES = (
    (0.0, 0.0, 0.0, 0.0),
    (0.05, 0.05, 0.05, 0.05),
    (0.1, 0.1, 0.1, 0.1),
    (0.1, 0.0, 0.0, 0.0),
    (0.0, 0.1, 0.0, 0.0),
    (0.0, 0.0, 0.1, 0.0),
    (0.0, 0.0, 0.0, 0.1),
    (0.05, 0.0, 0.0, 0.0),
    (0.0, 0.05, 0.0, 0.0),
    (0.0, 0.0, 0.05, 0.0),
    (0.0, 0.0, 0.0, 0.05),
)
THUMB = 48
MAX_SHIFT = 2
_DECODE_SIDE = 512
_HASH_SIDE = 128


@dataclass
class Fingerprint:
    """Hashes and thumbnails of one image.

    Attributes
    ----------
    hashes : numpy.ndarray
        ``(len(CROP_BOXES), 64)`` bool pHash bits per crop box.
    thumbs : numpy.ndarray
        ``(len(CROP_BOXES), THUMB, THUMB)`` uint8 thumbnails (48 x 48).
    """

    hashes: np.ndarray
    thumbs: np.ndarray

    @property
    def hex(self) -> str:
        """Hex pHash of the whole image."""
        bits = self.hashes[0].astype(np.uint8)
        return np.packbits(bits).tobytes().hex()


def _crop_box(shape: tuple[int, int], box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixels of crop ``box`` of an image of ``shape`` (the whole image when too small)."""
    h, w = shape
    t, b, l, r = box
    y0, y1 = int(round(h * t)), h - int(round(h * b))
    x0, x1 = int(round(w * l)), w - int(round(w * r))
    if y1 - y0 < 2 or x1 - x0 < 2:
        return 0, 0, w, h
    return x0, y0, x1, y1


def _box_mean(g: np.ndarray, f: int) -> np.ndarray:
    """8-bit ``g`` averaged over ``f`` x ``f`` blocks (the rows and columns left over dropped), rounded half up:
    integer sums of strided slices (ten times faster than a float ``reshape(...).mean``, and exact)."""
    if f <= 1:
        return g
    h, w = (g.shape[0] // f) * f, (g.shape[1] // f) * f
    acc = np.uint16 if f * f * 255 < 1 << 16 else np.uint32
    c = g[:h, :w]
    s = c[0::f].astype(acc)  # rows first: contiguous adds on the whole image, strided ones on 1/f of it
    for k in range(1, f):
        s += c[k::f]
    t = s[:, 0::f].astype(np.uint32)
    for k in range(1, f):
        t += s[:, k::f]
    return ((2 * t + f * f) // (2 * f * f)).astype(np.uint8)


def _hash_factor(shape: tuple[int, ...]) -> int:
    """The integer block size that brings an image to the hashing copy: at most ``_DECODE_SIDE`` pixels a side,
    then at most ``2 * _HASH_SIDE`` (two integer steps, as before they were merged into one)."""
    side = max(shape)
    f1 = max(1, side // _DECODE_SIDE)
    return f1 * max(1, (side // f1) // _HASH_SIDE)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """A ``[0, 1]`` image as rounded 8-bit grey levels."""
    return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)


#: Fixed-point bits of Pillow's 8-bit resampling (``PRECISION_BITS`` in its ``Resample.c``).
_PIL_BITS = 22


def _pil_filter(kind: str, x: np.ndarray) -> np.ndarray:
    """Pillow's ``box`` or ``lanczos`` (3 lobes) filter at ``x``."""
    if kind == "box":
        return ((x > -0.5) & (x <= 0.5)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        px, px3 = x * np.pi, (x / 3) * np.pi
        sinc = np.where(x == 0.0, 1.0, np.sin(px) / px)
        sinc3 = np.where(x == 0.0, 1.0, np.sin(px3) / px3)
    return np.where((x >= -3.0) & (x < 3.0), sinc * sinc3, 0.0)


def _pil_weights(in_size: int, out_size: int, kind: str) -> np.ndarray:
    """Pillow's fixed-point weights resizing ``in_size`` pixels to ``out_size`` (``precompute_coeffs`` and
    ``normalize_coeffs_8bpc`` of its ``Resample.c``, the same double arithmetic in the same order):
    ``(out_size, in_size)`` integers, as float64 (exact)."""
    if in_size == out_size:  # Pillow skips the pass
        return np.eye(in_size) * (1 << _PIL_BITS)
    support = {"box": 0.5, "lanczos": 3.0}[kind]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support *= filterscale
    center = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int): toward zero, then clamped
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(int(np.ceil(support)) * 2 + 1)
    w = _pil_filter(kind, ((taps[None, :] + xmin[:, None]) - center[:, None] + 0.5) * (1.0 / filterscale))
    w = np.where(taps[None, :] < xmax[:, None], w, 0.0)
    ww = np.cumsum(w, axis=1)[:, -1:]  # summed left to right, as the C loop
    w = np.divide(w, ww, out=w.copy(), where=ww != 0.0)
    w = np.trunc(np.where(w < 0, -0.5, 0.5) + w * (1 << _PIL_BITS))
    out = np.zeros((out_size, in_size))
    rows = np.repeat(np.arange(out_size), len(taps))
    cols = (xmin[:, None] + taps[None, :]).ravel()
    ok = (taps[None, :] < xmax[:, None]).ravel()
    out[rows[ok], cols[ok]] = w.ravel()[ok]
    return out


def _pil_round(s: np.ndarray) -> np.ndarray:
    """A fixed-point sum of Pillow's 8-bit resampling as the 8-bit value it stores (rounded, clipped)."""
    return np.clip(np.floor((s + (1 << (_PIL_BITS - 1))) * (1.0 / (1 << _PIL_BITS))), 0, 255)


@lru_cache(maxsize=1)
def _pil_order() -> str | None:
    """How the installed Pillow orders its two passes: ``"tall"`` (vertically first when the height shrinks by
    more than twice as many pixels as the width, python-pillow/Pillow#9549), ``"horizontal"`` (always
    horizontally first, as before it) or None (neither: :func:`_resize_crops` then calls Pillow itself).
    Found once per process by resizing a small random image both ways."""
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 256, (120, 50), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(img).resize((32, 32), Image.Resampling.LANCZOS))
    wx, wy = _pil_weights(50, 32, "lanczos"), _pil_weights(120, 32, "lanczos")
    x = img.astype(np.float64)
    if np.array_equal(ref, _pil_round(_pil_round(wy @ x) @ wx.T)):
        return "tall"
    if np.array_equal(ref, _pil_round(wy @ _pil_round(x @ wx.T))):
        return "horizontal"
    return None


@lru_cache(maxsize=512)
def _pil_band(in_size: int, out_size: int, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_pil_weights` as ``(rows, columns, values)`` of its non-zero weights, in row order (cached: a
    line length and filter each, tens of KB)."""
    m = _pil_weights(in_size, out_size, kind)
    r, c = np.nonzero(m)
    return r, c, m[r, c]


def _csr(blocks: list[tuple[int, int, int, int, str]], shape: tuple[int, int]):
    """A CSR matrix of Pillow weight blocks ``(row offset, column offset, in_size, out_size, kind)`` on disjoint
    rows, in row order (built directly: scipy's COO path costs more than the products it serves)."""
    from .optional import require

    sparse = require("scipy.sparse", extra="duplicates", purpose="duplicate detection")

    bands = [(r0, c0, _pil_band(i, o, k)) for r0, c0, i, o, k in blocks]
    r = np.concatenate([b[0] + r0 for r0, _, b in bands])
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=shape[0]), out=indptr[1:])
    cols = np.concatenate([b[1] + c0 for _, c0, b in bands])
    return sparse.csr_array((np.concatenate([b[2] for _, _, b in bands]), cols, indptr), shape=shape)


@lru_cache(maxsize=128)
def _first_pass(size: int, ranges: tuple[tuple[int, int], ...], kind: str, n: int):
    """Sparse ``(n * len(ranges), size)``: each range ``(a0, a1)`` of a line of ``size`` pixels resized to ``n``
    (cached per image width or height: up to about 0.3 MB each, so at most some tens of MB)."""
    return _csr([(r * n, a0, a1 - a0, n, kind) for r, (a0, a1) in enumerate(ranges)], (n * len(ranges), size))


@lru_cache(maxsize=128)
def _second_pass(size: int, spans: tuple[tuple[int, int], ...], kind: str, n: int):
    """Block-diagonal sparse ``(n * len(spans), size * len(spans))``: block ``j`` resizes span ``j`` of a line
    of ``size`` pixels to ``n``."""
    return _csr([(j * n, j * size + b0, b1 - b0, n, kind) for j, (b0, b1) in enumerate(spans)], (n * len(spans), size * len(spans)))


def _resize_crops(img: np.ndarray, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Every :data:`CROP_BOXES` crop of 8-bit ``img`` resized to ``n`` x ``n`` with each Pillow filter
    ``{kind: n}``: the same values as ``Image.fromarray(img).crop(box).resize((n, n), kind)``, batched.

    Pillow resamples in two passes in 22-bit fixed point, rounding to 8 bits after each; the fixed-point sums
    are integers below 2**53, so float64 products give them exactly.  The first pass is one sparse product for
    every distinct column range (horizontally first) or row range (vertically first: Pillow's order for crops
    much taller than wide), the second one block-diagonal sparse product over the crops.

    Returns
    -------
    dict
        ``{kind: (len(CROP_BOXES), n, n) uint8}``.
    """
    order = _pil_order()
    if order is None:  # an unknown Pillow: ask it
        from PIL import Image

        im = Image.fromarray(np.ascontiguousarray(img))
        kinds = {"lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX}
        boxes = [_crop_box(img.shape, box) for box in CROP_BOXES]
        return {k: np.stack([np.asarray(im.crop(b).resize((n, n), kinds[k])) for b in boxes]) for k, n in sizes.items()}
    h, w = img.shape
    x = img.astype(np.float64)
    xt = None
    boxes = [_crop_box((h, w), box) for box in CROP_BOXES]
    out = {}
    for kind, n in sizes.items():
        res = np.empty((len(boxes), n, n))
        tall = [order == "tall" and y1 - y0 > n and (y1 - y0 - n) > 2 * (x1 - x0 - n) for x0, y0, x1, y1 in boxes]
        for vertical in (False, True):
            idx = [i for i, t in enumerate(tall) if t == vertical]
            if not idx:
                continue
            # the first pass along one axis for every distinct range, the second per crop along the other
            ax, other = ((1, 3), (0, 2)) if vertical else ((0, 2), (1, 3))
            ranges = sorted({(boxes[i][ax[0]], boxes[i][ax[1]]) for i in idx})
            at = [ranges.index((boxes[i][ax[0]], boxes[i][ax[1]])) for i in idx]
            spans = tuple((boxes[i][other[0]], boxes[i][other[1]]) for i in idx)
            if vertical:
                v = _pil_round(_first_pass(h, tuple(ranges), kind, n) @ x).reshape(-1, n, w)  # each row range, every column
                z = v[at].transpose(0, 2, 1).reshape(-1, n)  # per crop: its rows transposed, (w, n)
                res[idx] = _pil_round(_second_pass(w, spans, kind, n) @ z).reshape(len(idx), n, n).transpose(0, 2, 1)
            else:
                if xt is None:
                    xt = np.ascontiguousarray(x.T)
                hz = _pil_round(_first_pass(w, tuple(ranges), kind, n) @ xt).reshape(-1, n, h)  # each column range, every row
                z = hz[at].transpose(0, 2, 1).reshape(-1, n)  # per crop: (h, n)
                res[idx] = _pil_round(_second_pass(h, spans, kind, n) @ z).reshape(len(idx), n, n)
        out[kind] = res.astype(np.uint8)
    return out


def _phash_of_pixels(px: np.ndarray) -> np.ndarray:
    """``imagehash.phash`` (``hash_size=8``) bits from its 32 x 32 resized pixels, for a stack of them: ONE
    batched DCT.

    Parameters
    ----------
    px : numpy.ndarray
        ``(k, 32, 32)`` 8-bit grey levels: each image resized by Pillow's Lanczos filter, as imagehash does.

    Returns
    -------
    numpy.ndarray
        ``(k, 64)`` bool, ``imagehash.phash(im).hash.reshape(-1)`` of each image.
    """
    from .optional import require

    fft = require("scipy.fft", extra="duplicates", purpose="duplicate detection")
    # imagehash: scipy.fftpack.dct(dct(pixels, axis=0), axis=1), unnormalized type II: the same 1-D transforms
    # (pocketfft), rows then columns, in one call over the stack
    low = fft.dctn(np.asarray(px, dtype=np.float64), type=2, axes=(1, 2))[:, :8, :8].reshape(len(px), 64)
    return low > np.median(low, axis=1, keepdims=True)


def _fingerprint_grey(g: np.ndarray) -> Fingerprint:
    """Fingerprint an 8-bit grey image: one box-averaged copy (at most ``2 * _HASH_SIDE`` pixels a side); each
    crop of it hashed (``imagehash.phash`` of the crop, bit for bit) and box-resized to its thumbnail, all
    crops in a few batched matrix products (:func:`_resize_crops`)."""
    small = _box_mean(g, _hash_factor(g.shape))
    r = _resize_crops(small, {"lanczos": 32, "box": THUMB})
    return Fingerprint(_phash_of_pixels(r["lanczos"]), r["box"])


def fingerprint(a: np.ndarray) -> Fingerprint:
    """Fingerprint a 2-D ``[0, 1]`` image (rounded to 8-bit grey levels first)."""
    return _fingerprint_grey(_to_uint8(a))


def _read_small(path: str, record: str | None, file_format: str | None, photometric: str | None,
                presentation_lut_shape: str | None = None, display_ready: bool | None = None) -> np.ndarray:
    """Read a radiograph for fingerprinting as 8-bit grey levels (white = dense,
    :func:`~covidbank.pixels.needs_inversion`). JPEGs decode their luma only (``draft("L")``: no chroma, no
    colour conversion) at reduced scale, as the imagehash-only peer does, and other colour rasters are converted
    to the same luma (ITU-R 601, as JPEG's Y): a copy of an image with coloured marks in another format gets the
    same grey levels (its first channel alone, as :func:`~covidbank.pixels.read_xray` reads, would not)."""
    from PIL import Image

    inv = {"photometric": photometric, "presentation_lut_shape": presentation_lut_shape, "display_ready": display_ready}
    fmt = (file_format or "").lower()
    name = str(path).lower()
    if fmt in ("dicom", "dcm", "nifti", "nii") or name.endswith(".dcm") or is_nifti(name):
        return _to_uint8(read_xray(path, record=record, file_format=file_format, **inv))
    if not os.path.isfile(path):
        return _to_uint8(read_xray(path, record=record))  # raises ImageMissingError naming the record
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("L", (_DECODE_SIDE, _DECODE_SIDE))
            im.load()
            if im.mode in ("RGB", "RGBA", "RGBX", "P", "PA", "LA"):
                im = im.convert("L")  # luma, as a JPEG's decoded Y: a PNG and a JPEG copy of a coloured image alike
            a = np.asarray(im)
    except Exception:
        return _to_uint8(read_xray(path, record=record, file_format=file_format, **inv))
    if a.ndim == 3:
        a = a[:, :, 0]
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        a = _to_uint8(a / (65535.0 if a.max() > 255 else 255.0))
    if needs_inversion(photometric, presentation_lut_shape, display_ready=display_ready):
        a = 255 - a
    return a


def fingerprint_file(path: str, record: str | None = None, file_format: str | None = None, photometric: str | None = None,
                     presentation_lut_shape: str | None = None, display_ready: bool | None = None) -> Fingerprint:
    """Fingerprint an image file.

    Raises
    ------
    ImageLoadError
        Naming the file and record when it cannot be read.
    """
    return _fingerprint_grey(_read_small(path, record, file_format, photometric, presentation_lut_shape, display_ready))


def _shift_windows(thumbs: np.ndarray) -> np.ndarray:
    """Every crop box's thumbnail at every shift up to MAX_SHIFT, zero-mean and
    unit-norm: ``(k * (2 MAX_SHIFT + 1)**2, n * n)``."""
    m = MAX_SHIFT
    n = THUMB - 2 * m
    win = np.lib.stride_tricks.sliding_window_view(thumbs.astype(np.float32), (n, n), axis=(1, 2))
    w = win.reshape(-1, n * n)
    w = w - w.mean(-1, keepdims=True)
    return w / (np.linalg.norm(w, axis=-1, keepdims=True) + 1e-6)


def _core(thumbs: np.ndarray) -> np.ndarray:
    """The whole-image thumbnail's centre, zero-mean and unit-norm: ``(n * n,)``."""
    m = MAX_SHIFT
    c = thumbs[0, m : THUMB - m, m : THUMB - m].astype(np.float32).reshape(-1)
    c = c - c.mean()
    return c / (np.linalg.norm(c) + 1e-6)


def _scores(windows: np.ndarray, cores: np.ndarray) -> np.ndarray:
    """``windows @ cores.T`` by ``einsum``'s own loop, not BLAS: these products are small (a few hundred
    windows against a few cores), and a threaded BLAS waits on a busy machine's second core (verification took
    3.5 times as long with OpenBLAS on 2 threads at load 3.7 as on 1)."""
    return np.einsum("ij,kj->ik", windows, cores)


def _ncc_max(ta: np.ndarray, tb: np.ndarray) -> float:
    """Max normalized cross-correlation of ``ta``'s whole-image thumbnail
    against every crop box of ``tb`` at every shift up to MAX_SHIFT pixels."""
    return float(_scores(_shift_windows(tb), _core(ta)[None, :]).max())


def compare(a: Fingerprint, b: Fingerprint) -> tuple[int, float]:
    """``(hash distance, correlation)`` of two fingerprints."""
    d = int((a.hashes[:, None, :] != b.hashes[None, :, :]).sum(-1).min())
    return d, max(_ncc_max(a.thumbs, b.thumbs), _ncc_max(b.thumbs, a.thumbs))


@dataclass
class DuplicateResult:
    """Groups and pairs found by :func:`find_duplicates`."""

    groups: pd.DataFrame
    pairs: pd.DataFrame
    errors: pd.DataFrame
    images: int = 0
    candidates: int = 0
    params: dict = field(default_factory=dict)

    def summary(self) -> dict:
        p = self.pairs[self.pairs["duplicate"]] if len(self.pairs) else self.pairs
        return {
            "near_duplicate_pairs_for_review": int((~self.pairs["duplicate"]).sum()) if len(self.pairs) else 0,
            "images": self.images,
            "unreadable": len(self.errors),
            "candidate_pairs": self.candidates,
            "duplicate_pairs": len(p),
            "groups": int(self.groups["group_id"].nunique()) if len(self.groups) else 0,
            "images_in_groups": len(self.groups),
            "cross_subject_pairs": int((~p["same_subject"]).sum()) if len(p) else 0,
            "cross_source_pairs": int((p["source_a"] != p["source_b"]).sum()) if len(p) else 0,
            **self.params,
        }


def find_duplicates(
    bank: Bank | str | os.PathLike,
    *,
    sources: Sequence[str] | None = None,
    hash_distance: int = 8,
    min_correlation: float = 0.975,
    review_correlation: float = 0.95,
    records: pd.DataFrame | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> DuplicateResult:
    """Find duplicate images among a bank's present 2-D images.

    Parameters
    ----------
    bank : Bank or path
    sources : list of str, optional
        Only these sources (default all).
    hash_distance : int
        Max Hamming distance (of 64 bits) for a candidate pair (12 was the
        default before multi-index hashing; it finds the same duplicates on
        the Cohen images with 8.4 times the candidates).
    min_correlation : float
        Min thumbnail correlation for a duplicate.
    review_correlation : float
        Pairs from this correlation up to ``min_correlation`` are listed as
        near-duplicates (``duplicate`` false) and not grouped.
    records : DataFrame, optional
        Use these rows (``image_id``, ``path``, ``subject_id``, ``source``)
        instead of querying the bank.
    progress : callable, optional
        Wraps the iteration over images (a progress bar).
    workers : int
        Processes that read and fingerprint the images (1: in this process).
    scheduler : str, optional
        Address of a dask.distributed scheduler (``tcp://host:8786``) whose
        workers fingerprint the images instead (overrides ``workers``); the
        files must be readable at the same paths on the workers.

    Returns
    -------
    DuplicateResult
        Unreadable files are listed in ``errors`` (file, record, reason), not fatal.

    Raises
    ------
    ArgumentError
        ``hash_distance`` outside 0-64 (a pHash has 64 bits), or a correlation outside -1 to 1.
    """
    if isinstance(hash_distance, bool) or not isinstance(hash_distance, (int, np.integer)) \
            or not 0 <= hash_distance <= 64:
        raise ArgumentError(f"hash_distance {hash_distance!r}: valid values are whole numbers 0-64 (bits of a pHash)")
    for name, value in (("min_correlation", min_correlation), ("review_correlation", review_correlation)):
        if not -1.0 <= float(value) <= 1.0:  # also false for NaN
            raise ArgumentError(f"{name} {value!r}: valid values are -1 to 1 (a correlation)")
    b = None
    if records is None:
        b = bank if isinstance(bank, Bank) else Bank(bank)
        records = b.query(
            "SELECT * FROM images WHERE path IS NOT NULL AND coalesce(file_present, true)"
        )
        records = b.resolve_paths(records)
        records = records[~records["path"].str.lower().str.endswith((".nii.gz", ".nii")) | records["modality"].ne("CT")]
        if sources:
            records = records[records["source"].isin(list(sources))]
    records = records.drop_duplicates("image_id").sort_values("image_id").reset_index(drop=True)
    fps: list[Fingerprint] = []
    keep: list[int] = []
    errors = []
    tasks = [(r["path"], r["image_id"], _s(r.get("file_format")), _s(r.get("photometric")),
              _s(r.get("presentation_lut_shape")), _s(r.get("display_ready")))
             for r in records.to_dict("records")]
    done = sized(map_ordered(_fingerprint_task, tasks, workers=workers, scheduler=scheduler), len(tasks))
    for i, (fp, err) in enumerate(progress(done) if progress else done):
        if fp is not None:
            fps.append(fp)
            keep.append(i)
        else:
            errors.append((tasks[i][1], tasks[i][0], err))
    recs = records.iloc[keep].reset_index(drop=True)
    n = len(fps)
    pairs = []
    cand = 0
    if n > 1:
        H = np.stack([f.hashes for f in fps])  # n, k, 64
        packed = np.packbits(H, axis=-1).view(np.uint64)[..., 0]  # n, k
        ci, cj, cd = candidate_pairs(packed, hash_distance)
        cand = len(ci)
        best = _verify(fps, ci, cj)
        for i, j, d, c in zip(ci.tolist(), cj.tolist(), cd.tolist(), best.tolist()):
            if c >= min(review_correlation, min_correlation):
                pairs.append((i, j, d, round(float(c), 4)))
    pair_df = pd.DataFrame(
        [
            {
                "image_id_a": recs.at[i, "image_id"],
                "image_id_b": recs.at[j, "image_id"],
                "source_a": recs.at[i, "source"],
                "source_b": recs.at[j, "source"],
                "subject_a": recs.at[i, "subject_id"],
                "subject_b": recs.at[j, "subject_id"],
                "hash_distance": d,
                "correlation": c,
            }
            for i, j, d, c in pairs
        ],
        columns=["image_id_a", "image_id_b", "source_a", "source_b", "subject_a", "subject_b", "hash_distance", "correlation"],
    )
    pair_df["same_subject"] = pair_df["subject_a"].astype(str) == pair_df["subject_b"].astype(str)
    pair_df["duplicate"] = pair_df["correlation"] >= min_correlation
    pairs = [p for p in pairs if p[3] >= min_correlation]
    # connected components
    from .unionfind import UnionFind

    uf: UnionFind[int] = UnionFind()
    for i, j, _, _ in pairs:
        uf.add(i)
        uf.add(j)
        uf.union(i, j)
    members = uf.groups(min_size=2)
    rows = []
    for root, lst in members.items():
        ids = sorted(recs.at[x, "image_id"] for x in lst)
        gid = ids[0]
        for x in sorted(lst):
            rows.append(
                {
                    "image_id": recs.at[x, "image_id"],
                    "group_id": gid,
                    "source": recs.at[x, "source"],
                    "subject_id": recs.at[x, "subject_id"],
                    "group_size": len(lst),
                    "phash": fps[x].hex,
                }
            )
    groups = pd.DataFrame(rows, columns=["image_id", "group_id", "source", "subject_id", "group_size", "phash"])
    groups = groups.sort_values(["group_id", "image_id"]).reset_index(drop=True)
    for c in groups.columns:
        if c != "group_size":
            groups[c] = groups[c].astype("string")
    return DuplicateResult(
        groups=groups,
        pairs=pair_df.sort_values(["image_id_a", "image_id_b"]).reset_index(drop=True),
        errors=pd.DataFrame(errors, columns=["image_id", "path", "reason"]),
        images=n,
        candidates=cand,
        params={"hash_distance": hash_distance, "min_correlation": min_correlation, "review_correlation": review_correlation},
    )


def candidate_pairs(packed: np.ndarray, hash_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs of images: the whole-image hash of one within ``hash_distance`` bits of any hash of the other.

    Parameters
    ----------
    packed : numpy.ndarray
        ``(n, len(CROP_BOXES))`` uint64 hashes per image, the whole image first.
    hash_distance : int
        Max Hamming distance.

    Returns
    -------
    tuple of numpy.ndarray
        ``(i, j, distance)`` with ``i < j``, sorted by ``(i, j)``; the distance is
        the smallest over the whole-image hash of either image against every hash
        of the other.  Found by multi-index hashing
        (:func:`covidbank.hamming.radius_pairs`), not by comparing all pairs:
        the same pairs and distances.
    """
    from .hamming import BITS, radius_pairs

    packed = np.ascontiguousarray(packed, dtype=np.uint64)
    n, k = packed.shape if packed.ndim == 2 else (0, 1)
    span = np.int64(BITS + 1)
    found = []
    for q, it, d in radius_pairs(packed[:, 0].copy(), packed.reshape(-1), hash_distance):
        j = it // k
        other = j != q
        q, j, d = q[other], j[other], d[other]
        # pair key (i * n + j) * 65 + distance: sorted, the first of each key is its smallest distance
        key = (np.minimum(q, j) * n + np.maximum(q, j)) * span + d.astype(np.int64)
        found.append(_first_per_pair(np.sort(key), span))
    if not found:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), e.copy()
    key = _first_per_pair(np.sort(np.concatenate(found)), span)
    pair, d = np.divmod(key, span)
    i, j = np.divmod(pair, n)
    return i, j, d


def _verify(fps: Sequence[Fingerprint], ci: np.ndarray, cj: np.ndarray) -> np.ndarray:
    """Thumbnail correlation of each candidate pair ``(ci[x], cj[x])`` (as :func:`compare`), batched: each
    image's shifted crop windows are built once and scored against all its candidates' cores."""
    best = np.full(len(ci), -1.0)
    if not len(ci):
        return best
    cores = np.stack([_core(f.thumbs) for f in fps])  # n, n*n
    # j's whole image against i's boxes, and i's whole image against j's boxes
    box = np.concatenate([ci, cj])
    other = np.concatenate([cj, ci])
    cand = np.concatenate([np.arange(len(ci)), np.arange(len(ci))])
    order = np.argsort(box, kind="stable")
    box, other, cand = box[order], other[order], cand[order]
    cuts = np.flatnonzero(np.r_[True, box[1:] != box[:-1], True])
    for a, b in zip(cuts[:-1], cuts[1:]):
        w = _shift_windows(fps[box[a]].thumbs)
        for s in range(a, b, 4096):  # bounded memory for an image with many candidates
            e = min(b, s + 4096)
            np.maximum.at(best, cand[s:e], _scores(w, cores[other[s:e]]).max(axis=0))
    return best


def _first_per_pair(key: np.ndarray, span: np.int64) -> np.ndarray:
    """Of sorted ``pair * span + distance`` keys, the first (smallest distance) of each pair."""
    pair = key // span
    return key[np.r_[True, pair[1:] != pair[:-1]]] if len(key) else key


def _fingerprint_task(task: tuple) -> tuple[Fingerprint | None, str | None]:
    """Fingerprint one ``(path, image_id, file_format, photometric)``; an unreadable file gives its reason."""
    try:
        return fingerprint_file(*task), None
    except ImageLoadError as e:
        return None, str(e)


def write_duplicates(bank: Bank | str | os.PathLike, **kwargs) -> DuplicateResult:
    """:func:`find_duplicates` and write tables ``duplicates`` and ``duplicate_pairs``."""
    b = bank if isinstance(bank, Bank) else Bank(bank)
    res = find_duplicates(b, **kwargs)
    b.write_table("duplicates", res.groups)
    pairs = res.pairs.copy()
    for c in pairs.columns:
        if pairs[c].dtype == object:
            pairs[c] = pairs[c].astype("string")
    b.write_table("duplicate_pairs", pairs)
    return res


def _s(v):
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
