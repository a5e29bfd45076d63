"""Real data: covidbank's tensors equal torchxrayvision's on the Cohen images;
MONOCHROME1 DICOM handling on the torchxrayvision test pair."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
import torch  # noqa: E402

from covidbank.bank import Bank  # noqa: E402
from covidbank.pixels import read_xray  # noqa: E402
from covidbank.torch import XRayDataset  # noqa: E402

pytestmark = pytest.mark.realdata

#: Stated tolerance on torchxrayvision's [-1024, 1024] scale: uncached (float32
#: rounding of the same arithmetic) and cached (uint16 storage, step 2048/65535).
TOL_UNCACHED = 0.01
TOL_CACHED = 0.02


@pytest.fixture(scope="module")
def cohen_bank(shared_data, tmp_path_factory):
    from covidbank.sources import load_source

    b = Bank(tmp_path_factory.mktemp("cohen") / "bank", create=True)
    r = load_source("cohen", shared_data / "cohen")
    b.add("cohen", r.all_tables(), r.meta)
    return b


def test_tensors_match_torchxrayvision(cohen_bank, shared_data):
    xrv = pytest.importorskip("torchxrayvision")
    import torchvision

    cohen = shared_data / "cohen"
    tf = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xds = xrv.datasets.COVID19_Dataset(imgpath=str(cohen / "images"), csvpath=str(cohen / "metadata.csv"), views=["*"], transform=tf)
    csv = xds.csv
    ok = csv["filename"].map(lambda f: os.path.isfile(cohen / "images" / str(f))) & csv["modality"].eq("X-ray")
    # a spread of formats: RGB/grey JPEG, RGBA PNG, grey PNG
    idx = list(np.nonzero(ok.to_numpy())[0][::12])
    assert len(idx) >= 10
    files = {str(cohen / "images" / csv["filename"].iloc[i]): i for i in idx}
    lst = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    ds = XRayDataset(cohen_bank, query=f"SELECT image_id FROM images WHERE path IN ({lst})", labels=["COVID-19"])
    assert len(ds) == len(files)
    q = f"SELECT image_id FROM images WHERE path IN ({lst})"
    XRayDataset(cohen_bank, query=q, cache=True)  # decodes these images into the cache
    cds = XRayDataset(cohen_bank, query=q, labels=["COVID-19"], cache=True, on_stale="error")
    assert cds.cache is not None
    cov = xds.pathologies.index("COVID-19")
    for j in range(len(ds)):
        p = ds.records["path"].iloc[j]
        ref = xds[files[p]]
        ours = ds[j]
        assert ours["img"].shape == (1, 224, 224)
        assert float(np.abs(np.asarray(ref["img"]) - ours["img"].numpy()).max()) < TOL_UNCACHED, p
        assert float(np.abs(np.asarray(ref["img"]) - cds[j]["img"].numpy()).max()) < TOL_CACHED, p
        # same COVID-19 positives (torchxrayvision writes 0 where covidbank says unknown)
        assert (ref["lab"][cov] == 1) == (ours["lab"][0].item() == 1), p


def test_monochrome1_dicom_pair(shared_data):
    d = shared_data / "dicom"
    m2 = read_xray(d / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
    m1 = read_xray(d / "Fake_MONOHR1.dcm")
    # same stored pixels, MONOCHROME1 tag: displayed inverted (as torchxrayvision's own test expects)
    assert m1.shape == m2.shape == (1024, 1024)
    assert np.abs((1 - m1) - m2).max() < 1e-6
