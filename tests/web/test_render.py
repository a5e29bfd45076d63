"""Image, thumbnail and CT slice rendering on real files written in the test."""
from __future__ import annotations

import io
import os

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from covidbank.errors import RenderError
from covidbank.web.render import Renderer, apply_window, auto_window, read_image, read_volume


def test_read_image_keeps_16_bits(tmp_path):
    a = np.arange(0, 60000, 3, dtype=np.uint16)[:10000].reshape(100, 100)
    Image.fromarray(a).save(tmp_path / "x.png")
    b = read_image(tmp_path / "x.png")
    assert b.dtype == np.uint16 and np.array_equal(a, b)
    Image.fromarray((a // 256).astype(np.uint8)).convert("RGB").save(tmp_path / "rgb.jpg")
    assert read_image(tmp_path / "rgb.jpg").ndim == 2


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(RenderError, match="nope.png: file is missing"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(RenderError, match="bad.png: cannot be decoded"):
        read_image(tmp_path / "bad.png")
    (tmp_path / "bad.nii.gz").write_bytes(b"garbage")
    with pytest.raises(RenderError, match="bad.nii.gz: cannot be read as a CT volume"):
        read_volume(tmp_path / "bad.nii.gz")


def test_windowing():
    a = np.array([[0, 100, 200, 300]], dtype=np.uint16)
    assert apply_window(a, 150, 200).tolist() == [[0, 63, 191, 255]]
    assert auto_window(np.zeros((4, 4), np.uint8)) == (127.5, 255.0)
    c, w = auto_window(np.linspace(1000, 2000, 10000).reshape(100, 100).astype(np.uint16))
    assert 1000 < c - w / 2 < 1010 and 1990 < c + w / 2 < 2000


def test_thumbnail_cache_invalidated_when_file_changes(tmp_path):
    f = tmp_path / "img.png"
    Image.fromarray(np.full((600, 400), 50, np.uint8)).save(f)
    r = Renderer(tmp_path / "cache", thumb_size=128)
    t1 = r.thumbnail("s:1", f)
    assert Image.open(io.BytesIO(t1)).size == (85, 128)
    assert r.thumbnail("s:1", f) == t1 and r.stats == {"thumb_hits": 1, "thumb_misses": 1}
    Image.fromarray(np.full((600, 400), 200, np.uint8)).save(f)
    os.utime(f, ns=(1, 1))  # a different mtime, as an edit would give
    t2 = r.thumbnail("s:1", f)
    assert r.stats["thumb_misses"] == 2 and t2 != t1
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 2
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_slices_are_oriented_the_same_for_ras_and_lps(tmp_path):
    vol = np.zeros((20, 30, 5), np.int16) - 1000
    vol[15:19, 5:8, :] = 500  # high x (patient's right), low y (posterior)
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "ras.nii.gz"))
    # the same anatomy stored LPS: axes x and y flipped in the array, affine says so
    lps_aff = np.array([[-1.0, 0, 0, 19], [0, -1.0, 0, 29], [0, 0, 2.0, 0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(vol[::-1, ::-1].copy(), lps_aff), str(tmp_path / "lps.nii.gz"))
    r = Renderer(tmp_path / "cache")
    outs = []
    for name in ("ras", "lps"):
        png = r.slice_png(tmp_path / f"{name}.nii.gz", 2, 0, 2000)
        outs.append(np.array(Image.open(io.BytesIO(png))))
    assert np.array_equal(outs[0], outs[1])
    ys, xs = np.nonzero(outs[0] > 150)
    assert outs[0].shape == (30, 20)
    assert xs.max() < 10  # patient's right on the viewer's left
    assert ys.min() > 15  # posterior at the bottom


def test_mask_shape_mismatch_is_reported_not_fatal(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 4), np.int16), np.eye(4)), str(tmp_path / "v.nii.gz"))
    nib.save(nib.Nifti1Image(np.ones((12, 10, 4), np.uint8), np.eye(4)), str(tmp_path / "m.nii.gz"))
    r = Renderer(tmp_path / "cache")
    info = r.volume_info(tmp_path / "v.nii.gz", [("lesion", tmp_path / "m.nii.gz")])
    assert info["masks"][0]["matches"] is False and info["slices"] == 4 and info["mask_slices"] is None
    out = np.array(Image.open(io.BytesIO(r.slice_png(tmp_path / "v.nii.gz", 1, 0, 100, [("lesion", tmp_path / "m.nii.gz")]))))
    assert out.shape == (10, 10)  # drawn without the mismatched overlay
    with pytest.raises(RenderError, match="out of range"):
        r.slice_png(tmp_path / "v.nii.gz", 4, 0, 100)


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_single_non_axial_slice_shown_in_its_own_plane(tmp_path, plane):
    # a coronal slice is (X, 1, Z) in RAS: shown axially it was a one-pixel strip ("slice 257/512")
    shape = (40, 1, 30) if plane == "coronal" else (1, 40, 30)
    vol = np.full(shape, -1000, np.int16)
    sl = (slice(None), 0, slice(20, 30)) if plane == "coronal" else (0, slice(None), slice(20, 30))
    vol[sl] = 400  # bright superior part
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 1.0, 1.0])), str(tmp_path / "s.nii.gz"))
    r = Renderer(tmp_path / "cache")
    info = r.volume_info(tmp_path / "s.nii.gz")
    assert info["plane"] == plane and info["slices"] == 1
    out = np.array(Image.open(io.BytesIO(r.slice_png(tmp_path / "s.nii.gz", 0, 0, 2000))))
    assert out.shape == (30, 40)  # rows superior -> inferior, columns along the slice
    assert (out[:10] > 150).all() and (out[10:] < 50).all()  # superior at the top
    with pytest.raises(RenderError, match="out of range"):
        r.slice_png(tmp_path / "s.nii.gz", 1, 0, 2000)
