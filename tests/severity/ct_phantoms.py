"""Synthetic chest CT phantoms in HU (generated, no data files) and a DICOM series writer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACING = (1.5, 1.5, 2.5)


@dataclass
class Phantom:
    hu: np.ndarray  # (X, Y, Z) RAS+ canonical, int16
    affine: np.ndarray
    right: np.ndarray  # true right lung (bool), patient's right = high x index
    left: np.ndarray
    consolidation: np.ndarray  # dense lesion touching the right lung's lateral border
    ggo: np.ndarray  # ground-glass ball in the left lung
    trachea: np.ndarray


def _ellipsoid(shape, center, radii):
    x, y, z = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return ((x - center[0]) / radii[0]) ** 2 + ((y - center[1]) / radii[1]) ** 2 + ((z - center[2]) / radii[2]) ** 2 <= 1.0


def _tube(shape, p0, p1, radius):
    """Voxels within ``radius`` of the segment p0-p1 (voxel units, isotropic in-plane)."""
    x, y, z = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    p = np.stack([x, y, z], -1).astype(float)
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    d = p - (a + t[..., None] * ab)
    d[..., 2] *= SPACING[2] / SPACING[0]
    return (d**2).sum(-1) <= radius**2


def make_phantom(touching: bool = False, seed: int = 0) -> Phantom:
    rng = np.random.default_rng(seed)
    shape = (160, 140, 60)
    hu = np.full(shape, -1000.0)
    body = np.zeros(shape, bool)
    x, y = np.ogrid[: shape[0], : shape[1]]
    body2d = ((x - 80) / 70.0) ** 2 + ((y - 72) / 55.0) ** 2 <= 1
    body[:, :, :] = body2d[:, :, None]
    hu[body] = 40
    # a table under the patient (posterior = low y), separated by an air gap
    hu[20:140, 8:11, :] = 300
    # lungs: patient's right = high x
    # touching: the two lungs meet along a short anterior junction line
    rc, lc = ((98, 74, 30), (62, 74, 30)) if touching else ((112, 74, 30), (48, 74, 30))
    radii = (18.5, 36, 21) if touching else (22, 36, 21)
    right = _ellipsoid(shape, rc, radii)
    left = _ellipsoid(shape, lc, radii)
    if touching:
        left &= ~right
    lungs = right | left
    hu[lungs] = -850
    # vessels: thin bright tubes inside the lungs
    for cx in (rc[0] - 6, rc[0] + 8, lc[0] - 8, lc[0] + 6):
        v = _tube(shape, (cx, 70, 14), (cx + 2, 80, 46), 1.0) & lungs
        hu[v] = 40
    # trachea from the top, carina at z=48, main bronchi into each lung
    tr = _tube(shape, (80, 80, 59), (80, 80, 48), 5.0)
    br = _tube(shape, (80, 80, 48), (rc[0] - 8, 78, 40), 3.5) | _tube(shape, (80, 80, 48), (lc[0] + 8, 78, 40), 3.5)
    trachea = (tr | br) & ~lungs
    hu[tr | br] = -1000
    # dense consolidation touching the right lung's lateral border (x high side)
    edge_x = rc[0] + radii[0]
    cons = _ellipsoid(shape, (edge_x - 2, 74, 30), (7, 9, 3)) & right
    hu[cons] = 30
    ggo = _ellipsoid(shape, (lc[0], 80, 30), (8, 8, 4)) & left
    hu[ggo] = -450
    hu += rng.normal(0, 15, shape)
    aff = np.diag([SPACING[0], SPACING[1], SPACING[2], 1.0])
    aff[:3, 3] = (-120.0, -105.0, -75.0)
    return Phantom(hu=np.round(hu).astype(np.int16), affine=aff, right=right, left=left, consolidation=cons, ggo=ggo, trachea=trachea)


def write_dicom_series(ph: Phantom, folder, rescale: bool = True) -> None:
    """Write the phantom as a real CT DICOM series (LPS, one file per slice)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = ph.hu.shape
    sx, sy, sz = SPACING
    ox, oy, oz = ph.affine[:3, 3]
    series = generate_uid()
    study = generate_uid()
    frame_of_reference = generate_uid()
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"s{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.Modality = "CT"
        # the patient, study, series and equipment attributes a complete CT
        # image carries (derived SEG/SR copy them)
        ds.PatientName = "Phantom^Chest"
        ds.PatientID = "PHANTOM01"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = "20200401"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.SeriesNumber = 1
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        ds.Manufacturer = "covidbank-tests"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = 120
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = nz - k  # files not in slice order on purpose
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        # column c <-> RAS index nx-1-c (LPS x grows toward the patient's left)
        lps_x0 = -(ox + (nx - 1) * sx)
        lps_y0 = -(oy + (ny - 1) * sy)
        ds.ImagePositionPatient = [lps_x0, lps_y0, oz + k * sz]
        ds.PixelSpacing = [sy, sx]
        ds.SliceThickness = sz
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0 if rescale else 1
        img = ph.hu[::-1, ::-1, k].T
        if rescale:
            ds.RescaleIntercept = -2048
            ds.RescaleSlope = 1
            ds.PixelData = (img.astype(np.int32) + 2048).clip(0, 65535).astype(np.uint16).tobytes()
        else:
            ds.PixelData = img.astype(np.int16).tobytes()
        ds.save_as(str(folder / f"s{k:03d}.dcm"), enforce_file_format=True)
