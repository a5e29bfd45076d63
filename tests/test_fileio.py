"""covidbank.fileio: the one atomic-write helper."""
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
