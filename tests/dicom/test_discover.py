"""Discovery: classification and grouping from headers only."""
from __future__ import annotations

import os

import pytest

from covidbank.dicom.discover import Instance, Skip, classify_sop, discover, read_instance
from dicom_factory import make_cr, make_ct_series, make_sr


@pytest.mark.parametrize("sop,modality,expect", [
    ("1.2.840.10008.5.1.4.1.1.1", "CR", ("CR", None)),
    ("1.2.840.10008.5.1.4.1.1.1.1", "DX", ("DX", None)),
    ("1.2.840.10008.5.1.4.1.1.2", "", ("CT", None)),  # CT Image Storage without Modality
    ("1.2.840.10008.5.1.4.1.1.7", "CR", ("CR", None)),  # secondary capture of an X-ray
])
def test_image_classes(sop, modality, expect):
    assert classify_sop(sop, modality) == expect


@pytest.mark.parametrize("sop,code,words", [
    ("1.2.840.10008.5.1.4.1.1.88.67", "non_image_sop_class", "structured report"),  # X-ray radiation dose SR
    ("1.2.840.10008.5.1.4.1.1.11.1", "non_image_sop_class", "presentation state"),
    ("1.2.840.10008.5.1.4.1.1.66", "non_image_sop_class", "raw data"),
    ("1.2.840.10008.5.1.4.1.1.104.1", "non_image_sop_class", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.4", "image_class_not_ingested", "MR image"),
    ("1.2.840.10008.5.1.4.1.1.7", "secondary_capture_modality", "secondary capture of modality OT"),
    ("1.2.3.19650412.99887766", "unknown_sop_class", "1.2.3.19650412.99887766"),
])
def test_non_image_classes_have_a_reason_code(sop, code, words):
    modality, reason = classify_sop(sop, "OT")
    # the code (what a bank stores) is fixed vocabulary; the value is only in the curator's detail
    assert modality is None and reason.code == code and words in reason.detail
    assert "1965" not in reason.text and "99887766" not in reason.text


def test_grouping_files_without_extension_and_skips(tmp_path):
    make_cr(tmp_path / "a" / "b" / "IM0001", patient_id="X", study_uid="1.2.3", series_uid="1.2.3.1")
    make_cr(tmp_path / "a" / "IM0002", patient_id="X", study_uid="1.2.3", series_uid="1.2.3.1", seed=2)
    make_cr(tmp_path / "scout", patient_id="X", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    make_ct_series(tmp_path / "ct", n=3, patient_id="X")
    make_sr(tmp_path / "sr.dcm")
    (tmp_path / "DICOMDIR").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "readme.txt").write_text("hello")
    series, skips = discover(tmp_path)
    kinds = sorted((s.modality, len(s.instances)) for s in series)
    assert kinds == [("CR", 1), ("CR", 1), ("CT", 3)]  # one series per X-ray image, one volume per CT series
    reasons = sorted(s.reason.code for s in skips)
    assert reasons == ["localizer", "non_image_sop_class", "not_dicom"]
    ct = [s for s in series if s.modality == "CT"][0]
    assert [i.instance_number for i in ct.instances] == sorted(i.instance_number for i in ct.instances)


def test_read_instance_names_no_header_value(tmp_path):
    p = make_cr(tmp_path / "x.dcm", patient_id="SECRET")
    p.write_bytes(p.read_bytes()[:200])
    res = read_instance(p)
    assert isinstance(res, Skip) and res.reason.code in ("unreadable_header", "no_image_matrix") and "SECRET" not in res.reason.text


def test_the_intact_copy_wins_over_a_truncated_one_that_sorts_first(tmp_path):
    intact = make_cr(tmp_path / "z_intact.dcm", patient_id="X", rows=64, cols=64)
    data = intact.read_bytes()
    (tmp_path / "a_cut.dcm").write_bytes(data[: len(data) - 3000])
    same = tmp_path / "b_same.dcm"
    same.write_bytes(data)  # an identical intact copy after the cut one: the first intact copy is kept
    series, skips = discover(tmp_path)
    assert [i.path for s in series for i in s.instances] == [str(same)]
    assert sorted((os.path.basename(s.path), s.reason.code) for s in skips) == [
        ("a_cut.dcm", "duplicate_instance"), ("z_intact.dcm", "duplicate_instance")]


def test_discovery_on_a_process_pool_equals_the_serial_walk(tmp_path):
    """Headers read in chunks on a pool give the same series, skips and per-patient deny lists (terms and the
    keyword of the first file that holds each) as a serial walk."""
    from concurrent.futures import ProcessPoolExecutor

    import importlib

    disc = importlib.import_module("covidbank.dicom.discover")

    for i in range(5):
        make_cr(tmp_path / f"p{i % 2}" / f"IM{i}", patient_id=f"P{i % 2}", seed=i, PatientName=f"DOE^JANE{i % 2}",
                InstitutionName="Hospital Universitario de Prueba")
    make_ct_series(tmp_path / "ct", n=7, patient_id="P1")
    make_sr(tmp_path / "sr.dcm")
    (tmp_path / "readme.txt").write_text("hello")
    serial_deny: dict = {}
    serial = discover(tmp_path, denylists=serial_deny)
    old_chunk = disc.CHUNK
    disc.CHUNK = 2  # several chunks on a small tree
    try:
        pooled_deny: dict = {}
        with ProcessPoolExecutor(max_workers=2) as ex:
            pooled = discover(tmp_path, denylists=pooled_deny, executor=ex)
    finally:
        disc.CHUNK = old_chunk
    assert pooled[0] == serial[0] and len(serial[0]) == 6
    assert [(s.path, s.reason.code) for s in pooled[1]] == [(s.path, s.reason.code) for s in serial[1]]
    assert sorted(pooled_deny) == sorted(serial_deny) == ["P0", "P1"]
    for k in serial_deny:
        assert [(t.category, t.text, t.keyword) for t in pooled_deny[k].terms] == \
               [(t.category, t.text, t.keyword) for t in serial_deny[k].terms]


def test_read_instance_reads_the_same_with_or_without_the_full_header(tmp_path):
    """Discovery reads only the tags it groups by (the full header when a deny list is collected): same instance."""
    for p in (make_cr(tmp_path / "a.dcm", patient_id="P1", ImageComments="y" * 3000),
              *make_ct_series(tmp_path / "ct", n=3)[0]):
        short, full = read_instance(p), read_instance(p, denylists={})
        assert isinstance(short, Instance) and short == full
