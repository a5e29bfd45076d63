"""The learned sentence model: training on a generated BIMCV-like table, files, loading without a network."""
import csv
import socket

import numpy as np
import pandas as pd
import pytest

from covidbank.errors import ReportError
from covidbank.nlp import ReportLabeler
from covidbank.nlp.model import MODEL_ENV, SentenceModel, default_model_path, load_default_model

pytest.importorskip("sklearn")

#: sentence -> the reference's labels for it; "silueta cardiaca agrandada" is a wording the lexicon lacks
SENTENCES = {
    "silueta cardiaca agrandada": ["cardiomegaly"],
    "no se observa silueta cardiaca agrandada": ["normal"],
    "derrame pleural derecho": ["pleural effusion"],
    "no derrame pleural": ["normal"],
    "datos clinicos": ["exclude"],
    "opacidades bilaterales": ["increased density"],
}


def _table(path, n_subjects=40, seed=0):
    rng = np.random.default_rng(seed)
    keys = list(SENTENCES)
    rows = []
    for i in range(n_subjects):
        picked = [keys[j] for j in rng.choice(len(keys), size=3, replace=False)]
        text = " .  ".join(picked) + " ."
        labels = sorted({x for s in picked for x in SENTENCES[s] if x not in ("normal", "exclude")}) or ["normal"]
        by_sent = "', '".join("', ' ".join(SENTENCES[s]) for s in picked)
        rows.append({"Subject": f"sub-S{i:05d}", "Session": f"ses-E{i:05d}", "Report": text,
                     "Labels": "', '".join(labels), "LabelsLocalizationsBySentence": by_sent})
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_NONE)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from covidbank.nlp.training import build_model

    d = tmp_path_factory.mktemp("model")
    table = _table(d / "table.tsv")
    model, parts = build_model(table, d / "m.npz", all_subjects=True)
    return d / "m.npz", model


def test_the_model_learns_a_wording_the_rules_lack_and_never_adds_a_negated_finding(trained):
    path, model = trained
    assert "cardiomegaly" in model.labels
    lab = ReportLabeler(model=path)
    r = lab.label("Silueta cardíaca agrandada. Datos clínicos.")
    assert r.labels == ["cardiomegaly"] and r.values()["cardiomegaly"] == 1
    assert ReportLabeler(model=None).label("Silueta cardíaca agrandada.").labels == ["exclude"]
    # the negated sentence: the model may score it, the rules' negation scope keeps it out
    assert "cardiomegaly" not in lab.label("No se observa silueta cardiaca agrandada.").labels


def test_label_choice_can_leave_the_rules_labels_to_the_rules_and_only_add():
    from covidbank.nlp.training import THRESHOLD_GRID, choose_labels

    add_only = [i for i, (keep, _) in enumerate(THRESHOLD_GRID) if keep == 0.0]
    assert add_only
    # cross-validation counts where only an add-only entry makes fewer errors than the rules
    errs = [[10, 10, 10] for _ in THRESHOLD_GRID]
    errs[add_only[0]] = [10, 4, 4]
    cv = {"COVID 19": {"rules": [10, 3, 7], "model": errs}}
    assert choose_labels(cv) == {"COVID 19": THRESHOLD_GRID[add_only[0]]}
    # with keep 0 a label the rules give stays whatever the model scores; the model can still add it elsewhere
    lab = "cardiomegaly"
    low = SentenceModel(["*", "w:silueta"], [lab], np.array([[-6.0], [8.0]], dtype=np.float32),
                        np.zeros(1, dtype=np.float32), np.array([[0.0], [0.5]], dtype=np.float32))
    assert ReportLabeler(model=low).label("Cardiomegalia.").labels == [lab]
    assert ReportLabeler(model=low).label("Silueta cardiaca agrandada.").labels == [lab]
    strict = SentenceModel(low.features, low.labels, low.weights, low.intercepts,
                           np.array([[0.5], [0.5]], dtype=np.float32))
    assert lab not in ReportLabeler(model=strict).label("Cardiomegalia.").labels


def test_save_and_load_round_trip_without_pickles(trained, tmp_path):
    path, model = trained
    with np.load(path, allow_pickle=False) as z:
        assert {"features", "labels", "weights", "intercepts", "thresholds", "meta", "format"} <= set(z.files)
    again = SentenceModel.load(path)
    feats = ReportLabeler(model=None).sentence_features("silueta cardiaca agrandada . no derrame pleural .")
    assert np.allclose(again.probabilities(feats), model.probabilities(feats), atol=1e-6)
    assert again.meta["seed"] == 17 and "scikit-learn" in again.meta["versions"]
    # retraining on the same table gives the same weights (fixed seed, deterministic solver)
    from covidbank.nlp.training import build_model

    m2, _ = build_model(_table(tmp_path / "t.tsv"), all_subjects=True)
    assert m2.features == model.features and np.allclose(m2.weights, model.weights)


def test_bad_model_files_are_named(tmp_path, trained):
    with pytest.raises(ReportError, match="not found.*train-labeler"):
        SentenceModel.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ReportError, match=r"bad\.npz: not a covidbank labeler model"):
        SentenceModel.load(bad)
    old = tmp_path / "old.npz"
    with np.load(trained[0], allow_pickle=False) as z:
        np.savez(old, **{k: z[k] for k in z.files if k != "format"}, format=np.array(99))
    with pytest.raises(ReportError, match="format 99"):
        SentenceModel.load(old)
    with pytest.raises(ReportError, match="bad.npz"):
        ReportLabeler(model=bad).label("Cardiomegalia.")


def test_default_model_loads_lazily_from_the_user_data_dir_without_network(trained, tmp_path, monkeypatch):
    path, _ = trained
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_model_path() == tmp_path / "data" / "covidbank" / "models" / "report-sentences.npz"
    assert load_default_model() is None  # none built: rules only
    assert ReportLabeler().model is None
    default_model_path().parent.mkdir(parents=True)
    default_model_path().write_bytes(path.read_bytes())

    def no_network(*a, **k):
        raise AssertionError("the labeler opened a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    lab = ReportLabeler()
    assert lab._model is None  # not loaded before first use
    assert lab.label("Silueta cardiaca agrandada.").labels == ["cardiomegaly"]
    monkeypatch.setenv(MODEL_ENV, "none")
    assert default_model_path() is None and ReportLabeler().model is None
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "nowhere.npz"))
    with pytest.raises(ReportError, match="nowhere.npz"):
        load_default_model()


def test_cli_train_labeler_and_label_reports_with_the_model(cli, tmp_path):
    table = _table(tmp_path / "table.tsv", n_subjects=50)
    out = tmp_path / "m.npz"
    res = cli("train-labeler", table, "--out", out, "--json")
    import json

    info = json.loads(res.stdout)
    assert info["model"] == str(out) and "cardiomegaly" in info["labels"]
    assert set(info["validation"]) == {"rules only", "rules + model"}
    src = tmp_path / "rep.tsv"
    src.write_text("File\tReport\nimg1.png\tsilueta cardiaca agrandada .\n", encoding="utf-8")
    cli("label-reports", src, "--out", tmp_path / "a.tsv", "--model", out)
    cli("label-reports", src, "--out", tmp_path / "b.tsv", "--rules-only")
    a = pd.read_csv(tmp_path / "a.tsv", sep="\t", dtype=str, quoting=csv.QUOTE_NONE)
    b = pd.read_csv(tmp_path / "b.tsv", sep="\t", dtype=str, quoting=csv.QUOTE_NONE)
    assert a["Labels"][0] == "['cardiomegaly']" and b["Labels"][0] == "['exclude']"
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"x")
    res = cli("label-reports", src, "--out", tmp_path / "c.tsv", "--model", bad, expect=1)
    assert "bad.npz" in res.output and not (tmp_path / "c.tsv").exists()
