import csv
import json

import pandas as pd


def test_deid_text_table_with_spans_side_file(cli, tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("pid\tReport\np1\tNombre: Pedro García. Ingreso el 27/01/2020.\n"
                   "p1\tControl del Dr. García el 30/01/2020.\n", encoding="utf-8")
    out = tmp_path / "out.tsv"
    res = cli("deid-text", src, "--text-column", "Report", "--out", out)
    assert "Pedro" not in res.output and "García" not in res.output
    df = pd.read_csv(out, sep="\t", dtype=str, quoting=csv.QUOTE_NONE)
    assert df["Report"].tolist() == ["Nombre: [NAME]. Ingreso el [FECHA].", "Control del Dr. [NAME] el [FECHA]."]
    spans = [json.loads(x) for x in (tmp_path / "out.tsv.spans.jsonl").read_text().splitlines()]
    assert {(s["row"], s["category"]) for s in spans} == {(0, "NAME"), (0, "FECHA"), (1, "NAME"), (1, "FECHA")}
    side = (tmp_path / "out.tsv.spans.jsonl").read_text()
    assert "Pedro" not in side and "García" not in side
    # surrogates, consistent within the patient, dates shifted
    out2 = tmp_path / "out2.tsv"
    cli("deid-text", src, "-c", "Report", "-o", out2, "--surrogates", "--patient-column", "pid", "--shift-days", "2")
    d2 = pd.read_csv(out2, sep="\t", dtype=str, quoting=csv.QUOTE_NONE)["Report"].tolist()
    assert "29/01/2020" in d2[0] and "01/02/2020" in d2[1] and "García" not in " ".join(d2)
    surname0 = d2[0].split("Nombre: ")[1].split(".")[0].split()[-1]
    assert f"Dr. {surname0} " in d2[1]


def test_deid_text_plain_file(cli, tmp_path):
    src = tmp_path / "r.txt"
    src.write_text("Informe firmado por la Dra. Marín, Hospital Clínico San Carlos.", encoding="utf-8")
    cli("deid-text", src, "-o", tmp_path / "r.deid.txt")
    assert (tmp_path / "r.deid.txt").read_text() == "Informe firmado por la Dra. [NAME], [INST]."


def test_label_reports_bimcv_columns_and_bank_rows(cli, tmp_path):
    src = tmp_path / "rep.tsv"
    src.write_text("File\tReport\nimg1.png\tno derrame pleural . cardiomegalia .\n"
                   "img2.png\topacidades perifericas bilaterales sugestivas de covid 19 .\n", encoding="utf-8")
    out = tmp_path / "lab.tsv"
    cli("label-reports", src, "--out", out)
    df = pd.read_csv(out, sep="\t", dtype=str, quoting=csv.QUOTE_NONE)
    assert df["Labels"].tolist() == ["['cardiomegaly']", "['increased density', 'COVID 19']"]
    assert df["labelCUIS"].tolist()[1] == "['C1443940', 'C5203670']"
    rows = tmp_path / "rows.parquet"
    cli("label-reports", src, "-o", rows, "--bank-rows", "--image-column", "File", "--source", "bimcv")
    r = pd.read_parquet(rows)
    assert set(r.origin) == {"report", "implied"} and set(r.source) == {"bimcv"}
    # bank image ids are source-prefixed (schema.make_id), so the rows join the bank's images
    assert ((r.image_id == "bimcv:img1.png") & (r.label == "pleural effusion") & (r.value == 0)).any()
    assert r.image_id.str.startswith("bimcv:").all()


def test_errors_are_one_line_and_name_the_file(cli, tmp_path):
    res = cli("label-reports", tmp_path / "nope.tsv", "-o", tmp_path / "x.tsv", expect=1)
    assert "nope.tsv" in res.output and "Traceback" not in res.output
    src = tmp_path / "t.tsv"
    src.write_text("a\tb\n1\t2\n")
    res = cli("label-reports", src, "-o", tmp_path / "x.tsv", expect=1)
    assert "no column 'Report'" in res.output
    assert not (tmp_path / "x.tsv").exists()
    assert "--text-column" in cli("deid-text", "--help").output
    assert "--bank-rows" in cli("label-reports", "--help").output


def test_deid_text_csv_needs_a_text_column(cli, tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('id,Report\n1,"Ingreso el 27/01/2020, Dr. Marín."\n', encoding="utf-8")
    res = cli("deid-text", src, "-o", tmp_path / "o.csv", expect=2)
    assert "--text-column" in res.output
    cli("deid-text", src, "-c", "Report", "-o", tmp_path / "o.csv")
    out = pd.read_csv(tmp_path / "o.csv", dtype=str)
    assert out["Report"].tolist() == ["Ingreso el [FECHA], Dr. [NAME]."] and out["id"].tolist() == ["1"]
