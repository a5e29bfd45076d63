"""covidbank.ocr.release_check: the release gate for burned-in text (screened, and every flag decided)."""
from __future__ import annotations

import json

from covidbank.ocr import release_check
from covidbank.ocr.review import record_decision


def _xray(bank, stem, burned_in):
    d = bank / "sub-S1" / "ses-E1" / "mod-rx"
    d.mkdir(parents=True, exist_ok=True)
    side = {"Rows": 8, "Columns": 8, "covidbank": {"subject": "sub-S1", "session": "ses-E1"}}
    if burned_in is not None:
        side["covidbank"]["burned_in"] = burned_in
    (d / f"{stem}.json").write_text(json.dumps(side))
    (d / f"{stem}.png").write_bytes(b"\x89PNG")


def test_unscreened_and_pending_images_stop_a_release(tmp_path):
    _xray(tmp_path, "sub-S1_ses-E1_run-1_cr", None)
    _xray(tmp_path, "sub-S1_ses-E1_run-2_cr", {"action": "flagged", "review": "pending"})
    _xray(tmp_path, "sub-S1_ses-E1_run-3_cr", {"action": "none", "review": None})
    found = release_check(tmp_path)
    assert len(found) == 2
    assert "run-1_cr: not screened" in found[0] and "run-2_cr: burned-in text awaits review" in found[1]


def test_a_stored_decision_must_be_applied(tmp_path):
    _xray(tmp_path, "sub-S1_ses-E1_run-2_cr", {"action": "flagged", "review": "pending"})
    record_decision(tmp_path, "sub-S1_ses-E1_run-2_cr", "reviewed")
    assert ["stored but not applied" in f for f in release_check(tmp_path)] == [True]
