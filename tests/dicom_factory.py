"""Real DICOM files written with pydicom for the ingest tests (no mocks).

``make_cr`` / ``make_ct_series`` write valid CR/CT instances; ``phi_dataset``
fills every Table E.1-1 attribute pydicom knows with a unique marker value.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CR_SOP = "1.2.840.10008.5.1.4.1.1.1"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"
SR_SOP = "1.2.840.10008.5.1.4.1.1.88.11"


def _base(sop_class: str, modality: str, patient_id: str, study_uid: str, series_uid: str,
          sop_uid: str | None = None) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.PatientName = f"DOE^{patient_id}"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.PatientBirthDate = "19660102"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = "20200315"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{patient_id}"
    ds.InstitutionName = "HOSPITAL GENERAL"
    ds.Manufacturer = "ACME"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def make_cr(path: Path, patient_id: str = "P001", study_uid: str | None = None, series_uid: str | None = None,
            rows: int = 64, cols: int = 48, photometric: str = "MONOCHROME2", bits: int = 12, seed: int = 0,
            window: tuple[float, float] | None = None, voi_function: str | None = None, view: str = "PA",
            rescale: tuple[float, float] | None = None, study_date: str = "20200315", modality: str = "CR",
            pixels: np.ndarray | None = None, **extra) -> Path:
    """Write a CR (or DX) image; returns the path."""
    ds = _base(CR_SOP if modality == "CR" else "1.2.840.10008.5.1.4.1.1.1.1", modality, patient_id,
               study_uid or generate_uid(), series_uid or generate_uid())
    ds.StudyDate = study_date
    ds.ViewPosition = view
    ds.BodyPartExamined = "CHEST"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelSpacing = [0.2, 0.2]
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function:
        ds.VOILUTFunction = voi_function
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    if pixels is None:
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 2**bits, size=(rows, cols), dtype=np.uint16)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for k, v in extra.items():
        setattr(ds, k, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_ct_series(folder: Path, n: int = 5, patient_id: str = "P100", spacing: float = 2.5,
                   positions: list[float] | None = None, tilt_shift: float = 0.0, rows: int = 16, cols: int = 12,
                   iop=(1, 0, 0, 0, 1, 0), origin=(-100.0, -80.0, 50.0), pixel_spacing=(0.7, 0.8),
                   shuffle: bool = True, seed: int = 1) -> tuple[list[Path], np.ndarray]:
    """Write a CT series; returns the paths and the HU volume in (slice, row, col) order of increasing position."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(seed)
    positions = positions if positions is not None else [i * spacing for i in range(n)]
    row_cos, col_cos = np.array(iop[:3], float), np.array(iop[3:], float)
    normal = np.cross(row_cos, col_cos)
    hu = rng.integers(-1024, 2000, size=(len(positions), rows, cols)).astype(np.int16)
    paths = []
    order = list(range(len(positions)))
    if shuffle:
        rng.shuffle(order)
    for k in order:
        ds = _base(CT_SOP, "CT", patient_id, study, series)
        ds.FrameOfReferenceUID = frame
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = spacing
        ds.ImageOrientationPatient = list(iop)
        pos = np.array(origin) + normal * positions[k] + np.array([0, tilt_shift * positions[k], 0])
        ds.ImagePositionPatient = [float(x) for x in pos]
        ds.InstanceNumber = k + 1
        ds.PixelData = (hu[k].astype(np.int32) + 1024).astype(np.int16).tobytes()
        p = folder / f"slice{k:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths, hu


def make_sr(path: Path, patient_id: str = "P001") -> Path:
    """Write a Basic Text structured report (no image)."""
    ds = _base(SR_SOP, "SR", patient_id, generate_uid(), generate_uid())
    ds.ValueType = "CONTAINER"
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = "no acute findings"
    ds.ContentSequence = Sequence([item])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- PHI markers
_TEXT = {"LO", "SH", "LT", "ST", "UT", "UC", "PN"}


def marker_for(vr: str, n: int) -> tuple[object, str | None]:
    """A value for VR ``vr`` carrying unique marker number ``n``; and the string to search for (None: not searchable)."""
    if vr in _TEXT:
        s = f"MRK{n:04d}Q"
        return s, s
    if vr == "CS":
        s = f"MRK{n:04d}Q"
        return s, s
    if vr == "AE":
        s = f"MRK{n:04d}AE"
        return s, s
    if vr == "UR":
        s = f"http://mrk{n:04d}.example"
        return s, s
    if vr == "UI":
        s = f"1.2.826.0.1.3680043.10.999.{n}"
        return s, s
    if vr == "DA":
        d = (dt.date(1850, 1, 1) + dt.timedelta(days=n % 360)).strftime("%Y%m%d")
        return d, None  # checked separately: dates must be shifted
    if vr == "DT":
        s = f"18500101{n // 60 % 24:02d}{n % 60:02d}17.{n:06d}"
        return s, s
    if vr == "TM":
        s = f"{n // 60 % 24:02d}{n % 60:02d}17.{n:06d}"
        return s, s
    if vr == "IS":
        s = str(7770000 + n)
        return s, s
    if vr == "DS":
        s = f"777.{n:04d}3"
        return s, s
    if vr in ("OB", "UN"):
        b = f"MRKB{n:04d}Q".encode()
        return b, f"MRKB{n:04d}Q"
    if vr == "SQ":
        item = Dataset()
        s = f"MRK{n:04d}Q"
        item.CodeMeaning = s  # not in the table: survives only if the sequence survives
        item.PatientName = f"MRK{n:04d}N"
        return Sequence([item]), s
    return None, None


def phi_dataset(table_rows, patient_id: str = "PHIPATIENT01", rows: int = 32, cols: int = 24):
    """A CR dataset where every exact-tag Table E.1-1 row carries a unique marker.

    Returns ``(dataset, markers, dates)``: ``markers`` maps marker string to
    (tag, row), ``dates`` maps DA marker to tag.
    """
    from pydicom.dataelem import DataElement

    study, series = generate_uid(), generate_uid()
    ds = _base(CR_SOP, "CR", patient_id, study, series)
    markers: dict[str, tuple[str, object]] = {}
    dates: dict[str, str] = {}
    n = 0
    skip = {0x00080016, 0x00020010}
    for row in table_rows:
        if "X" in row.tag or row.tag == "GGGGEEEE_ODD":
            continue
        tag = int(row.tag, 16)
        if tag in skip or (tag >> 16) in (0x0000, 0x0002):
            continue
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        vr = vr.split(" or ")[0]
        n += 1
        value, search = marker_for(vr, n)
        if value is None:
            continue
        ds.add(DataElement(tag, vr, value))
        if search:
            markers[search] = (row.tag, row)
        if vr == "DA":
            dates[value] = row.tag
    # the identifiers discovery needs stay valid for grouping (still marked)
    ds.PatientID = "MRKPID0001"
    markers["MRKPID0001"] = ("00100020", None)
    ds.SOPClassUID = CR_SOP
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # pattern rows: curve, overlay data and comments; private attributes
    ds.add(DataElement(0x50000005, "US", 1))
    ds.add(DataElement(0x50002500, "LO", "MRKCURVE1"))
    markers["MRKCURVE1"] = ("50XXXXXX", None)
    ds.add(DataElement(0x60004000, "LT", "MRKOVLCOMMENT"))
    markers["MRKOVLCOMMENT"] = ("60XX4000", None)
    ds.add(DataElement(0x60003000, "OW", b"MRKOVLDATA00"))
    markers["MRKOVLDATA00"] = ("60XX3000", None)
    block = ds.private_block(0x0009, "MRKCREATOR", create=True)
    block.add_new(0x01, "LO", "MRKPRIVATE1")
    block.add_new(0x02, "SH", "MRKPRIVATE2")
    markers["MRKCREATOR"] = ("private", None)
    markers["MRKPRIVATE1"] = ("private", None)
    markers["MRKPRIVATE2"] = ("private", None)
    ds.add(DataElement(0x00191001, "UN", b"MRKPRIVUN1"))
    markers["MRKPRIVUN1"] = ("private", None)
    # image
    ds.ViewPosition = "PA"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(rows * cols, dtype=np.uint16) % 4096).tobytes()
    return ds, markers, dates


def bank_text(bank: Path) -> str:
    """Everything a bank holds as text: file and folder names, file contents (gz opened), parquet cells."""
    import gzip

    import pandas as pd
    from PIL import Image

    parts = []
    for p in bank.rglob("*"):
        parts.append(str(p.relative_to(bank)))
        if not p.is_file():
            continue
        if p.name.endswith(".png"):  # pixels cannot hold text: check every non-pixel chunk
            parts.append(repr(Image.open(p).info))
            continue
        if p.name.endswith(".nii.gz"):  # header and extensions
            import nibabel as nib

            img = nib.load(p)
            parts.append(str(img.header) + repr(img.header.extensions) + repr(bytes(img.header["descrip"])))
            continue
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
        if p.suffix == ".parquet":
            parts.append(pd.read_parquet(p).astype(str).to_csv())
        parts.append(data.decode("latin-1"))
    return "\n".join(parts)
