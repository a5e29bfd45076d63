"""Coverage of the PadChest trees: every finding, diagnosis and location has Spanish expressions and a CUI entry."""
import re

import pytest
import yaml

from covidbank.nlp import ReportLabeler
from covidbank.nlp.lexicon import FINDINGS, LOCATION_CUIS, LOCATIONS, TREE_FINDINGS, TREE_LOCATIONS, VOCABULARY

#: one report sentence per label added from the trees (what the labeler must find, with a synonym or misspelling)
TREE_EXAMPLES = {
    "calcified mediastinal adenopathy": "Ganglios mediastínicos calcificados.",
    "calcified pleural thickening": "Engrosamiento pleural calcificado en base derecha.",
    "calcified fibroadenoma": "Fibroadenoma mamario calcificado.",
    "end on vessel": "Vaso visto de frente en hilio derecho.",
    "pneumoperitoneo": "Aire libre subdiafragmático.",
    "lung vascular paucity": "Oligohemia en el lóbulo superior izquierdo.",
    "air trapping": "Atrapamiento aéreo bilateral.",
    "air fluid level": "Nivel hidroaéreo en la cavidad.",
    "round atelectasis": "Atelectasia redonda en lóbulo inferior.",
    "atelectasis basal": "Atelectasias bibasales.",
    "mediastinal shift": "Desplazamiento del mediastino hacia la derecha.",
    "azygos lobe": "Lóbulo de la ácigos.",
    "major fissure thickening": "Cisura oblicua engrosada.",
    "loculated fissural effusion": "Derrame intercisural derecho.",
    "loculated pleural effusion": "Derrame pleural encapsulado izquierdo.",
    "empyema": "Hallazgos compatibles con empiema.",
    "hemothorax": "Hemoneumotórax derecho.",
    "pleural mass": "Masa pleural en hemitórax izquierdo.",
    "central vascular redistribution": "Redistribución vascular central.",
    "kerley lines": "Líneas de Kerley.",
    "dextrocardia": "Dextrocardia.",
    "right sided aortic arch": "Arco aórtico derecho.",
    "supra aortic elongation": "Elongación de los troncos supraaórticos.",
    "breast mass": "Masa en mama izquierda.",
    "soft tissue mass": "Masa de partes blandas en la pared torácica.",
    "esophagic dilatation": "Megaesófago.",
    "azygoesophageal recess shift": "Desplazamiento del receso acigoesofágico.",
    "thoracic cage deformation": "Deformidad de la caja torácica.",
    "pectum excavatum": "Pectus excavatum.",
    "pectum carinatum": "Tórax en quilla.",
    "cervical rib": "Costilla cervical derecha.",
    "vertebral compression": "Colapso vertebral de D8.",
    "lytic bone lesion": "Lesión lítica en el húmero.",
    # "lesiones osteoblasticas" is "sclerotic bone lesion", the parent, as the older entries have it
    "blastic bone lesion": "Osteocondensación en D10.",
    "costochondral junction hypertrophy": "Hipertrofia de las uniones condrocostales.",
    "sternoclavicular junction hypertrophy": "Artrosis esternoclavicular.",
    "subacromial space narrowing": "Disminución del espacio subacromial.",
    "fracture": "Fractura antigua.",
    "clavicle fracture": "Fractura de clavícula izquierda.",
    "Chilaiditi sign": "Signo de Chilaiditi.",
    "ventriculoperitoneal drain tube": "Válvula de derivación ventrículo-peritoneal.",
    "gastrostomy tube": "Sonda de gastrostomía.",
    "double J stent": "Catéter doble J.",
    "central venous catheter via umbilical vein": "Catéter venoso umbilical.",
    "dai": "Desfibrilador automático implantable.",
    "artificial heart valve": "Prótesis valvular cardiaca.",
    "osteosynthesis material": "Material de osteosíntesis en columna.",
    "bone cement": "Vertebroplastia en L1.",
    "prosthesis": "Material protésico.",
    "humeral prosthesis": "Prótesis de hombro derecho.",
    # "endoprotesis aortica" is "endoprosthesis", the parent, as the older entries have it
    "aortic endoprosthesis": "Prótesis endovascular aórtica (EVAR).",
    "surgery breast": "Tumorectomía de mama izquierda.",
    "surgery neck": "Tiroidectomía.",
    "surgery heart": "Cambios postquirúrgicos de bypass coronario.",
    "surgery humeral": "Cirugía de hombro.",
    "abnormal foreign body": "Cuerpo extraño aspirado en bronquio principal.",
    "tuberculosis sequelae": "Secuelas de TBC en vértice derecho.",
    "asbestosis signs": "Placas pleurales por exposición al amianto: asbestosis.",
    "pulmonary venous hypertension": "Signos de hipertensión venocapilar pulmonar.",
}


@pytest.fixture(scope="module")
def lab():
    return ReportLabeler(model=None)


def test_every_tree_label_added_has_an_example_a_vocabulary_entry_and_patterns():
    assert set(TREE_EXAMPLES) == set(TREE_FINDINGS)
    for k in TREE_FINDINGS:
        assert k in VOCABULARY and any(k in key.split("|") for key in FINDINGS), k
    for k in TREE_LOCATIONS:
        assert k in LOCATIONS


@pytest.mark.parametrize("label", list(TREE_EXAMPLES))
def test_tree_label_found_in_a_report_sentence(lab, label):
    r = lab.label(TREE_EXAMPLES[label])
    assert label in {m.label for m in r.mentions if m.polarity != "negated"}, r.mentions


@pytest.mark.parametrize("text, loc", [
    ("Fractura de clavícula izquierda.", "loc clavicle"), ("Adenopatías en mediastino superior.", "loc superior mediastinum"),
    ("Derrame en ambos senos costofrénicos.", "loc bilateral costophrenic angle"),
    ("Aumento de densidad suprahiliar derecho.", "loc suprahilar"), ("Calcificación carotídea.", "loc carotid artery"),
])
def test_tree_locations(lab, text, loc):
    assert loc in lab.label(text).localizations


@pytest.mark.realdata
def test_every_label_of_the_padchest_trees_is_covered(shared_data):
    cuis: dict[str, set[str]] = {}  # label (locations with "loc ") -> the trees' CUIs for it

    def walk(n, isloc):
        if n["label"] == "localization":
            isloc = True
        else:
            name = ("loc " if isloc else "") + n["label"]
            m = re.search(r"C\d{7}", str(n.get("concept") or ""))
            cuis.setdefault(name, set()).update([m.group(0)] if m else [])
        for c in n.get("children") or []:
            walk(c, isloc)

    for f in ("padchest_trees_code.txt", "padchest_trees_code_covid.txt"):
        for d in yaml.safe_load_all((shared_data / "bimcv" / f).read_text()):
            if d:
                walk(d, False)
    finds = {k for k in cuis if not k.startswith("loc ")}
    locs = set(cuis) - finds
    assert len(finds) > 180 and len(locs) > 100
    covered = {x for key in FINDINGS for x in key.split("|")}
    roots = {"normal", "exclude", "radiological finding", "differential diagnosis", "COVID 19 uncertain"}
    assert finds - covered - roots == set()
    assert finds - set(VOCABULARY) - {"radiological finding", "differential diagnosis"} == set()
    assert locs - set(LOCATIONS) == set()
    # a CUI of the vocabulary is one of the trees' CUIs for the label (the two trees differ for a few), and every
    # location the trees give a CUI has it
    assert {k for k in finds if k in VOCABULARY and VOCABULARY[k][0] and cuis[k] and VOCABULARY[k][0] not in cuis[k]} == set()
    assert {k for k in locs if cuis[k] and LOCATION_CUIS.get(k) not in cuis[k]} == set()
