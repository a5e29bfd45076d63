"""The detector on 16-bit images with real Tesseract: windowing, both polarities, boxes in image coordinates."""
from __future__ import annotations

import numpy as np
import pytest
from ocr_fixtures import chest_like

from covidbank.ocr.detect import detect_text, window_to_float, window_to_uint8
from covidbank.ocr.synth import draw_text, readable

pytest.importorskip("pytesseract")


def test_window_keeps_contrast_of_text_drawn_at_saturation():
    img = chest_like(128, 128)
    img[:40, :] = 60000                      # a bright band (a shoulder)...
    img[10:20, 10:60] = 65535                # ...with white text over it
    g = window_to_float(img)
    assert g[15, 30] - g[5, 30] > 20         # not clipped away: the top-hat still sees it
    u8 = window_to_uint8(img)
    assert u8.dtype == np.uint8 and u8.max() == 255 and u8.min() == 0


def test_both_polarities_in_a_16_bit_image_are_read_where_they_are():
    img = chest_like(320, 448, seed=3)
    img, bright = draw_text(img, "ROSA MENDEZ", (20, 20), 20, 65535)     # white text on the dark border
    img, dark = draw_text(img, "ALBERTO RUIZ", (150, 150), 20, 3000)     # black text over the mediastinum
    lines = detect_text(img)
    text = " ".join(ln.text for ln in lines)
    assert readable(["ROSA MENDEZ", "ALBERTO RUIZ"], text) == ["ROSA MENDEZ", "ALBERTO RUIZ"]
    for want, pol in ((bright, "bright"), (dark, "dark")):
        hits = [ln for ln in lines if ln.polarity == pol and readable(["ROSA MENDEZ", "ALBERTO RUIZ"], ln.text)]
        assert hits, pol
        x, y, w, h = hits[0].box
        assert abs(y - want[1]) <= 4 and abs(x - want[0]) <= 6 and abs(h - want[3]) <= 6


def test_clean_image_reads_no_words():
    assert [ln.text for ln in detect_text(chest_like(256, 256, seed=5)) if ln.conf >= 60] == []


def test_row_extension_follows_text_whose_contrast_falls_along_the_row():
    # dark digits over a background that darkens to the left (a shoulder, the film's edge): the left digits keep
    # less contrast than the ones read; the extension still follows them (half the faint quartile of the read
    # strokes, not half their median)
    from covidbank.ocr.detect import extend_along_row, window_to_float
    from covidbank.ocr.synth import draw_text

    W = 700
    ramp = np.interp(np.arange(W), [0, 60, 300, W], [26000, 26000, 60000, 60000]).astype(np.float32)
    bg = np.vstack([np.tile(ramp, (120, 1)), np.full((40, W), 30000, np.float32)])  # other content for the window
    img, (x, y, w, h) = draw_text(bg.astype(np.uint16), "454138807", (40, 40), 41, 0.0, font="DejaVuSans-Bold")
    read = (x + 2 * w // 3, y, w - 2 * w // 3, h)  # OCR read only the right third of the row
    ex, _, ew, _ = extend_along_row(window_to_float(img), read)
    assert ex <= x + 2 and ex + ew >= x + w - 2
