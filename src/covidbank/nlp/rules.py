"""BIMCV COVID-19+'s labelling conventions as named rules, each with a switch.

The reference covidbank's labeler is measured against is the BIMCV authors'
report classifier (issue 17).  It follows conventions a reader would not
guess from the text alone (``unchanged`` only for a sentence that reports
nothing else, ``normal`` kept beside a finding of the same sentence, ...).
Each convention is one :class:`Rule` here: a small function with a docstring
saying what it does and the counts that justify it, taken from the *rules
part* of the dev table only (the subjects :func:`covidbank.nlp.corpus.split_reports`
puts in ``rules``; the ``validation`` part is never read).  The counts are
printed by ``python bench/reports_eval.py`` (the ablation table): *changes* are the
report labels the rule adds or removes over the distinct reports of the
rules part, and *agree* how many of those changes move the labels towards
the reference.

``ReportLabeler(disable={"unchanged_alone"})`` switches rules off; the bench
prints what each one adds on the validation part (the ablation table).

Rules run at five stages:

``text``
    ``(report text) -> report text``, before sentences are split.
``cue``
    ``(sentence) -> list of Cue``: a scope convention of :func:`covidbank.nlp.cues.find_cues`
    (:data:`~covidbank.nlp.cues.CUE_RULES`), which applies it and takes its switch; the function
    returns the sentence's cues with the convention on.
``mention``
    ``(SentenceContext) -> None``: may drop or relabel the sentence's mentions.
``sentence``
    ``(SentenceContext) -> None``: may change the sentence's labels.
``report``
    ``(ReportContext) -> None``: may change the report's labels.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Callable

from .cues import CUE_RULES, DOUBTFUL, NEGATED, POSITIVE, Cue, find_cues
from .lexicon import BIMCV_SENTENCES, IGNORE, IGNORE_AS_NORMAL, REFERENCE_PARENT, SENTENCE_ALONE, SUBSUMED_BY, label_cui
from .results import COVID, COVID_UNCERTAIN, Mention, SentenceResult

__all__ = ["Rule", "RULES", "RULE_NAMES", "SentenceContext", "ReportContext", "rule"]

STAGES = ("text", "cue", "mention", "sentence", "report")


@dataclass
class SentenceContext:
    """One sentence while it is labelled.

    Attributes
    ----------
    index : int
        Sentence number.
    text : str
        The sentence (normalized).
    start, end : int
        Its offsets in :attr:`report`.
    report : str
        The whole normalized report (mention offsets refer to it).
    mentions : list of Mention
    labels : list of str
        The sentence's labels (filled after the mention stage).
    cues : list of Cue
        Its negation and uncertainty cues (looked for only when the lexicon found something).
    """

    index: int
    text: str
    start: int
    end: int
    report: str
    mentions: list[Mention] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    cues: list = field(default_factory=list)

    def positive_labels(self) -> set[str]:
        """Labels of the sentence's mentions that are not negated."""
        return {m.label for m in self.mentions if m.polarity != NEGATED}


@dataclass
class ReportContext:
    """A report's sentences and labels while its report-level rules run.

    Attributes
    ----------
    sentences : list of SentenceResult
    labels : list of str
        The report's labels so far.
    keys : dict
        label -> (sentence, position) where the label is listed from, which
        orders :attr:`labels` as BIMCV does (sentence order).
    text : str
        The whole normalized report (sentence and mention offsets refer to it).
    mentions : list of Mention
        The report's mentions (a rule that adds a label adds its mention here).
    """

    sentences: list[SentenceResult]
    labels: list[str]
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    text: str = ""
    mentions: list[Mention] = field(default_factory=list)

    def add(self, label: str, sentence: int) -> None:
        """Add ``label`` as listed from sentence number ``sentence``."""
        if label not in self.labels:
            self.labels.append(label)
            self.keys[label] = (sentence, self.sentences[sentence].labels.index(label))


@dataclass(frozen=True)
class Rule:
    """A named labelling convention.

    Attributes
    ----------
    name : str
        The switch (``ReportLabeler(disable={name})``).
    stage : str
        ``text``, ``mention``, ``sentence`` or ``report``.
    apply : callable
        The rule (see the module doc for each stage's signature).
    """

    name: str
    stage: str
    apply: Callable

    @property
    def doc(self) -> str:
        """The rule's docstring: what it does and the counts behind it."""
        return inspect.getdoc(self.apply) or ""

    @property
    def summary(self) -> str:
        """First line of :attr:`doc`."""
        return self.doc.split("\n", 1)[0]


RULES: list[Rule] = []


def rule(stage: str) -> Callable[[Callable], Callable]:
    """Register a function as a :class:`Rule` of ``stage`` named after the function (in definition order)."""
    if stage not in STAGES:
        raise ValueError(f"unknown rule stage {stage!r}")

    def deco(fn: Callable) -> Callable:
        RULES.append(Rule(fn.__name__, stage, fn))
        return fn

    return deco


# ----------------------------------------------------------------------------------------------------------- text
_AS_NORMAL = re.compile("|".join(IGNORE_AS_NORMAL))
_IGNORE = re.compile("|".join(IGNORE))
#: Words one of which every :data:`~covidbank.nlp.lexicon.IGNORE` pattern needs (a text with none is left
#: as it is without running the patterns; ``tests/nlp/test_rules.py`` checks the patterns against it).
IGNORE_KEYS = ("covid", "normal no", "estabilidad radiologica", "neumonia organizada", "incluiran", "puede ser normal")


@rule("text")
def reminder_is_normal(text: str) -> str:
    """The reminder that a normal radiograph does not exclude COVID-19 is the word ``normal``.

    ``recordar que una radiografia normal no excluye infeccion covid 19`` names
    the disease without reporting it; it becomes ``normal`` before matching
    (:data:`~covidbank.nlp.lexicon.IGNORE_AS_NORMAL`).  Rules part: changes no report label; the
    reminder's sentence is ``normal`` in the reference in 4 of 4 sentences (it would be ``exclude``).
    """
    if "recorda" not in text:
        return text
    return _AS_NORMAL.sub(lambda m: "normal".ljust(len(m.group())), text)


@rule("text")
def boilerplate_is_not_a_finding(text: str) -> str:
    """Boilerplate that names findings without reporting them is blanked before matching.

    The reason for the examination (``valorar afectacion pulmonar por covid
    19``), the clinical history (``ingresado por covid``, a relative or a
    contact with COVID) and caveats (``la rx puede ser normal en fases
    iniciales``) are not the exam's findings
    (:data:`~covidbank.nlp.lexicon.IGNORE`).  Rules part: changes 43 report labels in 34 reports, 36 of them towards the reference.
    """
    if not any(k in text for k in IGNORE_KEYS):
        return text
    return _IGNORE.sub(lambda m: " " * len(m.group()), text)


# ------------------------------------------------------------------------------------------------------------ cue
# Linguistic scope conventions, not BIMCV's: written from Spanish, each tested on sentences written for the test
# (tests/nlp/test_cues.py).  On the rules part none of them changes a report label (the constructions are rare in
# BIMCV's reports); they are there for reports worded otherwise.
@rule("cue")
def assertion_ends_negation(sentence: str) -> list[Cue]:
    """A new existential assertion (``hay``, ``existe(n)``) closes a negation's (or a hedge's) scope.

    ``no se observa derrame pleural y existen opacidades compatibles con covid 19``: the opacities and COVID-19
    are asserted, not negated.  ``ni hay``, ``tampoco hay``, ``no existen`` and a dictated ``no hay hay`` stay
    negations.  Rules part: changes no report label (one label read as hedged becomes positive).
    """
    return find_cues(sentence)


@rule("cue")
def patient_ends_negation(sentence: str) -> list[Cue]:
    """The patient and what is known of them are outside the exam's negation.

    ``sin hallazgos radiologicos en paciente con covid 19 confirmado``, ``no se observan nuevas opacidades en
    paciente con neumonia covid conocida``: the findings are negated, the patient's COVID-19 is not.  Rules part:
    changes no report label.
    """
    return find_cues(sentence)


@rule("cue")
def negative_result_negates_before(sentence: str) -> list[Cue]:
    """A negative test result negates the three words before it, wherever it stands in the sentence.

    ``paciente covid negativo con opacidades bilaterales``, ``pcr de covid negativa y fiebre``: COVID-19 is
    negated, the opacities are not (a ``negativo`` closing the sentence already negated its whole clause).
    Rules part: changes no report label.
    """
    return find_cues(sentence)


@rule("cue")
def negated_course_keeps_finding(sentence: str) -> list[Cue]:
    """A negated course of a finding presupposes the finding.

    ``sin empeoramiento de la neumonia``, ``no se observa progresion de la neumonia por covid 19``, ``no ha
    habido cambios en la consolidacion``: the finding is there (as a negated change already was, ``no hay cambios
    en el derrame``); what changed runs to the complement that names it (``por covid 19``), and the negation still
    reaches what the sentence lists after it.  Rules part: changes no report label.
    """
    return find_cues(sentence)


assert tuple(r.name for r in RULES if r.stage == "cue") == CUE_RULES


# -------------------------------------------------------------------------------------------------------- mention
@rule("mention")
def covid_doubt_is_uncertain(s: SentenceContext) -> None:
    """COVID-19 that the report cannot rule in or out is ``COVID 19 uncertain``.

    A ``COVID 19`` mention under a doubt cue (``no se puede excluir``,
    ``indeterminado``, ``no tipico de``; :data:`~covidbank.nlp.cues.DOUBT_CUES`)
    becomes ``COVID 19 uncertain``; hedged COVID (``sugestivo de``,
    ``compatible con``) stays ``COVID 19``.  Rules part: changes 20 report labels in 10 reports, 17 of them towards the reference.
    """
    for m in s.mentions:
        if m.label == COVID and m.polarity == DOUBTFUL:
            m.label, m.cui = COVID_UNCERTAIN, label_cui(COVID_UNCERTAIN)


_ABDOMINAL = re.compile(
    r"\b(?:abdom\w*|intraperit\w*|retroperit\w*|mesenter\w*|pelvi\w*|renal(?:es)?|rinon(?:es)?|perirrenal\w*|hepat\w*|"
    r"higado|pancrea\w*|vesicul\w*|biliar\w*|apendic\w*|colon|colic[oa]s?|intestin\w*|urinari\w*|inguinal\w*|iliac\w*|"
    r"esplen\w*|bazo|suprarrenal\w*|adrenal\w*|periportal\w*|paraaortic\w*|gotiera\w*|ureter\w*|vejiga|peritone\w*)\b")
_LUNG = re.compile(r"\b(?:pulmon\w*|parenquima\w*|lobul\w*|neumon\w*|torac\w*|respirator\w*|bronqu\w*|alveol\w*|lsd|lid|lsi|lii)\b")


@rule("mention")
def abdomen_is_not_chest(s: SentenceContext) -> None:
    """An infection or lymph nodes placed in the abdomen are not pneumonia or (chest) adenopathy.

    ``cambios inflamatorios infecciosos intraperitoneales`` is no pneumonia
    unless the sentence names the lung; ``adenopatias retroperitoneales`` is no
    chest adenopathy.  Rules part: changes 5 report labels in 4 reports, 4 of them towards the reference.
    """
    if not s.mentions or not _ABDOMINAL.search(s.text):
        return
    lung = _LUNG.search(s.text)
    norm = s.report
    s.mentions = [m for m in s.mentions if not (
        (m.label == "pneumonia" and not lung and "neumon" not in norm[m.start:m.end])
        or (m.label == "adenopathy" and m.polarity != NEGATED
            and _ABDOMINAL.search(norm, m.end, min(len(norm), m.end + 40)) is not None))]


_UNCHANGED_SUBJECT = re.compile(
    r"(?:(?:\w+ ){0,3}(?:resto|estudio|exploracion|radiografia|rx|placa|hallazgos|informe|conclusion|impresion|otros|"
    r"parenquima|previ[oa]s?|compar\w*|control)\b.*)?$")


@rule("mention")
def unchanged_needs_the_study(s: SentenceContext) -> None:
    """A ``sin cambios`` that qualifies a named structure is not ``unchanged``.

    ``osteoma costal sin cambios`` and ``hemitorax izquierdo sin cambios``
    describe the structure; ``resto sin cambios``, ``estudio sin cambios`` and
    a sentence that opens with ``sin cambios`` are ``unchanged``.
    Rules part: changes 5 report labels in 5 reports, 5 of them towards the reference.
    """
    if not s.mentions:
        return
    norm, st = s.report, s.text
    s.mentions = [m for m in s.mentions if not (
        m.label == "unchanged" and norm.startswith("sin ", m.start)
        and not _UNCHANGED_SUBJECT.match(st[:m.start - s.start].strip()))]


_SHAPED = re.compile(r"\b(?:opacidad(?:es)?|consolidacion(?:es)?|condensacion(?:es)?) $")
_SIZED = re.compile(r"(?:es)? (?:de )?(?:unos? |hasta )?\d")


@rule("mention")
def nodular_shape_is_not_a_nodule(s: SentenceContext) -> None:
    """``opacidades nodulares``, ``focos de consolidacion nodular``: a shape, not a nodule.

    The adjective after an opacity or consolidation is no ``nodule`` unless a
    size follows (``opacidad nodular de 3 mm``).  Rules part: changes 3 report labels in 2 reports, 2 of them towards the reference.
    """
    if not s.mentions or "nodular" not in s.text:
        return
    norm = s.report
    s.mentions = [m for m in s.mentions if not (
        m.label == "nodule" and norm.startswith("nodular", m.start)
        and _SHAPED.search(norm, max(0, m.start - 16), m.start) is not None
        and _SIZED.match(norm, m.end) is None)]


# ------------------------------------------------------------------------------------------------------- sentence
@rule("sentence")
def reference_writes_the_parent(s: SentenceContext) -> None:
    """A few PadChest labels the reference never writes are listed as the parent it writes instead.

    ``atelectasia basal`` is ``atelectasis``, ``adenopatias mediastinicas
    calcificadas`` is ``calcified adenopathy``
    (:data:`~covidbank.nlp.lexicon.REFERENCE_PARENT`); the mention keeps the
    specific label (the bank's values).  Rules part: changes 11 report labels in
    5 reports, 11 of them towards the reference (the reference never writes
    these children).
    """
    for i, lab in enumerate(s.labels):
        parent = REFERENCE_PARENT.get(lab)
        if parent is not None:
            s.labels[i] = parent
    if len(set(s.labels)) != len(s.labels):
        s.labels[:] = list(dict.fromkeys(s.labels))


@rule("sentence")
def specific_finding_wins(s: SentenceContext) -> None:
    """A label is left out of a sentence that names a more specific finding.

    ``opacidades en vidrio deslustrado`` is ``ground glass pattern``, not also
    ``increased density``; ``cardiomegalia ... sugiere insuficiencia cardiaca``
    is the heart failure (:data:`~covidbank.nlp.lexicon.SUBSUMED_BY`).
    Rules part: changes 323 report labels in 303 reports, 273 of them towards the reference.
    """
    for lab, subs in SUBSUMED_BY.items():
        if lab in s.labels and any(x in s.labels for x in subs):
            s.labels.remove(lab)


_PNEUMONIAS = frozenset({"pneumonia", "viral pneumonia", "atypical pneumonia"})


@rule("sentence")
def opacity_of_a_pneumonia(s: SentenceContext) -> None:
    """Opacities ``compatibles con neumonia`` are the pneumonia, not also ``increased density``.

    Only when the sentence names a pneumonia (``neumon...``): ``opacidades
    sugestivas de infeccion`` keeps both.  Rules part: changes 27 report labels in 27 reports, 22 of them towards the reference.
    """
    if "increased density" in s.labels and any(
            m.label in _PNEUMONIAS and m.polarity != NEGATED and "neumon" in s.report[m.start:m.end]
            for m in s.mentions):
        s.labels.remove("increased density")


_NOT_SINGULAR_NOUN = re.compile(r"\w+ciones(?: neumonicas?)?|consolidativ[oa]s?|consolidad[oa]s?|condensad[oa]s?")
_NOT_A_FINDING = frozenset({"consolidation", "normal", "suboptimal study", "unchanged", "exclude", COVID, COVID_UNCERTAIN})


@rule("sentence")
def plural_consolidation(s: SentenceContext) -> None:
    """A sentence's consolidation that is only a plural or an adjective, hedged or beside another finding, is left out.

    Every consolidation of the sentence is a plural ``consolidaciones`` /
    ``condensaciones`` or an adjective (``consolidativo``, ``mas
    consolidadas``) that is hedged (``compatibles con consolidaciones
    neumonicas``) or stands beside another finding of the sentence
    (``consolidaciones alveolares``, ``areas consolidativas ... vidrio
    deslustrado``); ``COVID 19`` beside it does not count as another finding.
    A singular ``consolidacion`` is always kept.  Rules part: changes 37 report labels in 37 reports, 30 of them towards the reference.
    """
    if "consolidation" not in s.labels:
        return
    cons = [m for m in s.mentions if m.label == "consolidation" and m.polarity != NEGATED]
    if not cons or not all(_NOT_SINGULAR_NOUN.fullmatch(s.report, m.start, m.end) for m in cons):
        return
    if all(m.polarity != POSITIVE for m in cons) or any(x not in _NOT_A_FINDING for x in s.labels):
        s.labels.remove("consolidation")


_GG_PATTERN = re.compile(r"\bpatron (?:de |en )?vidrio")


@rule("sentence")
def consolidation_in_a_ground_glass_pattern(s: SentenceContext) -> None:
    """A consolidation described within a ground-glass *pattern* is the pattern.

    ``condensacion en lii con areas en patron de vidrio deslustrado`` is
    ``ground glass pattern`` alone; with plain ``vidrio deslustrado`` the
    consolidation is kept.  Rules part: changes 8 report labels in 8 reports, 7 of them towards the reference.
    """
    if "consolidation" in s.labels and "ground glass pattern" in s.labels and _GG_PATTERN.search(s.text):
        s.labels.remove("consolidation")


@rule("sentence")
def unchanged_alone(s: SentenceContext) -> None:
    """``unchanged`` is a sentence's label only when the sentence reports nothing else.

    ``se compara con estudio previo`` is ``unchanged``; ``se compara con la
    previa: opacidades bilaterales`` is only ``increased density``.
    Rules part: changes 90 report labels in 90 reports, 78 of them towards the reference.
    """
    if len(s.labels) > 1:
        for lab in SENTENCE_ALONE:
            if lab in s.labels:
                s.labels.remove(lab)


_NORMAL = re.compile(
    r"\b(?:normal(?:es)?|normalidad|sin alteraciones?|sin hallazgos|libres?|conservad[oa]s?|centrad[oa]s?|"
    r"sin (?:otros )?hallazgos|no (?:se )?(?:observan|aprecian|evidencian|identifican) (?:alteraciones|hallazgos)|"
    r"sin (?:otras )?alteraciones|no hay hallazgos|sin evidencia|dentro de (?:los )?limites? normal(?:es)?|"
    r"no (?:otros )?hallazgos|sin patologia|sin signos|no signos|no muestra alteraciones|no alteraciones|"
    r"no (?:se )?(?:(?:observan?|aprecian?|evidencian?|identifican?|visualizan?|ven|detectan?|objetivan?|hay|identifico|"
    r"visualizo|observo|aprecio|veo) )?(?:otr[oa]s )?(?:claras |evidentes )?(?:lesiones|alteraciones|hallazgos|loes|"
    r"defectos de replecion|signos de tromboembolismo|imagenes (?:que sugieran|sugestivas)))\b"
)


@rule("sentence")
def negative_sentence_is_normal(s: SentenceContext) -> None:
    """A sentence that reports only absent findings or normal structures is ``normal``.

    ``no se observan condensaciones``, ``senos costofrenicos libres``,
    ``silueta cardiaca normal``.  Without the rule such a sentence is
    ``exclude``.  Rules part: changes 178 report labels in 89 reports, 159 of them towards the reference.
    """
    if not s.labels and (any(m.polarity == NEGATED for m in s.mentions) or _NORMAL.search(s.text)):
        s.labels[:] = ["normal"]


_FIXED = [(re.compile(p + r"$"), labs) for p, labs in BIMCV_SENTENCES]
_COLONS = re.compile(r"[\s:]+")


@rule("sentence")
def fixed_sentences(s: SentenceContext) -> None:
    """Whole sentences the reference labels the same way every time, whatever they say.

    The templates of :data:`~covidbank.nlp.lexicon.BIMCV_SENTENCES` (a
    hospital's hilum template is ``increased density`` and ``normal``; a lone
    ``torax`` header is ``exclude`` and ``normal``; the follow-up conclusion
    ``hallazgos sugestivos de covid 19`` is ``COVID 19`` and ``unchanged``).
    They reproduce the dataset, not what the sentence means.
    Rules part: changes 62 report labels in 45 reports, 60 of them towards the reference.
    """
    flat = _COLONS.sub(" ", s.text)
    for rx, fixed in _FIXED:
        if rx.match(flat):
            s.labels[:] = list(fixed)
            have = s.positive_labels()
            s.mentions.extend(Mention(x, label_cui(x), s.index, s.start, s.end, POSITIVE) for x in fixed
                              if x not in have and x not in ("normal", "exclude"))
            return


# --------------------------------------------------------------------------------------------------------- report
_NOT_KEEPING_NORMAL = frozenset({"normal", "suboptimal study", "unchanged"})


@rule("report")
def normal_beside_a_finding(r: ReportContext) -> None:
    """``normal`` stays a report label when a sentence has it beside a finding.

    A sentence labelled ``normal`` and a finding other than ``suboptimal
    study`` / ``unchanged`` (``hilios de morfologia ... dentro de la
    normalidad`` is ``increased density`` and ``normal``) keeps ``normal``
    among the report's labels; otherwise a report is ``normal`` only when
    nothing else is found.  Rules part: changes 26 report labels in 26 reports, 26 of them towards the reference.
    """
    for i, s in enumerate(r.sentences):
        if "normal" in s.labels and any(y not in _NOT_KEEPING_NORMAL for y in s.labels):
            r.add("normal", i)
            return


_ORIGINAL_HEADER = re.compile(r"\binforme original \d+ fecha \d{4}\b")
_ADDENDUM_HEADER = re.compile(r"\banexo \d+ fecha \d{4}\b")


def _addendum_sentence(r: ReportContext) -> int | None:
    """The sentence holding the addendum's header of an amended report (``informe original N fecha ... anexo N fecha``)."""
    if "anexo" not in r.text:
        return None
    m = _ADDENDUM_HEADER.search(r.text)
    if m is None or _ORIGINAL_HEADER.search(r.text, 0, m.start()) is None:
        return None
    return next((i for i, s in enumerate(r.sentences) if s.start <= m.start() < s.end), None)


def _label_sentence(r: ReportContext, i: int, label: str) -> None:
    """Write ``label`` on sentence ``i`` (instead of ``exclude``), with a positive mention over it, and on the report."""
    s = r.sentences[i]
    if s.labels == ["exclude"]:
        s.labels.clear()
    if label not in s.labels:
        s.labels.append(label)
    r.mentions.append(Mention(label, label_cui(label), i, s.start, s.end, POSITIVE))
    r.add(label, i)


@rule("report")
def amended_report_is_covid(r: ReportContext) -> None:
    """An amended report (original and addendum under their headers) is ``COVID 19`` unless it negates COVID-19.

    ``informe original 1620004 fecha 2020 03 14t18 42 00 firmado ... anexo
    1620005 fecha ...``: one hospital's export of a report and its addendum
    in one text.  The reference labels these ``COVID 19`` whatever they say
    (its per-sentence labels put ``COVID 19`` on the addendum's header: a text
    that is only the two headers is ``COVID 19`` and ``unchanged``); the
    label is written on the sentence that holds the addendum's header.  A
    report that names COVID-19 only negated is left without it (negations are
    never copied as positives).  A convention of the dataset, not of what the
    report means.  Rules part: 18 distinct reports have both headers, 15 of
    them ``COVID 19`` in the reference; of the 11 that never name COVID-19 the
    reference has ``COVID 19`` on 9 (the 2 others are not ``COVID 19``); the
    rule changes 11 report labels in 11 reports, 9 of them towards the
    reference.
    """
    if COVID in r.labels or COVID_UNCERTAIN in r.labels:
        return
    if any(m.label in (COVID, COVID_UNCERTAIN) for m in r.mentions):
        return  # named, and not positive (else it would be a label): left as the report says
    i = _addendum_sentence(r)
    if i is not None:
        _label_sentence(r, i, COVID)


@rule("report")
def amended_report_is_unchanged(r: ReportContext) -> None:
    """An amended report (original and addendum under their headers) is ``unchanged``.

    The same header as :func:`amended_report_is_covid`: the reference's
    per-sentence labels put ``unchanged`` on the addendum's header (an
    addendum revisits a report already written); the label is written on
    that sentence.  Rules part: 18 distinct reports have both headers, 13 of
    them ``unchanged`` in the reference, 2 of which the other rules find;
    the rule changes 16 report labels in 16 reports, 11 of them towards the
    reference.
    """
    if "unchanged" in r.labels:
        return
    i = _addendum_sentence(r)
    if i is not None:
        _label_sentence(r, i, "unchanged")


@rule("report")
def covid_wins_over_uncertain(r: ReportContext) -> None:
    """A report with ``COVID 19`` somewhere is not also ``COVID 19 uncertain``.

    Rules part: changes 2 report labels in 2 reports, 2 of them towards the reference.
    """
    if COVID in r.labels and COVID_UNCERTAIN in r.labels:
        r.labels.remove(COVID_UNCERTAIN)


#: The rule names, in the order they run.
RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
