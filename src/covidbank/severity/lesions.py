"""COVID-19 lesions inside the lungs: from a given mask or estimated from HU.

The estimator (:func:`estimate_lesions`) follows the MosMedData annotation
window: ground-glass opacities between -700 and -130 HU, plus consolidation
(-130..+100 HU regions thicker than vessels), inside the lung mask:

1. ground glass: voxels in the window (after a 3x3 in-plane mean filter
   against noise) inside the lung mask eroded by one pixel (the pleural rim
   is partial volume, not lesion).  When the lung's normal parenchyma is
   denser than usual (expiration, dependent lung: the 15th percentile of the
   lung's voxels above -850 HU), the window's lower limit rises to that
   percentile + 150 HU, at most to -550 HU, so normal but dense lung is not
   called ground glass (the darkest 15 % stays normal lung even in CT-4);
2. consolidation: dense voxels kept by an in-plane opening of
   ``consolidation_opening_mm`` (vessels are thinner and vanish);
3. vessel suppression: the remaining dense voxels (vessels) and a one-pixel
   halo around them are removed from the ground glass, then a small opening
   removes speckle;
4. components smaller than ``min_volume_mm3`` are dropped.

:func:`calibrate_intensity` is the *intensity mode* for images that are not
in HU (8-bit, windowed): the dark lung parenchyma and the soft tissue of the
picture are taken as -850 and +40 HU, the picture is mapped linearly to
pseudo-HU, and the same estimator runs on it.  It gives an approximate lesion
*area*; grading is not done on it.  The pixel size of a picture is unknown
(taken as 1 mm), so the intensity mode opens the ground glass by one pixel
(:data:`INTENSITY_MODE_PARAMS`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optional import require
from .io import CTVolume

ndi = require("scipy.ndimage", purpose="CT severity")

__all__ = [
    "LesionParams",
    "estimate_lesions",
    "calibrate_intensity",
    "INTENSITY_MODE_PARAMS",
    "PARENCHYMA_HU",
    "SOFT_TISSUE_HU",
]

#: reference values of the intensity mode's two-point calibration
PARENCHYMA_HU = -850.0
SOFT_TISSUE_HU = 40.0

# in-plane structures for (X, Y, Z) arrays
_CROSS = np.zeros((3, 3, 3), bool)
_CROSS[:, :, 1] = ndi.generate_binary_structure(2, 1)
_SQUARE = np.zeros((3, 3, 3), bool)
_SQUARE[:, :, 1] = True


@dataclass
class LesionParams:
    """Parameters of the lesion estimator (HU, mm)."""

    window_hu: tuple[float, float] = (-700.0, -130.0)
    #: raise the window's lower limit to (normal parenchyma + margin) when the
    #: lung's normal parenchyma is denser than usual, up to ``adaptive_cap_hu``;
    #: normal parenchyma = this percentile of the lung's air-like voxels
    adaptive_lower: bool = True
    adaptive_percentile: float = 15.0
    adaptive_margin_hu: float = 150.0
    adaptive_cap_hu: float = -550.0
    #: in-plane mean filter (pixels) against noise before thresholding; 1 = none
    smooth_px: int = 3
    include_consolidation: bool = True
    consolidation_max_hu: float = 100.0
    consolidation_opening_mm: float = 3.0
    vessel_suppression: bool = True
    #: in-plane opening of the ground glass (removes vessel rims and speckle)
    ggo_opening_mm: float = 2.0
    min_volume_mm3: float = 20.0


#: lesion parameters of the intensity mode (pixel units: 1 "mm" = 1 pixel)
INTENSITY_MODE_PARAMS = LesionParams(ggo_opening_mm=1.0)


def _bbox(mask: np.ndarray, margin: int = 2) -> tuple[slice, ...]:
    sl = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        ix = np.flatnonzero(mask.any(axis=other))
        mg = margin if ax < 2 else 0
        sl.append(slice(max(int(ix[0]) - mg, 0), min(int(ix[-1]) + mg + 1, mask.shape[ax])))
    return tuple(sl)


def _open_inplane(m: np.ndarray, n: int) -> np.ndarray:
    if n <= 0:
        return m
    a, b = (n + 1) // 2, n // 2
    e = ndi.binary_erosion(m, structure=_CROSS, iterations=a, border_value=0)
    if b:
        e = ndi.binary_erosion(e, structure=_SQUARE, iterations=b, border_value=0)
        e = ndi.binary_dilation(e, structure=_SQUARE, iterations=b)
    e = ndi.binary_dilation(e, structure=_CROSS, iterations=a)
    return e & m


def estimate_lesions(
    hu: np.ndarray,
    lungs: np.ndarray,
    spacing: tuple[float, float, float],
    params: LesionParams | None = None,
    downsample: int | None = None,
) -> np.ndarray:
    """Estimate GGO/consolidation inside the lungs from Hounsfield units.

    Parameters
    ----------
    hu : numpy.ndarray
        CT in HU, ``(X, Y, Z)``.
    lungs : numpy.ndarray
        Lung mask (bool or labels > 0), same shape.
    spacing : tuple of float
        Voxel size in mm along the three axes.
    params : LesionParams, optional
    downsample : int, optional
        In-plane working-resolution factor; default 2 for volumes of more
        than 24 million voxels (512x512x92), else 1.  The estimate is made on
        block means and upsampled back inside the lung mask.

    Returns
    -------
    numpy.ndarray
        bool lesion mask, same shape, always inside ``lungs``.
    """
    p = params or LesionParams()
    lung = np.asarray(lungs) > 0
    out = np.zeros(lung.shape, bool)
    if not lung.any():
        return out
    f = downsample if downsample is not None else (2 if lung.size > 24_000_000 and min(lung.shape[:2]) >= 256 else 1)
    if f > 1:
        from .lungs import _block_mean_xy, _upsample_xy

        sl = _bbox(lung, margin=2 * f)
        sub_l = lung[sl]
        h_w = _block_mean_xy(hu[sl], f)
        l_w = sub_l[: h_w.shape[0] * f : f, : h_w.shape[1] * f : f, :]
        les_w = estimate_lesions(h_w, l_w, (spacing[0] * f, spacing[1] * f, spacing[2]), p, downsample=1)
        out[sl] = _upsample_xy(les_w, f, sub_l.shape) & sub_l
        return out
    sl = _bbox(lung)
    lung_c = lung[sl]
    raw = hu[sl]
    h = raw.astype(np.float32)
    if p.smooth_px > 1:
        h = ndi.uniform_filter(h, size=(p.smooth_px, p.smooth_px, 1))
    lo, hi = p.window_hu
    if p.adaptive_lower:
        v = h[lung_c]
        v = v[(v > -1000) & (v < -300)]
        if v.size > 100:
            ref = float(np.percentile(v, p.adaptive_percentile))
            lo = max(lo, min(ref + p.adaptive_margin_hu, p.adaptive_cap_hu))
    estimate_lesions.last_window = (lo, hi)  # type: ignore[attr-defined]
    px = float(min(spacing[0], spacing[1]))
    inner = ndi.binary_erosion(lung_c, structure=_CROSS, border_value=0)
    ggo = (h >= lo) & (h <= hi) & inner
    dense_open = np.zeros_like(ggo)
    if p.include_consolidation or p.vessel_suppression:
        bright = (raw > hi) & lung_c  # unsmoothed: thin vessels keep their density
        dense = bright & (raw <= p.consolidation_max_hu)
        r = max(1, int(round(p.consolidation_opening_mm / px)))
        dense_open = _open_inplane(dense, r)
        if p.vessel_suppression:
            vessels = bright & ~ndi.binary_dilation(dense_open, structure=_CROSS)
            halo = ndi.binary_dilation(vessels, structure=_SQUARE, iterations=1 + (p.smooth_px // 2))
            ggo &= ~halo
        ggo = _open_inplane(ggo, max(1, int(round(p.ggo_opening_mm / px))))
    les = ggo | (dense_open if p.include_consolidation else False)
    les &= lung_c
    vox = float(spacing[0] * spacing[1] * spacing[2])
    min_vox = int(np.ceil(p.min_volume_mm3 / vox)) if vox > 0 else 1
    if min_vox > 1 and les.any():
        lab, n = ndi.label(les, structure=ndi.generate_binary_structure(3, 1))
        sizes = np.bincount(lab.ravel())
        small = sizes < min_vox
        small[0] = False
        les[small[lab]] = False
    out[sl] = les
    return out


def calibrate_intensity(ct: CTVolume, closing_fraction: float = 0.04) -> tuple[CTVolume, np.ndarray]:
    """Intensity mode: map an 8-bit / windowed image to pseudo-HU.

    The lungs are the dark regions of the picture (Otsu threshold, components
    of at least 2 % of the image, closed with a disk of ``closing_fraction``
    of the image size and hole-filled; dark regions at the
    border clearly darker than the others are outside air); their median is
    (dark part) is taken as :data:`PARENCHYMA_HU` and the median of the brighter tissue outside
    them as :data:`SOFT_TISSUE_HU`; intensities are mapped linearly between.

    Returns
    -------
    (CTVolume, numpy.ndarray)
        The pseudo-HU volume (``is_hu`` stays False) and the lung mask used.
    """
    from skimage.filters import threshold_otsu

    d = ct.data.astype(np.float32)
    lung = np.zeros(d.shape, bool)
    dark_all = np.zeros(d.shape, bool)
    for z in range(d.shape[2]):
        img = d[:, :, z]
        if img.max() <= img.min():
            continue
        t = threshold_otsu(img)
        dark = img < t
        lab, n = ndi.label(dark)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        keep = sizes >= 0.02 * img.size
        # outside air: touches the border and is clearly darker than the
        # dark regions that do not (the lungs); a crop whose lungs touch the
        # border keeps them all
        ids = np.flatnonzero(keep)
        if ids.size:
            border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])).tolist())
            meds = {int(i): float(np.median(img[lab == i])) for i in ids}
            inner = [meds[int(i)] for i in ids if int(i) not in border]
            if inner:
                ref = float(np.median(inner))
                span = float(img.max() - img.min())
                for i in ids:
                    if int(i) in border and meds[int(i)] < ref - 0.05 * span:
                        keep[i] = False
        m = keep[lab]
        dark_all[:, :, z] = m
        r = max(1, int(round(closing_fraction * max(img.shape))))
        big = np.pad(m, r + 1)
        big = ndi.binary_closing(big, structure=ndi.generate_binary_structure(2, 1), iterations=r)
        m = ndi.binary_fill_holes(big[r + 1 : -r - 1, r + 1 : -r - 1]) | m
        lung[:, :, z] = m
    p = float(np.median(d[dark_all])) if dark_all.any() else float(np.percentile(d, 10))
    tissue = d[~lung]
    s = float(np.median(tissue[tissue > p])) if (tissue > p).any() else float(d.max())
    if s <= p + 1:
        s = p + 1.0
    pseudo = PARENCHYMA_HU + (d - p) * (SOFT_TISSUE_HU - PARENCHYMA_HU) / (s - p)
    out = CTVolume(
        data=pseudo.astype(np.float32),
        affine=ct.affine,
        path=ct.path,
        kind=ct.kind,
        is_hu=False,
        meta={**ct.meta, "calibration": {"parenchyma_value": p, "soft_tissue_value": s}},
    )
    return out, lung
