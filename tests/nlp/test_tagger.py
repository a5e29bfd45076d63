"""The shipped CRF tagger: tokens, BIO decoding, lazy loading, a missing model named."""
import pytest

from covidbank.errors import ReportError
from covidbank.nlp import tagger as tg


def test_tokens_split_letters_digits_and_punctuation():
    t = "NHC: 368503. María-José"
    assert [t[a:b] for a, b in tg.tokenize(t)] == ["NHC", ":", "368503", ".", "María", "-", "José"]


def test_bio_labels_become_character_spans():
    t = "Dr. Ana Gil, 28036 Madrid"
    toks = tg.tokenize(t)
    idx = list(range(len(toks)))
    labels = ["O", "O", "B-NOMBRE_PERSONAL_SANITARIO", "I-NOMBRE_PERSONAL_SANITARIO", "O", "B-TERRITORIO",
              "B-TERRITORIO"]
    assert [(t[a:b], ty) for a, b, ty in tg.spans_from_bio(toks, idx, labels)] == [
        ("Ana Gil", "NOMBRE_PERSONAL_SANITARIO"), ("28036", "TERRITORIO"), ("Madrid", "TERRITORIO")]


def test_packaged_model_loads_lazily_and_tags_a_generated_form():
    t = tg.PhiTagger()
    assert t._tagger is None and tg.MODEL_PATH.is_file()
    text = "Nombre: Ernesto.\nApellidos: Rivera Bueno.\nNHC: 368503.\nEdad: 70 años Sexo: H.\n"
    found = {(text[a:b], ty) for a, b, ty in t.tag(text)}
    assert ("Rivera Bueno", "NOMBRE_SUJETO_ASISTENCIA") in found and ("368503", "ID_SUJETO_ASISTENCIA") in found
    assert ("70 años", "EDAD_SUJETO_ASISTENCIA") in found and ("H", "SEXO_SUJETO_ASISTENCIA") in found
    assert t._tagger is not None


def test_missing_model_is_named(tmp_path):
    with pytest.raises(ReportError, match="nope.crfsuite"):
        tg.PhiTagger(tmp_path / "nope.crfsuite").tag("Nombre: Ana.")


def test_context_window_is_a_parameter_and_the_default_is_the_shipped_one():
    text = "Remitido por: Dra. Ana Gil Pérez, Hospital La Paz"
    toks = tg.tokenize(text)
    idx = list(range(len(toks)))
    two = tg.sentence_features(text, toks, idx)
    three = tg.sentence_features(text, toks, idx, window=3)
    assert tg.WINDOW == 2 and two == tg.sentence_features(text, toks, idx, window=2)
    assert not any(f.startswith("-3") for f in two[5]) and "-3w=:" in three[5] and "3w=perez" in three[4]
    # what a window of 3 adds is only the third token either side
    assert set(three[5]) - set(two[5]) == {f for f in three[5] if f.startswith(("-3", "3"))}


def test_default_tagger_can_be_swapped_for_a_candidate_and_back(tmp_path):
    cand = tg.PhiTagger(tmp_path / "candidate.crfsuite", window=3)
    try:
        tg.set_default_tagger(cand)
        assert tg.default_tagger() is cand and tg.default_tagger().window == 3
    finally:
        tg.set_default_tagger(None)
    assert tg.default_tagger().model_path == tg.MODEL_PATH and tg.default_tagger().window == tg.WINDOW
