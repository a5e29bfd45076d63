import pytest

from covidbank.samples import make_mids_sample
from covidbank.sources import load_source
from covidbank.sources.mids import parse_mids_name


def test_parse_mids_name_tolerates_real_world_spellings():
    ent, suffix, probs = parse_mids_name("sub-1_ses-1_bp-thorax_vp_ap_dx.nii.json")
    assert ent == {"sub": "1", "ses": "1", "bp": "thorax", "vp": "ap"} and suffix == "dx"
    assert any("'_' instead of '-'" in p for p in probs)
    ent, _, probs = parse_mids_name("sub-1_ses-2_bp-thorax_bp-ap_cr.nii.gz")
    assert ent["vp"] == "ap" and any("repeats bp" in p for p in probs)
    ent, suffix, probs = parse_mids_name("sub-S1_ses-E2_run-1_bp-chest_vp-pa_cr.png")
    assert probs == [] and suffix == "cr" and ent["vp"] == "pa"


def test_sample_tree(tmp_path):
    res = load_source("mids", make_mids_sample(tmp_path / "m"))
    im = res.tables["images"].set_index("original_id")
    assert len(im) == 2
    clean = im.loc["sub-01/ses-01/mod-rx/sub-01_ses-01_run-1_bp-chest_vp-pa_cr"]
    assert clean.file_present and clean.view == "PA" and clean.manufacturer == "SampleCo" and clean.sex == "F"
    messy = im.loc["sub-02/rx/sub-02_ses-1_bp-chest_vp_ap_dx"]
    assert not messy.file_present and messy.view == "AP" and messy.session_id == "mids:sub-02/ses-1"
    assert {s.record for s in res.skipped} == {"sub-02/rx/sub-02_ses-1_bp-chest_vp_ap_dx"}


@pytest.mark.realdata
def test_real_mids_example(shared_data):
    res = load_source("mids", shared_data / "mids-example" / "RX_Thorax")
    im = res.tables["images"]
    assert set(im["subject_id"]) == {"mids:sub-1", "mids:sub-2"}
    assert im["file_present"].sum() == 1
    reasons = " ".join(s.reason for s in res.skipped)
    assert "'_' instead of '-'" in reasons and "repeats bp" in reasons and "image file missing" in reasons
    present = im[im.file_present].iloc[0]
    assert present.modality == "CR" and present.view == "AP" and present.manufacturer == "Imaging Dynamics Company Ltd."


def test_participants_row_longer_than_the_header_is_skipped_as_unreadable(tmp_path):
    """participants.tsv whose first row has one more field than the header was read with ``participant_id`` as
    pandas' index (``age`` under participant_id, the sex column under age); the table is skipped with the fixed
    reason a longer row anywhere gives, and no subject takes a value from it."""
    from .ragged import with_extra_field

    root = make_mids_sample(tmp_path / "m")
    p = root / "participants.tsv"
    good = tmp_path / "good.tsv"
    good.write_bytes(p.read_bytes())
    for row in (0, 1):
        with_extra_field(good, p, row, sep="\t")
        res = load_source("mids", root)
        assert [(s.record, s.reason) for s in res.skipped if s.record == "participants.tsv"] == \
            [("participants.tsv", "unreadable: ParserError")]
        assert res.tables["subjects"]["sex"].isna().all() and res.tables["subjects"]["age"].isna().all()


def test_skip_reasons_never_quote_the_input(tmp_path):
    """Every layout problem is stored in the bank's ``skipped`` table with fixed wording: tokens, entity values,
    folder and file names (here patients' names) were quoted in the reason. The ``record`` and ``path`` columns
    say which file it is, as ``images.original_id`` and ``images.path`` do."""
    import json

    from covidbank.bank import Bank

    root = make_mids_sample(tmp_path / "m")
    d = root / "sub-03" / "rx"
    d.mkdir(parents=True)
    # a token that is no entity, an entity given twice, an entity spelled with '_', bp repeated with a view,
    # a sub entity that is not the folder's, no ses-* folder, a .nii.json sidecar, a missing listed file
    (d / "sub-MARIA_ses-ROSA_GARCIA_acq-LOPEZ_acq-PEREZ_run_JUAN_bp-chest_bp-ap_dx.nii.json").write_text(json.dumps({"Modality": "DX"}))
    (root / "sub-03" / "sub-03_scans.tsv").write_text("filename\nrx/sub-03_ses-CARMEN_dx.png\n")
    res = load_source("mids", root)
    b = Bank(tmp_path / "bank", create=True)
    b.add("mids", res.all_tables(), meta=res.meta, root=root)
    reasons = set(b.table("skipped")["reason"])
    expected = {"a token is not an entity", "an entity given twice: first kept", "an entity uses '_' instead of '-'",
                "a second bp entity repeats bp with a view value: read as vp",
                "the file name's sub entity differs from its sub-* folder",
                "no ses-* folder; session taken from the file name (else ses-1)",
                "sidecar ends in .nii.json (should be .json)", "listed in a scans.tsv but missing"}
    assert {f"name or layout problem: {e} (record kept)" for e in expected} <= reasons, reasons
    text = " ".join(reasons).lower()
    for name in ("maria", "rosa", "garcia", "lopez", "perez", "juan", "carmen", "sub-03_scans"):
        assert name not in text, (name, reasons)


def test_meta_json_holds_no_dataset_description_value(tmp_path):
    """meta.json kept the tree's dataset_description.json verbatim: free text read from the input (a tree a
    hospital wrote may name a patient or a path). It now says which standard fields the file has, no value;
    the notes and skip reasons carry no token of the input either."""
    import json

    from covidbank.bank import Bank

    canary = "ZQXCANARY"
    root = make_mids_sample(tmp_path / "m")
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": f"{canary} chest films of 12345678_GARCIA", "BIDSVersion": "1.1.0", "License": f"CC0 {canary}",
        "Authors": [f"{canary} Perez"], "GeneratedBy": [{"Name": canary, "CodeURL": f"file:///export/{canary}"}],
        f"{canary}Field": canary}))
    d = root / "sub-03" / "rx"
    d.mkdir(parents=True)
    (d / f"sub-03_ses-1_acq-{canary}_{canary}_dx.nii.json").write_text(json.dumps({"Modality": "DX"}))
    res = load_source("mids", root)
    b = Bank(tmp_path / "bank", create=True)
    b.add("mids", res.all_tables(), meta=res.meta, root=root)
    text = (b.index_dir / "sources" / "mids" / "meta.json").read_text()
    meta = json.loads(text)
    assert canary not in text and "GARCIA" not in text and "Perez" not in text, text
    assert meta["dataset_description_fields"] == ["Authors", "BIDSVersion", "GeneratedBy", "License", "Name"]
    reasons = " ".join(b.table("skipped")["reason"])
    assert "a token is not an entity" in reasons and canary not in reasons, reasons


@pytest.mark.parametrize("content", [b"[1, 2]", b'"CC0"', b"\xff\xfe{}", b'{"License": ["CC0"]}'])
def test_a_dataset_description_that_is_no_json_object_is_a_reason_not_a_crash(tmp_path, content):
    # valid JSON that is a list or a string (``desc.get`` raised AttributeError), bytes that are not UTF-8
    # (UnicodeDecodeError), a License that is not a string: the tree is still read, the file said in a reason
    root = make_mids_sample(tmp_path / "m")
    (root / "dataset_description.json").write_bytes(content)
    res = load_source("mids", root)
    assert len(res.tables["images"]) == 2
    assert res.tables["images"]["license_raw"].isna().all()
    if content.startswith(b'{"License"'):
        return
    reasons = {s.reason for s in res.skipped if s.record == "dataset_description.json"}
    assert reasons & {"invalid JSON", "not a JSON object"}, res.skipped


@pytest.mark.parametrize("content", [b"[" * 100000 + b"]" * 100000, b'{"a":' * 50000 + b"1" + b"}" * 50000])
def test_a_deeply_nested_dataset_description_is_a_reason_not_a_crash(tmp_path, content):
    # json.loads raised RecursionError (not a ValueError) on a file nested 100000 deep
    root = make_mids_sample(tmp_path / "m")
    (root / "dataset_description.json").write_bytes(content)
    res = load_source("mids", root)
    assert len(res.tables["images"]) == 2
    assert "invalid JSON" in {s.reason for s in res.skipped if s.record == "dataset_description.json"}


def test_a_dataset_description_with_a_byte_order_mark_is_read(tmp_path):
    # a file saved by a Windows tool starts with a UTF-8 BOM: it was "invalid JSON" and its License was lost
    root = make_mids_sample(tmp_path / "m")
    (root / "dataset_description.json").write_bytes(b'\xef\xbb\xbf{"Name": "x", "License": "CC0"}')
    res = load_source("mids", root)
    assert not [s for s in res.skipped if s.record == "dataset_description.json"]
    assert res.meta["dataset_description_fields"] == ["License", "Name"]
    assert set(res.tables["images"]["license_raw"]) == {"CC0"}
