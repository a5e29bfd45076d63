"""MIDS naming, validation and pybids indexing."""
from __future__ import annotations

import json

import pytest

from covidbank.dicom import mids
from covidbank.dicom.ingest import ingest
from dicom_factory import make_cr, make_ct_series


def test_names_round_trip():
    stem = mids.image_name("S00001", "E00002", "rx", "cr", 1, 2, "chest", "pa")
    assert stem == "sub-S00001_ses-E00002_acq-1_run-2_bp-chest_vp-pa_cr"
    ent = mids.parse_name(stem + ".png")
    assert ent == {"sub": "S00001", "ses": "E00002", "acq": "1", "run": "2", "bp": "chest", "vp": "pa",
                   "suffix": "cr", "ext": ".png"}
    assert mids.parse_name("sub-S1_ses-E1_run-1_bp-chest_ct.nii.gz")["ext"] == ".nii.gz"
    assert mids.parse_name("sub-S1_vp_ap_cr.png") is None
    assert mids.body_part("Thorax") == "chest" and mids.body_part("JOHN") == "unknown"
    assert mids.view_entity("LATERAL") == "ll" and mids.view_entity(None) is None


@pytest.fixture
def bank(tmp_path):
    make_cr(tmp_path / "raw" / "a", patient_id="A", view="AP")
    make_cr(tmp_path / "raw" / "b", patient_id="B", modality="DX", view="PA")
    make_ct_series(tmp_path / "raw" / "ct", n=3, patient_id="A")
    ingest(tmp_path / "raw", tmp_path / "bank", key_file=tmp_path / "key", new_key=True)
    return tmp_path / "bank"


def test_validate_accepts_ingest_output_and_reports_every_problem(bank):
    assert mids.validate(bank) == []
    sub = sorted(bank.glob("sub-*"))[0]
    (sub / f"{sub.name}_sessions.tsv").write_text("session_id\tdate\n")
    side = next(bank.glob("sub-*/ses-*/mod-rx/*.json"))
    d = json.loads(side.read_text())
    del d["BitsStored"]
    d["PatientIdentityRemoved"] = "NO"
    side.write_text(json.dumps(d))
    (side.parent / "notes.txt").write_text("x")
    (side.parent.parent / "mod-mr").mkdir()
    (bank / "participants.tsv").write_text("participant_id\tsex\n")
    msgs = {p.message for p in mids.validate(bank)}
    assert {"missing column offset_days", "sidecar misses required key BitsStored",
            "PatientIdentityRemoved is not YES", "missing column age"} <= msgs
    assert any("does not follow" in m for m in msgs) and any("unexpected entry" in m for m in msgs)
    assert any("not listed in participants.tsv" in m for m in msgs)


def test_pybids_indexes_the_layout_with_the_mids_config(bank):
    pytest.importorskip("bids")
    layout = mids.pybids_layout(bank)
    pngs = layout.get(suffix="cr", extension=".png")
    assert len(pngs) == 1 and pngs[0].entities["viewposition"] == "ap"
    assert len(layout.get(suffix="dx", extension=".png")) == 1
    ct = layout.get(suffix="ct", extension=".nii.gz")
    assert len(ct) == 1 and ct[0].entities["modality"] == "ct" and ct[0].entities["bodypart"] == "unknown"
    assert sorted(layout.get_subjects()) == sorted(p.name[4:] for p in bank.glob("sub-*"))
    assert layout.get(suffix="cr", extension=".png", return_type="file")[0].endswith("_cr.png")


@pytest.mark.realdata
def test_validate_flags_the_messy_official_example(shared_data):
    probs = mids.validate(shared_data / "mids-example" / "RX_Thorax")
    assert probs and any("does not follow" in p.message or "missing" in p.message for p in probs)
