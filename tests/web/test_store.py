"""Search, records and cases of the viewer's bank store, on the generated bank."""
from __future__ import annotations

import re

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


def test_index_cache_outside_the_bank_reused_and_replaced(tmp_path):
    """The DuckDB layout of the index lives in the cache folder, is reused by the next start and replaced
    (the old file removed) when the bank changes; nothing is written into the bank."""
    b = Bank(tmp_path / "b", create=True)
    img = lambda i: {"image_id": f"s:{i}", "subject_id": f"s:{i}", "session_id": f"s:{i}", "modality": "DX"}
    b.add("s", {"images": pd.DataFrame([img(1)])})
    before = sorted(p.relative_to(b.path) for p in b.path.rglob("*"))
    cache = tmp_path / "cache"
    BankStore(b.path, cache_dir=cache)
    (first,) = cache.glob("index-*.duckdb")
    mtime = first.stat().st_mtime_ns
    st = BankStore(b.path, cache_dir=cache, reload_interval=0)
    assert [p.name for p in cache.glob("index-*.duckdb")] == [first.name] and first.stat().st_mtime_ns == mtime
    b.add("s", {"images": pd.DataFrame([img(1), img(2)])})
    assert st.search(SearchQuery()).total == 2
    (second,) = cache.glob("index-*.duckdb")
    assert second.name != first.name
    assert sorted(p.relative_to(b.path) for p in b.path.rglob("*")) == before


@pytest.fixture(scope="module")
def cohen_store(tmp_path_factory):
    """A viewer store on a generated 3,000-row Cohen-format bank."""
    from covidbank.samples import make_cohen_table
    from covidbank.sources import load_source

    tmp = tmp_path_factory.mktemp("cohen3000")
    res = load_source("cohen", make_cohen_table(tmp / "c", 3000, seed=3).parent)
    b = Bank(tmp / "b", create=True)
    b.add("cohen", res.all_tables(), meta=res.meta)
    return BankStore(b.path, cache_dir=tmp / "cache")


def _plain_sql(st, q):
    """Total, facet counts and first-page ids of ``q`` by plain SQL over the ``search`` and ``labels`` tables."""
    conds: dict[str, str] = {}
    for name in ("source", "modality", "view", "sex", "ct_grade", "split"):
        if getattr(q, name):
            conds[name] = f"{name} IN ({', '.join(repr(v) for v in getattr(q, name))})"
    if q.age_min is not None:
        conds["age_min"] = f"age >= {q.age_min!r}"
    if q.age_max is not None:
        conds["age_max"] = f"age <= {q.age_max!r}"
    if q.file_present is not None:
        conds["file_present"] = f"file_present = {bool(q.file_present)}"
    if q.q:
        conds["q"] = "strpos(text, '" + q.q.lower().replace("'", "''") + "') > 0"  # a SQL literal (repr escapes a tab)
    if q.label:
        names, cuis = st.label_names(q.label)
        lab = f"lower(label) IN ({', '.join(repr(n) for n in sorted(names))})"
        if cuis:
            lab = f"({lab} OR cui IN ({', '.join(repr(c) for c in sorted(cuis))}))"
        val = {"positive": " AND value = 1", "negative": " AND value = 0", "uncertain": " AND value = -1"}.get(q.value, "")
        conds["label"] = f"image_id IN (SELECT image_id FROM labels WHERE {lab}{val})"

    def where(skip=None):
        c = [v for k, v in conds.items() if k != skip]
        return " AND ".join(c) if c else "true"

    total = int(st.sql(f"SELECT count(*) n FROM search WHERE {where()}")["n"].iloc[0])
    facets = {}
    for name in ("source", "modality", "view", "sex", "ct_grade"):
        ref = st.sql(f"SELECT CAST({name} AS VARCHAR) v, count(*) n FROM search WHERE {where(name)} AND {name} IS NOT NULL GROUP BY 1")
        facets[name] = sorted(zip(ref["v"], ref["n"].astype(int)), key=lambda t: (-t[1], t[0]))
    ref = st.sql(f"""SELECT label, count(DISTINCT image_id) n FROM labels WHERE value = 1 AND label IS NOT NULL
                     AND image_id IN (SELECT image_id FROM search WHERE {where('label')}) GROUP BY label""")
    facets["label"] = sorted(zip(ref["label"], ref["n"].astype(int)), key=lambda t: (-t[1], t[0]))[:25]
    off = (min(q.page, max(1, -(-total // q.per_page))) - 1) * q.per_page
    ids = st.sql(f"SELECT image_id FROM search WHERE {where()} ORDER BY rn LIMIT {q.per_page} OFFSET {off}")["image_id"].tolist()
    labs = st.sql(f"""SELECT image_id, label, bool_and(coalesce(origin = 'implied', false)) AS implied FROM labels
                      WHERE value = 1 AND label IS NOT NULL AND image_id IN (SELECT unnest(?)) GROUP BY ALL""", [ids])
    by: dict = {}
    for i, label, implied in labs.itertuples(index=False):
        by.setdefault(i, []).append((bool(implied), label))
    return total, facets, [(i, [name for _, name in sorted(by.get(i, []))]) for i in ids]


#: Searches the cubes answer (facets, whole-year ages, one positive label) and ones that scan the rows.
CUBE_QUERIES = [
    SearchQuery(),
    SearchQuery(view=["PA", "L"], sex=["F"]),
    SearchQuery(age_min=70),
    SearchQuery(age_min=40, age_max=60, file_present=False, page=3),
    SearchQuery(label="Pneumonia"),
    SearchQuery(label="Pneumonia", page=20),
    SearchQuery(label="Pneumonia", view=["AP Supine"], age_min=70),
    SearchQuery(label="C0004626", sex=["M"], age_max=50, page=2),  # Bacterial, by CUI
    SearchQuery(label="viral", modality=["CT"]),
    SearchQuery(label="No Finding", view=["PA"], per_page=7, page=4),
]
SCAN_QUERIES = [
    SearchQuery(q="Ground-Glass", modality=["X-ray"]),
    SearchQuery(q="ground-glass", label="COVID-19", age_min=50),
    SearchQuery(age_min=70.5),
    SearchQuery(label="COVID-19", value="any", view=["PA"]),
    SearchQuery(label="COVID-19", value="negative"),
    SearchQuery(label="not a label at all"),
]


@pytest.mark.parametrize("q", CUBE_QUERIES + SCAN_QUERIES, ids=lambda q: repr(q.params()))
def test_cube_and_scan_paths_agree_with_plain_sql(cohen_store, q):
    """Totals, every facet count and the page rows, from the cubes and from the scan, equal plain SQL over
    the search and label tables (a generated Cohen-format bank)."""
    total, facets, page = _plain_sql(cohen_store, q)
    assert total > 0 or q in SCAN_QUERIES
    for cubes in (True, False):
        got = cohen_store.search(q, cubes=cubes)
        assert got.total == total
        assert {k: got.facets[k] for k in facets} == facets
        assert [(r["image_id"], r["labels"]) for r in got.rows] == page


@pytest.mark.parametrize("q", CUBE_QUERIES, ids=lambda q: repr(q.params()))
def test_facet_age_and_label_searches_never_scan_the_rows(cohen_store, q, monkeypatch):
    """Facet, whole-year age and positive-label searches are answered from the pre-aggregated tables: the
    per-request scan (which grows with the bank) is never taken."""
    def scan(*a, **k):
        raise AssertionError("scanned the rows")

    monkeypatch.setattr(cohen_store, "_counts_scan", scan)
    assert cohen_store.search(q).total == _plain_sql(cohen_store, q)[0]


def test_summary_lists_a_concept_once_when_its_labels_share_a_cui(tmp_path):
    b = Bank(tmp_path / "b", create=True)
    img = pd.DataFrame([{"image_id": f"s{i}:1", "subject_id": f"s{i}:p", "source": f"s{i}", "modality": "X-ray"}
                        for i in (1, 2)])
    for i, name in ((1, "COVID-19"), (2, "COVID 19")):
        b.add(f"s{i}", {"images": img.iloc[[i - 1]],
                        "labels": pd.DataFrame([{"image_id": f"s{i}:1", "label": name, "cui": "C5203670",
                                                 "value": 1, "origin": "source", "source": f"s{i}"}])})
    labels = BankStore(b.path, cache_dir=tmp_path / "cache").summary()["labels"]
    assert [(cui, n) for _, cui, n in labels] == [("C5203670", 2)]


def test_cache_built_in_a_child_process_answers_the_same(cohen_store, tmp_path):
    """A large bank builds the viewer's cache in a child process (the server keeps only its queries' memory);
    the cache it writes answers every search as the in-process build does."""
    child = BankStore(cohen_store.root, cache_dir=tmp_path / "cache", build_process=True)
    assert child._con is not None and list((tmp_path / "cache").glob("index-*.duckdb"))
    for q in CUBE_QUERIES[:6] + SCAN_QUERIES[:2]:
        a, b = cohen_store.search(q), child.search(q)
        assert (a.total, a.facets, a.rows) == (b.total, b.facets, b.rows)


def test_child_build_reports_a_broken_index_as_a_bank_error(tmp_path):
    from covidbank.errors import BankError

    b = Bank(tmp_path / "b", create=True)
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:p", "source": "s", "modality": "X-ray"}])})
    (p,) = (b.path / "index" / "sources" / "s").glob("images.parquet")
    p.write_bytes(b"not parquet")
    with pytest.raises(BankError, match="cannot read the bank index"):
        BankStore(b.path, cache_dir=tmp_path / "cache", build_process=True)


#: Report phrases of the text-index bank: accents, upper case, hyphens, punctuation, numbers, runs of spaces.
_PHRASES = ["Opacidades en vidrio deslustrado bilaterales.", "Ground-Glass opacities in both lungs",
            "ground glass pattern", "background noise on the film", "Consolidación basal derecha",
            "consolidacion basal", "NÓDULO pulmonar de 12.5 mm", "nódulo calcificado", "post-COVID fibrosis",
            "covid-19 pneumonia", "COVID 19 descartado", "derrame  pleural", "pleural effusion, small",
            "ÍNDICE cardiotorácico normal", "x-ray follow-up\tin 3 days", "Sin hallazgos.", "straße naïve café"]

#: Text searches compared between the word index and the scan: single words, several words, accents and
#: case, hyphenated words, parts of words, words absent, separators only.
TEXT_QUERIES = ["vidrio", "VIDRIO", "deslustrado", "glass", "las", "ground", "Ground-Glass", "ground glass",
                "d-glass", "ground-gl", "-glass", "glass-", "consolidación", "consolidacion", "NÓDULO", "nodulo",
                "nódulo pulmonar de 12.5", "12.5", "12.5 mm", "covid-19", "covid 19", "19", "post-covid fibrosis",
                "pleural effusion", "effusion pleural", "derrame  pleural", "derrame pleural", "índice", "straße",
                "naïve café", "follow-up\tin", "x", "e", "zzzz", "vidrio zzzz", "-", "...", "12.5 mm,", "sin hallazgos."]


@pytest.fixture(scope="module", params=["counts per row", "counts per text"])
def text_store(tmp_path_factory, request):
    """A store on a generated bank of 600 images whose session reports and notes mix :data:`_PHRASES`; its
    cache with and without the counts per text (``text_facets``, built when texts repeat enough)."""
    import numpy as np

    from covidbank.web import store as store_module

    rng = np.random.default_rng(20)
    tmp = tmp_path_factory.mktemp("text")
    n_ses = 240
    sessions = pd.DataFrame({
        "session_id": [f"t:s{i}" for i in range(n_ses)], "subject_id": [f"t:p{i // 2}" for i in range(n_ses)],
        "offset_days": rng.integers(0, 30, n_ses).astype(float),
        "report": [None if i % 11 == 0 else " ".join(rng.choice(_PHRASES, rng.integers(1, 4))) for i in range(n_ses)],
        "clinical_notes": [None if i % 3 else str(rng.choice(_PHRASES)) for i in range(n_ses)]})
    ses = rng.integers(0, n_ses, 600)
    images = pd.DataFrame({
        "image_id": [f"t:i{i}" for i in range(600)], "session_id": [f"t:s{s}" for s in ses],
        "subject_id": [f"t:p{s // 2}" for s in ses], "modality": rng.choice(["X-ray", "CT"], 600),
        "view": rng.choice(["PA", "AP", "Axial"], 600), "age": rng.integers(20, 90, 600).astype(float),
        "sex": rng.choice(["F", "M"], 600)})
    labels = pd.DataFrame({"image_id": images["image_id"], "label": rng.choice(["COVID-19", "Pneumonia", "No Finding"], 600),
                           "value": rng.choice([1, 1, 0, -1], 600), "origin": "source"})
    b = Bank(tmp / "b", create=True)
    b.add("t", {"images": images, "sessions": sessions, "labels": labels})
    per_text = request.param == "counts per text"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_module, "_TEXT_FACETS_SHARE", 1 if per_text else 4)
        st = BankStore(b.path, cache_dir=tmp / "cache")
    assert st._has_words and st._has_text_facets is per_text
    return st


def test_ascii_queries_split_as_in_sql(text_store):
    """An ASCII query is split into words in Python; the split equals the SQL one for every ASCII character."""
    from covidbank.web.store import _WORD_SEP

    cur = text_store._cursor()
    for c in map(chr, range(1, 128)):
        q = f"{c}a{c}{c}b1{c}"
        sql = cur.execute(f"SELECT regexp_split_to_array(?, '{_WORD_SEP}')", [q]).fetchone()[0]
        assert re.split(r"[^A-Za-z0-9]+", q) == sql, repr(c)
    cur.close()


@pytest.mark.parametrize("text", TEXT_QUERIES, ids=repr)
def test_text_index_returns_what_the_scan_returns(text_store, text):
    """A text search answered by the word index gives the total, facet counts and page of the scan
    (``strpos`` over the lower-cased report and notes) and of plain SQL, alone and with facet, age and
    label filters."""
    for extra in ({}, {"view": ["PA"]}, {"age_min": 50.0}, {"age_min": 50.5}, {"label": "COVID-19"},
                  {"label": "COVID-19", "value": "negative"}, {"page": 2, "per_page": 20}):
        q = SearchQuery(q=text, **extra)
        total, facets, page = _plain_sql(text_store, q)
        for cubes in (True, False):
            got = text_store.search(q, cubes=cubes)
            assert (got.total, {k: got.facets[k] for k in facets}) == (total, facets), (text, extra, cubes)
            assert [(r["image_id"], r["labels"]) for r in got.rows] == page


def test_text_queries_hit_and_miss(text_store):
    """The comparison above is not vacuous: most words are found, the absent ones are not."""
    totals = {t: text_store.search(SearchQuery(q=t)).total for t in TEXT_QUERIES}
    absent = {"glass-", "nodulo", "effusion pleural", "derrame pleural", "zzzz", "vidrio zzzz", "...", "12.5 mm,"}
    assert {t for t, n in totals.items() if n == 0} == absent
    assert 0 < totals["Ground-Glass"] < totals["glass"] and totals["nodulo"] == 0 < totals["NÓDULO"]


@pytest.mark.parametrize("text", [t for t in TEXT_QUERIES if t.strip(" -.,") != ""], ids=repr)
def test_text_search_is_an_index_lookup(text_store, text, monkeypatch):
    """A text search with a letter or digit is answered from the word index: the rows' text is never read."""
    cur = text_store._cursor()
    assert text_store._text_hits(cur, text.lower(), {}) is not None
    cur.close()
    real = text_store._counts_scan

    def counts(*a, **k):
        assert "strpos" not in repr(a), "scanned the text"
        return real(*a, **k)

    monkeypatch.setattr(text_store, "_counts_scan", counts)
    text_store._text_cache.clear()
    for q in (SearchQuery(q=text), SearchQuery(q=text, view=["AP"], label="Pneumonia")):
        assert text_store.search(q).total == _plain_sql(text_store, q)[0]


def test_text_search_of_separators_only_scans(text_store):
    """A query with no letter or digit (``-``) cannot be looked up in the word index; it scans."""
    cur = text_store._cursor()
    assert text_store._text_hits(cur, "-", {}) is None and text_store._text_hits(cur, "...", {}) is None
    cur.close()
