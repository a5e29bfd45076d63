from covidbank.nlp.normalize import normalize_for_matching


def test_plain_text_is_unchanged_and_maps_identically():
    n = normalize_for_matching("Paciente de 70 años, García.")
    assert n.text == "Paciente de 70 años, García." and n.to_original(3, 8) == (3, 8)


def test_spaces_zero_width_full_width_and_combining_marks():
    src = "Tel\u00a0600\u202f123 ４５６ Gar\u200bci\u0301a ﬁn"
    n = normalize_for_matching(src)
    assert n.text == "Tel 600 123 456 García fin"
    a = n.text.index("García")
    x, y = n.to_original(a, a + len("García"))
    assert src[x:y] == "Gar\u200bci\u0301a"
    a = n.text.index("456")
    assert src[slice(*n.to_original(a, a + 3))] == "４５６"
