"""Search, records and cases of the viewer's bank store, on the generated bank."""
from __future__ import annotations

import pandas as pd
import pytest

from covidbank.bank import Bank
from covidbank.errors import RecordNotFoundError
from covidbank.web.store import BankStore, SearchQuery


@pytest.fixture(scope="module")
def store(web_bank):
    return BankStore(web_bank["bank"])


def ids(res):
    return {r["image_id"] for r in res.rows}


def test_search_all_counts_and_facets(store):
    res = store.search(SearchQuery())
    assert res.total == 8
    assert dict(res.facets["source"]) == {"demo": 8}
    assert dict(res.facets["modality"]) == {"X-ray": 6, "CT": 2}
    assert dict(res.facets["view"])["PA"] == 3
    assert dict(res.facets["split"]) == {"train": 2, "test": 4, "val": 2}
    # files present come first
    present = [r["file_present"] for r in res.rows]
    assert present == sorted(present, reverse=True)


def test_label_hierarchy_pneumonia_finds_covid_and_bacterial(store):
    res = store.search(SearchQuery(label="Pneumonia"))
    assert ids(res) == {"demo:1/d0/a", "demo:1/d5/b", "demo:2/d0/c", "demo:3/ct/vol", "demo:3/ct/maskonly"}
    viral = store.search(SearchQuery(label="viral"))  # any spelling resolves
    assert ids(viral) == {"demo:1/d0/a", "demo:1/d5/b", "demo:3/ct/vol", "demo:3/ct/maskonly"}
    by_cui = store.search(SearchQuery(label="C0004626"))  # Bacterial by CUI
    assert ids(by_cui) == {"demo:2/d0/c"}


def test_label_values(store):
    assert ids(store.search(SearchQuery(label="COVID-19", value="negative"))) == {"demo:2/d0/d"}
    assert ids(store.search(SearchQuery(label="ARDS", value="uncertain"))) == {"demo:2/d0/e#2"}
    assert store.search(SearchQuery(label="ARDS", value="positive")).total == 0
    assert store.search(SearchQuery(label="COVID-19", value="any")).total == 5
    assert store.search(SearchQuery(label="not a label at all")).total == 0


def test_filters_combine(store):
    q = SearchQuery(sex=["M"], age_min=70, label="Pneumonia", view=["AP Supine"])
    assert ids(store.search(q)) == {"demo:1/d5/b"}
    assert store.search(SearchQuery(age_max=50)).total == 4  # subject demo:2 (45)
    assert ids(store.search(SearchQuery(ct_grade=["CT-2"]))) == {"demo:3/ct/vol"}
    assert store.search(SearchQuery(split=["train"])).total == 2
    assert ids(store.search(SearchQuery(q="ground GLASS"))) == {"demo:1/d5/b"}
    assert store.search(SearchQuery(file_present=False)).total == 2
    # facet counts ignore their own filter (they say what picking a value gives)
    res = store.search(SearchQuery(view=["PA"]))
    assert res.total == 3 and dict(res.facets["view"])["L"] == 1


def test_pagination(store):
    pages = [store.search(SearchQuery(per_page=3, page=p)) for p in (1, 2, 3)]
    assert [len(p.rows) for p in pages] == [3, 3, 2]
    assert pages[0].pages == 3
    seen = [i for p in pages for i in ids(p)]
    assert len(seen) == len(set(seen)) == 8
    assert store.search(SearchQuery(per_page=3, page=99)).page == 3  # clamped


def test_query_params_round_trip():
    q = SearchQuery(source=["cohen"], label="Pneumonia", age_min=70, page=2)
    p = q.params()
    assert p == {"source": ["cohen"], "age_min": 70, "label": "Pneumonia", "value": "positive", "page": 2}
    assert SearchQuery(value="bogus").value == "positive"


def test_case_sessions_in_day_order(store):
    case = store.case("demo:1")
    assert [s["offset_days"] for s in case["sessions"]] == [0, 5]
    assert case["sessions"][0]["images"][0]["image_id"] == "demo:1/d0/a"
    labs = {l["label"]: (l["cui"], l["value_name"]) for l in case["sessions"][0]["images"][0]["labels"]}
    assert labs["COVID-19"] == ("C5203670", "positive") and labs["Pneumonia"][1] == "positive"
    assert case["tests"][0]["result"] == "positive"
    assert case["source_meta"]["version"] == "t1"
    with pytest.raises(RecordNotFoundError):
        store.case("demo:999")


def test_file_problems(store):
    assert store.file_problem(store.image("demo:1/d0/a")) is None
    assert "missing on disk" in store.file_problem(store.image("demo:2/d0/e#2"))
    assert "outside the bank and its source's folder" in store.file_problem(store.image("demo:2/d0/escape"))
    rec, path = store.image_file("demo:2/d0/escape")
    assert path is None


def test_severity_and_split_in_record(store):
    rec = store.record("demo:3/ct/vol")
    assert rec["severity"][0]["lesion_volume_ml"] == pytest.approx(1.23)
    assert rec["split"] == "val"
    assert rec["image"]["is_volume"] and rec["image"]["ct_grade"] == "CT-2"


def test_reload_when_index_changes(tmp_path):
    b = Bank(tmp_path / "b", create=True)
    img = lambda i: {"image_id": f"s:{i}", "subject_id": f"s:{i}", "session_id": f"s:{i}", "modality": "DX"}  # noqa: E731
    b.add("s", {"images": pd.DataFrame([img(1)])})
    st = BankStore(b.path, reload_interval=0)
    assert st.search(SearchQuery()).total == 1
    b.add("s", {"images": pd.DataFrame([img(1), img(2)])})
    assert st.search(SearchQuery()).total == 2


def test_empty_bank_and_corrupt_index(tmp_path):
    b = Bank(tmp_path / "empty", create=True)
    st = BankStore(b.path)
    assert st.search(SearchQuery(label="Pneumonia")).total == 0
    assert st.summary()["per_source"] == []
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:1", "session_id": "s:1"}])})
    (b.index_dir / "sources" / "s" / "labels.parquet").write_bytes(b"PAR1 truncated")
    from covidbank.errors import BankError

    with pytest.raises(BankError, match="cannot read the bank index"):
        BankStore(b.path)


def test_broken_reload_keeps_serving_the_last_good_index(tmp_path):
    b = Bank(tmp_path / "b", create=True)
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:1", "session_id": "s:1"}])})
    st = BankStore(b.path, reload_interval=0)
    (b.index_dir / "sources" / "s" / "labels.parquet").write_bytes(b"PAR1 truncated")
    assert st.search(SearchQuery()).total == 1
    assert "cannot read the bank index" in st.reload_error
