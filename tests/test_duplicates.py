"""Duplicate detection: planted copies (re-encoded, resized, border-cropped) and real Cohen images."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("imagehash")  # the [torch] extra

from covidbank.bank import Bank  # noqa: E402
from covidbank.duplicates import candidate_pairs, compare, find_duplicates, fingerprint, write_duplicates  # noqa: E402
from covidbank.splits import check_leakage, write_split  # noqa: E402
from ml_fixtures import synthetic_radiograph  # noqa: E402


def _variants(im: Image.Image) -> dict[str, Image.Image]:
    """The copies a re-publishing dataset makes of an image."""
    im = im.convert("L")
    w, h = im.size
    out = {}
    b = io.BytesIO()
    im.save(b, "JPEG", quality=45)
    out["jpeg45"] = Image.open(io.BytesIO(b.getvalue()))
    out["resized60"] = im.resize((int(w * 0.6), int(h * 0.6)), Image.Resampling.BILINEAR)
    m, n = int(0.05 * w), int(0.05 * h)
    out["border5"] = im.crop((m, n, w - m, h - n))
    out["top10"] = im.crop((0, int(0.1 * h), w, h))
    c = im.crop((m, n, w - m, h - n)).resize((int(0.7 * (w - 2 * m)), int(0.7 * (h - 2 * n))))
    b = io.BytesIO()
    c.save(b, "JPEG", quality=70)
    out["all"] = Image.open(io.BytesIO(b.getvalue()))
    return out


def _planted_bank(tmp_path, originals: list[Image.Image], kinds=("jpeg45", "resized60", "border5", "top10", "all")):
    d = tmp_path / "img"
    d.mkdir()
    rows, truth = [], set()
    for i, im in enumerate(originals):
        p = d / f"orig{i}.png"
        im.convert("L").save(p)
        rows.append({"image_id": f"a:orig{i}", "subject_id": f"a:p{i}", "source": "a", "path": str(p), "file_present": True, "modality": "X-ray"})
        if i < len(kinds):
            kind = kinds[i]
            q = d / f"copy{i}.{'jpg' if 'jpeg' in kind or kind == 'all' else 'png'}"
            v = _variants(im)[kind]
            v.save(q, "JPEG", quality=95) if q.suffix == ".jpg" else v.save(q)
            # the copy is in another source, under another patient id
            rows.append({"image_id": f"b:copy{i}-{kind}", "subject_id": f"b:q{i}", "source": "b", "path": str(q), "file_present": True, "modality": "X-ray"})
            truth.add((f"a:orig{i}", f"b:copy{i}-{kind}"))
    b = Bank(tmp_path / "bank", create=True)
    df = pd.DataFrame(rows)
    for src in ("a", "b"):
        b.add(src, {"images": df[df["source"] == src]})
    return b, truth


def _synthetic_originals(n):
    return [Image.fromarray(np.clip(synthetic_radiograph(100 + i, 360, 300) * 255, 0, 255).astype(np.uint8)) for i in range(n)]


def test_planted_pairs_found_and_no_false_pairs(tmp_path):
    b, truth = _planted_bank(tmp_path, _synthetic_originals(9))
    res = write_duplicates(b)
    found = {tuple(sorted((r.image_id_a, r.image_id_b))) for r in res.pairs[res.pairs["duplicate"]].itertuples()}
    assert found == {tuple(sorted(t)) for t in truth}
    g = b.table("duplicates")
    assert g["group_id"].nunique() == 5 and len(g) == 10
    assert (res.pairs["source_a"] != res.pairs["source_b"]).all()
    s = res.summary()
    assert s["cross_source_pairs"] == 5 and s["unreadable"] == 0


def test_fingerprint_compare_separates_copies_from_other_images():
    a = synthetic_radiograph(1, 400, 350)
    other = synthetic_radiograph(2, 400, 350)
    fa = fingerprint(a)
    assert compare(fa, fingerprint(a[20:-20, 17:-17]))[1] > 0.98
    assert compare(fa, fingerprint(other))[1] < 0.9
    assert len(fa.hex) == 16


def _pillow_reference(small: np.ndarray):
    """What the batched fingerprint must equal, crop by crop, from Pillow and imagehash themselves: the pHash
    bits, the 32 x 32 Lanczos pixels pHash hashes, and the BOX thumbnails."""
    import imagehash

    from covidbank.duplicates import CROP_BOXES, THUMB, _crop_box

    im = Image.fromarray(small)
    crops = [im.crop(_crop_box(small.shape, box)) for box in CROP_BOXES]
    return (np.stack([imagehash.phash(c).hash.reshape(-1) for c in crops]),
            np.stack([np.asarray(c.resize((32, 32), Image.Resampling.LANCZOS)) for c in crops]),
            np.stack([np.asarray(c.resize((THUMB, THUMB), Image.Resampling.BOX)) for c in crops]))


def _assert_fingerprint_is_pillows(g: np.ndarray):
    from covidbank.duplicates import _box_mean, _fingerprint_grey, _hash_factor, _resize_crops

    small = _box_mean(g, _hash_factor(g.shape))
    hashes, px, thumbs = _pillow_reference(small)
    fp = _fingerprint_grey(g)
    assert np.array_equal(fp.hashes, hashes)
    assert np.array_equal(_resize_crops(small, {"lanczos": 32})["lanczos"], px)
    assert np.array_equal(fp.thumbs, thumbs)


@pytest.mark.parametrize("shape", [(360, 300), (300, 360), (1100, 900), (260, 60), (60, 260), (20, 15), (33, 200)])
def test_batched_fingerprint_equals_imagehash_and_pillow(shape):
    """The batched resizes and DCT give imagehash.phash of every crop bit for bit, and Pillow's own Lanczos and
    BOX resizes pixel for pixel: wide, tall (Pillow resamples those vertically first), tiny (enlarged) and
    large (box-averaged first) images."""
    g = np.clip(synthetic_radiograph(7, *shape) * 255 + 0.5, 0, 255).astype(np.uint8)
    _assert_fingerprint_is_pillows(g)


def test_pillow_weights_and_pass_order_match_pillow():
    """Pillow's fixed-point weights, rebuilt, give its resize exactly for every line length up to 400 pixels
    (enlarging and reducing), and its pass order for images of every aspect."""
    from covidbank.duplicates import _pil_order, _pil_round, _pil_weights

    rng = np.random.default_rng(3)
    filters = {"lanczos": (32, Image.Resampling.LANCZOS), "box": (48, Image.Resampling.BOX)}
    for kind, (n, f) in filters.items():
        for w in range(1, 401):
            line = rng.integers(0, 256, (2, w), dtype=np.uint8)
            ref = np.asarray(Image.fromarray(line).resize((n, 2), f))
            assert np.array_equal(_pil_round(line @ _pil_weights(w, n, kind).T), ref), (kind, w)
    order = _pil_order()
    assert order in ("tall", "horizontal")
    for kind, (n, f) in filters.items():
        for h in range(3, 400, 13):
            for w in range(3, 400, 17):
                img = rng.integers(0, 256, (h, w), dtype=np.uint8).astype(np.float64)
                wx, wy = _pil_weights(w, n, kind), _pil_weights(h, n, kind)
                tall = order == "tall" and h > n and h - n > 2 * (w - n)
                got = _pil_round(_pil_round(wy @ img) @ wx.T) if tall else _pil_round(wy @ _pil_round(img @ wx.T))
                ref = np.asarray(Image.fromarray(img.astype(np.uint8)).resize((n, n), f))
                assert np.array_equal(got, ref), (kind, h, w)


def test_unknown_pillow_falls_back_to_pillow(monkeypatch):
    """With a Pillow whose resampling the batched path does not reproduce, Pillow itself resizes the crops."""
    from covidbank import duplicates

    g = np.clip(synthetic_radiograph(9, 300, 250) * 255 + 0.5, 0, 255).astype(np.uint8)
    fast = duplicates._fingerprint_grey(g)
    monkeypatch.setattr(duplicates, "_pil_order", lambda: None)
    slow = duplicates._fingerprint_grey(g)
    assert np.array_equal(fast.hashes, slow.hashes) and np.array_equal(fast.thumbs, slow.thumbs)


@pytest.mark.realdata
def test_real_cohen_fingerprints_equal_imagehash_and_pillow(shared_data):
    """On the 210 real Cohen images (as read for fingerprinting: JPEG luma at reduced scale), every crop's
    batched pHash is imagehash.phash bit for bit, and its pixels and thumbnail are Pillow's."""
    from covidbank.duplicates import _read_small

    recs = _cohen_records(shared_data / "cohen")
    for p in recs["path"]:
        _assert_fingerprint_is_pillows(_read_small(p, None, None, None))


def test_png_and_jpeg_copies_of_a_marked_image_are_duplicates(tmp_path):
    """A radiograph with a red box (a figure's annotation) saved as PNG and as JPEG: the same image (JPEGs were
    read as luma, PNGs as their red channel, and the box made the two copies differ: correlation 0.45)."""
    import inspect

    from covidbank.duplicates import fingerprint_file

    min_correlation = inspect.signature(find_duplicates).parameters["min_correlation"].default

    g = np.clip(synthetic_radiograph(11, 420, 380) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgb = np.repeat(g[:, :, None], 3, axis=2)
    rgb[100:220, 90:230] = (230, 20, 20)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    dist, ncc = compare(fingerprint_file(str(tmp_path / "a.png")), fingerprint_file(str(tmp_path / "a.jpg")))
    assert dist <= 2 and ncc >= min_correlation, (dist, ncc)


def test_inverted_raster_is_fingerprinted_white_dense(tmp_path):
    """A MONOCHROME1 PNG (8- and 16-bit) is fingerprinted as its inverse."""
    from covidbank.duplicates import _fingerprint_grey, fingerprint_file

    g = np.clip(synthetic_radiograph(12, 300, 260) * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(g).save(tmp_path / "g8.png")
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    want = _fingerprint_grey(255 - g)
    for name in ("g8.png", "g16.png"):
        fp = fingerprint_file(str(tmp_path / name), photometric="MONOCHROME1")
        assert np.array_equal(fp.hashes, want.hashes) and np.array_equal(fp.thumbs, want.thumbs), name
    assert not np.array_equal(fingerprint_file(str(tmp_path / "g8.png")).hashes, want.hashes)


@pytest.mark.parametrize("f", [2, 3, 4, 5, 16])
def test_box_mean_is_the_block_mean_rounded_half_up(f):
    from covidbank.duplicates import _box_mean

    g = np.random.default_rng(f).integers(0, 256, (7 * f + 3, 5 * f + 1), dtype=np.uint8)
    g[:f, :f] = 255  # a saturated block
    g[f:2 * f, :f] = np.arange(f * f).reshape(f, f) % 2 * 255  # a block whose mean is n + 1/2 when f is even
    h, w = (g.shape[0] // f) * f, (g.shape[1] // f) * f
    mean = g[:h, :w].astype(np.float64).reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    assert np.array_equal(_box_mean(g, f), np.floor(mean + 0.5).astype(np.uint8))


def test_fingerprint_without_scipy_names_the_extra(monkeypatch):
    import sys

    from covidbank import duplicates
    from covidbank.errors import MissingExtraError

    duplicates._first_pass.cache_clear()
    duplicates._second_pass.cache_clear()
    for m in ("scipy", "scipy.sparse", "scipy.fft"):  # scipy not installed (the duplicates extra)
        monkeypatch.setitem(sys.modules, m, None)
    with pytest.raises(MissingExtraError, match=r"covidbank\[duplicates\]"):
        duplicates._fingerprint_grey(np.full((97, 83), 128, np.uint8))


def test_duplicates_keep_split_sides_and_cli(tmp_path, cli):
    b, truth = _planted_bank(tmp_path, _synthetic_originals(6), kinds=("jpeg45", "border5"))
    r = cli("duplicates", b.path, "-f", "json")
    pairs = json.loads(r.stdout)
    assert sum(p["duplicate"] for p in pairs) == 2
    write_split(b, seed=0, ratios="0.5,0.5")
    t = b.table("splits").set_index("image_id")["split"]
    for x, y in truth:
        assert t[x] == t[y]
    assert check_leakage(b).ok and check_leakage(b).duplicate_groups == 2
    cli("check-leakage", b.path)


@pytest.mark.parametrize("kw", [{"hash_distance": -1}, {"hash_distance": 65}, {"hash_distance": 2.5},
                                {"min_correlation": float("nan")}, {"review_correlation": 1.5}])
def test_out_of_range_arguments_are_refused_before_any_image_is_read(tmp_path, kw):
    """A negative radius found no candidate and reported 'no duplicates' (a leak guard that silently checks nothing)."""
    from covidbank.errors import ArgumentError

    b, _ = _planted_bank(tmp_path, _synthetic_originals(2), kinds=("jpeg45",))
    with pytest.raises(ArgumentError, match=next(iter(kw))):
        find_duplicates(b, **kw)


def test_cli_refuses_a_negative_hash_distance(tmp_path, cli):
    b, _ = _planted_bank(tmp_path, _synthetic_originals(2), kinds=("jpeg45",))
    r = cli("duplicates", b.path, "--hash-distance", "-1", expect=None)
    assert r.exit_code != 0 and "hash_distance -1" in r.output
    assert "duplicates" not in b.extra_tables()


def test_unreadable_file_is_reported_not_fatal(tmp_path):
    b, _ = _planted_bank(tmp_path, _synthetic_originals(3), kinds=("jpeg45",))
    bad = tmp_path / "img" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    b.add("c", {"images": pd.DataFrame([{"image_id": "c:bad", "subject_id": "c:1", "source": "c", "path": str(bad), "file_present": True}])})
    res = find_duplicates(b)
    assert res.errors["image_id"].tolist() == ["c:bad"] and "bad.png" in res.errors["reason"].iloc[0]
    assert res.summary()["duplicate_pairs"] == 1


def test_workers_and_dask_give_the_same_result(tmp_path):
    """Fingerprinting in a process pool or on a dask.distributed cluster changes nothing in the result."""
    b, truth = _planted_bank(tmp_path, _synthetic_originals(5), kinds=("jpeg45", "border5"))
    bad = tmp_path / "img" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    b.add("c", {"images": pd.DataFrame([{"image_id": "c:bad", "subject_id": "c:1", "source": "c", "path": str(bad), "file_present": True}])})
    one = find_duplicates(b)
    two = find_duplicates(b, workers=2)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = find_duplicates(b, scheduler=cluster.scheduler_address)
    for other in (two, dask):
        pd.testing.assert_frame_equal(one.pairs, other.pairs)
        pd.testing.assert_frame_equal(one.groups, other.groups)
        pd.testing.assert_frame_equal(one.errors, other.errors)
    assert {tuple(sorted(t)) for t in truth} == {tuple(sorted((r.image_id_a, r.image_id_b))) for r in one.pairs.itertuples() if r.duplicate}
    assert one.errors["image_id"].tolist() == ["c:bad"]


def _cohen_records(cohen):
    meta = pd.read_csv(cohen / "metadata.csv")
    meta = meta[meta["filename"].map(lambda f: os.path.isfile(cohen / "images" / str(f)))].drop_duplicates("filename")
    return pd.DataFrame({
        "image_id": "cohen:" + meta["filename"].astype(str),
        "subject_id": "cohen:" + meta["patientid"].astype(str),
        "source": "cohen",
        "path": [str(cohen / "images" / f) for f in meta["filename"]],
    })


@pytest.mark.realdata
def test_real_cohen_images_and_planted_copies(shared_data, tmp_path):
    cohen = shared_data / "cohen"
    recs = _cohen_records(cohen)
    assert len(recs) == 210
    # planted: copies of 5 real images, one per kind, under new ids
    picks = recs.iloc[[3, 40, 80, 120, 160]]
    extra = []
    kinds = ["jpeg45", "resized60", "border5", "top10", "all"]
    for (_, r), kind in zip(picks.iterrows(), kinds):
        v = _variants(Image.open(r["path"]))[kind]
        q = tmp_path / f"planted-{kind}.png"
        v.save(q)
        extra.append({"image_id": f"planted:{kind}", "subject_id": f"planted:{kind}", "source": "planted", "path": str(q), "of": r["image_id"]})
    ex = pd.DataFrame(extra)
    res = find_duplicates(None, records=pd.concat([recs, ex.drop(columns="of")], ignore_index=True))
    dup = res.pairs[res.pairs["duplicate"]]
    pairs = {tuple(sorted((a, b))) for a, b in zip(dup["image_id_a"], dup["image_id_b"])}
    for r in ex.itertuples():
        assert tuple(sorted((r.image_id, r.of))) in pairs, r.image_id
    real = {p for p in pairs if not any(x.startswith("planted:") for x in p)}
    # Pairs among the 210 real images, each checked by eye (2026-11-23): the
    # same radiograph published twice.  The AR-1/AR-2 vs extubation-1 pairs are
    # one film filed under two patients (192 and 196): a real cross-patient leak.
    reviewed = {
        ("cohen:35AF5C3B-D04D-4B4B-92B7-CB1F67D83085.jpeg", "cohen:D5ACAA93-C779-4E22-ADFA-6A220489F840.jpeg"),
        ("cohen:3d4364c0e44859e86017ee1660112e_jumbo-1.jpeg", "cohen:81ba2932af55c7663e9d87016776a6_jumbo-1.jpeg"),
        ("cohen:AR-1.jpg", "cohen:AR-2.jpg"),
        ("cohen:AR-1.jpg", "cohen:extubation-1.jpg"),
        ("cohen:AR-2.jpg", "cohen:extubation-1.jpg"),
        ("cohen:E63574A7-4188-4C8D-8D17-9D67A18A1AFA.jpeg", "cohen:F4341CE7-73C9-45C6-99C8-8567A5484B63.jpeg"),
    }
    assert real <= reviewed, f"unreviewed pairs: {real - reviewed}"
    assert len(real) >= 4
    cross = dup[~dup["same_subject"] & ~dup["image_id_a"].str.startswith("planted") & ~dup["image_id_b"].str.startswith("planted")]
    assert len(cross) >= 1


def _all_pairs_candidates(packed: np.ndarray, r: int) -> list[tuple[int, int, int]]:
    """The former all-pairs candidate search (the oracle): whole image of one side against every hash of the other."""
    out = []
    for i in range(len(packed) - 1):
        xj = packed[i + 1 :]
        d = np.minimum(np.bitwise_count(packed[i, 0] ^ xj).min(1), np.bitwise_count(packed[i][None, :] ^ xj[:, :1]).min(1))
        out += [(i, i + 1 + int(j), int(d[j])) for j in np.nonzero(d <= r)[0]]
    return out


def _candidates(packed: np.ndarray, r: int) -> list[tuple[int, int, int]]:
    return list(zip(*(a.tolist() for a in candidate_pairs(packed, r))))


def _chest_like_hashes(rng, n: int, k: int = 11) -> np.ndarray:
    """Fingerprint hashes as concentrated as chest radiographs': whole-image hashes a few bits around two
    centres, each crop hash a few bits from its whole-image hash, and some exact and near copies."""
    def flip(h, nbits):
        out = h.copy()
        for idx in np.ndindex(h.shape):
            for b in rng.choice(64, int(nbits[idx]), replace=False):
                out[idx] ^= np.uint64(1) << np.uint64(b)
        return out

    centres = rng.integers(0, 2**63, 2, dtype=np.uint64)
    whole = flip(centres[rng.integers(0, 2, n)], rng.integers(2, 10, n))
    packed = flip(np.repeat(whole[:, None], k, axis=1), rng.integers(0, 7, (n, k)))
    packed[:, 0] = whole
    copies = rng.choice(n, n // 10, replace=False)
    packed[copies[: len(copies) // 2]] = packed[copies[len(copies) // 2 :][: len(copies) // 2]]
    return packed


@pytest.mark.parametrize("forced", [False, True])
@pytest.mark.parametrize("radius", [0, 4, 12, 20, 64])
def test_candidate_pairs_same_as_all_pairs(radius, forced, monkeypatch):
    """Multi-index hashing finds exactly the all-pairs candidates (pairs and distances) on concentrated hashes,
    with the planned chunking and with a forced one (on hashes this concentrated the plan may read all pairs)."""
    from covidbank import hamming

    monkeypatch.setattr(hamming, "_SMALL", 0)  # plan the search even at this size
    if forced:
        monkeypatch.setattr(hamming, "plan_chunks", lambda q, t, r: hamming._chunks(max(1, min(r + 1, 5)), r))
    packed = _chest_like_hashes(np.random.default_rng(radius), 400)
    expected = _all_pairs_candidates(packed, radius)
    assert _candidates(packed, radius) == expected
    assert len(expected) > (20 if radius else 0)


def test_candidate_pairs_edge_cases():
    rng = np.random.default_rng(5)
    for n in (0, 1):
        assert _candidates(rng.integers(0, 2**63, (n, 11), dtype=np.uint64), 12) == []
    a = rng.integers(0, 2**63, (1, 11), dtype=np.uint64)
    b = a.copy()
    b[0, 3] = ~a[0, 0]  # b's fourth crop is 64 bits from a's whole image; nothing else of b is near a
    b[0, 0] = ~a[0, 0] ^ np.uint64(0b111)  # b's whole image: 61 bits from a's
    packed = np.concatenate([a, b])
    for r in (0, 12, 60, 61, 64):
        assert _candidates(packed, r) == _all_pairs_candidates(packed, r)
    assert _candidates(packed, 64)[0][:2] == (0, 1) and _candidates(packed, 60) == _all_pairs_candidates(packed, 60)
    same = np.repeat(a, 2, axis=0)
    assert _candidates(same, 0) == [(0, 1, 0)]


@pytest.mark.realdata
def test_candidate_pairs_on_real_cohen_hashes(shared_data):
    """On the 210 real Cohen radiographs, the same candidate pairs and distances as all pairs, at every radius."""
    from covidbank import hamming
    from covidbank.duplicates import fingerprint_file

    recs = _cohen_records(shared_data / "cohen").sort_values("image_id")
    packed = np.stack([np.packbits(fingerprint_file(p).hashes, axis=-1).view(np.uint64)[:, 0] for p in recs["path"]])
    hamming._SMALL, small = 0, hamming._SMALL
    try:
        for r in (0, 4, 8, 12, 16):
            expected = _all_pairs_candidates(packed, r)
            assert _candidates(packed, r) == expected, r
    finally:
        hamming._SMALL = small
    assert len(_all_pairs_candidates(packed, 12)) > 500  # chest radiographs' hashes are concentrated
