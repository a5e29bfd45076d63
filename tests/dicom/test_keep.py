"""``ingest --keep-dicom``: de-identified instances kept under sourcedata/, no PHI, resumable, usable for SEG."""
from __future__ import annotations

import json

import numpy as np
import pydicom
from dicom_factory import make_cr, make_ct_series, phi_dataset

from covidbank.dicom.deid import DeidOptions
from covidbank.dicom.ingest import ingest
from covidbank.dicom.mids import validate
from covidbank.dicom.profile import load_profile

from .test_ingest import _all_text


def test_kept_instances_layout_sidecar_and_resume(tmp_path):
    raw = tmp_path / "raw"
    make_ct_series(raw / "ct", n=4, patient_id="P001")
    make_cr(raw / "xr" / "a.dcm", patient_id="P001")
    bank = tmp_path / "bank"
    s = ingest(raw, bank, key_file=tmp_path / "key", new_key=True, keep_dicom=True)
    assert s.converted == 2
    kept = sorted((bank / "sourcedata").rglob("*.dcm"))
    assert len(kept) == 5 and all(p.name[:4].isdigit() for p in kept)
    side = json.loads(next(bank.rglob("sub-*/ses-*/mod-ct/*.json")).read_text())
    k = side["covidbank"]["kept_dicom"]
    assert k["instances"] == 4 and k["folder"].startswith("sourcedata/sub-")
    files = sorted((bank / k["folder"]).glob("*.dcm"))
    assert k["bytes"] == sum(p.stat().st_size for p in files)
    dss = [pydicom.dcmread(p) for p in files]
    assert all(d.PatientIdentityRemoved == "YES" and d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in dss)
    assert all(d.preamble == b"\0" * 128 for d in dss)
    z = [float(d.ImagePositionPatient[2]) for d in dss]
    assert z == sorted(z)  # named in slice order
    # the kept series reads as the same volume as the bank's NIfTI
    from covidbank.pixels import read_ct

    nii = next(bank.rglob("sub-*/ses-*/mod-ct/*.nii.gz"))
    assert np.array_equal(read_ct(bank / k["folder"]).data, read_ct(nii).data)
    assert validate(bank) == []
    before = {p: p.stat().st_mtime_ns for p in kept}
    s2 = ingest(raw, bank, key_file=tmp_path / "key", new_key=True, keep_dicom=True)
    assert s2.converted == 0 and s2.resumed == 2
    assert {p: p.stat().st_mtime_ns for p in sorted((bank / "sourcedata").rglob("*.dcm"))} == before


def test_without_the_option_nothing_is_kept(tmp_path):
    raw = tmp_path / "raw"
    make_ct_series(raw / "ct", n=3)
    ingest(raw, tmp_path / "bank", key_file=tmp_path / "key", new_key=True)
    assert not (tmp_path / "bank" / "sourcedata").exists()


def test_no_phi_marker_in_kept_files(tmp_path):
    table = load_profile()
    ds, markers, dates = phi_dataset(table.rows)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.ImageOrientationPatient, ds.ImagePositionPatient, ds.PixelSpacing = [1, 0, 0, 0, 1, 0], [0, 0, 0], [1, 1]
    raw = tmp_path / "raw"
    raw.mkdir()
    ds.preamble = b"MRKPREAMBLE" + b"\0" * 117  # a preamble is 128 bytes nobody looks at
    ds.save_as(raw / "phi_ct.dcm", enforce_file_format=True)
    bank = tmp_path / "bank"
    # patient characteristics are kept by default (an option): leave them out here
    s = ingest(raw, bank, key_file=tmp_path / "key", new_key=True, keep_dicom=True,
               options=DeidOptions(retain_patient_characteristics=False))
    assert s.converted == 1
    kept = list((bank / "sourcedata").rglob("*.dcm"))
    assert len(kept) == 1
    text = _all_text(bank)
    assert [m for m in markers if m in text] == [] and "MRKPREAMBLE" not in text
    assert [d for d in dates if d in text] == []


def test_cli_option(cli, tmp_path):
    raw = tmp_path / "raw"
    make_ct_series(raw / "ct", n=3)
    cli("ingest", raw, "--bank", tmp_path / "bank", "--key-file", tmp_path / "key", "--new-key", "--keep-dicom", "--no-progress",
        "--workers", "1")
    assert len(list((tmp_path / "bank" / "sourcedata").rglob("*.dcm"))) == 3
