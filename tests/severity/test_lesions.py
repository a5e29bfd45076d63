"""Lesion estimate from HU and the intensity mode."""
from __future__ import annotations

import numpy as np
import pytest

from covidbank.severity import CTVolume, LesionParams, calibrate_intensity, estimate_lesions, segment_lungs


@pytest.fixture(scope="module")
def lungs(phantom):
    return segment_lungs(CTVolume(phantom.hu, phantom.affine)).labels


def test_ggo_and_consolidation_found_vessels_not(phantom, lungs):
    les = estimate_lesions(phantom.hu, lungs, (1.5, 1.5, 2.5))
    truth = phantom.ggo | phantom.consolidation
    assert (les & phantom.ggo).sum() > 0.8 * phantom.ggo.sum()
    assert (les & phantom.consolidation).sum() > 0.8 * phantom.consolidation.sum()
    false_pos = (les & ~truth).sum()
    assert false_pos < 0.25 * truth.sum()
    assert not (les & ~(lungs > 0)).any()


def test_window_only_ggo_without_consolidation(phantom, lungs):
    les = estimate_lesions(phantom.hu, lungs, (1.5, 1.5, 2.5), LesionParams(include_consolidation=False))
    assert (les & phantom.consolidation).sum() < 0.2 * phantom.consolidation.sum()
    assert (les & phantom.ggo).sum() > 0.8 * phantom.ggo.sum()


def test_minimum_size_drops_small_spots(phantom, lungs):
    hu = phantom.hu.copy()
    x, y, z = np.nonzero(phantom.right)
    i = len(x) // 3
    hu[x[i], y[i], z[i]] = -400  # one voxel of "ground glass"
    les = estimate_lesions(hu, lungs, (1.5, 1.5, 2.5), LesionParams(smooth_px=1, min_volume_mm3=20.0))
    assert not les[x[i], y[i], z[i]]


def test_intensity_mode_calibration_on_a_windowed_picture(phantom):
    # an 8-bit lung-window rendering of one phantom slice
    sl = phantom.hu[:, :, 30].astype(float)
    img = np.clip((sl + 1350) / 1500 * 255, 0, 255).astype(np.uint8)[:, :, None]
    ct = CTVolume(img, np.eye(4), path="slice.png", kind="image", is_hu=False)
    pseudo, lung = calibrate_intensity(ct)
    assert not pseudo.is_hu
    # parenchyma maps to about -850 and the GGO ball to between -700 and -130
    assert abs(np.median(pseudo.data[phantom.right[:, :, 30:31] & ~phantom.consolidation[:, :, 30:31]]) + 850) < 40
    ggo_vals = pseudo.data[phantom.ggo[:, :, 30:31]]
    assert -700 < np.median(ggo_vals) < -130
    les = estimate_lesions(pseudo.data, lung, (1.0, 1.0, 1.0))
    assert (les & phantom.ggo[:, :, 30:31]).sum() > 0.6 * phantom.ggo[:, :, 30].sum()
