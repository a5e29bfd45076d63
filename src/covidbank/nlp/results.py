"""What the labeler returns: mentions, sentences and the report's labels in BIMCV's shape."""
from __future__ import annotations

from dataclasses import dataclass, field

from .cues import NEGATED, POSITIVE
from .lexicon import LOCATION_CUIS, label_cui

__all__ = ["Mention", "SentenceResult", "ReportLabels", "COVID", "COVID_UNCERTAIN"]

COVID, COVID_UNCERTAIN = "COVID 19", "COVID 19 uncertain"


@dataclass
class Mention:
    """One finding mentioned in a report.

    Attributes
    ----------
    label : str
        PadChest label.
    cui : str or None
        Its UMLS CUI.
    sentence : int
        Index of the sentence.
    start, end : int
        Offsets in the normalized report text.
    polarity : str
        ``positive``, ``negated``, ``hedged`` or ``doubtful``.
    locations : list of str
        Location labels (``loc right``, ...) attached to this finding.
    """

    label: str
    cui: str | None
    sentence: int
    start: int
    end: int
    polarity: str
    locations: list[str] = field(default_factory=list)

    @property
    def value(self) -> int:
        """Bank value: 1 positive, 0 negated, -1 uncertain (hedged or doubtful)."""
        return {POSITIVE: 1, NEGATED: 0}.get(self.polarity, -1)


@dataclass
class SentenceResult:
    """Labels and locations of one sentence, as BIMCV lists them."""

    start: int
    end: int
    labels: list[str]
    locations: list[str]


@dataclass
class ReportLabels:
    """Everything the labeler found in one report.

    Attributes
    ----------
    text : str
        The normalized report text (offsets refer to it).
    mentions : list of Mention
    sentences : list of SentenceResult
    labels : list of str
        Report labels in BIMCV's convention (negated findings left out).
    localizations : list of str
        Report locations (``loc ...``).
    """

    text: str
    mentions: list[Mention]
    sentences: list[SentenceResult]
    labels: list[str]
    localizations: list[str]

    @property
    def label_cuis(self) -> list[str]:
        """CUIs of :attr:`labels` (labels without a CUI are skipped, as in BIMCV)."""
        return [c for c in (label_cui(x) for x in self.labels) if c]

    @property
    def localization_cuis(self) -> list[str]:
        """CUIs of :attr:`localizations`."""
        return [c for c in (LOCATION_CUIS.get(x) for x in self.localizations) if c]

    @property
    def by_sentence(self) -> list[list[str]]:
        """Per-sentence labels followed by the sentence's locations (``LabelsLocalizationsBySentence``)."""
        return [s.labels + s.locations for s in self.sentences]

    def values(self) -> dict[str, int]:
        """Report-level value per label: 1 positive, -1 uncertain, 0 only negated.

        A label mentioned positively anywhere is 1; else uncertain anywhere is
        -1; else (only negated mentions) 0.  ``COVID 19 uncertain`` is 1 when
        the report says so (BIMCV's label) and then ``COVID 19`` is -1.
        """
        out: dict[str, int] = {}
        for m in self.mentions:
            v = m.value
            prev = out.get(m.label)
            if prev is None or v == 1 or (v == -1 and prev == 0):
                out[m.label] = v
        for lab in self.labels:
            if lab in ("normal", "exclude", COVID_UNCERTAIN):
                out[lab] = 1
        if COVID_UNCERTAIN in self.labels and out.get(COVID) != 1:
            out[COVID] = -1
        return out

    def bimcv_row(self) -> dict[str, str]:
        """The five BIMCV columns as Python-list strings, like the published table."""
        return {
            "Labels": repr(self.labels),
            "Localizations": repr(self.localizations),
            "labelCUIS": repr(self.label_cuis),
            "LocalizationsCUIS": repr(self.localization_cuis),
            "LabelsLocalizationsBySentence": repr(self.by_sentence),
        }
