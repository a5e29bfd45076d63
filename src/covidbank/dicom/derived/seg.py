"""DICOM Segmentation (SEG) of lungs and lesions, written with highdicom and read back.

One multi-segment BINARY SEG per CT series (:func:`write_seg`), with the
segments of :data:`~covidbank.dicom.derived.codes.SEGMENTS` that are not empty:
right lung, left lung, the lesion estimate (and its ground-glass /
consolidation split when computed), an expert lesion mask as its own
``MANUAL`` segment.  Choices made for viewers (OHIF, 3D Slicer) and for the
pitfalls highdicom users meet:

* the source slices are passed **ordered by position** along the slice normal
  and the masks are mapped onto each source slice through patient
  coordinates, so no frame lands on the wrong slice whatever order the files
  come in (highdicom #330); the frames of each segment are stored in
  position order (highdicom sorts them along the normal, superior first, and
  the tests check it);
* highdicom writes ``ReferencedSeriesSequence`` and per-frame
  ``DerivationImageSequence`` / ``SourceImageSequence``, which OHIF needs to
  place the frames (OHIF #3936, #4030; highdicom #214);
* ``omit_empty_frames=True`` (a 300-slice CT with three segments would
  otherwise store ~900 frames, most empty): every kept frame names its source
  image and position, which OHIF v3 and dcmqi use; a segment that is
  **empty** is left out altogether (viewers and dcmqi stumble on segments with
  no frame), so the SEG holds only segments with voxels;
* the SEG shares the source's Frame of Reference, Study and Patient modules.

:func:`read_seg` gives the masks back on the CT's RAS+ grid through highdicom's
reader (``get_pixels_by_source_instance``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DicomError
from .codes import SEGMENTS, SegmentSpec, code
from .series import frames_to_mask, load_series, masks_to_frames

__all__ = ["write_seg", "read_seg", "SegResult", "MANUFACTURER"]

MANUFACTURER = "covidbank"
#: source attributes a SEG copies or references and that must have a value
_REQUIRED_SOURCE = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPClassUID", "SOPInstanceUID")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("covidbank")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0"


def _description(number: int, spec: SegmentSpec):
    import highdicom as hd

    algo = None
    if spec.algorithm == "AUTOMATIC":
        from pydicom.sr.codedict import codes

        algo = hd.AlgorithmIdentificationSequence(
            name="covidbank severity", family=codes.cid7162.MorphologicalOperations, version=_version(),
        )
    regions = None
    if spec.laterality is not None:
        regions = [code(*spec.laterality)]
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=spec.label,
        segmented_property_category=code(*spec.category),
        segmented_property_type=code(*spec.type),
        algorithm_type=spec.algorithm,
        algorithm_identification=algo,
        tracking_uid=hd.UID(),
        tracking_id=spec.key,
        anatomic_regions=regions,
        display_color=hd.color.CIELabColor(*_srgb_to_lab(spec.color)),
    )


def _srgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB 0-255 to CIE L*a*b* (D65), for ``RecommendedDisplayCIELabValue``."""
    c = np.asarray(rgb, dtype=float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    L, a, b = 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    return float(np.clip(L, 0, 100)), float(np.clip(a, -128, 127)), float(np.clip(b, -128, 127))


def _segmentation_class():
    """highdicom's ``Segmentation`` with a faster pixel check for 4-D boolean stacks.

    highdicom checks a 4-D stack for overlapping segments by summing it over
    the segment axis as ``int64`` (about a third of the time of a 300-slice
    SEG).  For a boolean stack the same answer comes from pairwise ANDs of
    the segments, an order of magnitude cheaper.  Any other input, or a
    highdicom whose private hook differs, takes highdicom's own check.
    """
    import highdicom as hd
    from highdicom.seg.enum import SegmentationTypeValues, SegmentsOverlapValues

    base = hd.seg.Segmentation
    if not hasattr(base, "_check_and_cast_pixel_array"):
        return base

    class Segmentation(base):
        @classmethod
        def _check_and_cast_pixel_array(cls, pixel_array, segment_numbers, segmentation_type, *args, **kwargs):
            if (isinstance(pixel_array, np.ndarray) and pixel_array.dtype == np.bool_ and pixel_array.ndim == 4
                    and SegmentationTypeValues(segmentation_type) == SegmentationTypeValues.BINARY
                    and pixel_array.shape[-1] == len(segment_numbers)):
                n = pixel_array.shape[-1]
                overlap = any(
                    np.logical_and(pixel_array[..., i], pixel_array[..., j]).any()
                    for i in range(n) for j in range(i + 1, n)
                )
                return pixel_array, (SegmentsOverlapValues.YES if overlap else SegmentsOverlapValues.NO)
            return super()._check_and_cast_pixel_array(pixel_array, segment_numbers, segmentation_type, *args, **kwargs)

    return Segmentation


@dataclass
class SegResult:
    """What :func:`write_seg` wrote: the dataset, its path, and the segment number of each key."""

    dataset: object
    path: Path | None
    segment_numbers: dict[str, int]
    series: list


def write_seg(
    source,
    masks: dict[str, np.ndarray],
    affine: np.ndarray,
    out: str | Path | None = None,
    *,
    series_number: int = 901,
    series_description: str = "covidbank lungs and lesions (research use only)",
) -> SegResult:
    """Write a multi-segment DICOM SEG of ``masks`` referencing the source CT series.

    Parameters
    ----------
    source : path or list
        The CT series (folder, files or datasets; see :func:`~.series.load_series`).
    masks : dict
        Key of :data:`~.codes.SEGMENTS` (``right_lung``, ``left_lung``,
        ``lesion``, ``ground_glass``, ``consolidation``, ``expert_lesion``) ->
        boolean mask on the RAS+ grid of ``affine`` (a
        :class:`~covidbank.pixels.CTVolume`'s).
    affine : numpy.ndarray
        RAS voxel-to-world matrix of the masks.
    out : path, optional
        Where to write it (atomically); None only builds the dataset.

    Returns
    -------
    SegResult

    Raises
    ------
    DicomError
        Unknown segment key, no non-empty segment, or a source without geometry.
    """
    import highdicom as hd

    unknown = set(masks) - set(SEGMENTS)
    if unknown:
        raise DicomError(f"unknown segment(s) {sorted(unknown)}: use {', '.join(SEGMENTS)}")
    series = load_series(source)
    missing = [kw for kw in _REQUIRED_SOURCE if not str(series[0].get(kw, "") or "")]
    if missing:
        raise DicomError(
            f"{source}: the source images have no {', '.join(missing)} (Type 1); a SEG could not be tied to their "
            "study and frame of reference, so none is written"
        )
    keys = [k for k in SEGMENTS if k in masks and np.asarray(masks[k]).any()]
    if not keys:
        raise DicomError(f"{out or 'SEG'}: every segment is empty; nothing to write")
    stack = np.stack([np.asarray(masks[k], dtype=bool) for k in keys], axis=-1)
    frames = masks_to_frames(stack, affine, series)
    descriptions = [_description(i + 1, SEGMENTS[k]) for i, k in enumerate(keys)]
    seg = _segmentation_class()(
        source_images=series,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="covidbank severity",
        software_versions=_version(),
        device_serial_number="0",
        omit_empty_frames=True,
        content_label="LUNGS",
        content_description="Lungs and lesions; research use only, not for clinical decisions",
        content_creator_name="covidbank^automatic",
    )
    seg.SeriesDescription = series_description
    path = None
    if out is not None:
        from ...fileio import atomic_path

        path = Path(out)
        with atomic_path(path) as tmp:
            seg.save_as(str(tmp), enforce_file_format=True)
    return SegResult(dataset=seg, path=path, segment_numbers={k: i + 1 for i, k in enumerate(keys)}, series=series)


def read_seg(seg, source, affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Masks of a SEG on the RAS+ grid (``affine``, ``shape``) of its source series, by segment key.

    Parameters
    ----------
    seg : path or Dataset
        The SEG (read with highdicom's reader).
    source : path or list
        Its source CT series.
    affine, shape
        The RAS+ grid wanted (a :class:`~covidbank.pixels.CTVolume`'s).

    Returns
    -------
    dict
        Segment key (its ``TrackingID`` when covidbank wrote it, else its
        label; a repeated one followed by `` (segment <number>)``) -> boolean mask.
    """
    import highdicom as hd

    s = hd.seg.segread(str(seg)) if isinstance(seg, (str, Path)) else hd.seg.Segmentation.from_dataset(seg)
    series = load_series(source)
    uids = [str(d.SOPInstanceUID) for d in series]
    referenced = {str(r[2]) for r in s.get_source_image_uids()}
    wanted = [u for u in uids if u in referenced]
    numbers = list(s.segment_numbers)
    px = s.get_pixels_by_source_instance(
        source_sop_instance_uids=wanted, segment_numbers=numbers, combine_segments=False,
        ignore_spatial_locations=True,
    )
    frames = np.zeros((len(series), int(series[0].Rows), int(series[0].Columns), len(numbers)), dtype=np.uint8)
    pos = {u: i for i, u in enumerate(uids)}
    for j, u in enumerate(wanted):
        frames[pos[u]] = px[j]
    vol = frames_to_mask(frames, series, affine, shape)
    out: dict[str, np.ndarray] = {}
    for i, n in enumerate(numbers):
        desc = s.get_segment_description(n)
        key = str(desc.tracking_id or desc.segment_label)
        if key in out:  # two segments of one label (a viewer's edit) were one mask, the last
            key = f"{key} (segment {n})"
        out[key] = vol[..., i] > 0
    return out
