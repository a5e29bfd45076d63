import json

from covidbank.catalog import FLAGS, METADATA_FIELDS, MODALITIES, catalog_frame, load_catalog
from covidbank.sources import SOURCES

REQUIRED = {"Image Data Collection", "COVID-CT", "SIRM", "Radiography Database", "BIMCV", "MosMed", "Coronacases", "BSTI",
            "Radiopaedia", "Eurorad", "Segmentation", "COVIDx", "POCUS", "CORD-19"}


def test_catalog_schema():
    entries = load_catalog()
    keys = [e["key"] for e in entries]
    assert len(keys) == len(set(keys))
    for e in entries:
        assert e["name"] and e["url"].startswith("https://") and e["citation"]
        assert set(e["modalities"]) == set(MODALITIES) and set(e["modalities"].values()) <= set(FLAGS)
        assert set(e["metadata"]) == set(METADATA_FIELDS) and set(e["metadata"].values()) <= set(FLAGS)
        for n in ("images", "patients"):
            assert e[n] is None or (isinstance(e[n], int) and e[n] > 0)
        assert e["access"]
        assert e["license"] or e["license_raw"]
        assert e["adapter"] is None or e["adapter"] in SOURCES
    names = " ".join(e["name"] for e in entries)
    for r in REQUIRED:
        assert r in names, r
    # every adapter is in the catalog
    assert set(SOURCES) <= {e["adapter"] for e in entries}


def test_catalog_filters_and_cli(cli):
    ct = catalog_frame("ct")
    assert (ct["CT"] == "Y").all() and "MosMedData COVID19_1110" in set(ct["name"])
    assert "POCUS (COVID-19 lung ultrasound)" in set(catalog_frame("ultrasound")["name"])
    res = cli("catalog", "--modality", "CT", "--format", "json")
    rows = json.loads(res.stdout)
    assert {r["name"] for r in rows} == set(ct["name"])
    res = cli("catalog", "--modality", "PET", expect=2)
    assert "unknown modality" in res.output
