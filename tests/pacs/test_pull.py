"""``covidbank pull`` against a real Orthanc: C-GET, C-MOVE and WADO-RS give the bank an ingest of the same files
gives; the manifest reconciles; nothing identifiable is left anywhere; the BIMCV cohort; the CLI and --status."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from dicom.test_ingest import _all_text, _bank_files
from orthanc_server import free_port

from covidbank.bank import Bank
from covidbank.dicom.ingest import ingest
from covidbank.pacs import (
    DicomwebArchive,
    DimseArchive,
    Manifest,
    cohort_from_tests,
    pull,
    read_cohort,
)
from covidbank.pacs.manifest import MANIFEST_NAME

COHORT = "patient_id,from,to,accession\nP001,2020-03-01,2020-03-31,\nP002,,,\n,,,ACC-TWO\nNOBODY,,,\nP004,,,\n"
PULLED = ("A", "B", "D", "E", "F", "G", "H")


def _files(bank: Path) -> dict[str, bytes]:
    return {k: v for k, v in _bank_files(bank).items() if not k.startswith("logs/pull")}


def _run(archive, tmp: Path, bank: str, cohort=None, **kw):
    cohort = cohort if cohort is not None else read_cohort(_cohort_csv(tmp))
    return pull(cohort, tmp / bank, archive, key_file=tmp / "key", new_key=True, staging=tmp / "staging",
                private_dir=tmp / "private", **kw)


def _cohort_csv(tmp: Path) -> Path:
    p = tmp / "cohort.csv"
    p.write_text(COHORT)
    return p


def _identifiers(seed) -> list[str]:
    out = {"ACC-TWO", "HOSPITAL GENERAL", "19660102"}
    for p in seed.files(*seed.studies):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out |= {str(ds.PatientID), str(ds.PatientName), str(ds.AccessionNumber), str(ds.StudyInstanceUID),
                str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
    return sorted(out)


def _assert_nothing_raw(tmp: Path, bank: Path) -> None:
    assert not (tmp / "staging").exists() or not [p for p in (tmp / "staging").rglob("*") if p.is_file()]
    for p in bank.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                assert f.read(132)[128:] != b"DICM", f"raw DICOM in the bank: {p}"


@pytest.fixture(scope="module")
def reference(seeded, tmp_path_factory):
    """``covidbank ingest`` of the very files the cohort selects, with the same key."""
    orthanc, seed = seeded
    tmp = tmp_path_factory.mktemp("reference")
    raw = seed.copy(tmp / "raw", *PULLED)
    key = tmp / "key"
    ingest(raw, tmp / "bank", key_file=key, new_key=True)
    return tmp / "bank", key


def test_cget_pull_equals_an_ingest_of_the_same_files(seeded, reference, tmp_path):
    orthanc, seed = seeded
    ref_bank, key = reference
    (tmp_path / "key").write_bytes(key.read_bytes())
    (tmp_path / "key").chmod(0o600)  # a key readable by others is refused
    archive = DimseArchive(orthanc.pacs)
    s = _run(archive, tmp_path, "bank")
    assert (s.entries, s.studies, s.complete, s.not_complete, s.entries_without_studies) == (5, 7, 7, 0, 1)
    assert (s.expected, s.received, s.converted, s.skipped, s.failed) == (14, 14, 13, 1, 0)
    # two transfer threads by default over DIMSE (pynetdicom's polling threads share the interpreter lock: 8 ran
    # at half the speed of 2), each with its association, plus the C-ECHO's
    assert archive.associations <= 3
    bank = tmp_path / "bank"
    assert _files(bank) == _files(ref_bank)
    a, b = Bank(bank), Bank(ref_bank)
    for t in ("images", "sessions", "subjects"):
        x, y = (d.table(t).drop(columns=["path"], errors="ignore").sort_values(d.table(t).columns[0])
                .reset_index(drop=True) for d in (a, b))
        pd.testing.assert_frame_equal(x, y)
    skipped = a.table("skipped")
    assert list(skipped["reason"]) == ["non_image_sop_class"]  # a reason code (covidbank.dicom.reasons)
    _assert_nothing_raw(tmp_path, bank)
    text = _all_text(bank)
    for ident in _identifiers(seed):
        assert ident not in text, f"an identifier reached the bank: {ident}"


def test_manifest_reconciles_lines_studies_and_instances(seeded, tmp_path):
    orthanc, seed = seeded
    _run(DimseArchive(orthanc.pacs), tmp_path, "bank")
    t = Manifest(tmp_path / "bank").table()
    by_line = {line: g for line, g in t.groupby("line")}
    assert sorted(by_line) == [2, 3, 4, 5, 6]
    assert list(by_line[2]["studies"]) == [2, 2] and set(by_line[2]["status"]) == {"complete"}
    assert sorted(by_line[2]["received"]) == [1, 2]
    acc = by_line[4]
    assert list(acc["entry"].str.split().str[0]) == ["accession", "accession"] and list(acc["studies"]) == [2, 2]
    assert acc["session"].nunique() == 2 and acc["subject"].nunique() == 1
    assert by_line[5]["status"].tolist() == ["no studies"] and by_line[5]["study"].isna().all()
    h = by_line[6].iloc[0]
    assert (h["expected"], h["received"], h["converted"], h["skipped"], h["status"]) == (2, 2, 1, 1, "complete")
    assert set(by_line[3]["modalities"]) == {"CT", "DX"}
    raw = (tmp_path / "bank" / MANIFEST_NAME).read_text()
    for ident in _identifiers(seed):
        assert ident not in raw
    # the private log, outside the bank and readable by its owner only, maps tokens back
    logs = list((tmp_path / "private").glob("pull-*.jsonl"))
    assert len(logs) == 1 and stat.S_IMODE(os.stat(logs[0]).st_mode) == 0o600
    recs = [json.loads(x) for x in logs[0].read_text().splitlines()]
    studies = {r["study"]: r for r in recs if r["kind"] == "study"}
    assert {r["accession"] for r in studies.values()} >= {"ACC-TWO"}
    mf = json.loads(raw)
    assert set(mf["studies"]) == set(studies)


def test_cmove_to_our_storage_scp_and_wado_rs_give_the_same_bank(seeded, tmp_path):
    orthanc, seed = seeded
    _run(DimseArchive(orthanc.pacs), tmp_path, "get")
    port = free_port()
    orthanc.add_modality("covidbank-test", "COVIDBANK", port)
    s = _run(DimseArchive(orthanc.pacs, method="move", move_port=port, move_host="127.0.0.1"), tmp_path, "move")
    assert s.complete == 7 and s.received == 14
    w = _run(DicomwebArchive(orthanc.dicomweb_url), tmp_path, "wado")
    assert w.complete == 7 and w.received == 14
    assert _files(tmp_path / "move") == _files(tmp_path / "get") == _files(tmp_path / "wado")
    methods = {s["method"] for s in json.loads((tmp_path / "move" / MANIFEST_NAME).read_text())["studies"].values()}
    assert methods == {"move"}
    _assert_nothing_raw(tmp_path, tmp_path / "move")


def test_modalities_filter_and_series_level(seeded, tmp_path):
    orthanc, seed = seeded
    cohort = [e for e in read_cohort(_cohort_csv(tmp_path)) if e.patient_id in ("P002", "P004")]
    s = _run(DimseArchive(orthanc.pacs), tmp_path, "bank", cohort=cohort, modalities=["CT"], level="series")
    assert s.studies == 3 and s.complete == 1 and s.converted == 6
    st = Manifest(tmp_path / "bank").table().set_index("line")["status"]
    assert sorted(st) == ["complete", "no matching series", "no matching series"]
    assert len(list((tmp_path / "bank").glob("sub-*/ses-*/mod-ct/*.nii.gz"))) == 1
    assert not list((tmp_path / "bank").glob("sub-*/ses-*/mod-rx/*"))


def test_rerun_skips_complete_studies_without_transfer(seeded, tmp_path):
    orthanc, seed = seeded
    _run(DicomwebArchive(orthanc.dicomweb_url), tmp_path, "bank")
    before = _files(tmp_path / "bank")
    seen = []
    s = _run(DicomwebArchive(orthanc.dicomweb_url), tmp_path, "bank", progress=lambda ev, **k: seen.append(ev))
    assert s.done_before == 7 and s.received == 0 and "instance" not in seen
    assert _files(tmp_path / "bank") == before


def test_bimcv_cohort_from_a_tests_csv(seeded, tmp_path, cli):
    orthanc, seed = seeded
    tests = tmp_path / "tests.csv"
    tests.write_text("patient_id,date,test_type,result\n"
                     "P001,2020-03-14,PCR,positive\n"   # in: positive PCR in the period
                     "P002,2020-03-20,PCR,negative\n"   # out: negative
                     "P002,2020-06-20,IgG,positive\n"   # out: outside the period
                     "P003,2020-03-22,antigen,positive\n"  # out: antigen is not in the BIMCV rule
                     "P004,2020-03-30,IgM,Positivo\n"   # in: IgM, Spanish result
                     "NOBODY,2020-03-02,PCR,positive\n")  # in, but no studies
    cohort = cohort_from_tests(tests, date_from=pd.Timestamp("2020-03-01").date(),
                               date_to=pd.Timestamp("2020-03-31").date())
    assert [(e.line, e.patient_id) for e in cohort] == [(2, "P001"), (6, "P004"), (7, "NOBODY")]
    bank = tmp_path / "bank"
    res = cli("pull", "--tests", tests, "--positive", "--from", "2020-03-01", "--to", "2020-03-31", "--bank", bank,
              "--pacs", orthanc.pacs, "--key-file", tmp_path / "key", "--new-key", "--staging", tmp_path / "staging",
              "--private-dir", tmp_path / "private", "--modalities", "CR,DX,CT", "--workers", "1", "--no-progress")
    assert "complete 3" in res.output
    t = Manifest(bank).table()
    assert sorted(t["line"].unique()) == [2, 6, 7]
    assert t.loc[t.line == 7, "status"].tolist() == ["no studies"]
    assert sorted(t.loc[t.line == 2, "received"]) == [1, 2]  # only March's studies of P001
    st = cli("pull", "--status", "--bank", bank, "--format", "json")
    rows = json.loads(st.output)
    assert {r["status"] for r in rows} == {"complete", "no studies"}
    table = cli("pull", "--status", "--bank", bank)
    assert "no studies" in table.output and "instances expected 4, received 4, converted 4" in table.output
    _assert_nothing_raw(tmp_path, bank)


def test_cli_errors_are_one_line(tmp_path, cli):
    res = cli("pull", "--bank", tmp_path / "b", "--cohort", tmp_path / "missing.csv", "--pacs", "A@127.0.0.1:1",
              expect=1)
    assert "cohort file not found" in res.output
    res = cli("pull", "--bank", tmp_path / "b", "--status", expect=1)
    assert "no pull manifest" in res.output
    (tmp_path / "c.csv").write_text("patient_id\nP1\n")
    res = cli("pull", "--bank", tmp_path / "b", "--cohort", tmp_path / "c.csv", expect=2)
    assert "--pacs" in res.output
    res = cli("pull", "--bank", tmp_path / "b", "--cohort", tmp_path / "c.csv", "--pacs", f"A@127.0.0.1:{free_port()}",
              "--key-file", tmp_path / "key", "--new-key", "--staging", tmp_path / "b" / "stage", expect=1)
    assert "outside the bank" in res.output


def test_conversion_on_a_dask_cluster_gives_the_same_bank(seeded, tmp_path):
    distributed = pytest.importorskip("distributed")
    orthanc, seed = seeded
    cohort = [e for e in read_cohort(_cohort_csv(tmp_path)) if e.patient_id in ("P001", "P002")]
    _run(DicomwebArchive(orthanc.dicomweb_url), tmp_path, "local", cohort=cohort, workers=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        s = _run(DicomwebArchive(orthanc.dicomweb_url), tmp_path, "dask", cohort=cohort,
                 scheduler=cluster.scheduler_address)
    assert s.complete == 4 and s.converted == 10
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")


def test_cli_says_when_the_archive_does_not_answer(tmp_path, cli):
    (tmp_path / "c.csv").write_text("patient_id\nP1\n")
    res = cli("pull", "--bank", tmp_path / "b", "--cohort", tmp_path / "c.csv", "--pacs",
              f"PACS@127.0.0.1:{free_port()}", "--timeout", "3", "--key-file", tmp_path / "key", "--new-key", "--staging",
              tmp_path / "st", "--private-dir", tmp_path / "priv", expect=1)
    assert "cannot connect" in res.output or "no association" in res.output
    assert not (tmp_path / "st").exists()


def test_canary_in_headers_cohort_and_names_never_reaches_the_bank(seeded, tmp_path):
    """A token in the archive's header values (patient, study, series, institution, maker, accession), the cohort
    file's name and its lines (ids that find nothing, a bad date) and a skipped instance (a structured report) is
    found nowhere in the bank: tables, sidecars, manifest, pull log, skip reasons, notes, file names."""
    from dicom_factory import make_cr, make_sr

    orthanc, _ = seeded
    canary = "ZQXCANARY"
    study = pydicom.uid.generate_uid()
    raw = tmp_path / f"raw_{canary}"
    cr = make_cr(raw / f"{canary}_1.dcm", patient_id=f"{canary}PID", study_uid=study, study_date="20200610", seed=11,
                 PatientName=f"{canary}^NAME", StudyDescription=f"{canary} study", SeriesDescription=f"{canary} s",
                 InstitutionName=f"{canary} hospital", Manufacturer=f"{canary} maker", AccessionNumber=f"{canary}ACC")
    sr = make_sr(raw / f"{canary}_2.dcm", patient_id=f"{canary}PID")
    ds = pydicom.dcmread(sr)
    ds.StudyInstanceUID, ds.StudyDate, ds.SeriesNumber = study, "20200610", 2
    ds.SeriesDescription = f"{canary} report"
    ds.save_as(sr, enforce_file_format=True)
    added = [orthanc.upload(p) for p in (cr, sr)]
    try:
        cohort = tmp_path / f"cohort_{canary}.csv"
        cohort.write_text(f"patient_id,from,to,accession\n{canary}PID,,,\n{canary}NOBODY,,,\n,,,{canary}NOACC\n")
        s = pull(read_cohort(cohort), tmp_path / "bank", DimseArchive(orthanc.pacs), key_file=tmp_path / "key",
                 new_key=True, staging=tmp_path / "staging", private_dir=tmp_path / "private")
        assert (s.studies, s.converted, s.skipped) == (1, 1, 1), s
    finally:
        for a in added:
            orthanc.request("DELETE", f"/instances/{a['ID']}")
    bank = tmp_path / "bank"
    assert list(Bank(bank).table("skipped")["reason"]) == ["non_image_sop_class"]  # not vacuous
    text = _all_text(bank)
    at = text.find(canary)
    assert at < 0, text[max(0, at - 300): at + 100]
    assert canary not in " ".join(s.notes)
