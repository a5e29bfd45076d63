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


def test_header_longer_than_the_first_block(tmp_path):
    """The header is read from a first block of 64 KB; a longer header is read again with Arrow's default block."""
    from covidbank.sources.base import _arrow_batches

    names = [f"c{i}_" + "x" * 100 for i in range(1000)]  # about 110 KB
    p = tmp_path / "wide.csv"
    p.write_text(",".join(names) + "\n" + ",".join(str(i) for i in range(1000)) + "\n", encoding="utf-8")
    got, batches = _arrow_batches(p, ",", 10, arrow=True)
    assert got == names
    (t,) = list(batches)
    assert t.column_names == names and t.column(999).to_pylist() == ["999"]


def test_a_long_repeated_name_is_shown_shortened():
    """A header cell of 70,000 characters repeated with a space: the message stays one short line that still
    names the file, the column's start and what to do (not 210 KB of the name on the terminal)."""
    long = "p" * 70_000
    with pytest.raises(SourceFormatError) as e:
        trimmed_names(["finding", long, f" {long}"], "t.csv")
    msg = str(e.value)
    assert len(msg) < 400, len(msg)
    assert msg.startswith("t.csv: column 'pppp") and "70000 characters" in msg and "2 times" in msg
    assert msg.endswith("rename or remove the repeated column")
