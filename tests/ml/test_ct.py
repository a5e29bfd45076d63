"""covidbank.torch.CTDataset on generated NIfTI volumes (real files written with nibabel)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
import torch  # noqa: E402
nib = pytest.importorskip("nibabel")

from covidbank.bank import Bank  # noqa: E402
from covidbank.errors import ImageLoadError  # noqa: E402
from covidbank.torch import CTDataset  # noqa: E402


@pytest.fixture
def ct_bank(tmp_path):
    """Two CT volumes stored LPS-ordered (x flipped, y flipped) as int16 with an
    intercept of -1024, one with a lesion mask, plus one corrupt file."""
    d = tmp_path / "ct"
    d.mkdir()
    shape = (20, 16, 6)
    affine = np.diag([-0.8, -0.8, 2.5, 1.0])  # LPS axes: x and y reversed
    rows, labs = [], []
    for k in range(2):
        stored = np.zeros(shape, dtype=np.int16)  # stored value 0 = -1024 HU (air)
        stored[0, 0, :] = 1024 + 400  # first stored voxel column: +400 HU (bone-ish)
        stored[5:9, 4:8, 2:4] = 1024 - 700 + 100 * k  # a lesion-ish blob
        img = nib.Nifti1Image(stored, affine)
        img.header.set_slope_inter(1.0, -1024.0)
        p = d / f"vol{k}.nii.gz"
        nib.save(img, p)
        row = {"image_id": f"mos:{k}", "subject_id": f"mos:s{k}", "source": "mos", "modality": "CT", "view": "Axial",
               "path": str(p), "file_present": True, "file_format": "nifti"}
        if k == 0:
            m = np.zeros(shape, dtype=np.uint8)
            m[5:9, 4:8, 2:4] = 1
            mp = d / "mask0.nii.gz"
            nib.save(nib.Nifti1Image(m, affine), mp)
            row.update(mask_path=str(mp), mask_kind="lesion")
        rows.append(row)
        labs.append({"image_id": f"mos:{k}", "label": "COVID-19", "value": 1, "origin": "source"})
    bad = d / "bad.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    rows.append({"image_id": "mos:bad", "subject_id": "mos:s9", "source": "mos", "modality": "CT", "path": str(bad), "file_present": True})
    b = Bank(tmp_path / "bank", create=True)
    b.add("mos", {"images": pd.DataFrame(rows), "labels": pd.DataFrame(labs)})
    return b


def test_volume_ras_hu_and_mask(ct_bank):
    ds = CTDataset(ct_bank, sources="mos", query="SELECT image_id FROM images WHERE image_id <> 'mos:bad'", labels=["COVID-19", "Pneumonia"])
    assert len(ds) == 2
    it = ds[0]
    img = it["img"]
    assert img.shape == (1, 20, 16, 6)
    # HU: intercept applied
    assert float(img.min()) == -1024.0 and float(img.max()) == 400.0
    # RAS: the stored first voxel (most right/posterior... in LPS order) is now last along x and y
    assert float(img[0, -1, -1, 0]) == 400.0 and float(img[0, 0, 0, 0]) == -1024.0
    assert np.allclose(np.diag(it["affine"].numpy())[:3], [0.8, 0.8, 2.5])
    assert it["mask"].shape == img.shape and int(it["mask"].sum()) == 4 * 4 * 2
    # mask lies on the lesion
    assert float(img[it["mask"].bool()].mean()) == -700.0
    assert it["lab"].tolist() == [1.0, 1.0]
    assert ds[0]["has_mask"] and not ds[1]["has_mask"] and int(ds[1]["mask"].min()) == -1
    assert "mask" not in CTDataset(ct_bank, query="SELECT image_id FROM images WHERE image_id = 'mos:1'")[0]


def test_window_resample_and_slices(ct_bank):
    q = "SELECT image_id FROM images WHERE image_id <> 'mos:bad'"
    ds = CTDataset(ct_bank, query=q, window="lung", spacing=(1.6, 1.6, 2.5))
    it = ds[0]
    assert it["img"].shape == (1, 11, 9, 6) and it["mask"].shape == (1, 11, 9, 6)  # MONAI Spacing covers the extent
    assert 0.0 <= float(it["img"].min()) and float(it["img"].max()) <= 1.0
    assert set(torch.unique(it["mask"]).tolist()) <= {0, 1}
    sl = CTDataset(ct_bank, query=q, mode="slice", window=(-1000, 400), size=32)
    assert len(sl) == 12
    s = sl[3]
    assert s["img"].shape == (1, 32, 32) and s["slice"] == 3 and s["mask"].shape == (1, 32, 32)
    dl = torch.utils.data.DataLoader(sl, batch_size=4, num_workers=2)
    assert sum(len(b["img"]) for b in dl) == 12


def test_corrupt_volume_errors_name_file_and_record(ct_bank):
    ds = CTDataset(ct_bank, sources="mos")
    i = ds.records.index[ds.records["image_id"] == "mos:bad"][0]
    with pytest.raises(ImageLoadError) as e:
        ds[i]
    assert "bad.nii.gz" in str(e.value) and "mos:bad" in str(e.value)
    with pytest.raises(ImageLoadError, match="mos:bad"):
        CTDataset(ct_bank, sources="mos", mode="slice")
    sk = CTDataset(ct_bank, sources="mos", mode="slice", on_error="skip")
    assert len(sk) == 12 and sk.skipped[0][0] == "mos:bad"


def test_single_coronal_slices_excluded_from_both_modes_with_a_count(ct_bank, tmp_path):
    # a coronal slice is (X, 1, Z) in RAS: its "axial slices" would be one-pixel rows
    p = tmp_path / "coronal.nii.gz"
    nib.save(nib.Nifti1Image(np.full((20, 1, 30), -1000, np.int16), np.eye(4)), p)
    ct_bank.add("cor", {"images": pd.DataFrame([{"image_id": "cor:1", "subject_id": "cor:s1", "source": "cor",
                                                 "modality": "CT", "path": str(p), "file_present": True}])})
    q = "SELECT image_id FROM images WHERE image_id <> 'mos:bad'"
    for mode, n in (("slice", 12), ("volume", 2)):
        ds = CTDataset(ct_bank, query=q, mode=mode, sources=["mos", "cor"])
        assert len(ds) == n and ds.exclusion_summary() == {"not a CT volume (a single slice)": 1}


def _world_centroid(img: np.ndarray, affine: np.ndarray, thr: float) -> np.ndarray:
    idx = np.argwhere(img > thr).astype(float)
    w = img[img > thr].astype(float)
    c = (idx * w[:, None]).sum(0) / w.sum()
    return (affine @ np.r_[c, 1.0])[:3]


def test_resampled_affine_keeps_world_positions(tmp_path):
    """The affine returned after resampling places the anatomy where it was (was 0.26-0.76 mm off)."""
    shape = (40, 36, 12)
    hu = np.full(shape, -1000, dtype=np.int16)
    zz, yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    blob = np.exp(-(((zz - 23.3) / 3) ** 2 + ((yy - 14.7) / 3) ** 2 + ((xx - 6.2) / 1.5) ** 2))
    hu = (hu + 1500 * blob).astype(np.int16)
    affine = np.array([[0.7, 0, 0, -120.0], [0, 0.8, 0, -90.0], [0, 0, 2.5, 40.0], [0, 0, 0, 1]])
    p = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(hu, affine), p)
    b = Bank(tmp_path / "bank", create=True)
    b.add("t", {"images": pd.DataFrame([{"image_id": "t:1", "subject_id": "t:s", "source": "t", "modality": "CT",
                                          "path": str(p), "file_present": True, "file_format": "nifti"}])})
    before = _world_centroid(hu.astype(float) + 1000, affine, 200)
    for spacing in [(1.5, 1.5, 1.5), (0.5, 1.1, 3.3)]:
        it = CTDataset(b, spacing=spacing)[0]
        img, aff = it["img"][0].numpy(), it["affine"].numpy().astype(float)
        assert np.allclose(np.abs(np.diag(aff)[:3]), spacing, atol=1e-4)
        after = _world_centroid(img + 1000, aff, 200)
        assert np.abs(after - before).max() < 0.1, (spacing, after - before)
        # slice mode counts the same slices as the resampled volume has
        assert len(CTDataset(b, spacing=spacing, mode="slice")) == img.shape[2]
