"""Arguments of the ML datasets are checked: unknown values raise an error listing the valid ones."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

pytest.importorskip("torch")

from covidbank.bank import Bank  # noqa: E402
from covidbank.errors import ArgumentError  # noqa: E402
from covidbank.torch import CTDataset, XRayDataset  # noqa: E402
from ml_fixtures import xray_bank  # noqa: E402


@pytest.fixture
def bank(tmp_path):
    return xray_bank(tmp_path, "alpha", n_subjects=6, images_per_subject=2)


@pytest.mark.parametrize("kwargs,listed", [
    ({"labels": ["Covid"]}, "COVID-19"),  # used to give all-NaN targets
    ({"require": ["Covid"]}, "COVID-19"),
    ({"views": ["Frontal"]}, "AP Supine"),  # used to give an empty dataset
    ({"sources": ["beta"]}, "alpha"),
    ({"modalities": ["MR"]}, "X-ray"),
])
def test_unknown_values_raise_listing_the_valid_ones(bank, kwargs, listed):
    with pytest.raises(ArgumentError) as e:
        XRayDataset(bank, size=32, **kwargs)
    assert listed in str(e.value) and "valid" in str(e.value) or "labels of this bank" in str(e.value)
    assert isinstance(e.value, ValueError)  # a plain ValueError for Python callers


def test_unknown_split_lists_the_split_names(bank, cli):
    cli("split", bank.path)
    with pytest.raises(ArgumentError, match="train, val") as e:
        XRayDataset(bank, size=32, split="training")
    assert "'training'" in str(e.value)
    assert len(XRayDataset(bank, size=32, split="train")) > 0


def test_view_spellings_are_normalized(bank):
    assert len(XRayDataset(bank, size=32, views=["pa"])) == len(XRayDataset(bank, size=32, views=["PA"])) == 6


def test_exclusions_are_summarized(bank, tmp_path, caplog):
    imgs = bank.table("images")
    extra = imgs.iloc[:2].assign(image_id=["alpha:gone1", "alpha:gone2"], path=[str(tmp_path / "nope.png")] * 2)
    extra.loc[extra.index[0], "file_present"] = False
    bank.add("alpha", {"images": pd.concat([imgs, extra]), "labels": bank.table("labels")})
    with caplog.at_level(logging.WARNING, logger="covidbank.torch.dataset"):
        ds = XRayDataset(bank, size=32)
    assert ds.exclusion_summary() == {"file marked absent in the bank": 1, "file not on disk": 1}
    assert "2 left out" in caplog.text and "1 file not on disk" in caplog.text


def test_ctdataset_takes_only_volumetric_ct(tmp_path):
    """Cohen's CT figures are JPEGs: they are excluded with a reason, not a crash on the first item."""
    from ml_fixtures import save_png8, synthetic_radiograph

    p = save_png8(synthetic_radiograph(1), tmp_path / "ct_figure.jpg.png")
    b = Bank(tmp_path / "bank", create=True)
    b.add("c", {"images": pd.DataFrame([{"image_id": "c:fig", "subject_id": "c:1", "source": "c", "modality": "CT",
                                          "path": str(p), "file_present": True, "file_format": "jpeg"}])})
    ds = CTDataset(b)
    assert len(ds) == 0 and ds.exclusion_summary() == {"not a CT volume (a 2-D jpeg image)": 1}


def test_split_present_only(tmp_path, cli):
    b = xray_bank(tmp_path, "alpha", n_subjects=10, images_per_subject=1)
    imgs = b.table("images")
    absent = imgs.assign(image_id=imgs["image_id"] + "x", subject_id=imgs["subject_id"] + "x", file_present=False)
    b.add("alpha", {"images": pd.concat([imgs, absent]), "labels": b.table("labels")})
    cli("split", b.path, "--present-only", "--ratios", "0.6,0.2,0.2")
    sp = b.table("splits")
    assert len(sp) == 10 and set(sp["image_id"]) == set(imgs["image_id"])
    assert sp["split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
