"""Spanish radiology reports: de-identification and findings labels with UMLS CUIs."""
from __future__ import annotations

from .cues import find_cues, polarity_at
from .labeler import Mention, ReportLabeler, ReportLabels, label_report
from .text import normalize, split_sentences, strip_accents

__all__ = [
    "ReportLabeler", "ReportLabels", "Mention", "label_report",
    "find_cues", "polarity_at", "normalize", "split_sentences", "strip_accents",
]
