import pytest

from covidbank.nlp.matcher import PhraseMatcher, expand_leading


def test_longest_match_without_overlap():
    m = PhraseMatcher({"effusion": [r"derrames? pleural(?:es)?"], "other": [r"derrames?"],
                       "pe": [r"derrame pericardico"]})
    assert m.find("no derrame pleural ni derrame pericardico ni derrames") == [
        ("effusion", 3, 18), ("pe", 22, 41), ("other", 45, 53)]


def test_word_boundaries():
    m = PhraseMatcher({"tb": [r"tb"]})
    assert m.find("tbc y tb") == [("tb", 6, 8)]


def test_leading_group_is_expanded():
    assert expand_leading(r"(?:arterias?|ramas?) pulmonar") == ["arterias? pulmonar", "ramas? pulmonar"]
    assert sorted(expand_leading(r"(?:gran )?masa")) == ["gran masa", "masa"]


def test_pattern_must_start_with_a_word():
    with pytest.raises(ValueError):
        PhraseMatcher({"x": [r".*foo"]})
