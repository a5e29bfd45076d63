"""The shipped CRF tagger: tokens, BIO decoding, lazy loading, a missing model named."""
import pytest

from covidbank.errors import ReportError
from covidbank.nlp import tagger as tg


def test_tokens_split_letters_digits_and_punctuation():
    t = "NHC: 368503. María-José"
    assert [t[a:b] for a, b in tg.tokenize(t)] == ["NHC", ":", "368503", ".", "María", "-", "José"]


def test_bio_labels_become_character_spans():
    t = "Dr. Ana Gil, 28036 Madrid"
    toks = tg.tokenize(t)
    idx = list(range(len(toks)))
    labels = ["O", "O", "B-NOMBRE_PERSONAL_SANITARIO", "I-NOMBRE_PERSONAL_SANITARIO", "O", "B-TERRITORIO",
              "B-TERRITORIO"]
    assert [(t[a:b], ty) for a, b, ty in tg.spans_from_bio(toks, idx, labels)] == [
        ("Ana Gil", "NOMBRE_PERSONAL_SANITARIO"), ("28036", "TERRITORIO"), ("Madrid", "TERRITORIO")]


def test_packaged_model_loads_lazily_and_tags_a_generated_form():
    t = tg.PhiTagger()
    assert t._tagger is None and tg.MODEL_PATH.is_file()
    text = "Nombre: Ernesto.\nApellidos: Rivera Bueno.\nNHC: 368503.\nEdad: 70 años Sexo: H.\n"
    found = {(text[a:b], ty) for a, b, ty in t.tag(text)}
    assert ("Rivera Bueno", "NOMBRE_SUJETO_ASISTENCIA") in found and ("368503", "ID_SUJETO_ASISTENCIA") in found
    assert ("70 años", "EDAD_SUJETO_ASISTENCIA") in found and ("H", "SEXO_SUJETO_ASISTENCIA") in found
    assert t._tagger is not None


def test_missing_model_is_named(tmp_path):
    with pytest.raises(ReportError, match="nope.crfsuite"):
        tg.PhiTagger(tmp_path / "nope.crfsuite").tag("Nombre: Ana.")


def test_context_window_is_a_parameter_and_the_default_is_the_shipped_one():
    text = "Remitido por: Dra. Ana Gil Pérez, Hospital La Paz"
    toks = tg.tokenize(text)
    idx = list(range(len(toks)))
    two = tg.sentence_features(text, toks, idx)
    three = tg.sentence_features(text, toks, idx, window=3)
    assert tg.WINDOW == 2 and two == tg.sentence_features(text, toks, idx, window=2)
    assert not any(f.startswith("-3") for f in two[5]) and "-3w=:" in three[5] and "3w=perez" in three[4]
    # what a window of 3 adds is only the third token either side
    assert set(three[5]) - set(two[5]) == {f for f in three[5] if f.startswith(("-3", "3"))}


def test_default_tagger_can_be_swapped_for_a_candidate_and_back(tmp_path):
    cand = tg.PhiTagger(tmp_path / "candidate.crfsuite", window=3)
    try:
        tg.set_default_tagger(cand)
        assert tg.default_tagger() is cand and tg.default_tagger().window == 3
    finally:
        tg.set_default_tagger(None)
    assert tg.default_tagger().model_path == tg.MODEL_PATH and tg.default_tagger().window == tg.WINDOW


def test_feature_set_names_are_checked():
    assert tg.FEATURES == "base" and tg.feature_extras("base") == frozenset()
    assert tg.feature_extras("base+clusters+affix4") == {"clusters", "affix4"}
    for bad in ("clusters", "base+nope", "base+clusters+clusters"):
        with pytest.raises(ValueError, match="feature set"):
            tg.feature_extras(bad)


def test_cluster_features_read_the_shipped_clusters_in_any_case():
    clusters = tg.word_clusters()
    # learned from unlabeled MEDDOCAN train text: surnames with surnames, months with months
    assert clusters["garcia"][1] == clusters["fernandez"][1] and clusters["enero"][1] == clusters["marzo"][1]
    assert clusters["garcia"][1] != clusters["enero"][1]
    text = "Remitido por: Dra. Ana García Fernández, Hospital La Paz"
    toks = tg.tokenize(text)
    idx = list(range(len(toks)))
    base = tg.sentence_features(text, toks, idx)
    rich = tg.sentence_features(text, toks, idx, features="base+clusters")
    i = [text[a:b] for a, b in toks].index("García")
    k0, k1, k2 = clusters["garcia"]
    assert {f"k0={k0}", f"k1={k1}", f"k2={k2}"} <= set(rich[i])
    assert f"1k1={clusters['fernandez'][1]}" in rich[i] and f"-1k0={clusters['ana'][0]}" in rich[i]
    # the shipped feature set is unchanged: no cluster feature, and what clusters add is only that
    assert not any("k0=" in f or "k1=" in f or "k2=" in f for f in base[i])
    assert set(rich[i]) - set(base[i]) == {f for f in rich[i] if f.lstrip("-0123456789").startswith(("k0=", "k1=", "k2="))}
    lower = "remitido por: dra. ana garcia fernandez, hospital la paz"
    low = tg.sentence_features(lower, tg.tokenize(lower), idx, features="base+clusters")
    assert {f for f in low[i] if f.startswith("k")} == {f for f in rich[i] if f.startswith("k")}


def test_affix_and_position_features():
    text = "Ingreso.\nHospital Universitario La Paz"
    toks = tg.tokenize(text)
    line2 = [i for i, (a, _) in enumerate(toks) if a > text.index("\n")]
    f = tg.sentence_features(text, toks, line2, features="base+affix4+dpos")
    assert {"p4=hosp", "s4=ital", "p2=ho", "dp=1"} <= set(f[0]) and all("dp=1" in x for x in f)


def test_a_model_is_read_with_its_own_feature_set(tmp_path):
    pycrfsuite = pytest.importorskip("pycrfsuite")
    features = "base+clusters+affix4"
    trainer = pycrfsuite.Trainer(verbose=False)
    for name in ("García", "Fernández", "Gil", "Rivera"):
        text = f"Paciente: Ana {name}\nEdad: 70 años"
        toks = tg.tokenize(text)
        for idx in tg._lines(text, toks):
            labels = ["B-NOMBRE_SUJETO_ASISTENCIA" if text[toks[i][0]:toks[i][1]] == "Ana" else
                      "I-NOMBRE_SUJETO_ASISTENCIA" if text[toks[i][0]:toks[i][1]] == name else "O" for i in idx]
            trainer.append(tg.sentence_features(text, toks, idx, features=features), labels)
    model = tmp_path / "cand.crfsuite"
    trainer.train(str(model))
    assert tg.save_model_settings(model, 2, features) == tmp_path / "cand.json"
    t = tg.PhiTagger(model)
    assert t.features == features and t.window == 2
    text = "Paciente: Ana Gómez"
    assert [(text[a:b], ty) for a, b, ty in t.tag(text)] == [("Ana Gómez", "NOMBRE_SUJETO_ASISTENCIA")]
    # read with other features than it was trained with: refused, not silently wrong
    with pytest.raises(ValueError, match="trained with features 'base\\+clusters\\+affix4', not 'base'"):
        tg.PhiTagger(model, features="base")
    with pytest.raises(ValueError, match="window 2, not 3"):
        tg.PhiTagger(model, window=3)
    # the shipped model's sidecar: the shipped settings, trained on train and the dev choice half
    shipped = tg.model_settings(tg.MODEL_PATH)
    assert shipped["window"] == tg.WINDOW and shipped["features"] == tg.FEATURES == tg.default_tagger().features
    assert shipped["training"]["parts"] == ["train", "dev:choice"] == tg.default_tagger().training["parts"]


def test_cluster_builder_groups_words_of_like_contexts_and_is_deterministic():
    pytest.importorskip("sklearn")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "build_word_clusters.py"
    spec = importlib.util.spec_from_file_location("build_word_clusters", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lines = []
    for i in range(40):
        lines.append(["el", "paciente", "sr", ["garcia", "lopez", "ruiz"][i % 3], "ingresa", "en", "la", "planta"])
        lines.append(["vive", "en", "la", "ciudad", "de", ["madrid", "sevilla", "bilbao"][i % 3], "con", "su", "hija"])
    a = mod.build(lines, min_count=3, granularities=(2, 4), dims=4)
    assert a == mod.build(lines, min_count=3, granularities=(2, 4), dims=4)
    assert a["garcia"][0] == a["lopez"][0] == a["ruiz"][0] and a["madrid"][0] == a["sevilla"][0] == a["bilbao"][0]
    assert a["garcia"][0] != a["madrid"][0]


def test_add_choice_trains_on_train_and_the_dev_choice_half_and_says_so(shared_data, tmp_path):
    """``scripts/train_deid.py --add-choice``: the choice half of dev (meddocan.dev_parts, the halves the bench
    reads) joins the training documents, the sidecar records it, the tagger and the bench report it."""
    import subprocess
    import sys
    from pathlib import Path

    from covidbank.nlp.meddocan import dev_parts, read_brat

    root = Path(__file__).resolve().parents[2]
    choice = dev_parts(read_brat(shared_data / "reports" / "meddocan" / "dev" / "brat"))["choice"]
    out = {}
    for flag in ([], ["--add-choice"]):
        model = tmp_path / f"m{len(flag)}.crfsuite"
        run = subprocess.run([sys.executable, str(root / "scripts" / "train_deid.py"), "--data", str(shared_data),
                              "--out", str(model), "--limit", "2", "--iterations", "1", *flag],
                             capture_output=True, text=True, env={"PYTHONPATH": str(root / "src"), "PATH": ""})
        assert run.returncode == 0, run.stderr
        out[bool(flag)] = (tg.PhiTagger(model).training, run.stdout)
    plain, added = out[False][0], out[True][0]
    assert plain["parts"] == ["train"] and plain["documents"] == 2
    assert added["parts"] == ["train", "dev:choice"] and added["documents"] == 2 + len(choice)
    assert "in-sample" in out[True][1] and "dev choice half:" in out[False][1]
    # a model without a sidecar says it was trained on train alone
    bare = tmp_path / "bare.crfsuite"
    (tmp_path / "m0.crfsuite").rename(bare)
    assert tg.PhiTagger(bare).training == tg.TRAINED_ON == {"corpus": "MEDDOCAN", "parts": ["train"]}
