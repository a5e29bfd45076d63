"""The REST API and pages through FastAPI's TestClient, including path traversal attempts."""
from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image

from .conftest import SECRET, LiveServer

pytest.importorskip("fastapi")


def png(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    return np.array(Image.open(io.BytesIO(resp.content)))


def test_records_search_and_facets(client):
    r = client.get("/api/records", params={"label": "Pneumonia", "sex": "M"}).json()
    assert r["total"] == 2
    assert {x["image_id"] for x in r["results"]} == {"demo:1/d0/a", "demo:1/d5/b"}
    assert {"value": "demo", "count": 2} in r["facets"]["source"]
    assert client.get("/api/records", params={"value": "maybe"}).status_code == 422
    paged = client.get("/api/records", params={"per_page": 5, "page": 2}).json()
    assert paged["pages"] == 2 and len(paged["results"]) == 3


def test_record_and_subject(client):
    r = client.get("/api/records/demo:1/d0/a").json()
    assert r["image"]["view"] == "PA" and r["subject"]["sex"] == "M"
    assert {l["label"]: l["cui"] for l in r["labels"]}["COVID-19"] == "C5203670"
    s = client.get("/api/subjects/demo:1").json()
    assert [x["offset_days"] for x in s["sessions"]] == [0, 5]
    assert client.get("/api/records/demo:nope").status_code == 404
    labels = {l["label"]: l for l in client.get("/api/labels").json()}
    assert labels["COVID-19"]["parents"] == ["Viral"] and "Pneumonia" in labels


def test_openapi_docs(client):
    spec = client.get("/api/openapi.json").json()
    assert {"/api/records", "/api/thumbnail/{image_id}", "/api/slice/{image_id}"} <= set(spec["paths"])
    docs = client.get("/api/docs").text
    assert "/api/docs-static/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # works offline
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/docs-static/..%2F__init__.py").status_code == 404


def test_image_16bit_window_level(client, web_bank):
    info = client.get("/api/imageinfo/demo:1/d5/b").json()
    assert info["bits"] == 16 and info["dtype"] == "uint16"
    a16 = web_bank["a16"]
    assert info["min"] == a16.min() and info["max"] == a16.max()
    assert a16.min() <= info["window_center"] - info["window_width"] / 2 < info["window_center"] + info["window_width"] / 2 <= a16.max()
    auto = png(client.get("/api/image/demo:1/d5/b"))
    assert auto.shape == (320, 280) and auto.min() == 0 and auto.max() == 255  # auto window spreads the narrow range
    full = png(client.get("/api/image/demo:1/d5/b", params={"wc": 32767.5, "ww": 65535}))
    assert full.max() < 80  # the same data in the full 16-bit range is dark
    # window applied exactly: a pixel at the center maps to mid-grey
    c = float(a16[160, 140])
    mid = png(client.get("/api/image/demo:1/d5/b", params={"wc": c, "ww": 1000}))
    assert abs(int(mid[160, 140]) - 128) <= 1
    small = png(client.get("/api/image/demo:1/d5/b", params={"size": 100}))
    assert max(small.shape) == 100
    r = client.get("/api/image/demo:1/d5/b")
    assert float(r.headers["X-Window-Width"]) == pytest.approx(info["window_width"])


def test_image_mask_overlay(client):
    plain = png(client.get("/api/image/demo:1/d0/a"))
    over = png(client.get("/api/image/demo:1/d0/a", params={"overlay": True}))
    assert plain.ndim == 2 and over.ndim == 3
    green = (over[..., 1].astype(int) - over[..., 0].astype(int)) > 30
    assert 0.05 < green.mean() < 0.6  # the lung mask tints the lungs, not the whole image


def test_thumbnails_cached(client):
    r = client.app.state.renderer
    before = dict(r.stats)
    t1 = png(client.get("/api/thumbnail/demo:2/d0/c"))
    t2 = png(client.get("/api/thumbnail/demo:2/d0/c"))
    assert max(t1.shape) == 240 and np.array_equal(t1, t2)  # 240 px side is below 256: not upscaled
    assert r.stats["thumb_misses"] == before["thumb_misses"] + 1
    assert r.stats["thumb_hits"] == before["thumb_hits"] + 1
    assert list(r.cache_dir.rglob("*.png"))
    vt = png(client.get("/api/thumbnail/demo:3/ct/vol"))  # volume: middle axial slice
    assert vt.shape == (64, 64)


def test_missing_and_corrupt_files(client):
    r = client.get("/api/thumbnail/demo:2/d0/e%232")
    assert r.status_code == 404 and "e_missing.png is missing on disk" in r.json()["detail"]
    r = client.get("/api/image/demo:2/d0/d")
    assert r.status_code == 422 and "d_corrupt.png: cannot be decoded" in r.json()["detail"]
    page = client.get("/case/demo:2")
    assert page.status_code == 200
    assert "Image not available" in page.text and "e_missing.png is missing on disk" in page.text


def test_ct_volume_and_slices(client):
    v = client.get("/api/volume/demo:3/ct/vol").json()
    assert v["shape"] == [64, 64, 24] and v["slices"] == 24 and v["mask_slices"] == [9, 15]
    assert v["windows"]["lung"] == {"center": -600.0, "width": 1500.0}
    assert v["severity"][0]["category"] == "CT-1"
    lung = png(client.get("/api/slice/demo:3/ct/vol", params={"z": 12, "overlay": False}))
    med = png(client.get("/api/slice/demo:3/ct/vol", params={"z": 12, "window": "mediastinum", "overlay": False}))
    assert lung.shape == (64, 64)
    # lung window shows the lung (-850 HU) grey; the mediastinum window clips it to black;
    # display column 43 is x = 20 (patient's left lung), shown on the viewer's right
    assert 60 < lung[32, 43] < 110 and med[32, 43] == 0
    assert lung[32, 21] > lung[32, 43]  # the lesion (-400 HU) in the right lung is brighter
    over = png(client.get("/api/slice/demo:3/ct/vol", params={"z": 12}))
    red = (over[..., 0].astype(int) - over[..., 1].astype(int)) > 60
    ys, xs = np.nonzero(red)
    # lesion at high x (patient's right in RAS) shows on the viewer's left (radiological convention)
    assert red.sum() > 20 and xs.mean() < 32
    # the lung mask (from the severity table, relative path inside the bank) is drawn green under the lesion
    assert [m["kind"] for m in v["masks"]] == ["lung", "lesion"] and all(m["matches"] for m in v["masks"])
    green = (over[..., 1].astype(int) - over[..., 0].astype(int)) > 30
    assert green.sum() > 100
    only_lung = png(client.get("/api/slice/demo:3/ct/vol", params={"z": 12, "mask": "lung"}))
    assert ((only_lung[..., 0].astype(int) - only_lung[..., 1].astype(int)) > 60).sum() == 0
    assert ((only_lung[..., 1].astype(int) - only_lung[..., 0].astype(int)) > 30).sum() > green.sum()
    assert client.get("/api/slice/demo:3/ct/vol", params={"z": 24}).status_code == 422
    assert client.get("/api/slice/demo:3/ct/vol", params={"z": 1, "window": "bone"}).status_code == 422


def test_mask_only_volume(client):
    v = client.get("/api/volume/demo:3/ct/maskonly").json()
    assert v["volume"] is False and v["mask"] is True and v["slices"] == 24 and v["masks"][0]["kind"] == "lesion"
    assert "absent_volume.nii.gz is missing" in v["volume_problem"]
    sl = png(client.get("/api/slice/demo:3/ct/maskonly", params={"z": 12}))
    assert sl.ndim == 3 and ((sl[..., 0].astype(int) - sl[..., 1]) > 100).sum() > 20
    page = client.get("/ct/demo:3/ct/maskonly").text
    assert "showing the lesion mask alone" in page


def test_pages_render(client):
    s = client.get("/", params={"label": "Pneumonia", "sex": "M"})
    assert s.status_code == 200 and 'id="total">2<' in s.text
    assert "/api/thumbnail/demo:1/d0/a" in s.text
    assert 'href="/?label=Pneumonia&amp;value=positive"' in s.text  # chip removing sex=M keeps the rest
    case = client.get("/case/demo:1").text
    assert case.index("day 0") < case.index("day 5")
    assert '<mark class="mention">COVID-19</mark>' in case and "C5203670" in case
    assert "CC-BY-4.0" in case and "10.0000/demo" in case
    ct = client.get("/ct/demo:3/ct/vol").text
    assert "lesion_volume_ml" in ct and "mediastinum" in ct
    summ = client.get("/summary").text
    assert "demo" in summ and "No technical-validation report" in summ
    assert client.get("/case/demo:404").status_code == 404
    assert "no subject" in client.get("/case/demo:404").text


def test_validation_report_link(web_bank, tmp_path):
    from fastapi.testclient import TestClient

    from covidbank.web import create_app

    rep = web_bank["bank"] / "report"
    rep.mkdir(exist_ok=True)
    (rep / "report.html").write_text("<html><body><h1>Technical validation</h1></body></html>")
    try:
        with TestClient(create_app(web_bank["bank"], cache_dir=tmp_path)) as c:
            assert 'href="/report"' in c.get("/summary").text
            assert "Technical validation" in c.get("/report").text
    finally:
        (rep / "report.html").unlink()
        rep.rmdir()


def test_read_only(client):
    assert client.post("/api/records").status_code == 405
    assert client.delete("/api/records/demo:1/d0/a").status_code == 405


TRAVERSALS = [
    "/api/image/../../../../etc/passwd",
    "/api/image/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/image/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/image/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/api/image//etc/passwd",
    "/api/image/%2Fetc%2Fpasswd",
    "/api/thumbnail/{secret}",
    "/api/thumbnail/{secret_enc}",
    "/api/thumbnail/{png8}",
    "/api/imageinfo/..%2F{secret_name}",
    "/api/slice/..%2F..%2F{secret_name}?z=0",
    "/api/volume/%2e%2e/%2e%2e/{secret_name}",
    "/api/records/..%2F..%2Fetc%2Fpasswd",
    "/api/image/demo:2/d0/escape",
    "/api/thumbnail/demo:2/d0/escape",
    "/static/../../../../etc/passwd",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e/%2e%2e/app.py",
    "/static/..%2Fapp.py",
    "/static/{secret}",
    "/report/../../../etc/passwd",
    "/case/..%2F..%2F..%2Fetc%2Fpasswd",
]


def _attempts(web_bank):
    from urllib.parse import quote

    secret = str(web_bank["secret"])
    fill = dict(secret=secret, secret_enc=quote(secret, safe=""), secret_name=web_bank["secret"].name,
                png8=str(web_bank["png8"]))
    return [t.format(**fill) for t in TRAVERSALS]


def test_path_traversal_gets_404(client, web_bank):
    for url in _attempts(web_bank):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code, r.text[:200])
        assert SECRET not in r.text and "root:x:" not in r.text and "def create_app" not in r.text, url


def test_path_traversal_raw_http(web_bank, tmp_path):
    """The same attempts sent byte for byte (no client-side normalization) to a live server."""
    from covidbank.web import create_app

    with LiveServer(create_app(web_bank["bank"], cache_dir=tmp_path)) as srv:
        for url in _attempts(web_bank):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
                s.sendall(f"GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            status = data.split(b"\r\n", 1)[0]
            assert b" 404 " in status, (url, status)
            assert SECRET.encode() not in data and b"root:x:" not in data, url


def test_burned_in_annotation_images_are_not_served(tmp_path, cli):
    # ingest flags BurnedInAnnotation=YES images ("pixel data may show identifiers");
    # the viewer served their pixels anyway (image, thumbnail, case page)
    from dicom_factory import make_cr
    from fastapi.testclient import TestClient

    from covidbank.web import create_app

    raw = tmp_path / "raw"
    make_cr(raw / "burned.dcm", patient_id="P1", BurnedInAnnotation="YES")
    make_cr(raw / "clean.dcm", patient_id="P2", seed=1, BurnedInAnnotation="NO")
    bank = tmp_path / "B"
    cli("ingest", raw, "--bank", bank, "--key-file", tmp_path / "k.key", "--new-key")
    c = TestClient(create_app(bank, cache_dir=tmp_path / "cache"))
    rows = c.get("/api/records", params={"value": "any"}).json()["results"]
    assert len(rows) == 2
    recs = {r["image_id"]: c.get(f"/api/records/{r['image_id']}").json() for r in rows}
    burned = [i for i, r in recs.items() if r["image"]["burned_in_annotation"]]
    clean = [i for i, r in recs.items() if not r["image"]["burned_in_annotation"]]
    assert len(burned) == len(clean) == 1
    for kind in ("image", "thumbnail", "imageinfo"):
        r = c.get(f"/api/{kind}/{burned[0]}")
        assert r.status_code == 404 and "burned-in" in r.text, (kind, r.status_code)
        assert c.get(f"/api/{kind}/{clean[0]}").status_code == 200


def test_research_use_notice_wherever_a_grade_appears(client):
    from covidbank.severity import RESEARCH_NOTICE

    assert client.get("/api/volume/demo:3/ct/vol").json()["notice"] == RESEARCH_NOTICE
    ct = client.get("/ct/demo:3/ct/vol").text
    assert 'id="research-notice"' in ct and ct.count(RESEARCH_NOTICE) >= 2  # by the severity table and the footer
    case = client.get("/case/demo:3").text
    assert 'class="grade"' in case and RESEARCH_NOTICE in case


def test_pager_lists_the_ends_and_the_pages_near_the_current_one(client, monkeypatch):
    """The pager shows page 1, the last page and two pages either side of the current one, whatever the
    number of pages (it looped over every page: 196,000 of them at 10M rows, 0.4 s of a page)."""
    import re

    from covidbank.web.store import SearchResult

    store = client.app.state.store
    real = store.search
    html = client.get("/", params={"per_page": 1, "page": 5}).text  # 8 images: 8 pages
    pager = html[html.index('<nav class="pager">'):]
    pager = pager[:pager.index("</nav>")]
    assert re.findall(r">(\d+|…)<", pager) == ["1", "…", "3", "4", "5", "6", "7", "8"]

    def huge(q, **kw):
        res = real(q, **kw)
        return SearchResult(total=10**15, page=q.page, per_page=q.per_page, rows=res.rows, facets=res.facets)

    monkeypatch.setattr(store, "search", huge)
    pager = client.get("/", params={"page": 1000}).text
    pager = pager[pager.index('<nav class="pager">'):]
    pager = pager[:pager.index("</nav>")]
    assert re.findall(r">(\d+|…)<", pager) == ["1", "…", *(str(1000 + d) for d in range(-2, 3)), "…", str(2 * 10**13)]
