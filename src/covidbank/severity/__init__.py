"""CT severity: lung segmentation, lesion quantification, CT-0..CT-4 grade, QC, overlay.

Typical use::

    from covidbank.severity import assess, write_overlay
    res = assess("study.nii.gz")                 # or a DICOM folder / slice
    res.category, res.involvement_percent, res.qc_flags
    res.gradable, res.not_gradable                # refused inputs get no grade
    write_overlay(res, "overlay.png")

Needs the ``[ct]`` extra (scipy, scikit-image, SimpleITK, matplotlib, pylibjpeg).
"""

__all__ = [
    "severity_table",
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
    "RESEARCH_NOTICE",
    "REFUSAL_REASONS",
    "gradability",
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
    "dice",
]

from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "dice": ".metrics",
    "SeverityResult": ".pipeline",
    "assess": ".pipeline",
    "summarize": ".pipeline",
    "BOUNDARIES": ".grade",
    "BOUNDARY_CONVENTION": ".grade",
    "CATEGORIES": ".grade",
    "DESCRIPTION": ".grade",
    "ROUTING": ".grade",
    "categorize": ".grade",
    "RESEARCH_NOTICE": ".grade",
    "REFUSAL_REASONS": ".gradable",
    "gradability": ".gradable",
    "routing_for": ".grade",
    "CTVolume": ".io",
    "check_hu": ".io",
    "load_ct": ".io",
    "load_mask": ".io",
    "save_mask": ".io",
    "LesionParams": ".lesions",
    "calibrate_intensity": ".lesions",
    "estimate_lesions": ".lesions",
    "LEFT": ".lungs",
    "RIGHT": ".lungs",
    "LungMasks": ".lungs",
    "LungParams": ".lungs",
    "segment_lungs": ".lungs",
    "write_overlay": ".overlay",
    "severity_table": ".table",
    "QC_FLAGS": ".qc",
    "qc_flags": ".qc",
}, globals())
