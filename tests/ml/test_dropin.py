"""torchxrayvision and MONAI drop-ins: their own utilities run on covidbank datasets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("torch")
import torch  # noqa: E402

from covidbank.bank import Bank  # noqa: E402
from covidbank.torch import XRayDataset  # noqa: E402
from ml_fixtures import save_png8, synthetic_radiograph, xray_bank  # noqa: E402

xrv = pytest.importorskip("torchxrayvision")


@pytest.fixture
def banks(tmp_path):
    a = xray_bank(tmp_path / "a", "alpha", n_subjects=6, images_per_subject=2)
    b = xray_bank(tmp_path / "b", "beta", n_subjects=4, images_per_subject=1, seed0=500,
                  labels_of=lambda s: [("Pneumonia", 1)] if s % 2 else [("No Finding", 1)])
    return a, b


def test_xrv_attribute_contract(banks):
    ds = XRayDataset(banks[0], size=64, labels=["COVID-19", "Pneumonia", "Bacterial"])
    assert ds.pathologies == ["COVID-19", "Pneumonia", "Bacterial"]
    assert isinstance(ds.labels, np.ndarray) and ds.labels.shape == (len(ds), 3)
    assert isinstance(ds.csv, pd.DataFrame) and len(ds.csv) == len(ds)
    # NaN for unknown: a bacterial pneumonia says nothing about COVID-19; the parent Pneumonia is implied
    t = ds.totals()
    assert t["COVID-19"] == {1.0: 6} and t["Pneumonia"] == {1.0: 12} and t["Bacterial"] == {1.0: 6}
    ds.pathologies = ["x", "y", "z"]  # assignable, as xrv's utilities do
    assert ds.pathologies == ["x", "y", "z"]
    ds.data_aug = lambda img: img * 0
    assert float(ds[0]["img"].abs().sum()) == 0.0


def test_xrv_relabel_subset_merge_and_densenet(banks):
    a = XRayDataset(banks[0], size=224, labels=["COVID-19", "Pneumonia"])
    b = XRayDataset(banks[1], size=224, labels=["Pneumonia", "No Finding"])
    xrv.datasets.relabel_dataset(xrv.datasets.default_pathologies, a, silent=True)
    xrv.datasets.relabel_dataset(xrv.datasets.default_pathologies, b, silent=True)
    assert a.labels.shape == (len(a), len(xrv.datasets.default_pathologies))
    pn = xrv.datasets.default_pathologies.index("Pneumonia")
    assert (a.labels[:, pn] == 1).all() and np.isnan(a.labels[:, 0]).all()
    assert a[0]["lab"].shape == (len(xrv.datasets.default_pathologies),)  # items follow the relabelled matrix
    sub = xrv.datasets.SubsetDataset(a, [0, 3, 5])
    assert len(sub) == 3 and len(sub.csv) == 3 and sub.labels.shape[0] == 3
    assert sub[1]["img"].shape == (1, 224, 224)
    merged = xrv.datasets.MergeDataset([a, b])
    assert len(merged) == len(a) + len(b) and len(merged.csv) == len(merged)
    assert np.array_equal(np.asarray(merged[len(a)]["lab"], dtype=float), b.labels[0].astype(float), equal_nan=True)
    assert np.nansum(b.labels[:, pn]) == 2  # beta: two pneumonias
    model = xrv.models.DenseNet(weights=None)
    model.eval()
    batch = torch.utils.data.DataLoader(merged, batch_size=2, shuffle=False)
    item = next(iter(batch))
    with torch.no_grad():
        out = model(item["img"])
    assert out.shape == (2, len(xrv.datasets.default_pathologies)) and torch.isfinite(out).all()


def test_monai_reader_stacks_mixed_radiographs(tmp_path):
    """RGB JPEG, RGBA PNG, 16-bit PNG and a MONOCHROME1 raster: one channel, [0, 1], right way up."""
    monai = pytest.importorskip("monai")
    from monai.data import CacheDataset, DataLoader
    from monai.transforms import Compose, EnsureChannelFirstd, EnsureTyped, LoadImaged, Resized, Spacingd

    d = tmp_path / "img"
    d.mkdir()
    a = synthetic_radiograph(1)
    save_png8(a, d / "rgb.png", rgb=True)
    Image.fromarray(np.stack([(a * 255).astype(np.uint8)] * 3, -1)).save(d / "rgb.jpg", quality=95)
    Image.fromarray(np.dstack([(a * 255).astype(np.uint8)] * 3 + [np.full(a.shape, 255, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(np.rint(a * 65535).astype(np.uint16)).save(d / "p16.png")
    Image.fromarray(np.rint((1 - a) * 65535).astype(np.uint16)).save(d / "mono1.png")  # raw MONOCHROME1 values
    rows = [{"image_id": f"s:{p.stem}", "subject_id": f"s:{i}", "source": "s", "modality": "CR", "view": "PA",
             "path": str(p), "file_present": True, "photometric": "MONOCHROME1" if p.stem == "mono1" else "MONOCHROME2"}
            for i, p in enumerate(sorted(d.iterdir()))]
    labs = [{"image_id": r["image_id"], "label": "COVID-19", "value": 1, "origin": "source"} for r in rows]
    bank = Bank(tmp_path / "bank", create=True)
    bank.add("s", {"images": pd.DataFrame(rows), "labels": pd.DataFrame(labs)})
    ds = XRayDataset(bank, size=None, crop="none", normalize="unit", labels=["COVID-19", "Pneumonia"])
    recs = ds.as_records()
    assert all("image_id" not in r for r in recs) and recs[0]["label"].dtype == np.float32
    tf = Compose([LoadImaged(keys="image", reader=ds.monai_reader(), image_only=True),
                  EnsureChannelFirstd(keys="image"),
                  Spacingd(keys="image", pixdim=(2.0, 2.0)),
                  Resized(keys="image", spatial_size=(64, 64)),
                  EnsureTyped(keys="label")])
    cds = CacheDataset(recs, transform=tf, progress=False)
    batch = next(iter(DataLoader(cds, batch_size=len(recs))))
    assert tuple(batch["image"].shape) == (len(recs), 1, 64, 64)
    assert tuple(batch["label"].shape) == (len(recs), 2) and (batch["label"] == 1).all()  # Pneumonia implied
    imgs = batch["image"][:, 0].numpy()
    assert imgs.min() >= 0 and imgs.max() <= 1
    ref = imgs[0].ravel()
    for k in range(1, len(recs)):  # every file holds the same picture: all agree, none is a negative
        assert np.corrcoef(ref, imgs[k].ravel())[0, 1] > 0.98, recs[k]["record_id"]
    # full-size reads equal XRayDataset's pixels (transposed like MONAI's PILReader)
    plain = Compose([LoadImaged(keys="image", reader=ds.monai_reader(), image_only=True)])
    for i, r in enumerate(recs):
        m = np.asarray(plain(dict(r))["image"])
        assert np.allclose(m.T, ds[i]["img"][0].numpy(), atol=1e-6), r["record_id"]
