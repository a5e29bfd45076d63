"""CT severity: lung segmentation, lesion quantification, CT-0..CT-4 grade, QC, overlay.

Typical use::

    from covidbank.severity import assess, write_overlay
    res = assess("study.nii.gz")                 # or a DICOM folder / slice
    res.category, res.involvement_percent, res.qc_flags
    write_overlay(res, "overlay.png")

Needs the ``[ct]`` extra (scipy, scikit-image, SimpleITK, matplotlib, pylibjpeg).
"""
from .assess import SeverityResult, assess, summarize
from .grade import BOUNDARIES, BOUNDARY_CONVENTION, CATEGORIES, DESCRIPTION, ROUTING, categorize, routing_for
from .io import CTVolume, check_hu, load_ct, load_mask, save_mask
from .lesions import LesionParams, calibrate_intensity, estimate_lesions
from .lungs import LEFT, RIGHT, LungMasks, LungParams, segment_lungs
from .overlay import write_overlay
from .qc import QC_FLAGS, qc_flags

__all__ = [
    "assess",
    "SeverityResult",
    "summarize",
    "CATEGORIES",
    "BOUNDARIES",
    "BOUNDARY_CONVENTION",
    "DESCRIPTION",
    "ROUTING",
    "categorize",
    "routing_for",
    "CTVolume",
    "load_ct",
    "load_mask",
    "save_mask",
    "check_hu",
    "LesionParams",
    "estimate_lesions",
    "calibrate_intensity",
    "LungParams",
    "LungMasks",
    "segment_lungs",
    "RIGHT",
    "LEFT",
    "write_overlay",
    "qc_flags",
    "QC_FLAGS",
]
