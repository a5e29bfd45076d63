"""A seeded archive for the pull tests: several patients, CR/DX/CT, compressed transfer syntaxes, an accession
with two studies, a non-image instance; the raw files kept beside so a pull can be compared with an ingest."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from dicom_factory import make_cr, make_ct_series, make_sr
from pydicom.uid import JPEGLSLossless, RLELossless, generate_uid


@dataclass
class Seed:
    """What the archive holds: raw files per study label, and the labels a cohort selects."""

    root: Path
    studies: dict[str, list[Path]] = field(default_factory=dict)
    patient_ids: list[str] = field(default_factory=list)

    def files(self, *labels: str) -> list[Path]:
        return [p for lab in labels for p in self.studies[lab]]

    def copy(self, dest: Path, *labels: str) -> Path:
        """The raw files of ``labels`` copied under ``dest`` (for a reference ``covidbank ingest``)."""
        for lab in labels:
            for p in self.studies[lab]:
                q = dest / lab / p.name
                q.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(p, q)
        return dest


def _compress(path: Path, syntax) -> Path:
    ds = pydicom.dcmread(path)
    ds.compress(syntax)
    ds.save_as(path, enforce_file_format=True)
    return path


def seed_files(root: Path) -> Seed:
    """Write the test archive's studies under ``root`` (see module docstring)."""
    s = Seed(root)
    # P001: two studies in March 2020 (RLE; JPEG-LS + uncompressed in one series) and one in 2021
    a = make_cr(root / "A" / "a1.dcm", patient_id="P001", study_date="20200315", seed=1, window=(2000, 3000))
    s.studies["A"] = [_compress(a, RLELossless)]
    study_b, series_b = generate_uid(), generate_uid()
    b1 = make_cr(root / "B" / "b1.dcm", patient_id="P001", study_uid=study_b, series_uid=series_b,
                 study_date="20200320", seed=2, view="PA", InstanceNumber=1)
    b2 = make_cr(root / "B" / "b2.dcm", patient_id="P001", study_uid=study_b, series_uid=series_b,
                 study_date="20200320", seed=3, view="LL", InstanceNumber=2)
    s.studies["B"] = [_compress(b1, JPEGLSLossless), b2]
    s.studies["C"] = [make_cr(root / "C" / "c1.dcm", patient_id="P001", study_date="20210110", seed=4)]
    # P002: a CT study and a DX study
    ct, _ = make_ct_series(root / "D", n=6, patient_id="P002", seed=5)
    for p in ct:
        ds = pydicom.dcmread(p)
        ds.StudyDate = "20200401"
        ds.save_as(p, enforce_file_format=True)
    s.studies["D"] = ct
    s.studies["E"] = [make_cr(root / "E" / "e1.dcm", patient_id="P002", modality="DX", study_date="20200402",
                              seed=6, view="AP")]
    # P003: one accession number for two studies
    s.studies["F"] = [make_cr(root / "F" / "f1.dcm", patient_id="P003", study_date="20200501", seed=7,
                              AccessionNumber="ACC-TWO")]
    s.studies["G"] = [make_cr(root / "G" / "g1.dcm", patient_id="P003", study_date="20200502", seed=8,
                              AccessionNumber="ACC-TWO")]
    # P004: a CR study with a structured report in a second series
    study_h = generate_uid()
    h1 = make_cr(root / "H" / "h1.dcm", patient_id="P004", study_uid=study_h, study_date="20200318", seed=9)
    h2 = make_sr(root / "H" / "h2.dcm", patient_id="P004")
    ds = pydicom.dcmread(h2)
    ds.StudyInstanceUID, ds.StudyDate, ds.SeriesNumber = study_h, "20200318", 2
    ds.save_as(h2, enforce_file_format=True)
    s.studies["H"] = [h1, h2]
    s.patient_ids = ["P001", "P002", "P003", "P004"]
    return s


def upload(orthanc, seed: Seed, *labels: str) -> None:
    for lab in labels or seed.studies:
        for p in seed.studies[lab]:
            orthanc.upload(p)


@pytest.fixture(scope="module")
def seeded(orthanc, tmp_path_factory):
    """The session's Orthanc cleared and loaded with :func:`seed_files` (for the tests of one module)."""
    seed = seed_files(tmp_path_factory.mktemp("archive"))
    orthanc.clear()
    upload(orthanc, seed)
    return orthanc, seed
