"""The one CT reader (covidbank.pixels.read_ct): formats sniffed, 4-D rule, one error, its three users agree."""
from __future__ import annotations

import io
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from covidbank.errors import CTReadError, ImageLoadError, SeverityError
from covidbank.pixels import CTVolume, read_ct, sniff_format


def _lps_nifti(path, shape=(20, 16, 6)):
    """An int16 CT stored LPS with a -1024 intercept, one bright voxel column."""
    stored = np.zeros(shape, dtype=np.int16)
    stored[0, 0, :] = 1024 + 400
    stored[5:9, 4:8, 2:4] = 1024 - 700
    img = nib.Nifti1Image(stored, np.diag([-0.8, -0.8, 2.5, 1.0]))
    img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, path)
    return path


def test_nifti_in_hu_ras_with_orientation_and_spacing(tmp_path):
    ct = read_ct(_lps_nifti(tmp_path / "v.nii.gz"))
    assert isinstance(ct, CTVolume) and ct.kind == "nifti" and ct.is_hu
    assert ct.shape == (20, 16, 6) and ct.orientation == "RAS" and ct.meta["original_axcodes"] == "LPS"
    assert ct.spacing == pytest.approx((0.8, 0.8, 2.5))
    assert ct.data[-1, -1, 0] == 400 and ct.data.min() == -1024
    assert ct.plane == "volume"


def test_the_content_wins_over_the_suffix(tmp_path):
    src = _lps_nifti(tmp_path / "v.nii")
    shutil.copy(src, tmp_path / "actually-nifti.dcm")
    assert sniff_format(tmp_path / "actually-nifti.dcm") == "nifti"
    assert np.array_equal(read_ct(tmp_path / "actually-nifti.dcm").data, read_ct(src).data)
    # a gzipped NIfTI without any suffix
    shutil.copy(_lps_nifti(tmp_path / "w.nii.gz"), tmp_path / "noext")
    assert sniff_format(tmp_path / "noext") == "nifti" and read_ct(tmp_path / "noext").shape == (20, 16, 6)


def test_unknown_file_type_is_one_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not an image at all" * 10)
    with pytest.raises(CTReadError, match=r"notes.txt.*cannot work out the file type.*supported: NIfTI") as e:
        read_ct(tmp_path / "notes.txt", record="rec:1")
    assert "rec:1" in str(e.value)
    # the one error class is also the datasets' and severity's
    assert isinstance(e.value, ImageLoadError) and isinstance(e.value, SeverityError)
    with pytest.raises(CTReadError, match="no such file"):
        read_ct(tmp_path / "missing.nii.gz")


def test_four_d_files_are_refused_but_trailing_length_one_axes_dropped(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 3), np.int16), np.eye(4)), tmp_path / "4d.nii.gz")
    with pytest.raises(CTReadError, match=r"4d.nii.gz: a 4-D image with 3 volumes"):
        read_ct(tmp_path / "4d.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 1), np.int16) - 1000, np.eye(4)), tmp_path / "one.nii.gz")
    assert read_ct(tmp_path / "one.nii.gz").shape == (8, 8, 4)


def test_simpleitk_formats_read_like_nifti(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    nii = read_ct(_lps_nifti(tmp_path / "v.nii.gz"))
    img = sitk.ReadImage(str(tmp_path / "v.nii.gz"))
    for suffix in (".mha", ".nrrd"):
        sitk.WriteImage(img, str(tmp_path / f"v{suffix}"))
        assert sniff_format(tmp_path / f"v{suffix}") == "sitk"
        ct = read_ct(tmp_path / f"v{suffix}")
        assert ct.kind == "sitk" and np.array_equal(ct.data, nii.data)
        np.testing.assert_allclose(ct.affine, nii.affine, atol=1e-4)


def test_the_three_users_agree(tmp_path):
    """severity.load_ct, the viewer's read_volume and CTDataset give the same array and geometry."""
    torch = pytest.importorskip("torch")
    from covidbank.bank import Bank
    from covidbank.severity import load_ct
    from covidbank.torch import CTDataset
    from covidbank.web.render import Renderer, read_volume

    p = _lps_nifti(tmp_path / "v.nii.gz")
    sev = load_ct(p)
    web, zooms = read_volume(p)
    b = Bank(tmp_path / "bank", create=True)
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:p1", "source": "s", "modality": "CT",
                                         "path": str(p), "file_present": True, "file_format": "nifti"}])})
    item = CTDataset(b, sources="s")[0]
    assert np.array_equal(sev.data, web) and np.array_equal(sev.data, item["img"][0].numpy())
    assert tuple(zooms) == pytest.approx(sev.spacing)
    assert tuple(item["spacing"].tolist()) == pytest.approx(sev.spacing)
    np.testing.assert_allclose(item["affine"].numpy(), sev.affine, atol=1e-5)
    # and the viewer draws the voxel where severity has it (patient's right on the left)
    from PIL import Image

    out = np.array(Image.open(io.BytesIO(Renderer(tmp_path / "c").slice_png(p, 0, 0, 2000))))
    assert out[0, 0] > 150 and (out > 150).sum() == 1  # RAS x, y max (right, anterior): top-left
    assert torch.is_tensor(item["img"])


@pytest.mark.realdata
def test_real_files_read_alike_by_the_three_users(shared_data):
    from covidbank.severity import load_ct
    from covidbank.web.render import read_volume

    nii = shared_data / "ct" / "totalsegmentator" / "example_ct_sm.nii.gz"
    web, zooms = read_volume(nii)
    assert np.array_equal(load_ct(nii).data, web) and np.array_equal(read_ct(nii).data, web)
    base = shared_data / "ct" / "covid19-ny-sbu-slices" / "data-sample" / "A002304"
    assert read_ct(next((base / "coronal").glob("*.dcm"))).plane == "coronal"
    assert read_ct(next((base / "sagittal").glob("*.dcm"))).plane == "sagittal"
    assert read_ct(next((base / "axial").glob("*.dcm"))).plane == "axial"
