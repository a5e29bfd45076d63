"""Ingest de-identifies report text with the patient's own header values (the header-seeded deny-list)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pydicom

from covidbank.bank import Bank
from covidbank.dicom.ingest import ingest
from covidbank.nlp import deidentify
from dicom_factory import make_cr

REPORT = "Patron intersticial bilateral en paciente zubiaurre, sin cambios respecto a estudio previo."


def test_report_names_the_patient_as_only_the_header_knows(tmp_path: Path):
    # the surname in free text, lower case, no title, no header: nothing but the DICOM header tells it is a name
    assert "zubiaurre" in deidentify(REPORT).text
    raw = tmp_path / "raw"
    make_cr(raw / "xr" / "a.dcm", patient_id="P001", study_date="20200315", seed=1)
    ds = pydicom.dcmread(raw / "xr" / "a.dcm")
    ds.PatientName = "ZUBIAURRE ECHEVERRIA^AINHOA"
    ds.save_as(raw / "xr" / "a.dcm")
    reports = tmp_path / "reports.csv"
    pd.DataFrame({"accession": ["ACCP001"], "text": [REPORT]}).to_csv(reports, index=False)
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "key", new_key=True, reports=reports)
    stored = Bank(bank).table("sessions").dropna(subset=["report"]).report.tolist()
    assert len(stored) == 1
    assert "zubiaurre" not in stored[0].lower() and "intersticial" in stored[0]
