"""The review queue of burned-in text: which X-rays a curator should look at, and their decisions.

An image enters the queue when the ingest's burned-in text check left it
``review: pending`` in its sidecar: legible text that is neither personal
data nor on the allow-list, or personal data kept under ``--burned-in flag``.
The queue is ranked by ``review_score`` (how likely the image holds text).

A curator (in the viewer's ``/review`` page, ``covidbank serve --review``)
decides per image:

``reviewed``
    nothing to hide: the image enters the index as it is;
``redact``
    fill the boxes given (the detector's and any the curator drew);
``exclude``
    leave the image out of the bank.

Decisions are stored in the bank (``.covidbank/burned_in_review.json``, keyed
by the image's pseudonymous MIDS name) and applied by :func:`apply_reviews`,
which the next ``covidbank ingest`` run calls before rebuilding the index: the
PNG is redacted or removed and the sidecar records what was done.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import BankError
from ..fileio import atomic_write

__all__ = [
    "DECISIONS",
    "REVIEW_FILE",
    "apply_reviews",
    "image_path",
    "load_decisions",
    "record_decision",
    "review_queue",
]

#: Decisions a curator can take.
DECISIONS = ("reviewed", "redact", "exclude")
#: Where decisions are kept, relative to the bank.
REVIEW_FILE = ".covidbank/burned_in_review.json"
_STEM = re.compile(r"^sub-[A-Za-z0-9]+_ses-[A-Za-z0-9]+_[A-Za-z0-9_\-]+$")


def _sidecars(bank: Path):
    for p in sorted(bank.glob("sub-*/ses-*/mod-rx/sub-*.json")):
        try:
            side = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        yield p, side


def _find(bank: Path, stem: str) -> Path:
    if not _STEM.match(stem):
        raise BankError(f"{stem!r} is not an image name of this bank")
    hits = list(bank.glob(f"sub-*/ses-*/mod-rx/{stem}.json"))
    if len(hits) != 1:
        raise BankError(f"no X-ray named {stem} in this bank")
    return hits[0]


def image_path(bank: str | os.PathLike, stem: str) -> Path:
    """The PNG of the X-ray ``stem`` (raises :class:`BankError` for a name not in the bank)."""
    return _find(Path(bank), stem).with_suffix(".png")


def load_decisions(bank: str | os.PathLike) -> dict:
    """The curators' decisions stored in the bank: ``{stem: {"decision", "boxes", "time"}}``."""
    p = Path(bank) / REVIEW_FILE
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise BankError(f"{p}: not valid JSON ({e}); fix or remove it") from None


def review_queue(bank: str | os.PathLike, include_decided: bool = False) -> list[dict]:
    """Images awaiting a curator, most likely to hold text first.

    Each item: ``stem``, ``subject``, ``session``, ``score``, ``action`` (what the
    ingest did), ``width``, ``height``, ``boxes`` (redacted or flagged personal
    data) and ``review_boxes`` (unknown text), ``decision`` (a stored one, if any).
    """
    root = Path(bank)
    decided = load_decisions(root)
    out = []
    for p, side in _sidecars(root):
        bi = (side.get("covidbank") or {}).get("burned_in") or {}
        if bi.get("review") != "pending" or not p.with_suffix(".png").exists():
            continue
        stem = p.name[:-5]
        if stem in decided and not include_decided:
            continue
        cb = side.get("covidbank") or {}
        out.append({"stem": stem, "subject": cb.get("subject"), "session": cb.get("session"),
                    "score": float(bi.get("review_score") or 0.0), "action": bi.get("action"),
                    "width": side.get("Columns"), "height": side.get("Rows"),
                    "boxes": bi.get("boxes") or [], "review_boxes": bi.get("review_boxes") or [],
                    "decision": decided.get(stem, {}).get("decision")})
    out.sort(key=lambda it: (-it["score"], it["stem"]))
    return out


def _clean_boxes(boxes, width: int | None, height: int | None) -> list[list[int]]:
    out = []
    for b in boxes or []:
        if isinstance(b, dict):
            b = [b.get("x"), b.get("y"), b.get("w"), b.get("h")]
        try:
            x, y, w, h = (int(round(float(v))) for v in b)
        except (TypeError, ValueError):
            raise BankError(f"a box must be [x, y, w, h] in image pixels, got {b!r}") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0 or (width and x >= width) or (height and y >= height):
            raise BankError(f"box {[x, y, w, h]} lies outside the image")
        out.append([x, y, w, h])
    return out


def record_decision(bank: str | os.PathLike, stem: str, decision: str, boxes=None) -> dict:
    """Store a curator's decision on image ``stem`` (applied by the next ingest run, or :func:`apply_reviews`)."""
    if decision not in DECISIONS:
        raise BankError(f"unknown review decision {decision!r}: use one of {', '.join(DECISIONS)}")
    root = Path(bank)
    side = json.loads(_find(root, stem).read_text(encoding="utf-8"))
    boxes = _clean_boxes(boxes, side.get("Columns"), side.get("Rows"))
    if decision == "redact" and not boxes:
        raise BankError("a redact decision needs at least one box")
    decided = load_decisions(root)
    rec = {"decision": decision, "boxes": boxes,
           "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    decided[stem] = rec
    atomic_write(root / REVIEW_FILE, (json.dumps(decided, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return rec


def _redact_kept(files: list[Path], boxes) -> None:
    """The curator's boxes in the DICOM instances ``ingest --keep-dicom`` stored (same pixels as the PNG)."""
    import pydicom

    from .burnedin import redact_dataset

    for f in files:
        ds = pydicom.dcmread(f)
        redact_dataset(ds, [tuple(b) for b in boxes])
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        atomic_write(f, buf.getvalue())


def apply_reviews(bank: str | os.PathLike) -> dict:
    """Apply the stored decisions not applied yet; returns how many of each were applied.

    ``redact`` fills the boxes in the PNG (median of a ring around each box,
    as the ingest does) and adds them to the sidecar's boxes (category
    ``reviewer``); ``exclude`` removes the PNG; the DICOM instances kept by
    ``ingest --keep-dicom`` are redacted or removed alike; every decision sets the
    sidecar's ``review`` to ``reviewed``, ``redacted`` or ``excluded``, so the
    index includes or excludes the image accordingly.  Idempotent.
    """
    from PIL import Image

    from .burnedin import redact_boxes

    root = Path(bank)
    done = {d: 0 for d in DECISIONS}
    state = {"reviewed": "reviewed", "redact": "redacted", "exclude": "excluded"}
    for stem, rec in sorted(load_decisions(root).items()):
        try:
            sp = _find(root, stem)
        except BankError:
            continue  # an image removed since: nothing to do
        side = json.loads(sp.read_text(encoding="utf-8"))
        bi = side.setdefault("covidbank", {}).setdefault("burned_in", {})
        decision = rec.get("decision")
        if decision not in DECISIONS or bi.get("review") == state[decision]:
            continue
        png = sp.with_suffix(".png")
        kept = side["covidbank"].get("kept_dicom")
        kept_files = sorted((root / kept["folder"]).glob("*.dcm")) if kept and kept.get("folder") else []
        if decision == "redact":
            _redact_kept(kept_files, rec.get("boxes", []))
        elif decision == "exclude":
            for f in kept_files:
                f.unlink()
            if kept:
                side["covidbank"]["kept_dicom"] = None
        if decision == "redact" and png.exists():
            img = np.asarray(Image.open(png))
            red = redact_boxes(img, [tuple(b) for b in rec.get("boxes", [])])
            buf = io.BytesIO()
            Image.fromarray(red).save(buf, format="PNG", compress_level=1)
            atomic_write(png, buf.getvalue())
            bi["boxes"] = list(bi.get("boxes") or []) + [
                {"x": x, "y": y, "w": w, "h": h, "categories": ["reviewer"], "score": 1.0}
                for x, y, w, h in rec.get("boxes", [])]
            bi["action"] = "redacted"
            bi["reason"] = None
        elif decision == "exclude":
            if png.exists():
                png.unlink()
            bi["action"], bi["reason"] = "excluded", "burned_in_review_excluded"
        elif decision == "reviewed" and bi.get("action") == "flagged":
            bi["reason"] = None  # the curator saw the flagged text: nothing to hide
        bi["review"] = state[decision]
        bi["review_time"] = rec.get("time")
        atomic_write(sp, (json.dumps(side, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        done[decision] += 1
    return done


def release_check(bank) -> list[str]:
    """Findings that stop a release: X-rays never screened for burned-in text, and images still awaiting review.

    Used by ``covidbank release`` (:func:`covidbank.release.release_checks`).
    Each finding names the image file by its MIDS name (pseudonyms only) and a
    fixed reason; an empty list means every X-ray of the bank was screened and
    every flagged one was decided.

    Parameters
    ----------
    bank : Bank or path-like
    """
    root = Path(getattr(bank, "path", bank))
    findings = []
    decided = load_decisions(root)
    for p, side in _sidecars(root):
        if not p.with_suffix(".png").exists():
            continue
        bi = (side.get("covidbank") or {}).get("burned_in")
        stem = p.name[:-5]
        if not bi:
            findings.append(f"{stem}: not screened for burned-in text (re-run covidbank ingest with --burned-in)")
        elif bi.get("review") == "pending" and stem not in decided:
            findings.append(f"{stem}: burned-in text awaits review (covidbank serve BANK --review, then re-run ingest)")
        elif bi.get("review") == "pending":
            findings.append(f"{stem}: a review decision is stored but not applied yet (re-run covidbank ingest)")
    return findings
