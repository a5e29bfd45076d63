"""Text burned into radiograph pixels: OCR detector, PHI decision, redaction with verification, review.

* :func:`detect_text` (:mod:`.detect`): text-line candidates by morphology, read by Tesseract.
* :func:`classify_lines`, :class:`AllowList` (:mod:`.phi`): personal data or not (deny-list + patterns).
* :func:`check_burned_in` (:mod:`.burnedin`): the ingest policy (redact, exclude, flag) with a second OCR.
* :mod:`.review`: curators' decisions on the review queue, stored in the bank and applied by a re-run.

Needs the ``ocr`` extra (tesserocr, or pytesseract and the Tesseract binary) and Tesseract's English and Spanish data.
"""
from __future__ import annotations

from .burnedin import POLICIES, REASONS, BurnedInResult, check_burned_in, redact_boxes
from .detect import TextLine, detect_text, window_to_uint8
from .engine import DEFAULT_LANG, OcrUnavailableError, tesseract_info
from .phi import AllowList, Finding, classify_lines
from .review import release_check

__all__ = [
           "DEFAULT_LANG",
           "POLICIES",
           "REASONS",
           "AllowList",
           "BurnedInResult",
           "Finding",
           "OcrUnavailableError",
           "TextLine",
           "check_burned_in",
           "classify_lines",
           "detect_text",
           "redact_boxes",
           "release_check",
           "tesseract_info",
           "window_to_uint8",
]
