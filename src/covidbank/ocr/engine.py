"""The OCR engine: Tesseract 5 through pytesseract, run on the machine (nothing downloaded).

:func:`tesseract_info` checks the binary and its languages once per process
and gives the version recorded in sidecars; :func:`ocr_words` runs it on an
8-bit image and returns its words with their boxes and confidences.
"""
from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass

import numpy as np

from ..errors import OcrUnavailableError

__all__ = ["DEFAULT_LANG", "OcrUnavailableError", "TesseractInfo", "Word", "ocr_words", "tesseract_info"]

#: Languages asked of Tesseract.  English alone reads Spanish names and dates as well in our bench (accents
#: are folded before matching) at 60% of the time of ``eng+spa``; ``spa`` is installed for sites that want it.
DEFAULT_LANG = "eng"


@dataclass(frozen=True)
class TesseractInfo:
    """The engine recorded in sidecars: name, version and languages."""

    version: str
    languages: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"engine": "tesseract", "version": self.version, "languages": list(self.languages)}


@dataclass(frozen=True)
class Word:
    """One word Tesseract read: box in the image it was given, confidence 0-100, text (memory only)."""

    x: int
    y: int
    w: int
    h: int
    conf: float
    text: str


def _pytesseract():
    from ..optional import require

    return require("pytesseract", purpose="burned-in text detection (OCR)")


@functools.lru_cache(maxsize=4)
def tesseract_info(lang: str = DEFAULT_LANG) -> TesseractInfo:
    """Version and languages of the installed Tesseract; raises :class:`OcrUnavailableError` when missing.

    The binary is ``tesseract`` on ``PATH`` (or ``$TESSERACT_CMD``); on Debian
    and Ubuntu install it with ``apt-get install tesseract-ocr tesseract-ocr-eng
    tesseract-ocr-spa``.
    """
    pt = _pytesseract()
    cmd = os.environ.get("TESSERACT_CMD") or pt.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        raise OcrUnavailableError(
            f"the Tesseract OCR binary {cmd!r} was not found on PATH: burned-in text cannot be checked. Install it "
            "(Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa) or set "
            "TESSERACT_CMD to its path")
    pt.pytesseract.tesseract_cmd = cmd
    try:
        version = str(pt.get_tesseract_version()).split()[0]
        have = set(pt.get_languages(config=""))
    except Exception as e:  # a broken installation
        raise OcrUnavailableError(f"the Tesseract OCR binary {cmd!r} does not run ({type(e).__name__})") from None
    want = tuple(lang.split("+"))
    missing = [x for x in want if x not in have]
    if missing:
        raise OcrUnavailableError(
            f"Tesseract has no {'+'.join(missing)} language data: install tesseract-ocr-{missing[0]} "
            f"(installed: {', '.join(sorted(have)) or 'none'})")
    return TesseractInfo(version, want)


def ocr_words(image: np.ndarray, lang: str = DEFAULT_LANG, psm: int = 11, whitelist: str | None = None) -> list[Word]:
    """Words Tesseract reads in an 8-bit grayscale image (dark text on light is best).

    Parameters
    ----------
    image : ndarray of uint8, 2-D
    lang : str
        Tesseract languages (``eng``, ``eng+spa``).
    psm : int
        Page segmentation mode (11: sparse text, as much text as possible in no particular order; 6: a block of
        lines).
    whitelist : str, optional
        The only characters Tesseract may read (``tessedit_char_whitelist``), e.g. digits.
    """
    from PIL import Image

    pt = _pytesseract()
    tesseract_info(lang)
    # one thread per Tesseract: the ingest already runs one worker per core
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    config = f"--psm {psm} --oem 1 -c tessedit_do_invert=0"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    d = pt.image_to_data(Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)), lang=lang,
                         config=config, output_type=pt.Output.DICT)
    out = []
    for i, text in enumerate(d["text"]):
        text = (text or "").strip()
        conf = float(d["conf"][i])
        if not text or conf < 0:
            continue
        out.append(Word(int(d["left"][i]), int(d["top"][i]), int(d["width"][i]), int(d["height"][i]), conf, text))
    return out
