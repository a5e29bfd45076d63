"""A generated hostile input for the privacy tests: every case the privacy review reproduced, each with a unique marker.

``make_hostile_corpus(root)`` writes into ``root``:

* ``raw/``: DICOM files whose identifying values sit where the review found
  them leaking (reasons quoting SOP Class UID, Modality, Photometric
  Interpretation, VOI LUT Function; Manufacturer, model, software versions,
  body part, patient position, age and sex, a VOI LUT Explanation), two
  patients sharing a real study date and birth date, a truncated copy of an
  instance that sorts before its intact copy, a symbolic link to a file
  outside the tree, a FIFO, a 2 GB sparse file with a DICM preamble and a
  deflate bomb;
* ``outside/``: the file the symbolic link points to;
* ``tests.csv`` and ``reports.csv``: a report holding a 61-digit number and
  the patient's name.

Returns a dict: the paths and ``markers`` (marker text -> where it was put).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pandas as pd
import pydicom
from dicom_factory import make_cr, make_ct_series
from pydicom.dataset import Dataset, FileMetaDataset

DEFLATED = "1.2.840.10008.1.2.1.99"
CR_SOP = "1.2.840.10008.5.1.4.1.1.1"


def write_deflate_bomb(path: Path, inflated: int = 1 << 30, patient_id: str = "BOMB") -> Path:
    """A deflated CR dataset whose deflate stream (about 1 MB) inflates to ``inflated`` bytes of a private OB element."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_SOP
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = DEFLATED
    buf = io.BytesIO()
    buf.write(b"\0" * 128 + b"DICM")
    pydicom.filewriter.write_file_meta_info(buf, meta, enforce_standard=True)
    head = Dataset()
    head.SOPClassUID = CR_SOP
    head.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    head.Modality = "CR"
    head.PatientID = patient_id
    body = pydicom.filebase.DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(body, head)
    raw = body.getvalue()
    # explicit VR little endian, private (0009,1010) OB of `inflated` zero bytes
    raw += struct.pack("<HH", 0x0009, 0x1010) + b"OB\0\0" + struct.pack("<I", inflated)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = bytearray(buf.getvalue())
    out += comp.compress(raw)
    zeros = b"\0" * (1 << 22)
    for _ in range(inflated // len(zeros)):
        out += comp.compress(zeros)
    out += comp.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def write_sparse_dicm(path: Path, size: int = 2 << 30) -> Path:
    """A sparse file of ``size`` zero bytes with a DICM preamble (no disk space used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM")
        f.truncate(size)
    return path


def make_hostile_corpus(root: Path, with_fifo: bool = True, with_sparse: bool = True, with_bomb: bool = True) -> dict:
    raw = root / "raw"
    outside = root / "outside"
    markers: dict[str, str] = {}

    def mark(text, where: str):
        markers[str(text)] = where
        return text

    # reasons that quoted header values (the review's SOP Class UID carried a birth date and a record number)
    sop = mark("1.2.3.19650412.99887766", "SOPClassUID of a skipped file")
    p = make_cr(raw / "a" / "odd_class", patient_id="HOSTPAT01", PatientName="MARTINEZ^ELENA")
    ds = pydicom.dcmread(p)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
    ds.save_as(p, enforce_file_format=True)
    p = make_cr(raw / "a" / "sc_modality", patient_id="HOSTPAT01", PatientName="MARTINEZ^ELENA")
    ds = pydicom.dcmread(p)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.Modality = mark("MRKMODAL55", "Modality of a secondary capture")
    ds.save_as(p, enforce_file_format=True)
    make_cr(raw / "a" / "photometric", patient_id="HOSTPAT01", PatientName="MARTINEZ^ELENA",
            photometric=mark("MRKPHOTO77", "PhotometricInterpretation"))
    make_cr(raw / "a" / "voi_function", patient_id="HOSTPAT01", PatientName="MARTINEZ^ELENA", window=(2000, 0),
            voi_function=mark("MRKVOIFN88", "VOILUTFunction with an invalid window width"))
    # attributes outside Table E.1-1, and Patient's Age/Sex, holding identifying free text
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 12]
    lut.add_new(0x00283006, "US", [0, 1000, 2000, 4095])  # LUT Data
    lut.LUTExplanation = mark("ELENA MARTINEZ 12/04/1965", "LUTExplanation (VOI LUT Sequence)")
    make_cr(raw / "b" / "free_text", patient_id="HOSTPAT01", PatientName="MARTINEZ^ELENA",
            Manufacturer=mark("HOSPITAL MRK 19650412", "Manufacturer"),
            ManufacturerModelName=mark("MRKMODEL@HOSPITAL.ES", "ManufacturerModelName"),
            SoftwareVersions=mark("HOSTPAT01", "SoftwareVersions holding the patient id"),
            BodyPartExamined=mark("MRKBODYPART", "BodyPartExamined"),
            PatientPosition=mark("MRKPOSITION", "PatientPosition"),
            PatientAge=mark("MRKAGE", "PatientAge"),
            PatientSex=mark("MRKSEXVALUE", "PatientSex"),
            PatientOrientation=[mark("MRKORIENTA", "PatientOrientation"), "F"],
            ImageType=["ORIGINAL", "PRIMARY", mark("ID19650412", "ImageType (a code string holding a date)")],
            ConvolutionKernel=mark("B30F 1965-04-12", "ConvolutionKernel"),
            VOILUTSequence=pydicom.sequence.Sequence([lut]))
    # two patients sharing a real study date and birth date: no digest may link them
    for pid, name in (("TWIN01", "ROSSI^ANNA"), ("TWIN02", "BIANCHI^LUCA")):
        make_cr(raw / "c" / pid, patient_id=pid, PatientName=name, study_date="20200601", PatientBirthDate="19551111")
    # a truncated copy that sorts before its intact copy
    intact = make_cr(raw / "d" / "z_intact", patient_id="HOSTPAT02", PatientName="NOVAK^JAN", rows=128, cols=128, seed=5)
    data = intact.read_bytes()
    (raw / "d" / "a_truncated").write_bytes(data[: len(data) - 9000])
    # a second study of that patient: a person name with ideographic/phonetic groups (PN ``=``), the birth date
    # written as people write it (12-APR-1965, 12APR1965, 1965 04 12) and identifiers in numeric attributes
    make_cr(raw / "d" / "second_study", patient_id="HOSTPAT02", PatientName="NOVAK^JAN", seed=6,
            SpecificCharacterSet="ISO_IR 192",
            PatientBirthDate="19720915", OtherPatientIDs="55443322",
            ReferringPhysicianName="YAMADA^TAROU=山田^太郎=やまだ^たろう",
            Manufacturer=mark("TAROU", "Manufacturer: the given name of a PN with = groups"),
            SoftwareVersions=mark("15-SEP-1972", "SoftwareVersions: the birth date as dd-MON-yyyy"),
            ManufacturerModelName=mark("MODEL 1972 09 15", "ManufacturerModelName: the birth date with spaces"),
            ConvolutionKernel=mark("K15SEP1972", "ConvolutionKernel: the birth date as ddMONyyyy"),
            ImageType=["ORIGINAL", "PRIMARY", mark("15 09 1972", "ImageType: the birth date with spaces")],
            SeriesNumber=mark(55443322, "SeriesNumber: the other patient id as a number"),
            AcquisitionNumber=mark(19720915, "AcquisitionNumber: the birth date as a number"))
    # a symbolic link to a file outside the input tree
    secret = make_cr(outside / "secret.dcm", patient_id=mark("OUTSIDE0042", "PatientID of a file outside the tree"),
                     PatientName=mark("OUTSIDERNAME^ZED", "PatientName of a file outside the tree"))
    (raw / "e").mkdir(parents=True)
    os.symlink(secret, raw / "e" / "link.dcm")
    # a CT series of the first patient (converted)
    make_ct_series(raw / "f" / "ct", n=3, patient_id="HOSTPAT01")
    hostile = {}
    if with_fifo:
        os.mkfifo(raw / "g_fifo")
        hostile["fifo"] = raw / "g_fifo"
    if with_sparse:
        hostile["sparse"] = write_sparse_dicm(raw / "h_sparse.dcm")
    if with_bomb:
        hostile["bomb"] = write_deflate_bomb(raw / "i_bomb.dcm")
    # tests and reports: a report with a 61-digit number and the patient's name
    tests = root / "tests.csv"
    pd.DataFrame({"patient_id": ["HOSTPAT01", "TWIN01", "HOSTPAT02"], "date": ["2020-03-13", "2020-06-01", "2020-03-15"],
                  "test_type": ["PCR", "PCR", "antigen"], "result": ["positive", "negative", "positive"]}
                 ).to_csv(tests, index=False)
    number = mark("1234567890" * 6 + "7", "a 61-digit number in a report")
    reports = root / "reports.csv"
    pd.DataFrame({"accession": ["ACCHOSTPAT02", "ACCTWIN01"],
                  "text": [f"Paciente Jan Novak. Referencia {number}. Sin hallazgos.",
                           "Control. Sin cambios."]}).to_csv(reports, index=False)
    return {"raw": raw, "outside": outside, "tests": tests, "reports": reports, "markers": markers, **hostile}
