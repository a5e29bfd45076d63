"""CT-0..CT-4 with the boundary convention, routing text and percentages."""
from __future__ import annotations

import numpy as np
import pytest

from covidbank.severity import BOUNDARY_CONVENTION, CATEGORIES, ROUTING, categorize, routing_for, summarize


@pytest.mark.parametrize(
    "percent, grade",
    [
        (0.0, "CT-0"),
        (1e-6, "CT-1"),
        (24.999999, "CT-1"),
        (25.0, "CT-2"),  # boundaries belong to the higher grade
        (49.999999, "CT-2"),
        (50.0, "CT-3"),
        (74.999999, "CT-3"),
        (75.0, "CT-4"),
        (100.0, "CT-4"),
    ],
)
def test_boundaries(percent, grade):
    assert categorize(percent) == grade


def test_lesion_presence_overrides_zero_rounding():
    assert categorize(0.0, lesion_present=True) == "CT-1"
    assert categorize(0.0, lesion_present=False) == "CT-0"


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan")])
def test_invalid_percent(bad):
    with pytest.raises(ValueError):
        categorize(bad)


def test_routing_text_for_every_grade():
    assert set(ROUTING) == set(CATEGORIES)
    assert "telemedicine" in routing_for("CT-1")
    assert "primary care" in routing_for("CT-2")
    assert "admission" in routing_for("CT-3")
    assert "intensive care" in routing_for("CT-4")
    with pytest.raises(ValueError):
        routing_for("CT-9")
    assert "[25,50)" in BOUNDARY_CONVENTION


@pytest.mark.parametrize("n_lesion, grade", [(99, "CT-1"), (100, "CT-2"), (200, "CT-3"), (300, "CT-4"), (299, "CT-3")])
def test_exact_quarter_of_the_lung_volume(n_lesion, grade):
    labels = np.zeros((20, 20, 2), np.uint8)
    labels[:10, :, 0] = 1  # 200 voxels right
    labels[10:, :, 0] = 2  # 200 voxels left
    lesion = np.zeros(labels.shape, bool)
    flat = np.flatnonzero(labels.ravel() > 0)[:n_lesion]
    lesion.ravel()[flat] = True
    lesion[:, :, 1] = True  # outside the lungs: not counted
    lung_v, les_v, inv = summarize(labels, lesion, voxel_ml=0.001)
    assert lung_v == {"right": 0.2, "left": 0.2, "total": 0.4}
    assert inv["total"] == pytest.approx(100 * n_lesion / 400)
    assert categorize(100 * n_lesion / 400) == grade
