"""`covidbank report` on the command line."""
from __future__ import annotations

import pandas as pd

from .conftest import make_small_bank


def test_report_command(cli, tmp_path):
    bank = make_small_bank(tmp_path / "bank")
    out = tmp_path / "out"
    res = cli("report", bank.path, "--out", out, "--title", "CLI report")
    assert "report written" in res.output
    assert (out / "report.html").read_text().count("<section") == 7
    assert (out / "report.md").read_text().startswith("# CLI report")
    assert pd.read_csv(out / "tables" / "counts_by_source.csv").set_index("source").loc["all", "images"] == 15


def test_report_errors(cli, tmp_path):
    res = cli("report", tmp_path / "nope", "--out", tmp_path / "o", expect=1)
    assert "no such bank folder" in res.output
    (tmp_path / "empty").mkdir()
    res = cli("report", tmp_path / "empty", "--out", tmp_path / "o", expect=1)
    assert "no sources" in res.output
    res = cli("report", "--source", "nosuch", tmp_path, "--out", tmp_path / "o", expect=1)
    assert "unknown source" in res.output
    assert not (tmp_path / "o").exists()


def test_report_help(cli):
    res = cli("report", "--help")
    assert "--source" in res.output and "--tree-counts" in res.output


def test_report_on_a_bimcv_mids_release_with_tests(cli, tmp_path):
    """The BIMCV MIDS release form carries diagnostic tests (derivatives/EHR): they are counted."""
    from covidbank.samples import make_bimcv_tree_sample

    root = make_bimcv_tree_sample(tmp_path / "release")
    out = tmp_path / "out"
    cli("report", "--source", "bimcv", root, "--out", out)
    tests = pd.read_csv(out / "tables" / "tests.csv")
    assert {(r.test_type, r.result): r.tests for r in tests.itertuples()} == {
        ("PCR", "positive"): 1, ("IgG", "negative"): 1, ("IgM", "indeterminate"): 1}
    ph = pd.read_csv(out / "tables" / "photometric.csv")
    assert ph[["photometric", "images"]].values.tolist() == [["MONOCHROME1", 3]]
    assert "cannot be computed" in (out / "report.md").read_text()   # the sample's images carry no dates


def test_report_on_a_bank_split_by_covidbank_split(cli, tmp_path):
    """The split table `covidbank split` writes (with its own subject_id) used to crash the report (TypeError)."""
    bank = make_small_bank(tmp_path / "bank")
    cli("split", bank.path, "--ratios", "0.6,0.2,0.2")
    assert "subject_id" in bank.table("splits").columns
    out = tmp_path / "out"
    res = cli("report", bank.path, "--out", out)
    assert "report written" in res.output
    from covidbank.validation import stats as S

    leak = S.leakage_summary(bank).set_index("check")
    assert leak.loc["subjects in more than one split", "count"] == 0  # a patient split never leaks
    n_images = sum(int(v) for k, v in leak["count"].items() if k.startswith("images in split"))
    assert n_images == len(bank.table("splits"))
