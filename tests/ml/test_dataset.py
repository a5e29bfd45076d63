"""covidbank.torch.XRayDataset on generated banks (real PNG/JPEG/DICOM files)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
import torch  # noqa: E402

from covidbank.bank import Bank  # noqa: E402
from covidbank.errors import ImageLoadError, ImageMissingError  # noqa: E402
from covidbank.pixels import center_crop, read_xray, resize  # noqa: E402
from covidbank.torch import XRayDataset, collate_skip, normalize, select_records  # noqa: E402
from ml_fixtures import save_png16, synthetic_radiograph, xray_bank  # noqa: E402


@pytest.fixture
def bank(tmp_path):
    b = xray_bank(tmp_path, "alpha", n_subjects=4, images_per_subject=2)
    # uncertain, negative and missing/corrupt records in a second source
    d = tmp_path / "beta-images"
    d.mkdir()
    good = d / "good.png"
    from ml_fixtures import save_png8

    save_png8(synthetic_radiograph(77), good)
    corrupt = d / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:300])  # truncated PNG
    imgs = pd.DataFrame([
        {"image_id": "beta:good", "subject_id": "beta:1", "source": "beta", "view": "PA", "modality": "CR", "path": str(good), "file_present": True},
        {"image_id": "beta:corrupt", "subject_id": "beta:2", "source": "beta", "view": "PA", "modality": "DX", "path": str(corrupt), "file_present": True},
        {"image_id": "beta:absent", "subject_id": "beta:3", "source": "beta", "view": "L", "modality": "X-ray", "path": str(d / "absent.png"), "file_present": False},
        {"image_id": "beta:ct", "subject_id": "beta:4", "source": "beta", "view": "Axial", "modality": "CT", "path": str(good), "file_present": True},
    ])
    labs = pd.DataFrame([
        {"image_id": "beta:good", "label": "COVID-19", "value": -1, "origin": "source"},
        {"image_id": "beta:corrupt", "label": "Pneumonia", "value": 0, "origin": "source"},
    ])
    b.add("beta", {"images": imgs, "labels": labs})
    return b


def test_item_shape_range_and_labels_with_hierarchy(bank):
    ds = XRayDataset(bank, sources="alpha", labels=["COVID-19", "Viral", "Pneumonia", "Bacterial"])
    assert len(ds) == 8
    it = ds[0]
    assert it["img"].shape == (1, 224, 224) and it["img"].dtype == torch.float32
    assert -1024 <= float(it["img"].min()) < float(it["img"].max()) <= 1024
    # subject p0 has only a COVID-19 row: parents are implied, Bacterial unknown
    assert it["image_id"] == "alpha:s0_0"
    lab = it["lab"].tolist()
    assert lab[:3] == [1.0, 1.0, 1.0] and math.isnan(lab[3])
    # subject p1: Bacterial -> Pneumonia positive, COVID-19 and Viral unknown
    i1 = ds.records.index[ds.records["image_id"] == "alpha:s1_0"][0]
    lab1 = ds[i1]["lab"].tolist()
    assert math.isnan(lab1[0]) and math.isnan(lab1[1]) and lab1[2] == 1.0 and lab1[3] == 1.0
    assert ds.pathologies == ["COVID-19", "Viral", "Pneumonia", "Bacterial"]


def test_require_pneumonia_includes_covid_cases(bank):
    recs = select_records(bank, require="Pneumonia", sources="alpha")
    assert set(recs["subject_id"]) == {"alpha:p0", "alpha:p1", "alpha:p2", "alpha:p3"}
    covid = select_records(bank, require="COVID-19", sources="alpha")
    assert set(covid["subject_id"]) == {"alpha:p0", "alpha:p2"}
    assert set(select_records(bank, require="Viral", sources="alpha")["image_id"]) == set(covid["image_id"])
    # an uncertain COVID-19 is not a positive
    assert "beta:good" not in set(select_records(bank, require="Pneumonia")["image_id"])


def test_uncertain_and_negative_policies(bank):
    kw = dict(sources="beta", labels=["COVID-19", "Pneumonia"], on_error="skip")
    keep = XRayDataset(bank, uncertain="keep", **kw)
    g = keep.records.index[keep.records["image_id"] == "beta:good"][0]
    # an uncertain COVID-19 makes its ancestor Pneumonia uncertain too
    assert keep.label_matrix[g].tolist() == [-1.0, -1.0]
    assert np.isnan(XRayDataset(bank, uncertain="nan", **kw).label_matrix[g]).all()
    assert XRayDataset(bank, uncertain="positive", **kw).label_matrix[g].tolist() == [1.0, 1.0]
    assert XRayDataset(bank, uncertain="negative", **kw).label_matrix[g].tolist() == [0.0, 0.0]
    c = keep.records.index[keep.records["image_id"] == "beta:corrupt"][0]
    # explicit Pneumonia = 0 makes its descendant COVID-19 negative too
    assert keep.label_matrix[c].tolist() == [0.0, 0.0]
    unk = XRayDataset(bank, sources="alpha", labels=["Bacterial"], unknown="negative")
    assert set(unk.label_matrix[:, 0].tolist()) == {0.0, 1.0}


def test_filters_view_modality_source(bank):
    assert set(XRayDataset(bank, views="AP").records["view"]) == {"AP"}
    # CT rows are never radiographs; CR/DX/X-ray are
    ds = XRayDataset(bank, sources="beta", on_error="skip")
    assert "beta:ct" not in set(ds.records["image_id"])
    assert set(XRayDataset(bank, modalities=["CR"]).records["image_id"]) == {"beta:good"}
    assert set(XRayDataset(bank, query="SELECT image_id FROM images WHERE view = 'PA' AND source = 'alpha'").records["view"]) == {"PA"}


def test_missing_file_is_excluded_with_count_and_corrupt_raises_naming_file(bank):
    ds = XRayDataset(bank, sources="beta")
    assert list(ds.excluded["image_id"]) == ["beta:absent"]
    assert "absent" in ds.excluded["reason"].iloc[0]
    i = ds.records.index[ds.records["image_id"] == "beta:corrupt"][0]
    with pytest.raises(ImageLoadError) as e:
        ds[i]
    assert "corrupt.png" in str(e.value) and "beta:corrupt" in str(e.value)


def test_file_deleted_after_indexing_raises_missing(bank, tmp_path):
    ds = XRayDataset(bank, sources="alpha")
    p = ds.records["path"].iloc[0]
    import os

    os.remove(p)
    with pytest.raises(ImageMissingError, match="alpha:s0_0"):
        ds[0]


def test_skip_policy_counts_and_collate_drops(bank):
    ds = XRayDataset(bank, sources="beta", on_error="skip", size=32)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_skip)
    batches = [b for b in dl if b is not None]
    assert sum(len(b["img"]) for b in batches) == 1
    assert len(ds.skipped) == 1 and ds.skipped[0][0] == "beta:corrupt"


def test_dataloader_with_workers(bank):
    ds = XRayDataset(bank, sources="alpha", size=64, labels=["COVID-19"])
    dl = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    n = 0
    for b in dl:
        assert b["img"].shape[1:] == (1, 64, 64)
        assert b["lab"].shape[1] == 1
        n += len(b["img"])
    assert n == len(ds)


def test_xrv_resizer_matches_skimage(tmp_path):
    skt = pytest.importorskip("skimage.transform")
    a = synthetic_radiograph(5, 517, 431)
    ref = skt.resize(((2 * a - 1) * 1024)[None], (1, 224, 224), mode="constant", preserve_range=True).astype(np.float32)[0]
    ours = (2 * resize(a, 224, "xrv") - 1) * 1024
    assert np.abs(ours - ref).max() < 1e-2
    # upsizing too (no anti-aliasing)
    small = synthetic_radiograph(6, 100, 100)
    ref2 = skt.resize(((2 * small - 1) * 1024)[None], (1, 224, 224), mode="constant", preserve_range=True)[0]
    assert np.abs((2 * resize(small, 224) - 1) * 1024 - ref2).max() < 1e-2
    # Pillow bilinear is close but not equal
    bil = (2 * resize(a, 224, "bilinear") - 1) * 1024
    assert 0 < np.abs(bil - ref).mean() < 20


def test_center_crop_is_xrv_crop():
    a = np.arange(7 * 4, dtype=np.float32).reshape(7, 4)
    c = center_crop(a)
    # torchxrayvision: starty = 7 // 2 - 4 // 2 = 1
    assert c.shape == (4, 4) and c[0, 0] == a[1, 0]


def test_normalizations(bank):
    a = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert normalize(a, "xrv").tolist() == [[-1024.0, 0.0, 1024.0]]
    assert normalize(a, "symmetric").tolist() == [[-1.0, 0.0, 1.0]]
    assert normalize(torch.tensor(a), "unit").tolist() == a.tolist()
    z = normalize(a, "zscore")
    assert abs(float(z.mean())) < 1e-6
    with pytest.raises(ValueError):
        normalize(a, "nope")
    ds = XRayDataset(bank, sources="alpha", normalize="unit", size=None, crop="none")
    img = ds[0]["img"]
    assert img.shape == (1, 300, 260) and 0 <= float(img.min()) and float(img.max()) <= 1


def test_16bit_png_and_rgb_first_channel(tmp_path):
    a = synthetic_radiograph(9)
    p16 = save_png16(a, tmp_path / "x16.png")
    r = read_xray(p16)
    assert r.dtype == np.float32 and np.abs(r - a).max() < 1e-4
    from PIL import Image

    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[..., 1] = 10
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert np.allclose(read_xray(tmp_path / "c.png"), 200 / 255)


def test_monochrome1_dicom_is_inverted(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    a = synthetic_radiograph(11, 64, 48)
    raw = np.rint(a * 4095).astype(np.uint16)

    def write(path, pixels, phot):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CR"
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = phot
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels.tobytes()
        ds.save_as(path, enforce_file_format=True)
        return path

    m2 = read_xray(write(tmp_path / "m2.dcm", raw, "MONOCHROME2"))
    m1 = read_xray(write(tmp_path / "m1.dcm", (4095 - raw).astype(np.uint16), "MONOCHROME1"))
    assert np.abs(m1 - m2).max() < 1e-5
    assert np.corrcoef(m2.ravel(), a.ravel())[0, 1] > 0.999


@pytest.mark.filterwarnings("ignore:NvImgCodec")
def test_monai_and_torchio_consume_the_same_records(bank):
    ds = XRayDataset(bank, sources="alpha", labels=["COVID-19", "Pneumonia"])
    recs = ds.as_records()
    assert len(recs) == len(ds) and recs[0]["image"] == ds.records["path"].iloc[0]
    monai = pytest.importorskip("monai")
    from monai.data import Dataset as MDataset
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

    md = MDataset(recs, transform=Compose([LoadImaged(keys="image", image_only=True), EnsureChannelFirstd(keys="image")]))
    item = md[0]
    assert tuple(item["image"].shape[-2:]) in {(260, 300), (300, 260)}
    assert np.array_equal(np.asarray(item["label"]), recs[0]["label"], equal_nan=True)
    tio = pytest.importorskip("torchio")
    subj = tio.Subject(image=tio.ScalarImage(recs[0]["image"]), label=torch.tensor(recs[0]["label"]))
    out = tio.Resize((64, 64, 1))(subj)
    assert out["image"].data.shape[1:3] == (64, 64)


def test_metadata_collates_with_missing_values(tmp_path):
    b = xray_bank(tmp_path, "alpha", n_subjects=3, images_per_subject=1)
    imgs = b.table("images")
    imgs["age"] = [61.0, None, 47.0]
    imgs["sex"] = ["F", None, "M"]
    b.add("alpha", {"images": imgs, "labels": b.table("labels")})
    ds = XRayDataset(b, size=16)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["meta"]["sex"] == ["F", "", "M"]
    assert batch["meta"]["age"][0] == 61.0 and math.isnan(batch["meta"]["age"][1])


def test_split_filter(bank):
    from covidbank.errors import CovidbankError
    from covidbank.splits import write_split

    with pytest.raises(CovidbankError, match="no split"):
        XRayDataset(bank, split="train")
    write_split(bank, ratios="0.5,0.5", seed=1)
    tr = XRayDataset(bank, split="train", sources="alpha")
    te = XRayDataset(bank, split="test", sources="alpha")
    assert len(tr) + len(te) == 8 and len(tr) and len(te)
    assert not set(tr.records["subject_id"]) & set(te.records["subject_id"])
