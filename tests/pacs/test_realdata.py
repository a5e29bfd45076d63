"""Real public DICOM (../shared/data) served by Orthanc and pulled over C-GET and WADO-RS: the bank equals an
ingest of the same files, every study reconciles, and none of their identifiers reach the bank."""
from __future__ import annotations

import gzip
import json
import re
import shutil

import pydicom
import pytest
from dicom.test_ingest import _all_text, _bank_files
from orthanc_server import orthanc_server

from covidbank.dicom.ingest import ingest
from covidbank.pacs import DicomwebArchive, DimseArchive, Manifest, pull, read_cohort

pytestmark = pytest.mark.realdata

XRAYS = ["RG1_J2KI.dcm", "ctbrain1.dcm", "ctbrain2.dcm", "highdicom_dx_image.dcm",
         "1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm",
         "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"]


def _files(bank):
    return {k: v for k, v in _bank_files(bank).items() if not k.startswith(("logs/pull", "logs/audit"))}


def _audits(bank):
    """Audit records without the keyed hashes of old values: an archive may re-encode a private attribute (a
    value of VR UN given its dictionary VR) so its hash differs, while the same attribute gets the same action."""
    out = {}
    for p in sorted((bank / "logs" / "audit").rglob("*.gz")):
        recs = [json.loads(x) for x in gzip.decompress(p.read_bytes()).decode().splitlines()]
        out[str(p.relative_to(bank))] = [(r["instance"], sorted((a["tag"], a["action"], a["path"]) for a in r["records"]))
                                         for r in recs]
    return out


def test_real_files_pulled_over_dimse_and_dicomweb(shared_data, tmp_path):
    raw = tmp_path / "raw"
    files = [shared_data / "dicom" / n for n in XRAYS]
    files += sorted(p for p in (shared_data / "ct" / "covid19-ny-sbu-slices").rglob("*")
                    if p.is_file() and p.suffix not in (".md", ".txt") and not p.name.startswith("LICENSE"))
    ids, idents, sops = set(), set(), set()
    for i, f in enumerate(files):
        dst = raw / f"{i:03d}.dcm"
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(f, dst)
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        ids.add(str(ds.PatientID))
        sops.add(str(ds.SOPInstanceUID))  # the archive keeps one copy of an instance stored twice
        for kw in ("PatientID", "PatientName", "AccessionNumber", "InstitutionName", "ReferringPhysicianName",
                   "StudyInstanceUID", "SOPInstanceUID"):
            v = str(ds.get(kw, "") or "").strip()
            if len(v) >= 5:
                idents.add(v)
    ingest(raw, tmp_path / "ref", key_file=tmp_path / "key", new_key=True)
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id\n" + "\n".join(sorted(ids)) + "\n")
    with orthanc_server() as o:
        for f in sorted(raw.iterdir()):
            o.upload(f)
        for name, archive in (("dimse", DimseArchive(o.pacs)), ("web", DicomwebArchive(o.dicomweb_url))):
            s = pull(read_cohort(cohort), tmp_path / name, archive, key_file=tmp_path / "key", new_key=True,
                     staging=tmp_path / "staging", private_dir=tmp_path / "private", workers=2)
            assert s.not_complete == 0 and s.entries_without_studies == 0, (name, s)
            assert s.received == s.expected == len(sops)
            assert set(Manifest(tmp_path / name).table()["status"]) == {"complete"}
            assert _files(tmp_path / name) == _files(tmp_path / "ref"), name
            assert _audits(tmp_path / name) == _audits(tmp_path / "ref"), name
            text = _all_text(tmp_path / name)
            leaked = [v for v in idents if re.search(r"(?<![0-9A-Za-z])" + re.escape(v) + r"(?![0-9A-Za-z])", text)]
            assert leaked == [] and "SIMPSON" not in text, name
    assert not (tmp_path / "staging").exists()
