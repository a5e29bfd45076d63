"""Real-data tier: ../shared/data/ct and ../shared/data/mosmed."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from covidbank.errors import NotHUError
from covidbank.severity import assess, dice, load_ct, segment_lungs, write_overlay

pytestmark = pytest.mark.realdata

#: lungmask's own test: R231 on the two LIDC slices (both slices together)
R231 = {"right": 64752, "left": 36536, "background": 423000}


def test_lungmask_slices_within_5_percent_of_r231(shared_data):
    ct = load_ct(shared_data / "ct" / "lungmask-slices")
    assert ct.shape == (512, 512, 2)
    counts = segment_lungs(ct).counts()
    for side in ("right", "left"):
        assert abs(counts[side] / R231[side] - 1) < 0.05, (side, counts)
    assert abs(counts["background"] / R231["background"] - 1) < 0.05


def test_lungmask_slices_right_lung_is_on_the_image_left(shared_data):
    # DICOM IOP 1,0,0,0,1,0: columns run toward the patient's left, so the
    # patient's right lung occupies the low columns of the stored image
    import pydicom

    ds = pydicom.dcmread(shared_data / "ct" / "lungmask-slices" / "0.dcm")
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    lab = segment_lungs(load_ct(shared_data / "ct" / "lungmask-slices")).labels
    # back to the stored pixel layout (rows, cols) of slice 0
    stored = lab[::-1, ::-1, 0].T
    cols_right = np.nonzero(stored == 1)[1].mean()
    cols_left = np.nonzero(stored == 2)[1].mean()
    assert cols_right < 256 < cols_left


def test_totalsegmentator_lobes_dice(shared_data):
    ts = shared_data / "ct" / "totalsegmentator"
    ct = load_ct(ts / "example_ct_sm.nii.gz")
    seg = load_ct(ts / "example_seg.nii.gz").data
    ref = np.isin(seg, [10, 11, 13, 14])
    zs = np.nonzero(ref.any(axis=(0, 1)))[0]
    lab = segment_lungs(ct).labels
    sl = slice(zs.min(), zs.max() + 1)
    d = dice(lab[:, :, sl] > 0, ref[:, :, sl])
    assert d >= 0.85, d
    # sides agree with TotalSegmentator's (10, 11 left; 13, 14 right)
    r = (lab[:, :, sl] == 1) & np.isin(seg[:, :, sl], [13, 14])
    assert r.sum() > 0.8 * np.isin(seg[:, :, sl], [13, 14]).sum()


def test_totalsegmentator_jpeg2000_dicom_series_geometry(shared_data):
    ts = shared_data / "ct" / "totalsegmentator"
    ct = load_ct(ts / "example_ct_dicom")
    ref = nib.as_closest_canonical(nib.load(ts / "example_seg_dicom.nii.gz"))
    assert ct.shape == ref.shape == (512, 512, 20)
    np.testing.assert_allclose(ct.affine, ref.affine, atol=0.05)
    assert ct.data.min() <= -900 and ct.data.max() > 500  # HU


def test_covid_slices_lung_mask_lesion_estimate_and_overlay(shared_data, tmp_path):
    files = sorted((shared_data / "ct" / "covid19-ny-sbu-slices").rglob("axial/*.dcm"))
    assert len(files) == 8
    with_lungs = 0
    for i, f in enumerate(files):
        res = assess(f)
        assert "single_slice" in res.qc_flags
        if "no_lungs_found" in res.qc_flags:  # abdominal slices of A027284
            assert res.category is None
            continue
        with_lungs += 1
        assert res.lung_volume_ml["right"] > 1 and res.lung_volume_ml["left"] > 1
        assert res.lesion_volume_ml["total"] > 0
        # a single slice is not graded (issue 19); --force grades it and says so
        assert res.category is None and res.routing is None and "single_slice" in res.not_gradable
        res = assess(f, force=True)
        assert res.forced and res.category in ("CT-1", "CT-2", "CT-3", "CT-4")
        out = write_overlay(res, tmp_path / f"ov{i}.png")
        assert Image.open(out).size[0] > 800
    assert with_lungs == 6


def test_covid_slice_through_the_cli(cli, shared_data, tmp_path):
    f = shared_data / "ct" / "covid19-ny-sbu-slices" / "data-sample" / "A002304" / "axial" / "19010112-135.dcm"
    res = cli("severity", f, "--json", "--overlay", tmp_path / "o.png")
    d = json.loads(res.stdout)
    assert d["lung_volume_ml"]["total"] > 5 and d["lesion_volume_ml"]["total"] > 0.5
    assert d["input_kind"] == "dicom-slice" and (tmp_path / "o.png").stat().st_size > 10_000


def test_medseg_8bit_refused_and_intensity_mode(cli, shared_data):
    base = shared_data / "ct" / "medseg-infection-slices" / "LungInfection-Test"
    img = base / "Imgs" / "69.jpg"
    res = cli("severity", img, expect=1)
    assert "not Hounsfield units" in res.output and "--intensity-mode" in res.output
    with pytest.raises(NotHUError):
        assess(img)
    res = assess(img, intensity_mode=True)
    pred = res.lesion[::-1, ::-1, 0].T
    gt = np.asarray(Image.open(base / "GT" / "69.png").convert("L")) > 127
    assert pred.shape == gt.shape
    assert dice(pred, gt) > 0.1  # the mode finds the lesions, not just noise (figures: bench/severity.py)


def test_mosmed_severity_table_all_50_masks(cli, shared_data, tmp_path):
    res = cli("severity-table", shared_data / "mosmed", "--format", "json", "--out", tmp_path / "t.csv")
    rows = json.loads(res.stdout)
    assert len(rows) == 50
    assert all(r["error"] is None for r in rows)
    assert {r["official_category"] for r in rows} == {"CT-1"}
    assert all(r["lesion_volume_ml"] > 0 for r in rows)
    by = {r["study"]: r for r in rows}
    m = nib.load(shared_data / "mosmed" / "masks" / "study_0255_mask.nii.gz")
    expect = np.count_nonzero(np.asarray(m.dataobj)) * abs(np.linalg.det(m.affine[:3, :3])) / 1000
    assert by["study_0255"]["lesion_volume_ml"] == pytest.approx(expect, abs=1e-3)
    assert by["study_0255"]["slice_spacing_mm"] == 8.0


def test_cropped_chest_keeps_lungs_cut_by_the_field_of_view(shared_data):
    # TotalSegmentator's heart crop: both lungs touch the image border
    ct = load_ct(shared_data / "ct" / "totalsegmentator" / "pulmonary_report" / "ct_cropped.nii.gz")
    seg = segment_lungs(ct)
    c = seg.counts()
    vml = ct.voxel_volume_ml
    assert c["right"] * vml > 500 and c["left"] * vml > 500
    assert seg.info["airway_ml"] > 5  # main bronchi found and removed


# --------------------------------------------------------------------------- refuse, don't guess (issue 19)
ABDOMEN = ["totalsegmentator/example_ct_dicom", "totalsegmentator/example_ct_sm.nii.gz"]


@pytest.mark.parametrize("name", ABDOMEN)
def test_abdominal_ct_is_not_graded(shared_data, name):
    # the 20-slice abdomen series got CT-1 "telemonitoring" (bowel gas as the left lung)
    res = assess(shared_data / "ct" / name)
    assert res.category is None and res.routing is None and not res.gradable
    assert "insufficient_lung_coverage" in res.not_gradable or "too_few_slices" in res.not_gradable


def test_two_slices_of_normal_lung_are_not_graded(shared_data):
    res = assess(shared_data / "ct" / "lungmask-slices")
    assert res.category is None and "too_few_slices" in res.not_gradable


def test_heart_crop_with_lungs_cut_at_both_ends_is_not_graded(shared_data):
    res = assess(shared_data / "ct" / "totalsegmentator" / "pulmonary_report" / "ct_cropped.nii.gz")
    assert res.category is None and "lungs_cut_at_both_ends" in res.not_gradable


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_real_non_axial_slices_refused_overlay_and_cli(cli, shared_data, tmp_path, plane):
    files = sorted((shared_data / "ct" / "covid19-ny-sbu-slices").rglob(f"{plane}/*.dcm"))
    assert len(files) == 2
    for i, f in enumerate(files):
        res = assess(f)
        assert res.ct.plane == plane
        assert res.category is None and {"single_slice", "not_axial"} <= set(res.not_gradable)
        out = write_overlay(res, tmp_path / f"o{i}.png")  # was a matplotlib traceback
        assert Image.open(out).size[0] > 500
        r = cli("severity", f, "--overlay", tmp_path / f"c{i}.png")
        assert "not gradable" in r.stdout and (tmp_path / f"c{i}.png").is_file()
