import pandas as pd
import pytest

from covidbank.errors import ReportError
from covidbank.nlp import ReportLabeler, deid_frame, label_frame, labels_to_bank_rows, read_table
from covidbank.schema import TABLES


def test_labels_to_bank_rows_values_origins_and_rollup():
    lab = ReportLabeler()
    res = [lab.label("Opacidades en vidrio deslustrado sugestivas de COVID-19. No derrame pleural."),
           lab.label("Sin hallazgos.")]
    df = labels_to_bank_rows(res, ["bimcv:img1", "bimcv:img2"], "bimcv")
    assert list(df.columns)[:6] == [c.name for c in TABLES["labels"]]
    one = df[df.image_id == "bimcv:img1"].set_index("label")
    assert one.loc["ground glass pattern", "value"] == 1 and one.loc["ground glass pattern", "origin"] == "report"
    assert one.loc["ground glass pattern", "cui"] == "C3544344"
    assert one.loc["pleural effusion", "value"] == 0
    assert one.loc["COVID 19", "value"] == -1  # "sugestivas de" is a hedge
    # parents rolled up the PadChest tree
    assert one.loc["interstitial pattern", "origin"] == "implied"
    assert one.loc["viral pneumonia", "value"] == -1
    two = df[df.image_id == "bimcv:img2"]
    assert two.label.tolist() == ["normal"] and two.value.tolist() == [1]
    with pytest.raises(ReportError):
        labels_to_bank_rows(res, ["only-one"], "bimcv")


def test_read_table_errors_name_the_file(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        read_table(tmp_path / "missing.tsv", "Report")
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\nx\ty\n", encoding="utf-8")
    with pytest.raises(ReportError, match=r"t\.tsv: no column 'Report'"):
        read_table(p, "Report")
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"Report\n\xff\xfe\x00garbage\n")
    with pytest.raises(ReportError, match="bad.tsv"):
        read_table(bad, "Report")


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_read_table_refuses_a_first_row_longer_than_the_header(tmp_path, suffix):
    """A first row with one field more than the header was read with the first column as pandas' index, every
    column shifted by one: ``Report`` held the next column (the report itself, de-identified or labelled in its
    place, was in ``id``, written back as it was)."""
    sep = "\t" if suffix == ".tsv" else ","
    p = tmp_path / f"t{suffix}"
    p.write_text(sep.join(["id", "Report"]) + "\n" + sep.join(["1", "Nombre: Pedro Garcia.", "x"]) + "\n"
                 + sep.join(["2", "Cardiomegalia."]) + "\n", encoding="utf-8")
    with pytest.raises(ReportError, match=rf"t\{suffix}: cannot read as {suffix[1:]} \(ParserError\)"):
        read_table(p, "Report")


def test_frames_keep_other_columns():
    df = pd.DataFrame({"id": ["1", "2"], "Report": ["Cardiomegalia.", "Nombre: Pedro García. NHC: 2569870."]})
    out, res = label_frame(df, "Report")
    assert out["id"].tolist() == ["1", "2"] and out["Labels"][0] == "['cardiomegaly']"
    d, spans = deid_frame(df, "Report")
    assert d["Report"][1] == "Nombre: [NAME]. NHC: [NUM]." and d["id"].tolist() == ["1", "2"]
    assert {s["row"] for s in spans} == {1} and all(set(s) == {"row", "start", "end", "category", "type"} for s in spans)


def test_parents_follow_the_one_implication_rule_whatever_the_order():
    # issue 12: a hedged ground glass named before a consolidation made ``infiltrates`` uncertain here, where the
    # documented rule (covidbank.labels.imply_parents, LabelTree.expand) makes it positive
    res = ReportLabeler().label("Posible vidrio deslustrado en lóbulo inferior derecho. Consolidación en língula.")
    vals = res.values()
    assert vals["ground glass pattern"] == -1 and vals["consolidation"] == 1
    df = labels_to_bank_rows([res], ["bimcv:img1"], "bimcv").set_index("label")
    assert df.loc["infiltrates", "value"] == 1 and df.loc["infiltrates", "origin"] == "implied"
    assert df.loc["interstitial pattern", "value"] == -1  # only the hedged ground glass is below it
    from covidbank.labels import imply_parents
    from covidbank.nlp.tables import _ancestors

    assert df["value"].to_dict() == imply_parents(vals, _ancestors)
