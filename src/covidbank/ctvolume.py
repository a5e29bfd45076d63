"""The one CT reader: any CT file or DICOM series into a :class:`CTVolume` in RAS+.

:func:`read_ct` (exported as :func:`covidbank.pixels.read_ct`) is used by CT
severity (``covidbank.severity.load_ct`` is an alias), the web viewer's CT pages
and the PyTorch :class:`~covidbank.torch.CTDataset`, so the three agree on the
array, the affine, the spacing and on what is refused.

Orientation
    The array is in the closest *RAS+ canonical* orientation (values of the
    first index grow toward the patient's Right, the second toward Anterior,
    the third toward Superior), the NIfTI convention, as nibabel's
    ``as_closest_canonical`` gives.  A high first index is the patient's
    **right** side whatever the file's own orientation (DICOM LPS, NIfTI LAS as
    in MosMedData, ...).  The file's own axis codes are kept in
    ``meta["original_axcodes"]``.
File type
    Sniffed from the first bytes before the suffix is trusted (as nibabel's
    ``loadsave.load`` does): NIfTI-1/2 (also gzipped), DICOM (``DICM`` at byte
    128), NRRD, MetaImage, PNG/JPEG/BMP/TIFF; a folder is a DICOM series.  A file
    whose content matches no format and whose suffix is unknown is tried as a
    DICOM file without preamble; failing that, one :class:`CTReadError` lists
    what is supported.
4-D files
    A 4-D NIfTI/SimpleITK image with more than one volume (a 4D-CT's
    respiratory phases, a time series) is **refused** with a clear error, not
    cut to its first volume: which phase to grade is the user's choice.
    Trailing axes of length one (``X, Y, Z, 1``) are dropped.
Units
    NIfTI scale slope/intercept and the DICOM modality LUT are applied, so a
    CT comes back in Hounsfield units (``is_hu`` True).  Raster images
    (PNG/JPEG) load with ``is_hu=False``.  Integer data that fits stays
    ``int16``; everything else is ``float32``.
Errors
    Every failure is a :class:`~covidbank.errors.CTReadError` naming the file
    (and the record, when given), also an ``ImageLoadError`` for the datasets'
    ``on_error`` handling.

The DICOM series path reuses the ingest converter
(:func:`covidbank.dicom.convert.ct_to_volume`: slice stacking, rescale, the
affine checked against dcm2niix) so a series reads the same here and in a bank.
Written by hand over nibabel/pydicom/SimpleITK only to put the three back ends
behind one contract (MONAI's ``ImageReader`` does the same, but needs torch).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CTReadError

__all__ = ["RASTER_SUFFIXES", "SUPPORTED", "CTVolume", "canonical", "read_ct", "sniff_format"]

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_SITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: what :func:`read_ct` reads, for error messages
SUPPORTED = (
    "NIfTI (.nii, .nii.gz), a DICOM series folder or a single DICOM file, SimpleITK formats "
    "(.mha, .mhd, .nrrd, .nhdr) and PNG/JPEG/BMP/TIFF slices (not HU)"
)


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
        ``nifti``, ``dicom-series``, ``dicom-slice``, ``sitk``, ``image`` or ``array``.
    is_hu : bool
        False for raster images (8-bit, windowed): not Hounsfield units.
    meta : dict
        Extra facts (number of files read, modality, original axis codes, ...).
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
    def orientation(self) -> str:
        """Axis codes of the array (``RAS`` for everything :func:`read_ct` returns)."""
        import nibabel as nib

        return "".join(nib.aff2axcodes(np.asarray(self.affine)))

    @property
    def plane(self) -> str:
        """``axial``, ``coronal`` or ``sagittal`` for a single slice (an axis of length one), else ``volume``.

        In RAS+ a single axial slice is ``(X, Y, 1)``, a coronal one ``(X, 1, Z)``,
        a sagittal one ``(1, Y, Z)``.
        """
        return slice_plane(self.shape)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm^3)."""
        return float(abs(np.linalg.det(np.asarray(self.affine)[:3, :3]))) / 1000.0

    @property
    def hu(self) -> np.ndarray:
        """The intensities, refused (:class:`~covidbank.errors.NotHUError`) when not in HU."""
        from .severity.io import check_hu

        check_hu(self)
        return self.data


def slice_plane(shape) -> str:
    """The plane of a single slice of RAS+ shape ``shape`` (see :attr:`CTVolume.plane`)."""
    shape = tuple(int(s) for s in shape[:3])
    if len(shape) < 3 or shape[2] == 1:
        return "axial"
    if shape[1] == 1:
        return "coronal"
    if shape[0] == 1:
        return "sagittal"
    return "volume"


def canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip axes so the array is closest to RAS+ (nibabel's ``as_closest_canonical``)."""
    from nibabel import orientations as ori

    ornt = ori.io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return data, np.asarray(affine, dtype=float)
    out = ori.apply_orientation(data, ornt)
    new_aff = affine @ ori.inv_ornt_aff(ornt, data.shape[:3])
    return np.ascontiguousarray(out), new_aff


# --------------------------------------------------------------------------- sniffing
def _nifti_magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return True
    return len(head) >= 8 and head[4:8] in (b"n+2\x00", b"ni2\x00")


def sniff_format(path: str | os.PathLike) -> str | None:
    """The file's format from its first bytes: ``nifti``, ``dicom``, ``sitk``, ``raster`` or None.

    Gzipped files are looked into (a ``.nii.gz`` is a gzipped NIfTI header).
    None when the content matches nothing known (a DICOM file without its
    128-byte preamble among them).
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(560)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as gz:
                head = gz.read(560)
        except (OSError, EOFError):
            return None
        return "nifti" if _nifti_magic(head) else None
    if _nifti_magic(head):
        return "nifti"
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:4] == b"NRRD":
        return "sitk"
    if head[:64].lstrip().startswith((b"ObjectType", b"NDims")):
        return "sitk"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff" or head[:2] == b"BM" or head[:4] in (b"II*\x00", b"MM\x00*"):
        return "raster"
    return None


def _format_from_suffix(name: str) -> str | None:
    name = name.lower()
    if name.endswith(_NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if name.endswith(_SITK_SUFFIXES):
        return "sitk"
    if name.endswith((".dcm", ".dicom", ".ima")):
        return "dicom"
    return None


# --------------------------------------------------------------------------- back ends
def _to_3d(raw: np.ndarray, where: str) -> np.ndarray:
    """Drop trailing length-one axes beyond the third; refuse real 4-D data (see the module doc)."""
    while raw.ndim > 3 and raw.shape[-1] == 1:
        raw = raw[..., 0]
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if raw.ndim == 4:
        raise CTReadError(
            f"{where}: a 4-D image with {raw.shape[3]} volumes (shape {raw.shape}); a CT is read one volume at a "
            "time: extract the phase you want first (nibabel: img.slicer[..., k])"
        )
    if raw.ndim != 3:
        raise CTReadError(f"{where}: expected a 3-D CT volume, got shape {raw.shape}")
    return raw


def _compact(raw: np.ndarray) -> np.ndarray:
    """int16 when the values fit losslessly, else float32."""
    if raw.dtype.kind == "f":
        return raw.astype(np.float32, copy=False)
    if raw.dtype.kind == "b":
        return raw.astype(np.int16)
    if raw.dtype == np.int16:
        return raw
    if raw.size and (raw.min() < -32768 or raw.max() > 32767):
        return raw.astype(np.float32)
    return raw.astype(np.int16)


def _from_nifti(path: Path, where: str) -> CTVolume:
    import nibabel as nib

    try:
        if path.name.lower().endswith(_NIFTI_SUFFIXES):
            img = nib.load(str(path))
        else:  # sniffed as NIfTI under another name: nibabel's load goes by the suffix
            blob = path.read_bytes()
            if blob[:2] == b"\x1f\x8b":
                blob = gzip.decompress(blob)
            cls = nib.Nifti2Image if blob[4:8] in (b"n+2\x00", b"ni2\x00") else nib.Nifti1Image
            img = cls.from_bytes(blob)
        raw = np.asanyarray(img.dataobj)
    except Exception as e:  # nibabel raises many kinds (ImageFileError, EOFError, zlib.error, ...)
        raise CTReadError(f"{where}: unreadable NIfTI ({e.__class__.__name__}: {e})") from None
    raw = _to_3d(raw, where)
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise CTReadError(f"{where}: CT volume holds NaN or infinite values")
    data, aff = canonical(_compact(raw), img.affine)
    return CTVolume(data=data, affine=aff, path=str(path), kind="nifti",
                    meta={"original_axcodes": "".join(nib.aff2axcodes(img.affine))})


def _dicom_slices(files: list[Path]) -> tuple[list, list[str]]:
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


def _iop(ds) -> tuple:
    iop = [float(v) for v in getattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    return tuple(np.round(iop, 3))


#: DICOM modalities of projection radiography (never a CT volume)
_PROJECTION_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "MG", "XA", "RF", "IO", "PX"})


def _from_dicom(files: list[Path], origin: Path, kind: str, where: str) -> CTVolume:
    slices, errors = _dicom_slices(files)
    if not slices:
        why = f" ({'; '.join(errors[:3])})" if errors else ""
        raise CTReadError(f"{where}: no readable DICOM image found{why}")
    # the largest series, and within it the slices of the majority orientation
    # (drops localizers and reformats stored in the same series)
    by_series: dict[str, list] = {}
    for f, ds in slices:
        by_series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append((f, ds))
    series = max(by_series.values(), key=len)
    by_iop: dict[tuple, list] = {}
    for f, ds in series:
        by_iop.setdefault(_iop(ds), []).append((f, ds))
    series = max(by_iop.values(), key=len)
    modality = str(getattr(series[0][1], "Modality", "") or "").upper()
    if modality in _PROJECTION_MODALITIES:
        raise CTReadError(f"{where}: a {modality} image (projection X-ray), not a CT; severity grades chest CT only")
    from .dicom.convert import ct_to_volume
    from .errors import ConversionError

    try:
        vol, ras, geometry = ct_to_volume([ds for _, ds in series])
    except ConversionError as e:
        raise CTReadError(f"{where}: {e}") from None
    except Exception as e:  # undecodable pixel data
        raise CTReadError(
            f"{where}: cannot decode pixel data ({e.__class__.__name__}: {e}); "
            "compressed DICOM needs pylibjpeg (pip install 'covidbank[ct]')"
        ) from None
    import nibabel as nib

    data, aff = canonical(_compact(np.asarray(vol)), ras)
    ds0 = series[0][1]
    meta = {
        "files": len(series),
        "unreadable_files": len(errors),
        "modality": str(getattr(ds0, "Modality", "") or ""),
        "slice_thickness": float(getattr(ds0, "SliceThickness", 0) or 0) or None,
        "geometry": dict(geometry),
        "original_axcodes": "".join(nib.aff2axcodes(ras)),
        "series_instance_uid": str(getattr(ds0, "SeriesInstanceUID", "") or ""),
        "source_files": [str(f) for f, _ in series],
    }
    return CTVolume(data=data, affine=aff, path=str(origin), kind=kind, meta=meta)


def _from_sitk(path: Path, where: str) -> CTVolume:
    from .optional import require

    sitk = require("SimpleITK", extra="ct", purpose=f"reading {path.name}")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise CTReadError(f"{where}: unreadable by SimpleITK ({str(e).strip().splitlines()[-1]})") from None
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise CTReadError(f"{where}: {img.GetNumberOfComponentsPerPixel()}-component pixels; a CT has one value per voxel")
    arr = sitk.GetArrayFromImage(img)  # reversed axes: (t, z, y, x) / (z, y, x) / (y, x)
    arr = _to_3d(np.transpose(arr, tuple(range(arr.ndim))[::-1]), where)
    d = min(img.GetDimension(), 3)
    direction = np.array(img.GetDirection(), dtype=float).reshape(img.GetDimension(), img.GetDimension())[:d, :d]
    d3 = np.eye(3)
    d3[:d, :d] = direction
    spacing = list(img.GetSpacing())[:3] + [1.0] * (3 - d)
    origin = list(img.GetOrigin())[:3] + [0.0] * (3 - d)
    lps = np.eye(4)
    lps[:3, :3] = d3 * np.asarray(spacing)[None, :]
    lps[:3, 3] = origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    import nibabel as nib

    data, aff = canonical(_compact(arr), ras)
    return CTVolume(data=data, affine=aff, path=str(path), kind="sitk",
                    meta={"original_axcodes": "".join(nib.aff2axcodes(ras))})


def _from_raster(path: Path, where: str) -> CTVolume:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            img = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise CTReadError(f"{where}: unreadable image ({e.__class__.__name__}: {e})") from None
    # A picture is taken to be in radiological display (patient's right on the
    # image's left, anterior at the top): columns left->right run toward the
    # patient's left (decreasing RAS x), rows top->bottom toward posterior, so
    # the canonical display (see severity.overlay) reproduces the picture as drawn.
    data = np.ascontiguousarray(img.T[::-1, ::-1, None])
    return CTVolume(data=data, affine=np.eye(4), path=str(path), kind="image", is_hu=False, meta={"bits": 8})


def read_ct(path: str | os.PathLike, *, record: str | None = None) -> CTVolume:
    """Read a CT: NIfTI, DICOM series folder, single DICOM file, SimpleITK formats, PNG/JPEG.

    Parameters
    ----------
    path : path-like
        A file (format sniffed from its content, then its suffix) or a folder
        of DICOM files (the largest series is used, and within it the slices
        of the majority orientation).
    record : str, optional
        The bank record (``image_id``) named in error messages.

    Returns
    -------
    CTVolume
        Array and affine in RAS+ canonical orientation (see the module doc).

    Raises
    ------
    CTReadError
        Missing, empty, unreadable or 4-D input, unknown file type, a
        projection X-ray, an irregular DICOM series (the message names the file).
    """
    p = Path(path)
    where = f"{p} (record {record})" if record else str(p)
    if not p.exists():
        raise CTReadError(f"{where}: no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise CTReadError(f"{where}: folder is empty (expected a DICOM series)")
        return _from_dicom(files, p, "dicom-series", where)
    try:
        if p.stat().st_size == 0:
            raise CTReadError(f"{where}: file is empty")
        fmt = sniff_format(p)
    except OSError as e:
        raise CTReadError(f"{where}: cannot read ({e.strerror or e})") from None
    fmt = fmt or _format_from_suffix(p.name)
    if fmt == "nifti":
        return _from_nifti(p, where)
    if fmt == "raster":
        return _from_raster(p, where)
    if fmt == "sitk":
        return _from_sitk(p, where)
    try:
        return _from_dicom([p], p, "dicom-slice", where)
    except CTReadError as e:
        if fmt == "dicom":
            raise
        raise CTReadError(f"{where}: cannot work out the file type ({e}); supported: {SUPPORTED}") from None
