"""Statistics of the report on a bank whose numbers are known by construction (see conftest)."""
from __future__ import annotations

import pandas as pd
import pytest

from covidbank.labels import default_tree
from covidbank.validation import stats as S


def _rec(df, key_cols, val):
    return {tuple(r[c] for c in key_cols) if len(key_cols) > 1 else r[key_cols[0]]: r[val] for _, r in df.iterrows()}


def test_counts_by_source(small_bank):
    df = S.counts_by_source(small_bank).set_index("source")
    assert df.loc["xr"].tolist() == [4, 6, 9, 7]
    assert df.loc["ct"].tolist() == [6, 6, 6, 0]
    assert df.loc["all"].tolist() == [10, 12, 15, 7]


def test_sessions_by_modality_counts_a_mixed_session_under_both(small_bank):
    df = S.counts_by_modality(small_bank)
    xr = df[df.source == "xr"].set_index("modality")
    assert xr.loc["CR", ["subjects", "sessions", "images"]].tolist() == [4, 5, 7]
    assert xr.loc["DX", ["subjects", "sessions", "images"]].tolist() == [2, 2, 2]
    assert list(xr.index) == ["CR", "DX"]  # most sessions first
    assert xr["session_share"].sum() == pytest.approx(1.0, abs=1e-3)


def test_histograms(small_bank):
    ips = S.images_per_session(small_bank)
    assert _rec(ips[ips.source == "xr"], ["images_in_session"], "sessions") == {1: 3, 2: 3}
    assert _rec(ips[ips.source == "ct"], ["images_in_session"], "sessions") == {1: 6}
    sps = S.sessions_per_subject(small_bank)
    assert _rec(sps[sps.source == "xr"], ["sessions_of_subject"], "subjects") == {1: 2, 2: 2}


def test_demographics_rules(small_bank):
    demo = S.subject_demographics(small_bank).set_index("subject_id")
    assert demo.loc["x:p1", "sex"] == "F"          # from its images
    assert demo.loc["x:p2", "sex"] == "M"          # subjects table wins
    assert demo.loc["x:p3", "sex"] == "conflict"   # images disagree
    assert pd.isna(demo.loc["x:p4", "sex"])
    assert demo.loc["x:p3", "age"] == 55.0         # earliest image, not 58
    sex = S.sex_counts(small_bank, demo.reset_index())
    xr = sex[sex.source == "xr"].set_index("sex")
    assert xr["subjects"].to_dict() == {"F": 1, "M": 1, "unknown": 1, "conflict": 1}
    assert xr.loc["F", "share_known"] == 0.5
    ages = S.age_summary(small_bank).set_index("source")
    assert ages.loc["xr", ["subjects_with_age", "subjects_without_age", "mean", "sd", "min", "max"]].tolist() == [3, 1, 55.0, 15.0, 40.0, 70.0]
    assert ages.loc["ct", "subjects_without_age"] == 6
    hist = S.age_histogram(small_bank)
    assert _rec(hist, ["age_from"], "subjects") == {40: 1, 50: 1, 70: 1}


def test_photometric_vendors_views(small_bank):
    ph = S.photometric_counts(small_bank)
    assert _rec(ph, ["photometric"], "images") == {"MONOCHROME2": 6, "MONOCHROME1": 2, "unknown": 1}
    assert set(ph.source) == {"xr"}  # CT has no photometric row
    v = S.vendor_table(small_bank)
    assert v["Manufacturer Model"].tolist() == ["GMM ACCORD DR", "SIEMENS SIEMENS FD-X", "KONICA MINOLTA 0862"]
    assert v["studies"].tolist() == [3, 2, 1]
    assert v["images"].tolist() == [4, 2, 2]
    views = S.view_counts(small_bank)
    xr = views[views.source == "xr"].groupby("view")["images"].sum().to_dict()
    assert xr == {"PA": 4, "AP": 3, "L": 2}


def test_label_counts_per_session_and_image(small_bank):
    ses = S.label_counts(small_bank, "session")
    xr = ses[ses.source == "xr"].set_index("label")
    assert xr["sessions"].to_dict() == {"COVID 19": 3, "consolidation": 2, "pneumonia": 2, "normal": 1}
    assert xr.loc["COVID 19", "share"] == 0.5
    assert xr.loc["consolidation", "cui"] == "C0521530"
    assert list(xr.index[:1]) == ["COVID 19"]
    img = S.label_counts(small_bank, "image").query("source == 'xr'").set_index("label")["images"].to_dict()
    assert img == {"COVID 19": 4, "consolidation": 3, "pneumonia": 2, "normal": 2}
    implied = S.label_counts(small_bank, "session", include_implied=True).set_index("label")["sessions"]
    assert implied["pneumonia"] == 3
    with pytest.raises(ValueError):
        S.label_counts(small_bank, "subject")


def test_cooccurrence(small_bank):
    m = S.label_cooccurrence(small_bank, source="xr")
    assert m.loc["COVID 19", "COVID 19"] == 3
    assert m.loc["COVID 19", "consolidation"] == m.loc["consolidation", "COVID 19"] == 2
    assert m.loc["COVID 19", "pneumonia"] == 1
    assert m.loc["normal", "COVID 19"] == 0


def test_tree_counts(small_bank):
    tc = S.label_tree_counts(small_bank, default_tree(), unit="session", source="xr").set_index("label")
    assert tc.loc["COVID-19", ["counts", "n_with_children", "n_distinct"]].tolist() == [3, 3, 3]
    assert tc.loc["Viral", ["counts", "n_with_children"]].tolist() == [0, 3]
    assert tc.loc["Pneumonia", ["counts", "n_with_children", "n_distinct"]].tolist() == [2, 5, 4]
    assert tc.loc["Pneumonia", "depth"] == 0 and tc.loc["COVID-19", "depth"] == 2
    assert "COVID 19" in tc.loc["COVID-19", "aliases"].split("|")
    assert tc.loc["COVID-19", "tree"] == "\u2003\u2003└ COVID-19"
    assert not tc.loc["consolidation", "in_tree"] and tc.loc["consolidation", "counts"] == 2


def test_tests_and_days(small_bank):
    t = S.test_counts(small_bank)
    assert _rec(t, ["test_type", "result"], "tests") == {("PCR", "positive"): 2, ("PCR", "negative"): 1, ("IgG", "positive"): 1}
    d = S.days_to_closest_test(small_bank).set_index("image_id")
    assert d["days"].to_dict() == {"x:1": 2.0, "x:2": 2.0, "x:3": -3.0, "x:4": -3.0, "x:5": -3.0}
    assert (d["test_type"] == "PCR").all()


def test_days_from_dates(tmp_path):
    from covidbank.bank import Bank

    b = Bank(tmp_path / "b", create=True)
    b.add("d", {
        "images": pd.DataFrame({"image_id": ["d:1"], "session_id": ["d:s"], "subject_id": ["d:p"]}),
        "sessions": pd.DataFrame({"session_id": ["d:s"], "subject_id": ["d:p"], "date": ["2020-03-10"]}),
        "tests": pd.DataFrame({"subject_id": ["d:p", "d:p"], "test_type": ["PCR", "PCR"], "result": ["positive", "negative"],
                               "date": ["2020-03-01", "2020-03-14"]}),
    })
    d = S.days_to_closest_test(b)
    assert d["days"].tolist() == [4.0] and d["result"].tolist() == ["negative"]


def test_per_source_specifics(small_bank):
    ct = S.ct_category_counts(small_bank)
    assert _rec(ct, ["ct_category"], "studies") == {"CT-0": 1, "CT-1": 3, "CT-2": 1, "CT-4": 1}
    fv = S.findings_by_view(small_bank, source="xr").set_index("label")
    assert fv.loc["COVID 19", ["PA", "L", "AP", "total"]].tolist() == [2, 1, 1, 4]
    assert fv.loc["pneumonia", ["PA", "AP", "total"]].tolist() == [2, 1, 3]  # implied parent included
    assert fv.loc["(all images)", ["PA", "AP", "L", "total"]].tolist() == [4, 3, 2, 9]
    sev = S.severity_scores(small_bank)
    assert sorted(sev["geographic_extent"].tolist()) == [2.0, 4.0, 6.5]
    assert sorted(sev["opacity"].tolist()) == [1.5, 3.0, 5.0]
    summ = S.severity_summary(small_bank).set_index("score")
    assert summ.loc["geographic_extent (0-8)", ["images", "mean", "median", "max"]].tolist() == [3, 4.17, 4.0, 6.5]
    assert summ.loc["opacity (0-6)", "sd"] == 1.76


def test_quality(small_bank):
    mf = S.missing_files(small_bank).set_index("source")
    assert mf.loc["xr", ["images", "present", "missing", "unknown"]].tolist() == [9, 7, 1, 1]
    assert mf.loc["ct", ["present", "missing"]].tolist() == [0, 6]
    sk = S.skipped_reasons(small_bank)
    assert _rec(sk, ["reason"], "records") == {"finding todo": 2, "missing view": 1}
    md = S.missing_demographics(small_bank).set_index("source")
    assert md.loc["xr", ["images_without_sex", "images_without_age", "subjects_without_sex",
                         "subjects_sex_conflict", "subjects_age_span_over_2y"]].tolist() == [2, 2, 1, 1, 1]
    assert md.loc["ct", "subjects_without_sex"] == 6
    ex = S.excluded_images(small_bank)
    assert ex[["source", "reason", "images"]].values.tolist() == [["xr", "inverted", 1]]
    assert S.duplicate_summary(small_bank) is None and S.leakage_summary(small_bank) is None


def test_duplicates_and_leakage(small_bank_ml):
    dup = S.duplicate_summary(small_bank_ml).set_index("images_in_group")
    assert dup.loc[2, ["groups", "cross_source"]].tolist() == [1, 1]
    assert dup.loc[3, ["groups", "cross_source"]].tolist() == [1, 0]
    leak = S.leakage_summary(small_bank_ml).set_index("check")
    assert leak.loc["subjects in more than one split", ["count", "of", "status"]].tolist() == [1, 5, "LEAK"]
    assert leak.loc["duplicate groups in more than one split", ["count", "of", "status"]].tolist() == [1, 2, "LEAK"]
    assert leak.loc["images in split train", "count"] == 7


def test_empty_bank_gives_empty_frames(tmp_path):
    from covidbank.bank import Bank

    b = Bank(tmp_path / "e", create=True)
    assert S.counts_by_source(b).empty
    assert S.label_counts(b).empty
    assert S.label_cooccurrence(b).empty
    assert S.days_to_closest_test(b).empty
    assert S.vendor_table(b).empty
    assert S.subject_demographics(b).empty


def test_cui_given_to_another_label_is_not_shown(tmp_path):
    """A CUI list misaligned with its label list must not give `unchanged` the CUI of `increased density`."""
    from covidbank.bank import Bank
    from covidbank.labels import LabelTree

    t = LabelTree()
    t.add("increased density", "C1443940")
    t.add("unchanged")
    b = Bank(tmp_path / "b", create=True)
    b.add("m", {
        "images": pd.DataFrame({"image_id": ["m:1", "m:2"], "session_id": ["m:s1", "m:s2"], "subject_id": ["m:p", "m:p"]}),
        "labels": pd.DataFrame({"image_id": ["m:1", "m:1", "m:2"], "label": ["unchanged", "increased density", "unchanged"],
                                "cui": ["C1443940", "C1443940", None], "value": [1, 1, 1], "origin": "source"}),
    })
    with_tree = S.label_counts(b, tree=t).set_index("label")["cui"]
    assert pd.isna(with_tree["unchanged"]) and with_tree["increased density"] == "C1443940"
    assert S.label_counts(b).set_index("label").loc["unchanged", "cui"] == "C1443940"  # without a tree: as stored
