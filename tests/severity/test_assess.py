"""End-to-end assessment, JSON keys, overlay PNG."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from covidbank.errors import NotHUError
from covidbank.severity import CTVolume, assess, categorize, write_overlay

KEYS = {"lung_volume_ml", "lesion_volume_ml", "involvement_percent", "category", "routing", "qc_flags"}


@pytest.fixture(scope="module")
def result(phantom):
    return assess(CTVolume(phantom.hu, phantom.affine, path="phantom"))


def test_volumes_and_grade(phantom, result):
    d = result.to_dict()
    assert KEYS <= set(d)
    for k in ("lung_volume_ml", "lesion_volume_ml", "involvement_percent"):
        assert set(d[k]) == {"left", "right", "total"}
    vml = np.prod([1.5, 1.5, 2.5]) / 1000
    assert d["lung_volume_ml"]["right"] == pytest.approx(phantom.right.sum() * vml, rel=0.05)
    assert d["lung_volume_ml"]["left"] == pytest.approx(phantom.left.sum() * vml, rel=0.05)
    truth = (phantom.ggo | phantom.consolidation).sum() * vml
    assert d["lesion_volume_ml"]["total"] == pytest.approx(truth, rel=0.3)
    assert d["category"] == categorize(d["involvement_percent"]["total"]) == "CT-1"
    assert "telemedicine" in d["routing"]


def test_given_mask_of_half_the_lungs_grades_ct3(phantom):
    ct = CTVolume(phantom.hu, phantom.affine, path="phantom")
    half = phantom.right | phantom.left
    half &= np.arange(half.shape[2])[None, None, :] < 30
    res = assess(ct, lesion_mask=half)
    assert 40 < res.involvement_percent["total"] < 60
    assert res.category == categorize(res.involvement_percent["total"])


def test_non_hu_refused_unless_intensity_mode(phantom):
    img = np.clip((phantom.hu[:, :, 30:31].astype(float) + 1350) / 1500 * 255, 0, 255).astype(np.uint8)
    ct = CTVolume(img, np.eye(4), path="slice.png", kind="image", is_hu=False)
    with pytest.raises(NotHUError, match="slice.png"):
        assess(ct)
    res = assess(ct, intensity_mode=True)
    assert res.category is None and res.routing is None
    assert "intensity_mode" in res.qc_flags and res.lesion_source == "estimated-intensity"
    assert res.details["lesion_area_px"] > 0


def test_overlay_png(result, tmp_path):
    out = write_overlay(result, tmp_path / "o.png")
    im = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert im.shape[0] > 300 and im.shape[1] > 800
    reddish = (im[..., 0] > 180) & (im[..., 1] < 120) & (im[..., 2] < 120)
    greenish = (im[..., 1] > 200) & (im[..., 0] < 100) & (im[..., 2] < 100)
    assert reddish.sum() > 20 and greenish.sum() > 20
    assert not list(tmp_path.glob("*.part*"))
