"""Coded concepts of the derived SEG and SR (SNOMED CT, DICOM, UCUM, and a private scheme for the grade).

Segments carry SNOMED CT codes as DICOM PS3.16 CID 7150/7151/7153 use them
(the ones dcmqi's and 3D Slicer's terminology offer):

=============================  =======================================  ==========================
segment                        category                                 type
=============================  =======================================  ==========================
right lung                     Anatomical Structure (SCT 91723000)      Lung (SCT 39607008), Right
left lung                      Anatomical Structure                     Lung, Left (SCT 7771000)
lesion (estimated)             Morphologically Abnormal Structure       Lesion (SCT 52988006)
ground-glass opacity           Morphologically Abnormal Structure       Ground glass opacity (DCM 112120, CID 6102)
consolidation                  Morphologically Abnormal Structure       Lung consolidation (SCT 95436008)
lesion (expert mask, MosMed)   Morphologically Abnormal Structure       Lesion, manual algorithm
=============================  =======================================  ==========================

The laterality of the lungs is given in ``AnatomicRegionSequence`` with
its modifier and in the segment label; the type is SCT Lung so that viewers
colour both lungs from the same terminology entry.

The procedure reported is "CT of chest" (SCT 169069000), volumes are "Volume"
(SCT 118565006) in mL (UCUM ``ml``).  The MosMed CT-0..CT-4 grade and the "percent of lung involved" have no
standard code: they use the private coding scheme :data:`SCHEME` ("99" prefix,
PS3.3 8.2), identified in the SR's ``CodingSchemeIdentificationSequence``.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SegmentSpec", "SEGMENTS", "SCHEME", "code", "grade_code", "percent_code", "grade_concept"]

#: private coding scheme of covidbank's own concepts
SCHEME = "99COVIDBANK"


def code(value: str, scheme: str, meaning: str):
    """A highdicom ``CodedConcept``."""
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: its key in covidbank, label, SNOMED CT category/type, laterality, algorithm type."""

    key: str
    label: str
    category: tuple[str, str, str]
    type: tuple[str, str, str]
    laterality: tuple[str, str, str] | None = None
    algorithm: str = "AUTOMATIC"  # or MANUAL (an expert's mask)
    color: tuple[int, int, int] = (255, 0, 0)  # sRGB, for the CIELab display colour


ANATOMY = ("91723000", "SCT", "Anatomical Structure")
ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")
LUNG = ("39607008", "SCT", "Lung")
RIGHT = ("24028007", "SCT", "Right")
LEFT = ("7771000", "SCT", "Left")

#: the segments covidbank writes, by key (in this order)
SEGMENTS: dict[str, SegmentSpec] = {
    "right_lung": SegmentSpec("right_lung", "Right lung", ANATOMY, LUNG, RIGHT, color=(60, 200, 90)),
    "left_lung": SegmentSpec("left_lung", "Left lung", ANATOMY, LUNG, LEFT, color=(60, 140, 255)),
    "lesion": SegmentSpec("lesion", "Lesion (estimated)", ABNORMAL, ("52988006", "SCT", "Lesion"), color=(255, 40, 40)),
    "ground_glass": SegmentSpec("ground_glass", "Ground glass opacity", ABNORMAL,
                                ("112120", "DCM", "Ground glass opacity"), color=(255, 200, 0)),
    "consolidation": SegmentSpec("consolidation", "Consolidation", ABNORMAL,
                                 ("95436008", "SCT", "Lung consolidation"), color=(200, 40, 200)),
    "expert_lesion": SegmentSpec("expert_lesion", "Lesion (expert mask)", ABNORMAL, ("52988006", "SCT", "Lesion"),
                                 algorithm="MANUAL", color=(255, 120, 0)),
}


def grade_concept():
    """Concept name of the CT severity grade (private scheme)."""
    return code("CTSEV", SCHEME, "CT severity category (MosMedData CT-0 to CT-4)")


#: code meanings of the grades (at most 64 characters, PS3.5 LO)
GRADE_MEANINGS = {
    "CT-0": "CT-0: no CT signs of viral pneumonia",
    "CT-1": "CT-1: mild, under 25% of lung volume involved",
    "CT-2": "CT-2: moderate, 25 to 50% of lung volume involved",
    "CT-3": "CT-3: severe, 50 to 75% of lung volume involved",
    "CT-4": "CT-4: critical, 75% or more of lung volume involved",
}


def grade_code(category: str):
    """Coded value of a grade ``CT-0``..``CT-4``."""
    return code(category, SCHEME, GRADE_MEANINGS[category])


def percent_code():
    """Concept name of the share of lung volume involved by lesions (private scheme)."""
    return code("LUNGINV", SCHEME, "Percent of lung volume involved by lesion")


def xray_concepts() -> dict[str, object]:
    """Concept names of the Cohen collection's X-ray severity scores (private scheme)."""
    return {
        "geographic_extent": code("GEOEXT", SCHEME, "Geographic extent of lung involvement (0-8)"),
        "opacity": code("OPACITY", SCHEME, "Degree of lung opacity (0-8)"),
    }
