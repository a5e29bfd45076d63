"""Classical lung segmentation on generated HU phantoms."""
from __future__ import annotations

import numpy as np
import pytest

from covidbank.errors import NotHUError
from covidbank.severity import LEFT, RIGHT, CTVolume, LungParams, dice, segment_lungs


@pytest.fixture(scope="module")
def seg(phantom):
    return segment_lungs(CTVolume(phantom.hu, phantom.affine, path="phantom"))


def test_right_and_left_lungs_found_on_the_right_sides(phantom, seg):
    # patient's right = high first index in RAS+; label 1 must be there
    assert dice(seg.labels == RIGHT, phantom.right) > 0.97
    assert dice(seg.labels == LEFT, phantom.left) > 0.97
    assert seg.info["working_factor"] == 1


def test_consolidation_touching_the_border_stays_in_the_lung(phantom, seg):
    inside = np.logical_and(seg.labels == RIGHT, phantom.consolidation).sum() / phantom.consolidation.sum()
    assert inside > 0.95
    # a plain threshold would lose it: the phantom really is a hard case
    assert (phantom.hu[phantom.consolidation] > -320).mean() > 0.95


def test_consolidation_lost_without_the_border_repair(phantom):
    p = LungParams(lateral_hull=False, closing_mm=3.0)
    s = segment_lungs(CTVolume(phantom.hu, phantom.affine), p)
    inside = np.logical_and(s.labels > 0, phantom.consolidation).sum() / phantom.consolidation.sum()
    assert inside < 0.5


def test_trachea_and_bronchi_removed(phantom, seg):
    assert seg.airway is not None and seg.airway.sum() > 0.5 * phantom.trachea.sum()
    assert np.logical_and(seg.labels > 0, phantom.trachea).sum() <= 0.02 * phantom.trachea.sum()


def test_table_and_outside_air_are_not_lung(phantom, seg):
    lungs = seg.labels > 0
    assert not lungs[:, :15, :].any()  # table gap (posterior, low y)
    assert seg.counts()["background"] + seg.counts()["right"] + seg.counts()["left"] == phantom.hu.size


def test_touching_lungs_are_separated(touching_phantom):
    ph = touching_phantom
    s = segment_lungs(CTVolume(ph.hu, ph.affine, path="touching"))
    assert s.info["lungs_touching"] is True
    assert dice(s.labels == RIGHT, ph.right) > 0.95
    assert dice(s.labels == LEFT, ph.left) > 0.95


def test_downsampled_working_resolution_agrees(phantom, seg):
    s2 = segment_lungs(CTVolume(phantom.hu, phantom.affine), LungParams(downsample=2))
    assert s2.info["working_factor"] == 2
    assert dice(s2.labels == RIGHT, seg.labels == RIGHT) > 0.97
    assert dice(s2.labels == LEFT, seg.labels == LEFT) > 0.97


def test_no_lungs_in_an_abdominal_slab(phantom):
    hu = phantom.hu.copy()
    hu[phantom.right | phantom.left | phantom.trachea] = 40
    s = segment_lungs(CTVolume(hu, phantom.affine))
    assert s.info.get("no_lungs") is True and not s.labels.any()


def test_non_hu_refused():
    a = np.random.default_rng(0).integers(0, 256, (40, 40, 3)).astype(np.uint8)
    with pytest.raises(NotHUError):
        segment_lungs(CTVolume(a, np.eye(4), path="x.png", kind="image", is_hu=False))
    with pytest.raises(NotHUError):
        segment_lungs(CTVolume(a.astype(np.int16), np.eye(4), path="raw.nii"))
