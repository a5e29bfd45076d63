"""The source CT series of a derived object, and masks between covidbank's RAS+ grid and its frames.

A covidbank mask is indexed like the :class:`~covidbank.pixels.CTVolume` it
was computed on, in RAS+ canonical order.  A SEG frame is a slice of the source
series in its stored pixel order.  :func:`masks_to_frames` maps one to the
other through patient coordinates (PS3.3 C.7.6.2.1.1: the position of pixel
(row r, column c) is ``IPP + c * dc * F_row + r * dr * F_col`` in LPS, with
``F_row``, ``F_col`` the two direction cosines of ``ImageOrientationPatient``
and ``dr``, ``dc`` the ``PixelSpacing``), so any stored orientation works.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DicomError

__all__ = ["load_series", "masks_to_frames", "frames_to_mask", "slice_normal", "complete_type2"]

#: Type 2 attributes of the Patient and General Study modules a derived object
#: copies from its source; present but empty when the source lacks them (PS3.3
#: C.7.1.1, C.7.2.1), as de-identified or minimal exports often do
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
          "AccessionNumber", "ReferringPhysicianName")


def complete_type2(ds):
    """``ds`` with the Type 2 patient/study attributes a derived object copies present (empty when missing)."""
    for kw in _TYPE2:
        if kw not in ds:
            setattr(ds, kw, "")
    meta = getattr(ds, "file_meta", None)
    # some exports leave the SOP Class/Instance UID empty in the data set but right in the file meta
    for kw, mk in (("SOPClassUID", "MediaStorageSOPClassUID"), ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not str(ds.get(kw, "") or "") and meta is not None and str(meta.get(mk, "") or ""):
            setattr(ds, kw, meta.get(mk))
    return ds


def slice_normal(ds) -> np.ndarray:
    """Unit normal of a slice (row direction x column direction), LPS."""
    iop = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
    return np.cross(iop[:3], iop[3:])


def load_series(source, *, pixels: bool = False) -> list:
    """The datasets of one CT series, ordered by position along the slice normal (inferior first for axial).

    Parameters
    ----------
    source : path, list of paths or list of Dataset
        A folder of DICOM files (the largest series in the majority
        orientation, as :func:`covidbank.pixels.read_ct` picks), files, or datasets.
    pixels : bool
        Keep the pixel data (not needed for references and geometry).

    Raises
    ------
    DicomError
        No CT image with geometry found.
    """
    import pydicom

    if isinstance(source, (str, Path)):
        p = Path(source)
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
    else:
        files = list(source)
    dss = []
    for f in files:
        if isinstance(f, pydicom.Dataset):
            dss.append(f)
            continue
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=not pixels)
        except Exception:  # noqa: BLE001 - not DICOM: skipped, as read_ct does
            continue
        complete_type2(ds)
        is_ct = ds.get("Modality") == "CT" or str(ds.get("SOPClassUID", "")) == "1.2.840.10008.5.1.4.1.1.2"
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds and is_ct and "PixelSpacing" in ds:
            dss.append(ds)
    if not dss:
        raise DicomError(f"{source}: no CT image with position and orientation found")
    by_series: dict[str, list] = {}
    for ds in dss:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    series = max(by_series.values(), key=len)
    by_iop: dict[tuple, list] = {}
    for ds in series:
        by_iop.setdefault(tuple(np.round([float(v) for v in ds.ImageOrientationPatient], 3)), []).append(ds)
    series = max(by_iop.values(), key=len)
    for ds in series:
        complete_type2(ds)
    n = slice_normal(series[0])
    return sorted(series, key=lambda d: float(np.dot(n, [float(v) for v in d.ImagePositionPatient])))


def _steps(ds, inv_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of pixel (0, 0) of slice ``ds`` on the RAS+ grid, and the index steps of a column and a row."""
    iop = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
    ipp = np.array([float(v) for v in ds.ImagePositionPatient], dtype=float)
    dr, dc = (float(v) for v in ds.PixelSpacing)
    lps2ras = np.array([-1.0, -1.0, 1.0])
    m = inv_affine[:3, :3]
    base = m @ (ipp * lps2ras) + inv_affine[:3, 3]
    step_c = m @ (iop[:3] * dc * lps2ras)  # along a row: next column
    step_r = m @ (iop[3:] * dr * lps2ras)  # down a column: next row
    return base, step_r, step_c


def _axis_aligned(ds, inv_affine: np.ndarray):
    """When slice ``ds`` lies on the grid (unit steps along two axes, integral position): the outer indices.

    Returns ``(slice_axis, slice_index, row_axis, row_indices, col_axis, col_indices)`` or None.
    """
    base, step_r, step_c = _steps(ds, inv_affine)
    ar, ac = int(np.argmax(np.abs(step_r))), int(np.argmax(np.abs(step_c)))
    if ar == ac:
        return None
    unit_r, unit_c = np.zeros(3), np.zeros(3)
    unit_r[ar], unit_c[ac] = np.sign(step_r[ar]), np.sign(step_c[ac])
    rb = np.rint(base)
    if not (np.allclose(step_r, unit_r, atol=1e-3) and np.allclose(step_c, unit_c, atol=1e-3)
            and np.allclose(base, rb, atol=1e-2)):
        return None
    a_s = 3 - ar - ac
    rows = (rb[ar] + unit_r[ar] * np.arange(int(ds.Rows))).astype(np.int64)
    cols = (rb[ac] + unit_c[ac] * np.arange(int(ds.Columns))).astype(np.int64)
    return a_s, int(rb[a_s]), ar, rows, ac, cols


def _index_grid(ds, inv_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RAS+ array indices ``(ix, iy, iz)`` of every pixel of slice ``ds``, each ``(rows, cols)``, rounded."""
    base, step_r, step_c = _steps(ds, inv_affine)
    r = np.arange(int(ds.Rows), dtype=float)[:, None, None]
    c = np.arange(int(ds.Columns), dtype=float)[None, :, None]
    idx = np.rint(base[None, None, :] + r * step_r[None, None, :] + c * step_c[None, None, :]).astype(np.int64)
    return idx[..., 0], idx[..., 1], idx[..., 2]


def _range_slice(idx: np.ndarray, n: int) -> slice | None:
    """``idx`` (an arithmetic run of step +-1) as a slice of an axis of length ``n``, or None if out of bounds."""
    a, b = int(idx[0]), int(idx[-1])
    if min(a, b) < 0 or max(a, b) >= n:
        return None
    if len(idx) > 1 and not np.array_equal(np.diff(idx), np.full(len(idx) - 1, idx[1] - idx[0])):
        return None
    step = 1 if len(idx) == 1 else int(idx[1] - idx[0])
    stop = b + step
    return slice(a, None if stop < 0 else stop, step)


def _whole_grid(m: np.ndarray, inv: np.ndarray, series: list) -> np.ndarray | None:
    """All frames at once when every slice lies on the mask grid with the same axes (one transpose, one copy)."""
    fast = [_axis_aligned(ds, inv) for ds in series]
    if any(f is None for f in fast):
        return None
    a_s, _, ar, rows, ac, cols = fast[0]
    if any(f[0] != a_s or f[2] != ar or f[4] != ac or not np.array_equal(f[3], rows) or not np.array_equal(f[5], cols)
           for f in fast):
        return None
    rs, cs = _range_slice(rows, m.shape[ar]), _range_slice(cols, m.shape[ac])
    zs = np.array([f[1] for f in fast])
    if rs is None or cs is None or zs.min() < 0 or zs.max() >= m.shape[a_s]:
        return None
    t = m.transpose(a_s, ar, ac, 3)[:, rs, cs]
    # copied in 32 x 32 blocks of (slice, column): the masks are slice-innermost, the frames slice-outermost,
    # and a blocked transpose keeps both sides in cache (twice as fast as one strided copy)
    out = np.empty((len(zs),) + t.shape[1:], dtype=m.dtype)
    b = 32
    for i0 in range(0, len(zs), b):
        rows_z = zs[i0:i0 + b]
        contiguous = bool(np.all(np.diff(rows_z) == 1)) if len(rows_z) > 1 else True
        src = t[int(rows_z[0]):int(rows_z[-1]) + 1] if contiguous else t[rows_z]
        for j0 in range(0, t.shape[2], b):
            out[i0:i0 + b, :, j0:j0 + b] = src[:, :, j0:j0 + b]
    return out


def masks_to_frames(masks: np.ndarray, affine: np.ndarray, series: list) -> np.ndarray:
    """Resample RAS+ masks onto the frames of ``series`` (nearest voxel; exact when they share the grid).

    Parameters
    ----------
    masks : numpy.ndarray
        ``(X, Y, Z)`` or ``(X, Y, Z, S)`` masks on the grid of ``affine``.
    affine : numpy.ndarray
        4x4 RAS voxel-to-world matrix of the masks.
    series : list of Dataset
        The source slices, in the order the frames are wanted.

    Returns
    -------
    numpy.ndarray
        ``(len(series), Rows, Columns[, S])``; pixels outside the mask grid are 0.
    """
    m = np.asarray(masks)
    squeeze = m.ndim == 3
    if squeeze:
        m = m[..., None]
    inv = np.linalg.inv(np.asarray(affine, dtype=float))
    whole = _whole_grid(m, inv, series)
    if whole is not None:
        return whole[..., 0] if squeeze else whole
    out = np.zeros((len(series), int(series[0].Rows), int(series[0].Columns), m.shape[3]), dtype=m.dtype)
    for k, ds in enumerate(series):
        fast = _axis_aligned(ds, inv)
        if fast is not None:  # the usual case: the masks were computed on this series' grid
            a_s, i_s, ar, rows, ac, cols = fast
            if 0 <= i_s < m.shape[a_s]:
                okr = (rows >= 0) & (rows < m.shape[ar])
                okc = (cols >= 0) & (cols < m.shape[ac])
                sel: list = [slice(None)] * 3
                sel[a_s] = i_s
                plane = m[tuple(sel)]  # a view: the two remaining axes, in order, then segments
                (p_r, p_c) = (0, 1) if ar < ac else (1, 0)
                sub = plane[np.ix_(rows[okr], cols[okc])] if p_r == 0 else plane[np.ix_(cols[okc], rows[okr])].swapaxes(0, 1)
                out[k][np.ix_(np.nonzero(okr)[0], np.nonzero(okc)[0])] = sub
            continue
        ix, iy, iz = _index_grid(ds, inv)
        ok = (ix >= 0) & (ix < m.shape[0]) & (iy >= 0) & (iy < m.shape[1]) & (iz >= 0) & (iz < m.shape[2])
        if ok.all():
            out[k] = m[ix, iy, iz]
        elif ok.any():
            out[k][ok] = m[ix[ok], iy[ok], iz[ok]]
    return out[..., 0] if squeeze else out


def frames_to_mask(frames: np.ndarray, series: list, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The inverse of :func:`masks_to_frames`: frames of ``series`` back onto a RAS+ grid of ``shape``."""
    f = np.asarray(frames)
    squeeze = f.ndim == 3
    if squeeze:
        f = f[..., None]
    inv = np.linalg.inv(np.asarray(affine, dtype=float))
    out = np.zeros(tuple(shape[:3]) + (f.shape[3],), dtype=f.dtype)
    for k, ds in enumerate(series):
        ix, iy, iz = _index_grid(ds, inv)
        ok = (ix >= 0) & (ix < shape[0]) & (iy >= 0) & (iy < shape[1]) & (iz >= 0) & (iz < shape[2])
        out[ix[ok], iy[ok], iz[ok]] = f[k][ok]
    return out[..., 0] if squeeze else out
