import pandas as pd
import pytest

from covidbank import Bank, BankError, QueryError
from covidbank.samples import make_cohen_sample, make_mosmed_sample
from covidbank.sources import load_source


def test_add_is_idempotent_and_sources_do_not_collide(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    cohen = load_source("cohen", make_cohen_sample(tmp_path / "c"))
    mos = load_source("mosmed", make_mosmed_sample(tmp_path / "m"))
    b.add("cohen", cohen.all_tables())
    n1 = len(b.table("images"))
    b.add("cohen", cohen.all_tables())
    assert len(b.table("images")) == n1 == len(cohen.tables["images"])
    b.add("mosmed", mos.all_tables())
    im = b.table("images")
    assert len(im) == n1 + len(mos.tables["images"])
    assert im["image_id"].is_unique
    per_subject = im.groupby("subject_id")["source"].nunique()
    assert (per_subject == 1).all()
    assert b.sources() == ["cohen", "mosmed"]
    summary = b.summary()
    assert list(summary["source"]) == ["cohen", "mosmed"]


def test_query_and_errors(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    # empty bank: every table exists with the schema's columns
    assert list(b.query("SELECT count(*) AS n FROM labels")["n"]) == [0]
    with pytest.raises(QueryError, match="query failed"):
        b.query("SELEC nonsense")
    with pytest.raises(BankError, match="no such bank"):
        Bank(tmp_path / "nope")


def test_interrupted_replace_keeps_previous_state(tmp_path, monkeypatch):
    b = Bank(tmp_path / "bank", create=True)
    b.add("x", {"images": pd.DataFrame({"image_id": ["x:1"], "subject_id": ["x:a"]})})
    real = pd.DataFrame.to_parquet

    def failing(self, path, *a, **k):  # the disk fills up midway through the new version
        if str(path).endswith("labels.parquet"):
            raise OSError("disk full")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    with pytest.raises(OSError):
        b.add("x", {"images": pd.DataFrame({"image_id": ["x:1", "x:2"]})})
    monkeypatch.undo()
    assert list(b.table("images")["image_id"]) == ["x:1"]
    assert not [p for p in (b.index_dir / "sources").iterdir() if p.name.startswith(".")]


def test_write_table_bank_wide(tmp_path):
    b = Bank(tmp_path / "bank", create=True)
    b.write_table("splits", pd.DataFrame({"subject_id": ["a", "b"], "split": ["train", "test"]}))
    assert b.query("SELECT split FROM splits ORDER BY subject_id")["split"].tolist() == ["train", "test"]


def test_corrupt_index_file_is_a_bank_error_naming_it(tmp_path, cli):
    # a truncated Parquet file in the index gave a DuckDB traceback in every bank command
    from covidbank.errors import BankError
    from covidbank.samples import make_mosmed_sample

    bank = tmp_path / "B"
    cli("add", "mosmed", make_mosmed_sample(tmp_path / "m"), "--bank", bank)
    f = bank / "index" / "sources" / "mosmed" / "images.parquet"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(BankError, match="images.parquet"):
        Bank(bank).query("SELECT count(*) FROM images")
    for args in (("query", bank, "SELECT count(*) FROM images"), ("info", bank), ("split", bank)):
        res = cli(*args, expect=1)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "images.parquet" in lines[0], res.output


def test_query_error_is_one_line(tmp_path, cli):
    # DuckDB's message spans lines (candidates, 'LINE 1:' and a caret line); CLI errors are one line
    bank = tmp_path / "B"
    cli("add", "mosmed", make_mosmed_sample(tmp_path / "m"), "--bank", bank)
    with pytest.raises(QueryError) as ei:
        Bank(bank).query("select nocol from images")
    msg = str(ei.value)
    assert "\n" not in msg and "nocol" in msg and "Candidate bindings" in msg
    res = cli("query", bank, "selec x", expect=1)
    assert len(res.output.strip().splitlines()) == 1 and "syntax error" in res.output


def test_empty_tables_are_typed_views_and_query_rows(tmp_path):
    """A table no source wrote is an empty view with the schema's types (no pandas frame registered), and
    query_rows gives the same rows as query without building a DataFrame."""
    from covidbank.schema import DUCKDB_TYPES, TABLES

    b = Bank(tmp_path / "B", create=True)
    cols, rows = b.query_rows("DESCRIBE tests")
    assert [(r[0], r[1]) for r in rows] == [(c.name, DUCKDB_TYPES[c.dtype]) for c in TABLES["tests"]]
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:1", "session_id": "s:1", "age": 7.5}])})
    cols, rows = b.query_rows("SELECT image_id, age, sex FROM images")
    assert cols == ["image_id", "age", "sex"] and rows == [("s:1", 7.5, None)]
    assert b.query("SELECT image_id, age FROM images").values.tolist() == [["s:1", 7.5]]


def test_meta_trees_are_stored_like_the_path(tmp_path, monkeypatch):
    # meta["trees"] was written as given: absolute paths naming the input's folders
    import json

    root = tmp_path / "root"
    (root / "t").mkdir(parents=True)
    (tmp_path / "GARCIA_LOPEZ").mkdir()
    monkeypatch.chdir(tmp_path)
    b = Bank(tmp_path / "bank", create=True)
    meta = {"path": str(tmp_path / "GARCIA_LOPEZ" / "table.tsv"), "rows": 3,
            "trees": [str(root / "t" / "a.txt"), tmp_path / "GARCIA_LOPEZ" / "b.txt", "GARCIA_LOPEZ/c.txt", "t/../GARCIA_LOPEZ/d.txt"]}
    b.add("s", {}, meta=meta, root=root)
    got = b.source_meta("s")
    assert got["path"] == "table.tsv" and got["rows"] == 3
    assert got["trees"] == ["t/a.txt", "b.txt", "c.txt", "d.txt"]
    assert "GARCIA_LOPEZ" not in json.dumps(got) and str(tmp_path) not in json.dumps(got)
    assert meta["trees"][1] == tmp_path / "GARCIA_LOPEZ" / "b.txt"  # the caller's dict is left as it is
