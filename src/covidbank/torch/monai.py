"""A MONAI image reader for radiographs that applies covidbank's pixel rules.

MONAI's ``PILReader`` hands an RGB JPEG over as three channels, an RGBA PNG as
four and a 16-bit PNG as raw ``uint16``, and knows nothing of MONOCHROME1: a
batch of mixed X-rays does not stack and some come out as negatives.
:class:`XRayReader` reads every radiograph as :func:`covidbank.pixels.read_xray`
does (one channel, ``float32`` in ``[0, 1]`` whatever the bit depth, white =
dense by :func:`covidbank.pixels.needs_inversion`) and otherwise behaves like
``PILReader`` (spatial axes reversed by default, so it is a drop-in).

Use it through :meth:`covidbank.torch.XRayDataset.monai_reader`, which passes
each record's photometric fields; a file it was not told about follows its
own tags (DICOM) or is taken as display-ready.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from ..optional import require
from ..pixels import read_xray

require("monai", purpose="the MONAI radiograph reader")

from monai.data import ImageReader  # noqa: E402
from monai.data.utils import is_supported_format  # noqa: E402
from monai.utils import MetaKeys, ensure_tuple  # noqa: E402

__all__ = ["XRayReader", "SUFFIXES"]

SUFFIXES = ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "dcm", "dicom")


class XRayReader(ImageReader):
    """Read radiographs (PNG, JPEG, DICOM...) as covidbank's loaders do.

    Parameters
    ----------
    inversion : mapping of str to dict, optional
        Per absolute path, the keyword arguments of :func:`covidbank.pixels.read_xray`
        (``photometric``, ``presentation_lut_shape``, ``display_ready``).
    reverse_indexing : bool
        Swap the two spatial axes as MONAI's ``PILReader`` does (default True).
    """

    def __init__(self, inversion: Mapping[str, dict] | None = None, reverse_indexing: bool = True) -> None:
        super().__init__()
        self.inversion = dict(inversion or {})
        self.reverse_indexing = reverse_indexing

    def verify_suffix(self, filename: Sequence[os.PathLike] | os.PathLike) -> bool:
        return is_supported_format(filename, SUFFIXES)

    def read(self, data, **kwargs):
        names = [str(n) for n in ensure_tuple(data)]
        return names if len(names) > 1 else names[0]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        arrays, meta = [], {}
        for name in ensure_tuple(img):
            a = read_xray(name, **self.inversion.get(str(name), {}))
            if self.reverse_indexing:
                a = np.ascontiguousarray(a.T)
            arrays.append(a)
            if not meta:
                meta = {MetaKeys.SPATIAL_SHAPE: np.asarray(a.shape), MetaKeys.ORIGINAL_CHANNEL_DIM: float("nan"),
                        "filename_or_obj": str(name)}
        data = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=0)
        if len(arrays) > 1:
            meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = 0
        return data, meta
