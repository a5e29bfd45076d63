"""Loading CT into HU + canonical affine: NIfTI, DICOM series, slices, images."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from .ct_phantoms import SPACING, write_dicom_series
from covidbank.errors import CTReadError, MaskMismatchError, NotHUError
from covidbank.severity import CTVolume, check_hu, load_ct, load_mask


def test_nifti_las_is_reoriented_to_ras(phantom, tmp_path):
    # MosMedData stores LAS (first axis flipped): the loader must undo it
    las_aff = phantom.affine.copy()
    las_aff[0, 0] = -las_aff[0, 0]
    las_aff[0, 3] = -phantom.affine[0, 3]
    las = phantom.hu[::-1]
    nib.save(nib.Nifti1Image(las, las_aff), tmp_path / "las.nii.gz")
    ct = load_ct(tmp_path / "las.nii.gz")
    assert ct.kind == "nifti" and ct.is_hu
    assert ct.meta["original_axcodes"] == "LAS"
    assert nib.aff2axcodes(ct.affine) == ("R", "A", "S")
    np.testing.assert_array_equal(ct.data, phantom.hu)
    np.testing.assert_allclose(ct.spacing, SPACING)
    assert ct.voxel_volume_ml == pytest.approx(np.prod(SPACING) / 1000)


def test_dicom_series_matches_the_volume_and_its_geometry(phantom, tmp_path):
    write_dicom_series(phantom, tmp_path / "series")
    ct = load_ct(tmp_path / "series")
    assert ct.kind == "dicom-series" and ct.meta["files"] == phantom.hu.shape[2]
    assert ct.shape == phantom.hu.shape
    np.testing.assert_array_equal(ct.data, phantom.hu)  # rescale applied, slices sorted by position
    np.testing.assert_allclose(ct.affine, phantom.affine, atol=1e-4)


def test_single_dicom_slice(phantom, tmp_path):
    write_dicom_series(phantom, tmp_path / "series", rescale=False)
    f = sorted((tmp_path / "series").iterdir())[30]
    ct = load_ct(f)
    assert ct.kind == "dicom-slice" and ct.shape == (160, 140, 1)
    np.testing.assert_array_equal(ct.data[:, :, 0], phantom.hu[:, :, 30])
    assert ct.spacing[2] == pytest.approx(SPACING[2])


def test_png_loads_as_not_hu_and_check_hu_refuses(tmp_path):
    img = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    Image.fromarray(img).save(tmp_path / "s.png")
    ct = load_ct(tmp_path / "s.png")
    assert not ct.is_hu and ct.shape == (64, 48, 1)
    # display orientation round-trips to the picture
    np.testing.assert_array_equal(ct.data[::-1, ::-1, 0].T, img)
    with pytest.raises(NotHUError, match="not Hounsfield units"):
        check_hu(ct)
    with pytest.raises(NotHUError):
        _ = ct.hu


def test_unrescaled_or_8bit_nifti_is_not_hu(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (32, 32, 4)).astype(np.uint8)
    nib.save(nib.Nifti1Image(a, np.eye(4)), tmp_path / "u8.nii.gz")
    ct = load_ct(tmp_path / "u8.nii.gz")
    with pytest.raises(NotHUError, match=r"u8.nii.gz: values range 0\.\.255"):
        check_hu(ct)


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(CTReadError, match="no such file"):
        load_ct(tmp_path / "missing.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CTReadError, match="folder is empty"):
        load_ct(tmp_path / "empty")
    (tmp_path / "trunc.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(CTReadError, match="trunc.nii.gz: unreadable NIfTI"):
        load_ct(tmp_path / "trunc.nii.gz")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.dcm").write_bytes(b"not a dicom file at all")
    with pytest.raises(CTReadError, match="no readable DICOM"):
        load_ct(tmp_path / "junk")


def test_mask_must_match_ct(phantom, tmp_path):
    ct = CTVolume(phantom.hu, phantom.affine, path="ph")
    nib.save(nib.Nifti1Image(phantom.ggo.astype(np.uint8), phantom.affine), tmp_path / "m.nii.gz")
    m = load_mask(tmp_path / "m.nii.gz", ct)
    assert m.dtype == bool and m.sum() == phantom.ggo.sum()
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), phantom.affine), tmp_path / "small.nii.gz")
    with pytest.raises(MaskMismatchError, match="small.nii.gz: mask shape"):
        load_mask(tmp_path / "small.nii.gz", ct)


def test_simpleitk_format_lps_to_ras(phantom, tmp_path):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.transpose(phantom.hu[::-1, ::-1, :], (2, 1, 0)))  # LPS index order
    img.SetSpacing(SPACING)
    ox, oy, oz = phantom.affine[:3, 3]
    nx, ny, _ = phantom.hu.shape
    img.SetOrigin((-(ox + (nx - 1) * SPACING[0]), -(oy + (ny - 1) * SPACING[1]), oz))
    sitk.WriteImage(img, str(tmp_path / "ct.mha"))
    ct = load_ct(tmp_path / "ct.mha")
    assert ct.kind == "sitk"
    np.testing.assert_array_equal(ct.data, phantom.hu)
    np.testing.assert_allclose(ct.affine, phantom.affine, atol=1e-4)


def test_series_with_a_localizer_keeps_the_axial_slices(phantom, tmp_path):
    import pydicom

    write_dicom_series(phantom, tmp_path / "series")
    f = tmp_path / "series" / "s000.dcm"
    ds = pydicom.dcmread(f)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal localizer in the same series
    ds.save_as(tmp_path / "series" / "localizer.dcm")
    f.unlink()
    ct = load_ct(tmp_path / "series")
    assert ct.shape == (160, 140, phantom.hu.shape[2] - 1)
    np.testing.assert_array_equal(ct.data, phantom.hu[:, :, 1:])


@pytest.mark.parametrize("modality", ["CR", "DX"])
def test_projection_xray_is_refused_naming_the_file(tmp_path, modality, cli):
    # a chest X-ray given to `severity` ended in a nibabel OrientationError traceback
    # (no slice geometry); it is not a CT and must be refused in one line
    import pydicom
    from dicom_factory import make_cr

    p = make_cr(tmp_path / "xr.dcm", modality=modality)
    ds = pydicom.dcmread(p)
    del ds.PixelSpacing  # as in real CR headers that carry ImagerPixelSpacing or nothing
    ds.save_as(p)
    with pytest.raises(CTReadError, match=rf"xr\.dcm: .*{modality}.*not a CT"):
        load_ct(p)
    res = cli("severity", p, expect=1)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "xr.dcm" in lines[0], res.output
