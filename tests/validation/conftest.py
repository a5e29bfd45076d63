"""A small two-source bank whose statistics are known by construction."""
from __future__ import annotations

import pandas as pd
import pytest

from covidbank.bank import Bank


def _xray_source() -> dict[str, pd.DataFrame]:
    # 4 subjects, 6 sessions, 9 images.  s1 has a sex conflict between its images.
    img = [
        # image, session, subject, modality, view, sex, age, offset, photometric, manufacturer, model, present
        ("x:1", "x:s1", "x:p1", "CR", "PA", "F", 70.0, 0, "MONOCHROME2", '"KONICA MINOLTA"', "0862", True),
        ("x:2", "x:s1", "x:p1", "CR", "L", "F", 70.0, 0, "MONOCHROME2", '"KONICA MINOLTA"', "0862", True),
        ("x:3", "x:s2", "x:p1", "DX", "AP", "F", 70.0, 5, "MONOCHROME1", "GMM", "ACCORD DR", False),
        ("x:4", "x:s3", "x:p2", "DX", "PA", "M", 40.0, 0, "MONOCHROME1", "GMM", "ACCORD DR", True),
        ("x:5", "x:s3", "x:p2", "CR", "L", "M", 40.0, 0, "MONOCHROME2", "GMM", "ACCORD DR", True),
        ("x:6", "x:s4", "x:p3", "CR", "PA", "M", 55.0, 0, "MONOCHROME2", "SIEMENS", "SIEMENS FD-X", True),
        ("x:7", "x:s5", "x:p3", "CR", "PA", "F", 58.0, 30, "MONOCHROME2", "SIEMENS", "SIEMENS FD-X", True),
        ("x:8", "x:s6", "x:p4", "CR", "AP", None, None, 0, None, None, None, None),
        ("x:9", "x:s6", "x:p4", "CR", "AP", None, None, 0, "MONOCHROME2", "GMM", "ACCORD DR", True),
    ]
    cols = ["image_id", "session_id", "subject_id", "modality", "view", "sex", "age", "offset_days", "photometric",
            "manufacturer", "model", "file_present"]
    images = pd.DataFrame(img, columns=cols)
    images["severity_geographic_extent"] = [4.0, None, 6.5, None, None, 2.0, None, None, None]
    images["severity_opacity"] = [3.0, None, 5.0, None, None, 1.5, None, None, None]
    images["exclude"] = [False] * 8 + [True]
    images["exclude_reason"] = [None] * 8 + ["inverted"]
    lab = [
        # image, label, cui, value, origin
        ("x:1", "COVID 19", "C5203670", 1, "source"), ("x:1", "pneumonia", "C0032285", 1, "implied"),
        ("x:1", "consolidation", "C0521530", 1, "source"),
        ("x:2", "COVID 19", "C5203670", 1, "source"), ("x:2", " Consolidation", None, 1, "source"),
        ("x:3", "COVID 19", "C5203670", 1, "source"), ("x:3", "pneumonia", "C0032285", 1, "source"),
        ("x:4", "normal", "C0205307", 1, "source"),
        ("x:5", "normal", "C0205307", 1, "source"), ("x:5", "COVID 19", "C5203670", 0, "source"),
        ("x:6", "pneumonia", "C0032285", 1, "source"), ("x:6", "consolidation", "C0521530", -1, "source"),
        ("x:7", "COVID 19", "C5203670", 1, "source"), ("x:7", "consolidation", "C0521530", 1, "source"),
    ]
    labels = pd.DataFrame(lab, columns=["image_id", "label", "cui", "value", "origin"])
    subjects = pd.DataFrame({"subject_id": ["x:p1", "x:p2", "x:p3", "x:p4"], "sex": [None, "M", None, None],
                             "age": [None, None, None, None]})
    tests = pd.DataFrame({
        "subject_id": ["x:p1", "x:p1", "x:p2", "x:p3"],
        "test_type": ["PCR", "IgG", "PCR", "PCR"],
        "result": ["positive", "positive", "negative", "positive"],
        "offset_days": [2.0, 10.0, -3.0, None],
        "date": [None, None, None, None],
    })
    skipped = pd.DataFrame({"record": ["12", "13", "14"], "path": ["meta.csv"] * 3,
                            "reason": ["finding todo: not labeled", "finding todo: x", "missing view"]})
    return {"images": images, "labels": labels, "subjects": subjects, "tests": tests, "skipped": skipped}


def _ct_source() -> dict[str, pd.DataFrame]:
    cats = ["CT-0", "CT-1", "CT-1", "CT-1", "CT-2", "CT-4"]
    images = pd.DataFrame({
        "image_id": [f"c:{i}" for i in range(6)],
        "session_id": [f"c:s{i}" for i in range(6)],
        "subject_id": [f"c:p{i}" for i in range(6)],
        "modality": "CT", "view": "Axial", "ct_category": cats, "file_present": False,
    })
    return {"images": images}


def make_small_bank(path, ml: bool = False) -> Bank:
    """Build the small bank in ``path``; with ``ml`` add ``duplicates`` and ``splits``
    tables with one leak of each kind."""
    b = Bank(path, create=True)
    b.add("xr", _xray_source())
    b.add("ct", _ct_source())
    if ml:
        _add_ml(b)
    return b


@pytest.fixture
def small_bank(tmp_path) -> Bank:
    return make_small_bank(tmp_path / "bank")


@pytest.fixture
def small_bank_ml(small_bank) -> Bank:
    """The small bank plus ``duplicates`` and ``splits`` tables with one leak of each kind."""
    _add_ml(small_bank)
    return small_bank


def _add_ml(small_bank: Bank) -> None:
    small_bank.write_table("duplicates", pd.DataFrame({"group_id": [1, 1, 2, 2, 2],
                                                       "image_id": ["x:1", "c:0", "x:4", "x:6", "x:9"]}))
    small_bank.write_table("splits", pd.DataFrame({
        "image_id": ["x:1", "x:2", "x:3", "x:4", "x:5", "x:6", "x:7", "x:8", "x:9", "c:0"],
        "split": ["train", "train", "test", "train", "train", "train", "train", "val", "val", "train"],
    }))
