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


@pytest.mark.parametrize("sep", [",", "\t"])
def test_no_reader_takes_an_index_from_a_first_row_longer_than_the_header(tmp_path, sep):
    """pandas takes the first column as the index when the first data row has one more field than the header
    (every column shifted by one), and only warns and drops the field with ``index_col=False``: every reader of a
    source table gives the C parser's error for a longer row, on the first row as on a later one."""
    import pandas as pd

    from covidbank.sources import base
    from covidbank.sources.base import _pandas_batches, read_text_table, stream_text_table

    def table(name, rows):
        p = tmp_path / name
        p.write_text("".join(sep.join(r) + "\n" for r in rows), encoding="utf-8")
        return p

    ok = table("ok.csv", [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]])
    first = table("first.csv", [["a", "b", "c"], ["1", "2", "3", "x"], ["4", "5", "6"]])
    later = table("later.csv", [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6", "x"]])
    every = table("every.csv", [["a", "b", "c"], ["1", "2", "3", "x"], ["4", "5", "6", "y"]])
    assert read_text_table(ok, sep).values.tolist() == [["1", "2", "3"], ["4", "5", "6"]]

    def batches(path):
        names, it = _pandas_batches(path, sep, 1)
        return names, [b.values.tolist() for b in it]

    def streamed(path):
        return stream_text_table(path, lambda names, it: [b.values.tolist() for b in it], rows=1, sep=sep)

    assert batches(ok) == (["a", "b", "c"], [[["1", "2", "3"]], [["4", "5", "6"]]])
    readers = [lambda p: read_text_table(p, sep), batches, streamed]
    if hasattr(base, "read_csv_text"):  # the one pandas reader of source tables
        readers.append(lambda p: base.read_csv_text(p, sep))
        assert base.read_csv_text(ok, sep).index.tolist() == [0, 1]
    for read in readers:
        for path, line in ((first, 2), (later, 3), (every, 2)):
            with pytest.raises(pd.errors.ParserError, match=f"Expected 3 fields in line {line}, saw 4"):
                read(path)


def test_read_side_table_skips_a_first_row_longer_than_the_header(tmp_path):
    """The fixed reason of a side table with a longer row, for a longer first row too (not a shifted table)."""
    from covidbank.sources.base import SourceResult, read_side_table

    for name, rows in (("first.csv", "a,b\n1,2,3\n4,5\n"), ("later.csv", "a,b\n1,2\n4,5,6\n")):
        res = SourceResult(source="t")
        (tmp_path / name).write_text(rows, encoding="utf-8")
        assert read_side_table(tmp_path / name, res, "side") is None
        assert [(s.record, s.reason) for s in res.skipped] == [("side", "unreadable: ParserError")]
