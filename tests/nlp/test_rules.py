"""Each named labeling rule: what it changes, and that its switch turns it off."""
import pytest

from covidbank.nlp import ReportLabeler
from covidbank.nlp.rules import RULE_NAMES, RULES

#: rule -> (report, label, whether the rule makes the label present)
CASES = {
    "reminder_is_normal": ("Recordar que una radiografía normal no excluye infección COVID 19.", "normal", True),
    "boilerplate_is_not_a_finding": ("Se realiza radiografía para valorar afectación pulmonar por COVID-19. Sin hallazgos.",
                                     "COVID 19", False),
    # the scope conventions of cues.find_cues (sentences written for the test)
    "assertion_ends_negation": ("No se observa derrame pleural y existen opacidades compatibles con COVID-19.",
                                "COVID 19", True),
    "patient_ends_negation": ("Sin hallazgos radiológicos en paciente con COVID-19 confirmado.", "COVID 19", True),
    "negative_result_negates_before": ("Paciente COVID negativo con opacidades bilaterales.", "COVID 19", False),
    "negated_course_keeps_finding": ("No se observa progresión de la neumonía por COVID-19.", "COVID 19", True),
    "covid_doubt_is_uncertain": ("Hallazgos indeterminados que no pueden excluir infección por COVID 19.",
                                 "COVID 19 uncertain", True),
    "abdomen_is_not_chest": ("Cambios inflamatorios infecciosos intraperitoneales.", "pneumonia", False),
    "unchanged_needs_the_study": ("Osteoma costal sin cambios.", "unchanged", False),
    "nodular_shape_is_not_a_nodule": ("Opacidades nodulares en ambos campos pulmonares.", "nodule", False),
    "reference_writes_the_parent": ("Atelectasia basal derecha.", "atelectasis", True),
    "specific_finding_wins": ("Opacidades en vidrio deslustrado periféricas.", "increased density", False),
    "opacity_of_a_pneumonia": ("Opacidades en base derecha compatibles con neumonía.", "increased density", False),
    "plural_consolidation": ("Consolidaciones alveolares bilaterales.", "consolidation", False),
    "consolidation_in_a_ground_glass_pattern": ("Condensación en LII con áreas en patrón de vidrio deslustrado.",
                                                "consolidation", False),
    "unchanged_alone": ("Se compara con estudio previo: opacidades bilaterales.", "unchanged", False),
    "negative_sentence_is_normal": ("No se observan condensaciones.", "normal", True),
    "fixed_sentences": ("Hilios de morfología, densidad y situación dentro de la normalidad.", "increased density", True),
    "normal_beside_a_finding": ("Hilios de morfología, densidad y situación dentro de la normalidad. Cardiomegalia.",
                                "normal", True),
    "amended_report_is_covid": ("Informe original 1234567 fecha 2020-04-07T16:18:00 firmado 1185 Nombrepropio. "
                                "Se compara con estudios previos. Patrón intersticial bilateral. Anexo 1234580 fecha "
                                "2020-04-08T10:41:00 firmado 1226 Nombrepropio. Anexo creado por discordancia "
                                "clínico-radiológica.", "COVID 19", True),
    "amended_report_is_unchanged": ("Informe original 1201430 fecha 2020-04-06T16:19:00 firmado 1267 Nombrepropio. "
                                    "Cardiomegalia. Anexo 1201446 fecha 2020-04-06T17:44:00 firmado 1267 Nombrepropio. "
                                    "Se adjunta la proyección lateral.", "unchanged", True),
    "covid_wins_over_uncertain": ("Neumonía bilateral compatible con COVID 19. Patrón indeterminado para COVID 19.",
                                  "COVID 19 uncertain", False),
}

#: rules whose case needs another rule on
NEEDS = {
    "reminder_is_normal": {"negative_sentence_is_normal"},  # the reminder's "normal" makes the sentence normal
    "normal_beside_a_finding": {"fixed_sentences"},  # the hilum template is "increased density" and "normal"
    "covid_wins_over_uncertain": {"covid_doubt_is_uncertain"},
}


def test_every_rule_has_a_case_and_a_justification():
    assert set(CASES) == set(RULE_NAMES)
    for r in RULES:
        assert r.summary and "Rules part:" in r.doc, r.name


@pytest.mark.parametrize("name", list(CASES))
def test_rule_and_its_switch(name):
    text, label, present = CASES[name]
    on = ReportLabeler().label(text).labels
    off = ReportLabeler(disable={name}).label(text).labels
    assert (label in on) is present, on
    assert (label in off) is not present, off
    # switching the other rules off leaves this one's effect (but for the rules it builds on)
    others = set(RULE_NAMES) - {name} - NEEDS.get(name, set())
    alone = ReportLabeler(disable=others).label(text).labels
    assert (label in alone) is present, alone


def test_amended_report_that_negates_covid_stays_without_it():
    head = "Informe original 909199 fecha 2020-04-01T23:49:00 firmado 872 Nombrepropio. "
    tail = " Anexo 909216 fecha 2020-04-02T08:10:00 firmado 872 Nombrepropio. Se adjunta la proyección lateral."
    negated = ReportLabeler().label(head + "No se identifican los infiltrados típicos de COVID 19." + tail)
    assert "COVID 19" not in negated.labels
    found = ReportLabeler().label(head + "Cardiomegalia." + tail)
    assert "COVID 19" in found.labels and "cardiomegaly" in found.labels
    # the label sits on the addendum's sentence, with a positive mention there (the report's values agree)
    i = next(i for i, s in enumerate(found.sentences) if "COVID 19" in s.labels)
    assert "anexo" in found.text[found.sentences[i].start:found.sentences[i].end]
    assert found.values()["COVID 19"] == 1
    # only an addendum (no original's header before it) is not the amended export
    assert "COVID 19" not in ReportLabeler().label("Cardiomegalia." + tail).labels


def test_unknown_rule_names_are_refused():
    with pytest.raises(ValueError, match="no_such_rule"):
        ReportLabeler(disable={"no_such_rule"})


def test_bimcv_conventions_false_switches_off_the_copied_conventions():
    assert ReportLabeler(bimcv_conventions=False).disabled == {"fixed_sentences", "amended_report_is_covid",
                                                               "amended_report_is_unchanged"}
    amended = ("Informe original 909199 fecha 2020-04-01T23:49:00 firmado 872 Nombrepropio. Cardiomegalia. "
               "Anexo 909216 fecha 2020-04-02T08:10:00 firmado 872 Nombrepropio. Se adjunta la proyección lateral.")
    assert ReportLabeler(bimcv_conventions=False).label(amended).labels == ["cardiomegaly"]


def test_every_boilerplate_pattern_needs_one_of_the_quick_check_words():
    import re

    from covidbank.nlp.lexicon import IGNORE
    from covidbank.nlp.rules import IGNORE_KEYS

    for p in IGNORE:
        # the key must be in the pattern outside any optional group: drop optional groups, then look for it
        required = p
        while True:
            shorter = re.sub(r"\((?:\?:)?[^()]*\)\?", "", required)
            if shorter == required:
                break
            required = shorter
        assert any(k in required.replace(" ?", " ") or k in required for k in IGNORE_KEYS), p
