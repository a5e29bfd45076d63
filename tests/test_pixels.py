"""covidbank.pixels: one decoder for the ML loaders and the web viewer, on files written here."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from covidbank.errors import ImageLoadError, ImageMissingError
from covidbank.pixels import decode_2d, read_xray
from covidbank.web.render import read_image
from tests.dicom_factory import make_cr


def test_16_bit_png_keeps_its_units_and_scales_to_one(tmp_path):
    a = np.arange(0, 60000, 6, dtype=np.uint16)[:10000].reshape(100, 100)
    Image.fromarray(a).save(tmp_path / "x.png")
    native, invert = decode_2d(tmp_path / "x.png")
    assert native.dtype == np.uint16 and np.array_equal(native, a) and not invert
    assert np.allclose(read_xray(tmp_path / "x.png"), a / 65535.0, atol=1e-6)


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_dicom_viewer_and_loader_agree(tmp_path, photometric):
    """The viewer's image (own units, MONOCHROME1 inverted) min-max scaled is the loader's image."""
    pixels = np.random.default_rng(3).integers(0, 4096, size=(40, 30), dtype=np.uint16)
    path = make_cr(tmp_path / "x.dcm", photometric=photometric, pixels=pixels, rows=40, cols=30, rescale=(2.0, -100.0))
    shown = read_image(path).astype(np.float64)
    loaded = read_xray(path)
    assert np.allclose((shown - shown.min()) / (shown.max() - shown.min()), loaded, atol=1e-5)
    native, invert = decode_2d(path)
    assert invert == (photometric == "MONOCHROME1")
    assert np.allclose(native, pixels * 2.0 - 100.0)  # the modality LUT
    if photometric == "MONOCHROME1":  # low stored values are white: the loader's densest pixel is the lowest value
        assert loaded.flat[np.argmin(pixels)] == pytest.approx(1.0)


def test_2d_nifti_keeps_its_values_and_orientation(tmp_path):
    a = np.arange(12, dtype=np.int16).reshape(4, 3)
    nib.save(nib.Nifti1Image(a, np.eye(4)), tmp_path / "x.nii.gz")
    native, _ = decode_2d(tmp_path / "x.nii.gz")
    assert np.array_equal(native, np.flipud(a.T))  # rows top-down
    assert np.allclose(read_xray(tmp_path / "x.nii.gz"), np.flipud(a.T) / 11.0)  # min-max, not /65535


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ImageMissingError, match="nope.png"):
        decode_2d(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageLoadError, match="bad.png: cannot decode image"):
        decode_2d(tmp_path / "bad.png")
