"""Intensity normalizations, CT windowing and resampling for the datasets.

Radiographs reach these functions as ``[0, 1]`` arrays (see
:func:`covidbank.pixels.read_xray`); CT volumes in Hounsfield units.

Normalizations (``normalize=`` of :class:`~covidbank.torch.XRayDataset`):

============ ===============================================================
``xrv``      ``(2 x - 1) * 1024``: torchxrayvision's [-1024, 1024] range, so
             its pretrained models can be used directly
``unit``     ``x`` in [0, 1]
``symmetric``  ``2 x - 1`` in [-1, 1]
``imagenet`` ``(x - 0.449) / 0.226`` (grey mean/std of the ImageNet statistics)
``zscore``   per-image ``(x - mean) / std``
============ ===============================================================
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "NORMALIZATIONS",
    "WINDOWS",
    "normalize",
    "Normalize",
    "window",
    "Window",
    "resample_volume",
    "resample_to_spacing",
    "resampled_shape",
    "resolve_window",
]

NORMALIZATIONS = ("xrv", "unit", "symmetric", "imagenet", "zscore")

#: Named CT windows as (lower, upper) HU.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-1350.0, 150.0),  # width 1500, level -600
    "mediastinum": (-125.0, 225.0),  # width 350, level 50
    "covid": (-1000.0, 400.0),  # ground glass to consolidation
}


def normalize(x: torch.Tensor | np.ndarray, mode: str = "xrv") -> torch.Tensor:
    """Map a ``[0, 1]`` image to the range of ``mode`` (see module doc).

    Raises
    ------
    ValueError
        For an unknown mode.
    """
    if isinstance(x, np.ndarray):
        # numpy is faster than torch's threaded kernels on one small image
        a = np.asarray(x, dtype=np.float32)
        if mode == "xrv":
            a = a * np.float32(2048) - np.float32(1024)
        elif mode == "unit":
            a = a.copy() if a is x else a
        elif mode == "symmetric":
            a = a * np.float32(2) - np.float32(1)
        elif mode == "imagenet":
            a = (a - np.float32(0.449)) / np.float32(0.226)
        elif mode == "zscore":
            sd = float(a.std())
            a = (a - np.float32(a.mean())) / np.float32(sd if sd > 0 else 1)
        else:
            raise ValueError(f"unknown normalization {mode!r}: use one of {NORMALIZATIONS}")
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    t = torch.as_tensor(x, dtype=torch.float32)
    if mode == "xrv":
        return t * 2048 - 1024
    if mode == "unit":
        return t
    if mode == "symmetric":
        return t * 2 - 1
    if mode == "imagenet":
        return (t - 0.449) / 0.226
    if mode == "zscore":
        sd = t.std()
        return (t - t.mean()) / (sd if sd > 0 else 1)
    raise ValueError(f"unknown normalization {mode!r}: use one of {NORMALIZATIONS}")


class Normalize:
    """Transform form of :func:`normalize`."""

    def __init__(self, mode: str = "xrv") -> None:
        if mode not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {mode!r}: use one of {NORMALIZATIONS}")
        self.mode = mode

    def __call__(self, x):
        return normalize(x, self.mode)

    def __repr__(self) -> str:
        return f"Normalize({self.mode!r})"


def resolve_window(w: str | Sequence[float] | None) -> tuple[float, float] | None:
    """``"lung"`` / ``(lo, hi)`` / None -> ``(lo, hi)`` or None."""
    if w is None:
        return None
    if isinstance(w, str):
        if w not in WINDOWS:
            raise ValueError(f"unknown CT window {w!r}: use one of {sorted(WINDOWS)} or (lower, upper) HU")
        return WINDOWS[w]
    lo, hi = (float(v) for v in w)
    if hi <= lo:
        raise ValueError(f"CT window {w!r}: upper must exceed lower")
    return lo, hi


def window(hu: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Clip HU to ``[lo, hi]`` and scale to ``[0, 1]``."""
    return (hu.clamp(lo, hi) - lo) / (hi - lo)


class Window:
    """Transform form of :func:`window` (``Window("lung")`` or ``Window((-1000, 400))``)."""

    def __init__(self, w: str | Sequence[float]) -> None:
        self.lo, self.hi = resolve_window(w)  # type: ignore[misc]

    def __call__(self, hu):
        return window(torch.as_tensor(hu, dtype=torch.float32), self.lo, self.hi)


def resample_to_spacing(
    vol: torch.Tensor,
    affine: np.ndarray,
    new_spacing: Sequence[float],
    mode: str = "bilinear",
) -> tuple[torch.Tensor, np.ndarray]:
    """Resample a ``(C, X, Y, Z)`` volume to ``new_spacing`` mm with MONAI's ``Spacing``,
    returning the volume and its exact voxel-to-world affine.

    The affine is MONAI's (``zoom_affine`` and the output grid it samples), so a
    voxel's world position is the same before and after (the hand-made
    ``affine @ diag(zoom)`` was 0.26-0.76 mm off).  ``mode="nearest"`` for masks.
    """
    from ..optional import require

    require("monai", purpose="CT resampling (CTDataset spacing=)")
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    src = MetaTensor(vol.float() if mode != "nearest" else vol.float(), affine=torch.as_tensor(np.asarray(affine), dtype=torch.float64))
    out = Spacing(pixdim=tuple(float(s) for s in new_spacing), mode=mode, padding_mode="border",
                  dtype=torch.float32)(src)
    data = out.as_tensor()
    if mode == "nearest":
        data = data.round().to(vol.dtype)
    return data, np.asarray(out.affine, dtype=np.float64)


def resampled_shape(shape: Sequence[int], affine: np.ndarray, new_spacing: Sequence[float]) -> tuple[int, ...]:
    """The spatial shape :func:`resample_to_spacing` gives (from the header only)."""
    from ..optional import require

    require("monai", purpose="CT resampling (CTDataset spacing=)")
    from monai.data.utils import compute_shape_offset, zoom_affine

    new_aff = zoom_affine(np.asarray(affine, dtype=np.float64), tuple(float(s) for s in new_spacing), diagonal=False)
    shp, _ = compute_shape_offset(list(shape), np.asarray(affine, dtype=np.float64), new_aff)
    return tuple(int(s) for s in shp)


def resample_volume(
    vol: torch.Tensor,
    spacing: Sequence[float],
    new_spacing: Sequence[float],
    mode: str = "trilinear",
) -> torch.Tensor:
    """Resample a ``(C, X, Y, Z)`` volume from ``spacing`` to ``new_spacing`` mm.

    ``mode="nearest"`` for label masks.
    """
    size = [max(1, int(round(n * s / t))) for n, s, t in zip(vol.shape[1:], spacing, new_spacing)]
    x = vol[None].float()
    if mode == "nearest":
        out = F.interpolate(x, size=size, mode="nearest-exact")
    else:
        out = F.interpolate(x, size=size, mode=mode, align_corners=False)
    return out[0].to(vol.dtype) if mode == "nearest" else out[0]
