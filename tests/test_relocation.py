"""Relocatable banks: relative index paths, source roots in bank.json, relink, byte-identical builds."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidbank import Bank, BankError
from covidbank.samples import make_cohen_sample, make_mids_sample, make_mosmed_sample
from covidbank.sources import add_source

QUERY = "SELECT image_id, path, mask_path, file_present FROM images ORDER BY image_id"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_index_paths_are_relative_and_bank_never_names_its_place(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    cohen = make_cohen_sample(tmp_path / "data" / "cohen")
    add_source(b, "cohen", cohen)
    im = b.table("images")
    assert im["path"].notna().all() and not any(Path(p).is_absolute() for p in im["path"])
    assert not any(Path(p).is_absolute() for p in im["mask_path"].dropna())
    assert b.config()["source_roots"]["cohen"] == str(cohen.resolve())
    # nothing in the index names the folder the bank or the data sits in
    for p in (tmp_path / "bank" / "index").rglob("*"):
        if p.is_file():
            assert str(tmp_path).encode() not in p.read_bytes(), p
    # resolved: the files are there
    res = b.resolve_paths(im)
    assert res.loc[im["file_present"].fillna(False).astype(bool), "path"].map(lambda p: Path(p).is_file()).all()


def test_a_source_named_by_a_relative_path_is_kept_relative_to_its_root(tmp_path, monkeypatch):
    """``covidbank add cohen data/cohen`` stored the skipped records' file as ``data/cohen/metadata.csv`` (relative
    to the working folder, not the source root), which named the curator's layout and broke once moved."""
    make_cohen_sample(tmp_path / "data" / "cohen")
    monkeypatch.chdir(tmp_path)
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "cohen", Path("data") / "cohen")
    skipped = b.table("skipped")
    assert len(skipped) and set(skipped["path"]) == {"metadata.csv"}
    assert b.resolve_paths(skipped)["path"].map(lambda p: Path(p).is_file()).all()


def test_two_builds_in_different_places_are_byte_identical(tmp_path):
    data = make_cohen_sample(tmp_path / "data" / "cohen")
    mos = make_mosmed_sample(tmp_path / "data" / "mosmed")
    for name in ("one", "somewhere-else"):
        b = Bank(tmp_path / name / "bank", create=True)
        add_source(b, "cohen", data)
        add_source(b, "mosmed", mos)
    a, c = _files(tmp_path / "one" / "bank"), _files(tmp_path / "somewhere-else" / "bank")
    assert a.keys() == c.keys() and "index/sources/cohen/images.parquet" in a
    assert a == c


def test_copied_bank_gives_the_same_queries_and_datasets(tmp_path, cli):
    """The demo keeps its sample data inside the bank: the whole bank moves as one folder."""
    cli("demo", "--bank", tmp_path / "a" / "bank")
    before = Bank(tmp_path / "a" / "bank")
    torch = pytest.importorskip("torch")
    from covidbank.torch import XRayDataset

    ds1 = XRayDataset(before, size=64, labels=["COVID-19"])
    items1 = [ds1[i]["img"] for i in range(len(ds1))]
    q1 = before.query(QUERY)
    r1 = before.resolve_paths(before.table("images"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")  # nothing may still point at the old place
    after = Bank(tmp_path / "b" / "bank")
    pd.testing.assert_frame_equal(after.query(QUERY), q1)
    r2 = after.resolve_paths(after.table("images"))
    present = r2["file_present"].fillna(False).astype(bool)
    assert present.sum() > 10 and r2.loc[present, "path"].map(lambda p: Path(p).is_file()).all()
    assert (r2["path"].str.replace("/b/", "/a/", n=1, regex=False).fillna("") == r1["path"].fillna("")).all()
    ds2 = XRayDataset(after, size=64, labels=["COVID-19"])
    assert len(ds2) == len(ds1) > 10 and list(ds2.records["image_id"]) == list(ds1.records["image_id"])
    assert np.array_equal(ds2.label_matrix, ds1.label_matrix, equal_nan=True)
    assert len(ds2.excluded) == len(ds1.excluded)
    assert all(torch.equal(ds2[i]["img"], items1[i]) for i in range(len(ds2)))


def test_viewer_serves_the_moved_bank(tmp_path, cli):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from covidbank.web.app import create_app

    cli("demo", "--bank", tmp_path / "a" / "bank")
    iid = Bank(tmp_path / "a" / "bank").query(
        "SELECT image_id FROM images WHERE file_present AND file_format = 'png' ORDER BY image_id LIMIT 1")["image_id"][0]
    shutil.move(tmp_path / "a", tmp_path / "b")
    client = TestClient(create_app(tmp_path / "b" / "bank"))
    r = client.get(f"/api/image/{iid}")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_external_source_moved_then_relinked(tmp_path, cli):
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "cohen", make_cohen_sample(tmp_path / "data" / "cohen"))
    n_present = int(b.table("images")["file_present"].sum())
    shutil.move(tmp_path / "data", tmp_path / "moved")
    gone = b.resolve_paths(b.table("images"))
    assert not any(Path(p).is_file() for p in gone["path"].dropna())
    res = cli("relink", tmp_path / "bank", "cohen", tmp_path / "moved" / "cohen", "--json")
    assert '"present": %d' % n_present in res.output
    back = b.resolve_paths(b.table("images"))
    assert back.loc[back["file_present"].astype(bool), "path"].map(lambda p: Path(p).is_file()).all()
    assert b.source_root("cohen") == (tmp_path / "moved" / "cohen").resolve()
    # errors name the problem
    res = cli("relink", tmp_path / "bank", "nosuch", tmp_path, expect=1)
    assert "no source 'nosuch'" in res.output and "cohen" in res.output
    with pytest.raises(BankError, match="not a folder"):
        b.relink("cohen", tmp_path / "nowhere")


def test_resolve_refuses_paths_leaving_their_root(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    b.set_source_root("x", tmp_path / "data")
    assert b.resolve("x", "a/b.png") == tmp_path / "data" / "a" / "b.png"
    assert b.resolve("x", "../secret.txt") == tmp_path / "secret.txt"
    assert b.resolve("x", "../secret.txt", contained=True) is None
    assert b.resolve("x", None) is None
    assert b.inside_roots(tmp_path / "data" / "z.png") and not b.inside_roots(tmp_path / "elsewhere.png")


def test_add_mids_with_name_keeps_two_sites_apart(tmp_path, cli):
    s1 = make_mids_sample(tmp_path / "site1")
    s2 = make_mids_sample(tmp_path / "site2")
    bank = tmp_path / "bank"
    cli("add", "mids", s1, "--bank", bank, "--name", "hospital_a")
    cli("add", "mids", s2, "--bank", bank, "--name", "hospital_b")
    b = Bank(bank)
    assert b.sources() == ["hospital_a", "hospital_b"]
    im = b.table("images")
    assert im["image_id"].is_unique  # before the fix: 'mids:' ids twice
    for col in ("image_id", "subject_id", "session_id"):
        assert im[col].str.match(r"^hospital_[ab]:").all()
    assert set(im["source"]) == {"hospital_a", "hospital_b"}
    assert im.groupby("subject_id")["source"].nunique().max() == 1  # patients never merge across sites
    n = len(im) // 2
    assert (im["source"] == "hospital_a").sum() == n and b.table("subjects")["subject_id"].is_unique


def test_paths_made_relative_by_column_equal_pathlib_one_by_one(tmp_path):
    """``Bank._relativize`` (whole columns with pyarrow.compute, each folder resolved once) gives what
    ``Path.resolve`` / ``relative_to`` give path by path (``_relative_one``): roots given through a
    link, folders and files that are links into or out of the root, odd paths, the root itself."""
    from covidbank.bank import _relative_one

    real = tmp_path / "real" / "root"
    (real / "images" / "sub").mkdir(parents=True)
    (real / "images" / "a.png").write_bytes(b"x")
    out = tmp_path / "out"
    (out / "dir").mkdir(parents=True)
    (out / "dir" / "f.png").write_bytes(b"x")
    (tmp_path / "link_root").symlink_to(real)                 # the root, given through a link
    (out / "to_images").symlink_to(real / "images")           # a folder outside linking inside
    (out / "dir" / "in.png").symlink_to(real / "images" / "a.png")  # a file outside linking inside
    (real / "images" / "away.png").symlink_to(out / "dir" / "f.png")  # a file inside linking outside
    (out / "to_parent").symlink_to(real.parent)               # resolves to the root's parent
    names = ["a.png", "away.png", "missing.png", "sub", "in.png", "f.png", "root"]
    (real / "imágenes").mkdir()
    folders = [real / "images", tmp_path / "link_root" / "images", out / "to_images", out / "dir", out,
               out / "to_parent", real, tmp_path / "link_root", Path("/"), real / "imágenes"]
    paths = [str(f / n) for f in folders for n in names]
    paths += [str(real), str(tmp_path / "link_root"), str(real) + "/", str(real / "images") + "//a.png",
              str(real / "images" / ".." / "images" / "a.png"), str(out / "." / "dir" / "f.png"), "relative/x.png",
              "./y.png", "", None, "/", str(real / "images" / "sub") + "/"]
    b = Bank(tmp_path / "bank", create=True)
    for root in (real, tmp_path / "link_root", tmp_path / "real"):
        root_abs = Path(root).absolute()
        want = [_relative_one(p, root_abs, root_abs.resolve()) if p else None for p in paths]
        for dtype in ("string", object):
            df = pd.DataFrame({"path": pd.Series(paths, dtype=dtype), "mask_path": pd.Series([None] * len(paths), dtype=dtype)})
            got = b._relativize(df, root)
            assert [None if pd.isna(x) else x for x in got["path"]] == want, (root, dtype)
            assert got["path"].dtype == df["path"].dtype and got["mask_path"].isna().all()
        # a column whose every path lies inside the root as given (sliced whole), non-ASCII folders included;
        # one whose every path is a clean one elsewhere (kept whole, but for links into the root); columns of one
        # folder with one odd path (a trailing "/", a "." or ".." name, a doubled "/")
        inside = [str(root_abs / f / n) for f in ("images", "imágenes", "images/sub") for n in names]
        elsewhere = [str(f / n) for f in (out / "dir", out / "to_images", out) for n in names]
        odd_ends = [str(out / "dir" / "f.png"), str(out / "dir") + "/", str(out / "dir" / "."), str(out / "dir" / ".."),
                    str(out / "dir" / "..."), str(out / "dir") + "//x.png"]
        for column in (inside, elsewhere, elsewhere[:len(names)], *([e, odd_ends[0]] for e in odd_ends[1:]), odd_ends):
            got = b._relativize(pd.DataFrame({"path": pd.Series(column, dtype="string")}), root)
            assert got["path"].tolist() == [_relative_one(p, root_abs, root_abs.resolve()) for p in column], root
