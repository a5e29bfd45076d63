from covidbank.nlp.text import normalize, split_sentences, strip_accents


def test_normalize_brings_spanish_to_bimcv_form():
    assert normalize("Opacidades en vidrio deslustrado, bilaterales (COVID-19).") == \
        "opacidades en vidrio deslustrado bilaterales covid 19 ."
    assert normalize("Niño con DERRAME pleural") == "nino con derrame pleural"
    assert normalize(None) == ""


def test_strip_accents_keeps_length_for_spanish():
    s = "áéíóú ñ ü Á"
    assert strip_accents(s) == "aeiou n u A"
    assert len(strip_accents(s)) == len(s)


def test_split_sentences_on_stops_semicolons_newlines_not_decimals():
    t = normalize("Nódulo de 0.5 cm. Derrame pleural; cardiomegalia\nsin cambios")
    sents = [s.text for s in split_sentences(t)]
    assert sents == ["nodulo de 0.5 cm", "derrame pleural", "cardiomegalia", "sin cambios"]
    for s in split_sentences(t):
        assert t[s.start:s.end] == s.text
