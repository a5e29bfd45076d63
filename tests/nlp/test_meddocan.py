"""The official MEDDOCAN metrics on hand-made documents (expected counts worked out by hand)."""
import pytest

from covidbank.nlp.meddocan import DEV_PARTS, Doc, dev_parts, evaluate, read_brat


def test_subtrack1_is_strict_on_span_and_type():
    text = "Nombre: Ana Gil. NHC: 123456."
    gold = [(8, 15, "NOMBRE_SUJETO_ASISTENCIA"), (22, 28, "ID_SUJETO_ASISTENCIA")]
    pred = [(8, 15, "NOMBRE_PERSONAL_SANITARIO"), (22, 28, "ID_SUJETO_ASISTENCIA")]
    ev = evaluate([Doc("d", text, gold)], [pred])
    assert (ev.subtrack1.tp, ev.subtrack1.fp, ev.subtrack1.fn) == (1, 1, 1)
    # subtrack 2 ignores the type
    assert ev.subtrack2_strict.f1 == 1.0


def test_subtrack2_merged_joins_spans_separated_by_non_alphanumerics():
    text = "Ana Gil, Madrid."
    gold = [(0, 3, "NOMBRE_SUJETO_ASISTENCIA"), (4, 7, "NOMBRE_SUJETO_ASISTENCIA"), (9, 15, "TERRITORIO")]
    pred = [(0, 7, "NOMBRE_SUJETO_ASISTENCIA"), (9, 15, "TERRITORIO")]
    ev = evaluate([Doc("d", text, gold)], [pred])
    # strict: only Madrid matches
    assert (ev.subtrack2_strict.tp, ev.subtrack2_strict.fp, ev.subtrack2_strict.fn) == (1, 1, 2)
    # merged: both sides merge to (0, 15): one true positive, and every strict span is inside it
    assert (ev.subtrack2_merged.tp, ev.subtrack2_merged.fp, ev.subtrack2_merged.fn) == (2, 0, 0)
    assert ev.subtrack2_merged.f1 == 1.0
    assert ev.words_left == 0


def test_words_left_and_coverage():
    text = "Juan de la Fuente vive en Soria."
    gold = [(0, 17, "NOMBRE_SUJETO_ASISTENCIA"), (26, 31, "TERRITORIO")]
    pred = [(0, 4, "NOMBRE_SUJETO_ASISTENCIA")]
    ev = evaluate([Doc("d", text, gold)], [pred])
    assert ev.words == 5 and ev.words_left == 4
    assert ev.covered_by_type["NOMBRE_SUJETO_ASISTENCIA"] == 0


def test_read_brat(tmp_path):
    (tmp_path / "a.txt").write_text("Edad: 70 años", encoding="utf-8")
    (tmp_path / "a.ann").write_text("T1\tEDAD_SUJETO_ASISTENCIA 6 13\t70 años\n#1\tAnnotatorNotes T1\tx\n",
                                    encoding="utf-8")
    docs = read_brat(tmp_path)
    assert docs[0].gold == [(6, 13, "EDAD_SUJETO_ASISTENCIA")]


def test_dev_parts_split_by_document_name_reproducibly():
    docs = [Doc(f"S{i:04d}-{i * 7 % 13}", "x", []) for i in range(101)]
    parts = dev_parts(docs)
    assert tuple(parts) == DEV_PARTS
    names = {p: [d.name for d in v] for p, v in parts.items()}
    assert 35 <= len(names["choice"]) <= 66
    assert set(names["choice"]).isdisjoint(names["report"])
    assert set(names["choice"]) | set(names["report"]) == {d.name for d in docs}
    # the side of a document depends on its name only: not on the order nor on the other documents
    again = dev_parts(list(reversed(docs)))
    assert {d.name for d in again["choice"]} == set(names["choice"])
    fewer = dev_parts(docs[:60])
    assert all(d.name in names["choice"] for d in fewer["choice"])
    # another seed gives another split
    assert {d.name for d in dev_parts(docs, seed=1)["choice"]} != set(names["choice"])


@pytest.mark.realdata
def test_meddocan_dev_figures_of_the_combined_deidentifier(shared_data):
    """The shipped tagger with the rules on the dev 'report' half (the full figures: bench/deid_eval.py)."""
    from covidbank.nlp import find_phi

    docs = dev_parts(read_brat(shared_data / "reports" / "meddocan" / "dev" / "brat"))["report"]
    assert 100 <= len(docs) <= 150
    ev = evaluate(docs, [[(s.start, s.end, s.type) for s in find_phi(d.text)] for d in docs])
    assert ev.subtrack1.f1 >= 0.90 and ev.subtrack2_merged.f1 >= 0.93
    assert ev.words_left / ev.words <= 0.03
