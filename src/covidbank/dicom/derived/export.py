"""From a severity result to a SEG and an SR on disk (what ``covidbank severity --seg --sr`` does)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DicomError

__all__ = ["segments_of", "export_severity", "ExportResult", "CONSOLIDATION_MIN_HU"]

#: lesion voxels denser than this are consolidation, the rest ground glass
#: (the upper limit of the estimator's ground-glass window, LesionParams.window_hu)
CONSOLIDATION_MIN_HU = -130.0


def segments_of(result, *, split_lesion: bool = True) -> dict[str, np.ndarray]:
    """The SEG segments of a :class:`~covidbank.severity.SeverityResult`.

    Right and left lung; the lesion: ``expert_lesion`` (a MANUAL segment)
    when it came from a given mask (MosMed's expert masks), else the estimate
    as ``lesion`` and, when ``split_lesion`` and both parts are present, its
    ``ground_glass`` (below :data:`CONSOLIDATION_MIN_HU`) and
    ``consolidation`` parts.
    """
    lungs = result.labels > 0
    lesion = np.asarray(result.lesion, bool) & lungs
    out = {"right_lung": result.labels == 1, "left_lung": result.labels == 2}
    if result.lesion_source == "mask":
        out["expert_lesion"] = lesion
        return out
    out["lesion"] = lesion
    if split_lesion and result.ct.is_hu:
        cons = lesion & (result.ct.data > CONSOLIDATION_MIN_HU)
        ggo = lesion & ~cons
        if cons.any() and ggo.any():
            out["ground_glass"], out["consolidation"] = ggo, cons
    return out


@dataclass
class ExportResult:
    seg_path: Path | None
    sr_path: Path | None
    segments: dict[str, int]
    frames: int


def export_severity(result, source, *, seg_out: str | Path | None, sr_out: str | Path | None = None) -> ExportResult:
    """Write the SEG (and the SR, which needs the SEG) of a severity result computed on a DICOM series.

    Parameters
    ----------
    result : SeverityResult
        Computed on ``source`` (its masks are on the CT's RAS+ grid).
    source : path or list
        The DICOM series the result was computed on.
    seg_out, sr_out : path, optional
        Output files; the SR is written only with a SEG to reference (when
        ``seg_out`` is None the SEG is built in memory).

    Raises
    ------
    DicomError
        Input not a DICOM series, or nothing to segment.
    """
    from .seg import write_seg
    from .sr import severity_measurements, write_severity_sr

    if not str(result.ct.kind).startswith("dicom"):
        raise DicomError(
            f"{result.ct.path}: DICOM SEG/SR reference the source DICOM images; this input is {result.ct.kind}, "
            "give the DICOM series folder (or ingest with --keep-dicom)"
        )
    masks = segments_of(result)
    seg = write_seg(source, masks, result.ct.affine, seg_out)
    sr_path = None
    if sr_out is not None:
        category = result.category if (result.gradable or result.forced) else None
        _, sr_path = write_severity_sr(
            seg, severity_measurements(result, masks), category=category,
            total_percent=result.involvement_percent["total"], forced=result.forced, out=sr_out,
        )
    return ExportResult(seg_path=seg.path, sr_path=sr_path, segments=seg.segment_numbers,
                        frames=int(seg.dataset.NumberOfFrames))
