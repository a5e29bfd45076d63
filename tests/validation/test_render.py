"""The report files: self-contained HTML, Markdown, CSV tables, PNG figures; rendered in headless Chromium."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from covidbank.validation import build_report, frame_to_markdown, write_report

from .conftest import make_small_bank

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report of the small bank (built once for this module: plotting is the slow part)."""
    tmp = tmp_path_factory.mktemp("report")
    rep = build_report(make_small_bank(tmp / "bank", ml=True), title="Small bank")
    files = write_report(rep, tmp / "out")
    return rep, files


def test_report_files(written):
    rep, files = written
    out = files["html"].parent
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "numbers.json", "tables", "figures"}
    # every table is written in full as CSV, every figure as PNG
    for name, df in rep.tables().items():
        back = pd.read_csv(out / "tables" / f"{name}.csv")
        assert len(back) == len(df), name
    for name in rep.figures():
        with Image.open(out / "figures" / f"{name}.png") as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 200
    assert not list(out.rglob("*.tmp"))
    assert pd.read_csv(out / "tables" / "vendors.csv")["Manufacturer Model"].tolist()[0] == "GMM ACCORD DR"
    nums = json.loads((out / "numbers.json").read_text())
    assert nums["ct_categories"] == {"ct/CT-0": 1, "ct/CT-1": 3, "ct/CT-2": 1, "ct/CT-4": 1}
    assert nums["sex"]["xr/F"] == 1


def test_report_has_every_section_and_figure(written):
    rep, _ = written
    titles = [s.title for s in rep.sections]
    assert titles == ["1. Counts", "2. Demographics", "3. Acquisition", "4. Findings", "5. Diagnostic tests",
                      "6. Per-source specifics", "7. Data quality"]
    figs = set(rep.figures())
    for f in ("sessions_by_modality", "images_per_session", "sessions_per_subject", "sex", "age_histogram", "photometric",
              "vendors", "views", "findings_per_session", "findings_per_image", "cooccurrence_xr", "tests",
              "days_to_closest_test", "ct_categories", "findings_by_view_xr", "severity_geographic_extent",
              "severity_opacity", "missing_files"):
        assert f in figs, f
    tabs = set(rep.tables())
    assert {"duplicates", "leakage", "skipped", "excluded", "missing_demographics"} <= tabs


def test_html_is_self_contained(written):
    _, files = written
    html = files["html"].read_text(encoding="utf-8")
    # nothing is fetched: no external URL in src/href, no script, no stylesheet link
    assert not re.search(r"""(src|href)\s*=\s*['"](?!data:|#)""", html)
    assert "<script" not in html and "<link" not in html
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(imgs) == len(list((files["figures"]).glob("*.png")))
    for b in imgs:
        Image.open(io.BytesIO(base64.b64decode(b))).verify()
    assert "GMM ACCORD DR" in html and "LEAK" in html and "A subject&#x27;s sex" in html


def test_markdown(written):
    _, files = written
    md = files["md"].read_text(encoding="utf-8")
    assert md.startswith("# Small bank")
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (files["md"].parent / link).exists()
    assert "| GMM ACCORD DR | 3 | 4 |" in md


def test_frame_to_markdown_escapes_and_formats():
    df = pd.DataFrame({"a": ["x|y", None], "n": [1234, 5]})
    assert frame_to_markdown(df).splitlines() == ["| a | n |", "|---|---:|", "| x\\|y | 1,234 |", "|  | 5 |"]
    assert frame_to_markdown(df.iloc[:0]) == "_(no rows)_"


def test_rewrite_replaces_files(written):
    rep, files = written
    out = files["html"].parent
    before = sorted(p.name for p in out.rglob("*"))
    first = (out / "report.md").read_text()
    write_report(rep, out)
    assert sorted(p.name for p in out.rglob("*")) == before
    assert (out / "report.md").read_text() == first


def _need_chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed (.ci/system-deps installs it)")
        pytest.skip("chromium not installed")
    return CHROMIUM


def test_html_renders_in_headless_chromium(written, tmp_path):
    """Open report.html from disk with networking disabled and screenshot it: the
    page must render with its embedded plots (their bar colour is on screen)."""
    exe = _need_chromium()
    _, files = written
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--proxy-server=127.0.0.1:9", "--window-size=1280,2400", f"--screenshot={shot}", files["html"].as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    with Image.open(shot) as im:
        im = im.convert("RGB")
        assert im.size == (1280, 2400)
        colors = im.getcolors(maxcolors=1 << 20)
    rgb = {c for _, c in colors}
    assert (0x1F, 0x3B, 0x5A) in rgb            # the header bar (CSS applied)
    bar = sum(n for n, c in colors if abs(c[0] - 0x3B) < 6 and abs(c[1] - 0x6E) < 6 and abs(c[2] - 0xA5) < 6)
    assert bar > 2000                            # plot bars drawn from the embedded PNGs
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", files["html"].as_uri()],
                         capture_output=True, timeout=120, text=True).stdout
    assert dom.count("<section") == 7 and "Data quality" in dom
