"""Negation and uncertainty cues of Spanish radiology reports, with their scopes.

A cue opens a scope that runs forward (``no se observan`` *derrame pleural ni
neumotórax*) to the end of the sentence or to the first scope breaker (``pero``,
``aunque``, ``sin embargo``, ``salvo``, a colon, a new positive assertion such
as ``se observa``).  A few cues look backwards (``derrame pleural no
visible``, ``neumonía descartada``) over the words before them in the same
clause.  Uncertainty comes in two strengths: *hedges* (``sospecha de``,
``probable``, ``posible``, ``compatible con``, ``sugestivo de``) and *doubt*
(``no se puede descartar``, ``indeterminado``, ``no típico de``, ``dudoso``);
BIMCV writes ``COVID 19 uncertain`` only for doubt.

All patterns apply to :func:`covidbank.nlp.text.normalize`-d text.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import re
from dataclasses import dataclass

__all__ = ["Cue", "NEGATION_CUES", "HEDGE_CUES", "DOUBT_CUES", "POST_NEGATION_CUES", "POST_DOUBT_CUES", "POST_RESULT_NEGATION_CUES",
           "SCOPE_BREAKERS", "CUE_RULES", "MAX_SCOPE_WORDS", "find_cues", "polarity_at", "POSITIVE", "NEGATED", "HEDGED", "DOUBTFUL"]

POSITIVE, NEGATED, HEDGED, DOUBTFUL = "positive", "negated", "hedged", "doubtful"

_V = r"(?:observa|aprecia|evidencia|identifica|objetiva|visualiza|ve|detecta|demuestra|muestra|reconoce|encuentra|define|distingue|valora)n?"
_V2 = r"(?:observo|aprecio|evidencio|identifico|objetivo|visualizo|veo|detecto|observamos|apreciamos|identificamos|evidenciamos|objetivamos|aprecian?do|observan?do|evidencian?do|identifican?do|objetivan?do)"

#: Cues that open a negated scope.
NEGATION_CUES: list[str] = [
    rf"no se (?:le )?{_V}", rf"no {_V2}", rf"no {_V}", r"no (?:hay|existe[n]?|presenta[n]?|muestra[n]?|tiene|parece[n]?|aparece[n]?)",
    r"no (?:se )?(?:han? )?(?:visto|observado|apreciado|evidenciado|identificado|objetivado|detectado)",
    r"no (?:otr[oa]s? )?(?:signos|imagenes|hallazgos|datos|evidencia)(?: radiologic[oa]s?)? (?:de|que sugieran|sugestiv[oa]s? de|compatibles? con|sugerentes? de)",
    r"sin (?:evidencia|signos|datos|imagenes|hallazgos|presencia|clara evidencia|claros signos|evidentes signos)(?: radiologic[oa]s?)?(?: de| que sugieran| sugestiv[oa]s? de| compatibles? con| sugerentes? de)?",
    r"sin (?!embargo|contraste|civ\b|cambios|variacion|variaciones|modificacion|modificaciones|poder|claros cambios|grandes cambios|evidentes cambios|apenas cambios|significativos cambios|diferencias|otros cambios)",
    # "opacidades no presentes en rx previa / no visibles en el estudio anterior" = new, not negated
    r"no (?!(?:presentes?|visibles?|visualizad[oa]s?|evidentes?|descrit[oa]s?|identificad[oa]s?|conocid[oa]s?)"
    r" (?:en|previamente|anteriormente|con)\b)(?!se |es posible descart|resulta posible descart|puede|pueden|podemos|descart|excluy|exclu|obstante|solo|tipic|obvi|clar|muy |siempre|cambi|varia|modific|ha cambiado|se aprecian cambios|se observan cambios|hay cambios|precisa|requiere|dispon|valorable|disponemos|se dispone)",
    r"ni", r"ausencia de", r"ausencia", r"se descarta[n]?", r"descartandose", r"descarto", r"libres? de", r"negativ[oa]s? para",
    r"tampoco", r"desaparicion de", r"(?:practica |casi completa |completa )?resolucion(?: radiologica| aparente| casi completa)? de", r"resuelt[oa]s? (?:el|la|los|las)", r"no signos", r"no datos",
    r"no imagenes", r"no evidencia", r"no evidencias", r"no hallazgos", r"no aparentes?", r"no claros?", r"no claras?",
]

#: Cues that look back: the finding *before* them is negated.
POST_NEGATION_CUES: list[str] = [
    r"no (?:se )?(?:visible|visualiza|identifica|observa|aprecia|evidencia)[n]?\b(?= *$)", r"descartad[oa]s?", r"ausentes?\b",
    r"resuelt[oa]s?", r"ha(?:n)? desaparecido", r"negativ[oa]s?\b(?= *$)",
]

#: ``negative_result_negates_before``: test results that negate the few words before them wherever they stand in the sentence (``paciente covid
#: negativo con fiebre``, ``pcr de covid negativa y ...``); unlike :data:`POST_NEGATION_CUES` they do not reach
#: back over the whole clause (``opacidades bilaterales en paciente con pcr negativa`` keeps the opacities).
POST_RESULT_NEGATION_CUES: list[str] = [r"negativ[oa]s?\b(?! (?:para|a|de)\b)"]
#: How many words before it a test result negates.
RESULT_WORDS = 3

#: Weak uncertainty (hedge): the finding is reported, as likely.
HEDGE_CUES: list[str] = [
    r"sospecha(?: de)?", r"sospechos[oa]s? de", r"probables?", r"probablemente", r"posibles?", r"posiblemente",
    r"compatibles? con", r"sugestiv[oa]s?(?: de)?", r"sugerentes?(?: de)?", r"sugiere[n]?", r"impresiona[n]?(?: de)?",
    r"en relacion con", r"en probable relacion con", r"podria[n]? (?:corresponder|estar en relacion|tratarse|ser)",
    r"puede[n]? (?:corresponder|estar en relacion|tratarse|ser)", r"parece[n]? (?:corresponder|tratarse)",
    # BIMCV writes "COVID 19", not "COVID 19 uncertain", after these (9 of 9 in the dev table)
    r"no (?:es|resulta) posible descartar", r"no se puede descartar", r"no puede descartar(?:se)?",
    r"a valorar", r"valorar", r"se sugiere", r"sugerimos", r"aspecto de", r"verosimil(?:mente)?", r"a considerar",
    r"que podria[n]?", r"que puede[n]?", r"descartar", r"a descartar", r"para descartar", r"obliga[n]? a descartar",
    r"dudos[oa]s?", r"menos probables?(?: de)?", r"poco probables?(?: de)?", r"inespecific[oa]s?", r"equivoc[oa]s?",
    r"no (?:parece|parecen|impresiona|impresionan)(?: de)?",
    r"en el contexto de", r"en contexto de", r"dado el contexto", r"de predominio",
]

#: Strong uncertainty (doubt): the finding may or may not be there.
DOUBT_CUES: list[str] = [
    r"no se (?:pueden|podria|podrian) (?:descartar|excluir)", r"no se puede excluir",
    r"no (?:pueden|podemos) (?:descartar|excluir)(?:se)?", r"no puede excluir(?:se)?",
    r"sin poder (?:descartar|excluir)(?:se|lo|la|los|las)?", r"no se descarta[n]?", r"no descarta[n]?", r"no descartar(?:ia)?",
    r"no (?:es )?posible excluir", r"no son (?:tipic|caracteristic)\w+ (?:de|para)",
    r"no (?:tipic|caracteristic)\w+ (?:de|para)", r"atipic\w+ (?:de|para)", r"indeterminad[oa]s?(?: para)?",
    r"no sugestiv[oa]s? de", r"no sugerentes? de", r"incierto", r"no concluyentes?", r"no permite[n]? descartar",
    r"no pudiendo(?:se)? descartar(?:se)?", r"no pueden descartarse",
]

#: Doubt cues that follow the finding (``covid 19 indeterminado``).
POST_DOUBT_CUES: list[str] = [r"indeterminad[oa]s?", r"no concluyentes?", r"no descartable"]

#: Words that close a cue's scope.
SCOPE_BREAKERS: list[str] = [
    r"pero", r"aunque", r"sin embargo", r"salvo", r"excepto", r"si bien", r"no obstante", r"mientras que",
    r"a excepcion de", r"exceptuando", r"con la excepcion de", r"aunque si", r"si se", r"siendo", r"destacando",
    r"se (?:observa|aprecia|evidencia|identifica|objetiva|visualiza|ve|detecta|mantiene|trata)n?", r"persiste[n]?",
    r"presenta[n]?", r"y se", r"que (?:presenta|muestra)", r"cuy[oa]s?",
]

#: Scope conventions of :func:`find_cues` that can be switched off (``find_cues(s, off={...})``); the labeler
#: lists them among its named rules (:mod:`covidbank.nlp.rules`, stage ``cue``) so the bench's ablation covers them.
CUE_RULES = ("assertion_ends_negation", "patient_ends_negation", "negative_result_negates_before",
             "negated_course_keeps_finding")

#: ``assertion_ends_negation``: a new existential assertion closes a scope ("no se observa derrame pleural y
#: existen opacidades ..."); "no hay", "ni existen", "tampoco hay" and a dictated "no hay hay" are not breakers.
ASSERTION_BREAKERS: list[str] = [r"(?<!\bno )(?<!\bni )(?<!tampoco )(?<!\bhay )(?:hay|existen?)"]
#: ``patient_ends_negation``: the patient and what is known of them are outside the exam's negation ("sin
#: hallazgos en paciente con covid 19 confirmado", "no se observan nuevas opacidades en paciente con neumonia").
PATIENT_BREAKERS: list[str] = [r"pacientes?"]


@dataclass(frozen=True)
class Cue:
    """A cue found in a sentence: its kind and the span of text it governs.

    Attributes
    ----------
    kind : str
        ``negated``, ``hedged`` or ``doubtful``.
    start, end : int
        Offsets of the cue words in the sentence.
    scope_start, scope_end : int
        Offsets of the text the cue governs.
    """

    kind: str
    start: int
    end: int
    scope_start: int
    scope_end: int


def _alt(patterns: list[str]) -> str:
    return "|".join(sorted(patterns, key=len, reverse=True))


# One scan finds every forward cue; the group name tells the kind.
_FORWARD = re.compile(
    rf"\b(?:(?P<doubtful>{_alt(DOUBT_CUES)})|(?P<negated>{_alt(NEGATION_CUES)})|(?P<hedged>{_alt(HEDGE_CUES)}))(?:\b|(?<= ))"
)
_BACKWARD = re.compile(rf"\b(?:(?P<doubtful>{_alt(POST_DOUBT_CUES)})|(?P<negated>{_alt(POST_NEGATION_CUES)}))\b")
_RESULT = re.compile(rf"\b(?:{_alt(POST_RESULT_NEGATION_CUES)})")


@functools.lru_cache(maxsize=None)
def _breakers(off: frozenset[str]) -> re.Pattern:
    """The scope breakers with the switchable ones that are on."""
    pats = list(SCOPE_BREAKERS)
    if "assertion_ends_negation" not in off:
        pats += ASSERTION_BREAKERS
    if "patient_ends_negation" not in off:
        pats += PATIENT_BREAKERS
    return re.compile(rf"\b(?:{_alt(pats)})\b|[:;]|\.(?!\d)")


_NO_RULE_OFF: frozenset[str] = frozenset()
_WORDS = re.compile(r"\w+")
_NEG_LINK = re.compile(r"\b(?:que (?:sugiera|apoye|indique|haga pensar en|orienten? a)n?|sugestiv[oa]s? de|sugerentes? de|"
                       r"atribuibles? a|compatibles? con|sospechos[oa]s? de|tipic[oa]s? de)\b")

# "no aprecio cambios (ostensibles) en los infiltrados", "no hay cambios respecto al estudio previo en la
# consolidacion": the negation is of a change since the previous study, and what changed (the next few words) is
# there; the negation still covers what the sentence lists after it ("no se observan cambios en el parenquima
# pulmonar condensaciones o derrame pleural").  "No hay cambios degenerativos" stays a negation.
# ``negated_course_keeps_finding``: the same holds for a negated course of a finding ("sin empeoramiento de la
# neumonia", "no se observa progresion de las opacidades", "no ha habido cambios en la consolidacion" presuppose
# the finding), and what changed runs to the complement that names it ("la neumonia por covid 19").
_CHANGE_VERB = rf" ?(?:(?:se )?(?:{_V}|{_V2}|hay|existen?) )?(?:(?:otros|nuevos|grandes|claros|evidentes|significativos) )?"
_CHANGE_NOUN = (r"(?:cambios|variaciones|modificaciones|diferencias)"
                r"(?: (?:significativ\w+|ostensibles?|relevantes?|valorables?|evidentes?|llamativ\w+|importantes?|destacables?))?"
                r"(?: (?:respecto|con respecto|comparad\w+) (?:a |al |a la |con )?(?:(?:el|la|los|las) )?"
                r"(?:estudio|rx|radiografia|placa|tc|control|exploracion|previ\w+|anterior\w*)(?: (?:previ\w+|anterior\w*))?"
                r"(?: del? [\d ]+)?)?"
                r" (?:en|respecto|con respecto|comparad\w+)")
_CHANGE_BASE = re.compile(rf"{_CHANGE_VERB}{_CHANGE_NOUN}\b")
_CHANGE = re.compile(rf"{_CHANGE_VERB.replace('|existen?)', '|existen?|ha habido|han habido|hubo)')}"
                     rf"(?:{_CHANGE_NOUN}|(?:empeoramiento|progresion|progreso|mejoria)"
                     r"(?: (?:radiologic[oa]|significativ[oa]|evidente|clar[oa]|valorable))? (?:de|del|en))\b")
_CHANGED_WORDS = 3
_OF = frozenset({"por", "de", "del"})
# "en ausencia de patologia cardiaca podria corresponder a ...": a conditional adjunct; its negation ends where the
# sentence goes on to say what the finding may be ("en ausencia de signos sugestivos de neumonia" stays negated)
_EN_BEFORE = re.compile(r"\ben $")
_CONSEQUENT = re.compile(r"\b(?:que )?(?:podria[n]?|puede[n]?|sugiere[n]?|parece[n]?|probablemente)\b")
# "disminucion no significativa del derrame": "no" qualifying the word before it negates nothing after it
_NOT_SIGNIFICANT = re.compile(r" ?significativ[oa]s?\b")
_WORD_BEFORE = re.compile(r"\w $")

#: Longest forward scope in words, per cue kind (NegEx-style window).
MAX_SCOPE_WORDS: dict[str, int] = {NEGATED: 9, HEDGED: 10, DOUBTFUL: 10}



def find_cues(sentence: str, off: frozenset[str] = _NO_RULE_OFF) -> list[Cue]:
    """All negation and uncertainty cues of one sentence with their scopes.

    Parameters
    ----------
    sentence : str
        One normalized sentence.
    off : frozenset of str
        Scope conventions of :data:`CUE_RULES` to switch off.

    Returns
    -------
    list of Cue
        In order of appearance.  Forward cues govern the text after them up
        to the next breaker; backward cues govern the clause before them.

    Examples
    --------
    >>> [c.kind for c in find_cues("no se observan condensaciones ni derrame pleural")]
    ['negated', 'negated']
    """
    if not sentence:
        return []
    breaks = [m.start() for m in _breakers(off).finditer(sentence)]
    course = "negated_course_keeps_finding" not in off
    change_rx = _CHANGE if course else _CHANGE_BASE
    out: list[Cue] = []
    n = len(sentence)
    words = [w.end() for w in _WORDS.finditer(sentence)]
    for m in _FORWARD.finditer(sentence):
        kind = m.lastgroup or "negated"
        end = m.end()
        start = end
        change = change_rx.match(sentence, end) if kind == NEGATED else None
        if change is not None:
            # the words right after the change are what changed; the negation starts after them, if anything follows
            after = list(itertools.islice(_WORDS.finditer(sentence, change.end()), _CHANGED_WORDS + 3))
            k = _CHANGED_WORDS
            # ... with the complement that names it: "la neumonia por covid 19", "las opacidades de vidrio deslustrado"
            if course and k < len(after):
                if after[k - 1].group() in _OF:  # "la neumonia por | covid 19"
                    k += 1
                elif after[k].group() in _OF:  # "las opacidades bilaterales | de predominio basal"
                    k += 2
                if k < len(after) and after[k].group().isdigit():  # "covid 19", "grado 2"
                    k += 1
            if len(after) <= k:
                continue
            start = after[k].start()
        if kind == NEGATED and m.group(0).strip() == "no" and _NOT_SIGNIFICANT.match(sentence, end) \
                and _WORD_BEFORE.search(sentence, max(0, m.start() - 2), m.start()):
            continue
        i = bisect.bisect_left(breaks, start)
        scope_end = breaks[i] if i < len(breaks) else n
        limit = MAX_SCOPE_WORDS.get(kind)
        if kind == NEGATED and m.group(0).startswith("ausencia") and _EN_BEFORE.search(sentence, max(0, m.start() - 4), m.start()):
            # (looked for within the negation's word window only, so many cues in one sentence stay linear)
            consequent = _CONSEQUENT.search(sentence, start, min(scope_end, start + 120))
            if consequent is not None:
                scope_end = consequent.start()
        if limit:
            i = bisect.bisect_right(words, start)  # the words after the cue (their end offsets)
            if len(words) - i > limit:
                cut = words[i + limit - 1]
                # "no aprecio lesiones pulmonares de entidad que sugieran infeccion por covid": a negated
                # "que sugieran / sugestivas de ..." clause carries the negation to what it names
                link = _NEG_LINK.search(sentence, start, min(scope_end, cut + 16)) if kind == NEGATED else None
                if link is not None and link.start() > cut + 1:
                    link = None
                if link is None:
                    scope_end = min(scope_end, cut)
                else:
                    j = bisect.bisect_right(words, link.end())
                    if len(words) - j > limit:
                        scope_end = min(scope_end, words[j + limit - 1])
        out.append(Cue(kind, m.start(), end, start, scope_end))
    for m in _BACKWARD.finditer(sentence):
        kind = m.lastgroup or "negated"
        start = 0
        for b in breaks:
            if b < m.start():
                start = b
        out.append(Cue(kind, m.start(), m.end(), start, m.start()))
    if "negativ" in sentence and "negative_result_negates_before" not in off:
        starts = [w.start() for w in _WORDS.finditer(sentence)]
        for m in _RESULT.finditer(sentence):
            i = bisect.bisect_left(starts, m.start())
            start = starts[max(0, i - RESULT_WORDS)] if i else m.start()
            j = bisect.bisect_left(breaks, m.start())
            if j and breaks[j - 1] > start:
                start = breaks[j - 1]
            out.append(Cue(NEGATED, m.start(), m.end(), start, m.start()))
    out.sort(key=lambda c: c.start)
    return out


_RANK = {DOUBTFUL: 3, NEGATED: 2, HEDGED: 1}


def polarity_at(cues: list[Cue], start: int, end: int) -> str:
    """Polarity of the mention at ``[start, end)`` under the given cues.

    The innermost cue wins: the cue whose scope starts last before the
    mention (``no se puede descartar`` is one doubt cue, not a negation; in
    ``sin signos de sospecha de X`` the hedge sits inside the negation and
    the mention stays negated, because a negation governing a hedge keeps
    the negation).
    """
    best: Cue | None = None
    for c in cues:
        if c.scope_start <= start and end <= c.scope_end and not (c.start <= start < c.end):
            if best is None or c.scope_start > best.scope_start or (
                c.scope_start == best.scope_start and _RANK[c.kind] > _RANK[best.kind]
            ):
                # a hedge nested in a negation stays negated, one nested in a doubt stays doubtful ("sin poder
                # descartar dado el contexto epidemiologico covid 19")
                if best is not None and best.kind in (NEGATED, DOUBTFUL) and c.kind == HEDGED:
                    continue
                best = c
    return best.kind if best else POSITIVE
