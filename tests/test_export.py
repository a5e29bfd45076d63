"""covidbank export: each format loaded by the real tool; 8-bit images look like chest X-rays."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covidbank.bank import Bank
from covidbank.errors import ArgumentError
from covidbank.export import export


@pytest.fixture(scope="module")
def demo_bank(tmp_path_factory):
    from typer.testing import CliRunner

    from covidbank.cli import get_app

    root = tmp_path_factory.mktemp("export")
    runner = CliRunner()
    assert runner.invoke(get_app(), ["demo", "--bank", str(root / "bank")]).exit_code == 0
    assert runner.invoke(get_app(), ["split", str(root / "bank")]).exit_code == 0
    return Bank(root / "bank")


def test_imagefolder_loads_in_torchvision(demo_bank, tmp_path, cli):
    tv = pytest.importorskip("torchvision")
    out = tmp_path / "if"
    res = cli("export", demo_bank.path, "--format", "imagefolder", "--out", out, "--unknown-as-negative", "--json")
    summ = json.loads(res.stdout)
    ds = tv.datasets.ImageFolder(str(out / "train"))
    assert ds.classes == ["COVID-19", "not COVID-19"] and len(ds) == summ["per_split"]["train"]
    img, cls = ds[0]
    gray = np.asarray(img.convert("L"))  # what torchvision pipelines do: no white image
    assert 20 < gray.mean() < 235
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) == summ["images"] and "COVID-19" in meta.columns
    assert all((out / f).is_file() for f in meta["file"])
    # the class folder agrees with the label column
    covid = meta[meta["file"].str.contains("/COVID-19/")]
    assert (covid["COVID-19"] == 1).all()


def test_hf_imagefolder_loads_in_datasets(demo_bank, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "hf"
    s = export(demo_bank, out, "hf")
    dd = datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "hfcache"))
    assert set(dd) == {"train", "validation", "test"}
    assert {k: len(v) for k, v in dd.items()} == {"train": s.per_split["train"], "validation": s.per_split["val"],
                                                  "test": s.per_split["test"]}
    row = dd["train"][0]
    assert row["image"].mode == "L" and "COVID-19" in row and "image_id" in row
    labels = pd.read_csv(out / "train" / "metadata.csv")
    assert set(labels["COVID-19"].dropna()) <= {0.0, 1.0, -1.0}


def test_monai_datalist_loads_and_batches(demo_bank, tmp_path):
    monai = pytest.importorskip("monai")
    from monai.data import CacheDataset, DataLoader, load_decathlon_datalist
    from monai.transforms import Compose, EnsureChannelFirstd, EnsureTyped, LoadImaged, Resized

    out = tmp_path / "monai"
    s = export(demo_bank, out, "monai", split="train")
    items = load_decathlon_datalist(str(out / "datalist.json"), data_list_key="training", base_dir=str(out))
    assert len(items) == s.images and all(Path(i["image"]).is_file() for i in items)
    xr = [i for i in items if i["image"].endswith(".png")]
    tf = Compose([LoadImaged(keys="image", image_only=True), EnsureChannelFirstd(keys="image"),
                  Resized(keys="image", spatial_size=(64, 64)), EnsureTyped(keys=["label", "label_mask"])])
    ds = CacheDataset(xr, transform=tf, progress=False)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(batch["image"].shape) == (4, 1, 64, 64) and tuple(batch["label"].shape) == (4, len(s.labels))
    assert "record_id" in items[0] and not any(k.startswith("image_") for k in items[0])  # MONAI meta-key space kept free


def test_csv_export_and_errors(demo_bank, tmp_path):
    out = tmp_path / "csv"
    s = export(demo_bank, out, "csv", bit_depth=16)
    df = pd.read_csv(out / "images.csv")
    assert len(df) == s.images and set(df["split"]) == {"train", "val", "test"}
    assert all((out / f).is_file() for f in df["file"])
    with pytest.raises(ArgumentError, match="imagefolder, hf, monai, csv"):
        export(demo_bank, out, "zip")
    with pytest.raises(ArgumentError, match="train, val"):
        export(demo_bank, out, "csv", split="training")
    with pytest.raises(ArgumentError, match="8, 16"):
        export(demo_bank, out, "csv", bit_depth=12)


def _ingested(tmp_path: Path) -> Bank:
    from covidbank.dicom.ingest import ingest
    from covidbank.samples import chest_xray_phantom
    from dicom_factory import make_cr

    raw = tmp_path / "raw"
    for i, phot in enumerate(["MONOCHROME1", "MONOCHROME2"]):
        a = chest_xray_phantom(128, seed=i).astype(np.uint16) * 16  # 12-bit, white = dense
        stored = 4095 - a if phot == "MONOCHROME1" else a
        make_cr(raw / f"{phot}.dcm", patient_id=f"P{i}", rows=128, cols=128, pixels=stored, photometric=phot,
                window=(2048, 4096))
    ingest(raw, tmp_path / "bank", key_file=tmp_path / "key", new_key=True)
    return Bank(tmp_path / "bank")


def _check_8bit(out: Path, bank: Bank) -> int:
    meta = pd.read_csv(out / "images.csv")
    res = bank.resolve_paths(bank.table("images")).set_index("image_id")
    for r in meta.itertuples():
        a8 = np.asarray(Image.open(out / r.file))
        assert a8.dtype == np.uint8
        a16 = np.asarray(Image.open(res.loc[r.image_id, "path"])).astype(float)
        assert 20 < a8.mean() < 235, r.image_id  # not white, not black
        assert np.corrcoef(a8.ravel(), a16.ravel())[0, 1] > 0.999, r.image_id  # not inverted
        # what 16-bit PNGs become in Pillow's convert("L"): white
        assert np.asarray(Image.open(res.loc[r.image_id, "path"]).convert("L")).mean() > 250
    return len(meta)


def test_8bit_export_of_an_ingest_looks_like_a_chest_xray(tmp_path):
    bank = _ingested(tmp_path)
    out = tmp_path / "csv8"
    export(bank, out, "csv")
    assert _check_8bit(out, bank) == 2
    # the MONOCHROME1 and MONOCHROME2 images of the same anatomy type look alike
    meta = pd.read_csv(out / "images.csv")
    a = [np.asarray(Image.open(out / f)).astype(float) for f in meta["file"]]
    assert all(x.mean() > 20 for x in a)
    # 16 bit: the ingest PNGs themselves, hard-linked
    s16 = export(bank, tmp_path / "csv16", "csv", bit_depth=16)
    assert s16.linked == 2
    f = pd.read_csv(tmp_path / "csv16" / "images.csv")["file"][0]
    assert os.stat(tmp_path / "csv16" / f).st_nlink >= 2


@pytest.mark.realdata
def test_8bit_export_of_real_monochrome1_radiographs(shared_data, tmp_path):
    from covidbank.dicom.ingest import ingest

    raw = tmp_path / "raw"
    raw.mkdir()
    for n in ("RG1_J2KI.dcm", "highdicom_dx_image.dcm", "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"):
        (raw / n).symlink_to(shared_data / "dicom" / n)
    ingest(raw, tmp_path / "bank", key_file=tmp_path / "key", new_key=True, follow_symlinks=True)  # links into the shared data
    bank = Bank(tmp_path / "bank")
    export(bank, tmp_path / "out", "csv")
    assert _check_8bit(tmp_path / "out", bank) == 3
