"""Hostile inputs stay bounded: FIFOs, links out of the tree, huge or zero-filled files, deflate bombs."""
from __future__ import annotations

import os

import pytest
from dicom_factory import make_cr
from hostile_corpus import write_deflate_bomb, write_sparse_dicm

from covidbank.dicom.reasons import ReasonError
from covidbank.dicom.safeio import Limits, check_path, read_dataset


def _code(fn, *a, **k) -> str:
    with pytest.raises(ReasonError) as e:
        fn(*a, **k)
    return e.value.reason.code


def test_only_regular_files_inside_the_tree(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    os.mkfifo(root / "fifo")
    assert _code(check_path, root / "fifo", root) == "not_regular_file"  # refused without opening (no hang)
    outside = make_cr(tmp_path / "outside.dcm")
    os.symlink(outside, root / "out.dcm")
    assert _code(check_path, root / "out.dcm", root) == "symlink_outside_input"
    check_path(root / "out.dcm", root, follow_symlinks=True)  # the curator said so
    os.symlink(root / "fifo", root / "fifo_link")
    assert _code(check_path, root / "fifo_link", root) == "not_regular_file"
    inside = make_cr(root / "in.dcm")
    os.symlink(inside, root / "in_link.dcm")
    check_path(root / "in_link.dcm", root)


def test_a_zero_filled_file_under_the_size_limit_ends_in_a_reason(tmp_path):
    p = write_sparse_dicm(tmp_path / "zeros.dcm", size=300 << 20)  # pydicom alone parses this for ~10 minutes
    assert _code(read_dataset, p, Limits(), stop_before_pixels=True) == "header_too_large"
    assert _code(check_path, write_sparse_dicm(tmp_path / "big.dcm"), tmp_path) == "file_too_large"


def test_deflate_bomb_and_a_normal_deflated_file(tmp_path):
    bomb = write_deflate_bomb(tmp_path / "bomb.dcm", inflated=256 << 20)
    assert bomb.stat().st_size < 1 << 20
    assert _code(read_dataset, bomb, Limits(), stop_before_pixels=True) == "decompressed_too_large"
    import pydicom

    p = make_cr(tmp_path / "ok.dcm", rows=32, cols=32)
    ds = pydicom.dcmread(p)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    got = read_dataset(tmp_path / "deflated.dcm", Limits())
    assert got.PatientID == ds.PatientID and got.pixel_array.shape == (32, 32)
    head = read_dataset(tmp_path / "deflated.dcm", Limits(), stop_before_pixels=True)
    assert "PixelData" not in head and head.Rows == 32


def _outcome(path, limits, tags=None):
    try:
        ds = read_dataset(path, limits, stop_before_pixels=True, specific_tags=tags)
    except ReasonError as e:
        return e.reason.code
    return ("read", ds.get("PatientID"), ds.get("Rows"), bool(getattr(ds, "_covidbank_pixel_complete", True)))


def test_skipped_elements_are_bounded_like_reads(tmp_path):
    """A value skipped unparsed (``specific_tags``, as discovery reads) ends like one read: a file cut short
    anywhere, or a header limit anywhere, gives the same reason (or the same values) either way."""
    p = make_cr(tmp_path / "long.dcm", rows=32, cols=32, ImageComments="x" * 5000)
    data = p.read_bytes()
    wanted = ["PatientID", "Rows", "Columns"]
    cut = tmp_path / "cut.dcm"
    for n in range(0, len(data), 97):
        cut.write_bytes(data[:n])
        assert _outcome(cut, Limits(), wanted) == _outcome(cut, Limits()), n
    for n in range(100, len(data) + 200, 97):
        assert _outcome(p, Limits(max_header_bytes=n), wanted) == _outcome(p, Limits(max_header_bytes=n)), n


def test_a_skip_counts_as_a_read(tmp_path):
    """The read-call limit gives the same answer whether the values are read or skipped."""
    p = make_cr(tmp_path / "x.dcm", rows=32, cols=32)
    full = read_dataset(p, Limits(), stop_before_pixels=True)
    wanted = ["PatientID"]
    for n in range(10, 400, 7):
        lim = Limits(max_reads=n)
        try:
            read_dataset(p, lim, stop_before_pixels=True)
            a = "ok"
        except ReasonError as e:
            a = e.reason.code
        try:
            read_dataset(p, lim, stop_before_pixels=True, specific_tags=wanted)
            b = "ok"
        except ReasonError as e:
            b = e.reason.code
        assert a == b, n
    assert full.PatientID == read_dataset(p, Limits(), stop_before_pixels=True, specific_tags=wanted).PatientID
