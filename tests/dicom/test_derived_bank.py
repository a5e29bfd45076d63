"""A bank's CTs as DICOM SEG/SR: export-dicom, push to a real Orthanc (C-STORE and STOW-RS), pull back, import."""
from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from severity.ct_phantoms import make_phantom, write_dicom_series

from covidbank.dicom.derived import read_seg, segments_of
from covidbank.dicom.derived.bank import export_bank, kept_series
from covidbank.dicom.ingest import ingest
from covidbank.severity import assess

pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """A bank ingested with --keep-dicom from the phantom series (a chest CT, gradable) and a slab (not gradable)."""
    d = tmp_path_factory.mktemp("bank")
    ph = make_phantom()
    write_dicom_series(ph, d / "raw" / "chest")
    b = d / "bank"
    s = ingest(d / "raw", b, key_file=d / "key", new_key=True, keep_dicom=True)
    assert s.converted == 1
    return b


def _content(data: bytes) -> bytes:
    """A DICOM file's data set encoded without its file meta (what an archive must keep unchanged)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(buf, ds)
    return buf.getvalue()


def test_export_dicom_writes_seg_and_sr_for_kept_series(cli, bank):
    r = cli("export-dicom", bank, "--json")
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["outcome"] == "written" and rows[0]["category"] == "CT-1"
    k = kept_series(bank)[0]
    seg = bank / "derivatives" / "dicom" / k.rel_dir / f"{k.stem}_seg.dcm"
    sr = seg.with_name(f"{k.stem}_sr.dcm")
    assert str(seg) == rows[0]["seg"] and sr.is_file()
    # the SEG references the kept (de-identified) instances, and holds the masks of the assessment
    res = assess(k.folder)
    back = read_seg(seg, k.folder, res.ct.affine, res.ct.shape)
    for key, m in segments_of(res).items():
        assert np.array_equal(back[key], m), key
    kept_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in k.folder.glob("*.dcm")}
    ds = pydicom.dcmread(seg, stop_before_pixels=True)
    assert {r.ReferencedSOPInstanceUID for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence} <= kept_uids
    assert ds.PatientIdentityRemoved == "YES" and "Phantom" not in str(ds.PatientName)


def test_export_without_kept_dicom_says_so(cli, tmp_path):
    from dicom_factory import make_ct_series

    make_ct_series(tmp_path / "raw" / "ct", n=3)
    ingest(tmp_path / "raw", tmp_path / "b", key_file=tmp_path / "key", new_key=True)
    rows = export_bank(tmp_path / "b")
    assert [r.outcome for r in rows] == ["no-kept-dicom"]
    r = cli("push", tmp_path / "b", "--pacs", "X@127.0.0.1:1", expect=1)
    assert "no DICOM files to send" in r.output


def test_push_cstore_to_orthanc_pull_back_and_import(cli, bank, orthanc, tmp_path):
    orthanc.clear()
    cli("export-dicom", bank)
    derived = sorted((bank / "derivatives" / "dicom").rglob("*.dcm"))
    assert len(derived) == 2
    r = cli("push", bank, "--pacs", orthanc.pacs, "--images")
    n_kept = len(list((bank / "sourcedata").rglob("*.dcm")))
    assert f"{n_kept + 2} of {n_kept + 2} file(s) stored" in r.output
    # pulled back from the archive, the SEG and SR are the same data sets
    got = {}
    for oid in orthanc.instances():
        data = orthanc.request("GET", f"/instances/{oid}/file")
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        got[str(ds.SOPInstanceUID)] = data
    for f in derived:
        uid = str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)
        assert _content(got[uid]) == _content(f.read_bytes()), f.name
    # ... and read back into the bank: masks equal to the ones written, SR rows in a table
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for uid, data in got.items():
        (pulled / f"{uid}.dcm").write_bytes(data)
    r = cli("import-derived", pulled, "--bank", bank)
    assert "reference no kept series" in r.output
    k = kept_series(bank)[0]
    res = assess(k.folder)
    from covidbank.pixels import read_ct

    for key, m in segments_of(res).items():
        back = read_ct(bank / "derivatives" / "dicom-derived" / k.rel_dir / f"{k.stem}_seg-{key.replace('_', '-')}.nii.gz")
        assert np.array_equal(back.data > 0, m), key
    from covidbank.bank import Bank

    t = Bank(bank).table("dicom_sr")
    grade = t[t["code"] == "CTSEV"]
    assert grade["value"].tolist() == ["CT-1"] and set(t["image_id"]) == {k.image_id}


def test_push_stow_rs_to_orthanc(cli, bank, orthanc):
    orthanc.clear()
    cli("export-dicom", bank)
    r = cli("push", bank, "--dicomweb", orthanc.dicomweb_url)
    assert "2 of 2 file(s) stored" in r.output
    mods = {orthanc.request("GET", f"/instances/{i}/content/0008-0060").decode().strip("\0 ") for i in orthanc.instances()}
    assert mods == {"SEG", "SR"}


def test_push_to_nothing_is_a_clear_error(cli, bank):
    from orthanc_server import free_port

    cli("export-dicom", bank)
    r = cli("push", bank, "--pacs", f"NOBODY@127.0.0.1:{free_port()}", "--timeout", "3", expect=1)
    assert "association not established" in r.output
    r = cli("push", bank, "--pacs", "not-a-pacs", expect=1)
    assert "AET@HOST:PORT" in r.output


def test_canary_in_a_foreign_seg_and_sr_reaches_no_bank_file(bank, tmp_path):
    """SEG and SR edited elsewhere (a viewer, a PACS) come back with free text: segment labels and tracking ids,
    the SR's tracking identifiers and code meanings, their file names. Imported into the bank, none of it is in a
    file name or the ``dicom_sr`` table (the mask file was named after the segment's label or tracking id, and the
    SR rows copied the group's identifier and every code meaning)."""
    import shutil

    from dicom_factory import bank_text

    from covidbank.bank import Bank
    from covidbank.dicom.derived.bank import import_derived

    canary = "ZQXCANARY"
    b = tmp_path / "bank"
    shutil.copytree(bank, b)
    shutil.rmtree(b / "derivatives", ignore_errors=True)  # what the other tests of the module put there
    (Bank(b).index_dir / "tables" / "dicom_sr.parquet").unlink(missing_ok=True)
    export_bank(b, tmp_path / "derived")
    edited = tmp_path / f"from_{canary}"
    edited.mkdir()
    for n, f in enumerate(sorted((tmp_path / "derived").rglob("*.dcm"))):
        ds = pydicom.dcmread(f)

        def plant(_, d):
            if d.keyword in ("SegmentLabel", "TrackingID", "CodeMeaning", "SegmentDescription"):
                d.value = f"{canary}{d.keyword}"
            elif d.keyword == "TextValue":  # an SR's tracking identifier
                d.value = f"{canary} text"

        ds.walk(plant)
        ds.save_as(edited / f"{canary}_{n}.dcm")
    (edited / f"{canary}_notes.txt").write_text(canary)
    before = set(Bank(b).extra_tables())
    s = import_derived(edited, b)
    assert len(s.masks) >= 3 and s.sr_rows > 0 and s.skipped == 1, s  # not vacuous
    assert "dicom_sr" in Bank(b).extra_tables() and "dicom_sr" not in before
    t = Bank(b).table("dicom_sr")
    assert t["code"].isin(["CTSEV", "LUNGINV", "118565006"]).all() and (t["value"] == "CT-1").sum() == 1
    text = bank_text(b)
    at = text.find(canary)
    assert at < 0, text[max(0, at - 300): at + 100]
