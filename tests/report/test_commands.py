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
