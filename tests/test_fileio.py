"""covidbank.fileio: the one atomic-write helper and the one pandas reader of text tables."""
from __future__ import annotations

import os
import stat

import pytest

from covidbank.fileio import atomic_path, atomic_write, remove_stale


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "a.json"
    atomic_write(p, "one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["t.tsv"]


def test_a_writer_that_wrote_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "x.png"):
            pass
    assert not list(tmp_path.iterdir())


def test_temp_name_keeps_the_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "mask.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.name.startswith(".mask.nii.gz.tmp-")
        tmp.write_bytes(b"x")


def test_mode_is_set_before_the_file_appears(tmp_path):
    p = atomic_write(tmp_path / "key", "secret", mode=0o600)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_remove_stale_only_touches_temp_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".a.png.tmp-12-abcdef01.png").write_bytes(b"")
    (tmp_path / "d" / "a.png").write_bytes(b"")
    assert remove_stale(tmp_path) == 1
    assert [x.name for x in (tmp_path / "d").iterdir()] == ["a.png"]


def test_read_csv_text_never_shifts_a_longer_first_row(tmp_path):
    """A first data row with one field more than the header: the parser's error, or (``longer_rows="truncate"``)
    kept with one field per column like any longer row; pandas' default took the first column as the index."""
    import pandas as pd

    from covidbank.fileio import read_csv_text

    p = tmp_path / "t.csv"
    p.write_text("patient_id,date,result\nP1,2020-01-01,pos,EXTRA\nP2,2020-01-02,neg\nP3,2020-01-03,neg,X\n")
    with pytest.raises(pd.errors.ParserError, match="Expected 3 fields in line 2, saw 4"):
        read_csv_text(p)
    df = read_csv_text(p, longer_rows="truncate")
    assert df.index.tolist() == [0, 1, 2] and df["patient_id"].tolist() == ["P1", "P2", "P3"]
    assert df["result"].tolist() == ["pos", "neg", "neg"]
    with pytest.raises(ValueError, match="longer_rows"):
        read_csv_text(p, longer_rows="skip")


def test_read_csv_text_with_usecols_still_refuses_a_longer_first_row(tmp_path):
    # the probe of the first row reads every field: ``usecols`` (names) must not reach it
    import pandas as pd

    from covidbank.fileio import read_csv_text

    p = tmp_path / "t.csv"
    p.write_text("a,b,c\n1,2,3,4\n5,6,7\n")
    with pytest.raises(pd.errors.ParserError):
        read_csv_text(p, usecols=["a", "c"])
    p.write_text("a,b,c\n1,2,3\n5,6,7\n")
    assert read_csv_text(p, usecols=["a", "c"]).to_dict("list") == {"a": ["1", "5"], "c": ["3", "7"]}
