"""A small generated bank for the web viewer tests.

Real files written with Pillow and nibabel: an 8-bit PNG, a 16-bit PNG, a
JPEG, a corrupt PNG, a listed-but-missing image, a CT NIfTI volume with a
lesion mask, a mask-only CT record (like MosMed without volumes), plus
``splits`` and ``severity`` tables, and a secret file next to the bank that
must never be served.
"""
from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covidbank.bank import Bank
from covidbank.labels import default_tree
from covidbank.schema import POSITIVE

SECRET = "TOP-SECRET-OUTSIDE-THE-BANK"


def _xray(h: int, w: int, seed: int) -> np.ndarray:
    """A chest-like test pattern: two dark lungs in a bright body, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    body = np.exp(-(((xx - 0.5) / 0.45) ** 2 + ((yy - 0.55) / 0.55) ** 2) ** 2)
    lungs = np.exp(-(((xx - 0.32) / 0.13) ** 2 + ((yy - 0.5) / 0.28) ** 2) ** 2) + np.exp(
        -(((xx - 0.68) / 0.13) ** 2 + ((yy - 0.5) / 0.28) ** 2) ** 2
    )
    img = 0.85 * body - 0.55 * lungs + 0.05 * rng.standard_normal((h, w))
    return np.clip(img, 0, 1)


def _ct(shape=(64, 64, 24)) -> tuple[np.ndarray, np.ndarray]:
    """A CT in HU (air outside, soft-tissue body, two lungs) and a lesion mask in the left lung."""
    x, y, z = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]].astype(float)
    cx, cy = shape[0] / 2, shape[1] / 2
    vol = np.full(shape, -1000.0)
    body = ((x - cx) / 28) ** 2 + ((y - cy) / 22) ** 2 < 1
    vol[body] = 40
    for lx in (cx - 11, cx + 11):
        lung = ((x - lx) / 8) ** 2 + ((y - cy) / 13) ** 2 < 1
        vol[lung] = -850
    lesion = (((x - (cx + 11)) / 4) ** 2 + ((y - cy) / 5) ** 2 + ((z - 12) / 4) ** 2) < 1
    vol[lesion] = -400
    return vol.astype(np.int16), lesion.astype(np.uint8)


def make_web_bank(root: Path, real_data: Path | None = None) -> dict:
    """Write the test bank under ``root``; returns paths and ids the tests use.

    With ``real_data`` (``../shared/data``), the cohen and mosmed sources are
    added next to the generated ``demo`` source.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = root / "files"
    files.mkdir(exist_ok=True)
    (root / SECRET.lower()).write_text(SECRET)  # outside the bank folder
    bank_dir = root / "bank"
    ids = {}

    p8 = files / "a_pa.png"
    Image.fromarray((_xray(300, 260, 1) * 255).astype(np.uint8)).save(p8)
    p16 = files / "b_ap16.png"
    a16 = (_xray(320, 280, 2) * 3000 + 12000).astype(np.uint16)  # narrow 16-bit range: needs windowing
    Image.fromarray(a16).save(p16)
    pj = files / "c_l.jpg"
    Image.fromarray((_xray(200, 240, 3) * 255).astype(np.uint8)).convert("RGB").save(pj, quality=90)
    pbad = files / "d_corrupt.png"
    pbad.write_bytes(p8.read_bytes()[:200])  # truncated PNG
    pmiss = files / "e_missing.png"  # listed, never written
    lungmask = files / "a_pa_mask.png"
    m = (_xray(300, 260, 1) < 0.45).astype(np.uint8) * 255
    Image.fromarray(m).save(lungmask)

    vol, lesion = _ct()
    aff = np.diag([0.8, 0.8, 5.0, 1.0])
    pct = files / "ct_vol.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), str(pct))
    pmask = files / "ct_vol_mask.nii.gz"
    nib.save(nib.Nifti1Image(lesion, aff), str(pmask))
    pmask_only = files / "ct_only_mask.nii.gz"
    nib.save(nib.Nifti1Image(lesion.astype(np.int16), aff), str(pmask_only))

    t = default_tree()
    subjects = pd.DataFrame(
        [
            {"subject_id": "demo:1", "original_id": "1", "sex": "M", "age": 75, "survival": True},
            {"subject_id": "demo:2", "original_id": "2", "sex": "F", "age": 45, "survival": None},
            {"subject_id": "demo:3", "original_id": "3", "sex": "F", "age": 60, "survival": False},
        ]
    )
    sessions = pd.DataFrame(
        [
            {"session_id": "demo:1/d5", "subject_id": "demo:1", "offset_days": 5, "modality": "X-ray",
             "clinical_notes": "Day 5: bilateral ground glass opacities, worse than before.", "temperature": 38.5,
             "report": "Bilateral ground glass opacities compatible with COVID-19 pneumonia."},
            {"session_id": "demo:1/d0", "subject_id": "demo:1", "offset_days": 0, "modality": "X-ray",
             "clinical_notes": "Admission: fever and cough.", "intubated": False},
            {"session_id": "demo:2/d0", "subject_id": "demo:2", "offset_days": 0, "modality": "X-ray"},
            {"session_id": "demo:3/ct", "subject_id": "demo:3", "offset_days": 2, "modality": "CT", "ct_category": "CT-2"},
        ]
    )
    img = lambda **k: {"source_version": "t1", "license": "CC-BY-4.0", "license_raw": "CC BY 4.0", **k}  # noqa: E731
    images = pd.DataFrame(
        [
            img(image_id="demo:1/d0/a", session_id="demo:1/d0", subject_id="demo:1", modality="X-ray", view="PA",
                path=str(p8), file_present=True, file_format="png", mask_path=str(lungmask), mask_kind="lung",
                doi="10.0000/demo", original_id="a_pa.png"),
            img(image_id="demo:1/d5/b", session_id="demo:1/d5", subject_id="demo:1", modality="X-ray", view="AP Supine",
                path=str(p16), file_present=True, file_format="png", original_id="b_ap16.png"),
            img(image_id="demo:2/d0/c", session_id="demo:2/d0", subject_id="demo:2", modality="X-ray", view="L",
                path=str(pj), file_present=True, file_format="jpeg"),
            img(image_id="demo:2/d0/d", session_id="demo:2/d0", subject_id="demo:2", modality="X-ray", view="PA",
                path=str(pbad), file_present=True, file_format="png"),
            img(image_id="demo:2/d0/e#2", session_id="demo:2/d0", subject_id="demo:2", modality="X-ray", view="AP",
                path=str(pmiss), file_present=False, file_format="png"),
            img(image_id="demo:3/ct/vol", session_id="demo:3/ct", subject_id="demo:3", modality="CT", view="Axial",
                path=str(pct), file_present=True, file_format="nifti", mask_path=str(pmask), mask_kind="lesion",
                ct_category="CT-2"),
            img(image_id="demo:3/ct/maskonly", session_id="demo:3/ct", subject_id="demo:3", modality="CT", view="Axial",
                path=str(files / "absent_volume.nii.gz"), file_present=False, file_format="nifti",
                mask_path=str(pmask_only), mask_kind="lesion", ct_category="CT-1"),
            # a record whose index path is relative and climbs out of the bank: never served
            img(image_id="demo:2/d0/escape", session_id="demo:2/d0", subject_id="demo:2", modality="X-ray", view="PA",
                path="../" + SECRET.lower(), file_present=True, file_format="png"),
        ]
    )
    for c in ("sex", "age"):
        images[c] = images["subject_id"].map(subjects.set_index("subject_id")[c])
    images["offset_days"] = images["session_id"].map(sessions.set_index("session_id")["offset_days"])
    labels = []
    leaf = {"demo:1/d0/a": "COVID-19", "demo:1/d5/b": "COVID-19", "demo:2/d0/c": "Streptococcus",
            "demo:3/ct/vol": "COVID-19", "demo:3/ct/maskonly": "COVID-19"}
    for image_id, lab in leaf.items():
        for name, v in t.expand({lab: POSITIVE}).items():
            labels.append({"image_id": image_id, "label": name, "cui": t.cui(name), "value": v,
                           "origin": "source" if name == lab else "implied"})
    labels.append({"image_id": "demo:2/d0/d", "label": "COVID-19", "cui": t.cui("COVID-19"), "value": 0, "origin": "source"})
    labels.append({"image_id": "demo:2/d0/e#2", "label": "ARDS", "cui": t.cui("ARDS"), "value": -1, "origin": "source"})
    tests = pd.DataFrame([{"subject_id": "demo:1", "test_type": "PCR", "result": "positive", "offset_days": -1}])

    b = Bank(bank_dir, create=True)
    b.add("demo", {"subjects": subjects, "sessions": sessions, "images": images,
                   "labels": pd.DataFrame(labels), "tests": tests}, meta={"version": "t1", "notes": ["generated for tests"]},
          root=files)  # the viewer serves files only from the bank and the roots registered at add
    if real_data is not None:
        from covidbank.sources import add_source

        for name in ("cohen", "mosmed"):
            add_source(b, name, real_data / name)  # registers the dataset folder as the source's root
    b.write_table("splits", pd.DataFrame({"subject_id": ["demo:1", "demo:2", "demo:3"], "split": ["train", "test", "val"]}))
    # a lung mask written inside the bank (as `covidbank severity --masks-out` would), referenced
    # by a relative path from the severity table
    (bank_dir / "masks").mkdir(exist_ok=True)
    lungs = (vol == -850) | (lesion > 0)
    nib.save(nib.Nifti1Image(lungs.astype(np.uint8), aff), str(bank_dir / "masks" / "ct_vol_lung.nii.gz"))
    b.write_table("severity", pd.DataFrame({"image_id": ["demo:3/ct/vol"], "lesion_volume_ml": [1.23],
                                            "involvement_percent": [4.5], "category": ["CT-1"],
                                            "lung_mask_path": ["masks/ct_vol_lung.nii.gz"]}))
    ids.update(bank=bank_dir, root=root, png8=p8, png16=p16, a16=a16, corrupt=pbad, secret=root / SECRET.lower())
    return ids


@pytest.fixture(scope="session")
def web_bank(tmp_path_factory) -> dict:
    """The generated test bank (built once per session)."""
    return make_web_bank(tmp_path_factory.mktemp("webbank"))


@pytest.fixture(scope="session")
def client(web_bank, tmp_path_factory):
    """A FastAPI TestClient on the generated bank, with its own thumbnail cache."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from covidbank.web import create_app

    app = create_app(web_bank["bank"], cache_dir=tmp_path_factory.mktemp("thumbs"))
    with TestClient(app) as c:
        yield c


class LiveServer:
    """uvicorn serving an app on a free localhost port, in a background thread."""

    def __init__(self, app) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000", "--hide-scrollbars",
]


def _browser_required() -> bool:
    return any(os.environ.get(v, "") not in ("", "0", "false", "no") for v in ("CI", "COVIDBANK_REQUIRE_REAL_DATA"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Debian Chromium driven by Selenium with the system chromedriver (no download).

    Skipped when Chromium is absent, except in CI where ``.ci/system-deps`` installs it.
    """
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        msg = f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver; pip install selenium)"
        if _browser_required():
            pytest.fail(msg)
        pytest.skip(msg)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def real_web_bank(shared_data, tmp_path_factory) -> dict:
    """cohen + mosmed from ``../shared/data`` plus the generated ``demo`` source (built once)."""
    return make_web_bank(tmp_path_factory.mktemp("realwebbank"), real_data=shared_data)
