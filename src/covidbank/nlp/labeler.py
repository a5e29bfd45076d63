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

The conventions that go beyond the text are named rules with switches
(:mod:`covidbank.nlp.rules`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .cues import NEGATED, POSITIVE, find_cues, polarity_at
from .lexicon import FINDINGS, LOCATIONS, NEVER_NEGATED, label_cui
from .matcher import PhraseMatcher
from .model import SentenceModel, load_default_model, sentence_features
from .results import COVID, COVID_UNCERTAIN, Mention, ReportLabels, SentenceResult
from .rules import RULE_NAMES, RULES, ReportContext, SentenceContext
from .text import normalize, split_sentences

__all__ = ["Mention", "SentenceResult", "ReportLabels", "ReportLabeler", "label_report", "LOCATION_IMPLIES",
           "COVID", "COVID_UNCERTAIN"]

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
    # the rest of the PadChest localization tree
    "loc nipple": ("loc pectoral",),
    "loc rotator cuff": ("loc shoulder",),
    "loc supraspisnous": ("loc shoulder",),
    "loc humeral head": ("loc humerus",),
    "loc humeral neck": ("loc humerus",),
    "loc clavicle": ("loc bone",),
    "loc costoesternal": ("loc bone",),
    "loc intersomatic space": ("loc column",),
    "loc cervical vertebrae": ("loc column",),
    "loc anterior rib": ("loc rib",),
    "loc posterior rib": ("loc rib",),
    "loc rib cartilage": ("loc rib",),
    "loc suprahilar": ("loc upper lobe",),
    "loc supradiaphragm": ("loc lower lung field",),
    "loc bilateral costophrenic angle": ("loc costophrenic angle", "loc bilateral", "loc pleural"),
    "loc superior mediastinum": ("loc mediastinum",),
    "loc carotid artery": ("loc superior mediastinum", "loc mediastinum"),
    "loc supra aortic": ("loc superior mediastinum", "loc mediastinum"),
    "loc lower mediastinum": ("loc mediastinum",),
    "loc middle mediastinum": ("loc lower mediastinum", "loc mediastinum"),
    "loc posterior mediastinum": ("loc lower mediastinum", "loc mediastinum"),
    "loc right hypochondrium": ("loc hypochondrium", "loc right"),
    "loc left hypochondrium": ("loc hypochondrium", "loc left"),
}

#: Rules that copy a convention of the BIMCV reference, not a reading of the text (``bimcv_conventions=False``).
BIMCV_CONVENTIONS: frozenset[str] = frozenset({"fixed_sentences", "amended_report_is_covid",
                                               "amended_report_is_unchanged"})


class ReportLabeler:
    """Labeler: lexicon + cues + BIMCV's report conventions as named rules (:mod:`.rules`).

    Parameters
    ----------
    findings : dict, optional
        label -> regex patterns; default :data:`covidbank.nlp.lexicon.FINDINGS`.
    locations : dict, optional
        location label -> regex patterns; default :data:`~covidbank.nlp.lexicon.LOCATIONS`.
    bimcv_conventions : bool
        ``False`` switches off the rules that copy conventions of the BIMCV
        reference rather than read the report (:data:`BIMCV_CONVENTIONS`:
        ``fixed_sentences``, whole sentences the reference labels the same way
        whatever they say; ``amended_report_is_covid`` and
        ``amended_report_is_unchanged``, one hospital's original + addendum
        export).  Keep them on to agree with BIMCV COVID-19+ and PadChest;
        switch them off to label another hospital's reports by what they say.
    disable : iterable of str, optional
        Names of rules (:data:`covidbank.nlp.rules.RULE_NAMES`) to switch off.
    model : SentenceModel, path, ``"auto"`` or None
        The learned sentence model (:mod:`covidbank.nlp.model`) that decides
        which of a sentence's findings BIMCV lists.  ``"auto"`` (default) loads
        the one at :func:`~covidbank.nlp.model.default_model_path` on first use
        if there is one; ``None``: rules only.

    Raises
    ------
    ValueError
        An unknown rule name in ``disable``.
    ReportError
        ``model`` names a file that is not a labeler model (when first used).

    Examples
    --------
    >>> r = ReportLabeler().label("Opacidades bilaterales periféricas sugestivas de COVID-19. No derrame pleural.")
    >>> r.labels
    ['increased density', 'COVID 19']
    >>> "unchanged" in ReportLabeler(disable={"unchanged_alone"}).label("Sin cambios. Derrame pleural sin cambios.").labels
    True
    """

    def __init__(self, findings: dict[str, list[str]] | None = None, locations: dict[str, list[str]] | None = None,
                 bimcv_conventions: bool = True, disable: Iterable[str] = (),
                 model: "SentenceModel | str | Path | None" = "auto"):
        self._findings = PhraseMatcher(findings or FINDINGS)
        self._locations = PhraseMatcher(locations or LOCATIONS)
        off = set(disable)
        unknown = off - set(RULE_NAMES)
        if unknown:
            raise ValueError(f"unknown labeler rule(s) {sorted(unknown)}; the rules are {', '.join(RULE_NAMES)}")
        if not bimcv_conventions:
            off.update(BIMCV_CONVENTIONS)
        self.disabled = frozenset(off)
        on = [r for r in RULES if r.name not in off]
        self._text = [r.apply for r in on if r.stage == "text"]
        self._cue_off = frozenset(r.name for r in RULES if r.stage == "cue" and r.name in off)
        self._mention = [r.apply for r in on if r.stage == "mention"]
        self._sentence = [r.apply for r in on if r.stage == "sentence"]
        self._report = [r.apply for r in on if r.stage == "report"]
        self._model_arg = model
        self._model: SentenceModel | None = model if isinstance(model, SentenceModel) else None
        self._model_ready = model is None or isinstance(model, SentenceModel)
        self._cache: dict[tuple, frozenset[str]] = {}

    @property
    def model(self) -> "SentenceModel | None":
        """The sentence model in use (loaded on first use), or ``None`` (rules only)."""
        if not self._model_ready:
            arg = self._model_arg
            self._model = load_default_model() if arg == "auto" else SentenceModel.load(arg)
            self._model_ready = True
        return self._model

    # ------------------------------------------------------------------ API
    def label(self, text: str) -> ReportLabels:
        """Label one report (ordinary Spanish or BIMCV's normalized form)."""
        model = self.model
        norm, work, _ = self._read(text, False)
        if model is not None and work:
            self._learn(model, work)
        mentions: list[Mention] = []
        sents: list[SentenceResult] = []
        for ctx, locs in work:
            mentions.extend(ctx.mentions)
            sents.append(SentenceResult(ctx.start, ctx.end, ctx.labels if ctx.labels else ["exclude"],
                                        self._locations_of(ctx, locs)))
        rctx = ReportContext(sents, [], text=norm, mentions=mentions)
        for i, s in enumerate(sents):
            for j, x in enumerate(s.labels):
                if x not in rctx.keys and x not in ("normal", "exclude"):
                    rctx.labels.append(x)
                    rctx.keys[x] = (i, j)
        for f in self._report:
            f(rctx)
        labels = sorted(rctx.labels, key=lambda x: rctx.keys.get(x, (len(sents), 0)))
        if not labels:
            labels = ["normal"] if any("normal" in s.labels for s in sents) else ["exclude"]
        locs_out: list[str] = []
        for s in sents:
            for x in s.locations:
                if x not in locs_out:
                    locs_out.append(x)
        return ReportLabels(norm, mentions, sents, labels, locs_out)

    def _learn(self, model: SentenceModel, work: list[tuple[SentenceContext, list]]) -> None:
        """Apply the model's decision to each sentence (cached per sentence text and rule reading)."""
        cache = self._cache
        keys, todo, feats = [], [], []
        for ctx, _ in work:
            key = (ctx.text, tuple(ctx.labels), tuple((m.label, m.polarity) for m in ctx.mentions))
            keys.append(key)
            if key not in cache and key not in todo:
                todo.append(key)
                feats.append(sentence_features(ctx.text, ctx.cues, key[2], ctx.labels))
        if todo:
            if len(cache) > 200_000:
                cache.clear()
            for key, learned in zip(todo, model.predict(feats, [k[1] for k in todo])):
                cache[key] = learned
        for (ctx, _), key in zip(work, keys):
            _apply_model(ctx, cache[key], model.label_set)

    def sentence_features(self, text: str) -> list[list[str]]:
        """The sentence model's features of each sentence of ``text`` (what the model is trained on)."""
        return self._read(text, True)[2]

    def _read(self, text: str, features: bool) -> tuple[str, list[tuple[SentenceContext, list]], list[list[str]]]:
        """Sentences with the rules' mentions and labels, and (with ``features``) the model's features."""
        norm = normalize(text)
        for f in self._text:
            norm = f(norm)
        work: list[tuple[SentenceContext, list]] = []
        feats: list[list[str]] = []
        ffind, lfind = self._findings.find, self._locations.find
        for si, s in enumerate(split_sentences(norm)):
            st = s.text
            found = ffind(st)
            locs = lfind(st) if found else None  # looked for later only if the sentence gets a label
            ctx = SentenceContext(si, st, s.start, s.end, norm)
            if found:
                cues = ctx.cues = find_cues(st, self._cue_off)
                for labs, a, b in found:
                    for lab in labs.split("|"):
                        pol = POSITIVE if lab in NEVER_NEGATED else polarity_at(cues, a, b)
                        ctx.mentions.append(Mention(lab, label_cui(lab), si, s.start + a, s.start + b, pol))
                for f in self._mention:
                    f(ctx)
                if ctx.mentions:
                    _attach_locations(ctx.mentions, locs, s.start)
            for m in ctx.mentions:
                if m.polarity != NEGATED and m.label not in ctx.labels:
                    ctx.labels.append(m.label)
            for f in self._sentence:
                f(ctx)
            if features:
                feats.append(sentence_features(st, ctx.cues, [(m.label, m.polarity) for m in ctx.mentions], ctx.labels))
            work.append((ctx, locs))
        return norm, work, feats

    def _locations_of(self, ctx: SentenceContext, locs: list | None) -> list[str]:
        """The sentence's locations (with the broader ones they imply), when it has a label."""
        out: list[str] = []
        if ctx.labels:
            for loc, _, _ in locs if locs is not None else self._locations.find(ctx.text):
                for x in _expand_loc(loc):
                    if x not in out:
                        out.append(x)
        return out

    def label_many(self, texts: Iterable[str]) -> list[ReportLabels]:
        """Label many reports (same result as calling :meth:`label` on each)."""
        return [self.label(t) for t in texts]


def _apply_model(ctx: SentenceContext, learned: set[str], known: frozenset[str]) -> None:
    """A sentence's labels with the model's decision for the labels it knows.

    The rules' labels the model does not know stay; a label the model lists is
    added unless every mention of it in the sentence is negated (a negated
    finding is never a label, whatever the reference did); a label it lists
    without a mention gets a positive mention over the sentence (so the
    report's values agree with its labels).
    """
    keep = [x for x in ctx.labels if x not in known or x in learned]
    have = set(keep)
    for lab in sorted(learned - have):
        ms = [m for m in ctx.mentions if m.label == lab]
        if ms and all(m.polarity == NEGATED for m in ms):
            continue
        keep.append(lab)
        if not ms and lab not in ("normal", "exclude"):
            ctx.mentions.append(Mention(lab, label_cui(lab), ctx.index, ctx.start, ctx.end, POSITIVE))
    ctx.labels[:] = keep


def _attach_locations(mentions: list[Mention], locs: list[tuple[str, int, int]], offset: int) -> None:
    """Attach each location to the nearest finding of its sentence (a preceding one first: ``derrame pleural derecho``)."""
    for loc, a, b in locs:
        best, dist = None, None
        for m in mentions:
            ma, mb = m.start - offset, m.end - offset
            d = (a - mb) if a >= mb else (ma - b) * 1.5 if b <= ma else 0
            if dist is None or d < dist:
                best, dist = m, d
        if best is not None:
            best.locations.extend(_expand_loc(loc))


def _expand_loc(loc: str) -> tuple[str, ...]:
    return (loc,) + LOCATION_IMPLIES.get(loc, ())


_DEFAULT: ReportLabeler | None = None


def label_report(text: str) -> ReportLabels:
    """Label one report with the default :class:`ReportLabeler` (built once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ReportLabeler()
    return _DEFAULT.label(text)
