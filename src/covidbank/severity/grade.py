"""The MosMedData CT-0..CT-4 severity scale and the Moscow routing protocol.

MosMedData (Morozov et al., 2020) grades a chest CT by the share of lung
parenchyma involved by ground-glass opacities and consolidation:

=====  ===================================  ==========================
grade  involvement (this package)           MosMed wording
=====  ===================================  ==========================
CT-0   0 % (no lesion)                      no CT signs of viral pneumonia
CT-1   0 % < p < 25 %                       "less than 25 %" / "up to 25 %"
CT-2   25 % <= p < 50 %                     "between 25 and 50 %"
CT-3   50 % <= p < 75 %                     "between 50 and 75 %"
CT-4   p >= 75 %                            "75 % and more" / "exceeds 75 %"
=====  ===================================  ==========================

**Boundary convention** (the MosMed text leaves it open): every boundary
belongs to the *higher* grade, i.e. the intervals are half-open
``[25, 50)``, ``[50, 75)``, ``[75, 100]``.  Exactly 25 % is CT-2, exactly 50 %
CT-3, exactly 75 % CT-4.  This agrees with the MosMed README's "CT-1: less than
25 %" and with "CT-4: 75 % and more" of the grading protocol; it errs toward
the safer (more severe) routing at a tie.  The percentage is compared
unrounded; CT-0 means no lesion voxel at all (after the lesion estimator's
minimum-size filter).
"""
from __future__ import annotations

import math

__all__ = [
    "RESEARCH_NOTICE",
    "CATEGORIES",
    "BOUNDARIES",
    "BOUNDARY_CONVENTION",
    "ROUTING",
    "DESCRIPTION",
    "categorize",
    "routing_for",
]

#: Carried by every grade and routing text covidbank prints or writes (CLI,
#: JSON, overlay, viewer, DICOM SR): the grade comes from an automatic,
#: unvalidated estimate.
RESEARCH_NOTICE = "Research use only, not for clinical decisions: an automatic estimate, not a diagnosis."

CATEGORIES: tuple[str, ...] = ("CT-0", "CT-1", "CT-2", "CT-3", "CT-4")
#: lower bounds (inclusive) of CT-2, CT-3 and CT-4, in percent of lung volume
BOUNDARIES: tuple[float, float, float] = (25.0, 50.0, 75.0)
BOUNDARY_CONVENTION = (
    "half-open intervals, each boundary belongs to the higher grade: CT-1 (0,25), CT-2 [25,50), "
    "CT-3 [50,75), CT-4 [75,100]; CT-0 = no lesion"
)

#: Short description of each grade (MosMedData README, paraphrased).
DESCRIPTION: dict[str, str] = {
    "CT-0": "normal lung tissue, no CT signs of viral pneumonia",
    "CT-1": "mild: several ground-glass opacities, less than 25% of lung parenchyma involved",
    "CT-2": "moderate: ground-glass opacities, 25-50% of lung parenchyma involved",
    "CT-3": "severe: ground-glass opacities and consolidation, 50-75% of lung parenchyma involved",
    "CT-4": "critical: diffuse ground-glass opacities, consolidation and reticular changes, 75% or more involved",
}

#: Patient routing of the Moscow protocol table for each grade (MosMedData
#: paper, Table 1; paraphrased, not a verbatim quote).
ROUTING: dict[str, str] = {
    "CT-0": "No CT signs of viral pneumonia: no COVID-19 pneumonia routing; refer to a physician for other causes.",
    "CT-1": "Mild pneumonia: follow-up at home with telemedicine monitoring (telemonitoring).",
    "CT-2": "Moderate pneumonia: follow-up at home by a primary care physician.",
    "CT-3": "Severe pneumonia: immediate admission to a hospital (COVID-19 inpatient unit).",
    "CT-4": "Critical pneumonia: immediate admission to an intensive care unit.",
}


def categorize(percent: float, lesion_present: bool | None = None) -> str:
    """CT-0..CT-4 for an involvement percentage.

    Parameters
    ----------
    percent : float
        Share of lung volume with lesions, 0..100 (not rounded).
    lesion_present : bool, optional
        Whether any lesion voxel exists; default ``percent > 0``.

    Returns
    -------
    str
        ``CT-0`` .. ``CT-4`` following :data:`BOUNDARY_CONVENTION`.

    Raises
    ------
    ValueError
        For a percentage outside 0..100 or NaN.
    """
    p = float(percent)
    if math.isnan(p) or p < 0 or p > 100 + 1e-9:
        raise ValueError(f"involvement {percent!r} is not a percentage between 0 and 100")
    present = (p > 0) if lesion_present is None else bool(lesion_present)
    if not present:
        return "CT-0"
    if p < BOUNDARIES[0]:
        return "CT-1"
    if p < BOUNDARIES[1]:
        return "CT-2"
    if p < BOUNDARIES[2]:
        return "CT-3"
    return "CT-4"


def routing_for(category: str) -> str:
    """Routing text of the Moscow protocol for a grade (``CT-0``..``CT-4``)."""
    try:
        return ROUTING[category]
    except KeyError:
        raise ValueError(f"unknown category {category!r}: expected one of {', '.join(CATEGORIES)}") from None
