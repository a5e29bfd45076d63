"""covidbank.dicom.denylist: identifying header values searched for in any text."""
from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset

from covidbank.dicom.denylist import DenyList, normalize_with_offsets


def _ds() -> Dataset:
    ds = Dataset()
    ds.PatientName = "GARCIA LOPEZ^MARIA"
    ds.PatientID = "99887766"
    ds.PatientBirthDate = "19650412"
    ds.StudyDate = "20200315"
    ds.AccessionNumber = "2020RX0099887"
    ds.InstitutionName = "Hospital General de Valencia"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = "1.2.3.19650412.99887766"
    ds.ReferringPhysicianName = "RAMIREZ^JOSE"
    ds.InstitutionalDepartmentName = "RADIOLOGY"
    return ds


@pytest.mark.parametrize("text, category", [
    ("Paciente: maria garcia lopez", "name"),
    ("Sra. García-López", "name"),
    ("GAR\u200bCIA", "name"),
    ("NHC 99\u00a0887\u00a0766", "id"),
    ("NHC ９９８８７７６６", "id"),
    ("acc 2020RX0099887", "id"),
    ("nacida el 12/04/1965", "date"),
    ("nacida el 12-4-65", "date"),
    ("fecha 1965-04-12", "date"),
    ("el 15 de marzo de 2020", "date"),
    ("on March 15, 2020", "date"),
    ("StudyDate 20200315", "date"),
    ("remitido por el doctor Ramírez", "name"),
    ("HOSPITAL GENERAL DE VALENCIA", "institution"),
    ("uid 1.2.3.19650412.99887766", "uid"),
])
def test_each_written_form_is_found(text, category):
    hits = DenyList.from_dataset(_ds()).find(text)
    assert category in {h.category for h in hits}, hits


@pytest.mark.parametrize("text", [
    "Opacidades periféricas bilaterales. No derrame pleural.",
    "SOP class 1.2.840.10008.5.1.4.1.1.1.1",   # a class UID names no one
    "199887766123",                             # an id inside a longer number is not the id
    "RADIOLOGY department",                     # one-word department is not evidence
    "Mariano Garcíaz",                          # words that merely start like a name
    "12/04/1966",
])
def test_clean_text_has_no_hit(text):
    assert DenyList.from_dataset(_ds()).find(text) == []


def test_hits_map_back_to_the_original_offsets():
    text = "Pac. MARÍA  garcía-lópez, nhc 99887766."
    hits = DenyList.from_dataset(_ds()).find(text)
    assert [text[h.start:h.end] for h in hits] == ["MARÍA", "garcía-lópez", "99887766"]
    assert all(set(h.to_dict()) == {"start", "end", "category", "keyword"} for h in hits)


def test_normalize_drops_zero_width_and_accents():
    norm, offs = normalize_with_offsets("Ma\u200bría")
    assert norm == "maria" and offs == [0, 1, 3, 4, 5]


def test_nested_sequences_are_walked():
    ds = _ds()
    item = Dataset()
    item.PatientName = "OTRO^PACIENTE"
    ds.OtherPatientIDsSequence = [item]
    assert DenyList.from_dataset(ds).find("paciente otro")


@pytest.mark.realdata
def test_real_phi_fixture_values_are_found(shared_data):
    ds = pydicom.dcmread(shared_data / "dicom" / "ctbrain1.dcm")
    dl = DenyList.from_dataset(ds)
    pn = str(ds.PatientName).replace("^", " ")
    assert {h.keyword for h in dl.find(f"Patient {pn}, MRN {ds.PatientID}")} >= {"PatientName", "PatientID"}


def _flat_find(dl: DenyList, text: str) -> list[tuple]:
    """The reference search: one flat alternation of every term, longest first (the expression before grouping)."""
    import re

    from covidbank.dicom.denylist import _SEP, _date_patterns

    parts, groups = [], []
    for t in sorted(dl.terms, key=lambda t: (-len(t.text), t.category, t.text)):
        if t.category in ("name", "address", "institution"):
            pats = [r"(?<![0-9a-z])" + _SEP.join(map(re.escape, t.text.split(" "))) + r"(?![0-9a-z])"]
        elif t.category == "date":
            pats = [p for p, _ in _date_patterns(t.text)]
        else:
            pats = [r"(?<![0-9a-z])" + r"[^0-9a-z\x00]{0,3}".join(map(re.escape, t.text)) + r"(?![0-9a-z])"]
        for p in pats:
            parts.append(f"(?P<g{len(groups)}>{p})")
            groups.append(t)
    rx = re.compile("|".join(parts))
    norm, offs = normalize_with_offsets(text)
    out, pos = [], 0
    while (m := rx.search(norm, pos)) is not None:
        if m.end() == m.start():
            pos = m.start() + 1
            continue
        t = groups[int(m.lastgroup[1:])]
        out.append((offs[m.start()], offs[m.end() - 1] + 1, t.category, t.keyword))
        pos = m.end()
    return out


def test_grouped_search_finds_what_a_flat_alternation_finds():
    """The search compiles only the terms a text can hold, grouped by first character (a flat alternation of
    hundreds of terms took minutes on a bank); the hits, offsets and terms reported stay those of the flat one."""
    import random

    dl = DenyList.from_dataset(_ds())
    rng = random.Random(7)
    for i in range(60):  # a cohort's worth of terms sharing first characters and prefixes
        dl.add(f"{rng.randint(10**7, 10**8 - 1)}", "id", "PatientID")
        dl.add(f"1.2.826.0.1.{rng.randint(1, 10**9)}", "uid", "SOPInstanceUID")
        dl.add(f"{rng.choice(['GARCIA', 'GARCES', 'LOPEZ', 'LOPE'])}{i}^ANA^M", "name", "PatientName")
        dl.add(f"20{rng.randint(10, 21)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}", "date", "StudyDate")
    terms = [t.text for t in dl.terms]
    noise = "abcgl0129 -/.,^\u00e1\u200b"
    for _ in range(6):
        text = " ".join(rng.choice(terms) if rng.random() < 0.3 else
                        "".join(rng.choice(noise) for _ in range(rng.randint(1, 10))) for _ in range(120))
        text += " 15 de marzo de 2020, March 15, 2020, 12/04/1965, Garcia-Lopez, Maria; 99 887 766"
        hits = [(h.start, h.end, h.category, h.keyword) for h in dl.find(text)]
        assert hits == _flat_find(dl, text) and len(hits) > 20
    assert dl.find("nothing here at all") == []
