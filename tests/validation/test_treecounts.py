"""Reading BIMCV tree_term_CUI_counts files and comparing counts with them."""
from __future__ import annotations

import pandas as pd
import pytest

from covidbank.errors import LabelError
from covidbank.validation import compare_tree_counts, read_tree_counts, tree_from_counts

TREE = """normal [CUI:C0205307, counts:236, 236]\\\\
radiological finding [CUI:C0436485, counts:0, 40]\\\\
├── unchanged [counts:21, 21]\\\\
├── infiltrates [CUI:C0277877, counts:5, 19]\\\\
│   ├── interstitial pattern [CUI:C2073538, counts:6, 8]\\\\
│   │   └── ground glass pattern [CUI:C3544344, counts:2, 2]\\\\
│   └── alveolar pattern [CUI:C1332240, counts:4, 6]\\\\
│       └── consolidation [CUI:C0521530, counts:2, 2]\\\\
└── nodule [CUI:C0034079, counts:0, 0]\\\\
"""


def test_read_tree_counts(tmp_path):
    p = tmp_path / "tree.csv"
    p.write_text(TREE, encoding="utf-8")
    ref = read_tree_counts(p)
    assert len(ref) == 9
    r = ref.set_index("label")
    assert r.loc["ground glass pattern", ["depth", "parent", "counts", "n_with_children"]].tolist() == [3, "interstitial pattern", 2, 2]
    assert r.loc["consolidation", "parent"] == "alveolar pattern"
    assert r.loc["nodule", "parent"] == "radiological finding"
    assert pd.isna(r.loc["unchanged", "cui"]) and r.loc["infiltrates", "cui"] == "C0277877"
    t = tree_from_counts(ref)
    assert t.ancestors("consolidation") == ["alveolar pattern", "infiltrates", "radiological finding"]
    assert t.resolve("C3544344") == "ground glass pattern"


def test_compare_tree_counts(tmp_path):
    p = tmp_path / "tree.csv"
    p.write_text(TREE, encoding="utf-8")
    ref = read_tree_counts(p)
    ours = pd.DataFrame({"label": ["Normal", "infiltrates", "consolidation", "atelectasis"], "cui": [None] * 4,
                         "depth": [0, 1, 3, 0], "counts": [118, 5, 1, 3], "n_with_children": [118, 6, 1, 3]})
    cmp = compare_tree_counts(ours, ref).set_index("label")
    assert cmp.loc["normal", ["ref_counts", "counts"]].tolist() == [236, 118]
    assert cmp.loc["normal", "ratio"] == 0.5
    assert pd.isna(cmp.loc["unchanged", "counts"])
    assert cmp.loc["atelectasis", "counts"] == 3 and pd.isna(cmp.loc["atelectasis", "ref_counts"])


def test_bad_files(tmp_path):
    with pytest.raises(LabelError, match="cannot read"):
        read_tree_counts(tmp_path / "missing.csv")
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(LabelError, match="not a tree_term_CUI_counts file"):
        read_tree_counts(p)


@pytest.mark.realdata
def test_real_reference_file(shared_data):
    ref = read_tree_counts(shared_data / "bimcv" / "tree_term_CUI_counts_image_covid_iter1.csv")
    assert len(ref) == 337
    r = ref.drop_duplicates("label").set_index("label")
    assert r.loc["COVID 19", ["cui", "counts", "parent"]].tolist() == ["C5203670", 831, "viral pneumonia"]
    assert r.loc["pneumonia", "n_with_children"] == 1577
    # BIMCV's second number is the count plus the children's second numbers
    kids = ref[ref.parent == "atypical pneumonia"]
    assert r.loc["atypical pneumonia", "n_with_children"] == r.loc["atypical pneumonia", "counts"] + kids["n_with_children"].sum()
