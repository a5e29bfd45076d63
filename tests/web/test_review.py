"""The burned-in text review queue in the viewer: listing, image, decisions (only with --review, only from the
page's script), and a curator's redaction drawn in headless Chromium applied by the next ingest run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import make_cr
from ocr_fixtures import HEADER, chest_like, hostile
from PIL import Image

from covidbank.bank import Bank
from covidbank.dicom.ingest import ingest
from covidbank.ocr.synth import draw_text

from .conftest import LiveServer

pytest.importorskip("fastapi")
pytest.importorskip("pytesseract")


def _bank(root: Path) -> dict:
    """Two X-rays for review: one with unknown text (ingested with the default policy), one flagged."""
    img, _ = draw_text(chest_like(256, 320, seed=4), "CARDIOLOGIA", (20, 20), 18, 65535)
    make_cr(root / "raw1" / "a.dcm", patient_id="P1", modality="DX", rows=256, cols=320, bits=16, pixels=img)
    flagged, _ = hostile(chest_like(320, 384, seed=1))
    make_cr(root / "raw2" / "b.dcm", patient_id=HEADER["PatientID"], modality="DX", rows=320, cols=384, bits=16,
            pixels=flagged, study_date=HEADER["StudyDate"], PatientName=HEADER["PatientName"])
    bank, key = root / "bank", root / "key"
    ingest(root / "raw1", bank, key_file=key, new_key=True)
    ingest(root / "raw2", bank, key_file=key, new_key=True, burned_in="flag")
    stems = {}
    for p in bank.glob("sub-*/ses-*/mod-rx/*.json"):
        stems[json.loads(p.read_text())["covidbank"]["burned_in"]["action"]] = p.name[:-5]
    return {"bank": bank, "key": key, "raw": [root / "raw1", root / "raw2"], "unknown": stems["none"],
            "flagged": stems["flagged"]}


@pytest.fixture(scope="module")
def review_bank(tmp_path_factory) -> dict:
    return _bank(tmp_path_factory.mktemp("review"))


def _client(bank: Path, review: bool):
    from fastapi.testclient import TestClient

    from covidbank.web.app import create_app

    return TestClient(create_app(bank, review=review))


def test_queue_lists_both_ranked_and_serves_the_image(review_bank):
    with _client(review_bank["bank"], review=False) as c:
        html = c.get("/review").text
        assert review_bank["unknown"] in html and review_bank["flagged"] in html and "Read-only" in html
        page = c.get(f"/review/{review_bank['flagged']}").text
        assert 'class="box phi"' in page and "btn-redact" not in page  # no buttons in a read-only viewer
        png = c.get(f"/review/{review_bank['unknown']}/image.png")
        assert png.status_code == 200 and Image.open(__import__("io").BytesIO(png.content)).mode == "L"
        assert c.get("/review/sub-X_ses-Y_nothing").status_code == 404
        r = c.post(f"/review/{review_bank['unknown']}/decision", json={"decision": "reviewed"},
                   headers={"X-Covidbank-Review": "1"})
        assert r.status_code == 405  # the viewer is read-only unless started with --review
    from covidbank.ocr.review import review_queue

    q = review_queue(review_bank["bank"])
    assert [it["score"] for it in q] == sorted((it["score"] for it in q), reverse=True) and len(q) == 2


def test_decisions_only_from_the_page_script(tmp_path):
    b = _bank(tmp_path)
    stem = b["unknown"]
    with _client(b["bank"], review=True) as c:
        url = f"/review/{stem}/decision"
        assert c.post(url, json={"decision": "reviewed"}).status_code == 405            # no header: a foreign form
        assert c.post(url, content="decision=reviewed", headers={"X-Covidbank-Review": "1",
                                                                  "Content-Type": "text/plain"}).status_code == 405
        h = {"X-Covidbank-Review": "1"}
        assert c.post(url, json={"decision": "blur"}, headers=h).status_code == 400
        assert c.post(url, json={"decision": "redact", "boxes": []}, headers=h).status_code == 400
        assert c.post(url, json={"decision": "redact", "boxes": [[5000, 1, 3, 3]]}, headers=h).status_code == 400
        assert c.post("/review/..%2F..%2Fetc/decision", json={"decision": "reviewed"}, headers=h).status_code in (400, 404)
        assert c.post(url, json={"decision": "reviewed"}, headers=h).status_code == 200
    assert json.loads((b["bank"] / ".covidbank" / "burned_in_review.json").read_text())[stem]["decision"] == "reviewed"


@pytest.mark.slow
def test_curator_draws_a_box_redacts_and_excludes_in_the_browser(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    from covidbank.web.app import create_app

    b = _bank(tmp_path)
    bank = b["bank"]
    with LiveServer(create_app(bank, review=True)) as srv:
        browser.get(srv.url + "/review")
        rows = browser.find_elements("css selector", "#review-queue tbody tr")
        assert {r.get_attribute("data-stem") for r in rows} == {b["unknown"], b["flagged"]}
        browser.get(srv.url + f"/review/{b['unknown']}")
        svg = browser.find_element("id", "review-svg")
        img = browser.find_element("id", "review-img")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return arguments[0].naturalWidth > 0", img))
        # drag a box over the lower right quarter (image 320 x 256 shown at its size or scaled)
        w, h = svg.size["width"], svg.size["height"]
        ActionChains(browser).move_to_element_with_offset(svg, int(w * 0.1), int(h * 0.1)).click_and_hold() \
            .move_by_offset(int(w * 0.25), int(h * 0.2)).release().perform()
        assert browser.find_element("id", "review").get_attribute("data-drawn") == "1"
        browser.save_screenshot(str(tmp_path / "review_drawn.png"))
        browser.find_element("id", "btn-redact").click()
        status = browser.find_element("id", "review-status")
        WebDriverWait(browser, 30).until(lambda d: status.get_attribute("data-decision") == "redact")
        browser.get(srv.url + f"/review/{b['flagged']}")
        browser.find_element("id", "btn-exclude").click()
        status = browser.find_element("id", "review-status")
        WebDriverWait(browser, 30).until(lambda d: status.get_attribute("data-decision") == "exclude")
        browser.save_screenshot(str(tmp_path / "review_excluded.png"))
    decided = json.loads((bank / ".covidbank" / "burned_in_review.json").read_text())
    (x, y, bw, bh) = [bx for bx in decided[b["unknown"]]["boxes"] if bx[0] > 100][0]  # the drawn one
    assert bw > 40 and bh > 30
    before = np.asarray(Image.open(next(bank.rglob(f"{b['unknown']}.png"))))
    for raw in b["raw"]:  # the next ingest run applies the decisions
        s = ingest(raw, bank, key_file=b["key"], new_key=True)
        assert s.resumed == 1
    after = np.asarray(Image.open(next(bank.rglob(f"{b['unknown']}.png"))))
    assert before[y:y + bh, x:x + bw].std() > 100 and after[y:y + bh, x:x + bw].std() == 0
    assert not list(bank.rglob(f"{b['flagged']}.png"))
    rows = Bank(bank).table("images").set_index("image_id")
    assert rows["exclude"].sum() == 1 and set(rows["exclude_reason"].dropna()) == {"burned_in_review_excluded"}
    from covidbank.ocr.review import review_queue

    assert review_queue(bank) == []


def test_review_decisions_reach_the_kept_dicom(tmp_path):
    import pydicom

    from covidbank.ocr.review import apply_reviews, record_decision

    img, _ = draw_text(chest_like(256, 320, seed=4), "CARDIOLOGIA", (20, 20), 18, 65535)
    make_cr(tmp_path / "raw" / "a.dcm", patient_id="P1", modality="DX", rows=256, cols=320, bits=16, pixels=img)
    bank = tmp_path / "bank"
    ingest(tmp_path / "raw", bank, key_file=tmp_path / "key", new_key=True, keep_dicom=True)
    (side,) = bank.glob("sub-*/ses-*/mod-rx/*.json")
    stem = side.name[:-5]
    (dcm,) = bank.glob("sourcedata/**/*.dcm")
    record_decision(bank, stem, "redact", [[150, 100, 60, 40]])
    assert apply_reviews(bank)["redact"] == 1 and apply_reviews(bank)["redact"] == 0  # idempotent
    px = pydicom.dcmread(dcm).pixel_array
    assert px[100:140, 150:210].std() == 0 and px[160:200, 150:210].std() > 0
    record_decision(bank, stem, "exclude")
    apply_reviews(bank)
    assert not list(bank.glob("sourcedata/**/*.dcm")) and not list(bank.rglob(f"{stem}.png"))
