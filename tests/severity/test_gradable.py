"""Refuse, don't guess: what cannot be graded gets no grade and no routing, with reasons; --force; the notice."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from covidbank.errors import NotHUError
from covidbank.severity import (
    RESEARCH_NOTICE,
    CTVolume,
    assess,
    gradability,
    write_overlay,
)


def _ct(phantom, hu, path="ph"):
    return CTVolume(np.ascontiguousarray(hu), phantom.affine, path=path)


def test_a_chest_phantom_is_graded_with_the_notice(phantom):
    res = assess(_ct(phantom, phantom.hu))
    assert res.gradable and not res.not_gradable and not res.forced
    assert res.category == "CT-1" and res.routing
    d = res.to_dict()
    assert d["notice"] == RESEARCH_NOTICE and "Research use only" in d["notice"]
    assert d["gradable"] is True and d["not_gradable_reasons"] == []


def test_single_axial_slice_refused_then_forced(phantom):
    res = assess(_ct(phantom, phantom.hu[:, :, 30:31]))
    assert res.category is None and res.routing is None
    assert res.not_gradable[:2] == ["single_slice", "too_few_slices"]
    assert "single_slice" in res.qc_flags
    assert res.lung_volume_ml["total"] > 0  # the measurements are still given
    forced = assess(_ct(phantom, phantom.hu[:, :, 30:31]), force=True)
    assert forced.category is not None and forced.routing and forced.forced
    assert forced.to_dict()["forced"] is True and forced.not_gradable == res.not_gradable


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_non_axial_single_slice_refused_and_overlay_in_its_own_plane(phantom, plane, tmp_path):
    hu = phantom.hu[:, 74:75, :] if plane == "coronal" else phantom.hu[112:113, :, :]
    ct = _ct(phantom, hu)
    assert ct.plane == plane
    res = assess(ct)
    assert res.category is None and res.routing is None
    assert {"single_slice", "not_axial"} <= set(res.not_gradable)
    assert "single_slice" in res.qc_flags
    out = write_overlay(res, tmp_path / f"{plane}.png")  # used to crash in matplotlib's contour
    im = np.asarray(Image.open(out).convert("RGB")).astype(int)
    # shown in its own plane, not as a one-pixel strip: the body (soft tissue,
    # light grey in the lung window) and the two dark lungs fill the panel
    grey = (np.ptp(im, axis=-1) < 8)
    body = grey & (im[..., 0] > 200) & (im[..., 0] < 250)
    lung = grey & (im[..., 0] > 70) & (im[..., 0] < 100)
    assert body.sum() > 20_000 and lung.sum() > 10_000


def test_a_slab_without_apex_and_base_is_refused(phantom):
    res = assess(_ct(phantom, phantom.hu[:, :, 20:40]))
    assert res.category is None
    assert "too_few_slices" in res.not_gradable and "lungs_cut_at_both_ends" in res.not_gradable


def test_one_lung_missing_is_refused(phantom):
    hu = phantom.hu.copy()
    hu[phantom.left] = 40
    res = assess(_ct(phantom, hu))
    assert res.category is None and "lung_asymmetry" in res.not_gradable


@pytest.mark.parametrize("kind", ["raw-stored-values", "8-bit"])
def test_non_hu_gets_no_grade(phantom, kind):
    if kind == "raw-stored-values":  # DICOM stored values with the rescale intercept lost
        data = (phantom.hu.astype(np.int32) + 1024).astype(np.int16)
    else:
        data = np.clip((phantom.hu + 1350) / 1500 * 255, 0, 255).astype(np.uint8)
    with pytest.raises(NotHUError, match="not Hounsfield units"):
        assess(_ct(phantom, data))
    with pytest.raises(NotHUError):
        assess(_ct(phantom, data), force=True)  # --force never grades non-HU data


def test_gradability_thresholds_are_physical():
    # 30 slices of 5 mm (150 mm) with lungs over 100 mm is fine; 30 of 3 mm (90 mm) is not
    lab = np.zeros((40, 40, 30), np.uint8)
    lab[5:18, 5:35, 5:25] = 1
    lab[22:35, 5:35, 5:25] = 2
    assert gradability(lab.shape, (10, 10, 5), lab, 0.5)[0] == []
    reasons, figures = gradability(lab.shape, (10, 10, 3), lab, 0.5 * 3 / 5)
    assert "too_few_slices" in reasons and figures["lung_extent_mm"] == 60.0


def test_cli_refusal_text_force_and_json(cli, phantom, tmp_path):
    nib.save(nib.Nifti1Image(phantom.hu[:, :, 28:32], phantom.affine), tmp_path / "slab.nii.gz")
    res = cli("severity", tmp_path / "slab.nii.gz")
    assert "not gradable" in res.stdout and "too_few_slices" in res.stdout
    assert "routing:" not in res.stdout and "CT-" not in res.stdout
    res = cli("severity", tmp_path / "slab.nii.gz", "--force")
    assert "forced" in res.stdout and "routing:" in res.stdout and "Research use only" in res.stdout
    d = json.loads(cli("severity", tmp_path / "slab.nii.gz", "--json").stdout)
    assert d["category"] is None and d["routing"] is None and d["gradable"] is False
    assert "too_few_slices" in d["not_gradable_reasons"] and d["notice"] == RESEARCH_NOTICE
    nib.save(nib.Nifti1Image(phantom.hu, phantom.affine), tmp_path / "ct.nii.gz")
    res = cli("severity", tmp_path / "ct.nii.gz", "--overlay", tmp_path / "ov.png")
    assert "CT-1" in res.stdout and "Research use only" in res.stdout
