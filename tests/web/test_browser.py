"""The viewer in a real browser: headless Debian Chromium driven by Selenium.

uvicorn serves the app on a free localhost port; the test loads the search
page, clicks a filter, opens a case, scrolls a CT with keys and the wheel and
switches its window, and saves screenshots under pytest's tmp dir.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import LiveServer, make_web_bank

pytest.importorskip("fastapi")
pytest.importorskip("selenium")

pytestmark = pytest.mark.slow


def _wait(driver, cond, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: cond(d))


def _img_loaded(driver, el) -> bool:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", el)


def _grid_loaded(driver, first: int = 1000) -> bool:
    """Every thumbnail of the grid (up to ``first``) has loaded; failed ones were replaced by placeholders."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.grid .thumb img')).slice(0, arguments[0])"
        ".every(function (i) { return i.complete && i.naturalWidth > 0; })",
        first,
    )


def _shot(driver, folder: Path, name: str) -> Path:
    p = folder / f"{name}.png"
    driver.save_screenshot(str(p))
    assert p.stat().st_size > 5000, f"screenshot {p} looks empty"
    return p


def _total(driver) -> int:
    return int(driver.find_element("id", "total").text)


def _scroll_ct(driver, folder: Path, url: str, name: str, volume: bool = True) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    ct = driver.find_element("id", "ct")
    slice_img = driver.find_element("id", "ct-slice")
    _wait(driver, lambda d: ct.get_attribute("data-z") is not None and _img_loaded(d, slice_img))
    z0 = int(ct.get_attribute("data-z"))
    n = int(driver.find_element("id", "ct-range").get_attribute("max")) + 1
    assert n > 3 and 0 < z0 < n - 1
    ct.send_keys(Keys.ARROW_UP)
    ct.send_keys(Keys.ARROW_UP)
    _wait(driver, lambda d: ct.get_attribute("data-z") == str(z0 + 2))
    ActionChains(driver).scroll_from_origin(
        __import__("selenium.webdriver.common.actions.wheel_input", fromlist=["ScrollOrigin"]).ScrollOrigin.from_element(ct),
        0, 120,
    ).perform()
    _wait(driver, lambda d: ct.get_attribute("data-z") == str(z0 + 1))
    assert f"z={z0 + 1}&" in slice_img.get_attribute("src")
    _wait(driver, lambda d: _img_loaded(d, slice_img))
    assert driver.find_element("id", "ct-z").text.startswith(f"slice {z0 + 2} / {n}")
    _shot(driver, folder, f"{name}_lung")
    presets = driver.find_elements("css selector", ".preset[data-window=mediastinum]")
    assert bool(presets) == volume  # a mask shown without its volume has no HU window to choose
    if presets:
        presets[0].click()
        _wait(driver, lambda d: "window=mediastinum" in slice_img.get_attribute("src") and _img_loaded(d, slice_img))
        _shot(driver, folder, f"{name}_mediastinum")
    ct.send_keys(Keys.END)
    _wait(driver, lambda d: ct.get_attribute("data-z") == str(n - 1))
    ct.send_keys(Keys.HOME)
    _wait(driver, lambda d: ct.get_attribute("data-z") == "0")


def test_browser_generated_bank(browser, tmp_path):
    """Search, filter, case page with window/level, missing-file placeholder, CT scroll."""
    from covidbank.web import create_app

    d = browser
    bank = make_web_bank(tmp_path / "data")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with LiveServer(create_app(bank["bank"], cache_dir=tmp_path / "thumbs")) as srv:
        d.get(srv.url + "/")
        assert _total(d) == 8
        _wait(d, _grid_loaded)
        # the corrupt file's thumbnail became a placeholder; the missing one is one from the start
        assert len(d.find_elements("css selector", ".grid .placeholder")) >= 2
        _shot(d, shots, "search")

        d.find_element("css selector", '[data-facet=view] a[data-value="PA"]').click()
        _wait(d, lambda dd: "view=PA" in dd.current_url)
        assert _total(d) == 3 and parse_qs(urlparse(d.current_url).query)["view"] == ["PA"]
        d.find_element("css selector", '[data-facet=label] a[data-value="Pneumonia"]').click()
        _wait(d, lambda dd: "label=Pneumonia" in dd.current_url)
        assert _total(d) == 1  # PA and Pneumonia: demo:1/d0/a only
        _shot(d, shots, "search_filtered")

        d.find_element("css selector", ".grid a.card").click()
        _wait(d, lambda dd: "/case/demo:1" in dd.current_url)
        main = d.find_element("css selector", "img.main")
        _wait(d, lambda dd: _img_loaded(dd, main))
        labels = d.find_element("css selector", ".labels-table").text
        assert "COVID-19" in labels and "C5203670" in labels and "positive" in labels
        assert d.find_element("css selector", "mark.mention").text.lower().startswith("covid")
        days = [e.text for e in d.find_elements("css selector", ".session .day")]
        assert days == ["day 0", "day 5"]
        # window/level on the 16-bit image: moving the level slider re-renders with wc/ww
        box = d.find_elements("css selector", ".xray")[1]
        _wait(d, lambda dd: box.find_element("css selector", ".wl-readout").text.endswith("(16-bit)"))
        d.execute_script(
            "var s = arguments[0]; s.value = Number(s.min) + (Number(s.max) - Number(s.min)) * 0.8;"
            "s.dispatchEvent(new Event('input'));",
            box.find_element("css selector", ".wc"),
        )
        img16 = box.find_element("css selector", "img.main")
        _wait(d, lambda dd: "wc=" in img16.get_attribute("src") and _img_loaded(dd, img16))
        d.execute_script("arguments[0].scrollIntoView()", d.find_elements("css selector", "section.session")[1])
        _shot(d, shots, "case_16bit_windowed")

        d.get(srv.url + "/case/demo:2")
        ph = d.find_element("css selector", ".placeholder.big")
        assert "e_missing.png is missing on disk" in ph.text
        _wait(d, lambda dd: any("cannot be decoded" in e.text for e in dd.find_elements("css selector", ".placeholder.big")))
        _shot(d, shots, "case_missing")

        _scroll_ct(d, shots, srv.url + "/ct/demo:3/ct/vol", "ct")
        assert "lesion_volume_ml" in d.find_element("id", "severity").text

        d.get(srv.url + "/api/docs")  # Swagger UI from the package, no CDN
        _wait(d, lambda dd: "/api/records" in dd.find_element("tag name", "body").text)
        _shot(d, shots, "api_docs")
    print(f"screenshots in {shots}")


@pytest.mark.realdata
def test_browser_real_bank(browser, real_web_bank, tmp_path):
    """cohen + mosmed from ../shared/data (+ the generated CT): grid, filter, case, CT scroll."""
    from covidbank.web import create_app

    d = browser
    bank = real_web_bank
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with LiveServer(create_app(bank["bank"], cache_dir=tmp_path / "thumbs")) as srv:
        d.get(srv.url + "/")
        total = _total(d)
        assert total > 1500
        d.find_element("css selector", '[data-facet=source] a[data-value="cohen"]').click()
        _wait(d, lambda dd: "source=cohen" in dd.current_url)
        cohen_total = _total(d)
        assert 0 < cohen_total < total
        d.find_element("css selector", '[data-facet=label] a[data-value="Pneumonia"]').click()
        _wait(d, lambda dd: "label=Pneumonia" in dd.current_url)
        pneu = _total(d)
        assert 0 < pneu <= cohen_total
        cards = d.find_elements("css selector", ".grid a.card")
        assert len(cards) == min(50, pneu)
        assert len(d.find_elements("css selector", ".grid .thumb img")) >= 6, "present cohen images come first"
        _wait(d, lambda dd: _grid_loaded(dd, 6))
        _shot(d, shots, "search")

        cards[0].click()
        _wait(d, lambda dd: "/case/cohen:" in dd.current_url)
        main = d.find_element("css selector", "img.main")
        _wait(d, lambda dd: _img_loaded(dd, main))
        assert "Pneumonia" in d.find_element("css selector", ".labels-table").text
        assert d.find_elements("css selector", ".notes .report"), "clinical notes shown"
        d.execute_script("window.scrollTo(0, 0)")
        _shot(d, shots, "case")

        d.get(srv.url + "/?source=mosmed&ct_grade=CT-1")
        assert _total(d) == 684
        _scroll_ct(d, shots, srv.url + "/ct/mosmed:study_0255", "ct_mosmed_mask", volume=False)
        assert "missing on disk" in d.find_element("id", "volume-problem").text
        _scroll_ct(d, shots, srv.url + "/ct/demo:3/ct/vol", "ct")
        d.get(srv.url + "/summary")
        assert "mosmed" in d.find_element("css selector", ".per-source").text
        _shot(d, shots, "summary")
    print(f"screenshots in {shots}")
