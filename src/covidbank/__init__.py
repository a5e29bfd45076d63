"""covidbank: toolkit and data bank for COVID-19 chest imaging.

Public API (imported lazily: ``import covidbank`` stays fast and pulls in
pandas, DuckDB or a feature's extra only when a name is first used)
------------------------------------------------------------------------
Bank, AddSummary
    A bank folder: Parquet index queried through DuckDB.
load_source, SOURCES, SourceResult
    Read a public COVID-19 collection into the harmonized schema.
LabelTree, default_tree, padchest_tree
    The label vocabulary with UMLS CUIs and implied parents.
TABLES, conform
    The schema: tables, columns, types.
catalog_frame
    The catalog of public COVID-19 imaging resources.
ingest, validate
    Hospital DICOM to a de-identified MIDS bank; layout checks.
check_burned_in, review_queue, apply_reviews
    Text burned into X-ray pixels: OCR, redaction with a second reading, the curators' review.
deidentify, label_report, ReportLabeler
    Spanish radiology reports: de-identification and findings with CUIs.
assess
    CT severity: lungs, lesions, CT-0..CT-4 grade, QC.
build_report, write_report
    The technical-validation report.
make_split, write_split, check_leakage, find_duplicates
    Patient-level splits, leakage checks, duplicate images across sources.
create_app
    The web viewer (FastAPI app).
XRayDataset, CTDataset
    PyTorch datasets (``covidbank[torch]``).
CovidbankError and its subclasses
    Errors raised by covidbank (``covidbank.errors``).
"""
from __future__ import annotations

from . import errors as _errors
from ._lazy import lazy_exports

# exception classes are light: export them eagerly
_error_names = [n for n, v in vars(_errors).items() if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == _errors.__name__]
globals().update({n: getattr(_errors, n) for n in _error_names})

__version__ = "0.1.0"

#: Public name -> module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "Bank": "covidbank.bank",
    "AddSummary": "covidbank.bank",
    "load_source": "covidbank.sources",
    "SOURCES": "covidbank.sources",
    "SourceResult": "covidbank.sources",
    "LabelTree": "covidbank.labels",
    "default_tree": "covidbank.labels",
    "padchest_tree": "covidbank.labels",
    "TABLES": "covidbank.schema",
    "conform": "covidbank.schema",
    "catalog_frame": "covidbank.catalog",
    "ingest": "covidbank.dicom.ingest",
    "validate": "covidbank.dicom.mids",
    "check_burned_in": "covidbank.ocr.burnedin",
    "review_queue": "covidbank.ocr.review",
    "apply_reviews": "covidbank.ocr.review",
    "pull": "covidbank.pacs",
    "read_cohort": "covidbank.pacs",
    "cohort_from_tests": "covidbank.pacs",
    "DimseArchive": "covidbank.pacs",
    "DicomwebArchive": "covidbank.pacs",
    "deidentify": "covidbank.nlp",
    "label_report": "covidbank.nlp",
    "ReportLabeler": "covidbank.nlp",
    "assess": "covidbank.severity",
    "build_report": "covidbank.validation",
    "write_report": "covidbank.validation",
    "make_split": "covidbank.splits",
    "write_split": "covidbank.splits",
    "check_leakage": "covidbank.splits",
    "find_duplicates": "covidbank.duplicates",
    "create_app": "covidbank.web",
    "XRayDataset": "covidbank.torch",
    "CTDataset": "covidbank.torch",
}

__all__ = sorted([*_LAZY, *_error_names, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
