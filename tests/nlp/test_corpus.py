import pytest

from covidbank.errors import ReportError
from covidbank.nlp.corpus import read_reports, sentence_groups, split_reports


def test_sentence_groups_rebuild_the_flattened_lists():
    raw = "exclude', 'normal', 'loc pleural', 'cardiomegaly', ' mediastinal enlargement', 'loc cardiac', '', 'normal"
    assert sentence_groups(raw) == [["exclude"], ["normal", "loc pleural"],
                                    ["cardiomegaly", "mediastinal enlargement", "loc cardiac"], [], ["normal"]]
    assert sentence_groups("") == []
    assert sentence_groups("['COVID 19', ' interstitial pattern', 'loc peripheral']") == [
        ["COVID 19", "interstitial pattern", "loc peripheral"]]


def test_split_is_by_subject_fixed_and_order_free(tmp_path):
    from covidbank.nlp.corpus import LabelledReport

    reps = [LabelledReport(f"sub-{i // 2}", f"r{i}", frozenset({"normal"}), None) for i in range(200)]
    a = split_reports(reps)
    b = split_reports(list(reversed(reps)))
    assert {r.text for r in a["rules"]} == {r.text for r in b["rules"]}
    subs = {p: {r.subject for r in a[p]} for p in a}
    assert not subs["rules"] & subs["validation"] and len(subs["rules"]) == 70


def test_read_reports_names_a_bad_file(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        read_reports(tmp_path / "x.tsv")
    (tmp_path / "y.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ReportError, match="y.tsv: no column Subject, Report, Labels"):
        read_reports(tmp_path / "y.tsv")


@pytest.mark.parametrize("row", [1, 2])
def test_read_reports_refuses_a_row_longer_than_the_header(tmp_path, row):
    # a first data row with one more field made pandas take the subject as the index: every column was read
    # shifted by one (the report text as the subject, the labels as the report)
    rows = ["sub-1\trx one\t['normal']", "sub-2\trx two\t['normal']"]
    rows[row - 1] += "\textra"
    (tmp_path / "r.tsv").write_text("Subject\tReport\tLabels\n" + "\n".join(rows) + "\n")
    with pytest.raises(ReportError, match=r"r\.tsv: a row has more fields than the header"):
        read_reports(tmp_path / "r.tsv")


@pytest.mark.realdata
def test_real_dev_table_split_and_sentence_labels(shared_data):
    reps = read_reports(shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv")
    assert len({r.text for r in reps}) == 1687 and sum(r.rows for r in reps) == 3828
    # the published per-sentence lists line up with the report's sentences in 97% of the reports
    assert sum(r.sentences is not None for r in reps) / len(reps) > 0.95
    parts = split_reports(reps)
    assert [len({r.subject for r in parts[p]}) for p in ("rules", "validation")] == [645, 277]
