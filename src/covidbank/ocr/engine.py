"""The OCR engine: Tesseract 5, run on the machine (nothing downloaded).

Tesseract runs in this process through tesserocr (its C++ API) when that is
installed (the ``ocr`` extra), with the language data of the system's
Tesseract (Debian ``tesseract-ocr-eng``, ``-spa``); otherwise the
``tesseract`` binary runs once per call through pytesseract.  In process, the
language model is loaded once per process and thread instead of once per
call: a binary start costs about 0.18 CPU seconds, and a radiograph takes two
or three calls.  Both give Tesseract's own TSV (word boxes and confidences),
read the same way.

:func:`tesseract_info` checks the engine and its languages once per process
and gives the version recorded in sidecars; :func:`ocr_words` runs it on an
8-bit image and returns its words with their boxes and confidences.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import threading
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
    #: ``tesserocr`` (in process) or ``pytesseract`` (the binary).
    interface: str = "pytesseract"
    #: The language data folder (in process only).
    tessdata: str | None = None

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


def _tesserocr():
    """The tesserocr module, or ``None`` when it is not installed (then the binary is used)."""
    if os.environ.get("COVIDBANK_OCR_INTERFACE", "").lower() == "pytesseract":
        return None
    try:
        import tesserocr
    except ImportError:
        return None
    return tesserocr


def _tessdata(lang: str) -> str | None:
    """The folder holding ``<lang>.traineddata`` for every language of ``lang``: ``$TESSDATA_PREFIX``, the
    system Tesseract's own folder (``tesseract --list-langs``), or the Debian and Homebrew locations."""
    want = lang.split("+")
    places = [os.environ.get("TESSDATA_PREFIX", "")]
    cmd = os.environ.get("TESSERACT_CMD") or "tesseract"
    if shutil.which(cmd):
        try:
            first = subprocess.run([cmd, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
            if '"' in first:
                places.append(first.split('"')[1])
        except (OSError, subprocess.SubprocessError):
            pass
    places += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    places += ["/usr/share/tessdata", "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata"]
    for d in places:
        if d and all(os.path.isfile(os.path.join(d, f"{x}.traineddata")) for x in want):
            return d if d.endswith("/") else d + "/"
    return None


@functools.lru_cache(maxsize=4)
def tesseract_info(lang: str = DEFAULT_LANG) -> TesseractInfo:
    """Version and languages of the Tesseract used; raises :class:`OcrUnavailableError` when there is none.

    In process (tesserocr installed): the language data is looked up in
    ``$TESSDATA_PREFIX``, the system Tesseract's folder, then the usual
    locations.  Otherwise the binary is ``tesseract`` on ``PATH`` (or
    ``$TESSERACT_CMD``).  On Debian and Ubuntu install Tesseract and its data
    with ``apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa``.
    """
    want = tuple(lang.split("+"))
    tr = _tesserocr()
    if tr is not None:
        path = _tessdata(lang)
        if path is None:
            raise OcrUnavailableError(
                f"no Tesseract language data for {lang} was found (looked in $TESSDATA_PREFIX, the tesseract "
                "binary's folder, /usr/share/tesseract-ocr/*/tessdata): install it (Debian/Ubuntu: apt-get install "
                "tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa) or set TESSDATA_PREFIX to the folder holding "
                f"{want[0]}.traineddata")
        return TesseractInfo(str(tr.tesseract_version()).split()[1], want, "tesserocr", path)
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
    missing = [x for x in want if x not in have]
    if missing:
        raise OcrUnavailableError(
            f"Tesseract has no {'+'.join(missing)} language data: install tesseract-ocr-{missing[0]} "
            f"(installed: {', '.join(sorted(have)) or 'none'})")
    return TesseractInfo(version, want, "pytesseract")


_LOCAL = threading.local()


def _api(lang: str):
    """This thread's tesserocr API for ``lang`` (the model loaded once; an API serves one thread at a time)."""
    apis = getattr(_LOCAL, "apis", None)
    if apis is None:
        apis = _LOCAL.apis = {}
    if lang not in apis:
        tr = _tesserocr()
        info = tesseract_info(lang)
        apis[lang] = tr.PyTessBaseAPI(path=info.tessdata, lang=lang, oem=tr.OEM.LSTM_ONLY)
    return apis[lang]


def _tsv_in_process(image: np.ndarray, lang: str, psm: int, whitelist: str | None) -> str:
    """Tesseract's TSV of ``image`` from the in-process API, set as the binary is by :func:`ocr_words`."""
    api = _api(lang)
    api.SetPageSegMode(psm)
    api.SetVariable("tessedit_do_invert", "0")
    api.SetVariable("tessedit_char_whitelist", whitelist or "")
    a = np.ascontiguousarray(image, dtype=np.uint8)
    api.SetImageBytes(a.tobytes(), a.shape[1], a.shape[0], 1, a.shape[1])
    api.SetSourceResolution(70)  # what the binary assumes for an image without a resolution
    try:
        api.Recognize()
        return api.GetTSVText(0)
    finally:
        api.Clear()


def _words_of_tsv(tsv: str) -> list[Word]:
    """Words of Tesseract's TSV (level 5 rows with text and a confidence), from either interface."""
    out = []
    for row in tsv.splitlines():
        f = row.split("\t")
        if len(f) < 12 or f[0] != "5":
            continue
        text = f[11].strip()
        try:
            conf = float(f[10])
        except ValueError:
            continue
        if not text or conf < 0:
            continue
        out.append(Word(int(f[6]), int(f[7]), int(f[8]), int(f[9]), conf, text))
    return out


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
    info = tesseract_info(lang)
    # one thread per Tesseract: the ingest already runs one worker per core
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if info.interface == "tesserocr":
        return _words_of_tsv(_tsv_in_process(image, lang, psm, whitelist))
    from PIL import Image

    pt = _pytesseract()
    config = f"--psm {psm} --oem 1 -c tessedit_do_invert=0"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    return _words_of_tsv(pt.image_to_data(Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)), lang=lang,
                                          config=config, output_type=pt.Output.STRING))
