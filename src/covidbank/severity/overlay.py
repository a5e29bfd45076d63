"""A PNG a radiologist can glance at: axial slices and a coronal view with contours.

A single coronal or sagittal slice is shown alone, in its own plane.  Every
overlay carries the research-use notice; a refused input says "not gradable"
with its reasons, a forced grade says so.

Radiological display: the patient's right is on the image's left, anterior at
the top of axial views, superior at the top of the coronal view.  Right lung
contour green, left lung blue, lesions red (filled, translucent).  Lung window
(W 1500, L -600) for HU; the picture's own range in intensity mode.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_overlay"]


def _axial(a: np.ndarray, z: int) -> np.ndarray:
    # canonical (X=toward patient's right, Y=anterior): flip X so the
    # patient's right is on the left, transpose so rows are Y, origin lower
    return a[::-1, :, z].T


def _coronal(a: np.ndarray, y: int) -> np.ndarray:
    return a[::-1, y, :].T


def _sagittal(a: np.ndarray, x: int) -> np.ndarray:
    # rows superior (origin lower), columns posterior -> anterior flipped so
    # the patient's front is on the image's left, as viewers show it
    return a[x, ::-1, :].T


def write_overlay(result, path: str | Path, n_axial: int = 3, title: str | None = None) -> Path:
    """Write the overlay PNG of a :class:`~covidbank.severity.pipeline.SeverityResult`.

    Parameters
    ----------
    result : SeverityResult
    path : str or Path
        Output PNG (written to a temporary name, then renamed).
    n_axial : int
        Number of axial slices (spread over the lungs' extent).
    title : str, optional
        Title line; default: the grade and involvement.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    ct = result.ct
    data = ct.data
    labels = result.labels
    lesion = result.lesion
    sx, sy, sz = ct.spacing
    nz = data.shape[2]
    plane = ct.plane
    # (image, lungs, lesion, aspect, title, left/right side letters)
    views: list[tuple] = []
    if plane == "coronal":  # a single coronal slice, shown in its own plane
        views.append((_coronal(data, 0), _coronal(labels, 0), _coronal(lesion, 0), sz / sx, "coronal slice", ("R", "L")))
    elif plane == "sagittal":
        views.append((_sagittal(data, 0), _sagittal(labels, 0), _sagittal(lesion, 0), sz / sy, "sagittal slice", ("A", "P")))
    else:
        per_slice = (labels > 0).sum(axis=(0, 1))
        zs_lung = np.nonzero(per_slice)[0]
        if nz == 1:
            zs = [0]
        elif zs_lung.size:
            lo, hi = int(zs_lung.min()), int(zs_lung.max())
            zs = sorted({int(round(lo + (hi - lo) * q)) for q in np.linspace(0.2, 0.8, n_axial)})
        else:
            zs = sorted({int(round((nz - 1) * q)) for q in np.linspace(0.25, 0.75, n_axial)})
        for z in zs:
            views.append((_axial(data, z), _axial(labels, z), _axial(lesion, z), sy / sx, f"axial {z + 1}/{nz}", ("R", "L")))
        if nz >= 8:
            ys = np.nonzero((labels > 0).any(axis=(0, 2)))[0]
            y = int(round((ys.min() + ys.max()) / 2)) if ys.size else data.shape[1] // 2
            views.append((_coronal(data, y), _coronal(labels, y), _coronal(lesion, y), sz / sx,
                          f"coronal {y + 1}/{data.shape[1]}", ("R", "L")))
    ncol = len(views)
    if ct.is_hu:
        vmin, vmax = -1350, 150
    else:
        vmin, vmax = float(np.min(data)), float(np.max(data))
    fig, axes = plt.subplots(1, ncol, figsize=(max(4.2 * ncol, 8.0), 5.0), squeeze=False)
    axes = axes[0]
    red = ListedColormap([(0, 0, 0, 0), (1, 0.1, 0.1, 0.45)])

    def draw(ax, img, lab, les, aspect, label, sides):
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, origin="lower", aspect=aspect, interpolation="nearest")
        ax.imshow(les.astype(np.uint8), cmap=red, vmin=0, vmax=1, origin="lower", aspect=aspect, interpolation="nearest")
        if min(img.shape) >= 2:  # matplotlib's contour needs a 2-D grid of at least 2x2
            if (lab == 1).any():
                ax.contour(lab == 1, levels=[0.5], colors=["lime"], linewidths=1.0, origin="lower")
            if (lab == 2).any():
                ax.contour(lab == 2, levels=[0.5], colors=["deepskyblue"], linewidths=1.0, origin="lower")
            if les.any():
                ax.contour(les, levels=[0.5], colors=["red"], linewidths=0.6, origin="lower")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        h, w = img.shape
        ax.text(2, h - 3, sides[0], color="yellow", fontsize=10, va="top", ha="left", fontweight="bold")
        ax.text(w - 3, h - 3, sides[1], color="yellow", fontsize=10, va="top", ha="right", fontweight="bold")

    for ax, view in zip(axes, views):
        draw(ax, *view)
    if title is None:
        inv = result.involvement_percent
        if result.category:
            grade = result.category + (" (FORCED: not gradable by the checks)" if getattr(result, "forced", False) else "")
        elif getattr(result, "not_gradable", None) and result.lesion_source != "estimated-intensity":
            grade = "NOT GRADABLE (" + ", ".join(result.not_gradable) + ")"
        else:
            grade = "no grade (intensity mode)"
        title = (
            f"{grade}\ninvolvement {inv['total']:.1f}% (right {inv['right']:.1f}%, left {inv['left']:.1f}%) - "
            f"lesion {result.lesion_volume_ml['total']:.1f} mL of {result.lung_volume_ml['total']:.0f} mL lung"
        )
        if result.qc_flags:
            title += "\nQC: " + ", ".join(result.qc_flags)
    fig.suptitle(title, fontsize=10)
    from .grade import RESEARCH_NOTICE

    fig.text(0.01, 0.01, "green: right lung  blue: left lung  red: lesion", fontsize=8)
    fig.text(0.99, 0.01, RESEARCH_NOTICE, fontsize=8, ha="right", color="darkred")
    fig.tight_layout(rect=(0, 0.03, 1, 0.93))
    from ..fileio import atomic_path

    out = Path(path)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return out
