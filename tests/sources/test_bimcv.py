import pytest

from covidbank.sources import load_source
from covidbank.sources.bimcv import parse_label_list
from covidbank.samples import make_bimcv_sample


def test_parse_label_list():
    assert parse_label_list("', 'aortic elongation', 'apical pleural thickening") == ["aortic elongation", "apical pleural thickening"]
    assert parse_label_list("['COVID 19', ' interstitial pattern']") == ["COVID 19", "interstitial pattern"]
    assert parse_label_list("increased density', ' normal', 'COVID 19") == ["increased density", "normal", "COVID 19"]
    assert parse_label_list("") == []


def test_sample_table(tmp_path):
    res = load_source("bimcv", make_bimcv_sample(tmp_path / "t.tsv"))
    im, lab = res.tables["images"], res.tables["labels"]
    assert im["image_id"].is_unique
    assert not lab["label"].str.contains(r"^\s|\s$|'", regex=True).any()
    covid = lab[lab.label == "COVID 19"]
    assert (covid.cui == "C5203670").all()
    # built-in spine: COVID 19 implies viral pneumonia and pneumonia in PadChest spelling
    assert set(covid.image_id) <= set(lab.loc[lab.label == "viral pneumonia", "image_id"])
    assert set(covid.image_id) <= set(lab.loc[lab.label == "pneumonia", "image_id"])
    assert set(im["age"].dropna()) and im["age"].between(20, 95).all()


@pytest.mark.realdata
def test_real_bimcv_table(shared_data):
    res = load_source("bimcv", shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv")
    im, lab, subj = res.tables["images"], res.tables["labels"], res.tables["subjects"]
    assert len(subj) == 922 and len(im) == 3828 and im["image_id"].is_unique
    assert not lab["label"].str.contains(r"^\s|\s$|'|\"", regex=True).any()
    assert (lab.loc[lab.label == "COVID 19", "cui"] == "C5203670").all()
    assert (lab.loc[lab.label == "COVID 19 uncertain", "cui"] == "C5203671").all()
    assert lab["cui"].notna().mean() > 0.8
    assert set(im["modality"]) == {"CR", "DX", "CT"}
    import pandas as pd

    raw = pd.read_csv(shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert im["age"].notna().sum() == (raw["Patient's Age"].str.strip() != "").sum()
    assert im["age"].max() < 110 and im["age"].min() >= 0
    assert (subj["sex"] == "F").sum() > 0


def test_mids_release_tree_with_derivatives(tmp_path):
    from covidbank.samples import make_bimcv_tree_sample

    res = load_source("bimcv", make_bimcv_tree_sample(tmp_path / "tree"))
    im, lab, tests = res.tables["images"], res.tables["labels"], res.tables["tests"]
    assert len(im) == 3 and im["file_present"].all() and set(im["view"]) == {"PA", "AP"}
    assert im.set_index("subject_id")["age"].to_dict() == {"bimcv:sub-S00001": 70.0, "bimcv:sub-S00002": 55.0}
    by_img = lab[lab.origin == "source"].groupby("image_id")["label"].apply(set).to_dict()
    assert by_img["bimcv:sub-S00001/ses-E00001/mod-rx/sub-S00001_ses-E00001_run-1_bp-chest_vp-pa_cr"] == {"COVID 19", "interstitial pattern"}
    assert (lab.loc[lab.label == "COVID 19 uncertain", "cui"] == "C5203671").all()
    assert any("not in the tree" in s.reason for s in res.skipped)
    assert sorted(zip(tests.test_type, tests.result)) == [("IgG", "negative"), ("IgM", "indeterminate"), ("PCR", "positive")]
    ses = res.tables["sessions"].set_index("session_id")
    assert ses.loc["bimcv:sub-S00001/ses-E00002", "report"] == "sin cambios ."


def test_row_cuis_never_land_on_another_label():
    from covidbank.labels import padchest_tree
    from covidbank.sources.bimcv import label_rows

    t = padchest_tree()
    t.add("increased density", "C1443940")
    t.add("unchanged")
    rows = {r["label"]: r["cui"] for r in label_rows("x", ["unchanged", "increased density"], ["C1443940", "C0205307"], t)}
    assert rows["unchanged"] is None and rows["increased density"] == "C1443940"
    rows = {r["label"]: r["cui"] for r in label_rows("x", ["mystery finding"], ["C9999999"], t)}
    assert rows["mystery finding"] == "C9999999"


@pytest.mark.realdata
def test_real_cuis_are_consistent(shared_data):
    res = load_source("bimcv", shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv")
    lab = res.tables["labels"].dropna(subset=["cui"])
    per_cui = lab.groupby("cui")["label"].nunique()
    assert (per_cui == 1).all(), per_cui[per_cui > 1]


def test_reports_are_deidentified_before_the_bank(tmp_path):
    import pandas as pd

    path = make_bimcv_sample(tmp_path / "t.tsv")
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.loc[0, "Report"] = "informe del dia 27/01/2020 . nhc 1645689 . firmado dra . lopez martinez ."
    df.to_csv(path, sep="\t", index=False)
    ses = load_source("bimcv", path).tables["sessions"]
    text = " ".join(ses["report"].dropna())
    for phi in ("27/01/2020", "1645689"):
        assert phi not in text
    assert "[FECHA]" in text and "[NUM]" in text


def test_row_cut_short_at_the_end_is_skipped(tmp_path):
    # a TSV cut off mid-row loaded its last row with empty fields as if complete
    tsv = make_bimcv_sample(tmp_path / "t.tsv")
    full = load_source("bimcv", tsv)
    lines = tsv.read_bytes().rstrip(b"\n").split(b"\n")
    last = lines[-1]
    cut = tmp_path / "cut.tsv"
    fields = last.split(b"\t")
    cut.write_bytes(b"\n".join(lines[:-1] + [b"\t".join(fields[: len(fields) // 2])]))  # Subject..File intact
    res = load_source("bimcv", cut)
    assert len(res.tables["images"]) == len(full.tables["images"]) - 1
    assert any("cut short" in s.reason and str(len(lines)) in s.record for s in res.skipped)


def test_cuis_are_aligned_only_with_certainty():
    from covidbank.sources.bimcv import align_cuis, parse_cui_list, raw_label_list

    # the published row: 'pseudonodule' and 'unchanged' have no CUI, '' meets an empty CUI, 'pneumonia' repeats
    labels = raw_label_list("emphysema', 'pseudonodule', '', 'COVID 19', ' pneumonia', 'pneumonia', 'unchanged', 'cyst")
    cuis = parse_cui_list("C0034067,,C5203670,C0032285,C0032285,C2073485", keep_empty=True)
    # without a vocabulary, two labels may be the CUI-less ones in several ways: nothing around them is certain
    known = {"pseudonodule": None, "unchanged": None}
    got = align_cuis(labels, cuis, known)
    assert got == {"emphysema": "C0034067", "COVID 19": "C5203670", "pneumonia": "C0032285", "cyst": "C2073485"}
    unknown = align_cuis(labels, cuis)
    assert "unchanged" not in unknown and "pseudonodule" not in unknown
    assert all(got[k] == v for k, v in unknown.items())
    # counts that line up but contradict the vocabulary: nothing attached
    assert align_cuis(["unchanged", "increased density"], ["C1443940", "C0205307"], {"unchanged": None}) == {}


@pytest.mark.realdata
def test_no_tree_beside_the_table_gives_no_misaligned_cuis(shared_data, tmp_path):
    # issue 12: without a PadChest tree beside the table, CUIs were attached by position ('unchanged' got eight)
    import os

    tsv = tmp_path / "dev.tsv"
    os.symlink(shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv", tsv)
    res = load_source("bimcv", tsv)
    assert res.meta["trees"] == []
    lab = res.tables["labels"]
    per_label = lab.dropna(subset=["cui"]).groupby("label")["cui"].nunique()
    assert (per_label == 1).all(), per_label[per_label > 1]
    per_cui = lab.dropna(subset=["cui"]).groupby("cui")["label"].nunique()
    assert (per_cui == 1).all(), per_cui[per_cui > 1]
    assert lab.loc[lab.label == "unchanged", "cui"].isna().all()
    assert lab["cui"].notna().mean() > 0.8


def test_header_names_equal_once_trimmed_are_an_error(tmp_path):
    import pandas as pd

    from covidbank.errors import SourceFormatError

    t = make_bimcv_sample(tmp_path / "t.tsv")
    df = pd.read_csv(t, sep="\t", dtype=str, keep_default_na=False)
    df.insert(len(df.columns), " File ", "x.png")
    df.to_csv(t, sep="\t", index=False)
    with pytest.raises(SourceFormatError, match=r"t\.tsv: column 'File' appears 2 times"):
        load_source("bimcv", t)


def test_a_first_row_longer_than_the_header_is_the_error_of_a_longer_row_anywhere(tmp_path):
    """A first row with one more field than the header was read with ``Subject`` as pandas' index (every column
    shifted by one); it is the SourceFormatError naming the file and the line that a longer row anywhere gives."""
    from covidbank.errors import SourceFormatError

    from .ragged import LONG_ROW, with_extra_field

    t = make_bimcv_sample(tmp_path / "t.tsv")
    for row in (0, 2):
        bad = tmp_path / f"r{row}.tsv"
        line = with_extra_field(t, bad, row, sep="\t")
        with pytest.raises(SourceFormatError) as e:
            load_source("bimcv", bad)
        assert str(e.value).startswith(f"{bad}: unreadable table (")
        m = LONG_ROW.search(str(e.value))
        assert m and int(m.group(1)) == line, str(e.value)


_TREE = "label: normal\nconcept: (C0205307)  Normal\n---\nlabel: COVID 19\nconcept: (C5203670)  COVID-19\n"


@pytest.mark.parametrize("form", ["table", "mids tree"])
def test_meta_json_names_no_input_folder_nor_file(tmp_path, form):
    # meta.json kept the label-tree files as absolute paths and the notes named the table and the tree files
    import json
    import re

    from covidbank import Bank
    from covidbank.samples import make_bimcv_tree_sample
    from covidbank.sources import add_source

    outside = tmp_path / "GARCIA_LOPEZ" / "trees_code_covid.txt"
    outside.parent.mkdir()
    outside.write_text(_TREE)
    if form == "table":
        data = make_bimcv_sample(tmp_path / "data" / "PEREZ_dev.tsv")
        inside = data.parent / "trees" / "padchest_trees_code.txt"
    else:
        data = make_bimcv_tree_sample(tmp_path / "data")
        inside = data / "trees" / "padchest_trees_code.txt"
    inside.parent.mkdir()
    inside.write_text(_TREE)
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "bimcv", data, trees=[outside, inside])
    text = (b.index_dir / "sources" / "bimcv" / "meta.json").read_text()
    meta = json.loads(text)
    assert "GARCIA_LOPEZ" not in text and str(tmp_path) not in text
    assert not re.search(r'"/', text)  # no absolute path anywhere
    assert meta["trees"] == ["trees_code_covid.txt", "trees/padchest_trees_code.txt"]
    notes = " ".join(meta["notes"])
    assert "PEREZ" not in notes and ".txt" not in notes
    assert ("label tree given: 2 trees_code file(s)" in notes) == (form == "table")


CANARY = "ZQXCANARY"
#: Columns that hold the dataset's own public ids, file paths and published descriptive text by design.
BY_DESIGN = {"path", "mask_path", "original_id", "subject_id", "session_id", "image_id", "label", "report",
             "manufacturer", "model", "body_part", "exclude_reason"}


def bank_text_outside_design(bank) -> str:
    """Everything a bank holds as text (file and folder names, file contents, every parquet cell stringified)
    except what holds the public dataset's ids and paths by design: :data:`BY_DESIGN` columns, ``meta.json``'s
    ``path`` (the main file's name) and ``bank.json`` (the source's root, against which its files resolve)."""
    import json

    import pandas as pd

    parts = []
    for p in sorted(bank.rglob("*")):
        parts.append(str(p.relative_to(bank)))
        if not p.is_file() or p.name == "bank.json":
            continue
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            parts.append(df.drop(columns=[c for c in df.columns if c in BY_DESIGN]).astype(str).to_csv())
        elif p.name == "meta.json":
            meta = json.loads(p.read_text())
            meta.pop("path", None)
            parts.append(json.dumps(meta))
        else:
            parts.append(p.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def _assert_no_canary(bank):
    text = bank_text_outside_design(bank)
    at = text.find(CANARY)
    assert at < 0, text[max(0, at - 300): at + 100]


def test_canary_in_table_cells_and_names_reaches_no_fixed_column_nor_reason(tmp_path):
    """A token in every cell of the image table (bad rows too) and in its folder and file name reaches only the
    columns that hold published ids, paths and descriptive text by design (:data:`BY_DESIGN`): modality, study
    date, photometric interpretation and LUT shape were copied verbatim (modality upper-cased)."""
    import pandas as pd

    from covidbank import Bank
    from covidbank.sources import add_source

    t = make_bimcv_sample(tmp_path / f"in_{CANARY}" / f"table_{CANARY}.tsv")
    df = pd.read_csv(t, sep="\t", dtype=str, keep_default_na=False)
    df["Study Date"] = "20200313"
    df["Presentation LUT Shape"] = "IDENTITY"
    for c in df.columns:
        if c not in ("Subject", "Session", "File", "Labels", "labelCUIS"):
            df.loc[0, c] = f"{CANARY}{c}"
    df.loc[1, "Subject"] = ""  # skipped: empty Subject
    df.loc[2, "labelCUIS"] = f"{CANARY},C0205307"
    df.to_csv(t, sep="\t", index=False)
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "bimcv", t)
    im, ses = b.table("images"), b.table("sessions")
    assert len(im) > 10 and len(b.table("skipped")) == 1  # not vacuous
    assert set(im["modality"]) <= {"CR", "DX", "CT", "X-ray"} and set(im["photometric"].dropna()) == {"MONOCHROME1", "MONOCHROME2"}
    assert set(ses["date"].dropna()) == {"20200313"} and ses["date"].isna().sum() == 1
    assert set(im["presentation_lut_shape"].dropna()) == {"IDENTITY"}
    _assert_no_canary(b.path)


def test_canary_in_tree_sidecars_and_derivatives_reaches_no_fixed_column_nor_reason(tmp_path):
    """The MIDS release tree: a token in sidecar values, participants, derivatives cells and their file names
    (an unreadable one, a row for a session not in the tree) reached the tests' type and date (copied when not
    recognised) and the skip records (which named the derivatives file)."""
    import json

    from covidbank import Bank
    from covidbank.samples import make_bimcv_tree_sample
    from covidbank.sources import add_source

    root = make_bimcv_tree_sample(tmp_path / f"tree_{CANARY}")
    sc = next((root / "sub-S00001" / "ses-E00001" / "mod-rx").glob("*.json"))
    sc.write_text(json.dumps({"Modality": f"{CANARY}M", "PhotometricInterpretation": f"{CANARY}P",
                              "PresentationLUTShape": f"{CANARY}L", "PatientSex": CANARY, "PatientAge": CANARY,
                              "ViewPosition": CANARY}))
    (root / "participants.tsv").write_text(f"participant\tage\tgender\nsub-S00001\t[{CANARY}]\t{CANARY}\nsub-S00002\t[55]\tF\n")
    lab = root / "derivatives" / "labels"
    (lab / f"labels_{CANARY}.tsv").write_text(f"ReportID\tReport\tLabels\tlabelCUIS\nE0{CANARY}\tr\t['normal']\t{CANARY}\n")
    (lab / f"bad_{CANARY}.tsv").write_bytes(b"")
    (root / "derivatives" / "EHR" / f"tests_{CANARY}.tsv").write_text(
        f"participant\tfecha\ttipo_test\tresultado\nsub-S00001\t{CANARY}\t{CANARY}type\t{CANARY}res\n")
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "bimcv", root)
    tests = b.table("tests")
    assert len(tests) == 4 and len(b.table("labels")) > 0  # not vacuous
    assert sorted(tests["test_type"]) == ["IgG", "IgM", "PCR", "other"] and tests["date"].isna().sum() == 1
    sk = b.table("skipped")
    assert {"unreadable: EmptyDataError", "labels for session not in the tree"} <= set(sk["reason"]), sk
    _assert_no_canary(b.path)
