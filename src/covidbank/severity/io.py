"""Read a CT into Hounsfield units with its voxel-to-world affine (shims), check HU, masks.

The reader is the package's one CT reader, :func:`covidbank.pixels.read_ct`
(module :mod:`covidbank.ctvolume`); :func:`load_ct` and :class:`CTVolume` stay
here as aliases.  Every volume is in the closest *RAS+ canonical* orientation:
a high first index is the patient's **right** side.  In the usual radiological
display the patient's right lung appears on the image's left.  Lung label 1 is
the right lung and 2 the left lung, as in lungmask.

Accepted inputs: a NIfTI file (``.nii``/``.nii.gz``), a folder holding a DICOM
series, a single DICOM slice, other SimpleITK formats (``.mha``, ``.nrrd``,
...), and 8-bit raster images (``.png``/``.jpg``) which load with
``is_hu=False`` (only the intensity mode may use them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ctvolume import RASTER_SUFFIXES, CTVolume, read_ct
from ..errors import CTReadError, MaskMismatchError, NotHUError

__all__ = [
    "RASTER_SUFFIXES",
    "CTVolume",
    "check_hu",
    "load_ct",
    "load_mask",
    "save_mask",
]


def load_ct(path: str | Path) -> CTVolume:
    """Load a CT (an alias of :func:`covidbank.pixels.read_ct`, kept for its users).

    Raises
    ------
    CTReadError
        Missing, empty, unreadable or 4-D input (the message names the file).
    """
    return read_ct(path)


def check_hu(ct: CTVolume) -> None:
    """Refuse data that are not Hounsfield units.

    A chest CT in HU holds air (about -1000 HU) and soft tissue (about 40 HU).
    Raster images, unrescaled DICOM values (0..4095) and windowed exports
    (0..255) do not, and a lung threshold in HU would be meaningless on them.

    Raises
    ------
    NotHUError
        With the file name, the value range and what to do instead.
    """
    where = ct.path or "input"
    hint = (
        "HU-based grading refused; use the intensity mode (--intensity-mode) for an approximate "
        "lesion-area estimate, or give the original CT with its rescale slope/intercept"
    )
    if not ct.is_hu:
        raise NotHUError(f"{where}: {ct.meta.get('bits', 8)}-bit {ct.kind} intensities are not Hounsfield units; {hint}")
    d = ct.data
    lo = float(d.min()) if d.size else 0.0
    hi = float(d.max()) if d.size else 0.0
    if lo > -500 or hi < -100:
        raise NotHUError(
            f"{where}: values range {lo:g}..{hi:g}, with no air below -500 HU: not Hounsfield units; {hint}"
        )


def load_mask(path: str | Path, ct: CTVolume) -> np.ndarray:
    """Load a lesion mask (MosMedData format: NIfTI, non-zero = lesion) aligned to ``ct``.

    Raises
    ------
    CTReadError
        Unreadable mask file.
    MaskMismatchError
        Shape differs from the CT's after both are put in canonical orientation.
    """
    p = Path(path)
    if not p.exists():
        raise CTReadError(f"{p}: no such mask file")
    m = load_ct(p)
    if m.data.shape != ct.data.shape:
        raise MaskMismatchError(f"{p}: mask shape {m.data.shape} differs from the CT's {ct.data.shape} ({ct.path})")
    if not np.allclose(m.affine[:3, :3], ct.affine[:3, :3], atol=1e-2) and ct.kind != "image":
        raise MaskMismatchError(f"{p}: mask orientation/spacing differs from the CT's ({ct.path}); resample it first")
    return m.data > 0


def save_mask(mask: np.ndarray, ct: CTVolume, path: str | Path) -> Path:
    """Write a label mask as NIfTI (uint8) with the CT's affine; atomic (temp file then rename)."""
    import nibabel as nib

    from ..fileio import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp:
        nib.save(nib.Nifti1Image(np.asarray(mask, dtype=np.uint8), ct.affine), str(tmp))
    return p
