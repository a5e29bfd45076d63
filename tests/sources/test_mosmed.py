import pytest

from covidbank.errors import SourceFormatError
from covidbank.samples import make_mosmed_sample
from covidbank.sources import load_source


def test_sample_registry_and_folder_layout(tmp_path):
    root = make_mosmed_sample(tmp_path / "m")
    a = load_source("mosmed", root)
    assert a.meta["categories"] == {"CT-0": 2, "CT-1": 3, "CT-2": 2, "CT-3": 1, "CT-4": 1}
    assert a.meta["masks"] == 3 and a.meta["volumes_missing"] == 7
    (root / "dataset_registry.csv").unlink()
    b = load_source("mosmed", root)  # only the 2 volumes on disk are found by walking studies/
    assert len(b.tables["images"]) == 2 and b.tables["images"]["file_present"].all()


def test_not_a_mosmed_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "readme.txt").write_text("hi")
    with pytest.raises(SourceFormatError, match="not a MosMedData folder"):
        load_source("mosmed", tmp_path / "x")


@pytest.mark.realdata
def test_real_mosmed(shared_data):
    res = load_source("mosmed", shared_data / "mosmed")
    assert res.meta["categories"] == {"CT-0": 254, "CT-1": 684, "CT-2": 125, "CT-3": 45, "CT-4": 2}
    im = res.tables["images"]
    assert len(im) == 1110 and im["mask_path"].notna().sum() == 50
    assert (im.loc[im.mask_path.notna(), "ct_category"] == "CT-1").all()
    assert not im["file_present"].any()


def test_registry_names_equal_once_trimmed_are_an_error(tmp_path):
    import pandas as pd

    root = make_mosmed_sample(tmp_path / "m")
    reg = pd.read_csv(root / "dataset_registry.csv", dtype=str, keep_default_na=False)
    reg.insert(0, "category ", "CT-0")
    reg.to_csv(root / "dataset_registry.csv", index=False)
    with pytest.raises(SourceFormatError, match=r"dataset_registry\.csv: column 'category' appears 2 times"):
        load_source("mosmed", root)


def test_a_first_row_longer_than_the_header_is_the_error_of_a_longer_row_anywhere(tmp_path):
    """A registry whose first row has one more field than the header was read with ``study_id`` as pandas'
    index (every column shifted by one); it is the SourceFormatError naming the file and the line that a longer
    row anywhere gives."""
    from .ragged import LONG_ROW, with_extra_field

    root = make_mosmed_sample(tmp_path / "m")
    reg = root / "dataset_registry.csv"
    good = tmp_path / "good.csv"
    good.write_bytes(reg.read_bytes())
    for row in (0, 4):
        line = with_extra_field(good, reg, row, encoding="utf-8-sig")
        with pytest.raises(SourceFormatError) as e:
            load_source("mosmed", root)
        assert str(e.value).startswith(f"{reg}: unreadable registry (")
        m = LONG_ROW.search(str(e.value))
        assert m and int(m.group(1)) == line == row + 2, str(e.value)


def test_skip_reasons_never_quote_the_input(tmp_path):
    """Reasons stored in a bank are fixed wording: a category spelled as a name and a missing mask file named
    after a patient leave no trace of either in the bank's ``skipped`` table (both were quoted in the reason)."""
    import pandas as pd

    from covidbank.bank import Bank

    root = make_mosmed_sample(tmp_path / "m")
    reg_path = root / "dataset_registry.csv"
    reg = pd.read_csv(reg_path, dtype=str, keep_default_na=False)
    reg.loc[0, "category"] = "GARCIA LOPEZ"
    reg.loc[1, "mask_file"] = "/masks/maria_perez_mask.nii.gz"
    reg.to_csv(reg_path, index=False)
    res = load_source("mosmed", root)
    b = Bank(tmp_path / "bank", create=True)
    b.add("mosmed", res.all_tables(), meta=res.meta, root=root)
    skipped = b.table("skipped")
    assert sorted(skipped["reason"]) == ["category is not one of CT-0, CT-1, CT-2, CT-3, CT-4",
                                         "mask file listed but missing; study kept without mask"]
    text = skipped.astype(str).to_csv(index=False).lower()
    assert "garcia" not in text and "lopez" not in text and "maria" not in text and "perez" not in text, text


@pytest.mark.parametrize("form", ["registry", "folders"])
def test_canary_in_cells_and_names_reaches_only_ids_and_paths(tmp_path, form):
    """A token in the registry's cells (bad rows: category, missing mask, unreadable id, an extra column) or in
    the folder layout's file and folder names reaches only the published ids and file paths (held)."""
    import pandas as pd

    from covidbank.bank import Bank
    from covidbank.sources import add_source
    from sources.test_bimcv import CANARY, _assert_no_canary

    root = make_mosmed_sample(tmp_path / f"m_{CANARY}")
    if form == "registry":
        reg = pd.read_csv(root / "dataset_registry.csv", dtype=str, keep_default_na=False)
        reg.loc[0, "category"] = CANARY
        reg.loc[1, "mask_file"] = f"/masks/{CANARY}_mask.nii.gz"
        reg.loc[2, ["study_id", "study_file"]] = [CANARY, f"/studies/{CANARY}.nii.gz"]
        reg[f"{CANARY}_notes"] = CANARY
        reg.to_csv(root / "dataset_registry.csv", index=False)
    else:
        (root / "dataset_registry.csv").unlink()
        (root / "studies" / f"CT-{CANARY}").mkdir()
        (root / "studies" / f"CT-{CANARY}" / "study_0099.nii.gz").write_bytes(b"x")
        (root / "studies" / "CT-0" / f"{CANARY}.nii.gz").write_bytes(b"x")
        (root / "studies" / "CT-0" / f"study_0098_{CANARY}.nii.gz").write_bytes(b"x")  # its path holds it, by design
    b = Bank(tmp_path / "bank", create=True)
    add_source(b, "mosmed", root)
    assert len(b.table("images")) >= 3 and len(b.table("skipped")) == (3 if form == "registry" else 1)  # not vacuous
    _assert_no_canary(b.path)
