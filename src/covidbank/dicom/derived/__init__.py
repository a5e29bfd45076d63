"""Derived DICOM objects of CT severity: a multi-segment SEG and a TID 1500 SR, written and read back.

* :mod:`.codes`: the segments (SNOMED CT codes) and the concepts of the SR.
* :mod:`.series`: the source CT series (DICOM datasets ordered by position)
  and the mapping between covidbank's RAS+ masks and the series' frames.
* :mod:`.seg`: :func:`write_seg` / :func:`read_seg` (highdicom).
* :mod:`.export`: :func:`export_severity` (a severity result to SEG + SR files).
* :mod:`.sr`: :func:`write_severity_sr` / :func:`read_sr` (highdicom TID 1500),
  and :func:`write_xray_severity_sr` for X-ray scores a source carries.

Needs the ``[ct]`` extra (highdicom).
"""
from __future__ import annotations

__all__ = [
    "SEGMENTS",
    "SegmentSpec",
    "load_series",
    "masks_to_frames",
    "frames_to_mask",
    "write_seg",
    "read_seg",
    "write_severity_sr",
    "write_xray_severity_sr",
    "read_sr",
    "segments_of",
    "export_severity",
]

from ..._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "SEGMENTS": ".codes",
    "SegmentSpec": ".codes",
    "load_series": ".series",
    "masks_to_frames": ".series",
    "frames_to_mask": ".series",
    "write_seg": ".seg",
    "read_seg": ".seg",
    "write_severity_sr": ".sr",
    "write_xray_severity_sr": ".sr",
    "read_sr": ".sr",
    "segments_of": ".export",
    "export_severity": ".export",
}, globals())
