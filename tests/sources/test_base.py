import pytest

from covidbank.errors import SourceFormatError
from covidbank.sources.base import trimmed_names


def test_trimmed_names():
    assert trimmed_names([" a", "b ", "finding", "finding.1"], "t.csv") == ["a", "b", "finding", "finding.1"]
    # blank header cells name no column an adapter reads: they may repeat
    assert trimmed_names(["a", " ", "  "], "t.csv") == ["a", "", ""]


def test_names_equal_once_trimmed_are_an_error():
    with pytest.raises(SourceFormatError, match=r"^t\.csv: column 'finding' appears 3 times .*'finding', ' finding ', 'finding\\t'.*"
                                                r"\(and 1 other column\(s\) likewise\)$"):
        trimmed_names(["finding", " finding ", "x", "x ", "finding\t"], "t.csv")
