"""One inversion rule: ingest -> bank -> XRayDataset / viewer give the PNG on disk, the right way up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from covidbank.bank import Bank  # noqa: E402
from covidbank.dicom.ingest import ingest  # noqa: E402
from covidbank.pixels import needs_inversion, read_xray, record_needs_inversion  # noqa: E402
from covidbank.torch import XRayDataset  # noqa: E402
from dicom_factory import make_cr  # noqa: E402


def test_the_rule():
    assert needs_inversion("MONOCHROME1") and needs_inversion("MONOCHROME2", "INVERSE")
    assert needs_inversion("MONOCHROME1", "INVERSE")  # the standard pairs them: one inversion, not two
    assert not needs_inversion("MONOCHROME2") and not needs_inversion(None) and not needs_inversion("MONOCHROME2", "IDENTITY")
    assert not needs_inversion("MONOCHROME1", "INVERSE", display_ready=True)
    assert record_needs_inversion({"photometric": "MONOCHROME1", "display_ready": None})
    assert not record_needs_inversion({"photometric": "MONOCHROME1", "display_ready": True})
    assert record_needs_inversion({"photometric": None, "presentation_lut_shape": "INVERSE"})


def _ingested_items(bank: Path) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """(dataset image, PNG on disk / 65535, record) per X-ray of an ingested bank."""
    ds = XRayDataset(bank, size=None, crop="none", normalize="unit", labels=[])
    out = []
    for i in range(len(ds)):
        rec = ds.records.iloc[i].to_dict()
        png = np.asarray(Image.open(rec["path"]), dtype=np.float64) / 65535.0
        out.append((ds[i]["img"][0].numpy(), png, rec))
    return out


def test_ingest_then_dataset_gives_the_png_on_disk(tmp_path):
    raw = tmp_path / "raw"
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 4096, size=(40, 32), dtype=np.uint16)
    make_cr(raw / "m2.dcm", patient_id="P1", rows=40, cols=32, pixels=stored, photometric="MONOCHROME2", view="PA")
    make_cr(raw / "m1.dcm", patient_id="P2", rows=40, cols=32, pixels=stored, photometric="MONOCHROME1", view="PA")
    make_cr(raw / "inv.dcm", patient_id="P3", rows=40, cols=32, pixels=stored, photometric="MONOCHROME2", view="PA",
            PresentationLUTShape="INVERSE")
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "key", new_key=True)
    items = _ingested_items(bank)
    assert len(items) == 3
    by_phot = {}
    for img, png, rec in items:
        # the model sees exactly the display-ready PNG (before the fix: its negative, corr -1)
        assert np.abs(img - png).max() < 1e-6, rec["image_id"]
        assert rec["display_ready"] is True and not record_needs_inversion(rec)
        plut = rec["presentation_lut_shape"]
        by_phot[(rec["photometric"], plut if isinstance(plut, str) else None)] = img
    m2 = by_phot[("MONOCHROME2", None)]
    # MONOCHROME1 and INVERSE of the same stored values are the negative of MONOCHROME2, once
    for key in (("MONOCHROME1", None), ("MONOCHROME2", "INVERSE")):
        assert np.abs(by_phot[key] - (1 - m2)).max() < 1e-4, key
    assert np.corrcoef(m2.ravel(), stored.ravel())[0, 1] > 0.999


def test_viewer_and_duplicates_apply_the_same_rule(tmp_path):
    pytest.importorskip("fastapi")
    from covidbank.duplicates import _read_small
    from covidbank.web.render import read_image
    from covidbank.web.store import BankStore

    raw = tmp_path / "raw"
    stored = np.random.default_rng(5).integers(0, 4096, size=(40, 32), dtype=np.uint16)
    make_cr(raw / "m1.dcm", patient_id="P2", rows=40, cols=32, pixels=stored, photometric="MONOCHROME1")
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "key", new_key=True)
    st = BankStore(bank)
    iid = Bank(bank).table("images")["image_id"].iloc[0]
    rec, path = st.image_file(iid)
    png = np.asarray(Image.open(path))
    assert np.array_equal(read_image(path, record_needs_inversion(rec)), png)
    small = _read_small(str(path), iid, "png", rec["photometric"], rec["presentation_lut_shape"], rec["display_ready"])
    assert np.corrcoef(small.ravel(), png.ravel())[0, 1] > 0.999


def test_raster_from_a_source_keeps_its_photometric_rule(tmp_path):
    """A published PNG of MONOCHROME1 values (BIMCV: photometric in its table, not display-ready) is inverted."""
    a = np.random.default_rng(1).integers(0, 65535, size=(20, 30), dtype=np.uint16)
    p = tmp_path / "x.png"
    Image.fromarray(a).save(p)
    assert np.allclose(read_xray(p, photometric="MONOCHROME1"), 1 - a / 65535.0, atol=1e-6)
    assert np.allclose(read_xray(p, presentation_lut_shape="INVERSE"), 1 - a / 65535.0, atol=1e-6)
    assert np.allclose(read_xray(p, photometric="MONOCHROME1", display_ready=True), a / 65535.0, atol=1e-6)


def test_dicom_presentation_lut_inverse_counts(tmp_path):
    stored = np.random.default_rng(2).integers(0, 4096, size=(24, 20), dtype=np.uint16)
    ident = read_xray(make_cr(tmp_path / "a.dcm", rows=24, cols=20, pixels=stored))
    inv = read_xray(make_cr(tmp_path / "b.dcm", rows=24, cols=20, pixels=stored, PresentationLUTShape="INVERSE"))
    assert np.abs(inv - (1 - ident)).max() < 1e-6


@pytest.mark.realdata
def test_real_monochrome1_ingest_reaches_the_model_the_right_way_up(shared_data, tmp_path):
    d = shared_data / "dicom"
    m2_name = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
    # Fake_MONOHR1 is the RSNA image (same SOP instance) with the MONOCHROME1 tag: a bank of its own
    groups = {"a": (m2_name, "RG1_J2KI.dcm", "highdicom_dx_image.dcm"), "b": ("Fake_MONOHR1.dcm",)}
    items = {}
    for g, names in groups.items():
        raw = tmp_path / f"raw-{g}"
        raw.mkdir()
        for n in names:
            (raw / n).symlink_to(d / n)
        ingest(raw, tmp_path / f"bank-{g}", key_file=tmp_path / "key", new_key=True, follow_symlinks=True)
        items[g] = _ingested_items(tmp_path / f"bank-{g}")
    all_items = items["a"] + items["b"]
    assert sorted(rec["photometric"] for _, _, rec in all_items) == ["MONOCHROME1"] * 3 + ["MONOCHROME2"]
    for img, png, rec in all_items:
        c = np.corrcoef(img.ravel()[::7], png.ravel()[::7])[0, 1]
        assert c > 0.9999, (rec["photometric"], c)  # was -0.999 for MONOCHROME1
    # same stored values, MONOCHROME1 tag: the model sees the negative of the MONOCHROME2 image
    m2 = next(img for img, _, rec in items["a"] if rec["photometric"] == "MONOCHROME2")
    m1 = items["b"][0][0]
    assert m1.shape == m2.shape == (1024, 1024)
    assert np.abs(m1 - (1 - m2)).max() < 1e-3
