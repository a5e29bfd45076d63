"""Rendering for the viewer: X-ray images with window/level, thumbnails, CT slices with mask overlays.

Everything here takes paths that :class:`~covidbank.web.store.BankStore`
looked up by record id; nothing takes a path from a client.

* 8-bit and 16-bit PNG/JPEG (and DICOM, 2-D NIfTI) are read as arrays; a
  window (center/width in the file's own units) maps them to 8 bits.  The
  default window of a 16-bit image spans its 0.5-99.5 percentiles.
* CT volumes (NIfTI) are read by :func:`covidbank.pixels.read_ct` (RAS) and
  shown axially in radiological convention (patient's right on the left,
  anterior up) with HU windows; a single coronal or sagittal slice is shown in
  its own plane (one slice), not as one-pixel axial strips.
* Masks (NIfTI or PNG) are drawn as coloured overlays: lesion red, lung green,
  other labels from a palette.
* Thumbnails are cached on disk, keyed by record, file size and modification
  time and thumbnail size, so a changed file gets a new thumbnail.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..ctvolume import slice_plane
from ..errors import RenderError
from ..fileio import atomic_write
from ..pixels import is_nifti

__all__ = [
    "Renderer",
    "apply_window",
    "auto_window",
    "default_cache_dir",
    "overlay_mask",
    "read_image",
    "read_volume",
    "to_png",
]

_RENDER_VERSION = "1"
_OVERLAY_COLORS = {
    "lesion": (255, 40, 40),
    "lung": (40, 220, 90),
}
_PALETTE = [(255, 40, 40), (40, 220, 90), (60, 140, 255), (255, 200, 0), (220, 60, 255), (0, 220, 220)]


def default_cache_dir(bank_root: Path) -> Path:
    """Per-bank thumbnail cache under ``$XDG_CACHE_HOME/covidbank/web`` (or ``~/.cache``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    h = hashlib.sha1(str(bank_root).encode()).hexdigest()[:12]
    return base / "covidbank" / "web" / h


class _LRU:
    """A small thread-safe LRU cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        val = make()
        with self._lock:
            self._d[key] = val
            self._d.move_to_end(key)
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)
        return val


def _stat_key(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RenderError(f"{path.name}: file is missing on disk") from None
    except OSError as e:
        raise RenderError(f"{path.name}: cannot be read ({e.strerror})") from None
    if not path.is_file():
        raise RenderError(f"{path.name}: not a file")
    return (str(path), st.st_mtime_ns, st.st_size)


def read_image(path: Path, invert: bool = False) -> np.ndarray:
    """Read a 2-D image as a 2-D array in its own units, white = dense.

    Whether to invert is :func:`covidbank.pixels.needs_inversion`'s answer: a DICOM
    file's own tags decide; for other files ``invert`` (the bank record's answer,
    :func:`covidbank.pixels.record_needs_inversion`).

    Decoding is :func:`covidbank.pixels.decode_2d`'s: 8-bit images give ``uint8``, 16-bit
    PNGs ``uint16``, DICOM the values after the modality LUT (a MONOCHROME1 image is
    inverted within its own range), a NIfTI its 2-D data; colour images keep their first
    channel.

    Raises
    ------
    RenderError
        When the file is missing, truncated or not a 2-D image (the message names the file,
        not its folder).
    """
    from ..errors import ImageLoadError
    from ..pixels import decode_2d

    path = Path(path)
    _stat_key(path)
    try:
        is_dicom = _looks_dicom(path)
        arr, dicom_invert = decode_2d(path, file_format="dicom" if is_dicom else None)
    except ImageLoadError as e:
        raise RenderError(f"{path.name}: cannot be decoded ({e.reason})") from None
    if dicom_invert if is_dicom or path.name.lower().endswith((".dcm", ".dicom")) else invert:
        arr = arr.max() + arr.min() - arr
    return arr


def _looks_dicom(path: Path) -> bool:
    """A DICOM file without the .dcm suffix: "DICM" after the 128-byte preamble."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def read_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Read a CT volume or mask reoriented to RAS (:func:`covidbank.pixels.read_ct`); the array and voxel sizes (mm).

    Raises
    ------
    RenderError
        When the file is missing, unreadable or not 3-D (the reader's reason,
        naming the file but not its folder).
    """
    from ..errors import CTReadError
    from ..pixels import read_ct

    path = Path(path)
    _stat_key(path)
    try:
        vol = read_ct(path)
    except CTReadError as e:
        reason = str(e).replace(str(path), path.name)
        if reason.startswith(path.name + ": "):
            reason = reason[len(path.name) + 2:]
        raise RenderError(f"{path.name}: cannot be read as a CT volume ({reason})") from None
    return vol.data, vol.spacing


def auto_window(arr: np.ndarray) -> tuple[float, float]:
    """Default (center, width): the full 0-255 range for 8-bit data, else the 0.5-99.5 percentiles."""
    if arr.dtype == np.uint8:
        return 127.5, 255.0
    sample = arr[:: max(1, arr.shape[0] // 512), :: max(1, arr.shape[1] // 512)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        hi = lo + 1
    return (float(lo) + float(hi)) / 2.0, float(hi) - float(lo)


def apply_window(arr: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map ``center +- width/2`` to 0..255 (clipped) as ``uint8``."""
    width = max(float(width), 1e-6)
    lo = float(center) - width / 2.0
    out = (arr.astype(np.float32) - lo) * (255.0 / width)
    return np.clip(out, 0, 255).astype(np.uint8)


def overlay_mask(gray: np.ndarray, mask: np.ndarray, kind: str | None = None, alpha: float = 0.45) -> np.ndarray:
    """Blend a label mask over a grey (or already coloured RGB) ``uint8`` image; returns RGB ``uint8``.

    A binary mask takes the colour of its ``kind`` (lesion red, lung green);
    a multi-label mask gets one palette colour per label value.
    """
    rgb = (np.repeat(gray[..., None], 3, axis=-1) if gray.ndim == 2 else gray).astype(np.float32)
    if mask.shape != gray.shape:
        mask = np.array(Image.fromarray(mask.astype(np.uint8)).resize((gray.shape[1], gray.shape[0]), Image.NEAREST))
    values = [v for v in np.unique(mask) if v != 0]
    for i, v in enumerate(values):
        if len(values) == 1:
            color = _OVERLAY_COLORS.get((kind or "lesion").lower(), _PALETTE[0])
        else:
            color = _PALETTE[i % len(_PALETTE)]
        sel = mask == v
        rgb[sel] = rgb[sel] * (1 - alpha) + np.array(color, dtype=np.float32) * alpha
    return np.clip(rgb, 0, 255).astype(np.uint8)


def to_png(arr: np.ndarray) -> bytes:
    """Encode a ``uint8`` grey or RGB array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _resize(arr: np.ndarray, max_side: int | None) -> np.ndarray:
    if not max_side or max(arr.shape[:2]) <= max_side:
        return arr
    h, w = arr.shape[:2]
    s = max_side / max(h, w)
    im = Image.fromarray(arr).resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return np.array(im)


def _axial(vol: np.ndarray, z: int) -> np.ndarray:
    """Axial slice ``z`` of a RAS volume in radiological display order."""
    return vol[:, :, z].T[::-1, ::-1]


def _plane_view(vol: np.ndarray, z: int, plane: str) -> np.ndarray:
    """Slice ``z`` in the volume's own plane, in radiological display order.

    ``axial`` (and volumes): patient's right on the left, anterior up; a single
    ``coronal`` slice ``(X, 1, Z)``: right on the left, superior up; a single
    ``sagittal`` slice ``(1, Y, Z)``: anterior on the left, superior up.
    """
    if plane == "coronal":
        return vol[:, 0, :].T[::-1, ::-1]
    if plane == "sagittal":
        return vol[0, :, :].T[::-1, ::-1]
    return _axial(vol, z)


def _n_views(shape, plane: str) -> int:
    """How many slices the viewer steps through: the axial ones, or one for a non-axial single slice."""
    return 1 if plane in ("coronal", "sagittal") else int(shape[2])


class Renderer:
    """Renders images, thumbnails and CT slices, with in-memory and on-disk caches.

    Parameters
    ----------
    cache_dir : Path
        Folder of the thumbnail cache (created on first use).
    thumb_size : int
        Longest side of a thumbnail in pixels.
    """

    def __init__(self, cache_dir: Path, thumb_size: int = 256) -> None:
        self.cache_dir = Path(cache_dir)
        self.thumb_size = thumb_size
        self._images = _LRU(8)
        self._volumes = _LRU(2)
        self._masks = _LRU(4)
        self.stats = {"thumb_hits": 0, "thumb_misses": 0}

    # ------------------------------------------------------------- loading
    def image_array(self, path: Path, invert: bool = False) -> np.ndarray:
        """The decoded 2-D array of ``path`` (cached by path, size and mtime); ``invert`` as :func:`read_image`."""
        key = _stat_key(path) + (bool(invert),)
        return self._images.get(key, lambda: read_image(path, invert))

    def volume(self, path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
        """A RAS volume and its voxel sizes (cached)."""
        key = _stat_key(path)
        return self._volumes.get(key, lambda: read_volume(path))

    def mask_array(self, path: Path, ndim: int) -> np.ndarray:
        """A mask as ``uint8`` labels: 2-D for images, RAS 3-D for volumes."""
        key = _stat_key(path) + (ndim,)

        def load() -> np.ndarray:
            if ndim == 3:
                arr, _ = read_volume(path)
            else:
                arr = read_image(path)
                if arr.dtype != np.uint8 or arr.max() > 16:
                    arr = arr > (arr.max() / 2 if arr.max() else 0)
            return np.asarray(arr).astype(np.uint8)

        return self._masks.get(key, load)

    # ------------------------------------------------------------- 2-D images
    def image_info(self, path: Path, invert: bool = False) -> dict:
        """Size, data type, value range and default window of an image."""
        arr = self.image_array(path, invert)
        wc, ww = auto_window(arr)
        return {
            "width": int(arr.shape[1]),
            "height": int(arr.shape[0]),
            "dtype": str(arr.dtype),
            "bits": 8 if arr.dtype == np.uint8 else 16 if arr.dtype == np.uint16 else 32,
            "min": float(arr.min()),
            "max": float(arr.max()),
            "window_center": wc,
            "window_width": ww,
        }

    def image_png(
        self,
        path: Path,
        center: float | None = None,
        width: float | None = None,
        size: int | None = 1024,
        masks: list[tuple[str, Path]] = (),
        invert: bool = False,
    ) -> tuple[bytes, tuple[float, float]]:
        """A windowed rendering of a 2-D image as PNG, with ``(kind, path)`` mask overlays.

        Returns the PNG bytes and the window used.
        """
        arr = self.image_array(path, invert)
        dc, dw = auto_window(arr)
        wc = dc if center is None else center
        ww = dw if width is None else width
        out = apply_window(arr, wc, ww)
        for kind, mpath in masks:
            out = overlay_mask(out, self.mask_array(mpath, 2), kind)
        return to_png(_resize(out, size)), (wc, ww)

    def thumbnail(self, key: str, path: Path, invert: bool = False) -> bytes:
        """A cached PNG thumbnail of a 2-D image or the middle axial slice of a volume."""
        skey = _stat_key(path)
        h = hashlib.sha1(f"{_RENDER_VERSION}|{key}|{skey}|{self.thumb_size}|{bool(invert)}".encode()).hexdigest()
        f = self.cache_dir / h[:2] / f"{h}.png"
        if f.is_file():
            self.stats["thumb_hits"] += 1
            return f.read_bytes()
        self.stats["thumb_misses"] += 1
        if is_nifti(path.name) and self._ndim(path) == 3:
            vol, _ = self.volume(path)
            plane = slice_plane(vol.shape)
            gray = apply_window(_plane_view(vol, vol.shape[2] // 2, plane), -600, 1500)
        else:
            arr = self.image_array(path, invert)
            gray = apply_window(arr, *auto_window(arr))
        data = to_png(_resize(gray, self.thumb_size))
        atomic_write(f, data)
        return data

    def _ndim(self, path: Path) -> int:
        import nibabel as nib

        try:
            return len([s for s in nib.load(str(path)).shape if s > 1])
        except Exception as e:  # noqa: BLE001
            raise RenderError(f"{path.name}: cannot be read as NIfTI ({e.__class__.__name__}: {e})") from None

    # ------------------------------------------------------------- CT volumes
    def volume_info(self, path: Path | None, masks: list[tuple[str, Path]] = ()) -> dict:
        """Shape, spacing, HU range of a volume and, per mask, its labels and slices.

        With no volume, the first mask gives the shape (mask-only viewing).
        """
        info: dict[str, Any] = {"volume": False, "mask": False, "masks": []}
        if path is not None:
            vol, zooms = self.volume(path)
            info.update(
                volume=True,
                plane=slice_plane(vol.shape),
                shape=[int(s) for s in vol.shape],
                spacing=[round(z, 3) for z in zooms],
                min=float(vol.min()),
                max=float(vol.max()),
            )
        for kind, mpath in masks:
            m = self.mask_array(mpath, 3)
            if slice_plane(m.shape) in ("coronal", "sagittal"):
                zs = np.array([0]) if m.any() else np.array([], dtype=int)
            else:
                zs = np.nonzero(m.reshape(-1, m.shape[2]).any(axis=0))[0]
            mi = {
                "kind": kind,
                "shape": [int(s) for s in m.shape],
                "labels": [int(v) for v in np.unique(m) if v != 0],
                "slices": [int(zs.min()), int(zs.max())] if zs.size else None,
            }
            if "shape" not in info:
                info["shape"] = mi["shape"]
                _, zooms = read_volume(mpath)
                info["spacing"] = [round(z, 3) for z in zooms]
            mi["matches"] = mi["shape"] == info["shape"]
            info["masks"].append(mi)
        info["mask"] = bool(info["masks"])
        shown = [m for m in info["masks"] if m["matches"] and m["slices"]]
        lesion = [m for m in shown if m["kind"] == "lesion"] or shown
        info["mask_slices"] = lesion[0]["slices"] if lesion else None
        info.setdefault("plane", slice_plane(info["shape"]) if "shape" in info else "volume")
        info["slices"] = _n_views(info["shape"], info["plane"]) if "shape" in info else 0
        return info

    def slice_png(
        self,
        path: Path | None,
        z: int,
        center: float,
        width: float,
        masks: list[tuple[str, Path]] = (),
    ) -> bytes:
        """Axial slice ``z`` windowed in HU, with ``(kind, path)`` masks overlaid.

        A single coronal or sagittal slice (an axis of length one) is shown in
        its own plane, as its only slice ``z = 0``.

        With no volume (``path`` None) the masks are drawn alone on black.
        A mask whose shape differs from the volume's is left out (reported by
        :meth:`volume_info`).

        Raises
        ------
        RenderError
            When ``z`` is out of range or there is nothing to draw.
        """
        arrays = [(kind, self.mask_array(mp, 3)) for kind, mp in masks]
        if path is not None:
            vol, _ = self.volume(path)
            shape = vol.shape
        elif arrays:
            shape = arrays[0][1].shape
        else:
            raise RenderError("nothing to render: neither the volume nor a mask is available")
        plane = slice_plane(shape)
        n = _n_views(shape, plane)
        if not 0 <= z < n:
            raise RenderError(f"slice {z} is out of range 0..{n - 1}")
        if path is not None:
            out = apply_window(_plane_view(vol, z, plane), center, width)
        else:
            out = np.full(_plane_view(arrays[0][1], z, plane).shape, 24, dtype=np.uint8)
        for kind, m in arrays:
            if m.shape == shape:
                out = overlay_mask(out, _plane_view(m, z, plane), kind,
                                   alpha=(0.3 if kind == "lung" else 0.5) if path is not None else 0.9)
        return to_png(out)
