"""Spanish radiology reports: de-identification and findings labels with UMLS CUIs."""
from __future__ import annotations

__all__ = [
    "ReportLabeler", "ReportLabels", "Mention", "label_report",
    "deidentify", "find_phi", "find_phi_rules", "Surrogates", "PhiSpan", "DeidResult", "CATEGORIES", "PHI_TYPES",
    "DEFAULT_POLICY", "PhiTagger", "normalize_for_matching",
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
    "find_phi_rules": ".deid",
    "PHI_TYPES": ".deid",
    "DEFAULT_POLICY": ".deid",
    "PhiTagger": ".tagger",
    "normalize_for_matching": ".normalize",
    "deid_frame": ".tables",
    "label_frame": ".tables",
    "labels_to_bank_rows": ".tables",
    "read_table": ".tables",
    "write_table": ".tables",
    "normalize": ".text",
    "split_sentences": ".text",
    "strip_accents": ".text",
}, globals())
