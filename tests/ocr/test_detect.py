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


@pytest.mark.parametrize("angle", [-3.0, 0.0, 2.0])
def test_skew_of_a_band_is_the_angle_of_its_text(angle):
    from covidbank.ocr.detect import _skew

    _, box = draw_text(np.zeros((120, 600), np.float32), "PETER WILLIAMS 20780", (30, 40), 30, 1.0, angle=angle)
    ink, _ = draw_text(np.zeros((120, 600), np.float32), "PETER WILLIAMS 20780", (30, 40), 30, 1.0, angle=angle)
    assert abs(_skew(ink > 0.5) - angle) <= 0.5


def test_reread_bands_reads_each_band_in_its_polarity():
    from covidbank.ocr.detect import reread_bands

    img = chest_like(260, 520, seed=3)
    img, b1 = draw_text(img, "ROSA MENDEZ", (20, 20), 24, 65535, angle=3)      # bright, rotated
    img, b2 = draw_text(img, "20780377", (200, 160), 24, 2000)                 # dark
    g = window_to_float(img)
    first, second = reread_bands(g, [(b1, "bright", 18.0), (b2, "dark", 18.0)])
    assert readable(["ROSA MENDEZ"], first.text) == ["ROSA MENDEZ"] and first.polarity == "bright"
    assert readable(["20780377"], second.text) == ["20780377"]
    for line, (x, y, w, h) in ((first, b1), (second, b2)):  # the line's box holds its ink
        bx, by, bw, bh = line.box
        assert bx <= x and by <= y and bx + bw >= x + w and by + bh >= y + h
    (digits,) = reread_bands(g, [(b2, "dark", 18.0)], digits=True)
    assert digits.text.replace(" ", "").isdigit()


def test_second_reading_reads_a_label_and_its_number_over_a_background_that_brightens_along_the_row():
    # the shape of a bench miss: `Nº historia 248447801` in white over a background that brightens to the right;
    # each stretch of the band is scaled to its own strokes, the band's ink box holds the whole row
    from covidbank.ocr.detect import _band_image, reread_bands

    W = 640
    ramp = np.interp(np.arange(W), [0, 250, 560, W], [12000, 12000, 52000, 52000]).astype(np.float32)
    img = np.vstack([np.tile(ramp, (100, 1)), np.full((40, W), 30000, np.float32)]).astype(np.uint16)
    img, (x, y, w, h) = draw_text(img, "Nº historia 248447801", (20, 30), 30, 60000, font="DejaVuSansMono")
    g = window_to_float(img)
    band = ((x, y, w, h), "bright", 22.0)
    u8, ink = _band_image(g, *band)
    assert np.percentile(u8[:, int(0.75 * u8.shape[1]):], 1) < 40   # the last digits drawn dark
    assert ink[0] <= x + 2 and ink[0] + ink[2] >= x + w - 2
    assert readable(["248447801"], reread_bands(g, [band])[0].text) == ["248447801"]
    (digits,) = reread_bands(g, [band], digits=True)
    assert readable(["248447801"], digits.text) == ["248447801"]
