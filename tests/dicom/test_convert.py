"""X-ray 16-bit PNG rendering and CT volume geometry."""
from __future__ import annotations

import glob
import io
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from covidbank.dicom.convert import ct_to_volume, write_png16, xray_to_uint16
from covidbank.errors import ConversionError
from dicom_factory import make_cr, make_ct_series

RAMP = (np.arange(64 * 64, dtype=np.uint16) % 4096).reshape(64, 64)


def _cr(tmp_path, name="a.dcm", **kw):
    return pydicom.dcmread(make_cr(tmp_path / name, rows=64, cols=64, pixels=RAMP, **kw))


def test_full_stored_range_without_voi(tmp_path):
    img, p = xray_to_uint16(_cr(tmp_path))
    assert img.dtype == np.uint16 and img.shape == (64, 64)
    assert np.array_equal(img, np.rint(RAMP / 4095 * 65535).astype(np.uint16))
    assert p["voi"]["type"] == "full_range" and p["voi_output_range"] == [0.0, 4095.0] and not p["inverted"]


@pytest.mark.parametrize("func", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_window_functions_follow_ps33(tmp_path, func):
    c, w = 2000.0, 1001.0
    img, p = xray_to_uint16(_cr(tmp_path, window=(c, w), voi_function=func if func != "LINEAR" else None))
    x = RAMP.astype(float)
    if func == "LINEAR":  # PS3.3 C.11.2.1.2.1
        y = np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
    elif func == "LINEAR_EXACT":  # C.11.2.1.3.2
        y = np.clip((x - c) / w + 0.5, 0, 1)
    else:  # C.11.2.1.3.1
        y = 1 / (1 + np.exp(-4 * (x - c) / w))
    assert np.max(np.abs(img.astype(float) - y * 65535)) <= 1.0
    assert p["voi"] == {"type": "window", "index": 0, "center": c, "width": w, "function": func}


def test_window_applies_to_rescaled_values_and_second_window(tmp_path):
    ds = _cr(tmp_path, rescale=(2.0, -1000.0))
    ds.WindowCenter, ds.WindowWidth = [0.0, 3000.0], [2001.0, 4001.0]
    img, p = xray_to_uint16(ds, window_index=1)
    v = RAMP * 2.0 - 1000.0
    y = np.clip((v - 2999.5) / 4000 + 0.5, 0, 1)
    assert np.max(np.abs(img - y * 65535)) <= 1.0 and p["voi"]["center"] == 3000.0


def test_voi_lut_sequence(tmp_path):
    ds = _cr(tmp_path, window=(100, 10))  # the LUT wins over the window
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    lut = (np.arange(4096) ** 2 // 256).astype(np.uint16)
    item.LUTData = lut.tolist()
    ds.VOILUTSequence = Sequence([item])
    img, p = xray_to_uint16(ds)
    assert p["voi"]["type"] == "lut" and p["voi_output_range"] == [0.0, 65535.0]
    assert np.array_equal(img, lut[RAMP])


def test_monochrome1_and_presentation_lut_inverse_invert_after_voi(tmp_path):
    base, _ = xray_to_uint16(_cr(tmp_path, window=(2000, 1001)))
    m1, p1 = xray_to_uint16(_cr(tmp_path, "b.dcm", window=(2000, 1001), photometric="MONOCHROME1"))
    assert p1["inverted"] and np.array_equal(m1, 65535 - base)
    inv, p2 = xray_to_uint16(_cr(tmp_path, "c.dcm", window=(2000, 1001), PresentationLUTShape="INVERSE"))
    assert p2["inverted"] and np.array_equal(inv, 65535 - base)
    # MONOCHROME1 with its required INVERSE shape (DX): one inversion, not two
    both, _ = xray_to_uint16(_cr(tmp_path, "d.dcm", window=(2000, 1001), photometric="MONOCHROME1",
                                 PresentationLUTShape="INVERSE"))
    assert np.array_equal(both, 65535 - base)


def test_png_is_16_bit_and_lossless(tmp_path):
    img, _ = xray_to_uint16(_cr(tmp_path))
    data = write_png16(img)
    back = Image.open(io.BytesIO(data))
    assert back.mode in ("I;16", "I;16B", "I") and np.array_equal(np.array(back), img)
    assert write_png16(img) == data  # deterministic bytes


def test_color_xray_refused(tmp_path):
    ds = _cr(tmp_path)
    ds.PhotometricInterpretation = "RGB"
    with pytest.raises(ConversionError, match="not grayscale"):
        xray_to_uint16(ds)


# ----------------------------------------------------------------------------- CT
def _read(paths):
    return [pydicom.dcmread(p) for p in paths]


def _ras(p):
    return np.array([-p[0], -p[1], p[2]])


def test_ct_sorts_slices_and_builds_affine(tmp_path):
    paths, hu = make_ct_series(tmp_path / "s", n=5, spacing=2.5)
    dsets = _read(paths)
    vol, aff, geo = ct_to_volume(dsets)
    assert vol.dtype == np.int16 and vol.shape == (12, 16, 5)
    for k in range(5):
        assert np.array_equal(vol[:, :, k], hu[k].T)
    expected = np.array([[-0.8, 0, 0, 100], [0, -0.7, 0, 80], [0, 0, 2.5, 50], [0, 0, 0, 1]])
    assert np.allclose(aff, expected)
    assert geo["gantry_tilt_deg"] == 0 and geo["spacing"] == [0.8, 0.7, 2.5] and not geo["resampled"]


def test_ct_oblique_affine_maps_every_slice_position(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    iop = (c, s, 0, 0, 0, -1)  # oblique coronal
    paths, hu = make_ct_series(tmp_path / "s", n=4, spacing=3.0, iop=iop)
    dsets = _read(paths)
    vol, aff, _ = ct_to_volume(dsets)
    for d in dsets:
        k = [kk for kk in range(4) if np.array_equal(vol[:, :, kk], (d.pixel_array.astype(int) - 1024).T)][0]
        assert np.allclose(aff @ [0, 0, k, 1], [*_ras(d.ImagePositionPatient), 1], atol=1e-6)
        # voxel (i=column 3, j=row 2) lies at IPP + 3*col_spacing*row_cos + 2*row_spacing*col_cos
        p = np.array(d.ImagePositionPatient, float) + 3 * 0.8 * np.array(iop[:3]) + 2 * 0.7 * np.array(iop[3:])
        assert np.allclose(aff @ [3, 2, k, 1], [*_ras(p), 1], atol=1e-6)


@pytest.mark.parametrize("positions,match", [
    ([0, 2.5, 5, 10, 12.5], "missing slice"),
    ([0, 2.5, 5, 8, 10], "unequal slice spacing"),
    ([0, 2.5, 2.5, 5], "share a position"),
])
def test_ct_refuses_bad_spacing(tmp_path, positions, match):
    paths, _ = make_ct_series(tmp_path / "s", positions=positions)
    with pytest.raises(ConversionError, match=match):
        ct_to_volume(_read(paths))


def test_ct_gantry_tilt_kept_as_shear_and_reported(tmp_path):
    paths, _ = make_ct_series(tmp_path / "s", n=4, spacing=2.0, tilt_shift=0.2)
    vol, aff, geo = ct_to_volume(_read(paths))
    assert geo["gantry_tilt_deg"] == pytest.approx(np.degrees(np.arctan(0.2)), abs=1e-3)
    assert "sheared" in geo["tilt_handling"] and np.isclose(aff[1, 2], -0.4)


def _dcm2niix() -> str:
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(exe).exists():
        pytest.skip("dcm2niix (PyPI package, covidbank[test]) is not installed")
    return exe


def _dcm2niix_image(folder: Path, out: Path) -> nib.Nifti1Image:
    out.mkdir()
    subprocess.run([_dcm2niix(), "-z", "n", "-b", "n", "-f", "out", "-o", str(out), str(folder)], check=True,
                   capture_output=True)
    return nib.load(sorted(glob.glob(str(out / "*.nii")))[0])


def _same_geometry(vol, aff, theirs: nib.Nifti1Image, tol=1e-3):
    mine = nib.as_closest_canonical(nib.Nifti1Image(vol, aff))
    theirs = nib.as_closest_canonical(theirs)
    assert mine.shape == theirs.shape
    assert np.max(np.abs(mine.affine - theirs.affine)) < tol
    assert np.array_equal(np.asarray(mine.dataobj), np.asarray(theirs.dataobj).astype(np.int16))


def test_ct_geometry_matches_dcm2niix_on_oblique_series(tmp_path):
    iop = (np.cos(0.2), np.sin(0.2), 0, -np.sin(0.2), np.cos(0.2), 0)
    paths, _ = make_ct_series(tmp_path / "s", n=6, spacing=1.5, iop=iop, rows=20, cols=18)
    vol, aff, _ = ct_to_volume(_read(paths))
    _same_geometry(vol, aff, _dcm2niix_image(tmp_path / "s", tmp_path / "d2n"))


# ----------------------------------------------------------------------------- real files
@pytest.mark.realdata
def test_totalsegmentator_series_matches_dcm2niix(shared_data, tmp_path):
    folder = shared_data / "ct" / "totalsegmentator" / "example_ct_dicom"
    dsets = _read(sorted(folder.iterdir()))
    vol, aff, geo = ct_to_volume(dsets)  # JPEG 2000 lossless through pylibjpeg-openjpeg
    assert vol.shape == (512, 512, 20) and geo["slices"] == 20
    _same_geometry(vol, aff, _dcm2niix_image(folder, tmp_path / "d2n"))


@pytest.mark.realdata
def test_rsna_monochrome1_twin_is_the_exact_inverse(shared_data):
    d = shared_data / "dicom"
    m2 = pydicom.dcmread(d / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
    m1 = pydicom.dcmread(d / "Fake_MONOHR1.dcm")
    # the twin stores the same pixel values and only declares MONOCHROME1
    assert np.array_equal(m1.pixel_array, m2.pixel_array)
    a, _ = xray_to_uint16(m2)
    b, pb = xray_to_uint16(m1)
    assert a.dtype == np.uint16 and a.shape == (1024, 1024) and pb["inverted"]
    assert np.array_equal(b, 65535 - a)


@pytest.mark.realdata
def test_rg1_jpeg2000_monochrome1_converts_with_lungs_dark(shared_data):
    ds = pydicom.dcmread(shared_data / "dicom" / "RG1_J2KI.dcm")
    img, p = xray_to_uint16(ds)
    assert img.dtype == np.uint16 and img.shape == (1955, 1841) and p["inverted"]
    assert p["voi"]["type"] == "window" and img.max() > 40000
    h, w = img.shape
    mediastinum = img[h // 3: 2 * h // 3, w // 2 - w // 20: w // 2 + w // 20].mean()
    lungs = np.mean([img[h // 3: 2 * h // 3, w // 4 - w // 20: w // 4 + w // 20].mean(),
                     img[h // 3: 2 * h // 3, 3 * w // 4 - w // 20: 3 * w // 4 + w // 20].mean()])
    assert lungs < mediastinum  # displayed as a radiograph: air dark, mediastinum bright


@pytest.mark.realdata
def test_highdicom_dx_monochrome1_inverse_shape(shared_data):
    ds = pydicom.dcmread(shared_data / "dicom" / "highdicom_dx_image.dcm")
    img, p = xray_to_uint16(ds)
    raw = ds.pixel_array.astype(float)
    assert p["inverted"] and p["presentation_lut_shape"] == "INVERSE"
    assert np.corrcoef(img.ravel(), raw.ravel())[0, 1] < -0.99


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless", "JPEGLSLossless"])
def test_compressed_transfer_syntaxes_decode_like_uncompressed(tmp_path, syntax):
    import pydicom.uid

    ds = _cr(tmp_path, window=(2000, 3000))
    ref, _ = xray_to_uint16(ds)
    try:
        ds.compress(getattr(pydicom.uid, syntax))
    except Exception as e:  # no encoder installed for this syntax: the decoder path cannot be exercised
        pytest.skip(f"no {syntax} encoder available to build the fixture ({type(e).__name__})")
    path = tmp_path / "compressed.dcm"
    ds.save_as(path)
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == getattr(pydicom.uid, syntax)
    img, _ = xray_to_uint16(back)
    assert np.array_equal(img, ref)
