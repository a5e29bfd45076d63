"""The decode-once memory-mapped cache and its staleness checks."""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
import torch  # noqa: E402

from covidbank.errors import ImageLoadError, StaleCacheError  # noqa: E402
from covidbank.torch import XRayCache, XRayDataset, XRayPrep, build_cache  # noqa: E402
from ml_fixtures import save_png8, synthetic_radiograph, xray_bank  # noqa: E402


@pytest.fixture
def bank(tmp_path):
    return xray_bank(tmp_path, "alpha", n_subjects=3, images_per_subject=2)


def test_cached_equals_uncached_and_reuses(bank):
    s = build_cache(bank, size=64)
    assert (s.decoded, s.reused, s.errors) == (6, 0, 0)
    un = XRayDataset(bank, size=64)
    ca = XRayDataset(bank, size=64, cache=True, on_stale="error")
    assert ca.cache is not None and len(ca) == len(un) == 6
    for i in range(len(un)):
        assert ca[i]["image_id"] == un[i]["image_id"]
        # uint16 quantization: 2048 / 65535 / 2 on the [-1024, 1024] scale
        assert float((ca[i]["img"] - un[i]["img"]).abs().max()) < 0.02
        assert torch.equal(torch.nan_to_num(ca[i]["lab"], 7), torch.nan_to_num(un[i]["lab"], 7))
    s2 = build_cache(bank, size=64)
    assert (s2.decoded, s2.reused) == (0, 6)
    # DataLoader workers re-open the memmap
    dl = torch.utils.data.DataLoader(ca, batch_size=4, num_workers=2)
    assert sum(len(b["img"]) for b in dl) == 6


def _rewrite(path, seed, keep_stat=False):
    st = os.stat(path)
    save_png8(synthetic_radiograph(seed), path)
    if keep_stat:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_changed_file_is_stale_refused_or_rebuilt(bank):
    build_cache(bank, size=32)
    ds0 = XRayDataset(bank, size=32)
    p = ds0.records["path"].iloc[0]
    before = ds0[0]["img"].clone()
    _rewrite(p, 999)
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 5_000_000_000))
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    stale = c.stale(ds0.records)
    assert list(stale["image_id"]) == [ds0.records["image_id"].iloc[0]] and stale["reason"].iloc[0] == "file changed"
    with pytest.raises(StaleCacheError, match="stale"):
        XRayDataset(bank, size=32, cache=True, on_stale="error")
    ds = XRayDataset(bank, size=32, cache=True)  # rebuilds the one stale entry
    after = ds[0]["img"]
    fresh = XRayDataset(bank, size=32)[0]["img"]
    assert float((after - fresh).abs().max()) < 0.02
    assert float((after - before).abs().max()) > 10
    assert c.stale(ds0.records).empty


def test_same_mtime_different_content_is_stale(bank):
    build_cache(bank, size=32)
    ds0 = XRayDataset(bank, size=32)
    p = ds0.records["path"].iloc[1]
    _rewrite(p, 4242, keep_stat=True)
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    for verify in ("stat", "hash"):  # stat: the ctime (which os.utime cannot set back) or the size differs
        assert ds0.records["image_id"].iloc[1] in set(c.stale(ds0.records, verify=verify)["image_id"])


def test_parameters_key_the_cache(bank):
    build_cache(bank, size=32)
    a = XRayCache(bank.path / "cache", XRayPrep(32))
    b = XRayCache(bank.path / "cache", XRayPrep(48))
    c = XRayCache(bank.path / "cache", XRayPrep(32, resample="bilinear"))
    assert a.exists() and not b.exists() and not c.exists()
    assert len({a.path, b.path, c.path}) == 3
    # a state written with other parameters is refused
    st = json.loads(a.state_file.read_text())
    st["params"]["size"] = 48
    a.state_file.write_text(json.dumps(st))
    with pytest.raises(StaleCacheError, match="built with"):
        XRayCache(bank.path / "cache", XRayPrep(32)).index()


def test_corrupt_file_recorded_then_raise_or_skip(bank):
    ds0 = XRayDataset(bank, size=32)
    p = ds0.records["path"].iloc[2]
    iid = ds0.records["image_id"].iloc[2]
    data = open(p, "rb").read()
    with open(p, "wb") as f:
        f.write(data[:200])
    s = build_cache(bank, size=32)
    assert s.errors == 1 and iid in s.error_rows["image_id"].tolist()
    with pytest.raises(ImageLoadError) as e:
        XRayDataset(bank, size=32, cache=True)
    assert os.path.basename(p) in str(e.value) and iid in str(e.value)
    ds = XRayDataset(bank, size=32, cache=True, on_error="skip")
    assert len(ds) == 5 and [x[0] for x in ds.skipped] == [iid]
    assert not any(ds[i] is None for i in range(len(ds)))


def test_cli_cache_check_and_build(bank, cli):
    r = cli("cache", bank.path, "--size", "32", "--check", expect=1)
    assert "6 missing or stale" in r.output
    r = cli("cache", bank.path, "--size", "32", "--json")
    d = json.loads(r.stdout)
    assert d["decoded"] == 6 and d["errors"] == 0
    cli("cache", bank.path, "--size", "32", "--check")
    cli("cache", bank.path, "--size", "32", "--crop", "sideways", expect=1)


def test_truncated_cache_data_is_stale_and_rebuilt(bank, cli):
    # a cut-short data-*.npy passed `cache --check` ("0 missing or stale") and then failed in the
    # loader with numpy's "mmap length is greater than file size" (no file named)
    build_cache(bank, size=64)
    data = next((bank.path / "cache").glob("*/data-*.npy"))
    data.write_bytes(data.read_bytes()[:1000])
    res = cli("cache", bank.path, "--size", "64", "--check", expect=1)
    assert "6 missing or stale" in res.output and "cache data unreadable" in res.output, res.output
    s = build_cache(bank, size=64)
    assert s.decoded == 6 and s.errors == 0
    ca = XRayDataset(bank, size=64, cache=True, on_stale="error")
    assert ca[5]["img"].shape[-1] == 64


def test_workers_and_dask_build_the_same_cache(tmp_path):
    """Decoding in a process pool or on a dask.distributed cluster gives the same array and index, an unreadable
    image included (its row is dropped from the array, which is sized for every image until the end)."""
    import pandas as pd

    bank = xray_bank(tmp_path / "b", "alpha", n_subjects=4, images_per_subject=2)
    recs = XRayDataset(bank, size=32).records
    p = recs["path"].iloc[3]
    with open(p, "r+b") as f:
        f.truncate(200)
    built = {}
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        for name, kw in (("one", {}), ("two", {"workers": 2}), ("dask", {"scheduler": cl.scheduler_address})):
            s = build_cache(bank, size=32, root=tmp_path / name, **kw)
            assert (s.decoded, s.errors) == (8, 1)
            c = XRayCache(tmp_path / name, XRayPrep(32))
            assert c.array().shape == (7, 32, 32)
            built[name] = (np.asarray(c.array()), c.index())
    for name in ("two", "dask"):
        assert np.array_equal(built["one"][0], built[name][0])
        pd.testing.assert_frame_equal(built["one"][1], built[name][1])
    idx = built["one"][1]
    assert idx.loc[idx["status"] == "error", "image_id"].tolist() == [recs["image_id"].iloc[3]]
    assert sorted(idx.loc[idx["status"] == "ok", "row"]) == list(range(7))


def test_index_holds_no_input_path_nor_message(tmp_path, cli):
    """The cache is inside the bank: its index kept each image's absolute path and the decode error's message
    (which repeats it); the terminal and the exceptions still name the file."""
    import pandas as pd

    bank = xray_bank(tmp_path / "GARCIA_LOPEZ", "alpha", n_subjects=2, images_per_subject=2)
    recs = XRayDataset(bank, size=32).records
    p, iid = recs["path"].iloc[1], recs["image_id"].iloc[1]
    with open(p, "r+b") as f:
        f.truncate(200)
    os.remove(recs["path"].iloc[2])
    s = build_cache(bank, size=32)
    assert s.errors == 2 and os.path.basename(p) in s.error_rows.set_index("image_id").loc[iid, "error"]
    files = list((bank.path / "cache").glob("xray-*/index*.parquet"))
    assert len(files) == 1
    idx = pd.read_parquet(files[0])
    text = idx.astype(str).to_csv() + files[0].read_bytes().decode("latin-1")
    assert "GARCIA_LOPEZ" not in text and os.path.basename(p) not in text
    assert sorted(idx["error"].dropna()) == ["FileNotFoundError: image file is missing",
                                             "ImageLoadError: image file could not be read"]
    r = cli("cache", bank.path, "--size", "32")  # reused entries: the terminal still names the files
    assert os.path.basename(p) in r.output.replace("\n", "")
    with pytest.raises(ImageLoadError, match="GARCIA_LOPEZ"):
        XRayDataset(bank, size=32, cache=True)
    assert XRayCache(bank.path / "cache", XRayPrep(32)).stale(recs).empty


def _path_forms(path) -> set[str]:
    """The path, its parts and their stems, in the forms a hash could have been taken of."""
    p = os.path.abspath(str(path))
    forms = {p, str(path), os.path.realpath(p)}
    parts = [x for x in p.split(os.sep) if x]
    forms |= set(parts) | {os.path.splitext(x)[0] for x in parts}
    forms |= {os.sep + os.path.join(*parts[:i]) for i in range(1, len(parts) + 1)}  # every prefix folder
    return forms


def _hash_forms(text: str) -> set[bytes]:
    out = set()
    for algo in ("sha1", "sha256", "md5"):
        for enc in (text.encode("utf-8"), text.encode("utf-16-le")):
            d = hashlib.new(algo, enc)
            hx = d.hexdigest()
            out |= {hx.encode(), hx.upper().encode(), hx[:10].encode(), d.digest()}
    return out


def test_cache_files_hold_no_path_nor_hash_of_it(tmp_path):
    """The index kept ``path_sha1``, an unsalted SHA-1 of the absolute path: a path such as
    /export/12345678_GARCIA/img.png gives its 8-digit record number back to a brute force in seconds. No file of
    the cache (index, state, data) holds the path, a part of it, or a SHA-1/SHA-256/MD5 of any of them."""
    import pandas as pd

    bank = xray_bank(tmp_path / "12345678_GARCIA", "alpha", n_subjects=2, images_per_subject=2)
    recs = XRayDataset(bank, size=32).records
    with open(recs["path"].iloc[1], "r+b") as f:  # an error row too
        f.truncate(200)
    os.remove(recs["path"].iloc[2])
    s = build_cache(bank, size=32)
    assert s.errors == 2
    files = [f for f in (bank.path / "cache").rglob("*") if f.is_file()]
    assert {f.suffix for f in files} == {".json", ".parquet", ".npy"}
    idx = pd.read_parquet(next(f for f in files if f.suffix == ".parquet"))
    blob = b"".join(f.read_bytes() for f in files) + idx.astype(str).to_csv().encode()
    forms = set().union(*(_path_forms(p) for p in recs["path"]))
    # the fixture's image ids repeat the file stems (alpha:s1_1 for s1_1.png): those are the bank's ids, not the path
    ids = " ".join(recs["image_id"])
    forms = {x for x in forms if len(x) >= 4 and x not in ids}
    assert "12345678_GARCIA" in forms
    for form in forms:
        assert form.encode() not in blob, form
        for h in _hash_forms(form):
            assert h not in blob, (form, h)
    assert list(idx.columns) == ["image_id", "row", "mtime_ns", "file_size", "ctime_ns", "inode", "sha1", "status",
                                 "error"]


def test_moved_file_with_same_content_reuses_its_row(bank, tmp_path):
    """Moving or copying a file (same content) keeps its decoded row: the stat key differs, the content SHA-1
    stored says it is the same image; the new time and size are stored so it is not hashed again."""
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    c.update(recs)
    before = np.asarray(c.array()).copy()
    row0 = c.index().set_index("image_id")["row"].to_dict()
    iid = recs["image_id"].iloc[0]
    moved = tmp_path / "elsewhere" / "renamed.png"
    moved.parent.mkdir()
    shutil.copyfile(recs["path"].iloc[0], moved)  # a new mtime: only the content says it is the same image
    os.utime(moved, ns=(os.stat(moved).st_atime_ns, os.stat(moved).st_mtime_ns + 7_000_000_000))
    os.remove(recs["path"].iloc[0])
    recs.loc[0, "path"] = str(moved)
    assert c.stale(recs).empty
    assert c.touched(recs)["image_id"].tolist() == [iid]
    s = c.update(recs)
    assert (s.decoded, s.reused, s.refreshed, s.stale) == (0, 6, 1, 0)
    c2 = XRayCache(bank.path / "cache", XRayPrep(32))
    e = c2.index().set_index("image_id")
    assert e["row"].to_dict() == row0 and np.array_equal(np.asarray(c2.array()), before)
    assert (int(e.loc[iid, "mtime_ns"]), int(e.loc[iid, "file_size"])) == (os.stat(moved).st_mtime_ns, os.stat(moved).st_size)
    assert c2.touched(recs).empty and c2.stale(recs).empty
    assert len(list(c2.path.glob("data-*.npy"))) == 1 and len(list(c2.path.glob("index-*.parquet"))) == 1


def test_moved_file_with_other_content_is_rebuilt(bank, tmp_path):
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    c.update(recs)
    iid = recs["image_id"].iloc[3]
    moved = tmp_path / "other" / "x.png"
    moved.parent.mkdir()
    save_png8(synthetic_radiograph(31337), moved)
    recs.loc[3, "path"] = str(moved)
    st = c.stale(recs)
    assert st["image_id"].tolist() == [iid] and st["reason"].tolist() == ["file changed"]
    s = c.update(recs)
    assert (s.decoded, s.refreshed, s.stale) == (1, 0, 1)
    c2 = XRayCache(bank.path / "cache", XRayPrep(32))
    from covidbank.pixels import read_xray
    from covidbank.torch.cache import preprocess_xray

    want = preprocess_xray(read_xray(moved), XRayPrep(32))
    got = c2.get(int(c2.index().set_index("image_id").loc[iid, "row"]))
    assert float(np.abs(got - want).max()) < 1e-4
    assert c2.stale(recs).empty


def test_touched_file_is_not_stale_for_the_dataset(bank):
    """A file touched in place (same content) no longer counts as stale: on_stale="error" opens the cache and the
    new time is stored."""
    build_cache(bank, size=32)
    ds0 = XRayDataset(bank, size=32)
    p, iid = ds0.records["path"].iloc[4], ds0.records["image_id"].iloc[4]
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 3_000_000_000))
    ca = XRayDataset(bank, size=32, cache=True, on_stale="error")
    assert float((ca[4]["img"] - ds0[4]["img"]).abs().max()) < 0.02
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    assert int(c.index().set_index("image_id").loc[iid, "mtime_ns"]) == os.stat(p).st_mtime_ns


def test_verify_hash_reads_the_file_again_on_the_same_object(bank):
    """The content hashes remembered by a cache object (so update does not hash again what stale hashed) are not
    trusted by ``verify="hash"``: a file rewritten with the same size and mtime is still seen (and by the stat check
    too, since format 5: its ctime changed)."""
    build_cache(bank, size=32)
    recs = XRayDataset(bank, size=32).records
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    assert c.stale(recs, verify="hash").empty
    p = recs["path"].iloc[1]
    st = os.stat(p)
    data = bytearray(open(p, "rb").read())
    data[len(data) // 2] ^= 0xFF  # same size
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert recs["image_id"].iloc[1] in set(c.stale(recs, verify="hash")["image_id"])
    assert recs["image_id"].iloc[1] in set(c.stale(recs, verify="stat")["image_id"])


def test_file_rewritten_while_decoding_is_not_kept(bank, monkeypatch):
    """The content SHA-1 was taken after the decode, in a second read: a file rewritten by another program between
    the two left the old image's pixels under the new content's hash, and the next scan (new mtime and size, same
    hash) kept them as a "touched" file: wrong pixels for ever. The hash is now taken before the decode."""
    import covidbank.torch.cache as cm
    from covidbank.pixels import read_xray

    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    p = recs["path"].iloc[0]
    real = cm.read_xray

    def racing(path, **kw):
        a = real(path, **kw)
        if str(path) == str(p):
            save_png8(synthetic_radiograph(777), p)  # another writer, after the decoder read the file
        return a

    monkeypatch.setattr(cm, "read_xray", racing)
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    c.update(recs)
    monkeypatch.setattr(cm, "read_xray", real)
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 2_000_000_000))
    c.update(recs)
    c2 = XRayCache(bank.path / "cache", XRayPrep(32))
    got = c2.get(int(c2.index().set_index("image_id").loc[recs["image_id"].iloc[0], "row"]))
    want = cm.preprocess_xray(read_xray(p), XRayPrep(32))
    assert float(np.abs(got - want).max()) < 1e-3


def _same_size_pair(a, b):
    """Pad the smaller of two PNGs (bytes after IEND are ignored) so both have the same size, and give both the same
    mtime, as files extracted from one archive."""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    small, n = (a, sb - sa) if sa < sb else (b, sa - sb)
    with open(small, "ab") as f:
        f.write(b"\0" * n)
    t = 1_600_000_000 * 10**9
    for x in (a, b):
        os.utime(x, ns=(t, t))


def test_two_records_swapping_files_of_same_size_and_mtime(bank):
    """Without the path in the index, two files with the same size and mtime (one archive's extraction, fixed-size
    images) that swap names kept each other's pixels; the file's inode (and ctime) are compared too."""
    from covidbank.pixels import read_xray
    from covidbank.torch.cache import preprocess_xray

    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    a, b = recs["path"].iloc[0], recs["path"].iloc[3]
    _same_size_pair(a, b)
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    c.update(recs)
    tmp = a + ".swap"
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    assert {recs["image_id"].iloc[0], recs["image_id"].iloc[3]} <= set(c.stale(recs)["image_id"])
    ds = XRayDataset(bank, size=32, cache=True)
    for i in (0, 3):
        want = preprocess_xray(read_xray(recs["path"].iloc[i]), XRayPrep(32))
        assert float(np.abs(ds.load_image(i) - want).max()) < 1e-3


def test_same_size_file_with_mtime_restored_is_stale(bank):
    """A file replaced by another of the same size whose mtime was set back (os.utime, cp -p, tar) is seen without
    verify="hash": its ctime (which utime cannot set back) differs."""
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    a, b = recs["path"].iloc[1], recs["path"].iloc[4]
    _same_size_pair(a, b)
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    c.update(recs)
    st = os.stat(a)
    shutil.copyfile(b, a)  # in place: same inode, same size
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert recs["image_id"].iloc[1] in set(c.stale(recs)["image_id"])


def test_unstattable_file_is_an_error_row_not_a_crash(bank):
    """A symlink loop (or any stat error other than a missing file) crashed update with a raw OSError; it is now an
    error row, and not decoded again until the file changes."""
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    p, iid = recs["path"].iloc[2], recs["image_id"].iloc[2]
    os.remove(p)
    os.symlink(p, p)
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    s = c.update(recs)
    assert s.errors == 1 and s.error_rows["image_id"].tolist() == [iid]
    assert c.stale(recs).empty
    os.remove(p)
    save_png8(synthetic_radiograph(5), p)
    assert c.stale(recs)["image_id"].tolist() == [iid]
    assert c.update(recs).errors == 0


def test_verify_hash_retries_an_error_row_whose_content_changed(bank):
    """verify="hash" re-hashes every file, error rows included: a bad file fixed with the same size and mtime is
    decoded again."""
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    p, iid = recs["path"].iloc[5], recs["image_id"].iloc[5]
    good = open(p, "rb").read()
    st = os.stat(p)
    with open(p, "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 200)  # same size, corrupt
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    assert c.update(recs).errors == 1
    with open(p, "r+b") as f:
        f.write(good)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert iid in set(c.stale(recs, verify="hash")["image_id"])


def test_old_format_caches_beside_are_removed(bank):
    """A format-3 cache (an unsalted SHA-1 of each path in its index) or older (the path itself) was left in the
    bank, unused, after the move to a format without them: the privacy fix did not reach existing banks."""
    import pandas as pd

    recs = XRayDataset(bank, size=32).records
    root = bank.path / "cache"
    old = root / "xray-32-center-xrv-0123456789"
    old.mkdir(parents=True)
    pd.DataFrame({"image_id": recs["image_id"], "path_sha1": [hashlib.sha1(p.encode()).hexdigest() for p in recs["path"]]}
                 ).to_parquet(old / "index-abc.parquet")
    (old / "state.json").write_text(json.dumps({"params": {"format": 3, "size": 32, "crop": "center", "resample": "xrv"},
                                                "index": "index-abc.parquet", "data": None}))
    other = root / "xray-notmine"  # no cache state: left alone
    other.mkdir()
    (other / "state.json").write_text("[]")
    build_cache(bank, size=32)
    assert not old.exists() and other.exists()
    assert XRayCache(root, XRayPrep(32)).exists()


def _assert_pixels_match_files(ds):
    from covidbank.pixels import read_xray
    from covidbank.torch.cache import preprocess_xray

    for i in range(len(ds)):
        want = preprocess_xray(read_xray(ds.records["path"].iloc[i]), ds.prep)
        assert float(np.abs(ds.load_image(i) - want).max()) < 1e-3, ds.records["image_id"].iloc[i]


def test_dataset_keeps_its_rows_when_a_shared_cache_object_is_rebuilt(bank):
    """Two datasets given one XRayCache object (train and validation): the second one's rebuild re-pointed the
    object at the new data file, and the first one read its old row numbers in it: other images' pixels."""
    c = XRayCache(bank.path / "cache", XRayPrep(32))
    all_recs = XRayDataset(bank, size=32).records
    c.update(all_recs)
    first = XRayDataset(bank, size=32, cache=c)
    p = all_recs["path"].iloc[0]
    _rewrite(p, 4711)  # stale for the second dataset: rebuilt, its row moves to the end
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 4_000_000_000))
    second = XRayDataset(bank, size=32, cache=c)
    _assert_pixels_match_files(second)
    from covidbank.pixels import read_xray
    from covidbank.torch.cache import preprocess_xray

    for i in range(len(first)):  # the first dataset still serves what it was created with
        if first.records["path"].iloc[i] != p:
            want = preprocess_xray(read_xray(first.records["path"].iloc[i]), XRayPrep(32))
            assert float(np.abs(first.load_image(i) - want).max()) < 1e-3, first.records["image_id"].iloc[i]


def test_update_after_another_process_rebuilt_copies_the_right_rows(bank):
    """A cache object whose memory map was open kept it when it re-read the index another process had written:
    update then copied the new index's row numbers out of the old data file."""
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    a = XRayCache(bank.path / "cache", XRayPrep(32))
    a.update(recs)
    a.get(0)  # memory map open
    p0, p3 = recs["path"].iloc[0], recs["path"].iloc[3]
    _rewrite(p0, 101)
    os.utime(p0, ns=(os.stat(p0).st_atime_ns, os.stat(p0).st_mtime_ns + 4_000_000_000))
    XRayCache(bank.path / "cache", XRayPrep(32)).update(recs)  # another process: row of p0 moves to the end
    _rewrite(p3, 202)
    os.utime(p3, ns=(os.stat(p3).st_atime_ns, os.stat(p3).st_mtime_ns + 4_000_000_000))
    a.update(recs)
    _assert_pixels_match_files(XRayDataset(bank, size=32, cache=True, on_stale="error"))


def test_read_only_bank_touched_is_used_stale_is_a_cache_error(bank, monkeypatch):
    """In a bank that cannot be written, a touched file (same content) is still served from the cache; a stale one
    raised a bare PermissionError out of numpy; it is a CacheError that says what to do, and the cache is left."""
    from covidbank.errors import CacheError

    build_cache(bank, size=32)
    ref = XRayDataset(bank, size=32)
    p = ref.records["path"].iloc[2]
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 10**9))

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    import pandas as pd

    real_open = np.lib.format.open_memmap

    def deny_write(f, mode="r+", *a, **k):
        return deny() if "w" in mode else real_open(f, mode, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", deny)
    monkeypatch.setattr(np.lib.format, "open_memmap", deny_write)
    ds = XRayDataset(bank, size=32, cache=True, on_stale="error")
    assert all(float((ds[i]["img"] - ref[i]["img"]).abs().max()) < 0.02 for i in range(len(ds)))
    _rewrite(p, 99)
    before = sorted(os.listdir(ds.cache.path))
    with pytest.raises(CacheError, match="could not be written"):
        XRayDataset(bank, size=32, cache=True)
    assert sorted(os.listdir(ds.cache.path)) == before


def test_index_read_while_another_process_replaces_it(bank, monkeypatch):
    """Reading state.json and then the index it names raced another process's update (which removes the old
    index): a bare FileNotFoundError out of pyarrow (seen with two processes updating one cache); the state is
    read again."""
    recs = XRayDataset(bank, size=32).records[["image_id", "path"]].copy()
    a = XRayCache(bank.path / "cache", XRayPrep(32))
    a.update(recs)
    old_state = a.state()
    p = recs["path"].iloc[0]
    _rewrite(p, 55)
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 10**9))
    XRayCache(bank.path / "cache", XRayPrep(32)).update(recs)  # removes the index old_state names
    b = XRayCache(bank.path / "cache", XRayPrep(32))
    real, calls = XRayCache.state, []

    def racing(self):
        calls.append(1)
        return old_state if len(calls) == 1 else real(self)

    monkeypatch.setattr(XRayCache, "state", racing)
    assert len(b.index()) == 6 and b.stale(recs).empty
