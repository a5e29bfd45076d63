import datetime

import pandas as pd
import pytest

from covidbank.bank import Bank
from covidbank.errors import SourceFormatError
from covidbank.samples import make_cohen_sample
from covidbank.sources import add_source, load_source
from covidbank.sources.cohen import SKIP_UNLABELLED, parse_finding
from covidbank.labels import default_tree


@pytest.mark.parametrize("hierarchical", [False, True])
def test_both_finding_formats_give_the_same_labels(tmp_path, hierarchical):
    root = make_cohen_sample(tmp_path / "c", hierarchical=hierarchical)
    res = load_source("cohen", root)
    im, lab = res.tables["images"], res.tables["labels"]
    assert len(res.skipped) == 1 and "todo" in res.skipped[0].reason
    # missing files are kept, flagged
    assert (~im["file_present"]).sum() == 2  # one missing image, one CT volume
    covid = set(lab.loc[(lab.label == "COVID-19") & (lab.value == 1), "image_id"])
    assert covid
    for parent in ("Viral", "Pneumonia"):
        assert covid <= set(lab.loc[(lab.label == parent) & (lab.value == 1), "image_id"])


def test_flat_and_tree_are_equivalent(tmp_path):
    a = load_source("cohen", make_cohen_sample(tmp_path / "a", hierarchical=False)).tables["labels"]
    b = load_source("cohen", make_cohen_sample(tmp_path / "b", hierarchical=True)).tables["labels"]
    key = lambda d: sorted(zip(d.image_id, d.label, d.value))  # noqa: E731
    assert key(a) == key(b)


def test_parse_finding():
    t = default_tree()
    assert parse_finding("COVID-19, ARDS", t) == ["COVID-19", "ARDS"]
    assert parse_finding("Pneumonia/Viral/COVID-19", t) == ["COVID-19"]
    assert parse_finding("Mycoplasma Bacterial Pneumonia", t) == ["Mycoplasma"]
    assert parse_finding("Pneumonia/Bacterial/Nocardia", t) == ["Nocardia"]
    assert t.ancestors("Nocardia") == ["Bacterial", "Pneumonia"]


def test_severity_masks_license(tmp_path):
    res = load_source("cohen", make_cohen_sample(tmp_path / "c"))
    im = res.tables["images"]
    assert im["severity_opacity"].notna().sum() == 6
    assert im["mask_path"].notna().sum() == 6
    assert set(im["license"].dropna()) == {"CC-BY-NC-SA-4.0", "CC-BY-4.0", "Apache-2.0"}


def test_missing_column_and_bad_rows(tmp_path):
    root = make_cohen_sample(tmp_path / "c")
    df = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    df.drop(columns=["finding"]).to_csv(root / "metadata.csv", index=False)
    with pytest.raises(SourceFormatError, match=r"metadata.csv: missing required column\(s\) finding"):
        load_source("cohen", root)
    df.loc[0, "patientid"] = ""
    df.to_csv(root / "metadata.csv", index=False)
    res = load_source("cohen", root)
    assert any("empty patientid" in s.reason for s in res.skipped)


@pytest.mark.realdata
def test_real_cohen(shared_data):
    res = load_source("cohen", shared_data / "cohen")
    raw = pd.read_csv(shared_data / "cohen" / "metadata.csv", dtype=str, keep_default_na=False)
    im, lab = res.tables["images"], res.tables["labels"]
    assert len(raw) == 751
    assert len(im) == 673 == len(raw) - (raw.finding == "todo").sum()
    assert len(res.skipped) == 78
    # view counts as the raw file has them (todo rows included)
    assert {k: res.meta["views_all_rows"][k] for k in ("PA", "AP", "AP Supine", "L")} == {"PA": 314, "AP": 119, "AP Supine": 137, "L": 58}
    # every file in images/ is found; the ones of kept records are flagged present
    assert res.meta["files_present_all_rows"] == 210
    assert int(im["file_present"].sum()) == 171
    assert im.loc[im.file_present, "path"].map(lambda p: __import__("os").path.isfile(p)).all()
    # subjects: distinct patientid of the kept rows
    kept = raw[raw.finding != "todo"]
    assert im["subject_id"].nunique() == kept["patientid"].nunique() == len(res.tables["subjects"])
    pos = lambda name: set(lab.loc[(lab.label == name) & (lab.value == 1), "image_id"])  # noqa: E731
    assert len(pos("COVID-19")) == (kept.finding.str.contains("COVID-19")).sum()
    assert pos("COVID-19") <= pos("Viral") <= pos("Pneumonia")
    assert im["severity_opacity"].notna().sum() == 94
    assert im["mask_path"].notna().sum() == 45


def _write_meta(root, rows):
    from covidbank.samples import _COHEN_COLUMNS

    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{c: r.get(c, "") for c in _COHEN_COLUMNS} for r in rows]).to_csv(root / "metadata.csv", index=False)
    return root


def test_columnar_rules_subject_session_image(tmp_path):
    """The columnar load keeps the row-by-row rules: a subject's sex is its first non-empty one, its age
    the first one seen unless a study at day <= 0 gives a smaller one, its survival false if any row says
    so; a session takes its first row; a repeated file name gets ``#2``; symlinks resolve."""
    root = tmp_path / "c"
    (root / "images").mkdir(parents=True)
    (tmp_path / "elsewhere.png").write_bytes(b"x")
    (root / "images" / "link.png").symlink_to(tmp_path / "elsewhere.png")
    (root / "images" / "a.PNG").write_bytes(b"x")
    base = {"finding": "COVID-19", "view": "PA", "modality": "X-ray", "folder": "images"}
    _write_meta(root, [
        {**base, "patientid": "1", "offset": "5", "age": "70", "sex": "", "survival": "Y", "filename": "a.PNG", "temperature": "38"},
        {**base, "patientid": "1", "offset": "0", "age": "68", "sex": "f", "survival": "", "filename": "b.jpg"},
        {**base, "patientid": "1", "offset": "9", "age": "60", "sex": "M", "survival": "N", "filename": "a.PNG"},
        {**base, "patientid": "1", "offset": "5", "age": "71", "filename": "link.png", "temperature": "39"},
        {**base, "patientid": "2", "offset": "", "date": "", "age": "083Y", "filename": "sub/c.nii.gz", "modality": "ct"},
        {**base, "patientid": "3", "finding": "todo", "filename": "d.png"},
    ])
    res = load_source("cohen", root)
    sub = res.tables["subjects"].set_index("subject_id")
    assert sub.loc["cohen:1", "sex"] == "F" and sub.loc["cohen:1", "age"] == 68 and not sub.loc["cohen:1", "survival"]
    assert sub.loc["cohen:2", "age"] == 83 and pd.isna(sub.loc["cohen:2", "survival"])
    ses = res.tables["sessions"].set_index("session_id")
    assert ses.loc["cohen:1/d5", "temperature"] == 38  # the session's first row
    assert ses.loc["cohen:2/sub/c.nii.gz", "modality"] == "CT"
    im = res.tables["images"].set_index("image_id")
    assert list(im.index) == ["cohen:images/a.PNG", "cohen:images/b.jpg", "cohen:images/a.PNG#2",
                              "cohen:images/link.png", "cohen:images/sub/c.nii.gz"]
    assert list(im["file_format"]) == ["png", "jpeg", "png", "png", "nifti"]
    assert list(im["file_present"]) == [True, False, True, True, False]
    assert im.loc["cohen:images/link.png", "path"] == str((tmp_path / "elsewhere.png").resolve())
    assert im.loc["cohen:images/a.PNG", "path"] == str((root / "images" / "a.PNG").resolve())
    # a fixed reason: the input's spelling of the finding is not stored in the bank
    assert [s.reason for s in res.skipped] == [SKIP_UNLABELLED] and res.skipped[0].record == "row 7"


def test_not_utf8_table_still_loads(tmp_path):
    root = make_cohen_sample(tmp_path / "c")
    raw = (root / "metadata.csv").read_bytes().replace(b"Sample City", b"S\xe9ville")
    (root / "metadata.csv").write_bytes(raw)
    res = load_source("cohen", root)
    assert res.tables["sessions"]["location"].str.contains("S\ufffdville").any()


# --- streaming: batches give the same bank as one read of the whole table -------------------------------------
def _bank_files(bank_path, res, root):
    """Add ``res`` to a new bank; its index files as Arrow tables (schema with pandas metadata, values)."""
    import pyarrow.parquet as pq

    from covidbank.bank import Bank

    b = Bank(bank_path, create=True)
    b.add("cohen", res.all_tables(), meta=res.meta, root=root)
    return {p.name: pq.read_table(p) for p in sorted((b.index_dir / "sources" / "cohen").glob("*.parquet"))}


def _assert_same_bank(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].schema.equals(b[name].schema, check_metadata=True), name
        assert a[name].equals(b[name]), name


def _meta(res):
    return {k: v for k, v in res.meta.items() if k != "path"}


def test_batches_give_the_same_bank_as_one_read(tmp_path):
    """Patients, sessions and repeated file names spanning batches (250 rows each) merge as in one read."""
    from covidbank.samples import make_cohen_table
    from covidbank.spool import SpooledTable

    root = make_cohen_table(tmp_path / "t", 3000).parent
    csv = (root / "metadata.csv").read_text()
    head, *rows = csv.splitlines(keepends=True)
    # every 10th row again at the end: its file name repeats (#2), its session and subject recur
    (root / "metadata.csv").write_text(head + "".join(rows) + "".join(rows[::10]))
    one = load_source("cohen", root, batch_rows=10**6)
    many = load_source("cohen", root, batch_rows=250)
    assert isinstance(many.all_tables()["images"], SpooledTable)
    assert _meta(one) == _meta(many) and [vars(s) for s in one.skipped] == [vars(s) for s in many.skipped]
    a, b = _bank_files(tmp_path / "one", one, root), _bank_files(tmp_path / "many", many, root)
    _assert_same_bank(a, b)
    im = b["images.parquet"].to_pandas()
    table = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    kept = table[table["finding"] != "todo"]
    assert im["image_id"].is_unique and len(im) == len(kept)
    assert im["image_id"].str.endswith("#2").sum() == kept.duplicated(["folder", "filename"]).sum() > 0
    assert b["sessions.parquet"].column("session_id").to_pandas().is_unique
    # the same tables read whole (the in-memory path of Bank.add) give the same files
    whole = load_source("cohen", root, batch_rows=250)
    frames = {k: whole.tables[k] for k in ("images", "labels", "sessions", "subjects")}
    assert all(isinstance(v, pd.DataFrame) for v in frames.values())
    _assert_same_bank(_bank_files(tmp_path / "frames", whole, root), b)
    renamed = many.renamed("site2").all_tables()
    assert renamed["images"].frame()["image_id"].str.startswith("site2:").all()


@pytest.mark.realdata
def test_real_table_twice_in_batches(tmp_path, shared_data):
    """The real Cohen table, then the same rows again, in batches of 200 rows: same bank as one read."""
    src = shared_data / "cohen"
    raw = (src / "metadata.csv").read_text(encoding="utf-8")
    head, body = raw.split("\n", 1)
    root = tmp_path / "cohen"
    (root / "annotations").mkdir(parents=True)
    (root / "metadata.csv").write_text(raw + ("" if raw.endswith("\n") else "\n") + body, encoding="utf-8")
    (root / "images").symlink_to(src / "images")
    (root / "annotations" / "covid-severity-scores.csv").symlink_to(src / "annotations" / "covid-severity-scores.csv")
    once = load_source("cohen", src)
    one = load_source("cohen", root, batch_rows=10**6)
    many = load_source("cohen", root, batch_rows=200)
    assert _meta(one) == _meta(many)
    b = _bank_files(tmp_path / "many", many, root)
    _assert_same_bank(_bank_files(tmp_path / "one", one, root), b)
    n = len(once.tables["images"])
    im = b["images.parquet"].to_pandas()
    assert len(im) == 2 * n and im["image_id"].is_unique  # the second copy's names get #2 (#3, ... for repeats)
    assert im["image_id"].iloc[:n].tolist() == once.tables["images"]["image_id"].tolist()
    assert b["sessions.parquet"].num_rows == len(once.tables["sessions"])
    assert b["subjects.parquet"].num_rows == len(once.tables["subjects"])
    assert b["labels.parquet"].num_rows == 2 * len(once.tables["labels"])


def test_not_utf8_byte_after_the_first_batches(tmp_path):
    """Arrow refuses the file after some batches: the load starts again with pandas and gives one read's result."""
    from covidbank.samples import make_cohen_table

    csv = make_cohen_table(tmp_path / "c", 6000)  # about 1.8 MB: more than one Arrow block
    raw = csv.read_bytes()
    i = raw.rindex(b"days")
    csv.write_bytes(raw[:i] + b"d\xe9ys" + raw[i + 4:])
    many = load_source("cohen", csv.parent, batch_rows=1000)
    one = load_source("cohen", csv.parent, batch_rows=10**6)
    assert many.tables["sessions"]["clinical_notes"].str.contains("d\ufffdys").sum() == 1
    _assert_same_bank(_bank_files(tmp_path / "one", one, csv.parent), _bank_files(tmp_path / "many", many, csv.parent))


@pytest.mark.parametrize("version", [2020, datetime.date(2020, 6, 22)])
def test_a_version_that_is_not_a_str_is_recorded_as_text(tmp_path, version):
    """A version given as a number or a date (as a YAML config gives it) is its text, in every table and the bank
    (the columnar build raised ArrowTypeError)."""
    root = make_cohen_sample(tmp_path / "c")
    res = load_source("cohen", root, version=version)
    for name in ("images", "sessions", "subjects"):
        assert set(res.tables[name]["source_version"]) == {str(version)}, name
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "cohen", root, version=version)
    assert set(b.table("images")["source_version"]) == {str(version)}


def test_arrow_strip_is_python_strip():
    """The adapter strips cells with ``pyarrow.compute.utf8_trim_whitespace`` (``cohen._strip``): the same
    characters as ``str.strip``, every code point checked at both ends of a cell."""
    import pyarrow as pa

    from covidbank.sources.cohen import _strip

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    cells = [c + "x" + c + "y" + c for c in chars]
    got = _strip(pa.array(cells, pa.large_string())).to_pylist()
    assert [c for c, cell, g in zip(chars, cells, got) if g != cell.strip()] == []


@pytest.mark.parametrize("end", ["", "\n"])
def test_header_only_table_loads_empty(tmp_path, end):
    """A metadata.csv of its header alone, with or without a line end, gives no rows (an empty batch is none)."""
    root = make_cohen_sample(tmp_path / "c")
    header = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()[0]
    (root / "metadata.csv").write_text(header + end, encoding="utf-8")
    res = load_source("cohen", root)
    assert res.meta["rows"] == 0 and not res.skipped
    assert all(len(res.tables[t]) == 0 for t in ("images", "labels", "sessions", "subjects"))
    s, _ = add_source(tmp_path / "bank", "cohen", root)
    assert s.counts["images"] == 0


def test_file_format_of_a_name_with_a_line_break(tmp_path):
    """The format is the suffix ``Path(name).suffix`` gives, also for a quoted name holding a line break
    (main's regex stopped at the line break and kept the name's text in ``file_format``)."""
    root = make_cohen_sample(tmp_path / "c")
    df = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    df.loc[0, "filename"] = "x\ny.JPG"
    df.to_csv(root / "metadata.csv", index=False)
    im = load_source("cohen", root).tables["images"]
    assert im.loc[im.original_id == "x\ny.JPG", "file_format"].tolist() == ["jpeg"]


def test_day_zero_written_two_ways_on_skipped_rows_only(tmp_path):
    """Offsets ``0`` and ``-0`` on skipped rows of a batch whose kept rows have no day 0: the rows load."""
    root = make_cohen_sample(tmp_path / "c")
    df = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    df = df[~df.finding.str.lower().isin(["todo", "unknown"])].reset_index(drop=True)
    df.loc[:1, "finding"] = "todo"
    df.loc[0, "offset"], df.loc[1, "offset"] = "0", "-0"
    df.loc[2:, "offset"] = "3"
    df.to_csv(root / "metadata.csv", index=False)
    res = load_source("cohen", root)
    assert len(res.skipped) == 2 and len(res.tables["images"]) == len(df) - 2
    assert set(res.tables["sessions"]["offset_days"]) == {3}


def test_skip_reasons_never_quote_the_input(tmp_path):
    # reasons stored in a bank are a fixed vocabulary: a finding spelled 'TODO ' or one the label tree cannot
    # read ('/' : LabelError, whose message quotes it) leaves no trace of its text in the reason
    root = tmp_path / "c"
    (root / "images").mkdir(parents=True)
    base = {"view": "PA", "modality": "X-ray", "folder": "images", "offset": "0", "age": "70"}
    _write_meta(root, [
        {**base, "patientid": "1", "finding": "TODO ", "filename": "a.png"},
        {**base, "patientid": "2", "finding": " / ", "filename": "b.png"},
        {**base, "patientid": "3", "finding": "COVID-19", "filename": "c.png"},
    ])
    res = load_source("cohen", root)
    reasons = [s.reason for s in res.skipped]
    assert SKIP_UNLABELLED in reasons and len(reasons) == 2, reasons
    assert "unreadable row: LabelError" in reasons, reasons
    assert all("TODO" not in r and "/" not in r and "'" not in r for r in reasons), reasons


def _header_with(root, extra: str, at_end: bool = True) -> None:
    """Add a column named ``extra`` (a copy of ``finding`` saying ``No Finding``) to the sample's metadata.csv."""
    df = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    other = pd.Series("No Finding", index=df.index)
    df.insert(len(df.columns) if at_end else 0, extra, other, allow_duplicates=True)
    df.to_csv(root / "metadata.csv", index=False)


@pytest.mark.parametrize("reader", ["arrow", "pandas"])
@pytest.mark.parametrize("extra", [" finding ", "finding\t"])
def test_header_names_equal_once_trimmed_are_an_error(tmp_path, monkeypatch, extra, reader):
    """``finding`` and ``" finding "`` in one header: a SourceFormatError naming the file and the column, from
    the Arrow reader and from the pandas reader it falls back to (the first of the two was read silently)."""
    from covidbank.sources import base

    root = make_cohen_sample(tmp_path / "c")
    _header_with(root, extra)
    if reader == "pandas":  # Arrow refuses the file (as a file not in UTF-8): the pandas reader gives the header
        def refuse(*args, **kwargs):
            raise base._ArrowRefused("refused")

        monkeypatch.setattr(base, "_arrow_batches", refuse)
        assert len(load_source("cohen", make_cohen_sample(tmp_path / "ok")).tables["images"])  # the fallback reads
    with pytest.raises(SourceFormatError, match=r"metadata\.csv: column 'finding' appears 2 times"):
        load_source("cohen", root)
    # nothing reaches the bank: one holding the source from an earlier add keeps every file as it was
    # (a bank's tables are under index/sources/<source>/, not at its top)
    bank = tmp_path / "bank"
    add_source(bank, "cohen", make_cohen_sample(tmp_path / "good"))
    files = lambda: {p.relative_to(bank): p.read_bytes() for p in sorted(bank.rglob("*")) if p.is_file()}  # noqa: E731
    before = files()
    assert any(p.name == "images.parquet" for p in before)
    with pytest.raises(SourceFormatError, match="'finding'"):
        add_source(bank, "cohen", root)
    assert files() == before


def test_repeated_header_names_keep_pandas_numbering(tmp_path):
    """The same name twice without spaces stays as pandas reads it: the second is ``finding.1`` and unread."""
    root = make_cohen_sample(tmp_path / "c")
    before = load_source("cohen", root).tables["labels"]
    _header_with(root, "finding")
    after = load_source("cohen", root).tables["labels"]
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("reader", ["arrow", "pandas"])
def test_a_first_row_longer_than_the_header_is_the_error_of_a_longer_row_anywhere(tmp_path, monkeypatch, reader):
    """A first data row with one more field than the header was read with the first column as pandas' index
    (every column shifted by one: ``patientid`` took ``offset``'s value); it is the SourceFormatError naming the
    file and the line that a longer row anywhere else gives, and nothing reaches the bank. Arrow refuses both
    files; the pandas reader it falls back to (also the reader of a file not in UTF-8) gives the error."""
    from covidbank.sources import base

    from .ragged import LONG_ROW, with_extra_field

    root = make_cohen_sample(tmp_path / "c")
    n = len(load_source("cohen", root).tables["images"])
    if reader == "pandas":
        def refuse(*args, **kwargs):
            raise base._ArrowRefused("refused")

        monkeypatch.setattr(base, "_arrow_batches", refuse)
        assert len(load_source("cohen", root).tables["images"]) == n  # the fallback reads
    lines = {}
    for row in (0, 3):
        (tmp_path / f"r{row}").mkdir()
        lines[row] = with_extra_field(root / "metadata.csv", tmp_path / f"r{row}" / "metadata.csv", row)
    assert lines == {0: 2, 3: 5}
    for row, line in lines.items():
        with pytest.raises(SourceFormatError) as e:
            load_source("cohen", tmp_path / f"r{row}")
        assert str(e.value).startswith(f"{tmp_path / f'r{row}' / 'metadata.csv'}: unreadable CSV (")
        m = LONG_ROW.search(str(e.value))
        assert m and int(m.group(1)) == line, str(e.value)
    bank = tmp_path / "bank"
    add_source(bank, "cohen", root)
    files = lambda: {p.relative_to(bank): p.read_bytes() for p in sorted(bank.rglob("*")) if p.is_file()}  # noqa: E731
    before = files()
    with pytest.raises(SourceFormatError, match=LONG_ROW.pattern):
        add_source(bank, "cohen", tmp_path / "r0")
    assert files() == before


@pytest.mark.realdata
def test_real_table_with_a_longer_first_row_is_an_error(shared_data, tmp_path):
    """The published metadata.csv with one more field on its first row (a copy in tmp_path) added 140 images
    with every value shifted by one column; it is a SourceFormatError naming line 2."""
    from .ragged import LONG_ROW, with_extra_field

    assert with_extra_field(shared_data / "cohen" / "metadata.csv", tmp_path / "metadata.csv", 0) == 2
    with pytest.raises(SourceFormatError) as e:
        load_source("cohen", tmp_path / "metadata.csv")
    m = LONG_ROW.search(str(e.value))
    assert m and m.group(1) == "2", str(e.value)


def test_canary_in_cells_and_names_never_reaches_meta_nor_reasons(tmp_path):
    """The free text ``add cohen`` writes into a bank (meta.json with its notes, the skip reasons) holds no token of
    the input: a canary in every cell, the folder and file names, bad rows of each kind (the tables keep the
    dataset's own ids and paths, as designed)."""
    import json

    canary = "ZQXCANARY"
    root = tmp_path / f"c_{canary}"
    (root / f"{canary}_images").mkdir(parents=True)
    base = {"view": f"{canary} view", "modality": "X-ray", "folder": f"{canary}_images", "offset": f"{canary}",
            "age": f"{canary}", "sex": canary, "date": canary, "survival": canary, "location": canary,
            "clinical_notes": canary}
    _write_meta(root, [
        {**base, "patientid": f"{canary}1", "finding": "todo", "filename": f"{canary}a.png"},
        {**base, "patientid": f"{canary}2", "finding": " / ", "filename": f"{canary}b.png"},
        {**base, "patientid": "", "finding": "COVID-19", "filename": f"{canary}c.png"},
        {**base, "patientid": f"{canary}4", "finding": "COVID-19", "filename": ""},
        {**base, "patientid": f"{canary}5", "finding": "Pneumonia/Viral/COVID-19", "filename": f"{canary}e.png"},
    ])
    (root / f"{canary}_images" / f"{canary}e.png").write_bytes(b"not a png")
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "cohen", root)
    assert len(b.table("images")) == 1 and len(b.table("skipped")) == 4  # not vacuous
    meta = (b.index_dir / "sources" / "cohen" / "meta.json").read_text()
    json.loads(meta)
    assert canary not in meta, meta
    reasons = " ".join(b.table("skipped")["reason"])
    assert canary not in reasons, reasons


def test_a_table_of_the_required_columns_only_is_added(tmp_path):
    # the adapter takes each column out of the batch once read: a table with none of the optional clinical columns
    # left the batch empty when they were looked for (StopIteration from first_nonempty, a traceback at `add`)
    src = tmp_path / "cohen"
    (src / "images").mkdir(parents=True)
    (src / "images" / "a.png").write_bytes(b"")
    pd.DataFrame({"patientid": ["1", "2"], "finding": ["COVID-19", "Pneumonia"], "view": ["PA", "AP"],
                  "modality": ["X-ray", "X-ray"], "filename": ["a.png", "b.png"]}).to_csv(src / "metadata.csv", index=False)
    bank = Bank(tmp_path / "bank", create=True)
    add_source(bank, "cohen", src)
    images = bank.table("images")
    assert sorted(images["subject_id"]) == ["cohen:1", "cohen:2"]
