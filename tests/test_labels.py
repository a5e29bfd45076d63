from covidbank.labels import default_tree, padchest_tree, normalize_label
from covidbank.schema import NEGATIVE, POSITIVE, UNCERTAIN

import pytest


def test_cohen_hierarchy_implies_parents():
    t = default_tree()
    assert t.ancestors("COVID-19") == ["Viral", "Pneumonia"]
    assert t.expand({"COVID-19": POSITIVE}) == {"COVID-19": 1, "Viral": 1, "Pneumonia": 1}


def test_cross_source_spellings_share_a_node_by_cui():
    t = default_tree()
    assert t.resolve("COVID 19") == t.resolve("covid-19") == t.resolve("C5203670") == "COVID-19"
    assert "COVID 19" in t.names("Pneumonia")
    assert "COVID 19 uncertain" in t.names("Viral")
    assert "Streptococcus" not in t.names("Viral")


def test_expand_uncertain_and_negative():
    t = default_tree()
    assert t.expand({"SARS": UNCERTAIN}) == {"SARS": -1, "Viral": -1, "Pneumonia": -1}
    # a positive sibling wins over an uncertain one
    out = t.expand({"SARS": UNCERTAIN, "COVID-19": POSITIVE})
    assert out["Viral"] == 1 and out["SARS"] == -1
    assert t.expand({"COVID-19": NEGATIVE}) == {"COVID-19": 0}


def test_padchest_tree_file(tmp_path):
    f = tmp_path / "trees.txt"
    f.write_text(
        "label: normal\nconcept: (C0205307)  Normal\n---\nlabel: differential diagnosis\nchildren:\n"
        "- label: pneumonia\n  concept: (C0032285)  Pneumonia\n  children:\n  - label: viral pneumonia\n"
        "    concept: (C0032310)  Pneumonia Viral\n    children:\n    - label: COVID 19\n      concept: (C5203670)  COVID 19\n"
        "- label: granuloma\n  children:\n  - label: calcified granuloma\n- label: calcified densities\n  children:\n  - label: calcified granuloma\n"
    )
    t = padchest_tree([f])
    assert t.ancestors("COVID 19")[:2] == ["viral pneumonia", "pneumonia"]
    assert t.cui("normal") == "C0205307"
    assert sorted(t.parents("calcified granuloma")) == ["calcified densities", "granuloma"]


def test_bad_tree_file(tmp_path):
    from covidbank.errors import LabelError

    f = tmp_path / "bad.txt"
    f.write_text("- just\n- a list\n")
    with pytest.raises(LabelError, match="bad.txt"):
        padchest_tree([f])
    with pytest.raises(LabelError, match="not found"):
        padchest_tree([tmp_path / "missing.txt"])


def test_normalize_label():
    assert normalize_label(" 'interstitial  pattern' ") == "interstitial pattern"


@pytest.mark.realdata
def test_real_padchest_trees(shared_data):
    t = default_tree([shared_data / "bimcv" / "padchest_trees_code_covid.txt"])
    assert t.cui("COVID 19 uncertain") == "C5203671"
    assert "COVID 19" in t.names("pneumonia") and "COVID-19" in t.names("pneumonia")
    old = padchest_tree([shared_data / "bimcv" / "padchest_trees_code.txt"])
    assert len(old) > 300


def test_imply_parents_is_order_free_and_keeps_explicit_values():
    from covidbank.labels import imply_parents

    anc = {"ground glass pattern": ["interstitial pattern", "infiltrates"], "consolidation": ["alveolar pattern", "infiltrates"]}.get
    up = lambda k: anc(k) or []  # noqa: E731
    a = imply_parents({"ground glass pattern": -1, "consolidation": 1}, up)
    b = imply_parents({"consolidation": 1, "ground glass pattern": -1}, up)
    assert a == b and a["infiltrates"] == 1 and a["interstitial pattern"] == -1 and a["alveolar pattern"] == 1
    # an explicit uncertain/negative parent is raised by a positive child, never lowered by an uncertain one
    assert imply_parents({"infiltrates": 0, "consolidation": 1}, up)["infiltrates"] == 1
    assert imply_parents({"infiltrates": 0, "ground glass pattern": -1}, up)["infiltrates"] == 0
    assert imply_parents({"consolidation": 0}, up) == {"consolidation": 0}
