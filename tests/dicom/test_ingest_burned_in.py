"""The privacy review's hostile DX through the ingest: identifiers drawn into the pixels, BurnedInAnnotation NO or
absent. Redacted so that Tesseract reads none of them in the stored PNG, or left out of the bank with a reason."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import make_cr
from ocr_fixtures import DATE, HEADER, NAME, NHC, chest_like, hostile
from PIL import Image

from covidbank.bank import Bank
from covidbank.dicom.ingest import ingest
from covidbank.ocr.detect import detect_text
from covidbank.ocr.synth import draw_text, readable, whole_image_text

pytest.importorskip("pytesseract")
SECRETS = [NAME, "99887766", DATE]
PARTS = ["GARCIA", "LOPEZ", "MARIA", "99887766", DATE]  # what must be unreadable: every name word


def _plain_ocr(img: np.ndarray) -> str:
    return whole_image_text(img, scale=2)


def _readable_in_png(path: Path) -> list[str]:
    return _readable(np.asarray(Image.open(path)))


def _readable(img: np.ndarray) -> list[str]:
    """The identifiers two readers find in an image: whole-image Tesseract and covidbank's detector."""
    text = _plain_ocr(img) + " " + " ".join(ln.text for ln in detect_text(img))
    return readable(PARTS, text)


def _hostile_dx(path: Path, tag: str | None, photometric: str = "MONOCHROME2", seed: int = 1) -> np.ndarray:
    img, _ = hostile(chest_like(320, 384, seed=seed))
    stored = 65535 - img if photometric == "MONOCHROME1" else img
    extra = {"BurnedInAnnotation": tag} if tag else {}
    make_cr(path, patient_id=HEADER["PatientID"], modality="DX", rows=320, cols=384, bits=16,
            photometric=photometric, pixels=stored, study_date=HEADER["StudyDate"], **extra)
    ds = pydicom.dcmread(path)
    ds.PatientName = HEADER["PatientName"]
    ds.save_as(path)
    return img


def _sidecars(bank: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(bank.glob("sub-*/ses-*/mod-rx/*.json"))]


def test_hostile_dx_is_redacted_until_unreadable(tmp_path):
    raw = tmp_path / "raw"
    shown = _hostile_dx(raw / "a.dcm", "NO")
    _hostile_dx(raw / "b.dcm", None, photometric="MONOCHROME1", seed=2)
    assert _readable(shown) == PARTS  # the readers do read them before the ingest
    bank = tmp_path / "bank"
    s = ingest(raw, bank, key_file=tmp_path / "key", new_key=True)
    assert s.converted == 2 and s.burned_in == {"redacted": 2}
    pngs = sorted(bank.glob("sub-*/ses-*/mod-rx/*.png"))
    assert len(pngs) == 2
    for p in pngs:
        assert _readable_in_png(p) == [], p.name
    for side in _sidecars(bank):
        bi = side["covidbank"]["burned_in"]
        assert bi["action"] == "redacted" and bi["verified_by_second_ocr"] is True
        assert side["BurnedInAnnotation"] == "NO"
        assert {"name", "id", "date"} <= {c for b in bi["boxes"] for c in b["categories"]}
    everything = " ".join(p.read_text(errors="replace") for p in bank.rglob("*.json")) + \
        (bank / "logs" / "ingest.jsonl").read_text()
    assert not readable([NAME, "99887766"], everything)
    images = Bank(bank).table("images")
    assert not images["exclude"].any() and set(images["burned_in_text"]) == {"redacted"}


def test_exclude_policy_keeps_the_image_out_with_a_reason(tmp_path):
    _hostile_dx(tmp_path / "raw" / "a.dcm", "NO")
    bank = tmp_path / "bank"
    s = ingest(tmp_path / "raw", bank, key_file=tmp_path / "key", new_key=True, burned_in="exclude")
    assert s.burned_in == {"excluded": 1}
    assert not list(bank.rglob("*.png"))
    (row,) = Bank(bank).table("images").to_dict("records")
    assert row["exclude"] and row["exclude_reason"] == "burned_in_text" and not row["file_present"]
    # a re-run resumes: nothing is read again, nothing appears
    s2 = ingest(tmp_path / "raw", bank, key_file=tmp_path / "key", new_key=True, burned_in="exclude")
    assert s2.resumed == 1 and not list(bank.rglob("*.png"))


def test_flag_policy_keeps_the_image_out_of_the_index_until_reviewed(tmp_path, cli):
    _hostile_dx(tmp_path / "raw" / "a.dcm", None)
    bank = tmp_path / "bank"
    out = cli("ingest", tmp_path / "raw", "--bank", bank, "--key-file", tmp_path / "key", "--new-key", "--burned-in", "flag",
              "--workers", "1", "--no-progress").output
    assert "flagged 1" in out
    (row,) = Bank(bank).table("images").to_dict("records")
    assert row["exclude"] and row["exclude_reason"] == "burned_in_text_review" and row["file_present"]
    (side,) = _sidecars(bank)
    assert side["BurnedInAnnotation"] == "YES" and side["covidbank"]["burned_in"]["review"] == "pending"
    res = cli("ingest", tmp_path / "raw", "--bank", bank, "--burned-in", "blur", expect=None)
    assert res.exit_code != 0 and "redact, exclude, flag" in res.output


@pytest.mark.realdata
def test_real_dx_with_identifiers_drawn_in(shared_data, tmp_path):
    """The NCCID chest X-ray with the identifiers drawn into its pixels (white, 22 px) and the header to match."""
    src = shared_data / "dicom" / "1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array.astype(np.uint8)
    for i, s in enumerate((NAME, NHC, DATE)):
        arr, _ = draw_text(arr, s, (30, 30 + 32 * i), 22, 255)
    ds.PixelData = arr.tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.PatientName, ds.PatientID, ds.StudyDate = HEADER["PatientName"], HEADER["PatientID"], HEADER["StudyDate"]
    ds.Modality, ds.BurnedInAnnotation = "DX", "NO"
    (tmp_path / "raw").mkdir()
    ds.save_as(tmp_path / "raw" / "real.dcm", enforce_file_format=True)
    bank = tmp_path / "bank"
    ingest(tmp_path / "raw", bank, key_file=tmp_path / "key", new_key=True)
    (side,) = _sidecars(bank)
    action = side["covidbank"]["burned_in"]["action"]
    assert action in ("redacted", "excluded")
    for p in bank.rglob("*.png"):
        assert _readable_in_png(p) == []


def test_keep_dicom_stores_the_redacted_pixels_or_nothing(tmp_path):
    """--keep-dicom keeps the same redacted pixels as the PNG (Burned In Annotation NO), and no DICOM of an image
    left out for burned-in personal data."""
    from covidbank.dicom.convert import xray_to_uint16

    _hostile_dx(tmp_path / "raw" / "a.dcm", "NO")
    bank = tmp_path / "bank"
    ingest(tmp_path / "raw", bank, key_file=tmp_path / "key", new_key=True, keep_dicom=True)
    (kept,) = sorted(bank.glob("sourcedata/**/*.dcm"))
    ds = pydicom.dcmread(kept)
    assert ds.BurnedInAnnotation == "NO"
    img, _ = xray_to_uint16(ds)
    assert _readable(img) == []
    (png,) = bank.rglob("*.png")
    assert np.array_equal(img, np.asarray(Image.open(png)))
    other = tmp_path / "bank2"
    ingest(tmp_path / "raw", other, key_file=tmp_path / "key", new_key=True, keep_dicom=True, burned_in="flag")
    assert not list(other.glob("sourcedata/**/*.dcm"))
    (side,) = _sidecars(other)
    assert side["covidbank"]["kept_dicom"] is None
