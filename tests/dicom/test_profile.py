"""The packaged PS3.15 Table E.1-1 against the machine-readable standard, row by row."""
from __future__ import annotations

import json

import pytest

from covidbank.dicom.profile import EDITION, OPTION_COLUMNS, load_profile, resolve_compound

# option keys of the innolitics/dicom-standard JSON, in the order of OPTION_COLUMNS
JSON_OPTIONS = ["rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt",
                "rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt", "cleanStructContOpt", "cleanGraphOpt"]


def _json_tag(entry: dict) -> str:
    t = entry["id"].upper()
    return "GGGGEEEE_ODD" if "WHERE" in t else t


@pytest.mark.realdata
def test_table_matches_standard_row_by_row(shared_data):
    ref = json.loads((shared_data / "dicom-standard" / "confidentiality_profile_attributes.json").read_text())
    table = load_profile()
    assert len(ref) == 621 and len(table) == 621
    ours = {r.tag: r for r in table.rows}
    assert len(ours) == 621
    mismatches = []
    for e in ref:
        r = ours.get(_json_tag(e))
        if r is None:
            mismatches.append((e["tag"], "missing"))
            continue
        if r.basic != e["basicProfile"]:
            mismatches.append((e["tag"], "basic", r.basic, e["basicProfile"]))
        if r.in_std_iod != (e["stdCompIOD"] == "Y"):
            mismatches.append((e["tag"], "stdCompIOD"))
        for col, key in zip(OPTION_COLUMNS, JSON_OPTIONS):
            if r.options.get(col) != (e.get(key) or None):
                mismatches.append((e["tag"], col, r.options.get(col), e.get(key)))
        if r.name.split(" (see")[0] != e["name"].split("\n")[0].strip():
            mismatches.append((e["tag"], "name", r.name, e["name"]))
    assert mismatches == []


def test_cross_check_with_dicom_anonymizer_2024b():
    """An independent maintained copy of the Basic Profile (dicom-anonymizer's 2024b table) agrees."""
    mod = pytest.importorskip("dicomanonymizer.dicom_anonymization_databases.dicomfields_2024b")
    cats = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
            "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
    theirs = {}
    for cat, act in cats.items():
        for t in getattr(mod, cat):
            if len(t) == 2:
                theirs[f"{t[0]:04X}{t[1]:04X}"] = act
    ours = {r.tag: r.basic for r in load_profile().rows if "X" not in r.tag and r.tag != "GGGGEEEE_ODD"}
    assert len(theirs) >= 600
    assert {k: v for k, v in ours.items() if theirs.get(k) != v} == {}
    assert set(theirs) == set(ours)


def test_lookup_exact_patterns_and_private():
    t = load_profile()
    assert EDITION == "2024b"
    assert t.lookup(0x00100010).basic == "Z"  # Patient's Name
    assert t.lookup(0x00100020).basic == "Z/D"  # Patient ID
    assert t.lookup(0x00080018).basic == "U"  # SOP Instance UID
    assert t.lookup(0x50002500).tag == "50XXXXXX"  # curve data (any element of 50xx)
    assert t.lookup(0x501E0010).tag == "50XXXXXX"
    assert t.lookup(0x60003000).tag == "60XX3000"
    assert t.lookup(0x60224000).tag == "60XX4000"
    assert t.lookup(0x60000010) is None  # overlay rows: not in the table, kept
    assert t.lookup(0x00091001).tag == "GGGGEEEE_ODD"
    assert t.lookup(0x00280010) is None  # Rows: kept


def test_option_actions():
    t = load_profile()
    sex = t.lookup(0x00100040)
    assert sex.action(set()) == "Z" and sex.action({"patient_chars"}) == "K"
    study_date = t.lookup(0x00080020)
    assert study_date.action(set()) == "Z" and study_date.action({"long_modif_dates"}) == "C"
    desc = t.lookup(0x00081030)  # Study Description
    assert desc.action(set()) == "X" and desc.action({"clean_desc"}) == "C"


@pytest.mark.parametrize("action,typ,expected", [
    ("X/Z", "1", "Z"), ("X/Z", "2", "Z"), ("X/Z", None, "X"),
    ("X/D", "1", "D"), ("X/D", "2", "Z"), ("X/D", "3", "X"),
    ("Z/D", "1", "D"), ("Z/D", "2", "Z"), ("Z/D", None, "Z"),
    ("X/Z/D", "1", "D"), ("X/Z/D", "2", "Z"), ("X/Z/D", None, "X"),
    ("X/Z/U*", "1", "U"), ("X/Z/U*", "2", "Z"), ("X/Z/U*", "3", "X"),
])
def test_resolve_compound(action, typ, expected):
    assert resolve_compound(action, typ) == expected
