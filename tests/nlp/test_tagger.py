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
