"""Quality-control flags of a severity assessment.

Flags (strings in ``qc_flags``):

``lesion_outside_lung``
    more than ``outside_tolerance`` (2 %) of a *given* lesion mask lies
    outside the lung mask (misaligned mask, or lungs under-segmented).
``implausible_lung_volume``
    a fully covered chest whose total lung volume is below 1,500 mL or above
    10,000 mL, or one lung less than a fifth of the other.
``coarse_slice_spacing``
    slices more than 5 mm apart (MosMedData keeps every 10th slice: 8 mm);
    volumes are then rough.
``partial_coverage``
    lungs cut by the first or last slice (apex or base missing), or a slab /
    single slice: percentages are of the covered part only.
``single_slice``
    a single image: areas, not volumes (volumes assume the slice thickness).
``lungs_split_at_midline``
    touching lungs could not be separated by erosion and were cut at the body
    midline: left/right shares are approximate.
``no_lungs_found``
    no component qualified as lung (abdominal slice, wrong input): no grade.
``intensity_mode``
    not Hounsfield units: pseudo-HU calibration, lesion area only, no grade.
"""
from __future__ import annotations

import numpy as np

__all__ = ["qc_flags", "QC_FLAGS"]

QC_FLAGS = (
    "no_lungs_found",
    "lesion_outside_lung",
    "implausible_lung_volume",
    "coarse_slice_spacing",
    "partial_coverage",
    "single_slice",
    "lungs_split_at_midline",
    "intensity_mode",
)


def qc_flags(
    labels: np.ndarray,
    lesion: np.ndarray,
    spacing: tuple[float, float, float],
    voxel_ml: float,
    *,
    given_mask: np.ndarray | None = None,
    lung_info: dict | None = None,
    is_hu: bool = True,
    outside_tolerance: float = 0.02,
    coarse_mm: float = 5.0,
) -> tuple[list[str], dict]:
    """Compute QC flags and the figures behind them.

    Parameters
    ----------
    labels : numpy.ndarray
        Lung labels (1 right, 2 left), ``(X, Y, Z)``.
    lesion : numpy.ndarray
        Lesion mask used for the grade.
    spacing : tuple of float
        Voxel size in mm.
    voxel_ml : float
        Voxel volume in mL.
    given_mask : numpy.ndarray, optional
        The user's lesion mask as given (before clipping to the lungs).
    lung_info : dict, optional
        ``LungMasks.info``.
    is_hu : bool
        False in intensity mode.

    Returns
    -------
    (list of str, dict)
        Flags (in :data:`QC_FLAGS` order) and details.
    """
    flags: set[str] = set()
    details: dict = {}
    lungs = labels > 0
    nz = labels.shape[2]
    if given_mask is not None:
        tot = int(np.count_nonzero(given_mask))
        outside = int(np.count_nonzero(given_mask & ~lungs))
        frac = outside / tot if tot else 0.0
        details["lesion_outside_lung_fraction"] = round(frac, 4)
        details["lesion_outside_lung_ml"] = round(outside * voxel_ml, 3)
        if frac > outside_tolerance:
            flags.add("lesion_outside_lung")
    if spacing[2] > coarse_mm and nz > 1:
        flags.add("coarse_slice_spacing")
    details["slice_spacing_mm"] = round(float(spacing[2]), 3)
    per_slice = lungs.sum(axis=(0, 1))
    partial = False
    if min(labels.shape) == 1:  # axial (X, Y, 1), coronal (X, 1, Z) or sagittal (1, Y, Z)
        flags.add("single_slice")
        partial = True
    elif per_slice.max() > 0:
        top = per_slice.max()
        if per_slice[0] > 0.05 * top or per_slice[-1] > 0.05 * top:
            partial = True
        covered_mm = float(np.count_nonzero(per_slice)) * spacing[2]
        details["lung_extent_mm"] = round(covered_mm, 1)
        if covered_mm < 150:  # adult lungs are ~200-300 mm tall
            partial = True
    if partial:
        flags.add("partial_coverage")
    right = int(np.count_nonzero(labels == 1)) * voxel_ml
    left = int(np.count_nonzero(labels == 2)) * voxel_ml
    total = right + left
    if not partial:
        if total < 1500 or total > 10000:
            flags.add("implausible_lung_volume")
    if min(right, left) < 0.2 * max(right, left, 1e-9):
        flags.add("implausible_lung_volume")
    if not lungs.any():
        flags.add("no_lungs_found")
        flags.discard("implausible_lung_volume")
    if (lung_info or {}).get("split") == "midline":
        flags.add("lungs_split_at_midline")
    if not is_hu:
        flags.add("intensity_mode")
    return [f for f in QC_FLAGS if f in flags], details
