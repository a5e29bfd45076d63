"""Sidecars hold validated values only: allow-list, VR and defined terms, Clean-Descriptors-style check."""
from __future__ import annotations

import pytest

from covidbank.dicom.allowlist import descriptor_ok, filter_sidecar, validate_value


@pytest.mark.parametrize("kw,value,ok", [
    ("PatientSex", "F", True), ("PatientSex", "female", False), ("PatientSex", "GARCIA", False),
    ("PatientAge", "054Y", True), ("PatientAge", "fifty-four", False), ("PatientAge", "054", False),
    ("ViewPosition", "PA", True), ("ViewPosition", "MRKVIEW", False),
    ("PhotometricInterpretation", "MONOCHROME2", True), ("PhotometricInterpretation", "MRKPHOTO77", False),
    ("VOILUTFunction", "SIGMOID", True), ("VOILUTFunction", "garcia", False),
    ("BodyPartExamined", "CHEST", True), ("BodyPartExamined", "MRKBODYPART", False),
    ("ImageType", ["ORIGINAL", "PRIMARY"], True), ("ImageType", ["original"], False),
    ("ImageType", ["ORIGINAL", "PRIMARY", "ID19650412"], False), ("PatientOrientation", ["A", "F"], True),
    ("PatientOrientation", ["MRKORIENTA", "F"], False),
    ("StudyDate", "20190211", True), ("StudyDate", "2019-02-11", False), ("StudyDate", "20191345", False),
    ("StudyTime", "131500.5", True), ("StudyTime", "25", False),
    ("SOPInstanceUID", "2.25.1234", True), ("SOPInstanceUID", "1.2.NAME", False),
    ("PatientWeight", 70.5, True), ("PatientWeight", 99887766, False), ("Rows", float("inf"), False),
    ("Manufacturer", "SIEMENS", True), ("Manufacturer", "HOSPITAL MRK 19650412", False),
    ("ManufacturerModelName", "x@hospital.es", False), ("SoftwareVersions", "VB20A_SP1", True),
    ("StudyDescription", "TORAX PA", True), ("StudyDescription", "TORAX GARCIA", False),
    ("InstitutionName", "HOSPITAL", False),  # not on the allow-list at all
])
def test_values_are_checked(kw, value, ok):
    assert validate_value(kw, value) is ok


def test_descriptor_check():
    assert descriptor_ok("GE MEDICAL SYSTEMS") and descriptor_ok("Revolution CT")
    for bad in ("12/04/1965", "NHC 99887766", "a" * 65, "ROSSI\nANNA", "", "x@y",
                "12-APR-1965", "K12APR1965", "1965 04 12", "12 04 1965", "Sep 15, 1972", "5.3.72", "1965.4.12",
                "v12/04/1965b"):
        assert not descriptor_ok(bad)
    for version in ("4.1.3", "syngo CT VA48A 11.0.2345", "V3.10.1 build 7", "1.2.840"):  # not dates: kept
        assert descriptor_ok(version), version


def test_filter_sidecar_counts_drops():
    kept, dropped = filter_sidecar({"PatientSex": "X9", "Rows": 10, "Foo": "bar"})
    assert kept == {"Rows": 10} and dropped == ["Foo", "PatientSex"]
