"""One call from a CT to a graded result: lungs, lesions, percentages, grade, QC."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .gradable import REFUSAL_REASONS, gradability
from .grade import BOUNDARY_CONVENTION, RESEARCH_NOTICE, categorize, routing_for
from .io import CTVolume, check_hu, load_ct, load_mask
from .lesions import (
    INTENSITY_MODE_PARAMS,
    LesionParams,
    calibrate_intensity,
    estimate_lesions,
)
from .lungs import LEFT, RIGHT, LungMasks, LungParams, segment_lungs
from .qc import qc_flags

__all__ = ["SeverityResult", "assess", "summarize"]


@dataclass
class SeverityResult:
    """Outcome of :func:`assess`.

    ``to_dict()`` gives the JSON printed by ``covidbank severity --json``:
    ``lung_volume_ml``, ``lesion_volume_ml`` and ``involvement_percent`` (each
    with ``left``, ``right``, ``total``), ``category`` (``CT-0``..``CT-4``, or
    None when not gradable or in intensity mode), ``routing``, ``gradable``,
    ``not_gradable_reasons`` (codes of
    :data:`~covidbank.severity.gradable.REFUSAL_REASONS`) with their text,
    ``forced``, ``notice`` (:data:`~covidbank.severity.grade.RESEARCH_NOTICE`),
    ``qc_flags`` and details.
    """

    ct: CTVolume
    labels: np.ndarray
    lesion: np.ndarray
    lung_volume_ml: dict[str, float]
    lesion_volume_ml: dict[str, float]
    involvement_percent: dict[str, float]
    category: str | None
    routing: str | None
    qc_flags: list[str]
    lesion_source: str
    details: dict = field(default_factory=dict)
    not_gradable: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def gradable(self) -> bool:
        """True when no refusal rule applies (see :mod:`covidbank.severity.gradable`)."""
        return not self.not_gradable

    @property
    def notice(self) -> str:
        """The research-use notice carried by every grade."""
        return RESEARCH_NOTICE

    def to_dict(self) -> dict:
        return {
            "input": self.ct.path,
            "input_kind": self.ct.kind,
            "shape": list(self.ct.shape),
            "spacing_mm": [round(s, 4) for s in self.ct.spacing],
            "lung_volume_ml": self.lung_volume_ml,
            "lesion_volume_ml": self.lesion_volume_ml,
            "involvement_percent": self.involvement_percent,
            "category": self.category,
            "routing": self.routing,
            "gradable": self.gradable,
            "not_gradable_reasons": list(self.not_gradable),
            "not_gradable_text": [REFUSAL_REASONS[r] for r in self.not_gradable],
            "forced": self.forced,
            "notice": RESEARCH_NOTICE,
            "boundary_convention": BOUNDARY_CONVENTION,
            "lesion_source": self.lesion_source,
            "qc_flags": list(self.qc_flags),
            "details": self.details,
        }


def summarize(labels: np.ndarray, lesion: np.ndarray, voxel_ml: float) -> tuple[dict, dict, dict]:
    """Lung volume, lesion volume (inside the lungs) and involvement per side, in mL and %."""
    lung_v, les_v, inv = {}, {}, {}
    lab = np.asarray(labels, dtype=np.uint8)
    n_all = np.bincount(lab.ravel(), minlength=3)
    n_in = np.bincount(lab[np.asarray(lesion, bool)], minlength=3)
    for key, idx in (("right", [RIGHT]), ("left", [LEFT]), ("total", [RIGHT, LEFT])):
        n_lung = int(n_all[idx].sum())
        n_les = int(n_in[idx].sum())
        lung_v[key] = round(n_lung * voxel_ml, 3)
        les_v[key] = round(n_les * voxel_ml, 3)
        inv[key] = round(100.0 * n_les / n_lung, 3) if n_lung else 0.0
    return lung_v, les_v, inv


def _raw_percent(labels: np.ndarray, lesion: np.ndarray) -> float:
    n = int(np.count_nonzero(labels))
    return 100.0 * int(np.count_nonzero(lesion & (labels > 0))) / n if n else 0.0


def assess(
    ct: CTVolume | str | Path,
    lesion_mask: np.ndarray | str | Path | None = None,
    *,
    intensity_mode: bool = False,
    lung_params: LungParams | None = None,
    lesion_params: LesionParams | None = None,
    force: bool = False,
) -> SeverityResult:
    """Segment lungs, quantify lesions and grade a chest CT.

    Parameters
    ----------
    ct : CTVolume or path
        CT in HU (NIfTI, DICOM series folder, DICOM slice, ...).
    lesion_mask : array or path, optional
        Lesion mask (MosMedData format); estimated from HU when absent.
    intensity_mode : bool
        For images not in HU (8-bit): calibrate to pseudo-HU and estimate the
        lesion area; no grade (``category`` None).
    lung_params, lesion_params : optional
        Segmentation parameters.
    force : bool
        Grade even an input the refusal rules of
        :mod:`~covidbank.severity.gradable` reject (abdominal CT, single or
        non-axial slice, slab); the result is marked ``forced``.  Never for
        input not in HU.

    Returns
    -------
    SeverityResult
        ``category`` and ``routing`` are None when the input is not gradable
        (reasons in ``not_gradable``) unless ``force``.

    Raises
    ------
    NotHUError
        Input not in HU and ``intensity_mode`` not set.
    CTReadError, MaskMismatchError, SeverityError
        Unreadable input, mask not matching the CT, no lungs.
    """
    t0 = time.perf_counter()
    if not isinstance(ct, CTVolume):
        ct = load_ct(ct)
    timings: dict[str, float] = {"load": round(time.perf_counter() - t0, 3)}
    details: dict = {}
    given = None
    if isinstance(lesion_mask, (str, Path)):
        given = load_mask(lesion_mask, ct)
    elif lesion_mask is not None:
        given = np.asarray(lesion_mask) > 0
        if given.shape != ct.shape:
            from ..errors import MaskMismatchError

            raise MaskMismatchError(f"lesion mask shape {given.shape} differs from the CT's {ct.shape} ({ct.path})")

    if intensity_mode and _not_hu(ct):
        work, lung_region = calibrate_intensity(ct)
        lm = _intensity_lungs(lung_region)
        details["calibration"] = work.meta.get("calibration")
        hu = work.data
    else:
        check_hu(ct)
        t = time.perf_counter()
        lm = segment_lungs(ct, lung_params)
        timings["lungs"] = round(time.perf_counter() - t, 3)
        hu = ct.data
        details["lung_segmentation"] = lm.info
        intensity_mode = False
    t = time.perf_counter()
    if given is not None:
        lesion = given & (lm.labels > 0)
        source = "mask"
    else:
        lp = lesion_params if lesion_params is not None else (INTENSITY_MODE_PARAMS if intensity_mode else None)
        lesion = estimate_lesions(hu, lm.labels, ct.spacing, lp)
        details["lesion_window_hu"] = [None if v is None else round(float(v), 1)
                                       for v in getattr(estimate_lesions, "last_window", (None, None))]
        source = "estimated-intensity" if intensity_mode else "estimated"
    timings["lesions"] = round(time.perf_counter() - t, 3)
    vml = ct.voxel_volume_ml
    lung_v, les_v, inv = summarize(lm.labels, lesion, vml)
    flags, qd = qc_flags(lm.labels, lesion, ct.spacing, vml, given_mask=given, lung_info=lm.info, is_hu=not intensity_mode)
    details.update(qd)
    if ct.shape[2] == 1:
        px = ct.spacing[0] * ct.spacing[1]
        details["lung_area_mm2"] = round(int(np.count_nonzero(lm.labels)) * px, 1)
        details["lesion_area_mm2"] = round(int(np.count_nonzero(lesion & (lm.labels > 0))) * px, 1)
        details["lesion_area_px"] = int(np.count_nonzero(lesion & (lm.labels > 0)))
    refused, figures = gradability(ct.shape, ct.spacing, lm.labels, vml)
    details["gradability"] = figures
    forced = False
    if intensity_mode:
        category = routing = None
        details["grade_refused"] = "intensity mode: pseudo-HU from an image that is not in Hounsfield units; no CT grade"
    elif "no_lungs_found" in refused:
        category = routing = None
        details["grade_refused"] = "no lungs found in the input"
    elif refused and not force:
        category = routing = None
        details["grade_refused"] = "not gradable: " + "; ".join(REFUSAL_REASONS[r] for r in refused) + " (--force grades anyway)"
    else:
        category = categorize(_raw_percent(lm.labels, lesion), bool(np.count_nonzero(lesion & (lm.labels > 0))))
        routing = routing_for(category)
        forced = bool(refused)
    timings["total"] = round(time.perf_counter() - t0, 3)
    details["seconds"] = timings
    return SeverityResult(
        ct=ct,
        labels=lm.labels,
        lesion=lesion,
        lung_volume_ml=lung_v,
        lesion_volume_ml=les_v,
        involvement_percent=inv,
        category=category,
        routing=routing,
        qc_flags=flags,
        lesion_source=source,
        details=details,
        not_gradable=refused,
        forced=forced,
    )


def _not_hu(ct: CTVolume) -> bool:
    from ..errors import NotHUError

    try:
        check_hu(ct)
    except NotHUError:
        return True
    return False


def _intensity_lungs(region: np.ndarray) -> LungMasks:
    """Split the intensity-mode lung region into right/left by the image midline."""
    labels = np.zeros(region.shape, np.uint8)
    x = np.arange(region.shape[0])[:, None, None]
    mid = region.shape[0] / 2.0
    labels[region & (x >= mid)] = RIGHT
    labels[region & (x < mid)] = LEFT
    return LungMasks(labels=labels, airway=np.zeros(region.shape, bool), body=np.ones(region.shape, bool), info={"split": "image-midline"})
