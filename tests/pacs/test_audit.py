"""A pulled bank passes ``covidbank audit``: a cohort full of identifiers (names, ids, dates, addresses, every
PS3.15 Table E.1-1 attribute, in the headers and in the lab-tests CSV) goes through a real Orthanc over C-GET,
C-MOVE and WADO-RS, and the audit, seeded with the raw headers and the tests CSV, finds nothing in the bank."""
from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from dicom_factory import bank_text, make_cr, make_ct_series, phi_dataset
from orthanc_server import free_port
from pydicom.uid import RLELossless, generate_uid

from covidbank.audit import audit
from covidbank.dicom.profile import load_profile
from covidbank.pacs import DicomwebArchive, DimseArchive, cohort_from_tests, pull

# realistic identifiers: Spanish names (with accents and two surnames), national ids, addresses, phones, dates
PEOPLE = [
    ("12345678Z", "GARCÍA LÓPEZ^MARÍA JOSÉ", "19540317", "CALLE DEL PEZ 12, MADRID", "+34 612 345 678"),
    ("X9876543L", "FERNÁNDEZ RUIZ^JUAN ANTONIO", "19610925", "AVENIDA DEL PUERTO 221, VALENCIA", "963 112 233"),
    ("HCV-0042117", "O'NEILL^SIOBHAN", "19790101", "PLAZA MAYOR 3, ALICANTE", "965 000 111"),
]
TESTS = ("patient_id,date,test_type,result\n"
         "12345678Z,2020-03-14,PCR,positive\n"
         "X9876543L,2020-03-20,IgG,Positivo\n"
         "HCV-0042117,2020-03-22,IgM,positive\n"
         "MRKPID0001,2020-03-25,PCR,positive\n")


def _person(ds, pid: str, name: str, birth: str, address: str, phone: str, i: int) -> None:
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = pid, name, birth
    ds.PatientAddress, ds.PatientTelephoneNumbers = address, phone
    ds.OtherPatientIDs = f"NHC{i:07d}"
    ds.AccessionNumber = f"RX20{i:06d}"
    ds.StudyID = f"E{i:05d}"
    ds.ReferringPhysicianName = "PÉREZ GIL^ANA"
    ds.PerformingPhysicianName = "MARTÍN^LUIS"
    ds.OperatorsName = "SOTO^RAQUEL"
    ds.InstitutionName = "HOSPITAL GENERAL UNIVERSITARIO DE ELDA"
    ds.InstitutionAddress = "CTRA. SAX S/N, ELDA"
    ds.StationName = "RXPORTATIL3"
    ds.DeviceSerialNumber = f"SN-88{i:04d}"
    ds.StudyDescription = f"TORAX PA {name.split('^')[0]}"
    ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate = ds.StudyDate
    ds.StudyTime = ds.AcquisitionTime = "093012"


def _cohort(root: Path) -> list[Path]:
    """The cohort's raw files: CR (RLE and plain), DX, a CT, and the every-attribute marker image."""
    files = []
    for i, (pid, name, birth, address, phone) in enumerate(PEOPLE):
        study = generate_uid()
        for j, (mod, date) in enumerate((("CR", "20200315"), ("DX", "20200316"))):
            p = make_cr(root / pid / f"{mod}.dcm", patient_id=pid, study_uid=study, study_date=date, seed=10 * i + j,
                        modality=mod, rows=96, cols=80, InstanceNumber=j + 1, SeriesNumber=j + 1)
            ds = pydicom.dcmread(p)
            _person(ds, pid, name, birth, address, phone, i)
            if j == 0 and i == 0:
                ds.compress(RLELossless)
            ds.save_as(p, enforce_file_format=True)
            files.append(p)
    paths, _ = make_ct_series(root / "ct", n=4, patient_id=PEOPLE[1][0], rows=32, cols=32, seed=3)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.StudyDate = "20200321"
        _person(ds, *PEOPLE[1], 1)
        ds.save_as(p, enforce_file_format=True)
        files.append(p)
    ds, markers, _ = phi_dataset(load_profile().rows)  # every Table E.1-1 attribute with a unique marker
    ds.StudyDate = "20200326"
    p = root / "phi" / "phi.dcm"
    p.parent.mkdir(parents=True)
    ds.save_as(p, enforce_file_format=True)
    files.append(p)
    return files


@pytest.fixture(scope="module")
def identified(orthanc, tmp_path_factory):
    root = tmp_path_factory.mktemp("identified")
    files = _cohort(root / "raw")
    orthanc.clear()
    for p in files:
        orthanc.upload(p)
    tests = root / "tests.csv"
    tests.write_text(TESTS, encoding="utf-8")
    return orthanc, root / "raw", tests, len(files)


@pytest.mark.parametrize("method", ["get", "move", "dicomweb"])
def test_audit_finds_nothing_in_a_pulled_bank(identified, tmp_path, method):
    orthanc, raw, tests, n = identified
    if method == "dicomweb":
        archive = DicomwebArchive(orthanc.dicomweb_url)
    elif method == "move":
        port = free_port()
        orthanc.add_modality("audit-move", "AUDITMOVE", port)  # an AE title of its own: the archive is shared
        archive = DimseArchive(orthanc.pacs, calling_aet="AUDITMOVE", method="move", move_port=port,
                               move_host="127.0.0.1")
    else:
        archive = DimseArchive(orthanc.pacs)
    import datetime as dt

    cohort = cohort_from_tests(tests, date_from=dt.date(2020, 3, 1), date_to=dt.date(2020, 3, 31))
    bank = tmp_path / "bank"
    s = pull(cohort, bank, archive, key_file=tmp_path / "keys" / "k", new_key=True, staging=tmp_path / "staging",
             private_dir=tmp_path / "keys" / "private", workers=1)
    assert s.not_complete == 0 and s.received == n and s.converted == n, s
    # not vacuous: the bank holds images, pseudonymised subjects, and the pull's manifest and logs
    text = bank_text(bank)
    assert "sub-S" in text and len(list(bank.glob("sub-*/ses-*/mod-*/*.json"))) >= 8
    assert (bank / "logs" / "pull_manifest.json").exists() and (bank / "logs" / "pull.jsonl").exists()
    rep = audit(bank, raw=raw, tests=[tests], key_file=tmp_path / "keys" / "k")
    assert rep.terms > 50 and rep.files > 10
    assert rep.ok, [f.to_dict() for f in rep.findings]
    # the same values given to the audit directly (as a curator would paste them)
    for pid, name, birth, address, phone in PEOPLE:
        for value in (pid, name, name.split("^")[0], address, "RX20000001"):
            assert value not in text
