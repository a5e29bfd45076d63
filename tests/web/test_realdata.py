"""The viewer's API on a bank of the real cohen and mosmed sources (``../shared/data``)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from covidbank.bank import Bank

pytest.importorskip("fastapi")
pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real_client(real_web_bank, tmp_path_factory):
    from fastapi.testclient import TestClient

    from covidbank.web import create_app

    with TestClient(create_app(real_web_bank["bank"], cache_dir=tmp_path_factory.mktemp("thumbs"))) as c:
        yield c


def test_counts_match_the_bank(real_client, real_web_bank):
    b = Bank(real_web_bank["bank"])
    per_source = dict(b.query("SELECT source, count(*) n FROM images GROUP BY source").itertuples(index=False))
    r = real_client.get("/api/records", params={"per_page": 50}).json()
    assert r["total"] == sum(per_source.values())
    assert {f["value"]: f["count"] for f in r["facets"]["source"]} == per_source
    assert len(r["results"]) == 50
    grades = {f["value"]: f["count"] for f in real_client.get("/api/records", params={"source": "mosmed"}).json()["facets"]["ct_grade"]}
    assert grades == {"CT-0": 254, "CT-1": 684, "CT-2": 125, "CT-3": 45, "CT-4": 2}  # the MosMedData paper's counts


def test_pneumonia_finds_every_covid_image(real_client):
    def ids(label):
        out, page = set(), 1
        while True:
            r = real_client.get("/api/records", params={"label": label, "source": "cohen", "per_page": 500, "page": page}).json()
            out |= {x["image_id"] for x in r["results"]}
            if page >= r["pages"]:
                return out
            page += 1

    covid, pneumonia = ids("COVID-19"), ids("Pneumonia")
    assert len(covid) > 300 and covid < pneumonia


def test_present_cohen_images_render_and_missing_ones_explain(real_client):
    r = real_client.get("/api/records", params={"source": "cohen", "file_present": "true", "modality": "X-ray", "per_page": 5}).json()
    assert r["total"] > 100
    for rec in r["results"]:
        t = real_client.get(f"/api/thumbnail/{rec['image_id']}")
        assert t.status_code == 200
        assert max(Image.open(io.BytesIO(t.content)).size) <= 256
    big = real_client.get(f"/api/image/{r['results'][0]['image_id']}")
    assert np.array(Image.open(io.BytesIO(big.content))).std() > 10  # a real radiograph, not a blank
    missing = real_client.get("/api/records", params={"source": "cohen", "file_present": "false", "per_page": 1}).json()["results"][0]
    resp = real_client.get(f"/api/thumbnail/{missing['image_id']}")
    assert resp.status_code == 404 and "missing on disk" in resp.json()["detail"]
    page = real_client.get(f"/case/{missing['subject_id']}")
    assert page.status_code == 200 and "Image not available" in page.text


def test_mosmed_mask_only_ct(real_client):
    v = real_client.get("/api/volume/mosmed:study_0255").json()
    assert v["volume"] is False and v["masks"][0]["kind"] == "lesion" and v["shape"] == [512, 512, 38]
    z = (v["mask_slices"][0] + v["mask_slices"][1]) // 2
    sl = np.array(Image.open(io.BytesIO(real_client.get("/api/slice/mosmed:study_0255", params={"z": z}).content)))
    assert ((sl[..., 0].astype(int) - sl[..., 1]) > 100).sum() > 50
    assert real_client.get("/api/volume/mosmed:study_0001").status_code == 404  # no volume, no mask


def test_severity_table_and_validation_report_from_their_commands(shared_data, tmp_path, cli):
    """A MosMed bank with the `severity` table of `covidbank severity-table` and the report of
    `covidbank report` written into the bank: the CT viewer shows the numbers, the summary links the report."""
    from fastapi.testclient import TestClient

    from covidbank.sources import add_source
    from covidbank.web import create_app

    bank = tmp_path / "bank"
    add_source(bank, "mosmed", shared_data / "mosmed")  # the viewer serves files from the roots registered at add
    cli("severity-table", shared_data / "mosmed", "--bank", bank, "--format", "csv")
    cli("report", bank, "--out", bank / "report")
    with TestClient(create_app(bank, cache_dir=tmp_path / "thumbs")) as c:
        v = c.get("/api/volume/mosmed:study_0255").json()
        sev = v["severity"][0]
        assert sev["official_category"] == "CT-1" and sev["lesion_volume_ml"] > 0
        assert "lesion_volume_ml" in c.get("/ct/mosmed:study_0255").text
        assert 'href="/report"' in c.get("/summary").text
        rep = c.get("/report")
        assert rep.status_code == 200 and "data:image/png;base64" in rep.text
