"""What the report de-identification leaves of given words: the one helper of the de-identification review tests."""
from covidbank.nlp import deidentify


def words_left(text: str, words: list[str]) -> list[str]:
    """The words of ``words`` still in ``deidentify(text).text``: for an over-removal test the clinical words
    that must all be kept, for a leak test the identifiers that must all be gone."""
    out = deidentify(text).text
    return [w for w in words if w in out]
