"""QC flags."""
from __future__ import annotations

import numpy as np

from covidbank.severity import CTVolume, assess


def test_full_phantom_flags(phantom):
    res = assess(CTVolume(phantom.hu, phantom.affine, path="ph"))
    # the phantom's lungs are short (105 mm): partial coverage is flagged, nothing else
    assert res.qc_flags == ["partial_coverage"]
    assert res.details["slice_spacing_mm"] == 2.5


def test_coarse_spacing_and_lesion_outside_lung(phantom):
    aff = phantom.affine.copy()
    aff[2, 2] = 8.0  # MosMedData keeps every 10th slice
    outside = np.zeros(phantom.hu.shape, bool)
    outside[5:15, 60:70, 20:30] = True  # in the air outside the body
    mask = phantom.ggo | outside
    res = assess(CTVolume(phantom.hu, aff, path="coarse"), lesion_mask=mask)
    assert "coarse_slice_spacing" in res.qc_flags
    assert "lesion_outside_lung" in res.qc_flags
    assert res.details["lesion_outside_lung_fraction"] > 0.3
    assert res.lesion_source == "mask"
    # only the part inside the lungs counts
    assert res.lesion_volume_ml["total"] <= phantom.ggo.sum() * np.prod([1.5, 1.5, 8.0]) / 1000 + 1e-9


def test_partial_coverage_and_single_slice(phantom):
    cut = phantom.hu[:, :, 20:45]
    res = assess(CTVolume(cut, phantom.affine, path="cut"))
    assert "partial_coverage" in res.qc_flags
    one = phantom.hu[:, :, 30:31]
    res1 = assess(CTVolume(one, phantom.affine, path="one"))
    assert {"single_slice", "partial_coverage"} <= set(res1.qc_flags)
    assert res1.details["lung_area_mm2"] > 0


def test_implausible_volume_when_one_lung_missing(phantom):
    hu = phantom.hu.copy()
    hu[phantom.left] = 40
    res = assess(CTVolume(hu, phantom.affine, path="one-lung"))
    assert "implausible_lung_volume" in res.qc_flags
