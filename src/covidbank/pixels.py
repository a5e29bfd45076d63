"""Decoding image files into arrays (no torch needed).

One place that turns a bank record's file into pixels, used by the PyTorch
datasets, the cache and duplicate detection:

* :func:`decode_2d` gives a 2-D image in its own units (the web viewer windows
  it), and :func:`read_xray` the same image as ``float32`` in ``[0, 1]`` (white =
  dense, MONOCHROME1 inverted) from PNG (8 or 16 bit), JPEG, DICOM or a 2-D NIfTI.
* :func:`read_ct` gives a CT volume in Hounsfield units, reoriented to RAS,
  with its affine and voxel spacing: the package's one CT reader (NIfTI, DICOM
  series, SimpleITK formats; file type sniffed; defined in :mod:`covidbank.ctvolume`).
* :func:`center_crop` and :func:`resize` reproduce torchxrayvision's
  ``XRayCenterCrop`` and a fast anti-aliased ``XRayResizer``.

Every failure raises :class:`~covidbank.errors.ImageLoadError` (or its subclasses
:class:`~covidbank.errors.ImageMissingError`, :class:`~covidbank.errors.CTReadError`
for CT) naming the file and the record;
nothing returns a blank image.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from .ctvolume import CTVolume, read_ct, sniff_format
from .errors import ImageLoadError, ImageMissingError

__all__ = [
    "RESAMPLE_FILTERS",
    "needs_inversion",
    "record_needs_inversion",
    "inversion_args",
    "CTVolume",
    "center_crop",
    "decode_2d",
    "file_fingerprint",
    "file_sha1",
    "is_nifti",
    "read_ct",
    "read_mask",
    "read_xray",
    "resize",
    "sniff_format",
]

#: Resampling filters :func:`resize` accepts (Pillow's anti-aliased filters).
RESAMPLE_FILTERS = ("bilinear", "bicubic", "lanczos", "box", "hamming", "nearest")

_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(name: str | os.PathLike) -> bool:
    """Whether a file name is a NIfTI file's (``.nii`` or ``.nii.gz``, any case)."""
    return str(name).lower().endswith(_NIFTI_SUFFIXES)
_DICOM_SUFFIXES = (".dcm", ".dicom")


def _text(v) -> str:
    """A tag or column value as upper-case text ("" for None, NA, NaN)."""
    if v is None:
        return ""
    try:
        if v != v:  # NaN
            return ""
    except TypeError:  # pandas.NA
        return ""
    return str(v).strip().upper()


def needs_inversion(
    photometric: str | None = None,
    presentation_lut_shape: str | None = None,
    *,
    display_ready: bool | None = False,
) -> bool:
    """Whether a grayscale image's values must be inverted so that white means dense.

    The one rule covidbank uses everywhere (ingest's PNG writer, the ML
    loaders, the cache, duplicate detection and the web viewer):

    * a file whose values are already display-ready (the 16-bit PNGs written by
      ``covidbank ingest``, which applied the presentation step when converting;
      their sidecar and index row say ``display_ready``) is never inverted;
    * otherwise Photometric Interpretation ``MONOCHROME1`` (PS3.3 C.7.6.3.1.2:
      the minimum value is displayed white) or Presentation LUT Shape
      ``INVERSE`` (PS3.3 C.11.6: the output of the VOI step is inverted) means
      invert, once: for MONOCHROME1 the standard pairs the two (PS3.3
      C.8.11.7.1.1, DX images: INVERSE shall be used with MONOCHROME1), so
      both together still mean one inversion.

    Parameters
    ----------
    photometric : str, optional
        DICOM Photometric Interpretation of the values the file holds.
    presentation_lut_shape : str, optional
        DICOM Presentation LUT Shape (``IDENTITY`` or ``INVERSE``).
    display_ready : bool, optional
        The file's values are already the presentation values.
    """
    if _text(display_ready) == "TRUE":
        return False
    return _text(photometric) == "MONOCHROME1" or _text(presentation_lut_shape) == "INVERSE"


def record_needs_inversion(record) -> bool:
    """:func:`needs_inversion` for a bank ``images`` row (a mapping or a pandas row).

    Reads ``photometric``, ``presentation_lut_shape`` and ``display_ready``.
    For a DICOM file the tags in the file decide instead (see :func:`decode_2d`).
    """
    return needs_inversion(**inversion_args(record))


def inversion_args(record) -> dict:
    """The keyword arguments of :func:`needs_inversion` (and :func:`read_xray`) a bank record gives."""
    get = record.get
    ready = get("display_ready")
    return {"photometric": get("photometric") if _text(get("photometric")) else None,
            "presentation_lut_shape": get("presentation_lut_shape") if _text(get("presentation_lut_shape")) else None,
            "display_ready": _text(ready) == "TRUE"}


def _where(path, record) -> str:
    rec = f" (record {record})" if record else ""
    return f"{path}{rec}"


def _format_of(path: Path, file_format: str | None) -> str:
    if file_format:
        f = str(file_format).lower()
        if f in ("nii", "nifti", "nii.gz"):
            return "nifti"
        if f in ("dcm", "dicom"):
            return "dicom"
        return "raster"
    name = path.name.lower()
    if is_nifti(name):
        return "nifti"
    if name.endswith(_DICOM_SUFFIXES):
        return "dicom"
    return "raster"


def _load_error(path: Path, record, reason: str) -> ImageLoadError:
    """An :class:`ImageLoadError` naming the file and record, with the bare ``reason`` kept apart."""
    return ImageLoadError(f"{_where(path, record)}: {reason}", reason=reason)


def _check_exists(path: Path, record) -> None:
    if not path.is_file():
        raise ImageMissingError(
            f"{_where(path, record)}: image file is missing; restore it or load with on_error='skip'"
        )


def read_xray(
    path: str | os.PathLike,
    *,
    record: str | None = None,
    file_format: str | None = None,
    photometric: str | None = None,
    presentation_lut_shape: str | None = None,
    display_ready: bool | None = False,
) -> np.ndarray:
    """Read a 2-D radiograph as ``float32`` in ``[0, 1]``, white = dense.

    Parameters
    ----------
    path : path-like
        PNG, JPEG (any Pillow format), DICOM or 2-D NIfTI file.
    record : str, optional
        The record (``image_id``) named in error messages.
    file_format : str, optional
        ``png``, ``jpeg``, ``dicom``, ``nifti``...; guessed from the suffix if absent.
    photometric, presentation_lut_shape, display_ready : optional
        What the bank says about a raster/NIfTI file's values; inverted when
        :func:`needs_inversion` says so.  A DICOM file carries its own tags,
        which decide instead.

    Returns
    -------
    numpy.ndarray
        2-D ``float32``.  8-bit rasters are divided by 255 and 16-bit by 65535
        (as torchxrayvision divides by its ``maxval``); colour images keep
        their first channel (as torchxrayvision does); DICOM and NIfTI are
        min-max scaled after the modality LUT.

    Raises
    ------
    ImageMissingError
        If the file does not exist.
    ImageLoadError
        If the file cannot be decoded (truncated, corrupt, not an image, empty).
    """
    arr, invert = decode_2d(path, record=record, file_format=file_format)
    kind = _format_of(Path(path), file_format)
    if kind == "raster" and arr.dtype == np.uint8:
        arr = np.divide(arr, np.float32(255.0), dtype=np.float32)
    elif kind == "raster" and arr.dtype in (np.uint16, np.int32, np.int16):
        # 16-bit PNG (Pillow gives I;16 or I): full 16-bit scale
        arr = arr.astype(np.float32) / 65535.0
    else:
        # DICOM (after the modality LUT), NIfTI and float rasters: min-max
        arr = arr.astype(np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if hi > lo:
            arr = (arr - lo) / (hi - lo)
        elif kind == "raster":
            arr = np.zeros_like(arr)
        else:
            what = "DICOM" if kind == "dicom" else "NIfTI"
            raise ImageLoadError(f"{_where(Path(path), record)}: {what} image is constant (value {lo}); nothing to show")
    if kind != "dicom":
        invert = needs_inversion(photometric, presentation_lut_shape, display_ready=display_ready)
    if invert:
        arr = 1.0 - arr
    return np.ascontiguousarray(arr, dtype=np.float32)


def decode_2d(
    path: str | os.PathLike,
    *,
    record: str | None = None,
    file_format: str | None = None,
) -> tuple[np.ndarray, bool]:
    """Decode a 2-D image in its own units, and say whether it is to be shown inverted.

    Parameters
    ----------
    path : path-like
        PNG, JPEG (any Pillow format), DICOM or 2-D NIfTI file.
    record : str, optional
        The record (``image_id``) named in error messages.
    file_format : str, optional
        ``png``, ``jpeg``, ``dicom``, ``nifti``...; guessed from the suffix if absent.

    Returns
    -------
    array : numpy.ndarray
        2-D.  Rasters as Pillow gives them (``uint8``; ``uint16`` for 16-bit PNG;
        ``int32``/``float32`` for Pillow's I/F modes; colour keeps its first
        channel, as torchxrayvision does); DICOM after the modality LUT
        (``float32``, first frame); NIfTI as stored, rows top-down.
    invert : bool
        True for a DICOM file whose tags say so (:func:`needs_inversion`:
        MONOCHROME1 or Presentation LUT Shape INVERSE); always False for other
        files, whose bank record decides (:func:`record_needs_inversion`).

    Raises
    ------
    ImageMissingError
        If the file does not exist.
    ImageLoadError
        If the file cannot be decoded (truncated, corrupt, not an image, empty).
    """
    p = Path(path)
    _check_exists(p, record)
    kind = _format_of(p, file_format)
    try:
        if kind == "dicom":
            arr, invert = _read_dicom(p)
        elif kind == "nifti":
            arr, invert = _read_nifti_2d(p), False
        else:
            arr, invert = _read_raster(p), False
    except (ImageLoadError, MemoryError):
        raise
    except Exception as e:  # decoders raise many unrelated types on bad input
        raise _load_error(p, record, f"cannot decode image ({type(e).__name__}: {e})") from None
    if arr.ndim != 2 or arr.size == 0 or min(arr.shape) < 2:
        raise _load_error(p, record, f"not a 2-D image (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise _load_error(p, record, "image holds NaN or infinite values")
    return arr, invert


def _read_raster(p: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(p) as im:
        im.load()
        mode = im.mode
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            mode = im.mode
        if mode in ("RGB", "RGBA", "LA", "RGBX", "CMYK", "YCbCr", "La", "RGBa", "PA"):
            im = im.getchannel(0)  # torchxrayvision keeps the first channel
        a = np.asarray(im)
    if a.ndim == 3:
        a = a[:, :, 0]
    if a.dtype == bool:  # 1-bit images
        return a.astype(np.uint8) * np.uint8(255)
    return a


def _read_dicom(p: Path) -> tuple[np.ndarray, bool]:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    ds = pydicom.dcmread(p)
    if "PixelData" not in ds:
        raise _load_error(p, None, "DICOM file has no pixel data")
    a = ds.pixel_array
    if a.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        a = a[0]
    elif a.ndim == 3:
        a = a[..., 0]
    a = apply_modality_lut(a, ds).astype(np.float32)
    return a, needs_inversion(ds.get("PhotometricInterpretation"), ds.get("PresentationLUTShape"))


def _read_nifti_2d(p: Path) -> np.ndarray:
    import nibabel as nib

    img = nib.load(str(p))
    a = np.asarray(img.dataobj).squeeze()
    if a.ndim != 2:
        raise _load_error(p, None, f"NIfTI image is not 2-D (shape {a.shape}); use CTDataset for volumes")
    # NIfTI stores (x, y): show rows top-down, columns left-right.
    return np.flipud(a.T)


def read_mask(path: str | os.PathLike, *, record: str | None = None, like: CTVolume | None = None) -> np.ndarray:
    """Read a segmentation mask volume in RAS orientation as ``int16`` labels (through :func:`read_ct`).

    Raises
    ------
    CTReadError
        If it cannot be read, or its shape differs from ``like``'s.
    """
    from .errors import CTReadError

    m = read_ct(path, record=record).data
    m = np.rint(m).astype(np.int16) if m.dtype.kind == "f" else m.astype(np.int16)
    if like is not None and m.shape != like.data.shape:
        where = f"{path} (record {record})" if record else str(path)
        raise CTReadError(f"{where}: mask shape {m.shape} differs from its volume's {like.data.shape}")
    return m


def center_crop(a: np.ndarray) -> np.ndarray:
    """Crop the largest centred square, exactly as torchxrayvision's ``XRayCenterCrop``."""
    y, x = a.shape[-2:]
    c = min(y, x)
    sx = x // 2 - c // 2
    sy = y // 2 - c // 2
    return a[..., sy : sy + c, sx : sx + c]


def pad_square(a: np.ndarray, value: float = 0.0) -> np.ndarray:
    """Pad to a centred square with ``value`` (keeps the whole image)."""
    y, x = a.shape[-2:]
    c = max(y, x)
    py, px = c - y, c - x
    pads = [(0, 0)] * (a.ndim - 2) + [(py // 2, py - py // 2), (px // 2, px - px // 2)]
    return np.pad(a, pads, constant_values=value)


def resize(a: np.ndarray, size: int | tuple[int, int], resample: str = "xrv") -> np.ndarray:
    """Resize a 2-D ``float32`` array in ``[0, 1]``.

    Parameters
    ----------
    a : numpy.ndarray
    size : int or (height, width)
    resample : str
        ``xrv`` (default) reproduces torchxrayvision's ``XRayResizer`` (skimage
        ``resize``: Gaussian anti-aliasing with sigma ``(factor - 1) / 2`` and
        linear interpolation, outside pixels taken as mid-grey, which is 0 in
        its [-1024, 1024] scale) as sparse matrix products, about 10 times
        faster and equal to 1e-3 on that scale.  ``bilinear``, ``bicubic``,
        ``lanczos``, ``box``, ``hamming``, ``nearest`` use Pillow's
        anti-aliased filters (faster still; ``bilinear`` differs from
        torchxrayvision by about 2.8 of 2048 on average).
    """
    if resample != "xrv" and resample not in RESAMPLE_FILTERS:
        raise ValueError(f"unknown resample filter {resample!r}: use xrv or one of {RESAMPLE_FILTERS}")
    h, w = (size, size) if isinstance(size, int) else size
    a = np.asarray(a, dtype=np.float32)
    if a.shape == (h, w):
        return a
    if resample == "xrv":
        return _resize_xrv(a, h, w)
    from PIL import Image

    flt = getattr(Image.Resampling, resample.upper())
    im = Image.fromarray(np.ascontiguousarray(a))
    return np.asarray(im.resize((w, h), flt), dtype=np.float32)


@functools.lru_cache(maxsize=256)
def _axis_matrix(n_in: int, n_out: int):
    """Sparse ``(n_out, n_in)`` matrix of skimage's resize along one axis:
    Gaussian anti-aliasing (sigma ``(n_in / n_out - 1) / 2``, truncated at 4
    sigma like scipy) followed by linear interpolation at the grid-mode
    coordinates ``(o + 0.5) * n_in / n_out - 0.5``.  Taps falling outside the
    image are dropped; their weight (``1 - row sum``) goes to the constant
    border value.  Returns the matrix and its row sums."""
    from .optional import require

    sp = require("scipy.sparse", extra="torch", purpose="the torchxrayvision resampler (resample='xrv')")

    f = n_in / n_out
    sigma = max(0.0, (f - 1) / 2)
    if sigma > 1e-15:
        r = int(4.0 * sigma + 0.5)
        k = np.arange(-r, r + 1)
        g = np.exp(-0.5 * (k / sigma) ** 2)
        g /= g.sum()
    else:
        k, g = np.array([0]), np.array([1.0])
    o = np.arange(n_out)
    x = (o + 0.5) * f - 0.5
    j0 = np.floor(x).astype(np.int64)
    t = x - j0
    rows, cols, vals = [], [], []
    for jj, wt in ((j0, 1 - t), (j0 + 1, t)):
        i = jj[:, None] + k[None, :]
        v = wt[:, None] * g[None, :]
        m = ((jj >= 0) & (jj < n_in))[:, None] & (i >= 0) & (i < n_in) & (v != 0)
        rows.append(np.broadcast_to(o[:, None], i.shape)[m])
        cols.append(i[m])
        vals.append(v[m])
    mat = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in))
    mat.sum_duplicates()
    return mat.astype(np.float32), np.asarray(mat.sum(axis=1), dtype=np.float64).ravel()


def _resize_xrv(a: np.ndarray, h: int, w: int, cval: float = 0.5) -> np.ndarray:
    """torchxrayvision's ``XRayResizer`` (``skimage.transform.resize`` with
    ``mode="constant"``, anti-aliasing, order 1) as two sparse matrix products.

    The operation is linear and separable, so ``out = Ry (A - c) Rx^T + c``;
    computing only the output samples makes it ~10x faster than filtering every
    input pixel, with the same values (to 1e-3 on the [-1024, 1024] scale).
    ``cval`` 0.5 in [0, 1] is skimage's 0 in torchxrayvision's scale.
    """
    ry, sy = _axis_matrix(a.shape[0], h)
    rx, sx = _axis_matrix(a.shape[1], w)
    t1 = ry @ np.ascontiguousarray(a, dtype=np.float32)  # h x W
    out = np.asarray((rx @ t1.T).T, dtype=np.float32)  # h x w
    out += (cval * (1.0 - np.outer(sy, sx))).astype(np.float32)
    lo, hi = min(float(a.min()), cval), max(float(a.max()), cval)
    return np.clip(out, lo, hi, out=out)


def file_fingerprint(path: str | os.PathLike) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a file, the cheap staleness key."""
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def file_sha1(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-1 of a file's bytes (the strict staleness key)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
