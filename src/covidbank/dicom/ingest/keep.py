"""``ingest --keep-dicom``: store the de-identified DICOM instances of a series in the bank.

Derived objects (DICOM SEG and SR, :mod:`covidbank.dicom.derived`) reference
their source images by UID and need the images' geometry; a bank that keeps
only NIfTI/PNG cannot give them.  With ``--keep-dicom`` each converted series
also stores its de-identified instances, exactly as the de-identifier left
them (same UIDs, remapped by the project key), under MIDS ``sourcedata/``::

    sourcedata/sub-<label>/ses-<label>/mod-ct/<image stem>/0001.dcm ...

File names are instance numbers in slice order, never a value read from the
input.  The 128-byte preamble is zeroed and the file meta information rebuilt
from the de-identified dataset (nothing of the source's group 0002 survives).
Each file is written atomically; the series' sidecar (written last by the
ingest worker) records ``kept_dicom`` (folder, instances, bytes), so a
re-run that finds the sidecar has nothing to redo.  Sizes: about the size of
the source series uncompressed (transfer syntax kept), i.e. several times the
NIfTI's for CT.
"""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

from ...fileio import atomic_write

__all__ = ["keep_dicom", "SOURCEDATA"]

#: the MIDS/BIDS folder of source data (ignored by validators and the bank index)
SOURCEDATA = "sourcedata"


def _position_key(ds) -> tuple:
    import numpy as np

    try:
        iop = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient], dtype=float)
        return (0, float(np.dot(np.cross(iop[:3], iop[3:]), ipp)))
    except (AttributeError, TypeError, ValueError):
        return (1, int(getattr(ds, "InstanceNumber", 0) or 0))


def keep_dicom(datasets: list, bank: Path, rel_dir: str, stem: str) -> dict:
    """Write the de-identified ``datasets`` of one series under ``sourcedata/<rel_dir>/<stem>/``.

    Returns
    -------
    dict
        ``{"folder": <path relative to the bank>, "instances": n, "bytes": total}``
        for the sidecar.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

    folder = Path(SOURCEDATA) / rel_dir / stem
    total = 0
    for i, ds in enumerate(sorted(datasets, key=_position_key), start=1):
        old = getattr(ds, "file_meta", None)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = old.TransferSyntaxUID if old is not None and "TransferSyntaxUID" in old else "1.2.840.10008.1.2.1"
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        ds.preamble = b"\x00" * 128
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        atomic_write(Path(bank) / folder / f"{i:04d}.dcm", data)
        total += len(data)
    return {"folder": folder.as_posix(), "instances": len(datasets), "bytes": total}
