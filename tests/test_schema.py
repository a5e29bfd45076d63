"""One view map (schema.normalize_view): sources, ingest index, MIDS names and readers agree."""
from __future__ import annotations

import pytest

from covidbank.bank import Bank
from covidbank.dicom import mids
from covidbank.dicom.ingest import ingest
from covidbank.schema import VIEW_ENTITIES, VIEWS, normalize_view, view_entity
from covidbank.sources import load_source
from covidbank.sources.mids import parse_mids_name
from dicom_factory import make_cr


@pytest.mark.parametrize("raw,view", [
    ("PA", "PA"), ("POSTERO_ANTERIOR", "PA"), ("ap", "AP"), ("AP Supine", "AP Supine"), ("aps", "AP Supine"),
    ("LL", "L"), ("RL", "L"), ("LATERAL", "L"), ("lat", "L"), ("L", "L"),
    ("LLD", "Decubitus"), ("RLD", "Decubitus"), ("dec", "Decubitus"),
    ("Axial", "Axial"), ("", "unknown"), (None, "unknown"), ("?", "unknown"), ("OBLIQUE", "unknown"),
])
def test_normalize_view(raw, view):
    assert normalize_view(raw) == view
    assert normalize_view(view_entity(raw)) == (view if view in VIEW_ENTITIES else "unknown")


def test_every_view_entity_reads_back_as_its_view():
    assert set(VIEW_ENTITIES) <= set(VIEWS)
    for view, ent in VIEW_ENTITIES.items():
        assert normalize_view(ent) == view and view_entity(view) == ent
    assert mids.VIEW_ENTITIES is VIEW_ENTITIES  # one public map, not a second VIEWS of another type


def test_ingest_index_file_name_and_mids_reader_agree(tmp_path):
    """A decubitus view used to be `vp-ll` in the file name, `unknown` in the index and `L` when read back."""
    raw = tmp_path / "raw"
    positions = ["PA", "AP", "LL", "LLD", "RLD", "LATERAL", "XYZ"]
    for i, vp in enumerate(positions):
        make_cr(raw / f"i{i}.dcm", patient_id=f"P{i}", view=vp, seed=i)
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "key", new_key=True)
    im = Bank(bank).table("images")
    assert len(im) == len(positions)
    back = load_source("mids", bank).tables["images"]
    back_view = {p.rsplit("/", 1)[-1]: v for p, v in zip(back["path"], back["view"])}
    for path, view in zip(im["path"], im["view"]):
        name = path.rsplit("/", 1)[-1]
        ent = parse_mids_name(name)[0].get("vp")
        assert normalize_view(ent) == (view if ent else "unknown"), name  # file name says the index's view
        assert back_view[name] == view, name  # read back with `add mids`: the same view
    assert sorted(im["view"]) == sorted(["PA", "AP", "L", "Decubitus", "Decubitus", "L", "unknown"])
