"""DICOM Structured Report (TID 1500 Measurement Report) of CT severity, written with highdicom and read back.

:func:`write_severity_sr` writes a Comprehensive 3D SR holding one TID 1411
*Volumetric ROI Measurements* group per segment of the SEG (right lung, left
lung, lesion, ...), each referencing its segment in the SEG (and, through it,
the source series) with:

* ``Volume`` (SCT 118565006) in mL (UCUM ``ml``);
* the percent of lung involved by lesion (private code ``LUNGINV``, UCUM ``%``):
  of that lung for a lung segment, of both lungs for a lesion segment;

and one TID 1501 *Measurements and Qualitative Evaluations* group for the
whole study: the total involvement and the CT-0..CT-4 grade as a coded
qualitative evaluation (private scheme ``99COVIDBANK``).  No grade is written
for an input that was not gradable (unless forced, which the group's
``method`` then says).  The research-use notice is in
``CompletionFlagDescription`` and ``SeriesDescription``; the document is
``UNVERIFIED`` and ``PARTIAL``: nobody signed it.

This is the template OHIF's measurement tracking reads (TID 1500 with
TID 1411 groups, OHIF #2348 concerns other templates).

:func:`write_xray_severity_sr` writes the X-ray severity scores a source carries
(the Cohen collection's geographic extent and opacity) as a TID 1500 report
with a TID 1501 group about the radiograph.

:func:`read_sr` turns either back into table rows.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import DicomError
from .codes import (
    SCHEME,
    SEGMENTS,
    code,
    grade_code,
    grade_concept,
    percent_code,
    xray_concepts,
)
from .seg import MANUFACTURER, _version

__all__ = ["write_severity_sr", "write_xray_severity_sr", "read_sr", "severity_measurements"]

#: CT of chest (SCT 169069000), the procedure reported
CT_CHEST = ("169069000", "SCT", "Computed tomography of chest")
XRAY_CHEST = ("399208008", "SCT", "Plain chest X-ray")


def _observation_context():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="covidbank", manufacturer_name=MANUFACTURER, model_name="covidbank severity",
        ),
    )
    return hd.sr.ObservationContext(observer_device_context=device)


def _algorithm():
    import highdicom as hd

    return hd.sr.AlgorithmIdentification(name="covidbank severity", version=_version())


def _finish(sr, out, notice: str):
    """Notice, verification state, private scheme identification; write atomically."""
    from pydicom.dataset import Dataset

    sr.CompletionFlagDescription = notice[:64]
    ident = Dataset()
    ident.CodingSchemeDesignator = SCHEME
    ident.CodingSchemeName = "covidbank local concepts"
    ident.CodingSchemeResponsibleOrganization = "covidbank project"
    sr.CodingSchemeIdentificationSequence = [ident]
    path = None
    if out is not None:
        from ...fileio import atomic_path

        path = Path(out)
        with atomic_path(path) as tmp:
            sr.save_as(str(tmp), enforce_file_format=True)
    return sr, path


def severity_measurements(result, masks: dict) -> dict[str, dict[str, float]]:
    """Volume (mL) and percent of lung involved per segment key, from a
    :class:`~covidbank.severity.SeverityResult` and its segment masks
    (:func:`~covidbank.dicom.derived.export.segments_of`)."""
    import numpy as np

    lv, inv = result.lung_volume_ml, result.involvement_percent
    out = {
        "right_lung": {"volume_ml": lv["right"], "percent": inv["right"]},
        "left_lung": {"volume_ml": lv["left"], "percent": inv["left"]},
    }
    lungs = result.labels > 0
    n_lung = int(np.count_nonzero(lungs))
    vml = result.ct.voxel_volume_ml
    for key, mask in masks.items():
        if key in out:
            continue
        n = int(np.count_nonzero(np.asarray(mask, bool) & lungs))
        out[key] = {"volume_ml": round(n * vml, 3), "percent": round(100.0 * n / n_lung, 3) if n_lung else 0.0}
    return out


def write_severity_sr(
    seg,
    measurements: dict[str, dict[str, float]],
    *,
    category: str | None,
    total_percent: float,
    forced: bool = False,
    out: str | Path | None = None,
    series_number: int = 902,
):
    """Write the TID 1500 severity report referencing a SEG and its source series.

    Parameters
    ----------
    seg : SegResult
        What :func:`~covidbank.dicom.derived.seg.write_seg` returned (dataset,
        segment numbers, source series).
    measurements : dict
        Segment key -> ``{"volume_ml": ..., "percent": ...}``
        (:func:`severity_measurements`); keys without a segment in the SEG
        (empty masks) are reported in the study group only.
    category : str or None
        ``CT-0``..``CT-4``, or None when not gradable (no grade written).
    total_percent : float
        Share of both lungs involved.
    forced : bool
        The grade was forced past the refusal rules (said in the report).
    out : path, optional
        Where to write it (atomically).

    Returns
    -------
    (Dataset, Path or None)
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from ...severity.grade import RESEARCH_NOTICE

    seg_ds = seg.dataset
    ml = code("ml", "UCUM", "milliliter")
    pct = code("%", "UCUM", "percent")
    groups = []
    for key, number in seg.segment_numbers.items():
        m = measurements.get(key)
        if m is None:
            continue
        spec = SEGMENTS[key]
        sites = [hd.sr.FindingSite(anatomic_location=code("39607008", "SCT", "Lung"),
                                   laterality=code(*spec.laterality) if spec.laterality else None)]
        meas = [
            hd.sr.Measurement(name=codes.SCT.Volume, value=float(m["volume_ml"]), unit=ml, algorithm_id=_algorithm()),
            hd.sr.Measurement(name=percent_code(), value=float(m["percent"]), unit=pct, algorithm_id=_algorithm()),
        ]
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=key),
            # the segment, and its source by series (TID 1411 allows either): one reference instead of one per
            # frame keeps the SR small (248 kB -> a few kB for 300 slices) and three times faster to write
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg_ds.SOPClassUID, sop_instance_uid=seg_ds.SOPInstanceUID, segment_number=number,
                source_series=hd.sr.SourceSeriesForSegmentation(str(seg.series[0].SeriesInstanceUID)),
            ),
            finding_type=code(*spec.type),
            finding_category=code(*spec.category),
            finding_sites=sites,
            algorithm_id=_algorithm(),
            measurements=meas,
        ))
    evaluations = []
    if category is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(name=grade_concept(), value=grade_code(category)))
    method = code("FORCED", SCHEME, "Graded although refused by the gradability checks") if forced else None
    groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="study"),
        finding_type=code("39607008", "SCT", "Lung"),
        method=method,
        algorithm_id=_algorithm(),
        measurements=[hd.sr.Measurement(name=percent_code(), value=float(total_percent), unit=pct, algorithm_id=_algorithm())],
        qualitative_evaluations=evaluations or None,
    ))
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(),
        procedure_reported=code(*CT_CHEST),
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg_ds, *seg.series],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=False,
        is_final=False,
        is_verified=False,
    )
    sr.SeriesDescription = "covidbank CT severity (research use only)"
    return _finish(sr, out, RESEARCH_NOTICE)


def write_xray_severity_sr(
    image,
    scores: dict[str, float],
    out: str | Path | None = None,
    *,
    series_number: int = 903,
):
    """Write X-ray severity scores (Cohen: ``geographic_extent``, ``opacity``) as a TID 1500 report.

    Parameters
    ----------
    image : path or Dataset
        The radiograph (DICOM) the scores are about; the report takes its
        patient and study and lists it as evidence.
    scores : dict
        ``geographic_extent`` and/or ``opacity`` (the collection's 0-8 scales).

    Raises
    ------
    DicomError
        No known score given.
    """
    import highdicom as hd
    import pydicom

    from ...severity.grade import RESEARCH_NOTICE
    from .series import complete_type2

    ds = pydicom.dcmread(str(image), stop_before_pixels=True) if isinstance(image, (str, Path)) else image.copy()
    complete_type2(ds)
    concepts = xray_concepts()
    given = {k: v for k, v in scores.items() if k in concepts and v is not None}
    if not given:
        raise DicomError(f"no X-ray severity score among {sorted(scores)}: expected {', '.join(concepts)}")
    unit = code("{score}", "UCUM", "score")
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="xray-severity"),
        finding_type=code("39607008", "SCT", "Lung"),
        measurements=[hd.sr.Measurement(name=concepts[k], value=float(v), unit=unit) for k, v in given.items()],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds)],
    )
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(), procedure_reported=code(*XRAY_CHEST), imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[ds], content=report, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
    )
    sr.SeriesDescription = "X-ray severity scores from the source (research use only)"
    return _finish(sr, out, RESEARCH_NOTICE)


def read_sr(path) -> list[dict]:
    """Rows of a covidbank (or any TID 1500) measurement report, read with highdicom.

    Returns
    -------
    list of dict
        One row per measurement or qualitative evaluation: ``group`` (the
        tracking identifier), ``finding``, ``name``, ``value`` (a number, or
        the code value of an evaluation), ``unit``, ``meaning``, and for ROI
        groups the referenced ``segment_number`` and ``seg_sop_instance_uid``.
    """
    import highdicom as hd

    sr = hd.sr.srread(str(path)) if isinstance(path, (str, Path)) else hd.sr.Comprehensive3DSR.from_dataset(path)
    rows: list[dict] = []
    content = sr.content
    groups = list(content.get_volumetric_roi_measurement_groups()) + list(content.get_image_measurement_groups())
    for g in groups:
        base = {"group": g.tracking_identifier, "finding": g.finding_type.meaning if g.finding_type else None}
        ref = getattr(g, "referenced_segment", None) if hasattr(g, "referenced_segment") else None
        if ref is not None:
            base["segment_number"] = int(ref.referenced_segment_numbers[0])
            base["seg_sop_instance_uid"] = str(ref.referenced_sop_instance_uid)
        for m in g.get_measurements():
            rows.append({**base, "name": m.name.meaning, "code": m.name.value, "value": float(m.value),
                         "unit": m.unit.value, "meaning": None})
        for q in g.get_qualitative_evaluations():
            if q.name.value == "276214006":  # Finding category: a property of the group, not an evaluation
                continue
            rows.append({**base, "name": q.name.meaning, "code": q.name.value, "value": q.value.value,
                         "unit": None, "meaning": q.value.meaning})
    return rows
