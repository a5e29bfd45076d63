import pytest

from covidbank.nlp.cues import DOUBTFUL, HEDGED, NEGATED, POSITIVE, find_cues, polarity_at
from covidbank.nlp.text import normalize


def pol(sentence: str, target: str) -> str:
    s = normalize(sentence)
    t = normalize(target)
    i = s.index(t)
    return polarity_at(find_cues(s), i, i + len(t))


@pytest.mark.parametrize("sentence", [
    "No derrame pleural.", "Sin derrame pleural.", "No se observa derrame pleural.",
    "No se observan signos de derrame pleural.", "No se evidencia derrame pleural.",
    "No se aprecia derrame pleural.", "No se identifica derrame pleural.", "No hay derrame pleural.",
    "Ausencia de derrame pleural.", "Se descarta derrame pleural.", "Sin evidencia de derrame pleural.",
    "No existe derrame pleural.", "No objetivo derrame pleural.", "Libre de derrame pleural.",
    "No condensaciones ni derrame pleural.", "Tampoco derrame pleural.",
    "Derrame pleural descartado.",
])
def test_negation_cues(sentence):
    assert pol(sentence, "derrame pleural") == NEGATED


@pytest.mark.parametrize("sentence", [
    "Sospecha de neumonía.", "Probable neumonía.", "Posible neumonía.", "Compatible con neumonía.",
    "Hallazgos sugestivos de neumonía.", "Hallazgos sugerentes de neumonía.", "Impresiona de neumonía.",
    "En relación con neumonía.", "Podría corresponder a neumonía.", "A descartar neumonía.",
    "Dudosa neumonía.", "Poco probable neumonía.",
    # BIMCV reads these as "likely", not as doubt
    "No es posible descartar neumonía.", "No se puede descartar neumonía.", "No puede descartarse neumonía.",
])
def test_hedge_cues(sentence):
    assert pol(sentence, "neumonía") == HEDGED


@pytest.mark.parametrize("sentence", [
    "No se puede excluir neumonía.", "No se pueden descartar neumonía.", "Sin poder descartar neumonía.",
    "No se descarta neumonía.", "No es posible excluir neumonía.", "Hallazgos no típicos de neumonía.",
    "Patrón indeterminado para neumonía.", "No pueden excluir neumonía.", "No sugestivo de neumonía.",
])
def test_doubt_cues(sentence):
    assert pol(sentence, "neumonía") == DOUBTFUL


@pytest.mark.parametrize("sentence, target, expected", [
    ("Cardiomegalia.", "cardiomegalia", POSITIVE),
    ("No derrame pleural pero sí cardiomegalia.", "cardiomegalia", POSITIVE),  # breaker "pero"
    ("No derrame, aunque se observa cardiomegalia.", "cardiomegalia", POSITIVE),
    ("Sin derrame; cardiomegalia.", "cardiomegalia", POSITIVE),
    ("No se observa derrame. Se observa cardiomegalia", "cardiomegalia", POSITIVE),
    ("Engrosamiento pleural sin cambios.", "engrosamiento pleural", POSITIVE),
    ("Sin signos de sospecha de neumonía.", "neumonía", NEGATED),  # hedge inside a negation
    # a negated "que sugieran ..." clause carries the negation past the word window
    ("No aprecio lesiones pulmonares de entidad que sugieran infección pulmonar por COVID 19.", "covid 19", NEGATED),
    ("No se objetivan opacidades en vidrio deslustrado, consolidaciones ni patrón intersticial que apoyen el "
     "diagnóstico de infección por coronavirus.", "coronavirus", NEGATED),
    ("No identifico imágenes de condensación de espacio aéreo pulmonar sugestivas de neumonía.", "neumonía", NEGATED),
    ("No se identifican áreas de aumento de densidad en el parénquima pulmonar que sugieran patología infecciosa.",
     "infecciosa", NEGATED),
    # "no presentes en rx previa" means new, it negates nothing after it
    ("Opacidades bibasales no presentes en rx previa, compatibles con infección por COVID 19.", "covid 19", HEDGED),
    ("Opacidades no visibles en el estudio anterior y compatibles con infección por COVID19.", "covid19", HEDGED),
    # without such a link the window still closes
    ("No derrame pleural y ya en la parte más alta del hemitórax derecho una gran cardiomegalia.", "cardiomegalia",
     POSITIVE),
    # a negated change is not a negated finding: the finding is there, unchanged
    ("No aprecio cambios ostensibles en los infiltrados bilaterales.", "infiltrados", POSITIVE),
    ("No se observan cambios significativos en la consolidación del LSD.", "consolidación", POSITIVE),
    ("No hay cambios en el derrame pleural derecho.", "derrame pleural", POSITIVE),
    ("No se observan cambios ni derrame pleural.", "derrame pleural", NEGATED),
    ("No hay cambios respecto al estudio previo en la consolidación basal.", "consolidación", POSITIVE),
    # ... but changes that are the finding, or a list that starts with "cambios", stay negated
    ("No hay cambios degenerativos.", "cambios degenerativos", NEGATED),
    ("No existen cambios postquirúrgicos.", "postquirúrgicos", NEGATED),
    ("No se visualizan cambios de consolidación.", "consolidación", NEGATED),
    ("No se observan cambios sugestivos de neumonía.", "neumonía", NEGATED),
    ("No aprecio cambios, derrame pleural ni neumotórax.", "derrame pleural", NEGATED),
    ("No hay cambios, consolidaciones ni derrame pleural.", "consolidaciones", NEGATED),
    ("No se observan diferencias, nódulos ni masas.", "nódulos", NEGATED),
    # "no significativa" qualifies what precedes it
    ("Mínima disminución no significativa del derrame pleural derecho.", "derrame pleural", POSITIVE),
    ("No significativo derrame pleural.", "derrame pleural", NEGATED),
    ("no significativa cardiomegalia", "cardiomegalia", NEGATED),
    ("No se observan adenopatías significativas.", "adenopatías", NEGATED),
    # "en ausencia de X" is a condition: it negates X, not what the sentence goes on to say
    ("Patrón intersticial bilateral que en ausencia de patología cardiaca podría corresponder a neumonía atípica.",
     "neumonía", HEDGED),
    ("En ausencia de patología cardiaca, podría corresponder a neumonía.", "patología cardiaca", NEGATED),
    ("Ausencia de derrame pleural, neumotórax o condensaciones.", "condensaciones", NEGATED),
    ("Opacidades en ausencia de derrame pleural y neumotórax.", "neumotórax", NEGATED),
    ("Cardiomegalia en ausencia de signos de insuficiencia cardiaca.", "insuficiencia cardiaca", NEGATED),
    ("Consolidación en ausencia de signos radiológicos de neumonía.", "neumonía", NEGATED),
])
def test_scopes(sentence, target, expected):
    assert pol(sentence, target) == expected


def test_cue_offsets_are_inside_the_sentence():
    s = normalize("no se observan condensaciones ni derrame pleural")
    cues = find_cues(s)
    assert [c.kind for c in cues] == [NEGATED, NEGATED]
    assert all(0 <= c.start < c.end <= c.scope_start <= c.scope_end <= len(s) for c in cues)
    assert find_cues("") == []


@pytest.mark.parametrize("sentence, target, expected", [
    ("sin poder descartar dado el contexto epidemiologico covid 19", "covid 19", DOUBTFUL),
    ("no se puede excluir en el contexto de la pandemia neumonia", "neumonia", DOUBTFUL),
    ("dado el contexto epidemiologico sugestivo de covid 19", "covid 19", HEDGED),
])
def test_a_hedge_inside_a_doubt_stays_doubtful(sentence, target, expected):
    a = sentence.index(target)
    assert polarity_at(find_cues(sentence), a, a + len(target)) == expected


@pytest.mark.parametrize("sentence, target, expected", [
    # a change "en X" leaves X as it is, but what the sentence lists after it stays negated
    ("No existen cambios en la silueta cardiaca, derrame pleural ni condensaciones.", "derrame pleural", NEGATED),
    ("No se observan cambios en el parénquima pulmonar, condensaciones o derrame pleural.", "condensaciones", NEGATED),
    ("No se observan cambios en el parénquima pulmonar que sugieran neumonía.", "neumonía", NEGATED),
    ("No se aprecian cambios en los campos pulmonares compatibles con infección COVID-19.", "covid 19", NEGATED),
    # "en ausencia de signos sugestivos de X" is still the absence of X
    ("Se realiza estudio en ausencia de signos sugestivos de neumonía.", "neumonía", NEGATED),
    ("Paciente con fiebre en ausencia de hallazgos compatibles con neumonía COVID.", "neumonía", NEGATED),
])
def test_changes_and_conditions_keep_their_negations(sentence, target, expected):
    assert pol(sentence, target) == expected


# Scope fixes of issue 17's COVID work (each sentence written for the test, none copied from a report).
@pytest.mark.parametrize("sentence, target, expected", [
    # a new existential assertion ends the negation of what came before it
    ("No se observa derrame pleural y existen opacidades bilaterales compatibles con COVID-19.", "covid 19", HEDGED),
    ("No se aprecia neumotórax y hay una consolidación en el lóbulo medio.", "consolidación", POSITIVE),
    # ... but "ni hay", "tampoco hay", "no existen" and a dictated "no hay hay" are negations
    ("No se observan condensaciones ni hay derrame pleural.", "derrame pleural", NEGATED),
    ("Tampoco hay derrame pleural.", "derrame pleural", NEGATED),
    ("No hay hay derrame pleural.", "derrame pleural", NEGATED),
    ("No existen adenopatías.", "adenopatías", NEGATED),
])
def test_an_existential_assertion_ends_a_negation(sentence, target, expected):
    assert pol(sentence, target) == expected


@pytest.mark.parametrize("sentence, target, expected", [
    # what is known of the patient is not negated by the exam's negation
    ("Sin hallazgos radiológicos en paciente con COVID-19 confirmado.", "covid 19", POSITIVE),
    ("No se observan nuevas opacidades en un paciente con neumonía por COVID-19 conocida.", "neumonía", POSITIVE),
    ("No se observan nuevas opacidades en un paciente con neumonía por COVID-19 conocida.", "opacidades", NEGATED),
])
def test_the_patient_is_outside_the_exam_negation(sentence, target, expected):
    assert pol(sentence, target) == expected


@pytest.mark.parametrize("sentence, target, expected", [
    # a negative test result negates the few words before it, wherever it stands
    ("Paciente COVID negativo con opacidades bilaterales.", "covid", NEGATED),
    ("Paciente con PCR de COVID negativa y fiebre de tres días.", "covid", NEGATED),
    ("Covid-19 negativo. Radiografía normal.", "covid 19", NEGATED),
    # ... and not the clause before them
    ("Opacidades bilaterales en paciente con PCR negativa.", "opacidades", POSITIVE),
    ("Consolidación basal derecha con antígeno negativo.", "consolidación", POSITIVE),
    ("Hallazgos negativos para neumonía.", "neumonía", NEGATED),
])
def test_a_negative_result_negates_what_it_follows(sentence, target, expected):
    assert pol(sentence, target) == expected


@pytest.mark.parametrize("sentence, target, expected", [
    # a negated course of a finding presupposes the finding
    ("Sin empeoramiento de la neumonía COVID-19.", "neumonía", POSITIVE),
    ("No se observa progresión de la neumonía por COVID-19.", "covid 19", POSITIVE),
    ("No ha habido cambios en la consolidación basal.", "consolidación", POSITIVE),
    ("No se aprecia mejoría de las opacidades de predominio basal.", "opacidades", POSITIVE),
    # ... the negation still reaches what the sentence lists after it
    ("Sin empeoramiento de la neumonía ni derrame pleural.", "derrame pleural", NEGATED),
    ("No se observa progresión de las opacidades, derrame pleural ni neumotórax.", "neumotórax", NEGATED),
])
def test_a_negated_course_keeps_its_finding(sentence, target, expected):
    assert pol(sentence, target) == expected
