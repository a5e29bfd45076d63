"""Refuse, don't guess: whether a CT can be graded CT-0..CT-4 at all.

The MosMed grade is a share of the *whole* lung volume of a *chest* CT in
Hounsfield units.  An input that is not that gets no grade and no routing
text, only the reasons (:data:`REFUSAL_REASONS`, a fixed vocabulary) and the
figures measured; ``force=True`` (``--force``) grades anyway and marks the
result ``forced``.  Non-HU input is refused earlier, by
:func:`~covidbank.severity.io.check_hu` (:class:`~covidbank.errors.NotHUError`).

The rules, in the order they are reported:

``single_slice``
    an axis of length one: a share of lung *volume* cannot be measured on
    one image (two slices of normal lung were graded CT-1, vessels taken as
    lesions).
``not_axial``
    a coronal or sagittal slice or slab (the thinnest extent is not along
    the patient's long axis and is under :data:`MIN_SCAN_EXTENT_MM`): not an
    axial volume and not reformattable to one.
``too_few_slices``
    an axial stack covering less than :data:`MIN_SCAN_EXTENT_MM` (100 mm)
    craniocaudally; adult lungs are 200-300 mm tall.
``no_lungs_found``
    no component qualified as lung.
``insufficient_lung_coverage``
    lungs seen over less than :data:`MIN_LUNG_EXTENT_MM` (100 mm): the lung
    bases of an abdominal CT, a slab.
``lungs_cut_at_both_ends``
    lungs cut by both the first and the last slice: neither apex nor base,
    the percentage would be of an unknown part.
``implausible_lung_volume``
    total lung volume under :data:`MIN_LUNG_ML` (500 mL) or over
    :data:`MAX_LUNG_ML` (10,000 mL).
``lung_asymmetry``
    the smaller lung under :data:`MIN_SIDE_RATIO` (a quarter) of the larger:
    bowel gas or a one-sided crop taken as lung (an abdominal CT got CT-1 this
    way), or a pneumonectomy (``--force`` after checking).

The thresholds are deliberately loose (a child's chest, a scan missing its
apex still pass) and are tested on real data: the TotalSegmentator abdominal
series and lower-chest volume, the lungmask two-slice pair and the
COVID-19-NY-SBU axial, coronal and sagittal slices are all refused, the chest
phantoms of the tests are graded.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "REFUSAL_REASONS",
    "gradability",
    "MIN_SCAN_EXTENT_MM",
    "MIN_LUNG_EXTENT_MM",
    "MIN_LUNG_ML",
    "MAX_LUNG_ML",
    "MIN_SIDE_RATIO",
]

MIN_SCAN_EXTENT_MM = 100.0
MIN_LUNG_EXTENT_MM = 100.0
MIN_LUNG_ML = 500.0
MAX_LUNG_ML = 10000.0
MIN_SIDE_RATIO = 0.25

#: Reason code -> the sentence shown to the user (fixed vocabulary).
REFUSAL_REASONS: dict[str, str] = {
    "single_slice": "a single image: the grade is a share of lung volume, which one slice cannot give",
    "not_axial": "a coronal or sagittal slice or slab: not an axial volume and not reformattable to one",
    "too_few_slices": f"the scan covers less than {MIN_SCAN_EXTENT_MM:.0f} mm from head to foot (adult lungs are 200-300 mm tall)",
    "no_lungs_found": "no lungs found in the input",
    "insufficient_lung_coverage": f"lungs seen over less than {MIN_LUNG_EXTENT_MM:.0f} mm: not a chest CT covering the lungs (abdominal CT, slab)",
    "lungs_cut_at_both_ends": "lungs cut by the first and the last slice: neither apex nor base is in the scan",
    "implausible_lung_volume": f"total lung volume outside {MIN_LUNG_ML:.0f}-{MAX_LUNG_ML:.0f} mL",
    "lung_asymmetry": f"one lung is less than {MIN_SIDE_RATIO:.0%} of the other (bowel gas or a one-sided crop taken as lung?)",
}


def gradability(shape, spacing, labels: np.ndarray | None, voxel_ml: float) -> tuple[list[str], dict]:
    """Reasons (codes of :data:`REFUSAL_REASONS`) why a CT cannot be graded, and the figures behind them.

    Parameters
    ----------
    shape : tuple of int
        The CT's RAS+ array shape ``(X, Y, Z)``.
    spacing : tuple of float
        Voxel size in mm along the three axes.
    labels : numpy.ndarray or None
        Lung labels (1 right, 2 left); None to check the geometry only.
    voxel_ml : float
        Voxel volume in mL.

    Returns
    -------
    (list of str, dict)
        Reasons in the order of :data:`REFUSAL_REASONS` (empty: gradable), and
        ``scan_extent_mm``, ``lung_extent_mm``, ``lung_volume_ml`` figures.
    """
    reasons: list[str] = []
    shape = tuple(int(s) for s in shape[:3])
    extent = [n * float(s) for n, s in zip(shape, spacing)]
    figures: dict = {"scan_extent_mm": [round(e, 1) for e in extent]}
    if min(shape) == 1:
        reasons.append("single_slice")
    thin = int(np.argmin(extent))
    if thin != 2 and extent[thin] < MIN_SCAN_EXTENT_MM and extent[thin] < extent[2]:
        reasons.append("not_axial")
    elif extent[2] < MIN_SCAN_EXTENT_MM:
        reasons.append("too_few_slices")
    if labels is None:
        return reasons, figures
    lungs = np.asarray(labels) > 0
    if not lungs.any():
        reasons.append("no_lungs_found")
        return reasons, figures
    per_slice = lungs.sum(axis=(0, 1))
    zs = np.nonzero(per_slice)[0]
    lung_extent = float(zs.max() - zs.min() + 1) * float(spacing[2])
    figures["lung_extent_mm"] = round(lung_extent, 1)
    if "single_slice" not in reasons and "not_axial" not in reasons:
        if lung_extent < MIN_LUNG_EXTENT_MM:
            reasons.append("insufficient_lung_coverage")
        if shape[2] > 1 and per_slice[0] > 0 and per_slice[-1] > 0:
            reasons.append("lungs_cut_at_both_ends")
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=3)
    right, left = float(counts[1]) * voxel_ml, float(counts[2]) * voxel_ml
    figures["lung_volume_ml"] = round(right + left, 1)
    if not reasons and not MIN_LUNG_ML <= right + left <= MAX_LUNG_ML:
        reasons.append("implausible_lung_volume")
    if min(right, left) < MIN_SIDE_RATIO * max(right, left):
        reasons.append("lung_asymmetry")
    return [r for r in REFUSAL_REASONS if r in reasons], figures
