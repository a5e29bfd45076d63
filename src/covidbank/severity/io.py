"""Read a CT into Hounsfield units with its voxel-to-world affine.

Every loader returns a :class:`CTVolume` whose array is in the closest
*RAS+ canonical* orientation (values of the first index grow toward the
patient's Right, the second toward Anterior, the third toward Superior), the
NIfTI convention.  So, in every volume this package handles, a high first
index is the patient's **right** side, whatever the file's own orientation
(DICOM LPS, where the column index usually grows toward the patient's left;
NIfTI LAS as in MosMedData, ...).  In the usual radiological display the
patient's right lung appears on the image's left.  Lung label 1 is the right
lung and 2 the left lung, as in lungmask.

Accepted inputs: a NIfTI file (``.nii``/``.nii.gz``), a folder holding a DICOM
series, a single DICOM slice, other SimpleITK formats (``.mha``, ``.nrrd``,
...), and 8-bit raster images (``.png``/``.jpg``) which load with
``is_hu=False`` (only the intensity mode may use them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CTReadError, MaskMismatchError, NotHUError
from ..pixels import is_nifti

__all__ = [
    "CTVolume",
    "load_ct",
    "load_mask",
    "check_hu",
    "save_mask",
    "RASTER_SUFFIXES",
]

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_SITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")


@dataclass
class CTVolume:
    """A CT volume in RAS+ canonical orientation.

    Attributes
    ----------
    data : numpy.ndarray
        Intensities, shape ``(X, Y, Z)``; Hounsfield units when ``is_hu``.
    affine : numpy.ndarray
        4x4 voxel-index to world (RAS, mm) matrix.
    path : str
        Where the volume was read from.
    kind : str
        ``nifti``, ``dicom-series``, ``dicom-slice``, ``sitk`` or ``image``.
    is_hu : bool
        False for raster images (8-bit, windowed): not Hounsfield units.
    meta : dict
        Extra facts (number of files read, modality, ...).
    """

    data: np.ndarray
    affine: np.ndarray
    path: str = ""
    kind: str = "array"
    is_hu: bool = True
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the three array axes."""
        s = np.sqrt((np.asarray(self.affine)[:3, :3] ** 2).sum(axis=0))
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm^3)."""
        return float(abs(np.linalg.det(np.asarray(self.affine)[:3, :3]))) / 1000.0

    @property
    def hu(self) -> np.ndarray:
        """The intensities, refused (:class:`NotHUError`) when not in HU."""
        check_hu(self)
        return self.data


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip axes so the array is closest to RAS+ (as nibabel does)."""
    from nibabel import orientations as ori

    ornt = ori.io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return data, np.asarray(affine, dtype=float)
    out = ori.apply_orientation(data, ornt)
    new_aff = affine @ ori.inv_ornt_aff(ornt, data.shape[:3])
    return np.ascontiguousarray(out), new_aff


def _from_nifti(path: Path) -> CTVolume:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        raw = np.asanyarray(img.dataobj)
    except Exception as e:  # nibabel raises many kinds (ImageFileError, EOFError, zlib.error, ...)
        raise CTReadError(f"{path}: unreadable NIfTI ({e.__class__.__name__}: {e})") from None
    if raw.ndim == 4 and raw.shape[3] == 1:
        raw = raw[..., 0]
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if raw.ndim != 3:
        raise CTReadError(f"{path}: expected a 3-D CT volume, got shape {raw.shape}")
    if raw.dtype.kind == "f":
        raw = raw.astype(np.float32, copy=False)
    elif raw.dtype.itemsize > 2 or raw.dtype.kind == "u":
        raw = raw.astype(np.float32) if raw.dtype.itemsize > 2 or raw.max(initial=0) > 32767 else raw.astype(np.int16)
    data, aff = _canonical(raw, img.affine)
    return CTVolume(data=data, affine=aff, path=str(path), kind="nifti", meta={"original_axcodes": "".join(nib.aff2axcodes(img.affine))})


def _dicom_slices(files: list[Path]) -> list:
    import pydicom

    slices = []
    errors = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f), force=False)
        except Exception as e:
            errors.append(f"{f.name}: {e.__class__.__name__}")
            continue
        if "PixelData" not in ds:
            continue
        slices.append((f, ds))
    return slices, errors


def _slice_geometry(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    iop = np.array([float(v) for v in getattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0])], dtype=float)
    ipp = np.array([float(v) for v in getattr(ds, "ImagePositionPatient", [0, 0, 0])], dtype=float)
    ps = getattr(ds, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None) or [1.0, 1.0]
    row_dir, col_dir = iop[:3], iop[3:]
    return row_dir, col_dir, ipp, (float(ps[0]), float(ps[1]))


#: DICOM modalities of projection radiography (never a CT volume)
_PROJECTION_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "MG", "XA", "RF", "IO", "PX"})


def _from_dicom(files: list[Path], origin: Path, kind: str) -> CTVolume:
    slices, errors = _dicom_slices(files)
    if not slices:
        why = f" ({'; '.join(errors[:3])})" if errors else ""
        raise CTReadError(f"{origin}: no readable DICOM image found{why}")
    # keep the largest series
    by_series: dict[str, list] = {}
    for f, ds in slices:
        by_series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append((f, ds))
    series = max(by_series.values(), key=len)
    # keep the slices of the majority orientation (drops localizers and
    # reformats stored in the same series)
    by_iop: dict[tuple, list] = {}
    for f, ds in series:
        key = tuple(np.round(_slice_geometry(ds)[0], 3)) + tuple(np.round(_slice_geometry(ds)[1], 3))
        by_iop.setdefault(key, []).append((f, ds))
    series = max(by_iop.values(), key=len)
    modality = str(getattr(series[0][1], "Modality", "") or "").upper()
    if modality in _PROJECTION_MODALITIES:
        raise CTReadError(f"{origin}: a {modality} image (projection X-ray), not a CT; severity grades chest CT only")
    # stacking, HU rescale and the affine are the ingest converter's (one
    # implementation, checked against dcm2niix); irregular series are refused
    from ..dicom.convert import ct_to_volume
    from ..errors import ConversionError

    try:
        vol, ras, geometry = ct_to_volume([ds for _, ds in series])
    except ConversionError as e:
        raise CTReadError(f"{origin}: {e}") from None
    except Exception as e:  # undecodable pixel data
        raise CTReadError(
            f"{origin}: cannot decode pixel data ({e.__class__.__name__}: {e}); "
            "compressed DICOM needs pylibjpeg (pip install 'covidbank[ct]')"
        ) from None
    data, aff = _canonical(vol, ras)
    ds0 = series[0][1]
    meta = {
        "files": len(series),
        "unreadable_files": len(errors),
        "modality": str(getattr(ds0, "Modality", "") or ""),
        "slice_thickness": float(getattr(ds0, "SliceThickness", 0) or 0) or None,
        "geometry": dict(geometry),
    }
    return CTVolume(data=data, affine=aff, path=str(origin), kind=kind, meta=meta)


def _from_sitk(path: Path) -> CTVolume:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise CTReadError(f"{path}: unreadable by SimpleITK ({str(e).strip().splitlines()[-1]})") from None
    arr = sitk.GetArrayFromImage(img)  # (z, y, x)
    if arr.ndim == 2:
        arr = arr[None]
    arr = np.transpose(arr, (2, 1, 0))
    direction = np.array(img.GetDirection(), dtype=float).reshape(img.GetDimension(), img.GetDimension())
    if direction.shape != (3, 3):
        d3 = np.eye(3)
        d3[: direction.shape[0], : direction.shape[1]] = direction
        direction = d3
    spacing = list(img.GetSpacing()) + [1.0] * (3 - img.GetDimension())
    origin = list(img.GetOrigin()) + [0.0] * (3 - img.GetDimension())
    lps = np.eye(4)
    lps[:3, :3] = direction * np.asarray(spacing)[None, :]
    lps[:3, 3] = origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    arr = arr.astype(np.int16) if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2 and arr.max(initial=0) <= 32767 else arr.astype(np.float32)
    data, aff = _canonical(arr, ras)
    return CTVolume(data=data, affine=aff, path=str(path), kind="sitk")


def _from_raster(path: Path) -> CTVolume:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            img = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise CTReadError(f"{path}: unreadable image ({e.__class__.__name__}: {e})") from None
    # A picture is taken to be in radiological display (patient's right on the
    # image's left, anterior at the top): columns left->right run toward the
    # patient's left (decreasing RAS x), rows top->bottom toward posterior, so
    # the canonical display (see overlay) reproduces the picture as drawn.
    data = np.ascontiguousarray(img.T[::-1, ::-1, None])
    return CTVolume(data=data, affine=np.eye(4), path=str(path), kind="image", is_hu=False, meta={"bits": 8})


def load_ct(path: str | Path) -> CTVolume:
    """Load a CT from a NIfTI file, a DICOM series folder, a DICOM slice, ...

    Parameters
    ----------
    path : str or Path
        NIfTI file, folder of DICOM files (the largest series is used, and
        within it the slices of the majority orientation), a
        single DICOM file, a SimpleITK-readable file, or a PNG/JPEG slice
        (loaded with ``is_hu=False``).

    Returns
    -------
    CTVolume
        Array and affine in RAS+ canonical orientation.

    Raises
    ------
    CTReadError
        Missing, empty or unreadable input (the message names the file).
    """
    p = Path(path)
    if not p.exists():
        raise CTReadError(f"{p}: no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise CTReadError(f"{p}: folder is empty (expected a DICOM series)")
        return _from_dicom(files, p, "dicom-series")
    name = p.name.lower()
    if is_nifti(name):
        return _from_nifti(p)
    if name.endswith(RASTER_SUFFIXES):
        return _from_raster(p)
    if name.endswith(_SITK_SUFFIXES):
        return _from_sitk(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError as e:
        raise CTReadError(f"{p}: cannot read ({e})") from None
    if len(head) == 0:
        raise CTReadError(f"{p}: file is empty")
    return _from_dicom([p], p, "dicom-slice")


def check_hu(ct: CTVolume) -> None:
    """Refuse data that are not Hounsfield units.

    A chest CT in HU holds air (about -1000 HU) and soft tissue (about 40 HU).
    Raster images, unrescaled DICOM values (0..4095) and windowed exports
    (0..255) do not, and a lung threshold in HU would be meaningless on them.

    Raises
    ------
    NotHUError
        With the file name, the value range and what to do instead.
    """
    where = ct.path or "input"
    hint = (
        "HU-based grading refused; use the intensity mode (--intensity-mode) for an approximate "
        "lesion-area estimate, or give the original CT with its rescale slope/intercept"
    )
    if not ct.is_hu:
        raise NotHUError(f"{where}: {ct.meta.get('bits', 8)}-bit {ct.kind} intensities are not Hounsfield units; {hint}")
    d = ct.data
    lo = float(d.min()) if d.size else 0.0
    hi = float(d.max()) if d.size else 0.0
    if lo > -500 or hi < -100:
        raise NotHUError(
            f"{where}: values range {lo:g}..{hi:g}, with no air below -500 HU: not Hounsfield units; {hint}"
        )


def load_mask(path: str | Path, ct: CTVolume) -> np.ndarray:
    """Load a lesion mask (MosMedData format: NIfTI, non-zero = lesion) aligned to ``ct``.

    Raises
    ------
    CTReadError
        Unreadable mask file.
    MaskMismatchError
        Shape differs from the CT's after both are put in canonical orientation.
    """
    p = Path(path)
    if not p.exists():
        raise CTReadError(f"{p}: no such mask file")
    m = load_ct(p)
    if m.data.shape != ct.data.shape:
        raise MaskMismatchError(f"{p}: mask shape {m.data.shape} differs from the CT's {ct.data.shape} ({ct.path})")
    if not np.allclose(m.affine[:3, :3], ct.affine[:3, :3], atol=1e-2) and ct.kind != "image":
        raise MaskMismatchError(f"{p}: mask orientation/spacing differs from the CT's ({ct.path}); resample it first")
    return m.data > 0


def save_mask(mask: np.ndarray, ct: CTVolume, path: str | Path) -> Path:
    """Write a label mask as NIfTI (uint8) with the CT's affine; atomic (temp file then rename)."""
    import nibabel as nib

    from ..fileio import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp:
        nib.save(nib.Nifti1Image(np.asarray(mask, dtype=np.uint8), ct.affine), str(tmp))
    return p
