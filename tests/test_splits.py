"""Patient-level, deterministic, sticky splits and the leakage check."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from covidbank.bank import Bank
from covidbank.errors import SplitError
from covidbank.splits import check_leakage, label_matrix, make_split, parse_ratios, write_split


def _bank(tmp_path, n=60, sources=("a",), sites=True) -> Bank:
    """Index-only bank (no image files needed for splitting)."""
    b = Bank(tmp_path / "bank", create=True)
    for src in sources:
        imgs, labs, sess = [], [], []
        for p in range(n):
            for k in range(1 + p % 3):
                iid = f"{src}:{p}-{k}"
                imgs.append({"image_id": iid, "subject_id": f"{src}:{p}", "session_id": f"{src}:{p}/{k}", "source": src,
                             "path": f"/nowhere/{src}/{p}-{k}.png", "file_present": False, "modality": "X-ray"})
                sess.append({"session_id": f"{src}:{p}/{k}", "subject_id": f"{src}:{p}", "source": src,
                             "location": f"site{p % 7}" if sites else None})
                labs.append({"image_id": iid, "label": "COVID-19" if p % 4 == 0 else "Bacterial", "value": 1, "origin": "source"})
        b.add(src, {"images": pd.DataFrame(imgs), "labels": pd.DataFrame(labs), "sessions": pd.DataFrame(sess)})
    return b


def test_parse_ratios():
    assert parse_ratios("0.7,0.15,0.15") == pytest.approx((0.7, 0.15, 0.15))
    assert parse_ratios("70,15,15") == pytest.approx((0.7, 0.15, 0.15))
    for bad in ("a,b", "0.5,0.2", "-1,2", ""):
        with pytest.raises(SplitError):
            parse_ratios(bad)


def test_every_patient_on_one_side_deterministic_and_balanced(tmp_path):
    b = _bank(tmp_path)
    r1 = make_split(b, seed=0)
    t = r1.table
    assert t.groupby("subject_id")["split"].nunique().max() == 1
    assert set(t["split"]) == {"train", "val", "test"}
    share = t["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.06 and abs(share["test"] - 0.15) < 0.06
    assert make_split(b, seed=0).table.equals(t)
    assert make_split(b, seed=0, fresh=True).table.equals(t)
    other = make_split(b, seed=1).table
    assert not other["split"].equals(t["split"])


def test_stratified_split_balances_label_with_hierarchy(tmp_path):
    b = _bank(tmp_path, n=80)
    t = make_split(b, seed=3, stratify="Pneumonia").table
    # every image is Pneumonia (COVID-19 and Bacterial are children): one stratum
    assert set(t["stratum"]) == {"Pneumonia=1"}
    t = make_split(b, seed=3, stratify="COVID-19").table
    assert set(t["stratum"]) == {"COVID-19=1", "COVID-19!=1"}
    pos = t[t["stratum"] == "COVID-19=1"]["split"].value_counts(normalize=True)
    assert abs(pos["train"] - 0.7) < 0.1
    with pytest.raises(SplitError, match="unknown label"):
        make_split(b, stratify="Unobtainium")


def test_group_by_site_keeps_sites_whole(tmp_path):
    b = _bank(tmp_path, n=70)
    write_split(b, seed=0, group_by="site")
    t = b.table("splits")
    sess = b.table("sessions").set_index("session_id")["location"]
    imgs = b.table("images").set_index("image_id")["session_id"]
    site = t["image_id"].map(imgs).map(sess)
    assert pd.DataFrame({"site": site, "split": t["split"]}).groupby("site")["split"].nunique().max() == 1
    assert check_leakage(b).ok
    with pytest.raises(SplitError, match="no column"):
        make_split(b, group_by="hospital_wing", fresh=True)


def test_sticky_when_a_source_is_added(tmp_path):
    b = _bank(tmp_path, n=50, sources=("a",))
    write_split(b, seed=0)
    before = b.table("splits")
    _bank(tmp_path, n=40, sources=("b",))  # same bank folder: adds source b
    res = write_split(b, seed=0)
    after = b.table("splits")
    assert res.kept == 50 and res.new == 40 and not res.moved
    a_after = after[after["source"] == "a"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a_after, before.reset_index(drop=True))
    assert set(after[after["source"] == "b"]["split"]) == {"train", "val", "test"}
    # other parameters on an existing split are refused, --fresh replaces
    with pytest.raises(SplitError, match="already has a split"):
        make_split(b, seed=5)
    assert len(make_split(b, seed=5, fresh=True).table) == len(after)


def test_duplicate_groups_join_patients_and_leakage_is_detected(tmp_path):
    b = _bank(tmp_path, n=40)
    t0 = make_split(b, seed=0).table
    side = t0.drop_duplicates("subject_id").set_index("subject_id")["split"]
    a = side[side == "train"].index[0]
    c = side[side == "test"].index[0]
    ia = t0[t0["subject_id"] == a]["image_id"].iloc[0]
    ic = t0[t0["subject_id"] == c]["image_id"].iloc[0]
    b.write_table("duplicates", pd.DataFrame({"image_id": [ia, ic], "group_id": [min(ia, ic)] * 2}))
    t = make_split(b, seed=0).table
    s = t.set_index("image_id")["split"]
    assert s[ia] == s[ic]  # the duplicate pair is on one side
    # an old split written before the duplicates were known leaks: check-leakage says so
    b.write_table("splits", t0)
    rep = check_leakage(b)
    assert not rep.ok and len(rep.duplicate_leaks) == 1 and rep.subject_leaks.empty
    # re-running split moves the smaller side of the conflict and fixes it
    res = write_split(b, seed=0)
    assert len(res.moved) == 1 and check_leakage(b).ok
    # a subject split across sides is caught
    bad = b.table("splits")
    i = bad.index[bad["subject_id"] == bad["subject_id"].iloc[0]]
    if len(i) > 1:
        bad.loc[i[1], "split"] = "test" if bad.loc[i[0], "split"] != "test" else "train"
    else:
        bad = pd.concat([bad, bad.iloc[[0]].assign(image_id="a:extra", split="test" if bad["split"].iloc[0] != "test" else "train")])
    b.write_table("splits", bad)
    assert not check_leakage(b).subject_leaks.empty


def test_cli_split_and_check_leakage(tmp_path, cli):
    b = _bank(tmp_path, n=30)
    r = cli("check-leakage", b.path, expect=1)
    assert "no split" in r.output
    cli("split", b.path, "--by", "patient", "--ratios", "0.7,0.15,0.15", "--seed", "0", "--stratify", "COVID-19", "-f", "json")
    r = cli("check-leakage", b.path, "--json")
    d = json.loads(r.stdout)
    assert d["ok"] is True and d["unassigned_images"] == 0 and d["subjects"] == 30
    cli("split", b.path, "--by", "image", expect=1)
    cli("split", b.path, "--ratios", "0.5,0.1", expect=1)


def test_label_matrix_values(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    b.add("x", {"images": pd.DataFrame({"image_id": ["x:1", "x:2", "x:3", "x:4"]}),
                "labels": pd.DataFrame([
                    {"image_id": "x:1", "label": "COVID 19", "value": 1},  # BIMCV spelling
                    {"image_id": "x:2", "label": "Pneumonia", "value": 0},
                    {"image_id": "x:3", "label": "COVID-19", "value": -1},
                ])})
    m = label_matrix(b, ["x:1", "x:2", "x:3", "x:4"], ["Pneumonia", "COVID-19"])
    assert m.loc["x:1"].tolist() == [1.0, 1.0]
    assert m.loc["x:2"].tolist() == [0.0, 0.0]
    assert m.loc["x:3"].tolist() == [-1.0, -1.0]
    assert m.loc["x:4"].isna().all()


@pytest.mark.realdata
def test_cohen_split_by_patient_then_bimcv_and_mosmed(shared_data, tmp_path):
    from covidbank.sources import load_source

    b = Bank(tmp_path / "bank", create=True)
    res = load_source("cohen", shared_data / "cohen")
    b.add("cohen", res.all_tables(), res.meta)
    write_split(b, by="patient", ratios="0.7,0.15,0.15", seed=0)
    t1 = b.table("splits")
    assert t1.groupby("subject_id")["split"].nunique().max() == 1
    assert check_leakage(b).ok
    # no patientid in two splits, from the source's own column
    meta = pd.read_csv(shared_data / "cohen" / "metadata.csv")
    imgs = b.table("images").set_index("image_id")
    t1_orig = t1.assign(patientid=t1["image_id"].map(imgs["original_id"]))
    assert t1["subject_id"].str.startswith("cohen:").all()
    assert t1.assign(pid=t1["subject_id"].str.slice(6)).groupby("pid")["split"].nunique().max() == 1
    assert set(t1["subject_id"].str.slice(6)) <= set(meta["patientid"].astype(str))
    assert len(t1_orig) == len(imgs)
    # same seed, fresh: identical table
    write_split(b, by="patient", ratios="0.7,0.15,0.15", seed=0, fresh=True)
    pd.testing.assert_frame_equal(b.table("splits"), t1)
    for name, path in (("bimcv", shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv"), ("mosmed", shared_data / "mosmed")):
        r = load_source(name, path)
        b.add(name, r.all_tables(), r.meta)
    res2 = write_split(b, by="patient", ratios="0.7,0.15,0.15", seed=0)
    t2 = b.table("splits")
    assert not res2.moved
    pd.testing.assert_frame_equal(t2[t2["source"] == "cohen"].reset_index(drop=True), t1.reset_index(drop=True))
    assert {"bimcv", "mosmed"} <= set(t2["source"])
    assert check_leakage(b).ok


def test_no_torch_import_for_core_splits_duplicates_and_cli():
    import subprocess
    import sys

    code = ("import sys, covidbank, covidbank.splits, covidbank.duplicates, covidbank.cli.ml\n"
            "from covidbank.cli import get_app; get_app()\n"
            "print('torch' in sys.modules)")
    import os
    from pathlib import Path

    import covidbank

    env = dict(os.environ, PYTHONPATH=str(Path(covidbank.__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
