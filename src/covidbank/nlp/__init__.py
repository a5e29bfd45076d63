"""Spanish radiology reports: de-identification and findings labels with UMLS CUIs."""
from __future__ import annotations

__all__ = [
    "ReportLabeler", "ReportLabels", "Mention", "label_report",
    "deidentify", "find_phi", "Surrogates", "PhiSpan", "DeidResult", "CATEGORIES",
    "label_frame", "deid_frame", "labels_to_bank_rows", "read_table", "write_table",
    "find_cues", "polarity_at", "normalize", "split_sentences", "strip_accents",
]

from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "find_cues": ".cues",
    "polarity_at": ".cues",
    "Mention": ".labeler",
    "ReportLabeler": ".labeler",
    "ReportLabels": ".labeler",
    "label_report": ".labeler",
    "CATEGORIES": ".deid",
    "DeidResult": ".deid",
    "PhiSpan": ".deid",
    "Surrogates": ".deid",
    "deidentify": ".deid",
    "find_phi": ".deid",
    "deid_frame": ".tables",
    "label_frame": ".tables",
    "labels_to_bank_rows": ".tables",
    "read_table": ".tables",
    "write_table": ".tables",
    "normalize": ".text",
    "split_sentences": ".text",
    "strip_accents": ".text",
}, globals())
