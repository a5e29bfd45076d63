"""Agreement between two masks, for checking segmentations against a reference."""
from __future__ import annotations

import numpy as np

__all__ = ["dice"]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks of the same shape.

    Parameters
    ----------
    a, b : numpy.ndarray
        Masks (non-zero = inside).

    Returns
    -------
    float
        ``2 |a ∩ b| / (|a| + |b|)``; 1.0 when both masks are empty.

    Examples
    --------
    >>> dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.6666666666666666
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    s = int(a.sum()) + int(b.sum())
    return float(2 * np.logical_and(a, b).sum() / s) if s else 1.0
