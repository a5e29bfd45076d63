"""Viewer hardening (issue 13): served paths, links, CSP and security headers, loopback, Host allow-list, 400s."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from covidbank.bank import Bank  # noqa: E402
from covidbank.cli.web import _is_loopback  # noqa: E402
from covidbank.sources import paths_outside  # noqa: E402
from covidbank.web import create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}


def _png(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(p)
    return p


def _images(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"image_id": r["id"], "subject_id": r["id"] + "s", "session_id": r["id"] + "x",
                          "modality": "CR", "view": "PA", "path": str(r["path"]), "file_present": True,
                          "file_format": "png", "url": r.get("url")} for r in rows])


def test_cohen_metadata_climbing_out_is_refused_at_add(tmp_path):
    src = tmp_path / "cohen"
    _png(src / "images" / "ok.png")
    _png(tmp_path / "elsewhere" / "private.png")
    pd.DataFrame({"patientid": ["1", "2"], "finding": ["COVID-19", "COVID-19"], "view": ["PA", "PA"],
                  "modality": ["X-ray", "X-ray"], "filename": ["ok.png", "../../elsewhere/private.png"]}
                 ).to_csv(src / "metadata.csv", index=False)
    res = subprocess.run([sys.executable, "-m", "covidbank", "add", "cohen", str(src), "--bank", str(tmp_path / "bank")],
                         env=ENV, capture_output=True, text=True)
    assert res.returncode == 1 and "outside the source folder" in res.stderr and "cohen:" in res.stderr
    assert not (tmp_path / "bank" / "index" / "sources" / "cohen").exists()


@pytest.fixture()
def hardened(tmp_path):
    root = tmp_path / "src"
    inside = _png(root / "a.png")
    outside = _png(tmp_path / "outside" / "secret.png")
    bank = Bank(tmp_path / "bank", create=True)
    bank.add("s", {"images": _images([{"id": "s:in", "path": inside, "url": "https://example.org/x"},
                                      {"id": "s:js", "path": inside, "url": "javascript:alert(document.domain)"},
                                      {"id": "s:up", "path": "../outside/secret.png"}])}, root=root)
    assert paths_outside({"images": _images([{"id": "t:out", "path": outside}])}, root) == ["images:t:out (path)"]
    # an index edited afterwards to point outside every registered root: the viewer refuses it
    pq = tmp_path / "bank" / "index" / "sources" / "s" / "images.parquet"
    df = pd.read_parquet(pq)
    extra = df.iloc[[0]].assign(image_id="s:tampered", path=str(outside))
    pd.concat([df, extra]).to_parquet(pq, index=False)
    rep = tmp_path / "bank" / "validation"
    rep.mkdir()
    (rep / "report.html").write_text("<html><body><script>fetch('/api/records')</script>report</body></html>")
    app = create_app(tmp_path / "bank", cache_dir=tmp_path / "cache", allowed_hosts=["localhost", "testserver"])
    with TestClient(app) as c:
        yield c, tmp_path


def test_files_only_from_the_bank_or_registered_roots(hardened):
    c, tmp = hardened
    assert c.get("/api/image/s:in").status_code == 200
    for url in ("/api/image/s:tampered", "/api/thumbnail/s:tampered", "/api/imageinfo/s:tampered", "/api/image/s:up"):
        r = c.get(url)
        assert r.status_code == 404 and str(tmp) not in r.text and "secret" not in r.text
    page = c.get("/case/s:tampereds")
    assert str(tmp) not in page.text
    r = c.get("/api/records/nope")
    assert r.status_code == 404 and str(tmp) not in r.text  # no absolute path in any error


def test_only_http_urls_become_links(hardened):
    c, _ = hardened
    js = c.get("/case/s:jss").text
    assert 'href="javascript:' not in js and "javascript:alert" in js  # shown as text, not a link
    ok = c.get("/case/s:ins").text
    assert 'href="https://example.org/x"' in ok


def test_security_headers_on_every_response(hardened):
    c, _ = hardened
    for url in ("/", "/summary", "/api/records", "/static/style.css", "/api/image/nope", "/nothing-here",
                "/api/docs"):
        r = c.get(url)
        assert "default-src 'self'" in r.headers["content-security-policy"], url
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in c.get("/").headers["content-security-policy"].split("script-src")[1].split(";")[0]
    r = c.get("/report")
    assert r.status_code == 200 and r.headers["content-security-policy"].startswith("sandbox")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "onerror=" not in c.get("/").text and "<script>" not in c.get("/").text  # nothing inline to allow


@pytest.mark.parametrize("url", ["/?age_max=inf", "/?age_min=abc", "/?page=x", "/?age_max=nan",
                                 "/api/records?age_max=inf", "/api/records?page=abc", "/api/image/s:in?size=huge"])
def test_bad_numbers_answer_400(hardened, url):
    c, _ = hardened
    assert c.get(url).status_code == 400


def test_host_allow_list(hardened):
    c, _ = hardened
    assert c.get("/", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/", headers={"host": "localhost"}).status_code == 200


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.1", True), ("127.255.3.4", True), ("0x7f.1", True),
                                       ("::1", True), ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                       ("10.0.0.1", False), ("::", False), ("example.org", False)])
def test_loopback_is_all_of_127_8_and_ipv6(host, loop):
    assert _is_loopback(host) is loop


def test_binding_elsewhere_needs_the_flag(tmp_path):
    Bank(tmp_path / "bank", create=True)
    res = subprocess.run([sys.executable, "-m", "covidbank", "serve", str(tmp_path / "bank"), "--host", "0.0.0.0"],
                         env=ENV, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--allow-remote" in res.stderr
