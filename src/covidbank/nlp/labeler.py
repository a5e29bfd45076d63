"""Findings labeler for Spanish chest radiology reports (PadChest labels, UMLS CUIs).

For each report: sentences; mentions of findings, diagnoses and devices mapped
to PadChest labels with their CUIs (:mod:`.lexicon`); each mention's polarity
from the cues around it (:mod:`.cues`); anatomical locations attached to the
finding they describe; and the report-level result in BIMCV COVID-19+'s own
shape (``Labels``, ``Localizations``, ``labelCUIS``, ``LocalizationsCUIS``,
``LabelsLocalizationsBySentence``) or as rows of the bank's ``labels`` table.

BIMCV's conventions, followed here:

* findings reported as possible or probable are labels (PadChest keeps them);
  negated findings are left out;
* ``COVID 19`` is written for COVID-19 reported as present or likely
  (``compatible con``, ``sugestivo de``, ``sospecha de``), ``COVID 19
  uncertain`` when the report says it cannot be ruled in or out
  (``no se puede descartar``, ``indeterminado``, ``no típico``);
* a sentence that reports only absent findings or normal structures is
  ``normal``; a report is ``normal`` only when nothing else is found;
* ``unchanged`` (``sin cambios``, ``estable``) and ``suboptimal study``
  (``poco inspirada``, ``rotada``) are labels like the others;
* a report with no labelled sentence at all is ``exclude``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from .cues import DOUBTFUL, NEGATED, POSITIVE, find_cues, polarity_at
from .lexicon import (
    BIMCV_SENTENCES,
    FINDINGS,
    IGNORE,
    IGNORE_AS_NORMAL,
    LOCATION_CUIS,
    LOCATIONS,
    NEVER_NEGATED,
    SENTENCE_ALONE,
    SUBSUMED_BY,
    label_cui,
)
from .matcher import PhraseMatcher
from .text import normalize, split_sentences

__all__ = ["Mention", "SentenceResult", "ReportLabels", "ReportLabeler", "label_report", "LOCATION_IMPLIES"]

COVID, COVID_UNCERTAIN = "COVID 19", "COVID 19 uncertain"

#: A location implies broader ones (``lobulo inferior derecho`` is also right, lower lobe, lobar).
LOCATION_IMPLIES: dict[str, tuple[str, ...]] = {
    "loc right upper lobe": ("loc right", "loc upper lobe", "loc lobar"),
    "loc right lower lobe": ("loc right", "loc lower lobe", "loc lobar"),
    "loc left upper lobe": ("loc left", "loc upper lobe", "loc lobar"),
    "loc left lower lobe": ("loc left", "loc lower lobe", "loc lobar"),
    "loc middle lobe": ("loc right", "loc lobar"),
    "loc lower lobe": ("loc lobar",),
    "loc upper lobe": ("loc lobar",),
    "loc lingula": ("loc left", "loc lobar"),
    "loc basal bilateral": ("loc basal", "loc bilateral"),
    "loc hilar bilateral": ("loc hilar", "loc bilateral"),
    "loc diffuse bilateral": ("loc bilateral",),
    "loc middle lung field": ("loc lung field",),
    "loc upper lung field": ("loc lung field",),
    "loc lower lung field": ("loc lung field",),
    "loc left costophrenic angle": ("loc left", "loc costophrenic angle", "loc pleural"),
    "loc right costophrenic angle": ("loc right", "loc costophrenic angle", "loc pleural"),
    "loc costophrenic angle": ("loc pleural",),
    "loc perihilar": ("loc hilar",),
    "loc retrocardiac": ("loc cardiac",),
    "loc paracardiac": ("loc cardiac",),
    "loc dorsal vertebrae": ("loc column",),
    "loc lumbar vertebrae": ("loc column",),
    "loc anterior mediastinum": ("loc mediastinum",),
    "loc minor fissure": ("loc fissure",),
    "loc major fissure": ("loc fissure",),
}

#: Phrases that make a sentence ``normal`` when it has no positive finding.
_NORMAL = re.compile(
    r"\b(?:normal(?:es)?|normalidad|sin alteraciones?|sin hallazgos|libres?|conservad[oa]s?|centrad[oa]s?|"
    r"sin (?:otros )?hallazgos|no (?:se )?(?:observan|aprecian|evidencian|identifican) (?:alteraciones|hallazgos)|"
    r"sin (?:otras )?alteraciones|no hay hallazgos|sin evidencia|dentro de (?:los )?limites? normal(?:es)?|"
    r"no (?:otros )?hallazgos|sin patologia|sin signos|no signos|no muestra alteraciones|no alteraciones|"
    r"no (?:se )?(?:(?:observan?|aprecian?|evidencian?|identifican?|visualizan?|ven|detectan?|objetivan?|hay|identifico|"
    r"visualizo|observo|aprecio|veo) )?(?:otr[oa]s )?(?:claras |evidentes )?(?:lesiones|alteraciones|hallazgos|loes|"
    r"defectos de replecion|signos de tromboembolismo|imagenes (?:que sugieran|sugestivas)))\b"
)


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


class ReportLabeler:
    """Rule-based labeler: lexicon + cues + BIMCV's report conventions.

    Parameters
    ----------
    findings : dict, optional
        label -> regex patterns; default :data:`covidbank.nlp.lexicon.FINDINGS`.
    locations : dict, optional
        location label -> regex patterns; default :data:`~covidbank.nlp.lexicon.LOCATIONS`.

    Examples
    --------
    >>> r = ReportLabeler().label("Opacidades bilaterales periféricas sugestivas de COVID-19. No derrame pleural.")
    >>> r.labels
    ['increased density', 'COVID 19']
    """

    def __init__(self, findings: dict[str, list[str]] | None = None, locations: dict[str, list[str]] | None = None,
                 bimcv_conventions: bool = True):
        self._findings = PhraseMatcher(findings or FINDINGS)
        self._locations = PhraseMatcher(locations or LOCATIONS)
        self._fixed = [(re.compile(p + r"$"), labs) for p, labs in BIMCV_SENTENCES] if bimcv_conventions else []

    # ------------------------------------------------------------------ API
    def label(self, text: str) -> ReportLabels:
        """Label one report (ordinary Spanish or BIMCV's normalized form)."""
        norm = normalize(text)
        if "recorda" in norm:
            norm = _AS_NORMAL.sub(lambda m: "normal".ljust(len(m.group())), norm)
        norm = _IGNORE.sub(lambda m: " " * len(m.group()), norm)
        mentions: list[Mention] = []
        sents: list[SentenceResult] = []
        ffind, lfind = self._findings.find, self._locations.find
        for si, s in enumerate(split_sentences(norm)):
            st = s.text
            found = ffind(st)
            locs = lfind(st)
            cues = find_cues(st) if found else []
            smentions: list[Mention] = []
            for labs, a, b in found:
                for lab in labs.split("|"):
                    pol = POSITIVE if lab in NEVER_NEGATED else polarity_at(cues, a, b)
                    if lab == COVID and pol == DOUBTFUL:
                        lab = COVID_UNCERTAIN
                    smentions.append(Mention(lab, label_cui(lab), si, s.start + a, s.start + b, pol))
            # chest labels only: an infectious process or lymph nodes placed in the abdomen are not
            # pneumonia / (chest) adenopathy ("cambios inflamatorios infecciosos intraperitoneales")
            if smentions and _ABDOMINAL.search(st):
                lung = _LUNG.search(st)
                smentions = [m for m in smentions if not (
                    (m.label == "pneumonia" and not lung and "neumon" not in norm[m.start:m.end])
                    or (m.label == "adenopathy" and m.polarity != NEGATED
                        and _ABDOMINAL.search(norm, m.end, min(len(norm), m.end + 40)) is not None))]
            # "osteoma costal sin cambios", "hemitorax izquierdo sin cambios": a "sin cambios" that qualifies a
            # named structure is not BIMCV's "unchanged" (13 of 14); "resto sin cambios" and a sentence that
            # opens with it are
            if smentions:
                smentions = [m for m in smentions if not (
                    m.label == "unchanged" and norm.startswith("sin ", m.start)
                    and not _UNCHANGED_SUBJECT.match(st[:m.start - s.start].strip()))]
            # "opacidades nodulares", "focos de consolidacion nodular": a nodular shape of an opacity, not a
            # nodule (BIMCV: no nodule in 5 of 6 dev sentences; the sixth gives a size, "opacidad nodular de 3 mm")
            if smentions and "nodular" in st:
                smentions = [m for m in smentions if not (
                    m.label == "nodule" and norm.startswith("nodular", m.start)
                    and _SHAPED.search(norm, max(0, m.start - 16), m.start) is not None
                    and _SIZED.match(norm, m.end) is None)]
            # attach each location to the nearest finding (preceding first: "derrame pleural derecho")
            if smentions:
                for loc, a, b in locs:
                    best, dist = None, None
                    for m in smentions:
                        ma, mb = m.start - s.start, m.end - s.start
                        d = (a - mb) if a >= mb else (ma - b) * 1.5 if b <= ma else 0
                        if dist is None or d < dist:
                            best, dist = m, d
                    if best is not None:
                        best.locations.extend(_expand_loc(loc))
            slabels: list[str] = []
            for m in smentions:
                if m.polarity != NEGATED and m.label not in slabels:
                    slabels.append(m.label)
            for lab, subs in SUBSUMED_BY.items():
                if lab in slabels and any(x in slabels for x in subs):
                    slabels.remove(lab)
            # "opacidades ... compatibles con neumonia" is pneumonia, not also increased density (30 of 35);
            # "opacidades ... sugestivas de infeccion" keeps both (72 of 75)
            if "increased density" in slabels and any(
                    m.label in _PNEUMONIAS and m.polarity != NEGATED and "neumon" in norm[m.start:m.end]
                    for m in smentions):
                slabels.remove("increased density")
            if "consolidation" in slabels and _plural_consolidation_only(smentions, norm, slabels):
                slabels.remove("consolidation")
            # a consolidation described within a ground-glass *pattern* ("condensación en LII con áreas en patrón
            # de vidrio deslustrado") is the pattern for BIMCV: consolidation left out in 13 of 15 dev sentences
            # (with plain "vidrio deslustrado" it is kept in 33 of 39)
            if "consolidation" in slabels and "ground glass pattern" in slabels and _GG_PATTERN.search(st):
                slabels.remove("consolidation")
            if len(slabels) > 1:
                for lab in SENTENCE_ALONE:
                    if lab in slabels:
                        slabels.remove(lab)
            if not slabels and (any(m.polarity == NEGATED for m in smentions) or _NORMAL.search(st)):
                slabels = ["normal"]
            flat = _COLONS.sub(" ", st) if self._fixed else st
            for rx, fixed in self._fixed:
                if rx.match(flat):
                    slabels = list(fixed)
                    have = {m.label for m in smentions if m.polarity != NEGATED}
                    smentions.extend(Mention(x, label_cui(x), si, s.start, s.end, POSITIVE) for x in fixed
                                     if x not in have and x not in ("normal", "exclude"))
                    break
            mentions.extend(smentions)
            slocs: list[str] = []
            if slabels:
                for loc, _, _ in locs:
                    for x in _expand_loc(loc):
                        if x not in slocs:
                            slocs.append(x)
            sents.append(SentenceResult(s.start, s.end, slabels if slabels else ["exclude"], slocs))
        # BIMCV's report labels: every label of every sentence, except a sentence that is only "normal" or
        # only "exclude"; "exclude" beside another label of the same sentence is kept, and so is "normal"
        # beside a label other than "suboptimal study" / "unchanged" (as the dev table does, 48 of 48)
        labels: list[str] = []
        for s in sents:
            for x in s.labels:
                if x in labels:
                    continue
                if x == "normal" and not any(y not in _NOT_KEEPING_NORMAL for y in s.labels):
                    continue
                if x == "exclude" and len(s.labels) == 1:
                    continue
                labels.append(x)
        if COVID in labels and COVID_UNCERTAIN in labels:
            labels.remove(COVID_UNCERTAIN)
        if not labels:
            labels = ["normal"] if any("normal" in s.labels for s in sents) else ["exclude"]
        locs_out: list[str] = []
        for s in sents:
            for x in s.locations:
                if x not in locs_out:
                    locs_out.append(x)
        return ReportLabels(norm, mentions, sents, labels, locs_out)

    def label_many(self, texts: Iterable[str]) -> list[ReportLabels]:
        """Label many reports (same result as calling :meth:`label` on each)."""
        return [self.label(t) for t in texts]


def _plural_consolidation_only(smentions: list[Mention], norm: str, slabels: list[str]) -> bool:
    """Whether a sentence's consolidation is only a plural or an adjective, hedged or beside another finding.

    BIMCV leaves ``consolidation`` out when every consolidation of the sentence is a plural
    ``consolidaciones``/``condensaciones`` or an adjective (``consolidativo``, ``más consolidadas``) that is
    hedged (``compatibles con consolidaciones neumónicas``) or stands beside another finding of the same
    sentence (``consolidaciones alveolares``, ``áreas consolidativas ... vidrio deslustrado``): 44 of the 54
    dev sentences where this fires have no consolidation (plurals 37 of 46, adjectives 7 of 8), while a
    singular ``consolidación`` is kept in 146 of 156 sentences and a plural one alone in 28 of 49.
    ``COVID 19`` beside it does not count as another finding (kept 5 of 12).
    """
    cons = [m for m in smentions if m.label == "consolidation" and m.polarity != NEGATED]
    if not cons or not all(_NOT_SINGULAR_NOUN.fullmatch(norm, m.start, m.end) for m in cons):
        return False
    if all(m.polarity != POSITIVE for m in cons):
        return True
    return any(x not in _NOT_A_FINDING for x in slabels)


def _expand_loc(loc: str) -> tuple[str, ...]:
    return (loc,) + LOCATION_IMPLIES.get(loc, ())


_IGNORE = re.compile("|".join(IGNORE))
_AS_NORMAL = re.compile("|".join(IGNORE_AS_NORMAL))
_COLONS = re.compile(r"[\s:]+")
_PNEUMONIAS = frozenset({"pneumonia", "viral pneumonia", "atypical pneumonia"})
_UNCHANGED_SUBJECT = re.compile(
    r"(?:(?:\w+ ){0,3}(?:resto|estudio|exploracion|radiografia|rx|placa|hallazgos|informe|conclusion|impresion|otros|"
    r"parenquima|previ[oa]s?|compar\w*|control)\b.*)?$")
_ABDOMINAL = re.compile(
    r"\b(?:abdom\w*|intraperit\w*|retroperit\w*|mesenter\w*|pelvi\w*|renal(?:es)?|rinon(?:es)?|perirrenal\w*|hepat\w*|"
    r"higado|pancrea\w*|vesicul\w*|biliar\w*|apendic\w*|colon|colic[oa]s?|intestin\w*|urinari\w*|inguinal\w*|iliac\w*|"
    r"esplen\w*|bazo|suprarrenal\w*|adrenal\w*|periportal\w*|paraaortic\w*|gotiera\w*|ureter\w*|vejiga|peritone\w*)\b")
_LUNG = re.compile(r"\b(?:pulmon\w*|parenquima\w*|lobul\w*|neumon\w*|torac\w*|respirator\w*|bronqu\w*|alveol\w*|lsd|lid|lsi|lii)\b")
_NOT_KEEPING_NORMAL = frozenset({"normal", "suboptimal study", "unchanged"})
_SHAPED = re.compile(r"\b(?:opacidad(?:es)?|consolidacion(?:es)?|condensacion(?:es)?) $")
_SIZED = re.compile(r"(?:es)? (?:de )?(?:unos? |hasta )?\d")
_GG_PATTERN = re.compile(r"\bpatron (?:de |en )?vidrio")
_NOT_SINGULAR_NOUN = re.compile(r"\w+ciones(?: neumonicas?)?|consolidativ[oa]s?|consolidad[oa]s?|condensad[oa]s?")
_NOT_A_FINDING = frozenset({"consolidation", "normal", "suboptimal study", "unchanged", "exclude", COVID, COVID_UNCERTAIN})
_DEFAULT: ReportLabeler | None = None


def label_report(text: str) -> ReportLabels:
    """Label one report with the default :class:`ReportLabeler` (built once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ReportLabeler()
    return _DEFAULT.label(text)
