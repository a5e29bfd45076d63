"""The Tesseract engine: in process (tesserocr) and through the binary (pytesseract) read alike; errors say what to do."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from covidbank.ocr import engine
from covidbank.ocr.synth import system_fonts

pytest.importorskip("pytesseract")


def _text_image(text: str) -> np.ndarray:
    from PIL import ImageFont

    im = Image.new("L", (40 + 22 * len(text), 80), 255)
    ImageDraw.Draw(im).text((12, 14), text, fill=0, font=ImageFont.truetype(system_fonts()[0], 34))
    return np.asarray(im)


@pytest.fixture
def interface(monkeypatch, request):
    """Run a test with the in-process engine or the binary (``COVIDBANK_OCR_INTERFACE``)."""
    monkeypatch.setenv("COVIDBANK_OCR_INTERFACE", request.param)
    engine.tesseract_info.cache_clear()
    yield request.param
    engine.tesseract_info.cache_clear()


@pytest.mark.parametrize("interface", ["tesserocr", "pytesseract"], indirect=True)
def test_both_interfaces_read_the_words_and_their_boxes(interface):
    if interface == "tesserocr":
        pytest.importorskip("tesserocr")
    info = engine.tesseract_info()
    assert info.interface == interface and info.version[0] == "5" and info.languages == ("eng",)
    img = _text_image("MARTINEZ 15/03/2020")
    words = engine.ocr_words(img)
    assert [w.text for w in words] == ["MARTINEZ", "15/03/2020"]
    assert all(w.conf > 60 for w in words)
    name = words[0]
    ink = np.nonzero(img[:, : words[1].x - 2] < 128)
    assert abs(name.x - ink[1].min()) <= 3 and abs(name.y - ink[0].min()) <= 3
    digits = engine.ocr_words(img, whitelist="0123456789")
    assert "".join(w.text for w in digits).endswith("15032020")
    # the whitelist does not stay set for the next call of the same (in-process) engine
    assert [w.text for w in engine.ocr_words(img)] == ["MARTINEZ", "15/03/2020"]


def test_in_process_engine_without_language_data_says_what_to_install(monkeypatch, tmp_path):
    pytest.importorskip("tesserocr")
    monkeypatch.delenv("COVIDBANK_OCR_INTERFACE", raising=False)
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    engine.tesseract_info.cache_clear()
    try:
        with pytest.raises(engine.OcrUnavailableError, match="apt-get install tesseract-ocr.*TESSDATA_PREFIX"):
            engine.tesseract_info("xyz")
    finally:
        engine.tesseract_info.cache_clear()


def test_each_thread_gets_its_own_engine():
    pytest.importorskip("tesserocr")
    from concurrent.futures import ThreadPoolExecutor

    engine.tesseract_info.cache_clear()
    img = _text_image("ROSA 1931")
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda _: [w.text for w in engine.ocr_words(img)], range(16)))
    assert got == [["ROSA", "1931"]] * 16
