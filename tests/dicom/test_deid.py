"""Basic Profile de-identification on generated datasets."""
from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from covidbank.dicom.deid import DeidOptions, PatientContext, clean_text, deidentify_dataset
from covidbank.dicom.keys import Keyring, PseudonymRegistry, load_key
from covidbank.errors import KeyFileError
from dicom_factory import make_cr

CTX = PatientContext("S00042", "E00007", -400, 3600)


def _ds(tmp_path, **kw):
    return pydicom.dcmread(make_cr(tmp_path / "a.dcm", **kw))


def test_basic_actions_and_identity_attributes(tmp_path):
    ds = _ds(tmp_path)
    ds.OperatorsName = "SMITH^JOHN"
    ds.StudyDescription = "TORAX PA JOHN SMITH 12345"
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x60003000, "OW", b"\x00\x01")
    ds.add_new(0x60000010, "US", 4)
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "secret")
    old_sop, old_study = ds.SOPInstanceUID, ds.StudyInstanceUID
    key = Keyring(b"k" * 32)
    audit = deidentify_dataset(ds, key, CTX, DeidOptions(retain_modified_dates=False), "CR")
    assert ds.PatientID == "sub-S00042" and str(ds.PatientName) == "sub-S00042"
    assert ds.PatientBirthDate in ("", None)  # Z
    assert "InstitutionName" not in ds and "OperatorsName" not in ds  # X/Z/D -> X (Type 3)
    assert "StudyDescription" not in ds  # X without Clean Descriptors
    assert "AccessionNumber" in ds and not ds.AccessionNumber  # Z
    assert ds.StudyDate == ""  # Z without the dates option
    assert "ReferencedImageSequence" not in ds  # X/Z/U* -> X (Type 3)
    assert 0x50000005 not in ds and 0x60003000 not in ds and 0x60000010 in ds
    assert not any(e.tag.is_private for e in ds)
    assert ds.SOPInstanceUID == key.uid(old_sop) != old_sop and ds.StudyInstanceUID == key.uid(old_study)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.PatientIdentityRemoved == "YES"
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113108"]  # basic + Retain Patient Characteristics
    assert ds.PatientSex == "F" and ds.PatientAge == "054Y"  # retained characteristics
    # audit: tag, action, keyed hash; never the value
    recs = {a.tag: a for a in audit}
    assert recs["00081070"].action == "X" and recs["00100010"].action == "Z"
    assert all("SMITH" not in str(a.to_dict()) and "secret" not in str(a.to_dict()) for a in audit)
    assert recs["00081070"].old_hash == key.audit_hash(pydicom.valuerep.PersonName("SMITH^JOHN"), CTX.subject)


def test_modified_dates_shift_consistently_and_times(tmp_path):
    ds = _ds(tmp_path)
    ds.SeriesDate = "20200317"
    ds.AcquisitionDateTime = "20200317120000"
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, DeidOptions(), "CR")
    assert ds.StudyDate == "20190209"  # 2020-03-15 - 400 days (2020 is a leap year)
    assert ds.SeriesDate == "20190211"  # interval of 2 days kept
    assert ds.AcquisitionDateTime == "20190211130000"
    assert ds.StudyTime == "111500"  # + 3600 s
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_patient_characteristics_off_and_age_from_birth_date(tmp_path):
    ds = _ds(tmp_path)
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, DeidOptions(retain_patient_characteristics=False), "CR")
    assert not ds.get("PatientSex") and "PatientAge" not in ds
    ds2 = _ds(tmp_path)
    del ds2.PatientAge
    deidentify_dataset(ds2, Keyring(b"k" * 32), CTX, DeidOptions(), "CR")
    assert ds2.PatientAge == "054Y" and not ds2.PatientBirthDate  # 1966-01-02 -> 2020-03-15


def test_clean_descriptors_keeps_only_safe_words(tmp_path):
    assert clean_text("TORAX PA  Dr. GARCIA 2020/03/01") == "TORAX PA"
    ds = _ds(tmp_path)
    ds.StudyDescription = "CHEST PA PORTABLE MARIA LOPEZ"
    ds.SeriesDescription = "GARCIA"
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, DeidOptions(clean_descriptors=True), "CR")
    assert ds.StudyDescription == "CHEST PA PORTABLE"
    assert "SeriesDescription" not in ds  # nothing safe left: removed


def test_compound_resolution_depends_on_iod(tmp_path):
    ds = _ds(tmp_path, modality="DX")
    ds.ContentDate = "20200315"
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, DeidOptions(retain_modified_dates=False), "DX")
    assert ds.ContentDate == "19000101"  # Z/D on a Type 1 attribute of the DX IOD -> dummy
    ds = _ds(tmp_path)
    ds.ContentDate = "20200315"
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, DeidOptions(retain_modified_dates=False), "CR")
    assert ds.ContentDate == ""  # Type 2 in CR -> zero length


def test_nested_sequences_are_deidentified(tmp_path):
    ds = _ds(tmp_path)
    item = Dataset()
    item.CodeMeaning = "chest"
    item.PatientName = "NESTED^NAME"
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ProcedureCodeSequence = Sequence([item])  # not in the table: kept, items still de-identified
    key = Keyring(b"k" * 32)
    deidentify_dataset(ds, key, CTX, DeidOptions(), "CR")
    it = ds.ProcedureCodeSequence[0]
    assert it.CodeMeaning == "chest" and not it.PatientName and it.ReferencedSOPInstanceUID == key.uid("1.2.3")


def test_keys_are_deterministic_and_keyed(tmp_path):
    a, b = Keyring(b"a" * 32), Keyring(b"b" * 32)
    assert a.uid("1.2.3") == Keyring(b"a" * 32).uid("1.2.3") != b.uid("1.2.3")
    assert a.uid("1.2.3").startswith("2.25.") and len(a.uid("9" * 64)) <= 64
    assert -3652 <= a.date_shift_days("p") <= -365
    reg = PseudonymRegistry(tmp_path / "reg.json")
    s1 = reg.get(a, "sub", a.token("patient", "X"))
    assert s1.startswith("S") and len(s1) == 6 and reg.get(a, "sub", a.token("patient", "X")) == s1
    reg.save()
    assert PseudonymRegistry(tmp_path / "reg.json").get(a, "sub", a.token("patient", "X")) == s1
    k = load_key(tmp_path / "keys" / "k", create=True)
    assert load_key(tmp_path / "keys" / "k") == k and len(k) == 32
    with pytest.raises(KeyFileError, match="outside the bank"):
        load_key(tmp_path / "bank" / "k", bank=tmp_path / "bank")
    (tmp_path / "bad").write_text("not hex")
    with pytest.raises(KeyFileError, match="readable or writable by other users"):
        load_key(tmp_path / "bad")
    (tmp_path / "bad").chmod(0o600)
    with pytest.raises(KeyFileError, match="not a covidbank key"):
        load_key(tmp_path / "bad")


def test_registry_resolves_collisions(tmp_path):
    a = Keyring(b"a" * 32)
    reg = PseudonymRegistry(tmp_path / "r.json")
    labels = {reg.get(a, "ses", a.token("study", str(i))) for i in range(3000)}
    assert len(labels) == 3000  # birthday collisions on 5 digits re-drawn


def test_options_parse():
    o = DeidOptions.parse(["clean_descriptors=yes", "retain_patient_characteristics=no"])
    assert o.clean_descriptors and not o.retain_patient_characteristics and o.retain_modified_dates
    with pytest.raises(ValueError, match="unknown de-identification option"):
        DeidOptions.parse(["bogus=1"])


def test_retain_safe_private_keeps_only_the_curators_list(tmp_path):
    ds = _ds(tmp_path)
    acme = ds.private_block(0x0019, "ACME SAFE", create=True)
    acme.add_new(0x10, "DS", "1.5")        # listed as safe
    acme.add_new(0x11, "LO", "MRKPRIV1")   # same creator, not listed
    ds.private_block(0x0019, "OTHER", create=True).add_new(0x10, "LO", "MRKPRIV2")
    ds.private_block(0x0021, "ACME SAFE", create=True).add_new(0x10, "LO", "MRKPRIV3")  # other group
    opts = DeidOptions(safe_private=(("ACME SAFE", "0019", "10"),))
    deidentify_dataset(ds, Keyring(b"k" * 32), CTX, opts, "CR")
    private = {int(e.tag): str(e.value) for e in ds if e.tag.is_private}
    kept_block = ds.private_block(0x0019, "ACME SAFE")
    assert kept_block[0x10].value == "1.5"
    assert set(private.values()) == {"ACME SAFE", "1.5"}
    assert "113111" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    # without the option every private attribute goes
    ds2 = _ds(tmp_path)
    ds2.private_block(0x0019, "ACME SAFE", create=True).add_new(0x10, "DS", "1.5")
    deidentify_dataset(ds2, Keyring(b"k" * 32), CTX, DeidOptions(), "CR")
    assert not any(e.tag.is_private for e in ds2)


def test_safe_private_list_file(tmp_path):
    f = tmp_path / "safe.csv"
    f.write_text("creator,group,element\nACME SAFE,0019,1010\nSIEMENS CSA HEADER,0x0029,08\n")
    assert DeidOptions.read_safe_private(f) == (("ACME SAFE", 0x19, 0x10), ("SIEMENS CSA HEADER", 0x29, 0x08))
    opts = DeidOptions(safe_private=DeidOptions.read_safe_private(f))
    assert DeidOptions(**opts.to_dict()) == opts  # round-trips to worker processes
    f.write_text("creator,tag\nX,1\n")
    with pytest.raises(ValueError, match="safe.csv: needs the columns"):
        DeidOptions.read_safe_private(f)
    with pytest.raises(ValueError, match="not a private"):
        DeidOptions(safe_private=(("X", "0010", "10"),))
