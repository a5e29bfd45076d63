"""Spanish radiology reports: de-identification and findings labels with UMLS CUIs."""
from __future__ import annotations

from .cues import find_cues, polarity_at
from .labeler import Mention, ReportLabeler, ReportLabels, label_report
from .deid import CATEGORIES, DeidResult, PhiSpan, Surrogates, deidentify, find_phi
from .tables import deid_frame, label_frame, labels_to_bank_rows, read_table, write_table
from .text import normalize, split_sentences, strip_accents

__all__ = [
    "ReportLabeler", "ReportLabels", "Mention", "label_report",
    "deidentify", "find_phi", "Surrogates", "PhiSpan", "DeidResult", "CATEGORIES",
    "label_frame", "deid_frame", "labels_to_bank_rows", "read_table", "write_table",
    "find_cues", "polarity_at", "normalize", "split_sentences", "strip_accents",
]
