"""Burned-in text policy for one radiograph: detect, decide, redact, verify by OCR again.

:func:`check_burned_in` is what the ingest worker calls for every X-ray
(``covidbank ingest --burned-in redact|exclude|flag``, default ``redact``):

``redact``
    Lines holding personal data are filled (with a margin, by the median of a
    ring around each box) in the image before the PNG is written; the result
    is read again around the redactions (elsewhere nothing changed) and, if any deny term or identifier pattern is still
    legible, the image is excluded (reason ``burned_in_text_after_redaction``).
``exclude``
    An image with personal data in its pixels is not written into the bank
    (reason ``burned_in_text``).
``flag``
    The image is kept as it is but excluded from the bank's index until a
    curator reviews it (reason ``burned_in_text_review``).

Under every policy, legible text that is neither personal data nor on the
allow-list puts the image in the viewer's review queue (it stays in the
bank).  :meth:`BurnedInResult.record` is what the sidecar stores: boxes,
categories, counts, the OCR engine and version, never the text.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..dicom.denylist import DenyList
from .detect import TextLine, detect_text, extend_along_row, reread_bands, window_to_float
from .engine import DEFAULT_LANG, tesseract_info
from .phi import PHI_CATEGORIES, AllowList, Finding, classify_lines, classify_rows, id_hint

__all__ = [
    "redact_dataset","POLICIES", "REASONS", "BurnedInResult", "check_burned_in", "padded", "redact_boxes"]

#: Policies of ``covidbank ingest --burned-in``.
POLICIES = ("redact", "exclude", "flag")

#: Reason codes stored in a bank (a fixed vocabulary) and what they mean.
REASONS = {
    "burned_in_text": "personal data burned into the pixels (excluded by policy)",
    "burned_in_text_after_redaction": "personal data still legible in the pixels after redaction",
    "burned_in_text_review": "personal data burned into the pixels: awaiting a curator's review",
    "burned_in_review_excluded": "excluded by a curator's review of burned-in text",
}

#: Margin around a redacted row, as a fraction of its height (at least 3 pixels): above and below, and on the
#: left and right (a letter at either end may have escaped the candidate search and the OCR).
MARGIN = 0.35
MARGIN_X = 2.0


#: The second reading: at most this many rows per image (the most text-like first), each at least this many
#: times as wide as its letters are high (an identifier is a few characters at least), letters at least this high.
REREAD_MAX = 8
REREAD_MIN_WIDTH = 3.0
REREAD_MIN_HEIGHT = 6.0


def second_reading(g: np.ndarray, lines: list[TextLine], findings: list[Finding], deny: DenyList | None,
                   allow: AllowList, lang: str = DEFAULT_LANG) -> list[Finding]:
    """``findings`` with the rows that a second, stronger reading finds to be personal data turned ``phi``.

    The first reading (one mosaic of all candidates) misreads text that is
    slightly rotated, of uneven contrast, or small and bold (``CPNAOMTL`` for a
    name).  Every row not already personal data, wide enough to hold an
    identifier, is extended along its strokes and read again in both polarities
    (:func:`~covidbank.ocr.detect.reread_bands`: straightened, background suppressed,
    upscaled, one more Tesseract call per image) and its text matched against
    the deny-list again (the instance's own values; not the generic patterns,
    which this reading of anatomy and captions would make fire on clean
    images); the band becomes the row's box.  Bands whose readings hold a
    record-number label or three digits but match nothing are read once more
    for digits only (Tesseract's whitelist: a number misread as letters, or
    read only in part), in one more call, only in images that have such rows.
    """
    rows = []
    for i, f in enumerate(findings):
        if f.kind == "phi" or not f.members:
            continue
        hm = float(np.median([lines[k].height or lines[k].box[3] for k in f.members]))
        if hm < REREAD_MIN_HEIGHT:
            continue
        # a narrow row is read again only when it holds a label or three digits: the readable part of a
        # number whose fainter digits never became candidates (``220`` of ``19860220``)
        if f.box[2] < REREAD_MIN_WIDTH * hm and not id_hint(" ".join(w.text for k in f.members for w in lines[k].words)):
            continue
        rows.append((f.score, i, hm))
    rows = sorted(rows, key=lambda r: (-r[0], r[1]))[:REREAD_MAX]
    bands, where = [], []
    for _, i, hm in rows:
        box = extend_along_row(g, findings[i].box)
        for pol in ("bright", "dark"):  # the row's polarity is not known: a letter of either makes candidates
            bands.append((box, pol, hm))
            where.append(i)
    if not bands:
        return findings
    out = list(findings)
    hints = set()
    for (band, i), line in zip(zip(bands, where), reread_bands(g, bands, lang=lang)):
        if _mark(out, i, line, deny, allow):
            continue
        first = " ".join(w.text for k in out[i].members for w in lines[k].words)
        if id_hint(first) or id_hint(line.text):
            hints.add((band, i))
    # a label or a part of a number read, the number itself not matched: read those bands for digits only
    hints = sorted(h for h in hints if out[h[1]].kind != "phi")[:REREAD_MAX]
    for (_, i), line in zip(hints, reread_bands(g, [h[0] for h in hints], lang=lang, digits=True) if hints else []):
        _mark(out, i, line, deny, allow)
    return out


def _mark(out: list[Finding], i: int, line: TextLine, deny: DenyList | None, allow: AllowList) -> bool:
    """Row ``i`` of ``out`` turned ``phi`` (its box grown to the band's ink) when the second reading of one of its
    bands matches the deny-list; whether it did."""
    if not line.words:
        return False
    (f,) = classify_lines([line], deny, allow, patterns=False)
    if f.kind != "phi":
        return False
    old = out[i]
    cats = set(old.categories) | set(f.categories)
    out[i] = Finding("phi", tuple(c for c in PHI_CATEGORIES if c in cats),
                     _union(old.box, f.box), max(old.conf, f.conf), old.score, old.members)
    return True


def _union(a, b) -> tuple[int, int, int, int]:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def padded(box, shape, margin: float = MARGIN, margin_x: float = MARGIN_X) -> tuple[int, int, int, int]:
    """``box`` (x, y, w, h) grown by ``margin`` x its height above and below and ``margin_x`` x its height
    left and right, clipped to ``shape``."""
    x, y, w, h = box
    m = max(3, int(round(margin * h)))
    mx = max(3, int(round(margin_x * h)))
    x0, y0 = max(0, x - mx), max(0, y - m)
    x1, y1 = min(shape[1], x + w + mx), min(shape[0], y + h + m)
    return x0, y0, x1 - x0, y1 - y0


def redact_boxes(img: np.ndarray, boxes) -> np.ndarray:
    """A copy of ``img`` with each box (x, y, w, h; already padded) filled by the median of a ring around it."""
    out = np.array(img, copy=True)
    H, W = out.shape
    for x, y, w, h in boxes:
        r = max(4, h // 2)
        ring = out[max(0, y - r):min(H, y + h + r), max(0, x - r):min(W, x + w + r)].astype(np.float64)
        inner = np.ones(ring.shape, bool)
        inner[min(r, y):min(r, y) + h, min(r, x):min(r, x) + w] = False
        vals = ring[inner] if inner.any() else ring.ravel()
        out[y:y + h, x:x + w] = np.asarray(np.median(vals)).astype(out.dtype)
    return out


@dataclass
class BurnedInResult:
    """What the burned-in text check found and did for one image.

    ``image`` is the image to store (redacted under ``redact``; ``None`` when
    the image is excluded); everything else is safe to store.
    """

    policy: str
    action: str  # none, redacted, excluded, flagged
    reason: str | None
    redacted: list[dict] = field(default_factory=list)
    review: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    verified: bool | None = None
    engine: dict = field(default_factory=dict)
    image: np.ndarray | None = None

    @property
    def excluded(self) -> bool:
        """The image must not be written into the bank."""
        return self.image is None

    @property
    def review_score(self) -> float:
        """How likely the image holds text a curator should see (0-1): ranks the review queue."""
        scores = [b["score"] for b in self.review] + [b["score"] for b in self.redacted if self.action == "flagged"]
        return round(max(scores, default=0.0), 4)

    def record(self) -> dict:
        """The sidecar's ``covidbank.burned_in`` object: boxes, categories, counts, engine; never text."""
        return {"policy": self.policy, "action": self.action, "reason": self.reason,
                "boxes": self.redacted, "review_boxes": self.review, "counts": self.counts,
                "verified_by_second_ocr": self.verified, "review_score": self.review_score,
                "review": "pending" if (self.review or self.action == "flagged") else None,
                "ocr": self.engine}


def _box_dict(f: Finding, shape, pad: bool) -> dict:
    x, y, w, h = padded(f.box, shape) if pad else f.box
    return {"x": int(x), "y": int(y), "w": int(w), "h": int(h), "categories": list(f.categories),
            "score": round(float(min(1.0, f.conf / 100.0 * (0.5 + 0.5 * f.score))), 4)}


def check_burned_in(img: np.ndarray, deny: DenyList | None, policy: str = "redact", lang: str = DEFAULT_LANG,
                    allow: AllowList | None = None) -> BurnedInResult:
    """Apply a burned-in text policy to one image (see the module docstring).

    Parameters
    ----------
    img : ndarray, 2-D
        The image as it will be stored (16-bit PNG values, MONOCHROME2).
    deny : DenyList
        The instance's identifying header values, collected *before* de-identification.
    policy : {"redact", "exclude", "flag"}
    lang : str
        Tesseract languages.
    allow : AllowList, optional
        Harmless words (default: the package's list).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown burned-in text policy {policy!r}: use one of {', '.join(POLICIES)}")
    allow = allow if allow is not None else AllowList.load()
    engine = tesseract_info(lang).to_dict()
    g = window_to_float(img)
    lines = detect_text(img, lang=lang, keep_unread=True, windowed=g)
    findings = second_reading(g, lines, classify_rows(lines, deny, allow), deny, allow, lang)
    phi = [f for f in findings if f.kind == "phi"]
    # letters of a PHI row that were never candidates: follow the strokes along the row
    phi = [dataclasses.replace(f, box=extend_along_row(g, f.box)) for f in phi]
    unknown = [f for f in findings if f.kind == "unknown"]
    counts = {"rows": sum(f.kind != "noise" for f in findings), "phi": len(phi),
              "allowed": sum(f.kind == "allowed" for f in findings),
              "unknown": len(unknown)}
    res = BurnedInResult(policy, "none", None, [_box_dict(f, img.shape, True) for f in phi],
                         [_box_dict(f, img.shape, False) for f in unknown], counts, None, engine, img)
    if not phi:
        return res
    if policy == "exclude":
        res.action, res.reason, res.image = "excluded", "burned_in_text", None
        return res
    if policy == "flag":
        res.action, res.reason = "flagged", "burned_in_text_review"
        return res
    boxes = [(b["x"], b["y"], b["w"], b["h"]) for b in res.redacted]
    red = redact_boxes(img, boxes)
    again = classify_rows(detect_text(red, lang=lang, near=boxes), deny, allow)
    still = [f for f in again if f.kind == "phi"]
    res.counts["phi_after_redaction"] = len(still)
    res.verified = not still
    if still:
        res.action, res.reason, res.image = "excluded", "burned_in_text_after_redaction", None
    else:
        res.action, res.image = "redacted", red
    return res


def redact_dataset(ds, boxes) -> None:
    """Fill ``boxes`` (x, y, w, h) in a DICOM dataset's pixel data, every frame, as :func:`redact_boxes` does.

    The pixel data is rewritten uncompressed (pydicom's ``set_pixel_data``:
    Explicit VR Little Endian) and Burned In Annotation set to ``NO``.  Used
    for the instances ``ingest --keep-dicom`` stores, so the bank's DICOM and
    PNG hold the same redacted pixels.
    """
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        out = np.stack([redact_boxes(f, boxes) for f in arr])
    else:
        out = redact_boxes(arr, boxes)
    ds.set_pixel_data(out.astype(arr.dtype, copy=False), str(ds.PhotometricInterpretation), int(ds.BitsStored))
    ds.BurnedInAnnotation = "NO"


def ingest_check(img: np.ndarray, deny: DenyList | None, policy: str, side: dict, cb: dict,
                 lang: str = DEFAULT_LANG) -> np.ndarray | None:
    """The ingest worker's hook: apply ``policy`` to an X-ray before its PNG is written.

    Records :meth:`BurnedInResult.record` as ``cb["burned_in"]`` (the sidecar's
    ``covidbank`` object) and sets the sidecar's ``BurnedInAnnotation``: ``NO``
    after a verified redaction of an image the header did not mark ``YES``,
    ``YES`` when personal data stays in the pixels (flagged).  Returns the
    image to write, or ``None`` when the image must not enter the bank.
    """
    res = check_burned_in(img, deny, policy, lang=lang)
    cb["burned_in"] = res.record()
    tag = str(side.get("BurnedInAnnotation", "") or "").upper()
    if res.action == "redacted" and tag != "YES":
        side["BurnedInAnnotation"] = "NO"
    elif res.action == "flagged":
        side["BurnedInAnnotation"] = "YES"
    return res.image
